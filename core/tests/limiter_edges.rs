//! The in-memory fishing limiter at the edges of its settings: every
//! `(burst, per_minute)` in `u32 × u32` throttles exactly as configured,
//! with a `Retry-After` between 1 s and a day, and never panics (these run
//! as debug builds, where an overflow would).
#![allow(clippy::unwrap_used)]

use std::future::Future;

use gatehouse_core::limiter::{Admission, FishingLimiter, LimiterConfig, MemoryLimiter};
use gatehouse_core::model::ClientId;
use gatehouse_core::UnixTime;
use proptest::prelude::*;

fn block_on<F: Future>(f: F) -> F::Output {
    // The memory limiter's futures are always ready.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(f).as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => unreachable!("memory limiter futures are ready"),
    }
}

const T0: UnixTime = UnixTime(1_700_000_000);
const YEAR: u64 = 365 * 24 * 3600;
const RATES: [u32; 5] = [0, 1, 60_000, 60_001, u32::MAX];
const BURSTS: [u32; 4] = [1, 2, 1000, u32::MAX];

fn reserve(l: &MemoryLimiter, t: UnixTime) -> Admission {
    block_on(l.reserve(&ClientId::new("rs").unwrap(), t)).unwrap()
}

/// The `Retry-After` of a caller whose bucket is exactly spent: one
/// answer's refill (60 / per_minute s, rounded up), or a day when nothing
/// ever refills.
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
#[test]
fn every_edge_setting_throttles_as_configured() {
    for per_minute in RATES {
        for burst in BURSTS {
            let cfg = LimiterConfig { burst, per_minute };
            let l = MemoryLimiter::new(cfg);
            let n = burst.min(1000);
            for i in 0..n {
                assert_eq!(reserve(&l, T0), Admission::Allowed, "{cfg:?}: answer {i}");
            }
            if burst > n {
                // Still room: the bucket is larger than what was tried.
                assert_eq!(reserve(&l, T0), Admission::Allowed, "{cfg:?}");
                assert_eq!(reserve(&l, T0.plus(10 * YEAR)), Admission::Allowed, "{cfg:?}");
                continue;
            }
            let spent = Admission::Throttled { retry_after: one_answer_wait(per_minute) };
            for _ in 0..3 {
                assert_eq!(reserve(&l, T0), spent, "{cfg:?}");
            }
            match per_minute {
                // Never refills, however long the caller waits.
                0 => {
                    assert_eq!(reserve(&l, T0.plus(1)), spent, "{cfg:?}");
                    assert_eq!(reserve(&l, T0.plus(10 * YEAR)), spent, "{cfg:?}");
                }
                // One answer a minute.
                1 => {
                    assert_eq!(reserve(&l, T0.plus(59)), Admission::Throttled { retry_after: 1 }, "{cfg:?}");
                    assert_eq!(reserve(&l, T0.plus(60)), Admission::Allowed, "{cfg:?}");
                    assert_eq!(reserve(&l, T0.plus(60)), spent, "{cfg:?}");
                }
                // At least 1000 answers a second: full again a second later.
                _ => {
                    for i in 0..n {
                        assert_eq!(reserve(&l, T0.plus(1)), Admission::Allowed, "{cfg:?}: answer {i}");
                    }
                    assert_eq!(reserve(&l, T0.plus(1)), spent, "{cfg:?}");
                }
            }
        }
    }
}

/// A bucket of `u32::MAX` that never refills takes far more than the four
/// answers after which a cost of `u64::MAX / 4` used to overflow.
#[test]
fn a_huge_bucket_that_never_refills_does_not_overflow() {
    let l = MemoryLimiter::new(LimiterConfig { burst: u32::MAX, per_minute: 0 });
    for i in 0..10_000 {
        assert_eq!(reserve(&l, T0), Admission::Allowed, "answer {i}");
    }
}

