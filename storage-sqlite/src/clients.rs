//! The client registry's in-process snapshot and its invalidation.
//!
//! Every request reads a client (the caller's, and for introspection the
//! token's issuer), and a disabled, removed or re-keyed client must be
//! refused from the next request on, by every process sharing the file.
//! Decoding the client's JSON on every call is what this avoids.
//!
//! The database keeps a clients generation (`clients_generation.n`), bumped
//! by triggers in the same transaction as every change to `clients`,
//! whichever code or process makes it. Each process keeps a snapshot of the
//! whole `clients` table, decoded, tagged with the generation it was read
//! at (both in one read transaction). Reading the generation costs a WAL
//! read transaction, which takes and releases a shared lock on the `-shm`
//! file: two `fcntl` calls, most of its cost. So:
//!
//! - `get_with_client` (introspection, bearer validation) reads the
//!   generation in the same statement as the token row, and answers from a
//!   snapshot at least that new: exact for every writer, for free.
//! - `client` (every request's caller authentication) first looks at the
//!   clients notice file (`<file>-clients`): every store appends a byte to
//!   it after committing a client write and before acknowledging it, so its
//!   length (one `lseek`, no lock) moves after every client write made
//!   through the store API, in any process. A snapshot is tagged with the
//!   length read before it was last checked against the database; while
//!   the length is unchanged, and the last check is younger than
//!   `SqliteConfig::client_db_check_interval`, the snapshot answers.
//!   Otherwise the generation is read from the database, as above. The
//!   length only grows (appends are atomic, whole-file, never truncated by
//!   the store), so it cannot come back to a value a snapshot was tagged
//!   with.
//!
//! So a lookup reflects every client write acknowledged by any store on
//! the file before it started; a client row changed without the store API
//! (plain SQL, or a writer that died between its commit and its notice) is
//! seen by `get_with_client` at once and by `client` within the check
//! interval.
//!
//! A whole-table snapshot makes a known id and an unknown id the same
//! work, as [`ClientRegistry::client`] requires: one hash lookup (SipHash,
//! randomly keyed), one comparison of the id (with the stored key on a hit,
//! with itself on a miss) and one clone of a decoded client (on a miss, of
//! a registered client that is then dropped, a different one each time). A
//! malformed id reaches the store as an id no client can have (the core
//! looks it up so that it costs what an unknown id costs): a miss like any
//! other.
//!
//! [`ClientRegistry::client`]: gatehouse_core::ClientRegistry::client
//!
//! `PRAGMA data_version` alone would not do: it changes on every commit of
//! another connection, token writes included, so the snapshot would be
//! reloaded on nearly every request.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gatehouse_core::model::{Client, ClientId};
use gatehouse_core::StoreError;
use rusqlite::{Connection, OptionalExtension};

use crate::codec::decode_client;
use crate::conn::Connections;
use crate::error::SqliteError;

const SELECT_GENERATION: &str = "SELECT n FROM clients_generation WHERE id = 0";
const SELECT_CLIENTS: &str = "SELECT id, client FROM clients";

/// The clients table at one generation, decoded. A row that does not
/// decode is kept as its error, shared by every lookup of that id (only
/// those fail), each of which returns it as its source without a copy.
struct Snapshot {
    generation: i64,
    clients: HashMap<String, Result<Client, Arc<SqliteError>>>,
    /// Every client that decodes, cloned (and dropped) in turn for an
    /// unknown id, so that a miss costs what a hit costs: one fixed
    /// stand-in would stay in the fastest cache, where the client of a
    /// hit often is not.
    stand_ins: Vec<Client>,
    /// Which stand-in is next; moved by every lookup, hit or miss, so both
    /// do this work. Racing lookups may pick the same one.
    next: AtomicUsize,
    /// Clients cloned, for the test that proves hits and misses alike.
    #[cfg(test)]
    cloned: AtomicUsize,
}

/// A snapshot and what it was last checked against.
#[derive(Clone)]
struct Cached {
    snapshot: Arc<Snapshot>,
    /// The notice file's length read before that check: while it has not
    /// moved, no client write was acknowledged since.
    notices: u64,
    /// When that check started.
    checked: Instant,
}

