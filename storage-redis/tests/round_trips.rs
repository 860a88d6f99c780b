//! Round trips of latency per operation, through the core's HTTP endpoints
//! (client authentication included), on one Redis and on a Redis Cluster.
//!
//! Every request the store and the limiter send goes through
//! `RedisConnection`, which (feature `testing`) counts requests and their
//! depth: a request is one deeper than the deepest request that had
//! answered when it started, so requests in flight together count once.
//! On one node an introspection is one script (the limiter's step and the
//! token's read), with no refund. On a cluster, after an active answer
//! the limiter's refund is not waited for: it is spawned; the tests run on
//! a current-thread runtime, so it cannot run before the counts are read:
//! it is off the answer's path.
#![allow(clippy::unwrap_used)]

mod common;

use common::Backend;
use gatehouse_core::http::HttpRequest;
use gatehouse_core::model::{Client, ClientId, GrantId, GrantType, Resource, Scope, SecretDigest, TokenKind};
use gatehouse_core::{AuthServer, ClientRegistry, Config, Keyring};
use gatehouse_redis::testing::{after_invalidation, cache_live, unique_prefix, TestCluster, TestRedis};
use gatehouse_redis::{RedisLimiter, RedisStore, RoundTrips};

/// (requests, depth) of one call.
async fn counted<F: std::future::Future>(store: &RedisStore, f: F) -> (F::Output, (u64, u64)) {
    let conn = store.connection();
    conn.reset_round_trips();
    let out = f.await;
    let RoundTrips { requests, depth, in_flight, .. } = conn.round_trips();
    assert_eq!(in_flight, 0, "nothing may still be waiting once the answer is out");
    (out, (requests, depth))
}

/// After an active answer: its refund was not sent on the answer's path,
/// and is sent afterwards (one request, in the background).
async fn refund_follows(store: &RedisStore) {
    let conn = store.connection();
    conn.reset_round_trips();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let t = conn.round_trips();
        if t.requests == 1 && t.in_flight == 0 {
            return;
        }
        assert!(t.requests <= 1, "one refund, nothing else: {t:?}");
        assert!(std::time::Instant::now() < deadline, "the refund was never sent: {t:?}");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

async fn round_trips<B: Backend>(b: &B) {
    let store = b.store_with(&unique_prefix()).await;
    cache_live(&store).await;
    let keys = Keyring::random().unwrap();
    let server: AuthServer<RedisStore, RedisLimiter> =
        AuthServer::new(store.clone(), keys.clone(), Config::new("https://issuer.example"))
            .with_limiter(store.limiter(Config::default().limiter));

    let api = Resource::new("https://api.example").unwrap();
    let (app_secret, app_digest) = SecretDigest::generate().unwrap();
    let (rs_secret, rs_digest) = SecretDigest::generate().unwrap();
    after_invalidation(
        &store,
        store.put_client(
            Client::new_confidential(ClientId::new("app").unwrap(), app_digest)
                .with_grants([GrantType::ClientCredentials])
                .with_scope(Scope::parse("read").unwrap(), Scope::parse("read").unwrap())
                .with_audiences([api.clone()]),
        ),
    )
    .await
    .unwrap();
    let rs = Client::new_resource_server(ClientId::new("rs").unwrap(), rs_digest, [api]);
    after_invalidation(&store, store.put_client(rs)).await.unwrap();

    let issue_body = format!("grant_type=client_credentials&client_id=app&client_secret={app_secret}");
    let issue = || server.token_endpoint(HttpRequest::form_post(issue_body.as_bytes()));
    let server = &server;
    let introspect = |token: &str| {
        let body = format!("client_id=rs&client_secret={rs_secret}&token={token}");
        async move { server.introspection_endpoint(HttpRequest::form_post(body.as_bytes())).await }
    };
    let active = |r: &gatehouse_core::http::HttpResponse| r.json_body().unwrap()["active"].as_bool().unwrap();

    // Warm up: the first uses read both clients into the cache (their
    // registration's invalidations are in, so nothing evicts them now).
    let first = issue().await;
    assert_eq!(first.status, 200);
    let token = first.json_body().unwrap()["access_token"].as_str().unwrap().to_owned();
    let cluster = store.connection().is_cluster();
    assert!(active(&introspect(&token).await));
    if cluster {
        refund_follows(&store).await;
    }

    // Issuance: authentication from the cache, then the insert script and
    // the client's bulk-revocation index write, in flight together: two
    // requests, one round trip.
    let (r, trips) = counted(&store, issue()).await;
    assert_eq!(r.status, 200);
    assert_eq!(trips, (2, 1), "issuance");

    // Valid introspection: both clients from the cache. On one server, one
    // script reads the token and checks the limiter, charging nothing for
    // a live token: no refund follows. On a cluster (the two keys are in
    // different slots) the limiter's reservation and the token's GET are
    // in flight together, and the refund follows.
    let (r, trips) = counted(&store, introspect(&token)).await;
    assert!(active(&r));
    if cluster {
        assert_eq!(trips, (2, 1), "valid introspection");
        refund_follows(&store).await;
    } else {
        assert_eq!(trips, (1, 1), "valid introspection");
    }

    // Well-formed and correctly tagged, but never stored: on one server the
    // same script charges it as it reads.
    let (unknown, _) = keys.mint(TokenKind::Access, GrantId::generate().unwrap()).unwrap();
    let (r, trips) = counted(&store, introspect(&unknown.into_string())).await;
    assert!(!active(&r));
    assert_eq!(trips, if cluster { (2, 1) } else { (1, 1) }, "unknown token");

    // Forged: the tag fails, nothing is looked up; the limiter still charges.
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (r, trips) = counted(&store, introspect(&forged)).await;
    assert!(!active(&r));
    assert_eq!(trips, (1, 1), "forged token");

    // An unknown caller: refused from the cache once its absence is known,
    // like a known one.
    let stranger = format!("client_id=stranger&client_secret={rs_secret}&token={token}");
    let call = || server.introspection_endpoint(HttpRequest::form_post(stranger.as_bytes()));
    assert_eq!(call().await.status, 401);
    let (r, trips) = counted(&store, call()).await;
    assert_eq!(r.status, 401);
    assert_eq!(trips, (0, 0), "unknown caller");

    // Revocation: the core reads the token (owner check), then revokes it.
    let body = format!("client_id=app&client_secret={app_secret}&token={token}");
    let (r, trips) =
        counted(&store, server.revocation_endpoint(HttpRequest::form_post(body.as_bytes()))).await;
    assert_eq!(r.status, 200);
    assert_eq!(trips, (2, 2), "revocation");
    assert!(!active(&introspect(&token).await));
}

#[tokio::test]
async fn round_trips_per_operation() {
    round_trips(&TestRedis::start()).await;
}

#[tokio::test]
async fn round_trips_per_operation_on_cluster() {
    round_trips(&TestCluster::start()).await;
}
