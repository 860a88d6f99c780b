//! Server settings.

use serde::{Deserialize, Serialize};

use crate::limiter::LimiterConfig;
use crate::Error;

/// How the server issues and judges tokens. Durations are in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The issuer identifier, returned as `iss` by introspection.
    pub issuer: String,
    /// Access-token lifetime.
    pub access_token_ttl: u64,
    /// Refresh-token lifetime.
    pub refresh_token_ttl: u64,
    /// Authorization-code lifetime (RFC 6749 §4.1.2 recommends at most 10
    /// minutes; we default to 60 seconds).
    pub code_ttl: u64,
    /// Leeway for clocks that disagree between instances: a token is still
    /// active `clock_skew` seconds after `exp` and already active that long
    /// before `nbf`.
    pub clock_skew: u64,
    /// Token-fishing limiter settings.
    pub limiter: LimiterConfig,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The scope values the metadata document advertises
    /// (`scopes_supported`, RFC 8414 §2); empty (the default) leaves the
    /// member out. Each must be one scope token (RFC 6749 §3.3).
    pub scopes_supported: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "http://localhost".to_owned(),
            access_token_ttl: 3600,
            refresh_token_ttl: 30 * 24 * 3600,
            code_ttl: 60,
            clock_skew: 0,
            limiter: LimiterConfig::default(),
            max_body_bytes: 16 * 1024,
            scopes_supported: Vec::new(),
        }
    }
}

impl Config {
    /// The longest access- or refresh-token lifetime [`Config::validate`]
    /// accepts: ten years. Far beyond any sane lifetime, it only catches a
    /// mistyped value (and an `exp` that would saturate at the end of time).
    pub const MAX_TTL: u64 = 10 * 365 * 24 * 3600;

    /// The longest authorization-code lifetime: RFC 6749 §4.1.2, "A maximum
    /// authorization code lifetime of 10 minutes is RECOMMENDED."
    pub const MAX_CODE_TTL: u64 = 600;

    /// The largest clock skew: five minutes. Every token is active that much
    /// longer than its lifetime says, so a larger leeway is a mistake, not a
    /// clock.
    pub const MAX_CLOCK_SKEW: u64 = 300;

    /// The largest request body limit: 1 MiB. OAuth requests are a few
    /// hundred bytes; a larger limit only helps someone filling memory.
    pub const MAX_BODY_BYTES: usize = 1024 * 1024;

    /// The defaults, with this issuer.
    pub fn new(issuer: &str) -> Self {
        Self { issuer: issuer.to_owned(), ..Self::default() }
    }

    /// Checks the bounds serde cannot: an issuer that is an `http(s)` URL
    /// with a host and no query or fragment (RFC 8414 §2; clients compare
    /// it exactly, RFC 9207 §2.4), lifetimes of at least one second and at
    /// most [`Self::MAX_TTL`] ([`Self::MAX_CODE_TTL`] for codes), a clock
    /// skew of at most [`Self::MAX_CLOCK_SKEW`], a body limit of 1 to
    /// [`Self::MAX_BODY_BYTES`] bytes, advertised scopes that are single
    /// scope tokens, and the limiter's own checks
    /// ([`LimiterConfig::validate`]).
    ///
    /// # Errors
    /// [`Error::Config`] whose message starts with the field's name as it
    /// appears in a serialized `Config`, in backticks (`` `limiter.burst` ``
    /// for a nested one), and says what it must be.
    pub fn validate(&self) -> Result<(), Error> {
        let fail = |field: &str, rule: &str| Err(Error::Config(format!("`{field}` {rule}")));
        if !issuer_is_valid(&self.issuer) {
            return fail(
                "issuer",
                "must be an http or https URL with a host and no query or fragment, e.g. \"https://auth.example.com\"",
            );
        }
        for (field, ttl) in
            [("access_token_ttl", self.access_token_ttl), ("refresh_token_ttl", self.refresh_token_ttl)]
        {
            if ttl == 0 || ttl > Self::MAX_TTL {
                return fail(field, "must be between 1 and 315360000 seconds (ten years)");
            }
        }
        if self.code_ttl == 0 || self.code_ttl > Self::MAX_CODE_TTL {
            return fail("code_ttl", "must be between 1 and 600 seconds (RFC 6749 §4.1.2)");
        }
        if self.clock_skew > Self::MAX_CLOCK_SKEW {
            return fail("clock_skew", "must be at most 300 seconds");
        }
        if self.max_body_bytes == 0 || self.max_body_bytes > Self::MAX_BODY_BYTES {
            return fail("max_body_bytes", "must be between 1 and 1048576 bytes");
        }
        if !crate::metadata::scopes_are_valid(&self.scopes_supported) {
            return fail("scopes_supported", "must list distinct scope tokens, e.g. [\"read\", \"write\"]");
        }
        // The limiter's bounds are its own (`core/src/limiter.rs`).
        self.limiter.validate()
    }
}

