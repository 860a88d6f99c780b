//! The RFC 8414 metadata document, checked against what the endpoints
//! really do: every advertised auth method, grant type, response type and
//! challenge method is driven through the advertised endpoint URL and must
//! work; a plausible one that is not advertised must fail. A member this
//! test does not know fails it, so a new claim needs a check here.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;

use common::{approve, encode, introspect, post, query_param, sample, send, start_with, CLIENT, RS, WEB};
use oauth2::PkceCodeChallenge;
use serde_json::Value;

const WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
const PUBLIC: &str = "demo-public";

/// Every member the document may have, each checked below.
const KNOWN: [&str; 14] = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "token_endpoint_auth_methods_supported",
    "grant_types_supported",
    "response_types_supported",
    "response_modes_supported",
    "code_challenge_methods_supported",
    "authorization_response_iss_parameter_supported",
    "introspection_endpoint",
    "introspection_endpoint_auth_methods_supported",
    "revocation_endpoint",
    "revocation_endpoint_auth_methods_supported",
    "scopes_supported",
];

/// The document as fetched, and the issuer it must name.
struct Doc {
    m: Value,
    issuer: String,
}

impl Doc {
    /// The path of an advertised endpoint URL, which must be below the
    /// issuer.
    fn path(&self, member: &str) -> String {
        let url = self.m[member].as_str().unwrap_or_else(|| panic!("{member} is not a string"));
        let path = url.strip_prefix(self.issuer.trim_end_matches('/')).unwrap_or_else(|| {
            panic!("{member} {url} is not below the issuer {}", self.issuer);
        });
        assert!(path.starts_with('/'), "{member}: {url}");
        path.to_owned()
    }

    fn list(&self, member: &str) -> Vec<String> {
        let v = self.m[member].as_array().unwrap_or_else(|| panic!("{member} is not an array"));
        v.iter().map(|s| s.as_str().unwrap().to_owned()).collect()
    }
}

async fn fetch(addr: SocketAddr, issuer: &str) -> Doc {
    let r = send(addr, "GET", WELL_KNOWN, &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    Doc { m: r.json(), issuer: issuer.to_owned() }
}

/// A PKCE pair: (verifier, challenge).
fn pkce() -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    (verifier.secret().clone(), challenge.as_str().to_owned())
}

/// The authorization endpoint's path and query for `client`.
fn authorize(doc: &Doc, client: &str, redirect: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![("client_id", client), ("redirect_uri", redirect)];
    pairs.extend_from_slice(extra);
    format!("{}?{}", doc.path("authorization_endpoint"), encode(&pairs))
}

/// The redirect URI of a sample client.
fn redirect_of(id: &str) -> String {
    let s = sample();
    let c = s.clients.iter().find(|c| c.id.as_str() == id).unwrap();
    c.redirect_uris.first().unwrap().to_string()
}

/// Runs the code flow for `client` with S256 up to the code; checks that
/// the redirect carries the code in its query and `iss`. Returns (code,
/// verifier).
async fn code_for(addr: SocketAddr, doc: &Doc, client: &str, extra: &[(&str, &str)]) -> (String, String) {
    let (verifier, challenge) = pkce();
    let redirect = redirect_of(client);
    let mut params =
        vec![("response_type", "code"), ("code_challenge", &*challenge), ("code_challenge_method", "S256")];
    params.extend_from_slice(extra);
    let location = approve(addr, &authorize(doc, client, &redirect, &params)).await;
    // response_modes_supported ["query"]: the code is in the query, and
    // there is no fragment.
    assert!(location.starts_with(&format!("{redirect}?")) && !location.contains('#'), "{location}");
    if doc.m["authorization_response_iss_parameter_supported"] == true {
        assert_eq!(query_param(&location, "iss").as_deref(), Some(doc.issuer.as_str()), "{location}");
    }
    (query_param(&location, "code").unwrap(), verifier)
}

/// The error of an authorization request that is sent back to the client.
async fn authorize_error(addr: SocketAddr, doc: &Doc, params: &[(&str, &str)]) -> String {
    let redirect = redirect_of(WEB.0);
    let r = send(addr, "GET", &authorize(doc, WEB.0, &redirect, params), &[], b"").await;
    assert_eq!(r.status, 302, "{params:?}: {}", r.text());
    let location = r.header("location").unwrap();
    if doc.m["authorization_response_iss_parameter_supported"] == true {
        assert_eq!(query_param(location, "iss").as_deref(), Some(doc.issuer.as_str()), "{location}");
    }
    query_param(location, "error").unwrap()
}

fn form_secret((id, secret): (&str, &str)) -> String {
    encode(&[("client_id", id), ("client_secret", secret)])
}

/// Asserts a token response and returns its body.
fn issued(r: &common::Resp, what: &str) -> Value {
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    let body = r.json();
    assert!(body["access_token"].is_string(), "{what}: {body}");
    body
}

