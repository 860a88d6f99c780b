//! The revocation feed: what resource servers must forget, as a bounded,
//! numbered sequence of events they read and resume (issue 13, item 3).
//!
//! A [`RevocationFeed`] is an [`AuditSink`]: install it with
//! [`AuthServer::with_audit`](crate::AuthServer::with_audit) (beside another
//! sink with a tuple, `(feed.clone(), logger)`) and it keeps the events that
//! make cached introspection answers wrong: a token or grant revoked, a
//! replay that revoked its grant, a bulk revocation, a client disabled or
//! removed. The core does no I/O: a transport (the axum crate's events
//! endpoint) reads the feed with [`RevocationFeed::read`] and waits for
//! news with [`RevocationFeed::changed`].
//!
//! # Resuming and falling behind
//! Each event has a sequence number, 1, 2, 3, … within one *stream*: a
//! feed made at start, named by a random id. A reader sends back the
//! stream id and the last number it applied; it gets what follows. Only
//! the newest `capacity` events are kept: a reader whose next event was
//! dropped, or who names another stream (the server restarted, or another
//! instance answered), or a number not issued yet, gets
//! [`Batch::reset`]: it may have missed a revocation and must forget every
//! cached answer, then resume from [`Batch::cursor`]. A transport that
//! relays other instances' events into the feed (gatehouse-redis's
//! `RedisFeedRelay`) calls [`RevocationFeed::reset`] when it may have lost
//! some, which resets every reader the same way.
//!
//! # What an event may carry
//! Identifiers only (`jti`, grant id, subject, client id), as the audit
//! events it comes from: never a token, a digest or a secret.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::audit::{AuditEvent, AuditSink, ClientChange, Revoked};
use crate::crypto::{random_bytes, RandomError};
use crate::hex;
use crate::model::{ClientId, GrantId, Jti, Subject};

/// What a resource server must forget.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedEvent {
    /// One access token, by its `jti`.
    Token {
        /// Its `jti`.
        jti: Jti,
        /// Its grant.
        grant: GrantId,
    },
    /// Every token of a grant (a refresh token revoked, a replay).
    Grant(GrantId),
    /// Every token of a resource owner ("sign out everywhere").
    Subject(Subject),
    /// Every token a resource owner gave one client.
    SubjectAtClient(Subject, ClientId),
    /// Every token of a client (bulk revocation, client disabled or
    /// removed).
    Client(ClientId),
}

impl FeedEvent {
    /// The event an audit event calls for, if any.
    pub fn from_audit(event: &AuditEvent<'_>) -> Option<Self> {
        match *event {
            AuditEvent::TokenRevoked { target: Revoked::Token { jti, grant }, .. } => {
                Some(Self::Token { jti, grant })
            }
            AuditEvent::TokenRevoked { target: Revoked::Grant(grant), .. } => Some(Self::Grant(grant)),
            // Even when the revocation was not stored, the grant's tokens
            // are suspect: forgetting cached answers only costs a lookup.
            AuditEvent::ReplayDetected { grant, .. } => Some(Self::Grant(grant)),
            AuditEvent::BulkRevocation { subject, client, .. } => match (subject, client) {
                (Some(s), Some(c)) => Some(Self::SubjectAtClient(s.clone(), c.clone())),
                (Some(s), None) => Some(Self::Subject(s.clone())),
                (None, Some(c)) => Some(Self::Client(c.clone())),
                (None, None) => None,
            },
            AuditEvent::ClientChanged { client, change: ClientChange::Disabled | ClientChange::Removed } => {
                Some(Self::Client(client.clone()))
            }
            _ => None,
        }
    }

    /// The event's `type` in the JSON form.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Token { .. } => "token",
            Self::Grant(_) => "grant",
            Self::Subject(_) => "subject",
            Self::SubjectAtClient(..) => "subject_at_client",
            Self::Client(_) => "client",
        }
    }
}

/// A resource server's read of the feed, from
/// [`AuthServer::feed_request`](crate::AuthServer::feed_request).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedRequest {
    /// The stream id it last saw, if any.
    pub stream: Option<String>,
    /// The last event number it applied.
    pub cursor: u64,
    /// How long it is willing to wait for an event, in seconds (the
    /// transport caps it).
    pub wait_secs: u64,
}

/// An event and its number in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequenced {
    /// 1 for the stream's first event, then one more for each.
    pub seq: u64,
    /// The event.
    pub event: FeedEvent,
}