/// The current snapshot of this process.
pub(crate) struct ClientCache {
    current: Mutex<Option<Cached>>,
    /// Held while reloading, so that a burst of lookups after a client
    /// write reloads once rather than once per lookup.
    reload: Mutex<()>,
    notice: Notice,
    check_interval: Duration,
}

/// The clients notice file: one byte appended per client write.
struct Notice {
    file: File,
    path: PathBuf,
}

impl Notice {
    fn open(db: &Path) -> Result<Self, SqliteError> {
        let mut path = db.as_os_str().to_owned();
        path.push("-clients");
        let path = PathBuf::from(path);
        match std::fs::OpenOptions::new().append(true).create(true).open(&path) {
            Ok(file) => Ok(Self { file, path }),
            Err(source) => Err(SqliteError::ClientsNotice { path, source }),
        }
    }

    fn failed(&self, source: std::io::Error) -> StoreError {
        StoreError::backend(SqliteError::ClientsNotice { path: self.path.clone(), source })
    }

    /// How many client writes were announced (the file's length).
    ///
    /// Read with `lseek(SEEK_END)`, which answers the length and nothing
    /// else, rather than `fstat`/`statx`, which fill a whole `stat`: on
    /// the development VM about 0.25 µs against 0.8 µs, paid by every
    /// request (see the README). Moving the offset is harmless: the file
    /// is opened `O_APPEND`, so every write goes to the end whatever it is.
    fn count(&self) -> Result<u64, StoreError> {
        (&self.file).seek(SeekFrom::End(0)).map_err(|e| self.failed(e))
    }

