//! A server over a memory store that fails on demand, its clients, and
//! one-shot requests to a router.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use gatehouse_axum::Gatehouse;
use gatehouse_conformance::wrappers::Instrumented;
use gatehouse_core::model::{Client, ClientId, GrantType, Resource, Scope, SecretDigest};
use gatehouse_core::{AuthServer, ClientRegistry, Config, Keyring};
use gatehouse_memory::MemoryStore;
use http_body_util::BodyExt as _;
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;

pub const ISSUER: &str = "https://auth.example";
pub const API: &str = "https://api.example";
pub const CALLBACK: &str = "https://app.example/cb";

pub type Store = Instrumented<MemoryStore>;

/// The server and the secrets of its clients: `app` (client_credentials,
/// scope `read write`, default `read`), `web` (the code flow, same scope,
/// redirect URI [`CALLBACK`]) and `rs` (the resource server for [`API`]).
pub struct World {
    pub gatehouse: Gatehouse<Store>,
    pub app: String,
    pub web: String,
    pub rs: String,
}

pub async fn world() -> World {
    let store = Instrumented::new(MemoryStore::new());
    let config = Config::new(ISSUER);
    let server = AuthServer::new(store, Keyring::random().unwrap(), config);
    let api = Resource::new(API).unwrap();
    let scope = || (Scope::parse("read write").unwrap(), Scope::parse("read").unwrap());
    let (app, digest) = SecretDigest::generate().unwrap();
    let (all, default) = scope();
    let client = Client::new_confidential(ClientId::new("app").unwrap(), digest)
        .with_grants([GrantType::ClientCredentials])
        .with_scope(all, default)
        .with_audiences([api.clone()]);
    register(&server, client).await;
    let (web, digest) = SecretDigest::generate().unwrap();
    let (all, default) = scope();
    let client = Client::new_confidential(ClientId::new("web").unwrap(), digest)
        .with_grants([GrantType::AuthorizationCode, GrantType::RefreshToken])
        .with_scope(all, default)
        .with_audiences([api.clone()])
        .with_redirect_uris([CALLBACK.to_owned()]);
    register(&server, client).await;
    let (rs, digest) = SecretDigest::generate().unwrap();
    register(&server, Client::new_resource_server(ClientId::new("rs").unwrap(), digest, [api])).await;
    World { gatehouse: Gatehouse::new(server), app, web, rs }
}

async fn register(server: &AuthServer<Store>, client: Client) {
    client.validate().unwrap();
    server.store().put_client(client).await.unwrap();
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl World {
    /// The store, to make it fail.
    pub fn store(&self) -> &Store {
        self.gatehouse.server().store()
    }
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

pub async fn send(router: &Router, req: Request<Body>) -> Reply {
    let r = router.clone().oneshot(req).await.unwrap();
    let (parts, body) = r.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply { status: parts.status, headers: parts.headers, body: String::from_utf8(body.to_vec()).unwrap() }
}

/// A form POST, with HTTP Basic credentials when given.
pub fn post(path: &str, basic: Option<(&str, &str)>, body: &str) -> Request<Body> {
    let mut req = Request::post(path).header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        req = req.header("authorization", format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
    }
    req.body(Body::from(body.to_owned())).unwrap()
}

pub fn get(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::get(path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Body::empty()).unwrap()
}

/// A client_credentials token for `app` with `scope`.
pub async fn issue(router: &Router, w: &World, scope: &str) -> String {
    let r = send(
        router,
        post("/oauth/token", Some(("app", &w.app)), &format!("grant_type=client_credentials&scope={scope}")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The authorization request of `web` with this challenge, as a path.
pub fn authorize_path(challenge: &str) -> String {
    format!(
        "/oauth/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
         &scope=read&state=xyz&code_challenge={challenge}&code_challenge_method=S256"
    )
}

/// The value of `name` in the query of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_owned())
}
