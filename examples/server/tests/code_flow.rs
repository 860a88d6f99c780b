//! The authorization code flow through the example server: the demo login
//! and consent page, the token endpoint's code and refresh grants, the
//! protected `/api/me`, and the README's curl walk-through of all of it.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;

use common::{
    approve, encode, introspect, issue, login_page, open_login, post, query_param, sample, send, start,
    start_on, submit_login, Resp, ALICE, CLIENT, PUBLIC_CALLBACK, RS, WEB, WEB_CALLBACK,
};
use oauth2::PkceCodeChallenge;
use serde_json::Value;

const README: &str = include_str!("../../../README.md");
const ISSUER: &str = "http://127.0.0.1:8080";

/// A PKCE pair: (verifier, challenge).
fn pkce() -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    (verifier.secret().clone(), challenge.as_str().to_owned())
}

/// `/oauth/authorize?…` for demo-web with `challenge`, plus `extra`.
fn authorize_path(client: &str, redirect: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    format!("/oauth/authorize?{}", encode(&pairs))
}

async fn me(addr: SocketAddr, token: &str) -> Resp {
    send(addr, "GET", "/api/me", &[("Authorization", format!("Bearer {token}"))], b"").await
}

fn assert_page_headers(r: &Resp) {
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
}

// ---------------------------------------------------------------------
// The login and consent page
// ---------------------------------------------------------------------

