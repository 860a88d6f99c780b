//! Registered clients (RFC 6749 §2) and, among them, resource servers.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ids::{ClientId, Resource, ValueError};
use super::redirect_uri;
use super::scope::Scope;
use crate::crypto::{self, RandomError, RandomSecret};
use crate::time::UnixTime;

const SECRET_DOMAIN: &[u8] = b"gh-cs-v1";

/// Shortest client secret accepted at registration. Secrets are stored as
/// an unsalted SHA-256 digest, which is only safe for high-entropy secrets:
/// 32 bytes of a generated secret carry well over 128 bits.
pub const MIN_SECRET_LEN: usize = 32;

/// The stored form of a client secret: a domain-separated SHA-256 digest.
///
/// It has no `PartialEq`: the only comparisons run in constant time
/// ([`verify`](Self::verify)). `Debug` prints a placeholder.
#[derive(Clone)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    /// What a presented secret is compared with when there is no
    /// confidential client to compare it with, so that path does the same
    /// work as a wrong secret. A constant rather than a digest computed on
    /// first use, which would make the first such failure cost one digest
    /// more. Finding a secret that digests to it is a SHA-256 preimage; and
    /// client authentication refuses a match with it anyway.
    pub(crate) const NOBODY: SecretDigest = SecretDigest([0x5a; 32]);

    /// Digests a secret for registration.
    ///
    /// # Errors
    /// [`ValueError`] when the secret is shorter than [`MIN_SECRET_LEN`]
    /// bytes. The error never contains the secret.
    pub fn from_secret(secret: &str) -> Result<Self, ValueError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(ValueError { what: "client secret", rule: "must be at least 32 bytes" });
        }
        Ok(Self::of_presented(secret))
    }

    /// Generates a new random secret (256 bits, base64url) and its digest.
    /// The caller hands the secret to the client once and keeps the digest.
    ///
    /// # Errors
    /// [`RandomError`] when the OS random source fails.
    pub fn generate() -> Result<(String, Self), RandomError> {
        let secret = RandomSecret::generate()?.into_string();
        let digest = Self::of_presented(&secret);
        Ok((secret, digest))
    }

    /// Whether `presented` is the secret this is the digest of, compared in
    /// constant time. A presented value of any length is digested, so a
    /// short or empty one costs what a wrong long one does.
    pub fn verify(&self, presented: &str) -> bool {
        self.matches(&Self::of_presented(presented))
    }

    /// Parses the hex form (`sha256:` followed by 64 hex digits).
    ///
    /// # Errors
    /// [`ValueError`] when the text is not in that form.
    pub fn from_hex(s: &str) -> Result<Self, ValueError> {
        s.strip_prefix("sha256:")
            .and_then(crate::hex::decode)
            .map(Self)
            .ok_or(ValueError { what: "secret digest", rule: "must be 'sha256:' and 64 hex digits" })
    }

    /// The hex form, `sha256:` followed by 64 hex digits.
    pub fn to_hex(&self) -> String {
        format!("sha256:{}", crate::hex::encode(&self.0))
    }

    /// The digest of whatever a caller presented, of any length.
    pub(crate) fn of_presented(secret: &str) -> Self {
        Self(crypto::domain_digest(SECRET_DOMAIN, secret.as_bytes()))
    }

    /// Constant-time comparison with another digest.
    pub(crate) fn matches(&self, other: &SecretDigest) -> bool {
        crypto::ct_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(<redacted>)")
    }
}

impl Serialize for SecretDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SecretDigest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// A grant type a client may use (RFC 6749 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrantType {
    /// `client_credentials` (RFC 6749 §4.4).
    ClientCredentials,
    /// `authorization_code` (RFC 6749 §4.1).
    AuthorizationCode,
    /// `refresh_token` (RFC 6749 §6).
    RefreshToken,
}

impl GrantType {
    const fn bit(self) -> u8 {
        match self {
            Self::ClientCredentials => 1,
            Self::AuthorizationCode => 2,
            Self::RefreshToken => 4,
        }
    }

    /// The `grant_type` parameter value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
        }
    }

    /// Parses a `grant_type` parameter value.
    pub fn from_param(s: &str) -> Option<Self> {
        match s {
            "client_credentials" => Some(Self::ClientCredentials),
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            _ => None,
        }
    }
}

/// The set of grant types a client may use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GrantTypes(u8);

impl GrantTypes {
    /// No grant at all.
    pub const NONE: Self = Self(0);

    /// Whether `g` is allowed.
    pub const fn contains(self, g: GrantType) -> bool {
        self.0 & g.bit() != 0
    }

