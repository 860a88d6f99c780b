//! The Redis fishing limiter at the edges of its settings: every
//! `(burst, per_minute)` in `u32 × u32` throttles exactly as configured
//! (the same checks as the core's `limiter_edges`, through Redis), with a
//! `Retry-After` between 1 s and a day.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use gatehouse_core::limiter::{Admission, FishingLimiter, LimiterConfig};
use gatehouse_core::model::ClientId;
use gatehouse_core::UnixTime;
use gatehouse_redis::testing::{unique_prefix, TestRedis};
use gatehouse_redis::{RedisConnection, RedisLimiter};

const T0: UnixTime = UnixTime(1_700_000_000);
const YEAR: u64 = 365 * 24 * 3600;
const RATES: [u32; 5] = [0, 1, 60_000, 60_001, u32::MAX];
const BURSTS: [u32; 4] = [1, 2, 1000, u32::MAX];

async fn limiter(redis: &TestRedis, cfg: LimiterConfig) -> RedisLimiter {
    let conn = RedisConnection::connect(&redis.url(), Duration::from_millis(2000)).await.unwrap();
    RedisLimiter::new(conn, &unique_prefix(), cfg).unwrap().awaiting_refunds()
}

async fn reserve(l: &RedisLimiter, t: UnixTime) -> Admission {
    l.reserve(&ClientId::new("rs").unwrap(), t).await.unwrap()
}

/// The `Retry-After` of a caller whose bucket is exactly spent.
fn one_answer_wait(per_minute: u32) -> u64 {
    if per_minute == 0 {
        86_400
    } else {
        60u64.div_ceil(u64::from(per_minute))
    }
}

/// A fresh caller gets exactly `burst` inactive answers at one instant (up
/// to 1000 tried), then throttles that charge nothing; what comes back
/// later is the configured rate's.
#[tokio::test]
async fn every_edge_setting_throttles_as_configured() {
    let redis = TestRedis::start();
    for per_minute in RATES {
        for burst in BURSTS {
            let cfg = LimiterConfig { burst, per_minute };
            let l = limiter(&redis, cfg).await;
            let n = burst.min(1000);
            for i in 0..n {
                assert_eq!(reserve(&l, T0).await, Admission::Allowed, "{cfg:?}: answer {i}");
            }
            if burst > n {
                assert_eq!(reserve(&l, T0).await, Admission::Allowed, "{cfg:?}");
                assert_eq!(reserve(&l, T0.plus(10 * YEAR)).await, Admission::Allowed, "{cfg:?}");
                continue;
            }
            let spent = Admission::Throttled { retry_after: one_answer_wait(per_minute) };
            for _ in 0..3 {
                assert_eq!(reserve(&l, T0).await, spent, "{cfg:?}");
            }
            match per_minute {
                0 => {
                    assert_eq!(reserve(&l, T0.plus(1)).await, spent, "{cfg:?}");
                    assert_eq!(reserve(&l, T0.plus(10 * YEAR)).await, spent, "{cfg:?}");
                }
                1 => {
                    let almost = Admission::Throttled { retry_after: 1 };
                    assert_eq!(reserve(&l, T0.plus(59)).await, almost, "{cfg:?}");
                    assert_eq!(reserve(&l, T0.plus(60)).await, Admission::Allowed, "{cfg:?}");
                    assert_eq!(reserve(&l, T0.plus(60)).await, spent, "{cfg:?}");
                }
                _ => {
                    for i in 0..n {
                        assert_eq!(reserve(&l, T0.plus(1)).await, Admission::Allowed, "{cfg:?}: answer {i}");
                    }
                    assert_eq!(reserve(&l, T0.plus(1)).await, spent, "{cfg:?}");
                }
            }
        }
    }
}

/// 60001 a minute is 1000 and 1/60 answers a second: a caller kept
/// saturated for a minute regains exactly 60001 answers.
#[tokio::test]
async fn sixty_thousand_and_one_a_minute_refills_exactly() {
    let redis = TestRedis::start();
    let l = limiter(&redis, LimiterConfig { burst: 1001, per_minute: 60_001 }).await;
    let mut per_second = Vec::new();
    for k in 0..=60 {
        let t = T0.plus(k);
        let mut n = 0u64;
        while reserve(&l, t).await == Admission::Allowed {
            n += 1;
            assert!(n <= 2000, "never throttled at {t:?}");
        }
        per_second.push(n);
    }
    let mut want = vec![1000; 61];
    want[0] = 1001;
    want[60] = 1001;
    assert_eq!(per_second, want);
}

/// A rate that does not divide a minute refills exactly: at 7 a minute, a
/// caller asking every second gets its n-th answer after the first two at
/// exactly `ceil(60 n / 7)` s, also past the 2897th second, where a cost
/// rounded to whole milliseconds has drifted by one.
#[tokio::test]
async fn seven_a_minute_is_exact_past_the_first_hour() {
    let redis = TestRedis::start();
    let l = limiter(&redis, LimiterConfig { burst: 2, per_minute: 7 }).await;
    assert_eq!(reserve(&l, T0).await, Admission::Allowed);
    assert_eq!(reserve(&l, T0).await, Admission::Allowed);
    let mut n = 0u64;
    for s in 1..=3600 {
        let want = (60 * (n + 1)).div_ceil(7) == s;
        let got = reserve(&l, T0.plus(s)).await == Admission::Allowed;
        assert_eq!(got, want, "second {s}, answer {}", n + 1);
        n += u64::from(got);
    }
    assert_eq!(n, 3600 * 7 / 60);
}

/// Every setting, a zero burst included, answers a throttled caller with a
/// `Retry-After` of 1 s to a day.
#[tokio::test]
async fn retry_after_is_between_a_second_and_a_day() {
    let redis = TestRedis::start();
    for per_minute in RATES.into_iter().chain([7, 59, 60, 61]) {
        for burst in [0, 1, 2, 3, 4, 5, 100] {
            let l = limiter(&redis, LimiterConfig { burst, per_minute }).await;
            let mut throttled = None;
            for _ in 0..=burst {
                if let Admission::Throttled { retry_after } = reserve(&l, T0).await {
                    throttled = Some(retry_after);
                }
            }
            let retry_after = throttled.unwrap();
            assert!((1..=86_400).contains(&retry_after), "{burst} {per_minute}: {retry_after}");
        }
    }
}
