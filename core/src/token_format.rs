//! The opaque token format.
//!
//! ```text
//! gat_k1.<107 base64url chars>     access token
//! grt_k1.<...>                     refresh token
//! gac_k1.<...>                     authorization code
//!  |   |   \__ grant id (16 bytes) ‖ 32 random bytes
//!  |   |       ‖ HMAC-SHA256(key k1, prefix ‖ kid ‖ "." ‖ grant ‖ random)
//!  |   \______ key id (1–16 of A–Z a–z 0–9 -)
//!  \__________ kind prefix, for secret scanners and for routing
//! ```
//!
//! A forged, truncated or mistyped token fails the tag check before any
//! storage read. Backends receive only the grant id and a domain-separated
//! SHA-256 digest of the random part (see [`TokenDigest`]). The grant id is
//! not secret; it lets a backend keep a grant's tokens together. New grant
//! ids begin with the grant's start time in milliseconds, so a token tells
//! its holder when its grant began, as a JWT's `iat` would; the secret is
//! the 256 random bits alone ([`GrantId::time_ordered`] says why and what
//! that reveals).

use std::fmt;

use crate::b64::{self, URL_SAFE_VALUES as B64URL};
use crate::crypto::{self, MacKey};
use crate::error::Error;
use crate::model::{GrantId, TokenDigest, TokenKind, ValueError};

const GRANT_LEN: usize = 16;
const RANDOM_LEN: usize = 32;
const TAG_LEN: usize = 32;
const BODY_LEN: usize = GRANT_LEN + RANDOM_LEN + TAG_LEN;
const BODY_B64_LEN: usize = 107; // base64url of 80 bytes, unpadded
const MAX_KID_LEN: usize = 16;
/// Shortest signing-key secret accepted.
pub const MIN_KEY_LEN: usize = 32;

const fn prefix(kind: TokenKind) -> &'static [u8; 4] {
    match kind {
        TokenKind::Access => b"gat_",
        TokenKind::Refresh => b"grt_",
        TokenKind::AuthorizationCode => b"gac_",
    }
}

// Eight bytes each: with the 32 random bytes the digest input fits one
// SHA-256 block.
const fn digest_domain(kind: TokenKind) -> &'static [u8; 8] {
    match kind {
        TokenKind::Access => b"gh-at-v1",
        TokenKind::Refresh => b"gh-rt-v1",
        TokenKind::AuthorizationCode => b"gh-ac-v1",
    }
}

fn kind_of_prefix(p: &[u8]) -> Option<TokenKind> {
    match p {
        b"gat_" => Some(TokenKind::Access),
        b"grt_" => Some(TokenKind::Refresh),
        b"gac_" => Some(TokenKind::AuthorizationCode),
        _ => None,
    }
}

/// A token as handed to a client: the only place the raw value exists.
/// `Debug` prints a placeholder so it cannot reach a log by accident.
pub struct RawToken(String);

impl RawToken {
    /// The token text, to send to the client. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The token text, consuming the wrapper.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for RawToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawToken(<redacted>)")
    }
}

/// A key identifier: 1 to 16 characters of `A-Z a-z 0-9 -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId(String);

impl KeyId {
    /// Validates a key id.
    ///
    /// # Errors
    /// [`ValueError`] when the id is empty, too long or has other characters.
    pub fn new(s: &str) -> Result<Self, ValueError> {
        if s.is_empty() || s.len() > MAX_KID_LEN || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ValueError { what: "key id", rule: "must be 1 to 16 of A-Z a-z 0-9 -" });
        }
        Ok(Self(s.to_owned()))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a presented token was rejected before storage. Only used internally
/// and in tests: the client always sees the same inactive answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Not in the token syntax at all.
    Malformed,
    /// Well-formed, but names a key id we do not have.
    UnknownKey,
    /// Well-formed, known key, wrong tag: forged or corrupted.
    BadTag,
}

/// A token that passed the tag check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedToken {
    /// Its kind, from its prefix.
    pub kind: TokenKind,
    /// Its storage key.
    pub digest: TokenDigest,
}

/// The server's token keys: one signs, all verify (selected by key id), so
/// keys rotate without invalidating live tokens.
#[derive(Debug, Clone)]
pub struct Keyring {
    /// The signing key first, then the verify-only ones: never empty.
    keys: Vec<(KeyId, MacKey)>,
}

