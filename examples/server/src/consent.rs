//! The demo login and consent page behind the authorization endpoint, a
//! stand-in for the app's own login (see [`crate::login`]): the example's
//! [`Consent`] for gatehouse-axum, which checks every request first. A
//! request whose client or redirect URI is wrong gets [`DemoPages`]' error
//! page and is never redirected (RFC 6749 §4.1.2.1: no open redirector);
//! any other bad request is sent back to the client as an error redirect.
//! Only a good one reaches [`DemoPages`]:
//!
//! - `GET /oauth/authorize?…` gets the login and consent form.
//! - `POST /oauth/authorize?…` (the form posts back to the same URL, so the
//!   request travels in the query) checks the CSRF token, then: *deny*
//!   redirects with `access_denied`; *approve* with the right username and
//!   password redirects with a code; a wrong password shows the form again,
//!   with no redirect.
//! - `GET /demo/callback` shows what the demo-web client's redirect URI
//!   receives; it stands in for the client app.
//!
//! CSRF: each rendering of the form makes a random token, put both in the
//! form and in an `HttpOnly`, `SameSite=Strict` cookie; the POST must carry
//! both, equal. A cross-site page can make a browser post the form, but
//! cannot read or set the cookie. When the issuer is https the cookie is
//! also `Secure` and named with the `__Host-` prefix, so that neither a
//! plain-http page nor a sibling subdomain can plant one (see
//! [`CsrfCookie`]). Clickjacking (RFC 6749 §10.13): the pages
//! refuse to be framed (`X-Frame-Options`, CSP `frame-ancestors`).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Form, FromRequest as _};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, PRAGMA, REFERRER_POLICY, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gatehouse_axum::{Consent, Decision, Prompt};
use gatehouse_core::{constant_time_eq, RandomSecret, ValidatedAuthorization};
use serde::Deserialize;

use crate::login::DemoUsers;

/// How long a rendered form stays usable.
const CSRF_MAX_AGE: u32 = 600;

/// The CSRF cookie, as the issuer's scheme allows.
///
/// Over https it is `__Host-gh_csrf`, `Secure`, `Path=/`: browsers accept
/// a cookie with that prefix only from a secure page of this very host
/// (no `Domain`), so neither an http page nor a sibling subdomain can set
/// or overwrite it (RFC 6265bis §4.1.3.2, which also requires `Path=/`).
/// Over http (the local demo) a browser would drop a `Secure` cookie, so it
/// is a plain `gh_csrf` scoped to the one path that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CsrfCookie {
    secure: bool,
}

impl CsrfCookie {
    fn for_issuer(issuer: &str) -> Self {
        Self { secure: issuer.starts_with("https://") }
    }

    fn name(self) -> &'static str {
        if self.secure {
            "__Host-gh_csrf"
        } else {
            "gh_csrf"
        }
    }

    /// The `Set-Cookie` value; `max_age` 0 clears it.
    fn header(self, value: &str, max_age: u32) -> HeaderValue {
        let attributes = if self.secure { "Path=/; Secure" } else { "Path=/oauth/authorize" };
        let cookie =
            format!("{}={value}; {attributes}; Max-Age={max_age}; HttpOnly; SameSite=Strict", self.name());
        // The value is base64url or empty.
        HeaderValue::try_from(cookie).unwrap_or(HeaderValue::from_static("gh_csrf=; Max-Age=0"))
    }
}

/// The demo login and consent page: the example's [`Consent`].
pub(crate) struct DemoPages {
    users: Arc<DemoUsers>,
    csrf: CsrfCookie,
}

impl DemoPages {
    /// The pages for a server with this issuer, checking logins against
    /// `users`.
    pub(crate) fn new(issuer: &str, users: Arc<DemoUsers>) -> Self {
        Self { users, csrf: CsrfCookie::for_issuer(issuer) }
    }
}

/// The demo callback.
pub(crate) fn callback_routes() -> Router {
    Router::new().route("/demo/callback", get(callback))
}

/// The login form's fields. Duplicated fields are refused by the parser.
#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    csrf: String,
}