    /// This set plus `g`.
    #[must_use]
    pub const fn with(self, g: GrantType) -> Self {
        Self(self.0 | g.bit())
    }

    fn iter(self) -> impl Iterator<Item = GrantType> {
        [GrantType::ClientCredentials, GrantType::AuthorizationCode, GrantType::RefreshToken]
            .into_iter()
            .filter(move |g| self.contains(*g))
    }
}

impl FromIterator<GrantType> for GrantTypes {
    fn from_iter<I: IntoIterator<Item = GrantType>>(iter: I) -> Self {
        iter.into_iter().fold(Self::NONE, Self::with)
    }
}

impl fmt::Debug for GrantTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for GrantTypes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for GrantTypes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<GrantType>::deserialize(d)?.into_iter().collect())
    }
}

/// What makes a confidential client a resource server: the resource
/// identifiers it speaks for. It may introspect tokens, and sees as active
/// only those whose audience names one of these resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceServer {
    /// The resources this server protects.
    pub resources: Arc<[Resource]>,
}

impl ResourceServer {
    /// Whether a token with audience `aud` is meant for this server.
    pub fn accepts(&self, aud: &[Resource]) -> bool {
        aud.iter().any(|a| self.resources.contains(a))
    }
}

/// How a client authenticates, and what only confidential clients may be.
///
/// A public client cannot be a resource server: there is no variant for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuth {
    /// No secret (RFC 6749 §2.1): native and browser apps.
    Public,
    /// Holds a secret (client_secret_basic or client_secret_post).
    Confidential {
        /// The secret's digest.
        secret: SecretDigest,
        /// Present when the client may introspect, as a resource server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resource_server: Option<ResourceServer>,
        /// The secret this one replaced, still accepted until its
        /// deadline, so that a rotation needs no downtime. Absent from
        /// registrations stored before rotation existed, which then decode
        /// as `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<PreviousSecret>,
    },
}

/// A replaced client secret during its overlap: accepted while the time is
/// before `until`, never after. Only one is kept: rotating again during an
/// overlap ends the older secret at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreviousSecret {
    /// The old secret's digest.
    pub secret: SecretDigest,
    /// The first second at which the old secret is refused.
    pub until: UnixTime,
}

/// A registered client. Every field is cheap to clone (shared `Arc`s), so
/// a registry can hand out copies on the hot path without allocating.
///
/// Built with [`new_confidential`](Self::new_confidential),
/// [`new_public`](Self::new_public) or
/// [`new_resource_server`](Self::new_resource_server) and the `with_*`
/// methods, or decoded from its stored form. Non-exhaustive: it has grown
/// before (`default_audience`), and a field added later then breaks no
/// caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Client {
    /// Its identifier.
    pub id: ClientId,
    /// Public or confidential, and its secret.
    pub auth: ClientAuth,
    /// Grants it may use.
    #[serde(default)]
    pub grant_types: GrantTypes,
    /// The most it may be granted.
    #[serde(default = "Scope::empty")]
    pub scope: Scope,
    /// What it gets when it asks for no scope; must be within `scope`.
    #[serde(default = "Scope::empty")]
    pub default_scope: Scope,
    /// The resources it may request tokens for (RFC 8707). A request
    /// without `resource` gets a token for [`default_audience`] alone, or
    /// for the only audience when there is one; with several and no
    /// default, `resource` is required (`invalid_target`), so a token is
    /// never valid at every API by default (RFC 9700 §2.3).
    ///
    /// [`default_audience`]: Self::default_audience
    #[serde(default = "empty_resources")]
    pub audiences: Arc<[Resource]>,
    /// The audience of a token requested without `resource`; one of
    /// [`audiences`](Self::audiences). Absent from stored registrations
    /// made before it existed, which then decode as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_audience: Option<Resource>,
    /// Registered redirect URIs. [`validate`](Self::validate) states which
    /// are allowed; the authorization endpoint compares them exactly, but
    /// for the port of a public client's loopback URI (RFC 8252 §7.3).
    #[serde(default = "no_uris")]
    pub redirect_uris: Arc<[String]>,
    /// A disabled client cannot authenticate, and its tokens are inactive.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn empty_resources() -> Arc<[Resource]> {
    Arc::from(Vec::new())
}

fn no_uris() -> Arc<[String]> {
    Arc::from(Vec::new())
}

const fn yes() -> bool {
    true
}

