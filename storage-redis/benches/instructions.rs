//! Instructions per operation, counted by valgrind's callgrind on both
//! sides of the connection: inside a redis-server run under callgrind
//! (this binary zeroes its counters before the measured loop and dumps
//! them after, with `callgrind_control`), and in this process (its
//! measured loop is the `measure` function, for `--toggle-collect`).
//! Counts repeat closely from run to run, so they compare builds on a
//! machine too busy for timings.
//!
//! Run through `storage-redis/benches/callgrind.sh`, which starts the
//! redis-server under callgrind and prints one line per operation. By
//! hand: `REDIS_URL=redis://127.0.0.1:<port>/ [REDIS_CALLGRIND_PID=<pid>]
//! <this binary> <op> <n>`, with `<op>` one of `introspect_valid`,
//! `introspect_forged`, `issue`, `reserve`, `refund`.
//!
//! Everything runs on one thread (a current-thread runtime), so the
//! client-side count includes the redis crate's connection task and
//! Tokio's driver, as a server process pays them.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::process::Command;

use gatehouse_core::http::HttpRequest;
use gatehouse_core::limiter::{Admission, FishingLimiter, LimiterConfig};
use gatehouse_core::model::{Client, ClientId, GrantType, Resource, Scope, SecretDigest};
use gatehouse_core::{AuthServer, ClientRegistry, Clock, Config, Keyring, SystemClock};
use gatehouse_redis::{RedisLimiter, RedisStore};

struct Bench {
    server: AuthServer<RedisStore, RedisLimiter>,
    limiter: RedisLimiter,
    store: RedisStore,
    introspect_body: String,
    forged_body: String,
    issue_body: String,
}

async fn setup(url: &str) -> Bench {
    let prefix = gatehouse_redis::testing::unique_prefix();
    let store = RedisStore::connect(url, &prefix).await.unwrap();
    // Client records are served from the cache once tracking is set up.
    gatehouse_redis::testing::cache_live(&store).await;
    // A limiter that never throttles: every call takes the same path.
    let unlimited = LimiterConfig { burst: u32::MAX, per_minute: 60 };
    let server =
        AuthServer::new(store.clone(), Keyring::random().unwrap(), Config::new("https://issuer.example"))
            .with_limiter(store.limiter(unlimited));
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
    let r = server.token_endpoint(HttpRequest::form_post(issue_body.as_bytes())).await;
    assert_eq!(r.status, 200);
    let token = r.json_body().unwrap()["access_token"].as_str().unwrap().to_owned();
    // Another base64 character inside the token's tag: well-formed, forged.
    let mut forged = token.clone().into_bytes();
    let at = forged.len() - 5;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let introspect_body = format!("client_id=rs&client_secret={rs_secret}&token={token}");
    let forged_body = format!("client_id=rs&client_secret={rs_secret}&token={forged}");
    let limiter = store.limiter(unlimited);
    Bench { server, limiter, store, introspect_body, forged_body, issue_body }
}

async fn once(b: &Bench, op: &str) {
    match op {
        "introspect_valid" => {
            let r =
                b.server.introspection_endpoint(HttpRequest::form_post(b.introspect_body.as_bytes())).await;
            assert!(r.body.starts_with(b"{\"active\":true"), "{}", String::from_utf8_lossy(&r.body));
        }
        "introspect_forged" => {
            let r = b.server.introspection_endpoint(HttpRequest::form_post(b.forged_body.as_bytes())).await;
            assert_eq!(r.body, b"{\"active\":false}");
        }
        "issue" => {
            let r = b.server.token_endpoint(HttpRequest::form_post(b.issue_body.as_bytes())).await;
            assert_eq!(r.status, 200);
        }
        "reserve" => {
            let caller = ClientId::new("rs").unwrap();
            assert_eq!(b.limiter.reserve(&caller, SystemClock.now()).await.unwrap(), Admission::Allowed);
        }
        "refund" => {
            let caller = ClientId::new("rs").unwrap();
            b.limiter.refund(&caller, SystemClock.now()).await.unwrap();
        }
        other => panic!("unknown operation {other}"),
    }
}

/// The measured loop; `--toggle-collect='*measure*'` counts only inside it.
#[inline(never)]
fn measure(rt: &tokio::runtime::Runtime, b: &Bench, op: &str, n: u64) {
    rt.block_on(async {
        for _ in 0..n {
            once(b, op).await;
        }
        // Refunds are sent without waiting for their replies: one answered
        // command after them makes sure Redis has run them all.
        b.store.connection().query::<String>(&redis::cmd("PING")).await.unwrap();
    });
}

fn callgrind_control(flag: &str, pid: &str) {
    let ok = Command::new("callgrind_control").args([flag, pid]).output().map(|o| o.status.success());
    assert!(matches!(ok, Ok(true)), "callgrind_control {flag} {pid} failed");
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let (Some(op), Some(n)) = (args.next(), args.next()) else {
        println!("usage: instructions <op> <n> (see storage-redis/benches/callgrind.sh)");
        return;
    };
    let n: u64 = n.parse().expect("<n> is a number");
    let url = std::env::var("REDIS_URL").expect("REDIS_URL");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let b = rt.block_on(setup(&url));
    // Warm up: scripts loaded, caches filled, connection buffers grown.
    rt.block_on(async {
        for _ in 0..20 {
            once(&b, &op).await;
        }
    });
    let pid = std::env::var("REDIS_CALLGRIND_PID").ok();
    if let Some(pid) = &pid {
        callgrind_control("-z", pid);
    }
    measure(&rt, &b, &op, n);
    if let Some(pid) = &pid {
        callgrind_control("-d", pid);
    }
}
