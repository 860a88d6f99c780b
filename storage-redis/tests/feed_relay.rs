//! Revocation events across instances: two `RedisFeedRelay`s on one Redis
//! (or one cluster). An event recorded on A reaches B's feed once and is
//! not appended twice on A; a lost subscription, or a number A failed to
//! publish, makes B's feed reset; a dropped relay stops and says goodbye.
//!
//! No sleeps: every wait is on the feed (`changed`) or on a relay's
//! counters, bounded by a deadline that fails the test.
#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::Backend;
use gatehouse_core::audit::{AuditEvent, Revoked};
use gatehouse_core::feed::Batch;
use gatehouse_core::model::{ClientId, GrantId, Jti};
use gatehouse_core::{AuditSink, FeedEvent, RevocationFeed};
use gatehouse_redis::testing::{unique_prefix, RedisServer, TestCluster, TestRedis};
use gatehouse_redis::{FeedRelayOptions, RedisConnection, RedisFeedRelay, RedisStore, RelayStatus};

const WITHIN: Duration = Duration::from_secs(15);
/// Short, for quick tests, but with a silence limit (3 heartbeats and two
/// timeouts, 1.9 s) that a loaded machine does not reach by accident.
const HEARTBEAT: Duration = Duration::from_millis(300);

async fn relay_on(store: &RedisStore) -> RedisFeedRelay {
    let feed = RevocationFeed::new(64).unwrap();
    RedisFeedRelay::spawn(store, feed, FeedRelayOptions::new().heartbeat(HEARTBEAT)).unwrap()
}

/// Two instances on one Redis (stores A and B with `prefix`), each with
/// its relay, both subscribed.
async fn two_live_relays(
    redis: &TestRedis,
    prefix: &str,
) -> (RedisStore, RedisStore, RedisFeedRelay, RedisFeedRelay) {
    let (sa, sb) = (redis.store_with(prefix).await, redis.store_with(prefix).await);
    let (a, b) = (relay_on(&sa).await, relay_on(&sb).await);
    live(&a).await;
    live(&b).await;
    (sa, sb, a, b)
}

