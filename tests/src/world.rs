//! A ready-made server for the server-level checks: a manual clock, a known
//! keyring, and one registered client of every kind.

use base64::Engine as _;
use gatehouse_core::model::{
    Client, ClientAuth, ClientId, GrantType, Resource, ResourceServer, Scope, SecretDigest,
};
use gatehouse_core::{
    AuthServer, ClientRegistry, Config, Header, HttpRequest, HttpResponse, Introspection, KeyId, Keyring,
    LimiterConfig, ManualClock, TokenStore, UnixTime,
};

use crate::audit_checks::Recorder;
use crate::wrappers::Instrumented;

/// The resource the demo clients use.
pub const API: &str = "https://api.example";
/// A second resource, with its own resource server.
pub const OTHER_API: &str = "https://other.example";
/// The key the world's server signs with.
pub const KEY: &[u8; 32] = b"conformance-suite-signing-key-01";

/// The registered clients, by role.
pub mod ids {
    /// Confidential, may use client_credentials for [`super::API`] and
    /// [`super::OTHER_API`] (default audience [`super::API`]), scope
    /// `read write`, default `read`.
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
    /// Confidential web app: authorization_code + refresh_token, redirect
    /// [`super::WEB_CB`], audiences [`super::API`] (the default) and
    /// [`super::OTHER_API`]; also a resource server for [`super::API`] (a
    /// backend-for-frontend), so it may introspect its own refresh tokens.
    pub const WEB: &str = "web";
    /// Confidential, every grant, audiences [`super::API`] and
    /// [`super::OTHER_API`] with no default, so it must name a `resource`;
    /// redirect [`super::MULTI_CB`].
    pub const MULTI: &str = "multi";
    /// Public single-page/native app: authorization_code + refresh_token,
    /// redirect [`super::SPA_CB`].
    pub const SPA: &str = "spa";
}

/// [`ids::WEB`]'s registered redirect URI.
pub const WEB_CB: &str = "https://web.example/cb";
/// [`ids::SPA`]'s registered redirect URI.
pub const SPA_CB: &str = "http://127.0.0.1:9999/cb";
/// [`ids::MULTI`]'s registered redirect URI.
pub const MULTI_CB: &str = "https://multi.example/cb";
/// [`ids::APP`]'s registered redirect URI (it may not use the code grant).
pub const APP_CB: &str = "https://app.example/cb";
/// The demo user.
pub const ALICE: &str = "alice";

