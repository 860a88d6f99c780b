//! A total parser for `application/x-www-form-urlencoded` bodies and the
//! Basic `Authorization` header: every input yields either values or an
//! `invalid_request`, never a panic.

use std::borrow::Cow;

use crate::b64;
use crate::error::Error;
use crate::http::Header;

/// Parameters that RFC 8707 lets a client repeat.
const REPEATABLE: &[&str] = &["resource"];
/// More parameters than any OAuth request needs.
const MAX_PARAMS: usize = 32;

/// A parsed form body. Values that needed no decoding borrow from the
/// request: on the hot path (a token and nothing else) nothing is copied.
/// `Debug` shows the parameter names only: values are tokens and secrets.
#[derive(Default)]
pub(crate) struct Form<'a> {
    params: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl std::fmt::Debug for Form<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.params.iter().map(|(n, _)| n)).finish()
    }
}

impl<'a> Form<'a> {
    /// The single value of `name`, if sent. Duplicates were refused at parse
    /// time, so there is at most one.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| &**v)
    }

    /// `name`, which must be present.
    pub(crate) fn require(&self, name: &str, missing: &'static str) -> Result<&str, Error> {
        self.get(name).ok_or(Error::InvalidRequest(missing))
    }

    /// Every value of a repeatable parameter.
    pub(crate) fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.params.iter().filter(move |(n, _)| n == name).map(|(_, v)| &**v)
    }
}

/// Checks the Content-Type: `application/x-www-form-urlencoded`, with at
/// most a `charset=utf-8` parameter.
pub(crate) fn check_content_type(h: Header<'_>) -> Result<(), Error> {
    const BAD: Error = Error::InvalidRequest("Content-Type must be application/x-www-form-urlencoded");
    let Header::One(raw) = h else {
        return Err(BAD);
    };
    // What nearly every client sends, recognised with one comparison.
    if raw == b"application/x-www-form-urlencoded" {
        return Ok(());
    }
    let s = std::str::from_utf8(raw).map_err(|_| BAD)?;
    let mut parts = s.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(BAD);
    }
    for p in parts {
        let (k, v) = p.split_once('=').ok_or(BAD)?;
        let v = v.trim().trim_matches('"');
        if !k.trim().eq_ignore_ascii_case("charset") || !(v.eq_ignore_ascii_case("utf-8")) {
            return Err(BAD);
        }
    }
    Ok(())
}

/// Parses a form body of at most `max_len` bytes.
///
/// RFC 6749 §3.1: parameters without a value are treated as omitted, and no
/// parameter may appear twice (except RFC 8707's `resource`).
pub(crate) fn parse_form(body: &[u8], max_len: usize) -> Result<Form<'_>, Error> {
    if body.len() > max_len {
        return Err(Error::BodyTooLarge);
    }
    // Room for the usual request's parameters from the start: one
    // allocation, no growth.
    let mut params: Vec<Param<'_>> = Vec::with_capacity(4);
    // One UTF-8 check for the whole body rather than one per component
    // (the separators are ASCII, so every component of a UTF-8 body is
    // UTF-8). A body that is not takes the byte path, which refuses the
    // same first component with the same error as ever.
    match std::str::from_utf8(body) {
        Ok(text) => {
            // Each pair's bounds are at ASCII separators (or the body's
            // ends), so they are character boundaries of `text` and `get`
            // always answers.
            const UNREACHABLE: Error = Error::InvalidRequest("parameters must be UTF-8");
            for pair in crate::scan::split_at_byte(body, b'&').filter(|p| !p.is_empty()) {
                // Where the pair starts in the body (it is a part of it).
                let start = pair.as_ptr() as usize - body.as_ptr() as usize;
                let end = start + pair.len();
                let (name, value) = match pair.iter().position(|&b| b == b'=') {
                    Some(i) => (text.get(start..start + i), text.get(start + i + 1..end)),
                    None => (text.get(start..end), Some("")),
                };
                let (name, value) = (name.ok_or(UNREACHABLE)?, value.ok_or(UNREACHABLE)?);
                add(&mut params, decode_text(name)?, decode_text(value)?)?;
            }
        }
        Err(_) => add_bytes(body, &mut params)?,
    }
    Ok(Form { params })
}