/// Waits until `cond(relay's status)` holds, polling its counters (which
/// change on Redis's schedule) up to [`WITHIN`].
async fn wait_for(relay: &RedisFeedRelay, what: &str, cond: impl Fn(RelayStatus) -> bool) -> RelayStatus {
    let deadline = Instant::now() + WITHIN;
    loop {
        let st = relay.status();
        if cond(st) {
            return st;
        }
        assert!(Instant::now() < deadline, "relay {what}: not in time ({st:?})");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Subscribed, and the feed reset for it: from now on, what others
/// publish reaches this feed.
async fn live(relay: &RedisFeedRelay) {
    wait_for(relay, "subscribed", |s| s.live && s.resets >= 1).await;
}

/// A reader of `feed`: (stream, cursor) after its first, resetting read.
fn reader(feed: &RevocationFeed) -> (String, u64) {
    let b = feed.read(None, 0, 100);
    (b.stream, b.cursor)
}

/// The next batch after `cursor`, waiting for it up to [`WITHIN`].
async fn next(feed: &RevocationFeed, (stream, cursor): &(String, u64)) -> Batch {
    bounded("a feed event", feed.changed(*cursor)).await;
    feed.read(Some(stream), *cursor, 100)
}

async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(WITHIN, f).await.unwrap_or_else(|_| panic!("{what}: not within {WITHIN:?}"))
}

fn revoked(n: u8) -> (AuditEvent<'static>, FeedEvent) {
    static BY: std::sync::OnceLock<ClientId> = std::sync::OnceLock::new();
    let by = BY.get_or_init(|| ClientId::new("app").unwrap());
    let (jti, grant) = (Jti::from_bytes([n; 16]), GrantId::generate().unwrap());
    (AuditEvent::TokenRevoked { by, target: Revoked::Token { jti, grant } }, FeedEvent::Token { jti, grant })
}

async fn events_reach_the_other_instance_once<B: Backend>(b: &B) {
    let prefix = unique_prefix();
    let (sa, sb) = (b.store_with(&prefix).await, b.store_with(&prefix).await);
    let (a, other) = (relay_on(&sa).await, relay_on(&sb).await);
    live(&a).await;
    live(&other).await;
    let (ra, rb) = (reader(a.feed()), reader(other.feed()));

    let (audit, event) = revoked(1);
    a.record(&audit);
    let got = next(other.feed(), &rb).await;
    assert!(!got.reset, "{got:?}");
    assert_eq!(got.events.into_iter().map(|s| s.event).collect::<Vec<_>>(), vec![event.clone()]);
    wait_for(&other, "counted", |s| s.relayed == 1).await;

    // A appended it at once, and once: its own copy came back from Redis
    // and was not appended again.
    wait_for(&a, "own event heard back", |s| s.echoed == 1).await;
    let mine = a.feed().read(Some(&ra.0), ra.1, 100);
    assert!(!mine.reset);
    assert_eq!(mine.events.into_iter().map(|s| s.event).collect::<Vec<_>>(), vec![event]);
    assert_eq!(a.status().relayed, 0);

    // And the other way, several in order.
    let rb = (rb.0, other.feed().last());
    let ra = (ra.0, a.feed().last());
    let sent: Vec<FeedEvent> = (2..5)
        .map(|n| {
            let (audit, e) = revoked(n);
            other.record(&audit);
            e
        })
        .collect();
    wait_for(&a, "three relayed", |s| s.relayed == 3).await;
    let got = a.feed().read(Some(&ra.0), ra.1, 100);
    assert!(!got.reset);
    assert_eq!(got.events.into_iter().map(|s| s.event).collect::<Vec<_>>(), sent);
    wait_for(&other, "own events heard back", |s| s.echoed == 3).await;
    assert_eq!(other.feed().read(Some(&rb.0), rb.1, 100).events.len(), 3);
    assert_eq!((a.status().failed, other.status().failed), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_other_instance_once_on_one_server() {
    events_reach_the_other_instance_once(&TestRedis::start()).await;
}

/// Each relay subscribes on the first node it was given: here two
/// different nodes, so events cross the cluster bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_other_instance_once_on_cluster() {
    struct Rotated(TestCluster, std::sync::atomic::AtomicUsize);
    impl Backend for Rotated {
        async fn store_with(&self, prefix: &str) -> RedisStore {
            let mut urls = self.0.urls();
            let by = self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % urls.len();
            urls.rotate_left(by);
            RedisStore::connect_cluster(&urls, prefix).await.unwrap()
        }
        fn node_urls(&self) -> Vec<String> {
            self.0.urls()
        }
    }
    events_reach_the_other_instance_once(&Rotated(TestCluster::start(), 0.into())).await;
}

/// The `CLIENT LIST` id of `relay`'s subscription connection.
async fn subscription_id(conn: &RedisConnection, relay: &RedisFeedRelay) -> String {
    let list: String = conn.query(redis::cmd("CLIENT").arg("LIST")).await.unwrap();
    let name = format!("name=gatehouse-feed-{}", relay.instance_id());
    let line = list.lines().find(|l| l.split(' ').any(|f| f == name)).expect("the relay's connection");
    line.split(' ').find_map(|f| f.strip_prefix("id=")).unwrap().to_owned()
}

/// B's subscription killed: B's feed resets (it cannot know what it
/// missed), B subscribes again by itself and resets once more, and events
/// flow again. A is not disturbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_subscription_resets_the_feed_and_comes_back() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let (sa, _sb, a, b) = two_live_relays(&redis, &prefix).await;
    let rb = reader(b.feed());
    let (before_a, before_b) = (a.status(), b.status());

    let id = subscription_id(sa.connection(), &b).await;
    let killed: i64 =
        sa.connection().query(redis::cmd("CLIENT").arg("KILL").arg("ID").arg(&id)).await.unwrap();
    assert_eq!(killed, 1);
    let got = next(b.feed(), &rb).await;
    assert!(got.reset && got.events.is_empty(), "{got:?}");

    // Back by itself (a new connection, a new reset), and delivering.
    wait_for(&b, "subscribed again", |s| s.live && s.resets >= before_b.resets + 2).await;
    assert_ne!(subscription_id(sa.connection(), &b).await, id);
    let rb = reader(b.feed());
    let (audit, event) = revoked(9);
    a.record(&audit);
    let got = next(b.feed(), &rb).await;
    assert_eq!(got.events.into_iter().map(|s| s.event).collect::<Vec<_>>(), vec![event]);
    assert_eq!(a.status().resets, before_a.resets, "A's subscription was not touched");
}

/// A publish that fails (here: A's Redis user may not `PUBLISH` for a
/// moment) does not fail anything on A, is counted, and B resets at A's
/// next heartbeat, which carries the number B never got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_is_counted_and_resets_the_others() {
    let server = RedisServer::start();
    let admin = RedisConnection::connect(&server.url(), Duration::from_millis(500)).await.unwrap();
    let acl = |rule: &'static str| {
        let mut c = redis::cmd("ACL");
        c.arg("SETUSER").arg("relay").arg("on").arg(">relay-test-password").arg("~*").arg("&*").arg(rule);
        c
    };
    let _: () = admin.query(&acl("+@all")).await.unwrap();
    let prefix = unique_prefix();
    let url = format!("redis://relay:relay-test-password@127.0.0.1:{}/", server.port());
    let sa = RedisStore::connect(&url, &prefix).await.unwrap();
    let sb = RedisStore::connect(&server.url(), &prefix).await.unwrap();
    // B must notice the gap from A's numbers (at A's next heartbeat), well
    // before A could count as gone silent.
    let opts = || FeedRelayOptions::new().heartbeat(HEARTBEAT);
    let a = RedisFeedRelay::spawn(&sa, RevocationFeed::new(64).unwrap(), opts()).unwrap();
    let b = RedisFeedRelay::spawn(&sb, RevocationFeed::new(64).unwrap(), opts()).unwrap();
    live(&a).await;
    live(&b).await;
    // B knows A (its heartbeats arrive) before A fails.
    let (audit, event) = revoked(1);
    a.record(&audit);
    wait_for(&b, "A's first event", |s| s.relayed == 1).await;
    let (ra, rb) = (reader(a.feed()), reader(b.feed()));
    let resets = b.status().resets;

    let _: () = admin.query(&acl("-publish")).await.unwrap();
    let (audit, lost) = revoked(2);
    a.record(&audit);
    wait_for(&a, "failure counted", |s| s.failed >= 1).await;
    let mine = a.feed().read(Some(&ra.0), ra.1, 100);
    assert_eq!(
        mine.events.into_iter().map(|s| s.event).collect::<Vec<_>>(),
        vec![lost.clone()],
        "appended locally"
    );
    let _: () = admin.query(&acl("+publish")).await.unwrap();

    let got = next(b.feed(), &rb).await;
    assert!(got.reset, "{got:?}");
    let st = wait_for(&b, "reset counted", |s| s.resets > resets).await;
    assert_eq!(st.relayed, 1, "the lost event never arrived; the reset stands for it");
    assert_ne!(event, lost);
}

