//! Validated identifiers. Each newtype checks its syntax once, at the edge,
//! so the rest of the code never sees an ill-formed value. One exception,
//! kept inside the core: client authentication looks a malformed client id
//! up as an id no client can have (`ClientId::lookup_key`).

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crypto::RandomError;

/// A value failed validation; the message names the rule, never the value
/// (it may be a mistyped secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {rule}")]
pub struct ValueError {
    /// What was being parsed.
    pub what: &'static str,
    /// The rule it broke.
    pub rule: &'static str,
}

const fn err(what: &'static str, rule: &'static str) -> ValueError {
    ValueError { what, rule }
}

macro_rules! arc_str_newtype {
    ($(#[$m:meta])* $name:ident, $what:literal, $check:path) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates and wraps `s`.
            ///
            /// # Errors
            /// [`ValueError`] when `s` breaks the syntax rule.
            pub fn new(s: &str) -> Result<Self, ValueError> {
                $check(s).map_err(|rule| err($what, rule))?;
                Ok(Self(Arc::from(s)))
            }

            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                Self::new(s)
            }
        }
    };
}

/// Longest client id [`ClientId::new`] accepts.
const MAX_CLIENT_ID_LEN: usize = 255;

/// RFC 6749 Appendix A.1: `client-id = *VSCHAR` (printable ASCII and space).
/// We also refuse the empty string and leading/trailing space, and cap the
/// length so a hostile id cannot bloat logs or keys.
fn check_client_id(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("must not be empty");
    }
    if s.len() > MAX_CLIENT_ID_LEN {
        return Err("longer than 255 bytes");
    }
    if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err("only printable ASCII is allowed (RFC 6749 A.1)");
    }
    if s.starts_with(' ') || s.ends_with(' ') {
        return Err("must not start or end with a space");
    }
    Ok(())
}

/// Whether `check_client_id` accepts `s`, decided without branching on its
/// bytes (only on its length, which whoever sent it knows): client
/// authentication decides with it, so a malformed id costs what a
/// well-formed one of its length costs, down to the branch predictor.
fn client_id_is_well_formed(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    let printable = b.iter().fold(true, |ok, &c| ok & (0x20..=0x7e).contains(&c));
    (b.len() <= MAX_CLIENT_ID_LEN) & printable & (first != b' ') & (last != b' ')
}

/// RFC 8707 §2: an absolute URI without a fragment. We check the parts that
/// matter for exact comparison: a scheme, no fragment, no white space.
fn check_resource(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > 2048 {
        return Err("must be 1 to 2048 bytes");
    }
    if !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err("only printable ASCII without spaces is allowed");
    }
    if s.contains('#') {
        return Err("must not contain a fragment (RFC 8707 section 2)");
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return Err("must be an absolute URI (RFC 8707 section 2)");
    };
    let mut sb = scheme.bytes();
    let scheme_ok = sb.next().is_some_and(|b| b.is_ascii_alphabetic())
        && sb.all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.');
    if !scheme_ok || rest.is_empty() {
        return Err("must be an absolute URI (RFC 8707 section 2)");
    }
    Ok(())
}

