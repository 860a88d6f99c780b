//! Which redirect URIs a client may register, and how a requested one is
//! matched against them at the authorization endpoint.
//!
//! A registered redirect URI is absolute, has no fragment (RFC 6749
//! §3.1.2) and is one of:
//! - `https` with a host and no user information (RFC 6749 §3.1.2.1);
//! - `http` to the loopback IP literal `127.0.0.1` or `[::1]` (RFC 8252
//!   §7.3). The name `localhost` is refused: RFC 8252 §8.3 calls it NOT
//!   RECOMMENDED, because a name may resolve to a non-loopback address
//!   (or be hijacked by the resolver), which would send the code off the
//!   machine over plain http;
//! - a private-use scheme in reverse-domain form, such as
//!   `com.example.app:/callback`, for public clients only (RFC 8252 §7.1).
//!
//! Matching is exact string comparison (RFC 9700 §2.1), with one exception:
//! a public client's loopback URI matches with any port, since a native app
//! listens on whatever port the OS gives it (RFC 8252 §7.3). A confidential
//! client may register a loopback URI too (a web app under development, or
//! the example's demo client on its own server): the code never crosses the
//! network, but its port is compared exactly like the rest.
//!
//! The parser is a few string splits, total over any input: it checks
//! what these rules need, not the whole RFC 3986 grammar.

/// Longest redirect URI accepted.
const MAX_LEN: usize = 2048;

/// What kind of redirect URI passed the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Https,
    Loopback,
    PrivateUse,
}

/// A redirect URI that passed the rules, split where matching needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parsed<'a> {
    kind: Kind,
    /// Everything before the port: `http://127.0.0.1` (or the whole URI
    /// when there is no authority).
    before_port: &'a str,
    /// The path and query after the authority.
    tail: &'a str,
}

/// Checks a redirect URI for registration by a public client (`public`)
/// or a confidential one.
///
/// # Errors
/// The rule the URI breaks, as a sentence for the operator.
pub(crate) fn check(uri: &str, public: bool) -> Result<(), &'static str> {
    parse(uri, public).map(|_| ())
}

/// Whether `requested` (from an authorization request) matches the
/// registered URI `registered`. A registered URI that breaks the rules
/// matches nothing, so a registry filled without
/// [`Client::validate`](super::Client::validate) still fails closed.
pub(crate) fn matches(registered: &str, requested: &str, public: bool) -> bool {
    let Ok(reg) = parse(registered, public) else {
        return false;
    };
    if registered == requested {
        return true;
    }
    // RFC 8252 §7.3: "The authorization server MUST allow any port to be
    // specified at the time of the request for loopback IP redirect URIs."
    // Only for public clients: a confidential client has a fixed address.
    if !public || reg.kind != Kind::Loopback {
        return false;
    }
    parse(requested, public).is_ok_and(|req| {
        req.kind == Kind::Loopback && req.before_port == reg.before_port && req.tail == reg.tail
    })
}

fn parse(uri: &str, public: bool) -> Result<Parsed<'_>, &'static str> {
    if uri.is_empty() || uri.len() > MAX_LEN {
        return Err("must be 1 to 2048 bytes");
    }
    if !uri.bytes().all(uri_char) {
        return Err("may contain only the characters RFC 3986 allows in a URI (no spaces, quotes, backslashes or non-ASCII)");
    }
    if uri.contains('#') {
        return Err("must not contain a fragment (RFC 6749 section 3.1.2)");
    }
    let Some((scheme, rest)) = uri.split_once(':').filter(|(s, _)| valid_scheme(s)) else {
        return Err("must be an absolute URI, starting with a scheme (RFC 6749 section 3.1.2)");
    };
    let https = scheme.eq_ignore_ascii_case("https");
    if https || scheme.eq_ignore_ascii_case("http") {
        let Some(after_slashes) = rest.strip_prefix("//") else {
            return Err("an https or http URI must have '//' and a host after the scheme");
        };
        let authority_len = after_slashes.find(['/', '?']).unwrap_or(after_slashes.len());
        let (authority, tail) = after_slashes.split_at(authority_len);
        let host = split_host(authority)?;
        let before_port = &uri[..scheme.len() + 3 + host.len()];
        if https {
            return Ok(Parsed { kind: Kind::Https, before_port, tail });
        }
        if host == "127.0.0.1" || host == "[::1]" {
            return Ok(Parsed { kind: Kind::Loopback, before_port, tail });
        }
        if host.eq_ignore_ascii_case("localhost") {
            return Err("http to 'localhost' is refused: use the loopback IP literal 127.0.0.1 or [::1] (RFC 8252 section 8.3)");
        }
        return Err("http is allowed only to the loopback IP literals 127.0.0.1 and [::1] (RFC 8252 section 7.3); use https (RFC 6749 section 3.1.2.1)");
    }
    if !scheme.contains('.') {
        return Err("the scheme must be https, http to 127.0.0.1 or [::1], or a private-use scheme in reverse-domain form such as com.example.app (RFC 8252 section 7.1)");
    }
    if !public {
        return Err("a private-use scheme is for native apps, which are public clients (RFC 8252 section 7.1); a confidential client must use https");
    }
    if rest.is_empty() {
        return Err("a private-use URI must have a path after the scheme, such as com.example.app:/callback (RFC 8252 section 7.1)");
    }
    Ok(Parsed { kind: Kind::PrivateUse, before_port: uri, tail: "" })
}

