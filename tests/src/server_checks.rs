//! Server-level checks: the token, introspection and revocation endpoints
//! over a real store. Each `pub async fn` takes a fresh, empty store and
//! panics on a violation; [`store_conformance!`](crate::store_conformance)
//! stamps one `#[test]` per check per backend.

use std::sync::Arc;

use gatehouse_core::model::{Claims, GrantId, Jti, Resource, Scope, TokenKind, TokenRecord};
use gatehouse_core::{
    ClientCredentials, ClientRegistry, Error, Header, HttpResponse, InactiveReason, Introspection, KeyId,
    Keyring, PresentedSecret, TokenStore,
};
use serde_json::Value;

use crate::world::{basic, ids, raw_request, World, API, KEY, OTHER_API};
use crate::Harness;

const FORM: Header<'static> = Header::One(b"application/x-www-form-urlencoded");

fn json(r: &HttpResponse) -> Value {
    r.json_body().expect("every response body is JSON")
}

fn assert_error(r: &HttpResponse, status: u16, code: &str) {
    assert_eq!(r.status, status, "body: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(r)["error"], code);
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

fn assert_inactive_body(r: &HttpResponse) {
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"{\"active\":false}", "inactive must be exactly {{\"active\":false}}");
}

fn inactive(reason: InactiveReason) -> Introspection {
    Introspection::Inactive(reason)
}

/// A record for `kind`, stored directly (for states the endpoints cannot
/// produce yet), returning its raw token.
async fn store_record<S: TokenStore + ClientRegistry>(
    w: &World<S>,
    kind: TokenKind,
    grant: GrantId,
    edit: impl FnOnce(&mut TokenRecord),
) -> String {
    let (raw, digest) = w.keys.mint(kind, grant).expect("mint");
    let audience = Arc::from(vec![Resource::new(API).expect("resource")]);
    let claims = Claims::new(w.client(ids::APP).await.id, Scope::parse("read").expect("scope"), audience);
    let jti = Jti::generate().expect("random");
    let mut r = TokenRecord::access(digest, jti, claims, w.t0, w.t0.plus(3600));
    // Any kind, with no code binding even for a code: the checks probe
    // what the server does with exactly this record.
    r.kind = kind;
    edit(&mut r);
    w.store().insert(r).await.expect("insert");
    raw.into_string()
}

// ---- token endpoint: client_credentials ----------------------------------

/// A client_credentials request gets an RFC 6749 §5.1 answer with
/// `Cache-Control: no-store` and the client's default scope.
pub async fn client_credentials_issues_bearer_token<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let r = w.token(ids::APP, "grant_type=client_credentials").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let b = json(&r);
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 3600);
    assert_eq!(b["scope"], "read");
    assert!(b.get("refresh_token").is_none(), "client_credentials issues no refresh token");
    let t = b["access_token"].as_str().expect("access_token");
    assert!(t.starts_with("gat_k1."));
    assert!(w.introspect(ids::RS, t).await.is_active());
}

/// client_secret_post authenticates as well as client_secret_basic.
pub async fn client_secret_post_works<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let body = format!("grant_type=client_credentials&client_id=app&client_secret={}", w.secret(ids::APP));
    let r = w.server.token_endpoint(raw_request("POST", Header::Absent, FORM, body.as_bytes())).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// A requested scope within the client's is granted as asked.
pub async fn requested_scope_is_granted<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let r = w.token(ids::APP, "grant_type=client_credentials&scope=write+read").await;
    assert_eq!(json(&r)["scope"], "read write");
}

/// A scope beyond the client's is `invalid_scope`.
pub async fn scope_beyond_client_is_invalid_scope<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    assert_error(
        &w.token(ids::APP, "grant_type=client_credentials&scope=read+admin").await,
        400,
        "invalid_scope",
    );
}

/// A malformed scope is `invalid_scope`.
pub async fn malformed_scope_is_invalid_scope<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    assert_error(&w.token(ids::APP, "grant_type=client_credentials&scope=a%22b").await, 400, "invalid_scope");
}

