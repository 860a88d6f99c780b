//! One connection type over single-node Redis (a self-reconnecting
//! [`ConnectionManager`]) and Redis Cluster, with a timeout on every call.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, RedisFuture, ScriptInvocation, Value};

use crate::Error;

/// The default bound on every Redis call, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// A cheaply clonable handle to single-node Redis or to a Redis Cluster.
///
/// Every call through it is bounded by its timeout and fails with
/// [`Error::Timeout`] when Redis does not answer in time. After Redis goes
/// away and comes back, the handle reconnects by itself: calls fail while
/// Redis is down and succeed again once it is up, with no restart.
#[derive(Clone)]
pub struct RedisConnection {
    inner: Inner,
    timeout: Duration,
}

#[derive(Clone)]
enum Inner {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
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
    /// [`Error::Redis`] for a bad URL or a refused connection,
    /// [`Error::Timeout`] when the server does not answer in `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, Error> {
        let client = redis::Client::open(url)?;
        // Few, quick retries: a caller waiting on a dead Redis should get
        // its error within the timeout; the next call retries again.
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(timeout);
        let manager = bounded(timeout, ConnectionManager::new_with_config(client, cfg)).await??;
        Ok(Self { inner: Inner::Single(manager), timeout })
    }

    /// Connects to a Redis Cluster through any of its nodes, e.g.
    /// `["redis://127.0.0.1:7000/"]`.
    ///
    /// # Errors
    /// [`Error::Redis`] or [`Error::Timeout`], as for [`connect`](Self::connect).
    pub async fn connect_cluster<S: AsRef<str>>(nodes: &[S], timeout: Duration) -> Result<Self, Error> {
        let nodes: Vec<&str> = nodes.iter().map(AsRef::as_ref).collect();
        let client = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(2)
            .min_retry_wait(10)
            .max_retry_wait(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
            .build()?;
        let conn = bounded(timeout, client.get_async_connection()).await??;
        Ok(Self { inner: Inner::Cluster(conn), timeout })
    }

    /// Wraps an existing single-node connection manager.
    pub fn from_manager(manager: ConnectionManager, timeout: Duration) -> Self {
        Self { inner: Inner::Single(manager), timeout }
    }

    /// Wraps an existing cluster connection.
    pub fn from_cluster(conn: ClusterConnection, timeout: Duration) -> Self {
        Self { inner: Inner::Cluster(conn), timeout }
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
    /// [`Error::Redis`] or [`Error::Timeout`].
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Error> {
        let mut c = self.inner.clone();
        Ok(bounded(self.timeout, cmd.query_async(&mut c)).await??)
    }

    /// Runs a script (EVALSHA, loading it on `NOSCRIPT`), bounded by the
    /// timeout.
    pub(crate) async fn invoke<T: FromRedisValue>(&self, inv: &ScriptInvocation<'_>) -> Result<T, Error> {
        let mut c = self.inner.clone();
        Ok(bounded(self.timeout, inv.invoke_async(&mut c)).await??)
    }
}

async fn bounded<F: std::future::Future>(limit: Duration, f: F) -> Result<F::Output, Error> {
    tokio::time::timeout(limit, f).await.map_err(|_| Error::Timeout(limit))
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
