//! [`RedisStore`]: the [`TokenStore`] and [`ClientRegistry`] on Redis.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::model::{
    decode_record, encode_record_into, Client, ClientId, GrantId, TokenDigest, TokenRecord, TokenState,
};
use gatehouse_core::{
    ClientPage, ClientRegistry, Clock, Consumed, LimiterConfig, RevokeScope, StoreError, SystemClock,
    TokenStore, UnixTime,
};
use serde_json::error::Category;

use crate::client_cache::{self, ClientCache, ClientCacheStatus, Lookup, Tracking};
use crate::conn::{command, RedisConnection, DEFAULT_TIMEOUT};
use crate::keys::Keys;
use crate::{bulk, scripts, RedisError, RedisLimiter};

/// The longest TTL we ask Redis for (100 years): Redis refuses expiry
/// times past `i64::MAX` ms, and a record "valid forever" needs no more.
pub(crate) const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// Store settings besides the connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisOptions {
    prefix: String,
    ttl_grace: Duration,
    client_cache: usize,
    heartbeat: Duration,
}

impl RedisOptions {
    /// Settings with this key prefix (e.g. `"myapp:"`; may be empty), a
    /// TTL grace of one minute, and a client cache of 10 000 entries whose
    /// tracking connections are checked every second.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            ttl_grace: Duration::from_secs(60),
            client_cache: 10_000,
            heartbeat: Duration::from_secs(1),
        }
    }

    /// How many client answers (registered or not) the in-process client
    /// cache holds; 0 turns it off (every lookup reads Redis).
    #[must_use]
    pub fn client_cache(mut self, entries: usize) -> Self {
        self.client_cache = entries;
        self
    }

    /// How often the client cache checks its tracking connections (PING,
    /// and on a cluster the set of masters). A connection that dies
    /// visibly empties the cache at once; one that goes silent does so at
    /// the next check, within this interval plus the connection timeout.
    #[must_use]
    pub fn tracking_heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// How long a key outlives its token's `expires_at`. Redis then drops
    /// it. The grace absorbs clock skew between app instances: a record
    /// one instance still reads as live is never missing on another. It is
    /// also the TTL of the revoked-marker of a grant that has no live token.
    #[must_use]
    pub fn ttl_grace(mut self, grace: Duration) -> Self {
        self.ttl_grace = grace;
        self
    }
}