    /// Appends one byte: `O_APPEND` makes it atomic among processes, and
    /// the length only grows.
    fn announce(&self) -> Result<(), StoreError> {
        (&self.file).write_all(b".").map_err(|e| self.failed(e))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections only swap a value: nothing is left half-done.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Busy past the busy timeout is `Unavailable`, anything else `Backend`.
fn backend(e: rusqlite::Error) -> StoreError {
    crate::error::store_error(e)
}

/// The generation, or `None` when its row is missing (a damaged file):
/// then nothing is cached and every lookup reads the table.
fn read_generation(c: &Connection) -> Result<Option<i64>, StoreError> {
    let mut st = c.prepare_cached(SELECT_GENERATION).map_err(backend)?;
    st.query_row([], |r| r.get(0)).optional().map_err(backend)
}

impl ClientCache {
    /// Opens (creating if needed) the notice file of the database `db`.
    pub(crate) fn open(db: &Path, check_interval: Duration) -> Result<Self, SqliteError> {
        Ok(Self {
            current: Mutex::new(None),
            reload: Mutex::new(()),
            notice: Notice::open(db)?,
            check_interval,
        })
    }

    fn cached(&self, at_least: i64) -> Option<Arc<Snapshot>> {
        // A newer snapshot is as good: it was read after the generation
        // this lookup saw, so it reflects a state within the call.
        lock(&self.current).as_ref().map(|c| &c.snapshot).filter(|s| s.generation >= at_least).cloned()
    }

    /// Announces a client write that has committed, before it is
    /// acknowledged, to the `client` lookups of every process.
    pub(crate) fn announce(&self) -> Result<(), StoreError> {
        self.notice.announce()
    }

    /// Looks `id` up as of now: reflects every client write acknowledged
    /// through a store before the call.
    pub(crate) fn client(&self, conns: &Connections, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let notices = self.notice.count()?;
        let now = Instant::now();
        let fresh = lock(&self.current).as_ref().and_then(|c| {
            let unchanged =
                c.notices == notices && now.saturating_duration_since(c.checked) < self.check_interval;
            unchanged.then(|| c.snapshot.clone())
        });
        if let Some(snapshot) = fresh {
            return snapshot.answer(id);
        }
        let Some(generation) = conns.read(read_generation)? else {
            return load(conns)?.1.answer(id);
        };
        let snapshot = match self.cached(generation) {
            Some(s) => {
                // Checked: as new as the database was after `notices`
                // was read, so it may be trusted for that length.
                *lock(&self.current) = Some(Cached { snapshot: s.clone(), notices, checked: now });
                s
            }
            None => self.reload(conns, generation)?,
        };
        snapshot.answer(id)
    }

    /// Looks `id` up in a snapshot at least as new as `generation`, a
    /// clients generation the caller read (`None`: its row is missing),
    /// reloading first when the cached snapshot is older.
    pub(crate) fn client_at(
        &self,
        conns: &Connections,
        generation: Option<i64>,
        id: &ClientId,
    ) -> Result<Option<Client>, StoreError> {
        let snapshot = match generation {
            Some(generation) => match self.cached(generation) {
                Some(s) => s,
                None => self.reload(conns, generation)?,
            },
            None => Arc::new(load(conns)?.1),
        };
        snapshot.answer(id)
    }

    fn reload(&self, conns: &Connections, generation: i64) -> Result<Arc<Snapshot>, StoreError> {
        let _one_at_a_time = lock(&self.reload);
        if let Some(s) = self.cached(generation) {
            return Ok(s);
        }
        // Read before the table, so the tag never claims more than the
        // snapshot holds.
        let notices = self.notice.count()?;
        let checked = Instant::now();
        let (read_at, snapshot) = load(conns)?;
        let snapshot = Arc::new(snapshot);
        if read_at.is_some() {
            *lock(&self.current) = Some(Cached { snapshot: snapshot.clone(), notices, checked });
        }
        Ok(snapshot)
    }
}

/// Reads the generation and the whole table in one read transaction.
fn load(conns: &Connections) -> Result<(Option<i64>, Snapshot), StoreError> {
    let (generation, rows) = conns.read(|c| {
        // A deferred read transaction: one WAL snapshot for both reads.
        let tx = c.unchecked_transaction().map_err(backend)?;
        let generation = read_generation(&tx)?;
        let rows = {
            let mut st = tx.prepare_cached(SELECT_CLIENTS).map_err(backend)?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)?
        };
        tx.finish().map_err(backend)?;
        Ok((generation, rows))
    })?;
    let clients: HashMap<String, Result<Client, Arc<SqliteError>>> = rows
        .into_iter()
        .map(|(id, json)| {
            let client = decode_client(&id, &json).map_err(Arc::new);
            (id, client)
        })
        .collect();
    let stand_ins = clients.values().filter_map(|c| c.as_ref().ok()).cloned().collect();
    let generation_or_min = generation.unwrap_or(i64::MIN);
    Ok((generation, Snapshot::new(generation_or_min, clients, stand_ins)))
}

impl Snapshot {
    fn new(
        generation: i64,
        clients: HashMap<String, Result<Client, Arc<SqliteError>>>,
        stand_ins: Vec<Client>,
    ) -> Self {
        Self {
            generation,
            clients,
            stand_ins,
            next: AtomicUsize::new(0),
            #[cfg(test)]
            cloned: AtomicUsize::new(0),
        }
    }

    /// The client registered as `id`, with the same work when there is
    /// none (see the module docs).
    fn answer(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let turn = self.next.load(Ordering::Relaxed);
        let stand_in = self.stand_ins.get(turn);
        let wrapped = turn + 1 >= self.stand_ins.len();
        self.next.store(if wrapped { 0 } else { turn + 1 }, Ordering::Relaxed);
        match self.clients.get(id.as_str()) {
            Some(Ok(client)) => Ok(Some(self.clone_of(client))),
            Some(Err(e)) => Err(StoreError::corrupt("client", Arc::clone(e))),
            None => {
                // What a hit's key comparison costs: equal lengths, every
                // byte compared.
                std::hint::black_box(std::hint::black_box(id.as_str()) == std::hint::black_box(id.as_str()));
                if let Some(stand_in) = stand_in {
                    drop(std::hint::black_box(self.clone_of(stand_in)));
                }
                Ok(None)
            }
        }
    }