impl Consent for DemoPages {
    /// `GET`: the form. `POST`: the submitted form, checked for its CSRF
    /// token, then the user's decision.
    async fn decide(&self, prompt: Prompt) -> Decision {
        let Prompt { authorization: v, request, .. } = prompt;
        if request.method() != Method::POST {
            return Decision::respond(login_page(&v, None, StatusCode::OK, self.csrf));
        }
        let headers = request.headers().clone();
        let Ok(Form(form)) = Form::<LoginForm>::from_request(request, &()).await else {
            return Decision::respond(error_page(
                StatusCode::BAD_REQUEST,
                "The login form could not be read.",
            ));
        };
        if !csrf_matches(&headers, self.csrf, &form.csrf) {
            let msg = "This form has expired or was not sent from this page. Please try again.";
            return Decision::respond(login_page(&v, Some(msg), StatusCode::FORBIDDEN, self.csrf));
        }
        // The form's cookie is used up once the user has decided.
        let mut clear = HeaderMap::new();
        clear.insert(SET_COOKIE, self.csrf.header("", 0));
        match form.decision.as_str() {
            "deny" => Decision::deny().with_headers(clear),
            "approve" => match self.users.check(&form.username, &form.password) {
                Some(subject) => Decision::approve(subject).with_headers(clear),
                None => Decision::respond(login_page(
                    &v,
                    Some("Wrong username or password."),
                    StatusCode::FORBIDDEN,
                    self.csrf,
                )),
            },
            _ => Decision::respond(error_page(StatusCode::BAD_REQUEST, "Choose Approve or Deny.")),
        }
    }

    fn error_page(&self, status: StatusCode, message: &str) -> Response {
        error_page(status, message)
    }
}

/// Whether the form's CSRF token equals the cookie's (both present).
fn csrf_matches(headers: &HeaderMap, csrf: CsrfCookie, presented: &str) -> bool {
    let cookie = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == csrf.name())
        .map(|(_, value)| value);
    match cookie {
        Some(c) if !c.is_empty() && !presented.is_empty() => {
            constant_time_eq(c.as_bytes(), presented.as_bytes())
        }
        _ => false,
    }
}

/// The login and consent form for a checked request, with a fresh CSRF
/// token, and `error` above it when the last attempt failed.
fn login_page(
    v: &ValidatedAuthorization,
    error: Option<&str>,
    status: StatusCode,
    csrf: CsrfCookie,
) -> Response {
    let Ok(token) = RandomSecret::generate() else {
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, "The request could not be completed.");
    };
    let client = escape(v.client().id.as_str());
    let mut scopes = String::new();
    for s in v.scope().as_str().split(' ').filter(|s| !s.is_empty()) {
        let _ = write!(scopes, "<li><code>{}</code></li>", escape(s));
    }
    if scopes.is_empty() {
        scopes.push_str("<li>(no scope)</li>");
    }
    let apis: Vec<String> =
        v.audience().iter().map(|a| format!("<code>{}</code>", escape(a.as_str()))).collect();
    let error =
        error.map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e))).unwrap_or_default();
    let body = format!(
        r#"<p class="demo"><strong>Demo login.</strong> This page stands in for your app's own login and consent
pages. Its users and passwords come from the example's config file. Do not use it in production.</p>
<h1>Sign in to authorize <code>{client}</code></h1>
<p><code>{client}</code> asks for access to {apis} with these scopes:</p>
<ul>{scopes}</ul>
<p>Afterwards you will be sent to <code>{redirect}</code>.</p>
{error}
<form method="post">
<input type="hidden" name="csrf" value="{csrf}">
<p><label>Username <input name="username" autocomplete="username"></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>
<p><button name="decision" value="approve">Approve</button>
<button name="decision" value="deny">Deny</button></p>
</form>"#,
        apis = if apis.is_empty() { "the API".to_owned() } else { apis.join(", ") },
        redirect = escape(v.redirect_uri()),
        csrf = escape(token.as_str()),
    );
    // The form posts back to this URL (no `action`: the query is kept).
    // Browsers also apply `form-action` to the redirect that answers the
    // POST, so the client's redirect URI must be allowed too.
    let form_action = match csp_source(v.redirect_uri()) {
        Some(src) => format!("'self' {src}"),
        None => "'self'".to_owned(),
    };
    let mut r = page(status, "Sign in", &body, &form_action);
    r.headers_mut().insert(SET_COOKIE, csrf.header(token.as_str(), CSRF_MAX_AGE));
    r
}

/// An error page: shown to the user, never a redirect.
fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!("<h1>Cannot continue</h1>\n<p>{}</p>", escape(message));
    page(status, "Error", &body, "'none'")
}

