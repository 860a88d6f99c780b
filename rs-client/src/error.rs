//! [`Error`]: every way an introspection can fail. Each one means "no
//! answer": the caller must refuse the request (or answer 503), never treat
//! it as an active token.

use std::time::Duration;

/// Why there is no introspection answer. Messages never contain the token,
/// the client secret or the answer's body (which a broken server might fill
/// with the token it was sent).
///
/// `Clone`, so that one failed introspection can be handed to every request
/// that was waiting on it (single flight).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client's settings are unusable (checked once, when it is built).
    #[error("invalid introspection client settings: {0}")]
    Config(String),
    /// The connection or the exchange failed (refused, reset, connect
    /// timeout, malformed HTTP).
    #[error("introspection request failed: {0}")]
    Network(String),
    /// TLS with an `https://` endpoint failed: its certificate does not
    /// chain to a trusted root ([`crate::TlsRoots`]), does not name the
    /// endpoint's host, has expired, or the server does not speak TLS. No
    /// request was sent (the token never left), and the client does not
    /// retry without TLS.
    #[error("TLS with the introspection endpoint failed: {0}")]
    Tls(String),
    /// No whole answer within the request timeout.
    #[error("the introspection endpoint did not answer within {0:?}")]
    Timeout(Duration),
    /// The endpoint answered with a status other than 200 (RFC 7662 §2.2:
    /// the answer is a 200 with a JSON object; 401 means the resource
    /// server's own credentials were refused).
    #[error("the introspection endpoint answered HTTP {0}")]
    Status(u16),
    /// The answer's body is larger than the configured limit.
    #[error("the introspection answer is larger than {0} bytes")]
    TooLarge(usize),
    /// The answer is not a JSON object.
    #[error("the introspection answer is not a JSON object")]
    NotJson,
    /// The answer has no `active` member (RFC 7662 §2.2: REQUIRED).
    #[error("the introspection answer has no `active` member")]
    MissingActive,
    /// A member of the answer has the wrong type (`active` not a boolean,
    /// `exp` not a number, ...). Named, never quoted.
    #[error("the introspection answer's `{0}` member has the wrong type")]
    Member(&'static str),
    /// An active answer lacks a member the bearer layer needs to build a
    /// principal (`client_id`, `exp`; feature `axum`). Only the name.
    #[error("the introspection answer has no `{0}` member, which the bearer layer requires")]
    MissingClaim(&'static str),
    /// A member of an active answer has the right JSON type but a value
    /// the bearer layer cannot carry (a `scope` token with a forbidden
    /// character, an audience that is not an absolute URI, ...; feature
    /// `axum`). Named, never quoted.
    #[error("the introspection answer's `{0}` member is not a valid value for it")]
    UnfitClaim(&'static str),
}
