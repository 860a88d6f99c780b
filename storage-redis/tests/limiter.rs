//! The shared fishing limiter: same decisions as the core's GCRA, shared by
//! every instance on one Redis.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use gatehouse_core::limiter::{Admission, FishingLimiter, LimiterConfig, MemoryLimiter};
use gatehouse_core::model::ClientId;
use gatehouse_core::UnixTime;
use gatehouse_redis::testing::{unique_prefix, TestCluster, TestRedis};
use gatehouse_redis::{RedisConnection, RedisLimiter};

async fn limiter(url: &str, prefix: &str, cfg: LimiterConfig) -> RedisLimiter {
    let conn = RedisConnection::connect(url, Duration::from_millis(500)).await.unwrap();
    RedisLimiter::new(conn, prefix, cfg).unwrap().awaiting_refunds()
}

/// A caller throttled through one instance is throttled through the
/// other, and only that caller.
#[tokio::test]
async fn throttled_on_one_instance_is_throttled_on_all() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let cfg = LimiterConfig { burst: 3, per_minute: 60 };
    let a = limiter(&redis.url(), &prefix, cfg).await;
    let b = limiter(&redis.url(), &prefix, cfg).await;
    let rs = ClientId::new("rs-1").unwrap();
    let other = ClientId::new("rs-2").unwrap();
    let t = common::now();
    for i in 0..3 {
        let l = if i % 2 == 0 { &a } else { &b };
        assert_eq!(l.reserve(&rs, t).await.unwrap(), Admission::Allowed);
    }
    assert_eq!(b.reserve(&rs, t).await.unwrap(), Admission::Throttled { retry_after: 1 });
    assert_eq!(a.reserve(&rs, t).await.unwrap(), Admission::Throttled { retry_after: 1 });
    assert_eq!(b.reserve(&other, t).await.unwrap(), Admission::Allowed);
    // A refund through one instance is seen by the other.
    a.refund(&rs, t).await.unwrap();
    assert_eq!(b.reserve(&rs, t).await.unwrap(), Admission::Allowed);
    assert_eq!(b.reserve(&rs, t).await.unwrap(), Admission::Throttled { retry_after: 1 });
    assert_eq!(b.reserve(&rs, t.plus(1)).await.unwrap(), Admission::Allowed);
    // Another prefix is another app: not throttled.
    let c = limiter(&redis.url(), &unique_prefix(), cfg).await;
    assert_eq!(c.reserve(&rs, t).await.unwrap(), Admission::Allowed);
}

/// Step both the Redis limiter and the core's in-memory one through the
/// same pseudo-random reservations, refunds and clock steps: every decision
/// is identical.
async fn same_decisions_as_core(url: Vec<String>, cluster: bool) {
    let configs = [
        LimiterConfig { burst: 1, per_minute: 1 },
        LimiterConfig { burst: 3, per_minute: 60 },
        LimiterConfig { burst: 20, per_minute: 60 },
        LimiterConfig { burst: 5, per_minute: 7 },
        LimiterConfig { burst: 2, per_minute: 6000 },
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for cfg in configs {
        let prefix = unique_prefix();
        let conn = if cluster {
            RedisConnection::connect_cluster(&url, Duration::from_millis(500)).await.unwrap()
        } else {
            RedisConnection::connect(&url[0], Duration::from_millis(500)).await.unwrap()
        };
        let redis = RedisLimiter::new(conn, &prefix, cfg).unwrap().awaiting_refunds();
        let mem = MemoryLimiter::new(cfg);
        let callers = [ClientId::new("a").unwrap(), ClientId::new("b{x}").unwrap()];
        let mut t = UnixTime(1_700_000_000);
        for step in 0..300 {
            let c = &callers[usize::try_from(next() % 2).unwrap()];
            match next() % 4 {
                0 => t = t.plus(next() % 5),
                1 => {
                    redis.refund(c, t).await.unwrap();
                    mem.refund(c, t).await.unwrap();
                }
                _ => {}
            }
            let want = mem.reserve(c, t).await.unwrap();
            let got = redis.reserve(c, t).await.unwrap();
            assert_eq!(got, want, "{cfg:?} step {step}");
        }
    }
}

#[tokio::test]
async fn same_decisions_as_core_gcra() {
    let redis = TestRedis::start();
    same_decisions_as_core(vec![redis.url()], false).await;
}

#[tokio::test]
async fn same_decisions_as_core_gcra_on_cluster() {
    let cluster = TestCluster::start();
    same_decisions_as_core(cluster.urls(), true).await;
}

/// A rate of zero never refills, as in the core.
#[tokio::test]
async fn zero_rate_never_refills() {
    let redis = TestRedis::start();
    let l = limiter(&redis.url(), &unique_prefix(), LimiterConfig { burst: 1, per_minute: 0 }).await;
    let rs = ClientId::new("rs").unwrap();
    assert_eq!(l.reserve(&rs, UnixTime(1_700_000_000)).await.unwrap(), Admission::Allowed);
    assert!(matches!(l.reserve(&rs, UnixTime(1_800_000_000)).await.unwrap(), Admission::Throttled { .. }));
}

/// A zero rate makes TATs beyond 2^63 ms: the script still stores and
/// compares them at their magnitude (never wrapped through a C `long`), so
/// the caller stays throttled once its burst is spent.
#[tokio::test]
async fn tats_beyond_63_bits_keep_their_magnitude() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let cfg = LimiterConfig { burst: 3, per_minute: 0 };
    let l = limiter(&redis.url(), &prefix, cfg).await;
    let mem = MemoryLimiter::new(cfg);
    let rs = ClientId::new("rs").unwrap();
    let t = UnixTime(1_700_000_000);
    for _ in 0..5 {
        assert_eq!(l.reserve(&rs, t).await.unwrap(), mem.reserve(&rs, t).await.unwrap());
    }
    let conn = RedisConnection::connect(&redis.url(), Duration::from_millis(500)).await.unwrap();
    let tat: String = conn.query(redis::cmd("GET").arg(format!("{prefix}l:rs"))).await.unwrap();
    assert!(tat.parse::<u128>().unwrap() > 1 << 63, "tat {tat}");
    l.refund(&rs, t).await.unwrap();
    mem.refund(&rs, t).await.unwrap();
    assert_eq!(l.reserve(&rs, t).await.unwrap(), mem.reserve(&rs, t).await.unwrap());
    assert!(matches!(l.reserve(&rs, t).await.unwrap(), Admission::Throttled { .. }));
}

