//! The conformance suite against the SQLite store, file-backed in a
//! temporary directory.

use std::path::PathBuf;

use gatehouse_conformance::Harness;
use gatehouse_core::model::GrantId;
use gatehouse_sqlite::SqliteStore;

/// A temporary directory, removed with the harness; each fresh store is a
/// new database file in it.
struct SqliteHarness {
    dir: PathBuf,
}

impl SqliteHarness {
    fn new() -> Self {
        // The OS CSPRNG behind GrantId gives a unique name without a crate.
        let unique = GrantId::generate().expect("random");
        let dir = std::env::temp_dir().join(format!("gatehouse-conformance-{unique}"));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self { dir }
    }
}

impl Drop for SqliteHarness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Harness for SqliteHarness {
    type Store = SqliteStore;

    async fn fresh(&self) -> SqliteStore {
        let name = GrantId::generate().expect("random");
        SqliteStore::open(self.dir.join(format!("{name}.db"))).expect("open a fresh SQLite store")
    }
}

gatehouse_conformance::store_conformance!(sqlite, harness = SqliteHarness::new());