/// What a reader gets from [`RevocationFeed::read`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Batch {
    /// The stream's id: send it back with the next read.
    pub stream: String,
    /// The events after the reader's cursor, oldest first (none after a
    /// reset).
    pub events: Vec<Sequenced>,
    /// The cursor to send back next: the last event's number, or the
    /// reader's own when there were none, or the newest after a reset.
    pub cursor: u64,
    /// The reader may have missed events: it must forget everything it
    /// cached, then go on from [`cursor`](Self::cursor).
    pub reset: bool,
}

impl Batch {
    /// The JSON answer: `{"stream", "cursor", "reset", "events": [{"seq",
    /// "type", "jti"?, "grant_id"?, "sub"?, "client_id"?}]}`.
    pub fn to_json(&self) -> Vec<u8> {
        use serde_json::{json, Map, Value};
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|s| {
                let mut e = Map::new();
                e.insert("seq".into(), s.seq.into());
                e.insert("type".into(), s.event.kind().into());
                match &s.event {
                    FeedEvent::Token { jti, grant } => {
                        e.insert("jti".into(), jti.to_string().into());
                        e.insert("grant_id".into(), grant.to_string().into());
                    }
                    FeedEvent::Grant(g) => {
                        e.insert("grant_id".into(), g.to_string().into());
                    }
                    FeedEvent::Subject(s) => {
                        e.insert("sub".into(), s.as_str().into());
                    }
                    FeedEvent::SubjectAtClient(s, c) => {
                        e.insert("sub".into(), s.as_str().into());
                        e.insert("client_id".into(), c.as_str().into());
                    }
                    FeedEvent::Client(c) => {
                        e.insert("client_id".into(), c.as_str().into());
                    }
                }
                Value::Object(e)
            })
            .collect();
        let body = json!({
            "stream": self.stream,
            "cursor": self.cursor,
            "reset": self.reset,
            "events": events,
        });
        body.to_string().into_bytes()
    }

    /// The 200 answer with [`to_json`](Self::to_json) as its body.
    pub fn to_response(&self) -> crate::HttpResponse {
        crate::HttpResponse::json(200, self.to_json())
    }
}

/// The bounded, numbered feed of [`FeedEvent`]s (see the module docs).
/// Cheap to clone: clones share one feed.
#[derive(Clone)]
pub struct RevocationFeed {
    shared: Arc<Shared>,
}

struct Shared {
    stream: String,
    capacity: usize,
    /// Never held across an `.await` (there are none in this module).
    ring: Mutex<Ring>,
}

struct Ring {
    events: VecDeque<Sequenced>,
    /// The number of the newest event; 0 before the first.
    last: u64,
    /// The tasks waiting in [`Changed`], by waiter id; each removes its own
    /// entry when dropped, so abandoned waits do not pile up.
    waiters: HashMap<u64, Waker>,
    next_waiter: u64,
    /// Set by [`RevocationFeed::suspend`]: events may be missing from now
    /// on, so readers must get no answer (not even a heartbeat).
    suspended: bool,
}

impl std::fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ring = self.lock();
        f.debug_struct("RevocationFeed")
            .field("stream", &self.shared.stream)
            .field("capacity", &self.shared.capacity)
            .field("last", &ring.last)
            .field("held", &ring.events.len())
            .finish()
    }
}

impl RevocationFeed {
    /// A new stream keeping the newest `capacity` events (at least one),
    /// named by 128 random bits.
    ///
    /// # Errors
    /// [`RandomError`] when the OS random source fails.
    pub fn new(capacity: usize) -> Result<Self, RandomError> {
        let stream = hex::encode(&random_bytes::<16>()?);
        let ring = Ring {
            events: VecDeque::new(),
            last: 0,
            waiters: HashMap::new(),
            next_waiter: 0,
            suspended: false,
        };
        Ok(Self { shared: Arc::new(Shared { stream, capacity: capacity.max(1), ring: Mutex::new(ring) }) })
    }

    /// The stream's id.
    pub fn stream_id(&self) -> &str {
        &self.shared.stream
    }

    /// The number of the newest event (0 before the first).
    pub fn last(&self) -> u64 {
        self.lock().last
    }

    /// How many readers are waiting in [`changed`](Self::changed) (for
    /// metrics, and tests that must know a reader waits).
    pub fn waiting(&self) -> usize {
        self.lock().waiters.len()
    }

    /// Appends `event`, drops the oldest beyond the capacity and wakes
    /// every waiting reader.
    pub fn publish(&self, event: FeedEvent) {
        let wake: Vec<Waker> = {
            let mut ring = self.lock();
            ring.last += 1;
            let seq = ring.last;
            ring.events.push_back(Sequenced { seq, event });
            while ring.events.len() > self.shared.capacity {
                ring.events.pop_front();
            }
            ring.waiters.drain().map(|(_, w)| w).collect()
        };
        // Woken outside the lock: a waker may run code that reads the feed.
        wake.into_iter().for_each(Waker::wake);
    }