/// [`parse_form`]'s path for a body that is not UTF-8: each component
/// checked on its own, so the first bad one is the one refused.
fn add_bytes<'a>(body: &'a [u8], params: &mut Vec<Param<'a>>) -> Result<(), Error> {
    for pair in crate::scan::split_at_byte(body, b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        add(params, decode_component(name)?, decode_component(value)?)?;
    }
    Ok(())
}

/// One parameter: its name and value.
type Param<'a> = (Cow<'a, str>, Cow<'a, str>);

/// Adds a decoded parameter to `params`, by RFC 6749 §3.1's rules.
fn add<'a>(params: &mut Vec<Param<'a>>, name: Cow<'a, str>, value: Cow<'a, str>) -> Result<(), Error> {
    if value.is_empty() {
        return Ok(());
    }
    if name.is_empty() {
        return Err(Error::InvalidRequest("form parameter without a name"));
    }
    if !REPEATABLE.contains(&&*name) && params.iter().any(|(n, _)| *n == name) {
        return Err(Error::InvalidRequest("a parameter was sent more than once"));
    }
    if params.len() == MAX_PARAMS {
        return Err(Error::InvalidRequest("too many parameters"));
    }
    params.push((name, value));
    Ok(())
}

/// Percent-decodes one form component (`+` is a space) into UTF-8. A
/// component with nothing to decode is borrowed, not copied.
fn decode_component(raw: &[u8]) -> Result<Cow<'_, str>, Error> {
    const BAD_ESCAPE: Error = Error::InvalidRequest("malformed percent-encoding");
    const NOT_UTF8: Error = Error::InvalidRequest("parameters must be UTF-8");
    // A token is ~110 bytes with nothing to decode.
    if !crate::scan::contains_either(raw, b'%', b'+') {
        return std::str::from_utf8(raw).map(Cow::Borrowed).map_err(|_| NOT_UTF8);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).and_then(|&c| crate::hex::val(c)).ok_or(BAD_ESCAPE)?;
                let lo = raw.get(i + 2).and_then(|&c| crate::hex::val(c)).ok_or(BAD_ESCAPE)?;
                out.push((hi << 4) | lo);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map(Cow::Owned).map_err(|_| NOT_UTF8)
}

/// [`decode_component`] for text already known to be UTF-8: borrowed
/// without a second check when there is nothing to decode.
fn decode_text(raw: &str) -> Result<Cow<'_, str>, Error> {
    if crate::scan::contains_either(raw.as_bytes(), b'%', b'+') {
        decode_component(raw.as_bytes())
    } else {
        Ok(Cow::Borrowed(raw))
    }
}

/// Form-urlencodes `s` (RFC 6749 Appendix B) onto `out`.
pub(crate) fn encode_component(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

/// Room for decoded Basic credentials, owned by the endpoint so that the
/// credentials can borrow from it instead of each being copied into a
/// `String` (two allocations per request): the usual ones on the stack,
/// longer ones (the header is at most 4096 bytes) on the heap.
pub(crate) struct BasicBuf {
    small: [u8; 192],
    large: Vec<u8>,
}

impl BasicBuf {
    /// An empty buffer; allocates nothing.
    pub(crate) fn new() -> Self {
        Self { small: [0; 192], large: Vec::new() }
    }
}

/// What an `Authorization` header held.
pub(crate) enum AuthorizationHeader<'b> {
    /// None sent.
    Absent,
    /// `Basic` credentials, already form-decoded (RFC 6749 §2.3.1); borrowed
    /// from the [`BasicBuf`] unless percent-decoding changed them.
    Basic { id: Cow<'b, str>, secret: Cow<'b, str> },
    /// Another scheme (e.g. `Bearer`, `Digest`), or a bare `Basic` without
    /// even a space: not a client authentication method we support, so a 401
    /// `invalid_client` with a Basic challenge. (`Basic` followed by
    /// credentials that do not decode is a malformed request instead: 400
    /// `invalid_request`, RFC 6749 §5.2.)
    Other,
}