/// `http(s)://host[:port][/path]`: a host, and nothing that makes two
/// spellings of one issuer (query, fragment) or hides a host (userinfo).
fn issuer_is_valid(issuer: &str) -> bool {
    let Some(rest) = issuer.strip_prefix("https://").or_else(|| issuer.strip_prefix("http://")) else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    !authority.is_empty()
        && !authority.starts_with(':')
        && !authority.contains('@')
        && !issuer.contains(['?', '#'])
        && !issuer.contains(|c: char| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(Config::default().validate().is_ok());
        assert!(Config::new("https://auth.example.com/tenant1").validate().is_ok());
    }

    #[test]
    fn each_bound_names_its_field() {
        type Breaker = fn(&mut Config);
        let cases: [(Breaker, &str); 19] = [
            (|c| c.issuer = String::new(), "issuer"),
            (|c| c.issuer = "auth.example.com".into(), "issuer"),
            (|c| c.issuer = "ftp://auth.example.com".into(), "issuer"),
            (|c| c.issuer = "https://".into(), "issuer"),
            (|c| c.issuer = "https://auth.example.com/?x=1".into(), "issuer"),
            (|c| c.issuer = "https://auth.example.com#top".into(), "issuer"),
            (|c| c.issuer = "https://user@auth.example.com".into(), "issuer"),
            (|c| c.access_token_ttl = 0, "access_token_ttl"),
            (|c| c.access_token_ttl = Config::MAX_TTL + 1, "access_token_ttl"),
            (|c| c.refresh_token_ttl = 0, "refresh_token_ttl"),
            (|c| c.code_ttl = 0, "code_ttl"),
            (|c| c.code_ttl = Config::MAX_CODE_TTL + 1, "code_ttl"),
            (|c| c.clock_skew = Config::MAX_CLOCK_SKEW + 1, "clock_skew"),
            (|c| c.max_body_bytes = 0, "max_body_bytes"),
            (|c| c.max_body_bytes = Config::MAX_BODY_BYTES + 1, "max_body_bytes"),
            (|c| c.limiter.burst = 0, "limiter.burst"),
            (|c| c.scopes_supported = vec![String::new()], "scopes_supported"),
            (|c| c.scopes_supported = vec!["read write".into()], "scopes_supported"),
            (|c| c.scopes_supported = vec!["read".into(), "read".into()], "scopes_supported"),
        ];
        for (break_it, field) in cases {
            let mut c = Config::default();
            break_it(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.starts_with(&format!("configuration error: `{field}` ")), "{c:?}: {e}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_at_every_level() {
        let e = serde_json::from_str::<Config>(r#"{"acess_token_ttl":5}"#).unwrap_err();
        assert!(e.to_string().starts_with("unknown field `acess_token_ttl`"), "{e}");
        let e = serde_json::from_str::<Config>(r#"{"limiter":{"burst":5,"per_minute":60,"brust":9}}"#)
            .unwrap_err();
        assert!(e.to_string().starts_with("unknown field `brust`"), "{e}");
    }

    #[test]
    fn bounds_are_inclusive() {
        let mut c = Config::new("http://127.0.0.1:8080");
        (c.access_token_ttl, c.refresh_token_ttl, c.code_ttl) =
            (Config::MAX_TTL, Config::MAX_TTL, Config::MAX_CODE_TTL);
        (c.clock_skew, c.max_body_bytes, c.limiter.burst) =
            (Config::MAX_CLOCK_SKEW, Config::MAX_BODY_BYTES, 1);
        assert!(c.validate().is_ok());
        (c.access_token_ttl, c.refresh_token_ttl, c.code_ttl, c.max_body_bytes) = (1, 1, 1, 1);
        c.scopes_supported = vec!["read".into(), "write".into(), "urn:example:admin".into()];
        assert!(c.validate().is_ok());
    }
}
