//! The example's config file: where to listen, the core's [`Config`], the
//! token keys and the registered clients, in one JSON document.
//!
//! ```json
//! {
//!   "listen": "127.0.0.1:8080",
//!   "issuer": "http://127.0.0.1:8080",
//!   "access_token_ttl": 3600,
//!   "clock_skew": 5,
//!   "limiter": { "burst": 20, "per_minute": 60 },
//!   "store": { "type": "sqlite", "path": "gatehouse.db" },
//!   "keys": { "signing": { "id": "k1", "secret_b64": "..." }, "verify_only": [] },
//!   "clients": [ { "id": "demo-client", "auth": { "type": "confidential", "secret": "sha256:..." } } ],
//!   "demo_users": [ { "username": "alice", "password_digest": "sha256:..." } ],
//!   "log": { "format": "text", "filter": "info" }
//! }
//! ```
//!
//! `log` (optional) chooses how the audit trail and other logs are written
//! to standard error ([`LogSettings`]): `text` (the default) or `json`, one
//! object a line; `filter` is a `RUST_LOG`-style directive (default
//! `info`), and the `RUST_LOG` environment variable, when set, wins;
//! `batch_ms` (default 50, at most 1000) is how long an `info` line may wait
//! to be written with others (0: every line at once; `warn` and `error`
//! lines never wait).
//!
//! `issuer`, `keys` and `clients` are required. `store` picks the token
//! store ([`StoreSettings`]); without it the example uses SQLite in
//! `gatehouse.db`. `demo_users` (optional) are the accounts of the built-in
//! demo login page ([`crate::login`]). Every other field is a field of the
//! core's [`Config`], checked by [`Config::validate`].
//!
//! Strict: an unknown field anywhere is an error naming its path and the
//! fields valid there, so a typo is never silently ignored. Every error
//! names the field's path and the fix, never a key or secret value.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use gatehouse_core::model::{Client, ClientId, GrantType, Resource, Scope, SecretDigest, Subject};
use gatehouse_core::{constant_time_eq, Config, KeyId, Keyring};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::login::{DemoUser, DemoUsers};

/// Where the example listens when neither the file nor `--listen` says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The sample config shipped with the example, by absolute path, so that
/// `cargo run -p gatehouse-example-server` finds it from any directory.
pub const SAMPLE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/gatehouse.example.json");

/// The SQLite file used when the config has no `store`, relative to the
/// current directory.
pub const DEFAULT_SQLITE_PATH: &str = "gatehouse.db";

/// The Redis key prefix used when a `redis` store names none.
pub const DEFAULT_REDIS_PREFIX: &str = "gatehouse:";

/// The signing key of the sample config, published in this repository:
/// anyone can mint tokens with it.
const SAMPLE_KEY: &[u8] = b"gatehouse-demo-key-REPLACE-ME-0123456789";

/// The fields of the config file that are not the core's [`Config`].
const EXAMPLE_FIELDS: [&str; 7] = ["_comment", "listen", "store", "keys", "clients", "demo_users", "log"];

/// How to make a token key.
const MAKE_KEY: &str = "32 random bytes in base64, e.g. from `head -c 32 /dev/urandom | base64`";

/// What to do about a digest that is not one (often the secret itself).
const DIGEST_FIX: &str = "must be a digest (\"sha256:\" and 64 hex digits), never the secret itself: \
    print one with `gatehouse-example hash-secret` (the secret on stdin), or a new secret and its \
    digest with `gatehouse-example hash-secret --generate`";

/// A config file that could not be used. The message is meant for the
/// operator and never contains a key or secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(String);

impl From<String> for SettingsError {
    fn from(msg: String) -> Self {
        Self(msg)
    }
}

/// Everything the example reads from its config file, validated.
pub struct Settings {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Where tokens and clients are kept.
    pub store: StoreSettings,
    /// The core's settings (issuer, TTLs, clock skew, limiter, body limit).
    pub server: Config,
    /// The token keys.
    pub keys: Keyring,
    /// The clients that seed an unseeded store (see [`crate::seed`]).
    pub clients: Vec<Client>,
    /// The accounts of the demo login page.
    pub demo_users: DemoUsers,
    /// Write every configured client over the store's registration at
    /// start (`--reapply-clients`), rather than seeding only an unseeded
    /// store (see [`crate::seed`]). Not in the file: a setting left on
    /// would undo every run-time change at each restart.
    pub reapply_clients: bool,
    /// How often a running instance checks that the store still has its
    /// seed marker ([`DEFAULT_SEED_CHECK`]; see [`crate::seed`]).
    pub seed_check_every: std::time::Duration,
    /// How to log.
    pub log: LogSettings,
    /// Whether any key in `keys` is the published [`SAMPLE_KEY`].
    sample_key: bool,
}

