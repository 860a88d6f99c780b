//! [`AuthServer`]: the store, the keys, the clock and the limiter, and
//! every operation as a thin driver: read the clock once, fetch, call the
//! operation's pure decision, write. The decisions live in
//! [`issue`](crate::issue), [`exchange`](crate::exchange),
//! [`revoke`](crate::revoke), [`authorize`](crate::authorize),
//! [`introspect`](crate::introspect) and [`bearer`](crate::bearer); the
//! policy they share in [`policy`](crate::policy).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use crate::audit::{AuditEvent, AuditSink, AuthMethod, ClientChange, Revoked, StoreOperation, Verdict};
use crate::authorize::{self, AuthorizationCheck, AuthorizationRequest};
use crate::bearer::{self, BearerError, Principal};
use crate::client_auth::{self, AuthFailure, ClientCredentials, Presented};
use crate::config::Config;
use crate::crypto;
use crate::error::Error;
use crate::exchange::{self, Refusal, Rotation};
use crate::feed::FeedRequest;
use crate::form::{self, AuthorizationHeader, BasicBuf, Form};
use crate::http::{Header, HttpRequest, HttpResponse};
use crate::introspect::{self, Introspection, Viewer};
use crate::issue::{self, IssuedTokens, TokenRequest};
use crate::join;
use crate::limiter::{self, Admission, FishingLimiter, MemoryLimiter, Reserved, Settlement};
use crate::model::{
    Client, ClientId, GrantId, GrantType, Jti, Resource, ResourceServer, Scope, Subject, TokenKind,
    TokenRecord, GRANT_ID_RANDOM_LEN,
};
use crate::policy;
use crate::revoke::{self, Revocation};
use crate::store::{ClientRegistry, RevokeScope, StoreError, TokenStore};
use crate::time::{Clock, SystemClock, UnixTime};
use crate::token_format::Keyring;

/// An embeddable OAuth 2.0 authorization server over a store `S` and a
/// token-fishing limiter `L`.
///
/// Cheap to share: wrap it in an `Arc` and call it from every request
/// handler. All methods take `&self`.
pub struct AuthServer<S, L = MemoryLimiter> {
    store: S,
    keys: Keyring,
    config: Config,
    clock: Arc<dyn Clock>,
    limiter: L,
    /// `None` (the default) records nothing and builds no event: every
    /// emission is then one test of this `Option`. A trait object rather
    /// than a type parameter, so that installing a sink does not change the
    /// server's type (code generic over `AuthServer<S, L>` keeps working).
    audit: Option<Arc<dyn AuditSink>>,
}

impl<S: TokenStore + ClientRegistry> AuthServer<S, MemoryLimiter> {
    /// A server with the system clock and an in-process limiter.
    pub fn new(store: S, keys: Keyring, config: Config) -> Self {
        let limiter = MemoryLimiter::new(config.limiter);
        Self { store, keys, config, clock: Arc::new(SystemClock), limiter, audit: None }
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
        AuthServer {
            store: self.store,
            keys: self.keys,
            config: self.config,
            clock: self.clock,
            limiter,
            audit: self.audit,
        }
    }

    /// Sends every audit event (see [`audit`](crate::audit)) to `sink`.
    /// Without it the server records nothing, at no measurable cost.
    #[must_use]
    pub fn with_audit(mut self, sink: impl AuditSink) -> Self {
        self.audit = Some(Arc::new(sink));
        self
    }

