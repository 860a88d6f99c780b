//! The in-process cache of client records, kept coherent across app
//! instances by Redis's server-assisted client-side caching (RESP3
//! `CLIENT TRACKING ... BCAST`).
//!
//! Every request authenticates its caller and every valid introspection
//! reads the token's issuing client, so client records are read far more
//! often than they change. Each [`RedisStore`](crate::RedisStore) (and its
//! clones) keeps them in memory, known and unknown ids alike, and a
//! background task keeps one dedicated RESP3 connection per Redis master
//! with broadcast tracking on the client key prefixes: Redis pushes the
//! name of every client key any connection writes, and the push handler
//! drops it from the cache as soon as the connection's reader sees it.
//!
//! The cache serves only while tracking is known to be live. When a
//! tracking connection is lost (its reader reports the disconnection), a
//! heartbeat fails, or the cluster's masters change, the cache is emptied
//! and bypassed (reads go to Redis) until tracking is re-established.
//!
//! A read that misses remembers the cache's epoch; its answer is stored
//! only if no invalidation (and no loss of tracking) happened since. So an
//! invalidation that overtakes the read's reply (the push arrives on
//! another connection, or is handled before the reader's task resumes)
//! never lets the old value in.
//!
//! # Timing
//! [`ClientRegistry::client`] asks that a registered and an unregistered id
//! cost the same. Between two cached answers they do: a cached "no such
//! client" clones (and drops) a stand-in record, as a cached client is
//! cloned. What this cache cannot hide is whether an id is cached at all:
//! an id nobody asked for since the last invalidation costs a round trip
//! to Redis, and the ids of clients in daily use are nearly always cached,
//! so the first probe of an id can tell a busy client's id from an unused
//! one by a round trip's time. Hiding that needs the whole registry in
//! memory (as the SQLite store keeps it), so that a miss is answered
//! without Redis; this cache holds only the ids it was asked for.
//!
//! [`ClientRegistry::client`]: gatehouse_core::ClientRegistry::client

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use gatehouse_core::model::Client;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, PushInfo, PushKind, Value};

/// Tracking could not be set up, or stopped: the cache stays bypassed
/// until it is back. Why is not kept: every cause is handled alike.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrackingDown;

/// Cached answers, bounded by a capacity, valid only while tracking is live.
#[derive(Debug, Clone)]
pub(crate) struct ClientCache {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    capacity: usize,
    /// Clients cloned by lookups, for the test that proves hits of both
    /// kinds alike.
    #[cfg(test)]
    cloned: std::sync::atomic::AtomicUsize,
    /// Wakes the tracking task when tracking is lost or the cache is gone.
    wake: Arc<tokio::sync::Notify>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

#[derive(Debug, Default)]
struct State {
    /// Tracking is established and healthy: entries may be served.
    live: bool,
    /// The tracking generation that made the cache live.
    generation: u64,
    /// The highest generation known to be lost (it may never go live).
    lost: u64,
    /// Bumped by every invalidation, flush and change of liveness.
    epoch: u64,
    /// Redis key → the record, or `None` for "no such client".
    entries: HashMap<String, Option<Client>>,
    /// The last client stored: cloned (and dropped) by a cached "no such
    /// client", so that answer costs what a cached client costs. Never
    /// answered.
    stand_in: Option<Client>,
    /// Invalidation messages handled (for tests and diagnostics).
    invalidations: u64,
}

/// What a lookup found.
pub(crate) enum Lookup {
    /// A cached answer (`None`: no such client).
    Hit(Option<Client>),
    /// Read Redis, then [`fill`](ClientCache::fill) with this ticket.
    Miss(Ticket),
}

/// The cache's state when a read missed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    epoch: u64,
    live: bool,
}

/// A snapshot of the cache, for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCacheStatus {
    /// Tracking is live, so the cache serves answers.
    pub live: bool,
    /// Cached answers (positive and negative).
    pub entries: usize,
    /// Invalidation messages received from Redis so far.
    pub invalidations: u64,
}

