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
//!   "demo_users": [ { "username": "alice", "password_digest": "sha256:..." } ]
//! }
//! ```
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
use serde::de::DeserializeOwned;
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
const EXAMPLE_FIELDS: [&str; 6] = ["_comment", "listen", "store", "keys", "clients", "demo_users"];

/// The fields of a client. A new one goes here and in [`parse_client`].
const CLIENT_FIELDS: [&str; 9] = [
    "id",
    "auth",
    "grant_types",
    "scope",
    "default_scope",
    "audiences",
    "default_audience",
    "redirect_uris",
    "enabled",
];

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
    /// The clients to register at start.
    pub clients: Vec<Client>,
    /// The accounts of the demo login page.
    pub demo_users: DemoUsers,
    /// Whether any key in `keys` is the published [`SAMPLE_KEY`].
    sample_key: bool,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("store", &self.store)
            .field("server", &self.server)
            .field("keys", &"<redacted>")
            .field("clients", &self.clients.iter().map(|c| c.id.as_str()).collect::<Vec<_>>())
            .field("demo_users", &self.demo_users)
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
        let mut top = Fields { path: String::new(), map };
        // The core's fields, as a serialized default `Config` names them.
        let Ok(Value::Object(defaults)) = serde_json::to_value(Config::default()) else {
            return Err(fail("internal error: the core's Config is not an object"));
        };
        let valid: Vec<&str> =
            EXAMPLE_FIELDS.into_iter().chain(defaults.keys().map(String::as_str)).collect();
        top.allow(&valid)?;
        top.map.remove("_comment");
        let listen = parse_listen(top.opt::<String>("listen")?.as_deref().unwrap_or(DEFAULT_LISTEN))?;
        let store = top.opt::<Value>("store")?.map_or(Ok(StoreSettings::default()), StoreSettings::parse)?;
        store.compiled_in()?;
        let (keys, sample_key) =
            parse_keys(top.req("keys", "{\"signing\": {\"id\": \"k1\", \"secret_b64\": …}}")?)?;
        let clients: Vec<Value> = top.req("clients", "a list of clients, [] for none")?;
        let clients = parse_clients(clients)?;
        let demo_users = parse_demo_users(top.opt("demo_users")?.unwrap_or_default())?;
        if !top.map.contains_key("issuer") {
            return Err(fail(
                "`issuer` is missing: the URL clients and resource servers know this server by, \
                 e.g. \"https://auth.example.com\" (every token and redirect carries it)",
            ));
        }
        let server = parse_server(top.map, &defaults)?;
        Ok(Self { listen, store, server, keys, clients, demo_users, sample_key })
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

/// One JSON object of the config, taken apart field by field; `path`
/// (`clients[2].auth`, empty at the top) names it in every error.
struct Fields {
    path: String,
    map: Map<String, Value>,
}

impl Fields {
    /// `v`, which must be an object like `shape`.
    fn new(v: Value, path: String, shape: &str) -> Result<Self, SettingsError> {
        match v {
            Value::Object(map) => Ok(Self { path, map }),
            _ => Err(fail(format!("`{path}` must be an object such as {shape}"))),
        }
    }

    /// Refuses a field not in `valid`, listing those.
    fn allow(&self, valid: &[&str]) -> Result<(), SettingsError> {
        let Some(k) = self.map.keys().find(|k| !valid.contains(&k.as_str())) else { return Ok(()) };
        let valid: Vec<String> =
            valid.iter().filter(|v| !v.starts_with('_')).map(|v| format!("`{v}`")).collect();
        Err(fail(format!("unknown field `{}`; valid fields here: {}", self.at(k), valid.join(", "))))
    }

    /// The path of field `key`.
    fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Takes `key` as a `T`, if present.
    fn opt<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, SettingsError> {
        let Some(v) = self.map.remove(key) else { return Ok(None) };
        // serde's message quotes only a value of the wrong type, never a
        // string where a string belongs (where secrets are).
        serde_json::from_value(v).map(Some).map_err(|e| fail(format!("`{}`: {e}", self.at(key))))
    }

    /// Takes `key` as a `T`; `hint` says what to write when it is missing.
    fn req<T: DeserializeOwned>(&mut self, key: &str, hint: &str) -> Result<T, SettingsError> {
        self.opt(key)?.ok_or_else(|| fail(format!("`{}` is missing: {hint}", self.at(key))))
    }
}

