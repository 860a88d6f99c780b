//! A ready-made server for the server-level checks: a manual clock, a known
//! keyring, and one registered client of every kind.

use std::sync::Arc;

use base64::Engine as _;
use gatehouse_core::model::{
    Client, ClientAuth, ClientId, GrantType, GrantTypes, Resource, ResourceServer, Scope, SecretDigest,
};
use gatehouse_core::{
    AuthServer, ClientRegistry, Config, Header, HttpRequest, HttpResponse, Introspection, KeyId, Keyring,
    LimiterConfig, ManualClock, TokenStore, UnixTime,
};

use crate::wrappers::Instrumented;

/// The resource the demo clients use.
pub const API: &str = "https://api.example";
/// A second resource, with its own resource server.
pub const OTHER_API: &str = "https://other.example";
/// Where the manual clock starts.
pub const T0: UnixTime = UnixTime(1_700_000_000);
/// The key the world's server signs with.
pub const KEY: &[u8; 32] = b"conformance-suite-signing-key-01";

/// The registered clients, by role.
pub mod ids {
    /// Confidential, may use client_credentials for [`super::API`] and
    /// [`super::OTHER_API`], scope `read write`, default `read`.
    pub const APP: &str = "app";
    /// Confidential resource server for [`super::API`].
    pub const RS: &str = "rs";
    /// Confidential resource server for [`super::OTHER_API`].
    pub const RS_OTHER: &str = "rs-other";
    /// Confidential, client_credentials, but not a resource server.
    pub const PLAIN: &str = "plain";
    /// Public (no secret).
    pub const MOBILE: &str = "mobile";
    /// Confidential, registered for client_credentials but disabled.
    pub const OFF: &str = "off";
    /// Confidential, with no grant types at all.
    pub const NO_GRANTS: &str = "no-grants";
}

/// A server over an instrumented store, and what the checks need to drive
/// it.
pub struct World<S> {
    /// The server under test.
    pub server: AuthServer<Instrumented<S>>,
    /// Its clock.
    pub clock: ManualClock,
    /// The same keys as the server, to mint tokens that were never stored.
    pub keys: Keyring,
    /// Each confidential client's raw secret, by id.
    secrets: Vec<(&'static str, String)>,
}

fn client(id: &str, auth: ClientAuth, grants: &[GrantType], audiences: &[&str]) -> Client {
    Client {
        id: ClientId::new(id).expect("valid id"),
        auth,
        grant_types: grants.iter().copied().collect::<GrantTypes>(),
        scope: Scope::parse("read write").expect("valid scope"),
        default_scope: Scope::parse("read").expect("valid scope"),
        audiences: audiences
            .iter()
            .map(|a| Resource::new(a).expect("valid resource"))
            .collect::<Vec<_>>()
            .into(),
        redirect_uris: Arc::from(Vec::new()),
        enabled: true,
    }
}

fn confidential(rs: Option<&str>) -> (String, ClientAuth) {
    let (secret, digest) = SecretDigest::generate().expect("random");
    let resource_server =
        rs.map(|r| ResourceServer { resources: vec![Resource::new(r).expect("valid resource")].into() });
    (secret, ClientAuth::Confidential { secret: digest, resource_server })
}

impl<S: TokenStore + ClientRegistry> World<S> {
    /// A world with the default settings (no clock skew, a limiter burst of
    /// 5 inactive answers, 60 a minute).
    pub async fn new(store: S) -> Self {
        Self::with_config(store, |_| {}).await
    }

