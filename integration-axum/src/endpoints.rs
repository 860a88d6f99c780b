//! The token, introspection and revocation endpoints: copy the method, two
//! headers and the body (read up to the core's limit) into an
//! [`HttpRequest`], call the core, copy the [`HttpResponse`] out.

use std::future::Future;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use gatehouse_core::{
    AuthServer, ClientRegistry, Error, FishingLimiter, Header, HttpRequest, HttpResponse, TokenStore,
};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::request::Parts;
use http::HeaderValue;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use crate::response::convert;
use crate::trace;

/// Which of the core's endpoints a request is for.
#[derive(Clone, Copy)]
enum Endpoint {
    Token,
    Introspect,
    Revoke,
}

impl Endpoint {
    /// The span's `endpoint` field.
    fn name(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Introspect => "introspect",
            Self::Revoke => "revoke",
        }
    }
}

// The handlers are plain functions returning their future rather than
// `async fn`s: an `async fn` keeps its arguments beside the futures it
// builds from them, so each state would hold the request twice; axum moves
// the whole handler future when it boxes it.
pub(crate) fn token<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    State(server): State<Arc<AuthServer<S, L>>>,
    req: Request,
) -> impl Future<Output = Response> + Send {
    handle(server, Endpoint::Token, req)
}

pub(crate) fn introspect<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    State(server): State<Arc<AuthServer<S, L>>>,
    req: Request,
) -> impl Future<Output = Response> + Send {
    handle(server, Endpoint::Introspect, req)
}

pub(crate) fn revoke<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    State(server): State<Arc<AuthServer<S, L>>>,
    req: Request,
) -> impl Future<Output = Response> + Send {
    handle(server, Endpoint::Revoke, req)
}

/// Takes the request whole rather than through the `HeaderMap` and `Bytes`
/// extractors: the first clones every header and the second's limit
/// (`DefaultBodyLimit`) allocates a request extension, together about a
/// tenth of the server's work per introspection (measured with callgrind).
fn handle<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    server: Arc<AuthServer<S, L>>,
    endpoint: Endpoint,
    req: Request,
) -> impl Future<Output = Response> + Send {
    let span = trace::span(endpoint.name(), req.method());
    trace::traced(span, call(server, endpoint, req))
}

async fn call<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    server: Arc<AuthServer<S, L>>,
    endpoint: Endpoint,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = match read_body(body, server.config().max_body_bytes).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let req = http_request(&parts, &body);
    // Boxed: the core's endpoint futures are large (the introspection's
    // about 3 KB), and axum moves the handler's future several times
    // before and when it boxes it; one allocation costs less than those
    // copies (callgrind, README).
    let resp = match endpoint {
        Endpoint::Token => Box::pin(server.token_endpoint(req)).await,
        Endpoint::Introspect => Box::pin(server.introspection_endpoint(req)).await,
        Endpoint::Revoke => Box::pin(server.revocation_endpoint(req)).await,
    };
    convert(resp)
}

/// Reads a request body up to the limit the core enforces, so an oversized
/// body costs no more memory than the largest one the core would accept.
/// The error is the answer to send instead.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, Response> {
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(convert(HttpResponse::body_too_large())),
        Err(_) => Err(convert(HttpResponse::from(&Error::InvalidRequest("request body could not be read")))),
    }
}

/// The core's view of a request: its method, the two headers the core
/// reads, and the body [`read_body`] collected.
pub(crate) fn http_request<'a>(parts: &'a Parts, body: &'a [u8]) -> HttpRequest<'a> {
    let headers = &parts.headers;
    HttpRequest {
        method: parts.method.as_str(),
        authorization: Header::from_values(headers.get_all(AUTHORIZATION).iter().map(HeaderValue::as_bytes)),
        content_type: Header::from_values(headers.get_all(CONTENT_TYPE).iter().map(HeaderValue::as_bytes)),
        body,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// What axum moves when it boxes a handler's future (and what each
    /// request's task holds) stays small: the handler adds nothing to the
    /// endpoint's future but the request, and the core's endpoint futures
    /// (up to about 3 KB) are boxed on their own. An `async fn` handler
    /// calling an `async fn` wrapper held the endpoint future twice.
    #[test]
    fn a_handler_future_is_small() {
        let server = Arc::new(AuthServer::new(
            gatehouse_memory::MemoryStore::new(),
            gatehouse_core::Keyring::random().unwrap(),
            gatehouse_core::Config::new("https://auth.example"),
        ));
        let req = || Request::new(Body::empty());
        let sizes = [
            std::mem::size_of_val(&token(State(server.clone()), req())),
            std::mem::size_of_val(&introspect(State(server.clone()), req())),
            std::mem::size_of_val(&revoke(State(server.clone()), req())),
        ];
        let bound = 4 * std::mem::size_of::<Request>();
        assert!(sizes.iter().all(|&n| n <= bound), "handler futures {sizes:?} bytes, bound {bound}");
    }
}
