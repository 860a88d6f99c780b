use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::*;
use crate::answer::Claims;
use crate::clock::ManualClock;

const NOW: Duration = Duration::from_secs(1_000_000);

/// A fake authorization server: counts calls, answers what it is told,
/// and, when gated, holds every call until the test lets it go.
struct Fake {
    calls: AtomicUsize,
    gate: Option<Semaphore>,
    answer: Mutex<Result<Introspection, Error>>,
}

impl Fake {
    fn new(answer: Result<Introspection, Error>) -> Arc<Self> {
        Arc::new(Self { calls: AtomicUsize::new(0), gate: None, answer: Mutex::new(answer) })
    }

    fn gated(answer: Result<Introspection, Error>) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            gate: Some(Semaphore::new(0)),
            answer: Mutex::new(answer),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn answer(&self, answer: Result<Introspection, Error>) {
        *self.answer.lock().unwrap() = answer;
    }
}

impl Introspect for Fake {
    async fn introspect(&self, _token: &str) -> Result<Introspection, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        self.answer.lock().unwrap().clone()
    }
}

fn active(exp: Option<u64>) -> Introspection {
    Introspection::Active(Box::new(Claims { exp, sub: Some("alice".into()), ..Claims::default() }))
}

fn config(max_age: u64, negative: u64) -> CacheConfig {
    CacheConfig {
        max_age: Duration::from_secs(max_age),
        negative_ttl: Duration::from_secs(negative),
        ..CacheConfig::default()
    }
}

fn cached(fake: &Arc<Fake>, config: CacheConfig) -> (Arc<CachedClient<Arc<Fake>, ManualClock>>, ManualClock) {
    let clock = ManualClock::new(NOW);
    (Arc::new(CachedClient::with_clock(Arc::clone(fake), config, clock.clone())), clock)
}

#[tokio::test]
async fn active_answer_is_reused_for_max_age_then_asked_again() {
    let fake = Fake::new(Ok(active(None)));
    let (c, clock) = cached(&fake, config(30, 0));
    assert!(c.introspect("t").await.unwrap().is_active());
    clock.advance(Duration::from_millis(29_999));
    assert!(c.introspect("t").await.unwrap().is_active());
    assert_eq!(fake.calls(), 1);
    // The server has revoked it meanwhile: seen once the max-age is over.
    fake.answer(Ok(Introspection::Inactive));
    clock.advance(Duration::from_millis(1));
    assert!(!c.introspect("t").await.unwrap().is_active());
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn active_answer_is_never_reused_past_exp() {
    let fake = Fake::new(Ok(active(Some(NOW.as_secs() + 10))));
    let (c, clock) = cached(&fake, config(30, 0));
    c.introspect("t").await.unwrap();
    clock.advance(Duration::from_millis(9_999));
    c.introspect("t").await.unwrap();
    assert_eq!(fake.calls(), 1);
    clock.advance(Duration::from_millis(1));
    c.introspect("t").await.unwrap();
    assert_eq!(fake.calls(), 2, "asked again at exp, not at max-age");
}

#[tokio::test]
async fn tokens_are_cached_apart() {
    let fake = Fake::new(Ok(active(None)));
    let (c, _) = cached(&fake, config(30, 0));
    c.introspect("a").await.unwrap();
    c.introspect("b").await.unwrap();
    c.introspect("a").await.unwrap();
    assert_eq!((fake.calls(), c.stats().entries), (2, 2));
}

#[tokio::test]
async fn inactive_is_not_cached_by_default() {
    let fake = Fake::new(Ok(Introspection::Inactive));
    let (c, _) = cached(&fake, CacheConfig::default());
    c.introspect("t").await.unwrap();
    c.introspect("t").await.unwrap();
    assert_eq!((fake.calls(), c.stats().entries), (2, 0));
}

#[tokio::test]
async fn inactive_is_cached_for_the_negative_ttl() {
    let fake = Fake::new(Ok(Introspection::Inactive));
    let (c, clock) = cached(&fake, config(30, 5));
    c.introspect("t").await.unwrap();
    clock.advance(Duration::from_millis(4_999));
    c.introspect("t").await.unwrap();
    assert_eq!(fake.calls(), 1);
    clock.advance(Duration::from_millis(1));
    c.introspect("t").await.unwrap();
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn cache_off_asks_every_time() {
    let fake = Fake::new(Ok(active(None)));
    let (c, _) = cached(&fake, CacheConfig::off());
    for _ in 0..3 {
        c.introspect("t").await.unwrap();
    }
    assert_eq!(fake.calls(), 3);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let fake = Fake::new(Err(Error::Status(503)));
    let (c, _) = cached(&fake, config(30, 30));
    assert_eq!(c.introspect("t").await.unwrap_err(), Error::Status(503));
    fake.answer(Ok(active(None)));
    assert!(c.introspect("t").await.unwrap().is_active());
    assert_eq!(fake.calls(), 2);
}

/// Spawns `n` requests for `token`, and returns once all of them wait on
/// the same flight (the map's reference plus one per request).
async fn spawn_waiting(
    c: &Arc<CachedClient<Arc<Fake>, ManualClock>>,
    token: &'static str,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<Arc<Introspection>, Error>>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let c = Arc::clone(c);
            tokio::spawn(async move { c.introspect(token).await })
        })
        .collect();
    let key = TokenKey::of(token);
    // On this one-thread runtime each yield lets every spawned task run
    // until it waits; a few rounds are plenty. Bounded, so that a broken
    // single flight fails here instead of hanging.
    for _ in 0..1000 {
        let waiting = lock(&c.state).flights.get(&key).map_or(0, Arc::strong_count);
        if waiting == n + 1 {
            return tasks;
        }
        tokio::task::yield_now().await;
    }
    panic!("the {n} requests never waited on one flight ({} calls)", c.inner().calls());
}

