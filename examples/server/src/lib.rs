//! The gatehouse example server: an axum app embedding
//! [`gatehouse_core::AuthServer`], with `POST /oauth/token`,
//! `POST /oauth/introspect` and `POST /oauth/revoke`; the authorization
//! code flow's `GET`/`POST /oauth/authorize` behind a demo login and
//! consent page; a protected API, `GET /api/me`, that validates bearer
//! tokens; the RFC 8414 metadata document at
//! `/.well-known/oauth-authorization-server`; and health checks at
//! `/health/live` and `/health/ready`.
//!
//! - [`settings`]: the JSON config file (listen address, store, core
//!   settings, keys, clients, demo users).
//! - [`router`]: every route, on gatehouse-axum's router (generic over the
//!   store and limiter), with the demo login and consent page as its
//!   [`Consent`](gatehouse_axum::Consent) and `/api/me` behind its bearer
//!   layer.
//! - [`login`]: the demo users, a stand-in for the app's own login.
//! - [`health`]: liveness and readiness.
//! - [`runtime`]: the async runtime, current-thread on one CPU.
//! - [`seed`]: where clients come from (the config file seeds an empty
//!   store; the store is the source of truth after that).
//! - [`App`]: seeds the clients, serves, purges expired tokens and
//!   watches the store's seed marker in the background.
//! - [`run`]: opens the configured store (SQLite, memory or Redis) and
//!   serves with it. This is the one place a concrete store is chosen;
//!   everything else works with any `S: TokenStore + ClientRegistry` and
//!   `L: FishingLimiter`.
//!
//! Cargo features: `sqlite` (default) and `redis` (off by default) compile
//! in those stores; the memory store is always there.
#![forbid(unsafe_code)]

// Built without SQLite and Redis (as `gatehouse-rs-client`'s tests build
// it), the admin commands have no store to run on: they only refuse, and
// the code behind them is unused.
#[cfg_attr(not(any(feature = "sqlite", feature = "redis")), allow(dead_code, unused_variables))]
pub mod admin;
mod api;
mod consent;
pub mod health;
pub mod log_text;
pub mod log_time;
pub mod log_writer;
pub mod login;
mod router;
pub mod runtime;
pub mod seed;
pub mod settings;
mod start;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::model::{Client, SecretDigest};
use gatehouse_core::store::purge_expired_all;
use gatehouse_core::{
    AuditSink, AuthServer, ClientRegistry, FishingLimiter, MemoryLimiter, RevocationFeed, StoreError,
    TokenStore,
};
use tokio::net::TcpListener;

pub use api::{API_REALM, API_RESOURCE, API_SCOPE};
pub use login::DemoUsers;
pub use router::router;
pub use settings::{Settings, SettingsError, StoreSettings};
pub use start::{run, StartError};

// The root README's Rust examples compile as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// How often expired tokens are purged.
pub const PURGE_EVERY: Duration = Duration::from_secs(60);
/// Records deleted per purge call; the purge loops until a call deletes
/// fewer, so each call stays short.
pub const PURGE_BATCH: usize = 1000;

/// The example app: an [`AuthServer`] over the store `S` and the fishing
/// limiter `L`, with the configured clients registered, and the demo users
/// of its login page.
pub struct App<S, L = MemoryLimiter> {
    server: Arc<AuthServer<S, L>>,
    users: Arc<DemoUsers>,
    /// The configured clients, to seed the store again if it loses them.
    clients: Arc<[Client]>,
    seed_check_every: Duration,
    /// What resource servers must forget, served at `/oauth/events`.
    feed: RevocationFeed,
}

/// Revocation events kept for resource servers that resume their long
/// poll; one that falls further behind flushes its whole cache.
pub const FEED_CAPACITY: usize = 4096;

/// A revocation feed of [`FEED_CAPACITY`] events.
///
/// # Errors
/// [`StoreError::Backend`] when the OS random source (for the stream id)
/// fails; it would fail the keyring and every token too.
pub fn new_feed() -> Result<RevocationFeed, StoreError> {
    RevocationFeed::new(FEED_CAPACITY).map_err(StoreError::backend)
}

impl<S: TokenStore + ClientRegistry> App<S> {
    /// Builds the server from the settings, with an in-process fishing
    /// limiter, and seeds `store` with their clients as [`seed`] says (an
    /// unseeded store gets the clients it lacks; a seeded one is left as it
    /// is, unless [`Settings::reapply_clients`]).
    ///
    /// # Errors
    /// [`StoreError`] when seeding fails.
    pub async fn new(store: S, settings: Settings) -> Result<Self, StoreError> {
        let limiter = MemoryLimiter::new(settings.server.limiter);
        App::with_limiter(store, limiter, settings).await
    }
}

impl<S: TokenStore + ClientRegistry, L: FishingLimiter> App<S, L> {
    /// Like [`App::new`], with this fishing limiter (e.g. one shared by
    /// every instance on the same Redis).
    ///
    /// # Errors
    /// [`StoreError`] when seeding fails.
    pub async fn with_limiter(store: S, limiter: L, settings: Settings) -> Result<Self, StoreError> {
        let feed = new_feed()?;
        App::with_feed(store, limiter, settings, feed.clone(), feed).await
    }

