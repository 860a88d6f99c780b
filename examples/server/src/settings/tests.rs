use super::*;

/// The published sample key, base64.
const KEY: &str = "Z2F0ZWhvdXNlLWRlbW8ta2V5LVJFUExBQ0UtTUUtMDEyMzQ1Njc4OQ==";
/// Some other key, base64.
const OTHER_KEY: &str = "c2VjcmV0LWtleS1tYXRlcmlhbC10aGF0LW11c3Qtbm90LWxlYWs=";
const DIGEST: &str = "sha256:700178449c4f766323d86497a21383b193575fb6de0d7d4a18233edfb5e32e43";

/// A minimal valid document with `extra` fields at the top level.
fn doc(extra: &str) -> String {
    format!(
        r#"{{"issuer":"https://auth.example.com","keys":{{"signing":{{"id":"k1","secret_b64":"{KEY}"}}}},"clients":[]{extra}}}"#
    )
}

/// The minimal document with these clients.
fn with_clients(clients: &str) -> String {
    doc("").replace(r#""clients":[]"#, &format!(r#""clients":[{clients}]"#))
}

fn error(text: &str) -> String {
    Settings::from_json(text).unwrap_err().to_string()
}

#[test]
fn minimal_document_gets_defaults() {
    let s = Settings::from_json(&doc("")).unwrap();
    assert_eq!(s.listen, DEFAULT_LISTEN.parse().unwrap());
    assert_eq!(s.store, StoreSettings::Sqlite { path: PathBuf::from("gatehouse.db") });
    assert_eq!(s.server, Config::new("https://auth.example.com"));
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
    assert!(s.sample_key);
}

#[test]
fn every_client_field_is_read() {
    let s = Settings::from_json(&with_clients(
        r#"{"id":"c","auth":{"type":"public"},"grant_types":["authorization_code","refresh_token"],
            "scope":"read write","default_scope":"read","audiences":["https://a.example","https://b.example"],
            "default_audience":"https://b.example","redirect_uris":["https://app.example/cb"],"enabled":false}"#,
    ))
    .unwrap();
    let c = &s.clients[0];
    assert!(!c.is_confidential() && !c.enabled);
    assert!(
        c.grant_types.contains(GrantType::AuthorizationCode)
            && c.grant_types.contains(GrantType::RefreshToken)
    );
    assert!(!c.grant_types.contains(GrantType::ClientCredentials));
    assert_eq!((c.scope.as_str(), c.default_scope.as_str()), ("read write", "read"));
    assert_eq!(c.audiences.len(), 2);
    assert_eq!(c.default_audience.as_ref().map(Resource::as_str), Some("https://b.example"));
    assert_eq!(&*c.redirect_uris, ["https://app.example/cb".to_owned()]);
    let rs = Settings::from_json(&with_clients(&format!(
        r#"{{"id":"rs","auth":{{"type":"confidential","secret":"{DIGEST}","resource_server":{{"resources":["https://a.example"]}}}}}}"#
    )))
    .unwrap();
    assert_eq!(rs.clients[0].resource_server().map(|r| r.resources.len()), Some(1));
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
        StoreSettings::Redis { url: "redis://:pw-secret@10.0.0.1:6379/".into(), prefix: "gatehouse:".into() }
    );
    assert!(!format!("{redis:?}").contains("pw-secret"), "the URL may hold a password");
    assert_eq!(
        store(r#"{"type":"redis","url":"redis://h/","prefix":"app1:"}"#).unwrap(),
        StoreSettings::Redis { url: "redis://h/".into(), prefix: "app1:".into() }
    );
    for (json, want) in [
        (r#""sqlite""#, "`store`: invalid type: string \"sqlite\", expected an object such as {\"type\""),
        (r#"{"path":"x.db"}"#, "`store.type` is missing"),
        (
            r#"{"type":"postgres"}"#,
            "`store.type`: unknown variant `postgres`, expected one of `sqlite`, `memory`",
        ),
        (
            r#"{"type":"sqlite","pth":"x.db"}"#,
            "`store.pth`: unknown field `pth`, expected one of `type`, `path`",
        ),
        (
            r#"{"type":"memory","path":"x.db"}"#,
            "`store.path`: a memory store has no path; its fields: `type`\n",
        ),
        (r#"{"type":"sqlite","path":""}"#, "`store.path`: must be a non-empty string"),
        (r#"{"type":"redis"}"#, "`store.url` is missing"),
        (r#"{"type":"redis","url":"redis://h/","prefix":"{x}"}"#, "must not contain"),
    ] {
        let e = store(json).unwrap_err().to_string() + "\n";
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
        let e = error(&doc(r#","store":{"type":"redis","url":"redis://h/"}"#));
        assert!(e.contains("--features redis"), "{e}");
    }
    if !cfg!(feature = "sqlite") {
        assert!(error(&doc("")).contains("--features sqlite"));
    }
}

/// Each mistake a new user makes (issue 9, item 12) is an error naming the
/// field's path and the fix.
#[test]
fn every_mistake_names_the_field_and_the_fix() {
    let web = r#"{"id":"w","auth":{"type":"public"},"grant_types":["authorization_code"],"audiences":["https://api.example.com"]"#;
    let cases: Vec<(String, &[&str])> = vec![
        // JSON syntax is not a shape problem.
        ("{".into(), &["invalid JSON: EOF while parsing an object at line 1 column 1"]),
        ("[]".into(), &["the config must be a JSON object"]),
        // Unknown fields, at every level, with the valid ones listed.
        (
            doc(r#","acess_token_ttl":5"#),
            &[
                "unknown field `acess_token_ttl`; valid fields here: `listen`, `store`, `keys`, `clients`, \
                 `demo_users`, `log`, `access_token_ttl`, `clock_skew`, `code_ttl`, `issuer`, `limiter`, \
                 `max_body_bytes`, `refresh_token_ttl`, `scopes_supported`",
            ],
        ),
        (with_clients(&format!("{web},\"redirect_uri\":[\"https://app.example/cb\"]}}")), &[
            "`clients[0].redirect_uri`: unknown field `redirect_uri`, expected one of `id`, `auth`",
            "`redirect_uris`, `enabled`",
        ]),
        (doc(r#","limiter":{"burst":5,"per_minute":60,"brust":9}"#), &[
            "`limiter.brust`: unknown field `brust`, expected `burst` or `per_minute`",
        ]),
        (doc("").replace(r#""k1","#, r#""k1","secret":"x","#), &[
            "`keys.signing.secret`: unknown field `secret`, expected `id` or `secret_b64`",
        ]),
        (
            with_clients(&format!(
                r#"{{"id":"c","auth":{{"type":"confidential","secret":"{DIGEST}","resource_server":{{"resource":[]}}}}}}"#
            )),
            &["`clients[0].auth.resource_server.resource`: unknown field `resource`, expected `resources`"],
        ),
        (doc(&format!(r#","demo_users":[{{"username":"a","password":"x","password_digest":"{DIGEST}"}}]"#)), &[
            "`demo_users[0].password`: unknown field `password`, expected `username` or `password_digest`",
        ]),
        // Wrong types name the field.
        (doc(r#","access_token_ttl":"3600""#), &["`access_token_ttl`: invalid type: string \"3600\", expected u64"]),
        (doc(r#","limiter":{"burst":5}"#), &["`limiter.per_minute` is missing: the limiter takes both"]),
        (doc(r#","listen":"localhost""#), &["is not IP:PORT"]),
        (with_clients(r#"{"id":"c","auth":{"type":"public"},"enabled":"yes"}"#), &["`clients[0].enabled`: invalid type"]),
        // The issuer: required, and a URL.
        (doc("").replace(r#""issuer":"https://auth.example.com","#, ""), &[
            "`issuer` is missing: the URL clients and resource servers know this server by",
        ]),
        (doc("").replace("https://auth", "auth"), &["`issuer` must be an http or https URL"]),
        // The core's bounds, by `Config::validate`.
        (doc(r#","access_token_ttl":0"#), &["`access_token_ttl` must be between 1 and"]),
        (doc(r#","code_ttl":3600"#), &["`code_ttl` must be between 1 and 600 seconds"]),
        (doc(r#","limiter":{"burst":0,"per_minute":60}"#), &["`limiter.burst` must be at least 1"]),
        // Keys.
        (doc("").replace(KEY, "c2hvcnQ="), &["`keys`: ", "shorter than 32 bytes"]),
        (doc("").replace(KEY, "not*base64!"), &["`keys.signing.secret_b64`: not base64", "head -c 32"]),
        (doc("").replace(r#""signing":"#, r#""verify_only":[],"x":"#), &["`keys.x`: unknown field `x`, expected `signing` or `verify_only`"]),
        (r#"{"issuer":"https://a.example","clients":[]}"#.into(), &["`keys` is missing"]),
        // Clients.
        (doc("").replace(r#","clients":[]"#, ""), &["`clients` is missing: a list of clients, [] for none"]),
        (with_clients(r#"{"id":"c","auth":{"type":"confidential","secret":"hunter2-hunter2-hunter2"}}"#), &[
            "`clients[0].auth.secret`: must be a digest (\"sha256:\" and 64 hex digits), never the secret itself",
            "`gatehouse-example hash-secret`",
            "hash-secret --generate",
        ]),
        (with_clients(&format!(r#"{{"id":"c","auth":{{"type":"public","secret":"{DIGEST}"}}}}"#)), &[
            "`clients[0].auth.secret`: a public client has no secret (RFC 6749 §2.1): remove it, or make the \
             client \"confidential\"",
        ]),
        (with_clients(r#"{"id":"c","auth":{"type":"pubic"}}"#), &["`clients[0].auth.type`: unknown variant `pubic`, expected `public` or `confidential`"]),
        (with_clients(r#"{"id":"c"}"#), &["`clients[0].auth` is missing"]),
        (with_clients(&format!("{web}}}")), &["`clients[0].redirect_uris` is missing or empty", "authorization_code"]),
        (with_clients(r#"{"id":"c","auth":{"type":"public"},"grant_types":["refresh_token"]}"#), &[
            "`clients[0].audiences` is missing or empty",
            "e.g. [\"https://api.example.com\"]",
        ]),
        (
            with_clients(&format!(
                r#"{{"id":"rs","auth":{{"type":"confidential","secret":"{DIGEST}","resource_server":{{"resources":[]}}}}}}"#
            )),
            &["`clients[0].auth.resource_server.resources` is empty: list the resource identifiers"],
        ),
        (with_clients(r#"{"id":"c","auth":{"type":"public"},"scope":"a","default_scope":"b"}"#), &[
            "`clients[0].default_scope` (client c): default_scope must be within scope",
        ]),
        (
            with_clients(
                r#"{"id":"c","auth":{"type":"public"},"audiences":["https://a.example"],"default_audience":"https://b.example"}"#,
            ),
            &["`clients[0].default_audience` (client c): default_audience entry \"https://b.example\" is refused"],
        ),
        (with_clients(&format!("{web},\"redirect_uris\":[\"https://app.example/cb#frag\"]}}")), &[
            "`clients[0].redirect_uris` (client w): redirect_uris entry \"https://app.example/cb#frag\" is refused",
        ]),
        (with_clients(r#"{"id":"c","auth":{"type":"public"}},{"id":"c","auth":{"type":"public"}}"#), &[
            "`clients[1].id`: client id c appears twice",
        ]),
        // Demo users.
        (doc(r#","demo_users":{"username":"alice"}"#), &["`demo_users`: invalid type: map, expected a sequence"]),
        (doc(r#","demo_users":[{"username":"alice","password_digest":"hunter2-hunter2"}]"#), &[
            "`demo_users[0].password_digest`: must be a digest",
            "hash-secret",
        ]),
        (doc(&format!(r#","demo_users":[{{"username":"","password_digest":"{DIGEST}"}}]"#)), &[
            "`demo_users[0].username`: ",
        ]),
        (
            doc(&format!(
                r#","demo_users":[{{"username":"a","password_digest":"{DIGEST}"}},{{"username":"a","password_digest":"{DIGEST}"}}]"#
            )),
            &["`demo_users[1].username`: a appears twice"],
        ),
    ];
    for (text, wants) in &cases {
        let e = error(text);
        for want in *wants {
            assert!(e.contains(want), "{text}:\n got {e:?}\nwant {want:?}");
        }
        assert!(!e.contains("not*base64") && !e.contains("hunter2") && !e.contains(KEY), "{e}");
    }
    assert!(!error("{").contains("not a JSON object"));
}

#[test]
fn the_sample_key_is_refused_off_loopback() {
    let sample = Settings::from_json(&doc("")).unwrap();
    assert!(sample.check_exposure("127.0.0.1:8080".parse().unwrap()).is_ok());
    assert!(sample.check_exposure("[::1]:8080".parse().unwrap()).is_ok());
    for addr in ["0.0.0.0:8080", "10.1.2.3:443", "[::]:8080"] {
        let e = sample.check_exposure(addr.parse().unwrap()).unwrap_err().to_string();
        assert!(e.starts_with(&format!("refusing to listen on {addr}: ")), "{e}");
        assert!(e.contains("published sample key") && e.contains("head -c 32 /dev/urandom | base64"), "{e}");
    }
    let own = Settings::from_json(&doc("").replace(KEY, OTHER_KEY)).unwrap();
    assert!(own.check_exposure("0.0.0.0:8080".parse().unwrap()).is_ok());
    // The sample key is as dangerous as a key that only verifies.
    let verifying = doc("")
        .replace(KEY, OTHER_KEY)
        .replace(r#""keys":{"#, &format!(r#""keys":{{"verify_only":[{{"id":"old","secret_b64":"{KEY}"}}],"#));
    let verifying = Settings::from_json(&verifying).unwrap();
    assert!(verifying.check_exposure("0.0.0.0:8080".parse().unwrap()).is_err());
}

#[test]
fn listen_override_warns_while_the_issuer_names_the_old_address() {
    let s = Settings::load(Path::new(SAMPLE_PATH)).unwrap();
    let w = s.listen_override_warning("0.0.0.0:9000".parse().unwrap()).unwrap();
    assert!(
        w.starts_with("--listen 0.0.0.0:9000 moves the server, but `issuer` (http://127.0.0.1:8080)"),
        "{w}"
    );
    assert!(w.contains("as do the redirect URIs of demo-web"), "{w}");
    assert_eq!(s.listen_override_warning(s.listen), None, "the same address moves nothing");
    let own = Settings::from_json(&doc("")).unwrap();
    assert_eq!(own.listen_override_warning("0.0.0.0:9000".parse().unwrap()), None, "an issuer of its own");
}
