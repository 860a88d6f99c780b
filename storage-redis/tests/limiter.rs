//! The shared fishing limiter: shared by every instance on one Redis, its
//! keys and their TTLs, refunds sent without waiting, corrupt entries. That
//! it decides exactly as the core's GCRA, at every edge of the settings, is
//! checked by the shared conformance suite's limiter checks
//! (`gatehouse-conformance`, `tests/tests/redis.rs`).
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

/// A rate of zero never refills, as in the core: a day's `Retry-After`,
/// and an entry that never expires (only deleting it lifts the throttle).
#[tokio::test]
async fn zero_rate_never_refills() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let l = limiter(&redis.url(), &prefix, LimiterConfig { burst: 1, per_minute: 0 }).await;
    let rs = ClientId::new("rs").unwrap();
    assert_eq!(l.reserve(&rs, UnixTime(1_700_000_000)).await.unwrap(), Admission::Allowed);
    let never = Admission::Throttled { retry_after: 86_400 };
    assert_eq!(l.reserve(&rs, UnixTime(1_800_000_000)).await.unwrap(), never);
    let conn = RedisConnection::connect(&redis.url(), Duration::from_millis(500)).await.unwrap();
    let key = format!("{prefix}f:rs");
    let ttl: i64 = conn.query(redis::cmd("PTTL").arg(&key)).await.unwrap();
    assert_eq!(ttl, -1, "no expiry");
    let _: i64 = conn.query(redis::cmd("DEL").arg(&key)).await.unwrap();
    assert_eq!(l.reserve(&rs, UnixTime(1_800_000_000)).await.unwrap(), Admission::Allowed);
}

/// A zero rate that once had a TTL (the key written under a refilling
/// configuration) loses it: the caller's answers are for the key's
/// lifetime, which a leftover TTL would cut short.
#[tokio::test]
async fn a_zero_rate_entry_drops_a_leftover_ttl() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let rs = ClientId::new("rs").unwrap();
    let t = common::now();
    let refilling = limiter(&redis.url(), &prefix, LimiterConfig { burst: 3, per_minute: 60 }).await;
    refilling.reserve(&rs, t).await.unwrap();
    let never = limiter(&redis.url(), &prefix, LimiterConfig { burst: 3, per_minute: 0 }).await;
    assert_eq!(never.reserve(&rs, t).await.unwrap(), Admission::Allowed);
    let conn = RedisConnection::connect(&redis.url(), Duration::from_millis(500)).await.unwrap();
    let ttl: i64 = conn.query(redis::cmd("PTTL").arg(format!("{prefix}f:rs"))).await.unwrap();
    assert_eq!(ttl, -1, "no expiry");
}

/// An entry that is not two integers is an error, never a fresh bucket:
/// the introspection fails closed.
#[tokio::test]
async fn a_corrupt_entry_fails_closed() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let l = limiter(&redis.url(), &prefix, LimiterConfig { burst: 3, per_minute: 60 }).await;
    let conn = RedisConnection::connect(&redis.url(), Duration::from_millis(500)).await.unwrap();
    let rs = ClientId::new("rs").unwrap();
    let key = format!("{prefix}f:rs");
    let corrupt = [
        "x:60",
        "1700000000:1.5",
        "1700000000:",
        ":60",
        "1700000000:60-x",
        "1700000000:-60",
        "1700000000",
        "-1700000000:60",
        "--x",
        "",
        // A second that is not an integer once read (not below 2^53).
        &format!("{}:60", "9".repeat(400)),
    ];
    for value in corrupt {
        let _: () = conn.query(redis::cmd("SET").arg(&key).arg(value)).await.unwrap();
        assert!(l.reserve(&rs, common::now()).await.is_err(), "{value:?}");
    }
    // The type of the hash layout before it, also refused.
    let _: i64 = conn.query(redis::cmd("DEL").arg(&key)).await.unwrap();
    let _: i64 = conn.query(redis::cmd("HSET").arg(&key).arg("t").arg("1").arg("d").arg("60")).await.unwrap();
    assert!(l.reserve(&rs, common::now()).await.is_err(), "a hash");
}

/// The limiter key carries a TTL that ends a minute (grace) after the
/// caller has recovered, and holds the second of the last charge and the
/// debt in sixtieths of an answer.
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
    let key = format!("{prefix}f:rs");
    let ttl: i64 = conn.query(redis::cmd("PTTL").arg(&key)).await.unwrap();
    assert!(ttl > 61_000 && ttl <= 62_000, "ttl {ttl}");
    let state: String = conn.query(redis::cmd("GET").arg(&key)).await.unwrap();
    assert_eq!(state, format!("{}:120", now.0));
    // At 7 a minute one answer takes 60/7 s to pay back: the TTL rounds
    // the recovery up to whole seconds.
    let seven = limiter(&redis.url(), &prefix, LimiterConfig { burst: 3, per_minute: 7 }).await;
    let other = ClientId::new("rs-7").unwrap();
    seven.reserve(&other, now).await.unwrap();
    let ttl: i64 = conn.query(redis::cmd("PTTL").arg(format!("{prefix}f:rs-7"))).await.unwrap();
    assert!(ttl > 68_000 && ttl <= 69_000, "ttl {ttl}");
}

/// A refund appends one `-` (one answer off the debt), keeps the key's TTL,
/// and the next reservation folds it into the debt. A refund whose entry
/// has gone (expired or deleted since its reservation) leaves dashes
/// without a second, which decide like a missing entry, and the next
/// reservation gives the key its TTL again.
#[tokio::test]
async fn a_refund_keeps_the_ttl_and_a_late_one_decides_like_no_entry() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let cfg = LimiterConfig { burst: 2, per_minute: 60 };
    let l = limiter(&redis.url(), &prefix, cfg).await;
    let conn = RedisConnection::connect(&redis.url(), Duration::from_millis(500)).await.unwrap();
    let key = format!("{prefix}f:rs");
    let rs = ClientId::new("rs").unwrap();
    let now = common::now();
    l.reserve(&rs, now).await.unwrap();
    l.reserve(&rs, now).await.unwrap();
    l.refund(&rs, now).await.unwrap();
    let state: String = conn.query(redis::cmd("GET").arg(&key)).await.unwrap();
    assert_eq!(state, format!("{}:120-", now.0));
    let ttl: i64 = conn.query(redis::cmd("PTTL").arg(&key)).await.unwrap();
    assert!(ttl > 61_000 && ttl <= 62_000, "ttl {ttl}");
    l.refund(&rs, now).await.unwrap();
    assert_eq!(l.reserve(&rs, now).await.unwrap(), Admission::Allowed);
    let state: String = conn.query(redis::cmd("GET").arg(&key)).await.unwrap();
    assert_eq!(state, format!("{}:60", now.0), "two refunds folded in, one answer charged");

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
/// again, and the refund after it (an `APPEND`, which needs no script) is
/// applied.
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
/// another caller is unaffected. (The suite's limiter checks race one
/// instance.)
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
