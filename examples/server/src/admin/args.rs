//! The admin command line (clap derive): what each subcommand takes, and
//! the value parsers that turn flags into model types, so that a malformed
//! id or duration is a usage error (exit code 2) before anything is opened.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use gatehouse_core::model::{ClientId, GrantId, GrantType, Resource, Scope, Subject};

/// What `--help` says about exit codes, and the README repeats.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  the operation failed: the config or store could not be opened, a store
     error, no such client, a public client has no secret to rotate
  2  usage error: unknown subcommand or flag, a missing or malformed value,
     a client that `clients add` cannot register as given

Output is a human-readable table; --json prints one JSON document instead,
for scripts. A client secret is printed only by `clients add` and
`clients rotate-secret`, once: it is stored only as its digest.";

/// `gatehouse-example admin ...`: operate the store the config file names.
#[derive(Debug, Args)]
#[command(
    about = "Operate the store the config file names: clients, tokens, purge, keys",
    after_help = EXIT_CODES
)]
pub struct AdminArgs {
    /// Config file whose `store` to operate on (as the server takes it;
    /// default: the sample gatehouse.example.json)
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The admin subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// List, show, add, disable, enable, remove clients; rotate a secret
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Revoke tokens in bulk
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Delete expired tokens now (the server also does it every 60 s)
    Purge,
    /// Make token keys for the config file
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `admin clients ...`.
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Every registered client, in byte order of id
    List,
    /// One client's registration (never its secret)
    Show {
        /// The client id
        #[arg(value_parser = client_id)]
        id: ClientId,
    },
    /// Register a new client; a confidential one gets a new secret, shown once
    Add(AddArgs),
    /// Stop a client: it cannot authenticate and its tokens introspect inactive
    Disable {
        /// The client id
        #[arg(value_parser = client_id)]
        id: ClientId,
    },
    /// Undo `disable`: its unexpired, unrevoked tokens are active again
    Enable {
        /// The client id
        #[arg(value_parser = client_id)]
        id: ClientId,
    },
    /// Delete a client; its tokens introspect inactive
    Remove {
        /// The client id
        #[arg(value_parser = client_id)]
        id: ClientId,
    },
    /// Give a confidential client a new secret (shown once); the old one
    /// keeps working for --overlap
    RotateSecret {
        /// The client id
        #[arg(value_parser = client_id)]
        id: ClientId,
        /// How long the old secret keeps working, e.g. 24h, 30m, 7d; 0 ends
        /// it at once (a leaked secret)
        #[arg(long, value_name = "DURATION", value_parser = duration_secs)]
        overlap: u64,
    },
}

/// How a new client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientType {
    /// No secret (RFC 6749 §2.1): native and browser apps
    Public,
    /// Authenticates with a secret (generated and shown once)
    Confidential,
}

/// `admin clients add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The new client's id
    #[arg(value_parser = client_id)]
    pub id: ClientId,
    /// public or confidential
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: ClientType,
    /// A grant it may use (repeat): client_credentials, authorization_code,
    /// refresh_token
    #[arg(long = "grant", value_name = "GRANT", value_parser = grant_type)]
    pub grants: Vec<GrantType>,
    /// The most it may be granted, space-separated, e.g. "read write"
    #[arg(long, value_parser = scope)]
    pub scope: Option<Scope>,
    /// What it gets when it asks for no scope (within --scope)
    #[arg(long, value_parser = scope)]
    pub default_scope: Option<Scope>,
    /// A resource it may get tokens for (repeat), e.g. `https://api.example.com`
    #[arg(long = "audience", value_name = "URI", value_parser = resource)]
    pub audiences: Vec<Resource>,
    /// The audience of a token requested without `resource` (one of --audience)
    #[arg(long, value_name = "URI", value_parser = resource)]
    pub default_audience: Option<Resource>,
    /// A redirect URI for the authorization code flow (repeat)
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Make it a resource server that may introspect tokens for this
    /// resource (repeat; confidential only)
    #[arg(long = "resource-server", value_name = "URI", value_parser = resource)]
    pub resource_server: Vec<Resource>,
    /// Register it disabled
    #[arg(long)]
    pub disabled: bool,
}

/// `admin tokens ...`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Revoke every token of a subject (sign out everywhere), of a subject
    /// at one client, of a client, or of one grant
    Revoke(RevokeArgs),
}

/// `admin tokens revoke`: `--subject S [--client C] | --client C | --grant G`.
#[derive(Debug, Args)]
#[group(id = "what", required = true, multiple = true)]
pub struct RevokeArgs {
    /// Every grant of this resource owner (with --client: at that client only)
    #[arg(long, value_parser = subject, conflicts_with = "grant")]
    pub subject: Option<Subject>,
    /// Every grant of this client (with --subject: that subject's only)
    #[arg(long, value_parser = client_id, conflicts_with = "grant")]
    pub client: Option<ClientId>,
    /// One grant, by the grant_id of the audit log
    #[arg(long, value_parser = grant_id)]
    pub grant: Option<GrantId>,
}

/// `admin keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new random token key (32 bytes from the OS) for the config's
    /// `keys`; nothing is written
    Generate {
        /// The new key's id (it prefixes every token it signs)
        #[arg(long, value_name = "ID", default_value = "k2")]
        id: String,
    },
}

fn client_id(s: &str) -> Result<ClientId, String> {
    ClientId::new(s).map_err(|e| e.to_string())
}

fn subject(s: &str) -> Result<Subject, String> {
    Subject::new(s).map_err(|e| e.to_string())
}

fn grant_id(s: &str) -> Result<GrantId, String> {
    GrantId::parse(s).map_err(|e| e.to_string())
}

fn resource(s: &str) -> Result<Resource, String> {
    Resource::new(s).map_err(|e| e.to_string())
}

fn scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s).map_err(|e| e.to_string())
}

fn grant_type(s: &str) -> Result<GrantType, String> {
    GrantType::from_param(s)
        .ok_or_else(|| "one of client_credentials, authorization_code, refresh_token".to_owned())
}

/// `90s`, `30m`, `24h`, `7d` (or a bare number of seconds) as seconds.
pub(crate) fn duration_secs(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not a duration such as 30m, 24h or 7d");
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(per).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_units() {
        assert_eq!(duration_secs("0"), Ok(0));
        assert_eq!(duration_secs("90s"), Ok(90));
        assert_eq!(duration_secs("30m"), Ok(1800));
        assert_eq!(duration_secs("24h"), Ok(86_400));
        assert_eq!(duration_secs("7d"), Ok(604_800));
        for bad in ["", "h", "1.5h", "-1h", "1w", "1h30m", "99999999999999999999d"] {
            assert!(duration_secs(bad).is_err(), "{bad}");
        }
    }
}
