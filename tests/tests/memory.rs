//! The conformance suite against the in-memory store.

gatehouse_conformance::store_conformance!(memory, gatehouse_memory::MemoryStore::new());
