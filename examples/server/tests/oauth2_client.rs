//! A published OAuth 2.0 client, the `oauth2` crate, against the running
//! example server: authorization code with PKCE, token exchange, the
//! protected API, refresh with rotation, introspection by the resource
//! server (parsed as the library's introspection response) and
//! revocation. The library's HTTP calls go through the tests'
//! hand-written HTTP/1.1 client; the login form is driven as a browser
//! would.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::future::Future;
use std::net::SocketAddr;

use common::{approve, query_param, send, start, PUBLIC_CALLBACK, RS, WEB, WEB_CALLBACK};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    IntrospectionUrl, PkceCodeChallenge, RedirectUrl, RequestTokenError, RevocationUrl, Scope,
    StandardRevocableToken, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};

/// The library's HTTP client: each request over the hand-written client,
/// to the app at `addr` only, as plain HTTP whatever the URL's scheme.
fn http(
    addr: SocketAddr,
) -> impl Fn(
    oauth2::HttpRequest,
) -> std::pin::Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, std::io::Error>>>> {
    move |req: oauth2::HttpRequest| {
        Box::pin(async move {
            let uri = req.uri();
            assert_eq!(uri.authority().map(|a| a.as_str()), Some(addr.to_string().as_str()), "{uri}");
            let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
            let headers: Vec<(&str, String)> =
                req.headers().iter().map(|(n, v)| (n.as_str(), v.to_str().unwrap().to_owned())).collect();
            let r = send(addr, req.method().as_str(), &path, &headers, req.body()).await;
            let mut out = oauth2::http::Response::builder().status(r.status);
            for (name, value) in &r.headers {
                out = out.header(name.as_str(), value.as_str());
            }
            out.body(r.body).map_err(std::io::Error::other)
        })
    }
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// The path and query of an absolute URL on the app.
fn path_of(addr: SocketAddr, url: &str) -> String {
    url.strip_prefix(&format!("http://{addr}")).unwrap().to_owned()
}

/// Authorizes with the library's authorization URL, signs in as alice and
/// approves; checks `state` and `iss` as a client must, and returns the
/// code.
async fn authorize(
    addr: SocketAddr,
    auth_url: &oauth2::url::Url,
    csrf: &CsrfToken,
    redirect: &str,
) -> String {
    let location = approve(addr, &path_of(addr, auth_url.as_str())).await;
    assert!(location.starts_with(&format!("{redirect}?")), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some(csrf.secret().as_str()));
    // RFC 9207: the response names its issuer (mix-up defence).
    assert_eq!(query_param(&location, "iss").as_deref(), Some("http://127.0.0.1:8080"));
    query_param(&location, "code").unwrap()
}

/// demo-web, as the library types it once its endpoints are set.
type WebClient = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointSet, EndpointSet>;

/// A whole authorization with the default scope: the tokens, and the code
/// they were exchanged for.
async fn sign_in(addr: SocketAddr, web: &WebClient) -> (BasicTokenResponse, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = web.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge).url();
    let code = authorize(addr, &auth_url, &csrf, WEB_CALLBACK).await;
    let tokens = web
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http(addr))
        .await
        .unwrap();
    (tokens, code)
}

