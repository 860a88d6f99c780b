//! redis token store for gatehouse (work in progress).
