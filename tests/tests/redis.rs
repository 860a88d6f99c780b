//! The conformance suite against Redis: a single throwaway server, and a
//! local 3-master cluster (or `REDIS_URL` / `REDIS_CLUSTER_NODES`).
//! `redis-server` must be installed; the harness says how when it is not.

use gatehouse_conformance::Harness;
use gatehouse_redis::testing::{TestCluster, TestRedis};
use gatehouse_redis::RedisStore;

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

gatehouse_conformance::store_conformance!(redis, harness = SingleHarness(TestRedis::start()));
gatehouse_conformance::store_conformance!(redis_cluster, harness = ClusterHarness(TestCluster::start()));
