//! Bearer-token validation for resource servers in the same process
//! (RFC 6750), through the same checks as introspection.
//!
//! The token is read from the `Authorization` header only: RFC 6750 §2.2
//! and §2.3 (form body, query) leak tokens into logs and caches, and are
//! off by default everywhere careful.

use std::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::http::Header;
use crate::introspect::Introspection;
use crate::model::{ClientId, Jti, Resource, Scope, Subject, ValueError};
use crate::time::UnixTime;

/// Who is calling, as a validated access token says: validated in process
/// ([`AuthServer::validate_bearer`](crate::AuthServer::validate_bearer)),
/// or built by a remote resource server from an introspection answer
/// ([`Principal::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// The client the token was issued to.
    pub client_id: ClientId,
    /// The resource owner, if any.
    pub subject: Option<Subject>,
    /// The granted scope.
    pub scope: Scope,
    /// The resources the token is for.
    pub audience: Arc<[Resource]>,
    /// When it expires.
    pub expires_at: UnixTime,
    /// Its unique id: always there for a token this server validated; for
    /// another server's answer, there when the answer had a `jti` (RFC 7662
    /// §2.2 makes it optional).
    pub jti: Option<TokenId>,
}

impl Principal {
    /// A principal from what an authorization server said about a token,
    /// for resource servers that validate tokens elsewhere (by
    /// introspection, RFC 7662) and hand their routes the same type as an
    /// in-process validation does.
    pub fn new(
        client_id: ClientId,
        subject: Option<Subject>,
        scope: Scope,
        audience: Arc<[Resource]>,
        expires_at: UnixTime,
        jti: Option<TokenId>,
    ) -> Self {
        Self { client_id, subject, scope, audience, expires_at, jti }
    }
}

/// A token's identifier (`jti`, RFC 7519 §4.1.7) as a [`Principal`] carries
/// it: this server's own [`Jti`], or another authorization server's
/// string, whose format RFC 7662 leaves open.
///
/// Two ids are equal when their texts are: [`TokenId::new`] takes any text
/// that is a [`Jti`] as one, so the same token seen in process and through
/// introspection has the same id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenId(TokenIdRepr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum TokenIdRepr {
    /// No allocation: the in-process path stays as cheap as a bare `Jti`.
    Own(Jti),
    Other(Arc<str>),
}

impl TokenId {
    /// The id whose text is `s`: a [`Jti`] when `s` is one (22 base64url
    /// characters), else `s` itself when it is 1 to 255 bytes without
    /// control characters (the limits of a subject: the id may be logged).
    ///
    /// # Errors
    /// [`ValueError`] when `s` is empty, too long or holds a control
    /// character.
    pub fn new(s: &str) -> Result<Self, ValueError> {
        if let Ok(jti) = Jti::parse(s) {
            return Ok(Self(TokenIdRepr::Own(jti)));
        }
        if s.is_empty() || s.len() > 255 {
            return Err(ValueError { what: "jti", rule: "must be 1 to 255 bytes" });
        }
        if s.chars().any(char::is_control) {
            return Err(ValueError { what: "jti", rule: "must not contain control characters" });
        }
        Ok(Self(TokenIdRepr::Other(Arc::from(s))))
    }

    /// The id as this server's [`Jti`], when it has that form.
    pub fn jti(&self) -> Option<Jti> {
        match &self.0 {
            TokenIdRepr::Own(jti) => Some(*jti),
            TokenIdRepr::Other(_) => None,
        }
    }
}

impl From<Jti> for TokenId {
    fn from(jti: Jti) -> Self {
        Self(TokenIdRepr::Own(jti))
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            TokenIdRepr::Own(jti) => fmt::Display::fmt(jti, f),
            TokenIdRepr::Other(s) => f.write_str(s),
        }
    }
}

