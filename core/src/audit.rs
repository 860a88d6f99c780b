//! The audit trail: what the server decided, as typed events, for an
//! [`AuditSink`] the app installs with
//! [`AuthServer::with_audit`](crate::AuthServer::with_audit).
//!
//! The drivers in [`AuthServer`](crate::AuthServer) emit the events; the
//! decisions stay pure. Without a sink nothing is built: each emission is
//! one test of an `Option` (see the README's benchmark section).
//!
//! # What an event may carry
//! Identifiers only: client ids, grant ids, `jti`s, the subject, scope and
//! audience, and the store's error. The types make the rest unrepresentable:
//! no variant has a field of type [`RawToken`](crate::RawToken),
//! [`TokenDigest`](crate::model::TokenDigest),
//! [`SecretDigest`](crate::model::SecretDigest),
//! [`PresentedSecret`](crate::PresentedSecret) or a free `str`, so no raw
//! token, code, verifier, secret or digest can reach a sink. (A grant id
//! travels inside its tokens but is not secret: without the token's random
//! part and tag it authenticates nothing.) The store error's source is the
//! backend's, which the [`StoreError`] contract forbids to hold a token or
//! secret.

use std::fmt;

use crate::introspect::InactiveReason;
use crate::model::{ClientId, GrantId, Jti, Resource, Scope, Subject, TokenKind};
use crate::store::StoreError;
use crate::time::UnixTime;

/// Receives the server's audit events.
///
/// Called synchronously, on the request's task, after the decision and its
/// write: keep it cheap (hand the event to a logger or a channel) and never
/// block. It cannot fail the request: it returns nothing, and a sink that
/// cannot record must drop the event (and may count the drop) rather than
/// panic.
pub trait AuditSink: Send + Sync + 'static {
    /// Records one event. The event borrows from the request: copy what you
    /// keep.
    fn record(&self, event: &AuditEvent<'_>);
}

/// A sink that records nothing: what a server without
/// [`with_audit`](crate::AuthServer::with_audit) does, for apps that want
/// to name it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    #[inline]
    fn record(&self, _: &AuditEvent<'_>) {}
}

/// Both sinks get every event, `.0` first: e.g. `(feed.clone(), logger)`
/// to feed resource servers and keep an audit log.
impl<A: AuditSink, B: AuditSink> AuditSink for (A, B) {
    fn record(&self, event: &AuditEvent<'_>) {
        self.0.record(event);
        self.1.record(event);
    }
}

/// One thing the server decided or met.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum AuditEvent<'a> {
    /// A token was stored and handed out: an access token, a refresh token
    /// (one event each, after a code exchange or a refresh), or an
    /// authorization code.
    TokenIssued {
        /// The client it was issued to.
        client: &'a ClientId,
        /// Its grant.
        grant: GrantId,
        /// Its `jti`.
        jti: Jti,
        /// Access, refresh or code.
        kind: TokenKind,
        /// The resource owner, when there is one.
        subject: Option<&'a Subject>,
        /// The granted scope.
        scope: &'a Scope,
        /// Its audience.
        audience: &'a [Resource],
        /// When it expires.
        expires_at: UnixTime,
    },
    /// An introspection was answered (RFC 7662 §2.2). A throttled caller
    /// gets no answer: [`Throttled`](Self::Throttled) instead.
    IntrospectionAnswered {
        /// The resource server that asked.
        caller: &'a ClientId,
        /// The token's grant, when its tag verified.
        grant: Option<GrantId>,
        /// The token's `jti`, when it is active.
        jti: Option<Jti>,
        /// Active, or why not (the HTTP answer says only `active: false`).
        verdict: Verdict,
    },
    /// A caller was refused by the token-fishing limiter.
    Throttled {
        /// The resource server refused.
        caller: &'a ClientId,
        /// Seconds until it may try again.
        retry_after: u64,
    },
    /// Client authentication failed (`invalid_client`).
    ClientAuthFailed {
        /// How the client tried.
        method: AuthMethod,
        /// The client id presented, when it is a well-formed id (RFC 6749
        /// A.1); a malformed one is not repeated, since it may be a
        /// mistyped secret.
        client: Option<&'a ClientId>,
    },
    /// A client revoked a token of its own (RFC 7009 §2.1). Requests that
    /// revoke nothing (an unknown or foreign token) emit no event.
    TokenRevoked {
        /// The client that asked.
        by: &'a ClientId,
        /// What was revoked.
        target: Revoked,
    },
    /// A used authorization code or rotated refresh token came back (RFC
    /// 6749 §4.1.2, RFC 9700 §4.14.2): its whole grant is revoked.
    ReplayDetected {
        /// The client that presented it (its own: another client's token is
        /// refused without revoking anything).
        client: &'a ClientId,
        /// [`TokenKind::AuthorizationCode`] or [`TokenKind::Refresh`].
        kind: TokenKind,
        /// The grant.
        grant: GrantId,
        /// Whether the grant's revocation was stored; when it was not, a
        /// [`StoreFailed`](Self::StoreFailed) follows.
        grant_revoked: bool,
    },
    /// Every token of a subject, a client, or a subject at a client was
    /// revoked at once.
    BulkRevocation {
        /// The resource owner, when the revocation was by subject.
        subject: Option<&'a Subject>,
        /// The client, when the revocation was by client.
        client: Option<&'a ClientId>,
        /// How many tokens were revoked.
        count: u64,
    },
    /// An operator changed a client's registration (see
    /// [`AuthServer::set_client_enabled`](crate::AuthServer::set_client_enabled),
    /// [`remove_client`](crate::AuthServer::remove_client),
    /// [`rotate_client_secret`](crate::AuthServer::rotate_client_secret)).
    ClientChanged {
        /// The client.
        client: &'a ClientId,
        /// What changed.
        change: ClientChange,
    },
    /// The store (or a shared limiter) failed: the request fails closed.
    StoreFailed {
        /// What the server was doing.
        operation: StoreOperation,
        /// The backend's error (its `source()` chain has the cause).
        error: &'a StoreError,
    },
}

