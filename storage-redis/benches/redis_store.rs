//! Introspection's store read through `RedisStore::get` versus a raw `GET`
//! of a value of the same size, on the same Redis in the same run; then
//! the core's endpoints over `RedisStore` + `RedisLimiter` (client
//! authentication included): valid introspection and client_credentials
//! issuance, each beside a raw `GET` (one round trip).
//!
//! Run: `cargo bench -p gatehouse-redis --features testing --bench redis_store`
//! (starts its own redis-server, or uses `REDIS_URL`). Besides criterion's
//! report, it prints both medians from an interleaved run and their ratio.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use gatehouse_core::http::HttpRequest;
use gatehouse_core::model::{
    Claims, Client, ClientId, GrantId, GrantType, Jti, Resource, Scope, SecretDigest, Subject, TokenKind,
    TokenRecord,
};
use gatehouse_core::{AuthServer, ClientRegistry, Clock, Config, Keyring, SystemClock, TokenStore};
use gatehouse_redis::testing::TestRedis;
use gatehouse_redis::{RedisConnection, RedisLimiter, RedisStore};

struct Setup {
    _redis: TestRedis,
    rt: tokio::runtime::Runtime,
    store: RedisStore,
    raw: RedisConnection,
    record: TokenRecord,
    raw_key: String,
}

fn setup() -> Setup {
    let redis = TestRedis::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (store, raw, record, raw_key) = rt.block_on(async {
        let prefix = gatehouse_redis::testing::unique_prefix();
        let store = RedisStore::connect(&redis.url(), &prefix).await.unwrap();
        let raw = RedisConnection::connect(&redis.url(), Duration::from_millis(500)).await.unwrap();
        let grant = GrantId::generate().unwrap();
        let (_token, digest) = Keyring::random().unwrap().mint(TokenKind::Access, grant).unwrap();
        let now = SystemClock.now();
        let record = TokenRecord::access(
            digest,
            Jti::generate().unwrap(),
            Claims::new(
                ClientId::new("web-app").unwrap(),
                Scope::parse("read write").unwrap(),
                Arc::from(vec![Resource::new("https://api.example").unwrap()]),
            )
            .with_subject(Subject::new("alice").unwrap()),
            now,
            now.plus(3600),
        );
        store.insert(record.clone()).await.unwrap();
        // A raw value of the same size as the stored one.
        let stored_key = format!("{prefix}t:{{{grant}}}:{}", digest.hash_hex());
        let len: usize = raw.query(redis::cmd("STRLEN").arg(&stored_key)).await.unwrap();
        let raw_key = format!("{prefix}raw");
        raw.query::<()>(redis::cmd("SET").arg(&raw_key).arg(vec![b'x'; len])).await.unwrap();
        (store, raw, record, raw_key)
    });
    Setup { _redis: redis, rt, store, raw, record, raw_key }
}

async fn raw_get(s: &Setup) -> Vec<u8> {
    s.raw.query::<Vec<u8>>(redis::cmd("GET").arg(&s.raw_key)).await.unwrap()
}

fn bench(c: &mut Criterion) {
    let s = setup();
    let mut g = c.benchmark_group("introspection_read");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    g.bench_function("redis_store_get", |b| {
        b.to_async(&s.rt).iter(|| async { s.store.get(&s.record.digest).await.unwrap().unwrap() });
    });
    g.bench_function("raw_get_same_size", |b| {
        b.to_async(&s.rt).iter(|| raw_get(&s));
    });
    g.finish();

    // Interleaved medians, so both see the same server and machine state.
    let (mut store_ns, mut raw_ns) = (Vec::new(), Vec::new());
    s.rt.block_on(async {
        for _ in 0..5000 {
            let t = Instant::now();
            let r = s.store.get(&s.record.digest).await.unwrap();
            store_ns.push(t.elapsed().as_nanos());
            assert!(r.is_some());
            let t = Instant::now();
            let v = raw_get(&s).await;
            raw_ns.push(t.elapsed().as_nanos());
            assert!(!v.is_empty());
        }
    });
    store_ns.sort_unstable();
    raw_ns.sort_unstable();
    let (sm, rm) = (store_ns[store_ns.len() / 2], raw_ns[raw_ns.len() / 2]);
    #[allow(clippy::cast_precision_loss)]
    let ratio = sm as f64 / rm as f64;
    println!(
        "median over 5000 interleaved calls: RedisStore::get {:.1} µs, raw GET {:.1} µs, ratio {ratio:.2}",
        sm as f64 / 1000.0,
        rm as f64 / 1000.0
    );
}

/// A core over Redis with two registered clients and one issued token.
struct Core {
    server: AuthServer<RedisStore, RedisLimiter>,
    introspect_body: String,
    issue_body: String,
}

fn core(s: &Setup) -> Core {
    s.rt.block_on(async {
        let store = s.store.clone();
        // The client cache serves once tracking is set up.
        gatehouse_redis::testing::cache_live(&store).await;
        let server =
            AuthServer::new(store.clone(), Keyring::random().unwrap(), Config::new("https://issuer.example"))
                .with_limiter(store.limiter(Config::default().limiter));
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
        let introspect_body = format!("client_id=rs&client_secret={rs_secret}&token={token}");
        Core { server, introspect_body, issue_body }
    })
}

async fn introspect(c: &Core) {
    let r = c.server.introspection_endpoint(HttpRequest::form_post(c.introspect_body.as_bytes())).await;
    assert!(r.body.starts_with(b"{\"active\":true"));
}

async fn issue(c: &Core) {
    let r = c.server.token_endpoint(HttpRequest::form_post(c.issue_body.as_bytes())).await;
    assert_eq!(r.status, 200);
}

fn bench_core(c: &mut Criterion) {
    let s = setup();
    let core = core(&s);
    let mut g = c.benchmark_group("core_over_redis");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    g.bench_function("introspection_endpoint_valid", |b| b.to_async(&s.rt).iter(|| introspect(&core)));
    g.bench_function("token_endpoint_client_credentials", |b| b.to_async(&s.rt).iter(|| issue(&core)));
    g.bench_function("raw_get", |b| b.to_async(&s.rt).iter(|| raw_get(&s)));
    g.finish();

    let (mut intro, mut iss, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    s.rt.block_on(async {
        for _ in 0..3000 {
            let t = Instant::now();
            introspect(&core).await;
            intro.push(t.elapsed().as_nanos());
            let t = Instant::now();
            issue(&core).await;
            iss.push(t.elapsed().as_nanos());
            let t = Instant::now();
            raw_get(&s).await;
            raw.push(t.elapsed().as_nanos());
        }
    });
    let median = |v: &mut Vec<u128>| {
        v.sort_unstable();
        #[allow(clippy::cast_precision_loss)]
        let m = v[v.len() / 2] as f64 / 1000.0;
        m
    };
    let (i, t, r) = (median(&mut intro), median(&mut iss), median(&mut raw));
    println!(
        "median over 3000 interleaved calls: valid introspection {i:.1} µs ({:.2} raw GETs), \
         client_credentials issuance {t:.1} µs ({:.2} raw GETs), raw GET {r:.1} µs",
        i / r,
        t / r
    );
}

criterion_group!(benches, bench, bench_core);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