/// Dropping every handle stops the relay's task: it says goodbye (B does
/// not reset) and closes its subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_relay_stops_and_says_goodbye() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let (_sa, sb, a, b) = two_live_relays(&redis, &prefix).await;
    let (audit, _) = revoked(1);
    a.record(&audit);
    wait_for(&b, "A heard", |s| s.relayed == 1).await;
    let rb = reader(b.feed());
    let channel = format!("{prefix}feed");
    let subscribers = || async {
        let v: Vec<redis::Value> =
            sb.connection().query(redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel)).await.unwrap();
        match v.get(1) {
            Some(redis::Value::Int(n)) => *n,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(subscribers().await, 2);
    drop(a.clone());
    assert_eq!(subscribers().await, 2, "a clone keeps it running");
    drop(a);
    let deadline = Instant::now() + WITHIN;
    while subscribers().await != 1 {
        assert!(Instant::now() < deadline, "A's subscription still open");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Longer than B's silence limit (3 heartbeats + 2 timeouts): had A
    // gone without a goodbye, B would have reset by now.
    let quiet = HEARTBEAT * 3 + sb.connection().timeout() * 2;
    let later = tokio::time::timeout(quiet + HEARTBEAT * 2, b.feed().changed(rb.1)).await;
    assert!(later.is_err(), "B's feed changed: {:?}", b.feed().read(Some(&rb.0), rb.1, 10));
}

/// Without a subscription the feed is suspended (its endpoint answers 503,
/// so resource servers' leases lapse): while Redis is gone it stays so,
/// and once a subscription is back it is complete again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_is_suspended_while_no_subscription_is_up() {
    let mut server = RedisServer::start();
    let store = RedisStore::connect(&server.url(), &unique_prefix()).await.unwrap();
    let relay = relay_on(&store).await;
    live(&relay).await;
    assert!(relay.feed().is_complete());
    server.stop();
    let deadline = Instant::now() + WITHIN;
    while relay.feed().is_complete() {
        assert!(Instant::now() < deadline, "the feed stayed complete with Redis gone");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!relay.status().live);
    server.restart();
    wait_for(&relay, "subscribed again", |s| s.live).await;
    assert!(relay.feed().is_complete());
}