    fn clone_of(&self, client: &Client) -> Client {
        #[cfg(test)]
        self.cloned.fetch_add(1, Ordering::Relaxed);
        client.clone()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::*;
    use gatehouse_core::model::SecretDigest;
    use gatehouse_core::ClientRegistry;

    use crate::oneshot::block_on;
    use crate::SqliteStore;

    fn generation(path: &Path) -> i64 {
        let c = Connection::open(path).unwrap();
        c.query_row(SELECT_GENERATION, [], |r| r.get(0)).unwrap()
    }

    /// A file from before the clients generation (schema v1), with a
    /// client written as the v1 code wrote it, migrates on open; the
    /// migrated triggers then catch a write made the v1 way.
    #[test]
    fn a_version_1_file_migrates_and_its_clients_stay_exact() {
        let dir = std::env::temp_dir().join(format!("gatehouse-clients-v1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v1.db");
        let app =
            Client::new_confidential(ClientId::new("app").unwrap(), SecretDigest::generate().unwrap().1);
        let json = serde_json::to_string(&app).unwrap();
        {
            let mut c = Connection::open(&path).unwrap();
            crate::schema::migrate_to(&mut c, &path, 1).unwrap();
            c.execute("INSERT INTO clients (id, client) VALUES ('app', ?1)", [&json]).unwrap();
        }
        // Plain SQL below: the database is checked on every lookup.
        let config = crate::SqliteConfig {
            client_db_check_interval: Duration::ZERO,
            ..crate::SqliteConfig::default()
        };
        let store = SqliteStore::open_with(&path, config).unwrap();
        assert_eq!(
            Connection::open(&path)
                .unwrap()
                .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
                .unwrap(),
            crate::SCHEMA_VERSION
        );
        assert!(block_on(store.client(&app.id)).unwrap().unwrap().enabled);

        let before = generation(&path);
        let off = json.replace("\"enabled\":true", "\"enabled\":false");
        Connection::open(&path).unwrap().execute("UPDATE clients SET client = ?1", [&off]).unwrap();
        assert!(generation(&path) > before);
        assert!(!block_on(store.client(&app.id)).unwrap().unwrap().enabled);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The count is every announcement made through any handle on the
    /// file (each store, each process has its own), and reading it does
    /// not disturb the appends that follow.
    #[test]
    fn the_notice_count_is_every_announcement_on_the_file() {
        let dir = std::env::temp_dir().join(format!("gatehouse-clients-notice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("n.db");
        let (a, b) = (Notice::open(&db).unwrap(), Notice::open(&db).unwrap());
        assert_eq!((a.count().unwrap(), b.count().unwrap()), (0, 0));
        a.announce().unwrap();
        b.announce().unwrap();
        a.announce().unwrap();
        assert_eq!((a.count().unwrap(), b.count().unwrap()), (3, 3));
        b.announce().unwrap();
        assert_eq!((a.count().unwrap(), b.count().unwrap()), (4, 4));
        drop((a, b));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A registered id and an unregistered one each cost one clone of a
    /// decoded client: a miss is not cheaper than a hit.
    #[test]
    fn a_miss_clones_a_client_as_a_hit_does() {
        let app =
            Client::new_confidential(ClientId::new("app").unwrap(), SecretDigest::generate().unwrap().1);
        let clients = HashMap::from([("app".to_owned(), Ok(app.clone()))]);
        let snapshot = Snapshot::new(1, clients, vec![app]);
        let clones = |id: &str| {
            snapshot.cloned.store(0, Ordering::Relaxed);
            let found = snapshot.answer(&ClientId::new(id).unwrap()).unwrap().is_some();
            (found, snapshot.cloned.load(Ordering::Relaxed))
        };
        assert_eq!(clones("app"), (true, 1));
        assert_eq!(clones("nobody"), (false, 1));
    }

    #[test]
    fn token_writes_leave_the_generation_alone() {
        let dir = std::env::temp_dir().join(format!("gatehouse-clients-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.db");
        let store = SqliteStore::open(&path).unwrap();
        let app =
            Client::new_confidential(ClientId::new("app").unwrap(), SecretDigest::generate().unwrap().1);
        let g0 = generation(&path);
        block_on(store.put_client(app.clone())).unwrap();
        let g1 = generation(&path);
        assert!(g1 > g0);
        let c = Connection::open(&path).unwrap();
        c.execute(
            "INSERT INTO tokens (grant_id, hash, state, expires_at, record) VALUES (zeroblob(16), zeroblob(32), 0, 0, '{}')",
            [],
        )
        .unwrap();
        c.execute("UPDATE tokens SET state = 1", []).unwrap();
        assert_eq!(generation(&path), g1);
        block_on(store.remove_client(&app.id)).unwrap();
        assert!(generation(&path) > g1);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
