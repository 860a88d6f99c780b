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
//! at most one inactive answer per such race, and only for a caller whose
//! own answers were active.
//!
//! # Admission and lookup in one step
//! A limiter that keeps its state beside the token records (the Redis one
//! on a single server) may instead decide and read together
//! ([`FishingLimiter::reserve_and_get`]): a caller that is not throttled
//! and presents a token whose record *looks live* (active, an access
//! token, not expired) is answered without a charge, which is a
//! reservation and its refund in one atomic step: no refund to send, and
//! a valid token never holds a slot of the bucket while in flight. Any
//! other record (or none) is charged in that same step, as a reservation.
//!
//! The core may still judge a live-looking record inactive (its client is
//! disabled or gone, its audience is not the caller's, it is not valid
//! yet). It then reserves before answering, one round trip later, and a
//! throttled reservation there is a 429 like any other. Why that gives a
//! fisher nothing: every guessed or forged token fails its tag check and
//! is charged before anything is read; every tagged token that is not
//! stored, not active or expired is charged atomically with its read. Only
//! a live token this server issued takes the later reservation, so the
//! most a caller can learn there (from the extra round trip, whether the
//! reservation is refused or not) is that a token it already holds is
//! live but not for it, which presenting the token where it is valid tells
//! it anyway. And every inactive answer still comes from an allowed
//! reservation, so the count of inactive answers stays within the bucket.
//!
//! The limiter is keyed by the authenticated caller, so one noisy resource
//! server never throttles another, and an unauthenticated party never
//! reaches it at all.
//!
//! # Arithmetic
//! This is GCRA, in integers and exactly, for every `(burst, per_minute)`
//! in `u32 × u32`. A caller's state ([`GcraState`]) is its *debt* as of a
//! second, counted in sixtieths of an inactive answer: an answer costs
//! [`ANSWER_COST`] (60), each second pays back `per_minute`, and a caller
//! may owe at most `60 × burst` ([`LimiterConfig::capacity`]). Since the
//! core's clock counts whole seconds, no rate rounds: 7 a minute is one
//! answer every 60/7 s, and 60001 a minute is 1000 and 1/60 answers a
//! second. A debt is below `60 × 2^32 < 2^38`, so it also stays exact as a
//! Lua number (a double) in the Redis limiter.
//!
//! The state is "debt at second `at`" rather than GCRA's single absolute
//! theoretical arrival time because an absolute time in a unit in which
//! every rate's cost is whole (1/`per_minute` s) needs up to 96 bits.
//!
//! **A rate of 0** never refills: each caller gets `burst` inactive answers
//! in total (refunds still give back what active answers took) for as long
//! as the limiter keeps its state: the process's lifetime for
//! [`MemoryLimiter`]; a shared limiter keeps it without expiry (in Redis,
//! until the key is deleted). Its throttled answers say
//! `Retry-After: 86400` ([`MAX_RETRY_AFTER`]), since waiting will not help.
//!
//! **Clocks.** A caller's `at` never moves back: a reservation stamped
//! before the caller's last charge (the clock stepped back, or an instance
//! whose clock lags another's on a shared limiter) is judged as of that
//! charge, with nothing refilled, and its `Retry-After` adds the lag.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::{ClientId, IdHashing, TokenDigest, TokenRecord};
use crate::store::{StoreError, TokenStore};
use crate::time::UnixTime;

/// Debt one inactive answer costs, in the unit that each second of refill
/// pays back `per_minute` of: one sixtieth of an answer.
pub const ANSWER_COST: u64 = 60;

/// The longest `Retry-After` (seconds) a throttled caller is given: the
/// answer of a limiter that never refills (rate 0), and the cap for a
/// caller whose state is stamped far ahead of the asking instance's clock.
pub const MAX_RETRY_AFTER: u64 = 86_400;