impl ClientCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                capacity,
                #[cfg(test)]
                cloned: std::sync::atomic::AtomicUsize::new(0),
                wake: Arc::default(),
            }),
        }
    }

    fn weak(&self) -> Weak<Shared> {
        Arc::downgrade(&self.shared)
    }

    pub(crate) fn status(&self) -> ClientCacheStatus {
        self.shared.status()
    }

    pub(crate) fn lookup(&self, key: &str) -> Lookup {
        let st = self.shared.lock();
        if st.live {
            if let Some(v) = st.entries.get(key) {
                let record = self.clone_of(v.as_ref().or(st.stand_in.as_ref()));
                return Lookup::Hit(match v {
                    Some(_) => record,
                    None => {
                        drop(std::hint::black_box(record));
                        None
                    }
                });
            }
        }
        Lookup::Miss(Ticket { epoch: st.epoch, live: st.live })
    }

    fn clone_of(&self, record: Option<&Client>) -> Option<Client> {
        #[cfg(test)]
        if record.is_some() {
            self.shared.cloned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        record.cloned()
    }

    /// Stores what a missed read found, unless anything was invalidated or
    /// tracking changed since the miss. When full, an arbitrary entry
    /// (the map's iteration order is randomly seeded) makes room.
    pub(crate) fn fill(&self, ticket: Ticket, key: String, value: &Option<Client>) {
        let mut st = self.shared.lock();
        if !ticket.live || !st.live || st.epoch != ticket.epoch || self.shared.capacity == 0 {
            return;
        }
        if st.entries.len() >= self.shared.capacity && !st.entries.contains_key(&key) {
            if let Some(victim) = st.entries.keys().next().cloned() {
                st.entries.remove(&victim);
            }
        }
        if let Some(client) = value {
            st.stand_in = Some(client.clone());
        }
        st.entries.insert(key, value.clone());
    }

    /// Drops `key` at once (this instance just wrote it).
    pub(crate) fn invalidate(&self, key: &str) {
        let mut st = self.shared.lock();
        st.epoch += 1;
        st.entries.remove(key);
    }

    #[cfg(test)]
    fn set_live(&self, generation: u64) -> bool {
        self.shared.up(generation)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every step, so a panic elsewhere
        // while it was held leaves nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn status(&self) -> ClientCacheStatus {
        let st = self.lock();
        ClientCacheStatus { live: st.live, entries: st.entries.len(), invalidations: st.invalidations }
    }

    /// Tracking of `generation` is established on every node.
    fn up(&self, generation: u64) -> bool {
        let mut st = self.lock();
        if st.lost >= generation {
            return false;
        }
        st.entries.clear();
        st.epoch += 1;
        st.generation = generation;
        st.live = true;
        true
    }

    /// Tracking of `generation` is lost: empty the cache and bypass it.
    fn down(&self, generation: u64) {
        let mut st = self.lock();
        st.lost = st.lost.max(generation);
        if st.generation == generation {
            st.live = false;
            st.entries.clear();
            st.epoch += 1;
        }
        drop(st);
        self.wake.notify_one();
    }

    fn is_live(&self, generation: u64) -> bool {
        let st = self.lock();
        st.live && st.generation == generation
    }

    /// A push message from a tracking connection of `generation`.
    fn on_push(&self, generation: u64, push: &PushInfo) {
        match push.kind {
            PushKind::Disconnection => self.down(generation),
            PushKind::Invalidate => {
                let mut st = self.lock();
                st.invalidations += 1;
                st.epoch += 1;
                match push.data.first() {
                    Some(Value::Array(keys)) => {
                        for k in keys {
                            match k {
                                Value::BulkString(b) => {
                                    st.entries.remove(String::from_utf8_lossy(b).as_ref());
                                }
                                Value::SimpleString(s) => {
                                    st.entries.remove(s.as_str());
                                }
                                // A key we cannot read: forget everything.
                                _ => st.entries.clear(),
                            }
                        }
                    }
                    // Nil after FLUSHALL / FLUSHDB, or anything unexpected.
                    _ => st.entries.clear(),
                }
            }
            _ => {}
        }
    }
}

/// Where the tracking connections go.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// One server.
    Single(ConnectionInfo),
    /// A cluster, discovered through these seed nodes.
    Cluster(Vec<ConnectionInfo>),
}

/// How the tracking task behaves.
#[derive(Debug, Clone)]
pub(crate) struct Tracking {
    pub(crate) target: Target,
    /// The key prefixes of client records (`<p>c:`, `<p>cx:`).
    pub(crate) prefixes: Vec<String>,
    pub(crate) heartbeat: Duration,
    pub(crate) timeout: Duration,
}

