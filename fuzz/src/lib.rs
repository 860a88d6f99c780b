//! What the fuzz targets share: a server over the memory store with known
//! clients, a `block_on` for its always-ready futures, the invariants every
//! HTTP answer must keep, and a plain reference form decoder to compare the
//! core's parser with.
//!
//! This crate is not a workspace member (see `fuzz/README.md`); `expect` is
//! fine here: a fixture that cannot be built is a broken harness, and a
//! panic is exactly how libFuzzer is told.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use gatehouse_core::model::{Client, ClientId, GrantType, Resource, Scope, SecretDigest, Subject};
use gatehouse_core::{
    AuthServer, AuthorizationRequest, ClientRegistry, Config, HttpRequest, HttpResponse, KeyId, Keyring,
    ManualClock, UnixTime,
};
use gatehouse_memory::MemoryStore;

/// The server's issuer.
pub const ISSUER: &str = "https://auth.example";
/// The API the tokens are for.
pub const API: &str = "https://api.example";
/// A second API the client may ask for.
pub const OTHER_API: &str = "https://other.example";
/// The confidential client `app`'s secret.
pub const APP_SECRET: &str = "app-secret-0123456789-0123456789-abcdef";
/// The resource server `api`'s secret.
pub const RS_SECRET: &str = "rs-secret-0123456789-0123456789-abcdefgh";
/// `app`'s and `native`'s registered redirect URI.
pub const REDIRECT: &str = "https://app.example/cb";
/// RFC 7636 Appendix B's verifier and its S256 challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The S256 challenge of [`VERIFIER`].
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The fixed time the server's clock starts at.
pub const START: UnixTime = UnixTime(1_700_000_000);

/// The server every target uses.
pub type Server = AuthServer<MemoryStore>;

/// Runs a future of the memory store to completion. Its futures are always
/// ready (it never waits on I/O), so a few polls suffice; one that stays
/// pending is a bug worth a crash report rather than a hang.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..64 {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("a memory-store future stayed pending");
}

/// A server over a fresh memory store, with a manual clock at [`START`] and
/// three clients: `app` (confidential; client credentials, code and
/// refresh; scope `read write`, default `read`; audiences [`API`] and
/// [`OTHER_API`]), `api` (the resource server for [`API`]) and `native` (a
/// public client using the code flow).
pub fn server() -> (Server, ManualClock) {
    let clock = ManualClock::new(START);
    let keys = Keyring::new((KeyId::new("k1").expect("key id"), &[7u8; 32]), &[]).expect("keyring");
    let server = AuthServer::new(MemoryStore::new(), keys, Config::new(ISSUER)).with_clock(clock.clone());
    let api = Resource::new(API).expect("resource");
    let other = Resource::new(OTHER_API).expect("resource");
    let scope = Scope::parse("read write").expect("scope");
    let default = Scope::parse("read").expect("scope");
    let app = Client::new_confidential(id("app"), SecretDigest::from_secret(APP_SECRET).expect("secret"))
        .with_grants([GrantType::ClientCredentials, GrantType::AuthorizationCode, GrantType::RefreshToken])
        .with_scope(scope.clone(), default.clone())
        .with_audiences([api.clone(), other])
        .with_redirect_uris([REDIRECT.to_owned()]);
    let rs = Client::new_resource_server(
        id("api"),
        SecretDigest::from_secret(RS_SECRET).expect("secret"),
        [api.clone()],
    );
    let native = Client::new_public(id("native"))
        .with_grants([GrantType::AuthorizationCode, GrantType::RefreshToken])
        .with_scope(scope, default)
        .with_audiences([api])
        .with_redirect_uris([REDIRECT.to_owned()]);
    for c in [app, rs, native] {
        block_on(server.store().put_client(c)).expect("register client");
    }
    (server, clock)
}

fn id(s: &str) -> ClientId {
    ClientId::new(s).expect("client id")
}

/// `Basic` credentials for `id:secret` (both already form-safe).
pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// A code-flow query for `app` with a valid PKCE challenge.
pub fn code_query(client: &str) -> String {
    format!(
        "response_type=code&client_id={client}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
         &code_challenge={CHALLENGE}&code_challenge_method=S256&scope=read&resource=https%3A%2F%2Fapi.example&state=st"
    )
}

