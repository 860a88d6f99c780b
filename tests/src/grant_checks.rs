//! Checks for the authorization code grant with PKCE, refresh-token
//! rotation with reuse detection, and same-process bearer validation.

use std::sync::Arc;

use gatehouse_core::model::{Resource, Scope};
use gatehouse_core::{
    AuthorizationRequest, BearerError, ClientRegistry, Error, Header, HttpResponse, InactiveReason,
    Introspection, TokenStore,
};
use serde_json::Value;

use crate::world::{
    encode, ids, pkce, query_param, World, ALICE, API, APP_CB, MULTI_CB, OTHER_API, SPA_CB, WEB_CB,
};
use crate::Harness;

fn ok_json(r: &HttpResponse) -> Value {
    assert_eq!(r.status, 200, "body: {}", String::from_utf8_lossy(&r.body));
    r.json_body().expect("json")
}

fn assert_grant_error(r: &HttpResponse, code: &str) {
    assert_eq!(r.status, 400, "body: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json_body().expect("json")["error"], code);
}

fn field(v: &Value, name: &str) -> String {
    v[name].as_str().unwrap_or_else(|| panic!("no {name} in {v}")).to_owned()
}

fn inactive(reason: InactiveReason) -> Introspection {
    Introspection::Inactive(reason)
}

/// A confidential client runs the whole code flow: code, then access and
/// refresh tokens bound to the user.
pub async fn code_flow_issues_access_and_refresh_tokens<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "&scope=read+write").await;
    assert!(code.starts_with("gac_"));
    let b = ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await);
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["scope"], "read write");
    let access = field(&b, "access_token");
    assert!(field(&b, "refresh_token").starts_with("grt_"));
    let r = w.introspect_http(ids::RS, &access, "").await;
    let j = r.json_body().expect("json");
    assert_eq!((j["active"].as_bool(), j["sub"].as_str()), (Some(true), Some(ALICE)));
}

/// A public client exchanges its code with `client_id` and PKCE alone.
pub async fn public_client_code_flow<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::SPA, "").await;
    let b = ok_json(&w.exchange(ids::SPA, &code, cb, &verifier).await);
    assert!(w.introspect(ids::RS, &field(&b, "access_token")).await.is_active());
}

/// A successful authorization redirect carries `code`, `state` and `iss`.
pub async fn authorize_redirect_carries_code_state_and_issuer<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (_, challenge) = pkce();
    let url = w
        .authorize(&format!(
            "response_type=code&client_id=web&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256&state=a%20b",
            encode(WEB_CB)
        ))
        .await;
    assert!(url.starts_with(&format!("{WEB_CB}?code=gac_")), "{url}");
    assert_eq!(query_param(&url, "state").as_deref(), Some("a b"));
    assert_eq!(query_param(&url, "iss").as_deref(), Some("https://issuer.example"));
}

/// Unknown client, missing or unregistered redirect URI (even a prefix or
/// extension of a registered one): never redirected.
pub async fn authorize_bad_client_or_redirect_is_not_redirected<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (_, c) = pkce();
    let pk = format!("&response_type=code&code_challenge={c}&code_challenge_method=S256");
    for q in [
        format!("redirect_uri={}{pk}", encode(WEB_CB)),
        format!("client_id=nobody&redirect_uri={}{pk}", encode(WEB_CB)),
        format!("client_id=off&redirect_uri={}{pk}", encode(WEB_CB)),
        format!("client_id=web{pk}"),
        format!("client_id=web&redirect_uri={}{pk}", encode("https://evil.example/cb")),
        format!("client_id=web&redirect_uri={}{pk}", encode("https://web.example/cb/../x")),
        format!("client_id=web&redirect_uri={}{pk}", encode("https://web.example/cb?x=1")),
        format!("client_id=web&redirect_uri={}{pk}", encode("https://web.example/c")),
    ] {
        let req = AuthorizationRequest::from_query(&q).expect("parse");
        let alice = gatehouse_core::model::Subject::new(ALICE).expect("subject");
        let out = w.server.authorize(&req, &alice).await;
        assert!(matches!(out, Err(Error::NoRedirect(_))), "{q} gave {out:?}");
    }
    assert!(matches!(
        AuthorizationRequest::from_query("client_id=web&client_id=spa"),
        Err(Error::NoRedirect(_))
    ));
}

