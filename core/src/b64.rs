//! Base64 (RFC 4648) for the fixed shapes on the hot path: the base64url
//! text of ids and token bodies (encoding), and the standard-alphabet
//! credentials of a Basic `Authorization` header (decoding).
//!
//! Every request does one or the other, and the `base64` crate's general
//! engine costs two to three times these table-driven loops (measured with
//! callgrind: about 450 instructions to encode a 16-byte id, 970 for a
//! token body, 680 to decode a Basic header, against 100, 300 and 250).
//! The tests compare both with `base64` on arbitrary input, so they accept
//! and produce exactly what it does.

/// The base64url alphabet (RFC 4648 §5).
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A value no character of an alphabet has.
const INVALID: u8 = 0xff;

/// The value of each character of `alphabet`, and [`INVALID`] for every
/// other byte (`=` too: padding is handled apart).
const fn values_of(alphabet: &[u8; 64]) -> [u8; 256] {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
}

/// The value of each character of the standard alphabet (RFC 4648 §4).
const STANDARD_VALUES: [u8; 256] =
    values_of(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

/// The value of each character of the base64url alphabet (RFC 4648 §5).
pub(crate) const URL_SAFE_VALUES: [u8; 256] = values_of(URL_SAFE);

/// The length of the unpadded base64 text of `n` bytes.
pub(crate) const fn encoded_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// Writes `bytes` as unpadded base64url into `out`, which has exactly the
/// right length (checked when compiling), and returns it as text.
pub(crate) fn encode_url<'o, const N: usize, const M: usize>(
    bytes: &[u8; N],
    out: &'o mut [u8; M],
) -> &'o str {
    encode_url_ascii(bytes, out);
    // Every byte is from the alphabet, so this never fails.
    std::str::from_utf8(out).unwrap_or_default()
}

/// [`encode_url`] for a caller that writes the characters out as bytes
/// (the JSON writer): the same, without checking them as text.
pub(crate) fn encode_url_ascii<const N: usize, const M: usize>(bytes: &[u8; N], out: &mut [u8; M]) {
    const { assert!(M == encoded_len(N), "the output must have the encoded length") };
    let char_of = |v: u32| URL_SAFE[(v & 63) as usize];
    let triples = bytes.chunks_exact(3);
    let rest = triples.remainder();
    let mut quads = out.chunks_exact_mut(4);
    for (t, q) in triples.zip(&mut quads) {
        let n = (u32::from(t[0]) << 16) | (u32::from(t[1]) << 8) | u32::from(t[2]);
        q.copy_from_slice(&[char_of(n >> 18), char_of(n >> 12), char_of(n >> 6), char_of(n)]);
    }
    let tail = quads.into_remainder();
    match (rest, tail) {
        ([a], [x, y]) => {
            let n = u32::from(*a) << 4;
            (*x, *y) = (char_of(n >> 6), char_of(n));
        }
        ([a, b], [x, y, z]) => {
            let n = (u32::from(*a) << 10) | (u32::from(*b) << 2);
            (*x, *y, *z) = (char_of(n >> 12), char_of(n >> 6), char_of(n));
        }
        // No remainder: the lengths agree by the assertion above.
        _ => {}
    }
}

