//! One connection type over single-node Redis (a self-reconnecting
//! [`ConnectionManager`]) and Redis Cluster, with a timeout on every call.

use std::fmt;
#[cfg(feature = "testing")]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{
    Cmd, ConnectionInfo, ErrorKind, FromRedisValue, IntoConnectionInfo, RedisFuture, Script,
    ScriptInvocation, ServerErrorKind, Value,
};

use crate::client_cache::Target;
use crate::RedisError;

/// The default bound on every Redis call, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// A cheaply clonable handle to single-node Redis or to a Redis Cluster.
///
/// Every call through it is bounded by its timeout and fails with
/// [`RedisError::Timeout`] when Redis does not answer in time. After Redis goes
/// away and comes back, the handle reconnects by itself: calls fail while
/// Redis is down and succeed again once it is up, with no restart.
#[derive(Clone)]
pub struct RedisConnection {
    inner: Inner,
    timeout: Duration,
    /// Where the client cache's tracking connections go: known when this
    /// handle was made from URLs, unknown for a wrapped connection.
    tracking: Option<Target>,
    /// Shared by this handle's clones only: tells them apart from another
    /// connection (see [`same_connection`](Self::same_connection)).
    origin: Arc<()>,
    #[cfg(feature = "testing")]
    probe: Arc<Probe>,
}

#[derive(Clone)]
enum Inner {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.inner {
            Inner::Single(_) => "single",
            Inner::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisConnection").field("kind", &kind).field("timeout", &self.timeout).finish()
    }
}

impl RedisConnection {
    /// Connects to one Redis server, e.g. `redis://127.0.0.1:6379/`.
    ///
    /// # Errors
    /// [`RedisError::Redis`] for a bad URL or a refused connection,
    /// [`RedisError::Timeout`] when the server does not answer in `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, RedisError> {
        let client = redis::Client::open(url)?;
        // Few, quick retries: a caller waiting on a dead Redis should get
        // its error within the timeout; the next call retries again. No
        // response timeout: every call is already bounded by ours, and a
        // second timer per command is measurable CPU (a timed-out reply
        // never made the manager reconnect anyway). The connection timeout
        // bounds each reconnection, its handshake included.
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            // The crate's default is 500 ms, not none.
            .set_response_timeout(None)
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(timeout);
        let info = client.get_connection_info().clone();
        let manager = bounded(timeout, ConnectionManager::new_with_config(client, cfg)).await??;
        Ok(Self::new(Inner::Single(manager), timeout, Some(Target::Single(info))))
    }

    /// Connects to a Redis Cluster through any of its nodes, e.g.
    /// `["redis://127.0.0.1:7000/"]`.
    ///
    /// # Errors
    /// [`RedisError::Redis`] or [`RedisError::Timeout`], as for [`connect`](Self::connect).
    pub async fn connect_cluster<S: AsRef<str>>(nodes: &[S], timeout: Duration) -> Result<Self, RedisError> {
        let nodes: Vec<&str> = nodes.iter().map(AsRef::as_ref).collect();
        let seeds =
            nodes.iter().map(|n| n.into_connection_info()).collect::<Result<Vec<ConnectionInfo>, _>>()?;
        let client = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(2)
            .min_retry_wait(10)
            .max_retry_wait(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
            .build()?;
        let conn = bounded(timeout, client.get_async_connection()).await??;
        Ok(Self::new(Inner::Cluster(conn), timeout, Some(Target::Cluster(seeds))))
    }

    /// Wraps an existing single-node connection manager. Stores on it have
    /// no client cache (its address is unknown to open tracking
    /// connections): use [`connect`](Self::connect) to have one.
    pub fn from_manager(manager: ConnectionManager, timeout: Duration) -> Self {
        Self::new(Inner::Single(manager), timeout, None)
    }

    /// Wraps an existing cluster connection. Stores on it have no client
    /// cache: use [`connect_cluster`](Self::connect_cluster) to have one.
    pub fn from_cluster(conn: ClusterConnection, timeout: Duration) -> Self {
        Self::new(Inner::Cluster(conn), timeout, None)
    }

    fn new(inner: Inner, timeout: Duration, tracking: Option<Target>) -> Self {
        Self {
            inner,
            timeout,
            tracking,
            origin: Arc::new(()),
            #[cfg(feature = "testing")]
            probe: Arc::default(),
        }
    }

    pub(crate) fn tracking_target(&self) -> Option<&Target> {
        self.tracking.as_ref()
    }

    /// Whether `other` is this connection or a clone of it (so it reaches
    /// the same server).
    pub(crate) fn same_connection(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.origin, &other.origin)
    }

    /// Whether this is a Redis Cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner, Inner::Cluster(_))
    }

    /// The bound on every call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs any one command, bounded by the timeout (for health checks and
    /// inspection; the store's own operations need no raw commands).
    ///
    /// # Errors
    /// [`RedisError::Redis`] or [`RedisError::Timeout`].
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, RedisError> {
        let mut c = self.inner.clone();
        Ok(self.counted(bounded(self.timeout, cmd.query_async(&mut c))).await??)
    }

    /// Runs a script (EVALSHA, loading it on `NOSCRIPT`), bounded by the
    /// timeout.
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        inv: &ScriptInvocation<'_>,
    ) -> Result<T, RedisError> {
        let mut c = self.inner.clone();
        Ok(self.counted(bounded(self.timeout, inv.invoke_async(&mut c))).await??)
    }

    /// Runs a script from its `EVALSHA` command, which the caller builds
    /// with the script's hash, key count, keys and arguments (written into
    /// one buffer, where a [`ScriptInvocation`] allocates per argument and
    /// copies them again), bounded by the timeout. On `NOSCRIPT` (Redis
    /// restarted or flushed its scripts) it loads the script and retries
    /// once, like [`invoke`](Self::invoke).
    pub(crate) async fn evalsha<T: FromRedisValue>(
        &self,
        script: &Script,
        cmd: &Cmd,
    ) -> Result<T, RedisError> {
        let mut c = self.inner.clone();
        let run = async {
            match cmd.query_async::<T>(&mut c).await {
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    script.load_async(&mut c).await?;
                    cmd.query_async(&mut c).await
                }
                other => other,
            }
        };
        Ok(self.counted(bounded(self.timeout, run)).await??)
    }

    /// Whether [`send_unanswered`](Self::send_unanswered) returns without
    /// waiting for Redis: on a single node (a multiplexed connection), not
    /// on a cluster, whose connection waits for every reply.
    pub(crate) fn sends_unanswered(&self) -> bool {
        matches!(self.inner, Inner::Single(_))
    }

    /// Queues `cmd` on the connection and returns once it is queued, not
    /// answered: the reply, error included, is dropped when it arrives.
    /// Commands queued later on this handle or its clones reach Redis after
    /// it. Only for commands whose loss is harmless. On a cluster the call
    /// waits for the reply (and still drops it).
    pub(crate) async fn send_unanswered(&self, mut cmd: Cmd) -> Result<(), RedisError> {
        cmd.set_no_response(true);
        let mut c = self.inner.clone();
        self.counted_unanswered(bounded(self.timeout, cmd.query_async::<Value>(&mut c))).await??;
        Ok(())
    }

    #[cfg(not(feature = "testing"))]
    async fn counted_unanswered<F: std::future::Future>(&self, f: F) -> F::Output {
        f.await
    }

    /// Counted as a request, not as a round trip: nobody waits for it.
    #[cfg(feature = "testing")]
    async fn counted_unanswered<F: std::future::Future>(&self, f: F) -> F::Output {
        self.probe.requests.fetch_add(1, Ordering::SeqCst);
        f.await
    }

    /// Every request of the store and the limiter goes through here.
    #[cfg(not(feature = "testing"))]
    async fn counted<F: std::future::Future>(&self, f: F) -> F::Output {
        f.await
    }

    #[cfg(feature = "testing")]
    async fn counted<F: std::future::Future>(&self, f: F) -> F::Output {
        // Ends the count also when the caller drops the request.
        let _flight = Flight { probe: &self.probe, depth: self.probe.start() };
        f.await
    }

    /// The requests sent through this handle and its clones since the last
    /// [`reset_round_trips`](Self::reset_round_trips) (feature `testing`).
    #[cfg(feature = "testing")]
    pub fn round_trips(&self) -> RoundTrips {
        RoundTrips {
            requests: self.probe.requests.load(Ordering::SeqCst),
            depth: self.probe.depth.load(Ordering::SeqCst),
            in_flight: self.probe.in_flight.load(Ordering::SeqCst),
        }
    }

    /// Starts counting anew (feature `testing`).
    #[cfg(feature = "testing")]
    pub fn reset_round_trips(&self) {
        self.probe.requests.store(0, Ordering::SeqCst);
        self.probe.depth.store(0, Ordering::SeqCst);
    }
}