/// Errors after the redirect URI is known go back to the client by
/// redirect, with `state` and `iss`: PKCE missing or `plain`, a bad
/// response type, a scope beyond the client's, a client without the grant.
pub async fn authorize_errors_are_redirected<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (_, c) = pkce();
    let web = format!("client_id=web&redirect_uri={}&state=s1", encode(WEB_CB));
    let cases = [
        (format!("{web}&response_type=code"), "invalid_request"),
        (format!("{web}&response_type=code&code_challenge={c}"), "invalid_request"),
        (format!("{web}&response_type=code&code_challenge={c}&code_challenge_method=plain"), "invalid_request"),
        (format!("{web}&response_type=code&code_challenge=short&code_challenge_method=S256"), "invalid_request"),
        (format!("{web}&response_type=token&code_challenge={c}&code_challenge_method=S256"), "unsupported_response_type"),
        (format!("{web}&code_challenge={c}&code_challenge_method=S256"), "invalid_request"),
        (format!("{web}&response_type=code&code_challenge={c}&code_challenge_method=S256&scope=admin"), "invalid_scope"),
        (
            format!("{web}&response_type=code&code_challenge={c}&code_challenge_method=S256&resource=https%3A%2F%2Fevil.example"),
            "invalid_target",
        ),
        (
            format!("client_id=app&redirect_uri={}&state=s1&response_type=code&code_challenge={c}&code_challenge_method=S256", encode(APP_CB)),
            "unauthorized_client",
        ),
    ];
    for (q, code) in cases {
        let url = w.authorize(&q).await;
        assert_eq!(query_param(&url, "error").as_deref(), Some(code), "{q} -> {url}");
        assert_eq!(query_param(&url, "state").as_deref(), Some("s1"));
        assert_eq!(query_param(&url, "iss").as_deref(), Some("https://issuer.example"));
        assert!(query_param(&url, "code").is_none());
    }
}

/// The authorization request for `client` to `redirect_uri`, with a fresh
/// PKCE challenge: the check's outcome, or its error.
async fn check_redirect<S: TokenStore + ClientRegistry>(
    w: &World<S>,
    client: &str,
    redirect_uri: &str,
) -> Result<gatehouse_core::AuthorizationCheck, Error> {
    let (_, c) = pkce();
    let q = format!(
        "client_id={}&redirect_uri={}&response_type=code&code_challenge={c}&code_challenge_method=S256",
        encode(client),
        encode(redirect_uri)
    );
    w.server.check_authorization(&AuthorizationRequest::from_query(&q).expect("parse")).await
}

/// A public client's loopback redirect URI matches with any port (RFC 8252
/// §7.3), and only the port may differ; the code is bound to the URI
/// actually used. A confidential client's URIs match exactly.
pub async fn public_loopback_redirect_matches_any_port<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    assert_eq!(SPA_CB, "http://127.0.0.1:9999/cb");
    let used = "http://127.0.0.1:51004/cb";
    let (verifier, challenge) = pkce();
    let url = w
        .authorize(&format!(
            "response_type=code&client_id=spa&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256",
            encode(used)
        ))
        .await;
    assert!(url.starts_with(&format!("{used}?code=gac_")), "{url}");
    let code = query_param(&url, "code").expect("code");
    assert_grant_error(&w.exchange(ids::SPA, &code, SPA_CB, &verifier).await, "invalid_grant");
    let (code, verifier, _) = w.code_for(ids::SPA, "").await;
    ok_json(&w.exchange(ids::SPA, &code, SPA_CB, &verifier).await);
    let (verifier, challenge) = pkce();
    let url = w
        .authorize(&format!(
            "response_type=code&client_id=spa&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256",
            encode("http://127.0.0.1/cb")
        ))
        .await;
    let code = query_param(&url, "code").expect("code without a port");
    ok_json(&w.exchange(ids::SPA, &code, "http://127.0.0.1/cb", &verifier).await);
    for other in [
        "http://127.0.0.1:51004/cb/x",
        "http://127.0.0.1:51004/cb?x=1",
        "http://[::1]:51004/cb",
        "http://localhost:9999/cb",
        "https://127.0.0.1:9999/cb",
        "http://127.0.0.1:99999/cb",
        "http://127.0.0.1:9999@evil.example/cb",
    ] {
        let out = check_redirect(&w, ids::SPA, other).await;
        assert!(matches!(out, Err(Error::NoRedirect(_))), "{other} gave {out:?}");
    }
    let out = check_redirect(&w, ids::WEB, "https://web.example:8443/cb").await;
    assert!(matches!(out, Err(Error::NoRedirect(_))), "{out:?}");
}