/// The limiter key carries a TTL that ends a minute (grace) after the
/// caller has recovered.
#[tokio::test]
async fn limiter_key_has_a_ttl() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let cfg = LimiterConfig { burst: 3, per_minute: 60 };
    let l = limiter(&redis.url(), &prefix, cfg).await;
    let rs = ClientId::new("rs").unwrap();
    let now = common::now();
    l.reserve(&rs, now).await.unwrap();
    l.reserve(&rs, now).await.unwrap();
    let conn = RedisConnection::connect(&redis.url(), Duration::from_millis(500)).await.unwrap();
    let ttl: i64 = conn.query(redis::cmd("PTTL").arg(format!("{prefix}l:rs"))).await.unwrap();
    assert!(ttl > 61_000 && ttl <= 62_000, "ttl {ttl}");
    let tat: String = conn.query(redis::cmd("GET").arg(format!("{prefix}l:rs"))).await.unwrap();
    assert_eq!(tat, (now.0 * 1000 + 2000).to_string());
}

/// A refund lowers the TAT by one cost and keeps the key's TTL. A refund
/// whose entry has gone (expired or deleted since its reservation) leaves
/// a negative TAT that decides like a missing entry, and the next
/// reservation gives the key its TTL again.
#[tokio::test]
async fn a_refund_keeps_the_ttl_and_a_late_one_decides_like_no_entry() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let cfg = LimiterConfig { burst: 2, per_minute: 60 };
    let l = limiter(&redis.url(), &prefix, cfg).await;
    let conn = RedisConnection::connect(&redis.url(), Duration::from_millis(500)).await.unwrap();
    let key = format!("{prefix}l:rs");
    let rs = ClientId::new("rs").unwrap();
    let now = common::now();
    l.reserve(&rs, now).await.unwrap();
    l.reserve(&rs, now).await.unwrap();
    l.refund(&rs, now).await.unwrap();
    let tat: String = conn.query(redis::cmd("GET").arg(&key)).await.unwrap();
    assert_eq!(tat, (now.0 * 1000 + 1000).to_string());
    let ttl: i64 = conn.query(redis::cmd("PTTL").arg(&key)).await.unwrap();
    assert!(ttl > 61_000 && ttl <= 62_000, "ttl {ttl}");

    let _: i64 = conn.query(redis::cmd("DEL").arg(&key)).await.unwrap();
    l.refund(&rs, now).await.unwrap();
    let mem = MemoryLimiter::new(cfg);
    for _ in 0..3 {
        assert_eq!(l.reserve(&rs, now).await.unwrap(), mem.reserve(&rs, now).await.unwrap());
    }
    let ttl: i64 = conn.query(redis::cmd("PTTL").arg(&key)).await.unwrap();
    assert!(ttl > 61_000 && ttl <= 62_000, "ttl {ttl}");
}

