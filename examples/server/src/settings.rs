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
//! `store` picks the token store ([`StoreSettings`]); without it the
//! example uses SQLite in `gatehouse.db`. `demo_users` (optional) are the
//! accounts of the built-in demo login page ([`crate::login`]). Every field
//! other than `listen`, `store`, `keys`, `clients`, `demo_users` and
//! `_comment` is a
//! field of the core's [`Config`] (unknown ones are refused, so a typo is
//! not silently ignored). Error messages name the field and the rule, never
//! a key or secret value.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use gatehouse_core::model::{Client, SecretDigest, Subject};
use gatehouse_core::{Config, KeyId, Keyring};
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

/// A config file that could not be used. The message is meant for the
/// operator and never contains a key or secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(String);

impl SettingsError {
    fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

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
            .map_err(|e| SettingsError::new(format!("cannot read config file {}: {e}", path.display())))?;
        Self::from_json(&text)
            .map_err(|e| SettingsError::new(format!("config file {}: {}", path.display(), e.0)))
    }

    /// Parses and validates a config document.
    ///
    /// # Errors
    /// [`SettingsError`] naming the field and the rule it breaks.
    pub fn from_json(text: &str) -> Result<Self, SettingsError> {
        let mut root: Map<String, Value> =
            serde_json::from_str(text).map_err(|e| SettingsError::new(format!("not a JSON object: {e}")))?;
        root.remove("_comment");
        let listen = match root.remove("listen") {
            None => DEFAULT_LISTEN.to_owned(),
            Some(Value::String(s)) => s,
            Some(_) => {
                return Err(SettingsError::new("`listen` must be a string such as \"127.0.0.1:8080\""))
            }
        };
        let listen = parse_listen(&listen)?;
        let store = match root.remove("store") {
            None => StoreSettings::default(),
            Some(v) => StoreSettings::parse(v)?,
        };
        store.compiled_in()?;
        let keys = parse_keys(root.remove("keys").ok_or_else(|| SettingsError::new("`keys` is missing"))?)?;
        let clients =
            parse_clients(root.remove("clients").ok_or_else(|| SettingsError::new("`clients` is missing"))?)?;
        let demo_users = match root.remove("demo_users") {
            None => DemoUsers::default(),
            Some(v) => parse_demo_users(v)?,
        };
        // What is left is the core's Config, which refuses unknown fields.
        let server: Config = serde_json::from_value(Value::Object(root))
            .map_err(|e| SettingsError::new(format!("invalid server settings: {e}")))?;
        check_server(&server)?;
        Ok(Self { listen, store, server, keys, clients, demo_users })
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

    fn parse(v: Value) -> Result<Self, SettingsError> {
        let Value::Object(mut obj) = v else {
            return Err(SettingsError::new(
                "`store` must be an object such as {\"type\": \"sqlite\", \"path\": \"gatehouse.db\"}",
            ));
        };
        let mut string = |field: &str| match obj.remove(field) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
            Some(_) => Err(SettingsError::new(format!("`store.{field}` must be a non-empty string"))),
        };
        let kind = string("type")?.ok_or_else(|| {
            SettingsError::new("`store.type` is missing: \"sqlite\", \"memory\" or \"redis\"")
        })?;
        let store = match kind.as_str() {
            "sqlite" => Self::Sqlite {
                path: PathBuf::from(string("path")?.unwrap_or_else(|| DEFAULT_SQLITE_PATH.to_owned())),
            },
            "memory" => Self::Memory,
            "redis" => {
                let url = string("url")?.ok_or_else(|| {
                    SettingsError::new("`store.url` is missing, e.g. \"redis://127.0.0.1:6379/\"")
                })?;
                let prefix = string("prefix")?.unwrap_or_else(|| DEFAULT_REDIS_PREFIX.to_owned());
                // Redis Cluster hash tags: the store refuses braces too, but
                // saying so here names the field.
                if prefix.contains(['{', '}']) {
                    return Err(SettingsError::new("`store.prefix` must not contain `{` or `}`"));
                }
                Self::Redis { url, prefix }
            }
            other => {
                return Err(SettingsError::new(format!(
                    "unknown `store.type` {other:?}: expected \"sqlite\", \"memory\" or \"redis\""
                )))
            }
        };
        if let Some(name) = obj.keys().next() {
            return Err(SettingsError::new(format!(
                "unknown field `store.{name}` for a {} store",
                store.kind()
            )));
        }
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
        Err(SettingsError::new(format!(
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
    s.parse()
        .map_err(|_| SettingsError::new(format!("listen address {s:?} is not IP:PORT, e.g. 127.0.0.1:8080")))
}

fn check_server(c: &Config) -> Result<(), SettingsError> {
    if c.issuer.is_empty() {
        return Err(SettingsError::new("`issuer` must not be empty"));
    }
    if c.access_token_ttl == 0 {
        return Err(SettingsError::new("`access_token_ttl` must be at least 1 second"));
    }
    if c.max_body_bytes == 0 {
        return Err(SettingsError::new("`max_body_bytes` must be at least 1"));
    }
    if c.limiter.burst == 0 {
        return Err(SettingsError::new("`limiter.burst` must be at least 1"));
    }
    Ok(())
}

/// `{"signing": {"id", "secret_b64"}, "verify_only": [{"id", "secret_b64"}, ...]}`.
fn parse_keys(v: Value) -> Result<Keyring, SettingsError> {
    let Value::Object(mut obj) = v else {
        return Err(SettingsError::new("`keys` must be an object with `signing` and `verify_only`"));
    };
    let signing = parse_key(
        obj.remove("signing").ok_or_else(|| SettingsError::new("`keys.signing` is missing"))?,
        "keys.signing",
    )?;
    let verify_only = match obj.remove("verify_only") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, k)| parse_key(k, &format!("keys.verify_only[{i}]")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(SettingsError::new("`keys.verify_only` must be an array")),
    };
    if let Some(name) = obj.keys().next() {
        return Err(SettingsError::new(format!(
            "unknown field `keys.{name}`, expected `signing` or `verify_only`"
        )));
    }
    let others: Vec<(KeyId, &[u8])> = verify_only.iter().map(|(id, s)| (id.clone(), s.as_slice())).collect();
    Keyring::new((signing.0, &signing.1), &others).map_err(|e| SettingsError::new(format!("keys: {e}")))
}

fn parse_key(v: Value, at: &str) -> Result<(KeyId, Vec<u8>), SettingsError> {
    let shape = || SettingsError::new(format!("`{at}` must be {{\"id\": \"k1\", \"secret_b64\": \"...\"}}"));
    let Value::Object(mut obj) = v else {
        return Err(shape());
    };
    let (Some(Value::String(id)), Some(Value::String(secret)), true) =
        (obj.remove("id"), obj.remove("secret_b64"), obj.is_empty())
    else {
        return Err(shape());
    };
    let id = KeyId::new(&id).map_err(|e| SettingsError::new(format!("`{at}.id`: {e}")))?;
    // The decoder's error would quote the offending byte: say only where.
    let secret = STANDARD
        .decode(secret.trim())
        .map_err(|_| SettingsError::new(format!("`{at}.secret_b64` is not valid base64")))?;
    Ok((id, secret))
}

fn parse_clients(v: Value) -> Result<Vec<Client>, SettingsError> {
    let Value::Array(items) = v else {
        return Err(SettingsError::new("`clients` must be an array of clients"));
    };
    let mut seen = HashSet::new();
    let mut clients = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let client: Client =
            serde_json::from_value(item).map_err(|e| SettingsError::new(format!("clients[{i}]: {e}")))?;
        client.validate().map_err(|e| SettingsError::new(format!("clients[{i}] ({}): {e}", client.id)))?;
        if !seen.insert(client.id.clone()) {
            return Err(SettingsError::new(format!("clients[{i}]: client id {} appears twice", client.id)));
        }
        clients.push(client);
    }
    Ok(clients)
}

/// `[{"username": "alice", "password_digest": "sha256:..."}, ...]`.
fn parse_demo_users(v: Value) -> Result<DemoUsers, SettingsError> {
    let Value::Array(items) = v else {
        return Err(SettingsError::new("`demo_users` must be an array of users"));
    };
    let mut seen = HashSet::new();
    let mut users = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("demo_users[{i}]");
        let shape = || {
            SettingsError::new(format!(
                "`{at}` must be {{\"username\": \"alice\", \"password_digest\": \"sha256:...\"}}"
            ))
        };
        let Value::Object(mut obj) = item else {
            return Err(shape());
        };
        let (Some(Value::String(username)), Some(Value::String(digest)), true) =
            (obj.remove("username"), obj.remove("password_digest"), obj.is_empty())
        else {
            return Err(shape());
        };
        let username =
            Subject::new(&username).map_err(|e| SettingsError::new(format!("`{at}.username`: {e}")))?;
        // Like a client secret, a plain-text password here is refused, and
        // the message does not quote it.
        let password = SecretDigest::from_hex(&digest).map_err(|e| {
            SettingsError::new(format!("`{at}.password_digest`: {e} (see `gatehouse-example hash-secret`)"))
        })?;
        if !seen.insert(username.clone()) {
            return Err(SettingsError::new(format!("{at}: username {username} appears twice")));
        }
        users.push(DemoUser { username, password });
    }
    Ok(DemoUsers::new(users))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "Z2F0ZWhvdXNlLWRlbW8ta2V5LVJFUExBQ0UtTUUtMDEyMzQ1Njc4OQ==";

    fn doc(extra: &str) -> String {
        format!(r#"{{"keys":{{"signing":{{"id":"k1","secret_b64":"{KEY}"}}}},"clients":[]{extra}}}"#)
    }

    #[test]
    fn minimal_document_gets_defaults() {
        let s = Settings::from_json(&doc("")).unwrap();
        assert_eq!(s.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(s.store, StoreSettings::Sqlite { path: PathBuf::from("gatehouse.db") });
        assert_eq!(s.server, Config::default());
        assert!(s.clients.is_empty());
        assert_eq!(s.demo_users.usernames().count(), 0);
        assert!(!format!("{s:?}").contains(KEY));
    }

    #[test]
    fn sample_file_loads() {
        let s = Settings::load(Path::new(SAMPLE_PATH)).unwrap();
        let ids: Vec<&str> = s.clients.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["demo-client", "demo-rs", "demo-public", "demo-web"]);
        assert!(s.demo_users.check("alice", "alice-demo-password-not-for-production").is_some());
        assert_eq!(s.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(s.store, StoreSettings::Sqlite { path: PathBuf::from(DEFAULT_SQLITE_PATH) });
    }

    #[test]
    fn store_object_picks_the_backend() {
        let store = |json: &str| Settings::from_json(&doc(&format!(r#","store":{json}"#))).map(|s| s.store);
        assert_eq!(store(r#"{"type":"memory"}"#).unwrap(), StoreSettings::Memory);
        assert_eq!(
            store(r#"{"type":"sqlite","path":"/var/lib/gh/tokens.db"}"#).unwrap(),
            StoreSettings::Sqlite { path: PathBuf::from("/var/lib/gh/tokens.db") }
        );
        assert_eq!(store(r#"{"type":"sqlite"}"#).unwrap(), StoreSettings::default());
        let redis = store(r#"{"type":"redis","url":"redis://:pw-secret@10.0.0.1:6379/"}"#).unwrap();
        assert_eq!(
            redis,
            StoreSettings::Redis {
                url: "redis://:pw-secret@10.0.0.1:6379/".into(),
                prefix: "gatehouse:".into()
            }
        );
        assert!(!format!("{redis:?}").contains("pw-secret"), "the URL may hold a password");
        assert_eq!(
            store(r#"{"type":"redis","url":"redis://h/","prefix":"app1:"}"#).unwrap(),
            StoreSettings::Redis { url: "redis://h/".into(), prefix: "app1:".into() }
        );
        for (json, want) in [
            (r#""sqlite""#, "`store` must be an object"),
            (r#"{"path":"x.db"}"#, "`store.type` is missing"),
            (r#"{"type":"postgres"}"#, "unknown `store.type` \"postgres\""),
            (r#"{"type":"sqlite","pth":"x.db"}"#, "unknown field `store.pth`"),
            (r#"{"type":"sqlite","path":""}"#, "`store.path` must be a non-empty string"),
            (r#"{"type":"redis"}"#, "`store.url` is missing"),
            (r#"{"type":"redis","url":"redis://h/","prefix":"{x}"}"#, "must not contain"),
        ] {
            let e = store(json).unwrap_err().to_string();
            assert!(e.contains(want), "{json}: got {e:?}, want {want:?}");
        }
    }

    #[test]
    fn compiled_out_store_is_a_clear_config_error() {
        assert!(require_feature("redis", true).is_ok());
        let e = require_feature("redis", false).unwrap_err().to_string();
        assert!(e.contains(r#"store type "redis" is not compiled into this build"#), "{e}");
        assert!(e.contains("--features redis"), "{e}");
        // Whichever feature this build lacks is refused by the parser.
        if !cfg!(feature = "redis") {
            let e = Settings::from_json(&doc(r#","store":{"type":"redis","url":"redis://h/"}"#)).unwrap_err();
            assert!(e.to_string().contains("--features redis"), "{e}");
        }
        if !cfg!(feature = "sqlite") {
            let e = Settings::from_json(&doc("")).unwrap_err();
            assert!(e.to_string().contains("--features sqlite"), "{e}");
        }
    }

    #[test]
    fn errors_name_the_field_and_hide_secrets() {
        let cases = [
            ("{", "not a JSON object"),
            (r#"{"clients":[]}"#, "`keys` is missing"),
            (&doc(r#","acess_token_ttl":5"#), "unknown field `acess_token_ttl`"),
            (&doc(r#","listen":"localhost""#), "is not IP:PORT"),
            (&doc(r#","access_token_ttl":0"#), "access_token_ttl"),
            (
                r#"{"keys":{"signing":{"id":"k1","secret_b64":"c2hvcnQ="}},"clients":[]}"#,
                "shorter than 32 bytes",
            ),
            (
                r#"{"keys":{"signing":{"id":"k1","secret_b64":"not*base64!"}},"clients":[]}"#,
                "not valid base64",
            ),
            (r#"{"keys":{"signing":{"id":"k1","secret":"x"}},"clients":[]}"#, "`keys.signing` must be"),
            (
                &doc("").replace(
                    r#""clients":[]"#,
                    r#""clients":[{"id":"c","auth":{"type":"confidential","secret":"hunter2-hunter2"}}]"#,
                ),
                "clients[0]",
            ),
            (
                &doc("").replace(
                    r#""clients":[]"#,
                    r#""clients":[{"id":"c","auth":{"type":"public"},"scope":"a","default_scope":"b"}]"#,
                ),
                "default_scope must be within scope",
            ),
            (
                &doc("").replace(
                    r#""clients":[]"#,
                    r#""clients":[{"id":"c","auth":{"type":"public"}},{"id":"c","auth":{"type":"public"}}]"#,
                ),
                "appears twice",
            ),
        ];
        let users = |json: &str| doc(&format!(r#","demo_users":{json}"#));
        let digest = "sha256:700178449c4f766323d86497a21383b193575fb6de0d7d4a18233edfb5e32e43";
        let more = [
            (users(r#"{"username":"alice"}"#), "`demo_users` must be an array"),
            (users(r#"[{"username":"alice","password":"hunter2-hunter2"}]"#), "`demo_users[0]` must be"),
            (
                users(r#"[{"username":"alice","password_digest":"hunter2-hunter2"}]"#),
                "`demo_users[0].password_digest`",
            ),
            (
                users(&format!(r#"[{{"username":"","password_digest":"{digest}"}}]"#)),
                "demo_users[0].username",
            ),
            (
                users(&format!(
                    r#"[{{"username":"a","password_digest":"{digest}"}},{{"username":"a","password_digest":"{digest}"}}]"#
                )),
                "demo_users[1]: username a appears twice",
            ),
        ];
        let cases = cases.iter().map(|(t, w)| (t.to_string(), *w)).chain(more);
        for (text, want) in cases {
            let text = text.as_str();
            let e = Settings::from_json(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: got {e:?}, want {want:?}");
            assert!(!e.contains("not*base64") && !e.contains("hunter2") && !e.contains(KEY), "{e}");
        }
    }
}
