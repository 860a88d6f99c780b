//! The RFC 8414 metadata document's route: built once by the core from
//! the config and the paths the router mounts, served with
//! `Cache-Control` and `ETag` (a matching `If-None-Match` gets `304`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gatehouse_core::{Header, Metadata};
use http::header::IF_NONE_MATCH;
use http::HeaderValue;

use crate::response::convert;
use crate::trace;

/// The document's route, at the path RFC 8414 §3.1 derives from the issuer
/// (`/.well-known/oauth-authorization-server`, followed by the issuer's
/// path if it has one). `GET` and `HEAD`; axum answers other methods 405.
pub(crate) fn routes(metadata: Metadata) -> Router {
    let path = metadata.well_known_path().to_owned();
    Router::new().route(&path, get(document)).with_state(Arc::new(metadata))
}

async fn document(State(m): State<Arc<Metadata>>, req: Request) -> Response {
    let span = trace::span("metadata", req.method());
    // Nothing to wait for: the span is entered for the answer alone.
    let _entered = span.enter();
    let tags = Header::from_values(req.headers().get_all(IF_NONE_MATCH).iter().map(HeaderValue::as_bytes));
    let response = convert(m.response(tags));
    span.record("status", response.status().as_u16());
    response
}
