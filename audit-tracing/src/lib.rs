#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use gatehouse_core::audit::{kind_name, ErrorChain, Revoked, Verdict};
use gatehouse_core::model::Resource;
use gatehouse_core::{AuditEvent, AuditSink};

/// The `tracing` target of every audit event.
pub const TARGET: &str = "gatehouse::audit";

/// Emits each [`AuditEvent`] as one `tracing` event with the target
/// [`TARGET`], at the level and with the fields the crate docs list.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

/// An audience as one space-separated value.
struct Audience<'a>(&'a [Resource]);

impl std::fmt::Display for Audience<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(r.as_str())?;
        }
        Ok(())
    }
}

impl AuditSink for TracingSink {
    fn record(&self, event: &AuditEvent<'_>) {
        // Each message is a `message` field holding a `str`, first (where
        // the macros put a format string's message), rather than a format
        // string: subscribers record it as a string instead of running
        // `format_args!` through the `fmt` machinery, and the default text
        // and JSON lines are byte for byte the same (tests/lines.rs).
        let name = event.name();
        match *event {
            AuditEvent::TokenIssued { client, grant, jti, kind, subject, scope, audience, expires_at } => {
                tracing::info!(
                    target: TARGET,
                    message = "token issued",
                    event = name,
                    client_id = client.as_str(),
                    grant_id = %grant,
                    jti = %jti,
                    token_kind = kind_name(kind),
                    subject = subject.map(|s| s.as_str()),
                    scope = scope.as_str(),
                    audience = %Audience(audience),
                    expires_at = expires_at.0,
                );
            }
            AuditEvent::IntrospectionAnswered { caller, grant, jti, verdict } => {
                let reason = match verdict {
                    Verdict::Inactive(r) => Some(r.as_str()),
                    _ => None,
                };
                tracing::info!(
                    target: TARGET,
                    message = "introspection answered",
                    event = name,
                    caller = caller.as_str(),
                    grant_id = grant.map(display),
                    jti = jti.map(display),
                    active = verdict.is_active(),
                    reason,
                );
            }
            AuditEvent::Throttled { caller, retry_after } => {
                tracing::warn!(
                    target: TARGET,
                    message = "introspection throttled",
                    event = name,
                    caller = caller.as_str(),
                    retry_after,
                );
            }
            AuditEvent::ClientAuthFailed { method, client } => {
                tracing::info!(
                    target: TARGET,
                    message = "client authentication failed",
                    event = name,
                    method = method.as_str(),
                    client_id = client.map(|c| c.as_str()),
                );
            }
            AuditEvent::TokenRevoked { by, target } => {
                let (what, jti) = match target {
                    Revoked::Token { jti, .. } => ("token", Some(jti)),
                    Revoked::Grant(_) => ("grant", None),
                    _ => ("other", None),
                };
                tracing::info!(
                    target: TARGET,
                    message = "token revoked",
                    event = name,
                    by = by.as_str(),
                    target = what,
                    grant_id = %target.grant(),
                    jti = jti.map(display),
                );
            }
            AuditEvent::ReplayDetected { client, kind, grant, grant_revoked } => {
                tracing::warn!(
                    target: TARGET,
                    message = "replay detected: the grant is revoked",
                    event = name,
                    client_id = client.as_str(),
                    token_kind = kind_name(kind),
                    grant_id = %grant,
                    grant_revoked,
                );
            }
            AuditEvent::BulkRevocation { subject, client, count } => {
                tracing::info!(
                    target: TARGET,
                    message = "bulk revocation",
                    event = name,
                    subject = subject.map(|s| s.as_str()),
                    client_id = client.map(|c| c.as_str()),
                    count,
                );
            }
            AuditEvent::StoreFailed { operation, error } => {
                tracing::error!(
                    target: TARGET,
                    message = "store failed",
                    event = name,
                    operation = operation.as_str(),
                    error = %ErrorChain(error),
                );
            }
            // A variant added to the core later: its line, at info.
            _ => tracing::info!(target: TARGET, event = name, "{event}"),
        }
    }
}
