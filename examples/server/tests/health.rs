//! Liveness and readiness: `/health/live` answers whenever the process
//! serves; `/health/ready` answers 200 only while a store round trip
//! works, on each backend, and 503 with `Retry-After` while it does not.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{sample, send, start_configured, start_with, Resp};
use gatehouse_example_server::health::{LIVE_PATH, READY_PATH};
use gatehouse_example_server::StoreSettings;
use gatehouse_redis::testing::{unique_prefix, RedisServer};

async fn get(addr: SocketAddr, path: &str) -> Resp {
    send(addr, "GET", path, &[], b"").await
}

fn assert_up(r: &Resp, status: &str) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], status);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn memory_store_is_live_and_ready() {
    let app = start_with(sample()).await;
    assert_up(&get(app.addr, LIVE_PATH).await, "live");
    assert_up(&get(app.addr, READY_PATH).await, "ready");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_is_ready() {
    let dir = std::env::temp_dir().join(format!("gatehouse-example-health-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut settings = sample();
    settings.store = StoreSettings::Sqlite { path: dir.join("tokens.db") };
    let app = start_configured(settings);
    assert_up(&get(app.addr, READY_PATH).await, "ready");
    assert_up(&get(app.addr, LIVE_PATH).await, "live");
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Redis down: not ready (503, `Retry-After`, no detail naming the host),
/// but still live, so an orchestrator takes the instance out of rotation
/// without restarting it; ready again once Redis is back, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_not_ready_but_live_and_recovers() {
    let mut redis = RedisServer::start();
    let mut settings = sample();
    settings.store = StoreSettings::Redis { url: redis.url(), prefix: unique_prefix() };
    let app = start_configured(settings);
    assert_up(&get(app.addr, READY_PATH).await, "ready");

    redis.stop();
    let r = get(app.addr, READY_PATH).await;
    assert_eq!(r.status, 503, "{}", r.text());
    let retry = gatehouse_core::Error::UNAVAILABLE_RETRY_AFTER.to_string();
    assert_eq!(r.header("retry-after"), Some(retry.as_str()));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json()["status"], "unavailable");
    assert!(!r.text().contains("127.0.0.1") && !r.text().contains(&redis.port().to_string()), "{}", r.text());
    assert_up(&get(app.addr, LIVE_PATH).await, "live");

    // Bounded polling: the connection comes back in the background.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get(app.addr, READY_PATH).await;
        if r.status == 200 {
            assert_up(&r, "ready");
            break;
        }
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(Instant::now() < deadline, "not ready 20 s after Redis came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.shutdown().await;
}
