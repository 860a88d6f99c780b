//! The cache's key: a domain-separated SHA-256 of the token. The only
//! place this crate hashes; the cache never holds the token itself.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// Tells this digest apart from any other SHA-256 of the same token (the
/// authorization server's storage digests, another cache's keys).
const DOMAIN: &[u8] = b"gatehouse-rs-client/cache-key/v1\0";

/// The digest of a token that keys the cache.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TokenKey([u8; 32]);

impl TokenKey {
    /// `SHA-256(DOMAIN || token)`.
    pub(crate) fn of(token: &str) -> Self {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(token.as_bytes());
        Self(h.finalize().into())
    }
}

impl fmt::Debug for TokenKey {
    /// The first four bytes: enough to tell keys apart in a test failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKey({:02x}{:02x}{:02x}{:02x}…)", self.0[0], self.0[1], self.0[2], self.0[3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_the_domain_separated_sha256() {
        let k = TokenKey::of("tok");
        let plain: [u8; 32] = Sha256::digest(b"tok").into();
        assert_ne!(k.0, plain, "domain separated");
        let expected: [u8; 32] = Sha256::digest(b"gatehouse-rs-client/cache-key/v1\0tok").into();
        assert_eq!(k.0, expected);
        assert_ne!(TokenKey::of("tok"), TokenKey::of("tok2"));
    }
}
