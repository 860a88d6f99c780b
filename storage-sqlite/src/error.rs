//! The crate's one error type: why a database could not be opened, and
//! the backend failures of the writer thread.
//!
//! Store operations themselves return [`gatehouse_core::StoreError`], as the
//! trait requires; the writer's variants reach callers inside
//! [`StoreError::Backend`](gatehouse_core::StoreError::Backend).
//! No variant carries a token, a secret or row contents: paths, versions and
//! SQLite's own messages only.

use std::path::PathBuf;

/// Why a database could not be opened, or why a write failed as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The file exists but is not an SQLite database (SQLite reports
    /// `SQLITE_NOTADB`). Nothing was written to it.
    #[error("{} is not an SQLite database", path.display())]
    NotADatabase {
        /// The file that was opened.
        path: PathBuf,
    },
    /// The file is an SQLite database that belongs to something else: it has
    /// another `application_id`, or tables but no gatehouse schema version.
    /// Nothing was written to it.
    #[error("{} is an SQLite database, but not a gatehouse token store", path.display())]
    ForeignDatabase {
        /// The file that was opened.
        path: PathBuf,
    },
    /// The database was written by a newer gatehouse with a schema this
    /// version does not know. Migrations are forward-only, so it is left
    /// untouched: upgrade gatehouse, or restore a backup.
    #[error(
        "{} has schema version {found}, newer than the {supported} this gatehouse-sqlite supports",
        path.display()
    )]
    NewerSchema {
        /// The file that was opened.
        path: PathBuf,
        /// The schema version found in the file (`PRAGMA user_version`).
        found: i64,
        /// The newest schema version this crate knows.
        supported: i64,
    },
    /// SQLite refused write-ahead logging (for example on an in-memory
    /// database, or a file system without shared memory support). The store
    /// relies on WAL so that readers never wait for writers.
    #[error("{} cannot use WAL journaling (journal_mode is {mode:?})", path.display())]
    WalUnavailable {
        /// The file that was opened.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// Applying the migration to `version` failed; its transaction was
    /// rolled back, so the file is still at the previous version.
    #[error("migrating {} to schema version {version} failed", path.display())]
    Migration {
        /// The file that was opened.
        path: PathBuf,
        /// The version being migrated to.
        version: i64,
        /// What SQLite reported.
        #[source]
        source: rusqlite::Error,
    },
    /// Any other SQLite failure while opening (permissions, I/O, locking).
    #[error("opening SQLite database {} failed", path.display())]
    Open {
        /// The file that was opened.
        path: PathBuf,
        /// What SQLite reported.
        #[source]
        source: rusqlite::Error,
    },
    /// The store's writer thread could not be started.
    #[error("starting the SQLite writer thread for {} failed", path.display())]
    WriterThread {
        /// The file that was opened.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// The clients notice file next to the database (`<file>-clients`)
    /// could not be opened, or a client write, already committed, could not
    /// be announced in it. In the second case the write is stored, but
    /// other processes' `client` lookups may miss it until their next
    /// database check (see `SqliteConfig::client_db_check_interval`); retry
    /// the write (client writes are idempotent).
    #[error("the clients notice file {} failed", path.display())]
    ClientsNotice {
        /// The notice file.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// The transaction holding a write could not begin or commit (lock
    /// timeout, I/O error, disk full), so the write is not stored. Every
    /// write of that transaction fails with this error.
    #[error("the write transaction failed")]
    Transaction {
        /// What SQLite reported.
        #[source]
        source: rusqlite::Error,
    },
    /// A statement of one write failed in a way that made SQLite roll back
    /// the whole transaction (I/O error, disk full), so none of the writes
    /// that shared it is stored.
    #[error("SQLite rolled back the write transaction after a failed statement")]
    RolledBack,
    /// The writer thread stopped before acknowledging a write (it
    /// panicked). Whether the write is stored is unknown.
    #[error("the SQLite writer thread stopped before acknowledging the write")]
    WriterStopped,
}
