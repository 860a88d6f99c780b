//! The authorization endpoint (RFC 6749 §4.1.1), with the app's own login
//! and consent behind the [`Consent`] hook.
//!
//! The crate does the protocol: it parses the query, checks the request
//! with the core, and never redirects a request whose client or redirect
//! URI cannot be trusted (RFC 6749 §4.1.2.1: no open redirector), showing
//! the app's [error page](Consent::error_page) instead; any other bad
//! request goes back to the client as an error redirect. Only a request
//! that passed every check reaches the app's [`Consent::decide`], which
//! renders its login and consent pages and reads them back, and answers
//! with a [`Decision`]: a response to show (a page), or the user's
//! approval or refusal, which the crate turns into the code (or
//! `access_denied`) redirect.
//!
//! Both `GET` and `POST` reach the hook, with the request checked again
//! each time from the query, so a form that posts back to the same URL
//! (no `action`) keeps the request. The app's form extractors stop reading
//! at the core's [`max_body_bytes`](gatehouse_core::Config::max_body_bytes).
//! CSRF protection of the app's form is the app's, as its login is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use gatehouse_core::model::Subject;
use gatehouse_core::{
    AuthServer, AuthorizationCheck, AuthorizationRequest, ClientRegistry, Error, FishingLimiter, TokenStore,
    ValidatedAuthorization,
};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA, REFERRER_POLICY, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::trace;

/// The app's login and consent, called for each authorization request the
/// core has checked.
///
/// A closure `Fn(Prompt) -> impl Future<Output = Decision>` is a `Consent`
/// too, with the default error page.
///
/// # Example
/// ```
/// use axum::http::request::Parts;
/// use axum::response::IntoResponse as _;
/// use gatehouse_axum::{Decision, Gatehouse, Prompt};
/// use gatehouse_core::model::Subject;
/// use gatehouse_core::{AuthServer, Config, Keyring};
///
/// /// Who the app's own session says is logged in.
/// fn logged_in(request: &Parts) -> Option<Subject> {
///     # let _ = request;
///     None
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = AuthServer::new(gatehouse_memory::MemoryStore::new(), Keyring::random()?, Config::new("https://auth.example"));
/// let consent = |prompt: Prompt| async move {
///     let (request, _body) = prompt.request.into_parts();
///     match logged_in(&request) {
///         // The user pressed "Allow" on the page below.
///         Some(user) if request.method == "POST" => Decision::approve(user),
///         // Not logged in yet, or not decided: the app's page (a form that
///         // posts back to the same URL, with the app's CSRF token).
///         _ => {
///             let client = prompt.authorization.client().id.as_str();
///             let scope = prompt.authorization.scope().as_str();
///             Decision::respond(format!("Let {client} use {scope}?").into_response())
///         }
///     }
/// };
/// let router = Gatehouse::new(server).with_consent(consent).router()?;
/// # let _ = router;
/// # Ok(())
/// # }
/// ```
pub trait Consent: Send + Sync + 'static {
    /// What to do with a checked request: show a page
    /// ([`Decision::respond`]), or the user's answer once they are logged
    /// in and have decided ([`Decision::approve`], [`Decision::deny`]).
    fn decide(&self, prompt: Prompt) -> impl Future<Output = Decision> + Send;

    /// The page for a request that must not be redirected back to the
    /// client: `status` is 400 for a request the user (or the client's
    /// developer) can fix, with `message` saying what is wrong; 500 or 503
    /// when the server failed, with a message that says nothing about why.
    /// The crate adds `Retry-After` to a 503 itself.
    ///
    /// The default is the message as `text/plain`, not cached.
    fn error_page(&self, status: StatusCode, message: &str) -> Response {
        let mut r = Response::new(Body::from(format!("{message}\n")));
        *r.status_mut() = status;
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

impl<F, Fut> Consent for F
where
    F: Fn(Prompt) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Decision> + Send,
{
    fn decide(&self, prompt: Prompt) -> impl Future<Output = Decision> + Send {
        self(prompt)
    }
}

/// A checked authorization request, and the HTTP request that carried it
/// (its method, cookies and, for a `POST`, the form), for the app's
/// extractors.
#[non_exhaustive]
pub struct Prompt {
    /// What the consent page shows: the client, the scope, the resources
    /// and where the user will be sent.
    pub authorization: Box<ValidatedAuthorization>,
    /// The request to the authorization endpoint.
    pub request: Request,
}

/// The app's answer to a [`Prompt`].
#[must_use]
pub struct Decision {
    kind: Kind,
    headers: HeaderMap,
}

enum Kind {
    Respond(Response),
    Approve(Subject),
    Deny,
}

impl Decision {
    /// Send `response` (the login or consent page, or the same again with
    /// an error), and no redirect.
    pub fn respond(response: Response) -> Self {
        Self { kind: Kind::Respond(response), headers: HeaderMap::new() }
    }

    /// The user `subject` has logged in and approved: issue a code and
    /// redirect to the client with it.
    pub fn approve(subject: Subject) -> Self {
        Self { kind: Kind::Approve(subject), headers: HeaderMap::new() }
    }

    /// The user refused: redirect to the client with `access_denied`.
    pub fn deny() -> Self {
        Self { kind: Kind::Deny, headers: HeaderMap::new() }
    }

    /// Adds these headers to the redirect of an approval or refusal (e.g.
    /// a `Set-Cookie` that clears the form's CSRF cookie). Ignored by
    /// [`respond`](Self::respond), whose response carries its own.
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers.extend(headers);
        self
    }
}

