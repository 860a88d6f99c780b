//! The key layout. Every key starts with the configured prefix; every key
//! of one grant carries the hash tag `{<grant id>}`, so a grant's keys live
//! in one Redis Cluster slot and its multi-key scripts stay legal there.
//!
//! | key                          | value                                         | TTL                        |
//! |------------------------------|-----------------------------------------------|----------------------------|
//! | `<p>t:{<grant>}:<hash hex>`  | one state byte (`a`/`r`/`c`) + record JSON    | expiry + grace             |
//! | `<p>g:{<grant>}`             | hash: `<hash hex>` → `1` per token, `!revoked` | longest token TTL of grant |
//! | `<p>c:<client id>`           | client JSON (secret digest only)              | none                       |
//! | `<p>l:<client id>`           | limiter TAT in ms                             | until fully recovered      |
//!
//! A client id containing `{` or `}` is hex-encoded (`cx:`/`lx:`), so no
//! caller-chosen text can become a hash tag.

use gatehouse_core::model::{ClientId, GrantId, TokenDigest};

use crate::Error;

#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Result<Self, Error> {
        if prefix.contains(['{', '}']) {
            return Err(Error::InvalidPrefix);
        }
        Ok(Self { prefix: prefix.to_owned() })
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The common start of every token key of `grant` (the revoke-grant
    /// script appends a member's hash hex).
    pub(crate) fn token_base(&self, grant: &GrantId) -> String {
        format!("{}t:{{{grant}}}:", self.prefix)
    }

    pub(crate) fn token(&self, d: &TokenDigest) -> String {
        let mut k = self.token_base(&d.grant());
        k.push_str(&d.hash_hex());
        k
    }

    pub(crate) fn grant(&self, grant: &GrantId) -> String {
        format!("{}g:{{{grant}}}", self.prefix)
    }

    pub(crate) fn client(&self, id: &ClientId) -> String {
        self.by_client("c", id)
    }

    /// The starts of every client key, for broadcast tracking.
    pub(crate) fn client_prefixes(&self) -> Vec<String> {
        vec![format!("{}c:", self.prefix), format!("{}cx:", self.prefix)]
    }

    pub(crate) fn limiter(&self, id: &ClientId) -> String {
        self.by_client("l", id)
    }

    fn by_client(&self, kind: &str, id: &ClientId) -> String {
        let id = id.as_str();
        if id.contains(['{', '}']) {
            let mut k = format!("{}{kind}x:", self.prefix);
            for b in id.bytes() {
                k.push_str(&format!("{b:02x}"));
            }
            k
        } else {
            format!("{}{kind}:{id}", self.prefix)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let k = Keys::new("app:").unwrap();
        let g = GrantId::from_bytes([0; 16]);
        let d = TokenDigest::new(g, [0xab; 32]);
        assert_eq!(k.token(&d), format!("app:t:{{AAAAAAAAAAAAAAAAAAAAAA}}:{}", "ab".repeat(32)));
        assert_eq!(k.grant(&g), "app:g:{AAAAAAAAAAAAAAAAAAAAAA}");
        assert_eq!(k.client(&ClientId::new("web").unwrap()), "app:c:web");
        assert_eq!(k.client(&ClientId::new("a{b}").unwrap()), "app:cx:617b627d");
        assert_eq!(k.limiter(&ClientId::new("rs").unwrap()), "app:l:rs");
        assert!(matches!(Keys::new("x{y}"), Err(Error::InvalidPrefix)));
    }
}
