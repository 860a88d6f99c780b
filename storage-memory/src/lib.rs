//! In-memory token store for gatehouse (work in progress).