impl Client {
    /// A confidential client holding the secret behind `secret`, enabled,
    /// with no grants, scope, audiences or redirect URIs yet: add them with
    /// the `with_*` methods.
    pub fn new_confidential(id: ClientId, secret: SecretDigest) -> Self {
        Self::bare(id, ClientAuth::Confidential { secret, resource_server: None, previous: None })
    }

    /// A public client (no secret), enabled, with nothing granted yet.
    pub fn new_public(id: ClientId) -> Self {
        Self::bare(id, ClientAuth::Public)
    }

    /// A resource server: a confidential client that may introspect tokens
    /// meant for `resources`.
    pub fn new_resource_server(
        id: ClientId,
        secret: SecretDigest,
        resources: impl IntoIterator<Item = Resource>,
    ) -> Self {
        let rs = ResourceServer { resources: resources.into_iter().collect::<Vec<_>>().into() };
        Self::bare(id, ClientAuth::Confidential { secret, resource_server: Some(rs), previous: None })
    }

    fn bare(id: ClientId, auth: ClientAuth) -> Self {
        Self {
            id,
            auth,
            grant_types: GrantTypes::NONE,
            scope: Scope::empty(),
            default_scope: Scope::empty(),
            audiences: empty_resources(),
            default_audience: None,
            redirect_uris: no_uris(),
            enabled: true,
        }
    }

    /// The same client, allowed these grant types.
    #[must_use]
    pub fn with_grants(mut self, grants: impl IntoIterator<Item = GrantType>) -> Self {
        self.grant_types = grants.into_iter().collect();
        self
    }

    /// The same client, allowed `scope`, and given `default` when it asks
    /// for none ([`validate`](Self::validate) checks that `default` is
    /// within `scope`).
    #[must_use]
    pub fn with_scope(mut self, scope: Scope, default: Scope) -> Self {
        self.scope = scope;
        self.default_scope = default;
        self
    }

    /// The same client, allowed to request tokens for `audiences`.
    #[must_use]
    pub fn with_audiences(mut self, audiences: impl IntoIterator<Item = Resource>) -> Self {
        self.audiences = audiences.into_iter().collect::<Vec<_>>().into();
        self
    }

    /// The same client, given `audience` when it names no `resource`
    /// ([`validate`](Self::validate) checks that it is one of the
    /// audiences).
    #[must_use]
    pub fn with_default_audience(mut self, audience: Resource) -> Self {
        self.default_audience = Some(audience);
        self
    }

    /// The same client, with these registered redirect URIs.
    #[must_use]
    pub fn with_redirect_uris(mut self, uris: impl IntoIterator<Item = String>) -> Self {
        self.redirect_uris = uris.into_iter().collect::<Vec<_>>().into();
        self
    }

    /// The resource-server role, if this client has it.
    pub fn resource_server(&self) -> Option<&ResourceServer> {
        match &self.auth {
            ClientAuth::Confidential { resource_server, .. } => resource_server.as_ref(),
            ClientAuth::Public => None,
        }
    }

    /// Whether the client has a secret.
    pub fn is_confidential(&self) -> bool {
        matches!(self.auth, ClientAuth::Confidential { .. })
    }

    /// The same client with `secret` as its secret, and its current secret
    /// kept as the previous one until `previous_until`. A deadline not
    /// after `now` keeps no previous secret: the old one stops at once (a
    /// leaked secret). Any earlier previous secret is dropped. `None` for a
    /// public client, which has no secret to rotate.
    #[must_use]
    pub fn with_rotated_secret(
        &self,
        secret: SecretDigest,
        previous_until: UnixTime,
        now: UnixTime,
    ) -> Option<Self> {
        let ClientAuth::Confidential { secret: current, resource_server, .. } = &self.auth else {
            return None;
        };
        let previous =
            (now < previous_until).then(|| PreviousSecret { secret: current.clone(), until: previous_until });
        let auth = ClientAuth::Confidential { secret, resource_server: resource_server.clone(), previous };
        Some(Self { auth, ..self.clone() })
    }

