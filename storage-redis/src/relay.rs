//! [`RedisFeedRelay`]: every instance's revocation events in every
//! instance's [`RevocationFeed`], over Redis pub/sub (issue 13, item 3).
//! Why pub/sub and not a stream, and what each failure does: see the crate
//! docs, "Revocation events across instances".

mod inbound;
mod message;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gatehouse_core::audit::{AuditEvent, AuditSink};
use gatehouse_core::{FeedEvent, RevocationFeed};
use redis::aio::MultiplexedConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::{mpsc, Notify};

use crate::client_cache::{self, Target};
use crate::{RedisConnection, RedisError, RedisStore};
use inbound::Inbound;
use message::{Body, Message};

/// Relay settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FeedRelayOptions {
    heartbeat: Duration,
    queue: usize,
}

impl Default for FeedRelayOptions {
    /// A heartbeat every second and room for 1024 events waiting to be
    /// published.
    fn default() -> Self {
        Self { heartbeat: Duration::from_secs(1), queue: 1024 }
    }
}

impl FeedRelayOptions {
    /// The default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// How often each instance says "my last event is number n". It bounds
    /// how late a lost event is noticed (one interval after the loss), and
    /// a subscription that no longer carries this instance's own heartbeat
    /// for three intervals plus the connection timeout is replaced (with a
    /// reset). At least 10 ms.
    #[must_use]
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(10));
        self
    }

    /// How many events may wait to be published (Redis slow or down) before
    /// further ones are dropped, each drop counted and seen by the other
    /// instances as a gap (they reset). At least 1.
    #[must_use]
    pub fn queue(mut self, events: usize) -> Self {
        self.queue = events.max(1);
        self
    }
}

/// Fans this instance's revocation events out to every instance sharing
/// the Redis and key prefix, and appends theirs to the local
/// [`RevocationFeed`].
///
/// Install it as the core's audit sink **instead of** the feed (it appends
/// this instance's events to the feed itself, at once, and publishes them
/// on the channel `<prefix>feed`); a background task on the Tokio runtime
/// publishes them and heartbeats, and a dedicated RESP3 connection
/// subscribes to the channel and appends the other instances' events.
/// Whatever it may have missed (its subscription dropped, a number
/// missing in a sender's sequence, a message it cannot read) makes the
/// feed reset, so resource servers reading it forget every cached answer:
/// an event is delivered or replaced by a reset, never silently lost.
/// While no subscription is up (at start, and from a loss until the next
/// one), the feed is [suspended](RevocationFeed::suspend): readers get 503
/// instead of heartbeats, so their leases lapse and their caches step
/// aside for as long as events from elsewhere could be missed.
///
/// Publishing never fails the request that revoked: a failure (or an
/// event dropped because the queue is full) is counted in
/// [`RelayStatus::failed`] and shows as a gap to the other instances.
///
/// The task and its connection stop once every clone is dropped (the
/// server holding the sink included).
#[derive(Clone)]
pub struct RedisFeedRelay {
    shared: Arc<Shared>,
    queue: mpsc::Sender<FeedEvent>,
}

struct Shared {
    feed: RevocationFeed,
    /// This instance's id on the channel: the feed's stream id.
    origin: String,
    /// The last number this instance used (sent, failed or dropped).
    seq: AtomicU64,
    inbound: Mutex<Inbound>,
    /// Wakes the task when the subscription reports its loss.
    wake: Notify,
    published: AtomicU64,
    failed: AtomicU64,
    relayed: AtomicU64,
    echoed: AtomicU64,
    resets: AtomicU64,
}

/// A snapshot of a relay's counters, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStatus {
    /// The subscription is up: other instances' events arrive.
    pub live: bool,
    /// This instance's events published.
    pub published: u64,
    /// This instance's events or heartbeats that could not be published
    /// (Redis error or timeout, queue full). Each is a gap the other
    /// instances notice, and reset for.
    pub failed: u64,
    /// Other instances' events appended to the feed.
    pub relayed: u64,
    /// This instance's own events heard back (and not appended again).
    pub echoed: u64,
    /// Resets this relay made the feed do.
    pub resets: u64,
}

