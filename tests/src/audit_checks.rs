//! Audit-trail checks: each [`AuditEvent`] is emitted on the path that
//! produces it, exactly once, over every backend; and no event's `Display`
//! or `Debug` holds a raw token, code, verifier, secret or digest.
//!
//! The [`World`]'s server records into a [`Recorder`]; each check drains it
//! ([`Recorder::take`]) around the step it examines.

use std::sync::{Arc, Mutex, PoisonError};

use gatehouse_core::model::TokenKind;
use gatehouse_core::{AuditEvent, AuditSink, ClientCredentials, Error, Header, HttpRequest, PresentedSecret};

use crate::world::{encode, ids, raw_request, World, OTHER_API, SPA_CB};
use crate::Harness;

/// One recorded event: its name and its two text forms.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// [`AuditEvent::name`].
    pub name: &'static str,
    /// Its `Display`: `name key=value …`.
    pub line: String,
    /// Its `Debug`.
    pub debug: String,
}

/// An [`AuditSink`] that keeps every event, for checks.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Recorded>>>);

impl AuditSink for Recorder {
    fn record(&self, event: &AuditEvent<'_>) {
        let r = Recorded { name: event.name(), line: event.to_string(), debug: format!("{event:?}") };
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(r);
    }
}

impl Recorder {
    /// Every event since the last call, oldest first.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The lines of [`take`](Self::take).
    pub fn lines(&self) -> Vec<String> {
        self.take().into_iter().map(|r| r.line).collect()
    }
}

/// Asserts that `lines` are exactly one line per pattern, in order, each
/// starting with the pattern's name and containing each of its fields.
#[track_caller]
fn expect(lines: &[String], patterns: &[&[&str]]) {
    assert_eq!(lines.len(), patterns.len(), "events: {lines:#?}");
    for (line, pattern) in lines.iter().zip(patterns) {
        assert!(line.starts_with(&format!("{} ", pattern[0])), "expected {}: {line}", pattern[0]);
        for field in &pattern[1..] {
            assert!(line.contains(field), "{field:?} missing from {line}");
        }
    }
}

fn field(body: &serde_json::Value, name: &str) -> String {
    body[name].as_str().unwrap_or_else(|| panic!("no {name} in {body}")).to_owned()
}

/// `token_issued` for each token handed out (a code at authorization; an
/// access and a refresh token at the exchange and at each refresh), with its
/// client, grant, kind, subject, scope, audience and expiry; nothing for a
/// refused request.
pub async fn audit_token_issued<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    w.audit.take();
    w.issue_default().await;
    let exp = format!("expires_at={}", w.t0.plus(3600).0);
    expect(
        &w.audit.lines(),
        &[&["token_issued", "client_id=app", "token_kind=access", "subject=-", "scope=\"read\"", &exp]],
    );
    assert_eq!(w.token(ids::APP, "grant_type=client_credentials&scope=admin").await.status, 400);
    expect(&w.audit.lines(), &[]);

    let (code, verifier, cb) = w.code_for(ids::WEB, "&scope=read+write").await;
    let lines = w.audit.lines();
    expect(&lines, &[&["token_issued", "client_id=web", "token_kind=authorization_code", "subject=alice"]]);
    let grant = lines[0].split(' ').find(|f| f.starts_with("grant_id=")).expect("grant").to_owned();
    let r = w.exchange(ids::WEB, &code, cb, &verifier).await;
    let body = r.json_body().expect("json");
    let aud = "audience=\"https://api.example\"";
    expect(
        &w.audit.lines(),
        &[
            &["token_issued", "client_id=web", &grant, "token_kind=access", "scope=\"read write\"", aud],
            &["token_issued", "client_id=web", &grant, "token_kind=refresh", "scope=\"read write\""],
        ],
    );
    w.refresh(ids::WEB, &field(&body, "refresh_token"), "&scope=read").await;
    expect(
        &w.audit.lines(),
        &[
            &["token_issued", &grant, "token_kind=access", "scope=\"read\""],
            &["token_issued", &grant, "token_kind=refresh", "scope=\"read write\""],
        ],
    );
}