/// Parses the `Authorization` header of a token-endpoint-style request,
/// decoding Basic credentials into `buf`.
pub(crate) fn parse_authorization<'b>(
    h: Header<'_>,
    buf: &'b mut BasicBuf,
) -> Result<AuthorizationHeader<'b>, Error> {
    const BAD: Error = Error::InvalidRequest("malformed Basic authorization header");
    let raw = match h {
        Header::Absent => return Ok(AuthorizationHeader::Absent),
        Header::Repeated => return Err(Error::InvalidRequest("more than one Authorization header")),
        Header::One(raw) => raw,
    };
    if raw.len() > 4096 {
        return Err(BAD);
    }
    let Some(sp) = raw.iter().position(|&b| b == b' ') else {
        return Ok(AuthorizationHeader::Other);
    };
    if !raw[..sp].eq_ignore_ascii_case(b"basic") {
        return Ok(AuthorizationHeader::Other);
    }
    let text = raw[sp + 1..].trim_ascii();
    let out: &'b mut [u8] = if text.len() <= 256 {
        &mut buf.small
    } else {
        buf.large.resize(text.len() / 4 * 3, 0);
        &mut buf.large
    };
    let n = b64::decode_standard(text, out).ok_or(BAD)?;
    let out: &'b [u8] = out;
    let decoded = &out[..n];
    let colon = decoded.iter().position(|&b| b == b':').ok_or(BAD)?;
    // One UTF-8 check for both parts (the colon is a character of its own,
    // so the whole is UTF-8 exactly when each part is).
    let decoded = std::str::from_utf8(decoded).map_err(|_| BAD)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    let id = decode_text(&decoded[..colon]).map_err(|_| BAD)?;
    let secret = decode_text(&decoded[colon + 1..]).map_err(|_| BAD)?;
    if id.is_empty() {
        return Err(BAD);
    }
    Ok(AuthorizationHeader::Basic { id, secret })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    fn form(s: &[u8]) -> Result<Form<'_>, Error> {
        parse_form(s, 1024)
    }

    #[test]
    fn decodes_and_drops_empty_values() {
        let f = form(b"a=1+2&b=%C3%A9&c=&d&&e=x%2By").unwrap();
        assert_eq!(f.get("a"), Some("1 2"));
        assert_eq!(f.get("b"), Some("é"));
        assert_eq!(f.get("c"), None);
        assert_eq!(f.get("d"), None);
        assert_eq!(f.get("e"), Some("x+y"));
    }

    #[test]
    fn debug_shows_names_only() {
        let f = form(b"token=gat_k1.s3cr3t&client_secret=hunter2-hunter2").unwrap();
        let shown = format!("{f:?}");
        assert_eq!(shown, r#"["token", "client_secret"]"#);
    }

    #[test]
    fn refuses_duplicates_but_not_resource() {
        assert!(form(b"a=1&a=2").is_err());
        assert!(form(b"a=1&%61=2").is_err());
        let f = form(b"resource=x&resource=y").unwrap();
        assert_eq!(f.all("resource").collect::<Vec<_>>(), ["x", "y"]);
    }

    /// What a body's parameters are, or its error, for comparisons.
    fn outcome(r: Result<Vec<Param<'_>>, Error>) -> String {
        format!("{:?}", r.map(|p| p.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>()))
    }

    proptest::proptest! {
        /// The whole-body UTF-8 path answers what checking each component
        /// on its own answers (parameters, or the same first error).
        #[test]
        fn utf8_bodies_parse_as_component_by_component(
            body in proptest::string::string_regex("([a=&%+2AFé]|%[0-9A-Fa-fz]{0,2}){0,24}").unwrap()
        ) {
            let whole = parse_form(body.as_bytes(), 1024).map(|f| f.params);
            let mut params = Vec::new();
            let each = add_bytes(body.as_bytes(), &mut params).map(|()| params);
            proptest::prop_assert_eq!(outcome(whole), outcome(each));
        }
    }

    #[test]
    fn refuses_bad_input() {
        assert!(form(b"a=%").is_err());
        assert!(form(b"a=%4").is_err());
        assert!(form(b"a=%zz").is_err());
        assert!(form(b"a=%FF").is_err());
        assert!(form(b"a=\xff").is_err());
        assert!(form(b"=x").is_err());
        assert!(parse_form(&[b'a'; 2000], 1024).is_err());
        let many: Vec<u8> = (0..40).flat_map(|i| format!("p{i}=v&").into_bytes()).collect();
        assert!(form(&many).is_err());
    }

    #[test]
    fn encode_round_trips() {
        let mut out = String::new();
        encode_component("a b&c=é/~", &mut out);
        assert_eq!(out, "a%20b%26c%3D%C3%A9%2F~");
        assert_eq!(decode_component(out.as_bytes()).unwrap(), "a b&c=é/~");
    }

    #[test]
    fn content_type_rules() {
        assert!(check_content_type(Header::One(b"application/x-www-form-urlencoded")).is_ok());
        assert!(check_content_type(Header::One(b"Application/X-WWW-Form-Urlencoded; charset=UTF-8")).is_ok());
        assert!(check_content_type(Header::One(b"application/json")).is_err());
        assert!(
            check_content_type(Header::One(b"application/x-www-form-urlencoded; charset=latin1")).is_err()
        );
        assert!(check_content_type(Header::One(b"\xff")).is_err());
        assert!(check_content_type(Header::Absent).is_err());
        assert!(check_content_type(Header::Repeated).is_err());
    }

    #[test]
    fn basic_header() {
        let h = format!("Basic {}", STANDARD.encode("my%20app:p%3Ass"));
        match parse_authorization(Header::One(h.as_bytes()), &mut BasicBuf::new()).unwrap() {
            AuthorizationHeader::Basic { id, secret } => {
                assert_eq!(id, "my app");
                assert_eq!(secret, "p:ss");
            }
            _ => panic!("not basic"),
        }
        let lower = format!("basic {}", STANDARD.encode("a:b"));
        assert!(matches!(
            parse_authorization(Header::One(lower.as_bytes()), &mut BasicBuf::new()),
            Ok(AuthorizationHeader::Basic { .. })
        ));
        assert!(matches!(
            parse_authorization(Header::One(b"Bearer x"), &mut BasicBuf::new()),
            Ok(AuthorizationHeader::Other)
        ));
        assert!(matches!(
            parse_authorization(Header::One(b"Basic"), &mut BasicBuf::new()),
            Ok(AuthorizationHeader::Other)
        ));
        assert!(parse_authorization(Header::One(b"Basic !!!"), &mut BasicBuf::new()).is_err());
        let no_colon = format!("Basic {}", STANDARD.encode("abc"));
        assert!(parse_authorization(Header::One(no_colon.as_bytes()), &mut BasicBuf::new()).is_err());
        let bad_utf8 = format!("Basic {}", STANDARD.encode(b"a\xff:b"));
        assert!(parse_authorization(Header::One(bad_utf8.as_bytes()), &mut BasicBuf::new()).is_err());
        assert!(parse_authorization(Header::Repeated, &mut BasicBuf::new()).is_err());
        assert!(matches!(
            parse_authorization(Header::Absent, &mut BasicBuf::new()),
            Ok(AuthorizationHeader::Absent)
        ));
        // Credentials past the stack buffer, up to the header limit.
        for len in [180, 189, 190, 250, 3000] {
            let secret = "s".repeat(len);
            let h = format!("Basic {}", STANDARD.encode(format!("id:{secret}")));
            match parse_authorization(Header::One(h.as_bytes()), &mut BasicBuf::new()) {
                Ok(AuthorizationHeader::Basic { id, secret: got }) => {
                    assert_eq!((&*id, &*got), ("id", secret.as_str()))
                }
                _ => panic!("{len}-byte secret refused"),
            }
        }
    }
}