/// [`Consent`] made object-safe, so the router holds any app's hook
/// without a type parameter.
pub(crate) trait DynConsent: Send + Sync {
    fn decide(&self, prompt: Prompt) -> Pin<Box<dyn Future<Output = Decision> + Send + '_>>;
    fn error_page(&self, status: StatusCode, message: &str) -> Response;
}

impl<C: Consent> DynConsent for C {
    fn decide(&self, prompt: Prompt) -> Pin<Box<dyn Future<Output = Decision> + Send + '_>> {
        Box::pin(Consent::decide(self, prompt))
    }

    fn error_page(&self, status: StatusCode, message: &str) -> Response {
        Consent::error_page(self, status, message)
    }
}

/// What the endpoint needs: the server and the app's hook.
pub(crate) struct Pages<S, L> {
    pub(crate) server: Arc<AuthServer<S, L>>,
    pub(crate) consent: Arc<dyn DynConsent>,
}

// Not derived: the derive would require `S: Clone` and `L: Clone`.
impl<S, L> Clone for Pages<S, L> {
    fn clone(&self) -> Self {
        Self { server: Arc::clone(&self.server), consent: Arc::clone(&self.consent) }
    }
}

/// `GET` and `POST` of the authorization endpoint.
pub(crate) async fn endpoint<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    State(pages): State<Pages<S, L>>,
    req: Request,
) -> Response {
    let span = trace::span("authorize", req.method());
    trace::traced(span, handle(pages, req)).await
}

async fn handle<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    pages: Pages<S, L>,
    req: Request,
) -> Response {
    let areq = match AuthorizationRequest::from_query(req.uri().query().unwrap_or("")) {
        Ok(r) => r,
        Err(e) => return error_page(&*pages.consent, &e),
    };
    let authorization = match pages.server.check_authorization(&areq).await {
        Ok(AuthorizationCheck::Valid(v)) => v,
        Ok(AuthorizationCheck::Redirect(url)) => return redirect(&*pages.consent, &url, HeaderMap::new()),
        Ok(_) => return failed(&*pages.consent),
        Err(e) => return error_page(&*pages.consent, &e),
    };
    let Decision { kind, headers } = pages.consent.decide(Prompt { authorization, request: req }).await;
    let outcome = match kind {
        Kind::Respond(response) => return response,
        Kind::Approve(subject) => pages.server.authorize(&areq, &subject).await,
        Kind::Deny => pages.server.deny(&areq).await,
    };
    match outcome {
        Ok(url) => redirect(&*pages.consent, &url, headers),
        Err(e) => error_page(&*pages.consent, &e),
    }
}

/// The error page for a core error: its description for a request the
/// user can fix (never a redirect), nothing about the cause of a 500, and
/// a 503 with `Retry-After` when the store cannot be reached.
fn error_page(consent: &dyn DynConsent, e: &Error) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let message = "The service is temporarily unavailable. Please try again in a moment.";
        let mut r = consent.error_page(status, message);
        if let Some(secs) = e.retry_after() {
            r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        return r;
    }
    if status.is_server_error() {
        return failed(consent);
    }
    consent
        .error_page(StatusCode::BAD_REQUEST, &format!("Invalid authorization request: {}.", e.description()))
}

/// The page for a failure of the server itself.
fn failed(consent: &dyn DynConsent) -> Response {
    consent.error_page(StatusCode::INTERNAL_SERVER_ERROR, "The request could not be completed.")
}

/// A 302 to `url`, with the app's `extra` headers. Not cached and sent
/// without a referrer: the URL may carry a code.
fn redirect(consent: &dyn DynConsent, url: &str, extra: HeaderMap) -> Response {
    let Ok(location) = HeaderValue::try_from(url) else {
        return failed(consent);
    };
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    let h = r.headers_mut();
    h.extend(extra);
    h.insert(LOCATION, location);
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    r
}
