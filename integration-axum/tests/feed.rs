//! The revocation feed's endpoint: resource servers only, resumable, and a
//! long poll that answers as soon as an event is published.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use axum::http::StatusCode;
use axum::Router;
use common::{post, send, world, World};
use gatehouse_core::model::ClientId;
use gatehouse_core::{FeedEvent, RevocationFeed};

fn app(w: &World, feed: &RevocationFeed) -> Router {
    w.gatehouse.clone().with_feed(feed.clone()).router().unwrap()
}

#[tokio::test]
async fn only_authenticated_resource_servers_read_the_feed() {
    let w = world().await;
    let feed = RevocationFeed::new(8).unwrap();
    let router = app(&w, &feed);
    let r = send(&router, post("/oauth/events", None, "cursor=0")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(&router, post("/oauth/events", Some(("rs", "wrong")), "cursor=0")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(&router, post("/oauth/events", Some(("app", &w.app)), "cursor=0")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(&router, post("/oauth/events", Some(("rs", &w.rs)), "cursor=x")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = send(&router, post("/oauth/events", Some(("rs", &w.rs)), "cursor=0")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Without a feed, no route.
    let bare = w.gatehouse.clone().router().unwrap();
    let r = send(&bare, post("/oauth/events", Some(("rs", &w.rs)), "cursor=0")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_reader_resumes_from_its_cursor_and_is_reset_on_another_stream() {
    let w = world().await;
    let feed = RevocationFeed::new(8).unwrap();
    let router = app(&w, &feed);
    let rs = Some(("rs", w.rs.as_str()));
    let first = send(&router, post("/oauth/events", rs, "")).await.json();
    assert_eq!((first["reset"].as_bool(), first["cursor"].as_u64()), (Some(true), Some(0)));
    let stream = first["stream"].as_str().unwrap().to_owned();
    feed.publish(FeedEvent::Client(ClientId::new("app").unwrap()));
    let body = format!("stream={stream}&cursor=0");
    let b = send(&router, post("/oauth/events", rs, &body)).await.json();
    assert_eq!(b["reset"], false);
    assert_eq!(b["cursor"], 1);
    assert_eq!(b["events"][0]["type"], "client");
    assert_eq!(b["events"][0]["client_id"], "app");
    let b = send(&router, post("/oauth/events", rs, "stream=another&cursor=1")).await.json();
    assert_eq!((b["reset"].as_bool(), b["cursor"].as_u64()), (Some(true), Some(1)));
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_answers_at_the_first_event_or_empty_at_the_wait() {
    let w = world().await;
    let feed = RevocationFeed::new(8).unwrap();
    let router = app(&w, &feed);
    let stream = feed.stream_id().to_owned();
    let body = format!("stream={stream}&cursor=0&wait=20");
    // Nothing happens: an empty answer (the heartbeat) once the wait is
    // over (tokio's paused clock jumps there).
    let r = send(&router, post("/oauth/events", Some(("rs", &w.rs)), &body)).await.json();
    assert_eq!((r["reset"].as_bool(), r["cursor"].as_u64()), (Some(false), Some(0)));
    assert_eq!(r["events"].as_array().map(Vec::len), Some(0));
    // An event while it waits ends the wait with it.
    let (router2, rs) = (router.clone(), w.rs.clone());
    let waiting =
        tokio::spawn(async move { send(&router2, post("/oauth/events", Some(("rs", &rs)), &body)).await });
    // Let the poll reach its wait before publishing (bounded, so that a
    // poll that never waits fails instead of hanging).
    for _ in 0..10_000 {
        if feed.waiting() == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(feed.waiting(), 1, "the poll waits");
    let published = tokio::time::Instant::now();
    feed.publish(FeedEvent::Client(ClientId::new("app").unwrap()));
    let r = waiting.await.unwrap().json();
    // Woken by the event, not found when the wait timed out (the paused
    // clock would have jumped the 20 s).
    assert!(published.elapsed() < std::time::Duration::from_secs(1), "{:?}", published.elapsed());
    assert_eq!(feed.waiting(), 0);
    assert_eq!(r["cursor"], 1);
    assert_eq!(r["events"][0]["type"], "client");
}

/// A suspended feed (a relay that may be missing other instances' events)
/// answers 503 with `Retry-After`, never a heartbeat: also to a poll that
/// was already waiting when it was suspended. Resumed, it answers again,
/// with a reset.
#[tokio::test(start_paused = true)]
async fn a_suspended_feed_answers_503_even_to_a_waiting_poll() {
    let w = world().await;
    let feed = RevocationFeed::new(8).unwrap();
    let router = app(&w, &feed);
    let stream = feed.stream_id().to_owned();
    let body = format!("stream={stream}&cursor=0&wait=20");
    let (router2, rs, body2) = (router.clone(), w.rs.clone(), body.clone());
    let waiting =
        tokio::spawn(async move { send(&router2, post("/oauth/events", Some(("rs", &rs)), &body2)).await });
    for _ in 0..10_000 {
        if feed.waiting() == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(feed.waiting(), 1, "the poll waits");
    feed.suspend();
    let r = waiting.await.unwrap();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert!(r.body.contains("temporarily_unavailable"), "{}", r.body);
    // A new poll too, at once.
    let r = send(&router, post("/oauth/events", Some(("rs", &w.rs)), &body)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    feed.resume();
    let r = send(&router, post("/oauth/events", Some(("rs", &w.rs)), &body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["reset"], true, "what was cached meanwhile is forgotten");
}
