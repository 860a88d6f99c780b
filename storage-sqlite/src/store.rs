//! [`SqliteStore`]: the trait implementations. Reads are one SQL statement
//! inline; each write is one request to the writer thread, applied inside
//! its group-commit transaction (`src/writer.rs`).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use gatehouse_core::model::{Client, ClientId, GrantId, TokenDigest, TokenRecord};
use gatehouse_core::{ClientRegistry, Consumed, StoreError, TokenStore, UnixTime};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection};

use crate::clients::ClientCache;
use crate::codec::{decode_token, encode_client, encode_token, time_column, TokenRow};
use crate::conn::{Connections, SqliteConfig};
use crate::error::SqliteError;
use crate::oneshot::block_on;
use crate::schema::{STATE_ACTIVE, STATE_CONSUMED, STATE_REVOKED};

const SELECT_TOKEN: &str = "SELECT state, record FROM tokens WHERE grant_id = ?1 AND hash = ?2";
// The token row and the clients generation in one statement, so in one
// read transaction (one WAL snapshot): `get_with_client` then answers the
// client from a snapshot at least that new. NULL when the generation row is
// missing (a damaged file): the client is then read from the table.
const SELECT_TOKEN_AND_GENERATION: &str = "SELECT state, record, \
                                           (SELECT n FROM clients_generation WHERE id = 0) \
                                           FROM tokens WHERE grant_id = ?1 AND hash = ?2";
// `ON CONFLICT DO NOTHING` plus a check of the change count, rather than
// matching SQLite's constraint error codes: an existing key is reported as
// `Conflict` and never overwritten.
const INSERT_TOKEN: &str = "INSERT INTO tokens (grant_id, hash, state, expires_at, record) \
                            VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING";
const TAKE_TOKEN: &str = "UPDATE tokens SET state = ?3 WHERE grant_id = ?1 AND hash = ?2 AND state = ?4 \
                          RETURNING record";
const REVOKE_TOKEN: &str = "UPDATE tokens SET state = ?3 WHERE grant_id = ?1 AND hash = ?2";
const REVOKE_GRANT: &str = "UPDATE tokens SET state = ?2 WHERE grant_id = ?1 AND state <> ?2";
// SQLite has no `DELETE … LIMIT` in its default build; the subquery walks
// the expiry index and the outer delete finds each row by primary key.
const PURGE: &str = "DELETE FROM tokens WHERE (grant_id, hash) IN \
                     (SELECT grant_id, hash FROM tokens WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)";
const PUT_CLIENT: &str = "INSERT INTO clients (id, client) VALUES (?1, ?2) \
                          ON CONFLICT (id) DO UPDATE SET client = excluded.client";
const DELETE_CLIENT: &str = "DELETE FROM clients WHERE id = ?1";

/// A [`TokenStore`] and [`ClientRegistry`] in one SQLite file.
///
/// Cloning is cheap and shares the connections, the writer thread and the
/// client snapshot. The writer thread stops (after finishing the writes
/// already queued) when the last clone is dropped, and that drop waits for
/// it, so the file is closed once the store is gone.
///
/// # Cost per call
/// No call blocks its executor thread for more than one short SQLite
/// statement, and no lock is held across an `.await`:
/// - `get`: one primary-key lookup on an idle reader connection plus
///   decoding of the record (the core's binary form; JSON for rows written
///   by earlier versions), inline when first polled (a few microseconds
///   when the pages are cached; see the README for measured figures).
///   Readers never wait for writers (WAL).
/// - `client`: one read of the clients generation (a one-row table) on a
///   reader, then a hash lookup in this process's decoded snapshot of the
///   clients table, and a clone of the client (cheap: shared `Arc`s). After
///   a client write by any process, the first lookup reloads and decodes
///   the whole table once (about a microsecond per client).
/// - `get_with_client` (introspection, bearer validation): one statement
///   that reads the token row and the clients generation together (one
///   read transaction), then the client from the snapshot as `client`
///   does: the cost of `get` alone, never a client older than the record.
/// - `insert`, `consume`, `revoke`, `revoke_grant`, `purge_expired`,
///   `put_client`, `remove_client`: queued to the store's writer thread
///   (a channel send), then the future waits, without blocking its thread,
///   for the acknowledgement. The writer applies every queued write in one
///   transaction and commits once: with [`Synchronous::Full`](crate::Synchronous::Full)
///   one `fsync` of the WAL (tens of microseconds on a fast SSD,
///   milliseconds on slow disks) covers all of them. A write is
///   acknowledged (its future resolves `Ok`) only after the commit that
///   holds it. Writes of other processes are waited for up to the busy
///   timeout.
/// - `purge_expired` deletes at most `limit` rows in the writer's
///   transaction; keep `limit` in the low thousands so it delays the
///   writes batched with it by milliseconds at most.
///
/// A write future dropped after its first poll does not cancel the write:
/// it is queued and will be committed; only its answer is lost.
#[derive(Clone)]
pub struct SqliteStore {
    conns: Arc<Connections>,
    clients: Arc<ClientCache>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.conns.path()).finish_non_exhaustive()
    }
}