/// The host of `host[:port]`, where the host may be an IPv6 literal in
/// brackets, after checking the port when there is one.
fn split_host(authority: &str) -> Result<&str, &'static str> {
    // "https://good.example@evil.example/" sends the user to evil.example
    // while reading as good.example (RFC 3986 §7.6).
    if authority.contains('@') {
        return Err("must not contain user information ('@') before the host: it disguises the real host (RFC 3986 section 7.6)");
    }
    let host_end = if authority.starts_with('[') {
        authority.find(']').map_or(authority.len(), |i| i + 1)
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    if host.is_empty() || host == "[" || (host.starts_with('[') && !host.ends_with(']')) {
        return Err("must name a host after '//'");
    }
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => None,
        None => return Err("must name a host after '//'"),
        Some(p) => Some(p),
    };
    let valid_port = |p: &str| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    };
    if port.is_some_and(|p| !valid_port(p)) {
        return Err("the port after ':' must be a number from 0 to 65535");
    }
    Ok(host)
}

/// RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn valid_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

/// RFC 3986 §2: unreserved, reserved and '%'. Everything else (space,
/// quotes, '<', '>', '\', '^', '`', '{', '|', '}', controls and non-ASCII)
/// is refused: browsers repair some of them differently (a '\' becomes '/'),
/// so the URI the user agent follows would not be the one registered.
const fn uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b':'
                | b'/'
                | b'?'
                | b'#'
                | b'['
                | b']'
                | b'@'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b'%'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_registrations() {
        for (uri, public) in [
            ("https://app.example/cb", false),
            ("https://app.example/cb", true),
            ("https://app.example:8443/cb?x=1", false),
            ("https://[2001:db8::1]:443/cb", false),
            ("https://app.example", false),
            ("http://127.0.0.1/cb", true),
            ("http://127.0.0.1:9876/callback", true),
            ("http://[::1]:61023/oauth2redirect", true),
            ("http://127.0.0.1:8080/demo/callback", false),
            ("com.example.app:/oauth2redirect", true),
            ("com.example.app://callback", true),
        ] {
            assert_eq!(check(uri, public), Ok(()), "{uri} (public: {public})");
        }
    }

    #[test]
    fn refused_registrations_name_their_rule() {
        for (uri, public, rule) in [
            ("", true, "1 to 2048"),
            (&*format!("https://a.example/{}", "a".repeat(2048)), false, "1 to 2048"),
            ("https://app.example/cb#frag", false, "fragment"),
            ("/cb", false, "absolute"),
            ("app.example/cb", false, "absolute"),
            ("1http://a", false, "absolute"),
            ("https://app.example/c b", false, "RFC 3986 allows"),
            ("https://app.example\\@evil.example/", false, "RFC 3986 allows"),
            ("https://app.exämple/", false, "RFC 3986 allows"),
            ("https:app.example", false, "'//'"),
            ("https:///cb", false, "host"),
            ("https://:443/cb", false, "host"),
            ("https://[::1/cb", false, "host"),
            ("https://[::1]x/cb", false, "host"),
            ("https://good.example@evil.example/", false, "user information"),
            ("https://app.example:99999/", false, "port"),
            ("https://app.example:44a/", false, "port"),
            ("http://127.0.0.1:/cb", true, "port"),
            ("http://app.example/cb", false, "loopback"),
            ("http://app.example/cb", true, "loopback"),
            ("http://127.0.0.2/cb", true, "loopback"),
            ("http://localhost:8080/cb", true, "localhost"),
            ("http://LOCALHOST/cb", true, "localhost"),
            ("javascript:alert(1)", true, "private-use scheme in reverse-domain"),
            ("myapp:/cb", true, "private-use scheme in reverse-domain"),
            ("urn:ietf:wg:oauth:2.0:oob", true, "private-use scheme in reverse-domain"),
            ("com.example.app:/cb", false, "public clients"),
            ("com.example.app:", true, "path after the scheme"),
        ] {
            let e = check(uri, public).expect_err(uri);
            assert!(e.contains(rule), "{uri}: {e}");
        }
    }

    #[test]
    fn matching_is_exact_but_for_a_public_loopback_port() {
        let public = true;
        assert!(matches("https://a.example/cb", "https://a.example/cb", public));
        assert!(!matches("https://a.example/cb", "https://a.example/cb/", public));
        assert!(!matches("https://a.example/cb", "https://a.example:443/cb", public));
        assert!(!matches("https://a.example/cb", "HTTPS://a.example/cb", public));
        // RFC 8252 §7.3: any port, with or without one registered.
        assert!(matches("http://127.0.0.1/cb", "http://127.0.0.1:51004/cb", public));
        assert!(matches("http://127.0.0.1:9999/cb", "http://127.0.0.1:1/cb", public));
        assert!(matches("http://127.0.0.1:9999/cb", "http://127.0.0.1/cb", public));
        assert!(matches("http://[::1]/cb?a=1", "http://[::1]:61023/cb?a=1", public));
        // ...but only the port.
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:51004/cb2", public));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:51004/cb?x", public));
        assert!(!matches("http://127.0.0.1/cb", "http://[::1]:51004/cb", public));
        assert!(!matches("http://127.0.0.1/cb", "http://localhost:51004/cb", public));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:5x/cb", public));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1@evil.example/cb", public));
        assert!(!matches("http://127.0.0.1/cb", "https://127.0.0.1:8443/cb", public));
        assert!(!matches("http://127.0.0.1/cb", "http://127.0.0.1:1/cb#x", public));
        // A confidential client's loopback port is compared exactly.
        assert!(matches("http://127.0.0.1:8080/cb", "http://127.0.0.1:8080/cb", false));
        assert!(!matches("http://127.0.0.1:8080/cb", "http://127.0.0.1:8081/cb", false));
        // A registration that breaks the rules matches nothing, not even itself.
        assert!(!matches("http://app.example/cb", "http://app.example/cb", public));
        assert!(!matches("com.example.app:/cb", "com.example.app:/cb", false));
    }

    proptest::proptest! {
        /// Total over any input, and an accepted URI matches itself.
        #[test]
        fn total_and_self_matching(
            uri in "(https?://|com\\.example\\.app:/)?(127\\.0\\.0\\.1|\\[::1\\]|[a-z.@\\[\\]]{0,8})(:[0-9a-z]{0,6})?[/?#a-z%:@]{0,12}",
            other in ".{0,40}",
            public in proptest::bool::ANY,
        ) {
            let ok = check(&uri, public).is_ok();
            proptest::prop_assert_eq!(matches(&uri, &uri, public), ok);
            let _ = matches(&uri, &other, public);
            let _ = matches(&other, &uri, public);
        }

        /// A public client's loopback URI matches with any port or none,
        /// and a confidential client's only with its own.
        #[test]
        fn loopback_port_is_free_for_public_clients_only(
            host in "127\\.0\\.0\\.1|\\[::1\\]",
            registered_port in proptest::option::of(0u32..=65535),
            port in proptest::option::of(0u32..=65535),
            tail in "(/[a-z0-9/?=%.-]{0,12})?",
        ) {
            let with = |p: Option<u32>| match p {
                Some(p) => format!("http://{host}:{p}{tail}"),
                None => format!("http://{host}{tail}"),
            };
            let (registered, requested) = (with(registered_port), with(port));
            proptest::prop_assert!(matches(&registered, &requested, true));
            proptest::prop_assert_eq!(matches(&registered, &requested, false), registered_port == port);
        }
    }
}