/// A refund's call returns without waiting for Redis, and Redis has the
/// refund shortly after.
#[tokio::test]
async fn background_refunds_are_applied() {
    let redis = TestRedis::start();
    let conn = RedisConnection::connect(&redis.url(), Duration::from_millis(500)).await.unwrap();
    let l = RedisLimiter::new(conn, &unique_prefix(), LimiterConfig { burst: 1, per_minute: 1 }).unwrap();
    let rs = ClientId::new("rs").unwrap();
    let t = common::now();
    assert_eq!(l.reserve(&rs, t).await.unwrap(), Admission::Allowed);
    assert!(matches!(l.reserve(&rs, t).await.unwrap(), Admission::Throttled { .. }));
    l.refund(&rs, t).await.unwrap();
    // Bounded polling for the background task; each failed attempt charges
    // nothing (a throttled reservation changes nothing).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match l.reserve(&rs, t).await.unwrap() {
            Admission::Allowed => break,
            _ if std::time::Instant::now() < deadline => tokio::task::yield_now().await,
            other => panic!("refund never applied: {other:?}"),
        }
    }
}

/// On one node a refund is queued on the connection without waiting for
/// its reply, so the next command through the same handle (here the next
/// reservation) already sees it: no polling, no task.
#[tokio::test]
async fn an_unanswered_refund_lands_before_the_next_command() {
    let redis = TestRedis::start();
    let conn = RedisConnection::connect(&redis.url(), Duration::from_millis(500)).await.unwrap();
    let l =
        RedisLimiter::new(conn.clone(), &unique_prefix(), LimiterConfig { burst: 1, per_minute: 1 }).unwrap();
    let rs = ClientId::new("rs").unwrap();
    let t = common::now();
    for _ in 0..50 {
        assert_eq!(l.reserve(&rs, t).await.unwrap(), Admission::Allowed);
        assert!(matches!(l.reserve(&rs, t).await.unwrap(), Admission::Throttled { .. }));
        conn.reset_round_trips();
        l.refund(&rs, t).await.unwrap();
        let trips = conn.round_trips();
        assert_eq!((trips.requests, trips.depth, trips.in_flight), (1, 0, 0), "sent, not waited for");
    }
}

/// After Redis forgets its scripts, the next reservation loads its script
/// again (an unanswered refund could not: it is `DECRBY`, or for huge TATs
/// the reservation's own script) and the refund after it is applied.
#[tokio::test]
async fn an_unanswered_refund_after_a_script_flush_is_applied() {
    let redis = TestRedis::start();
    let conn = RedisConnection::connect(&redis.url(), Duration::from_millis(500)).await.unwrap();
    let l =
        RedisLimiter::new(conn.clone(), &unique_prefix(), LimiterConfig { burst: 1, per_minute: 1 }).unwrap();
    let rs = ClientId::new("rs").unwrap();
    let t = common::now();
    let _: () = conn.query(redis::cmd("SCRIPT").arg("FLUSH")).await.unwrap();
    assert_eq!(l.reserve(&rs, t).await.unwrap(), Admission::Allowed);
    l.refund(&rs, t).await.unwrap();
    assert_eq!(l.reserve(&rs, t).await.unwrap(), Admission::Allowed);
}

/// Reservations are atomic across instances: 200 concurrent reservations by
/// one caller, spread over two limiters (two connections) on one Redis,
/// with a burst of 20 and a clock that stands still, admit exactly 20;
/// another caller is unaffected.
async fn concurrent_reservations_admit_exactly_the_burst(url: Vec<String>, cluster: bool) {
    let cfg = LimiterConfig { burst: 20, per_minute: 1 };
    let prefix = unique_prefix();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let conn = if cluster {
            RedisConnection::connect_cluster(&url, Duration::from_millis(2000)).await.unwrap()
        } else {
            RedisConnection::connect(&url[0], Duration::from_millis(2000)).await.unwrap()
        };
        instances.push(std::sync::Arc::new(RedisLimiter::new(conn, &prefix, cfg).unwrap()));
    }
    let rs = ClientId::new("rs{2}").unwrap();
    let t = common::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let l = std::sync::Arc::clone(&instances[i % 2]);
            let rs = rs.clone();
            tokio::spawn(async move { l.reserve(&rs, t).await.unwrap() })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        if task.await.unwrap() == Admission::Allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 20, "reservations must be atomic");
    let other = ClientId::new("rs-other").unwrap();
    assert_eq!(instances[0].reserve(&other, t).await.unwrap(), Admission::Allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservations_admit_exactly_the_burst_on_one_server() {
    let redis = TestRedis::start();
    concurrent_reservations_admit_exactly_the_burst(vec![redis.url()], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservations_admit_exactly_the_burst_on_a_cluster() {
    let cluster = TestCluster::start();
    concurrent_reservations_admit_exactly_the_burst(cluster.urls(), true).await;
}