/// A `client_credentials` token for demo-client, authenticated with
/// `method`.
async fn token_by(addr: SocketAddr, doc: &Doc, method: &str, extra: &str) -> common::Resp {
    let path = doc.path("token_endpoint");
    let body = format!("grant_type=client_credentials{extra}");
    match method {
        "client_secret_basic" => post(addr, &path, Some(CLIENT), &body).await,
        "client_secret_post" => post(addr, &path, None, &format!("{body}&{}", form_secret(CLIENT))).await,
        other => panic!("no client_credentials client can use {other}"),
    }
}

#[tokio::test]
async fn every_claim_is_honoured_and_nothing_else() {
    let settings = sample();
    let issuer = settings.server.issuer.clone();
    let scopes = settings.server.scopes_supported.clone();
    assert!(!scopes.is_empty(), "the sample config advertises its scopes, so that they are checked here");
    let app = start_with(settings).await;
    let addr = app.addr;
    let doc = fetch(addr, &issuer).await;

    // The issuer is the configured one, exactly (RFC 8414 §3.3).
    assert_eq!(doc.m["issuer"], issuer.as_str());
    for member in doc.m.as_object().unwrap().keys() {
        assert!(KNOWN.contains(&member.as_str()), "`{member}` is advertised but no check here drives it");
    }
    let token = doc.path("token_endpoint");

    // --- token_endpoint_auth_methods_supported
    let methods = doc.list("token_endpoint_auth_methods_supported");
    for method in &methods {
        match method.as_str() {
            "client_secret_basic" | "client_secret_post" => {
                issued(&token_by(addr, &doc, method, "").await, method);
            }
            "none" => {
                let (code, verifier) = code_for(addr, &doc, PUBLIC, &[]).await;
                let body = encode(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &redirect_of(PUBLIC)),
                    ("code_verifier", &verifier),
                    ("client_id", PUBLIC),
                ]);
                issued(&post(addr, &token, None, &body).await, "none");
            }
            other => panic!("token endpoint auth method {other} is advertised but not checked"),
        }
    }
    // Not advertised, and refused: JWT client assertions (RFC 7523).
    for method in ["client_secret_jwt", "private_key_jwt", "tls_client_auth"] {
        assert!(!methods.iter().any(|m| m == method), "{method}");
    }
    let assertion = encode(&[
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT.0),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"),
    ]);
    let r = post(addr, &token, None, &assertion).await;
    assert_eq!((r.status, r.json()["error"].clone()), (401, "invalid_client".into()), "{}", r.text());

    // --- grant_types_supported
    let grants = doc.list("grant_types_supported");
    let mut refresh_token = None;
    for grant in &grants {
        match grant.as_str() {
            "client_credentials" => {
                issued(&token_by(addr, &doc, "client_secret_basic", "").await, grant);
            }
            "authorization_code" => {
                let (code, verifier) = code_for(addr, &doc, WEB.0, &[]).await;
                let body = encode(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &redirect_of(WEB.0)),
                    ("code_verifier", &verifier),
                ]);
                let t = issued(&post(addr, &token, Some(WEB), &body).await, grant);
                refresh_token = t["refresh_token"].as_str().map(str::to_owned);
            }
            "refresh_token" => {}
            other => panic!("grant type {other} is advertised but not checked"),
        }
    }
    if grants.iter().any(|g| g == "refresh_token") {
        let rt = refresh_token.expect("refresh_token is advertised: the code grant must give one");
        let body = encode(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]);
        issued(&post(addr, &token, Some(WEB), &body).await, "refresh_token");
    }
    for grant in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ] {
        assert!(!grants.iter().any(|g| g == grant), "{grant}");
        let body = encode(&[("grant_type", grant), ("username", "alice"), ("password", "x")]);
        let r = post(addr, &token, Some(CLIENT), &body).await;
        assert_eq!((r.status, r.json()["error"].clone()), (400, "unsupported_grant_type".into()), "{grant}");
    }

    // --- response_types_supported, response_modes_supported,
    // code_challenge_methods_supported, and `iss` on every redirect
    // (checked inside `code_for` and `authorize_error`).
    assert_eq!(doc.list("response_types_supported"), ["code"]);
    assert_eq!(doc.list("response_modes_supported"), ["query"]);
    assert_eq!(doc.m["authorization_response_iss_parameter_supported"], true);
    let (_, challenge) = pkce();
    for rt in ["token", "id_token", "code token", "code id_token"] {
        let params =
            [("response_type", rt), ("code_challenge", &*challenge), ("code_challenge_method", "S256")];
        assert_eq!(authorize_error(addr, &doc, &params).await, "unsupported_response_type", "{rt}");
    }
    // A fragment or form_post response mode is not offered: the code still
    // comes in the query.
    code_for(addr, &doc, WEB.0, &[("response_mode", "fragment")]).await;
    let challenges = doc.list("code_challenge_methods_supported");
    assert_eq!(challenges, ["S256"], "S256 is driven by every code flow above");
    for method in [Some("plain"), None] {
        let mut params = vec![("response_type", "code"), ("code_challenge", &*challenge)];
        params.extend(method.map(|m| ("code_challenge_method", m)));
        assert_eq!(authorize_error(addr, &doc, &params).await, "invalid_request", "{method:?}");
    }
    let no_challenge = [("response_type", "code")];
    assert_eq!(authorize_error(addr, &doc, &no_challenge).await, "invalid_request");

    // --- introspection_endpoint_auth_methods_supported
    let introspect_path = doc.path("introspection_endpoint");
    let live = issued(&token_by(addr, &doc, "client_secret_basic", "").await, "live")["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let methods = doc.list("introspection_endpoint_auth_methods_supported");
    for method in &methods {
        let r = match method.as_str() {
            "client_secret_basic" => post(addr, &introspect_path, Some(RS), &format!("token={live}")).await,
            "client_secret_post" => {
                post(addr, &introspect_path, None, &format!("token={live}&{}", form_secret(RS))).await
            }
            other => panic!("introspection auth method {other} is advertised but not checked"),
        };
        assert_eq!((r.status, r.json()["active"].clone()), (200, true.into()), "{method}: {}", r.text());
    }
    assert!(!methods.iter().any(|m| m == "none"));
    for id in [RS.0, PUBLIC] {
        let r = post(addr, &introspect_path, None, &format!("token={live}&client_id={id}")).await;
        assert_eq!((r.status, r.json()["error"].clone()), (401, "invalid_client".into()), "none as {id}");
    }

    // --- revocation_endpoint_auth_methods_supported: each method revokes
    // the caller's own token, which then introspects inactive.
    let revoke = doc.path("revocation_endpoint");
    let methods = doc.list("revocation_endpoint_auth_methods_supported");
    for method in &methods {
        let (r, token) = match method.as_str() {
            "client_secret_basic" | "client_secret_post" => {
                let t = issued(&token_by(addr, &doc, "client_secret_basic", "").await, method);
                let t = t["access_token"].as_str().unwrap().to_owned();
                let r = if method == "client_secret_basic" {
                    post(addr, &revoke, Some(CLIENT), &format!("token={t}")).await
                } else {
                    post(addr, &revoke, None, &format!("token={t}&{}", form_secret(CLIENT))).await
                };
                (r, t)
            }
            "none" => {
                let (code, verifier) = code_for(addr, &doc, PUBLIC, &[]).await;
                let body = encode(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &redirect_of(PUBLIC)),
                    ("code_verifier", &verifier),
                    ("client_id", PUBLIC),
                ]);
                let t = issued(&post(addr, &token, None, &body).await, "public");
                let t = t["access_token"].as_str().unwrap().to_owned();
                (post(addr, &revoke, None, &encode(&[("token", &t), ("client_id", PUBLIC)])).await, t)
            }
            other => panic!("revocation auth method {other} is advertised but not checked"),
        };
        assert_eq!(r.status, 200, "{method}: {}", r.text());
        assert_eq!(introspect(addr, Some(RS), &token).await.text(), r#"{"active":false}"#, "{method}");
    }
    // `none` for a confidential client is refused.
    let r = post(addr, &revoke, None, &format!("token={live}&client_id={}", CLIENT.0)).await;
    assert_eq!((r.status, r.json()["error"].clone()), (401, "invalid_client".into()), "{}", r.text());

    // --- scopes_supported: each advertised scope can be granted.
    assert_eq!(doc.list("scopes_supported"), scopes);
    for scope in &scopes {
        let t = issued(&token_by(addr, &doc, "client_secret_basic", &format!("&scope={scope}")).await, scope);
        assert_eq!(t["scope"], scope.as_str());
    }
    app.shutdown().await;
}