/// A subject is the app's own user identifier: any non-empty printable
/// UTF-8 without control characters, at most 255 bytes.
fn check_subject(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > 255 {
        return Err("must be 1 to 255 bytes");
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

arc_str_newtype!(
    /// A registered client's identifier (RFC 6749 §2.2).
    ClientId, "client_id", check_client_id
);
impl ClientId {
    /// The id to look a presented `client_id` up under, and whether it is
    /// well-formed: `s` itself when it is; otherwise an id that no client
    /// can be registered under (every registered id passed
    /// [`ClientId::new`]), so the lookup finds nothing, at the cost of
    /// looking up an unknown id. Client authentication looks malformed ids
    /// up this way so that refusing one is the same work as refusing an
    /// unknown or a known one.
    ///
    /// Such an id never leaves client authentication: it reaches only
    /// [`ClientRegistry::client`](crate::ClientRegistry::client). It is `s`
    /// itself when `s` is at most 255 bytes (it broke another rule), and
    /// otherwise the first bytes of `s` padded with NUL to 256 bytes (too
    /// long, whatever its first bytes), so a hostile id of any length
    /// costs a lookup of at most 256 bytes.
    pub(crate) fn lookup_key(s: &str) -> (Self, bool) {
        let well_formed = client_id_is_well_formed(s);
        if s.len() <= MAX_CLIENT_ID_LEN {
            return (Self(Arc::from(s)), well_formed);
        }
        let mut cut = MAX_CLIENT_ID_LEN + 1;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut long = String::with_capacity(MAX_CLIENT_ID_LEN + 1);
        long.push_str(&s[..cut]);
        long.extend(std::iter::repeat_n('\0', MAX_CLIENT_ID_LEN + 1 - cut));
        (Self(Arc::from(long)), false)
    }
}

arc_str_newtype!(
    /// A resource indicator (RFC 8707): the identifier of a protected
    /// resource, used as a token's audience.
    Resource, "resource", check_resource
);
arc_str_newtype!(
    /// The resource owner a token was issued for (`sub`, RFC 7662 §2.2).
    Subject, "subject", check_subject
);

macro_rules! random_id {
    ($(#[$m:meta])* $name:ident, $what:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 16]);

        impl $name {
            /// Wraps raw bytes (for backends decoding what they stored).
            pub const fn from_bytes(b: [u8; 16]) -> Self {
                Self(b)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            /// A fresh value from the OS CSPRNG.
            ///
            /// # Errors
            /// [`RandomError`] when the OS random source fails.
            pub fn generate() -> Result<Self, RandomError> {
                Ok(Self(crate::crypto::random_bytes()?))
            }

            /// The base64url (unpadded) text `Display` shows, written into
            /// `buf` without allocating.
            pub fn encode_into<'b>(&self, buf: &'b mut [u8; 22]) -> &'b str {
                // 16 bytes are always exactly 22 base64url characters.
                crate::b64::encode_url(&self.0, buf)
            }

            /// Parses the base64url (unpadded) form produced by `Display`.
            ///
            /// # Errors
            /// [`ValueError`] when `s` is not 22 base64url characters.
            pub fn parse(s: &str) -> Result<Self, ValueError> {
                let mut out = [0u8; 16];
                if s.len() != 22 {
                    return Err(err($what, "must be 22 base64url characters"));
                }
                match URL_SAFE_NO_PAD.decode_slice(s, &mut out) {
                    Ok(16) => Ok(Self(out)),
                    _ => Err(err($what, "must be 22 base64url characters")),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.encode_into(&mut [0u8; 22]))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

random_id!(
    /// A token's unique identifier (`jti`, RFC 7662 §2.2): 128 random bits.
    Jti, "jti"
);
random_id!(
    /// The family of tokens issued from one grant (one authorization code, or
    /// one client_credentials request). Revoking a grant revokes them all.
    ///
    /// The core makes new ones with [`GrantId::time_ordered`]: the grant's
    /// start time first, then 80 random bits.
    GrantId, "grant id"
);

/// Random bytes in a [`GrantId::time_ordered`] id.
pub(crate) const GRANT_ID_RANDOM_LEN: usize = 10;

impl GrantId {
    /// A grant id that sorts by the time it was made, like a UUIDv7
    /// (RFC 9562 §5.7): `unix_millis` as 48 bits big-endian (the low 48
    /// bits; they wrap in the year 10889), then `random` (80 bits, from the
    /// OS CSPRNG).
    ///
    /// Why: stores keep a grant's tokens together by keying them on the
    /// grant id first. With random ids every new token lands on a random
    /// page of that index, so a store on disk (SQLite) rewrites one page
    /// per token at each commit; ids that grow with time append to the
    /// index's last pages instead, and one commit of many tokens writes a
    /// few pages.
    ///
    /// What it reveals: the grant id is part of every token of the grant,
    /// in the clear, and was never secret (the token's secret is its own
    /// 256 random bits, see [`crate::token_format`]). It now also tells
    /// whoever holds a token when its grant began, to the millisecond: what
    /// a JWT's `iat` tells its holder, and what introspection already tells
    /// the resource server (`iat`). The holder of an access token or code
    /// learnt about that time anyway (it was handed the token then); a
    /// refresh token additionally reveals when the grant (the user's
    /// consent) began. It says nothing about the token's secret, nor about
    /// other grants (no counter: two ids do not tell how many grants were
    /// made between them).
    ///
    /// Uniqueness rests on the 80 random bits among the ids of the same
    /// millisecond: even at 100,000 grants a second, the chance that any
    /// two ever collide in a century is about 10⁻⁸ (birthday bound,
    /// 100² / 2⁸¹ per millisecond).
    pub fn time_ordered(unix_millis: u64, random: &[u8; GRANT_ID_RANDOM_LEN]) -> Self {
        let mut b = [0u8; 16];
        b[..6].copy_from_slice(&unix_millis.to_be_bytes()[2..]);
        b[6..].copy_from_slice(random);
        Self(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The branch-free check client authentication uses agrees with
        /// the one `ClientId::new` uses, on any string (the regex keeps
        /// near-valid ids frequent).
        #[test]
        fn well_formed_agrees_with_the_rules(s in "[ ab\\x00\\x1f\\x7f\u{e9}]{0,5}|[a ]{254,257}|.{0,300}") {
            proptest::prop_assert_eq!(client_id_is_well_formed(&s), check_client_id(&s).is_ok());
        }
    }

    #[test]
    fn client_id_rules() {
        assert!(ClientId::new("my-app").is_ok());
        assert!(ClientId::new("a b").is_ok());
        assert!(ClientId::new("").is_err());
        assert!(ClientId::new(" a").is_err());
        assert!(ClientId::new("é").is_err());
        assert!(ClientId::new("a\nb").is_err());
        assert!(ClientId::new(&"a".repeat(256)).is_err());
    }

    #[test]
    fn resource_rules() {
        assert!(Resource::new("https://api.example.com").is_ok());
        assert!(Resource::new("urn:example:api").is_ok());
        assert!(Resource::new("api").is_err());
        assert!(Resource::new("https://api#x").is_err());
        assert!(Resource::new("https://a b").is_err());
        assert!(Resource::new("1http://a").is_err());
        assert!(Resource::new("https:").is_err());
    }

    #[test]
    fn subject_rules() {
        assert!(Subject::new("alice").is_ok());
        assert!(Subject::new("ünïcode").is_ok());
        assert!(Subject::new("").is_err());
        assert!(Subject::new("a\u{0}").is_err());
    }

    #[test]
    fn random_ids_round_trip() {
        let j = Jti::generate().unwrap();
        assert_eq!(Jti::parse(&j.to_string()).unwrap(), j);
        assert_eq!(j.encode_into(&mut [0; 22]), j.to_string());
        assert_eq!(j.to_string().len(), 22);
        assert!(Jti::parse("short").is_err());
        assert!(Jti::parse(&"!".repeat(22)).is_err());
        let json = serde_json::to_string(&j).unwrap();
        assert_eq!(serde_json::from_str::<Jti>(&json).unwrap(), j);
        assert_ne!(GrantId::generate().unwrap(), GrantId::generate().unwrap());
    }

    #[test]
    fn time_ordered_grant_ids_sort_by_time_then_random() {
        let t = 1_796_159_974_123u64;
        let g = GrantId::time_ordered(t, &[0xab; GRANT_ID_RANDOM_LEN]);
        assert_eq!(g.as_bytes()[..6], t.to_be_bytes()[2..]);
        assert_eq!(g.as_bytes()[6..], [0xab; GRANT_ID_RANDOM_LEN]);
        // A later millisecond sorts after, whatever the random bits.
        let later = GrantId::time_ordered(t + 1, &[0; GRANT_ID_RANDOM_LEN]);
        assert!(later > GrantId::time_ordered(t, &[0xff; GRANT_ID_RANDOM_LEN]));
        assert!(g < later);
        assert!(GrantId::time_ordered(t, &[0; GRANT_ID_RANDOM_LEN]) < g);
    }

    #[test]
    fn error_does_not_echo_value() {
        let e = ClientId::new("secret\n").unwrap_err();
        assert!(!e.to_string().contains("secret"));
    }
}