/// Decodes padded standard base64 (RFC 4648 §4) as `base64`'s `STANDARD`
/// engine does: a length that is a multiple of 4, `=` only as the last one
/// or two characters, and the spare bits before padding zero. Writes into
/// the front of `out` and returns how many bytes, or `None` when the text
/// is not such base64 or `out` is shorter than `text.len() / 4 * 3`.
pub(crate) fn decode_standard(text: &[u8], out: &mut [u8]) -> Option<usize> {
    if text.len() % 4 != 0 || out.len() < text.len() / 4 * 3 {
        return None;
    }
    let Some((quads, last)) = text.split_last_chunk::<4>() else {
        return Some(0);
    };
    let value = |c: u8| STANDARD_VALUES[usize::from(c)];
    let mut bad = 0u8;
    let mut written = 0;
    // Eight characters (six bytes) a step, then the odd four before the
    // last four.
    let eights = quads.chunks_exact(8);
    let odd = eights.remainder();
    for (e, six) in eights.zip(out.chunks_exact_mut(6)) {
        let v: [u8; 8] = std::array::from_fn(|i| value(e[i]));
        bad |= v.iter().fold(0, |acc, &x| acc | x);
        let n = v.iter().fold(0u64, |acc, &x| (acc << 6) | u64::from(x));
        six.copy_from_slice(&n.to_be_bytes()[2..]);
        written += 6;
    }
    if let [a, b, c, d] = *odd {
        let [a, b, c, d] = [a, b, c, d].map(value);
        bad |= a | b | c | d;
        let n = (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(c) << 6) | u32::from(d);
        out[written..written + 3].copy_from_slice(&n.to_be_bytes()[1..]);
        written += 3;
    }
    let tail = &mut out[written..];
    let (a, b) = (value(last[0]), value(last[1]));
    bad |= a | b;
    let n = (u32::from(a) << 18) | (u32::from(b) << 12);
    let more = match (last[2], last[3]) {
        (b'=', b'=') => {
            // Canonical: the 4 bits after the one byte are zero.
            bad |= u8::from(b & 0x0f != 0) << 7;
            tail[0] = (n >> 16) as u8;
            1
        }
        (c, b'=') => {
            let c = value(c);
            // Canonical: the 2 bits after the two bytes are zero.
            bad |= c | (u8::from(c & 0x03 != 0) << 7);
            let n = n | (u32::from(c) << 6);
            tail[..2].copy_from_slice(&n.to_be_bytes()[1..3]);
            2
        }
        (c, d) => {
            let (c, d) = (value(c), value(d));
            bad |= c | d;
            let n = n | (u32::from(c) << 6) | u32::from(d);
            tail[..3].copy_from_slice(&n.to_be_bytes()[1..]);
            3
        }
    };
    // `INVALID` has its top bits set, every value is below 64, and the
    // spare-bit checks above set the top bit when they fail.
    (bad < 64).then_some(written + more)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    use proptest::prelude::*;

    fn decoded(text: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0u8; text.len() / 4 * 3];
        decode_standard(text, &mut out).map(|n| out[..n].to_vec())
    }

    #[test]
    fn encodes_like_base64() {
        let bytes: [u8; 80] = std::array::from_fn(|i| (i * 37 + 11) as u8);
        assert_eq!(encode_url(&bytes, &mut [0; 107]), URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(encode_url(&[0xffu8; 16], &mut [0; 22]), URL_SAFE_NO_PAD.encode([0xffu8; 16]));
        assert_eq!(encode_url(&[0xfbu8; 32], &mut [0; 43]), URL_SAFE_NO_PAD.encode([0xfbu8; 32]));
        assert_eq!(encode_url(&[0u8; 3], &mut [0; 4]), "AAAA");
        assert_eq!(encode_url(&[], &mut [0; 0]), "");
    }

    #[test]
    fn decodes_padding_and_refuses_what_base64_refuses() {
        assert_eq!(decoded(b""), Some(vec![]));
        assert_eq!(decoded(b"YQ=="), Some(b"a".to_vec()));
        assert_eq!(decoded(b"YWI="), Some(b"ab".to_vec()));
        assert_eq!(decoded(b"YWJj"), Some(b"abc".to_vec()));
        assert_eq!(decoded(b"+/+/"), Some(vec![0xfb, 0xff, 0xbf]));
        for bad in [&b"YQ"[..], b"YR==", b"YWJ=", b"Y===", b"====", b"YQ==YQ==", b"Y=Q=", b"-_-_", b"YW J"] {
            assert_eq!(decoded(bad), None, "{:?}", String::from_utf8_lossy(bad));
            assert!(STANDARD.decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Too small an output is refused, not a panic.
        assert_eq!(decode_standard(b"YWJj", &mut [0; 2]), None);
    }

    /// Every position of every group (the eight-character steps, the odd
    /// four, the last four), for inputs of 0 to 40 bytes: a character
    /// outside the alphabet there is refused, as `base64` refuses it, and
    /// any other character decodes as `base64` decodes it.
    #[test]
    fn each_position_is_checked() {
        for len in 0..=40usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 29 + 7) as u8).collect();
            let text = STANDARD.encode(&bytes).into_bytes();
            assert_eq!(decoded(&text), Some(bytes));
            for i in 0..text.len() {
                for c in [b'=', b'-', b'_', b'!', b' ', 0, 0x80, b'A', b'/'] {
                    let mut t = text.clone();
                    t[i] = c;
                    assert_eq!(decoded(&t), STANDARD.decode(&t).ok(), "{len} bytes, {i}: {c}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn encodes_any_id_like_base64(bytes in any::<[u8; 16]>()) {
            let mut out = [0; 22];
            prop_assert_eq!(encode_url(&bytes, &mut out), URL_SAFE_NO_PAD.encode(bytes));
        }

        #[test]
        fn encodes_any_short_input_like_base64(a in any::<[u8; 1]>(), b in any::<[u8; 2]>(), c in any::<[u8; 5]>()) {
            let (mut x, mut y, mut z) = ([0; 2], [0; 3], [0; 7]);
            prop_assert_eq!(encode_url(&a, &mut x), URL_SAFE_NO_PAD.encode(a));
            prop_assert_eq!(encode_url(&b, &mut y), URL_SAFE_NO_PAD.encode(b));
            prop_assert_eq!(encode_url(&c, &mut z), URL_SAFE_NO_PAD.encode(c));
        }

        /// Any text decodes exactly when `base64`'s `STANDARD` decodes it,
        /// to the same bytes. Near-valid texts are frequent: mostly the
        /// alphabet and `=`, with a few other bytes.
        #[test]
        fn decodes_any_text_like_base64(
            text in proptest::collection::vec(
                prop_oneof![
                    8 => proptest::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".to_vec()),
                    2 => Just(b'='),
                    1 => any::<u8>(),
                ],
                0..24,
            )
        ) {
            prop_assert_eq!(decoded(&text), STANDARD.decode(&text).ok());
        }

        /// The same on texts of the right shape (whole quads, padding only
        /// at the end), where the spare bits before padding decide.
        #[test]
        fn decodes_any_padded_shape_like_base64(
            text in "([A-Za-z0-9+/]{4}){0,3}[A-Za-z0-9+/]{2}(==|[A-Za-z0-9+/]=|[A-Za-z0-9+/]{2})"
        ) {
            prop_assert_eq!(decoded(text.as_bytes()), STANDARD.decode(&text).ok());
        }

        /// Whatever `base64` encodes decodes back.
        #[test]
        fn decodes_any_encoding(bytes in proptest::collection::vec(any::<u8>(), 0..70)) {
            prop_assert_eq!(decoded(STANDARD.encode(&bytes).as_bytes()), Some(bytes));
        }
    }
}
