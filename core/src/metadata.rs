//! Authorization server metadata (RFC 8414): the JSON document clients and
//! API gateways fetch to learn where the endpoints are and what each one
//! accepts.
//!
//! The core knows what its endpoints accept; where the app mounts them it
//! does not. So the app names the paths ([`Endpoints`]) and the core builds
//! the document from them and its [`Config`] ([`Metadata::new`]), once at
//! start. Every member states only what the endpoints do:
//!
//! - client authentication: `client_secret_basic` and `client_secret_post`
//!   everywhere; `none` (a public client's bare `client_id`) at the token
//!   and revocation endpoints, never at introspection (RFC 7662 §2.1 wants
//!   the caller authorized);
//! - `grant_types_supported`: `client_credentials`, and with an
//!   authorization endpoint `authorization_code` and `refresh_token` (a
//!   refresh token only ever comes from a code);
//! - `response_types_supported` `["code"]`, `response_modes_supported`
//!   `["query"]` (RFC 8414's default when omitted would claim `fragment`
//!   too), `code_challenge_methods_supported` `["S256"]` (`plain` is
//!   refused) and `authorization_response_iss_parameter_supported` (every
//!   redirect of [`AuthServer::authorize`](crate::AuthServer::authorize),
//!   error or code, carries `iss`, RFC 9207 §2);
//! - `scopes_supported` from [`Config::scopes_supported`], when not empty.
//!
//! Without an authorization endpoint the members about it are left out and
//! `response_types_supported` is `[]`: a server that only issues
//! `client_credentials` tokens claims nothing it cannot do.

use std::borrow::Cow;

use crate::config::Config;
use crate::http::{Header, HttpResponse};
use crate::{crypto, hex, json, Error};

/// The well-known URI suffix of RFC 8414 §3.
pub const WELL_KNOWN_SUFFIX: &str = "/.well-known/oauth-authorization-server";

/// How long caches may keep the document: one hour. It changes only when
/// the config does, at a restart; a client seeing the old one for an hour
/// after a change of endpoints is the price of not fetching it per request.
pub const MAX_AGE_SECS: u64 = 3600;

/// Authentication methods every endpoint accepts from confidential clients.
const SECRET_METHODS: &[&str] = &["client_secret_basic", "client_secret_post"];

/// Where the app mounts the endpoints, as absolute paths below the issuer:
/// with issuer `https://auth.example.com/tenant` and token path
/// `/oauth/token` the document says
/// `https://auth.example.com/tenant/oauth/token`.
///
/// Only the token endpoint is required; leave out the others the app does
/// not serve, and the document leaves out what depends on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    token: String,
    authorization: Option<String>,
    introspection: Option<String>,
    revocation: Option<String>,
}

impl Endpoints {
    /// The token endpoint's path, e.g. `/oauth/token`.
    pub fn new(token: &str) -> Self {
        Self { token: token.to_owned(), authorization: None, introspection: None, revocation: None }
    }

    /// The authorization endpoint's path (the app's page that calls
    /// [`AuthServer::check_authorization`](crate::AuthServer::check_authorization)
    /// and [`AuthServer::authorize`](crate::AuthServer::authorize)).
    #[must_use]
    pub fn authorization(mut self, path: &str) -> Self {
        self.authorization = Some(path.to_owned());
        self
    }

    /// The introspection endpoint's path.
    #[must_use]
    pub fn introspection(mut self, path: &str) -> Self {
        self.introspection = Some(path.to_owned());
        self
    }

    /// The revocation endpoint's path.
    #[must_use]
    pub fn revocation(mut self, path: &str) -> Self {
        self.revocation = Some(path.to_owned());
        self
    }
}

/// The built document, its entity tag, and where to serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    body: Vec<u8>,
    etag: String,
    path: String,
}