/// RFC 8707: an allowed `resource` narrows the audience to it.
pub async fn resource_narrows_audience<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t =
        w.issue(&format!("grant_type=client_credentials&resource={}", crate::world::encode(OTHER_API))).await;
    assert!(w.introspect(ids::RS_OTHER, &t).await.is_active());
    assert_eq!(w.introspect(ids::RS, &t).await, inactive(InactiveReason::WrongAudience));
}

/// Without `resource`, the token is for the client's default audience
/// alone, never for all of its audiences (RFC 9700 §2.3); several
/// resources may still be named.
pub async fn no_resource_means_the_default_audience<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    assert!(w.introspect(ids::RS, &t).await.is_active());
    assert_eq!(w.introspect(ids::RS_OTHER, &t).await, inactive(InactiveReason::WrongAudience));
    let both = both_apis();
    let t = w.issue(&format!("grant_type=client_credentials{both}")).await;
    assert!(w.introspect(ids::RS, &t).await.is_active());
    assert!(w.introspect(ids::RS_OTHER, &t).await.is_active());
}

/// A client with several audiences and no default must name a `resource`
/// (`invalid_target`); a named one is granted.
pub async fn several_audiences_and_no_default_need_a_resource<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let r = w.token(ids::MULTI, "grant_type=client_credentials").await;
    assert_error(&r, 400, "invalid_target");
    let body = format!("grant_type=client_credentials&resource={}", crate::world::encode(OTHER_API));
    let r = w.token(ids::MULTI, &body).await;
    let t = json(&r)["access_token"].as_str().expect("a token").to_owned();
    assert!(w.introspect(ids::RS_OTHER, &t).await.is_active());
    assert_eq!(w.introspect(ids::RS, &t).await, inactive(InactiveReason::WrongAudience));
}

/// `&resource=API&resource=OTHER_API`.
fn both_apis() -> String {
    use crate::world::encode;
    format!("&resource={}&resource={}", encode(API), encode(OTHER_API))
}

/// A `resource` the client may not use, or a malformed one, is
/// `invalid_target`.
pub async fn bad_resource_is_invalid_target<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let r = w.token(ids::APP, "grant_type=client_credentials&resource=https%3A%2F%2Fevil.example").await;
    assert_error(&r, 400, "invalid_target");
    let r = w.token(ids::APP, "grant_type=client_credentials&resource=not-a-uri").await;
    assert_error(&r, 400, "invalid_target");
    let r =
        w.token(ids::APP, "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example%23frag").await;
    assert_error(&r, 400, "invalid_target");
}

/// Missing `grant_type` is `invalid_request`.
pub async fn missing_grant_type_is_invalid_request<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    assert_error(&w.token(ids::APP, "scope=read").await, 400, "invalid_request");
}

/// An unknown grant type is `unsupported_grant_type`.
pub async fn unknown_grant_type_is_unsupported<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    assert_error(&w.token(ids::APP, "grant_type=password").await, 400, "unsupported_grant_type");
}

/// A client not registered for the grant, and a public client, are
/// `unauthorized_client`.
pub async fn client_without_grant_is_unauthorized_client<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let r = w.token(ids::NO_GRANTS, "grant_type=client_credentials").await;
    assert_error(&r, 400, "unauthorized_client");
    let body = b"grant_type=client_credentials&client_id=mobile";
    let r = w.server.token_endpoint(raw_request("POST", Header::Absent, FORM, body)).await;
    assert_error(&r, 400, "unauthorized_client");
}

// ---- client authentication -----------------------------------------------

/// A wrong secret over Basic is 401 `invalid_client` with
/// `WWW-Authenticate: Basic`.
pub async fn wrong_secret_is_invalid_client<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let auth = basic(ids::APP, "wrong-secret-wrong-secret-wrong-secret");
    let r = w
        .server
        .token_endpoint(raw_request(
            "POST",
            Header::One(auth.as_bytes()),
            FORM,
            b"grant_type=client_credentials",
        ))
        .await;
    assert_error(&r, 401, "invalid_client");
    assert!(r.header("www-authenticate").is_some_and(|v| v.starts_with("Basic")));
}

