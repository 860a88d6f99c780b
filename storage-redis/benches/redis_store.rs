//! Introspection's store read through `RedisStore::get` versus a raw `GET`
//! of a value of the same size, on the same Redis in the same run.
//!
//! Run: `cargo bench -p gatehouse-redis --features testing --bench redis_store`
//! (starts its own redis-server, or uses `REDIS_URL`). Besides criterion's
//! report, it prints both medians from an interleaved run and their ratio.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use gatehouse_core::model::{
    ClientId, GrantId, Jti, Resource, Scope, Subject, TokenKind, TokenRecord, TokenState,
};
use gatehouse_core::{Clock, Keyring, SystemClock, TokenStore};
use gatehouse_redis::testing::TestRedis;
use gatehouse_redis::{RedisConnection, RedisStore};

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
        let record = TokenRecord {
            digest,
            kind: TokenKind::Access,
            client_id: ClientId::new("web-app").unwrap(),
            subject: Some(Subject::new("alice").unwrap()),
            scope: Scope::parse("read write").unwrap(),
            audience: Arc::from(vec![Resource::new("https://api.example").unwrap()]),
            issued_at: now,
            not_before: now,
            expires_at: now.plus(3600),
            jti: Jti::generate().unwrap(),
            state: TokenState::Active,
            code: None,
        };
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

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
