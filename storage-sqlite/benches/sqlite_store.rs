//! Costs with 1k and 1M stored tokens:
//!
//! - `sqlite_store/*`: the store alone: get (hit), get (miss), insert (one
//!   at a time, so one commit each, with `synchronous` FULL and NORMAL), and
//!   inserts from 32 concurrent tasks (group commit, FULL; time per insert);
//! - `sqlite_server/*`: through the core API, an `AuthServer` over the same
//!   store: `introspect` of valid tokens by a resource server (token check,
//!   record read, issuing client read, limiter) and `client_credentials`
//!   issuance (mint, one committed insert with `synchronous` FULL).
//!
//! `cargo bench -p gatehouse-sqlite --bench sqlite_store`
//! (`GATEHOUSE_BENCH_SIZES=1k` skips the 1M store.)
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gatehouse_core::model::{
    Claims, Client, ClientId, GrantId, GrantType, Jti, Resource, Scope, SecretDigest, TokenDigest, TokenKind,
    TokenRecord,
};
use gatehouse_core::{AuthServer, ClientRegistry, Clock, Config, Keyring, SystemClock, TokenStore, UnixTime};
use gatehouse_sqlite::{SqliteConfig, SqliteStore, Synchronous};

use gatehouse_sqlite::block_on as run;

/// splitmix64: fast, deterministic, uniformly spread keys (real digests are
/// uniform too), without a CSPRNG call per record.
struct Keys(u64);

impl Keys {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes()[..chunk.len()]);
        }
        out
    }

    fn digest(&mut self) -> TokenDigest {
        TokenDigest::new(GrantId::from_bytes(self.bytes()), self.bytes())
    }

    fn record_for(&mut self, digest: TokenDigest, exp: u64, client: &ClientId, scope: &Scope) -> TokenRecord {
        TokenRecord::access(
            digest,
            Jti::from_bytes(self.bytes()),
            Claims::new(client.clone(), scope.clone(), Vec::new().into()),
            UnixTime(1_700_000_000),
            UnixTime(exp),
        )
    }

    fn record(&mut self) -> TokenRecord {
        let digest = self.digest();
        let exp = 1_700_003_600 + self.next_u64() % 3_600;
        self.record_for(
            digest,
            exp,
            &ClientId::new("bench-client").unwrap(),
            &Scope::parse("read write").unwrap(),
        )
    }
}

struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A store holding `n` tokens, and up to 10 000 of their digests, in
/// random order.
///
/// The keys (and expiry times) are inserted in sorted order: a 1M fill in random order spends
/// minutes evicting and re-reading B-tree pages. Sorted insertion leaves
/// full pages, as after a `VACUUM`; a store filled by random inserts over
/// time has pages about 70 % full and a slightly larger file.
fn filled(n: usize, keys: &mut Keys) -> (TempDb, SqliteStore, Vec<TokenDigest>) {
    let dir = std::env::temp_dir().join(format!("gatehouse-sqlite-bench-{n}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(dir.join("tokens.db")).unwrap();
    let started = Instant::now();
    let mut digests: Vec<TokenDigest> = (0..n).map(|_| keys.digest()).collect();
    let step = (n / 10_000).max(1);
    let mut sample: Vec<TokenDigest> = digests.iter().step_by(step).copied().collect();
    digests.sort_unstable();
    let (client, scope) = (ClientId::new("bench-client").unwrap(), Scope::parse("read write").unwrap());
    // Expiry times spread over an hour and rise with the key, so that the
    // expiry index is appended to in order too.
    let exp = |i: usize| 1_700_003_600 + (i * 3_600 / n) as u64;
    for (c, chunk) in digests.chunks(100_000).enumerate() {
        let batch: Vec<TokenRecord> = chunk
            .iter()
            .enumerate()
            .map(|(i, d)| keys.record_for(*d, exp(c * 100_000 + i), &client, &scope))
            .collect();
        store.insert_batch(batch).unwrap();
    }
    // Shuffle the sample so consecutive gets hit unrelated pages.
    for i in (1..sample.len()).rev() {
        let j = usize::try_from(keys.next_u64() % (i as u64 + 1)).unwrap();
        sample.swap(i, j);
    }
    eprintln!("filled {n} tokens in {:.1?}", started.elapsed());
    (TempDb(dir), store, sample)
}

fn bench_store(c: &mut Criterion) {
    let mut keys = Keys(42);
    // `GATEHOUSE_BENCH_SIZES=1k` skips the 1M fill for a quick run.
    let only = std::env::var("GATEHOUSE_BENCH_SIZES").ok();
    for (n, label) in [(1_000, "1k"), (1_000_000, "1M")] {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|s| s == label)) {
            continue;
        }
        let (dir, store, sample) = filled(n, &mut keys);
        let mut g = c.benchmark_group(format!("sqlite_store/{label}"));
        g.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));

        let mut i = 0;
        g.bench_function("get_hit", |b| {
            b.iter(|| {
                i = (i + 1) % sample.len();
                let r = run(store.get(black_box(&sample[i]))).unwrap();
                black_box(r.unwrap());
            });
        });
        g.bench_function("get_miss", |b| {
            b.iter_batched(
                || keys.record().digest,
                |d| black_box(run(store.get(&d)).unwrap()),
                BatchSize::SmallInput,
            );
        });
        g.bench_function("insert_sync_full", |b| {
            b.iter_batched(|| keys.record(), |r| run(store.insert(r)).unwrap(), BatchSize::SmallInput);
        });
        bench_concurrent_inserts(&mut g, &store, &mut keys);
        let mut config = SqliteConfig::default();
        config.synchronous = Synchronous::Normal;
        let normal = SqliteStore::open_with(dir.0.join("tokens.db"), config).unwrap();
        g.bench_function("insert_sync_normal", |b| {
            b.iter_batched(|| keys.record(), |r| run(normal.insert(r)).unwrap(), BatchSize::SmallInput);
        });
        g.finish();
        drop(normal);
        bench_server(c, label, &store);
    }
}