impl fmt::Debug for RedisFeedRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisFeedRelay")
            .field("instance", &self.shared.origin)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl RedisFeedRelay {
    /// Starts relaying `feed` through `store`'s Redis, on the channel
    /// `<prefix>feed`. The subscription is set up in the background; until
    /// it is the feed is suspended, and whenever it is (re-)established the
    /// feed resumes and resets.
    ///
    /// # Errors
    /// [`RedisError::RelaySetup`] when the store's connection was not made
    /// from URLs (its address is unknown) or there is no Tokio runtime.
    pub fn spawn(
        store: &RedisStore,
        feed: RevocationFeed,
        opts: FeedRelayOptions,
    ) -> Result<Self, RedisError> {
        let conn = store.connection().clone();
        let target = conn
            .tracking_target()
            .cloned()
            .ok_or(RedisError::RelaySetup("the connection must be made from URLs"))?;
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| RedisError::RelaySetup("it must be started inside a Tokio runtime"))?;
        // The feed's stream id is 128 random bits, made once per feed: it
        // names this instance on the channel too.
        let origin = feed.stream_id().to_owned();
        // Incomplete until the first subscription is up.
        feed.suspend();
        let shared = Arc::new(Shared {
            feed,
            inbound: Mutex::new(Inbound::new(origin.clone(), Instant::now())),
            origin,
            seq: AtomicU64::new(0),
            wake: Notify::new(),
            published: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            relayed: AtomicU64::new(0),
            echoed: AtomicU64::new(0),
            resets: AtomicU64::new(0),
        });
        let (queue, rx) = mpsc::channel(opts.queue);
        let task = Task {
            shared: Arc::clone(&shared),
            conn,
            target,
            channel: format!("{}feed", store.prefix()),
            heartbeat: opts.heartbeat,
        };
        drop(rt.spawn(task.run(rx)));
        Ok(Self { shared, queue })
    }

    /// The feed it writes.
    pub fn feed(&self) -> &RevocationFeed {
        &self.shared.feed
    }

    /// This instance's id on the channel: its feed's stream id (random per
    /// feed). Its subscription connection is named `gatehouse-feed-<id>`
    /// in `CLIENT LIST`.
    pub fn instance_id(&self) -> &str {
        &self.shared.origin
    }

    /// The relay's counters.
    pub fn status(&self) -> RelayStatus {
        let s = &self.shared;
        RelayStatus {
            live: s.lock().live(),
            published: s.published.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            relayed: s.relayed.load(Ordering::Relaxed),
            echoed: s.echoed.load(Ordering::Relaxed),
            resets: s.resets.load(Ordering::Relaxed),
        }
    }
}

