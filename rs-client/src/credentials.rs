//! The resource server's own credentials, and the `client_secret_basic`
//! `Authorization` header made from them.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// A client secret. Its `Debug` prints a placeholder; it has no
/// `PartialEq` and no `Display`, so it cannot end up in a log by accident.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(***)")
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`: RFC 6749 §2.3.1
/// has the client id and secret "encoded using the
/// application/x-www-form-urlencoded encoding algorithm" before they go into
/// HTTP Basic, so a `:` in the id or a `+` in the secret survive (an
/// authorization server that decodes them, as gatehouse does, would
/// otherwise see another secret).
pub(crate) fn basic_authorization(client_id: &str, secret: &ClientSecret) -> String {
    let pair = format!("{}:{}", form_urlencode(client_id), form_urlencode(&secret.0));
    format!("Basic {}", STANDARD.encode(pair))
}

/// application/x-www-form-urlencoded (the WHATWG URL standard's
/// serializer): ASCII alphanumerics and `*-._` as they are, space as `+`,
/// every other byte of the UTF-8 as `%XX`.
pub(crate) fn form_urlencode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn form_urlencode_matches_the_standard() {
        assert_eq!(form_urlencode("Az09*-._"), "Az09*-._");
        assert_eq!(form_urlencode("a b+c:d%e/f=g&h~"), "a+b%2Bc%3Ad%25e%2Ff%3Dg%26h%7E");
        assert_eq!(form_urlencode("é"), "%C3%A9");
        assert_eq!(form_urlencode(""), "");
    }

    #[test]
    fn basic_header_encodes_id_and_secret_first() {
        // RFC 6749 §2.3.1 example-style: a ':' in the id and '+' in the secret.
        let h = basic_authorization("rs:1", &ClientSecret::new("p+ss word"));
        let raw = STANDARD.decode(h.strip_prefix("Basic ").unwrap()).unwrap();
        assert_eq!(raw, b"rs%3A1:p%2Bss+word");
    }

    #[test]
    fn secret_debug_is_a_placeholder() {
        let s = ClientSecret::new("super-secret-value");
        assert_eq!(format!("{s:?}"), "ClientSecret(***)");
    }

    /// Decodes the form encoding, as an authorization server does.
    fn form_decode(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        out
    }

    proptest! {
        #[test]
        fn form_urlencode_round_trips_and_is_header_safe(s in any::<String>()) {
            let e = form_urlencode(&s);
            prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"*-._+%".contains(&b)));
            prop_assert_eq!(form_decode(&e), s.as_bytes());
        }
    }
}