impl fmt::Debug for TokenId {
    /// An identifier, not a secret: shown as it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}

/// Why a request was refused (RFC 6750 §3.1). Each carries its status and
/// its exact `WWW-Authenticate` value.
#[derive(Debug)]
#[non_exhaustive]
pub enum BearerError {
    /// No `Authorization` header: 401 with a bare challenge.
    Missing,
    /// A malformed or repeated header, or another scheme: 400
    /// `invalid_request`.
    InvalidRequest,
    /// Inactive for any reason (unknown, forged, expired, revoked, wrong
    /// audience…): 401 `invalid_token`.
    InvalidToken,
    /// Active, but without every required scope: 403 `insufficient_scope`.
    InsufficientScope {
        /// The scope the resource requires.
        required: Scope,
    },
    /// The store failed: no answer about the token. 503 with
    /// [`retry_after`](Self::retry_after) when the store cannot be reached
    /// ([`StoreError::Unavailable`](crate::store::StoreError::Unavailable)), as at
    /// the core's endpoints; 500 otherwise. The inner error's
    /// [`code`](Error::code) and [`description`](Error::description) are
    /// the body to send.
    Server(Error),
}

impl BearerError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Missing | Self::InvalidToken => 401,
            Self::InvalidRequest => 400,
            Self::InsufficientScope { .. } => 403,
            // Only the store's own failure is passed through: whatever
            // else a server error were, it would stay a 500, never a 4xx
            // that reads as an answer about the token.
            Self::Server(e @ Error::Store(_)) => e.status(),
            Self::Server(_) => 500,
        }
    }

    /// The `Retry-After` seconds to send, if any: for an unreachable store,
    /// [`Error::UNAVAILABLE_RETRY_AFTER`].
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Server(e @ Error::Store(_)) => e.retry_after(),
            _ => None,
        }
    }

    /// The `WWW-Authenticate` value for `realm` (none for a server error).
    pub fn www_authenticate(&self, realm: &str) -> Option<String> {
        let realm = realm.replace(['"', '\\'], "");
        match self {
            Self::Missing => Some(format!("Bearer realm=\"{realm}\"")),
            Self::InvalidRequest => Some(format!(
                "Bearer realm=\"{realm}\", error=\"invalid_request\", error_description=\"malformed Authorization header\""
            )),
            Self::InvalidToken => Some(format!(
                "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"the access token is invalid\""
            )),
            Self::InsufficientScope { required } => Some(format!(
                "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{}\"",
                required.as_str()
            )),
            Self::Server(_) => None,
        }
    }
}

/// The token in an `Authorization` header, by RFC 6750 §2.1:
/// `"Bearer" 1*SP b64token`, where
/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
/// (the scheme in any case; at most 4096 bytes). Public so that a resource
/// server validating tokens by remote introspection reads headers by the
/// same rules as [`AuthServer::validate_bearer`](crate::AuthServer::validate_bearer).
///
/// # Errors
/// [`BearerError::Missing`] without the header;
/// [`BearerError::InvalidRequest`] for a repeated or malformed one, or
/// another scheme.
pub fn parse_bearer(h: Header<'_>) -> Result<&str, BearerError> {
    let raw = match h {
        Header::Absent => return Err(BearerError::Missing),
        Header::Repeated => return Err(BearerError::InvalidRequest),
        Header::One(raw) => raw,
    };
    let s = std::str::from_utf8(raw).map_err(|_| BearerError::InvalidRequest)?;
    let (scheme, rest) = s.split_once(' ').ok_or(BearerError::InvalidRequest)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::InvalidRequest);
    }
    let token = rest.trim_start_matches(' ');
    let body = token.trim_end_matches('=');
    let ok = !body.is_empty()
        && token.len() <= 4096
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'));
    if ok {
        Ok(token)
    } else {
        Err(BearerError::InvalidRequest)
    }
}