/// The outcome of an introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The token is active for the caller.
    Active,
    /// It is not, and why.
    Inactive(InactiveReason),
}

/// A client authentication method (RFC 6749 §2.3), as presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMethod {
    /// HTTP Basic.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body.
    ClientSecretPost,
    /// `client_id` alone (a public client); at the introspection endpoint
    /// always a failure.
    None,
    /// An `Authorization` header with a scheme other than Basic.
    OtherScheme,
    /// No credentials at all.
    Absent,
}

/// What a revocation revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revoked {
    /// One access token.
    Token {
        /// Its `jti`.
        jti: Jti,
        /// Its grant.
        grant: GrantId,
    },
    /// A whole grant (a refresh token was revoked, RFC 7009 §2.1).
    Grant(GrantId),
}

/// How an operator changed a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientChange {
    /// Enabled (again).
    Enabled,
    /// Disabled: its tokens introspect inactive.
    Disabled,
    /// Removed: its tokens introspect inactive.
    Removed,
    /// Given a new secret (its tokens stay valid).
    SecretRotated,
}

impl ClientChange {
    /// The change's stable name, in snake case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::Removed => "removed",
            Self::SecretRotated => "secret_rotated",
        }
    }
}

/// The store operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreOperation {
    /// Looking a client up.
    Client,
    /// Looking a token up.
    Get,
    /// Storing a new token.
    Insert,
    /// Consuming a code or refresh token.
    Consume,
    /// Revoking one token.
    Revoke,
    /// Revoking a grant.
    RevokeGrant,
    /// Revoking every grant of a subject or client.
    RevokeAll,
    /// A reservation or refund with the fishing limiter.
    Limiter,
}

impl AuditEvent<'_> {
    /// The event's stable name, in snake case (`token_issued`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::TokenIssued { .. } => "token_issued",
            Self::IntrospectionAnswered { .. } => "introspection_answered",
            Self::Throttled { .. } => "throttled",
            Self::ClientAuthFailed { .. } => "client_auth_failed",
            Self::TokenRevoked { .. } => "token_revoked",
            Self::ReplayDetected { .. } => "replay_detected",
            Self::BulkRevocation { .. } => "bulk_revocation",
            Self::ClientChanged { .. } => "client_changed",
            Self::StoreFailed { .. } => "store_failed",
        }
    }
}

impl Verdict {
    /// Whether the token is active.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Active)
    }
}

impl InactiveReason {
    /// The reason's stable name, in snake case (`forged`, `expired`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::Forged => "forged",
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Revoked => "revoked",
            Self::Consumed => "consumed",
            Self::NotAnAccessToken => "wrong_kind",
            Self::ClientUnknown => "client_removed",
            Self::ClientDisabled => "client_disabled",
            Self::WrongAudience => "wrong_audience",
        }
    }
}

