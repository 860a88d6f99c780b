//! The protected API: `GET /api/me` answers with who the bearer token says
//! is calling. It stands for any resource server living in the same
//! process as the authorization server: the route sits behind
//! gatehouse-axum's bearer layer, which validates the token through
//! [`AuthServer::validate_bearer`](gatehouse_core::AuthServer::validate_bearer)
//! (the introspection checks, without an HTTP round trip and without the
//! fishing limiter) and answers every refusal itself.

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gatehouse_axum::{Bearer, Gatehouse};
use gatehouse_core::{ClientRegistry, FishingLimiter, TokenStore};
use serde_json::json;

/// The resource `/api/me` belongs to: tokens must name it in their audience.
pub const API_RESOURCE: &str = "https://api.example.com";
/// The scope `/api/me` requires.
pub const API_SCOPE: &str = "read";
/// The realm in the API's `WWW-Authenticate` challenges.
pub const API_REALM: &str = "example";

/// `GET /api/me`, behind the layer that requires a token with scope
/// [`API_SCOPE`] for [`API_RESOURCE`]: without one, the layer answers the
/// RFC 6750 §3 error (status, `WWW-Authenticate` challenge, JSON body),
/// or, when the store fails, the core's server error (503 with
/// `Retry-After` when it cannot be reached, 500 otherwise) and no word
/// about the token.
///
/// # Errors
/// When the constants above are not a valid resource and scope.
pub(crate) fn routes<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    gatehouse: &Gatehouse<S, L>,
) -> Result<Router, gatehouse_axum::Error> {
    let guard = gatehouse.require(API_RESOURCE, API_SCOPE)?.realm(API_REALM);
    Ok(Router::new().route("/api/me", get(me).route_layer(guard)))
}

/// `{"sub": ..., "client_id": ..., "scope": ...}`, not cached.
async fn me(Bearer(p): Bearer) -> Response {
    let mut body = json!({ "client_id": p.client_id.as_str(), "scope": p.scope.as_str() });
    // A client_credentials token has no resource owner.
    if let Some(sub) = &p.subject {
        body["sub"] = sub.as_str().into();
    }
    let mut r = Response::new(Body::from(body.to_string()));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