impl Metadata {
    /// Builds the document for `config` (whose issuer it names exactly, RFC
    /// 8414 §3.3) with the endpoints at `endpoints`.
    ///
    /// # Errors
    /// [`Error::Config`] when a path is not an absolute path (`/` first, no
    /// `//` start, no query, fragment, space or control character), or the
    /// config is not valid ([`Config::validate`]).
    pub fn new(config: &Config, endpoints: &Endpoints) -> Result<Self, Error> {
        config.validate()?;
        let base = config.issuer.trim_end_matches('/');
        let url = |name: &str, path: &str| -> Result<String, Error> {
            if !path_is_valid(path) {
                return Err(Error::Config(format!(
                    "the {name} endpoint's path must start with one `/` and have no query, fragment, \
                     space or control character, e.g. \"/oauth/{name}\""
                )));
            }
            Ok(format!("{base}{path}"))
        };
        let token = url("token", &endpoints.token)?;
        let authorization = endpoints.authorization.as_deref().map(|p| url("authorize", p)).transpose()?;
        let introspection = endpoints.introspection.as_deref().map(|p| url("introspect", p)).transpose()?;
        let revocation = endpoints.revocation.as_deref().map(|p| url("revoke", p)).transpose()?;
        // Public clients exist only to run the code flow; without it, `none`
        // authenticates nobody who could use a token.
        let code_flow = authorization.is_some();
        let public: &[&str] = if code_flow { &["none"] } else { &[] };
        let with_public = || SECRET_METHODS.iter().chain(public).copied();

        let mut doc = json::Object::with_capacity(1024);
        doc.str("issuer", &config.issuer);
        if let Some(a) = &authorization {
            doc.str("authorization_endpoint", a);
        }
        doc.str("token_endpoint", &token).strs("token_endpoint_auth_methods_supported", with_public());
        let mut grants = vec!["client_credentials"];
        if code_flow {
            grants.extend(["authorization_code", "refresh_token"]);
        }
        doc.strs("grant_types_supported", grants);
        doc.strs("response_types_supported", code_flow.then_some("code"));
        if code_flow {
            doc.strs("response_modes_supported", ["query"])
                .strs("code_challenge_methods_supported", ["S256"])
                .bool("authorization_response_iss_parameter_supported", true);
        }
        if let Some(i) = &introspection {
            doc.str("introspection_endpoint", i)
                .strs("introspection_endpoint_auth_methods_supported", SECRET_METHODS.iter().copied());
        }
        if let Some(r) = &revocation {
            doc.str("revocation_endpoint", r)
                .strs("revocation_endpoint_auth_methods_supported", with_public());
        }
        if !config.scopes_supported.is_empty() {
            doc.strs("scopes_supported", config.scopes_supported.iter().map(String::as_str));
        }
        let body = doc.finish();
        // A strong validator: the digest of the exact bytes served.
        let digest = crypto::domain_digest(b"gatehouse metadata etag\0", &body);
        let etag = format!("\"{}\"", hex::encode(&digest[..16]));
        Ok(Self { body, etag, path: well_known_path(&config.issuer) })
    }

    /// The document's JSON bytes.
    pub fn json(&self) -> &[u8] {
        &self.body
    }

    /// The entity tag of the document, quoted (`"…"`).
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The path to serve the document at (RFC 8414 §3.1): the well-known
    /// suffix, followed by the issuer's path if it has one
    /// (`https://a.example/t1` → `/.well-known/oauth-authorization-server/t1`).
    /// Clients build this URL from the issuer and check that the document
    /// names that issuer.
    pub fn well_known_path(&self) -> &str {
        &self.path
    }

    /// The response to a `GET` (or `HEAD`) of [`well_known_path`](Self::well_known_path):
    /// the document with `Cache-Control: public, max-age=3600` and its
    /// `ETag`, or `304 Not Modified` without a body when `if_none_match`
    /// names that tag (RFC 9110 §13.1.2, weak comparison).
    pub fn response(&self, if_none_match: Header<'_>) -> HttpResponse {
        let fresh = match if_none_match {
            Header::One(v) => std::str::from_utf8(v).is_ok_and(|v| tag_matches(v, &self.etag)),
            _ => false,
        };
        let mut headers = vec![
            ("Cache-Control", Cow::Owned(format!("public, max-age={MAX_AGE_SECS}"))),
            ("ETag", Cow::Owned(self.etag.clone())),
        ];
        if fresh {
            return HttpResponse { status: 304, headers, body: Vec::new() };
        }
        headers.insert(0, ("Content-Type", Cow::Borrowed("application/json")));
        HttpResponse { status: 200, headers, body: self.body.clone() }
    }
}

