//! The conformance suite against the in-memory store.

gatehouse_conformance::server_conformance!(memory, async { gatehouse_memory::MemoryStore::new() });