/// The core's [`Config`] from the remaining top-level fields. Each field
/// is first read alone (the others defaulted) so that a type error names
/// its field; nested objects (`limiter`) are held to the keys of the
/// default, since the core's types may ignore unknown ones.
fn parse_server(map: Map<String, Value>, defaults: &Map<String, Value>) -> Result<Config, SettingsError> {
    for (k, v) in &map {
        if let (Value::Object(given), Some(Value::Object(known))) = (v, defaults.get(k)) {
            let known: Vec<&str> = known.keys().map(String::as_str).collect();
            Fields { path: k.clone(), map: given.clone() }.allow(&known)?;
        }
        let one = Map::from_iter([(k.clone(), v.clone())]);
        serde_json::from_value::<Config>(Value::Object(one)).map_err(|e| fail(format!("`{k}`: {e}")))?;
    }
    let config: Config = serde_json::from_value(Value::Object(map)).map_err(|e| fail(e.to_string()))?;
    config.validate().map_err(|e| match e {
        gatehouse_core::Error::Config(msg) => fail(msg),
        other => fail(other.to_string()),
    })?;
    Ok(config)
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

    fn parse(v: Value) -> Result<Self, SettingsError> {
        let mut f = Fields::new(v, "store".into(), r#"{"type": "sqlite", "path": "gatehouse.db"}"#)?;
        let kind: String = f.req("type", "\"sqlite\", \"memory\" or \"redis\"")?;
        fn string(f: &mut Fields, key: &str) -> Result<Option<String>, SettingsError> {
            match f.opt::<String>(key)? {
                Some(s) if s.is_empty() => Err(fail(format!("`store.{key}` must be a non-empty string"))),
                s => Ok(s),
            }
        }
        let store = match kind.as_str() {
            "sqlite" => {
                f.allow(&["path"])?;
                Self::Sqlite {
                    path: string(&mut f, "path")?.unwrap_or_else(|| DEFAULT_SQLITE_PATH.into()).into(),
                }
            }
            "memory" => {
                f.allow(&[])?;
                Self::Memory
            }
            "redis" => {
                f.allow(&["url", "prefix"])?;
                let url = string(&mut f, "url")?
                    .ok_or_else(|| fail("`store.url` is missing, e.g. \"redis://127.0.0.1:6379/\""))?;
                let prefix = string(&mut f, "prefix")?.unwrap_or_else(|| DEFAULT_REDIS_PREFIX.to_owned());
                // Redis Cluster hash tags: the store refuses braces too, but
                // saying so here names the field.
                if prefix.contains(['{', '}']) {
                    return Err(fail("`store.prefix` must not contain `{` or `}`"));
                }
                Self::Redis { url, prefix }
            }
            other => {
                return Err(fail(format!(
                    "unknown `store.type` {other:?}: expected \"sqlite\", \"memory\" or \"redis\""
                )))
            }
        };
        Ok(store)
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

/// Parses a `listen` value or a `--listen` flag.
///
/// # Errors
/// [`SettingsError`] when it is not `IP:PORT`.
pub fn parse_listen(s: &str) -> Result<SocketAddr, SettingsError> {
    s.parse().map_err(|_| fail(format!("listen address {s:?} is not IP:PORT, e.g. 127.0.0.1:8080")))
}

/// `{"signing": {"id", "secret_b64"}, "verify_only": [{"id", "secret_b64"}, ...]}`,
/// and whether any of them is the [`SAMPLE_KEY`].
fn parse_keys(v: Value) -> Result<(Keyring, bool), SettingsError> {
    let mut f = Fields::new(v, "keys".into(), r#"{"signing": {"id": "k1", "secret_b64": "..."}}"#)?;
    f.allow(&["signing", "verify_only"])?;
    let signing = parse_key(f.req("signing", "{\"id\": \"k1\", \"secret_b64\": …}")?, "keys.signing")?;
    let verify_only = (f.opt::<Vec<Value>>("verify_only")?.unwrap_or_default().into_iter().enumerate())
        .map(|(i, k)| parse_key(k, &format!("keys.verify_only[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let sample = std::iter::once(&signing).chain(&verify_only).any(|(_, s)| constant_time_eq(s, SAMPLE_KEY));
    let others: Vec<(KeyId, &[u8])> = verify_only.iter().map(|(id, s)| (id.clone(), s.as_slice())).collect();
    let keys = Keyring::new((signing.0, &signing.1), &others).map_err(|e| fail(format!("`keys`: {e}")))?;
    Ok((keys, sample))
}

fn parse_key(v: Value, at: &str) -> Result<(KeyId, Vec<u8>), SettingsError> {
    let mut f = Fields::new(v, at.into(), r#"{"id": "k1", "secret_b64": "..."}"#)?;
    f.allow(&["id", "secret_b64"])?;
    let id = KeyId::new(&f.req::<String>("id", "a short key name such as \"k1\"")?)
        .map_err(|e| fail(format!("`{at}.id`: {e}")))?;
    let make = "32 random bytes in base64, e.g. from `head -c 32 /dev/urandom | base64`";
    let secret: String = f.req("secret_b64", make)?;
    // The decoder's error would quote the offending byte: say only where.
    let secret = STANDARD
        .decode(secret.trim())
        .map_err(|_| fail(format!("`{at}.secret_b64` is not base64: {make}")))?;
    Ok((id, secret))
}

fn parse_clients(items: Vec<Value>) -> Result<Vec<Client>, SettingsError> {
    let mut seen = HashSet::new();
    let mut clients = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("clients[{i}]");
        let client = parse_client(item, &at)?;
        client.validate().map_err(|e| fail(format!("`{at}.{}` (client {}): {e}", e.field, client.id)))?;
        if !seen.insert(client.id.clone()) {
            return Err(fail(format!("`{at}.id`: client id {} appears twice", client.id)));
        }
        clients.push(client);
    }
    Ok(clients)
}

/// One client: its fields are [`CLIENT_FIELDS`].
fn parse_client(v: Value, at: &str) -> Result<Client, SettingsError> {
    let mut f = Fields::new(v, at.into(), r#"{"id": "my-app", "auth": {"type": "public"}, ...}"#)?;
    f.allow(&CLIENT_FIELDS)?;
    let id: ClientId = f.req("id", "the client's id, e.g. \"my-app\"")?;
    let auth = f.req("auth", r#"{"type": "confidential", "secret": "sha256:..."} or {"type": "public"}"#)?;
    let client = parse_auth(auth, &f.at("auth"), id)?;
    let grants: Vec<GrantType> = f.opt("grant_types")?.unwrap_or_default();
    let scope = f.opt("scope")?.unwrap_or_else(Scope::empty);
    let default_scope = f.opt("default_scope")?.unwrap_or_else(Scope::empty);
    let audiences: Vec<Resource> = f.opt("audiences")?.unwrap_or_default();
    let redirect_uris: Vec<String> = f.opt("redirect_uris")?.unwrap_or_default();
    let enabled = f.opt("enabled")?.unwrap_or(true);
    if !grants.is_empty() && audiences.is_empty() {
        return Err(fail(format!(
            "`{at}.audiences` is missing or empty: a client that gets tokens needs the resource \
             identifiers of the APIs they are for, e.g. [\"https://api.example.com\"] (a resource \
             server accepts only tokens whose audience names it)"
        )));
    }
    if grants.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(fail(format!(
            "`{at}.redirect_uris` is missing or empty: a client with the authorization_code grant needs \
             the URIs its codes may be sent to, e.g. [\"https://app.example.com/callback\"]"
        )));
    }
    let mut client = (client.with_grants(grants).with_scope(scope, default_scope))
        .with_audiences(audiences)
        .with_redirect_uris(redirect_uris);
    if let Some(audience) = f.opt("default_audience")? {
        client = client.with_default_audience(audience);
    }
    client.enabled = enabled;
    Ok(client)
}

/// A client's `auth`: public, or confidential with a secret digest and
/// maybe the resource-server role.
fn parse_auth(v: Value, at: &str, id: ClientId) -> Result<Client, SettingsError> {
    let mut f = Fields::new(v, at.into(), r#"{"type": "confidential", "secret": "sha256:..."}"#)?;
    let kind: String = f.req("type", "\"confidential\" (with a secret) or \"public\" (without)")?;
    match kind.as_str() {
        "public" => {
            if let Some(k) = ["secret", "resource_server"].into_iter().find(|k| f.map.contains_key(*k)) {
                return Err(fail(format!(
                    "`{}`: a public client has no {k} (RFC 6749 §2.1): remove it, or make the client \
                     \"confidential\"",
                    f.at(k)
                )));
            }
            f.allow(&[])?;
            Ok(Client::new_public(id))
        }
        "confidential" => {
            f.allow(&["secret", "resource_server"])?;
            let secret = parse_digest(&f.req::<String>("secret", DIGEST_FIX)?, &f.at("secret"))?;
            let Some(rs) = f.opt::<Value>("resource_server")? else {
                return Ok(Client::new_confidential(id, secret));
            };
            let mut rs =
                Fields::new(rs, f.at("resource_server"), r#"{"resources": ["https://api.example.com"]}"#)?;
            rs.allow(&["resources"])?;
            let example = "the resource identifiers it introspects for, e.g. [\"https://api.example.com\"]";
            let resources: Vec<Resource> = rs.req("resources", example)?;
            if resources.is_empty() {
                return Err(fail(format!("`{}` is empty: list {example}", rs.at("resources"))));
            }
            Ok(Client::new_resource_server(id, secret, resources))
        }
        other => Err(fail(format!("`{at}.type` is {other:?}: expected \"confidential\" or \"public\""))),
    }
}

fn parse_digest(text: &str, at: &str) -> Result<SecretDigest, SettingsError> {
    SecretDigest::from_hex(text).map_err(|_| fail(format!("`{at}` {DIGEST_FIX}")))
}

/// `[{"username": "alice", "password_digest": "sha256:..."}, ...]`.
fn parse_demo_users(items: Vec<Value>) -> Result<DemoUsers, SettingsError> {
    let mut seen = HashSet::new();
    let mut users = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("demo_users[{i}]");
        let shape = r#"{"username": "alice", "password_digest": "sha256:..."}"#;
        let mut f = Fields::new(item, at.clone(), shape)?;
        f.allow(&["username", "password_digest"])?;
        let username: Subject = f.req("username", "e.g. \"alice\"")?;
        // Like a client secret, a plain-text password here is refused, and
        // the message does not quote it.
        let password =
            parse_digest(&f.req::<String>("password_digest", DIGEST_FIX)?, &f.at("password_digest"))?;
        if !seen.insert(username.clone()) {
            return Err(fail(format!("`{at}.username`: {username} appears twice")));
        }
        users.push(DemoUser { username, password });
    }
    Ok(DemoUsers::new(users))
}

#[cfg(test)]
mod tests;
