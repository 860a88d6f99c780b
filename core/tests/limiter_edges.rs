//! The in-memory fishing limiter's arithmetic where it could overflow or
//! drift: a huge bucket, two days at a rate that does not divide a minute,
//! and the GCRA bound on any window (these run as debug builds, where an
//! overflow would panic). The limiter guarantees at the edges of the
//! settings, which every limiter must give, are the conformance suite's
//! limiter checks (`gatehouse-conformance`, run on `MemoryLimiter` by its
//! `tests/memory.rs`).
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

fn reserve(l: &MemoryLimiter, t: UnixTime) -> Admission {
    block_on(l.reserve(&ClientId::new("rs").unwrap(), t)).unwrap()
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
