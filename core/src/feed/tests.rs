use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Wake;

use super::*;

fn client(id: &str) -> ClientId {
    ClientId::new(id).unwrap()
}

fn grant(n: u8) -> GrantId {
    GrantId::time_ordered(1, &[n; crate::model::GRANT_ID_RANDOM_LEN])
}

#[test]
fn reads_resume_from_the_cursor() {
    let feed = RevocationFeed::new(8).unwrap();
    let first = feed.read(None, 0, 10);
    assert!(first.reset, "a new reader starts with a reset");
    assert_eq!(first.cursor, 0);
    let stream = first.stream.clone();
    feed.publish(FeedEvent::Grant(grant(1)));
    feed.publish(FeedEvent::Client(client("app")));
    let b = feed.read(Some(&stream), 0, 1);
    assert!(!b.reset);
    assert_eq!(b.events, vec![Sequenced { seq: 1, event: FeedEvent::Grant(grant(1)) }]);
    assert_eq!(b.cursor, 1);
    let b = feed.read(Some(&stream), b.cursor, 10);
    assert_eq!(b.events, vec![Sequenced { seq: 2, event: FeedEvent::Client(client("app")) }]);
    let b = feed.read(Some(&stream), 2, 10);
    assert!(b.events.is_empty() && !b.reset && b.cursor == 2);
}

#[test]
fn a_reader_that_fell_behind_or_changed_stream_is_reset() {
    let feed = RevocationFeed::new(2).unwrap();
    let stream = feed.stream_id().to_owned();
    for n in 1..=3 {
        feed.publish(FeedEvent::Grant(grant(n)));
    }
    // Event 1 was dropped: a reader at 0 missed it.
    let b = feed.read(Some(&stream), 0, 10);
    assert!(b.reset && b.events.is_empty() && b.cursor == 3);
    // A reader at 1 missed nothing.
    let b = feed.read(Some(&stream), 1, 10);
    assert!(!b.reset);
    assert_eq!(b.events.len(), 2);
    // Another stream (a restarted server), or a number never issued.
    assert!(feed.read(Some("another"), 3, 10).reset);
    assert!(feed.read(Some(&stream), 4, 10).reset);
    let other = RevocationFeed::new(2).unwrap();
    assert_ne!(other.stream_id(), feed.stream_id());
}

#[test]
fn a_forced_reset_resets_every_current_reader_and_wakes_waiters() {
    let feed = RevocationFeed::new(8).unwrap();
    let stream = feed.stream_id().to_owned();
    feed.publish(FeedEvent::Grant(grant(1)));
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&count));
    let mut wait = Box::pin(feed.changed(1));
    assert!(wait.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    feed.reset();
    assert_eq!(count.0.load(Ordering::SeqCst), 1, "a waiting reader is woken");
    // Up to date or not, every reader from before the reset resets.
    for cursor in [0, 1] {
        let b = feed.read(Some(&stream), cursor, 10);
        assert!(b.reset && b.events.is_empty() && b.cursor == 2, "cursor {cursor}: {b:?}");
    }
    // After it, reading goes on as usual from the cursor it handed out.
    feed.publish(FeedEvent::Client(client("app")));
    let b = feed.read(Some(&stream), 2, 10);
    assert!(!b.reset);
    assert_eq!(b.events, vec![Sequenced { seq: 3, event: FeedEvent::Client(client("app")) }]);
    assert!(feed.read(Some(&stream), 1, 10).reset, "a reader from before it still resets");
}

#[test]
fn a_suspended_feed_is_incomplete_wakes_waiters_and_resumes_with_a_reset() {
    let feed = RevocationFeed::new(8).unwrap();
    let stream = feed.stream_id().to_owned();
    assert!(feed.is_complete());
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&count));
    let mut wait = Box::pin(feed.changed(0));
    assert!(wait.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    feed.suspend();
    assert!(!feed.is_complete());
    assert_eq!(count.0.load(Ordering::SeqCst), 1, "a waiting reader is woken");
    assert!(wait.as_mut().poll(&mut Context::from_waker(&waker)).is_ready());
    assert!(Box::pin(feed.changed(0)).as_mut().poll(&mut Context::from_waker(&waker)).is_ready());
    feed.resume();
    assert!(feed.is_complete());
    let b = feed.read(Some(&stream), 0, 10);
    assert!(b.reset, "a reader from before the suspension resets: {b:?}");
    let r = incomplete_response();
    assert_eq!(r.status, 503);
    assert!(r.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("retry-after")));
}