    /// Hands the event `make` builds to the sink; builds nothing without
    /// one.
    #[inline]
    fn emit<'e>(&self, make: impl FnOnce() -> AuditEvent<'e>) {
        if let Some(sink) = &self.audit {
            sink.record(&make());
        }
    }

    /// `result` as the core's error, recording a store failure first.
    fn stored<T>(&self, operation: StoreOperation, result: Result<T, StoreError>) -> Result<T, Error> {
        result.map_err(|error| {
            self.emit(|| AuditEvent::StoreFailed { operation, error: &error });
            Error::Store(error)
        })
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

    // ---- HTTP endpoints -------------------------------------------------

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

    /// Method, Authorization header (decoded into `basic`), Content-Type
    /// and form: the shared front half of every endpoint, followed by
    /// [`credentials`](Self::credentials).
    fn read_request<'a, 'b>(
        &self,
        req: HttpRequest<'a>,
        basic: &'b mut BasicBuf,
    ) -> Result<(Form<'a>, AuthorizationHeader<'b>), Error> {
        if !req.method.eq_ignore_ascii_case("POST") {
            return Err(Error::MethodNotAllowed);
        }
        // Credentials are checked before the body so a malformed Basic
        // header is reported as such.
        let header = form::parse_authorization(req.authorization, basic)?;
        form::check_content_type(req.content_type)?;
        let form = form::parse_form(req.body, self.config.max_body_bytes)?;
        Ok((form, header))
    }

    /// The client credentials of a request [`read_request`](Self::read_request)
    /// read, borrowed from it.
    fn credentials<'h>(
        &self,
        header: &'h AuthorizationHeader<'_>,
        form: &'h Form<'_>,
    ) -> Result<Presented<'h>, Error> {
        match client_auth::extract(header, form) {
            Ok(c) => Ok(c),
            Err(e @ Error::InvalidClient { basic }) => {
                let method = if basic { AuthMethod::OtherScheme } else { AuthMethod::Absent };
                self.emit(|| AuditEvent::ClientAuthFailed { method, client: None });
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    async fn token_endpoint_inner(&self, req: HttpRequest<'_>) -> Result<HttpResponse, Error> {
        let mut basic = BasicBuf::new();
        let (form, header) = self.read_request(req, &mut basic)?;
        let creds = self.credentials(&header, &form)?;
        // A missing grant_type is reported before authentication, as
        // before; everything else about the request after it.
        let grant_type = form.require("grant_type", "grant_type is required")?;
        // One reading of the clock for the request (each costs a few tens
        // of nanoseconds): authentication and issuance agree on the time.
        let millis = self.clock.now_millis();
        let client = self.authenticate_at(creds, UnixTime(millis / 1000)).await?;
        // The code exchange's and the refresh's futures are boxed: each is
        // three times the size of client_credentials', and unboxed every
        // token request's future would carry room for them (about 900
        // bytes more to move), for the price of one allocation on those two
        // grants, which allocate several already.
        let issued = match TokenRequest::from_form(grant_type, &form)? {
            TokenRequest::ClientCredentials { scope, resources } => {
                self.client_credentials_at(&client, scope, &resources, millis).await?
            }
            TokenRequest::AuthorizationCode { code, redirect_uri, code_verifier } => {
                Box::pin(self.exchange_code(&client, code, redirect_uri, code_verifier)).await?
            }
            TokenRequest::RefreshToken { refresh_token, scope } => {
                Box::pin(self.refresh(&client, refresh_token, scope)).await?
            }
        };
        Ok(HttpResponse::json(200, issued.to_json()))
    }

    async fn introspection_endpoint_inner(&self, req: HttpRequest<'_>) -> Result<HttpResponse, Error> {
        let mut basic = BasicBuf::new();
        let (form, header) = self.read_request(req, &mut basic)?;
        let creds = self.credentials(&header, &form)?;
        // RFC 7662 §2.1 requires authorization of the caller; a public
        // client's bare client_id authenticates nothing.
        if creds.method == AuthMethod::None {
            if self.audit.is_some() {
                let id = creds.id;
                let client = ClientId::new(id).ok();
                self.emit(|| AuditEvent::ClientAuthFailed {
                    method: AuthMethod::None,
                    client: client.as_ref(),
                });
            }
            return Err(Error::InvalidClient { basic: false });
        }
        // One reading of the clock for the request, as at the token
        // endpoint.
        let now = self.clock.now();
        let caller = self.authenticate_at(creds, now).await?;
        // Permission before parameters: a client that may not introspect
        // learns nothing, whatever it sent.
        if caller.resource_server().is_none() {
            return Err(Error::IntrospectionForbidden);
        }
        let token = form.require("token", "token is required")?;
        // RFC 7662 §2.1: the hint is optional and may be wrong; our tokens
        // name their own kind, so it is ignored.
        let answer = self.introspect_at(&caller, token, now).await?;
        Ok(HttpResponse::json(200, answer.to_json(&self.config.issuer)))
    }

    /// The front half of the revocation feed's endpoint (see
    /// [`feed`](crate::feed)): a `POST` form authenticated as a resource
    /// server, as at the introspection endpoint, with `stream` (the id
    /// from the last answer, absent at first), `cursor` (default 0) and
    /// `wait` (seconds to hold an empty answer, default 0). The transport
    /// then reads the feed and waits; the answer is [`Batch::to_json`](crate::feed::Batch::to_json).
    ///
    /// # Errors
    /// The error response to send: 401, 403 for a client that is not a
    /// resource server, 400 for a malformed `cursor` or `wait`, 5xx when
    /// the store fails.
    pub async fn feed_request(&self, req: HttpRequest<'_>) -> Result<FeedRequest, HttpResponse> {
        self.feed_request_inner(req).await.map_err(|e| HttpResponse::from(&e))
    }

    async fn feed_request_inner(&self, req: HttpRequest<'_>) -> Result<FeedRequest, Error> {
        let mut basic = BasicBuf::new();
        let (form, header) = self.read_request(req, &mut basic)?;
        let creds = self.credentials(&header, &form)?;
        if creds.method == AuthMethod::None {
            return Err(Error::InvalidClient { basic: false });
        }
        let caller = self.authenticate_at(creds, self.clock.now()).await?;
        // The feed names subjects and clients: only resource servers, who
        // may introspect, may read it.
        if caller.resource_server().is_none() {
            return Err(Error::IntrospectionForbidden);
        }
        let number = |name: &str, bad: &'static str| match form.get(name) {
            None => Ok(0),
            Some(v) => v.parse::<u64>().map_err(|_| Error::InvalidRequest(bad)),
        };
        Ok(FeedRequest {
            stream: form.get("stream").map(str::to_owned),
            cursor: number("cursor", "cursor must be a number")?,
            wait_secs: number("wait", "wait must be a number of seconds")?,
        })
    }

    async fn revocation_endpoint_inner(&self, req: HttpRequest<'_>) -> Result<(), Error> {
        let mut basic = BasicBuf::new();
        let (form, header) = self.read_request(req, &mut basic)?;
        let creds = self.credentials(&header, &form)?;
        let client = self.authenticate_at(creds, self.clock.now()).await?;
        let token = form.require("token", "token is required")?;
        self.revoke(&client, token).await
    }

    // ---- typed operations -----------------------------------------------

    /// Authenticates a client from already-extracted credentials.
    ///
    /// # Errors
    /// [`Error::InvalidClient`] for every kind of failure, alike;
    /// [`Error::Store`] when the registry fails.
    pub fn authenticate<'a>(
        &'a self,
        creds: &'a ClientCredentials,
    ) -> impl Future<Output = Result<Client, Error>> + Send + 'a {
        // Not an `async fn`: one future, not one wrapped in another. The
        // clock is read here, when called, rather than when first polled.
        self.authenticate_at(creds.presented(), self.clock.now())
    }

    /// [`authenticate`](Self::authenticate) at `now`, read by the caller.
    async fn authenticate_at(&self, creds: Presented<'_>, now: UnixTime) -> Result<Client, Error> {
        match client_auth::authenticate(&self.store, creds, now).await {
            Ok(c) => Ok(c),
            Err(AuthFailure::Rejected { basic, client }) => {
                self.emit(|| AuditEvent::ClientAuthFailed { method: creds.method, client: client.as_ref() });
                Err(Error::InvalidClient { basic })
            }
            Err(AuthFailure::Store(e)) => self.stored(StoreOperation::Client, Err(e)),
        }
    }

    /// The `client_credentials` grant for an authenticated client, with an
    /// optional requested scope and RFC 8707 `resource`s.
    ///
    /// # Errors
    /// `unauthorized_client` for a public client or one not registered for
    /// the grant; `invalid_scope`; `invalid_target`; [`Error::Store`] or
    /// [`Error::Random`] (no token is returned unless it was stored).
    pub fn client_credentials<'a>(
        &'a self,
        client: &'a Client,
        scope: Option<&'a str>,
        resources: &'a [&'a str],
    ) -> impl Future<Output = Result<IssuedTokens, Error>> + Send + 'a {
        self.client_credentials_at(client, scope, resources, self.clock.now_millis())
    }

    /// [`client_credentials`](Self::client_credentials) at `millis` (Unix
    /// time in milliseconds), read once by the caller: the grant id's time
    /// and `iat` agree.
    async fn client_credentials_at(
        &self,
        client: &Client,
        scope: Option<&str>,
        resources: &[&str],
        millis: u64,
    ) -> Result<IssuedTokens, Error> {
        let now = UnixTime(millis / 1000);
        let grant =
            issue::decide_client_credentials(client, scope, resources, now, self.config.access_token_ttl)?;
        // One call to the OS random source for the grant id's random part,
        // the jti and the token's 256 bits (each is a system call).
        let fresh: [u8; GRANT_ID_RANDOM_LEN + 16 + 32] = crypto::random_bytes()?;
        let (grant_random, rest) = fresh.split_at(GRANT_ID_RANDOM_LEN);
        let (jti_bytes, secret) = rest.split_at(16);
        let mut grant_id = [0u8; GRANT_ID_RANDOM_LEN];
        grant_id.copy_from_slice(grant_random);
        let mut jti = [0u8; 16];
        jti.copy_from_slice(jti_bytes);
        let mut random = [0u8; 32];
        random.copy_from_slice(secret);
        // Time-ordered, so a store's inserts append (see `time_ordered`).
        let grant_id = GrantId::time_ordered(millis, &grant_id);
        let (token, digest) = self.keys.mint_from(TokenKind::Access, grant_id, &random);
        let scope = grant.claims.scope.clone();
        // The audience outlives the record only for a sink: no clone (an
        // atomic increment) on the hot path without one.
        let audience = self.audit.as_ref().map(|_| Arc::clone(&grant.claims.audience));
        let jti = Jti::from_bytes(jti);
        let record = TokenRecord::access(digest, jti, grant.claims, now, grant.expires_at);
        self.stored(StoreOperation::Insert, self.store.insert(record).await)?;
        if let Some(audience) = &audience {
            self.emit(|| AuditEvent::TokenIssued {
                client: &client.id,
                grant: grant_id,
                jti,
                kind: TokenKind::Access,
                subject: None,
                scope: &scope,
                audience,
                expires_at: grant.expires_at,
            });
        }
        let expires_in = grant.expires_at.0.saturating_sub(now.0);
        Ok(IssuedTokens { access_token: token, expires_in, scope, refresh_token: None })
    }

    /// The `authorization_code` grant: trades a code for an access token,
    /// and a refresh token when the client may use that grant.
    ///
    /// # Errors
    /// `unauthorized_client` when the client may not use the grant;
    /// `invalid_grant` for an unknown, expired, used (its grant is then
    /// revoked) or foreign code, a redirect URI other than the one the code
    /// was issued for, or a PKCE verifier that does not match;
    /// [`Error::Store`] / [`Error::Random`].
    pub async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<IssuedTokens, Error> {
        policy::permit_grant(client, GrantType::AuthorizationCode)?;
        let now = self.clock.now();
        let record = self.load_one_time(code, TokenKind::AuthorizationCode).await?;
        let ttls = (self.config.access_token_ttl, self.config.refresh_token_ttl);
        let decision =
            exchange::decide_code_exchange(client, record.as_ref(), redirect_uri, code_verifier, now, ttls);
        self.rotate(client, TokenKind::AuthorizationCode, decision, now).await
    }

    /// The `refresh_token` grant: rotates the refresh token. The new one
    /// expires when the old one would have: a grant's lifetime is fixed at
    /// the code exchange, however often it is refreshed, and the new access
    /// token expires no later. A requested `scope` narrows the new access
    /// token only; the new refresh token keeps the grant's scope (RFC 6749
    /// §6).
    ///
    /// # Errors
    /// `unauthorized_client`; `invalid_scope` for a scope wider than the
    /// grant's; `invalid_grant` for an unknown, expired, foreign or reused
    /// refresh token (its grant is then revoked); [`Error::Store`] /
    /// [`Error::Random`].
    pub async fn refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> Result<IssuedTokens, Error> {
        policy::permit_grant(client, GrantType::RefreshToken)?;
        let now = self.clock.now();
        let record = self.load_one_time(refresh_token, TokenKind::Refresh).await?;
        let decision =
            exchange::decide_refresh(client, record.as_ref(), scope, now, self.config.access_token_ttl);
        self.rotate(client, TokenKind::Refresh, decision, now).await
    }

    /// The stored record of a presented code or refresh token, if its tag
    /// verifies and it is of `kind`.
    async fn load_one_time(&self, token: &str, kind: TokenKind) -> Result<Option<TokenRecord>, Error> {
        match self.keys.verify(token) {
            Ok(v) if v.kind == kind => self.stored(StoreOperation::Get, self.store.get(&v.digest).await),
            _ => Ok(None),
        }
    }

    /// Carries out an exchange's decision on `client`'s token of `kind`:
    /// mints the new tokens, consumes the old one and stores them in one
    /// step; or, for a replay, revokes the grant.
    async fn rotate(
        &self,
        client: &Client,
        kind: TokenKind,
        decision: Result<Rotation, Refusal>,
        now: UnixTime,
    ) -> Result<IssuedTokens, Error> {
        let rotation = match decision {
            Ok(r) => r,
            Err(refusal) => return Err(self.refused(client, kind, refusal).await?),
        };
        let grant = rotation.grant();
        let (access, digest) = self.keys.mint(TokenKind::Access, grant)?;
        let access_ids = (digest, Jti::generate()?);
        let (refresh, refresh_ids) = match rotation.refresh_expires_at {
            Some(_) => {
                let (raw, digest) = self.keys.mint(TokenKind::Refresh, grant)?;
                (Some(raw), Some((digest, Jti::generate()?)))
            }
            None => (None, None),
        };
        let records = rotation.records(now, access_ids, refresh_ids);
        let consumed =
            self.stored(StoreOperation::Consume, self.store.consume(&rotation.from, records).await)?;
        if let Err(refusal) = exchange::settle(&consumed, &rotation) {
            return Err(self.refused(client, kind, refusal).await?);
        }
        let issued = |jti, kind, scope, expires_at| AuditEvent::TokenIssued {
            client: &rotation.claims.client_id,
            grant,
            jti,
            kind,
            subject: rotation.claims.subject.as_ref(),
            scope,
            audience: &rotation.claims.audience,
            expires_at,
        };
        let access_expires_at = rotation.access_expires_at;
        self.emit(|| issued(access_ids.1, TokenKind::Access, &rotation.access_scope, access_expires_at));
        if let (Some((_, jti)), Some(exp)) = (refresh_ids, rotation.refresh_expires_at) {
            self.emit(|| issued(jti, TokenKind::Refresh, &rotation.claims.scope, exp));
        }
        Ok(rotation.issued(now, access, refresh))
    }

    /// The error for a refused exchange of `client`'s token of `kind`,
    /// after revoking the grant of a replayed token.
    async fn refused(&self, client: &Client, kind: TokenKind, refusal: Refusal) -> Result<Error, Error> {
        match refusal {
            Refusal::Deny(e) => Ok(e),
            Refusal::Replay(grant) => {
                let revoked = self.store.revoke_grant(&grant).await;
                let grant_revoked = revoked.is_ok();
                self.emit(|| AuditEvent::ReplayDetected { client: &client.id, kind, grant, grant_revoked });
                self.stored(StoreOperation::RevokeGrant, revoked)?;
                Ok(exchange::BAD_GRANT)
            }
        }
    }

    /// Revokes `token` on behalf of the authenticated `client` (RFC 7009
    /// §2.1). An invalid or unknown token, or another client's, is no error
    /// and changes nothing; a refresh token takes its whole grant with it.
    ///
    /// # Errors
    /// [`Error::Store`] only: the caller must not be told "revoked" when the
    /// store failed.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<(), Error> {
        let record = match self.keys.verify(token) {
            Ok(v) => self.stored(StoreOperation::Get, self.store.get(&v.digest).await)?,
            Err(_) => None,
        };
        let target = match revoke::decide_revocation(client, record.as_ref()) {
            Revocation::Nothing => return Ok(()),
            Revocation::Token(digest, jti) => {
                self.stored(StoreOperation::Revoke, self.store.revoke(&digest).await)?;
                Revoked::Token { jti, grant: digest.grant() }
            }
            Revocation::Grant(grant) => {
                self.stored(StoreOperation::RevokeGrant, self.store.revoke_grant(&grant).await)?;
                Revoked::Grant(grant)
            }
        };
        self.emit(|| AuditEvent::TokenRevoked { by: &client.id, target });
        Ok(())
    }

    /// Ends every grant `scope` names, at once: every access token, refresh
    /// token and authorization code of it introspects inactive on every
    /// instance sharing the store, and no refresh racing this call can
    /// leave a live token behind (see [`TokenStore::revoke_all`]). Returns
    /// how many grants still had an active token.
    ///
    /// - On password change, account closure or a lost device ("sign out
    ///   everywhere"), call `revoke_all(&RevokeScope::Subject(user))`.
    /// - When a user disconnects one app, call
    ///   `revoke_all(&RevokeScope::SubjectAtClient(user, client_id))`.
    /// - For a compromised or retired client, call
    ///   `revoke_all(&RevokeScope::Client(client_id))` (and disable it, or
    ///   it can get new tokens).
    ///
    /// Grants made after it returns are unaffected: the user signs in
    /// again as usual.
    ///
    /// ```
    /// use gatehouse_core::model::Subject;
    /// use gatehouse_core::{AuthServer, Config, Keyring, RevokeScope};
    /// use gatehouse_memory::MemoryStore;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let server = AuthServer::new(MemoryStore::new(), Keyring::random()?, Config::new("https://auth.example"));
    /// // Alice changed her password: sign her out everywhere.
    /// let alice = Subject::new("alice")?;
    /// let ended = server.revoke_all(&RevokeScope::Subject(alice)).await?;
    /// assert_eq!(ended, 0); // she had no grants in this fresh store
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Store`]: some grants may be revoked and others not yet;
    /// call it again (it is idempotent) until it succeeds.
    pub async fn revoke_all(&self, scope: &RevokeScope) -> Result<u64, Error> {
        let count = self.stored(StoreOperation::RevokeAll, self.store.revoke_all(scope).await)?;
        self.emit(|| {
            let (subject, client) = match scope {
                RevokeScope::Subject(s) => (Some(s), None),
                RevokeScope::SubjectAtClient(s, c) => (Some(s), Some(c)),
                RevokeScope::Client(c) => (None, Some(c)),
            };
            AuditEvent::BulkRevocation { subject, client, count }
        });
        Ok(count)
    }

    /// Records an operator's change to a client.
    pub(crate) fn client_changed(&self, client: &ClientId, change: ClientChange) {
        self.emit(|| AuditEvent::ClientChanged { client, change });
    }

    /// Introspects `token` for an authenticated caller, which must be a
    /// resource server. Throttled callers are refused whatever the token.
    ///
    /// The caller's reservation with the fishing limiter and the token's
    /// lookup run concurrently, so a shared limiter and a remote store cost
    /// one round trip together, or as one step when the limiter can
    /// ([`FishingLimiter::reserve_and_get`]); a token that fails its tag
    /// check is never looked up.
    ///
    /// # Errors
    /// [`Error::IntrospectionForbidden`] when the caller is not a resource
    /// server; [`Error::Throttled`]; [`Error::Store`] when the store or a
    /// shared limiter fails (never an answer in that case).
    pub fn introspect<'a>(
        &'a self,
        caller: &'a Client,
        token: &'a str,
    ) -> impl Future<Output = Result<Introspection, Error>> + Send + 'a {
        self.introspect_at(caller, token, self.clock.now())
    }

    /// [`introspect`](Self::introspect) at `now`, read by the caller.
    async fn introspect_at(
        &self,
        caller: &Client,
        token: &str,
        now: UnixTime,
    ) -> Result<Introspection, Error> {
        let rs = caller.resource_server().ok_or(Error::IntrospectionForbidden)?;
        let verified = self.keys.verify(token);
        if let Ok(v) = &verified {
            let skew = self.config.clock_skew;
            if let Some(step) = self.limiter.reserve_and_get(&self.store, &caller.id, &v.digest, now, skew) {
                return self.introspect_in_one_step(caller, rs, v.digest.grant(), step, now).await;
            }
        }
        let mut reserve = pin!(self.limiter.reserve(&caller.id, now));
        let verified = match verified {
            Ok(v) => v,
            Err(r) => {
                self.admitted(caller, reserve.await)?;
                let answer = Introspection::Inactive(r.into());
                self.answered(caller, None, &answer);
                return Ok(answer);
            }
        };
        // A throttled caller's lookup is not even started when the limiter
        // answers at once (memory), and its result is dropped otherwise.
        let mut lookup = pin!(self.store.get_with_client(&verified.digest));
        let refused = |a: &Result<Admission, StoreError>| !matches!(a, Ok(Admission::Allowed));
        // A limiter that answers at once (in-process) leaves nothing to
        // overlap: the lookup is simply awaited after it.
        let (admission, loaded) = match join::poll_once(reserve.as_mut()).await {
            Some(a) if refused(&a) => (a, None),
            Some(a) => (a, Some(lookup.as_mut().await)),
            None => join::both(reserve.as_mut(), lookup.as_mut(), refused).await,
        };
        self.admitted(caller, admission)?;
        let loaded = match loaded {
            Some(r) => self.stored(StoreOperation::Get, r)?,
            // Not reached (the lookup is skipped only for a refusal), but
            // finishing it is the right answer if it ever were.
            None => self.stored(StoreOperation::Get, lookup.await)?,
        };
        let viewer = Viewer::ResourceServer { id: &caller.id, rs };
        let answer = introspect::decide_introspection(loaded, viewer, now, self.config.clock_skew);
        if answer.is_active() {
            self.stored(StoreOperation::Limiter, self.limiter.refund(&caller.id, now).await)?;
        }
        self.answered(caller, Some(verified.digest.grant()), &answer);
        Ok(answer)
    }

    /// [`introspect_at`](Self::introspect_at) with a limiter that reserves
    /// and reads in one step ([`FishingLimiter::reserve_and_get`]), then
    /// settles the charge once the record is judged.
    async fn introspect_in_one_step(
        &self,
        caller: &Client,
        rs: &ResourceServer,
        grant: GrantId,
        step: impl Future<Output = Result<Reserved, StoreError>>,
        now: UnixTime,
    ) -> Result<Introspection, Error> {
        let (record, charged) = match self.stored(StoreOperation::Limiter, step.await)? {
            Reserved::Throttled { retry_after } => return Err(self.throttled(caller, retry_after)),
            Reserved::Charged(record) => (record, true),
            Reserved::Uncharged(record) => (Some(record), false),
        };
        let loaded = match record {
            Some(r) => {
                let client = self.stored(StoreOperation::Client, self.store.client(&r.client_id).await)?;
                Some((r, client))
            }
            None => None,
        };
        let viewer = Viewer::ResourceServer { id: &caller.id, rs };
        let answer = introspect::decide_introspection(loaded, viewer, now, self.config.clock_skew);
        match limiter::settlement(charged, answer.is_active()) {
            Settlement::Settled => {}
            Settlement::Refund => {
                self.stored(StoreOperation::Limiter, self.limiter.refund(&caller.id, now).await)?;
            }
            Settlement::Reserve => self.admitted(caller, self.limiter.reserve(&caller.id, now).await)?,
        }
        self.answered(caller, Some(grant), &answer);
        Ok(answer)
    }

    /// A throttled introspection's error, recorded.
    fn throttled(&self, caller: &Client, retry_after: u64) -> Error {
        self.emit(|| AuditEvent::Throttled { caller: &caller.id, retry_after });
        Error::Throttled { retry_after }
    }

    /// The limiter's answer for `caller` as a result, recording a refusal
    /// or a failure.
    fn admitted(&self, caller: &Client, admission: Result<Admission, StoreError>) -> Result<(), Error> {
        match self.stored(StoreOperation::Limiter, admission)? {
            Admission::Throttled { retry_after } => Err(self.throttled(caller, retry_after)),
            admission => introspect::admitted(admission),
        }
    }

    /// Records an introspection's answer (of a token of `grant`, when its
    /// tag verified).
    fn answered(&self, caller: &Client, grant: Option<GrantId>, answer: &Introspection) {
        self.emit(|| {
            let (jti, verdict) = match answer {
                Introspection::Active(r) => (Some(r.jti), Verdict::Active),
                Introspection::Inactive(reason) => (None, Verdict::Inactive(*reason)),
            };
            AuditEvent::IntrospectionAnswered { caller: &caller.id, grant, jti, verdict }
        });
    }

    /// Validates the bearer token in an `Authorization` header for
    /// `audience`, requiring every scope in `required` (RFC 6750), through
    /// the same checks as introspection but without the fishing limiter.
    ///
    /// # Errors
    /// A [`BearerError`] carrying the status and `WWW-Authenticate` value.
    pub async fn validate_bearer(
        &self,
        authorization: Header<'_>,
        audience: &Resource,
        required: &Scope,
    ) -> Result<Principal, BearerError> {
        let token = bearer::parse_bearer(authorization)?;
        let now = self.clock.now();
        let answer = match self.keys.verify(token) {
            Ok(v) => {
                let loaded = self
                    .stored(StoreOperation::Get, self.store.get_with_client(&v.digest).await)
                    .map_err(BearerError::Server)?;
                let viewer = Viewer::Bearer { audience };
                introspect::decide_introspection(loaded, viewer, now, self.config.clock_skew)
            }
            Err(r) => Introspection::Inactive(r.into()),
        };
        bearer::decide_bearer(answer, required)
    }

    /// Checks an authorization request before the app asks the user
    /// anything.
    ///
    /// # Errors
    /// [`Error::NoRedirect`] when `client_id` or `redirect_uri` is missing,
    /// unknown or unregistered (show an error page; do not redirect);
    /// [`Error::Store`].
    pub async fn check_authorization(&self, req: &AuthorizationRequest) -> Result<AuthorizationCheck, Error> {
        let id = authorize::requested_client(req)?;
        let client = self.stored(StoreOperation::Client, self.store.client(&id).await)?;
        authorize::decide_authorization(req, client, &self.config.issuer)
    }

    /// Issues an authorization code for `subject`, who has logged in and
    /// consented, and returns the URL to redirect the user agent to: the
    /// client's redirect URI with `code`, `state` and `iss`, or with an
    /// error. The request is checked again, so the app may pass it straight
    /// from the query.
    ///
    /// # Errors
    /// As [`check_authorization`](Self::check_authorization); and
    /// [`Error::Store`] / [`Error::Random`] when the code cannot be stored
    /// (no code is handed out then).
    pub async fn authorize(&self, req: &AuthorizationRequest, subject: &Subject) -> Result<String, Error> {
        let v = match self.check_authorization(req).await? {
            AuthorizationCheck::Valid(v) => v,
            AuthorizationCheck::Redirect(url) => return Ok(url),
        };
        // One reading of the clock: the grant id's time and `iat` agree.
        let millis = self.clock.now_millis();
        let now = UnixTime(millis / 1000);
        // Time-ordered, so a store's inserts append (see `time_ordered`).
        let grant_id = GrantId::time_ordered(millis, &crypto::random_bytes()?);
        let (code, digest) = self.keys.mint(TokenKind::AuthorizationCode, grant_id)?;
        let jti = Jti::generate()?;
        let record = v.code_record(subject, (digest, jti), now, self.config.code_ttl);
        let expires_at = record.expires_at;
        self.stored(StoreOperation::Insert, self.store.insert(record).await)?;
        self.emit(|| AuditEvent::TokenIssued {
            client: &v.client().id,
            grant: grant_id,
            jti,
            kind: TokenKind::AuthorizationCode,
            subject: Some(subject),
            scope: v.scope(),
            audience: v.audience(),
            expires_at,
        });
        Ok(v.code_redirect(&code, &self.config.issuer))
    }

    /// The redirect URL for a user who refused consent (`access_denied`).
    ///
    /// # Errors
    /// As [`check_authorization`](Self::check_authorization).
    pub async fn deny(&self, req: &AuthorizationRequest) -> Result<String, Error> {
        match self.check_authorization(req).await? {
            AuthorizationCheck::Valid(v) => Ok(v.denied_redirect(&self.config.issuer)),
            AuthorizationCheck::Redirect(url) => Ok(url),
        }
    }
}
