//! What a backend stores for each token: never the token, only its digest.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ids::{ClientId, GrantId, Jti, Resource, Subject};
use super::scope::Scope;
use crate::time::UnixTime;

/// The storage key of a token: a domain-separated SHA-256 digest of the
/// token's random part. A leaked database yields digests, from which no
/// token can be rebuilt.
///
/// Digests are not secret, and are uniformly distributed, so backends may
/// use any of their bytes directly as a hash-table key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// Wraps raw digest bytes (for backends decoding what they stored).
    pub const fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, 64 characters (for text keys such as Redis').
    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.0)
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell digests apart in a log.
        write!(f, "TokenDigest({}…)", &self.to_hex()[..12])
    }
}

impl Serialize for TokenDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TokenDigest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        crate::hex::decode(&s)
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom("token digest must be 64 hex characters"))
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

impl TokenKind {
    /// The `token_type_hint` name of this kind (RFC 7009 §2.1).
    pub const fn hint_name(self) -> &'static str {
        match self {
            Self::Access => "access_token",
            Self::Refresh => "refresh_token",
            Self::AuthorizationCode => "authorization_code",
        }
    }
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
    /// The grant family the token belongs to.
    pub grant_id: GrantId,
    /// Active, revoked or consumed.
    pub state: TokenState,
    /// For authorization codes only: what the code is bound to.
    pub code: Option<Box<CodeBinding>>,
}

impl TokenRecord {
    /// Whether the token names `resource` in its audience.
    pub fn is_for(&self, resource: &Resource) -> bool {
        self.audience.iter().any(|a| a == resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_hex_round_trip() {
        let mut b = [0u8; 32];
        for (i, x) in b.iter_mut().enumerate() {
            *x = u8::try_from(i * 7).unwrap();
        }
        let d = TokenDigest::from_bytes(b);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<TokenDigest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<TokenDigest>("\"zz\"").is_err());
        assert!(serde_json::from_str::<TokenDigest>(&format!("\"{}\"", "G".repeat(64))).is_err());
        assert_eq!(d.to_hex().len(), 64);
    }
}
