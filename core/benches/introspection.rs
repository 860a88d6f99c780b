//! Introspection and issuance over the memory store, pre-filled with 1,000
//! and 1,000,000 tokens.
//!
//! `cargo bench -p gatehouse-core --bench introspection`
//!
//! The memory store and limiter return ready futures, so each operation is
//! driven by a single poll: the figures carry no executor overhead.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{ready, setup, setup_with};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gatehouse_core::{ClientRegistry, HttpRequest, LimiterConfig, MemoryLimiter, TokenStore, UnixTime};

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

/// The hot paths on a server with a sink that records nothing, beside the
/// same on a server without one (`introspect/*/1000` above).
fn audit(c: &mut Criterion) {
    let mut g = c.benchmark_group("noop_sink");
    g.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    let s = setup_with(1_000, true);
    g.bench_function("valid", |b| b.iter(|| ready(s.server.introspect(&s.rs, black_box(&s.valid)))));
    g.bench_function("forged", |b| b.iter(|| ready(s.server.introspect(&s.rs, black_box(&s.forged)))));
    g.bench_function("issue_client_credentials", |b| {
        b.iter(|| ready(s.server.client_credentials(&s.app, None, &[])))
    });
    g.finish();
}

/// The parts of a valid introspection, to see where the time goes.
fn parts(c: &mut Criterion) {
    let s = setup(1_000);
    let keys = &s.keys;
    let mut g = c.benchmark_group("parts");
    g.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    g.bench_function("verify_token", |b| b.iter(|| keys.verify(black_box(&s.valid))));
    g.bench_function("verify_forged", |b| b.iter(|| keys.verify(black_box(&s.forged))));
    let digest = keys.verify(&s.valid).expect("valid").digest;
    g.bench_function("store_get", |b| b.iter(|| ready(s.server.store().get(black_box(&digest)))));
    g.bench_function("client_get", |b| b.iter(|| ready(s.server.store().client(black_box(&s.app.id)))));
    let limiter = MemoryLimiter::new(LimiterConfig { burst: u32::MAX, per_minute: 60_000 });
    g.bench_function("limiter_reserve", |b| {
        b.iter(|| ready(gatehouse_core::FishingLimiter::reserve(&limiter, black_box(&s.rs.id), UnixTime(1))))
    });
    g.bench_function("system_clock", |b| b.iter(|| gatehouse_core::Clock::now(&gatehouse_core::SystemClock)));
    g.finish();
}

criterion_group!(benches, bench, audit, parts);
criterion_main!(benches);