/// An unknown client gets the very same response as a wrong secret.
pub async fn unknown_client_looks_like_wrong_secret<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let send = |id: &str| {
        let auth = basic(id, "wrong-secret-wrong-secret-wrong-secret");
        let server = &w.server;
        async move {
            server
                .token_endpoint(raw_request(
                    "POST",
                    Header::One(auth.as_bytes()),
                    FORM,
                    b"grant_type=client_credentials",
                ))
                .await
        }
    };
    let wrong = send(ids::APP).await;
    let unknown = send("nobody").await;
    assert_eq!(wrong, unknown);
    // A disabled client, and a public client presenting a secret, too.
    assert_eq!(send(ids::OFF).await, wrong);
    assert_eq!(send(ids::MOBILE).await, wrong);
}

/// A disabled client cannot authenticate, even with its right secret.
pub async fn disabled_client_is_invalid_client<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    assert_error(&w.token(ids::OFF, "grant_type=client_credentials").await, 401, "invalid_client");
}

/// The typed API: every failure is the same `InvalidClient`.
pub async fn typed_authentication_outcomes<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let ok = ClientCredentials::Post { id: "app".into(), secret: PresentedSecret::new(w.secret(ids::APP)) };
    assert_eq!(w.server.authenticate(&ok).await.expect("authenticates").id.as_str(), "app");
    let wrong = ClientCredentials::Post { id: "app".into(), secret: PresentedSecret::new("x") };
    assert!(matches!(w.server.authenticate(&wrong).await, Err(Error::InvalidClient { basic: false })));
    let bad_id = ClientCredentials::Basic { id: "\n".into(), secret: PresentedSecret::new("x") };
    assert!(matches!(w.server.authenticate(&bad_id).await, Err(Error::InvalidClient { basic: true })));
    // `none` is for public clients only.
    let none_conf = ClientCredentials::None { id: "app".into() };
    assert!(matches!(w.server.authenticate(&none_conf).await, Err(Error::InvalidClient { .. })));
    let none_pub = ClientCredentials::None { id: "mobile".into() };
    assert!(w.server.authenticate(&none_pub).await.is_ok());
}

/// No credentials at all is 401 `invalid_client`, without a Basic
/// challenge (nothing was attempted through the header).
pub async fn missing_credentials_is_invalid_client<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let r = w
        .server
        .token_endpoint(raw_request("POST", Header::Absent, FORM, b"grant_type=client_credentials"))
        .await;
    assert_error(&r, 401, "invalid_client");
    assert_eq!(r.header("www-authenticate"), None);
}

/// RFC 6749 §5.2: authentication attempted through the `Authorization`
/// header with a scheme we do not accept (`Bearer`, `Digest`, a bare
/// `Basic`) is 401 `invalid_client` with a challenge naming the scheme we
/// do accept, on every endpoint, as for a wrong Basic secret.
pub async fn other_authorization_scheme_is_401_with_basic_challenge<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let t = w.issue_default().await;
    let bodies = [
        "grant_type=client_credentials".to_owned(),
        format!("token={t}"),
        format!("token={t}&client_id={}&client_secret={}", ids::RS, w.secret(ids::RS)),
    ];
    for scheme in [&b"Bearer abc"[..], b"Digest username=\"app\", realm=\"oauth\"", b"Basic", b"Negotiate"] {
        for body in &bodies {
            for endpoint in 0..3 {
                let req = raw_request("POST", Header::One(scheme), FORM, body.as_bytes());
                let r = match endpoint {
                    0 => w.server.token_endpoint(req).await,
                    1 => w.server.introspection_endpoint(req).await,
                    _ => w.server.revocation_endpoint(req).await,
                };
                assert_error(&r, 401, "invalid_client");
                assert_eq!(
                    r.header("www-authenticate"),
                    Some(r#"Basic realm="oauth", charset="UTF-8""#),
                    "{} at endpoint {endpoint}",
                    String::from_utf8_lossy(scheme)
                );
            }
        }
    }
    // None of that revoked the token.
    assert!(w.introspect(ids::RS, &t).await.is_active());
}

/// Basic and client_secret in one request is `invalid_request`.
pub async fn two_auth_methods_is_invalid_request<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let body = format!("grant_type=client_credentials&client_secret={}", w.secret(ids::APP));
    assert_error(&w.token(ids::APP, &body).await, 400, "invalid_request");
    let r = w.token(ids::APP, "grant_type=client_credentials&client_id=plain").await;
    assert_error(&r, 400, "invalid_request");
}

