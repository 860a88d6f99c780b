//! Token-fishing defence (RFC 7662 §4): a per-caller limit on inactive
//! introspection results.
//!
//! Each resource server has a token bucket of `burst` inactive answers,
//! refilled at `per_minute`. An inactive answer takes one token. While the
//! bucket is empty the caller is throttled: every introspection it makes is
//! refused with 429 and `Retry-After`, **including those for valid tokens**.
//! We refuse valid ones too because answering them would still let a fisher
//! learn which of its guesses are active: a throttled answer must carry no
//! information about the token.
//!
//! # Reserve, then refund
//! Checking the bucket before the lookup and charging it after would let K
//! concurrent guesses all pass the check. So each introspection
//! [reserves](FishingLimiter::reserve) one token before the lookup, in one
//! atomic step (admission and charge together), and
//! [refunds](FishingLimiter::refund) it when the answer is active. Concurrent
//! introspections by one caller therefore hold one token each while they are
//! in flight: `burst` must cover the concurrency of the busiest resource
//! server, or valid tokens get 429 under load.
//!
//! A shared limiter may apply a refund a little after the answer (the Redis
//! one sends it without waiting for the reply, so an active answer costs one
//! round trip). Meanwhile the caller is over-charged. A refund that lands
//! after another reservation of the same caller can, when that caller had
//! just recovered, give back slightly more than an immediate refund would:
//! less than one inactive answer per such race, and only for a caller
//! whose own answers were active.
//!
//! The limiter is keyed by the authenticated caller, so one noisy resource
//! server never throttles another, and an unauthenticated party never
//! reaches it at all.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::model::{ClientId, IdHashing};
use crate::store::StoreError;
use crate::time::UnixTime;

/// Limiter settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimiterConfig {
    /// Inactive answers a caller may get in a row before it is throttled.
    pub burst: u32,
    /// Inactive answers regained per minute.
    pub per_minute: u32,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self { burst: 20, per_minute: 60 }
    }
}

impl LimiterConfig {
    /// Milliseconds of "debt" one inactive answer costs (GCRA emission
    /// interval). A zero rate never refills.
    pub fn cost_ms(&self) -> u64 {
        if self.per_minute == 0 {
            u64::MAX / 4
        } else {
            60_000 / u64::from(self.per_minute)
        }
    }

    /// How far ahead of `now` the theoretical arrival time may run before the
    /// caller is throttled.
    pub fn tolerance_ms(&self) -> u64 {
        self.cost_ms().saturating_mul(u64::from(self.burst))
    }
}

/// Whether a caller may introspect now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// Go ahead.
    Allowed,
    /// Refuse with 429; try again after this many seconds.
    Throttled {
        /// Seconds to wait (`Retry-After`), at least 1.
        retry_after: u64,
    },
}

/// A per-caller limiter on inactive introspection results.
///
/// Implementations: [`MemoryLimiter`] (one process); a shared one (Redis)
/// lets several app instances throttle a caller together.
pub trait FishingLimiter: Send + Sync + 'static {
    /// In one atomic step: whether `caller` may introspect at `now`, and if
    /// so, one inactive answer charged in advance. Of any number of
    /// concurrent reservations by one caller, at most as many are
    /// [`Admission::Allowed`] as its bucket holds.
    ///
    /// # Errors
    /// [`StoreError`] when a shared limiter's backend fails; the core then
    /// fails closed (500, or 503 for [`StoreError::Unavailable`]).
    fn reserve(
        &self,
        caller: &ClientId,
        now: UnixTime,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send;

    /// Gives back an allowed reservation whose answer turned out active. It
    /// may take effect later (never sooner than the reservation), which
    /// over-charges the caller for a while (see the module docs for the one
    /// race where it gives back a little more).
    ///
    /// # Errors
    /// [`StoreError`] when a shared limiter's backend fails.
    fn refund(&self, caller: &ClientId, now: UnixTime)
        -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The GCRA decision, shared by every limiter implementation so they agree
/// to the millisecond: given the caller's theoretical arrival time `tat_ms`
/// (0 when unseen), is it admitted at `now_ms`?
pub fn gcra_admission(cfg: &LimiterConfig, tat_ms: u64, now_ms: u64) -> Admission {
    let tat = tat_ms.max(now_ms);
    // Throttled once the debt reaches the whole burst: the next inactive
    // answer would exceed it.
    if tat - now_ms + cfg.cost_ms() > cfg.tolerance_ms() {
        let wait_ms = tat - now_ms + cfg.cost_ms() - cfg.tolerance_ms();
        Admission::Throttled { retry_after: wait_ms.div_ceil(1000).max(1) }
    } else {
        Admission::Allowed
    }
}

/// The theoretical arrival time after charging one inactive answer.
pub fn gcra_charge(cfg: &LimiterConfig, tat_ms: u64, now_ms: u64) -> u64 {
    tat_ms.max(now_ms).saturating_add(cfg.cost_ms())
}

/// A reservation: the admission at `now_ms` and the theoretical arrival time
/// after it (charged when allowed, unchanged when throttled).
pub fn gcra_reserve(cfg: &LimiterConfig, tat_ms: u64, now_ms: u64) -> (Admission, u64) {
    match gcra_admission(cfg, tat_ms, now_ms) {
        Admission::Allowed => (Admission::Allowed, gcra_charge(cfg, tat_ms, now_ms)),
        throttled => (throttled, tat_ms),
    }
}

/// The theoretical arrival time after `n` refunds. A TAT at or before `now`
/// decides like any other in the past, so the subtraction may go below it.
pub fn gcra_refund(cfg: &LimiterConfig, tat_ms: u64, n: u64) -> u64 {
    tat_ms.saturating_sub(cfg.cost_ms().saturating_mul(n))
}

/// An in-process limiter. Its table holds one entry per resource server
/// that has received an inactive answer: it is bounded by the number of
/// registered resource servers, since only authenticated callers reach it.
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    cfg: LimiterConfig,
    tat: Mutex<HashMap<ClientId, u64, IdHashing>>,
}

