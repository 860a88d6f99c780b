//! The crate's one error type: why a database could not be opened, the
//! backend failures of the writer thread, and why a stored value could not
//! be decoded.
//!
//! Store operations themselves return [`gatehouse_core::StoreError`], as the
//! trait requires, with a [`SqliteError`] as its source: the writer's
//! variants inside [`StoreError::Backend`] or [`StoreError::Unavailable`]
//! (see [`SqliteError::is_unavailable`]), the decoding ones inside
//! [`StoreError::Corrupt`].
//!
//! Which [`StoreError`] variant: a lock another connection (of this or
//! another process) held for the whole busy timeout (`SQLITE_BUSY`,
//! `SQLITE_LOCKED`) is [`StoreError::Unavailable`]: the database is fine
//! and the same write will pass once that writer is done, so the core
//! answers 503 with `Retry-After`. Everything else is
//! [`StoreError::Backend`] (a 500), because waiting will not cure it: I/O
//! errors, a full disk, a corrupt or unreadable file, a refused
//! permission, and a writer thread that stopped (a panic, which is a bug).
//! No variant carries a token, a secret or row contents: paths, versions,
//! keys (digests and client ids, which are not secret), the position of a
//! JSON error and SQLite's own messages only.

use std::path::PathBuf;

use gatehouse_core::StoreError;

/// Why a database could not be opened, why a write failed as a whole, or
/// why a stored value could not be decoded.
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
    /// `revoke_all` got a revocation scope added to the core after this
    /// store was written. Nothing changed.
    #[error("the SQLite store does not know this revocation scope")]
    UnknownScope,
    /// A stored record is not JSON of the expected shape. Says where, never
    /// what the stored text is.
    #[error("{what} {key}: JSON {category} error at line {line} column {column}")]
    Json {
        /// What kind of record: `"token record"` or `"client"`.
        what: &'static str,
        /// Which one: the token's digest or the client's id.
        key: String,
        /// The kind of JSON error: `syntax`, `data`, `eof` or `io`.
        category: &'static str,
        /// Where the error is in the stored JSON.
        line: usize,
        /// Where the error is in that line.
        column: usize,
    },
    /// A stored record names another key than the one it is stored under
    /// (a row copied under another key would otherwise answer for a token
    /// or client it is not).
    #[error("{what} {key}: the stored record has another key")]
    KeyMismatch {
        /// What kind of record: `"token record"` or `"client"`.
        what: &'static str,
        /// The key it is stored under: the token's digest or the client's id.
        key: String,
    },
    /// A token row's record is not a record: the core's decoder says which
    /// field broke which rule (or, for a JSON row of an older version, the
    /// kind and position of the JSON error), never what is stored.
    #[error("token record {key}: {source}")]
    Record {
        /// The token's digest.
        key: String,
        /// Why the bytes are not a record.
        source: gatehouse_core::model::RecordDecodeError,
    },
    /// A token row's state column holds a value this version does not know.
    #[error("token record {key}: unknown token state {value}")]
    UnknownState {
        /// The token's digest.
        key: String,
        /// The stored state.
        value: i64,
    },
}

impl SqliteError {
    /// Whether this failed only because another connection held a lock for
    /// the whole busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`): waiting may
    /// cure it, and a store operation answers
    /// [`StoreError::Unavailable`].
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Open { source, .. } | Self::Migration { source, .. } | Self::Transaction { source } => {
                is_busy(source)
            }
            _ => false,
        }
    }
}

/// Whether SQLite gave up waiting for a lock (`SQLITE_BUSY` or
/// `SQLITE_LOCKED`, extended codes included): the one failure a store
/// operation reports as [`StoreError::Unavailable`].
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl From<SqliteError> for StoreError {
    /// A decoding failure is [`StoreError::Corrupt`]; every other one is
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`] (see
    /// [`SqliteError::is_unavailable`]).
    fn from(e: SqliteError) -> Self {
        match e {
            SqliteError::Json { what, .. } | SqliteError::KeyMismatch { what, .. } => {
                StoreError::corrupt(what, e)
            }
            SqliteError::UnknownState { .. } | SqliteError::Record { .. } => {
                StoreError::corrupt("token record", e)
            }
            e if e.is_unavailable() => StoreError::unavailable(e),
            e => StoreError::backend(e),
        }
    }
}

/// A statement's failure as a [`StoreError`]; see the module docs.
pub(crate) fn store_error(e: rusqlite::Error) -> StoreError {
    if is_busy(&e) {
        StoreError::unavailable(e)
    } else {
        StoreError::backend(e)
    }
}

/// A failed batch's error, shared by its requests, as a [`StoreError`]:
/// each request's error holds the one shared error, not a copy.
pub(crate) fn batch_error(e: &std::sync::Arc<SqliteError>) -> StoreError {
    if e.is_unavailable() {
        StoreError::unavailable(e.clone())
    } else {
        StoreError::backend(e.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rusqlite::ffi;

    use super::*;

    fn failure(code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn only_a_lock_held_too_long_is_unavailable() {
        for code in
            [ffi::SQLITE_BUSY, ffi::SQLITE_LOCKED, ffi::SQLITE_BUSY_SNAPSHOT, ffi::SQLITE_BUSY_RECOVERY]
        {
            assert!(matches!(store_error(failure(code)), StoreError::Unavailable(_)), "{code}");
            let tx = Arc::new(SqliteError::Transaction { source: failure(code) });
            assert!(matches!(batch_error(&tx), StoreError::Unavailable(_)), "{code}");
        }
        for code in [
            ffi::SQLITE_IOERR,
            ffi::SQLITE_FULL,
            ffi::SQLITE_CORRUPT,
            ffi::SQLITE_NOTADB,
            ffi::SQLITE_READONLY,
            ffi::SQLITE_CANTOPEN,
            ffi::SQLITE_CONSTRAINT,
        ] {
            assert!(matches!(store_error(failure(code)), StoreError::Backend(_)), "{code}");
            let tx = Arc::new(SqliteError::Transaction { source: failure(code) });
            assert!(matches!(batch_error(&tx), StoreError::Backend(_)), "{code}");
        }
        assert!(matches!(store_error(rusqlite::Error::QueryReturnedNoRows), StoreError::Backend(_)));
        for e in [SqliteError::WriterStopped, SqliteError::RolledBack] {
            assert!(matches!(batch_error(&Arc::new(e)), StoreError::Backend(_)));
        }
        let tx = SqliteError::Transaction { source: failure(ffi::SQLITE_BUSY) };
        assert!(matches!(StoreError::from(tx), StoreError::Unavailable(_)));
        assert!(matches!(StoreError::from(SqliteError::WriterStopped), StoreError::Backend(_)));
    }

    #[test]
    fn a_record_that_does_not_decode_is_corrupt() {
        let key = || "k".to_owned();
        for (e, what) in [
            (
                SqliteError::Json { what: "client", key: key(), category: "data", line: 1, column: 1 },
                "client",
            ),
            (SqliteError::KeyMismatch { what: "client", key: key() }, "client"),
            (SqliteError::UnknownState { key: key(), value: 9 }, "token record"),
        ] {
            assert!(!e.is_unavailable());
            match StoreError::from(e) {
                StoreError::Corrupt { what: w, source: Some(_) } => assert_eq!(w, what),
                other => panic!("{other:?}"),
            }
        }
    }
}
