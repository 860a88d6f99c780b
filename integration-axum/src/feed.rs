//! The revocation feed's endpoint: an authenticated long poll of the core's
//! [`RevocationFeed`] (see `gatehouse_core::feed` and the README's
//! "Revocation push").

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::Response;
use gatehouse_core::feed::incomplete_response;
use gatehouse_core::{AuthServer, ClientRegistry, FishingLimiter, RevocationFeed, TokenStore};

use crate::endpoints::{http_request, read_body};
use crate::response::convert;
use crate::trace;

/// The longest an empty answer is held, whatever the reader asks: an
/// empty answer is the heartbeat that renews the reader's lease, so it
/// must come well within any sensible lease.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(30);

/// Most events in one answer.
const MAX_EVENTS: usize = 1000;

pub(crate) struct FeedState<S, L> {
    pub(crate) server: Arc<AuthServer<S, L>>,
    pub(crate) feed: RevocationFeed,
}

impl<S, L> Clone for FeedState<S, L> {
    fn clone(&self) -> Self {
        Self { server: Arc::clone(&self.server), feed: self.feed.clone() }
    }
}

pub(crate) async fn events<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    State(state): State<FeedState<S, L>>,
    req: Request,
) -> Response {
    let span = trace::span("events", req.method());
    trace::traced(span, poll(state, req)).await
}

async fn poll<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    state: FeedState<S, L>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = match read_body(body, state.server.config().max_body_bytes).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let req = http_request(&parts, &body);
    let poll = match state.server.feed_request(req).await {
        Ok(p) => p,
        Err(resp) => return convert(resp),
    };
    let feed = &state.feed;
    let mut batch = feed.read(poll.stream.as_deref(), poll.cursor, MAX_EVENTS);
    let wait = Duration::from_secs(poll.wait_secs).min(MAX_WAIT);
    if batch.events.is_empty() && !batch.reset && !wait.is_zero() && feed.is_complete() {
        // Timing out is the heartbeat: an empty answer. A suspension ends
        // the wait too.
        if tokio::time::timeout(wait, feed.changed(batch.cursor)).await.is_ok() {
            batch = feed.read(poll.stream.as_deref(), poll.cursor, MAX_EVENTS);
        }
    }
    // Checked last: no answer (above all no heartbeat) from a feed that
    // may be missing events, so the reader's lease lapses.
    if !feed.is_complete() {
        return convert(incomplete_response());
    }
    convert(batch.to_response())
}
