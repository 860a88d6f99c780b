//! Server settings.

use serde::{Deserialize, Serialize};

use crate::limiter::LimiterConfig;

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
        }
    }
}

impl Config {
    /// The defaults, with this issuer.
    pub fn new(issuer: &str) -> Self {
        Self { issuer: issuer.to_owned(), ..Self::default() }
    }
}
