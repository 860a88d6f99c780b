//! The fishing limiter's pure GCRA functions, against a reference model
//! and on arbitrary (even nonsensical) states.
#![allow(clippy::unwrap_used)]

use gatehouse_core::limiter::{
    gcra_debt, gcra_recovered, gcra_refund, gcra_reserve, Admission, GcraState, LimiterConfig,
    MAX_RETRY_AFTER,
};
use proptest::prelude::*;

/// The textbook GCRA with one absolute theoretical arrival time, in a unit
/// fine enough for every rate to be exact (a second is `per_minute` units,
/// an answer 60), held in a `u128` so nothing can overflow.
#[derive(Default)]
struct Reference {
    tat: u128,
}

impl Reference {
    fn reserve(&mut self, cfg: &LimiterConfig, now: u64) -> Admission {
        let rate = u128::from(cfg.per_minute);
        let now = u128::from(now) * rate;
        let tat = self.tat.max(now);
        let capacity = 60 * u128::from(cfg.burst);
        if tat - now + 60 <= capacity {
            self.tat = tat + 60;
            return Admission::Allowed;
        }
        let excess = tat - now + 60 - capacity;
        let retry_after = if rate == 0 { 86_400 } else { excess.div_ceil(rate).clamp(1, 86_400) };
        Admission::Throttled { retry_after: u64::try_from(retry_after).unwrap() }
    }

    fn refund(&mut self) {
        self.tat = self.tat.saturating_sub(60);
    }
}

fn rate() -> impl Strategy<Value = u32> {
    prop_oneof![0..=3u32, 5..=65u32, 59_990..=60_010u32, Just(u32::MAX), any::<u32>()]
}

fn burst() -> impl Strategy<Value = u32> {
    prop_oneof![0..=5u32, 6..=100u32, Just(u32::MAX), any::<u32>()]
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Wait(u64),
    Reserve,
    Refund,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Reserve),
        1 => Just(Op::Refund),
        2 => (0u64..4).prop_map(Op::Wait),
        1 => any::<u64>().prop_map(Op::Wait),
    ]
}

proptest! {
    /// With a clock that never goes back, the limiter's (second, debt)
    /// state decides exactly like the absolute-time reference, refunds
    /// included, whatever the settings and however far the clock runs.
    #[test]
    fn decides_like_the_exact_reference(
        burst in burst(),
        per_minute in rate(),
        start in prop_oneof![Just(0u64), 1_000_000_000..2_000_000_000u64, any::<u64>()],
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        let cfg = LimiterConfig { burst, per_minute };
        let mut reference = Reference::default();
        let mut state = GcraState::default();
        let mut now = start;
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Wait(s) => now = now.saturating_add(s),
                Op::Refund => {
                    reference.refund();
                    state = gcra_refund(state);
                }
                Op::Reserve => {
                    let want = reference.reserve(&cfg, now);
                    let (got, next) = gcra_reserve(&cfg, state, now);
                    prop_assert_eq!(got, want, "{:?} op {}", cfg, i);
                    prop_assert!(next.debt <= i64::try_from(cfg.capacity()).unwrap());
                    state = next;
                }
            }
        }
    }

    /// Any state, any clock, any settings: no panic (these are debug
    /// builds), a `Retry-After` from 1 s to a day, never more debt than
    /// the capacity after a charge, and a throttle that charges nothing.
    #[test]
    fn total_on_any_state(
        burst in burst(),
        per_minute in rate(),
        at in any::<u64>(),
        debt in any::<i64>(),
        now in any::<u64>(),
    ) {
        let cfg = LimiterConfig { burst, per_minute };
        let state = GcraState { at, debt };
        let _ = gcra_debt(&cfg, state, now);
        let _ = gcra_recovered(&cfg, state, now);
        let _ = gcra_refund(gcra_refund(state));
        match gcra_reserve(&cfg, state, now) {
            (Admission::Allowed, next) => {
                prop_assert!(next.debt >= 60 && next.debt <= i64::try_from(cfg.capacity()).unwrap());
                prop_assert_eq!(next.at, at.max(now));
            }
            (Admission::Throttled { retry_after }, next) => {
                prop_assert!((1..=MAX_RETRY_AFTER).contains(&retry_after));
                prop_assert_eq!(next, state);
            }
            (other, _) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}

/// A reservation stamped before the caller's last charge (a clock stepped
/// back, or a lagging instance) is judged as of that charge: nothing
/// refills, and `Retry-After` adds the lag.
#[test]
fn a_clock_behind_the_state_refills_nothing_and_waits_the_lag() {
    let cfg = LimiterConfig { burst: 2, per_minute: 60 };
    let state = GcraState { at: 1000, debt: 120 };
    assert_eq!(gcra_reserve(&cfg, state, 990), (Admission::Throttled { retry_after: 11 }, state));
    assert_eq!(gcra_reserve(&cfg, state, 1000), (Admission::Throttled { retry_after: 1 }, state));
    let (admission, next) = gcra_reserve(&cfg, state, 1001);
    assert_eq!((admission, next), (Admission::Allowed, GcraState { at: 1001, debt: 120 }));
    // With room left, a lagging reservation is charged at the state's second.
    let room = GcraState { at: 1000, debt: 60 };
    assert_eq!(gcra_reserve(&cfg, room, 990), (Admission::Allowed, GcraState { at: 1000, debt: 120 }));
    // The lag counts in full, up to a day.
    let far = gcra_reserve(&cfg, GcraState { at: u64::MAX, debt: 120 }, 0).0;
    assert_eq!(far, Admission::Throttled { retry_after: MAX_RETRY_AFTER });
}

/// A refund can take the debt below zero (a late one, in a shared
/// limiter); that credit never lets a caller exceed its burst.
#[test]
fn a_credit_is_never_more_than_a_full_bucket() {
    let cfg = LimiterConfig { burst: 2, per_minute: 0 };
    let mut state = GcraState { at: 5, debt: 0 };
    for _ in 0..10 {
        state = gcra_refund(state);
    }
    assert_eq!(state.debt, -600);
    assert!(gcra_recovered(&cfg, state, 5));
    for _ in 0..2 {
        let (admission, next) = gcra_reserve(&cfg, state, 5);
        assert_eq!(admission, Admission::Allowed);
        state = next;
    }
    assert!(matches!(gcra_reserve(&cfg, state, 5).0, Admission::Throttled { .. }));
}

/// Only a burst of 0 is refused, with a message naming the setting.
#[test]
fn validation_refuses_only_a_zero_burst() {
    let err = LimiterConfig { burst: 0, per_minute: 60 }.validate().unwrap_err();
    assert!(err.to_string().contains("`limiter.burst` must be at least 1"), "{err}");
    for burst in [1, 2, u32::MAX] {
        for per_minute in [0, 1, 60_000, 60_001, u32::MAX] {
            LimiterConfig { burst, per_minute }.validate().unwrap();
        }
    }
}
