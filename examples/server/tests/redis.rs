//! Two example app instances on one Redis (the `redis` feature, which the
//! example's tests always enable): tokens, revocations, the fishing
//! limiter and the revocation feed are shared. Each test starts its own throwaway `redis-server`
//! (or uses `REDIS_URL`), killed when the test ends.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{
    encode, introspect, issue, post, sample, send, start_configured, CLIENT, RS, WEB, WEB_CALLBACK,
};
use gatehouse_example_server::{Settings, StoreSettings};
use gatehouse_redis::testing::{unique_prefix, RedisServer, TestRedis};

/// The sample config on `url`, with a limiter that refills only once a
/// minute, so that a throttled caller stays throttled for the whole test.
fn on_redis(url: &str, prefix: &str) -> Settings {
    let mut s = sample();
    s.store = StoreSettings::Redis { url: url.to_owned(), prefix: prefix.to_owned() };
    s.server.limiter.burst = 3;
    s.server.limiter.per_minute = 1;
    s
}

/// A resource server streams revocation events from B; a token is revoked
/// on A; B's stream names it (through Redis pub/sub, `RedisFeedRelay`).
/// Until B's subscription is up, a revocation on A may reach B's stream as
/// a reset instead (what B may have missed); the test then revokes
/// another token, until one is delivered as itself, within a deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_reaches_the_feed_of_the_other() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let settings = || {
        let mut s = on_redis(&redis.url(), &prefix);
        s.server.limiter = sample().server.limiter;
        s
    };
    let (a, b) = (start_configured(settings()), start_configured(settings()));
    let poll = |stream: &str, cursor: u64, wait: u64| {
        let body = format!("stream={stream}&cursor={cursor}&wait={wait}");
        async move {
            let r = post(b.addr, "/oauth/events", Some(RS), &body).await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()
        }
    };
    let first = poll("", 0, 0).await;
    let stream = first["stream"].as_str().unwrap().to_owned();
    let mut cursor = first["cursor"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    'revoke: loop {
        assert!(std::time::Instant::now() < deadline, "no revocation made on A was delivered by B's feed");
        let token = issue(a.addr).await;
        let jti = introspect(a.addr, Some(RS), &token).await.json()["jti"].as_str().unwrap().to_owned();
        let r = post(a.addr, "/oauth/revoke", Some(CLIENT), &format!("token={token}")).await;
        assert_eq!(r.status, 200);
        loop {
            let got = poll(&stream, cursor, 2).await;
            assert_eq!(got["stream"], stream.as_str());
            cursor = got["cursor"].as_u64().unwrap();
            let events = got["events"].as_array().unwrap();
            if events.iter().any(|e| e["type"] == "token" && e["jti"] == jti.as_str()) {
                break 'revoke;
            }
            if got["reset"] == true || events.is_empty() {
                continue 'revoke;
            }
        }
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_tokens_revocations_and_throttling() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    // Same config for both, as two processes started with two `--listen`s.
    let a = start_configured(on_redis(&redis.url(), &prefix));
    let b = start_configured(on_redis(&redis.url(), &prefix));

    // Issued on A: active on B.
    let token = issue(a.addr).await;
    let r = introspect(b.addr, Some(RS), &token).await;
    assert_eq!((r.status, r.json()["active"].clone()), (200, true.into()), "{}", r.text());

    // Revoked on B: inactive on A at once.
    let r = post(b.addr, "/oauth/revoke", Some(CLIENT), &format!("token={token}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(introspect(a.addr, Some(RS), &token).await.text(), r#"{"active":false}"#);

    // That inactive answer cost one of 3; fishing on A spends the rest...
    let live = issue(b.addr).await;
    for _ in 0..2 {
        assert_eq!(introspect(a.addr, Some(RS), "gat_k1.guess").await.text(), r#"{"active":false}"#);
    }
    let r = introspect(a.addr, Some(RS), "gat_k1.guess").await;
    assert_eq!(r.status, 429, "{}", r.text());
    // ... and the caller is throttled on B too, even for a live token.
    let r = introspect(b.addr, Some(RS), &live).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);

    a.shutdown().await;
    b.shutdown().await;
}

/// Redis going away while the app runs: 503s with `Retry-After` at every
/// route (the OAuth endpoints, the protected API, the authorization page),
/// never an answer, never a panic; and answers again once Redis is back,
/// without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_a_503_with_retry_after_and_the_app_recovers() {
    let mut redis = RedisServer::start();
    let mut settings = on_redis(&redis.url(), &unique_prefix());
    // No seeding again within this test (tests/clients.rs covers that), so
    // the empty Redis below answers as it is.
    settings.seed_check_every = std::time::Duration::from_secs(3600);
    let app = start_configured(settings);
    let token = issue(app.addr).await;

    redis.stop();
    let retry = gatehouse_core::Error::UNAVAILABLE_RETRY_AFTER.to_string();
    let r = introspect(app.addr, Some(RS), &token).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some(retry.as_str()));
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    assert!(r.json().get("active").is_none());
    let r = post(app.addr, "/oauth/token", Some(CLIENT), "grant_type=client_credentials").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some(retry.as_str()));
    assert!(r.json().get("access_token").is_none());
    let r = post(app.addr, "/oauth/revoke", Some(CLIENT), &format!("token={token}")).await;
    assert_eq!((r.status, r.header("retry-after")), (503, Some(retry.as_str())), "{}", r.text());
    // The protected API: no verdict on the token, no challenge.
    let r = send(app.addr, "GET", "/api/me", &[("Authorization", format!("Bearer {token}"))], b"").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some(retry.as_str()));
    assert_eq!(r.header("www-authenticate"), None);
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    // The authorization page cannot look the client up: an error page.
    let query = encode(&[("response_type", "code"), ("client_id", WEB.0), ("redirect_uri", WEB_CALLBACK)]);
    let r = send(app.addr, "GET", &format!("/oauth/authorize?{query}"), &[], b"").await;
    assert_eq!((r.status, r.header("retry-after")), (503, Some(retry.as_str())), "{}", r.text());
    assert_eq!(r.header("location"), None);

    // A fresh, empty Redis on the same port: clients were registered in the
    // old one, so authentication now fails cleanly (401), which shows the
    // connection is back (readiness says why meanwhile: tests/clients.rs).
    redis.restart();
    let r = introspect(app.addr, Some(RS), &token).await;
    assert_eq!(r.status, 401, "{}", r.text());
    app.shutdown().await;
}

#[tokio::test]
async fn unreachable_redis_at_start_is_a_clear_error() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let settings = on_redis(&format!("redis://:pw-in-url@127.0.0.1:{port}/"), "gatehouse:");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = gatehouse_example_server::run(settings, listener, std::future::pending()).await.unwrap_err();
    let e = e.to_string();
    // It names the URL, without the password.
    assert!(e.starts_with(&format!("cannot open the redis store: redis://***@127.0.0.1:{port}/: ")), "{e}");
    assert!(!e.contains("pw-in-url"), "{e}");
}