/// Limiter settings. Every value is supported; see the [module
/// docs](self) for what a rate of 0 means, and
/// [`validate`](Self::validate) for the one setting a server should refuse.
///
/// Strict like [`Config`](crate::Config): an unknown field is an error, so
/// a misspelt setting is never silently left at its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimiterConfig {
    /// Inactive answers a caller may get in a row before it is throttled.
    pub burst: u32,
    /// Inactive answers regained per minute (0: never).
    pub per_minute: u32,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self { burst: 20, per_minute: 60 }
    }
}

impl LimiterConfig {
    /// The most debt a caller may hold: `burst` answers of [`ANSWER_COST`].
    /// Below 2^38, so it never overflows and is exact as a double.
    pub fn capacity(&self) -> u64 {
        ANSWER_COST * u64::from(self.burst)
    }

    /// Debt paid back per second: `per_minute` sixtieths of an answer.
    pub fn refill_per_second(&self) -> u64 {
        u64::from(self.per_minute)
    }

    /// Checks that these settings make a working limiter. Configuration
    /// loading should call it (`Config`'s validation, and through it the
    /// example's settings).
    ///
    /// # Errors
    /// [`Error::Config`] when `burst` is 0: every introspection would be
    /// throttled, valid tokens included.
    pub fn validate(&self) -> Result<(), Error> {
        if self.burst == 0 {
            return Err(Error::Config(
                "`limiter.burst` must be at least 1: with 0 every introspection is refused with 429, \
                 valid tokens included"
                    .to_owned(),
            ));
        }
        Ok(())
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
        /// Seconds to wait (`Retry-After`), from 1 to [`MAX_RETRY_AFTER`].
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

    /// An introspection's admission and its token's lookup in one atomic
    /// step, for a limiter that keeps its state beside `store`'s records
    /// (one Redis server): `None` when it cannot (the default), and the
    /// core then [reserves](Self::reserve), looks up and
    /// [refunds](Self::refund) as usual.
    ///
    /// At one instant, with `now` the request's time and `skew` the clock
    /// skew the core allows, it decides as follows, and returns the record
    /// as [`TokenStore::get`] would at that instant:
    /// - the caller is throttled (a reservation would be refused): nothing
    ///   is read or charged: [`Reserved::Throttled`];
    /// - otherwise, when the record *looks live*: stored, `Active`, an
    ///   access token, not expired by `now` allowing `skew`: nothing is
    ///   charged: [`Reserved::Uncharged`];
    /// - otherwise one inactive answer is charged, exactly as
    ///   [`reserve`](Self::reserve) charges: [`Reserved::Charged`].
    ///
    /// Which records look live is only a guess at the core's verdict: the
    /// core settles any mismatch ([`settlement`]): an uncharged record it
    /// judges inactive is charged by a reservation before the answer (and
    /// throttled there like any reservation), a charged one it judges
    /// active is refunded. So every inactive answer is still reserved
    /// before it is given, and a throttled caller gets 429 whatever the
    /// token: the throttle check comes first in every branch.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails or the record does not
    /// decode; the core then fails closed.
    fn reserve_and_get<'a, S: TokenStore>(
        &'a self,
        store: &'a S,
        caller: &'a ClientId,
        digest: &'a TokenDigest,
        now: UnixTime,
        skew: u64,
    ) -> Option<impl Future<Output = Result<Reserved, StoreError>> + Send + 'a> {
        let _ = (store, caller, digest, now, skew);
        None::<std::future::Ready<Result<Reserved, StoreError>>>
    }
}

/// What [`FishingLimiter::reserve_and_get`] decided and read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reserved {
    /// The caller is throttled: refuse with 429, whatever the token.
    /// Nothing was charged and no record is given.
    Throttled {
        /// Seconds to wait (`Retry-After`), as [`Admission::Throttled`].
        retry_after: u64,
    },
    /// Admitted and charged one inactive answer, as an allowed
    /// [`reserve`](FishingLimiter::reserve): the record, if stored.
    Charged(Option<TokenRecord>),
    /// Admitted without a charge: the record looked live. The caller was
    /// not throttled at the instant it was read.
    Uncharged(TokenRecord),
}