/// A `client_secret` without a `client_id` (and no Basic header) is
/// `invalid_request`: there is no client to check it against.
pub async fn secret_without_client_id_is_invalid_request<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let body = format!("grant_type=client_credentials&client_secret={}", w.secret(ids::APP));
    let r = w.server.token_endpoint(raw_request("POST", Header::Absent, FORM, body.as_bytes())).await;
    assert_error(&r, 400, "invalid_request");
}

// ---- malformed requests, on every endpoint -------------------------------

/// Every endpoint refuses bad input with an OAuth error, never a panic:
/// GET (405), wrong or repeated Content-Type, duplicated parameter,
/// non-UTF-8, bad percent-encoding, oversized body, malformed Basic header,
/// repeated Authorization header.
pub async fn malformed_requests_get_oauth_errors<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let auth = w.basic(ids::RS);
    let a = Header::One(auth.as_bytes());
    let big = vec![b'a'; 20_000];
    type Case<'a> = (&'a str, Header<'a>, Header<'a>, &'a [u8], u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("GET", a, FORM, b"token=x", 405, "invalid_request"),
        ("POST", a, Header::One(b"application/json"), b"{}", 400, "invalid_request"),
        ("POST", a, Header::Repeated, b"token=x", 400, "invalid_request"),
        ("POST", a, Header::Absent, b"token=x", 400, "invalid_request"),
        ("POST", a, FORM, b"token=x&token=y", 400, "invalid_request"),
        ("POST", a, FORM, b"token=\xff\xfe", 400, "invalid_request"),
        ("POST", a, FORM, b"token=%E2%28", 400, "invalid_request"),
        ("POST", a, FORM, b"token=%zz", 400, "invalid_request"),
        ("POST", a, FORM, &big, 400, "invalid_request"),
        ("POST", Header::One(b"Basic %%%"), FORM, b"token=x", 400, "invalid_request"),
        ("POST", Header::One(b"Basic \xff"), FORM, b"token=x", 400, "invalid_request"),
        ("POST", Header::Repeated, FORM, b"token=x", 400, "invalid_request"),
    ];
    for (m, au, ct, body, status, code) in cases {
        for endpoint in 0..3 {
            let req = raw_request(m, au, ct, body);
            let r = match endpoint {
                0 => w.server.token_endpoint(req).await,
                1 => w.server.introspection_endpoint(req).await,
                _ => w.server.revocation_endpoint(req).await,
            };
            assert_error(&r, status, code);
            if status == 405 {
                assert_eq!(r.header("allow"), Some("POST"));
            }
        }
    }
}

// ---- introspection ---------------------------------------------------------

/// An active token's answer carries every RFC 7662 §2.2 field we know.
pub async fn introspection_active_has_all_fields<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue(&format!("grant_type=client_credentials&scope=read+write{}", both_apis())).await;
    let r = w.introspect_http(ids::RS, &t, "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let b = json(&r);
    assert_eq!(b["active"], true);
    assert_eq!(b["scope"], "read write");
    assert_eq!(b["client_id"], "app");
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["iat"], w.t0.0);
    assert_eq!(b["nbf"], w.t0.0);
    assert_eq!(b["exp"], w.t0.0 + 3600);
    assert_eq!(b["aud"], serde_json::json!([API, OTHER_API]));
    assert_eq!(b["iss"], "https://issuer.example");
    assert_eq!(b["jti"].as_str().map(str::len), Some(22));
    assert!(b.get("sub").is_none(), "client_credentials tokens have no subject");
}

/// Distinct tokens get distinct `jti`s.
pub async fn jti_is_unique<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let a = json(&w.introspect_http(ids::RS, &w.issue_default().await, "").await);
    let b = json(&w.introspect_http(ids::RS, &w.issue_default().await, "").await);
    assert_ne!(a["jti"], b["jti"]);
}