/// A registered redirect URI that breaks the registration rules (stored
/// without `Client::validate`) never matches, not even itself.
pub async fn unsafe_registered_redirect_uri_never_matches<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    for uri in ["http://app.example/cb", "https://app.example/cb#x", "http://localhost/cb", "myapp:/cb"] {
        let mut spa = w.client(ids::SPA).await;
        spa.redirect_uris = vec![uri.to_owned()].into();
        assert!(spa.validate().is_err(), "{uri} must be refused at registration");
        w.store().put_client(spa).await.expect("register");
        let out = check_redirect(&w, ids::SPA, uri).await;
        assert!(matches!(out, Err(Error::NoRedirect(_))), "{uri} gave {out:?}");
    }
}

/// Without `resource`, a code is for the client's default audience alone; a
/// client with several audiences and no default must name one
/// (`invalid_target`, by redirect).
pub async fn authorization_audience_without_resource<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    let access = field(&ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await), "access_token");
    assert!(w.introspect(ids::RS, &access).await.is_active());
    assert_eq!(w.introspect(ids::RS_OTHER, &access).await, inactive(InactiveReason::WrongAudience));
    let (_, c) = pkce();
    let url = w
        .authorize(&format!(
            "client_id=multi&redirect_uri={}&state=s1&response_type=code&code_challenge={c}&code_challenge_method=S256",
            encode(MULTI_CB)
        ))
        .await;
    assert_eq!(query_param(&url, "error").as_deref(), Some("invalid_target"), "{url}");
    assert!(query_param(&url, "code").is_none());
    let (code, verifier, cb) = w.code_for(ids::MULTI, &format!("&resource={}", encode(OTHER_API))).await;
    let access = field(&ok_json(&w.exchange(ids::MULTI, &code, cb, &verifier).await), "access_token");
    assert!(w.introspect(ids::RS_OTHER, &access).await.is_active());
    assert_eq!(w.introspect(ids::RS, &access).await, inactive(InactiveReason::WrongAudience));
}

/// A user who refuses consent sends the client `access_denied`.
pub async fn deny_redirects_access_denied<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (_, c) = pkce();
    let q = format!(
        "response_type=code&client_id=spa&redirect_uri={}&code_challenge={c}&code_challenge_method=S256&state=z",
        encode(SPA_CB)
    );
    let url = w.server.deny(&AuthorizationRequest::from_query(&q).expect("parse")).await.expect("redirect");
    assert_eq!(query_param(&url, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&url, "state").as_deref(), Some("z"));
}

/// A code works once. A replay is `invalid_grant` and revokes every token
/// issued from the code.
pub async fn code_replay_revokes_issued_tokens<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    let b = ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await);
    let access = field(&b, "access_token");
    let refresh = field(&b, "refresh_token");
    assert_grant_error(&w.exchange(ids::WEB, &code, cb, &verifier).await, "invalid_grant");
    assert_eq!(w.introspect(ids::RS, &access).await, inactive(InactiveReason::Revoked));
    assert_grant_error(&w.refresh(ids::WEB, &refresh, "").await, "invalid_grant");
}

/// A wrong or missing PKCE verifier is `invalid_grant`, and does not burn
/// the code for the holder of the right one.
pub async fn pkce_mismatch_is_invalid_grant<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::SPA, "").await;
    let (other, _) = pkce();
    assert_grant_error(&w.exchange(ids::SPA, &code, cb, &other).await, "invalid_grant");
    let body = format!("grant_type=authorization_code&code={code}&redirect_uri={}", encode(cb));
    assert_grant_error(&w.token_as(ids::SPA, &body).await, "invalid_grant");
    assert_grant_error(&w.exchange(ids::SPA, &code, cb, "too-short").await, "invalid_grant");
    ok_json(&w.exchange(ids::SPA, &code, cb, &verifier).await);
}

/// The token request's `redirect_uri` must be the authorization request's.
pub async fn redirect_mismatch_is_invalid_grant<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, _) = w.code_for(ids::WEB, "").await;
    assert_grant_error(
        &w.exchange(ids::WEB, &code, "https://web.example/other", &verifier).await,
        "invalid_grant",
    );
    let body = format!("grant_type=authorization_code&code={code}&code_verifier={verifier}");
    assert_grant_error(&w.token_as(ids::WEB, &body).await, "invalid_grant");
}

/// A code expires after `code_ttl` (60 s by default).
pub async fn expired_code_is_invalid_grant<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    w.clock.advance(60);
    assert_grant_error(&w.exchange(ids::WEB, &code, cb, &verifier).await, "invalid_grant");
}

