//! `GET /.well-known/oauth-authorization-server`: the RFC 8414 metadata
//! document, built once by the core from the config and the paths the
//! router mounts ([`endpoints`]), served with `Cache-Control` and `ETag`
//! (a matching `If-None-Match` gets `304`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::IF_NONE_MATCH;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gatehouse_core::{Config, Endpoints, Header, Metadata};

use crate::adapter::{convert, AUTHORIZE_PATH, INTROSPECT_PATH, REVOKE_PATH, TOKEN_PATH};

/// The endpoints as the router mounts them.
pub fn endpoints() -> Endpoints {
    Endpoints::new(TOKEN_PATH)
        .authorization(AUTHORIZE_PATH)
        .introspection(INTROSPECT_PATH)
        .revocation(REVOKE_PATH)
}

/// The document's route, at the path RFC 8414 §3.1 derives from the issuer
/// (`/.well-known/oauth-authorization-server`, followed by the issuer's
/// path if it has one). `GET` and `HEAD`; axum answers other methods 405.
pub(crate) fn routes(config: &Config) -> Router {
    match Metadata::new(config, &endpoints()) {
        Ok(m) => {
            let path = m.well_known_path().to_owned();
            Router::new().route(&path, get(document)).with_state(Arc::new(m))
        }
        // `Settings` validated the config and the paths are constants, so
        // this is a bug; the document is then a 500, never a wrong one.
        Err(e) => {
            eprintln!("gatehouse example: cannot build the metadata document: {e}");
            let path = gatehouse_core::metadata::WELL_KNOWN_SUFFIX;
            Router::new().route(path, get(|| async { convert(gatehouse_core::HttpResponse::server_error()) }))
        }
    }
}

async fn document(State(m): State<Arc<Metadata>>, headers: HeaderMap) -> Response {
    let tags = Header::from_values(headers.get_all(IF_NONE_MATCH).iter().map(HeaderValue::as_bytes));
    convert(m.response(tags))
}