/// A token that is not in our syntax is inactive.
pub async fn introspection_malformed_token_inactive<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    for t in ["garbage", "gat_k1.", "Bearer x", &"A".repeat(200)] {
        assert_eq!(w.introspect(ids::RS, t).await, inactive(InactiveReason::Malformed));
    }
    assert_inactive_body(&w.introspect_http(ids::RS, "garbage", "").await);
}

/// A token with a forged tag is inactive, and no storage is read for it.
pub async fn introspection_forged_token_inactive_without_storage_read<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    let mut forged = t.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    let before = w.store().token_reads();
    assert_eq!(w.introspect(ids::RS, &forged).await, inactive(InactiveReason::Forged));
    assert_eq!(w.store().token_reads(), before, "a forged token must not reach the store");
    assert_inactive_body(&w.introspect_http(ids::RS, &forged, "").await);
}

/// A token signed under a key id we do not have is inactive.
pub async fn introspection_unknown_key_id_inactive<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let other = Keyring::new((KeyId::new("k9").expect("kid"), KEY), &[]).expect("keyring");
    let (t, _) = other.mint(TokenKind::Access, GrantId::generate().expect("random")).expect("mint");
    assert_eq!(w.introspect(ids::RS, t.expose()).await, inactive(InactiveReason::UnknownKey));
}

/// A correctly tagged token that was never stored is inactive.
pub async fn introspection_unknown_token_inactive<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let (t, _) = w.keys.mint(TokenKind::Access, GrantId::generate().expect("random")).expect("mint");
    assert_eq!(w.introspect(ids::RS, t.expose()).await, inactive(InactiveReason::Unknown));
    assert_inactive_body(&w.introspect_http(ids::RS, t.expose(), "").await);
}

/// A token is inactive from `exp` on.
pub async fn introspection_expired_inactive<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    w.clock.advance(3599);
    assert!(w.introspect(ids::RS, &t).await.is_active());
    w.clock.advance(1);
    assert_eq!(w.introspect(ids::RS, &t).await, inactive(InactiveReason::Expired));
    assert_inactive_body(&w.introspect_http(ids::RS, &t, "").await);
}

/// Configured clock skew extends both ends of the validity window.
pub async fn introspection_respects_clock_skew<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::with_config(store, |c| c.clock_skew = 30).await;
    let t = w.issue_default().await;
    w.clock.advance(3600 + 29);
    assert!(w.introspect(ids::RS, &t).await.is_active());
    w.clock.advance(1);
    assert_eq!(w.introspect(ids::RS, &t).await, inactive(InactiveReason::Expired));
    let future = store_record(&w, TokenKind::Access, GrantId::generate().expect("random"), |r| {
        r.not_before = w.clock_now().plus(40);
        r.expires_at = w.clock_now().plus(4000);
    })
    .await;
    assert_eq!(w.introspect(ids::RS, &future).await, inactive(InactiveReason::NotYetValid));
    w.clock.advance(10);
    assert!(w.introspect(ids::RS, &future).await.is_active());
}

/// A token before its `nbf` is inactive.
pub async fn introspection_not_yet_valid_inactive<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = store_record(&w, TokenKind::Access, GrantId::generate().expect("random"), |r| {
        r.not_before = w.t0.plus(60);
    })
    .await;
    assert_eq!(w.introspect(ids::RS, &t).await, inactive(InactiveReason::NotYetValid));
    w.clock.advance(60);
    assert!(w.introspect(ids::RS, &t).await.is_active());
}

/// A revoked token is inactive.
pub async fn introspection_revoked_inactive<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    assert_eq!(w.revoke_http(ids::APP, &t).await.status, 200);
    assert_eq!(w.introspect(ids::RS, &t).await, inactive(InactiveReason::Revoked));
    assert_inactive_body(&w.introspect_http(ids::RS, &t, "").await);
}

/// Tokens of a client disabled after issuance are inactive at once.
pub async fn introspection_client_disabled_inactive<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    let mut app = w.client(ids::APP).await;
    app.enabled = false;
    w.store().put_client(app).await.expect("update");
    assert_eq!(w.introspect(ids::RS, &t).await, inactive(InactiveReason::ClientDisabled));
}