#[tokio::test]
async fn concurrent_requests_for_one_token_share_one_call() {
    let fake = Fake::gated(Ok(active(None)));
    let (c, _) = cached(&fake, config(30, 0));
    let tasks = spawn_waiting(&c, "t", 20).await;
    assert_eq!(c.stats().in_flight, 1);
    fake.gate.as_ref().unwrap().add_permits(20);
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_active());
    }
    assert_eq!(fake.calls(), 1);
    assert_eq!(c.stats(), CacheStats { entries: 1, bytes: c.stats().bytes, in_flight: 0 });
}

#[tokio::test]
async fn single_flight_applies_with_the_cache_off_too() {
    let fake = Fake::gated(Ok(active(None)));
    let (c, _) = cached(&fake, CacheConfig::off());
    let tasks = spawn_waiting(&c, "t", 5).await;
    fake.gate.as_ref().unwrap().add_permits(5);
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_active());
    }
    assert_eq!((fake.calls(), c.stats().entries), (1, 0));
}

#[tokio::test]
async fn concurrent_requests_share_one_error_and_the_next_asks_again() {
    let fake = Fake::gated(Err(Error::Timeout(Duration::from_secs(5))));
    let (c, _) = cached(&fake, config(30, 0));
    let tasks = spawn_waiting(&c, "t", 10).await;
    fake.gate.as_ref().unwrap().add_permits(11);
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err(), Error::Timeout(Duration::from_secs(5)));
    }
    assert_eq!(fake.calls(), 1);
    assert!(c.introspect("t").await.is_err());
    assert_eq!((fake.calls(), c.stats().in_flight), (2, 0));
}