/// A server over an instrumented store, and what the checks need to drive
/// it.
pub struct World<S> {
    /// The server under test.
    pub server: AuthServer<Instrumented<S>>,
    /// Its clock. It starts at the real time, [`World::t0`], so backends
    /// that turn expiry into a TTL against the wall clock (Redis) keep
    /// records for as long as the checks need them.
    pub clock: ManualClock,
    /// When the clock started.
    pub t0: UnixTime,
    /// The same keys as the server, to mint tokens that were never stored.
    pub keys: Keyring,
    /// Every audit event the server emitted (see
    /// [`audit_checks`](crate::audit_checks)).
    pub audit: Recorder,
    /// Each confidential client's raw secret, by id.
    secrets: Vec<(&'static str, String)>,
}

fn client(id: &str, auth: ClientAuth, grants: &[GrantType], audiences: &[&str]) -> Client {
    let mut c = Client::new_public(ClientId::new(id).expect("valid id"))
        .with_grants(grants.iter().copied())
        .with_scope(
            Scope::parse("read write").expect("valid scope"),
            Scope::parse("read").expect("valid scope"),
        )
        .with_audiences(audiences.iter().map(|a| Resource::new(a).expect("valid resource")));
    c.auth = auth;
    c
}

fn confidential(rs: Option<&str>) -> (String, ClientAuth) {
    let (secret, digest) = SecretDigest::generate().expect("random");
    let resource_server =
        rs.map(|r| ResourceServer { resources: vec![Resource::new(r).expect("valid resource")].into() });
    (secret, ClientAuth::Confidential { secret: digest, resource_server, previous: None })
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
        let t0 = gatehouse_core::Clock::now(&gatehouse_core::SystemClock);
        let clock = ManualClock::new(t0);
        let store = Instrumented::new(store);
        let cc = [GrantType::ClientCredentials];
        let code = [GrantType::AuthorizationCode, GrantType::RefreshToken];
        let all = [GrantType::ClientCredentials, GrantType::AuthorizationCode, GrantType::RefreshToken];
        let mut secrets = Vec::new();
        let mut clients = Vec::new();
        for (id, rs, grants, aud) in [
            (ids::APP, None, &cc[..], &[API, OTHER_API][..]),
            (ids::RS, Some(API), &[][..], &[][..]),
            (ids::RS_OTHER, Some(OTHER_API), &[][..], &[][..]),
            (ids::PLAIN, None, &cc[..], &[API][..]),
            (ids::OFF, None, &cc[..], &[API][..]),
            (ids::NO_GRANTS, None, &[][..], &[API][..]),
            (ids::WEB, Some(API), &code[..], &[API, OTHER_API][..]),
            (ids::MULTI, None, &all[..], &[API, OTHER_API][..]),
        ] {
            let (secret, auth) = confidential(rs);
            secrets.push((id, secret));
            let mut c = client(id, auth, grants, aud);
            c.enabled = id != ids::OFF;
            c.redirect_uris = match id {
                ids::WEB => vec![WEB_CB.to_owned()].into(),
                ids::APP => vec![APP_CB.to_owned()].into(),
                ids::MULTI => vec![MULTI_CB.to_owned()].into(),
                _ => c.redirect_uris,
            };
            if id == ids::APP || id == ids::WEB {
                c.default_audience = Some(Resource::new(API).expect("valid resource"));
            }
            clients.push(c);
        }
        clients.push(client(ids::MOBILE, ClientAuth::Public, &cc, &[API]));
        let mut spa = client(ids::SPA, ClientAuth::Public, &code, &[API]);
        spa.redirect_uris = vec![SPA_CB.to_owned()].into();
        clients.push(spa);
        for c in clients {
            c.validate().expect("a valid registration");
            store.put_client(c).await.expect("register client");
        }
        let audit = Recorder::default();
        let server =
            AuthServer::new(store, keys.clone(), config).with_clock(clock.clone()).with_audit(audit.clone());
        Self { server, clock, t0, keys, audit, secrets }
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

    /// Runs the authorization request in `query` for [`ALICE`] and returns
    /// the redirect URL (success or error redirect).
    ///
    /// # Panics
    /// When the request is one that must not be redirected.
    pub async fn authorize(&self, query: &str) -> String {
        let req = gatehouse_core::AuthorizationRequest::from_query(query).expect("parse");
        let alice = gatehouse_core::model::Subject::new(ALICE).expect("subject");
        self.server.authorize(&req, &alice).await.expect("a redirect")
    }

    /// A code for `client` (WEB or SPA) with a fresh PKCE pair and `extra`
    /// query parameters: (code, verifier, redirect URI).
    pub async fn code_for(&self, client: &str, extra: &str) -> (String, String, &'static str) {
        let cb = match client {
            ids::WEB => WEB_CB,
            ids::MULTI => MULTI_CB,
            _ => SPA_CB,
        };
        let (verifier, challenge) = pkce();
        let q = format!(
            "response_type=code&client_id={client}&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256&state=xyz{extra}",
            encode(cb)
        );
        let url = self.authorize(&q).await;
        let code = query_param(&url, "code").unwrap_or_else(|| panic!("no code in {url}"));
        (code, verifier, cb)
    }

    /// POSTs a token request for `client`: Basic when it has a secret,
    /// `client_id` in the body when it is public.
    pub async fn token_as(&self, client: &str, body: &str) -> HttpResponse {
        if self.secrets.iter().any(|(i, _)| *i == client) {
            self.token(client, body).await
        } else {
            let body = format!("{body}&client_id={}", encode(client));
            self.server.token_endpoint(raw_request("POST", Header::Absent, FORM_CT, body.as_bytes())).await
        }
    }

    /// Exchanges a code; returns the response.
    pub async fn exchange(
        &self,
        client: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> HttpResponse {
        let body = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
            encode(code),
            encode(redirect_uri),
            encode(verifier)
        );
        self.token_as(client, &body).await
    }

    /// Refreshes; returns the response.
    pub async fn refresh(&self, client: &str, refresh_token: &str, extra: &str) -> HttpResponse {
        let body = format!("grant_type=refresh_token&refresh_token={}{extra}", encode(refresh_token));
        self.token_as(client, &body).await
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

/// A PKCE pair: a fresh random verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    use sha2::Digest as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw = gatehouse_core::model::GrantId::generate().expect("random");
    let raw2 = gatehouse_core::model::GrantId::generate().expect("random");
    let verifier = format!("{}{}", b64.encode(raw.as_bytes()), b64.encode(raw2.as_bytes()));
    let challenge = b64.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The value of query parameter `name` in `url`, decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| decode(v))
    })
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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

const FORM_CT: Header<'static> = Header::One(b"application/x-www-form-urlencoded");

/// A request with arbitrary parts, for malformed-input checks.
pub fn raw_request<'a>(
    method: &'a str,
    auth: Header<'a>,
    ctype: Header<'a>,
    body: &'a [u8],
) -> HttpRequest<'a> {
    HttpRequest { method, authorization: auth, content_type: ctype, body }
}