/// Tokens of a client deleted after issuance are inactive at once.
pub async fn introspection_client_deleted_inactive<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    let app = w.client(ids::APP).await;
    assert!(w.store().remove_client(&app.id).await.expect("remove"));
    assert_eq!(w.introspect(ids::RS, &t).await, inactive(InactiveReason::ClientUnknown));
}

/// A resource server sees only tokens whose audience names its resources.
pub async fn introspection_wrong_audience_inactive<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue(&format!("grant_type=client_credentials&resource={}", crate::world::encode(API))).await;
    assert_eq!(w.introspect(ids::RS_OTHER, &t).await, inactive(InactiveReason::WrongAudience));
    assert_inactive_body(&w.introspect_http(ids::RS_OTHER, &t, "").await);
}

/// A wrong or unknown `token_type_hint` does not hide an active token.
pub async fn introspection_hint_is_only_a_hint<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    for hint in
        ["", "&token_type_hint=refresh_token", "&token_type_hint=access_token", "&token_type_hint=bogus"]
    {
        let r = w.introspect_http(ids::RS, &t, hint).await;
        assert_eq!(json(&r)["active"], true, "hint {hint:?}");
    }
}

/// Resource servers never see refresh tokens or codes active.
pub async fn introspection_refresh_token_not_active_for_resource_servers<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    for kind in [TokenKind::Refresh, TokenKind::AuthorizationCode] {
        let t = store_record(&w, kind, GrantId::generate().expect("random"), |_| {}).await;
        assert_eq!(w.introspect(ids::RS, &t).await, inactive(InactiveReason::NotAnAccessToken));
    }
}

/// A public client may not introspect (401), whatever it sends.
pub async fn introspection_refuses_public_clients<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    let body = format!("client_id=mobile&token={t}");
    let r = w.server.introspection_endpoint(raw_request("POST", Header::Absent, FORM, body.as_bytes())).await;
    assert_error(&r, 401, "invalid_client");
}

/// A confidential client that is not a resource server may not introspect
/// (403), whatever it sends, its own tokens included.
pub async fn introspection_refuses_non_resource_servers<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    assert_error(&w.introspect_http(ids::APP, &t, "").await, 403, "access_denied");
    assert_error(&w.introspect_http(ids::PLAIN, "garbage", "").await, 403, "access_denied");
    let app = w.client(ids::APP).await;
    assert!(matches!(w.server.introspect(&app, &t).await, Err(Error::IntrospectionForbidden)));
}

/// Missing `token` is `invalid_request`.
pub async fn introspection_missing_token_is_invalid_request<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let auth = w.basic(ids::RS);
    let r = w
        .server
        .introspection_endpoint(raw_request("POST", Header::One(auth.as_bytes()), FORM, b"token_type_hint=x"))
        .await;
    assert_error(&r, 400, "invalid_request");
}

/// A store failure during introspection is a 500, never an answer.
pub async fn introspection_fails_closed<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    let rs = w.client(ids::RS).await;
    w.store().set_failing(true);
    assert!(matches!(w.server.introspect(&rs, &t).await, Err(Error::Store(_))));
    let r = w.introspect_http(ids::RS, &t, "").await;
    assert_error(&r, 500, "server_error");
    assert!(json(&r).get("active").is_none());
}

/// A store failure during issuance is a 500 and hands out no token.
pub async fn issuance_fails_closed<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let app = w.client(ids::APP).await;
    w.store().set_failing(true);
    assert!(matches!(w.server.client_credentials(&app, None, &[]).await, Err(Error::Store(_))));
    let r = w.token(ids::APP, "grant_type=client_credentials").await;
    assert_error(&r, 500, "server_error");
    assert!(json(&r).get("access_token").is_none());
}

// ---- token fishing ---------------------------------------------------------

