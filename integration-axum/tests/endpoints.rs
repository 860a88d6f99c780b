//! The core's endpoints and the metadata document, as the router serves
//! them.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use common::{get, issue, post, send, world};
use gatehouse_axum::{Decision, Error, Paths};

#[tokio::test]
async fn token_introspection_and_revocation() {
    let w = world().await;
    let router = w.gatehouse.router().unwrap();
    let token = issue(&router, &w, "read").await;

    let body = format!("token={token}");
    let r = send(&router, post("/oauth/introspect", Some(("rs", &w.rs)), &body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = r.json();
    assert_eq!((answer["active"].as_bool(), answer["client_id"].as_str()), (Some(true), Some("app")));
    assert_eq!((r.header("cache-control"), r.header("pragma")), (Some("no-store"), Some("no-cache")));

    let r = send(&router, post("/oauth/revoke", Some(("app", &w.app)), &body)).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "{}"));
    let r = send(&router, post("/oauth/introspect", Some(("rs", &w.rs)), &body)).await;
    assert_eq!(r.body, r#"{"active":false}"#);

    // The core's errors come through whole: status, challenge, body.
    let r =
        send(&router, post("/oauth/token", Some(("app", "wrong")), "grant_type=client_credentials")).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    assert_eq!(r.json()["error"], "invalid_client");
}

#[tokio::test]
async fn a_wrong_method_is_the_cores_405() {
    let w = world().await;
    let router = w.gatehouse.router().unwrap();
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let r = send(&router, get(path, &[])).await;
        assert_eq!((r.status, r.header("allow")), (StatusCode::METHOD_NOT_ALLOWED, Some("POST")), "{path}");
        assert_eq!(r.json()["error"], "invalid_request");
    }
}

#[tokio::test]
async fn a_body_over_the_cores_limit_is_not_read_past_it() {
    let w = world().await;
    let limit = w.gatehouse.server().config().max_body_bytes;
    let router = w.gatehouse.router().unwrap();
    // A body far over the limit: the reader stops at the limit.
    let pulled = Arc::new(AtomicUsize::new(0));
    let req = Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::new(Endless(Arc::clone(&pulled))))
        .unwrap();
    let r = send(&router, req).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error_description"], "request body is too large");
    assert!(pulled.load(Ordering::SeqCst) <= limit + CHUNK.len(), "{pulled:?}");
    // One byte under the limit reaches the core, which answers it.
    let body = format!("grant_type=client_credentials&x={}", "a".repeat(limit - 33));
    assert_eq!(body.len(), limit - 1);
    let r = send(&router, post("/oauth/token", Some(("app", &w.app)), &body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

const CHUNK: &[u8] = &[b'a'; 1024];

/// A body of [`CHUNK`]s, counting the bytes pulled from it. It ends
/// after [`ENDLESS_CHUNKS`] of them, far past any limit, so that a reader
/// that ignores the limit fails the test rather than hanging it.
struct Endless(Arc<AtomicUsize>);

const ENDLESS_CHUNKS: usize = 64 * 1024;

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        if self.0.fetch_add(CHUNK.len(), Ordering::SeqCst) >= ENDLESS_CHUNKS * CHUNK.len() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(CHUNK)))))
    }
}

#[tokio::test]
async fn metadata_names_the_mounted_paths_with_etag_and_304() {
    let w = world().await;
    let paths = Paths::default().token("/t").introspect("/i").revoke("/r").authorize("/a");
    let gatehouse = w.gatehouse.clone().with_paths(paths);
    let router = gatehouse.router().unwrap();
    let r = send(&router, get("/.well-known/oauth-authorization-server", &[])).await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["issuer"], "https://auth.example");
    assert_eq!(doc["token_endpoint"], "https://auth.example/t");
    assert_eq!(doc["introspection_endpoint"], "https://auth.example/i");
    assert_eq!(doc["revocation_endpoint"], "https://auth.example/r");
    // No consent hook, no authorization endpoint, and no claim about it.
    assert!(doc.get("authorization_endpoint").is_none());
    assert_eq!(doc["response_types_supported"], serde_json::json!([]));
    assert_eq!(send(&router, get("/a", &[])).await.status, 404);
    // The token endpoint really is at the advertised path.
    assert_eq!(send(&router, get("/t", &[])).await.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(send(&router, get("/oauth/token", &[])).await.status, 404);

    let etag = r.header("etag").unwrap().to_owned();
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    let r = send(&router, get("/.well-known/oauth-authorization-server", &[("if-none-match", &etag)])).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::NOT_MODIFIED, ""));

    // With a consent hook the code flow is served and advertised.
    let router = gatehouse.with_consent(|_| async { Decision::deny() }).router().unwrap();
    let doc = send(&router, get("/.well-known/oauth-authorization-server", &[])).await.json();
    assert_eq!(doc["authorization_endpoint"], "https://auth.example/a");
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
}

#[tokio::test]
async fn a_bad_path_stops_the_router_at_start() {
    let w = world().await;
    let e = w.gatehouse.with_paths(Paths::default().token("oauth/token")).router().unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
    assert!(e.to_string().contains("token endpoint's path"), "{e}");
}
