//! The protected API: `GET /api/me` answers with who the bearer token says
//! is calling. It stands for any resource server living in the same
//! process as the authorization server, which validates tokens through
//! [`AuthServer::validate_bearer`] (the introspection checks, without an
//! HTTP round trip and without the fishing limiter).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gatehouse_core::model::{Resource, Scope};
use gatehouse_core::{AuthServer, BearerError, ClientRegistry, FishingLimiter, Header, TokenStore};
use serde_json::json;

/// The resource `/api/me` belongs to: tokens must name it in their audience.
pub const API_RESOURCE: &str = "https://api.example.com";
/// The scope `/api/me` requires.
pub const API_SCOPE: &str = "read";
/// The realm in the API's `WWW-Authenticate` challenges.
pub const API_REALM: &str = "example";

/// `GET /api/me`, for the router whose state is the server.
pub(crate) fn routes<S: TokenStore + ClientRegistry, L: FishingLimiter>() -> Router<Arc<AuthServer<S, L>>> {
    Router::new().route("/api/me", get(me::<S, L>))
}

/// `{"sub": ..., "client_id": ..., "scope": ...}` for a valid token with
/// scope `read` for [`API_RESOURCE`]; otherwise the RFC 6750 §3 error,
/// with its status and `WWW-Authenticate` challenge, or, when the store
/// fails, the core's server error (503 with `Retry-After` when it cannot be
/// reached, 500 otherwise) and no word about the token.
async fn me<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    State(server): State<Arc<AuthServer<S, L>>>,
    headers: HeaderMap,
) -> Response {
    let (Ok(resource), Ok(scope)) = (Resource::new(API_RESOURCE), Scope::parse(API_SCOPE)) else {
        return json_response(StatusCode::INTERNAL_SERVER_ERROR, &error_body("server_error"), None);
    };
    let authorization = Header::from_values(headers.get_all(AUTHORIZATION).iter().map(HeaderValue::as_bytes));
    match server.validate_bearer(authorization, &resource, &scope).await {
        Ok(p) => {
            let mut body = json!({ "client_id": p.client_id.as_str(), "scope": p.scope.as_str() });
            // A client_credentials token has no resource owner.
            if let Some(sub) = &p.subject {
                body["sub"] = sub.as_str().into();
            }
            json_response(StatusCode::OK, &body, None)
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = match &e {
                // The core's own code and description for its failure.
                BearerError::Server(inner) => {
                    json!({ "error": inner.code(), "error_description": inner.description() })
                }
                _ => error_body(error_code(&e)),
            };
            let mut r = json_response(status, &body, e.www_authenticate(API_REALM));
            if let Some(secs) = e.retry_after() {
                r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
            }
            r
        }
    }
}

/// The `error` of the JSON body: the same code as the challenge's. A
/// request without a token gets no error code in its challenge (RFC 6750
/// §3.1), and `unauthorized` in the body.
fn error_code(e: &BearerError) -> &'static str {
    match e {
        BearerError::Missing => "unauthorized",
        BearerError::InvalidRequest => "invalid_request",
        BearerError::InvalidToken => "invalid_token",
        BearerError::InsufficientScope { .. } => "insufficient_scope",
        _ => "server_error",
    }
}

fn error_body(code: &str) -> serde_json::Value {
    let description = match code {
        "unauthorized" => "an access token is required",
        "invalid_request" => "malformed Authorization header",
        "invalid_token" => "the access token is invalid",
        "insufficient_scope" => "the access token lacks the required scope",
        _ => "the server could not complete the request",
    };
    json!({ "error": code, "error_description": description })
}

fn json_response(status: StatusCode, body: &serde_json::Value, challenge: Option<String>) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = challenge {
        match HeaderValue::try_from(c) {
            Ok(v) => {
                h.insert(WWW_AUTHENTICATE, v);
            }
            // Never answer 401 without its challenge.
            Err(_) => *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    r
}