/// The parameters the demo-web client's redirect URI receives.
#[derive(Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /demo/callback`: shows what the client received, as the client
/// app would see it. A real client checks `state` and `iss`, then
/// exchanges the code at the token endpoint with its PKCE verifier.
async fn callback(
    query: Result<axum::extract::Query<CallbackParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(axum::extract::Query(p)) = query else {
        return error_page(StatusCode::BAD_REQUEST, "The callback parameters could not be read.");
    };
    let row = |name: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|v| format!("<tr><th>{name}</th><td><code>{}</code></td></tr>", escape(v)))
            .unwrap_or_default()
    };
    let body = format!(
        r#"<p class="demo"><strong>Demo callback.</strong> This page stands in for the client app
(<code>demo-web</code>) at its redirect URI.</p>
<h1>{title}</h1>
<table>{}{}{}{}{}</table>
<p>The client checks <code>state</code> and <code>iss</code>, then exchanges the code at
<code>POST /oauth/token</code> with its PKCE <code>code_verifier</code>, within a minute.</p>"#,
        row("code", &p.code),
        row("state", &p.state),
        row("iss", &p.iss),
        row("error", &p.error),
        row("error_description", &p.error_description),
        title = if p.error.is_some() {
            "The authorization server sent an error"
        } else {
            "Authorization code received"
        },
    );
    page(StatusCode::OK, "Callback", &body, "'none'")
}

/// An HTML page with the headers every page here carries: not cached (it
/// may show a code), not framed, no scripts, no referrer.
fn page(status: StatusCode, title: &str, body: &str, form_action: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · gatehouse example</title>
<style>body{{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em}}
.demo{{background:#fff3cd;border:1px solid #e0c060;padding:.5em}}.error{{color:#a00;font-weight:bold}}</style>
</head><body>
{body}
</body></html>
"#,
        title = escape(title),
    );
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut r = Response::new(Body::from(html));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // `csp` is built from fixed text and `csp_source`, which only lets
    // header-safe characters through.
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::try_from(csp).unwrap_or(HeaderValue::from_static("default-src 'none'")),
    );
    r
}

/// The CSP source expression for a redirect URI's origin
/// (`scheme://host[:port]`, or `scheme:` for a private-use URI scheme), or
/// `None` when it has characters that have no place in one.
fn csp_source(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let Some(after) = rest.strip_prefix("//") else {
        return Some(format!("{scheme}:"));
    };
    let authority = after.split(['/', '?', '#']).next()?;
    let authority_ok = !authority.is_empty()
        && authority.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    authority_ok.then(|| format!("{scheme}://{authority}"))
}

/// Escapes text for HTML element content and double-quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn csp_sources() {
        assert_eq!(csp_source("http://127.0.0.1:9876/callback").as_deref(), Some("http://127.0.0.1:9876"));
        assert_eq!(csp_source("https://app.example/cb?x=1").as_deref(), Some("https://app.example"));
        assert_eq!(csp_source("https://[::1]:8443").as_deref(), Some("https://[::1]:8443"));
        assert_eq!(csp_source("com.example.app:/cb").as_deref(), Some("com.example.app:"));
        assert_eq!(csp_source("https://a.example;script-src *"), None);
        assert_eq!(csp_source("https://user@a.example/"), None);
        assert_eq!(csp_source("https:///x"), None);
        assert_eq!(csp_source("1http://a"), None);
        assert_eq!(csp_source("no-scheme"), None);
    }

    #[test]
    fn csrf_needs_the_cookie_and_the_field_equal() {
        let plain = CsrfCookie::for_issuer("http://127.0.0.1:8080");
        let mut h = HeaderMap::new();
        assert!(!csrf_matches(&h, plain, "abc"));
        h.insert(COOKIE, HeaderValue::from_static("other=1; gh_csrf=abc"));
        assert!(csrf_matches(&h, plain, "abc"));
        assert!(!csrf_matches(&h, plain, "abd"));
        assert!(!csrf_matches(&h, plain, ""));
        h.insert(COOKIE, HeaderValue::from_static("gh_csrf="));
        assert!(!csrf_matches(&h, plain, ""));
    }

    #[test]
    fn csrf_cookie_is_host_prefixed_and_secure_under_an_https_issuer() {
        let secure = CsrfCookie::for_issuer("https://auth.example.com");
        assert_eq!(
            secure.header("abc", 600),
            "__Host-gh_csrf=abc; Path=/; Secure; Max-Age=600; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            CsrfCookie::for_issuer("http://127.0.0.1:8080").header("abc", 600),
            "gh_csrf=abc; Path=/oauth/authorize; Max-Age=600; HttpOnly; SameSite=Strict"
        );
        // Only the prefixed cookie counts: a plain one may have been
        // planted by an http page or a sibling subdomain.
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("gh_csrf=abc"));
        assert!(!csrf_matches(&h, secure, "abc"));
        h.insert(COOKIE, HeaderValue::from_static("gh_csrf=x; __Host-gh_csrf=abc"));
        assert!(csrf_matches(&h, secure, "abc"));
    }
}
