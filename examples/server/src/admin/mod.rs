//! `gatehouse-example admin ...`: the everyday operations on the store the
//! config file names, run as a separate process beside the servers (a
//! change reaches every running instance from the store at once: SQLite
//! through its notice file, Redis through client tracking).
//!
//! - [`args`]: the command line (clap), and [`EXIT_CODES`].
//! - `open`: opens the configured store and runs one command on it.
//! - `clients`: `clients list|show|add|disable|enable|remove|rotate-secret`.
//! - `add`: the client `clients add` registers, checked as the
//!   config file's clients are.
//! - `tokens`: `tokens revoke` and `purge`.
//! - `keys`: `keys generate`.
//! - `render`: tables and JSON for clients.
//!
//! Secrets: a client secret is printed only when it is made (`clients add`,
//! `clients rotate-secret`), once; registrations are shown without their
//! digests. Exit codes: see [`EXIT_CODES`].

mod add;
pub mod args;
mod clients;
mod keys;
mod open;
mod render;
mod tokens;

use std::path::Path;
use std::process::ExitCode;

use gatehouse_core::model::ClientId;
use serde_json::Value;

pub use args::{AdminArgs, EXIT_CODES};

/// Why an admin command failed. Messages never contain a secret, a token
/// or a Redis URL's password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The command line asks for something that cannot be done as given
    /// (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The config file could not be read or is invalid.
    #[error("{0}")]
    Config(#[from] crate::SettingsError),
    /// The store could not be opened or reached.
    #[error("cannot open the {kind} store: {reason}")]
    Store {
        /// The store's `type` in the config.
        kind: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The operation failed in the core or the store.
    #[error("{0}")]
    Failed(#[from] gatehouse_core::Error),
    /// No client has this id.
    #[error("no client {0}")]
    NotFound(ClientId),
    /// `clients add` of an id that is registered already.
    #[error("client {0} exists already: remove it first, or rotate its secret")]
    Exists(ClientId),
    /// `rotate-secret` of a public client.
    #[error("client {0} is public: it has no secret to rotate")]
    PublicClient(ClientId),
    /// The OS random source failed.
    #[error("cannot generate a secret: {0}")]
    Random(String),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl AdminError {
    /// 2 for a usage error, 1 for any other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }
}

impl From<gatehouse_core::StoreError> for AdminError {
    fn from(e: gatehouse_core::StoreError) -> Self {
        Self::Failed(e.into())
    }
}

/// What a command printed: text for people and a JSON document for
/// scripts; `note` goes to stderr in text mode (advice, never data).
#[derive(Debug)]
pub(crate) struct Output {
    human: String,
    json: Value,
    note: Option<String>,
}

impl Output {
    fn new(human: impl Into<String>, json: Value) -> Self {
        Self { human: human.into(), json, note: None }
    }

    fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Runs `args` on the store of the config at `args.config`, or `config`
/// when the admin command was given none: prints the result (a table, or
/// JSON with `--json`) on stdout and any error on stderr, and returns the
/// exit code of [`EXIT_CODES`].
pub fn run(args: AdminArgs, config: &Path) -> ExitCode {
    let json = args.json;
    let config = args.config.as_deref().unwrap_or(config);
    match open::run(args.command, config) {
        Ok(out) => {
            if json {
                println!("{}", out.json);
            } else {
                println!("{}", out.human);
                if let Some(note) = out.note {
                    eprintln!("gatehouse-example: {note}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gatehouse-example: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