/// Another client's code is `invalid_grant`, and does not revoke anything
/// of the real holder's.
pub async fn code_of_another_client_is_invalid_grant<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::SPA, "").await;
    assert_grant_error(&w.exchange(ids::WEB, &code, cb, &verifier).await, "invalid_grant");
    ok_json(&w.exchange(ids::SPA, &code, cb, &verifier).await);
}

/// Codes and refresh tokens only work in their own grant type, and each
/// grant type only for clients registered for it.
pub async fn tokens_only_work_in_their_own_grant<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    assert_grant_error(&w.refresh(ids::WEB, &code, "").await, "invalid_grant");
    let b = ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await);
    let access = field(&b, "access_token");
    assert_grant_error(&w.refresh(ids::WEB, &access, "").await, "invalid_grant");
    let refresh = field(&b, "refresh_token");
    assert_grant_error(&w.exchange(ids::WEB, &refresh, cb, &verifier).await, "invalid_grant");
    assert_grant_error(&w.refresh(ids::APP, &refresh, "").await, "unauthorized_client");
    let body = format!("grant_type=authorization_code&code=x&redirect_uri={}&code_verifier=x", encode(cb));
    assert_grant_error(&w.token(ids::APP, &body).await, "unauthorized_client");
    assert_grant_error(&w.token(ids::WEB, "grant_type=client_credentials").await, "unauthorized_client");
}

/// Every refresh rotates: the new refresh token works, the old one stops.
/// Reusing the old one revokes the whole family, new tokens included.
pub async fn refresh_rotates_and_reuse_revokes_the_family<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    let first = ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await);
    let r1 = field(&first, "refresh_token");
    let second = ok_json(&w.refresh(ids::WEB, &r1, "").await);
    let r2 = field(&second, "refresh_token");
    let a2 = field(&second, "access_token");
    assert_ne!(r1, r2);
    assert!(w.introspect(ids::RS, &a2).await.is_active());
    assert_grant_error(&w.refresh(ids::WEB, &r1, "").await, "invalid_grant");
    assert_eq!(w.introspect(ids::RS, &a2).await, inactive(InactiveReason::Revoked));
    assert_grant_error(&w.refresh(ids::WEB, &r2, "").await, "invalid_grant");
}

/// A refresh may narrow the scope, never widen it; the rotated token keeps
/// the grant's expiry.
pub async fn refresh_scope_may_narrow_not_widen<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::SPA, "&scope=read").await;
    let b = ok_json(&w.exchange(ids::SPA, &code, cb, &verifier).await);
    let r1 = field(&b, "refresh_token");
    let r = w.refresh(ids::SPA, &r1, "&scope=read+write").await;
    assert_grant_error(&r, "invalid_scope");
    let b = ok_json(&w.refresh(ids::SPA, &r1, "&scope=read").await);
    assert_eq!(b["scope"], "read");
    // The refresh token's lifetime is the grant's: 30 days from the code
    // exchange, however often it rotates.
    w.clock.advance(30 * 24 * 3600 - 1);
    let r2 = field(&b, "refresh_token");
    let b = ok_json(&w.refresh(ids::SPA, &r2, "").await);
    w.clock.advance(1);
    assert_grant_error(&w.refresh(ids::SPA, &field(&b, "refresh_token"), "").await, "invalid_grant");
}

/// A narrowed scope on refresh is the new access token's only: the new
/// refresh token keeps the grant's scope, so a later refresh may ask for
/// the rest again (RFC 6749 §6), but never for more.
pub async fn refresh_narrowing_keeps_the_grant_scope<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "&scope=read+write").await;
    let r1 = field(&ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await), "refresh_token");
    let b = ok_json(&w.refresh(ids::WEB, &r1, "&scope=read").await);
    assert_eq!(b["scope"], "read");
    let read_only = w.introspect_http(ids::RS, &field(&b, "access_token"), "").await;
    assert_eq!(read_only.json_body().expect("json")["scope"], "read");
    let r2 = field(&b, "refresh_token");
    let own = w.introspect_http(ids::WEB, &r2, "").await.json_body().expect("json");
    assert_eq!(own["scope"], "read write", "the refresh token keeps the grant's scope");
    let b = ok_json(&w.refresh(ids::WEB, &r2, "&scope=read+write").await);
    assert_eq!(b["scope"], "read write");
    let r3 = field(&b, "refresh_token");
    let b = ok_json(&w.refresh(ids::WEB, &r3, "&scope=write").await);
    assert_eq!(b["scope"], "write");
    let b = ok_json(&w.refresh(ids::WEB, &field(&b, "refresh_token"), "").await);
    assert_eq!(b["scope"], "read write", "no scope asked: the grant's");
    let r = w.refresh(ids::WEB, &field(&b, "refresh_token"), "&scope=read+admin").await;
    assert_grant_error(&r, "invalid_scope");
}