    /// A world whose settings `adjust` changes first.
    pub async fn with_config(store: S, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::new("https://issuer.example");
        config.limiter = LimiterConfig { burst: 5, per_minute: 60 };
        adjust(&mut config);
        let keys = Keyring::new((KeyId::new("k1").expect("valid kid"), KEY), &[]).expect("valid keyring");
        let clock = ManualClock::new(T0);
        let store = Instrumented::new(store);
        let cc = [GrantType::ClientCredentials];
        let mut secrets = Vec::new();
        let mut clients = Vec::new();
        for (id, rs, grants, aud) in [
            (ids::APP, None, &cc[..], &[API, OTHER_API][..]),
            (ids::RS, Some(API), &[][..], &[][..]),
            (ids::RS_OTHER, Some(OTHER_API), &[][..], &[][..]),
            (ids::PLAIN, None, &cc[..], &[API][..]),
            (ids::OFF, None, &cc[..], &[API][..]),
            (ids::NO_GRANTS, None, &[][..], &[API][..]),
        ] {
            let (secret, auth) = confidential(rs);
            secrets.push((id, secret));
            let mut c = client(id, auth, grants, aud);
            c.enabled = id != ids::OFF;
            clients.push(c);
        }
        clients.push(client(ids::MOBILE, ClientAuth::Public, &cc, &[API]));
        for c in clients {
            store.put_client(c).await.expect("register client");
        }
        let server = AuthServer::new(store, keys.clone(), config).with_clock(clock.clone());
        Self { server, clock, keys, secrets }
    }

    /// The raw secret of a confidential client.
    pub fn secret(&self, id: &str) -> &str {
        self.secrets.iter().find(|(i, _)| *i == id).map(|(_, s)| s.as_str()).expect("known client")
    }

    /// The instrumented store.
    pub fn store(&self) -> &Instrumented<S> {
        self.server.store()
    }

    /// The registered client `id`, as the registry has it.
    pub async fn client(&self, id: &str) -> Client {
        self.store().client(&ClientId::new(id).expect("valid id")).await.expect("store").expect("registered")
    }

    /// An `Authorization: Basic` value for a client.
    pub fn basic(&self, id: &str) -> String {
        basic(id, self.secret(id))
    }

    /// POSTs a form to the token endpoint with Basic credentials for `id`.
    pub async fn token(&self, id: &str, body: &str) -> HttpResponse {
        let auth = self.basic(id);
        self.server.token_endpoint(HttpRequest::form_post(body.as_bytes()).with_authorization(&auth)).await
    }

    /// Issues an access token to [`ids::APP`] over HTTP and returns it.
    pub async fn issue(&self, body: &str) -> String {
        let r = self.token(ids::APP, body).await;
        assert_eq!(r.status, 200, "issuance failed: {}", String::from_utf8_lossy(&r.body));
        r.json_body().expect("json")["access_token"].as_str().expect("access_token").to_owned()
    }

    /// Issues a default access token to [`ids::APP`].
    pub async fn issue_default(&self) -> String {
        self.issue("grant_type=client_credentials").await
    }

    /// POSTs `token=<token>` (and `extra`) to introspection as `caller`.
    pub async fn introspect_http(&self, caller: &str, token: &str, extra: &str) -> HttpResponse {
        let body = format!("token={}{extra}", encode(token));
        let auth = self.basic(caller);
        self.server
            .introspection_endpoint(HttpRequest::form_post(body.as_bytes()).with_authorization(&auth))
            .await
    }

    /// Introspects through the typed API as `caller`.
    pub async fn introspect(&self, caller: &str, token: &str) -> Introspection {
        let c = self.client(caller).await;
        self.server.introspect(&c, token).await.expect("introspection")
    }

    /// POSTs `token=<token>` to revocation as `caller`.
    pub async fn revoke_http(&self, caller: &str, token: &str) -> HttpResponse {
        let body = format!("token={}", encode(token));
        let auth = self.basic(caller);
        self.server
            .revocation_endpoint(HttpRequest::form_post(body.as_bytes()).with_authorization(&auth))
            .await
    }
}

/// An `Authorization: Basic` value, with RFC 6749 §2.3.1 form-encoding.
pub fn basic(id: &str, secret: &str) -> String {
    let raw = format!("{}:{}", encode(id), encode(secret));
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// Percent-encodes everything but unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A request with arbitrary parts, for malformed-input checks.
pub fn raw_request<'a>(
    method: &'a str,
    auth: Header<'a>,
    ctype: Header<'a>,
    body: &'a [u8],
) -> HttpRequest<'a> {
    HttpRequest { method, authorization: auth, content_type: ctype, body }
}
