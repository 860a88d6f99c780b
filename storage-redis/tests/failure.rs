//! Fail closed, recover by itself: Redis down or hung → every call returns
//! `StoreError::Unavailable` within the timeout (never a token answer), and
//! the core's endpoints answer 503 with `Retry-After`; Redis back on the
//! same port → the same store works again, no restart.
//!
//! "Within the timeout" is checked on Tokio's paused clock, not the wall
//! clock: while Redis is down or hung the runtime has nothing to do but
//! wait for a timer, so the paused clock jumps straight to the next one.
//! A call's elapsed time on that clock is then the timers that ended it,
//! whatever the machine's load (which used to stretch wall-clock bounds
//! until the test flaked), and a call that never ends reaches the `HUNG`
//! guard at once instead of hanging the test.
#![allow(clippy::unwrap_used)]

mod common;

use std::error::Error as _;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{grant, public_client, record};
use gatehouse_core::http::{HttpRequest, HttpResponse};
use gatehouse_core::model::{Client, ClientId, GrantType, Resource, Scope, SecretDigest, TokenKind};
use gatehouse_core::{
    AuthServer, ClientRegistry, Config, Error, FishingLimiter, Keyring, LimiterConfig, StoreError, TokenStore,
};
use gatehouse_redis::testing::{unique_prefix, RedisServer};
use gatehouse_redis::{RedisConnection, RedisError, RedisOptions, RedisStore};

/// The connection's timeout: the bound on every call.
const TIMEOUT: Duration = Duration::from_millis(300);
/// On the paused clock, a call still running this long hung: no timer in
/// the store would ever end it.
const HUNG: Duration = Duration::from_secs(60);

async fn store(server: &RedisServer) -> RedisStore {
    let conn = RedisConnection::connect(&server.url(), TIMEOUT).await.unwrap();
    RedisStore::with_connection(conn, RedisOptions::new(&unique_prefix())).unwrap()
}

/// How Redis is failing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outage {
    /// Stopped: a call fails on the refused connection, or on the timeout
    /// while the connection is being re-established.
    Down,
    /// Stopped answering (SIGSTOP): only the timeout can end a call.
    Hung,
}

/// Every operation fails with `StoreError::Unavailable` (retry later)
/// whose cause is Redis's failure (for a hung Redis: our timeout, with the
/// configured duration), each ended by at most one timeout. Runs on the
/// paused clock (see the top of the file) and resumes it before returning.
async fn all_fail(s: &RedisStore, outage: Outage) {
    let g = grant();
    let r = record(TokenKind::Access, g);
    let rs = ClientId::new("rs").unwrap();
    let limiter = s.limiter(LimiterConfig::default());
    tokio::time::pause();
    macro_rules! fails {
        ($e:expr) => {{
            let what = stringify!($e);
            let start = tokio::time::Instant::now();
            let Ok(out) = tokio::time::timeout(HUNG, $e).await else {
                panic!("{what} hung: nothing bounds it");
            };
            let Err(e @ StoreError::Unavailable(_)) = out else { panic!("{what}: {out:?}") };
            let cause = e.source().and_then(|c| c.downcast_ref::<RedisError>());
            match (outage, cause) {
                (_, Some(RedisError::Timeout(t))) => assert_eq!(*t, TIMEOUT, "{what}: another bound"),
                (Outage::Down, Some(RedisError::Redis(_))) => {}
                _ => panic!("{what}: not the outage or our timeout: {e:?}"),
            }
            // One timeout at most (the paused clock runs to 300 or 301 ms,
            // timers end on whole milliseconds): a call that waited out one
            // timeout and then waited or tried again would show two.
            let elapsed = start.elapsed();
            assert!(elapsed < 2 * TIMEOUT, "{what} took {elapsed:?}");
        }};
    }
    fails!(s.ping());
    fails!(s.get(&r.digest));
    fails!(s.insert(r.clone()));
    fails!(s.consume(&r.digest, vec![]));
    fails!(s.revoke(&r.digest));
    fails!(s.revoke_grant(&g));
    fails!(s.client(&rs));
    fails!(s.put_client(public_client("rs")));
    fails!(s.remove_client(&rs));
    fails!(limiter.reserve(&rs, common::now()));
    fails!(limiter.awaiting_refunds().refund(&rs, common::now()));
    tokio::time::resume();
}

/// Bounded polling until the store answers again (the connection
/// reconnects in the background and on the next call).
async fn recovers(s: &RedisStore) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let r = record(TokenKind::Access, grant());
    loop {
        match s.insert(r.clone()).await {
            Ok(()) => break,
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("store did not recover: {e:?}"),
        }
    }
    assert_eq!(s.get(&r.digest).await.unwrap(), Some(r));
    s.ping().await.unwrap();
    let code = record(TokenKind::AuthorizationCode, grant());
    s.insert(code.clone()).await.unwrap();
    assert!(matches!(s.consume(&code.digest, vec![]).await.unwrap(), gatehouse_core::Consumed::Taken(_)));
}

