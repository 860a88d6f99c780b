//! One route handler, two backings of gatehouse-axum's bearer layer: the
//! monolith (the authorization server's own `AuthServer`, in process) and
//! a remote resource server (this crate's `CachedClient`, introspecting at
//! the example server over loopback). Both guard the same routes, built
//! by the same function, and must answer every request the same.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use common::{issue, revoke, rs_config, sample, API};
use gatehouse_axum::{Bearer, Gatehouse, RequireBearer, ValidateBearer};
use gatehouse_conformance::wrappers::Instrumented;
use gatehouse_core::model::{Resource, Subject};
use gatehouse_core::AuthServer;
use gatehouse_example_server::App;
use gatehouse_memory::MemoryStore;
use gatehouse_rs_client::{CacheConfig, CachedClient, IntrospectionClient};
use http_body_util::BodyExt as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower::ServiceExt as _;

type Store = Instrumented<MemoryStore>;

const OTHER: &str = "https://other.example";

/// The app's one handler: what the principal says, and a count of the
/// requests that reached it.
async fn me(State(calls): State<Arc<AtomicUsize>>, Bearer(p): Bearer) -> String {
    calls.fetch_add(1, Ordering::SeqCst);
    serde_json::json!({
        "client_id": p.client_id.as_str(),
        "sub": p.subject.as_ref().map(Subject::as_str),
        "scope": p.scope.as_str(),
        "aud": p.audience.iter().map(Resource::as_str).collect::<Vec<_>>(),
        "exp": p.expires_at.0,
        "jti": p.jti.map(|j| j.to_string()),
    })
    .to_string()
}

/// The app's routes, whatever validates its tokens: `/me` needs `read`
/// for [`API`], `/admin` needs `admin`, `/other` is another resource.
fn routes<V: ValidateBearer>(
    calls: &Arc<AtomicUsize>,
    require: impl Fn(&str, &str) -> RequireBearer<V>,
) -> Router {
    Router::new()
        .route("/me", get(me).route_layer(require(API, "read")))
        .route("/admin", get(me).route_layer(require(API, "admin")))
        .route("/other", get(me).route_layer(require(OTHER, "")))
        .with_state(Arc::clone(calls))
}

/// The example authorization server on loopback, over a store that fails
/// on demand, and the same routes behind each backing.
struct Setup {
    addr: std::net::SocketAddr,
    server: Arc<AuthServer<Store>>,
    monolith: Router,
    remote: Router,
    calls: Arc<AtomicUsize>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn setup() -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = App::new(Instrumented::new(MemoryStore::new()), sample()).await.unwrap();
    let server = Arc::clone(app.server());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));

    let calls = Arc::new(AtomicUsize::new(0));
    let gatehouse = Gatehouse::new(Arc::clone(&server));
    let monolith = routes(&calls, |aud, scope| gatehouse.require(aud, scope).unwrap());
    let client = IntrospectionClient::new(rs_config(addr)).unwrap();
    let cache = Arc::new(CachedClient::new(client, CacheConfig::default()));
    let remote = routes(&calls, |aud, scope| cache.require(aud, scope).unwrap());
    Setup { addr, server, monolith, remote, calls, stop, task }
}

/// What a client sees of an answer.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    challenge: Option<String>,
    retry_after: Option<String>,
    body: String,
}