/// How often an instance checks the store's seed marker by default.
pub const DEFAULT_SEED_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("store", &self.store)
            .field("server", &self.server)
            .field("keys", &"<redacted>")
            .field("clients", &self.clients.iter().map(|c| c.id.as_str()).collect::<Vec<_>>())
            .field("demo_users", &self.demo_users)
            .field("log", &self.log)
            .finish()
    }
}

impl Settings {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`SettingsError`] naming the file and what is wrong with it.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(format!("cannot read config file {}: {e}", path.display())))?;
        Self::from_json(&text).map_err(|e| fail(format!("config file {}: {}", path.display(), e.0)))
    }

    /// Parses and validates a config document.
    ///
    /// # Errors
    /// [`SettingsError`] naming the field's path and the fix.
    pub fn from_json(text: &str) -> Result<Self, SettingsError> {
        let root: Value = serde_json::from_str(text).map_err(|e| fail(format!("invalid JSON: {e}")))?;
        let Value::Object(map) = root else {
            return Err(fail(
                "the config must be a JSON object: {\"issuer\": …, \"keys\": …, \"clients\": […]}",
            ));
        };
        // The core's fields, as a serialized default `Config` names them.
        let Ok(Value::Object(defaults)) = serde_json::to_value(Config::default()) else {
            return Err(fail("internal error: the core's Config is not an object"));
        };
        let is_ours = |k: &str| EXAMPLE_FIELDS.contains(&k);
        if let Some(k) = map.keys().find(|k| !is_ours(k) && !defaults.contains_key(*k)) {
            let valid = EXAMPLE_FIELDS[1..].iter().copied().chain(defaults.keys().map(String::as_str));
            let valid: Vec<String> = valid.map(|v| format!("`{v}`")).collect();
            return Err(fail(format!("unknown field `{k}`; valid fields here: {}", valid.join(", "))));
        }
        let (ours, core): (Map<String, Value>, Map<String, Value>) =
            map.into_iter().filter(|(k, _)| k != "_comment").partition(|(k, _)| is_ours(k));
        let file: FileDoc = de(Value::Object(ours))?;
        let listen = parse_listen(file.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
        let store = file.store.map_or(Ok(StoreSettings::default()), StoreDoc::settings)?;
        store.compiled_in()?;
        let (keys, sample_key) = file.keys.keyring()?;
        let clients = parse_clients(file.clients)?;
        let demo_users = parse_demo_users(file.demo_users)?;
        if !core.contains_key("issuer") {
            return Err(fail(
                "`issuer` is missing: the URL clients and resource servers know this server by, \
                 e.g. \"https://auth.example.com\" (every token and redirect carries it)",
            ));
        }
        let server: Config = de(Value::Object(core))?;
        server.validate().map_err(|e| match e {
            gatehouse_core::Error::Config(msg) => fail(msg),
            other => fail(other.to_string()),
        })?;
        Ok(Self {
            listen,
            store,
            server,
            keys,
            clients,
            demo_users,
            log: file.log,
            reapply_clients: false,
            seed_check_every: DEFAULT_SEED_CHECK,
            sample_key,
        })
    }

    /// Refuses to serve on `addr` while a token key is the published
    /// sample key, unless `addr` is a loopback address: with that key
    /// anyone could mint tokens this server accepts.
    ///
    /// # Errors
    /// [`SettingsError`] saying how to make a real key.
    pub fn check_exposure(&self, addr: SocketAddr) -> Result<(), SettingsError> {
        if !self.sample_key || addr.ip().is_loopback() {
            return Ok(());
        }
        Err(fail(format!(
            "refusing to listen on {addr}: the config's token key is the published sample key, so \
             anyone could mint tokens this server accepts. Make a real key with \
             `head -c 32 /dev/urandom | base64` and put it in `keys.signing.secret_b64` (or listen on \
             127.0.0.1 to try the demo)"
        )))
    }

    /// A warning when `--listen addr` moves the server away from the
    /// config's `listen` while `issuer` still names that address: tokens
    /// and redirects would carry the old address, and redirect URIs naming
    /// it would point there too.
    pub fn listen_override_warning(&self, addr: SocketAddr) -> Option<String> {
        let old = self.listen;
        let named = |url: &str| {
            let authority = url.split_once("://").map_or("", |(_, r)| r.split('/').next().unwrap_or(""));
            authority == old.to_string() || authority == format!("localhost:{}", old.port())
        };
        if addr == old || !named(&self.server.issuer) {
            return None;
        }
        let redirecting: Vec<&str> = (self.clients.iter())
            .filter(|c| c.redirect_uris.iter().any(|u| named(u)))
            .map(|c| c.id.as_str())
            .collect();
        let also = match redirecting.as_slice() {
            [] => String::new(),
            ids => format!(", as do the redirect URIs of {}", ids.join(", ")),
        };
        Some(format!(
            "--listen {addr} moves the server, but `issuer` ({}) still names the config's address {old}{also}. \
             Set `issuer` (and `redirect_uris`) in the config to the URL clients reach this server at.",
            self.server.issuer
        ))
    }
}

