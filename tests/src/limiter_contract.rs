//! One check per guarantee of [`FishingLimiter`], run on every limiter (the
//! core's [`MemoryLimiter`](gatehouse_core::MemoryLimiter), the shared Redis
//! one) through a [`LimiterHarness`] and [`limiter_conformance!`](crate::limiter_conformance).
//!
//! Every limiter decides with the core's GCRA functions
//! ([`gcra_reserve`], [`gcra_refund`]), exactly, for every
//! `(burst, per_minute)` in `u32 × u32`. The checks give the clock
//! explicitly, so nothing depends on the wall clock.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use gatehouse_core::limiter::{
    gcra_refund, gcra_reserve, Admission, FishingLimiter, GcraState, LimiterConfig,
};
use gatehouse_core::model::ClientId;
use gatehouse_core::UnixTime;
use tokio::sync::Barrier;

use crate::fixtures::client_id;

/// How the limiter checks get a fresh limiter.
pub trait LimiterHarness: Send + Sync {
    /// The limiter under test.
    type Limiter: FishingLimiter;

    /// A new limiter with `cfg` that has seen no caller. Two calls give
    /// independent limiters. Its refunds must have taken effect when
    /// [`FishingLimiter::refund`] returns (the contract lets a shared
    /// limiter apply them later; the checks compare decisions step by
    /// step), e.g. `RedisLimiter::awaiting_refunds`.
    fn fresh(&self, cfg: LimiterConfig) -> impl Future<Output = Self::Limiter> + Send;
}

/// A [`LimiterHarness`] made of a closure from the settings to a future of
/// a fresh limiter. [`limiter_conformance!`](crate::limiter_conformance)
/// builds one from its expression.
#[derive(Debug, Clone, Copy)]
pub struct FnLimiterHarness<F>(pub F);

impl<F, Fut> LimiterHarness for FnLimiterHarness<F>
where
    F: Fn(LimiterConfig) -> Fut + Send + Sync,
    Fut: Future + Send,
    Fut::Output: FishingLimiter,
{
    type Limiter = Fut::Output;

    fn fresh(&self, cfg: LimiterConfig) -> impl Future<Output = Self::Limiter> + Send {
        (self.0)(cfg)
    }
}

const T0: UnixTime = UnixTime(1_700_000_000);
const YEAR: u64 = 365 * 24 * 3600;
/// The edges of `per_minute`: never refills, slowest, exactly and just
/// over 1000 a second, largest.
const RATES: [u32; 5] = [0, 1, 60_000, 60_001, u32::MAX];
/// The edges of `burst`.
const BURSTS: [u32; 4] = [1, 2, 1000, u32::MAX];

async fn reserve<L: FishingLimiter>(l: &L, caller: &ClientId, t: UnixTime) -> Admission {
    l.reserve(caller, t).await.unwrap_or_else(|e| panic!("reserve failed: {e:?}"))
}

