//! Proof that the limiter checks can fail: limiters with one flaw each must
//! fail the checks that guard against it. Each is the core's GCRA functions
//! over a plain table, with one thing done wrong; the same limiter with no
//! flaw passes every limiter check (module `no_flaw`).

use std::collections::HashMap;
use std::sync::Mutex;

use gatehouse_conformance::limiter_contract::FnLimiterHarness;
use gatehouse_core::limiter::{gcra_refund, gcra_reserve, GcraState};
use gatehouse_core::model::ClientId;
use gatehouse_core::{Admission, FishingLimiter, LimiterConfig, StoreError, UnixTime};

/// The one thing a [`Broken`] limiter gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// None.
    None,
    /// Reads the caller's state, yields to other tasks, then writes the
    /// charge: concurrent reservations all see the bucket with room.
    NonAtomicReserve,
    /// Refunds give nothing back.
    IgnoresRefunds,
    /// A cost rounded to whole milliseconds, as an earlier Redis layout
    /// had: above 60000 a minute an answer costs nothing.
    FreeAboveAThousandASecond,
}

struct Broken {
    cfg: LimiterConfig,
    flaw: Flaw,
    states: Mutex<HashMap<ClientId, GcraState>>,
}

impl Broken {
    fn new(cfg: LimiterConfig, flaw: Flaw) -> Self {
        Self { cfg, flaw, states: Mutex::default() }
    }

    fn state(&self, caller: &ClientId) -> GcraState {
        self.states.lock().expect("lock").get(caller).copied().unwrap_or_default()
    }
}

impl FishingLimiter for Broken {
    async fn reserve(&self, caller: &ClientId, now: UnixTime) -> Result<Admission, StoreError> {
        if self.flaw == Flaw::FreeAboveAThousandASecond && self.cfg.per_minute > 60_000 {
            return Ok(Admission::Allowed);
        }
        if self.flaw == Flaw::NonAtomicReserve {
            let state = self.state(caller);
            for _ in 0..8 {
                tokio::task::yield_now().await;
            }
            let (admission, next) = gcra_reserve(&self.cfg, state, now.0);
            self.states.lock().expect("lock").insert(caller.clone(), next);
            return Ok(admission);
        }
        // One lock hold from read to write: anything less is the flaw above
        // (and fails the concurrency check now and then).
        let mut states = self.states.lock().expect("lock");
        let state = states.get(caller).copied().unwrap_or_default();
        let (admission, next) = gcra_reserve(&self.cfg, state, now.0);
        states.insert(caller.clone(), next);
        Ok(admission)
    }

    async fn refund(&self, caller: &ClientId, _now: UnixTime) -> Result<(), StoreError> {
        if self.flaw != Flaw::IgnoresRefunds {
            if let Some(s) = self.states.lock().expect("lock").get_mut(caller) {
                *s = gcra_refund(*s);
            }
        }
        Ok(())
    }
}

gatehouse_conformance::limiter_conformance!(no_flaw, |cfg| Broken::new(cfg, Flaw::None));

/// Runs `limiter_contract::$check` against a [`Broken`] limiter with
/// `flaw`, and asserts that it panics with a message containing `needle`.
macro_rules! assert_fails {
    ($flaw:expr, $check:ident, $needle:expr) => {{
        let flaw: Flaw = $flaw;
        let message = gatehouse_conformance::run(async move {
            let harness = FnLimiterHarness(move |cfg| async move { Broken::new(cfg, flaw) });
            let joined =
                tokio::spawn(async move { gatehouse_conformance::limiter_contract::$check(&harness).await })
                    .await;
            match joined {
                Ok(()) => panic!("{} passed against a limiter with flaw {flaw:?}", stringify!($check)),
                Err(e) => gatehouse_conformance::panic_message(e.into_panic()),
            }
        });
        assert!(
            message.contains($needle),
            "{} failed against flaw {flaw:?}, but not for the expected reason ({:?}): {message}",
            stringify!($check),
            $needle
        );
    }};
}

#[test]
fn non_atomic_reservations_are_caught() {
    assert_fails!(
        Flaw::NonAtomicReserve,
        concurrent_reservations_admit_exactly_the_burst,
        "concurrent reservations allowed with a burst of 20"
    );
}

#[test]
fn ignored_refunds_are_caught() {
    assert_fails!(Flaw::IgnoresRefunds, decides_like_the_core_gcra, "differs from the core's GCRA");
}

#[test]
fn free_answers_above_a_thousand_a_second_are_caught() {
    assert_fails!(
        Flaw::FreeAboveAThousandASecond,
        every_edge_setting_throttles_as_configured,
        "per_minute: 60001"
    );
    assert_fails!(
        Flaw::FreeAboveAThousandASecond,
        sixty_thousand_and_one_a_minute_refills_exactly,
        "never throttled"
    );
    assert_fails!(
        Flaw::FreeAboveAThousandASecond,
        decides_like_the_core_gcra,
        "differs from the core's GCRA"
    );
}