/// What the limiter still owes an introspection once the core has judged
/// the record that [`FishingLimiter::reserve_and_get`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settlement {
    /// Nothing: the charge (or its absence) matches the answer.
    Settled,
    /// A charged answer came out active: refund it, as after a reservation.
    Refund,
    /// An uncharged record came out inactive: reserve before answering
    /// (and answer 429 if that reservation is throttled), so no inactive
    /// answer is ever given unreserved (see the module docs).
    Reserve,
}

/// The settlement of an introspection that was `charged` (or not) and
/// whose answer is `active` (or not).
pub(crate) fn settlement(charged: bool, active: bool) -> Settlement {
    match (charged, active) {
        (true, true) => Settlement::Refund,
        (false, false) => Settlement::Reserve,
        (true, false) | (false, true) => Settlement::Settled,
    }
}

/// One caller's GCRA state: its debt as of a second. The default (`at` 0,
/// no debt) is an unseen caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcraState {
    /// Unix seconds of the last charge (never moves back).
    pub at: u64,
    /// Debt at `at`, in sixtieths of an answer ([`ANSWER_COST`] each). At
    /// most the capacity after a charge; negative when refunds outran the
    /// refill, which counts as no debt (a bucket never holds more than
    /// `burst`).
    pub debt: i64,
}

/// The debt outstanding at `now` (never negative): the state's debt less
/// what has been paid back since `at`. A `now` before `at` refills nothing.
pub fn gcra_debt(cfg: &LimiterConfig, state: GcraState, now: u64) -> u64 {
    let Ok(debt) = u64::try_from(state.debt) else {
        return 0;
    };
    match now.saturating_sub(state.at).checked_mul(cfg.refill_per_second()) {
        Some(refill) => debt.saturating_sub(refill),
        // More than u64::MAX paid back covers any debt.
        None => 0,
    }
}

/// A reservation at `now` (unix seconds), the decision shared by every
/// limiter implementation so they agree exactly: the admission and the
/// state after it (charged one answer when allowed, unchanged when
/// throttled).
pub fn gcra_reserve(cfg: &LimiterConfig, state: GcraState, now: u64) -> (Admission, GcraState) {
    let after = gcra_debt(cfg, state, now).saturating_add(ANSWER_COST);
    let capacity = cfg.capacity();
    match i64::try_from(after) {
        // `after` fits: it is at most the capacity, below 2^38.
        Ok(debt) if after <= capacity => (Admission::Allowed, GcraState { at: state.at.max(now), debt }),
        _ => {
            let retry_after = gcra_retry_after(cfg, after - capacity, state.at.saturating_sub(now));
            (Admission::Throttled { retry_after }, state)
        }
    }
}

/// `Retry-After` for a caller whose next answer would exceed its capacity
/// by `excess` sixtieths of an answer, as of a state `behind` seconds ahead
/// of the asking clock: the seconds until enough is paid back, rounded up,
/// from 1 to [`MAX_RETRY_AFTER`] (which a rate of 0 always gets).
pub fn gcra_retry_after(cfg: &LimiterConfig, excess: u64, behind: u64) -> u64 {
    match cfg.refill_per_second() {
        0 => MAX_RETRY_AFTER,
        rate => behind.saturating_add(excess.div_ceil(rate)).clamp(1, MAX_RETRY_AFTER),
    }
}

/// The state after a refund of one answer. The debt may go below zero (see
/// [`GcraState::debt`]), as a shared limiter's late refund can.
pub fn gcra_refund(state: GcraState) -> GcraState {
    // ANSWER_COST is 60: the cast cannot truncate.
    GcraState { debt: state.debt.saturating_sub(ANSWER_COST as i64), ..state }
}

/// Whether a caller in `state` decides like an unseen one at `now`: no debt
/// left and no charge stamped after `now`.
pub fn gcra_recovered(cfg: &LimiterConfig, state: GcraState, now: u64) -> bool {
    state.at <= now && gcra_debt(cfg, state, now) == 0
}