    /// Like [`App::with_limiter`], serving `feed` at `/oauth/events` and
    /// handing the server's audit events to `sink`, which must append
    /// revocations to `feed`: the feed itself, or a relay that also shares
    /// them with other instances (`gatehouse_redis::RedisFeedRelay`).
    ///
    /// # Errors
    /// [`StoreError`] when seeding fails.
    pub async fn with_feed(
        store: S,
        limiter: L,
        settings: Settings,
        feed: RevocationFeed,
        sink: impl AuditSink,
    ) -> Result<Self, StoreError> {
        // Every decision, replay and store failure goes to `tracing`; the
        // binary's subscriber writes it (see `main.rs`). Revocations also
        // go to the feed, for resource servers' caches.
        let server = AuthServer::new(store, settings.keys, settings.server)
            .with_limiter(limiter)
            .with_audit((sink, gatehouse_tracing::TracingSink));
        let clients: Arc<[Client]> = settings.clients.into();
        let seeding = seed::seed(server.store(), &clients, settings.reapply_clients, server.now()).await?;
        println!("gatehouse example: {}", seeding.describe());
        Ok(Self {
            server: Arc::new(server),
            users: Arc::new(settings.demo_users),
            clients,
            seed_check_every: settings.seed_check_every,
            feed,
        })
    }

    /// The embedded server, e.g. to reach the store.
    pub fn server(&self) -> &Arc<AuthServer<S, L>> {
        &self.server
    }

    /// The revocation feed the server writes and `/oauth/events` serves.
    pub fn feed(&self) -> &RevocationFeed {
        &self.feed
    }

    /// Serves on `listener` until `shutdown` completes, then finishes the
    /// requests in flight. Prints the address it listens on, and purges
    /// expired tokens every [`PURGE_EVERY`] meanwhile.
    ///
    /// # Errors
    /// The I/O error that stopped the server.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        println!("gatehouse example listening on http://{addr}");
        // `Settings` validated the config, so this fails only on a bug.
        let app = router(Arc::clone(&self.server), Arc::clone(&self.users), self.feed.clone())
            .map_err(std::io::Error::other)?;
        let purge = tokio::spawn(purge_loop(Arc::clone(&self.server), PURGE_EVERY));
        let watch = tokio::spawn(seed_watch(Arc::clone(&self.server), self.clients, self.seed_check_every));
        let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
        purge.abort();
        watch.abort();
        result
    }
}

/// Checks the store's seed marker every `every` (the first check one
/// `every` after start, which just seeded); when it is gone, the store lost
/// its data: says so on stderr and seeds it again from `clients` (see
/// [`seed`]). A store that cannot be reached is left to readiness, which
/// reports it.
pub async fn seed_watch<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    server: Arc<AuthServer<S, L>>,
    clients: Arc<[Client]>,
    every: Duration,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !matches!(server.store().seeded_at().await, Ok(None)) {
            continue;
        }
        eprintln!(
            "gatehouse example: error: {}; every token issued before is gone, and changes made to clients              at run time since the first start are lost",
            seed::LOST_DATA
        );
        match seed::seed(server.store(), &clients, false, server.now()).await {
            Ok(done) => eprintln!("gatehouse example: {}", done.describe()),
            Err(e) => {
                eprintln!("gatehouse example: seeding the store again failed (retried in {every:?}): {e}")
            }
        }
    }
}

/// Deletes expired tokens every `every`, in batches of [`PURGE_BATCH`].
/// A failure is reported and retried at the next tick; the error message
/// never carries a token (the store contract forbids it).
pub async fn purge_loop<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    server: Arc<AuthServer<S, L>>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = purge_once(&server).await {
            eprintln!("gatehouse example: purging expired tokens failed: {e}");
        }
    }
}

/// One full purge ([`purge_expired_all`]): every record expired by now, in
/// batches of [`PURGE_BATCH`]. Returns how many records it deleted.
///
/// # Errors
/// The first [`StoreError`].
pub async fn purge_once<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    server: &AuthServer<S, L>,
) -> Result<usize, StoreError> {
    purge_expired_all(server.store(), server.now(), PURGE_BATCH).await
}

/// The `sha256:` digest of a client secret for the config file. Only the
/// last line ending is removed from `input`, so `echo SECRET |` works.
///
/// # Errors
/// [`SettingsError`] when the secret is shorter than 32 bytes; the message
/// never contains it.
pub fn hash_secret(input: &str) -> Result<String, SettingsError> {
    let secret = input.strip_suffix('\n').map_or(input, |s| s.strip_suffix('\r').unwrap_or(s));
    SecretDigest::from_secret(secret).map(|d| d.to_hex()).map_err(|e| SettingsError::from(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_secret_strips_one_line_ending() {
        let s = "0123456789abcdef0123456789abcdef";
        let d = hash_secret(s).unwrap();
        assert!(d.starts_with("sha256:") && d.len() == 7 + 64);
        assert_eq!(hash_secret(&format!("{s}\n")).unwrap(), d);
        assert_eq!(hash_secret(&format!("{s}\r\n")).unwrap(), d);
        assert_ne!(hash_secret(&format!("{s}\n\n")).unwrap(), d);
        let e = hash_secret("short-secret\n").unwrap_err().to_string();
        assert!(e.contains("at least 32") && !e.contains("short-secret"), "{e}");
    }
}
