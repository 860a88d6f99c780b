//! The axum adapter: copy the method, two headers and the body into an
//! [`HttpRequest`], call the core, copy the [`HttpResponse`] out. Generic
//! over the store, so any backend plugs in. The login and consent pages
//! live in [`crate::consent`], the protected API in [`crate::api`].

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use gatehouse_core::{
    AuthServer, ClientRegistry, Error, FishingLimiter, Header, HttpRequest, HttpResponse, TokenStore,
};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use crate::login::DemoUsers;

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/oauth/token";
/// The introspection endpoint's path.
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
/// The revocation endpoint's path.
pub const REVOKE_PATH: &str = "/oauth/revoke";
/// The authorization endpoint's path (the demo login and consent page).
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";

/// Every route of the example:
///
/// - `POST /oauth/token`, `/oauth/introspect`, `/oauth/revoke`: the core's
///   endpoints, each taking any method so that the core answers a wrong one
///   with its own 405 (`Allow: POST`);
/// - `GET`/`POST /oauth/authorize` and `GET /demo/callback`: the demo login
///   and consent pages, checking logins against `users`;
/// - `GET /api/me`: the protected API;
/// - `GET /.well-known/oauth-authorization-server`: the metadata document
///   ([`crate::metadata`]);
/// - `GET /health/live`, `/health/ready`: health checks ([`crate::health`]).
pub fn router<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    server: Arc<AuthServer<S, L>>,
    users: Arc<DemoUsers>,
) -> Router {
    let limit = server.config().max_body_bytes;
    Router::new()
        .route(TOKEN_PATH, any(token::<S, L>))
        .route(INTROSPECT_PATH, any(introspect::<S, L>))
        .route(REVOKE_PATH, any(revoke::<S, L>))
        .merge(crate::api::routes::<S, L>())
        .merge(crate::health::routes::<S, L>())
        .with_state(Arc::clone(&server))
        .merge(crate::metadata::routes(server.config()))
        // The pages' form extractor stops reading at the core's limit too;
        // the core's endpoints apply it themselves (see `handle`).
        .merge(crate::consent::routes(server, users).layer(DefaultBodyLimit::max(limit)))
}

#[derive(Clone, Copy)]
enum Endpoint {
    Token,
    Introspect,
    Revoke,
}

async fn token<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    State(server): State<Arc<AuthServer<S, L>>>,
    req: Request,
) -> Response {
    handle(&server, Endpoint::Token, req).await
}

async fn introspect<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    State(server): State<Arc<AuthServer<S, L>>>,
    req: Request,
) -> Response {
    handle(&server, Endpoint::Introspect, req).await
}

async fn revoke<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    State(server): State<Arc<AuthServer<S, L>>>,
    req: Request,
) -> Response {
    handle(&server, Endpoint::Revoke, req).await
}

/// Takes the request whole rather than through the `HeaderMap` and `Bytes`
/// extractors: the first clones every header and the second's limit
/// (`DefaultBodyLimit`) allocates a request extension, together about a
/// tenth of the server's work per introspection (measured with callgrind).
async fn handle<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    server: &AuthServer<S, L>,
    endpoint: Endpoint,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    // Stop reading at the limit the core enforces.
    let body = match Limited::new(body, server.config().max_body_bytes).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return convert(HttpResponse::body_too_large()),
        Err(_) => {
            return convert(HttpResponse::from(&Error::InvalidRequest("request body could not be read")))
        }
    };
    let headers = &parts.headers;
    let req = HttpRequest {
        method: parts.method.as_str(),
        authorization: Header::from_values(headers.get_all(AUTHORIZATION).iter().map(HeaderValue::as_bytes)),
        content_type: Header::from_values(headers.get_all(CONTENT_TYPE).iter().map(HeaderValue::as_bytes)),
        body: &body,
    };
    let resp = match endpoint {
        Endpoint::Token => server.token_endpoint(req).await,
        Endpoint::Introspect => server.introspection_endpoint(req).await,
        Endpoint::Revoke => server.revocation_endpoint(req).await,
    };
    convert(resp)
}

/// Copies the core's response into axum's. A status or header that http
/// cannot carry (the core never produces one) fails closed with the core's
/// 500 rather than dropping, say, `WWW-Authenticate`.
pub(crate) fn convert(r: HttpResponse) -> Response {
    try_convert(r).or_else(|| try_convert(HttpResponse::server_error())).unwrap_or_else(|| {
        // Not reached: the core's 500 always fits.
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// The copy, or `None` when a status or header does not fit.
fn try_convert(r: HttpResponse) -> Option<Response> {
    let mut out = Response::new(Body::from(r.body));
    *out.status_mut() = StatusCode::from_u16(r.status).ok()?;
    for (name, value) in r.headers {
        // The values on every response are known here and borrowed, saving
        // a copy per header; any other value is checked.
        let value = match value {
            Cow::Borrowed(v @ ("application/json" | "no-store" | "no-cache")) => {
                Ok(HeaderValue::from_static(v))
            }
            Cow::Borrowed(v) => HeaderValue::from_str(v),
            Cow::Owned(v) => HeaderValue::try_from(v),
        };
        out.headers_mut().append(header_name(name).ok()?, value.ok()?);
    }
    Some(out)
}

/// The core's header names, without parsing the usual ones each time.
fn header_name(name: &'static str) -> Result<HeaderName, axum::http::header::InvalidHeaderName> {
    use axum::http::header;
    Ok(match name {
        "Content-Type" => header::CONTENT_TYPE,
        "Cache-Control" => header::CACHE_CONTROL,
        "Pragma" => header::PRAGMA,
        other => return HeaderName::try_from(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_response_http_cannot_carry_becomes_the_cores_server_error() {
        let core = HttpResponse::server_error();
        for bad in [
            HttpResponse {
                status: 200,
                headers: vec![("Bad Name", Cow::Borrowed("x"))],
                body: b"{}".to_vec(),
            },
            HttpResponse { status: 200, headers: vec![("X-A", Cow::Borrowed("a\nb"))], body: b"{}".to_vec() },
            HttpResponse { status: 1000, headers: Vec::new(), body: b"{}".to_vec() },
        ] {
            let r = convert(bad);
            assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(r.headers().get(CONTENT_TYPE).unwrap(), "application/json");
            let body = r.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, core.body);
        }
    }
}