    /// Checks the rules that serde alone cannot. Call it before
    /// registering a client ([`ClientRegistry::put_client`] stores what it
    /// is given).
    ///
    /// - The default scope lies within the allowed scope.
    /// - The default audience, if any, is one of the audiences.
    /// - Each redirect URI is absolute and has no fragment (RFC 6749
    ///   §3.1.2), and is `https` with a host and no user information; or
    ///   `http` to the loopback IP literal `127.0.0.1` or `[::1]`, with any
    ///   path (RFC 8252 §7.3; `localhost` is refused, RFC 8252 §8.3); or,
    ///   for a public client only, a private-use scheme in reverse-domain
    ///   form such as `com.example.app:/callback` (RFC 8252 §7.1).
    ///
    /// The authorization endpoint applies the same rules again, so a
    /// registered URI that breaks them never matches a request.
    ///
    /// [`ClientRegistry::put_client`]: crate::ClientRegistry::put_client
    ///
    /// # Errors
    /// [`RegistrationError`] naming the field, the offending redirect URI
    /// or audience, and the rule.
    pub fn validate(&self) -> Result<(), RegistrationError> {
        if !self.default_scope.is_subset_of(&self.scope) {
            return Err(RegistrationError::rule("default_scope", "must be within scope"));
        }
        if let Some(d) = &self.default_audience {
            if !self.audiences.contains(d) {
                return Err(RegistrationError {
                    field: "default_audience",
                    value: Some(d.to_string()),
                    rule: "must be one of audiences",
                });
            }
        }
        let public = !self.is_confidential();
        for uri in self.redirect_uris.iter() {
            redirect_uri::check(uri, public).map_err(|rule| RegistrationError {
                field: "redirect_uris",
                value: Some(uri.clone()),
                rule,
            })?;
        }
        Ok(())
    }

    /// Whether `requested`, from an authorization request, matches one of
    /// the registered redirect URIs: exactly, or but for the port of a
    /// public client's loopback URI (RFC 8252 §7.3).
    pub(crate) fn redirect_uri_matches(&self, requested: &str) -> bool {
        let public = !self.is_confidential();
        self.redirect_uris.iter().any(|r| redirect_uri::matches(r, requested, public))
    }
}

/// A client registration that breaks a rule: the field, the offending
/// value where it is not secret (a redirect URI or an audience, never a
/// secret), and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct RegistrationError {
    /// The field that breaks the rule, e.g. `redirect_uris`.
    pub field: &'static str,
    /// The offending entry, when the field holds several.
    pub value: Option<String>,
    /// The rule, as a sentence for the operator.
    pub rule: &'static str,
}

impl RegistrationError {
    const fn rule(field: &'static str, rule: &'static str) -> Self {
        Self { field, value: None, rule }
    }
}

/// Longest part of an offending value shown in a message.
const SHOWN_VALUE: usize = 120;

