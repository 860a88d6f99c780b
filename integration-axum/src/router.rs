//! [`Gatehouse`]: the router builder, generic over the store and the
//! limiter, and [`Paths`], where it mounts the endpoints.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get};
use axum::Router;
use gatehouse_core::{
    AuthServer, ClientRegistry, Endpoints, FishingLimiter, MemoryLimiter, Metadata, RevocationFeed,
    TokenStore,
};

use crate::authorize::{self, Consent, DynConsent, Pages};
use crate::bearer::RequireBearer;
use crate::feed::{self, FeedState};
use crate::{endpoints, metadata, Error};

/// Where the endpoints are mounted. The defaults are `/oauth/token`,
/// `/oauth/introspect`, `/oauth/revoke` and `/oauth/authorize`; the
/// metadata document's path follows from the issuer (RFC 8414 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    token: String,
    introspect: String,
    revoke: String,
    authorize: String,
    events: String,
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            token: "/oauth/token".into(),
            introspect: "/oauth/introspect".into(),
            revoke: "/oauth/revoke".into(),
            authorize: "/oauth/authorize".into(),
            events: "/oauth/events".into(),
        }
    }
}

impl Paths {
    /// The token endpoint's path.
    #[must_use]
    pub fn token(mut self, path: &str) -> Self {
        path.clone_into(&mut self.token);
        self
    }

    /// The introspection endpoint's path.
    #[must_use]
    pub fn introspect(mut self, path: &str) -> Self {
        path.clone_into(&mut self.introspect);
        self
    }

    /// The revocation endpoint's path.
    #[must_use]
    pub fn revoke(mut self, path: &str) -> Self {
        path.clone_into(&mut self.revoke);
        self
    }

    /// Sets the revocation feed's path.
    #[must_use]
    pub fn events(mut self, path: &str) -> Self {
        path.clone_into(&mut self.events);
        self
    }

    /// Where the revocation feed is served (with
    /// [`Gatehouse::with_feed`]); default `/oauth/events`.
    pub fn events_path(&self) -> &str {
        &self.events
    }

    /// The authorization endpoint's path (served only with a [`Consent`]).
    #[must_use]
    pub fn authorize(mut self, path: &str) -> Self {
        path.clone_into(&mut self.authorize);
        self
    }

    /// The token endpoint's path.
    pub fn token_path(&self) -> &str {
        &self.token
    }

    /// The introspection endpoint's path.
    pub fn introspect_path(&self) -> &str {
        &self.introspect
    }

    /// The revocation endpoint's path.
    pub fn revoke_path(&self) -> &str {
        &self.revoke
    }

    /// The authorization endpoint's path.
    pub fn authorize_path(&self) -> &str {
        &self.authorize
    }
}

/// An [`AuthServer`] served by axum: the endpoints as a [`Router`]
/// ([`router`](Self::router)), and layers that guard the app's own routes
/// with its bearer tokens ([`require`](Self::require)).
pub struct Gatehouse<S, L = MemoryLimiter> {
    server: Arc<AuthServer<S, L>>,
    paths: Paths,
    consent: Option<Arc<dyn DynConsent>>,
    feed: Option<RevocationFeed>,
}

// Not derived: the derive would require `S: Clone` and `L: Clone`.
impl<S, L> Clone for Gatehouse<S, L> {
    fn clone(&self) -> Self {
        Self {
            server: Arc::clone(&self.server),
            paths: self.paths.clone(),
            consent: self.consent.clone(),
            feed: self.feed.clone(),
        }
    }
}

impl<S: TokenStore + ClientRegistry, L: FishingLimiter> Gatehouse<S, L> {
    /// Serves `server` (or a shared `Arc` of it) at the default [`Paths`],
    /// without an authorization endpoint.
    pub fn new(server: impl Into<Arc<AuthServer<S, L>>>) -> Self {
        Self { server: server.into(), paths: Paths::default(), consent: None, feed: None }
    }

