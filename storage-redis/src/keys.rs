//! The key layout. Every key starts with the configured prefix; every key
//! of one grant carries the hash tag `{<grant id>}`, so a grant's keys live
//! in one Redis Cluster slot and its multi-key scripts stay legal there.
//!
//! | key                          | value                                         | TTL                        |
//! |------------------------------|-----------------------------------------------|----------------------------|
//! | `<p>t:{<grant>}:<hash hex>`  | one state byte (`a`/`r`/`c`) + binary record  | expiry + grace             |
//! | `<p>g:{<grant>}`             | hash: `<hash hex>` → `1` per token, `!revoked` | longest token TTL of grant |
//! | `<p>c:<client id>`           | client JSON (secret digest only)              | none                       |
//! | `<p>f:<client id>`           | limiter: `<t>:<d>` + one `-` per refund (s; debt, 1/60 answer) | until recovered (none at rate 0) |
//! | `<p>clients`                 | sorted set of client ids, all scored 0 (listing by `ZRANGEBYLEX`) | none |
//! | `<p>seeded`                  | the registry's seed marker: a Unix time       | none                       |
//! | `<p>k:<client id>`           | sorted set: grant id → grant end (unix s)     | latest grant end + grace   |
//! | `<p>s:<subject>`             | sorted set: grant id + client id → grant end  | latest grant end + grace   |
//!
//! The client index holds the ids as registered (never hex-encoded): a
//! sorted set member is not a key, so no hash tag can come of it. It lives
//! in one slot and each client key in its own, so a client write updates
//! the two with two commands, ordered so that a client that exists is
//! always indexed (see `RedisStore::put_client`).
//! A client id or subject containing `{` or `}` is hex-encoded
//! (`cx:`/`fx:`/`kx:`/`sx:`), so no caller-chosen text can become a hash
//! tag.

use gatehouse_core::model::{ClientId, GrantId, Subject, TokenDigest};

use crate::RedisError;

#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Result<Self, RedisError> {
        if prefix.contains(['{', '}']) {
            return Err(RedisError::InvalidPrefix);
        }
        Ok(Self { prefix: prefix.to_owned() })
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The common start of every token key of `grant` (the revoke-grant
    /// script appends a member's hash hex).
    pub(crate) fn token_base(&self, grant: &GrantId) -> String {
        let mut k = String::with_capacity(self.prefix.len() + 27 + 64);
        self.push_token_base(&mut k, grant);
        k
    }

    // Keys are built on every request, so they are written into one
    // allocation of the right size rather than through `format!`, which
    // cost about as much as the rest of the key's handling together.
    fn push_token_base(&self, k: &mut String, grant: &GrantId) {
        k.push_str(&self.prefix);
        k.push_str("t:{");
        k.push_str(grant.encode_into(&mut [0u8; 22]));
        k.push_str("}:");
    }

    pub(crate) fn token(&self, d: &TokenDigest) -> String {
        let mut k = String::with_capacity(self.prefix.len() + 27 + 64);
        self.push_token_base(&mut k, &d.grant());
        push_hex(&mut k, d.hash());
        k
    }

    pub(crate) fn grant(&self, grant: &GrantId) -> String {
        let mut k = String::with_capacity(self.prefix.len() + 25);
        k.push_str(&self.prefix);
        k.push_str("g:{");
        k.push_str(grant.encode_into(&mut [0u8; 22]));
        k.push('}');
        k
    }

    pub(crate) fn client(&self, id: &ClientId) -> String {
        self.by_client("c", id)
    }

    /// The starts of every client key, for broadcast tracking.
    pub(crate) fn client_prefixes(&self) -> Vec<String> {
        vec![format!("{}c:", self.prefix), format!("{}cx:", self.prefix)]
    }

    /// The sorted set of every registered client id.
    pub(crate) fn client_index(&self) -> String {
        format!("{}clients", self.prefix)
    }

    /// The registry's seed marker.
    pub(crate) fn seeded(&self) -> String {
        format!("{}seeded", self.prefix)
    }

    pub(crate) fn limiter(&self, id: &ClientId) -> String {
        // `f`, not the `b` of the hash layout before it: an old entry is
        // never read as a new one (it would be a type error); it expires.
        self.by_client("f", id)
    }

    /// The bulk-revocation index of a client's grants.
    pub(crate) fn client_grants(&self, id: &ClientId) -> String {
        self.by_client("k", id)
    }

    /// The bulk-revocation index of a subject's grants.
    pub(crate) fn subject_grants(&self, subject: &Subject) -> String {
        self.by_id("s", subject.as_str())
    }

    fn by_client(&self, kind: &str, id: &ClientId) -> String {
        self.by_id(kind, id.as_str())
    }

    fn by_id(&self, kind: &str, id: &str) -> String {
        let hex = id.contains(['{', '}']);
        let len = if hex { 2 * id.len() } else { id.len() };
        let mut k = String::with_capacity(self.prefix.len() + kind.len() + 2 + len);
        k.push_str(&self.prefix);
        k.push_str(kind);
        if hex {
            k.push_str("x:");
            push_hex(&mut k, id.as_bytes());
        } else {
            k.push(':');
            k.push_str(id);
        }
        k
    }
}

/// Appends the lower-case hex of `bytes`, a chunk at a time (pushing
/// character by character cost more than the rest of a token key).
fn push_hex(k: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for chunk in bytes.chunks(32) {
        let mut buf = [0u8; 64];
        for (pair, &b) in buf.chunks_exact_mut(2).zip(chunk) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xf)];
        }
        // Only ASCII digits were written.
        k.push_str(std::str::from_utf8(&buf[..2 * chunk.len()]).unwrap_or_default());
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
        assert_eq!(k.limiter(&ClientId::new("rs").unwrap()), "app:f:rs");
        assert_eq!(k.limiter(&ClientId::new("a{b}").unwrap()), "app:fx:617b627d");
        assert_eq!((k.client_index(), k.seeded()), ("app:clients".to_owned(), "app:seeded".to_owned()));
        // Neither starts like a client key, so client tracking ignores them.
        assert!(k.client_prefixes().iter().all(|p| !k.client_index().starts_with(p.as_str())));
        assert_eq!(k.token_base(&g), "app:t:{AAAAAAAAAAAAAAAAAAAAAA}:");
        let d = TokenDigest::new(GrantId::from_bytes([0xfb; 16]), core::array::from_fn(|i| i as u8 * 8));
        assert_eq!(k.token(&d), format!("app:t:{{{}}}:{}", d.grant(), d.hash_hex()));
        let long = ClientId::new(&"{".repeat(40)).unwrap();
        assert_eq!(k.limiter(&long), format!("app:fx:{}", "7b".repeat(40)));
        assert!(matches!(Keys::new("x{y}"), Err(RedisError::InvalidPrefix)));
        assert_eq!(k.client_grants(&ClientId::new("web").unwrap()), "app:k:web");
        assert_eq!(k.client_grants(&ClientId::new("a{b}").unwrap()), "app:kx:617b627d");
        assert_eq!(k.subject_grants(&Subject::new("alice").unwrap()), "app:s:alice");
        assert_eq!(k.subject_grants(&Subject::new("}").unwrap()), "app:sx:7d");
    }
}
