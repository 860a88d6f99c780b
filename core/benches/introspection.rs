//! Introspection and issuance over the memory store, pre-filled with 1,000
//! and 1,000,000 tokens.
//!
//! `cargo bench -p gatehouse-core --bench introspection`
//!
//! The memory store and limiter return ready futures, so each operation is
//! driven by a single poll: the figures carry no executor overhead.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gatehouse_core::model::{Client, ClientId, GrantId, GrantType, Resource, Scope, SecretDigest, TokenKind};
use gatehouse_core::{
    AuthServer, ClientRegistry, Config, HttpRequest, Keyring, LimiterConfig, MemoryLimiter, TokenStore,
    UnixTime,
};
use gatehouse_memory::MemoryStore;

fn ready<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("memory-store futures are always ready"),
    }
}

struct Setup {
    server: AuthServer<MemoryStore>,
    keys: Keyring,
    limiter: MemoryLimiter,
    app: Client,
    rs: Client,
    rs_basic: String,
    valid: String,
    unknown: String,
    forged: String,
}

fn setup(n: usize) -> Setup {
    let mut config = Config::new("https://issuer.example");
    // Never throttle: the bench measures the work, not the limiter's refusal.
    config.limiter = LimiterConfig { burst: u32::MAX, per_minute: 60_000 };
    let keys = Keyring::random().expect("random");
    let server = AuthServer::new(MemoryStore::new(), keys.clone(), config);
    let keys = keys.clone();
    let api = Resource::new("https://api.example").expect("resource");
    let (_, app_digest) = SecretDigest::generate().expect("random");
    let app = Client::new_confidential(ClientId::new("app").expect("id"), app_digest)
        .with_grants([GrantType::ClientCredentials])
        .with_scope(Scope::parse("read write").expect("scope"), Scope::parse("read").expect("scope"))
        .with_audiences([api.clone()]);
    let (rs_secret, rs_digest) = SecretDigest::generate().expect("random");
    let rs = Client::new_resource_server(ClientId::new("rs").expect("id"), rs_digest, [api]);
    ready(server.store().put_client(app.clone())).expect("put");
    ready(server.store().put_client(rs.clone())).expect("put");
    let mut valid = String::new();
    for i in 0..n {
        let t = ready(server.client_credentials(&app, None, &[])).expect("issue");
        if i == n / 2 {
            valid = t.access_token.into_string();
        }
    }
    let (unknown, _) = keys.mint(TokenKind::Access, GrantId::generate().expect("random")).expect("mint");
    let mut forged = valid.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let rs_basic =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("rs:{rs_secret}")));
    Setup {
        server,
        keys,
        limiter: MemoryLimiter::new(LimiterConfig { burst: u32::MAX, per_minute: 60_000 }),
        app,
        rs,
        rs_basic,
        valid,
        unknown: unknown.into_string(),
        forged: String::from_utf8(forged).expect("ascii"),
    }
}

impl Setup {
    fn server_keys(&self) -> &Keyring {
        &self.keys
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("introspect");
    g.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for n in [1_000usize, 1_000_000] {
        let s = setup(n);
        assert!(ready(s.server.introspect(&s.rs, &s.valid)).expect("ok").is_active());
        g.bench_with_input(BenchmarkId::new("valid", n), &s, |b, s| {
            b.iter(|| ready(s.server.introspect(&s.rs, black_box(&s.valid))))
        });
        g.bench_with_input(BenchmarkId::new("unknown", n), &s, |b, s| {
            b.iter(|| ready(s.server.introspect(&s.rs, black_box(&s.unknown))))
        });
        g.bench_with_input(BenchmarkId::new("forged", n), &s, |b, s| {
            b.iter(|| ready(s.server.introspect(&s.rs, black_box(&s.forged))))
        });
        let body = format!("token={}", s.valid);
        g.bench_with_input(BenchmarkId::new("valid_http_with_client_auth", n), &s, |b, s| {
            b.iter(|| {
                let req = HttpRequest::form_post(body.as_bytes()).with_authorization(&s.rs_basic);
                let r = ready(s.server.introspection_endpoint(black_box(req)));
                assert_eq!(r.status, 200);
                r
            })
        });
        g.bench_with_input(BenchmarkId::new("issue_client_credentials", n), &s, |b, s| {
            b.iter(|| ready(s.server.client_credentials(&s.app, None, &[])))
        });
    }
    g.finish();
}

/// The parts of a valid introspection, to see where the time goes.
fn parts(c: &mut Criterion) {
    let s = setup(1_000);
    let keys = s.server_keys();
    let mut g = c.benchmark_group("parts");
    g.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    g.bench_function("verify_token", |b| b.iter(|| keys.verify(black_box(&s.valid))));
    g.bench_function("verify_forged", |b| b.iter(|| keys.verify(black_box(&s.forged))));
    let digest = keys.verify(&s.valid).expect("valid").digest;
    g.bench_function("store_get", |b| b.iter(|| ready(s.server.store().get(black_box(&digest)))));
    g.bench_function("client_get", |b| b.iter(|| ready(s.server.store().client(black_box(&s.app.id)))));
    g.bench_function("limiter_reserve", |b| {
        b.iter(|| {
            ready(gatehouse_core::FishingLimiter::reserve(&s.limiter, black_box(&s.rs.id), UnixTime(1)))
        })
    });
    g.bench_function("system_clock", |b| b.iter(|| gatehouse_core::Clock::now(&gatehouse_core::SystemClock)));
    g.finish();
}

criterion_group!(benches, bench, parts);
criterion_main!(benches);