/// `introspection_answered` for every answer, with the typed reason of an
/// inactive one (never sent to the caller) and the `jti` of an active one.
pub async fn audit_introspection_reasons<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let t = w.issue_default().await;
    let jti = w.introspect(ids::RS, &t).await;
    let gatehouse_core::Introspection::Active(record) = jti else { panic!("active") };
    w.audit.take();
    let mut forged = t.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    let (unknown, _) = w.keys.mint(TokenKind::Access, record.grant_id()).expect("mint");
    let jti = format!("jti={}", record.jti);
    let grant = format!("grant_id={}", record.grant_id());
    for (caller, token, fields) in [
        (ids::RS, t.as_str(), &["active=true", jti.as_str(), grant.as_str(), "reason=-"][..]),
        (ids::RS, "not-a-token", &["active=false", "reason=malformed", "grant_id=-", "jti=-"][..]),
        (ids::RS, forged.as_str(), &["reason=forged", "grant_id=-"][..]),
        (ids::RS, unknown.expose(), &["reason=unknown", grant.as_str(), "jti=-"][..]),
        (ids::RS_OTHER, t.as_str(), &["caller=rs-other", "reason=wrong_audience"][..]),
    ] {
        w.introspect_http(caller, token, "").await;
        let mut pattern = vec!["introspection_answered"];
        pattern.extend_from_slice(fields);
        expect(&w.audit.lines(), &[&pattern]);
    }
    w.clock.advance(3600);
    w.introspect(ids::RS_OTHER, &t).await;
    expect(&w.audit.lines(), &[&["introspection_answered", "reason=expired"]]);
}

/// `throttled` for a caller the fishing limiter refuses, and no
/// introspection answer for it.
pub async fn audit_throttled<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await; // burst 5
    for _ in 0..5 {
        w.introspect_http(ids::RS, "gat_k1.guess", "").await;
    }
    assert_eq!(w.audit.take().iter().filter(|r| r.name == "introspection_answered").count(), 5);
    assert_eq!(w.introspect_http(ids::RS, "gat_k1.guess", "").await.status, 429);
    expect(&w.audit.lines(), &[&["throttled", "caller=rs", "retry_after=1"]]);
}

/// `client_auth_failed` with the method and, only when well-formed, the
/// presented client id; nothing for a success.
pub async fn audit_client_auth_failed<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let cc = b"grant_type=client_credentials";
    let wrong = crate::world::basic(ids::APP, "wrong-secret");
    w.server.token_endpoint(HttpRequest::form_post(cc).with_authorization(&wrong)).await;
    expect(&w.audit.lines(), &[&["client_auth_failed", "method=client_secret_basic", "client_id=app"]]);
    let body = b"grant_type=client_credentials&client_id=nobody&client_secret=x";
    w.server.token_endpoint(HttpRequest::form_post(body)).await;
    expect(&w.audit.lines(), &[&["client_auth_failed", "method=client_secret_post", "client_id=nobody"]]);
    // A malformed id may be a mistyped secret: it is not repeated.
    let creds = ClientCredentials::Post { id: "bad\nid".into(), secret: PresentedSecret::new("x") };
    assert!(matches!(w.server.authenticate(&creds).await, Err(Error::InvalidClient { .. })));
    expect(&w.audit.lines(), &[&["client_auth_failed", "method=client_secret_post", "client_id=-"]]);
    w.server.token_endpoint(HttpRequest::form_post(b"grant_type=client_credentials")).await;
    expect(&w.audit.lines(), &[&["client_auth_failed", "method=absent", "client_id=-"]]);
    w.server.token_endpoint(HttpRequest::form_post(cc).with_authorization("Bearer abc")).await;
    expect(&w.audit.lines(), &[&["client_auth_failed", "method=other_scheme", "client_id=-"]]);
    let form = Header::One(b"application/x-www-form-urlencoded");
    let body = format!("token=x&client_id={}", ids::MOBILE);
    w.server.introspection_endpoint(raw_request("POST", Header::Absent, form, body.as_bytes())).await;
    expect(&w.audit.lines(), &[&["client_auth_failed", "method=none", "client_id=mobile"]]);
    w.issue_default().await;
    expect(&w.audit.lines(), &[&["token_issued"]]);
}

