//! A minimal JSON object writer for the response bodies the core sends.
//!
//! The bodies are flat objects of strings, numbers and string arrays.
//! Writing them straight into one buffer sized up front costs a fraction of
//! building a `serde_json::Value` or a derived serializer, and it is on the
//! hot path of every introspection. Strings are escaped per RFC 8259 §7, so
//! any text, even one a client chose, yields valid JSON.

use crate::b64;
use crate::scan;

/// "00", "01", ... "99": the two digits of each number below 100.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// An object being written. Call [`finish`](Self::finish) to close it.
pub(crate) struct Object {
    buf: Vec<u8>,
    empty: bool,
}

impl Object {
    /// A new object, with room for about `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        buf.push(b'{');
        Self { buf, empty: true }
    }

    /// Member names are the core's own constants, which need no escaping.
    /// Inlined, so each name's copy has a constant length.
    #[inline(always)]
    fn key(&mut self, name: &'static str) {
        debug_assert!(!scan::needs_json_escape(name.as_bytes()), "member names are plain");
        if !self.empty {
            self.buf.push(b',');
        }
        self.empty = false;
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// `"name":"value"`.
    #[inline]
    pub(crate) fn str(&mut self, name: &'static str, value: &str) -> &mut Self {
        self.key(name);
        string(&mut self.buf, value);
        self
    }

    /// `"name":"value"` for a constant value, which (like the names) needs
    /// no escaping: written without a scan.
    #[inline]
    pub(crate) fn constant(&mut self, name: &'static str, value: &'static str) -> &mut Self {
        debug_assert!(!scan::needs_json_escape(value.as_bytes()), "constant values are plain");
        self.key(name);
        self.buf.push(b'"');
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(b'"');
        self
    }

    /// `"name":"…"` with the unpadded base64url text of a 16-byte id (a
    /// `jti`, a grant id): written straight from the encoder, since its
    /// alphabet needs no escaping.
    pub(crate) fn id(&mut self, name: &'static str, bytes: &[u8; 16]) -> &mut Self {
        self.key(name);
        let mut text = [0u8; b64::encoded_len(16)];
        b64::encode_url_ascii(bytes, &mut text);
        self.buf.push(b'"');
        self.buf.extend_from_slice(&text);
        self.buf.push(b'"');
        self
    }

    /// `"name":value` for an unsigned number. Inlined, so that the name's
    /// copy has a constant length.
    #[inline]
    pub(crate) fn u64(&mut self, name: &'static str, value: u64) -> &mut Self {
        self.key(name);
        // Every Unix time from 2001 to 2286 has ten digits, and an answer
        // holds three: written as five pairs into a fixed array, copied
        // with a constant length.
        if (1_000_000_000..10_000_000_000).contains(&value) {
            let mut ten = [0u8; 10];
            let mut v = value;
            for i in (0..5).rev() {
                let pair = 2 * (v % 100) as usize;
                v /= 100;
                ten[2 * i..2 * i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
            }
            self.buf.extend_from_slice(&ten);
            return self;
        }
        // Two digits per division, from a table.
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = value;
        while v >= 100 {
            // `v % 100` is below 100.
            let pair = 2 * (v % 100) as usize;
            v /= 100;
            i -= 2;
            digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
        }
        if v >= 10 {
            let pair = 2 * v as usize;
            i -= 2;
            digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
        } else {
            i -= 1;
            // A single decimal digit.
            digits[i] = b'0' + v as u8;
        }
        self.buf.extend_from_slice(&digits[i..]);
        self
    }

    /// `"name":true` or `"name":false`.
    #[inline]
    pub(crate) fn bool(&mut self, name: &'static str, value: bool) -> &mut Self {
        self.key(name);
        self.buf.extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// `"name":["a","b"]`.
    #[inline]
    pub(crate) fn strs<'a>(
        &mut self,
        name: &'static str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> &mut Self {
        self.key(name);
        self.buf.push(b'[');
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            string(&mut self.buf, v);
        }
        self.buf.push(b']');
        self
    }

    /// The closed object's bytes.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        self.buf.push(b'}');
        std::mem::take(&mut self.buf)
    }
}

/// Writes `s` as a JSON string: `"` and `\` escaped, control characters as
/// `\u00XX`; everything else (valid UTF-8, since `s` is a `str`) as is.
fn string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Identifiers, scopes and URIs never need escaping: one scan and one
    // copy.
    if !scan::needs_json_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    while let Some(i) = bytes[start..].iter().position(|&b| scan::is_json_special(b)).map(|i| start + i) {
        out.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn writes_every_kind_of_member() {
        let body = Object::with_capacity(8)
            .bool("active", true)
            .str("scope", "read write")
            .u64("zero", 0)
            .u64("nine", 9)
            .u64("ten", 10)
            .u64("hundred", 100)
            .u64("time", 1_767_225_600)
            .u64("max", u64::MAX)
            .strs("aud", ["a", "b"])
            .strs("none", [])
            .constant("type", "Bearer")
            .id("id", &[0xfb; 16])
            .str("long", &"x".repeat(100))
            .finish();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            format!(
                r#"{{"active":true,"scope":"read write","zero":0,"nine":9,"ten":10,"hundred":100,"time":1767225600,"max":18446744073709551615,"aud":["a","b"],"none":[],"type":"Bearer","id":"-_v7-_v7-_v7-_v7-_v7-w","long":"{}"}}"#,
                "x".repeat(100)
            )
        );
        assert_eq!(Object::with_capacity(0).finish(), b"{}");
    }

    proptest! {
        /// Any text survives a round trip through a real JSON parser.
        #[test]
        fn any_string_round_trips(value in any::<String>(), other in any::<String>(), n in any::<u64>()) {
            let body = Object::with_capacity(0).str("v", &value).u64("n", n).strs("a", [&*other, &*value]).finish();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            prop_assert_eq!(v["v"].as_str(), Some(value.as_str()));
            prop_assert_eq!(v["n"].as_u64(), Some(n));
            prop_assert_eq!(v["a"][0].as_str(), Some(other.as_str()));
            prop_assert_eq!(v["a"][1].as_str(), Some(value.as_str()));
        }
    }

    #[test]
    fn numbers_at_every_digit_count_and_boundary() {
        let mut n = 1u64;
        let mut cases: Vec<u64> = (0..1000).collect();
        while let Some(m) = n.checked_mul(10) {
            cases.extend([n - 1, n, n + 1, m - 1]);
            n = m;
        }
        for v in cases {
            assert_eq!(Object::with_capacity(0).u64("n", v).finish(), format!(r#"{{"n":{v}}}"#).as_bytes());
        }
    }

    #[test]
    fn control_characters_and_quotes_are_escaped() {
        let body = Object::with_capacity(0).str("v", "a\"b\\c\n\r\t\u{1}\u{1f}é").finish();
        assert_eq!(std::str::from_utf8(&body).unwrap(), r#"{"v":"a\"b\\c\n\r\t\u0001\u001fé"}"#);
    }
}
