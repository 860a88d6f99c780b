//! Revocation push: the client reads the example server's revocation feed
//! and drops cached answers at once; the feed is a lease on the cache.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{issue, revoke, rs_config, sample, start, start_on};
use gatehouse_rs_client::{
    CacheConfig, CachedClient, ClientConfig, Clock as _, EventStream, IntrospectionClient, ManualClock,
    StreamStatus, SystemClock,
};
use tokio::net::TcpListener;

type Cache<C> = Arc<CachedClient<IntrospectionClient, C>>;

fn events_config(addr: SocketAddr) -> ClientConfig {
    let mut c = rs_config(addr);
    c.endpoint = format!("http://{addr}/oauth/events");
    c
}

fn cache<C: gatehouse_rs_client::Clock>(addr: SocketAddr, clock: C, max_age: u64, lease: u64) -> Cache<C> {
    let config = CacheConfig::default().with_max_age(Duration::from_secs(max_age));
    let client = IntrospectionClient::new(rs_config(addr)).unwrap();
    Arc::new(CachedClient::with_clock(client, config, clock).with_lease(Duration::from_secs(lease)))
}

/// Waits for the stream's status to satisfy `done`. The timeout only
/// turns a hang into a failure; the wait itself is on the status.
/// An event stream from the server at `addr` into `cached`, long-polling
/// for `wait` (retrying after 20 ms), once it has had its first answer.
async fn listening<C: gatehouse_rs_client::Clock>(
    cached: &Cache<C>,
    addr: SocketAddr,
    wait: Duration,
) -> EventStream {
    let stream =
        EventStream::spawn(Arc::clone(cached), events_config(addr), wait, Duration::from_millis(20)).unwrap();
    until(&stream, |s| s.answers >= 1).await;
    stream
}

async fn until(stream: &EventStream, done: impl FnMut(&StreamStatus) -> bool) {
    let mut status = stream.status();
    tokio::time::timeout(Duration::from_secs(20), status.wait_for(done)).await.unwrap().unwrap();
}

/// A revoked, cached token is refused as soon as its event arrives, long
/// before the max-age (the clock does not move at all).
#[tokio::test]
async fn a_revoked_cached_token_is_refused_when_its_event_arrives() {
    let app = start(sample()).await;
    let token = issue(app.addr).await;
    let clock = ManualClock::new(SystemClock.now());
    let cached = cache(app.addr, clock.clone(), 3600, 60);
    // Before the feed was ever heard from, nothing comes from the cache.
    assert!(!cached.lease_held());
    let stream = listening(&cached, app.addr, Duration::from_secs(1)).await;
    assert!(cached.lease_held());
    assert!(cached.introspect(&token).await.unwrap().is_active());
    assert_eq!(cached.stats().entries, 1);
    revoke(app.addr, &token).await;
    until(&stream, |s| s.events >= 1).await;
    assert_eq!(cached.stats().entries, 0, "dropped by the event");
    assert!(!cached.introspect(&token).await.unwrap().is_active());
    // No raw token in the cache's or the stream's Debug output.
    let dump = format!("{cached:?} {stream:?} {:?}", cached.stats());
    assert!(!dump.contains(&token) && !dump.contains(token.split('.').next_back().unwrap()), "{dump}");
    drop(stream);
    app.shutdown().await;
}

/// A bulk revocation ("sign out everywhere" for a client) drops every
/// cached answer of that client.
#[tokio::test]
async fn disabling_a_client_drops_its_cached_tokens() {
    let app = start(sample()).await;
    let (a, b) = (issue(app.addr).await, issue(app.addr).await);
    let clock = ManualClock::new(SystemClock.now());
    let cached = cache(app.addr, clock, 3600, 60);
    let stream = listening(&cached, app.addr, Duration::from_secs(1)).await;
    assert!(cached.introspect(&a).await.unwrap().is_active());
    assert!(cached.introspect(&b).await.unwrap().is_active());
    assert_eq!(cached.stats().entries, 2);
    let id = gatehouse_core::model::ClientId::new(common::CLIENT.0).unwrap();
    assert!(app.server.set_client_enabled(&id, false).await.unwrap());
    until(&stream, |s| s.events >= 1).await;
    assert_eq!(cached.stats().entries, 0);
    drop(stream);
    app.shutdown().await;
}

/// With the feed cut, the cache is bypassed once the lease runs out (the
/// server is down, so a bypassed request is an error, never the cached
/// "active"); after the server restarts the stream resets, flushes and
/// renews the lease.
#[tokio::test]
async fn a_cut_stream_bypasses_the_cache_after_the_lease_and_recovers() {
    let app = start(sample()).await;
    let addr = app.addr;
    let token = issue(addr).await;
    let clock = ManualClock::new(SystemClock.now());
    let cached = cache(addr, clock.clone(), 3600, 15);
    let stream = listening(&cached, addr, Duration::from_secs(1)).await;
    assert!(cached.introspect(&token).await.unwrap().is_active());
    app.shutdown().await;
    until(&stream, |s| s.failures >= 1).await;
    // Within the lease: the cached answer.
    clock.advance(Duration::from_millis(14_999));
    assert!(cached.introspect(&token).await.unwrap().is_active());
    // The lease is over: introspect, and the server is down.
    clock.advance(Duration::from_millis(1));
    assert!(!cached.lease_held());
    assert!(cached.introspect(&token).await.is_err());
    // The server comes back (a fresh memory store, a new stream).
    let app = start_on(TcpListener::bind(addr).await.unwrap(), sample()).await;
    until(&stream, |s| s.resets >= 2 && s.failures == 0).await;
    assert!(cached.lease_held());
    assert_eq!(cached.stats().entries, 0, "flushed on the reset");
    assert!(!cached.introspect(&token).await.unwrap().is_active(), "unknown to the new server");
    let fresh = issue(addr).await;
    assert!(cached.introspect(&fresh).await.unwrap().is_active());
    assert_eq!(cached.stats().entries, 1);
    drop(stream);
    app.shutdown().await;
}

/// The figure: time from a revocation at the authorization server to the
/// first refused request at the resource server, over loopback, with the
/// feed; without it the bound is the max-age. Prints it; run with
/// `cargo test -p gatehouse-rs-client --release --test push -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: prints the revocation latency"]
async fn revocation_latency_figure() {
    const RUNS: usize = 8;
    let app = start(sample()).await;
    let cached = cache(app.addr, SystemClock, 30, 30);
    let stream = listening(&cached, app.addr, Duration::from_secs(10)).await;
    let mut times = Vec::new();
    // Each run ends on one inactive answer, which the server's token-fishing
    // limiter counts: few runs, so that none is throttled.
    for _ in 0..RUNS {
        let token = issue(app.addr).await;
        assert!(cached.introspect(&token).await.unwrap().is_active());
        let start = Instant::now();
        revoke(app.addr, &token).await;
        // Requests keep coming at the resource server; the first refused
        // one ends the measurement.
        while cached.introspect(&token).await.unwrap().is_active() {
            tokio::task::yield_now().await;
        }
        times.push(start.elapsed());
    }
    times.sort();
    let n = times.len();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "revocation to first refusal, with push, {n} runs: min {:.2} ms, median {:.2} ms, max {:.2} ms; \
         without push: up to max_age = 30 s",
        ms(times[0]),
        ms(times[n / 2]),
        ms(times[n - 1])
    );
    drop(stream);
    app.shutdown().await;
}