/// Caching: `Cache-Control` with a max-age, an `ETag` that a conditional
/// request revalidates with 304, and only `GET` (and `HEAD`).
#[tokio::test]
async fn the_document_is_cacheable() {
    let app = start_with(sample()).await;
    let r = send(app.addr, "GET", WELL_KNOWN, &[], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    let etag = r.header("etag").unwrap().to_owned();
    let again = send(app.addr, "GET", WELL_KNOWN, &[("If-None-Match", etag.clone())], b"").await;
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let other = send(app.addr, "GET", WELL_KNOWN, &[("If-None-Match", "\"stale\"".to_owned())], b"").await;
    assert_eq!((other.status, other.body), (200, r.body));
    let r = send(app.addr, "POST", WELL_KNOWN, &[], b"").await;
    assert_eq!(r.status, 405);
    app.shutdown().await;
}

/// An issuer with a path: the document moves to the RFC 8414 §3.1 location
/// and names that issuer; the plain location is not served with it.
#[tokio::test]
async fn an_issuer_with_a_path_is_served_where_clients_look() {
    let mut settings = sample();
    settings.server.issuer = "http://127.0.0.1:8080/tenant1".to_owned();
    let app = start_with(settings).await;
    let r = send(app.addr, "GET", &format!("{WELL_KNOWN}/tenant1"), &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["issuer"], "http://127.0.0.1:8080/tenant1");
    assert_eq!(r.json()["token_endpoint"], "http://127.0.0.1:8080/tenant1/oauth/token");
    assert_eq!(send(app.addr, "GET", WELL_KNOWN, &[], b"").await.status, 404);
    app.shutdown().await;
}
