//! [`AuthServer`]: the store, the keys, the clock and the limiter, and the
//! three HTTP endpoints built from the typed operations in
//! [`issue`](crate::issue), [`introspect`](crate::introspect) and
//! [`revoke`](crate::revoke).

use std::sync::Arc;

use crate::client_auth::{self, ClientCredentials};
use crate::config::Config;
use crate::form::{self, Form};
use crate::http::{HttpRequest, HttpResponse};
use crate::limiter::{FishingLimiter, MemoryLimiter};
use crate::model::Client;
use crate::store::{ClientRegistry, TokenStore};
use crate::time::{Clock, SystemClock, UnixTime};
use crate::token_format::Keyring;
use crate::Error;

/// An embeddable OAuth 2.0 authorization server over a store `S` and a
/// token-fishing limiter `L`.
///
/// Cheap to share: wrap it in an `Arc` and call it from every request
/// handler. All methods take `&self`.
pub struct AuthServer<S, L = MemoryLimiter> {
    pub(crate) store: S,
    pub(crate) keys: Keyring,
    pub(crate) config: Config,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limiter: L,
}

impl<S: TokenStore + ClientRegistry> AuthServer<S, MemoryLimiter> {
    /// A server with the system clock and an in-process limiter.
    pub fn new(store: S, keys: Keyring, config: Config) -> Self {
        let limiter = MemoryLimiter::new(config.limiter);
        Self { store, keys, config, clock: Arc::new(SystemClock), limiter }
    }
}

impl<S: TokenStore + ClientRegistry, L: FishingLimiter> AuthServer<S, L> {
    /// Replaces the clock (tests inject a [`ManualClock`](crate::ManualClock)).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Replaces the limiter, e.g. with one shared by several instances.
    pub fn with_limiter<L2: FishingLimiter>(self, limiter: L2) -> AuthServer<S, L2> {
        AuthServer { store: self.store, keys: self.keys, config: self.config, clock: self.clock, limiter }
    }

    /// The store, for registering clients and purging.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current time on the server's clock.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Authenticates a client from already-extracted credentials.
    ///
    /// # Errors
    /// [`Error::InvalidClient`] for every kind of failure, alike;
    /// [`Error::Store`] when the registry fails.
    pub async fn authenticate(&self, creds: &ClientCredentials) -> Result<Client, Error> {
        client_auth::authenticate(&self.store, creds).await
    }

    /// The token endpoint (RFC 6749 §3.2): `POST` with a form body.
    pub async fn token_endpoint(&self, req: HttpRequest<'_>) -> HttpResponse {
        match self.token_endpoint_inner(req).await {
            Ok(r) => r,
            Err(e) => HttpResponse::from(&e),
        }
    }

    /// The introspection endpoint (RFC 7662 §2).
    pub async fn introspection_endpoint(&self, req: HttpRequest<'_>) -> HttpResponse {
        match self.introspection_endpoint_inner(req).await {
            Ok(r) => r,
            Err(e) => HttpResponse::from(&e),
        }
    }

    /// The revocation endpoint (RFC 7009 §2).
    pub async fn revocation_endpoint(&self, req: HttpRequest<'_>) -> HttpResponse {
        match self.revocation_endpoint_inner(req).await {
            Ok(()) => HttpResponse::json(200, b"{}".to_vec()),
            Err(e) => HttpResponse::from(&e),
        }
    }

    /// Method, Content-Type, form and client authentication: the shared
    /// front half of every endpoint.
    async fn read_request<'a>(&self, req: HttpRequest<'a>) -> Result<(Form<'a>, ClientCredentials), Error> {
        if !req.method.eq_ignore_ascii_case("POST") {
            return Err(Error::MethodNotAllowed);
        }
        // Credentials are checked before the body so a malformed Basic
        // header is reported as such.
        let header = form::parse_authorization(req.authorization)?;
        form::check_content_type(req.content_type)?;
        let form = form::parse_form(req.body, self.config.max_body_bytes)?;
        let creds = client_auth::extract(header, &form)?;
        Ok((form, creds))
    }

    async fn token_endpoint_inner(&self, req: HttpRequest<'_>) -> Result<HttpResponse, Error> {
        let (form, creds) = self.read_request(req).await?;
        let grant_type = form.require("grant_type", "grant_type is required")?;
        let client = self.authenticate(&creds).await?;
        let issued = match grant_type {
            "client_credentials" => {
                let resources: Vec<&str> = form.all("resource").collect();
                self.client_credentials(&client, form.get("scope"), &resources).await?
            }
            "authorization_code" => {
                let code = form.require("code", "code is required")?;
                self.exchange_code(&client, code, form.get("redirect_uri"), form.get("code_verifier")).await?
            }
            "refresh_token" => {
                let token = form.require("refresh_token", "refresh_token is required")?;
                self.refresh(&client, token, form.get("scope")).await?
            }
            _ => return Err(Error::UnsupportedGrantType),
        };
        Ok(HttpResponse::json(200, issued.to_json()))
    }

    async fn introspection_endpoint_inner(&self, req: HttpRequest<'_>) -> Result<HttpResponse, Error> {
        let (form, creds) = self.read_request(req).await?;
        // RFC 7662 §2.1 requires authorization of the caller; a public
        // client's bare client_id authenticates nothing.
        if matches!(creds, ClientCredentials::None { .. }) {
            return Err(Error::InvalidClient { basic: false });
        }
        let caller = self.authenticate(&creds).await?;
        // Permission before parameters: a client that may not introspect
        // learns nothing, whatever it sent.
        if caller.resource_server().is_none() {
            return Err(Error::IntrospectionForbidden);
        }
        let token = form.require("token", "token is required")?;
        // RFC 7662 §2.1: the hint is optional and may be wrong; our tokens
        // name their own kind, so it is ignored.
        let answer = self.introspect(&caller, token).await?;
        Ok(HttpResponse::json(200, answer.to_json(&self.config.issuer)))
    }

    async fn revocation_endpoint_inner(&self, req: HttpRequest<'_>) -> Result<(), Error> {
        let (form, creds) = self.read_request(req).await?;
        let client = self.authenticate(&creds).await?;
        let token = form.require("token", "token is required")?;
        self.revoke(&client, token).await
    }
}
