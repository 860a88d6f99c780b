//! The authorization endpoint around the app's consent hook: the crate
//! checks each request, never redirects an untrusted one, and turns the
//! app's decision into the redirect.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use axum::body::{Body, Bytes};
use axum::extract::FromRequest as _;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::Router;
use common::{authorize_path, pkce, post, query_param, send, world, World, CALLBACK};
use gatehouse_axum::{Consent, Decision, Prompt};
use gatehouse_core::model::Subject;

/// A consent hook that decides from the form: `approve` logs `alice` in,
/// `deny` refuses; a GET (or anything else) gets the "page".
struct Pages;

impl Consent for Pages {
    async fn decide(&self, prompt: Prompt) -> Decision {
        let shown = format!(
            "page for {} scope {} to {}",
            prompt.authorization.client().id.as_str(),
            prompt.authorization.scope().as_str(),
            prompt.authorization.redirect_uri()
        );
        if prompt.request.method() != "POST" {
            return Decision::respond(shown.into_response());
        }
        let body = match Bytes::from_request(prompt.request, &()).await {
            Ok(b) => b,
            Err(rejection) => return Decision::respond(rejection.into_response()),
        };
        let mut clear = HeaderMap::new();
        clear.insert(SET_COOKIE, HeaderValue::from_static("csrf=; Max-Age=0"));
        match &body[..] {
            b"decision=approve" => Decision::approve(Subject::new("alice").unwrap()).with_headers(clear),
            b"decision=deny" => Decision::deny().with_headers(clear),
            _ => Decision::respond((StatusCode::BAD_REQUEST, "choose").into_response()),
        }
    }

    fn error_page(&self, status: StatusCode, message: &str) -> Response {
        (status, format!("error page: {message}")).into_response()
    }
}

fn app(w: &World) -> Router {
    w.gatehouse.clone().with_consent(Pages).router().unwrap()
}

fn form(path: &str, body: &str) -> Request<Body> {
    post(path, None, body)
}

#[tokio::test]
async fn a_checked_request_gets_the_apps_page() {
    let w = world().await;
    let (_, challenge) = pkce();
    let r = send(&app(&w), common::get(&authorize_path(&challenge), &[])).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "page for web scope read to https://app.example/cb")
    );
}

#[tokio::test]
async fn approval_is_a_code_redirect_that_exchanges_for_tokens() {
    let w = world().await;
    let app = app(&w);
    let (verifier, challenge) = pkce();
    let r = send(&app, form(&authorize_path(&challenge), "decision=approve")).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    let location = r.header("location").unwrap();
    assert!(location.starts_with(&format!("{CALLBACK}?code=")), "{location}");
    assert_eq!(query_param(location, "state").as_deref(), Some("xyz"));
    assert_eq!(query_param(location, "iss").as_deref(), Some("https%3A%2F%2Fauth.example"));
    // Not cached, no referrer (the URL carries the code), the app's header.
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("set-cookie"), Some("csrf=; Max-Age=0"));

    let code = query_param(location, "code").unwrap();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier={verifier}"
    );
    let r = send(&app, post("/oauth/token", Some(("web", &w.web)), &body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["refresh_token"].is_string());
}

#[tokio::test]
async fn refusal_is_an_access_denied_redirect() {
    let w = world().await;
    let (_, challenge) = pkce();
    let r = send(&app(&w), form(&authorize_path(&challenge), "decision=deny")).await;
    assert_eq!(r.status, StatusCode::FOUND);
    let location = r.header("location").unwrap();
    assert!(location.starts_with(&format!("{CALLBACK}?error=access_denied")), "{location}");
    assert_eq!(r.header("set-cookie"), Some("csrf=; Max-Age=0"));
}

#[tokio::test]
async fn an_untrusted_client_or_redirect_uri_gets_the_error_page_never_a_redirect() {
    let w = world().await;
    let app = app(&w);
    let (_, challenge) = pkce();
    let good = authorize_path(&challenge);
    for bad in [
        good.replace("client_id=web", "client_id=nobody"),
        good.replace("app.example%2Fcb", "evil.example%2Fcb"),
        good.replace("client_id=web", "client_id=web&client_id=web"),
    ] {
        // Not even a POST that approves gets through.
        for req in [common::get(&bad, &[]), form(&bad, "decision=approve")] {
            let r = send(&app, req).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(r.header("location"), None, "{bad}");
            assert!(r.body.starts_with("error page: Invalid authorization request: "), "{}", r.body);
        }
    }
}

#[tokio::test]
async fn another_bad_request_goes_back_to_the_client_as_an_error_redirect() {
    let w = world().await;
    let (_, challenge) = pkce();
    let path =
        authorize_path(&challenge).replace("code_challenge_method=S256", "code_challenge_method=plain");
    let r = send(&app(&w), common::get(&path, &[])).await;
    assert_eq!(r.status, StatusCode::FOUND);
    let location = r.header("location").unwrap();
    assert!(location.starts_with(&format!("{CALLBACK}?error=invalid_request")), "{location}");
}

#[tokio::test]
async fn a_store_failure_is_an_error_page_with_retry_after() {
    let w = world().await;
    let app = app(&w);
    let (_, challenge) = pkce();
    w.store().set_unreachable(true);
    let r = send(&app, common::get(&authorize_path(&challenge), &[])).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.header("location"), None);
    w.store().set_failing(true);
    let r = send(&app, common::get(&authorize_path(&challenge), &[])).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "error page: The request could not be completed.")
    );
}

#[tokio::test]
async fn the_apps_form_is_read_only_up_to_the_cores_limit() {
    let w = world().await;
    let limit = w.gatehouse.server().config().max_body_bytes;
    let (_, challenge) = pkce();
    let r = send(&app(&w), form(&authorize_path(&challenge), &"a".repeat(limit + 1))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_closure_is_a_consent_hook_with_the_default_error_page() {
    let w = world().await;
    let app = w.gatehouse.clone().with_consent(|_: Prompt| async { Decision::deny() }).router().unwrap();
    let r = send(&app, common::get("/oauth/authorize?client_id=nobody", &[])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.body.starts_with("Invalid authorization request: "), "{}", r.body);
    let (_, challenge) = pkce();
    let r = send(&app, common::get(&authorize_path(&challenge), &[])).await;
    assert!(r.header("location").unwrap().contains("error=access_denied"));
}