/// Requests counted by [`RedisConnection::round_trips`].
///
/// `depth` is the latency in round trips: each request is one deeper than
/// the deepest request that had finished when it started, so requests in
/// flight together (the limiter's reservation and the token's lookup)
/// count once, and a request that waits for another's answer counts again.
#[cfg(feature = "testing")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoundTrips {
    /// Requests sent (each command, script or pipeline is one).
    pub requests: u64,
    /// Round trips of latency: the longest chain of requests each started
    /// after the previous one answered.
    pub depth: u64,
    /// Requests still waiting for an answer now.
    pub in_flight: u64,
}

#[cfg(feature = "testing")]
#[derive(Debug, Default)]
struct Probe {
    requests: AtomicU64,
    depth: AtomicU64,
    in_flight: AtomicU64,
}

#[cfg(feature = "testing")]
impl Probe {
    fn start(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.depth.load(Ordering::SeqCst) + 1
    }
}

#[cfg(feature = "testing")]
struct Flight<'a> {
    probe: &'a Probe,
    depth: u64,
}

#[cfg(feature = "testing")]
impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.probe.depth.fetch_max(self.depth, Ordering::SeqCst);
        self.probe.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A command named `name` with room for `args` arguments (the name
/// included) and `bytes` of argument data: sized once, where `redis::cmd`
/// grows both buffers argument by argument (measurable on the hot path).
pub(crate) fn command(name: &str, args: usize, bytes: usize) -> Cmd {
    let mut cmd = Cmd::with_capacity(args, bytes);
    cmd.arg(name);
    cmd
}

async fn bounded<F: std::future::Future>(limit: Duration, f: F) -> Result<F::Output, RedisError> {
    tokio::time::timeout(limit, f).await.map_err(|_| RedisError::Timeout(limit))
}

impl ConnectionLike for Inner {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}