impl AuditSink for RedisFeedRelay {
    /// Appends the event to the local feed at once, and queues it for the
    /// other instances; never blocks.
    fn record(&self, event: &AuditEvent<'_>) {
        let Some(e) = FeedEvent::from_audit(event) else { return };
        self.shared.feed.publish(e.clone());
        if self.queue.try_send(e).is_err() {
            // Its number is used up unsent: the others see the gap at this
            // instance's next message.
            self.shared.seq.fetch_add(1, Ordering::SeqCst);
            self.shared.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inbound> {
        // Every step leaves the state whole.
        self.inbound.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn reset(&self) {
        self.feed.reset();
        self.resets.fetch_add(1, Ordering::Relaxed);
    }

    /// The subscription is lost: readers reset, and get no answer until it
    /// is back ([`RevocationFeed::suspend`]), so their leases lapse rather
    /// than trust a feed that misses the other instances' events.
    fn lost(&self) {
        self.feed.suspend();
        self.reset();
    }

    /// A subscription is up: the feed is complete again, and readers
    /// reset (whatever was published before may be missed).
    fn up(&self) {
        self.feed.resume();
        self.resets.fetch_add(1, Ordering::Relaxed);
    }

    /// A push from the subscription of `generation` (called by the
    /// connection's reader, synchronously).
    fn on_push(&self, generation: u64, push: &PushInfo) {
        match push.kind {
            PushKind::Message => {
                let msg = match push.data.get(1) {
                    Some(Value::BulkString(b)) => Message::decode(b),
                    _ => None,
                };
                let step = self.lock().on_message(generation, msg, Instant::now());
                if step.reset {
                    self.reset();
                }
                if let Some(e) = step.event {
                    self.feed.publish(e);
                    self.relayed.fetch_add(1, Ordering::Relaxed);
                }
                if step.echo {
                    self.echoed.fetch_add(1, Ordering::Relaxed);
                }
            }
            PushKind::Disconnection | PushKind::Unsubscribe => {
                if self.lock().lose(generation) {
                    self.lost();
                }
                self.wake.notify_one();
            }
            _ => {}
        }
    }
}

/// The background task: publishes, heartbeats, keeps the subscription up.
struct Task {
    shared: Arc<Shared>,
    conn: RedisConnection,
    target: Target,
    channel: String,
    heartbeat: Duration,
}

impl Task {
    async fn run(self, mut rx: mpsc::Receiver<FeedEvent>) {
        let mut generation = 0u64;
        let mut sub: Option<MultiplexedConnection> = None;
        let mut tick = tokio::time::interval(self.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = rx.recv() => {
                    // `None`: every relay handle is gone. Say goodbye (so the
                    // others need not reset), then drop `sub`, closing the
                    // subscription.
                    let Some(e) = event else {
                        let n = self.shared.seq.load(Ordering::SeqCst);
                        self.publish(Message { origin: self.shared.origin.clone(), n, body: Body::Bye }).await;
                        return;
                    };
                    let n = self.shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
                    if self.publish(Message { origin: self.shared.origin.clone(), n, body: Body::Event(e) }).await {
                        self.shared.published.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ = tick.tick() => {
                    let n = self.shared.seq.load(Ordering::SeqCst);
                    self.publish(Message { origin: self.shared.origin.clone(), n, body: Body::Heartbeat }).await;
                    self.maintain(&mut sub, &mut generation).await;
                }
                () = self.shared.wake.notified() => self.maintain(&mut sub, &mut generation).await,
            }
        }
    }

    /// PUBLISH, bounded by the connection's timeout; false (counted) when
    /// it failed.
    async fn publish(&self, msg: Message) -> bool {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&self.channel).arg(msg.encode());
        let ok = self.conn.query::<Value>(&cmd).await.is_ok();
        if !ok {
            self.shared.failed.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Ends a settling window that owes a reset, replaces a subscription
    /// that is lost or no longer carries our heartbeat, and subscribes when
    /// there is none.
    async fn maintain(&self, sub: &mut Option<MultiplexedConnection>, generation: &mut u64) {
        let now = Instant::now();
        let (owed, drop_sub, stale) = {
            let mut st = self.shared.lock();
            // A sender's heartbeat may wait behind its publishes, each
            // bounded by the timeout.
            let owed = st.tick(now, self.heartbeat * 3 + self.conn.timeout() * 2);
            // Our own heartbeat has not come back: silently broken.
            let stale = st.stale(now, self.heartbeat * 3 + self.conn.timeout()) && st.lose(*generation);
            // Lost (the push handler already reset) or stale.
            (owed, sub.is_some() && !st.live(), stale)
        };
        if stale {
            self.shared.lost();
        } else if owed {
            self.shared.reset();
        }
        if drop_sub {
            *sub = None;
        }
        if sub.is_some() {
            return;
        }
        *generation += 1;
        let g = *generation;
        if let Some(conn) = self.subscribe(g).await {
            // Reset after the subscription is confirmed: whatever was
            // published before may be missed. A connection that died
            // before this point is not taken (`up` says so).
            if self.shared.lock().up(g, Instant::now(), self.heartbeat * 2 + self.conn.timeout()) {
                self.shared.up();
                *sub = Some(conn);
            }
        }
    }

    /// A named RESP3 connection subscribed to the channel, whose pushes go
    /// to [`Shared::on_push`] tagged with `generation`. On a cluster, the
    /// first seed node that answers: classic `PUBLISH` reaches every node.
    async fn subscribe(&self, generation: u64) -> Option<MultiplexedConnection> {
        let nodes = match &self.target {
            Target::Single(info) => std::slice::from_ref(info),
            Target::Cluster(seeds) => seeds.as_slice(),
        };
        let timeout = self.conn.timeout();
        for info in nodes {
            let shared = Arc::clone(&self.shared);
            let on_push = move |push: PushInfo| -> Result<(), client_cache::TrackingDown> {
                shared.on_push(generation, &push);
                Ok(())
            };
            let Ok(mut c) = client_cache::connect(timeout, info.clone(), Some(on_push)).await else {
                continue;
            };
            let mut name = redis::cmd("CLIENT");
            name.arg("SETNAME").arg(format!("gatehouse-feed-{}", self.shared.origin));
            let setup = async {
                name.query_async::<Value>(&mut c).await?;
                c.subscribe(&self.channel).await
            };
            if matches!(tokio::time::timeout(timeout, setup).await, Ok(Ok(()))) {
                return Some(c);
            }
        }
        None
    }
}