impl Keyring {
    /// A keyring that signs with `signing` and also verifies tokens signed
    /// by any of `verify_only` (older keys being rotated out).
    ///
    /// # Errors
    /// [`Error::Config`] when a secret is shorter than [`MIN_KEY_LEN`] bytes
    /// or two keys share an id.
    pub fn new(signing: (KeyId, &[u8]), verify_only: &[(KeyId, &[u8])]) -> Result<Self, Error> {
        let mut keys: Vec<(KeyId, MacKey)> = Vec::with_capacity(1 + verify_only.len());
        for (id, secret) in std::iter::once(&signing).chain(verify_only) {
            if secret.len() < MIN_KEY_LEN {
                return Err(Error::Config(format!(
                    "key {} is shorter than {MIN_KEY_LEN} bytes",
                    id.as_str()
                )));
            }
            if keys.iter().any(|(k, _)| k == id) {
                return Err(Error::Config(format!("key id {} appears twice", id.as_str())));
            }
            keys.push((id.clone(), MacKey::new(secret)));
        }
        Ok(Self { keys })
    }

    /// A keyring with one fresh random key, for tests and demos. Tokens do
    /// not survive a restart with such a key.
    ///
    /// # Errors
    /// [`Error::Random`] when the OS random source fails.
    pub fn random() -> Result<Self, Error> {
        let secret: [u8; 32] = crypto::random_bytes()?;
        let id = KeyId::new("r1").map_err(|e| Error::Config(e.to_string()))?;
        Self::new((id, &secret), &[])
    }

    /// Mints a new token of `kind` in `grant`: 256 random bits from the OS
    /// CSPRNG, tagged with the signing key.
    ///
    /// # Errors
    /// [`Error::Random`] when the OS random source fails.
    pub fn mint(&self, kind: TokenKind, grant: GrantId) -> Result<(RawToken, TokenDigest), Error> {
        Ok(self.mint_from(kind, grant, &crypto::random_bytes()?))
    }

    /// [`mint`](Self::mint) with its 32 random bytes drawn by the caller,
    /// for a caller that draws everything one request needs from the OS in
    /// one call.
    pub(crate) fn mint_from(
        &self,
        kind: TokenKind,
        grant: GrantId,
        random: &[u8; RANDOM_LEN],
    ) -> (RawToken, TokenDigest) {
        let (kid, key) = &self.keys[0];
        let pre = prefix(kind);
        let mut s = String::with_capacity(pre.len() + kid.0.len() + 1 + BODY_B64_LEN);
        // `pre` is ASCII by construction.
        s.push_str(std::str::from_utf8(pre).unwrap_or_default());
        s.push_str(&kid.0);
        s.push('.');
        let mut body = [0u8; BODY_LEN];
        body[..GRANT_LEN].copy_from_slice(grant.as_bytes());
        body[GRANT_LEN..GRANT_LEN + RANDOM_LEN].copy_from_slice(random);
        // The tag's input, prefix ‖ kid ‖ "." ‖ grant ‖ random, in two
        // contiguous parts (each part costs the MAC a buffer update).
        let tag = key.tag(&[s.as_bytes(), &body[..GRANT_LEN + RANDOM_LEN]]);
        body[GRANT_LEN + RANDOM_LEN..].copy_from_slice(&tag);
        s.push_str(b64::encode_url(&body, &mut [0; BODY_B64_LEN]));
        (RawToken(s), digest_of(kind, grant, random))
    }

    /// Checks a presented token's syntax, key id and tag, in that order,
    /// and returns its kind and storage key. No storage is touched.
    ///
    /// # Errors
    /// The [`Rejection`] reason.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, Rejection> {
        let t = token.as_bytes();
        if t.len() < 4 + 1 + 1 + BODY_B64_LEN || t.len() > 4 + MAX_KID_LEN + 1 + BODY_B64_LEN {
            return Err(Rejection::Malformed);
        }
        let kind = kind_of_prefix(&t[..4]).ok_or(Rejection::Malformed)?;
        let (head, body) = t.split_at(t.len() - BODY_B64_LEN);
        let kid = head[4..].strip_suffix(b".").ok_or(Rejection::Malformed)?;
        if kid.is_empty() {
            return Err(Rejection::Malformed);
        }
        let buf = decode_body(body).ok_or(Rejection::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|(id, _)| id.0.as_bytes() == kid)
            .map(|(_, k)| k)
            .ok_or(Rejection::UnknownKey)?;
        let (signed, tag) = buf.split_at(GRANT_LEN + RANDOM_LEN);
        let (grant, random) = signed.split_at(GRANT_LEN);
        // `head` is prefix ‖ kid ‖ ".": the tag's input in two parts, as
        // minted.
        if !key.verify(&[head, signed], tag) {
            return Err(Rejection::BadTag);
        }
        let mut g = [0u8; GRANT_LEN];
        g.copy_from_slice(grant);
        Ok(VerifiedToken { kind, digest: digest_of(kind, GrantId::from_bytes(g), random) })
    }
}