/// `token_revoked` names the revoking client and one token (by `jti`) or a
/// whole grant; a request that revokes nothing records nothing.
pub async fn audit_token_revoked<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let t = w.issue_default().await;
    let gatehouse_core::Introspection::Active(record) = w.introspect(ids::RS, &t).await else {
        panic!("active")
    };
    w.audit.take();
    w.revoke_http(ids::PLAIN, &t).await;
    w.revoke_http(ids::APP, "gat_k1.unknown").await;
    expect(&w.audit.lines(), &[]);
    w.revoke_http(ids::APP, &t).await;
    let jti = format!("jti={}", record.jti);
    expect(&w.audit.lines(), &[&["token_revoked", "by=app", "target=token", &jti]]);
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    let body = w.exchange(ids::WEB, &code, cb, &verifier).await.json_body().expect("json");
    w.audit.take();
    w.revoke_http(ids::WEB, &field(&body, "refresh_token")).await;
    expect(&w.audit.lines(), &[&["token_revoked", "by=web", "target=grant", "grant_id="]]);
}

/// `replay_detected` for a reused code and a reused refresh token, with
/// the grant revoked; another client presenting them revokes nothing and
/// records no replay.
pub async fn audit_replay_detected<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::SPA, "").await;
    let body = w.exchange(ids::SPA, &code, cb, &verifier).await.json_body().expect("json");
    let refresh = field(&body, "refresh_token");
    w.audit.take();
    assert_eq!(w.exchange(ids::SPA, &code, SPA_CB, &verifier).await.status, 400);
    let kind = "token_kind=authorization_code";
    expect(&w.audit.lines(), &[&["replay_detected", "client_id=spa", kind, "grant_revoked=true"]]);
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    let body = w.exchange(ids::WEB, &code, cb, &verifier).await.json_body().expect("json");
    let r1 = field(&body, "refresh_token");
    w.refresh(ids::WEB, &r1, "").await;
    w.audit.take();
    assert_eq!(w.refresh(ids::MULTI, &r1, "").await.status, 400);
    expect(&w.audit.lines(), &[]);
    assert_eq!(w.refresh(ids::WEB, &r1, "").await.status, 400);
    let kind = "token_kind=refresh";
    expect(&w.audit.lines(), &[&["replay_detected", "client_id=web", kind, "grant_revoked=true"]]);
    // The SPA's grant was revoked with its code's replay.
    assert_eq!(w.refresh(ids::SPA, &refresh, "").await.status, 400);
    expect(&w.audit.lines(), &[&["replay_detected", "client_id=spa", "token_kind=refresh"]]);
}

/// `bulk_revocation` from each [`AuthServer::revoke_all`] scope, with its
/// subject, client and count; `client_changed` for each operator change to
/// a client. The revocation feed is built from these (see
/// [`gatehouse_core::feed`]).
///
/// [`AuthServer::revoke_all`]: gatehouse_core::AuthServer::revoke_all
pub async fn audit_bulk_revocation_and_client_changes<H: Harness>(h: &H) {
    use gatehouse_core::model::{ClientId, Subject};
    use gatehouse_core::{RevokeScope, UnixTime};
    let w = World::new(h.fresh().await).await;
    w.issue_default().await;
    let app = ClientId::new(ids::APP).expect("id");
    let alice = Subject::new(crate::world::ALICE).expect("subject");
    w.audit.take();
    assert_eq!(w.server.revoke_all(&RevokeScope::Client(app.clone())).await.expect("revoke_all"), 1);
    w.server.revoke_all(&RevokeScope::Subject(alice.clone())).await.expect("revoke_all");
    w.server.revoke_all(&RevokeScope::SubjectAtClient(alice, app.clone())).await.expect("revoke_all");
    expect(
        &w.audit.lines(),
        &[
            &["bulk_revocation", "subject=- client_id=app count=1"],
            &["bulk_revocation", "subject=alice client_id=- count=0"],
            &["bulk_revocation", "subject=alice client_id=app count=0"],
        ],
    );
    assert!(w.server.set_client_enabled(&app, false).await.expect("disable"));
    assert!(w.server.set_client_enabled(&app, true).await.expect("enable"));
    w.server.rotate_client_secret(&app, UnixTime(0)).await.expect("rotate");
    assert!(w.server.remove_client(&app).await.expect("remove"));
    // Nothing to change: no event.
    assert!(!w.server.remove_client(&app).await.expect("remove"));
    assert!(!w.server.set_client_enabled(&app, false).await.expect("disable"));
    let lines = w.audit.lines();
    expect(
        &lines,
        &[
            &["client_changed", "client_id=app change=disabled"],
            &["client_changed", "client_id=app change=enabled"],
            &["client_changed", "client_id=app change=secret_rotated"],
            &["client_changed", "client_id=app change=removed"],
        ],
    );
}