/// An access token minted on refresh, or at the code exchange, never
/// outlives the grant, whose end is fixed at the code exchange.
pub async fn access_token_never_outlives_its_grant<H: Harness>(h: &H) {
    const GRANT: u64 = 30 * 24 * 3600;
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    let exchanged_at = w.server.now().0;
    let b = ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await);
    assert_eq!(b["expires_in"], 3600);
    w.clock.advance(GRANT - 100);
    let b = ok_json(&w.refresh(ids::WEB, &field(&b, "refresh_token"), "").await);
    assert_eq!(b["expires_in"], 100, "cut to the grant's end");
    let access = field(&b, "access_token");
    let j = w.introspect_http(ids::RS, &access, "").await.json_body().expect("json");
    assert_eq!(j["exp"], exchanged_at + GRANT);
    w.clock.advance(99);
    assert!(w.introspect(ids::RS, &access).await.is_active());
    w.clock.advance(1);
    assert_eq!(w.introspect(ids::RS, &access).await, inactive(InactiveReason::Expired));

    // A grant shorter than an access token: the first one is cut as well.
    let w = World::with_config(h.fresh().await, |c| c.refresh_token_ttl = 600).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    let b = ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await);
    assert_eq!(b["expires_in"], 600);
}

/// Of many concurrent refreshes of one token, exactly one succeeds.
pub async fn concurrent_refresh_has_one_winner<H: Harness>(h: &H) {
    let w = Arc::new(World::new(h.fresh().await).await);
    for _ in 0..5 {
        let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
        let refresh = field(&ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await), "refresh_token");
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (w, refresh, barrier) = (Arc::clone(&w), refresh.clone(), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    w.refresh(ids::WEB, &refresh, "").await.status
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            let status = t.await.expect("task");
            assert!(status == 200 || status == 400, "status {status}");
            ok += usize::from(status == 200);
        }
        assert_eq!(ok, 1, "exactly one concurrent refresh may win");
    }
}

/// Refresh tokens are visible to introspection only by the client they
/// were issued to; other resource servers never see them active.
pub async fn refresh_tokens_are_visible_only_to_their_client<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    let refresh = field(&ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await), "refresh_token");
    assert_eq!(w.introspect(ids::RS, &refresh).await, inactive(InactiveReason::NotAnAccessToken));
    let own = w.introspect_http(ids::WEB, &refresh, "").await.json_body().expect("json");
    assert_eq!(own["active"], true);
    assert!(own.get("token_type").is_none());
    let cb_code = w.code_for(ids::WEB, "").await.0;
    assert_eq!(w.introspect(ids::WEB, &cb_code).await, inactive(InactiveReason::NotAnAccessToken));
}

/// Revoking a refresh token (RFC 7009) revokes the grant's access tokens.
pub async fn revoking_a_refresh_token_revokes_its_access_tokens<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    let b = ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await);
    assert_eq!(w.revoke_http(ids::WEB, &field(&b, "refresh_token")).await.status, 200);
    assert_eq!(w.introspect(ids::RS, &field(&b, "access_token")).await, inactive(InactiveReason::Revoked));
}

