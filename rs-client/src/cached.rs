//! [`CachedClient`]: the bounded cache in front of an [`Introspect`], with
//! single flight: concurrent requests for the same uncached token share
//! one introspection call.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::answer::Introspection;
use crate::cache::{CacheConfig, Entries};
use crate::client::Introspect;
use crate::clock::{Clock, SystemClock};
use crate::digest::TokenKey;
use crate::error::Error;
use crate::revocation::Revocation;

/// One introspection call in progress, and its outcome once known: the
/// requests that wait on it all get the same answer or the same error.
type Flight = OnceCell<Result<Arc<Introspection>, Error>>;

#[derive(Default)]
struct State {
    entries: Entries,
    flights: HashMap<TokenKey, Arc<Flight>>,
    /// Bumped by every revocation and flush: an answer whose request was
    /// sent before one is not stored after it (it may predate the
    /// revocation).
    epoch: u64,
    /// When the revocation feed was last heard from, if ever.
    last_heard: Option<Duration>,
}

/// An [`Introspect`] (usually the HTTP [`crate::IntrospectionClient`])
/// behind a bounded cache keyed by a digest of the token (see
/// [`CacheConfig`] for what is cached how long, and the README for the
/// staleness it allows). Share it in an `Arc`.
///
/// Errors are never cached: the next request asks again.
pub struct CachedClient<I, C = SystemClock> {
    inner: I,
    clock: C,
    config: CacheConfig,
    /// With a revocation feed: answers are reused only while it was heard
    /// from within this time (see [`CachedClient::with_lease`]).
    lease: Option<Duration>,
    /// Never held across an `.await`.
    state: Mutex<State>,
}

/// How full the cache is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Answers held (some may have expired and not been dropped yet).
    pub entries: usize,
    /// Their estimated memory.
    pub bytes: usize,
    /// Introspection calls in progress.
    pub in_flight: usize,
}

impl<I, C> fmt::Debug for CachedClient<I, C> {
    /// The settings and sizes only: no keys, no answers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("CachedClient")
            .field("config", &self.config)
            .field("entries", &state.entries.len())
            .field("bytes", &state.entries.bytes())
            .finish_non_exhaustive()
    }
}

impl<I: Introspect> CachedClient<I> {
    /// `inner` behind a cache with these settings, on the system clock.
    pub fn new(inner: I, config: CacheConfig) -> Self {
        Self::with_clock(inner, config, SystemClock)
    }
}

impl<I: Introspect, C: Clock> CachedClient<I, C> {
    /// Like [`CachedClient::new`], reading the time from `clock`.
    pub fn with_clock(inner: I, config: CacheConfig, clock: C) -> Self {
        Self { inner, clock, config, lease: None, state: Mutex::default() }
    }

    /// Makes the cache a lease on a revocation feed ([`crate::EventStream`]):
    /// cached answers are used only while the feed was heard from (an
    /// event or a heartbeat, [`CachedClient::heard`]) within `lease`;
    /// otherwise, and before it was ever heard from, every request
    /// introspects, so a lost feed never extends a revoked token's life.
    /// Take `lease` longer than the feed's heartbeat (its long-poll wait)
    /// plus a round trip.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Records that the revocation feed answered now: renews the lease.
    pub fn heard(&self) {
        let now = self.clock.now();
        lock(&self.state).last_heard = Some(now);
    }

    /// Whether cached answers may be used now: always without a lease;
    /// with one, while the feed was heard from within it.
    pub fn lease_held(&self) -> bool {
        let last = lock(&self.state).last_heard;
        self.lease_held_at(last, self.clock.now())
    }

    fn lease_held_at(&self, last_heard: Option<Duration>, now: Duration) -> bool {
        match (self.lease, last_heard) {
            (None, _) => true,
            (Some(_), None) => false,
            // A clock set back before the last contact ends the lease too.
            (Some(lease), Some(t)) => t <= now && now.saturating_sub(t) < lease,
        }
    }

    /// Drops every cached answer `revocation` names, at once; an answer
    /// in flight when it arrives is returned but not stored. Returns how
    /// many were dropped.
    pub fn forget(&self, revocation: &Revocation) -> usize {
        let mut state = lock(&self.state);
        state.epoch += 1;
        state.entries.drop_matching(|a| revocation.matches(a))
    }

    /// Drops every cached answer (the feed may have lost events).
    pub fn flush(&self) {
        let mut state = lock(&self.state);
        state.epoch += 1;
        state.entries.clear();
    }

    /// The wrapped client.
    pub fn inner(&self) -> &I {
        &self.inner
    }

    /// What the authorization server says about `token`: a cached answer
    /// while it may be reused, else the answer of one call shared with
    /// every concurrent request for the same token.
    ///
    /// # Errors
    /// [`Error`] from the call (the same one for every request that waited
    /// on it). Never to be read as "active".
    pub async fn introspect(&self, token: &str) -> Result<Arc<Introspection>, Error> {
        let key = TokenKey::of(token);
        let flight = {
            let mut state = lock(&self.state);
            let now = self.clock.now();
            if self.lease_held_at(state.last_heard, now) {
                if let Some(answer) = state.entries.fresh(&key, now) {
                    return Ok(answer);
                }
            }
            Arc::clone(state.flights.entry(key).or_default())
        };
        let _leave = Leave { state: &self.state, key, flight: &flight };
        // Whoever polls first runs `fly`; if it is cancelled, a waiter runs
        // it instead (OnceCell's guarantee).
        flight.get_or_init(|| self.fly(key, token, &flight)).await.clone()
    }

    /// The one call of a flight. Stores the answer and ends the flight in
    /// one step under the lock, so a request arriving meanwhile finds one
    /// or the other.
    async fn fly(
        &self,
        key: TokenKey,
        token: &str,
        flight: &Arc<Flight>,
    ) -> Result<Arc<Introspection>, Error> {
        // The answer is as old as the request: count its reuse from here.
        let sent_at = self.clock.now();
        let epoch = lock(&self.state).epoch;
        let result = self.inner.introspect(token).await.map(Arc::new);
        let mut state = lock(&self.state);
        if let (Ok(answer), true) = (&result, state.epoch == epoch) {
            state.entries.insert(key, Arc::clone(answer), sent_at, &self.config);
        }
        if state.flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            state.flights.remove(&key);
        }
        result
    }

    /// How full the cache is.
    pub fn stats(&self) -> CacheStats {
        let state = lock(&self.state);
        CacheStats {
            entries: state.entries.len(),
            bytes: state.entries.bytes(),
            in_flight: state.flights.len(),
        }
    }
}

/// The lock, even if a thread panicked holding it: [`Entries::fresh`]
/// checks each entry's own times, so a half-done update can cost a cache
/// slot but never make a stale answer fresh.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Drops a flight nobody waits on any more (every request for it was
/// cancelled before the call finished), so abandoned flights cannot pile
/// up. While another request still waits, the flight stays for it.
struct Leave<'a> {
    state: &'a Mutex<State>,
    key: TokenKey,
    flight: &'a Arc<Flight>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut state = lock(self.state);
        // The map's reference and ours: nobody else holds it. Others only
        // clone it under this lock, so the count cannot grow meanwhile.
        let alone = Arc::strong_count(self.flight) <= 2;
        if alone && state.flights.get(&self.key).is_some_and(|f| Arc::ptr_eq(f, self.flight)) {
            state.flights.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests;
