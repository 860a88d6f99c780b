//! The client against the example authorization server, in-process on a
//! loopback port with the memory store.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{issue, revoke, rs_config, sample, sample_json, start, start_on, API, CLIENT, ISSUER, RS};
use gatehouse_example_server::hash_secret;
use gatehouse_rs_client::{
    CacheConfig, CachedClient, ClientConfig, ClientSecret, Clock as _, Error, Introspect, Introspection,
    IntrospectionClient, ManualClock, SystemClock,
};

#[tokio::test]
async fn an_issued_token_is_active_with_its_claims() {
    let app = start(sample()).await;
    let token = issue(app.addr).await;
    let answer = IntrospectionClient::new(rs_config(app.addr)).unwrap().introspect(&token).await.unwrap();
    let c = answer.claims().unwrap();
    assert_eq!(c.client_id.as_deref(), Some(CLIENT.0));
    assert_eq!((c.scope.as_deref(), c.token_type.as_deref()), (Some("read"), Some("Bearer")));
    assert!(c.has_audience(API) && c.has_scope("read"));
    assert_eq!((c.iss.as_deref(), c.sub.as_deref()), (Some(ISSUER), None));
    assert_eq!(c.jti.as_ref().map(String::len), Some(22));
    let (exp, iat, nbf) = (c.exp.unwrap(), c.iat.unwrap(), c.nbf.unwrap());
    assert_eq!((exp - iat, nbf), (3600, iat));
    // gatehouse's one extension member: the grant, for revocation events.
    assert_eq!(c.extra.keys().collect::<Vec<_>>(), ["grant_id"], "{:?}", c.extra);
    app.shutdown().await;
}

#[tokio::test]
async fn an_unknown_token_is_inactive() {
    let app = start(sample()).await;
    let client = IntrospectionClient::new(rs_config(app.addr)).unwrap();
    assert_eq!(client.introspect("gat_k1.not-a-token").await.unwrap(), Introspection::Inactive);
    app.shutdown().await;
}

#[tokio::test]
async fn refused_credentials_are_errors_not_inactive() {
    let app = start(sample()).await;
    let token = issue(app.addr).await;
    let endpoint = format!("http://{}/oauth/introspect", app.addr);
    let wrong = ClientConfig::new(&endpoint, RS.0, ClientSecret::new("wrong-secret-wrong-secret-wrong"));
    assert_eq!(IntrospectionClient::new(wrong).unwrap().introspect(&token).await, Err(Error::Status(401)));
    // A client that is not a resource server may not introspect.
    let not_rs = ClientConfig::new(&endpoint, CLIENT.0, ClientSecret::new(CLIENT.1));
    assert_eq!(IntrospectionClient::new(not_rs).unwrap().introspect(&token).await, Err(Error::Status(403)));
    app.shutdown().await;
}

#[tokio::test]
async fn a_secret_with_a_plus_works_because_it_is_form_encoded() {
    // The example form-decodes Basic credentials (RFC 6749 §2.3.1); sent
    // raw, this `+` would arrive as a space.
    let secret = "abc+def/ghi=0123456789abcdef0123456789";
    let json = sample_json();
    let old = hash_secret(RS.1).unwrap();
    assert!(json.contains(&old));
    let settings =
        gatehouse_example_server::Settings::from_json(&json.replace(&old, &hash_secret(secret).unwrap()))
            .unwrap();
    let app = start(settings).await;
    let token = issue(app.addr).await;
    let mut config = rs_config(app.addr);
    config.client_secret = ClientSecret::new(secret);
    assert!(IntrospectionClient::new(config).unwrap().introspect(&token).await.unwrap().is_active());
    app.shutdown().await;
}

/// The staleness the cache allows: a revoked token stays accepted from
/// the cache until its max-age is over, and not a moment longer.
#[tokio::test]
async fn a_revoked_token_is_accepted_from_the_cache_for_at_most_max_age() {
    let app = start(sample()).await;
    let token = issue(app.addr).await;
    let clock = ManualClock::new(SystemClock.now());
    let config = CacheConfig::default().with_max_age(Duration::from_secs(30));
    let cached = CachedClient::with_clock(
        IntrospectionClient::new(rs_config(app.addr)).unwrap(),
        config,
        clock.clone(),
    );
    assert!(cached.introspect(&token).await.unwrap().is_active());
    revoke(app.addr, &token).await;
    // Without the cache the server's answer is at once inactive ...
    assert!(!cached.inner().introspect(&token).await.unwrap().is_active());
    // ... with it, the cached answer stands until max-age.
    clock.advance(Duration::from_millis(29_999));
    assert!(cached.introspect(&token).await.unwrap().is_active());
    clock.advance(Duration::from_millis(1));
    assert!(!cached.introspect(&token).await.unwrap().is_active());
    app.shutdown().await;
}

#[tokio::test]
async fn the_cache_never_outlives_the_tokens_exp() {
    let mut settings = sample();
    settings.server.access_token_ttl = 10;
    let app = start(settings).await;
    let token = issue(app.addr).await;
    let clock = ManualClock::new(SystemClock.now());
    let config = CacheConfig::default().with_max_age(Duration::from_secs(3600));
    let cached = CachedClient::with_clock(
        IntrospectionClient::new(rs_config(app.addr)).unwrap(),
        config,
        clock.clone(),
    );
    let exp = cached.introspect(&token).await.unwrap().claims().unwrap().exp.unwrap();
    // Until just before exp, the cached answer; from exp on, the server's
    // (revoked meanwhile, so that its answer differs from the cached one).
    clock.set(Duration::from_secs(exp) - Duration::from_millis(1));
    assert!(cached.introspect(&token).await.unwrap().is_active());
    assert_eq!(cached.stats().entries, 1);
    clock.set(Duration::from_secs(exp));
    revoke(app.addr, &token).await;
    assert!(!cached.introspect(&token).await.unwrap().is_active(), "asked the server again at exp");
    app.shutdown().await;
}

#[tokio::test]
async fn the_client_recovers_after_the_server_restarts() {
    let app = start(sample()).await;
    let addr = app.addr;
    let client = IntrospectionClient::new(rs_config(addr)).unwrap();
    let token = issue(addr).await;
    assert!(client.introspect(&token).await.unwrap().is_active());
    app.shutdown().await;
    // Down: an error, never an answer.
    assert!(matches!(client.introspect(&token).await, Err(Error::Network(_))));
    // Back on the same port (with a fresh memory store: the old token is
    // gone), over a new connection.
    let app = start_on(tokio::net::TcpListener::bind(addr).await.unwrap(), sample()).await;
    assert_eq!(client.introspect(&token).await.unwrap(), Introspection::Inactive);
    let token = issue(addr).await;
    assert!(client.introspect(&token).await.unwrap().is_active());
    app.shutdown().await;
}
