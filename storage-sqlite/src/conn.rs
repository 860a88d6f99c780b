//! Connections: one writer, a pool of readers, all on one WAL file.
//!
//! In WAL mode readers never wait for the writer and the writer never waits
//! for readers; writers wait for each other. So every write goes through
//! the single writer connection (its mutex orders the writes of this
//! process, `BEGIN IMMEDIATE` and the busy timeout order them with other
//! processes), and reads take any idle reader connection.
//!
//! Locks are `std::sync::Mutex`es held only for the duration of one
//! synchronous SQLite call; no `.await` happens while one is held.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use gatehouse_core::StoreError;
use rusqlite::{Connection, OpenFlags};

use crate::error::SqliteError;
use crate::schema;

/// How durable a commit is, as SQLite's `PRAGMA synchronous` in WAL mode.
///
/// Both settings survive the crash or `kill -9` of the process: a commit is
/// in the operating system's page cache once `insert` returns. They differ
/// on a power loss or kernel crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// `FULL`: every commit waits for `fsync` of the WAL. A write that
    /// returned survives power loss. Costs one `fsync` per write.
    ///
    /// The default, because the writes of a token store are security
    /// decisions: after a power loss under `NORMAL`, a revoked token or
    /// consumed authorization code could come back active.
    #[default]
    Full,
    /// `NORMAL`: the WAL is synced only at checkpoints. A power loss can
    /// roll back the writes committed since the last checkpoint (up to
    /// about 1000 pages of WAL): issued tokens disappear (their clients must
    /// ask again), and revocations and consumptions are undone. The file
    /// stays consistent. Much cheaper per write.
    Normal,
}

impl Synchronous {
    const fn pragma_value(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// Settings for [`SqliteStore::open_with`](crate::SqliteStore::open_with).
///
/// ```
/// use gatehouse_sqlite::{SqliteConfig, Synchronous};
/// let mut config = SqliteConfig::default();
/// config.synchronous = Synchronous::Normal;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// Commit durability; [`Synchronous::Full`] by default.
    pub synchronous: Synchronous,
    /// How long a write waits for another process's write lock before it
    /// fails with a backend error. 5 seconds by default.
    pub busy_timeout: Duration,
    /// How many idle reader connections are kept. More concurrent readers
    /// than this still work: extra connections are opened and closed.
    /// Defaults to twice the available parallelism.
    pub max_idle_readers: usize,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(4, std::num::NonZeroUsize::get);
        Self {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            max_idle_readers: 2 * cpus,
        }
    }
}

/// The store's connections.
pub(crate) struct Connections {
    path: PathBuf,
    config: SqliteConfig,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

/// Statements a connection keeps prepared: the store uses fewer than this.
const STATEMENT_CACHE: usize = 32;

fn open_err(path: &Path) -> impl FnOnce(rusqlite::Error) -> SqliteError + '_ {
    move |source| SqliteError::Open { path: path.to_owned(), source }
}

fn connect(path: &Path, busy_timeout: Duration) -> Result<Connection, rusqlite::Error> {
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Whether an open failed only because another connection held a lock.
fn is_busy(e: &SqliteError) -> bool {
    let source = match e {
        SqliteError::Open { source, .. } | SqliteError::Migration { source, .. } => source,
        _ => return false,
    };
    matches!(
        source.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn connect_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, rusqlite::Error> {
    let conn = connect(path, busy_timeout)?;
    // A reader that tried to write would be a bug; make it an error.
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Locks a mutex even if a holder panicked. A panic inside a rusqlite
/// `Transaction` rolls it back while unwinding, and `writer` checks for a
/// leftover open transaction anyway, so the connection is still sound.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Connections {
    /// Opens (creating if needed) and migrates the database at `path`.
    /// Nothing is written before the file is known to be empty or ours.
    pub(crate) fn open(path: &Path, config: SqliteConfig) -> Result<Self, SqliteError> {
        // Switching a new file to WAL needs an exclusive lock, and SQLite
        // may report SQLITE_BUSY for it without consulting the busy handler
        // when another connection is opening the same file. Each attempt
        // changes nothing unless it completes a step in a transaction, so
        // the whole sequence is retried until the busy timeout runs out.
        let deadline = std::time::Instant::now() + config.busy_timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match Self::open_once(path, config.clone()) {
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    // A backoff between attempts, not synchronisation: the
                    // other opener is a different connection we cannot await.
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path, config: SqliteConfig) -> Result<Self, SqliteError> {
        let mut writer = connect(path, config.busy_timeout).map_err(open_err(path))?;
        {
            // One read transaction, so the check sees one snapshot: another
            // process migrating the same new file between our reads would
            // otherwise look like a foreign database (version 0, tables
            // present). Dropping it rolls back; nothing was written.
            let snapshot = writer.transaction().map_err(open_err(path))?;
            schema::check(&snapshot, path)?;
        }
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(open_err(path))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SqliteError::WalUnavailable { path: path.to_owned(), mode });
        }
        writer
            .pragma_update(None, "synchronous", config.synchronous.pragma_value())
            .map_err(open_err(path))?;
        schema::migrate(&mut writer, path)?;
        // One reader now, so that a reader that cannot open fails `open`
        // rather than the first request.
        let reader = connect_reader(path, config.busy_timeout).map_err(open_err(path))?;
        Ok(Self {
            path: path.to_owned(),
            config,
            writer: Mutex::new(writer),
            readers: Mutex::new(vec![reader]),
        })
    }

    /// The database file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on an idle reader connection. Readers see every write that
    /// returned before the read started (WAL snapshot at statement start).
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = lock(&self.readers).pop();
        let conn = match idle {
            Some(c) => c,
            None => connect_reader(&self.path, self.config.busy_timeout).map_err(StoreError::backend)?,
        };
        let out = f(&conn);
        let mut readers = lock(&self.readers);
        if readers.len() < self.config.max_idle_readers {
            readers.push(conn);
        }
        out
    }

    /// Runs `f` on the writer connection, alone among this store's writes.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = lock(&self.writer);
        if !conn.is_autocommit() {
            // Only reachable after a panic mid-transaction: never build on
            // a half-done write.
            conn.execute_batch("ROLLBACK").map_err(StoreError::backend)?;
        }
        f(&mut conn)
    }
}