    /// Makes every current reader reset (see [`Batch::reset`]): drops the
    /// held events and skips one number, so no reader's next event is
    /// held any more; then wakes the waiting readers. For a transport that
    /// relays events from elsewhere and may have lost some (a dropped
    /// subscription, a gap in a sender's numbers): a reader that cannot be
    /// told what it missed must forget everything instead.
    pub fn reset(&self) {
        let wake: Vec<Waker> = {
            let mut ring = self.lock();
            ring.last += 1;
            ring.events.clear();
            ring.waiters.drain().map(|(_, w)| w).collect()
        };
        wake.into_iter().for_each(Waker::wake);
    }

    /// Marks the feed as possibly missing events from now on (a relay's
    /// subscription to other instances' events is down), and wakes the
    /// waiting readers. Until [`resume`](Self::resume),
    /// [`is_complete`](Self::is_complete) is false and a transport must
    /// give readers no answer at all ([`incomplete_response`]), not even
    /// an empty one: an empty answer is a heartbeat that renews a reader's
    /// lease, and a reader whose lease lapses stops trusting its cache.
    /// [`reset`](Self::reset) alone would not do: it covers what was
    /// missed before it, not what will be missed after it.
    pub fn suspend(&self) {
        let wake: Vec<Waker> = {
            let mut ring = self.lock();
            ring.suspended = true;
            ring.waiters.drain().map(|(_, w)| w).collect()
        };
        wake.into_iter().for_each(Waker::wake);
    }

    /// Ends a [`suspend`](Self::suspend): the feed is complete again, and
    /// every current reader resets (it may have cached answers that an
    /// event missed in between made wrong).
    pub fn resume(&self) {
        self.lock().suspended = false;
        self.reset();
    }

    /// Whether the feed carries every revocation (false while
    /// [suspended](Self::suspend)).
    pub fn is_complete(&self) -> bool {
        !self.lock().suspended
    }

    /// At most `max` events after `cursor` for a reader of `stream` (`None`:
    /// a new reader), or a reset (see [`Batch::reset`]).
    pub fn read(&self, stream: Option<&str>, cursor: u64, max: usize) -> Batch {
        let ring = self.lock();
        let same_stream = stream == Some(self.shared.stream.as_str());
        let oldest = ring.events.front().map_or(ring.last + 1, |e| e.seq);
        // The reader's next event must still be held (or not exist yet).
        let missed = cursor.saturating_add(1) < oldest;
        if !same_stream || cursor > ring.last || missed {
            return Batch {
                stream: self.shared.stream.clone(),
                events: Vec::new(),
                cursor: ring.last,
                reset: true,
            };
        }
        let events: Vec<Sequenced> =
            ring.events.iter().skip_while(|e| e.seq <= cursor).take(max).cloned().collect();
        let cursor = events.last().map_or(cursor, |e| e.seq);
        Batch { stream: self.shared.stream.clone(), events, cursor, reset: false }
    }

    /// Completes once an event numbered after `cursor` exists or the feed
    /// is [suspended](Self::suspend) (at once if either is so).
    /// Runtime-agnostic: bound it with the transport's timer.
    pub fn changed(&self, cursor: u64) -> Changed {
        Changed { feed: self.clone(), cursor, id: None }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding it leaves the ring whole (each step is one
        // push, pop or counter update).
        self.shared.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AuditSink for RevocationFeed {
    fn record(&self, event: &AuditEvent<'_>) {
        if let Some(e) = FeedEvent::from_audit(event) {
            self.publish(e);
        }
    }
}

/// The answer to a reader of a [suspended](RevocationFeed::suspend) feed:
/// 503 `temporarily_unavailable` with `Retry-After`, as for a store that
/// cannot be reached.
pub fn incomplete_response() -> crate::HttpResponse {
    let e = crate::Error::Store(crate::StoreError::Unavailable(
        "the revocation feed may be missing events".into(),
    ));
    crate::HttpResponse::from(&e)
}

/// The future of [`RevocationFeed::changed`].
#[must_use = "futures do nothing unless polled"]
pub struct Changed {
    feed: RevocationFeed,
    cursor: u64,
    id: Option<u64>,
}

impl Future for Changed {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut ring = this.feed.lock();
        if ring.last > this.cursor || ring.suspended {
            if let Some(id) = this.id.take() {
                ring.waiters.remove(&id);
            }
            return Poll::Ready(());
        }
        let id = *this.id.get_or_insert_with(|| {
            ring.next_waiter += 1;
            ring.next_waiter
        });
        ring.waiters.insert(id, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Changed {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.feed.lock().waiters.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests;