/// Tasks inserting at once in `insert_concurrent_32`.
const TASKS: usize = 32;

/// `iters` inserts spread over [`TASKS`] tasks of a 2-thread tokio runtime
/// (as a server would call the store), all running at once; the time is
/// per insert, so it compares directly with `insert_sync_full`. The
/// records are made before the clock starts.
fn bench_concurrent_inserts(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    store: &SqliteStore,
    keys: &mut Keys,
) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    g.bench_function("insert_concurrent_32", |b| {
        b.iter_custom(|iters| {
            let per_task = usize::try_from(iters).unwrap().div_ceil(TASKS);
            let work: Vec<Vec<TokenRecord>> =
                (0..TASKS).map(|_| (0..per_task).map(|_| keys.record()).collect()).collect();
            let started = Instant::now();
            rt.block_on(async {
                let tasks: Vec<_> = work
                    .into_iter()
                    .map(|records| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            for r in records {
                                store.insert(r).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            });
            // Scaled to `iters` inserts (the tasks did `per_task * TASKS`).
            started.elapsed().mul_f64(iters as f64 / (per_task * TASKS) as f64)
        });
    });
}

/// The resource server and the client of the core-API benches.
fn clients() -> (Client, Client) {
    let api = Resource::new("https://api.example").unwrap();
    let app = Client::new_confidential(ClientId::new("app").unwrap(), SecretDigest::generate().unwrap().1)
        .with_grants([GrantType::ClientCredentials])
        .with_scope(Scope::parse("read write").unwrap(), Scope::parse("read").unwrap())
        .with_audiences([api.clone()]);
    let rs =
        Client::new_resource_server(ClientId::new("rs").unwrap(), SecretDigest::generate().unwrap().1, [api]);
    (app, rs)
}

/// Introspection and issuance through `AuthServer` over a store already
/// holding `n` tokens. The introspected tokens are 1,000 live ones minted
/// by the server's keyring and inserted among the others (random grant
/// ids, so spread over the whole B-tree), taken in turn.
fn bench_server(c: &mut Criterion, label: &str, store: &SqliteStore) {
    let keys = Keyring::random().unwrap();
    let server = AuthServer::new(store.clone(), keys.clone(), Config::new("https://issuer.example"));
    let (app, rs) = clients();
    run(server.store().put_client(app.clone())).unwrap();
    run(server.store().put_client(rs.clone())).unwrap();
    let now = SystemClock.now();
    let mut tokens = Vec::new();
    let mut records = Vec::new();
    for _ in 0..1_000 {
        let (token, digest) = keys.mint(TokenKind::Access, GrantId::generate().unwrap()).unwrap();
        tokens.push(token.into_string());
        records.push(TokenRecord::access(
            digest,
            Jti::generate().unwrap(),
            Claims::new(app.id.clone(), Scope::parse("read").unwrap(), app.audiences.clone()),
            now,
            now.plus(24 * 3600),
        ));
    }
    store.insert_batch(records).unwrap();
    assert!(run(server.introspect(&rs, &tokens[0])).unwrap().is_active());

    let mut g = c.benchmark_group(format!("sqlite_server/{label}"));
    g.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    let mut i = 0;
    g.bench_function("introspect_valid", |b| {
        b.iter(|| {
            i = (i + 1) % tokens.len();
            let r = run(server.introspect(&rs, black_box(&tokens[i]))).unwrap();
            assert!(r.is_active());
        });
    });
    // The caller's lookup that every request makes (authentication):
    // the notice file's length, then the snapshot.
    g.bench_function("client_lookup", |b| {
        b.iter(|| black_box(run(server.store().client(black_box(&rs.id))).unwrap().unwrap()));
    });
    g.bench_function("issue_client_credentials", |b| {
        b.iter(|| black_box(run(server.client_credentials(&app, None, &[])).unwrap()));
    });
    g.finish();
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