/// Token records and clients in Redis (single node or Cluster), shared by
/// every app instance that uses the same Redis and key prefix.
///
/// - **Keys**: see the layout in the crate docs. Each token key and grant
///   key has a TTL derived from the token's expiry (plus a grace), so
///   Redis drops expired state by itself; [`purge_expired`] is a no-op.
/// - **Atomicity**: insert is `SET NX`; consume, revoke and revoke-grant
///   are single Lua scripts (EVALSHA) over one grant's keys, which share a
///   hash tag and so one Cluster slot.
/// - **Client cache**: client records (and "no such client") are served
///   from memory, invalidated by Redis's broadcast client tracking when
///   any instance changes or removes a client; see the crate docs.
/// - **Failure**: every call is bounded by the connection's timeout and
///   fails closed: with [`StoreError::Unavailable`] when Redis cannot be
///   reached or serve right now (the core answers 503 with `Retry-After`;
///   see [`RedisError::is_unavailable`](crate::RedisError::is_unavailable)), with
///   [`StoreError::Backend`] for any other failure. The connection
///   reconnects by itself when Redis is back.
///
/// [`purge_expired`]: TokenStore::purge_expired
#[derive(Clone)]
pub struct RedisStore {
    conn: RedisConnection,
    keys: Keys,
    grace_ms: u64,
    clock: Arc<dyn Clock>,
    clients: Option<ClientCache>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("conn", &self.conn)
            .field("prefix", &self.keys.prefix())
            .field("grace_ms", &self.grace_ms)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to one Redis server (e.g. `redis://127.0.0.1:6379/`) with
    /// the default timeout (500 ms) and keys starting with `prefix`.
    ///
    /// # Errors
    /// [`RedisError::InvalidPrefix`], or a connection failure.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, RedisError> {
        let opts = RedisOptions::new(prefix);
        Keys::new(prefix)?;
        Self::with_connection(RedisConnection::connect(url, DEFAULT_TIMEOUT).await?, opts)
    }

    /// Connects to a Redis Cluster through any of its nodes, with the
    /// default timeout and keys starting with `prefix`.
    ///
    /// # Errors
    /// [`RedisError::InvalidPrefix`], or a connection failure.
    pub async fn connect_cluster<S: AsRef<str>>(nodes: &[S], prefix: &str) -> Result<Self, RedisError> {
        let opts = RedisOptions::new(prefix);
        Keys::new(prefix)?;
        Self::with_connection(RedisConnection::connect_cluster(nodes, DEFAULT_TIMEOUT).await?, opts)
    }

    /// A store on an existing connection (its timeout bounds every call).
    ///
    /// The client cache starts when the connection was made from URLs
    /// ([`RedisConnection::connect`], [`RedisConnection::connect_cluster`]),
    /// this is called inside a Tokio runtime (its tracking task runs
    /// there), and the options do not turn it off; otherwise every client
    /// lookup reads Redis.
    ///
    /// # Errors
    /// [`RedisError::InvalidPrefix`] when the prefix contains `{` or `}`.
    pub fn with_connection(conn: RedisConnection, opts: RedisOptions) -> Result<Self, RedisError> {
        let keys = Keys::new(&opts.prefix)?;
        let clients = match (conn.tracking_target(), tokio::runtime::Handle::try_current()) {
            (Some(target), Ok(rt)) if opts.client_cache > 0 => {
                let cache = ClientCache::new(opts.client_cache);
                let tracking = Tracking {
                    target: target.clone(),
                    prefixes: keys.client_prefixes(),
                    heartbeat: opts.heartbeat,
                    timeout: conn.timeout(),
                };
                client_cache::spawn(&rt, &cache, tracking);
                Some(cache)
            }
            _ => None,
        };
        Ok(Self {
            conn,
            keys,
            grace_ms: u64::try_from(opts.ttl_grace.as_millis()).unwrap_or(u64::MAX),
            clock: Arc::new(SystemClock),
            clients,
        })
    }

    /// The client cache's state, or `None` when this store has none.
    pub fn client_cache_status(&self) -> Option<ClientCacheStatus> {
        self.clients.as_ref().map(ClientCache::status)
    }

    /// Uses `clock` to turn `expires_at` into a TTL (the default is the
    /// system clock). Give it the clock the core uses.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The connection, to share with a [`RedisLimiter`] or other stores.
    pub fn connection(&self) -> &RedisConnection {
        &self.conn
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        self.keys.prefix()
    }

    /// A fishing limiter on the same connection and key prefix.
    pub fn limiter(&self, cfg: LimiterConfig) -> RedisLimiter {
        RedisLimiter::with_keys(self.conn.clone(), self.keys.clone(), cfg)
    }

    /// The grace in whole seconds, rounded up.
    pub(crate) fn grace_secs(&self) -> u64 {
        self.grace_ms.div_ceil(1000)
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    pub(crate) fn grace_ms(&self) -> u64 {
        self.grace_ms
    }

    pub(crate) fn now(&self) -> UnixTime {
        self.clock.now()
    }

    fn ttl_ms(&self, expires_at: UnixTime) -> u64 {
        let left = expires_at.0.saturating_sub(self.clock.now().0);
        left.saturating_mul(1000).saturating_add(self.grace_ms).clamp(1, MAX_TTL_MS)
    }
}

fn state_byte(s: TokenState) -> Result<u8, RedisError> {
    match s {
        TokenState::Active => Ok(b'a'),
        TokenState::Revoked => Ok(b'r'),
        TokenState::Consumed => Ok(b'c'),
        other => Err(RedisError::UnsupportedState(format!("{other:?}"))),
    }
}

