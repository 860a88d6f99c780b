//! Time as the protocol sees it: whole seconds since the Unix epoch, read
//! from an injectable [`Clock`] so that tests never sleep.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Seconds since 1970-01-01T00:00:00Z, as used by `exp`, `iat` and `nbf`
/// (RFC 7662 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// `self + secs`, saturating instead of overflowing.
    #[must_use]
    pub fn plus(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// `self - secs`, saturating at the epoch.
    #[must_use]
    pub fn minus(self, secs: u64) -> Self {
        Self(self.0.saturating_sub(secs))
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> UnixTime;

    /// The current time in milliseconds since the epoch, for what needs
    /// finer order than the protocol's seconds: new grant ids start with it
    /// so that a store's inserts land next to each other
    /// ([`GrantId::time_ordered`](crate::model::GrantId::time_ordered)).
    /// `now_millis() / 1000` must be what [`now`](Self::now) would answer;
    /// the default, `now() × 1000`, is.
    fn now_millis(&self) -> u64 {
        self.now().0.saturating_mul(1000)
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    fn since_epoch() -> std::time::Duration {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            // A clock before 1970 is a broken clock; the epoch makes every
            // token look not-yet-valid or expired rather than eternal.
            .unwrap_or_default()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime(Self::since_epoch().as_secs())
    }

    fn now_millis(&self) -> u64 {
        u64::try_from(Self::since_epoch().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock that reads `start` until advanced.
    pub fn new(start: UnixTime) -> Self {
        Self { now: Arc::new(AtomicU64::new(start.0)) }
    }

    /// Moves the clock forward by `secs` (every clone sees it).
    pub fn advance(&self, secs: u64) {
        self.now.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sets the clock to `t` (every clone sees it).
    pub fn set(&self, t: UnixTime) {
        self.now.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.now.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(UnixTime(100));
        let c2 = c.clone();
        assert_eq!(c.now(), UnixTime(100));
        c.advance(5);
        assert_eq!(c2.now(), UnixTime(105));
        c2.set(UnixTime(7));
        assert_eq!(c.now(), UnixTime(7));
    }

    #[test]
    fn millis_agree_with_seconds() {
        let manual = ManualClock::new(UnixTime(1_700_000_000));
        assert_eq!(manual.now_millis(), 1_700_000_000_000);
        let before = SystemClock.now();
        let millis = SystemClock.now_millis();
        let after = SystemClock.now();
        assert!((before.0..=after.0).contains(&(millis / 1000)), "{before:?} {millis} {after:?}");
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(UnixTime(u64::MAX).plus(1), UnixTime(u64::MAX));
        assert_eq!(UnixTime(1).minus(2), UnixTime(0));
    }
}
