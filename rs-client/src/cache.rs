//! The bounded answer cache: [`CacheConfig`], how long an answer may be
//! reused (`lifetime`), and the map that holds answers within an entry and
//! a byte bound (`Entries`). No I/O and no locks here; the single-flight
//! wrapper ([`crate::CachedClient`]) owns both.

use std::collections::{BTreeSet, HashMap};
use std::mem::size_of;
use std::sync::Arc;
use std::time::Duration;

use crate::answer::{Claims, Introspection};
use crate::digest::TokenKey;

/// How long answers are reused, and how much memory they may take.
///
/// A cached answer is what the resource server believes without asking:
/// a token revoked at the authorization server is still accepted here
/// until its cached answer runs out. [`CacheConfig::max_age`] is that
/// window for active answers, [`CacheConfig::negative_ttl`] for inactive
/// ones (see the README, "Staleness").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Longest reuse of an active answer; never past the token's `exp`.
    /// Zero: active answers are not cached. Default 30 s.
    pub max_age: Duration,
    /// Reuse of an inactive answer. Zero (the default): not cached, so a
    /// token is refused only as long as the server says so.
    pub negative_ttl: Duration,
    /// Most answers held. Default 10 000.
    pub max_entries: usize,
    /// Most memory held by answers, estimated per entry (the entry, its
    /// index slot and its claims' strings). Default 16 MiB.
    pub max_bytes: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(30),
            negative_ttl: Duration::ZERO,
            max_entries: 10_000,
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

impl CacheConfig {
    /// Caches nothing: every request introspects (concurrent requests for
    /// the same token still share one call).
    pub fn off() -> Self {
        Self { max_age: Duration::ZERO, negative_ttl: Duration::ZERO, ..Self::default() }
    }

    /// With this [`CacheConfig::max_age`].
    #[must_use]
    pub fn with_max_age(self, max_age: Duration) -> Self {
        Self { max_age, ..self }
    }

    /// With this [`CacheConfig::negative_ttl`].
    #[must_use]
    pub fn with_negative_ttl(self, negative_ttl: Duration) -> Self {
        Self { negative_ttl, ..self }
    }

    /// With this [`CacheConfig::max_entries`].
    #[must_use]
    pub fn with_max_entries(self, max_entries: usize) -> Self {
        Self { max_entries, ..self }
    }

    /// With this [`CacheConfig::max_bytes`].
    #[must_use]
    pub fn with_max_bytes(self, max_bytes: usize) -> Self {
        Self { max_bytes, ..self }
    }
}

/// Until when (since the epoch) `answer`, received at `now`, may be reused;
/// `None`: not at all.
///
/// Active: `now + max_age`, but never past `exp` (RFC 7662 §4: a cached
/// answer must not outlive the token); without `exp`, `now + max_age`.
/// Inactive: `now + negative_ttl`.
pub(crate) fn lifetime(answer: &Introspection, now: Duration, config: &CacheConfig) -> Option<Duration> {
    let until = match answer {
        Introspection::Active(claims) => {
            let by_age = now.saturating_add(config.max_age);
            claims.exp.map_or(by_age, |exp| by_age.min(Duration::from_secs(exp)))
        }
        Introspection::Inactive => now.saturating_add(config.negative_ttl),
    };
    (until > now).then_some(until)
}

/// What one entry costs besides its claims' heap: the entry, the map's key
/// and slot, the expiry index's element, the answer's boxes.
const ENTRY_OVERHEAD: usize = size_of::<Entry>()
    + size_of::<TokenKey>()
    + 2 * size_of::<(Duration, u64, TokenKey)>()
    + size_of::<Introspection>()
    + size_of::<Claims>()
    + 2 * size_of::<usize>();

/// The estimated memory of one cached answer.
fn entry_bytes(answer: &Introspection) -> usize {
    ENTRY_OVERHEAD + answer.claims().map_or(0, Claims::heap_bytes)
}

struct Entry {
    answer: Arc<Introspection>,
    stored_at: Duration,
    expires_at: Duration,
    seq: u64,
    bytes: usize,
}

