//! Opens the store the config names and runs one admin command on it: the
//! one `match` on the store type of the admin command, as
//! [`crate::start`] has for the server. `keys generate` needs no store.

use std::path::Path;

use gatehouse_core::{AuthServer, ClientRegistry, TokenStore};

use super::args::{AdminCommand, KeysCommand, TokensCommand};
use super::{clients, keys, tokens, AdminError, Output};
use crate::settings::{Settings, StoreSettings};

/// Runs `command`, opening the store of the config file at `config` when
/// it needs one.
///
/// # Errors
/// [`AdminError`].
pub(crate) fn run(command: AdminCommand, config: &Path) -> Result<Output, AdminError> {
    if let AdminCommand::Keys(KeysCommand::Generate { id }) = &command {
        return keys::generate(id);
    }
    let settings = Settings::load(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(AdminError::Runtime)?;
    runtime.block_on(on_store(settings, command))
}

/// Opens the configured store and runs `command` on it.
async fn on_store(settings: Settings, command: AdminCommand) -> Result<Output, AdminError> {
    let (keys, config) = (settings.keys, settings.server);
    match settings.store {
        StoreSettings::Memory => Err(AdminError::Store {
            kind: "memory",
            reason: "a memory store lives inside the server process, out of reach of this command; \
                     use the SQLite or Redis store"
                .to_owned(),
        }),
        #[cfg(feature = "sqlite")]
        StoreSettings::Sqlite { path } => {
            // Opening would create a missing file: an empty store in the
            // wrong directory (a relative path is resolved against the
            // current one) would hide the real one.
            if !path.is_file() {
                return Err(AdminError::Store {
                    kind: "sqlite",
                    reason: format!(
                        "{}: no such file (a relative `store.path` is resolved against the current \
                         directory: run this where the server runs, or start the server once first)",
                        path.display()
                    ),
                });
            }
            let store = gatehouse_sqlite::SqliteStore::open(&path).map_err(|e| AdminError::Store {
                kind: "sqlite",
                reason: crate::start::sqlite_reason(&path, &e),
            })?;
            exec(&AuthServer::new(store, keys, config), command).await
        }
        #[cfg(feature = "redis")]
        StoreSettings::Redis { url, prefix } => {
            let store =
                gatehouse_redis::RedisStore::connect(&url, &prefix).await.map_err(|e| AdminError::Store {
                    kind: "redis",
                    reason: format!("{}: {e}", crate::start::without_password(&url)),
                })?;
            exec(&AuthServer::new(store, keys, config), command).await
        }
        #[allow(unreachable_patterns)]
        other => Err(AdminError::Store {
            kind: other.kind(),
            reason: other.compiled_in().err().map_or_else(|| "not compiled in".to_owned(), |e| e.to_string()),
        }),
    }
}

/// Runs `command` with `server`'s store and clock.
async fn exec<S: TokenStore + ClientRegistry>(
    server: &AuthServer<S>,
    command: AdminCommand,
) -> Result<Output, AdminError> {
    match command {
        AdminCommand::Clients(c) => clients::exec(server, c).await,
        AdminCommand::Tokens(TokensCommand::Revoke(r)) => tokens::revoke(server, r).await,
        AdminCommand::Purge => tokens::purge(server).await,
        AdminCommand::Keys(KeysCommand::Generate { id }) => keys::generate(&id),
    }
}
