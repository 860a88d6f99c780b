//! Health checks for load balancers and orchestrators.
//!
//! - `GET /health/live` (liveness): 200 whenever the process serves HTTP.
//!   It checks nothing else on purpose: restarting an instance does not
//!   cure a store outage, and restarting every instance at once because
//!   Redis is down would only add to it.
//! - `GET /health/ready` (readiness): one store round trip
//!   ([`TokenStore::ping`]) and a read of the store's seed marker
//!   ([`ClientRegistry::seeded_at`]): 200 when both work and the marker is
//!   there, 503 with `Retry-After` otherwise, so a load balancer sends
//!   requests only to instances that can answer them. A missing marker
//!   means the store lost its data (see [`crate::seed`]); the body says
//!   so until the instance has seeded it again.
//!
//! Bodies are small JSON objects, never cached, and name no host, URL or
//! credential.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gatehouse_core::{AuthServer, ClientRegistry, Error, FishingLimiter, TokenStore};

/// The liveness path.
pub const LIVE_PATH: &str = "/health/live";
/// The readiness path.
pub const READY_PATH: &str = "/health/ready";

/// Both checks, for the router whose state is the server.
pub(crate) fn routes<S: TokenStore + ClientRegistry, L: FishingLimiter>() -> Router<Arc<AuthServer<S, L>>> {
    Router::new().route(LIVE_PATH, get(live)).route(READY_PATH, get(ready::<S, L>))
}

async fn live() -> Response {
    respond(StatusCode::OK, r#"{"status":"live"}"#.to_owned())
}

async fn ready<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    State(server): State<Arc<AuthServer<S, L>>>,
) -> Response {
    match server.store().ping().await {
        Ok(()) => match server.store().seeded_at().await {
            Ok(Some(_)) => respond(StatusCode::OK, r#"{"status":"ready"}"#.to_owned()),
            // Every client would get 401: out of rotation until the seed
            // watcher has seeded the store again (`crate::seed`).
            Ok(None) => unavailable(crate::seed::LOST_DATA.to_owned()),
            Err(e) => unavailable(e.to_string()),
        },
        Err(e) => unavailable(e.to_string()),
    }
}

/// 503 with `Retry-After` and `error` (a store error's own message is
/// generic, "storage backend unavailable"; its source, which may name a
/// host, stays out).
fn unavailable(error: String) -> Response {
    let body = serde_json::json!({ "status": "unavailable", "error": error });
    let mut r = respond(StatusCode::SERVICE_UNAVAILABLE, body.to_string());
    r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(Error::UNAVAILABLE_RETRY_AFTER));
    r
}

fn respond(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