#[test]
fn audit_events_become_feed_events() {
    let feed = RevocationFeed::new(16).unwrap();
    let app = client("app");
    let alice = Subject::new("alice").unwrap();
    let jti = Jti::from_bytes([7; 16]);
    let events = [
        AuditEvent::TokenRevoked { by: &app, target: Revoked::Token { jti, grant: grant(1) } },
        AuditEvent::TokenRevoked { by: &app, target: Revoked::Grant(grant(2)) },
        AuditEvent::ReplayDetected {
            client: &app,
            kind: crate::model::TokenKind::Refresh,
            grant: grant(3),
            grant_revoked: true,
        },
        AuditEvent::BulkRevocation { subject: Some(&alice), client: None, count: 1 },
        AuditEvent::BulkRevocation { subject: Some(&alice), client: Some(&app), count: 1 },
        AuditEvent::BulkRevocation { subject: None, client: Some(&app), count: 0 },
        AuditEvent::ClientChanged { client: &app, change: ClientChange::Disabled },
        AuditEvent::ClientChanged { client: &app, change: ClientChange::Removed },
        // Nothing to forget for these.
        AuditEvent::ClientChanged { client: &app, change: ClientChange::Enabled },
        AuditEvent::ClientChanged { client: &app, change: ClientChange::SecretRotated },
        AuditEvent::Throttled { caller: &app, retry_after: 1 },
    ];
    for e in &events {
        feed.record(e);
    }
    let got: Vec<FeedEvent> =
        feed.read(Some(feed.stream_id()), 0, 100).events.into_iter().map(|s| s.event).collect();
    assert_eq!(
        got,
        vec![
            FeedEvent::Token { jti, grant: grant(1) },
            FeedEvent::Grant(grant(2)),
            FeedEvent::Grant(grant(3)),
            FeedEvent::Subject(alice.clone()),
            FeedEvent::SubjectAtClient(alice, app.clone()),
            FeedEvent::Client(app.clone()),
            FeedEvent::Client(app.clone()),
            FeedEvent::Client(app),
        ]
    );
}

#[test]
fn json_names_each_event_by_its_ids() {
    let feed = RevocationFeed::new(4).unwrap();
    let jti = Jti::from_bytes([7; 16]);
    feed.publish(FeedEvent::Token { jti, grant: grant(1) });
    feed.publish(FeedEvent::SubjectAtClient(Subject::new("alice").unwrap(), client("app")));
    let b = feed.read(Some(feed.stream_id()), 0, 10);
    let v: serde_json::Value = serde_json::from_slice(&b.to_json()).unwrap();
    assert_eq!(v["stream"], feed.stream_id());
    assert_eq!(v["cursor"], 2);
    assert_eq!(v["reset"], false);
    assert_eq!(v["events"][0]["seq"], 1);
    assert_eq!(v["events"][0]["type"], "token");
    assert_eq!(v["events"][0]["jti"], jti.to_string());
    assert_eq!(v["events"][0]["grant_id"], grant(1).to_string());
    assert_eq!(v["events"][1]["type"], "subject_at_client");
    assert_eq!(v["events"][1]["sub"], "alice");
    assert_eq!(v["events"][1]["client_id"], "app");
}

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn changed_wakes_on_publish_and_forgets_dropped_waiters() {
    let feed = RevocationFeed::new(4).unwrap();
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&count));
    let mut cx = Context::from_waker(&waker);
    let mut wait = Box::pin(feed.changed(0));
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    // A dropped wait leaves no waker behind.
    let mut dropped = Box::pin(feed.changed(0));
    assert!(dropped.as_mut().poll(&mut cx).is_pending());
    assert_eq!(feed.lock().waiters.len(), 2);
    drop(dropped);
    assert_eq!(feed.lock().waiters.len(), 1);
    feed.publish(FeedEvent::Client(client("app")));
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(wait.as_mut().poll(&mut cx).is_ready());
    // Already past the cursor: ready at once.
    assert!(Box::pin(feed.changed(0)).as_mut().poll(&mut cx).is_ready());
    assert!(Box::pin(feed.changed(1)).as_mut().poll(&mut cx).is_pending());
}