/// Live credentials minted on a fresh server, which a fuzz input names by
/// a byte that never occurs in UTF-8 (0xF8..=0xFF), since it cannot guess
/// them.
pub struct Live {
    /// The values, indexed by `byte - 0xF8`.
    pub values: [String; 8],
}

impl Live {
    /// Issues an access and a refresh token (code flow, then exchange) and
    /// one more unused code for `app` on `server`.
    pub fn mint(server: &Server) -> Self {
        let subject = Subject::new("alice").expect("subject");
        let code = |client: &str| {
            let req = AuthorizationRequest::from_query(&code_query(client)).expect("query");
            let url = block_on(server.authorize(&req, &subject)).expect("authorize");
            let (_, rest) = url.split_once("code=").expect("a code in the redirect");
            rest.split('&').next().unwrap_or_default().to_owned()
        };
        let first = code("app");
        let body = format!("grant_type=authorization_code&code={first}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier={VERIFIER}");
        let app_basic = basic("app", APP_SECRET);
        let resp = block_on(
            server.token_endpoint(HttpRequest::form_post(body.as_bytes()).with_authorization(&app_basic)),
        );
        let json = resp.json_body().expect("token response");
        let field = |n: &str| json[n].as_str().expect("token in response").to_owned();
        Self {
            values: [
                field("access_token"),
                field("refresh_token"),
                code("app"),
                APP_SECRET.to_owned(),
                RS_SECRET.to_owned(),
                VERIFIER.to_owned(),
                app_basic,
                basic("api", RS_SECRET),
            ],
        }
    }

    /// `raw` with each byte 0xF8..=0xFF replaced by the value it names.
    pub fn substitute(&self, raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(raw.len());
        for &b in raw {
            match b {
                0xF8..=0xFF => out.extend_from_slice(self.values[usize::from(b - 0xF8)].as_bytes()),
                _ => out.push(b),
            }
        }
        out
    }
}

/// What every HTTP answer of the core must be, whatever was asked: a JSON
/// object, `no-store`, an `error` code on every failure, no 5xx (the memory
/// store never fails), and no client secret anywhere.
pub fn check_response(r: &HttpResponse) {
    assert!((200..500).contains(&r.status), "status {} from a store that cannot fail", r.status);
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("body is JSON");
    assert!(body.is_object(), "body is not a JSON object");
    if r.status != 200 {
        assert!(body["error"].is_string(), "a failure without an error code");
    }
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let text = String::from_utf8_lossy(&r.body);
    for secret in [APP_SECRET, RS_SECRET] {
        assert!(!text.contains(secret), "a client secret in a response body");
        assert!(!r.headers.iter().any(|(_, v)| v.contains(secret)), "a client secret in a header");
    }
}

/// The `Debug` of a request never shows a secret it carries.
pub fn check_request_debug(req: &HttpRequest<'_>) {
    let shown = format!("{req:?}");
    for secret in [APP_SECRET, RS_SECRET] {
        assert!(!shown.contains(secret), "a client secret in a request's Debug");
    }
}

/// A plain reading of RFC 6749 §3.1 and Appendix B, byte by byte, to
/// compare the core's word-at-a-time parser with: `None` where the request
/// must be refused, else the (name, value) pairs kept.
pub fn reference_form(body: &[u8], max_len: usize) -> Option<Vec<(String, String)>> {
    if body.len() > max_len {
        return None;
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in body.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let (name, value) = (reference_decode(name)?, reference_decode(value)?);
        if value.is_empty() {
            continue;
        }
        if name.is_empty() || (name != "resource" && out.iter().any(|(n, _)| *n == name)) || out.len() == 32 {
            return None;
        }
        out.push((name, value));
    }
    Some(out)
}

/// Percent-decoding with `+` as a space, strict about escapes and UTF-8.
pub fn reference_decode(raw: &[u8]) -> Option<String> {
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::new();
    let mut it = raw.iter();
    while let Some(&c) = it.next() {
        out.push(match c {
            b'+' => b' ',
            b'%' => {
                let hi = digit(*it.next()?)?;
                let lo = digit(*it.next()?)?;
                hi * 16 + lo
            }
            c => c,
        });
    }
    String::from_utf8(out).ok()
}