#[tokio::test]
async fn oauth2_crate_runs_the_code_flow_end_to_end() {
    let app = start().await;
    let addr = app.addr;
    let http = http(addr);
    let web: WebClient = BasicClient::new(ClientId::new(WEB.0.into()))
        .set_client_secret(ClientSecret::new(WEB.1.into()))
        .set_auth_type(AuthType::BasicAuth)
        .set_auth_uri(AuthUrl::new(url(addr, "/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(url(addr, "/oauth/token")).unwrap())
        // The library refuses to revoke over plain HTTP (RFC 7009 §2: TLS
        // is required). The example serves plain HTTP on loopback, so the
        // revocation URL says https and the test's HTTP client, which only
        // ever talks to `addr`, plays the TLS-terminating proxy.
        .set_revocation_url(RevocationUrl::new(format!("https://{addr}/oauth/revoke")).unwrap())
        .set_redirect_uri(RedirectUrl::new(WEB_CALLBACK.into()).unwrap());
    let rs = BasicClient::new(ClientId::new(RS.0.into()))
        .set_client_secret(ClientSecret::new(RS.1.into()))
        .set_introspection_url(IntrospectionUrl::new(url(addr, "/oauth/introspect")).unwrap());

    // Authorization code with PKCE (S256).
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = web
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = authorize(addr, &auth_url, &csrf, WEB_CALLBACK).await;

    let tokens = web
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(*tokens.token_type(), oauth2::basic::BasicTokenType::Bearer);
    assert_eq!(tokens.expires_in(), Some(std::time::Duration::from_secs(3600)));
    let scopes: Vec<&str> = tokens.scopes().unwrap().iter().map(|s| s.as_str()).collect();
    assert_eq!(scopes, ["read", "write"]);
    let refresh = tokens.refresh_token().unwrap().clone();

    // The protected API.
    let bearer = [("Authorization", format!("Bearer {}", tokens.access_token().secret()))];
    let r = send(addr, "GET", "/api/me", &bearer, b"").await;
    assert_eq!(r.text(), r#"{"client_id":"demo-web","scope":"read write","sub":"alice"}"#);

    // Refresh rotates the refresh token; the old one is then refused.
    let refreshed = web.exchange_refresh_token(&refresh).request_async(&http).await.unwrap();
    let new_refresh = refreshed.refresh_token().unwrap().clone();
    assert_ne!(new_refresh.secret(), refresh.secret());
    assert_ne!(refreshed.access_token().secret(), tokens.access_token().secret());

    // The resource server introspects the new access token.
    let access = refreshed.access_token().clone();
    let info = rs.introspect(&access).request_async(&http).await.unwrap();
    assert!(info.active());
    assert_eq!(info.sub(), Some("alice"));
    assert_eq!(info.client_id().map(|c| c.as_str()), Some("demo-web"));
    let scopes: Vec<&str> = info.scopes().unwrap().iter().map(|s| s.as_str()).collect();
    assert_eq!(scopes, ["read", "write"]);
    assert_eq!(info.token_type(), Some(&oauth2::basic::BasicTokenType::Bearer));
    assert_eq!(info.aud(), Some(&vec!["https://api.example.com".to_owned()]));
    assert_eq!(info.iss(), Some("http://127.0.0.1:8080"));
    assert!(info.exp().unwrap() > info.iat().unwrap());

    // The client revokes it; the resource server then sees it inactive.
    web.revoke_token(StandardRevocableToken::AccessToken(access.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let info = rs.introspect(&access).request_async(&http).await.unwrap();
    assert!(!info.active());
    assert_eq!(info.sub(), None);

    // Replaying the used refresh token fails and revokes the grant: the
    // current refresh token is refused too.
    for token in [&refresh, &new_refresh] {
        let e = web.exchange_refresh_token(token).request_async(&http).await.unwrap_err();
        match e {
            RequestTokenError::ServerResponse(r) => {
                assert_eq!(*r.error(), BasicErrorResponseType::InvalidGrant)
            }
            other => panic!("expected invalid_grant, got {other:?}"),
        }
    }

    // Using a code twice revokes everything issued from it (RFC 6749
    // §4.1.2): the access token stops working at once.
    let (tokens, code) = sign_in(addr, &web).await;
    let bearer = [("Authorization", format!("Bearer {}", tokens.access_token().secret()))];
    assert_eq!(send(addr, "GET", "/api/me", &bearer, b"").await.status, 200);
    let (_, other_verifier) = PkceCodeChallenge::new_random_sha256();
    let e = web
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(other_verifier)
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RequestTokenError::ServerResponse(r) if *r.error() == BasicErrorResponseType::InvalidGrant)
    );
    assert_eq!(send(addr, "GET", "/api/me", &bearer, b"").await.status, 401);
    assert!(web.exchange_refresh_token(tokens.refresh_token().unwrap()).request_async(&http).await.is_err());

    // Revoking a refresh token revokes its grant, access tokens included.
    let (tokens, _) = sign_in(addr, &web).await;
    let refresh = tokens.refresh_token().unwrap().clone();
    web.revoke_token(StandardRevocableToken::RefreshToken(refresh.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert!(!rs.introspect(tokens.access_token()).request_async(&http).await.unwrap().active());
    assert!(web.exchange_refresh_token(&refresh).request_async(&http).await.is_err());
    app.shutdown().await;
}

/// The public client: no secret, so the library sends `client_id` in the
/// body, and PKCE alone ties the code to it.
#[tokio::test]
async fn oauth2_crate_runs_the_public_client_flow() {
    let app = start().await;
    let addr = app.addr;
    let http = http(addr);
    let public = BasicClient::new(ClientId::new("demo-public".into()))
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::new(url(addr, "/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(url(addr, "/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(PUBLIC_CALLBACK.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = public.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge).url();
    let code = authorize(addr, &auth_url, &csrf, PUBLIC_CALLBACK).await;

    // Without the verifier the code is worthless.
    let e =
        public.exchange_code(AuthorizationCode::new(code.clone())).request_async(&http).await.unwrap_err();
    assert!(
        matches!(&e, RequestTokenError::ServerResponse(r) if *r.error() == BasicErrorResponseType::InvalidGrant)
    );

    let tokens = public
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let scopes: Vec<&str> = tokens.scopes().unwrap().iter().map(|s| s.as_str()).collect();
    assert_eq!(scopes, ["read"]);
    let bearer = [("Authorization", format!("Bearer {}", tokens.access_token().secret()))];
    assert_eq!(send(addr, "GET", "/api/me", &bearer, b"").await.json()["sub"], "alice");
    let refreshed =
        public.exchange_refresh_token(tokens.refresh_token().unwrap()).request_async(&http).await.unwrap();
    assert_ne!(refreshed.refresh_token().unwrap().secret(), tokens.refresh_token().unwrap().secret());
    // A made-up token is simply not active for the API.
    let r = send(addr, "GET", "/api/me", &[("Authorization", "Bearer gat_k1.made-up".to_owned())], b"").await;
    assert_eq!(r.status, 401);
    app.shutdown().await;
}