fn fail(msg: impl Into<String>) -> SettingsError {
    SettingsError(msg.into())
}

/// `v` as a `T`, with the path of the field at fault (`clients[2].auth`)
/// in every error, and for a missing field what to write there. serde's
/// messages quote only a value of the wrong type, never a string where a
/// string belongs (where secrets are).
fn de<T: DeserializeOwned>(v: Value) -> Result<T, SettingsError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        let field = msg.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`'));
        match (path.as_str(), field) {
            (".", Some(f)) => fail(format!("`{f}` is missing: {}", hint("", f))),
            (_, Some(f)) => fail(format!("`{path}.{f}` is missing: {}", hint(&path, f))),
            (".", None) => fail(msg),
            (_, None) => fail(format!("`{path}`: {msg}")),
        }
    })
}

/// What to write in field `field` of the object at `path`.
fn hint(path: &str, field: &str) -> &'static str {
    match field {
        "keys" => r#"{"signing": {"id": "k1", "secret_b64": "..."}}"#,
        "signing" => r#"{"id": "k1", "secret_b64": "..."}"#,
        "clients" => "a list of clients, [] for none",
        "id" if path.starts_with("keys") => "a short key name such as \"k1\"",
        "id" => "the client's id, e.g. \"my-app\"",
        "secret_b64" => MAKE_KEY,
        "auth" => r#"{"type": "confidential", "secret": "sha256:..."} or {"type": "public"}"#,
        "type" if path == "store" => "\"sqlite\", \"memory\" or \"redis\"",
        "type" => "\"confidential\" (with a secret) or \"public\" (without)",
        "secret" | "password_digest" => DIGEST_FIX,
        "resources" => "the resource identifiers it introspects for, e.g. [\"https://api.example.com\"]",
        "username" => "e.g. \"alice\"",
        "burst" | "per_minute" => "the limiter takes both, e.g. {\"burst\": 20, \"per_minute\": 60}",
        _ => "add it",
    }
}

/// The example's fields of the config file; the other top-level fields
/// are the core's [`Config`]'s.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    listen: Option<String>,
    store: Option<StoreDoc>,
    keys: KeysDoc,
    clients: Vec<ClientDoc>,
    #[serde(default)]
    demo_users: Vec<UserDoc>,
    #[serde(default)]
    log: LogSettings,
}

/// The config file's `log`: how the example writes its logs (the audit
/// trail of `gatehouse-tracing`, and its own messages) to standard error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object such as {\"format\": \"json\", \"filter\": \"info,gatehouse::audit=warn\"}"
)]
pub struct LogSettings {
    /// Text or JSON lines.
    #[serde(default)]
    pub format: LogFormat,
    /// A `RUST_LOG`-style filter (`info`, `warn,gatehouse::audit=info`,
    /// …), used when the `RUST_LOG` environment variable is not set.
    #[serde(default = "default_filter")]
    pub filter: String,
    /// At most how many milliseconds an `info` line waits in the batch
    /// before it is written (`warn` and `error` lines never wait; see
    /// [`LogWriter`](crate::log_writer::LogWriter)); 0 writes every line at
    /// once. At most [`MAX_BATCH_MS`].
    #[serde(default = "default_batch_ms", deserialize_with = "batch_ms")]
    pub batch_ms: u64,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: LogFormat::default(), filter: default_filter(), batch_ms: default_batch_ms() }
    }
}

fn default_filter() -> String {
    "info".to_owned()
}

/// The longest `log.batch_ms`: a batch is a write-out optimisation, not a
/// place for lines to sit.
pub const MAX_BATCH_MS: u64 = 1000;

fn default_batch_ms() -> u64 {
    50
}

fn batch_ms<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let ms = u64::deserialize(d)?;
    if ms > MAX_BATCH_MS {
        return Err(D::Error::custom(format_args!("must be at most {MAX_BATCH_MS} (milliseconds)")));
    }
    Ok(ms)
}

/// How each log line is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

/// A `sha256:` digest; anything else (often the secret itself) is refused
/// without quoting it.
struct Digest(SecretDigest);

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SecretDigest::from_hex(&text).map(Self).map_err(|_| D::Error::custom(DIGEST_FIX))
    }
}

/// A string that must not be empty.
struct NonEmpty(String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(D::Error::custom("must be a non-empty string"));
        }
        Ok(Self(s))
    }
}

/// The config's `store` object: which backend keeps the tokens and clients.
///
/// ```json
/// {"type": "sqlite", "path": "gatehouse.db"}
/// {"type": "memory"}
/// {"type": "redis", "url": "redis://127.0.0.1:6379/", "prefix": "gatehouse:"}
/// ```
///
/// `sqlite` is the default (and its `path` defaults to
/// [`DEFAULT_SQLITE_PATH`]); `redis` needs the example built with the
/// `redis` feature, `sqlite` the (default) `sqlite` feature. Choosing one
/// that is compiled out is a config error.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreSettings {
    /// One SQLite file, created on first start. A relative path is resolved
    /// against the current directory of the process.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// In process memory: tokens are lost when the server stops.
    Memory,
    /// A Redis server shared by any number of instances, which then also
    /// share the token-fishing limiter.
    Redis {
        /// `redis://[:password@]host:port/[db]`; never printed, since it may
        /// hold a password.
        url: String,
        /// Prefix of every key (without `{` or `}`); [`DEFAULT_REDIS_PREFIX`]
        /// when absent.
        prefix: String,
    },
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self::Sqlite { path: PathBuf::from(DEFAULT_SQLITE_PATH) }
    }
}