impl Seen {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

async fn call(app: &Router, path: &str, authorization: Option<&str>) -> Seen {
    let mut req = Request::get(path);
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let r = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (challenge, retry_after) = (header("www-authenticate"), header("retry-after"));
    let status = r.status().as_u16();
    let body = String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    Seen { status, challenge, retry_after, body }
}

impl Setup {
    /// The answer of both backings, which must be the same.
    async fn both(&self, path: &str, authorization: Option<&str>) -> Seen {
        let monolith = call(&self.monolith, path, authorization).await;
        let remote = call(&self.remote, path, authorization).await;
        assert_eq!(monolith, remote, "{path} {}", authorization.map_or("no header", |_| "with a header"));
        monolith
    }
}

fn challenge(realm: &str, rest: &str) -> Option<String> {
    Some(format!(r#"Bearer realm="{realm}"{rest}"#))
}

const INVALID_TOKEN: &str = r#", error="invalid_token", error_description="the access token is invalid""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_route_answers_the_same_in_process_and_remote() {
    let s = setup().await;

    // A valid token: the route, with the same principal.
    let token = issue(s.addr).await;
    let bearer = format!("Bearer {token}");
    let r = s.both("/me", Some(&bearer)).await;
    assert_eq!(r.status, 200);
    let p = r.json();
    assert_eq!(
        (&p["client_id"], &p["sub"], &p["scope"]),
        (&"demo-client".into(), &None::<()>.into(), &"read".into())
    );
    assert_eq!(p["aud"], serde_json::json!([API]));
    assert!(p["exp"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(p["jti"].as_str().map(str::len), Some(22));
    assert_eq!(s.calls.load(Ordering::SeqCst), 2);

    // No header: 401 with a bare challenge.
    let r = s.both("/me", None).await;
    assert_eq!((r.status, r.challenge), (401, challenge(API, "")));

    // A malformed header, or another scheme: 400.
    let bad_request =
        challenge(API, r#", error="invalid_request", error_description="malformed Authorization header""#);
    for header in ["Bearer a b", "Basic ZGVtbzpkZW1v", "Bearer"] {
        let r = s.both("/me", Some(header)).await;
        assert_eq!((r.status, &r.challenge), (400, &bad_request), "{header}");
    }

    // Unknown, and revoked: 401 invalid_token.
    let r = s.both("/me", Some("Bearer gat_k1.not-a-real-token")).await;
    assert_eq!((r.status, r.challenge), (401, challenge(API, INVALID_TOKEN)));
    let revoked = issue(s.addr).await;
    revoke(s.addr, &revoked).await;
    let r = s.both("/me", Some(&format!("Bearer {revoked}"))).await;
    assert_eq!((r.status, r.challenge), (401, challenge(API, INVALID_TOKEN)));

    // Another resource's route: 401 invalid_token.
    let r = s.both("/other", Some(&bearer)).await;
    assert_eq!((r.status, r.challenge), (401, challenge(OTHER, INVALID_TOKEN)));

    // A scope the token lacks: 403 insufficient_scope, naming it.
    let r = s.both("/admin", Some(&bearer)).await;
    assert_eq!(
        (r.status, r.challenge.clone()),
        (403, challenge(API, r#", error="insufficient_scope", scope="admin""#))
    );
    assert_eq!(r.json()["error"], "insufficient_scope");

    assert_eq!(s.calls.load(Ordering::SeqCst), 2, "no refused request reached the route");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_is_a_503_on_both_and_the_route_is_not_called() {
    let s = setup().await;
    let bearer = format!("Bearer {}", issue(s.addr).await);

    s.server.store().set_unreachable(true);
    let r = s.both("/me", Some(&bearer)).await;
    let retry = gatehouse_core::Error::UNAVAILABLE_RETRY_AFTER.to_string();
    assert_eq!((r.status, &r.challenge, r.retry_after.as_deref()), (503, &None, Some(retry.as_str())));
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);

    s.server.store().set_unreachable(false);
    assert_eq!(s.both("/me", Some(&bearer)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_stopped_introspection_endpoint_is_a_503_remotely() {
    let s = setup().await;
    let bearer = format!("Bearer {}", issue(s.addr).await);
    let other = format!("Bearer {}", issue(s.addr).await);
    let retry = gatehouse_core::Error::UNAVAILABLE_RETRY_AFTER.to_string();
    let unavailable = |r: &Seen| {
        assert_eq!((r.status, &r.challenge, r.retry_after.as_deref()), (503, &None, Some(retry.as_str())));
        assert_eq!(r.json()["error"], "temporarily_unavailable");
    };

    // The endpoint answers 500: no answer about the token, so a 503 (the
    // monolith's own failing store is a 500: a retry will not cure it).
    s.server.store().set_failing(true);
    unavailable(&call(&s.remote, "/me", Some(&bearer)).await);
    assert_eq!(call(&s.monolith, "/me", Some(&bearer)).await.status, 500);
    s.server.store().set_failing(false);

    // Cached while the server was up...
    assert_eq!(call(&s.remote, "/me", Some(&bearer)).await.status, 200);
    let _ = s.stop.send(());
    s.task.await.unwrap().unwrap();
    // ...and once it is gone, a token it never answered for is a 503.
    unavailable(&call(&s.remote, "/me", Some(&other)).await);
    assert_eq!(s.calls.load(Ordering::SeqCst), 1, "only the request that was let through");
}
