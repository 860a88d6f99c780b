//! The only module that touches `sha2`, `hmac`, `subtle` and the OS random
//! source. Everything secret passes through here.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Errors
/// [`RandomError`] when the OS refuses to provide randomness; callers treat
/// this as fatal for the request (fail closed), never fall back.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(RandomError)?;
    Ok(buf)
}

/// A fresh random secret: 256 bits from the OS random source, as 43
/// base64url characters (no padding), so it fits a URL, a form field or a
/// cookie as it is. For one-time values an app makes next to the core, such
/// as CSRF tokens. `Debug` prints a placeholder; there is no `Display`, so
/// the text is reached only on purpose, through [`as_str`](Self::as_str).
#[derive(Clone)]
pub struct RandomSecret(String);

impl RandomSecret {
    /// Draws a new secret.
    ///
    /// # Errors
    /// [`RandomError`] when the OS random source fails; there is no fallback.
    pub fn generate() -> Result<Self, RandomError> {
        use base64::Engine as _;
        let raw: [u8; 32] = random_bytes()?;
        Ok(Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)))
    }

    /// The secret's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The secret's text, taking it out of its wrapper.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for RandomSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RandomSecret(<redacted>)")
    }
}

/// The OS random source failed. Keeps the OS error (`getrandom::Error` is
/// not a `std::error::Error` without its `std` feature, so it is shown in
/// the message rather than as the source).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(getrandom::Error);

/// SHA-256 over a short domain tag and a message.
///
/// The domain tag separates digests of different kinds of secret (access
/// token, refresh token, code, client secret), so that a digest of one can
/// never be mistaken for a digest of another.
pub(crate) fn domain_digest(domain: &[u8], message: &[u8]) -> [u8; 32] {
    #[cfg(test)]
    work::count(&work::DIGESTS);
    let mut h = Sha256::new();
    h.update(domain);
    h.update(message);
    h.finalize().into()
}

/// RFC 7636 §4.6: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) ==
/// code_challenge`, compared in constant time.
pub(crate) fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    use base64::Engine as _;
    let digest: [u8; 32] = Sha256::digest(verifier.as_bytes()).into();
    let mut encoded = [0u8; 43];
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(digest, &mut encoded).unwrap_or(0);
    n == 43 && ct_eq(&encoded, challenge.as_bytes())
}

/// Whether `a` equals `b`, in time that depends only on their lengths,
/// never on where they differ: for comparing a presented secret (a CSRF
/// token, a key) with the expected one. Lengths are not secret: unequal
/// lengths return `false` at once.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    ct_eq(a, b)
}

/// Constant-time equality of two byte strings. Length is not secret.
///
/// Compared eight bytes at a time: `subtle`'s comparison of byte slices
/// hides every byte from the optimiser separately (a `black_box` each,
/// about 350 instructions for a 32-byte digest), where one per word gives
/// the same guarantee (no branch and no early exit on the data) at a
/// quarter of the cost. Each word and the tail are still compared by
/// `subtle`, and the results combined with its `Choice`.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    #[cfg(test)]
    work::count(&work::COMPARISONS);
    if a.len() != b.len() {
        return false;
    }
    let (words_a, words_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut equal = words_a.remainder().ct_eq(words_b.remainder());
    for (x, y) in words_a.zip(words_b) {
        equal &= word(x).ct_eq(&word(y));
    }
    equal.into()
}

/// Eight bytes as a word; `chunk` is always eight bytes long.
#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_le_bytes(w)
}

/// An HMAC-SHA256 key with its keyed state precomputed, so each tag costs two
/// compression calls instead of four.
#[derive(Clone)]
pub(crate) struct MacKey {
    keyed: HmacSha256,
}

impl MacKey {
    pub(crate) fn new(secret: &[u8]) -> Self {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let keyed = <HmacSha256 as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        Self { keyed }
    }

    /// The tag over the concatenation of `parts`.
    pub(crate) fn tag(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// Verifies `tag` over `parts` in constant time (with [`ct_eq`], which
    /// costs a quarter of `hmac`'s own `verify_slice`).
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        ct_eq(&self.tag(parts), tag)
    }
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

/// Counts of the work done on this thread, for tests that prove two paths
/// do the same work (client authentication's failures).
#[cfg(test)]
pub(crate) mod work {
    use std::cell::Cell;
    use std::thread::LocalKey;

    thread_local! {
        /// Calls of `domain_digest`.
        pub(crate) static DIGESTS: Cell<usize> = const { Cell::new(0) };
        /// Calls of `ct_eq`.
        pub(crate) static COMPARISONS: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn count(counter: &'static LocalKey<Cell<usize>>) {
        counter.with(|c| c.set(c.get() + 1));
    }

    /// Digests and comparisons on this thread since the last call.
    pub(crate) fn take() -> (usize, usize) {
        (DIGESTS.with(|c| c.replace(0)), COMPARISONS.with(|c| c.replace(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_source_failure_keeps_the_os_error() {
        let e = RandomError(getrandom::Error::UNSUPPORTED);
        assert!(e.to_string().ends_with(&getrandom::Error::UNSUPPORTED.to_string()), "{e}");
    }

    #[test]
    fn domain_separates_digests() {
        assert_ne!(domain_digest(b"a", b"x"), domain_digest(b"b", b"x"));
    }

    #[test]
    fn mac_verifies_its_own_tag_and_rejects_others() {
        let k = MacKey::new(b"key one");
        let t = k.tag(&[b"ab", b"c"]);
        assert!(k.verify(&[b"a", b"bc"], &t));
        assert!(!k.verify(&[b"abd"], &t));
        assert!(!MacKey::new(b"key two").verify(&[b"abc"], &t));
        assert!(!k.verify(&[b"abc"], &t[..31]));
    }

    #[test]
    fn random_bytes_differ() {
        let a: [u8; 32] = random_bytes().unwrap();
        let b: [u8; 32] = random_bytes().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn pkce_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_s256_matches(verifier, challenge));
        assert!(!pkce_s256_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl", challenge));
        assert!(!pkce_s256_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"));
    }

    #[test]
    fn random_secrets_are_long_url_safe_distinct_and_redacted() {
        let a = RandomSecret::generate().unwrap();
        let b = RandomSecret::generate().unwrap();
        assert_eq!(a.as_str().len(), 43);
        assert!(
            a.as_str().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{}",
            a.as_str()
        );
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(format!("{a:?}"), "RandomSecret(<redacted>)");
        let text = a.as_str().to_owned();
        assert_eq!(a.into_string(), text);
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"toke"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn ct_eq_sees_a_difference_in_every_byte_of_words_and_tail() {
        for len in [0usize, 1, 7, 8, 9, 16, 31, 32, 33, 43, 64] {
            let a: Vec<u8> = (0..len).map(|i| i as u8 ^ 0xa5).collect();
            assert!(ct_eq(&a, &a.clone()), "{len}");
            for i in 0..len {
                for bit in 0..8 {
                    let mut b = a.clone();
                    b[i] ^= 1 << bit;
                    assert!(!ct_eq(&a, &b), "{len} {i} {bit}");
                }
            }
        }
    }
}