#[tokio::test]
async fn a_cancelled_caller_hands_the_call_to_a_waiter() {
    let fake = Fake::gated(Ok(active(None)));
    let (c, _) = cached(&fake, config(30, 0));
    let mut tasks = spawn_waiting(&c, "t", 3).await;
    assert_eq!(fake.calls(), 1);
    // Cancel whichever runs the call (all are equal here): abort all but
    // one, so the last must finish it.
    let last = tasks.pop().unwrap();
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        assert!(t.await.unwrap_err().is_cancelled());
    }
    fake.gate.as_ref().unwrap().add_permits(2);
    assert!(last.await.unwrap().unwrap().is_active());
    assert!(fake.calls() <= 2);
    assert_eq!(c.stats().in_flight, 0);
}

#[tokio::test]
async fn abandoned_flights_do_not_pile_up() {
    let fake = Fake::gated(Ok(active(None)));
    let (c, _) = cached(&fake, config(30, 0));
    for token in ["a", "b", "c"] {
        let tasks = spawn_waiting(&c, token, 2).await;
        for t in tasks {
            t.abort();
            assert!(t.await.unwrap_err().is_cancelled());
        }
    }
    assert_eq!(c.stats().in_flight, 0);
}

#[tokio::test]
async fn debug_names_no_token() {
    let fake = Fake::new(Ok(active(None)));
    let (c, _) = cached(&fake, config(30, 0));
    c.introspect("secret-token-value").await.unwrap();
    let d = format!("{c:?}");
    assert!(!d.contains("secret-token-value") && d.contains("entries: 1"), "{d}");
}

/// An answer whose request was sent before a revocation arrived may
/// predate it: it is returned, but not stored.
#[tokio::test]
async fn an_answer_in_flight_across_a_revocation_is_not_stored() {
    let fake = Fake::gated(Ok(active(None)));
    let (c, _) = cached(&fake, config(30, 0));
    let tasks = spawn_waiting(&c, "t", 1).await;
    c.forget(&Revocation::Subject { sub: "bob".into() });
    fake.gate.as_ref().unwrap().add_permits(1);
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_active());
    }
    assert_eq!(c.stats().entries, 0);
    // With no revocation meanwhile, it is.
    fake.gate.as_ref().unwrap().add_permits(1);
    assert!(c.introspect("t").await.unwrap().is_active());
    assert_eq!(c.stats().entries, 1);
}

#[tokio::test]
async fn forget_drops_what_it_names_and_flush_everything() {
    let fake = Fake::new(Ok(active(None)));
    let (c, _) = cached(&fake, config(30, 0));
    c.introspect("a").await.unwrap();
    assert_eq!(c.forget(&Revocation::Subject { sub: "bob".into() }), 0);
    assert_eq!(c.forget(&Revocation::Subject { sub: "alice".into() }), 1);
    assert_eq!(c.stats().entries, 0);
    c.introspect("a").await.unwrap();
    c.introspect("b").await.unwrap();
    assert_eq!((fake.calls(), c.stats().entries), (3, 2));
    c.flush();
    assert_eq!(c.stats().entries, 0);
}

/// With a lease, cached answers are used only while the feed was heard
/// from within it: not before the first contact, not after it ran out,
/// not when the clock went back before the last contact.
#[tokio::test]
async fn the_lease_gates_the_cache() {
    let fake = Fake::new(Ok(active(None)));
    let clock = ManualClock::new(NOW);
    let c = CachedClient::with_clock(Arc::clone(&fake), config(3600, 0), clock.clone())
        .with_lease(Duration::from_secs(10));
    c.introspect("t").await.unwrap();
    c.introspect("t").await.unwrap();
    assert_eq!(fake.calls(), 2, "never heard from: no cache");
    c.heard();
    c.introspect("t").await.unwrap();
    clock.advance(Duration::from_millis(9_999));
    c.introspect("t").await.unwrap();
    assert_eq!(fake.calls(), 2, "within the lease: cached");
    clock.advance(Duration::from_millis(1));
    c.introspect("t").await.unwrap();
    assert_eq!(fake.calls(), 3, "lease over");
    c.heard();
    clock.set(NOW);
    assert!(!c.lease_held(), "the clock went back before the last contact");
}
