//! `gatehouse-example admin ...`: every subcommand run as the real binary
//! against a real SQLite file (and Redis where it applies), beside an
//! example instance serving on the same store, as an operator would.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::{introspect, post, start_configured, ALICE, CLIENT, RS};
use gatehouse_example_server::settings::SAMPLE_PATH;
use gatehouse_example_server::Settings;
use gatehouse_redis::testing::{unique_prefix, TestRedis};
use serde_json::Value;

const README: &str = include_str!("../../../README.md");
const API: &str = "https://api.example.com";

/// A fresh directory with a copy of the sample config whose store is
/// `store` (a JSON object).
fn config_with(name: &str, store: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("gatehouse-admin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sample = std::fs::read_to_string(SAMPLE_PATH).unwrap();
    let text = sample.replace(r#"{ "type": "sqlite", "path": "gatehouse.db" }"#, store);
    assert_ne!(text, sample);
    let config = dir.join("config.json");
    std::fs::write(&config, text).unwrap();
    (dir, config)
}

fn sqlite_config(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("gatehouse-admin-{name}-{}", std::process::id()));
    let db = dir.join("store.db");
    config_with(name, &format!(r#"{{ "type": "sqlite", "path": {:?} }}"#, db.to_str().unwrap()))
}

/// Runs `gatehouse-example admin --config CONFIG ARGS...`.
fn admin(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse-example"))
        .arg("admin")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

/// Runs it, expects exit code 0, returns stdout.
fn ok(config: &Path, args: &[&str]) -> String {
    let out = admin(config, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn ok_json(config: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(config, &all)).unwrap()
}

/// Expects exit code `code`; returns stderr.
fn fails(config: &Path, args: &[&str], code: i32) -> String {
    let out = admin(config, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

async fn cc_token(addr: SocketAddr, creds: (&str, &str)) -> Result<String, u16> {
    let r = post(addr, "/oauth/token", Some(creds), "grant_type=client_credentials").await;
    match r.status {
        200 => Ok(r.json()["access_token"].as_str().unwrap().to_owned()),
        s => Err(s),
    }
}

async fn active(addr: SocketAddr, token: &str) -> bool {
    let r = introspect(addr, Some(RS), token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["active"] == true
}

/// Alice's access token for demo-web, through the code flow.
async fn alice_token(addr: SocketAddr) -> String {
    common::code_flow(addr, None).await.2
}

/// The grant id a token carries (the first 16 bytes of its body, see the
/// README's "Token format"), as the audit log prints it.
fn grant_of(token: &str) -> String {
    let body = token.split_once('.').unwrap().1;
    URL_SAFE_NO_PAD.encode(&URL_SAFE_NO_PAD.decode(body).unwrap()[..16])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_lifecycle_on_sqlite_beside_a_running_instance() {
    let (dir, config) = sqlite_config("clients");
    // The store file does not exist yet: admin refuses to create one.
    let e = fails(&config, &["clients", "list"], 1);
    assert!(e.contains("no such file"), "{e}");
    let app = start_configured(Settings::load(&config).unwrap());
    // The instance seeded the file's clients (the listener answers once it did).
    assert!(cc_token(app.addr, CLIENT).await.is_ok());

    // add: the secret is shown once, and works over HTTP at once.
    let added = ok_json(
        &config,
        &[
            "clients",
            "add",
            "my-app",
            "--type",
            "confidential",
            "--grant",
            "client_credentials",
            "--scope",
            "read write",
            "--default-scope",
            "read",
            "--audience",
            API,
        ],
    );
    let secret = added["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43);
    assert_eq!(added["client"]["id"], "my-app");
    let token = cc_token(app.addr, ("my-app", &secret)).await.unwrap();
    assert!(active(app.addr, &token).await);
    fails(&config, &["clients", "add", "my-app", "--type", "public"], 1);

    // list and show: tables and JSON, never a secret or its digest.
    let table = ok(&config, &["clients", "list"]);
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("ID ") && header.contains("ENABLED"), "{table}");
    let row = table.lines().find(|l| l.starts_with("my-app ")).unwrap();
    assert!(row.contains("confidential") && row.contains("client_credentials") && row.contains(API), "{row}");
    assert!(table.contains("demo-rs  ") && table.contains("resource-server"), "{table}");
    assert!(table.trim_end().ends_with("5 client(s)"), "{table}");
    let list = ok_json(&config, &["clients", "list"]);
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["demo-client", "demo-public", "demo-rs", "demo-web", "my-app"]);
    let show = ok_json(&config, &["clients", "show", "my-app"]);
    assert_eq!((show["scope"].as_str(), show["default_scope"].as_str()), (Some("read write"), Some("read")));
    assert_eq!(show["previous_secret_until"], Value::Null);
    let text = ok(&config, &["clients", "show", "my-app"]);
    assert!(text.contains("my-app") && text.contains("read write"), "{text}");
    for out in [&table, &list.to_string(), &show.to_string(), &text] {
        assert!(!out.contains(&secret) && !out.contains("sha256:"), "{out}");
    }

    // rotate-secret with an overlap: both secrets work until the deadline.
    let rotated = ok_json(&config, &["clients", "rotate-secret", "my-app", "--overlap", "1h"]);
    let second = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(second, secret);
    assert!(rotated["previous_secret_until"].as_u64().is_some());
    assert!(cc_token(app.addr, ("my-app", &second)).await.is_ok());
    assert!(cc_token(app.addr, ("my-app", &secret)).await.is_ok(), "the old secret works during the overlap");
    // Human output: the new secret once, and when the old one stops.
    let text = ok(&config, &["clients", "rotate-secret", "my-app", "--overlap", "0"]);
    let third = text.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().to_owned();
    assert!(text.contains("the previous secret stopped working"), "{text}");
    assert_eq!(cc_token(app.addr, ("my-app", &second)).await, Err(401), "--overlap 0 ends it at once");
    assert_eq!(cc_token(app.addr, ("my-app", &secret)).await, Err(401));
    assert!(cc_token(app.addr, ("my-app", &third)).await.is_ok());
    let e = fails(&config, &["clients", "rotate-secret", "demo-public", "--overlap", "1h"], 1);
    assert!(e.contains("public"), "{e}");
    fails(&config, &["clients", "rotate-secret", "nobody", "--overlap", "1h"], 1);
    fails(&config, &["clients", "rotate-secret", "my-app"], 2);
    fails(&config, &["clients", "rotate-secret", "my-app", "--overlap", "1 week"], 2);

    // disable and enable.
    let live = cc_token(app.addr, ("my-app", &third)).await.unwrap();
    assert_eq!(ok_json(&config, &["clients", "disable", "my-app"])["enabled"], false);
    assert_eq!(cc_token(app.addr, ("my-app", &third)).await, Err(401));
    assert!(!active(app.addr, &live).await);
    assert_eq!(ok_json(&config, &["clients", "enable", "my-app"])["enabled"], true);
    assert!(active(app.addr, &live).await, "enabling brings unexpired tokens back");
    fails(&config, &["clients", "disable", "nobody"], 1);

    // remove.
    ok(&config, &["clients", "remove", "my-app"]);
    assert_eq!(cc_token(app.addr, ("my-app", &third)).await, Err(401));
    assert!(!active(app.addr, &live).await);
    let e = fails(&config, &["clients", "show", "my-app"], 1);
    assert!(e.contains("no client my-app"), "{e}");
    fails(&config, &["clients", "remove", "my-app"], 1);

    app.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_add_checks_what_a_client_needs() {
    let (dir, config) = sqlite_config("add");
    let app = start_configured(Settings::load(&config).unwrap());
    assert!(cc_token(app.addr, CLIENT).await.is_ok());
    let cases: [(&[&str], &str); 6] = [
        (&["--type", "public", "--grant", "client_credentials"], "--audience is missing"),
        (
            &["--type", "public", "--grant", "authorization_code", "--audience", API],
            "--redirect-uri is missing",
        ),
        (&["--type", "public", "--resource-server", API], "--resource-server needs --type confidential"),
        (&["--type", "confidential", "--scope", "read", "--default-scope", "write"], "--default-scope"),
        (&["--type", "confidential", "--grant", "password", "--audience", API], "--grant"),
        (&["--grant", "client_credentials", "--audience", API], "--type"),
    ];
    for (flags, want) in cases {
        let mut args = vec!["clients", "add", "bad-app"];
        args.extend_from_slice(flags);
        let e = fails(&config, &args, 2);
        assert!(e.contains(want), "{flags:?}: {e}");
    }
    fails(&config, &["clients", "show", "bad-app"], 1);

    // A public code-flow client needs no secret: none is printed.
    let added = ok_json(
        &config,
        &[
            "clients",
            "add",
            "spa",
            "--type",
            "public",
            "--grant",
            "authorization_code",
            "--audience",
            API,
            "--redirect-uri",
            "http://127.0.0.1:9999/cb",
        ],
    );
    assert_eq!(added.get("client_secret"), None);
    assert_eq!(added["client"]["redirect_uris"][0], "http://127.0.0.1:9999/cb");
    // A resource server may introspect.
    let rs = ok_json(&config, &["clients", "add", "rs2", "--type", "confidential", "--resource-server", API]);
    let rs_secret = rs["client_secret"].as_str().unwrap();
    let token = cc_token(app.addr, CLIENT).await.unwrap();
    let r = introspect(app.addr, Some(("rs2", rs_secret)), &token).await;
    assert_eq!(r.json()["active"], true, "{}", r.text());
    app.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_revoke_and_purge_on_sqlite() {
    let (dir, config) = sqlite_config("tokens");
    let app = start_configured(Settings::load(&config).unwrap());
    let (alice1, alice2) = (alice_token(app.addr).await, alice_token(app.addr).await);
    let service = cc_token(app.addr, CLIENT).await.unwrap();
    let other = cc_token(app.addr, CLIENT).await.unwrap();

    // --grant: that grant only.
    let out = ok_json(&config, &["tokens", "revoke", "--grant", &grant_of(&alice1)]);
    assert_eq!(out["revoked"]["grant"], grant_of(&alice1));
    assert!(!active(app.addr, &alice1).await && active(app.addr, &alice2).await);

    // --subject at another client: nothing of alice at demo-web.
    let out = ok_json(&config, &["tokens", "revoke", "--subject", ALICE.0, "--client", CLIENT.0]);
    assert_eq!(out["grants_with_live_tokens"], 0);
    assert!(active(app.addr, &alice2).await);
    // --subject: sign out everywhere.
    let text = ok(&config, &["tokens", "revoke", "--subject", ALICE.0]);
    assert!(text.contains("subject alice: 1 grant(s)"), "{text}");
    assert!(!active(app.addr, &alice2).await);
    assert!(active(app.addr, &service).await, "client_credentials tokens have no subject");

    // --client: every grant of the client.
    let out = ok_json(&config, &["tokens", "revoke", "--client", CLIENT.0]);
    assert_eq!(out["grants_with_live_tokens"], 2);
    assert!(!active(app.addr, &service).await && !active(app.addr, &other).await);
    assert!(cc_token(app.addr, CLIENT).await.is_ok(), "the client itself still works");

    for args in [
        &["tokens", "revoke"][..],
        &["tokens", "revoke", "--grant", &grant_of(&other), "--client", CLIENT.0],
        &["tokens", "revoke", "--grant", "not-a-grant"],
        &["tokens", "revoke", "--subject", ""],
    ] {
        fails(&config, args, 2);
    }

    // purge: nothing has expired yet; the count is what the store deleted.
    assert_eq!(ok_json(&config, &["purge"])["purged"], 0);
    assert!(ok(&config, &["purge"]).starts_with("purged 0 expired token record(s)"));
    app.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keys_generate_prints_a_key_the_config_accepts() {
    let (dir, config) = sqlite_config("keys");
    let key = ok_json(&config, &["keys", "generate", "--id", "k7"]);
    assert_eq!(key["id"], "k7");
    let b64 = key["secret_b64"].as_str().unwrap();
    assert_eq!(STANDARD.decode(b64).unwrap().len(), 32);
    assert_ne!(ok_json(&config, &["keys", "generate"])["secret_b64"], b64, "a new key each time");
    // It goes into the config as the signing key, as is.
    let text = std::fs::read_to_string(&config).unwrap();
    let sample_key = "Z2F0ZWhvdXNlLWRlbW8ta2V5LVJFUExBQ0UtTUUtMDEyMzQ1Njc4OQ==";
    let new = text.replace(r#""id": "k1""#, r#""id": "k7""#).replace(sample_key, b64);
    assert_ne!(new, text);
    Settings::from_json(&new).unwrap();
    fails(&config, &["keys", "generate", "--id", "no spaces"], 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exit_codes_for_usage_and_failures() {
    let (dir, config) = sqlite_config("exit");
    fails(&config, &["clients", "frobnicate"], 2);
    fails(&config, &["clients", "show"], 2);
    fails(&config, &["clients", "show", ""], 2);
    fails(&config, &["--no-such-flag", "purge"], 2);
    let e = fails(&dir.join("missing.json"), &["purge"], 1);
    assert!(e.contains("cannot read config file"), "{e}");
    let (mem_dir, memory) = config_with("memory", r#"{ "type": "memory" }"#);
    let e = fails(&memory, &["clients", "list"], 1);
    assert!(e.contains("memory store lives inside the server process"), "{e}");
    // The server's own usage errors keep their code 1.
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse-example")).arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&mem_dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_on_redis_reaches_every_instance() {
    let redis = TestRedis::start();
    let store =
        format!(r#"{{ "type": "redis", "url": {:?}, "prefix": {:?} }}"#, redis.url(), unique_prefix());
    let (dir, config) = config_with("redis", &store);
    let a = start_configured(Settings::load(&config).unwrap());
    let b = start_configured(Settings::load(&config).unwrap());
    assert!(cc_token(a.addr, CLIENT).await.is_ok() && cc_token(b.addr, CLIENT).await.is_ok());

    let added = ok_json(
        &config,
        &[
            "clients",
            "add",
            "svc",
            "--type",
            "confidential",
            "--grant",
            "client_credentials",
            "--audience",
            API,
        ],
    );
    let secret = added["client_secret"].as_str().unwrap().to_owned();
    let token = cc_token(a.addr, ("svc", &secret)).await.unwrap();
    assert!(active(b.addr, &token).await);
    assert!(ok(&config, &["clients", "list"]).lines().any(|l| l.starts_with("svc ")));

    let rotated = ok_json(&config, &["clients", "rotate-secret", "svc", "--overlap", "0"]);
    let new = rotated["client_secret"].as_str().unwrap();
    assert_eq!(cc_token(b.addr, ("svc", &secret)).await, Err(401));
    assert!(cc_token(a.addr, ("svc", new)).await.is_ok());

    let alice = alice_token(a.addr).await;
    ok(&config, &["tokens", "revoke", "--subject", ALICE.0]);
    assert!(!active(b.addr, &alice).await && !active(a.addr, &alice).await);
    ok(&config, &["tokens", "revoke", "--client", "svc"]);
    assert!(!active(a.addr, &token).await);
    ok(&config, &["clients", "disable", "svc"]);
    assert_eq!(cc_token(b.addr, ("svc", new)).await, Err(401));
    ok(&config, &["clients", "remove", "svc"]);
    fails(&config, &["clients", "show", "svc"], 1);
    assert!(ok_json(&config, &["purge"])["purged"].as_u64().is_some());

    a.shutdown().await;
    b.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The README quotes `admin --help` as the binary prints it.
#[test]
fn readme_shows_the_admin_help_as_printed() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_gatehouse-example")).args(["admin", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let block = README
        .split_once("$ gatehouse-example admin --help\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(b, _)| b)
        .expect("the README shows `$ gatehouse-example admin --help` in a text block");
    assert_eq!(block.trim_end(), help.trim_end(), "update the README's copy of `admin --help`");
}
