//! The authorization request (RFC 6749 §4.1.1), with PKCE (RFC 7636)
//! required for every client, as OAuth 2.1 does.
//!
//! The app keeps its own login and consent. It parses the request
//! ([`AuthorizationRequest::from_query`]), checks it before showing its login
//! page ([`AuthServer::check_authorization`](crate::AuthServer::check_authorization)), and after the user has logged
//! in and consented calls [`AuthServer::authorize`](crate::AuthServer::authorize), which stores a one-time
//! code and returns the redirect URL. A request whose `client_id` or
//! `redirect_uri` is wrong is never redirected (RFC 6749 §4.1.2.1): that
//! would make the server an open redirector.

use std::sync::Arc;

use crate::error::Error;
use crate::form;
use crate::model::{
    Claims, Client, ClientId, CodeBinding, GrantType, Jti, Resource, Scope, Subject, TokenDigest, TokenRecord,
};
use crate::policy;
use crate::time::UnixTime;
use crate::token_format::RawToken;

/// Longest query string accepted.
const MAX_QUERY: usize = 8 * 1024;
/// Longest `state` echoed back.
const MAX_STATE: usize = 1024;

/// An authorization request's parameters, as the client sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorizationRequest {
    /// `response_type`; only `code` is supported.
    pub response_type: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `redirect_uri`; required, and compared exactly with the registered
    /// ones (but for the port of a public client's loopback URI).
    pub redirect_uri: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `state`, echoed back unchanged.
    pub state: Option<String>,
    /// `code_challenge` (RFC 7636 §4.2).
    pub code_challenge: Option<String>,
    /// `code_challenge_method`; only `S256` is accepted.
    pub code_challenge_method: Option<String>,
    /// `resource` (RFC 8707), possibly repeated.
    pub resources: Vec<String>,
}

impl AuthorizationRequest {
    /// Parses the query string of `GET /authorize` (without the `?`).
    ///
    /// # Errors
    /// [`Error::NoRedirect`] for a malformed, oversized or duplicated query:
    /// with such a request even the redirect URI cannot be trusted.
    pub fn from_query(query: &str) -> Result<Self, Error> {
        let f = form::parse_form(query.as_bytes(), MAX_QUERY)
            .map_err(|_| Error::NoRedirect("malformed authorization request"))?;
        let get = |n: &str| f.get(n).map(str::to_owned);
        Ok(Self {
            response_type: get("response_type"),
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            scope: get("scope"),
            state: get("state"),
            code_challenge: get("code_challenge"),
            code_challenge_method: get("code_challenge_method"),
            resources: f.all("resource").map(str::to_owned).collect(),
        })
    }
}

/// A request that passed every check: what the consent page shows.
#[derive(Debug, Clone)]
pub struct ValidatedAuthorization {
    client: Client,
    redirect_uri: String,
    scope: Scope,
    audience: Arc<[Resource]>,
    state: Option<String>,
    code_challenge: String,
}

impl ValidatedAuthorization {
    /// The requesting client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The scope that will be granted.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Where the user agent will be sent.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The resources the tokens will be for.
    pub fn audience(&self) -> &[Resource] {
        &self.audience
    }
}

/// The outcome of [`AuthServer::check_authorization`](crate::AuthServer::check_authorization).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthorizationCheck {
    /// Show the login and consent pages, then call [`AuthServer::authorize`](crate::AuthServer::authorize).
    Valid(Box<ValidatedAuthorization>),
    /// Send the user agent to this URL at once: an error redirect.
    Redirect(String),
}

/// `redirect_uri` plus `params`, form-encoded after `?` or `&`.
fn redirect_url(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = String::with_capacity(redirect_uri.len() + 128);
    url.push_str(redirect_uri);
    let mut sep = if redirect_uri.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        url.push(sep);
        sep = '&';
        url.push_str(k);
        url.push('=');
        form::encode_component(v, &mut url);
    }
    url
}

