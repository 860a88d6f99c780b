//! Guarding the app's own routes with bearer tokens (RFC 6750).
//!
//! [`RequireBearer`] is a tower layer: put it on a route (or a whole
//! router) with `route_layer`, and every request must carry an
//! `Authorization: Bearer` token that is active, meant for the layer's
//! audience and granted every scope it requires. A [`ValidateBearer`]
//! decides: the in-process [`AuthServer`] (through
//! [`AuthServer::validate_bearer`]: the introspection checks, in process,
//! without the fishing limiter), or a remote resource server's
//! introspection client (gatehouse-rs-client's `CachedClient`, with its
//! `axum` feature). Either way the layer hands the request on with the
//! token's [`Principal`] in its extensions, which the [`Bearer`] extractor
//! takes out, so the app's routes are the same for both. A refusal never
//! reaches the route: the layer answers it with the RFC 6750 §3 status,
//! `WWW-Authenticate` challenge and a JSON body; a failure to decide with
//! a 503 (with `Retry-After`) or 500, and no word about the token.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use gatehouse_core::model::{Resource, Scope};
use gatehouse_core::{
    AuthServer, BearerError, ClientRegistry, FishingLimiter, Header, Principal, TokenStore,
};
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use tower::{Layer, Service};
use tracing::Span;

use crate::{trace, Error};

/// What decides whether a request's bearer token lets it through a
/// [`RequireBearer`] layer, and who is calling if so.
///
/// Implemented by the in-process [`AuthServer`], and by
/// gatehouse-rs-client's `CachedClient` (feature `axum`) for a resource
/// server that asks a remote authorization server (RFC 7662). An
/// implementation must fail closed: any doubt is an `Err`, never a
/// [`Principal`].
pub trait ValidateBearer: Send + Sync + 'static {
    /// The principal of the bearer token in `authorization`, when it is
    /// active, meant for `audience` and granted every scope in `scope`.
    ///
    /// # Errors
    /// A [`BearerError`]: [`Missing`](BearerError::Missing) and
    /// [`InvalidRequest`](BearerError::InvalidRequest) for the header (RFC
    /// 6750 §2.1, as [`parse_bearer`](gatehouse_core::bearer::parse_bearer)
    /// reads it), [`InvalidToken`](BearerError::InvalidToken) for a token
    /// that is not active for `audience`,
    /// [`InsufficientScope`](BearerError::InsufficientScope) for a missing
    /// scope, [`Server`](BearerError::Server) when no decision could be
    /// made (a 503 when it may work on retry, else a 500).
    fn validate(
        &self,
        authorization: Header<'_>,
        audience: &Resource,
        scope: &Scope,
    ) -> impl Future<Output = Result<Principal, BearerError>> + Send;
}

/// The monolith: tokens this process issued, checked in its own store.
impl<S: TokenStore + ClientRegistry, L: FishingLimiter> ValidateBearer for AuthServer<S, L> {
    fn validate(
        &self,
        authorization: Header<'_>,
        audience: &Resource,
        scope: &Scope,
    ) -> impl Future<Output = Result<Principal, BearerError>> + Send {
        self.validate_bearer(authorization, audience, scope)
    }
}

/// A tower layer that lets through only requests with a valid bearer
/// token for one audience and scope, as its [`ValidateBearer`] `V`
/// decides. Made by [`Gatehouse::require`](crate::Gatehouse::require) for
/// the in-process server, or by [`RequireBearer::new`] for any validator.
pub struct RequireBearer<V> {
    validator: Arc<V>,
    rule: Arc<Rule>,
}

/// What the layer requires, and the realm of its challenges.
struct Rule {
    audience: Resource,
    scope: Scope,
    realm: String,
}

// Not derived: the derive would require `V: Clone`.
impl<V> Clone for RequireBearer<V> {
    fn clone(&self) -> Self {
        Self { validator: Arc::clone(&self.validator), rule: Arc::clone(&self.rule) }
    }
}

impl<V: ValidateBearer> RequireBearer<V> {
    /// A layer asking `validator` for a token for `audience` (a resource
    /// identifier, RFC 8707) granted every scope in `scope`
    /// (space-separated; empty for none); the realm of the challenges is
    /// the audience.
    ///
    /// # Errors
    /// [`Error::Requirement`] when `audience` or `scope` is not valid.
    pub fn new(validator: Arc<V>, audience: &str, scope: &str) -> Result<Self, Error> {
        let audience = Resource::new(audience)?;
        let scope = Scope::parse(scope)?;
        let realm = audience.as_str().to_owned();
        Ok(Self { validator, rule: Arc::new(Rule { audience, scope, realm }) })
    }
}

