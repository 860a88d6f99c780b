//! [`run`]: opens the store named by the config and serves with it. The
//! one `match` on the store type lives here; each arm hands a concrete
//! store (and limiter) to the generic [`App`].

use std::future::Future;

use gatehouse_core::StoreError;
use tokio::net::TcpListener;

use crate::settings::{Settings, StoreSettings};
use crate::App;

/// Why the example could not start, or stopped. Messages never contain a
/// token, a secret or a Redis URL (which may hold a password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The store could not be opened or reached at start.
    #[error("cannot open the {kind} store: {reason}")]
    Store {
        /// The store's `type` in the config.
        kind: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The store type is not compiled into this build.
    #[error("{0}")]
    NotCompiled(crate::SettingsError),
    /// Registering the configured clients failed.
    #[error("cannot register clients: {0}")]
    Register(#[from] StoreError),
    /// The HTTP server failed.
    #[error("server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// Opens the store of `settings.store`, registers the clients and serves on
/// `listener` until `shutdown` completes (see [`App::serve`]).
///
/// - `sqlite`: opens (creating on first start) the file; the in-process
///   fishing limiter.
/// - `memory`: a fresh in-memory store; the in-process limiter.
/// - `redis`: connects (failing at once when Redis cannot be reached) and
///   uses the shared [`RedisLimiter`](gatehouse_redis::RedisLimiter), so a
///   caller throttled on one instance is throttled on every instance using
///   the same Redis and key prefix.
///
/// # Errors
/// [`StartError`]: the store could not be opened, a client could not be
/// registered, or serving failed.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    match settings.store.clone() {
        StoreSettings::Memory => {
            println!("gatehouse example: tokens in memory (lost when the server stops)");
            let app = App::new(gatehouse_memory::MemoryStore::new(), settings).await?;
            Ok(app.serve(listener, shutdown).await?)
        }
        #[cfg(feature = "sqlite")]
        StoreSettings::Sqlite { path } => {
            let store = gatehouse_sqlite::SqliteStore::open(&path).map_err(|e| StartError::Store {
                kind: "sqlite",
                reason: format!("{}: {e}", path.display()),
            })?;
            println!("gatehouse example: tokens in SQLite file {}", path.display());
            let app = App::new(store, settings).await?;
            Ok(app.serve(listener, shutdown).await?)
        }
        #[cfg(feature = "redis")]
        StoreSettings::Redis { url, prefix } => {
            let store = gatehouse_redis::RedisStore::connect(&url, &prefix)
                .await
                .map_err(|e| StartError::Store { kind: "redis", reason: e.to_string() })?;
            println!("gatehouse example: tokens in Redis, key prefix {prefix:?}");
            let limiter = store.limiter(settings.server.limiter);
            let app = App::with_limiter(store, limiter, settings).await?;
            Ok(app.serve(listener, shutdown).await?)
        }
        // Settings refuse these already; kept so that a build without the
        // feature still fails closed with the same message.
        #[allow(unreachable_patterns)]
        other => Err(StartError::NotCompiled(
            other.compiled_in().err().unwrap_or_else(|| format!("store {:?}", other.kind()).into()),
        )),
    }
}