    /// The same, with the endpoints at `paths`.
    #[must_use]
    pub fn with_paths(mut self, paths: Paths) -> Self {
        self.paths = paths;
        self
    }

    /// The same, serving `feed` (which must be installed as the server's
    /// audit sink, or part of it) at [`Paths::events_path`]: resource
    /// servers long-poll it, authenticated as at the introspection
    /// endpoint, to drop cached answers as soon as a token is revoked.
    /// The route is not in the metadata document (no registered member
    /// names it).
    #[must_use]
    pub fn with_feed(mut self, feed: RevocationFeed) -> Self {
        self.feed = Some(feed);
        self
    }

    /// The same, with the authorization endpoint (the code flow), whose
    /// login and consent are `consent`'s. See [`Consent`].
    #[must_use]
    pub fn with_consent(mut self, consent: impl Consent) -> Self {
        self.consent = Some(Arc::new(consent));
        self
    }

    /// The server, e.g. to register clients or purge expired tokens.
    pub fn server(&self) -> &Arc<AuthServer<S, L>> {
        &self.server
    }

    /// Where the endpoints are mounted.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The endpoints as mounted, for the metadata document.
    pub fn endpoints(&self) -> Endpoints {
        let p = &self.paths;
        let e = Endpoints::new(&p.token).introspection(&p.introspect).revocation(&p.revoke);
        if self.consent.is_some() {
            e.authorization(&p.authorize)
        } else {
            e
        }
    }

    /// Every endpoint, ready to [`merge`](Router::merge) into the app:
    ///
    /// - the token, introspection and revocation endpoints, each taking
    ///   any method so that the core answers a wrong one with its own 405
    ///   (`Allow: POST`), and reading the body only up to the core's
    ///   [`max_body_bytes`](gatehouse_core::Config::max_body_bytes);
    /// - with a [`Consent`], `GET` and `POST` of the authorization
    ///   endpoint;
    /// - `GET` of the RFC 8414 metadata document, which names exactly
    ///   these endpoints.
    ///
    /// # Errors
    /// [`Error::Config`] when the server's config is not valid
    /// ([`Config::validate`](gatehouse_core::Config::validate)) or a path is
    /// not an absolute path: checked here, so a mistake stops the app at
    /// start rather than serving a wrong document.
    pub fn router(&self) -> Result<Router, Error> {
        let metadata = Metadata::new(self.server.config(), &self.endpoints())?;
        let p = &self.paths;
        let mut router = Router::new()
            .route(&p.token, any(endpoints::token::<S, L>))
            .route(&p.introspect, any(endpoints::introspect::<S, L>))
            .route(&p.revoke, any(endpoints::revoke::<S, L>))
            .with_state(Arc::clone(&self.server))
            .merge(metadata::routes(metadata));
        if let Some(feed) = &self.feed {
            let state = FeedState { server: Arc::clone(&self.server), feed: feed.clone() };
            router = router.route(&p.events, any(feed::events::<S, L>).with_state(state));
        }
        if let Some(consent) = &self.consent {
            let pages = Pages { server: Arc::clone(&self.server), consent: Arc::clone(consent) };
            let limit = self.server.config().max_body_bytes;
            let authorize = get(authorize::endpoint::<S, L>)
                .post(authorize::endpoint::<S, L>)
                // The app's form extractors stop reading at the core's limit.
                .layer(DefaultBodyLimit::max(limit))
                .with_state(pages);
            router = router.route(&p.authorize, authorize);
        }
        Ok(router)
    }

    /// A layer for the app's own routes: only requests with a valid bearer
    /// token for `audience` (a resource identifier, RFC 8707), granted
    /// every scope in `scope` (space-separated; empty for none), reach
    /// them. See [`RequireBearer`].
    ///
    /// # Errors
    /// [`Error::Requirement`] when `audience` or `scope` is not valid.
    pub fn require(&self, audience: &str, scope: &str) -> Result<RequireBearer<AuthServer<S, L>>, Error> {
        RequireBearer::new(Arc::clone(&self.server), audience, scope)
    }
}
