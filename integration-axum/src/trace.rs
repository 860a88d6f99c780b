//! One `tracing` span per request the crate answers.
//!
//! Every span is named `gatehouse.request` and has the same fields, so a
//! subscriber can filter and index them without knowing the route:
//!
//! - `endpoint`: `token`, `introspect`, `revoke`, `authorize`, `metadata`
//!   or `bearer` (an app route behind [`RequireBearer`](crate::RequireBearer));
//! - `method`: the HTTP method;
//! - `status`: the status answered, recorded when the response is ready;
//! - `error`: for `bearer`, the RFC 6750 error code of a refusal
//!   (`invalid_request`, `invalid_token`, `insufficient_scope`, or
//!   `unauthorized` when no token was sent), or the core's code for a
//!   store failure (`temporarily_unavailable`, `server_error`);
//! - `client_id`: for `bearer`, the client the valid token was issued to.
//!
//! No field ever holds a header value, a body, a query string or a path:
//! those carry tokens, secrets, codes and PKCE values. Ids (a client's)
//! are not secret and help an operator find a misbehaving client.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::Response;
use tracing::field::Empty;
use tracing::instrument::Instrumented;
use tracing::{Instrument as _, Span};

/// The span's name.
pub(crate) const SPAN_NAME: &str = "gatehouse.request";

/// A new span for one request to `endpoint`, with `status` (and for
/// `bearer`, `error` and `client_id`) left to record.
///
/// At `DEBUG`, as tower-http's `TraceLayer` makes its request spans: a
/// subscriber at `info` (the example's default, which writes an audit line
/// per request) pays nothing for it. At `INFO` it cost the example about
/// 8k instructions per valid introspection under callgrind (64.5k → 56.5k
/// per request with `tracing-subscriber`'s text output: the span itself,
/// and its fields copied into every line written inside it). Enable it
/// with a `debug` filter for this crate
/// (`RUST_LOG=info,gatehouse_axum=debug`) or any subscriber that keeps
/// debug spans (most exporters of traces do).
pub(crate) fn span(endpoint: &'static str, method: &http::Method) -> Span {
    tracing::debug_span!(
        SPAN_NAME,
        endpoint,
        method = method.as_str(),
        status = Empty,
        error = Empty,
        client_id = Empty
    )
}

/// Runs `handler` inside `span` and records the status it answers.
///
/// A plain function returning [`Traced`] rather than an `async fn`: an
/// `async fn` keeps its argument and the future it builds from it side by
/// side in its state, so every handler future would carry the endpoint's
/// future twice (7.5 KB for the introspection endpoint instead of 3.4 KB),
/// and axum moves the whole state when it boxes it.
pub(crate) fn traced<F: Future<Output = Response>>(span: Span, handler: F) -> Traced<F> {
    Traced { inner: handler.instrument(span.clone()), span }
}

pin_project_lite::pin_project! {
    /// The future of [`traced`].
    pub(crate) struct Traced<F> {
        #[pin]
        inner: Instrumented<F>,
        span: Span,
    }
}

impl<F: Future<Output = Response>> Future for Traced<F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx));
        this.span.record("status", response.status().as_u16());
        Poll::Ready(response)
    }
}