/// RFC 7636 §4.2: `code-challenge = 43*128unreserved`; for S256 it is the
/// base64url of 32 bytes: exactly 43 characters.
fn valid_s256_challenge(c: &str) -> bool {
    c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The client an authorization request names: the driver loads it, then
/// calls [`decide_authorization`].
///
/// # Errors
/// [`Error::NoRedirect`] when `client_id` is missing or malformed.
pub(crate) fn requested_client(req: &AuthorizationRequest) -> Result<ClientId, Error> {
    let id = req.client_id.as_deref().ok_or(Error::NoRedirect("client_id is required"))?;
    ClientId::new(id).map_err(|_| Error::NoRedirect("unknown client"))
}

/// Every check on an authorization request (RFC 6749 §4.1.1, RFC 7636
/// §4.3), with its client as loaded (`None`: not registered), before the
/// app asks the user anything.
///
/// # Errors
/// [`Error::NoRedirect`] when the client is unknown or disabled or the
/// `redirect_uri` is missing or not registered: those are never redirected
/// to (RFC 6749 §4.1.2.1). Every later error is a
/// [`AuthorizationCheck::Redirect`].
pub(crate) fn decide_authorization(
    req: &AuthorizationRequest,
    client: Option<Client>,
    issuer: &str,
) -> Result<AuthorizationCheck, Error> {
    let client = match client {
        Some(c) if c.enabled => c,
        _ => return Err(Error::NoRedirect("unknown client")),
    };
    // Exact string comparison (RFC 9700 §2.1, §4.1.3): no prefix or
    // pattern; only a public client's loopback port may differ (RFC 8252
    // §7.3). See `Client::validate` for what may be registered.
    let redirect_uri = req.redirect_uri.as_deref().ok_or(Error::NoRedirect("redirect_uri is required"))?;
    if !client.redirect_uri_matches(redirect_uri) {
        return Err(Error::NoRedirect("redirect_uri is not registered for this client"));
    }
    match validate_rest(client, req) {
        Ok(v) => Ok(AuthorizationCheck::Valid(Box::new(v))),
        Err(e) => {
            Ok(AuthorizationCheck::Redirect(error_redirect(redirect_uri, req.state.as_deref(), &e, issuer)))
        }
    }
}

/// Everything after client and redirect URI: errors from here on are
/// reported to the client by redirect.
fn validate_rest(client: Client, req: &AuthorizationRequest) -> Result<ValidatedAuthorization, Error> {
    if req.state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
        return Err(Error::InvalidRequest("state is too long"));
    }
    match req.response_type.as_deref() {
        Some("code") => {}
        Some(_) => return Err(Error::UnsupportedResponseType),
        None => return Err(Error::InvalidRequest("response_type is required")),
    }
    policy::permit_grant(&client, GrantType::AuthorizationCode)?;
    let challenge =
        req.code_challenge.as_deref().ok_or(Error::InvalidRequest("code_challenge is required (PKCE)"))?;
    // `plain` offers no protection once the challenge leaks (RFC 7636
    // §7.2); an absent method means plain (§4.3), so it is refused too.
    if req.code_challenge_method.as_deref() != Some("S256") {
        return Err(Error::InvalidRequest("code_challenge_method must be S256"));
    }
    if !valid_s256_challenge(challenge) {
        return Err(Error::InvalidRequest("code_challenge must be 43 base64url characters"));
    }
    let scope = policy::grant_scope(&client, req.scope.as_deref())?;
    let resources: Vec<&str> = req.resources.iter().map(String::as_str).collect();
    let audience = policy::grant_audience(&client, &resources)?;
    Ok(ValidatedAuthorization {
        client,
        redirect_uri: req.redirect_uri.clone().unwrap_or_default(),
        scope,
        audience,
        state: req.state.clone(),
        code_challenge: challenge.to_owned(),
    })
}

/// The error redirect (RFC 6749 §4.1.2.1) for `e`.
fn error_redirect(redirect_uri: &str, state: Option<&str>, e: &Error, issuer: &str) -> String {
    let mut params = vec![("error", e.code()), ("error_description", e.description())];
    if let Some(s) = state.filter(|s| s.len() <= MAX_STATE) {
        params.push(("state", s));
    }
    // RFC 9207: the issuer, so the client can detect mix-up attacks.
    params.push(("iss", issuer));
    redirect_url(redirect_uri, &params)
}

impl ValidatedAuthorization {
    /// The record of the code issued for `subject` at `now`, bound to this
    /// request's redirect URI and PKCE challenge (RFC 6749 §4.1.2, RFC 7636
    /// §4.4).
    pub(crate) fn code_record(
        &self,
        subject: &Subject,
        (digest, jti): (TokenDigest, Jti),
        now: UnixTime,
        ttl: u64,
    ) -> TokenRecord {
        let claims = Claims::new(self.client.id.clone(), self.scope.clone(), self.audience.clone())
            .with_subject(subject.clone());
        let binding = CodeBinding {
            redirect_uri: self.redirect_uri.clone(),
            code_challenge: self.code_challenge.clone(),
        };
        TokenRecord::code(digest, jti, claims, binding, now, policy::expiry(now, ttl, None))
    }