// One thread: the paused clock needs a current-thread runtime.
#[tokio::test]
async fn redis_down_fails_closed_then_recovers() {
    let mut server = RedisServer::start();
    let s = store(&server).await;
    let r = record(TokenKind::Access, grant());
    s.insert(r.clone()).await.unwrap();
    assert!(s.get(&r.digest).await.unwrap().is_some());

    server.stop();
    all_fail(&s, Outage::Down).await;
    // Still failing on a second round (no stale success, no hang).
    all_fail(&s, Outage::Down).await;

    server.restart();
    recovers(&s).await;
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").arg(sig).arg(pid.to_string()).status().unwrap().success();
    assert!(ok, "kill {sig} {pid} failed");
}

/// A hung server (SIGSTOP): calls time out instead of waiting forever.
#[tokio::test]
async fn hung_redis_times_out_then_recovers() {
    let server = RedisServer::start();
    let s = store(&server).await;
    let pid = server.pid().unwrap();
    signal(pid, "-STOP");
    // Resume the server even if an assertion below fails, so Drop can reap it.
    struct Cont(u32);
    impl Drop for Cont {
        fn drop(&mut self) {
            signal(self.0, "-CONT");
        }
    }
    let cont = Cont(pid);
    all_fail(&s, Outage::Hung).await;
    drop(cont);
    recovers(&s).await;
}

/// The endpoints over a Redis that went away: 503 `temporarily_unavailable`
/// with `Retry-After`, never a token, never `active`, never a silent 200;
/// and answers again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_a_503_with_retry_after_at_every_endpoint() {
    let mut redis = RedisServer::start();
    let store = store(&redis).await;
    let server =
        AuthServer::new(store.clone(), Keyring::random().unwrap(), Config::new("https://issuer.example"))
            .with_limiter(store.limiter(LimiterConfig::default()));
    let api = Resource::new("https://api.example").unwrap();
    let (app_secret, app_digest) = SecretDigest::generate().unwrap();
    let (rs_secret, rs_digest) = SecretDigest::generate().unwrap();
    let app = Client::new_confidential(ClientId::new("app").unwrap(), app_digest)
        .with_grants([GrantType::ClientCredentials])
        .with_scope(Scope::parse("read").unwrap(), Scope::parse("read").unwrap())
        .with_audiences([api.clone()]);
    store.put_client(app).await.unwrap();
    store
        .put_client(Client::new_resource_server(ClientId::new("rs").unwrap(), rs_digest, [api]))
        .await
        .unwrap();

    let issue_body = format!("grant_type=client_credentials&client_id=app&client_secret={app_secret}");
    let issued = server.token_endpoint(HttpRequest::form_post(issue_body.as_bytes())).await;
    assert_eq!(issued.status, 200);
    let token = issued.json_body().unwrap()["access_token"].as_str().unwrap().to_owned();
    let introspect_body = format!("client_id=rs&client_secret={rs_secret}&token={token}");
    let revoke_body = format!("client_id=app&client_secret={app_secret}&token={token}");

    redis.stop();
    let retry = Error::UNAVAILABLE_RETRY_AFTER.to_string();
    let answers: [(&str, HttpResponse); 3] = [
        ("token", server.token_endpoint(HttpRequest::form_post(issue_body.as_bytes())).await),
        (
            "introspection",
            server.introspection_endpoint(HttpRequest::form_post(introspect_body.as_bytes())).await,
        ),
        ("revocation", server.revocation_endpoint(HttpRequest::form_post(revoke_body.as_bytes())).await),
    ];
    for (endpoint, r) in &answers {
        let body = r.json_body().unwrap();
        assert_eq!(r.status, 503, "{endpoint}: {body}");
        assert_eq!(r.header("retry-after"), Some(retry.as_str()), "{endpoint}");
        assert_eq!(body["error"], "temporarily_unavailable", "{endpoint}");
        assert!(body.get("active").is_none() && body.get("access_token").is_none(), "{endpoint}: {body}");
    }

    // Back, on the same port but empty: the clients are gone, so
    // authentication fails cleanly (401), which shows the store answers.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server.introspection_endpoint(HttpRequest::form_post(introspect_body.as_bytes())).await;
        if r.status == 401 {
            break;
        }
        assert_eq!(r.status, 503, "while reconnecting: {:?}", r.json_body());
        assert!(Instant::now() < deadline, "the store did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