/// An in-process limiter. Its table holds one entry per resource server
/// that has received an inactive answer: it is bounded by the number of
/// registered resource servers, since only authenticated callers reach it.
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    cfg: LimiterConfig,
    states: Mutex<HashMap<ClientId, GcraState, IdHashing>>,
}

impl MemoryLimiter {
    /// A limiter with these settings.
    pub fn new(cfg: LimiterConfig) -> Self {
        Self { cfg, states: Mutex::new(HashMap::default()) }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<ClientId, GcraState, IdHashing>> {
        // A poisoned lock only means another thread panicked mid-update of
        // two plain integers; the map is still usable.
        self.states.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn reserve_now(&self, caller: &ClientId, now: UnixTime) -> Admission {
        // One lock hold for the decision and the charge: that is the atomicity.
        let mut map = self.table();
        if let Some(state) = map.get_mut(caller) {
            let (admission, next) = gcra_reserve(&self.cfg, *state, now.0);
            *state = next;
            return admission;
        }
        // Drop entries that have fully recovered, so the table stays small.
        if map.len() > 1024 {
            map.retain(|_, state| !gcra_recovered(&self.cfg, *state, now.0));
        }
        let (admission, next) = gcra_reserve(&self.cfg, GcraState::default(), now.0);
        map.insert(caller.clone(), next);
        admission
    }

    fn refund_now(&self, caller: &ClientId) {
        if let Some(state) = self.table().get_mut(caller) {
            *state = gcra_refund(*state);
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

    /// Past 1024 entries a new caller sweeps the table: callers still in
    /// debt stay, those that have paid it all back go.
    #[test]
    fn the_sweep_keeps_every_caller_in_debt() {
        let l = MemoryLimiter::new(LimiterConfig { burst: 1, per_minute: 1 });
        let id = |i: u32| ClientId::new(&format!("rs-{i}")).unwrap();
        for i in 0..1100 {
            assert_eq!(block_on(l.reserve(&id(i), UnixTime(0))).unwrap(), Admission::Allowed);
        }
        // At 30 every caller still owes half an answer: nothing goes.
        assert_eq!(block_on(l.reserve(&id(5000), UnixTime(30))).unwrap(), Admission::Allowed);
        assert_eq!(l.table().len(), 1101);
        assert_eq!(
            block_on(l.reserve(&id(0), UnixTime(59))).unwrap(),
            Admission::Throttled { retry_after: 1 }
        );
        // At 60 the first 1100 have paid back; the one charged at 30 has not.
        assert_eq!(block_on(l.reserve(&id(5001), UnixTime(60))).unwrap(), Admission::Allowed);
        let mut left: Vec<_> = l.table().keys().map(|k| k.as_str().to_owned()).collect();
        left.sort();
        assert_eq!(left, ["rs-5000", "rs-5001"]);
        assert_eq!(
            block_on(l.reserve(&id(5000), UnixTime(60))).unwrap(),
            Admission::Throttled { retry_after: 30 }
        );
    }

    /// Only a charged active answer is refunded, and only an uncharged
    /// inactive one is reserved before it is given.
    #[test]
    fn settlement_refunds_active_and_charges_inactive() {
        assert_eq!(settlement(true, true), Settlement::Refund);
        assert_eq!(settlement(true, false), Settlement::Settled);
        assert_eq!(settlement(false, true), Settlement::Settled);
        assert_eq!(settlement(false, false), Settlement::Reserve);
    }

    #[test]
    fn zero_rate_never_refills() {
        let cfg = LimiterConfig { burst: 1, per_minute: 0 };
        let (first, state) = gcra_reserve(&cfg, GcraState::default(), 0);
        assert_eq!(first, Admission::Allowed);
        let (later, _) = gcra_reserve(&cfg, state, 10_000_000);
        assert_eq!(later, Admission::Throttled { retry_after: MAX_RETRY_AFTER });
    }
}
