//! Connections: one writer, a pool of readers, all on one WAL file.
//!
//! In WAL mode readers never wait for the writer and the writer never waits
//! for readers; writers wait for each other. So every write goes to the
//! single writer connection, owned by the writer thread (`src/writer.rs`:
//! its queue orders the writes of this process, `BEGIN IMMEDIATE` and the
//! busy timeout order them with other processes), and reads take any idle
//! reader connection, inline on the caller's thread.
//!
//! The reader pool's lock is a `std::sync::Mutex` held only to take or
//! return a connection; no `.await` happens while one is held.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use std::time::Duration;

use gatehouse_core::StoreError;
use rusqlite::{Connection, OpenFlags};

use crate::error::SqliteError;
use crate::oneshot::Receiver;
use crate::schema;
use crate::writer::Writer;

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
    /// fails with `StoreError::Unavailable` (the core answers 503 with
    /// `Retry-After`). 5 seconds by default.
    pub busy_timeout: Duration,
    /// How many idle reader connections are kept. More concurrent readers
    /// than this still work: extra connections are opened and closed.
    /// Defaults to twice the available parallelism.
    pub max_idle_readers: usize,
    /// How many bytes of the database file reader connections read through
    /// a shared memory map (`PRAGMA mmap_size`) rather than `read` calls
    /// into each connection's own page cache; 0 turns it off. 1 GiB by
    /// default (SQLite caps it at its compile-time maximum, 2 GiB in the
    /// bundled build).
    ///
    /// With a large store, a lookup otherwise copies a few pages from the
    /// OS page cache per call (SQLite's own cache is 2 MB per connection);
    /// mapped, it reads them in place, shared by all readers. The price is
    /// SQLite's documented one: an I/O error while reading a mapped page
    /// (a failing disk, a file truncated by something other than SQLite)
    /// kills the process with `SIGBUS` instead of returning an error.
    /// Writes are unaffected: the writer connection does not map the file.
    pub mmap_size: u64,
    /// How long `client` lookups may go on trusting the clients notice file
    /// alone before reading the clients generation from the database again.
    /// 1 second by default; zero reads it on every lookup.
    ///
    /// Client writes made through any [`SqliteStore`](crate::SqliteStore)
    /// on the file are seen by every process's next lookup whatever this
    /// is: the writer announces them in the notice file before
    /// acknowledging them. The database check is the backstop for client
    /// rows changed some other way (plain SQL, or a process that died
    /// between its commit and its notice): those are seen by `client`
    /// within this interval, and by `get_with_client` (introspection,
    /// bearer validation) at once, since it reads the generation with the
    /// token row anyway. Reading it costs a WAL read transaction (about
    /// 3 µs on the development VM, two `fcntl` calls of it).
    pub client_db_check_interval: Duration,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(4, std::num::NonZeroUsize::get);
        Self {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            max_idle_readers: 2 * cpus,
            mmap_size: 1 << 30,
            client_db_check_interval: Duration::from_secs(1),
        }
    }
}

/// The store's connections.
pub(crate) struct Connections {
    path: PathBuf,
    config: SqliteConfig,
    readers: Mutex<Vec<Connection>>,
    writer: Writer,
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

fn connect_reader(path: &Path, config: &SqliteConfig) -> Result<Connection, rusqlite::Error> {
    let conn = connect(path, config.busy_timeout)?;
    // A reader that tried to write would be a bug; make it an error.
    conn.pragma_update(None, "query_only", true)?;
    let mmap_size = i64::try_from(config.mmap_size).unwrap_or(i64::MAX);
    // The pragma answers with the size SQLite settled on; it is not
    // needed, but the answer row must be read.
    conn.pragma_update_and_check(None, "mmap_size", mmap_size, |_| Ok(()))?;
    Ok(conn)
}

/// Locks a mutex even if a holder panicked: the pool's critical sections
/// only push or pop a connection.
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
                Err(e) if e.is_unavailable() && std::time::Instant::now() < deadline => {
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
        // New grant ids grow with time, so issuance appends to the right
        // edge of the tokens B-tree; but refresh rotation, revocation and
        // consumption touch the rows of older grants, anywhere in the file:
        // with SQLite's default 2 MB cache the writer re-reads most of those
        // pages (with random grant ids, strace measured 3.5 `pread`s per
        // issued token). 64 MB keeps the leaves of a few hundred thousand
        // tokens.
        writer.pragma_update(None, "cache_size", -65_536).map_err(open_err(path))?;
        schema::migrate(&mut writer, path)?;
        // One reader now, so that a reader that cannot open fails `open`
        // rather than the first request.
        let reader = connect_reader(path, &config).map_err(open_err(path))?;
        let writer = Writer::start(writer, path)?;
        Ok(Self { path: path.to_owned(), config, readers: Mutex::new(vec![reader]), writer })
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
            None => connect_reader(&self.path, &self.config).map_err(crate::error::store_error)?,
        };
        let out = f(&conn);
        let mut readers = lock(&self.readers);
        if readers.len() < self.config.max_idle_readers {
            readers.push(conn);
        }
        out
    }

    /// Queues `work` for the writer thread's next transaction; the future
    /// resolves once that transaction committed (or failed). See
    /// `src/writer.rs`.
    pub(crate) fn write<T, F>(&self, work: F) -> Receiver<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.submit(work)
    }

    /// Like [`write`](Self::write), for `work` made of one data-changing
    /// statement that fails only when that statement failed or changed
    /// nothing: it needs no savepoint (see `Writer::submit_statement`).
    pub(crate) fn write_statement<T, F>(&self, work: F) -> Receiver<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.submit_statement(work)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reader_mmap_size(mmap_size: u64) -> i64 {
        let dir =
            std::env::temp_dir().join(format!("gatehouse-conn-mmap-{mmap_size}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = SqliteConfig { mmap_size, ..SqliteConfig::default() };
        let conns = Connections::open(&dir.join("m.db"), config).unwrap();
        let got = conns
            .read(|c| c.pragma_query_value(None, "mmap_size", |r| r.get(0)).map_err(StoreError::backend))
            .unwrap();
        drop(conns);
        let _ = std::fs::remove_dir_all(&dir);
        got
    }

    #[test]
    fn readers_map_the_file_as_configured() {
        assert_eq!(reader_mmap_size(1 << 20), 1 << 20);
        assert_eq!(reader_mmap_size(0), 0);
        assert!(reader_mmap_size(SqliteConfig::default().mmap_size) > 0);
    }
}
