//! The exact lines each event makes through `tracing-subscriber`'s default
//! text and JSON formatters (without timestamps): operators grep these
//! lines and parse these objects, so a change to how the sink records a
//! field must not change a byte of them.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{recorded, Sample};
use gatehouse_core::audit::{AuthMethod, Revoked, StoreOperation, Verdict};
use gatehouse_core::model::TokenKind;
use gatehouse_core::{AuditEvent, InactiveReason, StoreError, UnixTime};

/// The text line and the JSON line `event` produces.
fn lines(event: &AuditEvent<'_>) -> (String, String) {
    let builder = || tracing_subscriber::fmt().without_time().with_max_level(tracing::Level::TRACE);
    let text = recorded(event, |b| builder().with_writer(move || b.clone()).finish());
    let json = recorded(event, |b| builder().json().with_writer(move || b.clone()).finish());
    (text, json)
}

#[test]
fn every_event_keeps_its_exact_text_and_json_line() {
    let Sample { app, rs, alice, grant, jti, scope, audience } = Sample::new();
    let error = StoreError::unavailable(std::io::Error::other("connection \"refused\""));
    let (g, j) = (grant.to_string(), jti.to_string());
    let cases: Vec<(AuditEvent<'_>, String, String)> = vec![
        (
            AuditEvent::TokenIssued {
                client: &app,
                grant,
                jti,
                kind: TokenKind::Refresh,
                subject: Some(&alice),
                scope: &scope,
                audience: &audience,
                expires_at: UnixTime(42),
            },
            format!(
                " INFO gatehouse::audit: token issued event=\"token_issued\" client_id=\"app\" grant_id={g} \
                 jti={j} token_kind=\"refresh\" subject=\"alice\" scope=\"read write\" \
                 audience=https://a.example https://b.example expires_at=42"
            ),
            format!(
                r#"{{"level":"INFO","fields":{{"message":"token issued","event":"token_issued","client_id":"app","grant_id":"{g}","jti":"{j}","token_kind":"refresh","subject":"alice","scope":"read write","audience":"https://a.example https://b.example","expires_at":42}},"target":"gatehouse::audit"}}"#
            ),
        ),
        (
            AuditEvent::IntrospectionAnswered { caller: &rs, grant: Some(grant), jti: Some(jti), verdict: Verdict::Active },
            format!(
                " INFO gatehouse::audit: introspection answered event=\"introspection_answered\" caller=\"rs\" \
                 grant_id={g} jti={j} active=true"
            ),
            format!(
                r#"{{"level":"INFO","fields":{{"message":"introspection answered","event":"introspection_answered","caller":"rs","grant_id":"{g}","jti":"{j}","active":true}},"target":"gatehouse::audit"}}"#
            ),
        ),
        (
            AuditEvent::IntrospectionAnswered {
                caller: &rs,
                grant: None,
                jti: None,
                verdict: Verdict::Inactive(InactiveReason::Forged),
            },
            " INFO gatehouse::audit: introspection answered event=\"introspection_answered\" caller=\"rs\" \
             active=false reason=\"forged\""
                .into(),
            r#"{"level":"INFO","fields":{"message":"introspection answered","event":"introspection_answered","caller":"rs","active":false,"reason":"forged"},"target":"gatehouse::audit"}"#.into(),
        ),
        (
            AuditEvent::Throttled { caller: &rs, retry_after: 7 },
            " WARN gatehouse::audit: introspection throttled event=\"throttled\" caller=\"rs\" retry_after=7".into(),
            r#"{"level":"WARN","fields":{"message":"introspection throttled","event":"throttled","caller":"rs","retry_after":7},"target":"gatehouse::audit"}"#.into(),
        ),
        (
            AuditEvent::ClientAuthFailed { method: AuthMethod::ClientSecretBasic, client: Some(&app) },
            " INFO gatehouse::audit: client authentication failed event=\"client_auth_failed\" \
             method=\"client_secret_basic\" client_id=\"app\""
                .into(),
            r#"{"level":"INFO","fields":{"message":"client authentication failed","event":"client_auth_failed","method":"client_secret_basic","client_id":"app"},"target":"gatehouse::audit"}"#.into(),
        ),
        (
            AuditEvent::TokenRevoked { by: &app, target: Revoked::Token { jti, grant } },
            format!(
                " INFO gatehouse::audit: token revoked event=\"token_revoked\" by=\"app\" target=\"token\" \
                 grant_id={g} jti={j}"
            ),
            format!(
                r#"{{"level":"INFO","fields":{{"message":"token revoked","event":"token_revoked","by":"app","target":"token","grant_id":"{g}","jti":"{j}"}},"target":"gatehouse::audit"}}"#
            ),
        ),
        (
            AuditEvent::ReplayDetected { client: &app, kind: TokenKind::AuthorizationCode, grant, grant_revoked: true },
            format!(
                " WARN gatehouse::audit: replay detected: the grant is revoked event=\"replay_detected\" \
                 client_id=\"app\" token_kind=\"authorization_code\" grant_id={g} grant_revoked=true"
            ),
            format!(
                r#"{{"level":"WARN","fields":{{"message":"replay detected: the grant is revoked","event":"replay_detected","client_id":"app","token_kind":"authorization_code","grant_id":"{g}","grant_revoked":true}},"target":"gatehouse::audit"}}"#
            ),
        ),
        (
            AuditEvent::BulkRevocation { subject: Some(&alice), client: None, count: 3 },
            " INFO gatehouse::audit: bulk revocation event=\"bulk_revocation\" subject=\"alice\" count=3".into(),
            r#"{"level":"INFO","fields":{"message":"bulk revocation","event":"bulk_revocation","subject":"alice","count":3},"target":"gatehouse::audit"}"#.into(),
        ),
        (
            AuditEvent::StoreFailed { operation: StoreOperation::Consume, error: &error },
            "ERROR gatehouse::audit: store failed event=\"store_failed\" operation=\"consume\" \
             error=storage backend unavailable: connection \"refused\""
                .into(),
            r#"{"level":"ERROR","fields":{"message":"store failed","event":"store_failed","operation":"consume","error":"storage backend unavailable: connection \"refused\""},"target":"gatehouse::audit"}"#.into(),
        ),
    ];
    for (event, text, json) in &cases {
        let (t, j) = lines(event);
        assert_eq!(t, format!("{text}\n"), "{}", event.name());
        assert_eq!(j, format!("{json}\n"), "{}", event.name());
    }
}