impl MemoryLimiter {
    /// A limiter with these settings.
    pub fn new(cfg: LimiterConfig) -> Self {
        Self { cfg, tat: Mutex::new(HashMap::default()) }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<ClientId, u64, IdHashing>> {
        // A poisoned lock only means another thread panicked mid-update of
        // a plain integer; the map is still usable.
        self.tat.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn reserve_now(&self, caller: &ClientId, now: UnixTime) -> Admission {
        let now_ms = now.0.saturating_mul(1000);
        // One lock hold for the decision and the charge: that is the atomicity.
        let mut map = self.table();
        if let Some(tat) = map.get_mut(caller) {
            let (admission, next) = gcra_reserve(&self.cfg, *tat, now_ms);
            *tat = next;
            return admission;
        }
        // Drop entries that have fully recovered, so the table stays small.
        if map.len() > 1024 {
            map.retain(|_, t| *t > now_ms);
        }
        let (admission, next) = gcra_reserve(&self.cfg, 0, now_ms);
        map.insert(caller.clone(), next);
        admission
    }

    fn refund_now(&self, caller: &ClientId) {
        if let Some(tat) = self.table().get_mut(caller) {
            *tat = gcra_refund(&self.cfg, *tat, 1);
        }
    }
}

impl FishingLimiter for MemoryLimiter {
    fn reserve(
        &self,
        caller: &ClientId,
        now: UnixTime,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send {
        std::future::ready(Ok(self.reserve_now(caller, now)))
    }

    fn refund(
        &self,
        caller: &ClientId,
        _now: UnixTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.refund_now(caller);
        std::future::ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        // The memory limiter's futures are always ready.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => unreachable!("memory limiter futures are ready"),
        }
    }

    #[test]
    fn burst_then_throttle_then_recover() {
        let l = MemoryLimiter::new(LimiterConfig { burst: 3, per_minute: 60 });
        let rs = ClientId::new("rs").unwrap();
        let t = UnixTime(1000);
        for _ in 0..3 {
            assert_eq!(block_on(l.reserve(&rs, t)).unwrap(), Admission::Allowed);
        }
        assert_eq!(block_on(l.reserve(&rs, t)).unwrap(), Admission::Throttled { retry_after: 1 });
        assert_eq!(block_on(l.reserve(&rs, t.plus(1))).unwrap(), Admission::Allowed);
    }

    #[test]
    fn a_throttled_reservation_charges_nothing() {
        let l = MemoryLimiter::new(LimiterConfig { burst: 1, per_minute: 60 });
        let rs = ClientId::new("rs").unwrap();
        assert_eq!(block_on(l.reserve(&rs, UnixTime(0))).unwrap(), Admission::Allowed);
        for _ in 0..10 {
            assert!(matches!(block_on(l.reserve(&rs, UnixTime(0))).unwrap(), Admission::Throttled { .. }));
        }
        // Refused attempts did not push recovery further out.
        assert_eq!(block_on(l.reserve(&rs, UnixTime(1))).unwrap(), Admission::Allowed);
    }

    #[test]
    fn refunds_give_back_reservations() {
        let l = MemoryLimiter::new(LimiterConfig { burst: 2, per_minute: 1 });
        let rs = ClientId::new("rs").unwrap();
        let t = UnixTime(0);
        for _ in 0..100 {
            assert_eq!(block_on(l.reserve(&rs, t)).unwrap(), Admission::Allowed);
            block_on(l.refund(&rs, t)).unwrap();
        }
        assert_eq!(block_on(l.reserve(&rs, t)).unwrap(), Admission::Allowed);
        assert_eq!(block_on(l.reserve(&rs, t)).unwrap(), Admission::Allowed);
        assert!(matches!(block_on(l.reserve(&rs, t)).unwrap(), Admission::Throttled { .. }));
    }

    #[test]
    fn callers_are_independent() {
        let l = MemoryLimiter::new(LimiterConfig { burst: 1, per_minute: 1 });
        let a = ClientId::new("a").unwrap();
        let b = ClientId::new("b").unwrap();
        assert_eq!(block_on(l.reserve(&a, UnixTime(0))).unwrap(), Admission::Allowed);
        assert!(matches!(
            block_on(l.reserve(&a, UnixTime(0))).unwrap(),
            Admission::Throttled { retry_after: 60 }
        ));
        assert_eq!(block_on(l.reserve(&b, UnixTime(0))).unwrap(), Admission::Allowed);
    }

    #[test]
    fn zero_rate_never_refills() {
        let cfg = LimiterConfig { burst: 1, per_minute: 0 };
        let tat = gcra_charge(&cfg, 0, 0);
        assert!(matches!(gcra_admission(&cfg, tat, 10_000_000), Admission::Throttled { .. }));
    }
}