/// Bearer validation (RFC 6750): the principal for a good token, and the
/// exact status and challenge for every failure.
pub async fn bearer_validation<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let api = Resource::new(API).expect("resource");
    let other = Resource::new(OTHER_API).expect("resource");
    let read = Scope::parse("read").expect("scope");
    let (code, verifier, cb) = w.code_for(ids::WEB, "&scope=read&resource=https%3A%2F%2Fapi.example").await;
    let b = ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await);
    let header = format!("Bearer {}", field(&b, "access_token"));
    let p = w.server.validate_bearer(Header::from(header.as_str()), &api, &read).await.expect("valid");
    assert_eq!((p.client_id.as_str(), p.subject.as_ref().map(|s| s.as_str())), ("web", Some(ALICE)));
    assert_eq!(p.scope.as_str(), "read");

    let check = |hdr: Header<'static>, aud: Resource, scope: &str, status: u16, challenge: &str| {
        let w = &w;
        let scope = Scope::parse(scope).expect("scope");
        let challenge = challenge.to_owned();
        async move {
            let e = w.server.validate_bearer(hdr, &aud, &scope).await.expect_err("refused");
            assert_eq!(e.status(), status, "{e:?}");
            assert_eq!(e.www_authenticate("api").as_deref(), Some(challenge.as_str()), "{e:?}");
        }
    };
    let leaked: &'static str = Box::leak(header.clone().into_boxed_str());
    check(Header::Absent, api.clone(), "read", 401, "Bearer realm=\"api\"").await;
    let bad_req = "Bearer realm=\"api\", error=\"invalid_request\", error_description=\"malformed Authorization header\"";
    check(Header::One(b"Basic abc"), api.clone(), "read", 400, bad_req).await;
    check(Header::One(b"Bearer a b"), api.clone(), "read", 400, bad_req).await;
    check(Header::Repeated, api.clone(), "read", 400, bad_req).await;
    let bad_token =
        "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the access token is invalid\"";
    check(Header::One(b"Bearer gat_k1.forged"), api.clone(), "read", 401, bad_token).await;
    check(Header::One(leaked.as_bytes()), other, "read", 401, bad_token).await;
    check(
        Header::One(leaked.as_bytes()),
        api.clone(),
        "read write",
        403,
        "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"read write\"",
    )
    .await;
    let refresh: &'static str = Box::leak(format!("Bearer {}", field(&b, "refresh_token")).into_boxed_str());
    check(Header::One(refresh.as_bytes()), api.clone(), "read", 401, bad_token).await;
    w.clock.advance(3600);
    check(Header::One(leaked.as_bytes()), api.clone(), "read", 401, bad_token).await;

    w.store().set_failing(true);
    let e = w.server.validate_bearer(Header::One(leaked.as_bytes()), &api, &read).await.expect_err("fails");
    assert!(matches!(e, BearerError::Server(Error::Store(_))), "{e:?}");
    assert_eq!((e.status(), e.www_authenticate("api"), e.retry_after()), (500, None, None));
}

/// A store that cannot be reached during a code exchange, a refresh or
/// bearer validation is a 503 with `Retry-After`, never tokens and never a
/// verdict on the bearer token.
pub async fn grants_unreachable_store_is_503<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let retry = Error::UNAVAILABLE_RETRY_AFTER.to_string();
    let check = |r: &HttpResponse| {
        assert_eq!(r.status, 503, "body: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("retry-after"), Some(retry.as_str()));
        let v = r.json_body().expect("json");
        assert_eq!(v["error"], "temporarily_unavailable");
        assert!(v.get("access_token").is_none() && v.get("refresh_token").is_none());
    };
    let (code, verifier, cb) = w.code_for(ids::WEB, "&scope=read&resource=https%3A%2F%2Fapi.example").await;
    w.store().set_unreachable(true);
    check(&w.exchange(ids::WEB, &code, cb, &verifier).await);
    w.store().set_unreachable(false);
    let b = ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await);
    w.store().set_unreachable(true);
    check(&w.refresh(ids::WEB, &field(&b, "refresh_token"), "").await);

    let api = Resource::new(API).expect("resource");
    let read = Scope::parse("read").expect("scope");
    let header = format!("Bearer {}", field(&b, "access_token"));
    let e = w.server.validate_bearer(Header::from(header.as_str()), &api, &read).await.expect_err("fails");
    assert!(matches!(&e, BearerError::Server(Error::Store(s)) if s.is_unavailable()), "{e:?}");
    assert_eq!((e.status(), e.retry_after(), e.www_authenticate("api")), (503, Some(5), None));
    w.store().set_unreachable(false);
    assert!(w.server.validate_bearer(Header::from(header.as_str()), &api, &read).await.is_ok());
}

/// A store failure during a code exchange or a refresh is a 500, never
/// tokens.
pub async fn grants_fail_closed<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    w.store().set_failing(true);
    let r = w.exchange(ids::WEB, &code, cb, &verifier).await;
    assert_eq!(r.status, 500);
    assert!(r.json_body().expect("json").get("access_token").is_none());
    w.store().set_failing(false);
    let b = ok_json(&w.exchange(ids::WEB, &code, cb, &verifier).await);
    w.store().set_failing(true);
    assert_eq!(w.refresh(ids::WEB, &field(&b, "refresh_token"), "").await.status, 500);
}