/// The answer for a request whose token introspected as `answer` for the
/// resource being accessed, which requires every scope in `required`
/// (RFC 6750 §3.1).
///
/// # Errors
/// [`BearerError::InvalidToken`] for an inactive token;
/// [`BearerError::InsufficientScope`] for one without a required scope.
pub(crate) fn decide_bearer(answer: Introspection, required: &Scope) -> Result<Principal, BearerError> {
    let Introspection::Active(r) = answer else {
        return Err(BearerError::InvalidToken);
    };
    if !required.is_subset_of(&r.scope) {
        return Err(BearerError::InsufficientScope { required: required.clone() });
    }
    Ok(Principal {
        client_id: r.client_id,
        subject: r.subject,
        scope: r.scope,
        audience: r.audience,
        expires_at: r.expires_at,
        jti: Some(TokenId::from(r.jti)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_syntax() {
        assert_eq!(parse_bearer(Header::One(b"Bearer abc.def_-~+/==")).ok(), Some("abc.def_-~+/=="));
        assert_eq!(parse_bearer(Header::One(b"bearer  abc")).ok(), Some("abc"));
        for bad in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Basic abc",
            b"Bearer a b",
            b"Bearer =",
            b"Bearer \xff",
            b"Bearer a=b",
        ] {
            assert!(matches!(parse_bearer(Header::One(bad)), Err(BearerError::InvalidRequest)), "{bad:?}");
        }
        assert!(matches!(parse_bearer(Header::Absent), Err(BearerError::Missing)));
        assert!(matches!(parse_bearer(Header::Repeated), Err(BearerError::InvalidRequest)));
    }

    #[test]
    fn an_active_token_needs_every_required_scope() {
        use crate::introspect::InactiveReason;
        use crate::model::{Claims, GrantId, TokenDigest, TokenRecord};
        let digest = TokenDigest::new(GrantId::from_bytes([1; 16]), [2; 32]);
        let claims =
            Claims::new(ClientId::new("app").unwrap(), Scope::parse("read write").unwrap(), [].into());
        let r = TokenRecord::access(digest, Jti::from_bytes([3; 16]), claims, UnixTime(1), UnixTime(9));
        let active = || Introspection::Active(r.clone());
        let p = decide_bearer(active(), &Scope::parse("write").unwrap()).unwrap();
        assert_eq!((p.client_id.as_str(), p.expires_at), ("app", UnixTime(9)));
        assert_eq!(p.jti.and_then(|t| t.jti()), Some(r.jti));
        assert!(decide_bearer(active(), &Scope::empty()).is_ok());
        assert!(matches!(
            decide_bearer(active(), &Scope::parse("admin").unwrap()),
            Err(BearerError::InsufficientScope { .. })
        ));
        let inactive = Introspection::Inactive(InactiveReason::Expired);
        assert!(matches!(decide_bearer(inactive, &Scope::empty()), Err(BearerError::InvalidToken)));
    }

    #[test]
    fn a_token_id_is_its_text_whoever_issued_it() {
        let jti = Jti::from_bytes([7; 16]);
        let own = TokenId::from(jti);
        // The same text through introspection is the same id, and a Jti.
        let parsed = TokenId::new(&jti.to_string()).unwrap();
        assert_eq!((parsed.jti(), &parsed), (Some(jti), &own));
        assert_eq!(own.to_string(), jti.to_string());
        // Another server's ids are carried as they are.
        let other = TokenId::new("urn:uuid:3f0c-é").unwrap();
        assert_eq!((other.jti(), other.to_string().as_str()), (None, "urn:uuid:3f0c-é"));
        assert_eq!(format!("{other:?}"), "TokenId(urn:uuid:3f0c-é)");
        assert_ne!(other, own);
        // What could not be logged safely, or is no id at all, is refused.
        for bad in ["", "a\nb", "\u{7f}", &"x".repeat(256)] {
            assert!(TokenId::new(bad).is_err(), "{bad:?}");
        }
        assert!(TokenId::new(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn challenges() {
        assert_eq!(BearerError::Missing.www_authenticate("api").unwrap(), "Bearer realm=\"api\"");
        let e = BearerError::InsufficientScope { required: Scope::parse("b a").unwrap() };
        assert_eq!(e.status(), 403);
        assert_eq!(
            e.www_authenticate("a\"pi").unwrap(),
            "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"a b\""
        );
        assert!(BearerError::InvalidToken.www_authenticate("x").unwrap().contains("error=\"invalid_token\""));
        assert_eq!(BearerError::InvalidRequest.status(), 400);
    }

    #[test]
    fn an_unreachable_store_is_a_503_with_retry_after_and_no_challenge() {
        let refused = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = BearerError::Server(Error::Store(crate::store::StoreError::unavailable(refused())));
        assert_eq!((e.status(), e.retry_after(), e.www_authenticate("api")), (503, Some(5), None));
        let e = BearerError::Server(Error::Store(crate::store::StoreError::backend(refused())));
        assert_eq!((e.status(), e.retry_after(), e.www_authenticate("api")), (500, None, None));
        assert_eq!(BearerError::InvalidToken.retry_after(), None);
    }
}