/// 60001 a minute is 1000 and 1/60 answers a second, not "free": a caller
/// kept saturated for a minute regains exactly 60001 answers.
#[test]
fn sixty_thousand_and_one_a_minute_refills_exactly() {
    let l = MemoryLimiter::new(LimiterConfig { burst: 1001, per_minute: 60_001 });
    let drain = |t: UnixTime| {
        let mut n = 0u64;
        while reserve(&l, t) == Admission::Allowed {
            n += 1;
            assert!(n <= 2000, "never throttled at {t:?}");
        }
        n
    };
    assert_eq!(drain(T0), 1001);
    let mut total = 0;
    for k in 1..=60 {
        let n = drain(T0.plus(k));
        assert_eq!(n, if k == 60 { 1001 } else { 1000 }, "second {k}");
        total += n;
    }
    assert_eq!(total, 60_001);
}

/// A rate that does not divide a minute refills exactly: at 7 a minute, a
/// caller asking every second (so its bucket of 2 never fills up and wastes
/// no refill) gets its n-th answer after the first two at exactly
/// `ceil(60 n / 7)` s, even after two days; a cost rounded to whole
/// milliseconds drifts from that within the first hour.
#[test]
fn seven_a_minute_is_exact_over_two_days() {
    let l = MemoryLimiter::new(LimiterConfig { burst: 2, per_minute: 7 });
    assert_eq!(reserve(&l, T0), Admission::Allowed);
    assert_eq!(reserve(&l, T0), Admission::Allowed);
    let mut n = 0u64;
    for s in 1..=2 * 86_400 {
        let want = (60 * (n + 1)).div_ceil(7) == s;
        let got = reserve(&l, T0.plus(s)) == Admission::Allowed;
        assert_eq!(got, want, "second {s}, answer {}", n + 1);
        n += u64::from(got);
    }
    assert_eq!(n, 2 * 86_400 * 7 / 60);
}

/// Every setting, including a zero burst (which a validated configuration
/// refuses), answers a throttled caller with a `Retry-After` of 1 s to a day.
#[test]
fn retry_after_is_between_a_second_and_a_day() {
    for per_minute in RATES.into_iter().chain([7, 59, 60, 61]) {
        for burst in [0, 1, 2, 3, 4, 5, 1000] {
            let l = MemoryLimiter::new(LimiterConfig { burst, per_minute });
            let mut throttled = None;
            for _ in 0..=burst {
                if let Admission::Throttled { retry_after } = reserve(&l, T0) {
                    throttled = Some(retry_after);
                }
            }
            let retry_after = throttled.unwrap();
            assert!((1..=86_400).contains(&retry_after), "{burst} {per_minute}: {retry_after}");
        }
    }
}

fn rate() -> impl Strategy<Value = u32> {
    prop_oneof![0..=3u32, 55..=65u32, 59_990..=60_010u32, Just(u32::MAX), any::<u32>()]
}

fn burst() -> impl Strategy<Value = u32> {
    prop_oneof![1..=5u32, 6..=100u32, any::<u32>()]
}

proptest! {
    /// The GCRA bound: of the reservations made in any window of `w`
    /// seconds, at most `burst + floor(w * per_minute / 60)` are allowed.
    #[test]
    fn no_window_admits_more_than_burst_plus_refill(
        burst in burst(),
        per_minute in rate(),
        steps in proptest::collection::vec(0u64..4, 1..200),
    ) {
        let cfg = LimiterConfig { burst, per_minute };
        let l = MemoryLimiter::new(cfg);
        let mut t = T0;
        let mut allowed = Vec::new();
        for step in steps {
            t = t.plus(step);
            if reserve(&l, t) == Admission::Allowed {
                allowed.push(t.0);
            }
        }
        for (i, start) in allowed.iter().enumerate() {
            for (j, end) in allowed.iter().enumerate().skip(i) {
                let refill = u128::from(end - start) * u128::from(per_minute) / 60;
                let bound = u128::from(burst) + refill;
                prop_assert!((j - i + 1) as u128 <= bound, "{cfg:?}: {} in [{start}, {end}]", j - i + 1);
            }
        }
    }
}
