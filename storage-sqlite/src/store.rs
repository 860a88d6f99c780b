//! [`SqliteStore`]: the trait implementations. Reads are one SQL statement
//! inline; each write is one request to the writer thread, applied inside
//! its group-commit transaction (`src/writer.rs`).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use gatehouse_core::model::{Client, ClientId, GrantId, RecordDecodeError, TokenDigest, TokenRecord};
use gatehouse_core::{ClientPage, ClientRegistry, Consumed, RevokeScope, StoreError, TokenStore, UnixTime};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};

use crate::clients::ClientCache;
use crate::codec::{decode_client, decode_token, encode_client, encode_token, time_column, TokenRow};
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
const INSERT_TOKEN: &str =
    "INSERT INTO tokens (grant_id, hash, state, expires_at, record, client_id, subject) \
                            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING";
const TAKE_TOKEN: &str = "UPDATE tokens SET state = ?3 WHERE grant_id = ?1 AND hash = ?2 AND state = ?4 \
                          RETURNING record";
const REVOKE_TOKEN: &str = "UPDATE tokens SET state = ?3 WHERE grant_id = ?1 AND hash = ?2";
const REVOKE_GRANT: &str = "UPDATE tokens SET state = ?2 WHERE grant_id = ?1 AND state <> ?2";
// Bulk revocation: the grants with a token of the owner, found through
// `tokens_by_client` or `tokens_by_subject`, then every row of each by
// primary key. The count (grants that still had an active token) is read
// first, in the same writer transaction, so it is exact.
macro_rules! owner_grants {
    ($owner:literal) => {
        concat!("grant_id IN (SELECT grant_id FROM tokens WHERE ", $owner, ")")
    };
}
macro_rules! revoke_owner {
    ($owner:literal) => {
        [
            concat!(
                "SELECT count(DISTINCT grant_id) FROM tokens WHERE ",
                owner_grants!($owner),
                " AND state = 0"
            ),
            concat!("UPDATE tokens SET state = 1 WHERE ", owner_grants!($owner), " AND state <> 1"),
        ]
    };
}
const REVOKE_CLIENT: [&str; 2] = revoke_owner!("client_id = ?1");
const REVOKE_SUBJECT: [&str; 2] = revoke_owner!("subject = ?1");
const REVOKE_SUBJECT_AT_CLIENT: [&str; 2] = revoke_owner!("subject = ?1 AND client_id = ?2");
// SQLite has no `DELETE … LIMIT` in its default build; the subquery walks
// the expiry index and the outer delete finds each row by primary key.
const PURGE: &str = "DELETE FROM tokens WHERE (grant_id, hash) IN \
                     (SELECT grant_id, hash FROM tokens WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)";
const PUT_CLIENT: &str = "INSERT INTO clients (id, client) VALUES (?1, ?2) \
                          ON CONFLICT (id) DO UPDATE SET client = excluded.client";
