//! Byte scans eight bytes at a time (SWAR), for the checks every request
//! makes over its token: "is there anything to percent-decode?" and "is
//! there anything to escape in JSON?". Most inputs have nothing, so the
//! answer comes from a few word operations instead of a loop per byte.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether some byte of `w` is zero. Exact: the classic
/// `(w - 0x01..) & !w & 0x80..` is non-zero iff a byte is zero.
const fn has_zero(w: u64) -> bool {
    (w.wrapping_sub(ONES) & !w & HIGHS) != 0
}

/// Whether some byte of `w` equals `b`.
const fn has_byte(w: u64, b: u8) -> bool {
    has_zero(w ^ (ONES * b as u64))
}

/// Whether some byte of `w` is below `n` (exact for `n <= 128`).
const fn has_less(w: u64, n: u8) -> bool {
    (w.wrapping_sub(ONES * n as u64) & !w & HIGHS) != 0
}

/// Applies `word` to each 8-byte word of `bytes` and `byte` to the rest.
fn any_in(bytes: &[u8], word: impl Fn(u64) -> bool, byte: impl Fn(u8) -> bool) -> bool {
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        if word(u64::from_le_bytes(a)) {
            return true;
        }
    }
    words.remainder().iter().any(|&b| byte(b))
}

/// The position of the first `b` in `bytes`.
pub(crate) fn find_byte(bytes: &[u8], b: u8) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        if has_byte(u64::from_le_bytes(a), b) {
            return w.iter().position(|&x| x == b).map(|i| at + i);
        }
        at += 8;
    }
    words.remainder().iter().position(|&x| x == b).map(|i| at + i)
}

/// Splits `bytes` at every `sep`, like `slice::split`, finding each
/// separator a word at a time.
pub(crate) fn split_at_byte(bytes: &[u8], sep: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let r = rest?;
        match find_byte(r, sep) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Whether `bytes` contains `a` or `b`.
pub(crate) fn contains_either(bytes: &[u8], a: u8, b: u8) -> bool {
    any_in(bytes, |w| has_byte(w, a) || has_byte(w, b), |x| x == a || x == b)
}

/// Whether some byte must be escaped in a JSON string (RFC 8259 §7): a
/// control character, `"` or `\`.
pub(crate) fn needs_json_escape(bytes: &[u8]) -> bool {
    any_in(bytes, |w| has_less(w, 0x20) || has_byte(w, b'"') || has_byte(w, b'\\'), is_json_special)
}

/// The byte-at-a-time form of [`needs_json_escape`].
pub(crate) fn is_json_special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The word scans agree with plain byte loops on any input.
        #[test]
        fn agree_with_byte_loops(bytes in proptest::collection::vec(prop_oneof![Just(b'&'), any::<u8>()], 0..40)) {
            prop_assert_eq!(
                contains_either(&bytes, b'%', b'+'),
                bytes.iter().any(|&b| b == b'%' || b == b'+')
            );
            prop_assert_eq!(needs_json_escape(&bytes), bytes.iter().any(|&b| is_json_special(b)));
            prop_assert_eq!(find_byte(&bytes, b'&'), bytes.iter().position(|&b| b == b'&'));
            prop_assert_eq!(
                split_at_byte(&bytes, b'&').collect::<Vec<_>>(),
                bytes.split(|&b| b == b'&').collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn every_position_and_every_byte() {
        for pos in 0..17 {
            for b in 0..=255u8 {
                let mut v = vec![b'a'; 17];
                v[pos] = b;
                assert_eq!(contains_either(&v, b'%', b'+'), b == b'%' || b == b'+', "{pos} {b}");
                assert_eq!(needs_json_escape(&v), is_json_special(b), "{pos} {b}");
                assert_eq!(find_byte(&v, b), v.iter().position(|&x| x == b), "{pos} {b}");
            }
        }
    }
}