/// A token's value: its state byte, which the scripts read and patch in
/// place, then the core's binary record.
fn encode(rec: &TokenRecord) -> Result<Vec<u8>, StoreError> {
    // Room for a typical record, so it is written in one allocation.
    let mut v = Vec::with_capacity(256);
    v.push(state_byte(rec.state)?);
    encode_record_into(rec, &mut v);
    Ok(v)
}

/// A record from a token's value: the state byte, then the binary record
/// or (values written by earlier versions) its JSON; `decode_record` tells
/// them apart. The state byte wins over the state inside the record,
/// which no script changes.
pub(crate) fn decode(digest: &TokenDigest, v: &[u8]) -> Result<TokenRecord, StoreError> {
    let key = || format!("{digest:?}");
    let Some((&b, record)) = v.split_first() else {
        return Err(RedisError::UnknownState { key: key(), value: None }.into());
    };
    let state = match b {
        b'a' => TokenState::Active,
        b'r' => TokenState::Revoked,
        b'c' => TokenState::Consumed,
        _ => return Err(RedisError::UnknownState { key: key(), value: Some(b) }.into()),
    };
    let mut rec = decode_record(record).map_err(|source| RedisError::Record { key: key(), source })?;
    if rec.digest != *digest {
        return Err(RedisError::KeyMismatch { what: TOKEN, key: key() }.into());
    }
    rec.state = state;
    Ok(rec)
}

/// What a token value holds, as [`StoreError::Corrupt`] names it.
const TOKEN: &str = "token record";

/// The kind and position of a JSON error, without its message: serde's
/// messages quote the offending stored text.
fn json_error(what: &'static str, key: String, e: &serde_json::Error) -> RedisError {
    let category = match e.classify() {
        Category::Io => "io",
        Category::Syntax => "syntax",
        Category::Data => "data",
        Category::Eof => "eof",
    };
    RedisError::Json { what, key, category, line: e.line(), column: e.column() }
}

impl TokenStore for RedisStore {
    async fn insert(&self, record: TokenRecord) -> Result<(), StoreError> {
        let d = record.digest;
        let mut inv = scripts::INSERT.prepare_invoke();
        inv.key(self.keys.token(&d))
            .key(self.keys.grant(&d.grant()))
            .arg(encode(&record)?)
            .arg(d.hash_hex())
            .arg(self.ttl_ms(record.expires_at))
            .arg(record.expires_at.0);
        // The grant's entries in the bulk-revocation indexes (other slots)
        // are written at the same time, not after: no round trip is added.
        // Either may fail alone; the insert is then an error and the core
        // never hands the token out.
        let (stored, indexed) =
            tokio::join!(self.conn.invoke::<i64>(&inv), bulk::index(self, std::slice::from_ref(&record)));
        let stored = stored?;
        indexed?;
        match stored {
            1 => Ok(()),
            _ => Err(StoreError::Conflict),
        }
    }

