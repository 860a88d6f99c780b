//! Introspection through the core over `RedisStore` and the limiter built
//! beside it (`RedisStore::limiter`): on one server, one script checks the
//! caller's limiter and reads the token
//! (`FishingLimiter::reserve_and_get`), charging nothing for a token that
//! looks live. These tests check what the fishing defence needs of it: a
//! throttled caller gets 429 whatever the token, every inactive answer is
//! charged before it is given (in the script, or by a reservation when the
//! core judges a live-looking token inactive), and an active answer leaves
//! nothing charged. With `per_minute: 0` nothing refills, so a charge that
//! should not have happened (or one that is missing) changes what follows.
#![allow(clippy::unwrap_used)]

mod common;

use gatehouse_core::http::{HttpRequest, HttpResponse};
use gatehouse_core::model::{Client, ClientId, GrantId, GrantType, Resource, Scope, SecretDigest, TokenKind};
use gatehouse_core::{AuthServer, ClientRegistry, Config, Keyring, LimiterConfig, ManualClock};
use gatehouse_redis::testing::{after_invalidation, cache_live, unique_prefix, TestRedis};
use gatehouse_redis::{RedisConnection, RedisLimiter, RedisStore, DEFAULT_TIMEOUT};

/// `burst` inactive answers in all, never refilled.
const NEVER_REFILLS: u64 = 86_400;

struct Setup {
    server: AuthServer<RedisStore, RedisLimiter>,
    store: RedisStore,
    keys: Keyring,
    clock: ManualClock,
    app_secret: String,
    rs_secret: String,
}

/// A client `app` issuing tokens for `https://api.example` or
/// `https://other.example`, and the resource server `rs` for the first.
async fn setup(
    redis: &TestRedis,
    burst: u32,
    limiter: impl FnOnce(&RedisStore, LimiterConfig) -> RedisLimiter,
) -> Setup {
    let store = RedisStore::connect(&redis.url(), &unique_prefix()).await.unwrap();
    cache_live(&store).await;
    let keys = Keyring::random().unwrap();
    let clock = ManualClock::new(common::now());
    let cfg = LimiterConfig { burst, per_minute: 0 };
    let server = AuthServer::new(store.clone(), keys.clone(), Config::new("https://issuer.example"))
        .with_clock(clock.clone())
        .with_limiter(limiter(&store, cfg));
    let (api, other) =
        (Resource::new("https://api.example").unwrap(), Resource::new("https://other.example").unwrap());
    let (app_secret, app_digest) = SecretDigest::generate().unwrap();
    let (rs_secret, rs_digest) = SecretDigest::generate().unwrap();
    let app = Client::new_confidential(ClientId::new("app").unwrap(), app_digest)
        .with_grants([GrantType::ClientCredentials])
        .with_scope(Scope::parse("read").unwrap(), Scope::parse("read").unwrap())
        .with_audiences([api.clone(), other]);
    after_invalidation(&store, store.put_client(app)).await.unwrap();
    let rs = Client::new_resource_server(ClientId::new("rs").unwrap(), rs_digest, [api]);
    after_invalidation(&store, store.put_client(rs)).await.unwrap();
    // Both clients into the cache, so requests counted later are the
    // limiter's and the token's only.
    for id in ["app", "rs"] {
        store.client(&ClientId::new(id).unwrap()).await.unwrap().unwrap();
    }
    Setup { server, store, keys, clock, app_secret: app_secret.to_string(), rs_secret: rs_secret.to_string() }
}