/// Cached answers by token digest, bounded by [`CacheConfig::max_entries`]
/// and [`CacheConfig::max_bytes`].
///
/// Eviction: when an answer needs room, the entries that expire soonest go
/// first, which takes the already-expired ones before any live one and
/// throws away the least remaining reuse. Reads don't reorder anything, so
/// a hit costs one map lookup. An answer larger than the whole byte bound
/// is not cached.
///
/// Each entry keeps the whole answer (`jti`, `sub`, `client_id`, a grant id
/// among the extra members), so that a revocation event can later drop the
/// matching entries (issue 13, item 3).
#[derive(Default)]
pub(crate) struct Entries {
    map: HashMap<TokenKey, Entry>,
    /// (expires_at, seq, key): eviction order; `seq` makes each unique.
    by_expiry: BTreeSet<(Duration, u64, TokenKey)>,
    bytes: usize,
    next_seq: u64,
}

impl Entries {
    /// The answer for `key` if it may still be reused at `now`. A stale
    /// entry is dropped. An entry stored "after" `now` (the wall clock went
    /// back) is stale too: otherwise a clock set back by an hour would
    /// stretch every max-age by an hour.
    pub(crate) fn fresh(&mut self, key: &TokenKey, now: Duration) -> Option<Arc<Introspection>> {
        let e = self.map.get(key)?;
        if e.stored_at <= now && now < e.expires_at {
            return Some(Arc::clone(&e.answer));
        }
        self.remove(key);
        None
    }

    /// Stores `answer`, received at `now`, for its [`lifetime`], evicting
    /// as needed; stores nothing if it may not be reused or cannot fit.
    pub(crate) fn insert(
        &mut self,
        key: TokenKey,
        answer: Arc<Introspection>,
        now: Duration,
        config: &CacheConfig,
    ) {
        self.remove(&key);
        let Some(expires_at) = lifetime(&answer, now, config) else { return };
        let bytes = entry_bytes(&answer);
        if bytes > config.max_bytes || config.max_entries == 0 {
            return;
        }
        while self.map.len() >= config.max_entries || self.bytes + bytes > config.max_bytes {
            if !self.evict_first() {
                break;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_expiry.insert((expires_at, seq, key));
        self.bytes += bytes;
        self.map.insert(key, Entry { answer, stored_at: now, expires_at, seq, bytes });
    }

    /// Drops every entry whose answer `drop` picks; returns how many.
    pub(crate) fn drop_matching(&mut self, drop: impl Fn(&Introspection) -> bool) -> usize {
        let keys: Vec<TokenKey> = self.map.iter().filter(|(_, e)| drop(&e.answer)).map(|(k, _)| *k).collect();
        for k in &keys {
            self.remove(k);
        }
        keys.len()
    }

    /// Drops every entry.
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.by_expiry.clear();
        self.bytes = 0;
    }

    /// Drops the entry for `key`, if any.
    pub(crate) fn remove(&mut self, key: &TokenKey) {
        if let Some(e) = self.map.remove(key) {
            self.by_expiry.remove(&(e.expires_at, e.seq, *key));
            self.bytes -= e.bytes;
        }
    }

    /// Drops the entry that expires soonest; false when empty.
    fn evict_first(&mut self) -> bool {
        match self.by_expiry.pop_first() {
            Some((_, _, key)) => {
                if let Some(e) = self.map.remove(&key) {
                    self.bytes -= e.bytes;
                }
                true
            }
            None => false,
        }
    }

    /// How many answers are held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Their estimated memory.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::from_secs(1_000_000);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn active(exp: Option<u64>) -> Introspection {
        Introspection::Active(Box::new(Claims { exp, ..Claims::default() }))
    }

    fn config(max_age: u64, negative: u64) -> CacheConfig {
        CacheConfig { max_age: secs(max_age), negative_ttl: secs(negative), ..CacheConfig::default() }
    }

    #[test]
    fn active_lives_max_age_but_never_past_exp() {
        let c = config(30, 0);
        assert_eq!(lifetime(&active(None), NOW, &c), Some(NOW + secs(30)), "no exp: max_age");
        assert_eq!(lifetime(&active(Some(1_000_100)), NOW, &c), Some(NOW + secs(30)));
        assert_eq!(lifetime(&active(Some(1_000_010)), NOW, &c), Some(NOW + secs(10)), "exp first");
        assert_eq!(lifetime(&active(Some(1_000_000)), NOW, &c), None, "expires now");
        assert_eq!(lifetime(&active(Some(5)), NOW, &c), None, "already expired");
        assert_eq!(lifetime(&active(None), NOW, &config(0, 60)), None, "max_age 0");
    }

    #[test]
    fn inactive_lives_the_negative_ttl_if_any() {
        assert_eq!(lifetime(&Introspection::Inactive, NOW, &config(30, 0)), None);
        assert_eq!(lifetime(&Introspection::Inactive, NOW, &config(30, 5)), Some(NOW + secs(5)));
    }