    async fn get(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, StoreError> {
        let key = self.keys.token(digest);
        let v: Option<Vec<u8>> = self.conn.query(command("GET", 2, 3 + key.len()).arg(key)).await?;
        v.map(|v| decode(digest, &v)).transpose()
    }

    async fn consume(
        &self,
        digest: &TokenDigest,
        replacements: Vec<TokenRecord>,
    ) -> Result<Consumed, StoreError> {
        let grant = digest.grant();
        if self.conn.is_cluster() && replacements.iter().any(|r| r.digest.grant() != grant) {
            return Err(RedisError::CrossSlot.into());
        }
        let mut inv = scripts::CONSUME.prepare_invoke();
        inv.key(self.keys.token(digest)).key(self.keys.grant(&grant));
        for r in &replacements {
            inv.key(self.keys.token(&r.digest))
                .key(self.keys.grant(&r.digest.grant()))
                .arg(encode(r)?)
                .arg(r.digest.hash_hex())
                .arg(self.ttl_ms(r.expires_at))
                .arg(r.expires_at.0);
        }
        let (code, old, grew): (i64, Vec<u8>, i64) = self.conn.invoke(&inv).await?;
        match code {
            0 => Ok(Consumed::Unknown),
            1 => Ok(Consumed::Replayed(decode(digest, &old)?)),
            2 => {
                let before = decode(digest, &old)?;
                if grew == 1 {
                    // A replacement outlives every token the indexes know of
                    // (a code exchange, once per grant): move the grant's end
                    // there before answering, or the index would drop the
                    // grant when its code's time is up. On failure the core
                    // hands none of the new tokens out.
                    bulk::index(self, &replacements).await?;
                }
                Ok(Consumed::Taken(before))
            }
            3 => Err(StoreError::Conflict),
            _ => Err(RedisError::UnexpectedReply("consume").into()),
        }
    }

    async fn revoke(&self, digest: &TokenDigest) -> Result<bool, StoreError> {
        let mut inv = scripts::REVOKE.prepare_invoke();
        inv.key(self.keys.token(digest));
        Ok(self.conn.invoke::<i64>(&inv).await? == 1)
    }

    async fn revoke_grant(&self, grant: &GrantId) -> Result<(), StoreError> {
        self.revoke_grant_now(grant).await?;
        Ok(())
    }

    fn revoke_all(
        &self,
        scope: &RevokeScope,
    ) -> impl std::future::Future<Output = Result<u64, StoreError>> + Send {
        bulk::revoke_all(self, scope)
    }

    async fn purge_expired(&self, _now: UnixTime, _limit: usize) -> Result<usize, StoreError> {
        // Every key has a TTL: Redis drops expired records by itself.
        Ok(0)
    }

    /// `PING`, within the connection's timeout. On a Cluster the client
    /// sends it to every primary and answers `Ok` only when all of them
    /// reply: a store with one slot range unreachable is not ready.
    async fn ping(&self) -> Result<(), StoreError> {
        self.conn.query::<()>(&redis::cmd("PING")).await?;
        Ok(())
    }
}

impl RedisStore {
    /// Revokes every token of `grant` in one script; returns whether one
    /// of them was active.
    pub(crate) async fn revoke_grant_now(&self, grant: &GrantId) -> Result<bool, RedisError> {
        let mut inv = scripts::REVOKE_GRANT.prepare_invoke();
        inv.key(self.keys.grant(grant)).arg(self.keys.token_base(grant)).arg(self.grace_ms.max(1));
        Ok(self.conn.invoke::<i64>(&inv).await? == 1)
    }

    /// Drops a client this instance just wrote from its own cache, so its
    /// next lookup reads the new record without waiting for the push.
    fn forget(&self, key: &str) {
        if let Some(c) = &self.clients {
            c.invalidate(key);
        }
    }
}

impl ClientRegistry for RedisStore {
    async fn client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let key = self.keys.client(id);
        let ticket = match self.clients.as_ref().map(|c| c.lookup(&key)) {
            Some(Lookup::Hit(v)) => return Ok(v),
            Some(Lookup::Miss(t)) => Some(t),
            None => None,
        };
        let v: Option<Vec<u8>> = self.conn.query(command("GET", 2, 3 + key.len()).arg(&key)).await?;
        // As SQLite does: a client stored under another id's key (copied
        // there) must not answer for that id.
        let client = v.map(|v| decode_client(id, &v)).transpose()?;
        if let (Some(cache), Some(t)) = (&self.clients, ticket) {
            cache.fill(t, key, &client);
        }
        Ok(client)
    }