impl Setup {
    async fn issue(&self, resource: &str) -> String {
        let body = format!(
            "grant_type=client_credentials&client_id=app&client_secret={}&resource={resource}",
            self.app_secret
        );
        let r = self.server.token_endpoint(HttpRequest::form_post(body.as_bytes())).await;
        assert_eq!(r.status, 200, "{:?}", r.json_body());
        r.json_body().unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    async fn introspect(&self, token: &str) -> HttpResponse {
        let body = format!("client_id=rs&client_secret={}&token={token}", self.rs_secret);
        self.server.introspection_endpoint(HttpRequest::form_post(body.as_bytes())).await
    }

    /// A well-formed, correctly tagged token that was never stored.
    fn unknown(&self) -> String {
        self.keys.mint(TokenKind::Access, GrantId::generate().unwrap()).unwrap().0.into_string()
    }
}

/// "active" of a 200 answer; panics on anything else.
fn active(r: &HttpResponse) -> bool {
    assert_eq!(r.status, 200, "{:?}", r.json_body());
    r.json_body().unwrap()["active"].as_bool().unwrap()
}

fn throttled(r: &HttpResponse) -> bool {
    r.status == 429 && r.header("retry-after") == Some(&NEVER_REFILLS.to_string())
}

fn beside(store: &RedisStore, cfg: LimiterConfig) -> RedisLimiter {
    store.limiter(cfg).awaiting_refunds()
}

/// Valid tokens are never charged: far more than `burst` of them are all
/// active, and the caller still has its whole bucket for inactive answers.
/// Once that is spent it is throttled: 429 for a valid token too, from
/// the same one script (no token answer, nothing else sent).
#[tokio::test]
async fn a_throttled_caller_gets_429_for_a_valid_token() {
    let redis = TestRedis::start();
    let s = setup(&redis, 2, beside).await;
    let token = s.issue("https://api.example").await;
    let conn = s.store.connection();
    for _ in 0..10 {
        conn.reset_round_trips();
        assert!(active(&s.introspect(&token).await));
        // A charge would be followed by its refund (awaited here).
        assert_eq!(conn.round_trips().requests, 1, "a valid token was charged");
    }
    assert!(!active(&s.introspect(&s.unknown()).await));
    assert!(!active(&s.introspect(&s.unknown()).await));
    conn.reset_round_trips();
    let r = s.introspect(&token).await;
    assert!(throttled(&r), "a throttled caller got {} for a valid token: {:?}", r.status, r.json_body());
    assert_eq!(conn.round_trips().requests, 1, "the one-step script decided it");
    assert!(throttled(&s.introspect(&s.unknown()).await));
}

/// A live-looking token the core judges inactive (here: for another
/// resource server's audience) is charged by a reservation before its
/// answer, and that reservation throttles like any other.
#[tokio::test]
async fn a_live_token_judged_inactive_is_charged_before_its_answer() {
    let redis = TestRedis::start();
    let s = setup(&redis, 1, beside).await;
    let (mine, theirs) = (s.issue("https://api.example").await, s.issue("https://other.example").await);
    assert!(!active(&s.introspect(&theirs).await));
    // The bucket (one answer) is spent: throttled whatever the token.
    assert!(throttled(&s.introspect(&mine).await));
    assert!(throttled(&s.introspect(&theirs).await));
    assert!(throttled(&s.introspect(&s.unknown()).await));
}

/// The same for a token whose client was disabled after issuing it: live
/// in Redis, inactive for the core.
#[tokio::test]
async fn a_disabled_clients_token_is_charged_before_its_answer() {
    let redis = TestRedis::start();
    let s = setup(&redis, 1, beside).await;
    let token = s.issue("https://api.example").await;
    let app = ClientId::new("app").unwrap();
    after_invalidation(&s.store, s.server.set_client_enabled(&app, false)).await.unwrap();
    assert!(!active(&s.introspect(&token).await));
    assert!(throttled(&s.introspect(&token).await));
}

/// A token past its expiry (still stored: Redis keeps it a grace longer)
/// does not look live: the script charges it as it reads it, in the one
/// request.
#[tokio::test]
async fn an_expired_token_is_charged_in_the_same_script() {
    let redis = TestRedis::start();
    let s = setup(&redis, 1, beside).await;
    let token = s.issue("https://api.example").await;
    s.clock.advance(Config::default().access_token_ttl);
    let conn = s.store.connection();
    conn.reset_round_trips();
    assert!(!active(&s.introspect(&token).await));
    assert_eq!(conn.round_trips().requests, 1, "charged in the script, not by a second reservation");
    assert!(throttled(&s.introspect(&s.unknown()).await));
}

/// A value written by an earlier version (the record's JSON after the
/// state byte) never looks live to the script, so it is charged as it is
/// read; the core finds it active and refunds the charge: with one answer
/// in the bucket and nothing refilled, it stays active every time.
#[tokio::test]
async fn an_active_json_record_is_charged_then_refunded() {
    let redis = TestRedis::start();
    let s = setup(&redis, 1, beside).await;
    let web =
        Client::new_confidential(ClientId::new("web-app").unwrap(), SecretDigest::generate().unwrap().1);
    after_invalidation(&s.store, s.store.put_client(web)).await.unwrap();
    s.store.client(&ClientId::new("web-app").unwrap()).await.unwrap().unwrap();
    let (raw, digest) = s.keys.mint(TokenKind::Access, GrantId::generate().unwrap()).unwrap();
    let record = common::record_for(digest, TokenKind::Access, 3600);
    // The record's times come from the system clock now, the server's from
    // it at setup: a second may have begun in between, and with no clock
    // skew a record from the next second is not yet valid.
    s.clock.set(record.issued_at);
    let mut value = b"a".to_vec();
    value.extend(serde_json::to_vec(&record).unwrap());
    let key = format!("{}t:{{{}}}:{}", s.store.prefix(), digest.grant(), digest.hash_hex());
    s.store
        .connection()
        .query::<()>(redis::cmd("SET").arg(&key).arg(value).arg("EX").arg(3700))
        .await
        .unwrap();
    let token = raw.into_string();
    let conn = s.store.connection();
    for _ in 0..3 {
        conn.reset_round_trips();
        assert!(active(&s.introspect(&token).await));
        assert_eq!(conn.round_trips().requests, 2, "the script, then the refund");
    }
}

/// A limiter that does not share the store's key space (the same prefix
/// on another server, or another prefix on the same connection) must
/// never read tokens for it: the core then reserves, looks up and refunds as before, and valid
/// tokens stay active.
#[tokio::test]
async fn a_limiter_beside_another_key_space_does_not_read_tokens() {
    let (redis, elsewhere) = (TestRedis::start(), TestRedis::start());
    let conn = RedisConnection::connect(&elsewhere.url(), DEFAULT_TIMEOUT).await.unwrap();
    let other_server =
        |store: &RedisStore, cfg| RedisLimiter::new(conn, store.prefix(), cfg).unwrap().awaiting_refunds();
    let s = setup(&redis, 1, other_server).await;
    let token = s.issue("https://api.example").await;
    for _ in 0..3 {
        assert!(active(&s.introspect(&token).await));
    }
    let other_prefix = |store: &RedisStore, cfg| {
        RedisLimiter::new(store.connection().clone(), &unique_prefix(), cfg).unwrap().awaiting_refunds()
    };
    let s = setup(&redis, 1, other_prefix).await;
    let token = s.issue("https://api.example").await;
    for _ in 0..3 {
        assert!(active(&s.introspect(&token).await));
    }
}