const DELETE_CLIENT: &str = "DELETE FROM clients WHERE id = ?1";
// `clients` is keyed by id WITHOUT ROWID: a page is one range walk of its
// primary key, in the byte order of the ids (BINARY collation).
const LIST_CLIENTS: &str = "SELECT id, client FROM clients ORDER BY id LIMIT ?1";
const LIST_CLIENTS_AFTER: &str = "SELECT id, client FROM clients WHERE id > ?2 ORDER BY id LIMIT ?1";
const SELECT_SEEDED: &str = "SELECT at FROM registry_seeded WHERE id = 0";
const SET_SEEDED: &str = "INSERT INTO registry_seeded (id, at) VALUES (0, ?1) \
                          ON CONFLICT (id) DO UPDATE SET at = excluded.at";

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
/// - `client`: the clients notice file's length (one `lseek`, no lock),
///   then a hash lookup in this process's decoded snapshot of the clients
///   table, and a clone of the client (cheap: shared `Arc`s). Once per
///   `SqliteConfig::client_db_check_interval`, and after a client write
///   announced by any process, it also reads the clients generation (a
///   one-row table) on a reader; when that moved, the lookup reloads and
///   decodes the whole table once (about a microsecond per client).
/// - `get_with_client` (introspection, bearer validation): one statement
///   that reads the token row and the clients generation together (one
///   read transaction), then the client from the snapshot as `client`
///   does: the cost of `get` alone, never a client older than the record.
/// - `insert`, `consume`, `revoke`, `revoke_grant`, `revoke_all`, `purge_expired`,
///   `put_client`, `remove_client`: queued to the store's writer thread
///   (a channel send), then the future waits, without blocking its thread,
///   for the acknowledgement. The writer applies every queued write in one
///   transaction and commits once: with [`Synchronous::Full`](crate::Synchronous::Full)
///   one `fsync` of the WAL (tens of microseconds on a fast SSD,
///   milliseconds on slow disks) covers all of them. A write is
///   acknowledged (its future resolves `Ok`) only after the commit that
///   holds it. Writes of other processes are waited for up to the busy
///   timeout.
/// - `revoke_all` finds the owner's grants through `tokens_by_client` or
///   `tokens_by_subject` (schema v4) and updates their rows by primary
///   key: it costs the matching rows, never a scan. Each token row carries
///   its client and subject in those two indexes, which `insert` and
///   `consume` write with the row (one index entry per token for
///   client_credentials, two with a subject).
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
        // One row, so one statement: no savepoint needed.
        self.conns.write_statement(move |c| insert_rows(c, std::slice::from_ref(&row))).await
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
            .write_statement(move |c| {
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
            .write_statement(move |c| {
                let mut st = c.prepare_cached(REVOKE_GRANT).map_err(backend)?;
                st.execute(params![&grant.as_bytes()[..], STATE_REVOKED]).map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn revoke_all_now(&self, scope: &RevokeScope) -> Result<u64, StoreError> {
        let (sql, owner, client) = match scope {
            RevokeScope::Client(c) => (REVOKE_CLIENT, c.as_str().to_owned(), None),
            RevokeScope::Subject(s) => (REVOKE_SUBJECT, s.as_str().to_owned(), None),
            RevokeScope::SubjectAtClient(s, c) => {
                (REVOKE_SUBJECT_AT_CLIENT, s.as_str().to_owned(), Some(c.as_str().to_owned()))
            }
            // Revoking nothing and answering `Ok` would leave live what the
            // caller meant to end.
            _ => return Err(StoreError::backend(SqliteError::UnknownScope)),
        };
        // One request, one savepoint in the writer's transaction: the count
        // and the update see the same rows, and the whole revocation is one
        // step for every process (the file's write lock), before or after
        // any `consume` of these grants.
        self.conns
            .write(move |c| {
                let bind = |st: &mut rusqlite::CachedStatement<'_>| {
                    match &client {
                        Some(client) => st.raw_bind_parameter(2, client.as_str()),
                        None => Ok(()),
                    }
                    .and_then(|()| st.raw_bind_parameter(1, owner.as_str()))
                };
                let mut count = c.prepare_cached(sql[0]).map_err(backend)?;
                bind(&mut count).map_err(backend)?;
                let ended: i64 = match count.raw_query().next().map_err(backend)? {
                    Some(row) => row.get(0).map_err(backend)?,
                    None => 0,
                };
                let mut update = c.prepare_cached(sql[1]).map_err(backend)?;
                bind(&mut update).map_err(backend)?;
                update.raw_execute().map_err(backend)?;
                Ok(u64::try_from(ended).unwrap_or(0))
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
        // A NULL, INTEGER or REAL record column: no version writes one.
        _ => Err(StoreError::corrupt(
            "token record",
            RecordDecodeError::Invalid { what: "record column", rule: "must hold a BLOB or TEXT" },
        )),
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
            .execute(params![
                &row.grant_id[..],
                &row.hash[..],
                row.state,
                row.expires_at,
                row.record,
                row.client_id,
                row.subject
            ])
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

    fn revoke_all(&self, scope: &RevokeScope) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let scope = scope.clone();
        async move { self.revoke_all_now(&scope).await }
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

    fn list_clients(
        &self,
        after: Option<&ClientId>,
        limit: usize,
    ) -> impl Future<Output = Result<ClientPage, StoreError>> + Send {
        let after = after.cloned();
        async move { self.list_clients_now(after.as_ref(), limit) }
    }

    async fn seeded_at(&self) -> Result<Option<UnixTime>, StoreError> {
        let at: Option<i64> = self.conns.read(|c| {
            let mut st = c.prepare_cached(SELECT_SEEDED).map_err(backend)?;
            st.query_row([], |r| r.get(0)).optional().map_err(backend)
        })?;
        at.map(|t| u64::try_from(t).map(UnixTime))
            .transpose()
            .map_err(|e| StoreError::corrupt("registry seed marker", e))
    }

    async fn set_seeded_at(&self, at: UnixTime) -> Result<(), StoreError> {
        self.conns
            .write(move |c| {
                let mut st = c.prepare_cached(SET_SEEDED).map_err(backend)?;
                st.execute([time_column(at)]).map_err(backend)?;
                Ok(())
            })
            .await
    }
}

impl SqliteStore {
    fn list_clients_now(&self, after: Option<&ClientId>, limit: usize) -> Result<ClientPage, StoreError> {
        let limit = limit.max(1);
        // One more than the page, to tell whether another page follows.
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let rows = self.conns.read(|c| {
            let sql = if after.is_some() { LIST_CLIENTS_AFTER } else { LIST_CLIENTS };
            let mut st = c.prepare_cached(sql).map_err(backend)?;
            let map = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?));
            let rows = match after {
                Some(a) => st.query_map(params![fetch, a.as_str()], map),
                None => st.query_map(params![fetch], map),
            };
            let rows = rows.map_err(backend)?.collect::<Result<Vec<_>, _>>().map_err(backend)?;
            Ok(rows)
        })?;
        let clients = rows.iter().map(|(id, json)| decode_client(id, json)).collect::<Result<Vec<_>, _>>()?;
        Ok(ClientPage::from_ascending(clients, limit))
    }
}

#[cfg(test)]
mod batch_tests;

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
    fn client_pages_walk_the_primary_key_in_order() {
        let p = plan(LIST_CLIENTS_AFTER);
        assert!(p.contains("USING PRIMARY KEY (id>?)"), "{p}");
        for sql in [LIST_CLIENTS, LIST_CLIENTS_AFTER] {
            assert!(!plan(sql).contains("TEMP B-TREE"), "{sql} sorts:\n{}", plan(sql));
        }
    }

    #[test]
    fn bulk_revocation_finds_grants_through_the_owner_indexes() {
        for (sql, index) in [
            (REVOKE_CLIENT, "tokens_by_client (client_id=?)"),
            (REVOKE_SUBJECT, "tokens_by_subject (subject=?)"),
            (REVOKE_SUBJECT_AT_CLIENT, "tokens_by_subject (subject=? AND client_id=?)"),
        ] {
            for statement in sql {
                let p = plan(statement);
                assert!(p.contains(&format!("USING COVERING INDEX {index}")), "{statement}:\n{p}");
                assert!(p.contains("USING PRIMARY KEY (grant_id=?)"), "{statement}:\n{p}");
                assert!(!p.contains("SCAN tokens"), "{statement}:\n{p}");
            }
        }
    }

    #[test]
    fn purge_walks_the_expiry_index() {
        let p = plan(PURGE);
        assert!(p.contains("USING COVERING INDEX tokens_by_expiry (expires_at<?)"), "{p}");
        assert!(!p.contains("SCAN tokens"), "{p}");
    }
}