/// Starts the tracking task for `cache` on the current Tokio runtime. The
/// task ends (closing its connections) once every clone of the cache is
/// gone.
pub(crate) fn spawn(rt: &tokio::runtime::Handle, cache: &ClientCache, tracking: Tracking) {
    let wake = cache.shared.wake.clone();
    drop(rt.spawn(run(cache.weak(), wake, tracking)));
}

async fn run(cache: Weak<Shared>, wake: Arc<tokio::sync::Notify>, t: Tracking) {
    let mut generation = 0u64;
    loop {
        generation += 1;
        if let Ok(nodes) = establish(&cache, &t, generation).await {
            let Some(c) = cache.upgrade() else { return };
            if c.up(generation) {
                drop(c);
                monitor(&cache, &wake, &t, generation, &nodes).await;
            }
        }
        let Some(c) = cache.upgrade() else { return };
        c.down(generation);
        drop(c);
        // Retry soon, but never spin against a Redis that refuses us.
        tokio::time::sleep(t.heartbeat.min(Duration::from_secs(1))).await;
        if cache.strong_count() == 0 {
            return;
        }
    }
}

/// A tracking connection and the master it is on.
struct Node {
    addr: (String, u16),
    conn: MultiplexedConnection,
}

/// Watches live tracking until it fails: returns when the cache is gone,
/// tracking was reported lost, a heartbeat fails, or (on a cluster) the set
/// of masters changed.
async fn monitor(
    cache: &Weak<Shared>,
    wake: &tokio::sync::Notify,
    t: &Tracking,
    generation: u64,
    nodes: &[Node],
) {
    loop {
        // Woken early when a connection reports its loss.
        let _ = tokio::time::timeout(t.heartbeat, wake.notified()).await;
        match cache.upgrade() {
            Some(c) if c.is_live(generation) => {}
            _ => return,
        }
        for n in nodes {
            let mut c = n.conn.clone();
            let cmd = redis::cmd("PING");
            let ping = cmd.query_async::<Value>(&mut c);
            if !matches!(tokio::time::timeout(t.timeout, ping).await, Ok(Ok(_))) {
                return;
            }
        }
        if let (Target::Cluster(_), Some(first)) = (&t.target, nodes.first()) {
            let mut c = first.conn.clone();
            let Ok(Ok(masters)) = tokio::time::timeout(t.timeout, masters(&mut c, &first.addr.0)).await
            else {
                return;
            };
            let mut now: Vec<_> = nodes.iter().map(|n| n.addr.clone()).collect();
            now.sort();
            if masters != now {
                return;
            }
        }
    }
}

async fn establish(cache: &Weak<Shared>, t: &Tracking, generation: u64) -> Result<Vec<Node>, TrackingDown> {
    let seeds = match &t.target {
        Target::Single(info) => {
            let addr = host_port(info).ok_or(TrackingDown)?;
            let conn = tracked(cache, t, info.clone(), generation).await?;
            return Ok(vec![Node { addr, conn }]);
        }
        Target::Cluster(seeds) => seeds,
    };
    for seed in seeds {
        let Some((host, _)) = host_port(seed) else { continue };
        let Ok(mut probe) =
            connect(t.timeout, seed.clone(), None::<fn(PushInfo) -> Result<(), TrackingDown>>).await
        else {
            continue;
        };
        let Ok(Ok(list)) = tokio::time::timeout(t.timeout, masters(&mut probe, &host)).await else {
            continue;
        };
        let mut nodes = Vec::with_capacity(list.len());
        for (h, p) in list {
            let info = with_host_port(seed, &h, p).ok_or(TrackingDown)?;
            let conn = tracked(cache, t, info, generation).await?;
            nodes.push(Node { addr: (h, p), conn });
        }
        return Ok(nodes);
    }
    Err(TrackingDown)
}