    /// The redirect carrying `code` (RFC 6749 §4.1.2, RFC 9207 `iss`).
    pub(crate) fn code_redirect(&self, code: &RawToken, issuer: &str) -> String {
        let mut params = vec![("code", code.expose())];
        if let Some(s) = self.state.as_deref() {
            params.push(("state", s));
        }
        params.push(("iss", issuer));
        redirect_url(&self.redirect_uri, &params)
    }

    /// The redirect for a user who refused consent (`access_denied`).
    pub(crate) fn denied_redirect(&self, issuer: &str) -> String {
        let denied = Error::AccessDenied("the resource owner denied the request");
        error_redirect(&self.redirect_uri, self.state.as_deref(), &denied, issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_url_appends_with_the_right_separator() {
        assert_eq!(
            redirect_url("https://a/cb", &[("code", "x y"), ("state", "s")]),
            "https://a/cb?code=x%20y&state=s"
        );
        assert_eq!(redirect_url("https://a/cb?k=1", &[("code", "c")]), "https://a/cb?k=1&code=c");
    }

    #[test]
    fn challenge_syntax() {
        assert!(valid_s256_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!valid_s256_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"));
        assert!(!valid_s256_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"));
    }

    const CB: &str = "https://app.example/cb";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn app() -> Client {
        Client::new_public(ClientId::new("app").unwrap())
            .with_grants([GrantType::AuthorizationCode])
            .with_redirect_uris([CB.to_owned()])
            .with_audiences([Resource::new("https://api.example").unwrap()])
    }

    fn request() -> AuthorizationRequest {
        AuthorizationRequest::from_query(&format!(
            "response_type=code&client_id=app&redirect_uri={CB}&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256"
        ))
        .unwrap()
    }

    #[test]
    fn only_a_known_client_and_its_registered_uri_are_redirected_to() {
        let no_redirect = |r: Result<AuthorizationCheck, Error>| matches!(r, Err(Error::NoRedirect(_)));
        assert!(no_redirect(decide_authorization(&request(), None, "https://as")));
        let mut disabled = app();
        disabled.enabled = false;
        assert!(no_redirect(decide_authorization(&request(), Some(disabled), "https://as")));
        let mut elsewhere = request();
        elsewhere.redirect_uri = Some("https://evil.example/cb".to_owned());
        assert!(no_redirect(decide_authorization(&elsewhere, Some(app()), "https://as")));
        let Ok(AuthorizationCheck::Valid(v)) = decide_authorization(&request(), Some(app()), "https://as")
        else {
            panic!("a valid request")
        };
        assert_eq!((v.redirect_uri(), v.audience().len()), (CB, 1));
        assert_eq!(v.denied_redirect("https://as"), format!("{CB}?error=access_denied&error_description=the%20resource%20owner%20denied%20the%20request&state=s&iss=https%3A%2F%2Fas"));
    }

    #[test]
    fn later_errors_are_redirected_with_state_and_issuer() {
        let mut plain = request();
        plain.code_challenge_method = None;
        let Ok(AuthorizationCheck::Redirect(url)) = decide_authorization(&plain, Some(app()), "https://as")
        else {
            panic!("an error redirect")
        };
        assert!(url.starts_with(&format!("{CB}?error=invalid_request&")), "{url}");
        assert!(url.ends_with("&state=s&iss=https%3A%2F%2Fas"), "{url}");
        let no_grant = app().with_grants([GrantType::ClientCredentials]);
        let Ok(AuthorizationCheck::Redirect(url)) = decide_authorization(&request(), Some(no_grant), "i")
        else {
            panic!("an error redirect")
        };
        assert!(url.contains("error=unauthorized_client"), "{url}");
    }

    #[test]
    fn query_parsing() {
        let r =
            AuthorizationRequest::from_query("response_type=code&client_id=a&resource=x&resource=y").unwrap();
        assert_eq!(r.client_id.as_deref(), Some("a"));
        assert_eq!(r.resources, ["x", "y"]);
        assert!(matches!(
            AuthorizationRequest::from_query("client_id=a&client_id=b"),
            Err(Error::NoRedirect(_))
        ));
        assert!(matches!(AuthorizationRequest::from_query("a=%zz"), Err(Error::NoRedirect(_))));
    }
}