/// Decodes the token body: exactly 107 base64url characters, unpadded and
/// canonical (the last character's two spare bits are zero), into its 80
/// bytes. Every token is checked this way, valid or not, so it is a
/// table-driven loop over the fixed length rather than a general decoder
/// (measured: a third of the instructions of `base64`'s). The tests compare
/// it with `base64` on arbitrary input.
fn decode_body(body: &[u8]) -> Option<[u8; BODY_LEN]> {
    let chars: &[u8; BODY_B64_LEN] = body.try_into().ok()?;
    let mut out = [0u8; BODY_LEN];
    // 13 groups of 8 characters make 78 bytes; 3 characters make the last 2.
    let mut bad = 0u8;
    for (eight, six) in chars.chunks_exact(8).zip(out.chunks_exact_mut(6)) {
        let v: [u8; 8] = std::array::from_fn(|i| B64URL[usize::from(eight[i])]);
        bad |= v.iter().fold(0, |acc, &x| acc | x);
        let n = v.iter().fold(0u64, |acc, &x| (acc << 6) | u64::from(x));
        six.copy_from_slice(&n.to_be_bytes()[2..]);
    }
    let [a, b, c] = [chars[104], chars[105], chars[106]].map(|x| B64URL[usize::from(x)]);
    bad |= a | b | c;
    // `INVALID` has its top bits set; every valid value is below 64.
    if bad >= 64 || c & 0b11 != 0 {
        return None;
    }
    let n = (u32::from(a) << 10) | (u32::from(b) << 4) | (u32::from(c) >> 2);
    out[78..].copy_from_slice(&n.to_be_bytes()[2..]);
    Some(out)
}