#[tokio::test]
async fn authorize_page_shows_the_client_and_scope_behind_safe_headers() {
    let app = start().await;
    let (_, challenge) = pkce();
    let path = authorize_path(WEB.0, WEB_CALLBACK, &challenge, &[("scope", "read write"), ("state", "s1")]);
    let page = open_login(app.addr, &path).await;
    assert_page_headers(&page.resp);
    let csp = page.resp.header("content-security-policy").unwrap();
    assert!(csp.contains("form-action 'self' http://127.0.0.1:8080;"), "{csp}");
    let html = page.resp.text();
    for want in ["Demo login", "demo-web", "<code>read</code>", "<code>write</code>", WEB_CALLBACK] {
        assert!(html.contains(want), "{want} missing from {html}");
    }
    assert!(!html.contains(&challenge), "the page has no need for the PKCE challenge");
    let cookie = page.resp.header("set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    // 256 bits, from `RandomSecret`.
    assert_eq!(page.csrf.len(), 43);
    // Each rendering gets a fresh token.
    assert_ne!(open_login(app.addr, &path).await.csrf, page.csrf);

    // A public client's page lets the form's redirect go to its loopback
    // redirect URI.
    let path = authorize_path("demo-public", PUBLIC_CALLBACK, &challenge, &[]);
    let page = open_login(app.addr, &path).await;
    let csp = page.resp.header("content-security-policy").unwrap();
    assert!(csp.contains("form-action 'self' http://127.0.0.1:9876;"), "{csp}");
    app.shutdown().await;
}

#[tokio::test]
async fn untrusted_client_or_redirect_uri_gets_an_error_page_never_a_redirect() {
    let app = start().await;
    let (_, challenge) = pkce();
    let evil = "https://evil.example/cb";
    let cases = [
        authorize_path("nobody", WEB_CALLBACK, &challenge, &[]),
        authorize_path(WEB.0, evil, &challenge, &[]),
        authorize_path(WEB.0, "http://127.0.0.1:8080/demo/callback/", &challenge, &[]),
        // demo-client is registered, but has no redirect URI at all.
        authorize_path(CLIENT.0, WEB_CALLBACK, &challenge, &[]),
        format!("/oauth/authorize?{}", encode(&[("response_type", "code"), ("client_id", WEB.0)])),
        "/oauth/authorize?client_id=a&client_id=b".to_owned(),
        "/oauth/authorize".to_owned(),
    ];
    for path in &cases {
        for method in ["GET", "POST"] {
            let r = send(app.addr, method, path, &[common::form()], b"").await;
            assert_eq!(r.status, 400, "{method} {path}: {}", r.text());
            assert!(r.header("location").is_none(), "{method} {path}");
            assert_page_headers(&r);
            assert!(r.text().contains("Invalid authorization request"), "{}", r.text());
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn other_bad_requests_go_back_to_the_client_with_an_error() {
    let app = start().await;
    let (_, challenge) = pkce();
    let no_pkce = format!(
        "/oauth/authorize?{}",
        encode(&[
            ("response_type", "code"),
            ("client_id", WEB.0),
            ("redirect_uri", WEB_CALLBACK),
            ("state", "s")
        ])
    );
    let cases = [
        (no_pkce, "invalid_request"),
        (
            authorize_path(WEB.0, WEB_CALLBACK, &challenge, &[("scope", "admin"), ("state", "s")]),
            "invalid_scope",
        ),
        (
            authorize_path(WEB.0, WEB_CALLBACK, &challenge, &[("response_type", "token"), ("state", "s")])
                .replacen("response_type=code&", "", 1),
            "unsupported_response_type",
        ),
    ];
    for (path, error) in cases {
        let r = send(app.addr, "GET", &path, &[], b"").await;
        assert_eq!(r.status, 302, "{path}: {}", r.text());
        let location = r.header("location").unwrap();
        assert!(location.starts_with(WEB_CALLBACK), "{location}");
        assert_eq!(query_param(location, "error").as_deref(), Some(error), "{path}");
        assert_eq!(query_param(location, "state").as_deref(), Some("s"));
        assert_eq!(query_param(location, "iss").as_deref(), Some(ISSUER));
        assert!(query_param(location, "code").is_none());
    }
    app.shutdown().await;
}

#[tokio::test]
async fn wrong_password_shows_the_form_again_and_issues_nothing() {
    let app = start().await;
    let (_, challenge) = pkce();
    let path = authorize_path(WEB.0, WEB_CALLBACK, &challenge, &[("state", "s")]);
    let page = open_login(app.addr, &path).await;
    for (user, password) in [(ALICE.0, "alice-demo-password-not-for-productioN"), ("bob", ALICE.1), ("", "")]
    {
        let fields = [("username", user), ("password", password), ("decision", "approve")];
        let r = submit_login(app.addr, &path, &page, &fields).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.header("location").is_none());
        assert_page_headers(&r);
        let html = r.text();
        assert!(html.contains("Wrong username or password."), "{html}");
        assert!(!html.contains(password) || password.is_empty(), "the password is never echoed");
        // The form comes back with a fresh token, ready for another try.
        let again = login_page(r);
        assert_ne!(again.csrf, page.csrf);
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_post_without_the_matching_csrf_cookie_is_refused() {
    let app = start().await;
    let (_, challenge) = pkce();
    let path = authorize_path(WEB.0, WEB_CALLBACK, &challenge, &[]);
    let page = open_login(app.addr, &path).await;
    let fields = encode(&[
        ("username", ALICE.0),
        ("password", ALICE.1),
        ("decision", "approve"),
        ("csrf", &page.csrf),
    ]);
    // As a cross-site form post arrives: the field, but no cookie.
    let other = open_login(app.addr, &path).await;
    for cookie in [None, Some(other.cookie.clone()), Some("gh_csrf=".to_owned())] {
        let mut headers = vec![common::form()];
        headers.extend(cookie.map(|c| ("Cookie", c)));
        let r = send(app.addr, "POST", &path, &headers, fields.as_bytes()).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.header("location").is_none());
        assert!(r.text().contains("This form has expired"), "{}", r.text());
    }
    app.shutdown().await;
}

/// Under an https issuer the CSRF cookie is `__Host-` prefixed and
/// `Secure` (so no http page or sibling host can plant it), and the flow
/// works with it; a plain `gh_csrf` cookie no longer counts.
#[tokio::test]
async fn https_issuer_gets_a_host_prefixed_secure_csrf_cookie() {
    let mut settings = sample();
    settings.server.issuer = "https://auth.example.com".to_owned();
    let app = common::start_with(settings).await;
    let (_, challenge) = pkce();
    let path = authorize_path(WEB.0, WEB_CALLBACK, &challenge, &[]);
    let page = open_login(app.addr, &path).await;
    let set_cookie = page.resp.header("set-cookie").unwrap();
    assert!(set_cookie.starts_with("__Host-gh_csrf=") && set_cookie.contains("; Path=/;"), "{set_cookie}");
    assert!(set_cookie.contains("; Secure") && !set_cookie.contains("Domain"), "{set_cookie}");
    let fields = [("username", ALICE.0), ("password", ALICE.1), ("decision", "approve")];
    // The same token in a cookie without the prefix, as an http page of
    // this host or a sibling subdomain could set it.
    let planted = common::LoginPage {
        resp: open_login(app.addr, &path).await.resp,
        csrf: page.csrf.clone(),
        cookie: page.cookie.replace("__Host-gh_csrf=", "gh_csrf="),
    };
    assert_eq!(submit_login(app.addr, &path, &planted, &fields).await.status, 403);
    let r = submit_login(app.addr, &path, &page, &fields).await;
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("location").unwrap();
    assert_eq!(query_param(location, "iss").as_deref(), Some("https://auth.example.com"));
    let cleared = r.header("set-cookie").unwrap();
    assert!(cleared.starts_with("__Host-gh_csrf=;") && cleared.contains("Max-Age=0"), "{cleared}");
    app.shutdown().await;
}

#[tokio::test]
async fn deny_sends_access_denied_to_the_client() {
    let app = start().await;
    let (_, challenge) = pkce();
    let path = authorize_path(WEB.0, WEB_CALLBACK, &challenge, &[("state", "<s&t>")]);
    let page = open_login(app.addr, &path).await;
    let r = submit_login(app.addr, &path, &page, &[("decision", "deny")]).await;
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("location").unwrap();
    assert_eq!(query_param(location, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(location, "state").as_deref(), Some("<s&t>"));
    assert!(query_param(location, "code").is_none());
    // The used form's cookie is cleared.
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    let r = submit_login(app.addr, &path, &page, &[("decision", "maybe")]).await;
    assert_eq!(r.status, 400);
    app.shutdown().await;
}

#[tokio::test]
async fn demo_callback_shows_what_the_client_got_escaped() {
    let app = start().await;
    let r =
        send(app.addr, "GET", "/demo/callback?code=gac_k1.abc&state=%3Cscript%3Ex%3C%2Fscript%3E", &[], b"")
            .await;
    assert_eq!(r.status, 200);
    assert_page_headers(&r);
    let html = r.text();
    assert!(html.contains("gac_k1.abc") && html.contains("&lt;script&gt;x&lt;/script&gt;"), "{html}");
    assert!(!html.contains("<script>"));
    app.shutdown().await;
}

// ---------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------

#[tokio::test]
async fn api_me_answers_only_a_valid_token_with_scope_read() {
    let app = start().await;
    // A client_credentials token: no user, so no `sub`.
    let token = issue(app.addr).await;
    let r = me(app.addr, &token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.text(), r#"{"client_id":"demo-client","scope":"read"}"#);

    let r = send(app.addr, "GET", "/api/me", &[], b"").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some(r#"Bearer realm="example""#));
    assert_eq!(r.json()["error"], "unauthorized");

    let r = me(app.addr, "gat_k1.not-a-real-token").await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains(r#"error="invalid_token""#));
    assert_eq!(r.json()["error"], "invalid_token");

    let r = send(app.addr, "GET", "/api/me", &[("Authorization", "Basic abc".to_owned())], b"").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_request");

    let r = post(app.addr, "/oauth/token", Some(CLIENT), "grant_type=client_credentials&scope=write").await;
    let write_only = r.json()["access_token"].as_str().unwrap().to_owned();
    let r = me(app.addr, &write_only).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="example", error="insufficient_scope", scope="read""#)
    );
    assert_eq!(r.json()["error"], "insufficient_scope");

    // Revoked: invalid from then on.
    post(app.addr, "/oauth/revoke", Some(CLIENT), &format!("token={token}")).await;
    assert_eq!(me(app.addr, &token).await.status, 401);
    app.shutdown().await;
}

// ---------------------------------------------------------------------
// The whole flow, as the README walks through it
// ---------------------------------------------------------------------

/// The README's curl walk-through, request for request, with the
/// hand-written client: it runs even where `curl` or `openssl` is missing.
#[tokio::test]
async fn code_flow_like_the_readme() {
    let app = start().await;
    let (verifier, challenge) = pkce();
    let path =
        authorize_path(WEB.0, WEB_CALLBACK, &challenge, &[("scope", "read write"), ("state", "af0ifjsldkj")]);
    let location = approve(app.addr, &path).await;
    assert!(location.starts_with(&format!("{WEB_CALLBACK}?code=gac_k1.")), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("af0ifjsldkj"));
    assert_eq!(query_param(&location, "iss").as_deref(), Some(ISSUER));
    let code = query_param(&location, "code").unwrap();

    let exchange = |code: String, verifier: String| {
        let body = encode(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WEB_CALLBACK),
            ("code_verifier", &verifier),
        ]);
        async move { post(app.addr, "/oauth/token", Some(WEB), &body).await }
    };
    // A wrong verifier fails, without using up the code.
    let r = exchange(code.clone(), pkce().0).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (400, Some("invalid_grant")));
    let r = exchange(code.clone(), verifier.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let tokens = r.json();
    assert_eq!(tokens["scope"], "read write");
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh.starts_with("grt_k1."));

    let r = me(app.addr, &access).await;
    assert_eq!(r.text(), r#"{"client_id":"demo-web","scope":"read write","sub":"alice"}"#);

    let refresh_with = |token: String| async move {
        let body = encode(&[("grant_type", "refresh_token"), ("refresh_token", &token)]);
        post(app.addr, "/oauth/token", Some(WEB), &body).await
    };
    let r = refresh_with(refresh.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let access2 = r.json()["access_token"].as_str().unwrap().to_owned();
    let refresh2 = r.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh);

    let j = introspect(app.addr, Some(RS), &access2).await.json();
    assert_eq!((j["active"].as_bool(), j["sub"].as_str()), (Some(true), Some("alice")));
    assert_eq!(j["client_id"], "demo-web");
    let r = post(app.addr, "/oauth/revoke", Some(WEB), &format!("token={access2}")).await;
    assert_eq!((r.status, r.text().as_str()), (200, "{}"));
    assert_eq!(introspect(app.addr, Some(RS), &access2).await.text(), r#"{"active":false}"#);

    // Replaying the used refresh token revokes the whole grant.
    let r = refresh_with(refresh).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (400, Some("invalid_grant")));
    let r = refresh_with(refresh2).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (400, Some("invalid_grant")));
    // The code, too, is single-use.
    let r = exchange(code, verifier).await;
    assert_eq!(r.json()["error"], "invalid_grant");
    app.shutdown().await;
}

/// The public client: no secret, the code bound to it by PKCE alone.
#[tokio::test]
async fn public_client_runs_the_flow_with_pkce_only() {
    let app = start().await;
    let (verifier, challenge) = pkce();
    let path = authorize_path("demo-public", PUBLIC_CALLBACK, &challenge, &[("state", "p")]);
    let location = approve(app.addr, &path).await;
    assert!(location.starts_with(PUBLIC_CALLBACK), "{location}");
    let code = query_param(&location, "code").unwrap();
    let body = |verifier: &str| {
        encode(&[
            ("grant_type", "authorization_code"),
            ("client_id", "demo-public"),
            ("code", &code),
            ("redirect_uri", PUBLIC_CALLBACK),
            ("code_verifier", verifier),
        ])
    };
    // Another client cannot use the code, even with the verifier.
    let r = post(app.addr, "/oauth/token", Some(WEB), &body(&verifier).replace("client_id=demo-public&", ""))
        .await;
    assert_eq!(r.json()["error"], "invalid_grant");
    let r = post(app.addr, "/oauth/token", None, &body(&verifier)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["scope"], "read");
    let access = j["access_token"].as_str().unwrap();
    assert_eq!(me(app.addr, access).await.json()["sub"], "alice");
    let refresh = j["refresh_token"].as_str().unwrap();
    let r = post(
        app.addr,
        "/oauth/token",
        None,
        &encode(&[("grant_type", "refresh_token"), ("client_id", "demo-public"), ("refresh_token", refresh)]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    app.shutdown().await;
}

// ---------------------------------------------------------------------
// The README's walk-through, run by a shell
// ---------------------------------------------------------------------

const SECTION: &str = "### Authorization code flow with curl";

/// The `bash` blocks of the README's code-flow section, in order.
fn readme_flow_blocks() -> Vec<String> {
    let start = README.find(SECTION).expect("the README has the code-flow section");
    let section = &README[start + SECTION.len()..];
    let end = section.find("\n## ").into_iter().chain(section.find("\n### ")).min().unwrap_or(section.len());
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section[..end].lines() {
        match (&mut current, line) {
            (None, "```bash") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "unterminated block");
    blocks
}

fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Whether `actual` matches `expected`, where each `…` in `expected`
/// stands for any text.
fn glob_matches(expected: &str, actual: &str) -> bool {
    let mut parts = expected.split('…');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = actual.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Fields whose documented value must match exactly.
const STABLE: &[&str] =
    &["active", "scope", "client_id", "sub", "token_type", "aud", "iss", "error", "error_description"];

fn json_matches(expected: &str, actual: &str) -> Result<(), String> {
    let want: Value = serde_json::from_str(expected).map_err(|e| format!("README JSON {expected}: {e}"))?;
    let got: Value = serde_json::from_str(actual).map_err(|e| format!("output {actual}: {e}"))?;
    let (Value::Object(want), Value::Object(got)) = (want, got) else { return Err("not objects".into()) };
    let mut wk: Vec<&String> = want.keys().collect();
    let mut gk: Vec<&String> = got.keys().collect();
    wk.sort();
    gk.sort();
    if wk != gk {
        return Err(format!("fields {gk:?}, the README shows {wk:?}"));
    }
    for k in STABLE {
        if want.get(*k) != got.get(*k) {
            return Err(format!("field {k}: {:?}, the README shows {:?}", got.get(*k), want.get(*k)));
        }
    }
    Ok(())
}

/// Runs the README's code-flow blocks with `sh`, `curl` and `openssl`
/// against the example app, and checks every line they print against
/// the answer the README shows under it. The app listens on a free port
/// and knows itself by that address, so the script's addresses (plain
/// and URL-encoded) are rewritten to it; nothing else is.
#[tokio::test(flavor = "multi_thread")]
async fn readme_code_flow_runs_with_curl() {
    let blocks = readme_flow_blocks();
    assert!(blocks.len() >= 6, "found {} bash blocks", blocks.len());
    if !(have("curl") && have("openssl")) {
        // CI installs both (.ci/run), so there a missing tool is a failure.
        assert!(std::env::var_os("CI").is_none(), "curl and openssl must be installed in CI");
        // code_flow_like_the_readme covers the same requests.
        eprintln!("skipped: curl or openssl is not installed");
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let documented = sample().listen.to_string();
    let rewrite = |s: &str| {
        s.replace(&documented, &addr).replace(&documented.replace(':', "%3A"), &addr.replace(':', "%3A"))
    };
    let mut settings = sample();
    settings.server.issuer = rewrite(&settings.server.issuer);
    for client in &mut settings.clients {
        client.redirect_uris = client.redirect_uris.iter().map(|u| rewrite(u)).collect::<Vec<_>>().into();
    }
    let app = start_on(listener, settings).await;

    let script = rewrite(&blocks.concat());
    let expected: Vec<String> =
        script.lines().filter_map(|l| l.strip_prefix("# ")).map(str::to_owned).collect();
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh").args(["-euc", &script]).output().unwrap()
    });
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the script failed: {stderr}\n{stdout}");
    let printed: Vec<&str> = stdout.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(printed.len(), expected.len(), "printed {printed:#?}, the README shows {expected:#?}");
    for (want, got) in expected.iter().zip(&printed) {
        if want.starts_with('{') {
            json_matches(want, got).unwrap_or_else(|e| panic!("{e}\n  README: {want}\n  output: {got}"));
        } else {
            assert!(glob_matches(want, got), "\n  README: {want}\n  output: {got}");
        }
    }
    app.shutdown().await;
}

#[test]
fn glob_matching() {
    assert!(glob_matches("a…c", "abbbc"));
    assert!(glob_matches("a…c…e", "abcde"));
    assert!(glob_matches("abc", "abc"));
    assert!(!glob_matches("abc", "abcd"));
    assert!(!glob_matches("a…c", "abcd"));
    assert!(!glob_matches("x…", "abc"));
}
