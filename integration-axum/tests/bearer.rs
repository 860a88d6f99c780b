//! The bearer layer on an app's own route: RFC 6750 answers, the
//! principal handed to the route, and no answer about a token while the
//! store is down.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use axum::http::StatusCode;
use axum::routing::get as route_get;
use axum::Router;
use common::{get, issue, post, send, world, World, API};
use gatehouse_axum::{Bearer, Error};

/// `/me` behind the layer (scope `read` for [`API`]), answering with what
/// the principal says; `/open` asks for a principal without the layer.
fn app(w: &World) -> Router {
    let me = route_get(|Bearer(p): Bearer| async move {
        format!("{} {} {}", p.client_id.as_str(), p.scope.as_str(), p.audience[0].as_str())
    });
    Router::new()
        .route("/me", me.route_layer(w.gatehouse.require(API, "read").unwrap()))
        .route("/open", route_get(|Bearer(p): Bearer| async move { p.client_id.as_str().to_owned() }))
        .merge(w.gatehouse.router().unwrap())
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_valid_token_reaches_the_route_with_its_principal() {
    let w = world().await;
    let app = app(&w);
    let token = issue(&app, &w, "read write").await;
    let r = send(&app, get("/me", &[("authorization", &bearer(&token))])).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "app read write https://api.example"));
}

#[tokio::test]
async fn refusals_are_rfc_6750_answers() {
    let w = world().await;
    let app = app(&w);
    let realm = r#"Bearer realm="https://api.example""#;

    let r = send(&app, get("/me", &[])).await;
    assert_eq!((r.status, r.header("www-authenticate")), (StatusCode::UNAUTHORIZED, Some(realm)));
    assert_eq!(r.body, r#"{"error":"unauthorized","error_description":"an access token is required"}"#);
    assert_eq!(
        (r.header("cache-control"), r.header("content-type")),
        (Some("no-store"), Some("application/json"))
    );

    let r = send(&app, get("/me", &[("authorization", "Basic YTpi")])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.header("www-authenticate").unwrap().contains(r#"error="invalid_request""#));
    assert_eq!(r.json()["error"], "invalid_request");

    let r = send(&app, get("/me", &[("authorization", "Bearer gat_k1.not-a-real-token")])).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").unwrap().contains(r#"error="invalid_token""#));
    assert_eq!(r.json()["error"], "invalid_token");

    let write_only = issue(&app, &w, "write").await;
    let r = send(&app, get("/me", &[("authorization", &bearer(&write_only))])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="https://api.example", error="insufficient_scope", scope="read""#)
    );
    assert_eq!(r.json()["error"], "insufficient_scope");

    // Revoked: invalid from then on.
    let token = issue(&app, &w, "read").await;
    assert_eq!(send(&app, get("/me", &[("authorization", &bearer(&token))])).await.status, 200);
    send(&app, post("/oauth/revoke", Some(("app", &w.app)), &format!("token={token}"))).await;
    let r = send(&app, get("/me", &[("authorization", &bearer(&token))])).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_for_another_audience_is_invalid_here() {
    let w = world().await;
    let other = Router::new()
        .route(
            "/other",
            route_get(|| async { "reached" })
                .route_layer(w.gatehouse.require("https://other.example", "").unwrap().realm("other")),
        )
        .merge(w.gatehouse.router().unwrap());
    let token = issue(&other, &w, "read").await;
    let r = send(&other, get("/other", &[("authorization", &bearer(&token))])).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            r#"Bearer realm="other", error="invalid_token", error_description="the access token is invalid""#
        )
    );
}

#[tokio::test]
async fn a_store_failure_is_no_answer_about_the_token() {
    let w = world().await;
    let app = app(&w);
    let token = issue(&app, &w, "read").await;
    let retry = gatehouse_core::Error::UNAVAILABLE_RETRY_AFTER.to_string();

    w.store().set_unreachable(true);
    let r = send(&app, get("/me", &[("authorization", &bearer(&token))])).await;
    assert_eq!((r.status, r.header("retry-after")), (StatusCode::SERVICE_UNAVAILABLE, Some(retry.as_str())));
    assert_eq!(r.header("www-authenticate"), None);
    assert_eq!(r.json()["error"], "temporarily_unavailable");

    w.store().set_failing(true);
    let r = send(&app, get("/me", &[("authorization", &bearer(&token))])).await;
    assert_eq!((r.status, r.header("retry-after")), (StatusCode::INTERNAL_SERVER_ERROR, None));
    assert_eq!(r.header("www-authenticate"), None);
    assert_eq!(r.json()["error"], "server_error");

    w.store().set_failing(false);
    assert_eq!(send(&app, get("/me", &[("authorization", &bearer(&token))])).await.status, 200);
}

#[tokio::test]
async fn the_extractor_without_the_layer_refuses_with_a_500() {
    let w = world().await;
    let app = app(&w);
    let token = issue(&app, &w, "read").await;
    let r = send(&app, get("/open", &[("authorization", &bearer(&token))])).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.json()["error"], "server_error");
}

#[tokio::test]
async fn an_invalid_requirement_is_an_error_at_start() {
    let w = world().await;
    assert!(matches!(w.gatehouse.require("not a uri", "read"), Err(Error::Requirement(_))));
    assert!(matches!(w.gatehouse.require(API, "bad\"scope"), Err(Error::Requirement(_))));
}
