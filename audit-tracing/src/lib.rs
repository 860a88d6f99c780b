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
        let name = event.name();
        match *event {
            AuditEvent::TokenIssued { client, grant, jti, kind, subject, scope, audience, expires_at } => {
                tracing::info!(
                    target: TARGET,
                    event = name,
                    client_id = client.as_str(),
                    grant_id = %grant,
                    jti = %jti,
                    token_kind = kind_name(kind),
                    subject = subject.map(|s| s.as_str()),
                    scope = scope.as_str(),
                    audience = %Audience(audience),
                    expires_at = expires_at.0,
                    "token issued"
                );
            }
            AuditEvent::IntrospectionAnswered { caller, grant, jti, verdict } => {
                let reason = match verdict {
                    Verdict::Inactive(r) => Some(r.as_str()),
                    _ => None,
                };
                tracing::info!(
                    target: TARGET,
                    event = name,
                    caller = caller.as_str(),
                    grant_id = grant.map(display),
                    jti = jti.map(display),
                    active = verdict.is_active(),
                    reason,
                    "introspection answered"
                );
            }
            AuditEvent::Throttled { caller, retry_after } => {
                tracing::warn!(
                    target: TARGET,
                    event = name,
                    caller = caller.as_str(),
                    retry_after,
                    "introspection throttled"
                );
            }
            AuditEvent::ClientAuthFailed { method, client } => {
                tracing::info!(
                    target: TARGET,
                    event = name,
                    method = method.as_str(),
                    client_id = client.map(|c| c.as_str()),
                    "client authentication failed"
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
                    event = name,
                    by = by.as_str(),
                    target = what,
                    grant_id = %target.grant(),
                    jti = jti.map(display),
                    "token revoked"
                );
            }
            AuditEvent::ReplayDetected { client, kind, grant, grant_revoked } => {
                tracing::warn!(
                    target: TARGET,
                    event = name,
                    client_id = client.as_str(),
                    token_kind = kind_name(kind),
                    grant_id = %grant,
                    grant_revoked,
                    "replay detected: the grant is revoked"
                );
            }
            AuditEvent::BulkRevocation { subject, client, count } => {
                tracing::info!(
                    target: TARGET,
                    event = name,
                    subject = subject.map(|s| s.as_str()),
                    client_id = client.map(|c| c.as_str()),
                    count,
                    "bulk revocation"
                );
            }
            AuditEvent::StoreFailed { operation, error } => {
                tracing::error!(
                    target: TARGET,
                    event = name,
                    operation = operation.as_str(),
                    error = %ErrorChain(error),
                    "store failed"
                );
            }
            // A variant added to the core later: its line, at info.
            _ => tracing::info!(target: TARGET, event = name, "{event}"),
        }
    }
}
