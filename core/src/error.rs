//! The crate's one error type. Every OAuth error response is built from it,
//! so the mapping to status codes and `error` values lives in one place.

use crate::crypto::RandomError;
use crate::store::StoreError;

/// Everything that can go wrong in the core.
///
/// Messages are fixed strings chosen here: no variant carries a raw token
/// or secret, so `Display` is always safe to log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `invalid_request` (RFC 6749 §5.2): missing, repeated or malformed
    /// parameter, bad Content-Type, oversized body.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// `invalid_client` (RFC 6749 §5.2): unknown client, wrong secret,
    /// disabled client, or no authentication where it is required. All of
    /// these are one outcome on purpose.
    #[error("invalid_client: client authentication failed")]
    InvalidClient {
        /// Whether the request tried HTTP Basic; the response then carries
        /// `WWW-Authenticate: Basic`.
        basic: bool,
    },
    /// `invalid_grant` (RFC 6749 §5.2).
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    /// `unauthorized_client` (RFC 6749 §5.2): the client may not use this
    /// grant type.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(&'static str),
    /// `unsupported_grant_type` (RFC 6749 §5.2).
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// `unsupported_response_type` (RFC 6749 §4.1.2.1), sent by redirect.
    #[error("unsupported_response_type")]
    UnsupportedResponseType,
    /// `access_denied` (RFC 6749 §4.1.2.1): the resource owner refused.
    #[error("access_denied: {0}")]
    AccessDenied(&'static str),
    /// An authorization request that must not be answered by redirect: its
    /// `client_id` or `redirect_uri` is missing, unknown or does not match
    /// (RFC 6749 §4.1.2.1). The app shows the user an error page instead.
    #[error("invalid authorization request, not redirected: {0}")]
    NoRedirect(&'static str),
    /// `invalid_scope` (RFC 6749 §5.2).
    #[error("invalid_scope: {0}")]
    InvalidScope(&'static str),
    /// `invalid_target` (RFC 8707 §2): a `resource` the client may not use.
    #[error("invalid_target: {0}")]
    InvalidTarget(&'static str),
    /// The authenticated client is not a resource server and may not
    /// introspect (HTTP 403).
    #[error("access_denied: this client may not introspect tokens")]
    IntrospectionForbidden,
    /// Too many inactive introspection results for this caller (HTTP 429).
    #[error("slow_down: too many inactive introspection results; retry after {retry_after} s")]
    Throttled {
        /// Seconds until the caller may try again (`Retry-After`).
        retry_after: u64,
    },
    /// The endpoint only takes POST (HTTP 405).
    #[error("method not allowed: use POST")]
    MethodNotAllowed,
    /// The store failed: the request fails closed (HTTP 500).
    #[error("storage failed")]
    Store(#[from] StoreError),
    /// The OS random source failed (HTTP 500).
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The server was configured wrongly.
    #[error("configuration error: {0}")]
    Config(String),
}

impl Error {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient { .. } => 401,
            Self::IntrospectionForbidden | Self::AccessDenied(_) => 403,
            Self::MethodNotAllowed => 405,
            Self::Throttled { .. } => 429,
            Self::Store(_) | Self::Random(_) | Self::Config(_) => 500,
            Self::InvalidRequest(_)
            | Self::InvalidGrant(_)
            | Self::UnauthorizedClient(_)
            | Self::UnsupportedGrantType
            | Self::UnsupportedResponseType
            | Self::NoRedirect(_)
            | Self::InvalidScope(_)
            | Self::InvalidTarget(_) => 400,
        }
    }

    /// The OAuth `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::MethodNotAllowed | Self::NoRedirect(_) => "invalid_request",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::AccessDenied(_) => "access_denied",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::IntrospectionForbidden => "access_denied",
            Self::Throttled { .. } => "slow_down",
            Self::Store(_) | Self::Random(_) | Self::Config(_) => "server_error",
        }
    }

    /// A short human-readable description for `error_description`. Server
    /// errors say nothing about their cause.
    pub fn description(&self) -> &'static str {
        match self {
            Self::InvalidRequest(d)
            | Self::InvalidGrant(d)
            | Self::UnauthorizedClient(d)
            | Self::InvalidScope(d)
            | Self::InvalidTarget(d)
            | Self::AccessDenied(d)
            | Self::NoRedirect(d) => d,
            Self::UnsupportedResponseType => "only response_type=code is supported",
            Self::InvalidClient { .. } => "client authentication failed",
            Self::UnsupportedGrantType => "the grant type is not supported",
            Self::IntrospectionForbidden => "this client may not introspect tokens",
            Self::Throttled { .. } => "too many inactive introspection results",
            Self::MethodNotAllowed => "use POST",
            Self::Store(_) | Self::Random(_) | Self::Config(_) => "the server could not complete the request",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_cause() {
        let e = Error::Store(StoreError::Corrupt("row 7".into()));
        assert_eq!(e.status(), 500);
        assert_eq!(e.code(), "server_error");
        assert!(!e.description().contains("row"));
    }

    #[test]
    fn statuses() {
        assert_eq!(Error::InvalidClient { basic: true }.status(), 401);
        assert_eq!(Error::IntrospectionForbidden.status(), 403);
        assert_eq!(Error::Throttled { retry_after: 3 }.status(), 429);
        assert_eq!(Error::MethodNotAllowed.status(), 405);
        assert_eq!(Error::InvalidTarget("x").status(), 400);
    }
}