/// After `burst` inactive answers a caller gets 429 with `Retry-After`, even
/// for a valid token; other callers are unaffected; it recovers with time.
pub async fn fishing_is_throttled_per_caller<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await; // burst 5, 60 a minute
    let t = w.issue(&format!("grant_type=client_credentials{}", both_apis())).await;
    for _ in 0..5 {
        assert_inactive_body(&w.introspect_http(ids::RS, "gat_k1.guess", "").await);
    }
    let r = w.introspect_http(ids::RS, "gat_k1.guess", "").await;
    assert_error(&r, 429, "slow_down");
    assert_eq!(r.header("retry-after"), Some("1"));
    let r = w.introspect_http(ids::RS, &t, "").await;
    assert_eq!(r.status, 429, "a throttled caller is refused for valid tokens too");
    assert_eq!(json(&w.introspect_http(ids::RS_OTHER, &t, "").await)["active"], true);
    w.clock.advance(1);
    assert_eq!(json(&w.introspect_http(ids::RS, &t, "").await)["active"], true);
}

/// A throttled caller's introspection is refused before any token lookup:
/// the limiter answers at once, so the store is never read for it.
pub async fn throttled_caller_causes_no_token_read<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await; // burst 5
    let t = w.issue_default().await;
    for _ in 0..5 {
        assert_inactive_body(&w.introspect_http(ids::RS, "gat_k1.guess", "").await);
    }
    let before = w.store().token_reads();
    for token in [t.as_str(), "gat_k1.guess"] {
        assert_eq!(w.introspect_http(ids::RS, token, "").await.status, 429);
    }
    assert_eq!(w.store().token_reads(), before, "a throttled caller's lookup was started");
}

/// The limiter reserves before the lookup, atomically: of 200 concurrent
/// introspections of unknown tokens by one caller with a burst of 20 (and no
/// refill, the clock stands still), exactly 20 get an answer and the others
/// 429, whatever their interleaving; another caller is unaffected.
pub async fn concurrent_guesses_get_at_most_burst_answers<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = Arc::new(
        World::with_config(store, |c| c.limiter = gatehouse_core::LimiterConfig { burst: 20, per_minute: 1 })
            .await,
    );
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let w = Arc::clone(&w);
            let (guess, _) =
                w.keys.mint(TokenKind::Access, GrantId::generate().expect("random")).expect("mint");
            tokio::spawn(async move { w.introspect_http(ids::RS, guess.expose(), "").await })
        })
        .collect();
    let (mut answered, mut throttled) = (0, 0);
    for t in tasks {
        let r = t.await.expect("introspection task");
        match r.status {
            200 => {
                assert_inactive_body(&r);
                answered += 1;
            }
            429 => throttled += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((answered, throttled), (20, 180), "reservations must be atomic");
    assert_inactive_body(&w.introspect_http(ids::RS_OTHER, "gat_k1.guess", "").await);
}

/// Active answers cost nothing.
pub async fn active_answers_are_not_throttled<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    for _ in 0..50 {
        assert!(w.introspect(ids::RS, &t).await.is_active());
    }
}

// ---- revocation ------------------------------------------------------------

/// A client revokes its own access token (200 `{}`), which goes inactive.
pub async fn revocation_of_own_access_token<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    let other = w.issue_default().await;
    let r = w.revoke_http(ids::APP, &t).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(w.introspect(ids::RS, &t).await, inactive(InactiveReason::Revoked));
    assert!(w.introspect(ids::RS, &other).await.is_active(), "only that token");
}

/// Another client's token: 200 and no effect.
pub async fn revocation_of_other_clients_token_has_no_effect<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    assert_eq!(w.revoke_http(ids::PLAIN, &t).await.status, 200);
    assert!(w.introspect(ids::RS, &t).await.is_active());
}

/// Unknown, forged and malformed tokens: 200 and no effect.
pub async fn revocation_of_unknown_token_is_ok<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let (unknown, _) = w.keys.mint(TokenKind::Access, GrantId::generate().expect("random")).expect("mint");
    for t in [unknown.expose(), "garbage"] {
        let r = w.revoke_http(ids::APP, t).await;
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
    }
}

/// Revoking a refresh token revokes its whole grant, access tokens included.
pub async fn revocation_of_refresh_token_revokes_grant<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let grant = GrantId::generate().expect("random");
    let access = store_record(&w, TokenKind::Access, grant, |_| {}).await;
    let refresh = store_record(&w, TokenKind::Refresh, grant, |_| {}).await;
    let unrelated = w.issue_default().await;
    assert!(w.introspect(ids::RS, &access).await.is_active());
    assert_eq!(w.revoke_http(ids::APP, &refresh).await.status, 200);
    assert_eq!(w.introspect(ids::RS, &access).await, inactive(InactiveReason::Revoked));
    assert!(w.introspect(ids::RS, &unrelated).await.is_active());
}