impl AuthMethod {
    /// The method's name: the RFC 8414 `token_endpoint_auth_methods`
    /// value, or `other_scheme` / `absent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
            Self::OtherScheme => "other_scheme",
            Self::Absent => "absent",
        }
    }
}

impl StoreOperation {
    /// The operation's stable name, in snake case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Get => "get",
            Self::Insert => "insert",
            Self::Consume => "consume",
            Self::Revoke => "revoke",
            Self::RevokeGrant => "revoke_grant",
            Self::RevokeAll => "revoke_all",
            Self::Limiter => "limiter",
        }
    }
}

impl Revoked {
    /// The grant of what was revoked.
    pub fn grant(&self) -> GrantId {
        match *self {
            Self::Token { grant, .. } | Self::Grant(grant) => grant,
        }
    }
}

/// The name of a token kind, as in the stored records: `access`,
/// `refresh`, `authorization_code`.
pub fn kind_name(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Access => "access",
        TokenKind::Refresh => "refresh",
        TokenKind::AuthorizationCode => "authorization_code",
    }
}

/// Writes an optional id as itself or `-`.
struct Opt<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// One line, `name key=value ...`, with the field names of
/// `gatehouse-tracing`. The store error is followed by its sources.
impl fmt::Display for AuditEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match *self {
            Self::TokenIssued { client, grant, jti, kind, subject, scope, audience, expires_at } => {
                write!(
                    f,
                    " client_id={client} grant_id={grant} jti={jti} token_kind={} subject={} scope=\"{scope}\" \
                     audience=\"",
                    kind_name(kind),
                    Opt(subject),
                )?;
                for (i, a) in audience.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    f.write_str(a.as_str())?;
                }
                write!(f, "\" expires_at={}", expires_at.0)
            }
            Self::IntrospectionAnswered { caller, grant, jti, verdict } => {
                let reason = match verdict {
                    Verdict::Active => None,
                    Verdict::Inactive(r) => Some(r.as_str()),
                };
                write!(
                    f,
                    " caller={caller} grant_id={} jti={} active={} reason={}",
                    Opt(grant),
                    Opt(jti),
                    verdict.is_active(),
                    Opt(reason)
                )
            }
            Self::Throttled { caller, retry_after } => {
                write!(f, " caller={caller} retry_after={retry_after}")
            }
            Self::ClientAuthFailed { method, client } => {
                write!(f, " method={} client_id={}", method.as_str(), Opt(client))
            }
            Self::TokenRevoked { by, target } => match target {
                Revoked::Token { jti, grant } => {
                    write!(f, " by={by} target=token grant_id={grant} jti={jti}")
                }
                Revoked::Grant(grant) => write!(f, " by={by} target=grant grant_id={grant}"),
            },
            Self::ReplayDetected { client, kind, grant, grant_revoked } => write!(
                f,
                " client_id={client} token_kind={} grant_id={grant} grant_revoked={grant_revoked}",
                kind_name(kind)
            ),
            Self::BulkRevocation { subject, client, count } => {
                write!(f, " subject={} client_id={} count={count}", Opt(subject), Opt(client))
            }
            Self::ClientChanged { client, change } => {
                write!(f, " client_id={client} change={}", change.as_str())
            }
            Self::StoreFailed { operation, error } => {
                write!(f, " operation={} error=\"{}\"", operation.as_str(), ErrorChain(error))
            }
        }
    }
}

/// An error and its sources, joined by `: `.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_with_the_stable_names() {
        let client = ClientId::new("app").unwrap();
        let e = AuditEvent::ClientAuthFailed { method: AuthMethod::ClientSecretBasic, client: Some(&client) };
        assert_eq!(e.to_string(), "client_auth_failed method=client_secret_basic client_id=app");
        let e = AuditEvent::ClientAuthFailed { method: AuthMethod::Absent, client: None };
        assert_eq!(e.to_string(), "client_auth_failed method=absent client_id=-");
        let inner = std::io::Error::other("connection refused");
        let error = StoreError::unavailable(inner);
        let e = AuditEvent::StoreFailed { operation: StoreOperation::Get, error: &error };
        assert_eq!(
            e.to_string(),
            "store_failed operation=get error=\"storage backend unavailable: connection refused\""
        );
        let e = AuditEvent::IntrospectionAnswered {
            caller: &client,
            grant: None,
            jti: None,
            verdict: Verdict::Inactive(InactiveReason::Forged),
        };
        assert_eq!(
            e.to_string(),
            "introspection_answered caller=app grant_id=- jti=- active=false reason=forged"
        );
    }
}