impl fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            Self::Memory => f.write_str("Memory"),
            // The URL may carry a password.
            Self::Redis { prefix, .. } => {
                f.debug_struct("Redis").field("url", &"<redacted>").field("prefix", prefix).finish()
            }
        }
    }
}

impl StoreSettings {
    /// The store's `type` name in the config file.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Memory => "memory",
            Self::Redis { .. } => "redis",
        }
    }

    /// Refuses a store whose cargo feature is compiled out.
    pub(crate) fn compiled_in(&self) -> Result<(), SettingsError> {
        match self {
            Self::Memory => Ok(()),
            Self::Sqlite { .. } => require_feature("sqlite", cfg!(feature = "sqlite")),
            Self::Redis { .. } => require_feature("redis", cfg!(feature = "redis")),
        }
    }
}

fn require_feature(kind: &str, compiled: bool) -> Result<(), SettingsError> {
    if compiled {
        Ok(())
    } else {
        Err(fail(format!(
            "store type \"{kind}\" is not compiled into this build: rebuild with `--features {kind}` \
             (e.g. cargo run -p gatehouse-example-server --features {kind})"
        )))
    }
}

/// The `store` object as written.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object such as {\"type\": \"sqlite\", \"path\": \"gatehouse.db\"}"
)]
struct StoreDoc {
    #[serde(rename = "type")]
    kind: StoreKind,
    path: Option<NonEmpty>,
    url: Option<NonEmpty>,
    prefix: Option<NonEmpty>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum StoreKind {
    Sqlite,
    Memory,
    Redis,
}

impl StoreDoc {
    fn settings(self) -> Result<StoreSettings, SettingsError> {
        // A field of another store's type is a mistake, not to be ignored.
        let (kind, valid) = match self.kind {
            StoreKind::Sqlite => ("sqlite", &["path"][..]),
            StoreKind::Memory => ("memory", &[][..]),
            StoreKind::Redis => ("redis", &["url", "prefix"][..]),
        };
        let given =
            [("path", self.path.is_some()), ("url", self.url.is_some()), ("prefix", self.prefix.is_some())];
        if let Some((k, _)) = given.into_iter().find(|(k, given)| *given && !valid.contains(k)) {
            let valid: Vec<String> = ["type"].iter().chain(valid).map(|v| format!("`{v}`")).collect();
            return Err(fail(format!(
                "`store.{k}`: a {kind} store has no {k}; its fields: {}",
                valid.join(", ")
            )));
        }
        Ok(match self.kind {
            StoreKind::Sqlite => StoreSettings::Sqlite {
                path: self.path.map_or_else(|| DEFAULT_SQLITE_PATH.into(), |p| p.0.into()),
            },
            StoreKind::Memory => StoreSettings::Memory,
            StoreKind::Redis => {
                let url = self
                    .url
                    .ok_or_else(|| fail("`store.url` is missing, e.g. \"redis://127.0.0.1:6379/\""))?
                    .0;
                let prefix = self.prefix.map_or_else(|| DEFAULT_REDIS_PREFIX.to_owned(), |p| p.0);
                // Redis Cluster hash tags: the store refuses braces too, but
                // saying so here names the field.
                if prefix.contains(['{', '}']) {
                    return Err(fail("`store.prefix` must not contain `{` or `}`"));
                }
                StoreSettings::Redis { url, prefix }
            }
        })
    }
}

/// Parses a `listen` value or a `--listen` flag.
///
/// # Errors
/// [`SettingsError`] when it is not `IP:PORT`.
pub fn parse_listen(s: &str) -> Result<SocketAddr, SettingsError> {
    s.parse().map_err(|_| fail(format!("listen address {s:?} is not IP:PORT, e.g. 127.0.0.1:8080")))
}

/// `{"signing": {"id", "secret_b64"}, "verify_only": [{"id", "secret_b64"}, ...]}`.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object such as {\"signing\": {\"id\": \"k1\", \"secret_b64\": \"...\"}}"
)]
struct KeysDoc {
    signing: KeyDoc,
    #[serde(default)]
    verify_only: Vec<KeyDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object such as {\"id\": \"k1\", \"secret_b64\": \"...\"}")]