impl fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            None => write!(f, "{} {}", self.field, self.rule),
            Some(v) => {
                // Quoted with escapes, so a control character cannot forge a
                // log line; cut, so a huge value cannot flood one.
                let shown: String = v.chars().take(SHOWN_VALUE).collect();
                let more = if shown.len() < v.len() { "..." } else { "" };
                write!(f, "{} entry {shown:?}{more} is refused: {}", self.field, self.rule)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_digest_matches_only_its_secret() {
        let (secret, d) = SecretDigest::generate().unwrap();
        assert!(secret.len() >= MIN_SECRET_LEN);
        assert!(d.matches(&SecretDigest::of_presented(&secret)));
        assert!(!d.matches(&SecretDigest::of_presented("other")));
        assert!(d.verify(&secret));
        assert!(!d.verify(&secret[1..]));
        assert!(!d.verify(&format!("{secret}x")));
        assert!(!d.verify(""));
        assert!(SecretDigest::from_secret("short").is_err());
        let hex = d.to_hex();
        assert!(SecretDigest::from_hex(&hex).unwrap().matches(&d));
        assert!(SecretDigest::from_hex("sha256:zz").is_err());
        assert_eq!(format!("{d:?}"), "SecretDigest(<redacted>)");
    }

    #[test]
    fn grant_types_set() {
        let g: GrantTypes = [GrantType::ClientCredentials].into_iter().collect();
        assert!(g.contains(GrantType::ClientCredentials));
        assert!(!g.contains(GrantType::RefreshToken));
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(json, "[\"client_credentials\"]");
        assert_eq!(serde_json::from_str::<GrantTypes>(&json).unwrap(), g);
        for g in [GrantType::ClientCredentials, GrantType::AuthorizationCode, GrantType::RefreshToken] {
            assert_eq!(GrantType::from_param(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::from_param("password"), None);
        assert_eq!(GrantType::from_param("Refresh_token"), None);
    }

    #[test]
    fn builders() {
        let api = Resource::new("https://api.example").unwrap();
        let (_, d) = SecretDigest::generate().unwrap();
        let c = Client::new_confidential(ClientId::new("c").unwrap(), d)
            .with_grants([GrantType::ClientCredentials])
            .with_scope(Scope::parse("a b").unwrap(), Scope::parse("a").unwrap())
            .with_audiences([api.clone()])
            .with_redirect_uris(["https://c/cb".to_owned()]);
        assert!(c.is_confidential() && c.enabled && c.resource_server().is_none());
        assert!(c.grant_types.contains(GrantType::ClientCredentials));
        assert!(c.validate().is_ok());
        assert_eq!(
            (&c.audiences[..], &c.redirect_uris[..]),
            (&[api.clone()][..], &["https://c/cb".to_owned()][..])
        );
        let (_, d) = SecretDigest::generate().unwrap();
        let rs = Client::new_resource_server(ClientId::new("rs").unwrap(), d, [api.clone()]);
        assert!(rs.resource_server().is_some_and(|r| r.accepts(&[api])));
        assert!(!Client::new_public(ClientId::new("p").unwrap()).is_confidential());
    }

    #[test]
    fn client_json_and_validation() {
        let json = r#"{"id":"rs","auth":{"type":"confidential","secret":"sha256:0000000000000000000000000000000000000000000000000000000000000000","resource_server":{"resources":["https://api.example"]}},"scope":"a b","default_scope":"c"}"#;
        let c: Client = serde_json::from_str(json).unwrap();
        assert!(c.resource_server().is_some());
        assert!(c.enabled);
        assert!(c.validate().is_err());
        let public = r#"{"id":"p","auth":{"type":"public"}}"#;
        let p: Client = serde_json::from_str(public).unwrap();
        assert!(p.resource_server().is_none());
        assert!(!p.is_confidential());
        assert_eq!(p.default_audience, None);
        // No default audience, no field: registrations stored before it
        // existed and those stored after look the same.
        assert!(!serde_json::to_string(&p).unwrap().contains("default_audience"));
    }

    #[test]
    fn default_audience_round_trips_and_must_be_an_audience() {
        let api = Resource::new("https://api.example").unwrap();
        let billing = Resource::new("https://billing.example").unwrap();
        let c = Client::new_public(ClientId::new("p").unwrap())
            .with_audiences([api.clone(), billing.clone()])
            .with_default_audience(billing.clone());
        assert_eq!(c.validate(), Ok(()));
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""default_audience":"https://billing.example""#), "{json}");
        let back: Client = serde_json::from_str(&json).unwrap();
        assert_eq!(back.default_audience, Some(billing));
        let other = Resource::new("https://other.example").unwrap();
        let e = c.with_audiences([api]).with_default_audience(other).validate().unwrap_err();
        assert_eq!(e.field, "default_audience");
        assert_eq!(
            e.to_string(),
            r#"default_audience entry "https://other.example" is refused: must be one of audiences"#
        );
    }

    #[test]
    fn validate_checks_redirect_uris_by_client_kind() {
        let (_, d) = SecretDigest::generate().unwrap();
        let web = Client::new_confidential(ClientId::new("web").unwrap(), d);
        let app = Client::new_public(ClientId::new("app").unwrap());
        let with = |c: &Client, uri: &str| c.clone().with_redirect_uris([uri.to_owned()]).validate();
        for uri in ["https://web.example/cb", "http://127.0.0.1:8080/cb"] {
            assert_eq!(with(&web, uri), Ok(()), "{uri}");
            assert_eq!(with(&app, uri), Ok(()), "{uri}");
        }
        assert_eq!(with(&app, "com.example.app:/cb"), Ok(()));
        let e = with(&web, "com.example.app:/cb").unwrap_err();
        assert_eq!((e.field, e.value.as_deref()), ("redirect_uris", Some("com.example.app:/cb")));
        let e = with(&app, "http://app.example/cb").unwrap_err();
        let msg = e.to_string();
        assert!(msg
            .starts_with(r#"redirect_uris entry "http://app.example/cb" is refused: http is allowed only"#));
        assert!(msg.contains("RFC 8252 section 7.3"), "{msg}");
        // The first bad entry is named, after good ones.
        let e = web
            .clone()
            .with_redirect_uris(["https://web.example/cb".to_owned(), "https://web.example/cb#x".to_owned()])
            .validate()
            .unwrap_err();
        assert_eq!(e.value.as_deref(), Some("https://web.example/cb#x"));
        assert!(e.rule.contains("fragment"));
        // A huge value is cut, and control characters are escaped.
        let e = with(&app, &format!("\n{}", "a".repeat(5000))).unwrap_err().to_string();
        assert!(e.len() < 500 && e.contains("...") && !e.contains('\n'), "{e}");
    }
}
