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
    /// The settings are not safe on the address listened on (the sample
    /// key off loopback, see [`Settings::check_exposure`]).
    #[error("{0}")]
    Refused(crate::SettingsError),
    /// Registering the configured clients failed.
    #[error("cannot register clients: {0}")]
    Register(#[from] StoreError),
    /// The HTTP server failed.
    #[error("server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// Opens the store of `settings.store`, seeds the clients ([`crate::seed`]) and serves on
/// `listener` until `shutdown` completes (see [`App::serve`]). First refuses
/// to serve the sample key on a non-loopback address.
///
/// - `sqlite`: opens (creating on first start) the file; the in-process
///   fishing limiter.
/// - `memory`: a fresh in-memory store; the in-process limiter.
/// - `redis`: connects (failing at once when Redis cannot be reached) and
///   uses the shared `gatehouse_redis::RedisLimiter` (the `redis` feature), so a
///   caller throttled on one instance is throttled on every instance using
///   the same Redis and key prefix; and a `gatehouse_redis::RedisFeedRelay`,
///   so each instance's revocation feed carries every instance's
///   revocations.
///
/// # Errors
/// [`StartError`]: the settings are refused on this address, the store
/// could not be opened, a client could not be registered, or serving
/// failed.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    settings.check_exposure(listener.local_addr()?).map_err(StartError::Refused)?;
    match settings.store.clone() {
        StoreSettings::Memory => {
            println!("gatehouse example: tokens in memory (lost when the server stops)");
            let app = App::new(gatehouse_memory::MemoryStore::new(), settings).await?;
            Ok(app.serve(listener, shutdown).await?)
        }
        #[cfg(feature = "sqlite")]
        StoreSettings::Sqlite { path } => {
            let store = gatehouse_sqlite::SqliteStore::open(&path)
                .map_err(|e| StartError::Store { kind: "sqlite", reason: sqlite_reason(&path, &e) })?;
            println!("gatehouse example: tokens in SQLite file {}", path.display());
            let app = App::new(store, settings).await?;
            Ok(app.serve(listener, shutdown).await?)
        }
        #[cfg(feature = "redis")]
        StoreSettings::Redis { url, prefix } => {
            let store = gatehouse_redis::RedisStore::connect(&url, &prefix).await.map_err(|e| {
                StartError::Store { kind: "redis", reason: format!("{}: {e}", without_password(&url)) }
            })?;
            println!("gatehouse example: tokens in Redis, key prefix {prefix:?}");
            let limiter = store.limiter(settings.server.limiter);
            // Every instance on this Redis and prefix shares its
            // revocation events, so a resource server reading any one
            // instance's feed hears of revocations made on the others.
            let feed = crate::new_feed()?;
            let relay = gatehouse_redis::RedisFeedRelay::spawn(&store, feed.clone(), Default::default())
                .map_err(|e| StartError::Store { kind: "redis", reason: e.to_string() })?;
            let app = App::with_feed(store, limiter, settings, feed, relay).await?;
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

/// Why a SQLite file could not be opened, saying so plainly when its
/// directory is missing (SQLite itself only says "unable to open").
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite_reason(path: &std::path::Path, e: &dyn std::fmt::Display) -> String {
    match path.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        Some(dir) => format!(
            "{}: the directory {} does not exist: create it, or change `store.path` ({e})",
            path.display(),
            dir.display()
        ),
        None => format!("{}: {e}", path.display()),
    }
}

/// A Redis URL fit to print: any `user:password@` is replaced by `***@`.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<the configured URL, which is not scheme://host>".to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_are_printed_without_credentials() {
        assert_eq!(without_password("redis://:pw@10.0.0.1:6379/0"), "redis://***@10.0.0.1:6379/0");
        assert_eq!(without_password("rediss://user:p@ss@h:1/"), "rediss://***@h:1/");
        assert_eq!(without_password("redis://h:6379/"), "redis://h:6379/");
        assert_eq!(without_password("redis+unix:///run/redis.sock"), "redis+unix:///run/redis.sock");
        assert!(!without_password(":pw@h").contains("pw"));
    }
}