/// Whether an `If-None-Match` value (`*` or a list of entity tags) names
/// `etag`. Weak comparison: `W/"x"` matches `"x"`.
fn tag_matches(value: &str, etag: &str) -> bool {
    value.trim() == "*" || value.split(',').map(str::trim).any(|t| t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// RFC 8414 §3.1: the well-known suffix is inserted between the host and
/// the path of the issuer. `Config::validate` has checked its shape.
fn well_known_path(issuer: &str) -> String {
    let rest = issuer.split_once("://").map_or(issuer, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| rest[i..].trim_end_matches('/'));
    format!("{WELL_KNOWN_SUFFIX}{path}")
}

/// `/` first (but not `//`, which would read as a host), and nothing that
/// is not a plain path.
fn path_is_valid(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains(['?', '#'])
        && !path.contains(|c: char| c.is_whitespace() || c.is_control())
}

/// Whether each advertised scope is one scope token (RFC 6749 §3.3), listed
/// once.
pub(crate) fn scopes_are_valid(scopes: &[String]) -> bool {
    let tokens_ok = scopes.iter().all(|s| {
        !s.is_empty()
            && s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    });
    let mut sorted: Vec<&str> = scopes.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    tokens_ok && sorted.len() == scopes.len()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn all() -> Endpoints {
        Endpoints::new("/oauth/token")
            .authorization("/oauth/authorize")
            .introspection("/oauth/introspect")
            .revocation("/oauth/revoke")
    }

    fn doc(m: &Metadata) -> Value {
        serde_json::from_slice(m.json()).unwrap()
    }

    /// The whole document, member by member: a claim added or dropped
    /// changes this test (and the example's, which drives each claim).
    #[test]
    fn the_full_document() {
        let mut config = Config::new("https://auth.example.com");
        config.scopes_supported = vec!["read".into(), "write".into()];
        let m = Metadata::new(&config, &all()).unwrap();
        assert_eq!(
            doc(&m),
            json!({
                "issuer": "https://auth.example.com",
                "authorization_endpoint": "https://auth.example.com/oauth/authorize",
                "token_endpoint": "https://auth.example.com/oauth/token",
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
                "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": true,
                "introspection_endpoint": "https://auth.example.com/oauth/introspect",
                "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "revocation_endpoint": "https://auth.example.com/oauth/revoke",
                "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
                "scopes_supported": ["read", "write"],
            })
        );
        assert_eq!(m.well_known_path(), "/.well-known/oauth-authorization-server");
    }

    /// Without the code flow: no public clients, no code grants, no
    /// authorization-response members; no scopes when none are configured.
    #[test]
    fn only_what_is_served() {
        let m = Metadata::new(&Config::new("https://auth.example.com"), &Endpoints::new("/token")).unwrap();
        assert_eq!(
            doc(&m),
            json!({
                "issuer": "https://auth.example.com",
                "token_endpoint": "https://auth.example.com/token",
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "grant_types_supported": ["client_credentials"],
                "response_types_supported": [],
            })
        );
    }

    /// The issuer is copied exactly; endpoints and the well-known path
    /// follow its path (RFC 8414 §3.1).
    #[test]
    fn issuer_with_a_path() {
        for issuer in ["https://auth.example.com/tenant1", "https://auth.example.com/tenant1/"] {
            let m = Metadata::new(&Config::new(issuer), &all()).unwrap();
            let d = doc(&m);
            assert_eq!(d["issuer"], issuer);
            assert_eq!(d["token_endpoint"], "https://auth.example.com/tenant1/oauth/token");
            assert_eq!(m.well_known_path(), "/.well-known/oauth-authorization-server/tenant1");
        }
        let m = Metadata::new(&Config::new("http://127.0.0.1:8080/"), &all()).unwrap();
        assert_eq!(m.well_known_path(), "/.well-known/oauth-authorization-server");
    }

    #[test]
    fn bad_paths_and_configs_are_refused() {
        let config = Config::new("https://auth.example.com");
        for bad in ["", "oauth/token", "//evil.example/token", "/t?x=1", "/t#f", "/t t", "/t\n"] {
            let e = Metadata::new(&config, &Endpoints::new(bad)).unwrap_err();
            assert!(matches!(&e, Error::Config(m) if m.contains("token endpoint")), "{bad:?}: {e}");
            let e = Metadata::new(&config, &Endpoints::new("/t").revocation(bad)).unwrap_err();
            assert!(matches!(&e, Error::Config(m) if m.contains("revoke endpoint")), "{bad:?}: {e}");
        }
        let e = Metadata::new(&Config::new("ftp://x"), &all()).unwrap_err();
        assert!(matches!(&e, Error::Config(m) if m.starts_with("`issuer`")), "{e}");
    }

    #[test]
    fn response_caches_and_revalidates() {
        let m = Metadata::new(&Config::new("https://auth.example.com"), &all()).unwrap();
        let r = m.response(Header::Absent);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, m.json());
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
        assert_eq!(r.header("etag"), Some(m.etag()));
        assert!(m.etag().starts_with('"') && m.etag().ends_with('"') && m.etag().len() == 34);
        let weak = format!("W/{}", m.etag());
        for matching in [m.etag(), "*", &weak, &format!("\"other\", {}", m.etag())] {
            let r = m.response(Header::One(matching.as_bytes()));
            assert_eq!((r.status, r.body.len()), (304, 0), "{matching}");
            assert_eq!(r.header("etag"), Some(m.etag()));
            assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
        }
        for other in [Header::One(b"\"other\""), Header::One(b"\xff"), Header::Repeated] {
            assert_eq!(m.response(other).status, 200, "{other:?}");
        }
        // Another document, another tag.
        let n = Metadata::new(&Config::new("https://auth.example.com"), &Endpoints::new("/t")).unwrap();
        assert_ne!(n.etag(), m.etag());
    }

    #[test]
    fn scope_lists() {
        let v = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(scopes_are_valid(&[]));
        assert!(scopes_are_valid(&v(&["read", "write", "urn:x:y!"])));
        assert!(!scopes_are_valid(&v(&[""])));
        assert!(!scopes_are_valid(&v(&["a b"])));
        assert!(!scopes_are_valid(&v(&["a\"b"])));
        assert!(!scopes_are_valid(&v(&["a\\b"])));
        assert!(!scopes_are_valid(&v(&["é"])));
        assert!(!scopes_are_valid(&v(&["a", "a"])));
    }
}
