//! Where clients come from: the config file seeds an empty store, the
//! store is the source of truth after that, `--reapply-clients` applies
//! the file on purpose, and a Redis that comes back empty is reported
//! (readiness 503 with the reason) and seeded again (see the `seed`
//! module). Run-time changes are made through another handle on the same
//! store, as an admin command would.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{post, sample, send, start_configured, Resp, CLIENT, WEB};
use gatehouse_core::model::ClientId;
use gatehouse_core::{AuthServer, ClientRegistry, Config, Keyring, SecretRotation, TokenStore, UnixTime};
use gatehouse_example_server::health::READY_PATH;
use gatehouse_example_server::seed::LOST_DATA;
use gatehouse_example_server::{Settings, StoreSettings};
use gatehouse_redis::testing::{unique_prefix, RedisServer, TestRedis};

/// The token endpoint's status for client_credentials as `creds`: 200 for
/// demo-client, 401 for a wrong secret or an unknown client, 400
/// (`unauthorized_client`) for demo-web, which may not use the grant.
async fn token_status(addr: SocketAddr, creds: (&str, &str)) -> u16 {
    post(addr, "/oauth/token", Some(creds), "grant_type=client_credentials").await.status
}

/// Gives demo-client a new secret with no overlap (the config's secret
/// stops at once), as an operator would at run time.
async fn rotate_demo_client<S: TokenStore + ClientRegistry>(store: S) -> String {
    let server = AuthServer::new(store, Keyring::random().unwrap(), Config::new("http://127.0.0.1:8080"));
    match server.rotate_client_secret(&ClientId::new(CLIENT.0).unwrap(), UnixTime(0)).await.unwrap() {
        SecretRotation::Rotated { secret, previous_until: None } => secret.into_string(),
        other => panic!("not rotated: {other:?}"),
    }
}

/// Polls `f` until it returns true, for at most 20 s.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(Instant::now() < deadline, "not within 20 s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready(addr: SocketAddr) -> Resp {
    send(addr, "GET", READY_PATH, &[], b"").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_run_time_changes_survive_a_restart_and_reapplying_is_on_purpose() {
    let dir = std::env::temp_dir().join(format!("gatehouse-example-clients-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("clients.db");
    let _ = std::fs::remove_file(&path);
    let settings = || {
        let mut s = sample();
        s.store = StoreSettings::Sqlite { path: path.clone() };
        s
    };
    let app = start_configured(settings());
    assert_eq!(token_status(app.addr, CLIENT).await, 200);
    assert_eq!(token_status(app.addr, WEB).await, 400);

    // At run time: demo-client gets a new secret, demo-web is removed.
    let store = gatehouse_sqlite::SqliteStore::open(&path).unwrap();
    let new = rotate_demo_client(store.clone()).await;
    assert!(store.remove_client(&ClientId::new(WEB.0).unwrap()).await.unwrap());
    assert_eq!(token_status(app.addr, CLIENT).await, 401);
    assert_eq!(token_status(app.addr, (CLIENT.0, &new)).await, 200);
    assert_eq!(token_status(app.addr, WEB).await, 401);
    app.shutdown().await;

    // Restarted from the same file and config: both changes survived.
    let app = start_configured(settings());
    assert_eq!(token_status(app.addr, CLIENT).await, 401, "the config's secret came back");
    assert_eq!(token_status(app.addr, (CLIENT.0, &new)).await, 200, "the rotated secret was lost");
    assert_eq!(token_status(app.addr, WEB).await, 401, "the removed client came back");
    assert_eq!(ready(app.addr).await.status, 200);
    app.shutdown().await;

    // --reapply-clients: the file's registrations, on purpose.
    let mut again = settings();
    again.reapply_clients = true;
    let app = start_configured(again);
    assert_eq!(token_status(app.addr, CLIENT).await, 200);
    assert_eq!(token_status(app.addr, (CLIENT.0, &new)).await, 401);
    assert_eq!(token_status(app.addr, WEB).await, 400);
    app.shutdown().await;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

fn on_redis(url: &str, prefix: &str, seed_check_every: Duration) -> Settings {
    let mut s = sample();
    s.store = StoreSettings::Redis { url: url.to_owned(), prefix: prefix.to_owned() };
    s.seed_check_every = seed_check_every;
    s
}

/// Two instances on one Redis, each restarted: neither undoes a run-time
/// change, at start or after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_run_time_changes_survive_restarts_of_every_instance() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let settings = || on_redis(&redis.url(), &prefix, Duration::from_millis(100));
    let a = start_configured(settings());
    assert_eq!(token_status(a.addr, CLIENT).await, 200);
    let store = gatehouse_redis::RedisStore::connect(&redis.url(), &prefix).await.unwrap();
    let new = rotate_demo_client(store).await;
    // A's client cache drops the old record when Redis tells it.
    eventually("A refuses the old secret", || async { token_status(a.addr, CLIENT).await == 401 }).await;

    // B starts from the same file while A runs; then A restarts.
    let b = start_configured(settings());
    assert_eq!(token_status(b.addr, CLIENT).await, 401, "B's start brought the config's secret back");
    a.shutdown().await;
    let a = start_configured(settings());
    for addr in [a.addr, b.addr] {
        assert_eq!(token_status(addr, CLIENT).await, 401);
        assert_eq!(token_status(addr, (CLIENT.0, &new)).await, 200);
        assert_eq!(ready(addr).await.status, 200);
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// A Redis without persistence restarts empty. An instance that has not
/// yet seeded it again says so on readiness (503, the reason) rather than
/// answering 401 to everyone while looking ready; one whose check runs
/// seeds it again, and then every instance serves the configured clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_restarts_empty_is_reported_and_seeded_again() {
    let mut redis = RedisServer::start();
    let prefix = unique_prefix();
    // `a` checks only once an hour: it never seeds again in this test.
    let a = start_configured(on_redis(&redis.url(), &prefix, Duration::from_secs(3600)));
    assert_eq!(token_status(a.addr, CLIENT).await, 200);
    assert_eq!(ready(a.addr).await.status, 200);

    redis.restart();
    eventually("A reports the lost data", || async {
        let r = ready(a.addr).await;
        r.status == 503 && r.json()["error"] == LOST_DATA
    })
    .await;
    let r = ready(a.addr).await;
    assert_eq!(r.header("retry-after"), Some("5"), "{}", r.text());
    assert_eq!(token_status(a.addr, CLIENT).await, 401);

    // `b` checks every 100 ms. Started now, it seeds at start; so start it
    // before the next loss, and lose the data again.
    let b = start_configured(on_redis(&redis.url(), &prefix, Duration::from_millis(100)));
    eventually("A serves again once B seeded", || async { token_status(a.addr, CLIENT).await == 200 }).await;
    assert_eq!(ready(a.addr).await.status, 200);
    redis.restart();
    // B's watcher notices and seeds again, with no restart of anything.
    eventually("B seeds the empty Redis again", || async {
        token_status(b.addr, CLIENT).await == 200 && ready(b.addr).await.status == 200
    })
    .await;
    eventually("A is ready again", || async { ready(a.addr).await.status == 200 }).await;
    assert_eq!(token_status(a.addr, CLIENT).await, 200);
    a.shutdown().await;
    b.shutdown().await;
}
