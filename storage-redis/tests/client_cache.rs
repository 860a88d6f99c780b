//! The client cache across app instances: a client changed or removed
//! through one store is refused by another as soon as Redis's invalidation
//! reaches it; a lost tracking connection empties the cache, and lookups
//! then read Redis (failing closed while it is down) until tracking is back.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{public_client, Backend};
use gatehouse_core::model::ClientId;
use gatehouse_core::{ClientRegistry, StoreError};
use gatehouse_redis::testing::{
    after_invalidation, cache_live, unique_prefix, wait_for_cache, RedisServer, TestCluster, TestRedis,
};
use gatehouse_redis::{RedisConnection, RedisOptions, RedisStore};

/// Looks `id` up and says how many requests it sent to Redis.
async fn lookup(s: &RedisStore, id: &str) -> (Option<gatehouse_core::model::Client>, u64) {
    s.connection().reset_round_trips();
    let c = s.client(&ClientId::new(id).unwrap()).await.unwrap();
    (c, s.connection().round_trips().requests)
}

async fn changes_reach_every_instance<B: Backend>(b: &B) {
    let prefix = unique_prefix();
    let a = b.store_with(&prefix).await;
    let w = b.store_with(&prefix).await;
    cache_live(&a).await;
    cache_live(&w).await;
    after_invalidation(&a, w.put_client(public_client("web"))).await.unwrap();
    // Odd ids live under hex-encoded keys, tracked as well.
    after_invalidation(&a, w.put_client(public_client("odd{id}"))).await.unwrap();

    // Read once from Redis, then from memory: known and unknown alike.
    for id in ["web", "odd{id}", "ghost"] {
        let (first, sent) = lookup(&a, id).await;
        assert_eq!(sent, 1, "{id}: first lookup reads Redis");
        let (again, sent) = lookup(&a, id).await;
        assert_eq!(sent, 0, "{id}: then memory");
        assert_eq!(first.map(|c| c.id), again.map(|c| c.id));
    }
    assert!(lookup(&a, "ghost").await.0.is_none());

    // Disabled on the other instance: refused here once the push is in.
    let mut off = public_client("web");
    off.enabled = false;
    after_invalidation(&a, w.put_client(off)).await.unwrap();
    assert!(!lookup(&a, "web").await.0.unwrap().enabled);

    // A client that did not exist is registered elsewhere: seen here.
    after_invalidation(&a, w.put_client(public_client("ghost"))).await.unwrap();
    assert!(lookup(&a, "ghost").await.0.is_some());

    // Removed elsewhere: gone here.
    assert!(after_invalidation(&a, w.remove_client(&ClientId::new("odd{id}").unwrap())).await.unwrap());
    assert!(lookup(&a, "odd{id}").await.0.is_none());

    // This instance's own write is visible to its next lookup at once.
    let mut back = public_client("web");
    back.enabled = true;
    a.put_client(back).await.unwrap();
    assert!(lookup(&a, "web").await.0.unwrap().enabled);

    // Other prefixes' clients are not this cache's business, but a write
    // there never leaves a stale entry here.
    let other = b.store_with(&unique_prefix()).await;
    other.put_client(public_client("web")).await.unwrap();
    assert!(lookup(&a, "web").await.0.unwrap().enabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_every_instance_on_one_server() {
    changes_reach_every_instance(&TestRedis::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_every_instance_on_cluster() {
    changes_reach_every_instance(&TestCluster::start()).await;
}

async fn store(server: &RedisServer, heartbeat: Duration) -> RedisStore {
    let conn = RedisConnection::connect(&server.url(), Duration::from_millis(300)).await.unwrap();
    let s =
        RedisStore::with_connection(conn, RedisOptions::new(&unique_prefix()).tracking_heartbeat(heartbeat))
            .unwrap();
    cache_live(&s).await;
    s
}

/// Redis gone: the cache is emptied as soon as the tracking connection
/// drops, so a cached client is not served while invalidations cannot
/// arrive; lookups fail closed. Redis back: tracking resumes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_tracking_empties_the_cache_and_fails_closed() {
    let mut server = RedisServer::start();
    // A long heartbeat: the drop must be noticed from the connection itself.
    let s = store(&server, Duration::from_secs(3600)).await;
    after_invalidation(&s, s.put_client(public_client("web"))).await.unwrap();
    assert!(lookup(&s, "web").await.0.is_some());
    assert_eq!(lookup(&s, "web").await.1, 0);

    server.stop();
    wait_for_cache(&s, "tracking lost", |st| !st.live).await;
    assert_eq!(s.client_cache_status().unwrap().entries, 0);
    let out = s.client(&ClientId::new("web").unwrap()).await;
    assert!(matches!(out, Err(StoreError::Unavailable(_))), "{out:?}");

    server.restart();
    wait_for_cache(&s, "tracking back", |st| st.live).await;
    // The new server is empty: the old record must not come back.
    assert!(lookup(&s, "web").await.0.is_none());
    after_invalidation(&s, s.put_client(public_client("web"))).await.unwrap();
    assert!(lookup(&s, "web").await.0.is_some());
    assert_eq!(lookup(&s, "web").await.1, 0, "cached again");
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").arg(sig).arg(pid.to_string()).status().unwrap().success();
    assert!(ok, "kill {sig} {pid} failed");
}

/// A hung server keeps its connections open: the heartbeat notices, and
/// the cache is emptied and bypassed (lookups time out, failing closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_noticed_by_the_heartbeat() {
    let server = RedisServer::start();
    let s = store(&server, Duration::from_millis(100)).await;
    s.put_client(public_client("web")).await.unwrap();
    assert!(lookup(&s, "web").await.0.is_some());
    let pid = server.pid().unwrap();
    signal(pid, "-STOP");
    struct Cont(u32);
    impl Drop for Cont {
        fn drop(&mut self) {
            signal(self.0, "-CONT");
        }
    }
    let cont = Cont(pid);
    wait_for_cache(&s, "heartbeat failure", |st| !st.live).await;
    let out = s.client(&ClientId::new("web").unwrap()).await;
    assert!(matches!(out, Err(StoreError::Unavailable(_))), "{out:?}");
    drop(cont);
    wait_for_cache(&s, "tracking back", |st| st.live).await;
    assert!(lookup(&s, "web").await.0.is_some());
}
