//! Records and clients for checks.
//!
//! Token records carry real digests, minted with a [`Keyring`], and every
//! optional field filled in, so a backend that drops or mangles a field
//! fails the round-trip checks. Times are in the year 2100 (see [`BASE`]).
//!
//! The builders panic when the OS random source fails: they are for tests.

use std::sync::Arc;

use gatehouse_core::model::{
    Claims, Client, ClientId, CodeBinding, GrantId, GrantType, Jti, Resource, Scope, SecretDigest, Subject,
    TokenKind, TokenRecord,
};
use gatehouse_core::{Keyring, RawToken, UnixTime};

/// The "now" of the checks: 2100-01-01T00:00:00Z.
///
/// Far in the wall-clock future on purpose: a backend whose records expire
/// by TTL against its own clock (Redis) must not drop any record during a
/// check, including those the checks treat as expired by passing a later
/// `now` to `purge_expired`.
pub const BASE: UnixTime = UnixTime(4_102_444_800);

/// How long fixture tokens live after [`BASE`].
pub const LIFETIME: u64 = 3600;

/// The client id fixture records are issued to.
pub const CLIENT: &str = "conformance-client";

/// The first resource of fixture audiences.
pub const API: &str = "https://api.example.com/v1";

/// A keyring with one fresh random key.
///
/// # Panics
/// When the OS random source fails.
pub fn keyring() -> Keyring {
    Keyring::random().expect("OS random source for a test keyring")
}

/// A fresh random grant id.
///
/// # Panics
/// When the OS random source fails.
pub fn grant() -> GrantId {
    GrantId::generate().expect("OS random source for a grant id")
}

/// A validated client id.
///
/// # Panics
/// When `id` is not a valid client id.
pub fn client_id(id: &str) -> ClientId {
    ClientId::new(id).expect("fixture client id is valid")
}

/// A validated resource indicator.
///
/// # Panics
/// When `r` is not a valid resource.
pub fn resource(r: &str) -> Resource {
    Resource::new(r).expect("fixture resource is valid")
}

/// A validated scope.
///
/// # Panics
/// When `s` is not a valid scope.
pub fn scope(s: &str) -> Scope {
    Scope::parse(s).expect("fixture scope is valid")
}

/// A new token of `kind` in `grant`, minted with `keys`: the raw token (for
/// checks that present it to a server) and its record, with every field set:
/// a subject with non-ASCII characters, a three-token scope, a two-resource
/// audience, `not_before` after `issued_at`, and a code binding for
/// authorization codes. State is `Active`; times are around [`BASE`].
///
/// # Panics
/// When the OS random source fails.
pub fn minted(keys: &Keyring, kind: TokenKind, grant: GrantId) -> (RawToken, TokenRecord) {
    let (raw, digest) = keys.mint(kind, grant).expect("OS random source for a token");
    let jti = Jti::generate().expect("OS random source for a jti");
    let audience = Arc::from(vec![resource(API), resource("urn:example:billing")]);
    let claims = Claims::new(client_id(CLIENT), scope("read write admin:all"), audience)
        .with_subject(Subject::new("ünïcode user ✓").expect("fixture subject is valid"));
    let (issued, expires) = (BASE.minus(10), BASE.plus(LIFETIME));
    let mut record = match kind {
        TokenKind::AuthorizationCode => {
            let binding = CodeBinding {
                redirect_uri: "https://app.example.com/callback?x=1&y=é".to_owned(),
                code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
            };
            TokenRecord::code(digest, jti, claims, binding, issued, expires)
        }
        TokenKind::Refresh => TokenRecord::refresh(digest, jti, claims, issued, expires),
        _ => TokenRecord::access(digest, jti, claims, issued, expires),
    };
    // Every time field distinct, so a backend that mixes them up is caught.
    record.not_before = BASE.minus(5);
    (raw, record)
}

/// A record of `kind` in `grant`, as [`minted`] builds it, with a digest from
/// a fresh keyring.
pub fn record(kind: TokenKind, grant: GrantId) -> TokenRecord {
    minted(&keyring(), kind, grant).1
}

/// An access token record in `grant`; see [`minted`].
pub fn access(grant: GrantId) -> TokenRecord {
    record(TokenKind::Access, grant)
}

/// A refresh token record in `grant`; see [`minted`].
pub fn refresh(grant: GrantId) -> TokenRecord {
    record(TokenKind::Refresh, grant)
}

/// An authorization code record in `grant`, with its binding; see [`minted`].
pub fn code(grant: GrantId) -> TokenRecord {
    record(TokenKind::AuthorizationCode, grant)
}

/// A client_credentials access token record: no subject, empty scope, one
/// resource in its audience. The sparse counterpart of [`access`].
pub fn service_access(grant: GrantId) -> TokenRecord {
    let mut r = access(grant);
    r.subject = None;
    r.scope = Scope::empty();
    r.audience = Arc::from(vec![resource(API)]);
    r.not_before = r.issued_at;
    r
}

/// A `record` that expires at `expires_at`, with its other times before it.
pub fn expiring_at(mut record: TokenRecord, expires_at: UnixTime) -> TokenRecord {
    record.expires_at = expires_at;
    record.not_before = expires_at.minus(LIFETIME);
    record.issued_at = record.not_before;
    record
}

/// A confidential client allowed the authorization code and refresh grants,
/// with a redirect URI and two audiences, the first its default: its secret
/// (to present) and its registration.
///
/// # Panics
/// When the OS random source fails.
pub fn confidential_client(id: &str) -> (String, Client) {
    let (secret, digest) = SecretDigest::generate().expect("OS random source for a client secret");
    let client = Client::new_confidential(client_id(id), digest)
        .with_grants([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials])
        .with_scope(scope("read write admin:all"), scope("read"))
        .with_audiences([resource(API), resource("urn:example:billing")])
        .with_default_audience(resource(API))
        .with_redirect_uris(["https://app.example.com/callback".to_owned()]);
    (secret, client)
}

/// A public client (no secret) allowed the authorization code and refresh
/// grants.
pub fn public_client(id: &str) -> Client {
    Client::new_public(client_id(id))
        .with_grants([GrantType::AuthorizationCode, GrantType::RefreshToken])
        .with_scope(scope("read"), scope("read"))
        .with_audiences([resource(API)])
        .with_redirect_uris(["http://127.0.0.1/callback".to_owned(), "com.example.app:/cb".to_owned()])
}

/// A resource server: a confidential client with no grant that may
/// introspect tokens for `resources`. Its secret and its registration.
///
/// # Panics
/// When the OS random source fails or a resource is invalid.
pub fn resource_server(id: &str, resources: &[&str]) -> (String, Client) {
    let (secret, digest) = SecretDigest::generate().expect("OS random source for a client secret");
    let client = Client::new_resource_server(client_id(id), digest, resources.iter().map(|r| resource(r)));
    (secret, client)
}

/// A client's full registration as JSON, for comparing clients (`Client` has
/// no `PartialEq`, because its secret digest compares only in constant time).
///
/// # Panics
/// When serialization fails, which it does not for valid clients.
pub fn client_json(client: &Client) -> serde_json::Value {
    serde_json::to_value(client).expect("a client serializes to JSON")
}