/// A RESP3 connection whose push messages go to the cache, with broadcast
/// tracking on the client prefixes.
async fn tracked(
    cache: &Weak<Shared>,
    t: &Tracking,
    info: ConnectionInfo,
    generation: u64,
) -> Result<MultiplexedConnection, TrackingDown> {
    let weak = cache.clone();
    let on_push = move |push: PushInfo| -> Result<(), TrackingDown> {
        if let Some(c) = weak.upgrade() {
            c.on_push(generation, &push);
        }
        Ok(())
    };
    let mut conn = connect(t.timeout, info, Some(on_push)).await?;
    let mut cmd = redis::cmd("CLIENT");
    cmd.arg("TRACKING").arg("ON").arg("BCAST");
    for p in &t.prefixes {
        cmd.arg("PREFIX").arg(p);
    }
    match tokio::time::timeout(t.timeout, cmd.query_async::<Value>(&mut conn)).await {
        Ok(Ok(_)) => Ok(conn),
        _ => Err(TrackingDown),
    }
}

/// A RESP3 connection to `info` (within `timeout`), its pushes going to
/// `on_push`. Also the revocation relay's subscription.
pub(crate) async fn connect<F>(
    timeout: Duration,
    info: ConnectionInfo,
    on_push: Option<F>,
) -> Result<MultiplexedConnection, TrackingDown>
where
    F: Fn(PushInfo) -> Result<(), TrackingDown> + Send + Sync + 'static,
{
    let redis = info.redis_settings().clone().set_protocol(redis::ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(redis)).map_err(|_| TrackingDown)?;
    let mut cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    if let Some(f) = on_push {
        cfg = cfg.set_push_sender(f);
    }
    match tokio::time::timeout(timeout, client.get_multiplexed_async_connection_with_config(&cfg)).await {
        Ok(Ok(c)) => Ok(c),
        _ => Err(TrackingDown),
    }
}

/// The cluster's masters, sorted, from `CLUSTER SLOTS` (an empty or `?`
/// host means the host we asked).
async fn masters(conn: &mut MultiplexedConnection, asked: &str) -> Result<Vec<(String, u16)>, TrackingDown> {
    let slots: Value =
        redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await.map_err(|_| TrackingDown)?;
    let Value::Array(ranges) = slots else { return Err(TrackingDown) };
    let mut out = Vec::new();
    for r in ranges {
        let Value::Array(parts) = r else { return Err(TrackingDown) };
        let Some(Value::Array(master)) = parts.get(2) else { return Err(TrackingDown) };
        let host = match master.first() {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(Value::SimpleString(s)) => s.clone(),
            _ => return Err(TrackingDown),
        };
        let host = if host.is_empty() || host == "?" { asked.to_owned() } else { host };
        let port = match master.get(1) {
            Some(Value::Int(p)) => u16::try_from(*p).map_err(|_| TrackingDown)?,
            _ => return Err(TrackingDown),
        };
        out.push((host, port));
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(TrackingDown);
    }
    Ok(out)
}

fn host_port(info: &ConnectionInfo) -> Option<(String, u16)> {
    match info.addr() {
        ConnectionAddr::Tcp(h, p) => Some((h.clone(), *p)),
        ConnectionAddr::TcpTls { host, port, .. } => Some((host.clone(), *port)),
        _ => None,
    }
}

