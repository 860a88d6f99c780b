//! Fail closed, recover by itself: Redis down or hung → every call returns
//! a backend error within the timeout (never a token answer); Redis back on
//! the same port → the same store works again, no restart.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{grant, public_client, record};
use gatehouse_core::model::{ClientId, TokenKind};
use gatehouse_core::{ClientRegistry, FishingLimiter, LimiterConfig, StoreError, TokenStore};
use gatehouse_redis::testing::{unique_prefix, RedisServer};
use gatehouse_redis::{RedisConnection, RedisOptions, RedisStore};

const TIMEOUT: Duration = Duration::from_millis(300);
/// The timeout plus scheduling slack.
const BOUND: Duration = Duration::from_millis(1500);

async fn store(server: &RedisServer) -> RedisStore {
    let conn = RedisConnection::connect(&server.url(), TIMEOUT).await.unwrap();
    RedisStore::with_connection(conn, RedisOptions::new(&unique_prefix())).unwrap()
}

/// Every operation fails with `StoreError::Backend`, each within `BOUND`.
async fn all_fail(s: &RedisStore) {
    let g = grant();
    let r = record(TokenKind::Access, g);
    let rs = ClientId::new("rs").unwrap();
    let limiter = s.limiter(LimiterConfig::default());
    macro_rules! fails {
        ($e:expr) => {{
            let start = Instant::now();
            let out = $e.await;
            assert!(matches!(out, Err(StoreError::Backend(_))), "{}: {out:?}", stringify!($e));
            assert!(start.elapsed() < BOUND, "{} took {:?}", stringify!($e), start.elapsed());
        }};
    }
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
}

/// Bounded polling until the store answers again (the connection
/// reconnects in the background and on the next call).
async fn recovers(s: &RedisStore) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let r = record(TokenKind::Access, grant());
    loop {
        match s.insert(r.clone()).await {
            Ok(()) => break,
            Err(StoreError::Backend(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("store did not recover: {e:?}"),
        }
    }
    assert_eq!(s.get(&r.digest).await.unwrap(), Some(r));
    let code = record(TokenKind::AuthorizationCode, grant());
    s.insert(code.clone()).await.unwrap();
    assert!(matches!(s.consume(&code.digest, vec![]).await.unwrap(), gatehouse_core::Consumed::Taken(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_closed_then_recovers() {
    let mut server = RedisServer::start();
    let s = store(&server).await;
    let r = record(TokenKind::Access, grant());
    s.insert(r.clone()).await.unwrap();
    assert!(s.get(&r.digest).await.unwrap().is_some());

    server.stop();
    all_fail(&s).await;
    // Still failing on a second round (no stale success, no hang).
    all_fail(&s).await;

    server.restart();
    recovers(&s).await;
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").arg(sig).arg(pid.to_string()).status().unwrap().success();
    assert!(ok, "kill {sig} {pid} failed");
}

/// A hung server (SIGSTOP): calls time out instead of waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    all_fail(&s).await;
    drop(cont);
    recovers(&s).await;
}
