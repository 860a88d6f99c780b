//! Time for the cache: an injectable [`Clock`], so that tests move time
//! instead of sleeping.
//!
//! Not gatehouse-core's `Clock`: this crate works against any authorization
//! server and does not depend on the core, and the cache needs finer than
//! whole seconds (a max-age of 500 ms).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current wall-clock time, as a duration since the Unix
/// epoch (the time base of `exp`).
pub trait Clock: Send + Sync + 'static {
    /// The time now.
    fn now(&self) -> Duration;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        // A clock before 1970 reads as the epoch: cached answers then
        // expire rather than live on (see the cache's backwards check).
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
    }
}

/// A clock that moves only when told to, for tests. Clones share the time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `now` (since the epoch), to the millisecond.
    pub fn new(now: Duration) -> Self {
        let c = Self::default();
        c.set(now);
        c
    }

    /// Sets the time, to the millisecond; it may go backwards.
    pub fn set(&self, now: Duration) {
        self.0.store(u64::try_from(now.as_millis()).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Moves the time forward by `by`, to the millisecond.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let _ = self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| Some(t.saturating_add(by)));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_when_told_and_clones_share_it() {
        let c = ManualClock::new(Duration::from_secs(100));
        let d = c.clone();
        c.advance(Duration::from_millis(1500));
        assert_eq!(d.now(), Duration::from_millis(101_500));
        d.set(Duration::from_secs(5));
        assert_eq!(c.now(), Duration::from_secs(5));
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now() > Duration::from_secs(1_577_836_800));
    }
}