/// `store_failed` names the operation and carries the backend's error; no
/// other event claims an outcome the store did not record.
pub async fn audit_store_failed<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let t = w.issue_default().await;
    let (app, rs) = (w.client(ids::APP).await, w.client(ids::RS).await);
    w.audit.take();
    w.store().set_failing(true);
    let error = "error=\"storage backend failed: injected storage failure\"";
    assert!(w.server.client_credentials(&app, None, &[]).await.is_err());
    expect(&w.audit.lines(), &[&["store_failed", "operation=insert", error]]);
    assert!(w.server.introspect(&rs, &t).await.is_err());
    expect(&w.audit.lines(), &[&["store_failed", "operation=get", error]]);
    assert!(w.server.revoke(&app, &t).await.is_err());
    expect(&w.audit.lines(), &[&["store_failed", "operation=get", error]]);
    assert_eq!(w.token(ids::APP, "grant_type=client_credentials").await.status, 500);
    expect(&w.audit.lines(), &[&["store_failed", "operation=client", error]]);
    w.store().set_unreachable(true);
    assert!(w.server.introspect(&rs, &t).await.is_err());
    let unavailable = "error=\"storage backend unavailable: injected storage failure\"";
    expect(&w.audit.lines(), &[&["store_failed", "operation=get", unavailable]]);
}

/// A full flow through every event: no event's `Display` or `Debug` holds
/// a raw token, code, PKCE verifier, client secret or token digest.
pub async fn audit_events_hold_no_secret<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let mut secrets =
        vec![w.secret(ids::APP).to_owned(), w.secret(ids::WEB).to_owned(), "wrong-secret".into()];
    let t = w.issue_default().await;
    secrets.push(t.clone());
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    secrets.extend([code.clone(), verifier.clone()]);
    let body = w.exchange(ids::WEB, &code, cb, &verifier).await.json_body().expect("json");
    let (access, refresh) = (field(&body, "access_token"), field(&body, "refresh_token"));
    secrets.extend([access.clone(), refresh.clone()]);
    w.exchange(ids::WEB, &code, cb, &verifier).await;
    w.introspect_http(ids::RS, &t, "").await;
    w.introspect_http(ids::RS, &access, "").await;
    w.revoke_http(ids::APP, &t).await;
    w.token(ids::APP, &format!("grant_type=client_credentials&resource={}", encode(OTHER_API))).await;
    let wrong = crate::world::basic(ids::APP, "wrong-secret");
    w.server
        .token_endpoint(HttpRequest::form_post(b"grant_type=client_credentials").with_authorization(&wrong))
        .await;
    for _ in 0..6 {
        w.introspect_http(ids::RS, &refresh, "").await;
    }
    let app = w.client(ids::APP).await;
    w.store().set_failing(true);
    assert!(w.server.client_credentials(&app, None, &[]).await.is_err());
    w.store().set_failing(false);
    // Of a token, its random part (the grant id before it is an id and may
    // be shown); and its digest, whole or as the prefix `Debug` shows.
    let mut forbidden = Vec::new();
    for s in &secrets {
        match w.keys.verify(s) {
            Ok(v) => {
                let hex = v.digest.hash_hex();
                // `gat_k1.` then 22 characters of grant id (and 2 mixed).
                forbidden.extend([s[7 + 24..7 + 60].to_owned(), hex[..12].to_owned(), hex]);
            }
            Err(_) => forbidden.push(s.clone()),
        }
    }
    let events = w.audit.take();
    let names: std::collections::BTreeSet<_> = events.iter().map(|r| r.name).collect();
    for name in [
        "token_issued",
        "introspection_answered",
        "throttled",
        "client_auth_failed",
        "token_revoked",
        "replay_detected",
        "store_failed",
    ] {
        assert!(names.contains(name), "the flow emitted no {name}: {names:?}");
    }
    for r in &events {
        for s in &forbidden {
            assert!(!r.line.contains(s.as_str()) && !r.debug.contains(s.as_str()), "{s:?} in {r:?}");
        }
    }
}