/// Revocation needs client authentication and a `token`.
pub async fn revocation_requires_auth_and_token<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    let body = format!("token={t}");
    let r = w.server.revocation_endpoint(raw_request("POST", Header::Absent, FORM, body.as_bytes())).await;
    assert_error(&r, 401, "invalid_client");
    let auth = w.basic(ids::APP);
    let r =
        w.server.revocation_endpoint(raw_request("POST", Header::One(auth.as_bytes()), FORM, b"x=y")).await;
    assert_error(&r, 400, "invalid_request");
    assert!(w.introspect(ids::RS, &t).await.is_active());
}

/// A store that cannot be reached is a 503 `temporarily_unavailable` with
/// `Retry-After` at every endpoint, and still never an answer: no token, no
/// `active`, no silent 200. The typed API reports
/// [`StoreError::Unavailable`](gatehouse_core::StoreError::Unavailable).
pub async fn unreachable_store_is_503_with_retry_after<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let t = w.issue_default().await;
    let rs = w.client(ids::RS).await;
    let app = w.client(ids::APP).await;
    w.store().set_unreachable(true);
    let retry = Error::UNAVAILABLE_RETRY_AFTER.to_string();
    let unreachable = |e: &Error| matches!(e, Error::Store(s) if s.is_unavailable());
    let e = w.server.introspect(&rs, &t).await.expect_err("no answer");
    assert!(unreachable(&e), "{e:?}");
    let e = w.server.client_credentials(&app, None, &[]).await.expect_err("no token");
    assert!(unreachable(&e), "{e:?}");
    let e = w.server.revoke(&app, &t).await.expect_err("no silent success");
    assert!(unreachable(&e), "{e:?}");
    let responses = [
        w.introspect_http(ids::RS, &t, "").await,
        w.token(ids::APP, "grant_type=client_credentials").await,
        w.revoke_http(ids::APP, &t).await,
    ];
    for r in &responses {
        assert_error(r, 503, "temporarily_unavailable");
        assert_eq!(r.header("retry-after"), Some(retry.as_str()));
        assert!(json(r).get("active").is_none() && json(r).get("access_token").is_none());
    }
    // Back: the token was neither revoked nor lost.
    w.store().set_unreachable(false);
    assert!(w.introspect(ids::RS, &t).await.is_active());
}

/// A store failure during revocation is a 500, not a silent 200.
pub async fn revocation_fails_closed<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    w.store().set_failing(true);
    assert_error(&w.revoke_http(ids::APP, &t).await, 500, "server_error");
}

// ---- nothing raw at rest ---------------------------------------------------

/// What the store holds (records, as JSON and in the binary form, and
/// clients, as serialized) contains no raw token and no raw secret.
pub async fn store_holds_no_raw_token_or_secret<H: Harness>(h: &H) {
    let store = h.fresh().await;
    let w = World::new(store).await;
    let t = w.issue_default().await;
    let v = w.keys.verify(&t).expect("valid");
    let record = w.store().get(&v.digest).await.expect("store").expect("stored");
    let record_json = serde_json::to_string(&record).expect("json");
    let random_part = &t[7..];
    assert!(!record_json.contains(random_part) && !record_json.contains(&t));
    // The binary form the SQLite and Redis stores write.
    let binary = gatehouse_core::model::encode_record(&record);
    let holds = |needle: &[u8]| binary.windows(needle.len()).any(|w| w == needle);
    assert!(!holds(random_part.as_bytes()) && !holds(t.as_bytes()));
    for id in [ids::APP, ids::RS, ids::PLAIN] {
        let c = serde_json::to_string(&w.client(id).await).expect("json");
        assert!(!c.contains(w.secret(id)), "client {id} stored with its raw secret");
    }
}

impl<S: TokenStore + ClientRegistry> World<S> {
    fn clock_now(&self) -> gatehouse_core::UnixTime {
        gatehouse_core::Clock::now(&self.clock)
    }
}