    /// `SET` of the client key, then `ZADD` to the client index: two
    /// commands, since they live in different slots on a Cluster. With
    /// [`remove_client`](Self::remove_client) doing `ZREM` then `DEL`, a
    /// client that exists once both calls returned is indexed, however the
    /// two interleave (a removed one may leave an index entry, which
    /// listing skips). A put that fails between the two reports the error;
    /// repeating it indexes the client.
    async fn put_client(&self, client: Client) -> Result<(), StoreError> {
        // Client JSON holds the secret's digest only, never the secret.
        let json = serde_json::to_vec(&client).map_err(StoreError::backend)?;
        let key = self.keys.client(&client.id);
        let res = self.conn.query::<()>(redis::cmd("SET").arg(&key).arg(json)).await;
        // Also after a failure: the write may have happened. Other
        // instances learn of it from Redis's invalidation message.
        self.forget(&key);
        res?;
        let index = redis::cmd("ZADD").arg(self.keys.client_index()).arg(0).arg(client.id.as_str()).clone();
        self.conn.query::<()>(&index).await?;
        Ok(())
    }

    /// `ZREM` from the client index, then `DEL` of the client key (see
    /// [`put_client`](Self::put_client) for why in this order).
    async fn remove_client(&self, id: &ClientId) -> Result<bool, StoreError> {
        let unindex = redis::cmd("ZREM").arg(self.keys.client_index()).arg(id.as_str()).clone();
        self.conn.query::<()>(&unindex).await?;
        let key = self.keys.client(id);
        let n = self.conn.query::<i64>(redis::cmd("DEL").arg(&key)).await;
        self.forget(&key);
        Ok(n? > 0)
    }

    /// `ZRANGEBYLEX` on the client index (the ids in byte order; no
    /// `SCAN`), then one `GET` per id, bypassing the cache. An indexed id
    /// whose key is gone (a remove racing a put) is skipped, so a page may
    /// hold fewer than `limit` clients; `next` is the last id examined.
    /// Clients registered by a version without the index are not listed
    /// until they are written again (any `put_client`).
    async fn list_clients(&self, after: Option<&ClientId>, limit: usize) -> Result<ClientPage, StoreError> {
        let limit = limit.max(1);
        let min = after.map_or_else(|| "-".to_owned(), |a| format!("({}", a.as_str()));
        let range = redis::cmd("ZRANGEBYLEX")
            .arg(self.keys.client_index())
            .arg(min)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(limit.saturating_add(1))
            .clone();
        let mut ids: Vec<String> = self.conn.query(&range).await?;
        let next = match ids.len() > limit {
            true => {
                ids.truncate(limit);
                ids.last().cloned()
            }
            false => None,
        };
        let mut clients = Vec::with_capacity(ids.len());
        for id in &ids {
            let id = ClientId::new(id).map_err(|e| StoreError::corrupt("client index entry", e))?;
            let key = self.keys.client(&id);
            let v: Option<Vec<u8>> = self.conn.query(command("GET", 2, 3 + key.len()).arg(&key)).await?;
            if let Some(v) = v {
                clients.push(decode_client(&id, &v)?);
            }
        }
        let next = next.map(|n| ClientId::new(&n)).transpose();
        let next = next.map_err(|e| StoreError::corrupt("client index entry", e))?;
        Ok(ClientPage::new(clients, next))
    }

    async fn seeded_at(&self) -> Result<Option<UnixTime>, StoreError> {
        let key = self.keys.seeded();
        let v: Option<u64> = self.conn.query(command("GET", 2, 3 + key.len()).arg(&key)).await?;
        Ok(v.map(UnixTime))
    }

    async fn set_seeded_at(&self, at: UnixTime) -> Result<(), StoreError> {
        self.conn.query::<()>(redis::cmd("SET").arg(self.keys.seeded()).arg(at.0)).await?;
        Ok(())
    }
}

/// A client from its stored JSON, checking it is stored under its own id.
fn decode_client(id: &ClientId, v: &[u8]) -> Result<Client, StoreError> {
    let client: Client =
        serde_json::from_slice(v).map_err(|e| json_error("client", format!("{:?}", id.as_str()), &e))?;
    if client.id != *id {
        return Err(RedisError::KeyMismatch { what: "client", key: format!("{:?}", id.as_str()) }.into());
    }
    Ok(client)
}