async fn refund<L: FishingLimiter>(l: &L, caller: &ClientId, t: UnixTime) {
    l.refund(caller, t).await.unwrap_or_else(|e| panic!("refund failed: {e:?}"));
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
/// later is the configured rate's, for every edge of the settings.
pub async fn every_edge_setting_throttles_as_configured<H: LimiterHarness>(h: &H) {
    let rs = client_id("rs");
    for per_minute in RATES {
        for burst in BURSTS {
            let cfg = LimiterConfig { burst, per_minute };
            let l = h.fresh(cfg).await;
            let n = burst.min(1000);
            for i in 0..n {
                assert_eq!(reserve(&l, &rs, T0).await, Admission::Allowed, "{cfg:?}: answer {i}");
            }
            if burst > n {
                // Still room: the bucket is larger than what was tried.
                assert_eq!(reserve(&l, &rs, T0).await, Admission::Allowed, "{cfg:?}");
                assert_eq!(reserve(&l, &rs, T0.plus(10 * YEAR)).await, Admission::Allowed, "{cfg:?}");
                continue;
            }
            let spent = Admission::Throttled { retry_after: one_answer_wait(per_minute) };
            for _ in 0..3 {
                assert_eq!(reserve(&l, &rs, T0).await, spent, "{cfg:?}");
            }
            match per_minute {
                // Never refills, however long the caller waits.
                0 => {
                    assert_eq!(reserve(&l, &rs, T0.plus(1)).await, spent, "{cfg:?}");
                    assert_eq!(reserve(&l, &rs, T0.plus(10 * YEAR)).await, spent, "{cfg:?}");
                }
                // One answer a minute.
                1 => {
                    let almost = Admission::Throttled { retry_after: 1 };
                    assert_eq!(reserve(&l, &rs, T0.plus(59)).await, almost, "{cfg:?}");
                    assert_eq!(reserve(&l, &rs, T0.plus(60)).await, Admission::Allowed, "{cfg:?}");
                    assert_eq!(reserve(&l, &rs, T0.plus(60)).await, spent, "{cfg:?}");
                }
                // At least 1000 answers a second: full again a second later.
                _ => {
                    for i in 0..n {
                        let got = reserve(&l, &rs, T0.plus(1)).await;
                        assert_eq!(got, Admission::Allowed, "{cfg:?}: answer {i}");
                    }
                    assert_eq!(reserve(&l, &rs, T0.plus(1)).await, spent, "{cfg:?}");
                }
            }
        }
    }
}

/// 60001 a minute is 1000 and 1/60 answers a second, not "free": a caller
/// kept saturated for a minute regains exactly 60001 answers.
pub async fn sixty_thousand_and_one_a_minute_refills_exactly<H: LimiterHarness>(h: &H) {
    let l = h.fresh(LimiterConfig { burst: 1001, per_minute: 60_001 }).await;
    let rs = client_id("rs");
    let mut per_second = Vec::new();
    for k in 0..=60 {
        let t = T0.plus(k);
        let mut n = 0u64;
        while reserve(&l, &rs, t).await == Admission::Allowed {
            n += 1;
            assert!(n <= 2000, "never throttled at {t:?}");
        }
        per_second.push(n);
    }
    let mut want = vec![1000; 61];
    want[0] = 1001;
    want[60] = 1001;
    assert_eq!(per_second, want, "answers per second at 60001 a minute");
}

/// A rate that does not divide a minute refills exactly: at 7 a minute, a
/// caller asking every second (so its bucket of 2 never fills up and wastes
/// no refill) gets its n-th answer after the first two at exactly
/// `ceil(60 n / 7)` s, also past the 2897th second, where a cost rounded to
/// whole milliseconds has drifted by one.
pub async fn seven_a_minute_is_exact_past_the_first_hour<H: LimiterHarness>(h: &H) {
    let l = h.fresh(LimiterConfig { burst: 2, per_minute: 7 }).await;
    let rs = client_id("rs");
    assert_eq!(reserve(&l, &rs, T0).await, Admission::Allowed);
    assert_eq!(reserve(&l, &rs, T0).await, Admission::Allowed);
    let mut n = 0u64;
    for s in 1..=3600 {
        let want = (60 * (n + 1)).div_ceil(7) == s;
        let got = reserve(&l, &rs, T0.plus(s)).await == Admission::Allowed;
        assert_eq!(got, want, "second {s}, answer {}", n + 1);
        n += u64::from(got);
    }
    assert_eq!(n, 3600 * 7 / 60);
}

/// Every setting, a zero burst included (which a validated configuration
/// refuses), answers a throttled caller with a `Retry-After` of 1 s to a
/// day.
pub async fn retry_after_is_between_a_second_and_a_day<H: LimiterHarness>(h: &H) {
    let rs = client_id("rs");
    for per_minute in RATES.into_iter().chain([7, 59, 60, 61]) {
        for burst in [0, 1, 2, 3, 4, 5, 100] {
            let l = h.fresh(LimiterConfig { burst, per_minute }).await;
            let mut throttled = None;
            for _ in 0..=burst {
                if let Admission::Throttled { retry_after } = reserve(&l, &rs, T0).await {
                    throttled = Some(retry_after);
                }
            }
            let retry_after = throttled.unwrap_or_else(|| panic!("{burst} {per_minute}: never throttled"));
            assert!((1..=86_400).contains(&retry_after), "{burst} {per_minute}: {retry_after}");
        }
    }
}

/// Callers' GCRA states as the core's pure functions keep them: what every
/// limiter must decide.
#[derive(Default)]
struct GcraModel {
    states: HashMap<ClientId, GcraState>,
}

impl GcraModel {
    fn reserve(&mut self, cfg: &LimiterConfig, caller: &ClientId, now: UnixTime) -> Admission {
        let state = self.states.entry(caller.clone()).or_default();
        let (admission, next) = gcra_reserve(cfg, *state, now.0);
        *state = next;
        admission
    }

    fn refund(&mut self, caller: &ClientId) {
        // A refund for a caller never charged gives nothing back.
        if let Some(state) = self.states.get_mut(caller) {
            *state = gcra_refund(*state);
        }
    }
}

/// Pseudo-random reservations, refunds and clock steps (a few of them back,
/// as a lagging instance's clock would be) for two callers, at the edges of
/// the settings: every decision is the core's GCRA's, `Retry-After`
/// included.
pub async fn decides_like_the_core_gcra<H: LimiterHarness>(h: &H) {
    let configs = [
        LimiterConfig { burst: 1, per_minute: 1 },
        LimiterConfig { burst: 3, per_minute: 60 },
        LimiterConfig { burst: 20, per_minute: 60 },
        LimiterConfig { burst: 5, per_minute: 7 },
        LimiterConfig { burst: 2, per_minute: 6000 },
        LimiterConfig { burst: 2, per_minute: 7 },
        LimiterConfig { burst: 1, per_minute: 0 },
        LimiterConfig { burst: 4, per_minute: 0 },
        LimiterConfig { burst: 3, per_minute: 60_001 },
        LimiterConfig { burst: 1001, per_minute: 60_001 },
        LimiterConfig { burst: 2, per_minute: u32::MAX },
        LimiterConfig { burst: u32::MAX, per_minute: 1 },
        LimiterConfig { burst: u32::MAX, per_minute: 0 },
        LimiterConfig { burst: 0, per_minute: 60 },
    ];
    // xorshift: the same sequence on every run and every backend.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // One caller id carries a Redis hash tag.
    let callers = [client_id("a"), client_id("b{x}")];
    for cfg in configs {
        let l = h.fresh(cfg).await;
        let mut model = GcraModel::default();
        let mut t = T0;
        for step in 0..300 {
            let c = &callers[usize::from(next() % 2 == 1)];
            match next() % 8 {
                0 | 1 => t = t.plus(next() % 5),
                2 if next() % 4 == 0 => t = t.minus(next() % 3),
                3 | 4 => {
                    refund(&l, c, t).await;
                    model.refund(c);
                }
                _ => {}
            }
            let want = model.reserve(&cfg, c, t);
            let got = reserve(&l, c, t).await;
            assert_eq!(got, want, "{cfg:?} step {step}: the limiter differs from the core's GCRA");
        }
    }
}

/// Reservations are atomic: 200 concurrent reservations by one caller,
/// with a burst of 20 and a clock that stands still, admit exactly 20;
/// another caller is unaffected.
pub async fn concurrent_reservations_admit_exactly_the_burst<H: LimiterHarness>(h: &H) {
    const TASKS: usize = 200;
    let l = Arc::new(h.fresh(LimiterConfig { burst: 20, per_minute: 1 }).await);
    let rs = client_id("rs{2}");
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (l, b, rs) = (Arc::clone(&l), Arc::clone(&barrier), rs.clone());
            tokio::spawn(async move {
                b.wait().await;
                reserve(&*l, &rs, T0).await
            })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        if task.await.expect("reservation task panicked") == Admission::Allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 20, "{allowed} of {TASKS} concurrent reservations allowed with a burst of 20");
    assert_eq!(reserve(&*l, &client_id("rs-other"), T0).await, Admission::Allowed, "another caller");
}
