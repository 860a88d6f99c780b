//! One span per request, with stable fields, and never a token, secret,
//! code or verifier in any of them: a full flow recorded by a subscriber
//! that keeps every span field and event.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::routing::get as route_get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{authorize_path, get, pkce, post, query_param, send, world, API};
use gatehouse_axum::{Bearer, Decision, Prompt};
use gatehouse_core::model::Subject;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every span (name and fields, in the order recorded) and every event.
#[derive(Default, Clone)]
struct Recorder(Arc<Recorded>);

#[derive(Default)]
struct Recorded {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, (&'static str, String)>>,
    events: Mutex<Vec<String>>,
    /// The level of each `gatehouse.request` span.
    request_levels: Mutex<Vec<tracing::Level>>,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = String::new();
        attrs.record(&mut Fields(&mut fields));
        if attrs.metadata().name() == "gatehouse.request" {
            self.0.request_levels.lock().unwrap().push(*attrs.metadata().level());
        }
        self.0.spans.lock().unwrap().insert(id, (attrs.metadata().name(), fields));
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.0.spans.lock().unwrap();
        let (_, fields) = spans.get_mut(&span.into_u64()).unwrap();
        values.record(&mut Fields(fields));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = format!("{} ", event.metadata().target());
        event.record(&mut Fields(&mut fields));
        self.0.events.lock().unwrap().push(fields);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn each_request_has_one_span_with_its_outcome_and_no_secret() {
    let recorder = Recorder::default();
    let _guard = tracing::dispatcher::set_default(&tracing::Dispatch::new(recorder.clone()));

    let w = world().await;
    let approve = |_: Prompt| async { Decision::approve(Subject::new("alice").unwrap()) };
    let gatehouse = w.gatehouse.clone().with_consent(approve);
    let me = route_get(|Bearer(p): Bearer| async move { p.client_id.as_str().to_owned() });
    let app = Router::new()
        .route("/me", me.route_layer(gatehouse.require(API, "read").unwrap()))
        .merge(gatehouse.router().unwrap());

    // client_credentials with Basic, introspection, a guarded call (valid,
    // then refused), revocation.
    let r = send(&app, post("/oauth/token", Some(("app", &w.app)), "grant_type=client_credentials")).await;
    let access = r.json()["access_token"].as_str().unwrap().to_owned();
    let token_form = format!("token={access}");
    assert_eq!(send(&app, post("/oauth/introspect", Some(("rs", &w.rs)), &token_form)).await.status, 200);
    assert_eq!(send(&app, get("/me", &[("authorization", &format!("Bearer {access}"))])).await.status, 200);
    assert_eq!(send(&app, post("/oauth/revoke", Some(("app", &w.app)), &token_form)).await.status, 200);
    assert_eq!(send(&app, get("/me", &[("authorization", &format!("Bearer {access}"))])).await.status, 401);
    // The code flow, client_secret_post, and a refresh.
    let (verifier, challenge) = pkce();
    let r = send(&app, get(&authorize_path(&challenge), &[])).await;
    let code = query_param(r.header("location").unwrap(), "code").unwrap();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
         &code_verifier={verifier}&client_id=web&client_secret={}",
        w.web
    );
    let r = send(&app, post("/oauth/token", None, &body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let tokens = r.json();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let body = format!("grant_type=refresh_token&refresh_token={refresh}");
    let r = send(&app, post("/oauth/token", Some(("web", &w.web)), &body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rotated = r.json();
    assert_eq!(send(&app, get("/.well-known/oauth-authorization-server", &[])).await.status, 200);

    let spans = recorder.0.spans.lock().unwrap();
    // Nothing secret anywhere: not in our spans, not in any other span or
    // event (axum's, hyper's) that ran meanwhile.
    let everything: Vec<String> = spans
        .values()
        .map(|(name, fields)| format!("{name} {fields}"))
        .chain(recorder.0.events.lock().unwrap().iter().cloned())
        .collect();
    let mut secrets = vec![
        w.app.clone(),
        w.web.clone(),
        w.rs.clone(),
        STANDARD.encode(format!("app:{}", w.app)),
        access,
        code,
        verifier,
        refresh,
        tokens["access_token"].as_str().unwrap().to_owned(),
        rotated["access_token"].as_str().unwrap().to_owned(),
        rotated["refresh_token"].as_str().unwrap().to_owned(),
    ];
    // Not even the part after the key id, where the token's randomness is.
    let tails: Vec<String> =
        secrets.iter().filter_map(|s| s.split_once('.').map(|(_, t)| t.to_owned())).collect();
    secrets.extend(tails);
    for line in &everything {
        for secret in &secrets {
            assert!(!line.contains(secret.as_str()), "a secret in {line}");
        }
    }

    let mut ours: Vec<(u64, &str)> = spans
        .iter()
        .filter(|(_, (name, _))| *name == "gatehouse.request")
        .map(|(id, (_, fields))| (*id, fields.as_str()))
        .collect();
    ours.sort_unstable();
    let ours: Vec<&str> = ours.into_iter().map(|(_, f)| f).collect();
    let expected = [
        r#"endpoint="token" method="POST" status=200 "#,
        r#"endpoint="introspect" method="POST" status=200 "#,
        r#"endpoint="bearer" method="GET" client_id="app" status=200 "#,
        r#"endpoint="revoke" method="POST" status=200 "#,
        r#"endpoint="bearer" method="GET" error="invalid_token" status=401 "#,
        r#"endpoint="authorize" method="GET" status=302 "#,
        r#"endpoint="token" method="POST" status=200 "#,
        r#"endpoint="token" method="POST" status=200 "#,
        r#"endpoint="metadata" method="GET" status=200 "#,
    ];
    assert_eq!(ours, expected);
    // DEBUG, as tower-http's request spans: a subscriber at `info` (the
    // example's audit log) does not pay for them.
    let levels = recorder.0.request_levels.lock().unwrap();
    assert_eq!(levels.len(), expected.len());
    assert!(levels.iter().all(|l| *l == tracing::Level::DEBUG), "{levels:?}");
}
