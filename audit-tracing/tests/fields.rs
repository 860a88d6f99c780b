//! Each event comes out at its level, with the target and the field names
//! the crate docs promise, through a real JSON subscriber.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{recorded, Sample};
use gatehouse_core::audit::{AuthMethod, Revoked, StoreOperation, Verdict};
use gatehouse_core::model::TokenKind;
use gatehouse_core::{AuditEvent, InactiveReason, StoreError, UnixTime};
use gatehouse_tracing::TARGET;
use serde_json::Value;

/// The JSON line `event` produces.
fn emitted(event: &AuditEvent<'_>) -> Value {
    let text = recorded(event, |b| {
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || b.clone())
            .finish()
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line per event: {text}");
    serde_json::from_str(lines[0]).unwrap()
}

#[track_caller]
fn check(v: &Value, level: &str, name: &str, fields: &[(&str, Value)], absent: &[&str]) {
    assert_eq!(v["level"], level, "{v}");
    assert_eq!(v["target"], TARGET, "{v}");
    assert_eq!(v["fields"]["event"], name, "{v}");
    for (k, want) in fields {
        assert_eq!(&v["fields"][k], want, "field {k} of {v}");
    }
    for k in absent {
        assert!(v["fields"].get(k).is_none(), "{k} should be absent: {v}");
    }
}

#[test]
fn every_event_has_its_level_target_and_fields() {
    let Sample { app, rs, alice, grant, jti, scope, audience } = Sample::new();
    let (g, j) = (Value::from(grant.to_string()), Value::from(jti.to_string()));

    let v = emitted(&AuditEvent::TokenIssued {
        client: &app,
        grant,
        jti,
        kind: TokenKind::Refresh,
        subject: Some(&alice),
        scope: &scope,
        audience: &audience,
        expires_at: UnixTime(42),
    });
    check(
        &v,
        "INFO",
        "token_issued",
        &[
            ("client_id", "app".into()),
            ("grant_id", g.clone()),
            ("jti", j.clone()),
            ("token_kind", "refresh".into()),
            ("subject", "alice".into()),
            ("scope", "read write".into()),
            ("audience", "https://a.example https://b.example".into()),
            ("expires_at", 42.into()),
        ],
        &[],
    );
    let v = emitted(&AuditEvent::TokenIssued {
        client: &app,
        grant,
        jti,
        kind: TokenKind::Access,
        subject: None,
        scope: &scope,
        audience: &[],
        expires_at: UnixTime(42),
    });
    check(&v, "INFO", "token_issued", &[("token_kind", "access".into())], &["subject"]);

    let v = emitted(&AuditEvent::IntrospectionAnswered {
        caller: &rs,
        grant: Some(grant),
        jti: Some(jti),
        verdict: Verdict::Active,
    });
    let fields =
        [("caller", "rs".into()), ("grant_id", g.clone()), ("jti", j.clone()), ("active", true.into())];
    check(&v, "INFO", "introspection_answered", &fields, &["reason"]);
    let v = emitted(&AuditEvent::IntrospectionAnswered {
        caller: &rs,
        grant: None,
        jti: None,
        verdict: Verdict::Inactive(InactiveReason::NotYetValid),
    });
    let fields = [("active", false.into()), ("reason", "not_yet_valid".into())];
    check(&v, "INFO", "introspection_answered", &fields, &["grant_id", "jti"]);

    let v = emitted(&AuditEvent::Throttled { caller: &rs, retry_after: 7 });
    check(&v, "WARN", "throttled", &[("caller", "rs".into()), ("retry_after", 7.into())], &[]);

    let v =
        emitted(&AuditEvent::ClientAuthFailed { method: AuthMethod::ClientSecretPost, client: Some(&app) });
    let fields = [("method", "client_secret_post".into()), ("client_id", "app".into())];
    check(&v, "INFO", "client_auth_failed", &fields, &[]);
    let v = emitted(&AuditEvent::ClientAuthFailed { method: AuthMethod::OtherScheme, client: None });
    check(&v, "INFO", "client_auth_failed", &[("method", "other_scheme".into())], &["client_id"]);

    let v = emitted(&AuditEvent::TokenRevoked { by: &app, target: Revoked::Token { jti, grant } });
    let fields = [("by", "app".into()), ("target", "token".into()), ("grant_id", g.clone()), ("jti", j)];
    check(&v, "INFO", "token_revoked", &fields, &[]);
    let v = emitted(&AuditEvent::TokenRevoked { by: &app, target: Revoked::Grant(grant) });
    check(&v, "INFO", "token_revoked", &[("target", "grant".into()), ("grant_id", g.clone())], &["jti"]);

    let v = emitted(&AuditEvent::ReplayDetected {
        client: &app,
        kind: TokenKind::AuthorizationCode,
        grant,
        grant_revoked: true,
    });
    let fields = [
        ("client_id", "app".into()),
        ("token_kind", "authorization_code".into()),
        ("grant_id", g),
        ("grant_revoked", true.into()),
    ];
    check(&v, "WARN", "replay_detected", &fields, &[]);

    let v = emitted(&AuditEvent::BulkRevocation { subject: Some(&alice), client: None, count: 3 });
    check(&v, "INFO", "bulk_revocation", &[("subject", "alice".into()), ("count", 3.into())], &["client_id"]);

    let error = StoreError::unavailable(std::io::Error::other("connection refused"));
    let v = emitted(&AuditEvent::StoreFailed { operation: StoreOperation::Consume, error: &error });
    let fields = [
        ("operation", "consume".into()),
        ("error", "storage backend unavailable: connection refused".into()),
    ];
    check(&v, "ERROR", "store_failed", &fields, &[]);
}
