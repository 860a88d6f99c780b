//! What a backend stores for each token: never the token, only its digest.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ids::{ClientId, GrantId, Jti, Resource, Subject};
use super::scope::Scope;
use crate::time::UnixTime;

/// The storage key of a token: the grant it belongs to, and a
/// domain-separated SHA-256 digest of the token's random part. A leaked
/// database yields digests, from which no token can be rebuilt.
///
/// The grant id travels inside the token (covered by its tag), so a backend
/// can route every token of one grant to one place (a Redis Cluster hash
/// slot) from the key alone. Digests are not secret and are uniformly
/// distributed, so backends may use their bytes directly as hash-table keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenDigest {
    grant: GrantId,
    hash: [u8; 32],
}

impl TokenDigest {
    /// Builds a key from its parts (for backends decoding what they stored).
    pub const fn new(grant: GrantId, hash: [u8; 32]) -> Self {
        Self { grant, hash }
    }

    /// The grant the token belongs to.
    pub const fn grant(&self) -> GrantId {
        self.grant
    }

    /// The SHA-256 digest bytes.
    pub const fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// Lower-case hex of the digest alone, 64 characters.
    pub fn hash_hex(&self) -> String {
        crate::hex::encode(&self.hash)
    }

    /// The text form `<grant>.<hash hex>` (22 + 1 + 64 characters).
    pub fn to_text(&self) -> String {
        format!("{}.{}", self.grant, self.hash_hex())
    }

    /// Parses the text form produced by [`to_text`](Self::to_text).
    pub fn parse(s: &str) -> Option<Self> {
        let (g, h) = s.split_once('.')?;
        Some(Self { grant: GrantId::parse(g).ok()?, hash: crate::hex::decode(h)? })
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix of the hash is enough to tell digests apart in a log.
        write!(f, "TokenDigest({}.{}…)", self.grant, &self.hash_hex()[..12])
    }
}

impl Serialize for TokenDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for TokenDigest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s)
            .ok_or_else(|| serde::de::Error::custom("token digest must be '<grant>.<64 hex digits>'"))
    }
}

/// What a token is for. Each kind has its own prefix, MAC input and digest
/// domain, so a token of one kind can never be presented as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenKind {
    /// An access token (RFC 6749 §1.4).
    Access,
    /// A refresh token (RFC 6749 §1.5).
    Refresh,
    /// An authorization code (RFC 6749 §1.3.1).
    AuthorizationCode,
}

/// Where a token is in its life. Expiry is not a state: it is derived from
/// `expires_at` and the clock, so it can never be stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenState {
    /// Usable, subject to its times and its client.
    Active,
    /// Revoked explicitly, or with its whole grant.
    Revoked,
    /// A one-time token (code, rotated refresh token) that was used. Using it
    /// again is a replay.
    Consumed,
}

/// What an authorization code is bound to (RFC 6749 §4.1.3, RFC 7636 §4.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeBinding {
    /// The redirect URI of the authorization request, compared exactly.
    pub redirect_uri: String,
    /// The PKCE S256 code challenge (base64url, 43 characters).
    pub code_challenge: String,
}

/// One stored token. Backends persist and return it as given, apart from
/// `state`, which only the store's atomic operations change.
///
/// A new token's record is built with [`access`](Self::access),
/// [`refresh`](Self::refresh) or [`code`](Self::code); the fields are public
/// so that backends can rebuild what they stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The lookup key.
    pub digest: TokenDigest,
    /// Access, refresh or code.
    pub kind: TokenKind,
    /// The client the token was issued to.
    pub client_id: ClientId,
    /// The resource owner, when there is one (none for client_credentials).
    pub subject: Option<Subject>,
    /// The granted scope.
    pub scope: Scope,
    /// The resources the token is meant for (`aud`).
    pub audience: Arc<[Resource]>,
    /// Issued at (`iat`).
    pub issued_at: UnixTime,
    /// Not valid before (`nbf`).
    pub not_before: UnixTime,
    /// Expires at (`exp`): the token is inactive from this second on.
    pub expires_at: UnixTime,
    /// Unique identifier (`jti`).
    pub jti: Jti,
    /// Active, revoked or consumed.
    pub state: TokenState,
    /// For authorization codes only: what the code is bound to.
    pub code: Option<Box<CodeBinding>>,
}

/// What a token says about whom it was issued to and for what: its client,
/// resource owner, scope and audience (RFC 7662 §2.2 `client_id`, `sub`,
/// `scope`, `aud`). Every token of one grant carries the same, but for an
/// access token whose scope a refresh narrowed.
///
/// Built with [`new`](Self::new) and [`with_subject`](Self::with_subject);
/// non-exhaustive, so a claim added later breaks no caller.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claims {
    /// The client the token is issued to.
    pub client_id: ClientId,
    /// The resource owner, when there is one (none for client_credentials).
    pub subject: Option<Subject>,
    /// The granted scope.
    pub scope: Scope,
    /// The resources the token is meant for.
    pub audience: Arc<[Resource]>,
}