    fn key(i: u32) -> TokenKey {
        TokenKey::of(&format!("token-{i}"))
    }

    #[test]
    fn fresh_until_expiry_then_dropped() {
        let mut e = Entries::default();
        let c = config(30, 0);
        e.insert(key(1), Arc::new(active(None)), NOW, &c);
        assert!(e.fresh(&key(1), NOW).is_some());
        assert!(e.fresh(&key(1), NOW + secs(29)).is_some());
        assert!(e.fresh(&key(1), NOW + secs(30)).is_none());
        assert_eq!((e.len(), e.bytes()), (0, 0), "the stale entry is gone");
    }

    #[test]
    fn clock_going_back_makes_entries_stale() {
        let mut e = Entries::default();
        e.insert(key(1), Arc::new(active(None)), NOW, &config(30, 0));
        assert!(e.fresh(&key(1), NOW - secs(1)).is_none());
    }

    #[test]
    fn a_newer_uncacheable_answer_replaces_the_cached_one() {
        let mut e = Entries::default();
        e.insert(key(1), Arc::new(active(None)), NOW, &config(30, 0));
        e.insert(key(1), Arc::new(Introspection::Inactive), NOW, &config(30, 0));
        assert!(e.fresh(&key(1), NOW).is_none(), "the newer inactive answer replaced the active one");
        assert_eq!(e.len(), 0);
    }

    #[test]
    fn entry_bound_evicts_the_soonest_to_expire() {
        let mut e = Entries::default();
        let c = CacheConfig { max_entries: 3, ..config(100, 0) };
        e.insert(key(1), Arc::new(active(Some(1_000_050))), NOW, &c);
        e.insert(key(2), Arc::new(active(Some(1_000_010))), NOW, &c);
        e.insert(key(3), Arc::new(active(None)), NOW, &c);
        e.insert(key(4), Arc::new(active(None)), NOW, &c);
        assert_eq!(e.len(), 3);
        assert!(e.fresh(&key(2), NOW).is_none(), "2 expired soonest");
        e.insert(key(5), Arc::new(active(None)), NOW, &c);
        assert!(e.fresh(&key(1), NOW).is_none(), "then 1");
        for k in [3, 4, 5] {
            assert!(e.fresh(&key(k), NOW).is_some(), "{k}");
        }
    }

    #[test]
    fn expired_entries_go_before_live_ones() {
        let mut e = Entries::default();
        let c = CacheConfig { max_entries: 2, ..config(100, 0) };
        e.insert(key(1), Arc::new(active(None)), NOW, &c);
        e.insert(key(2), Arc::new(active(Some(1_000_001))), NOW, &c);
        let later = NOW + secs(5);
        e.insert(key(3), Arc::new(active(None)), later, &c);
        assert!(e.fresh(&key(1), later).is_some());
        assert!(e.fresh(&key(3), later).is_some());
    }

    fn big(n: usize) -> Introspection {
        Introspection::Active(Box::new(Claims { sub: Some("x".repeat(n)), ..Claims::default() }))
    }

    #[test]
    fn byte_bound_holds_and_oversized_answers_are_not_cached() {
        let mut e = Entries::default();
        let one = entry_bytes(&big(1000));
        let c = CacheConfig { max_bytes: 3 * one, ..config(100, 0) };
        for i in 0..10 {
            e.insert(key(i), Arc::new(big(1000)), NOW + secs(u64::from(i)), &c);
            assert!(e.bytes() <= c.max_bytes);
        }
        assert_eq!(e.len(), 3);
        assert_eq!(e.bytes(), 3 * one);
        for i in 7..10 {
            assert!(e.fresh(&key(i), NOW + secs(10)).is_some(), "the latest to expire are kept: {i}");
        }
        e.insert(key(99), Arc::new(big(4 * one)), NOW + secs(10), &c);
        assert!(e.fresh(&key(99), NOW + secs(10)).is_none());
        assert_eq!(e.len(), 3, "an oversized answer evicts nothing");
    }

    #[test]
    fn bytes_count_down_on_replace_and_remove() {
        let mut e = Entries::default();
        let c = config(100, 0);
        e.insert(key(1), Arc::new(big(500)), NOW, &c);
        e.insert(key(1), Arc::new(big(10)), NOW, &c);
        assert_eq!((e.len(), e.bytes()), (1, entry_bytes(&big(10))));
        e.remove(&key(1));
        assert_eq!((e.len(), e.bytes(), e.by_expiry.len()), (0, 0, 0));
    }
}