struct KeyDoc {
    id: String,
    secret_b64: KeyBytes,
}

/// A key's bytes, from base64.
struct KeyBytes(Vec<u8>);

impl<'de> Deserialize<'de> for KeyBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The decoder's error would quote the offending byte: say only where.
        let text = String::deserialize(d)?;
        let bytes =
            STANDARD.decode(text.trim()).map_err(|_| D::Error::custom(format!("not base64: {MAKE_KEY}")))?;
        Ok(Self(bytes))
    }
}

impl KeysDoc {
    /// The keyring, and whether any of its keys is the [`SAMPLE_KEY`].
    fn keyring(self) -> Result<(Keyring, bool), SettingsError> {
        let id = |k: &KeyDoc, at: &str| KeyId::new(&k.id).map_err(|e| fail(format!("`{at}.id`: {e}")));
        let signing = id(&self.signing, "keys.signing")?;
        let others = (self.verify_only.iter().enumerate())
            .map(|(i, k)| Ok((id(k, &format!("keys.verify_only[{i}]"))?, k.secret_b64.0.as_slice())))
            .collect::<Result<Vec<_>, SettingsError>>()?;
        let sample = std::iter::once(&self.signing)
            .chain(&self.verify_only)
            .any(|k| constant_time_eq(&k.secret_b64.0, SAMPLE_KEY));
        let keys = Keyring::new((signing, &self.signing.secret_b64.0), &others)
            .map_err(|e| fail(format!("`keys`: {e}")))?;
        Ok((keys, sample))
    }
}

/// One client as written.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object such as {\"id\": \"my-app\", \"auth\": {\"type\": \"public\"}, ...}"
)]
struct ClientDoc {
    id: ClientId,
    auth: AuthDoc,
    #[serde(default)]
    grant_types: Vec<GrantType>,
    #[serde(default = "Scope::empty")]
    scope: Scope,
    #[serde(default = "Scope::empty")]
    default_scope: Scope,
    #[serde(default)]
    audiences: Vec<Resource>,
    default_audience: Option<Resource>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default = "enabled")]
    enabled: bool,
}

fn enabled() -> bool {
    true
}

