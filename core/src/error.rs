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
    /// parameter, bad Content-Type.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// `invalid_request` (RFC 6749 §5.2): the body is longer than
    /// [`Config::max_body_bytes`](crate::Config::max_body_bytes). An adapter
    /// that stops reading at that limit answers with the same response,
    /// [`HttpResponse::body_too_large`](crate::HttpResponse::body_too_large).
    #[error("invalid_request: request body is too large")]
    BodyTooLarge,
    /// `invalid_client` (RFC 6749 §5.2): unknown client, wrong secret,
    /// disabled client, or no authentication where it is required. All of
    /// these are one outcome on purpose.
    #[error("invalid_client: client authentication failed")]
    InvalidClient {
        /// Whether the request tried the `Authorization` header (HTTP Basic,
        /// or a scheme we do not accept); the response then carries
        /// `WWW-Authenticate: Basic` (RFC 6749 §5.2).
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
    /// The store failed: the request fails closed, with no answer about any
    /// token. HTTP 503 `temporarily_unavailable` with `Retry-After`
    /// ([`Error::UNAVAILABLE_RETRY_AFTER`]) when the store cannot be reached
    /// ([`StoreError::Unavailable`]), HTTP 500 `server_error` otherwise.
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
    /// The seconds a client is asked to wait (`Retry-After`) when the store
    /// cannot be reached. Short and fixed: a restarting Redis or a lock held
    /// by another writer clears in seconds, and the server cannot know how
    /// long an outage will last, so it asks for an early retry rather than
    /// guess a long one.
    pub const UNAVAILABLE_RETRY_AFTER: u64 = 5;

    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::Store(e) if e.is_unavailable() => 503,
            Self::InvalidClient { .. } => 401,
            Self::IntrospectionForbidden | Self::AccessDenied(_) => 403,
            Self::MethodNotAllowed => 405,
            Self::Throttled { .. } => 429,
            Self::Store(_) | Self::Random(_) | Self::Config(_) => 500,
            Self::InvalidRequest(_)
            | Self::BodyTooLarge
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
            Self::InvalidRequest(_) | Self::BodyTooLarge | Self::MethodNotAllowed | Self::NoRedirect(_) => {
                "invalid_request"
            }
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
            // RFC 6749 defines `temporarily_unavailable`, like
            // `server_error`, for the authorization endpoint only
            // (§4.1.2.1); §5.2 has no code for a failure of the server
            // itself at the token endpoint, nor do RFC 7662 and RFC 7009 at
            // theirs. Every endpoint here already answers a server failure
            // with `server_error`, so its registered sibling names this one:
            // the meaning the registry gives it ("temporarily unable to
            // handle the request"), and a code a client that knows the
            // authorization-endpoint codes recognises. What clients act on
            // is the status and `Retry-After` (RFC 9110 §15.6.4), which
            // RFC 7009 §2.2.1 describes for revocation: "the client must
            // assume the token still exists and may retry".
            Self::Store(e) if e.is_unavailable() => "temporarily_unavailable",
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
            Self::BodyTooLarge => "request body is too large",
            Self::UnsupportedResponseType => "only response_type=code is supported",
            Self::InvalidClient { .. } => "client authentication failed",
            Self::UnsupportedGrantType => "the grant type is not supported",
            Self::IntrospectionForbidden => "this client may not introspect tokens",
            Self::Throttled { .. } => "too many inactive introspection results",
            Self::MethodNotAllowed => "use POST",
            Self::Store(e) if e.is_unavailable() => "the server is temporarily unavailable; retry later",
            Self::Store(_) | Self::Random(_) | Self::Config(_) => "the server could not complete the request",
        }
    }

    /// The `Retry-After` seconds this error's response carries, if any:
    /// the limiter's wait for [`Error::Throttled`],
    /// [`UNAVAILABLE_RETRY_AFTER`](Self::UNAVAILABLE_RETRY_AFTER) for an
    /// unreachable store.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after } => Some(*retry_after),
            Self::Store(e) if e.is_unavailable() => Some(Self::UNAVAILABLE_RETRY_AFTER),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_cause() {
        let e = Error::Store(StoreError::corrupt("token record", std::io::Error::other("row 7")));
        assert_eq!(e.status(), 500);
        assert_eq!(e.code(), "server_error");
        assert!(!e.description().contains("row"));
        assert_eq!(e.retry_after(), None);
    }

    #[test]
    fn a_corrupt_record_keeps_its_source_for_the_operator() {
        use std::error::Error as _;
        let e = StoreError::corrupt("token record", std::io::Error::other("row 7"));
        assert_eq!(e.to_string(), "stored token record is corrupt");
        assert_eq!(e.source().map(ToString::to_string).as_deref(), Some("row 7"));
        let e = StoreError::Corrupt { what: "client", source: None };
        assert!(e.source().is_none());
        assert_eq!(Error::Store(e).status(), 500);
    }

    #[test]
    fn an_unreachable_store_is_a_503_that_says_when_to_retry() {
        let e = Error::Store(StoreError::unavailable(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(e.status(), 503);
        assert_eq!(e.code(), "temporarily_unavailable");
        assert!(!e.description().contains("refused"));
        assert_eq!(e.retry_after(), Some(Error::UNAVAILABLE_RETRY_AFTER));
        let e =
            Error::Store(StoreError::backend(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)));
        assert_eq!((e.status(), e.code(), e.retry_after()), (500, "server_error", None));
        assert_eq!(Error::Throttled { retry_after: 7 }.retry_after(), Some(7));
    }

    #[test]
    fn statuses() {
        assert_eq!(Error::InvalidClient { basic: true }.status(), 401);
        assert_eq!(Error::IntrospectionForbidden.status(), 403);
        assert_eq!(Error::Throttled { retry_after: 3 }.status(), 429);
        assert_eq!(Error::MethodNotAllowed.status(), 405);
        assert_eq!(Error::InvalidTarget("x").status(), 400);
        let e = Error::BodyTooLarge;
        assert_eq!(
            (e.status(), e.code(), e.description()),
            (400, "invalid_request", "request body is too large")
        );
    }
}