impl Claims {
    /// Claims with no resource owner.
    pub fn new(client_id: ClientId, scope: Scope, audience: Arc<[Resource]>) -> Self {
        Self { client_id, subject: None, scope, audience }
    }

    /// These claims for the resource owner `subject`.
    #[must_use]
    pub fn with_subject(self, subject: Subject) -> Self {
        Self { subject: Some(subject), ..self }
    }
}

impl TokenRecord {
    /// A fresh, active access token record, valid from `issued_at` until
    /// `expires_at`.
    #[inline]
    pub fn access(
        digest: TokenDigest,
        jti: Jti,
        claims: Claims,
        issued_at: UnixTime,
        expires_at: UnixTime,
    ) -> Self {
        Self::fresh(TokenKind::Access, digest, jti, claims, issued_at, expires_at, None)
    }

    /// A fresh, active refresh token record, valid from `issued_at` until
    /// `expires_at`.
    #[inline]
    pub fn refresh(
        digest: TokenDigest,
        jti: Jti,
        claims: Claims,
        issued_at: UnixTime,
        expires_at: UnixTime,
    ) -> Self {
        Self::fresh(TokenKind::Refresh, digest, jti, claims, issued_at, expires_at, None)
    }

    /// A fresh, active authorization code record bound to `binding`, valid
    /// from `issued_at` until `expires_at`.
    #[inline]
    pub fn code(
        digest: TokenDigest,
        jti: Jti,
        claims: Claims,
        binding: CodeBinding,
        issued_at: UnixTime,
        expires_at: UnixTime,
    ) -> Self {
        let code = Some(Box::new(binding));
        Self::fresh(TokenKind::AuthorizationCode, digest, jti, claims, issued_at, expires_at, code)
    }

    /// The one place a record is assembled from its parts.
    #[inline]
    fn fresh(
        kind: TokenKind,
        digest: TokenDigest,
        jti: Jti,
        claims: Claims,
        issued_at: UnixTime,
        expires_at: UnixTime,
        code: Option<Box<CodeBinding>>,
    ) -> Self {
        let Claims { client_id, subject, scope, audience } = claims;
        Self {
            digest,
            kind,
            client_id,
            subject,
            scope,
            audience,
            issued_at,
            not_before: issued_at,
            expires_at,
            jti,
            state: TokenState::Active,
            code,
        }
    }

    /// What the token says about whom it was issued to and for what.
    pub fn claims(&self) -> Claims {
        Claims {
            client_id: self.client_id.clone(),
            subject: self.subject.clone(),
            scope: self.scope.clone(),
            audience: self.audience.clone(),
        }
    }

    /// The grant family the token belongs to (part of its key).
    pub fn grant_id(&self) -> GrantId {
        self.digest.grant()
    }

    /// Whether the token names `resource` in its audience.
    pub fn is_for(&self, resource: &Resource) -> bool {
        self.audience.iter().any(|a| a == resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_make_fresh_active_records_of_their_kind() {
        let digest = TokenDigest::new(GrantId::from_bytes([9; 16]), [1; 32]);
        let jti = Jti::from_bytes([2; 16]);
        let audience: Arc<[Resource]> = [Resource::new("https://api.example").unwrap()].into();
        let claims = Claims::new(ClientId::new("app").unwrap(), Scope::parse("read").unwrap(), audience)
            .with_subject(Subject::new("alice").unwrap());
        let binding =
            CodeBinding { redirect_uri: "https://app/cb".to_owned(), code_challenge: "c".to_owned() };
        let (iat, exp) = (UnixTime(10), UnixTime(70));
        let records = [
            (TokenRecord::access(digest, jti, claims.clone(), iat, exp), TokenKind::Access),
            (TokenRecord::refresh(digest, jti, claims.clone(), iat, exp), TokenKind::Refresh),
            (
                TokenRecord::code(digest, jti, claims.clone(), binding.clone(), iat, exp),
                TokenKind::AuthorizationCode,
            ),
        ];
        for (r, kind) in records {
            assert_eq!((r.kind, r.state, r.digest, r.jti), (kind, TokenState::Active, digest, jti));
            assert_eq!((r.issued_at, r.not_before, r.expires_at), (iat, iat, exp));
            assert_eq!(r.claims(), claims);
            assert_eq!(r.code.as_deref(), (kind == TokenKind::AuthorizationCode).then_some(&binding));
        }
    }

    #[test]
    fn digest_text_round_trip() {
        let mut b = [0u8; 32];
        for (i, x) in b.iter_mut().enumerate() {
            *x = u8::try_from(i * 7).unwrap();
        }
        let d = TokenDigest::new(GrantId::from_bytes([9; 16]), b);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<TokenDigest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<TokenDigest>("\"zz\"").is_err());
        let bad = format!("\"{}.{}\"", GrantId::from_bytes([9; 16]), "G".repeat(64));
        assert!(serde_json::from_str::<TokenDigest>(&bad).is_err());
        assert_eq!(d.hash_hex().len(), 64);
        assert_eq!(TokenDigest::parse(&d.to_text()), Some(d));
    }
}
