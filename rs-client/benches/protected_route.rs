//! An API route protected by the client, against the example authorization
//! server over loopback: with a warm cache, and with the cache off (one
//! introspection per request).
//!
//! `cargo bench -p gatehouse-rs-client --bench protected_route`
//!
//! Three processes' worth of work share the machine in one process: the
//! example server, the resource server (an axum app with `GET /api/data`)
//! and the load (a keep-alive HTTP client), all on one two-worker Tokio
//! runtime. Each request goes client → resource server (→ authorization
//! server when not cached) over loopback TCP. `sequential`: one request
//! at a time (latency); `concurrent_16`: 16 at a time (throughput; criterion
//! reports requests per second).
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header::AUTHORIZATION, HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gatehouse_rs_client::{CacheConfig, CachedClient, Error, Introspect, Introspection, IntrospectionClient};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How the resource server checks tokens.
#[allow(clippy::large_enum_variant)] // one per bench run, never moved
enum Guard {
    Cached(CachedClient<IntrospectionClient>),
    Off(IntrospectionClient),
}

impl Guard {
    async fn check(&self, token: &str) -> Result<Arc<Introspection>, Error> {
        match self {
            Self::Cached(c) => c.introspect(token).await,
            Self::Off(c) => c.introspect(token).await.map(Arc::new),
        }
    }
}

/// `GET /api/data`: 200 for an active token with the API's audience and
/// scope `read`, 401 otherwise, 503 when the authorization server gave no
/// answer.
async fn data(State(guard): State<Arc<Guard>>, headers: HeaderMap) -> (StatusCode, String) {
    let token =
        headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else { return (StatusCode::UNAUTHORIZED, String::new()) };
    match guard.check(token).await {
        Ok(answer) => match answer.claims() {
            Some(c) if c.has_audience(common::API) && c.has_scope("read") => {
                (StatusCode::OK, format!("{{\"client_id\":{:?}}}", c.client_id.as_deref().unwrap_or("")))
            }
            _ => (StatusCode::UNAUTHORIZED, String::new()),
        },
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
    }
}

/// Serves the resource server with `guard` on a loopback port; its URL.
async fn resource_server(guard: Guard) -> String {
    let app = Router::new().route("/api/data", get(data)).with_state(Arc::new(guard));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/data", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

type Load = Client<HttpConnector, Empty<Bytes>>;

async fn call(load: &Load, url: &str, bearer: &str) {
    let req = hyper::Request::get(url).header(AUTHORIZATION, bearer).body(Empty::new()).unwrap();
    let resp = load.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (as_addr, bearer, cached_url, off_url) = rt.block_on(async {
        let app = common::start(common::sample()).await;
        let token = common::issue(app.addr).await;
        let client = || IntrospectionClient::new(common::rs_config(app.addr)).unwrap();
        let cached =
            resource_server(Guard::Cached(CachedClient::new(client(), CacheConfig::default()))).await;
        let off = resource_server(Guard::Off(client())).await;
        // Leak the server: it serves until the bench process ends.
        let addr = app.addr;
        std::mem::forget(app);
        (addr, format!("Bearer {token}"), cached, off)
    });
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let load: Load = Client::builder(TokioExecutor::new()).build(connector);
    // Warm: the cache, and every pool's connections.
    rt.block_on(async {
        for url in [&cached_url, &off_url] {
            for _ in 0..32 {
                call(&load, url, &bearer).await;
            }
        }
    });
    println!("authorization server on {as_addr}");

    let mut g = c.benchmark_group("protected_route");
    g.measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    for (name, url) in [("warm_cache", &cached_url), ("cache_off", &off_url)] {
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{name}/sequential"), |b| b.iter(|| rt.block_on(call(&load, url, &bearer))));
        g.throughput(Throughput::Elements(16));
        g.bench_function(format!("{name}/concurrent_16"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let calls: Vec<_> = (0..16)
                        .map(|_| {
                            let (load, url, bearer) = (load.clone(), url.clone(), bearer.clone());
                            tokio::spawn(async move { call(&load, &url, &bearer).await })
                        })
                        .collect();
                    for t in calls {
                        t.await.unwrap();
                    }
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