fn with_host_port(seed: &ConnectionInfo, host: &str, port: u16) -> Option<ConnectionInfo> {
    let addr = match seed.addr() {
        ConnectionAddr::Tcp(..) => ConnectionAddr::Tcp(host.to_owned(), port),
        ConnectionAddr::TcpTls { insecure, tls_params, .. } => ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => return None,
    };
    Some(seed.clone().set_addr(addr))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use gatehouse_core::model::{ClientId, SecretDigest};

    fn client(id: &str) -> Option<Client> {
        Some(Client::new_confidential(ClientId::new(id).unwrap(), SecretDigest::generate().unwrap().1))
    }

    fn miss(c: &ClientCache, key: &str) -> Ticket {
        match c.lookup(key) {
            Lookup::Miss(t) => t,
            Lookup::Hit(_) => panic!("unexpected hit for {key}"),
        }
    }

    fn invalidate_push(keys: &[&str]) -> PushInfo {
        PushInfo {
            kind: PushKind::Invalidate,
            data: vec![Value::Array(keys.iter().map(|k| Value::BulkString(k.as_bytes().to_vec())).collect())],
        }
    }

    #[test]
    fn serves_only_while_live() {
        let c = ClientCache::new(10);
        let t = miss(&c, "p:c:a");
        c.fill(t, "p:c:a".into(), &client("a"));
        assert!(matches!(c.lookup("p:c:a"), Lookup::Miss(_)), "not live: nothing is stored");
        assert!(c.set_live(1));
        let t = miss(&c, "p:c:a");
        c.fill(t, "p:c:a".into(), &client("a"));
        let t = miss(&c, "p:c:nobody");
        c.fill(t, "p:c:nobody".into(), &None);
        assert!(matches!(c.lookup("p:c:a"), Lookup::Hit(Some(_))));
        assert!(matches!(c.lookup("p:c:nobody"), Lookup::Hit(None)), "unknown ids are cached too");
        // Tracking lost: emptied and bypassed.
        c.shared.on_push(1, &PushInfo { kind: PushKind::Disconnection, data: vec![] });
        assert_eq!(c.status().entries, 0);
        assert!(!c.status().live);
        assert!(matches!(c.lookup("p:c:a"), Lookup::Miss(_)));
    }

    #[test]
    fn an_invalidation_during_a_read_keeps_the_old_answer_out() {
        let c = ClientCache::new(10);
        assert!(c.set_live(1));
        let t = miss(&c, "p:c:a");
        // Another instance rewrites the client; the push is handled before
        // this read's reply is stored.
        c.shared.on_push(1, &invalidate_push(&["p:c:a"]));
        c.fill(t, "p:c:a".into(), &client("a"));
        assert!(matches!(c.lookup("p:c:a"), Lookup::Miss(_)));
        // A local write does the same.
        let t = miss(&c, "p:c:a");
        c.invalidate("p:c:a");
        c.fill(t, "p:c:a".into(), &client("a"));
        assert!(matches!(c.lookup("p:c:a"), Lookup::Miss(_)));
    }

    #[test]
    fn invalidation_drops_named_keys_or_everything() {
        let c = ClientCache::new(10);
        assert!(c.set_live(1));
        for k in ["p:c:a", "p:c:b"] {
            let t = miss(&c, k);
            c.fill(t, k.into(), &client("a"));
        }
        c.shared.on_push(1, &invalidate_push(&["p:c:a"]));
        assert!(matches!(c.lookup("p:c:a"), Lookup::Miss(_)));
        assert!(matches!(c.lookup("p:c:b"), Lookup::Hit(Some(_))));
        c.shared.on_push(1, &PushInfo { kind: PushKind::Invalidate, data: vec![Value::Nil] });
        assert_eq!(c.status().entries, 0);
        assert_eq!(c.status().invalidations, 2);
    }

    #[test]
    fn a_lost_generation_never_goes_live_and_old_ones_cannot_take_it_down() {
        let c = ClientCache::new(10);
        // Generation 1 died while it was being set up.
        c.shared.down(1);
        assert!(!c.set_live(1));
        assert!(c.set_live(2));
        // A late disconnection of generation 1 changes nothing.
        c.shared.on_push(1, &PushInfo { kind: PushKind::Disconnection, data: vec![] });
        assert!(c.status().live);
    }

    /// A cached "no such client" clones a record, as a cached client does.
    #[test]
    fn a_cached_miss_clones_a_record_as_a_cached_client_does() {
        let c = ClientCache::new(10);
        assert!(c.set_live(1));
        let t = miss(&c, "p:c:a");
        c.fill(t, "p:c:a".into(), &client("a"));
        let t = miss(&c, "p:c:nobody");
        c.fill(t, "p:c:nobody".into(), &None);
        let clones = |key: &str| {
            c.shared.cloned.store(0, std::sync::atomic::Ordering::Relaxed);
            let found = matches!(c.lookup(key), Lookup::Hit(Some(_)));
            (found, c.shared.cloned.load(std::sync::atomic::Ordering::Relaxed))
        };
        assert_eq!(clones("p:c:a"), (true, 1));
        assert_eq!(clones("p:c:nobody"), (false, 1));
    }

    #[test]
    fn bounded() {
        let c = ClientCache::new(8);
        assert!(c.set_live(1));
        for i in 0..100 {
            let k = format!("p:c:{i}");
            let t = miss(&c, &k);
            c.fill(t, k, &None);
        }
        assert_eq!(c.status().entries, 8);
        let t = miss(&c, "p:c:last");
        c.fill(t, "p:c:last".into(), &None);
        assert!(matches!(c.lookup("p:c:last"), Lookup::Hit(None)), "the newest answer is kept");
    }
}