impl<V> RequireBearer<V> {
    /// The same layer, with this realm in its `WWW-Authenticate`
    /// challenges (RFC 6750 §3; `"` and `\` are dropped from it).
    #[must_use]
    pub fn realm(self, realm: &str) -> Self {
        let rule = Rule {
            audience: self.rule.audience.clone(),
            scope: self.rule.scope.clone(),
            realm: realm.into(),
        };
        Self { validator: self.validator, rule: Arc::new(rule) }
    }
}

impl<I, V> Layer<I> for RequireBearer<V> {
    type Service = RequireBearerService<I, V>;

    fn layer(&self, inner: I) -> Self::Service {
        RequireBearerService { inner, layer: self.clone() }
    }
}

/// The service [`RequireBearer`] wraps a route in.
pub struct RequireBearerService<I, V> {
    inner: I,
    layer: RequireBearer<V>,
}

impl<I: Clone, V> Clone for RequireBearerService<I, V> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), layer: self.layer.clone() }
    }
}

impl<I, V> Service<Request> for RequireBearerService<I, V>
where
    I: Service<Request, Error = Infallible> + Clone + Send + 'static,
    I::Response: IntoResponse,
    I::Future: Send,
    V: ValidateBearer,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone is the one to call later; the one that was polled ready
        // stays ready for the next call (tower's usual swap).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let span = trace::span("bearer", req.method());
            Ok(trace::traced(span.clone(), guard(layer, inner, req, span)).await)
        })
    }
}

/// Validates the request's token, then calls the route or refuses; records
/// the outcome on the request's `span`.
async fn guard<I, V>(layer: RequireBearer<V>, mut inner: I, mut req: Request, span: Span) -> Response
where
    I: Service<Request, Error = Infallible>,
    I::Response: IntoResponse,
    V: ValidateBearer,
{
    let rule = &layer.rule;
    let authorization =
        Header::from_values(req.headers().get_all(AUTHORIZATION).iter().map(HeaderValue::as_bytes));
    match layer.validator.validate(authorization, &rule.audience, &rule.scope).await {
        Ok(principal) => {
            span.record("client_id", principal.client_id.as_str());
            req.extensions_mut().insert(Bearer(principal));
            let Ok(response) = inner.call(req).await;
            response.into_response()
        }
        Err(e) => {
            span.record("error", error_code(&e));
            refusal(&e, &rule.realm)
        }
    }
}

/// The [`Principal`] of the valid bearer token of a request that passed a
/// [`RequireBearer`] layer.
///
/// As an extractor on a route without the layer it refuses the request
/// with a 500 (and no word about any token): a route that asks for a
/// principal is never served without one.
#[derive(Debug, Clone)]
pub struct Bearer(pub Principal);

impl<T: Send + Sync> FromRequestParts<T> for Bearer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &T) -> Result<Self, Response> {
        parts.extensions.get::<Bearer>().cloned().ok_or_else(|| {
            json(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the server could not complete the request",
            )
        })
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
        BearerError::Server(inner) => inner.code(),
        _ => "server_error",
    }
}

/// The answer to a refused request: its status, challenge, `Retry-After`
/// and a JSON body with the error's code and description.
pub(crate) fn refusal(e: &BearerError, realm: &str) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let description = match e {
        BearerError::Missing => "an access token is required",
        BearerError::InvalidRequest => "malformed Authorization header",
        BearerError::InvalidToken => "the access token is invalid",
        BearerError::InsufficientScope { .. } => "the access token lacks the required scope",
        // The core's own description for its failure.
        BearerError::Server(inner) => inner.description(),
        _ => "the server could not complete the request",
    };
    let mut r = json(status, error_code(e), description);
    if let Some(challenge) = e.www_authenticate(realm) {
        match HeaderValue::try_from(challenge) {
            Ok(v) => {
                r.headers_mut().insert(WWW_AUTHENTICATE, v);
            }
            // Never answer 401 without its challenge.
            Err(_) => *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    if let Some(secs) = e.retry_after() {
        r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

/// `{"error": code, "error_description": description}`, not cached. Both
/// are fixed texts of this crate or the core, with nothing to escape.
fn json(status: StatusCode, code: &str, description: &str) -> Response {
    let body = format!(r#"{{"error":"{code}","error_description":"{description}"}}"#);
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    r
}