fn digest_of(kind: TokenKind, grant: GrantId, random: &[u8]) -> TokenDigest {
    TokenDigest::new(grant, crypto::domain_digest(digest_domain(kind), random))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    fn ring(id: &str, secret: &[u8]) -> Keyring {
        Keyring::new((KeyId::new(id).unwrap(), secret), &[]).unwrap()
    }

    const G: GrantId = GrantId::from_bytes([7; 16]);
    const K1: &[u8] = b"0123456789abcdef0123456789abcdef";
    const K2: &[u8] = b"fedcba9876543210fedcba9876543210";

    #[test]
    fn minted_tokens_verify_with_kind_and_digest() {
        let r = ring("k1", K1);
        for kind in [TokenKind::Access, TokenKind::Refresh, TokenKind::AuthorizationCode] {
            let (raw, digest) = r.mint(kind, G).unwrap();
            let v = r.verify(raw.expose()).unwrap();
            assert_eq!(v, VerifiedToken { kind, digest });
            assert!(raw.expose().len() >= 110);
            assert_eq!(v.digest.grant(), G);
        }
        let (a, _) = r.mint(TokenKind::Access, G).unwrap();
        assert!(a.expose().starts_with("gat_k1."));
        assert_eq!(format!("{a:?}"), "RawToken(<redacted>)");
    }

    #[test]
    fn tokens_are_unique() {
        let r = ring("k1", K1);
        let (a, da) = r.mint(TokenKind::Access, G).unwrap();
        let (b, db) = r.mint(TokenKind::Access, G).unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_ne!(da, db);
    }

    #[test]
    fn kind_swap_is_a_bad_tag() {
        let r = ring("k1", K1);
        let (a, _) = r.mint(TokenKind::Access, G).unwrap();
        let swapped = a.expose().replacen("gat_", "grt_", 1);
        assert_eq!(r.verify(&swapped), Err(Rejection::BadTag));
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let r = ring("k1", K1);
        let (a, _) = r.mint(TokenKind::Access, G).unwrap();
        let s = a.expose().to_owned();
        for i in 0..s.len() {
            let mut b = s.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(b).unwrap();
            assert!(r.verify(&t).is_err(), "change at {i} accepted");
        }
    }

    #[test]
    fn malformed_inputs() {
        let r = ring("k1", K1);
        let (a, _) = r.mint(TokenKind::Access, G).unwrap();
        let s = a.expose();
        assert_eq!(r.verify(""), Err(Rejection::Malformed));
        assert_eq!(r.verify(&s[..s.len() - 1]), Err(Rejection::Malformed));
        assert_eq!(r.verify(&format!("{s}A")), Err(Rejection::Malformed));
        assert_eq!(r.verify(&s.replacen("gat_", "xyz_", 1)), Err(Rejection::Malformed));
        assert_eq!(r.verify(&s.replacen('.', "_", 1)), Err(Rejection::Malformed));
        let no_kid = format!("gat_.{}", &s[7..]);
        assert_eq!(r.verify(&format!("{}{}", &s[..s.len() - 1], "\u{e9}")), Err(Rejection::Malformed));
        assert_eq!(r.verify(&no_kid), Err(Rejection::Malformed));
        assert_eq!(r.verify(&"é".repeat(50)), Err(Rejection::Malformed));
    }

    #[test]
    fn body_decoder_edges() {
        let zeros = URL_SAFE_NO_PAD.encode([0u8; BODY_LEN]);
        assert_eq!(decode_body(zeros.as_bytes()), Some([0u8; BODY_LEN]));
        let ones = URL_SAFE_NO_PAD.encode([0xffu8; BODY_LEN]);
        assert_eq!(decode_body(ones.as_bytes()), Some([0xffu8; BODY_LEN]));
        // The last character carries two spare bits, which must be zero.
        let mut loose = zeros.clone().into_bytes();
        loose[106] = b'B';
        assert_eq!(decode_body(&loose), None);
        assert_eq!(decode_body(&zeros.as_bytes()[1..]), None);
        assert_eq!(decode_body(format!("{zeros}A").as_bytes()), None);
        for c in [b'=', b'+', b'/', b'.', 0, 0x80, 0xff] {
            let mut bad = zeros.clone().into_bytes();
            bad[50] = c;
            assert_eq!(decode_body(&bad), None, "{c}");
        }
    }

    #[test]
    fn unknown_key_id() {
        let (a, _) = ring("k1", K1).mint(TokenKind::Access, G).unwrap();
        assert_eq!(ring("k2", K1).verify(a.expose()), Err(Rejection::UnknownKey));
    }

    #[test]
    fn same_kid_other_secret_is_a_bad_tag() {
        let (a, _) = ring("k1", K1).mint(TokenKind::Access, G).unwrap();
        assert_eq!(ring("k1", K2).verify(a.expose()), Err(Rejection::BadTag));
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let old = ring("k1", K1);
        let (a, d) = old.mint(TokenKind::Access, G).unwrap();
        let rotated =
            Keyring::new((KeyId::new("k2").unwrap(), K2), &[(KeyId::new("k1").unwrap(), K1)]).unwrap();
        assert_eq!(rotated.verify(a.expose()).unwrap().digest, d);
        let (b, _) = rotated.mint(TokenKind::Access, G).unwrap();
        assert!(b.expose().starts_with("gat_k2."));
    }

    #[test]
    fn keyring_rules() {
        assert!(Keyring::new((KeyId::new("k").unwrap(), b"short"), &[]).is_err());
        assert!(Keyring::new((KeyId::new("k").unwrap(), K1), &[(KeyId::new("k").unwrap(), K2)]).is_err());
        assert!(KeyId::new("bad id").is_err());
        assert!(KeyId::new(&"a".repeat(17)).is_err());
    }
}

#[cfg(test)]
mod decoder_props {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use proptest::prelude::*;

    proptest! {
        /// The token-body decoder accepts exactly what `base64` (url-safe,
        /// unpadded, canonical) accepts, with the same bytes.
        #[test]
        fn body_decoder_agrees_with_base64(
            bytes in proptest::collection::vec(any::<u8>(), BODY_LEN..=BODY_LEN),
            flips in proptest::collection::vec((0..BODY_B64_LEN, any::<u8>()), 0..3),
        ) {
            let mut text = URL_SAFE_NO_PAD.encode(&bytes).into_bytes();
            for (i, c) in flips {
                text[i] = c;
            }
            let mut want = [0u8; BODY_LEN + 4];
            let want = match URL_SAFE_NO_PAD.decode_slice(&text, &mut want) {
                Ok(BODY_LEN) => Some(want[..BODY_LEN].to_vec()),
                _ => None,
            };
            prop_assert_eq!(decode_body(&text).map(|b| b.to_vec()), want);
        }
    }
}