/// A client's `auth`: public, or confidential with a secret digest and
/// maybe the resource-server role.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object such as {\"type\": \"confidential\", \"secret\": \"sha256:...\"}"
)]
struct AuthDoc {
    #[serde(rename = "type")]
    kind: AuthKind,
    secret: Option<Digest>,
    resource_server: Option<ResourceServerDoc>,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum AuthKind {
    Public,
    Confidential,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object such as {\"resources\": [\"https://api.example.com\"]}")]
struct ResourceServerDoc {
    resources: Vec<Resource>,
}

fn parse_clients(docs: Vec<ClientDoc>) -> Result<Vec<Client>, SettingsError> {
    let mut seen = HashSet::new();
    let mut clients = Vec::with_capacity(docs.len());
    for (i, doc) in docs.into_iter().enumerate() {
        let at = format!("clients[{i}]");
        let client = parse_client(doc, &at)?;
        client.validate().map_err(|e| fail(format!("`{at}.{}` (client {}): {e}", e.field, client.id)))?;
        if !seen.insert(client.id.clone()) {
            return Err(fail(format!("`{at}.id`: client id {} appears twice", client.id)));
        }
        clients.push(client);
    }
    Ok(clients)
}

/// One client, with the rules that tie its fields together.
fn parse_client(doc: ClientDoc, at: &str) -> Result<Client, SettingsError> {
    let client = match (doc.auth.kind, doc.auth.secret, doc.auth.resource_server) {
        (AuthKind::Public, None, None) => Client::new_public(doc.id),
        (AuthKind::Public, secret, _) => {
            let k = if secret.is_some() { "secret" } else { "resource_server" };
            return Err(fail(format!(
                "`{at}.auth.{k}`: a public client has no {k} (RFC 6749 §2.1): remove it, or make the client \
                 \"confidential\""
            )));
        }
        (AuthKind::Confidential, None, _) => {
            return Err(fail(format!("`{at}.auth.secret` is missing: {DIGEST_FIX}")));
        }
        (AuthKind::Confidential, Some(secret), None) => Client::new_confidential(doc.id, secret.0),
        (AuthKind::Confidential, Some(secret), Some(rs)) => {
            if rs.resources.is_empty() {
                return Err(fail(format!(
                    "`{at}.auth.resource_server.resources` is empty: list {}",
                    hint("", "resources")
                )));
            }
            Client::new_resource_server(doc.id, secret.0, rs.resources)
        }
    };
    if !doc.grant_types.is_empty() && doc.audiences.is_empty() {
        return Err(fail(format!(
            "`{at}.audiences` is missing or empty: a client that gets tokens needs the resource \
             identifiers of the APIs they are for, e.g. [\"https://api.example.com\"] (a resource \
             server accepts only tokens whose audience names it)"
        )));
    }
    if doc.grant_types.contains(&GrantType::AuthorizationCode) && doc.redirect_uris.is_empty() {
        return Err(fail(format!(
            "`{at}.redirect_uris` is missing or empty: a client with the authorization_code grant needs \
             the URIs its codes may be sent to, e.g. [\"https://app.example.com/callback\"]"
        )));
    }
    let mut client = (client.with_grants(doc.grant_types).with_scope(doc.scope, doc.default_scope))
        .with_audiences(doc.audiences)
        .with_redirect_uris(doc.redirect_uris);
    if let Some(audience) = doc.default_audience {
        client = client.with_default_audience(audience);
    }
    client.enabled = doc.enabled;
    Ok(client)
}

/// `{"username": "alice", "password_digest": "sha256:..."}`. Like a client
/// secret, a plain-text password is refused, and the message does not
/// quote it.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object such as {\"username\": \"alice\", \"password_digest\": \"sha256:...\"}"
)]
struct UserDoc {
    username: Subject,
    password_digest: Digest,
}

fn parse_demo_users(docs: Vec<UserDoc>) -> Result<DemoUsers, SettingsError> {
    let mut seen = HashSet::new();
    let mut users = Vec::with_capacity(docs.len());
    for (i, doc) in docs.into_iter().enumerate() {
        if !seen.insert(doc.username.clone()) {
            return Err(fail(format!("`demo_users[{i}].username`: {} appears twice", doc.username)));
        }
        users.push(DemoUser { username: doc.username, password: doc.password_digest.0 });
    }
    Ok(DemoUsers::new(users))
}

#[cfg(test)]
mod tests;
