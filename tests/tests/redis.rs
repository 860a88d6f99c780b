//! The conformance suite against Redis: a single throwaway server, and a
//! local 3-master cluster (or `REDIS_URL` / `REDIS_CLUSTER_NODES`); the
//! store and the shared limiter. `redis-server` must be installed; the
//! harness says how when it is not.

use std::time::Duration;

use gatehouse_conformance::limiter_contract::LimiterHarness;
use gatehouse_conformance::Harness;
use gatehouse_core::LimiterConfig;
use gatehouse_redis::testing::{unique_prefix, TestCluster, TestRedis};
use gatehouse_redis::{RedisConnection, RedisLimiter, RedisStore};

/// One Redis server for a check; each fresh store has its own key prefix.
struct SingleHarness(TestRedis);

impl Harness for SingleHarness {
    type Store = RedisStore;
    // Redis drops expired records by TTL.
    const PURGES_EXPIRED: bool = false;

    async fn fresh(&self) -> RedisStore {
        self.0.store().await
    }
}

/// One 3-master cluster for a check.
struct ClusterHarness(TestCluster);

impl Harness for ClusterHarness {
    type Store = RedisStore;
    const PURGES_EXPIRED: bool = false;

    async fn fresh(&self) -> RedisStore {
        self.0.store().await
    }
}

/// Generous: the limiter checks send thousands of requests to a machine
/// that may be busy compiling.
const TIMEOUT: Duration = Duration::from_millis(2000);

/// The shared limiter on one server; each fresh limiter has its own key
/// prefix, and waits for its refunds so decisions can be compared step by
/// step.
impl LimiterHarness for SingleHarness {
    type Limiter = RedisLimiter;

    async fn fresh(&self, cfg: LimiterConfig) -> RedisLimiter {
        let conn = RedisConnection::connect(&self.0.url(), TIMEOUT).await.expect("connect to Redis");
        RedisLimiter::new(conn, &unique_prefix(), cfg).expect("limiter").awaiting_refunds()
    }
}

/// The shared limiter on a cluster.
impl LimiterHarness for ClusterHarness {
    type Limiter = RedisLimiter;

    async fn fresh(&self, cfg: LimiterConfig) -> RedisLimiter {
        let conn =
            RedisConnection::connect_cluster(&self.0.urls(), TIMEOUT).await.expect("connect to the cluster");
        RedisLimiter::new(conn, &unique_prefix(), cfg).expect("limiter").awaiting_refunds()
    }
}

gatehouse_conformance::store_conformance!(redis, harness = SingleHarness(TestRedis::start()));
gatehouse_conformance::store_conformance!(redis_cluster, harness = ClusterHarness(TestCluster::start()));
gatehouse_conformance::limiter_conformance!(redis_limiter, harness = SingleHarness(TestRedis::start()));
gatehouse_conformance::limiter_conformance!(
    redis_cluster_limiter,
    harness = ClusterHarness(TestCluster::start())
);