/// Busy past the busy timeout is `Unavailable`, anything else `Backend`.
fn backend(e: rusqlite::Error) -> StoreError {
    crate::error::store_error(e)
}

impl SqliteStore {
    /// Opens the store in the file at `path`, creating it if needed, with
    /// the default [`SqliteConfig`].
    ///
    /// The schema is migrated forward to the current version. A file that
    /// is not a database, belongs to another application, or has a newer
    /// schema is refused before anything is written to it.
    ///
    /// # Errors
    /// See [`SqliteError`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::open_with(path, SqliteConfig::default())
    }

    /// Like [`open`](Self::open), with explicit settings.
    ///
    /// # Errors
    /// See [`SqliteError`].
    pub fn open_with(path: impl AsRef<Path>, config: SqliteConfig) -> Result<Self, SqliteError> {
        let check_interval = config.client_db_check_interval;
        // The database first: a file that is not ours is refused before
        // anything (the notice file included) is created next to it.
        let conns = Connections::open(path.as_ref(), config)?;
        let clients = ClientCache::open(path.as_ref(), check_interval)?;
        Ok(Self { conns: Arc::new(conns), clients: Arc::new(clients) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.conns.path()
    }

    /// Inserts many records in one transaction: all of them, or none.
    /// Meant for seeding and bulk loads. It blocks the calling thread until
    /// the records are committed: call it outside async code (or from
    /// `spawn_blocking`).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when any digest exists or repeats (nothing
    /// is stored); [`StoreError::Backend`].
    pub fn insert_batch(&self, records: impl IntoIterator<Item = TokenRecord>) -> Result<(), StoreError> {
        let rows = records.into_iter().map(|r| encode_token(&r)).collect::<Vec<_>>();
        // One request: its savepoint makes the batch all or nothing.
        block_on(self.conns.write(move |c| insert_rows(c, &rows)))
    }

    async fn insert_now(&self, record: &TokenRecord) -> Result<(), StoreError> {
        // Encoded here, on the caller's thread: the writer thread is the
        // one shared resource, so it only runs statements.
        let row = encode_token(record);
        self.conns.write(move |c| insert_rows(c, std::slice::from_ref(&row))).await
    }

    fn get_now(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, StoreError> {
        self.conns.read(|c| {
            let mut st = c.prepare_cached(SELECT_TOKEN).map_err(backend)?;
            let (g, h) = key_of(digest);
            let mut rows = st.query(params![&g[..], &h[..]]).map_err(backend)?;
            match rows.next().map_err(backend)? {
                Some(r) => Ok(Some(decode_token(digest, r.get(0).map_err(backend)?, record_bytes(r, 1)?)?)),
                None => Ok(None),
            }
        })
    }

    fn get_with_client_now(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<(TokenRecord, Option<Client>)>, StoreError> {
        let row = self.conns.read(|c| {
            let mut st = c.prepare_cached(SELECT_TOKEN_AND_GENERATION).map_err(backend)?;
            let (g, h) = key_of(digest);
            let mut rows = st.query(params![&g[..], &h[..]]).map_err(backend)?;
            let Some(r) = rows.next().map_err(backend)? else {
                return Ok(None);
            };
            let record = decode_token(digest, r.get(0).map_err(backend)?, record_bytes(r, 1)?)?;
            Ok(Some((record, r.get::<_, Option<i64>>(2).map_err(backend)?)))
        })?;
        let Some((record, generation)) = row else {
            return Ok(None);
        };
        // The generation was read with the record: a snapshot at least that
        // new reflects every client write committed before the record was.
        let client = self.clients.client_at(&self.conns, generation, &record.client_id)?;
        Ok(Some((record, client)))
    }

    async fn consume_now(
        &self,
        digest: TokenDigest,
        replacements: Vec<TokenRecord>,
    ) -> Result<Consumed, StoreError> {
        let rows = replacements.iter().map(encode_token).collect::<Vec<_>>();
        // The writer's transaction is `BEGIN IMMEDIATE`: it holds the write
        // lock from the start, so the check of the state and its change are
        // one step for every process, and the writes queued before this one
        // in the same transaction are visible to it.
        self.conns
            .write(move |c| {
                let mut st = c.prepare_cached(TAKE_TOKEN).map_err(backend)?;
                let (g, h) = key_of(&digest);
                let mut taken =
                    st.query(params![&g[..], &h[..], STATE_CONSUMED, STATE_ACTIVE]).map_err(backend)?;
                if let Some(r) = taken.next().map_err(backend)? {
                    // Decoded before commit: a record we cannot return is
                    // not consumed (the request's savepoint is rolled back
                    // on this error).
                    let before = decode_token(&digest, STATE_ACTIVE, record_bytes(r, 0)?)?;
                    // The UPDATE is done once its one row is out; end the
                    // statement before the inserts run.
                    drop(taken);
                    insert_rows(c, &rows)?;
                    return Ok(Consumed::Taken(before));
                }
                drop(taken);
                let mut st = c.prepare_cached(SELECT_TOKEN).map_err(backend)?;
                let mut rows = st.query(params![&g[..], &h[..]]).map_err(backend)?;
                match rows.next().map_err(backend)? {
                    Some(r) => {
                        let state = r.get(0).map_err(backend)?;
                        Ok(Consumed::Replayed(decode_token(&digest, state, record_bytes(r, 1)?)?))
                    }
                    None => Ok(Consumed::Unknown),
                }
            })
            .await
    }

    async fn revoke_now(&self, digest: TokenDigest) -> Result<bool, StoreError> {
        self.conns
            .write(move |c| {
                let mut st = c.prepare_cached(REVOKE_TOKEN).map_err(backend)?;
                let (g, h) = key_of(&digest);
                let n = st.execute(params![&g[..], &h[..], STATE_REVOKED]).map_err(backend)?;
                Ok(n > 0)
            })
            .await
    }

    async fn revoke_grant_now(&self, grant: GrantId) -> Result<(), StoreError> {
        // One statement in one request: every row of the grant changes in
        // one commit, and the writer's queue (with the file's write lock)
        // orders it strictly before or after any `consume` of the grant.
        self.conns
            .write(move |c| {
                let mut st = c.prepare_cached(REVOKE_GRANT).map_err(backend)?;
                st.execute(params![&grant.as_bytes()[..], STATE_REVOKED]).map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn purge_now(&self, now: UnixTime, limit: usize) -> Result<usize, StoreError> {
        if limit == 0 {
            return Ok(0);
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.conns
            .write(move |c| {
                let mut st = c.prepare_cached(PURGE).map_err(backend)?;
                st.execute(params![time_column(now), limit]).map_err(backend)
            })
            .await
    }

    async fn put_client_now(&self, client: &Client) -> Result<(), StoreError> {
        let json = encode_client(client)?;
        let id = client.id.as_str().to_owned();
        // The triggers of `clients` bump the clients generation in this
        // same transaction: every process's next lookup reloads.
        self.conns
            .write(move |c| {
                let mut st = c.prepare_cached(PUT_CLIENT).map_err(backend)?;
                st.execute(params![id, json]).map_err(backend)?;
                Ok(())
            })
            .await?;
        // Committed; announced before it is acknowledged, so that every
        // process's next `client` lookup checks the database.
        self.clients.announce()
    }

    async fn remove_client_now(&self, id: &ClientId) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        let removed = self
            .conns
            .write(move |c| {
                let mut st = c.prepare_cached(DELETE_CLIENT).map_err(backend)?;
                Ok(st.execute([id]).map_err(backend)? > 0)
            })
            .await?;
        if removed {
            self.clients.announce()?;
        }
        Ok(removed)
    }
}

/// Column `i` of `row`, a stored record, as bytes borrowed from SQLite's
/// buffer: a record is decoded from them in place (the statement, hence
/// its read transaction, stays open for the decoding, about a
/// microsecond), where an owned copy would be one more allocation per
/// read. A BLOB (the binary record) or TEXT (the JSON of rows written by
/// earlier versions): `decode_token` tells them apart.
fn record_bytes<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r [u8], StoreError> {
    match row.get_ref(i).map_err(backend)? {
        ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b),
        other => Err(StoreError::Corrupt(format!("token record stored as {:?}", other.data_type()))),
    }
}

/// The key columns of a digest.
fn key_of(digest: &TokenDigest) -> ([u8; 16], [u8; 32]) {
    (*digest.grant().as_bytes(), *digest.hash())
}

/// Inserts each row, failing with `Conflict` at the first existing key.
/// Atomic as part of one writer request (its savepoint).
fn insert_rows(c: &Connection, rows: &[TokenRow]) -> Result<(), StoreError> {
    let mut st = c.prepare_cached(INSERT_TOKEN).map_err(backend)?;
    for row in rows {
        let n = st
            .execute(params![&row.grant_id[..], &row.hash[..], row.state, row.expires_at, row.record])
            .map_err(backend)?;
        if n == 0 {
            return Err(StoreError::Conflict);
        }
    }
    Ok(())
}

impl TokenStore for SqliteStore {
    async fn insert(&self, record: TokenRecord) -> Result<(), StoreError> {
        self.insert_now(&record).await
    }

    fn get(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send {
        let digest = *digest;
        async move { self.get_now(&digest) }
    }

    fn get_with_client(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<(TokenRecord, Option<Client>)>, StoreError>> + Send {
        let digest = *digest;
        async move { self.get_with_client_now(&digest) }
    }

    fn consume(
        &self,
        digest: &TokenDigest,
        replacements: Vec<TokenRecord>,
    ) -> impl Future<Output = Result<Consumed, StoreError>> + Send {
        self.consume_now(*digest, replacements)
    }

    fn revoke(&self, digest: &TokenDigest) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.revoke_now(*digest)
    }

    fn revoke_grant(&self, grant: &GrantId) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.revoke_grant_now(*grant)
    }

    async fn purge_expired(&self, now: UnixTime, limit: usize) -> Result<usize, StoreError> {
        self.purge_now(now, limit).await
    }
}

impl ClientRegistry for SqliteStore {
    fn client(&self, id: &ClientId) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send {
        let id = id.clone();
        async move { self.clients.client(&self.conns, &id) }
    }

    async fn put_client(&self, client: Client) -> Result<(), StoreError> {
        self.put_client_now(&client).await
    }

    fn remove_client(&self, id: &ClientId) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let id = id.clone();
        async move { self.remove_client_now(&id).await }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The query plan's detail lines for `sql`.
    fn plan(sql: &str) -> String {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn, Path::new(":memory:")).unwrap();
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; st.parameter_count()];
        let rows = st.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3)).unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("\n")
    }

    #[test]
    fn lookups_by_digest_and_grant_use_the_primary_key() {
        for sql in [SELECT_TOKEN, SELECT_TOKEN_AND_GENERATION, TAKE_TOKEN, REVOKE_TOKEN] {
            let p = plan(sql);
            assert!(p.contains("USING PRIMARY KEY (grant_id=? AND hash=?)"), "{sql}:\n{p}");
        }
        let p = plan(REVOKE_GRANT);
        assert!(p.contains("USING PRIMARY KEY (grant_id=?)"), "{p}");
        assert!(!p.contains("SCAN"), "{p}");
    }

    #[test]
    fn purge_walks_the_expiry_index() {
        let p = plan(PURGE);
        assert!(p.contains("USING COVERING INDEX tokens_by_expiry (expires_at<?)"), "{p}");
        assert!(!p.contains("SCAN tokens"), "{p}");
    }
}
