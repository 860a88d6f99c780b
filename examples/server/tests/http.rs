//! End-to-end tests of the example server: the app runs in-process on
//! 127.0.0.1:0 and is driven over real HTTP/1.1 with a small hand-written
//! client (no HTTP client dependency). The README's curl examples are run
//! against it too, so they stay correct.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::{
    basic, form, introspect, issue, post, sample, send, start, start_configured, start_with, Resp, CLIENT, RS,
};
use gatehouse_example_server::settings::SAMPLE_PATH;
use gatehouse_example_server::{hash_secret, App, StoreSettings};
use gatehouse_memory::MemoryStore;
use serde_json::Value;

const README: &str = include_str!("../../../README.md");

// ---------------------------------------------------------------------
// The flows
// ---------------------------------------------------------------------

#[tokio::test]
async fn token_endpoint_issues_with_basic() {
    let app = start().await;
    let r = post(app.addr, "/oauth/token", Some(CLIENT), "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert!(j["access_token"].as_str().unwrap().starts_with("gat_k1."));
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["expires_in"], 3600);
    assert_eq!(j["scope"], "read");

    let r =
        post(app.addr, "/oauth/token", Some(CLIENT), "grant_type=client_credentials&scope=read+write").await;
    assert_eq!(r.json()["scope"], "read write");
    app.shutdown().await;
}

#[tokio::test]
async fn resource_server_sees_an_active_token_with_its_fields() {
    let app = start().await;
    let token = issue(app.addr).await;
    let r = introspect(app.addr, Some(RS), &token).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j = r.json();
    assert_eq!(j["active"], true);
    assert_eq!(j["client_id"], "demo-client");
    assert_eq!(j["scope"], "read");
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["aud"], serde_json::json!(["https://api.example.com"]));
    assert_eq!(j["iss"], "http://127.0.0.1:8080");
    let (iat, exp) = (j["iat"].as_u64().unwrap(), j["exp"].as_u64().unwrap());
    assert_eq!(exp - iat, 3600);
    assert!(j["jti"].is_string());
    // No field carries the token back.
    assert!(!r.text().contains(&token));
    app.shutdown().await;
}

#[tokio::test]
async fn garbage_token_is_exactly_inactive() {
    let app = start().await;
    for garbage in ["garbage", "gat_k1.AAAA", "gat_k9.not-a-real-token"] {
        let r = introspect(app.addr, Some(RS), garbage).await;
        assert_eq!((r.status, r.text().as_str()), (200, r#"{"active":false}"#));
    }
    app.shutdown().await;
}

#[tokio::test]
async fn non_resource_server_client_gets_403() {
    let app = start().await;
    let token = issue(app.addr).await;
    let r = introspect(app.addr, Some(CLIENT), &token).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "access_denied");
    assert!(r.json().get("active").is_none(), "{}", r.text());
    app.shutdown().await;
}

#[tokio::test]
async fn public_client_cannot_introspect() {
    let app = start().await;
    let token = issue(app.addr).await;
    // A public client has no secret: any Basic credentials fail.
    let r = introspect(app.addr, Some(("demo-public", "")), &token).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    // A bare client_id authenticates nothing (RFC 7662 §2.1).
    let r = post(app.addr, "/oauth/introspect", None, &format!("client_id=demo-public&token={token}")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    app.shutdown().await;
}

#[tokio::test]
async fn wrong_secret_is_401_with_www_authenticate() {
    let app = start().await;
    let token = issue(app.addr).await;
    let r = introspect(app.addr, Some(("demo-rs", "wrong-secret-wrong-secret-wrong-secret")), &token).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some(r#"Basic realm="oauth", charset="UTF-8""#));
    assert_eq!(r.json()["error"], "invalid_client");
    // Unknown client: the same answer.
    let r = introspect(app.addr, Some(("nobody", "wrong-secret-wrong-secret-wrong-secret")), &token).await;
    assert_eq!(r.status, 401);
    // No credentials at all.
    let r = introspect(app.addr, None, &token).await;
    assert_eq!(r.status, 401);
    app.shutdown().await;
}

/// RFC 6749 §5.2: credentials tried in the `Authorization` header under a
/// scheme the server does not take still get 401 with a challenge.
#[tokio::test]
async fn another_authorization_scheme_is_401_with_www_authenticate() {
    let app = start().await;
    for scheme in ["Bearer abc", "Digest username=\"demo-client\""] {
        let auth = ("Authorization", scheme.to_owned());
        let r =
            send(app.addr, "POST", "/oauth/token", &[form(), auth], b"grant_type=client_credentials").await;
        assert_eq!(r.status, 401, "{scheme}: {}", r.text());
        assert_eq!(r.header("www-authenticate"), Some(r#"Basic realm="oauth", charset="UTF-8""#), "{scheme}");
        assert_eq!(r.json()["error"], "invalid_client");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn get_is_405_with_allow_post() {
    let app = start().await;
    for path in ["/oauth/introspect", "/oauth/token", "/oauth/revoke"] {
        let r = send(app.addr, "GET", path, &[], b"").await;
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.header("allow"), Some("POST"));
    }
    let r = send(app.addr, "POST", "/oauth/nothing", &[form()], b"").await;
    assert_eq!(r.status, 404);
    app.shutdown().await;
}

#[tokio::test]
async fn revoked_token_introspects_inactive() {
    let app = start().await;
    let token = issue(app.addr).await;
    assert_eq!(introspect(app.addr, Some(RS), &token).await.json()["active"], true);
    // Revocation by someone else's client is a silent no-op (RFC 7009 §2.1).
    let r = post(app.addr, "/oauth/revoke", Some(RS), &format!("token={token}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(introspect(app.addr, Some(RS), &token).await.json()["active"], true);
    let r = post(app.addr, "/oauth/revoke", Some(CLIENT), &format!("token={token}")).await;
    assert_eq!((r.status, r.text().as_str()), (200, "{}"));
    let r = introspect(app.addr, Some(RS), &token).await;
    assert_eq!(r.text(), r#"{"active":false}"#);
    app.shutdown().await;
}

#[tokio::test]
async fn fishing_is_throttled_even_for_valid_tokens() {
    let mut settings = sample();
    settings.server.limiter.burst = 2;
    settings.server.limiter.per_minute = 1;
    let app = start_with(settings).await;
    let token = issue(app.addr).await;
    for _ in 0..2 {
        assert_eq!(introspect(app.addr, Some(RS), "gat_k1.guess").await.text(), r#"{"active":false}"#);
    }
    for t in ["gat_k1.guess", token.as_str()] {
        let r = introspect(app.addr, Some(RS), t).await;
        assert_eq!(r.status, 429);
        assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
        assert!(r.json().get("active").is_none(), "{}", r.text());
    }
    app.shutdown().await;
}

#[tokio::test]
async fn body_over_the_limit_is_refused_like_the_core_does() {
    let app = start().await;
    let limit = sample().server.max_body_bytes;
    let at_limit = format!("token={}", "a".repeat(limit - 6));
    let r = post(app.addr, "/oauth/introspect", Some(RS), &at_limit).await;
    assert_eq!(r.text(), r#"{"active":false}"#);
    let over = format!("{at_limit}a");
    let r = post(app.addr, "/oauth/introspect", Some(RS), &over).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.text().as_bytes(), gatehouse_core::HttpResponse::body_too_large().body);
    app.shutdown().await;
}

#[tokio::test]
async fn purge_runs_against_the_store() {
    let app = App::new(MemoryStore::new(), sample()).await.unwrap();
    assert_eq!(gatehouse_example_server::purge_once(app.server()).await.unwrap(), 0);
}

/// One tick purges everything expired, in batches of `PURGE_BATCH`.
#[tokio::test]
async fn purge_loops_over_batches_until_one_comes_back_short() {
    use gatehouse_core::model::{Claims, ClientId, GrantId, Jti, Scope, TokenKind, TokenRecord};
    use gatehouse_core::{Keyring, TokenStore, UnixTime};
    use gatehouse_example_server::{purge_once, PURGE_BATCH};

    let app = App::new(MemoryStore::new(), sample()).await.unwrap();
    let keys = Keyring::random().unwrap();
    let expired = 2 * PURGE_BATCH + 5;
    for i in 0..expired + 3 {
        let (_, digest) = keys.mint(TokenKind::Access, GrantId::generate().unwrap()).unwrap();
        // The last three are live and must stay.
        let exp = if i < expired { UnixTime(1_000) } else { app.server().now().plus(3600) };
        let record = TokenRecord::access(
            digest,
            Jti::generate().unwrap(),
            Claims::new(
                ClientId::new("demo-client").unwrap(),
                Scope::parse("read").unwrap(),
                Vec::new().into(),
            ),
            UnixTime(1),
            exp,
        );
        app.server().store().insert(record).await.unwrap();
    }
    assert_eq!(purge_once(app.server()).await.unwrap(), expired);
    assert_eq!(purge_once(app.server()).await.unwrap(), 0);
    assert_eq!(app.server().store().purge_expired(UnixTime(u64::MAX), usize::MAX).await.unwrap(), 3);
}

// ---------------------------------------------------------------------
// The configured store: SQLite by default
// ---------------------------------------------------------------------

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gatehouse-example-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn sqlite_store_keeps_tokens_and_revocations_across_restarts() {
    let dir = temp_dir("sqlite-restart");
    let path = dir.join("tokens.db");
    let settings = || {
        let mut s = sample();
        s.store = StoreSettings::Sqlite { path: path.clone() };
        s
    };
    let app = start_configured(settings());
    let token = issue(app.addr).await;
    assert!(path.exists(), "the database file is created on first start");
    app.shutdown().await;

    let app = start_configured(settings());
    assert_eq!(introspect(app.addr, Some(RS), &token).await.json()["active"], true);
    let r = post(app.addr, "/oauth/revoke", Some(CLIENT), &format!("token={token}")).await;
    assert_eq!(r.status, 200);
    app.shutdown().await;

    let app = start_configured(settings());
    assert_eq!(introspect(app.addr, Some(RS), &token).await.text(), r#"{"active":false}"#);
    app.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn sqlite_store_that_cannot_be_opened_is_a_start_error() {
    let dir = temp_dir("sqlite-bad");
    let mut settings = sample();
    settings.store = StoreSettings::Sqlite { path: dir.join("no-such-dir").join("tokens.db") };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = gatehouse_example_server::run(settings, listener, std::future::pending()).await.unwrap_err();
    let e = e.to_string();
    assert!(e.starts_with("cannot open the sqlite store: "), "{e}");
    let dir_named = format!("the directory {} does not exist", dir.join("no-such-dir").display());
    assert!(e.contains(&dir_named) && e.contains("`store.path`"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The sample config names no directory: the binary creates `gatehouse.db`
/// in its current directory on first start, and serves from it.
#[test]
fn binary_creates_the_sqlite_file_in_its_current_directory() {
    use std::io::BufRead as _;
    let dir = temp_dir("sqlite-cwd");
    let mut child = binary()
        .current_dir(&dir)
        .args(["--config", SAMPLE_PATH, "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Blocks until the server prints, or exits (end of output).
    let mut seen = Vec::new();
    let listening = lines.by_ref().map_while(Result::ok).find(|l| {
        seen.push(l.clone());
        l.starts_with("gatehouse example listening on http://127.0.0.1:")
    });
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(listening.is_some(), "{seen:?} {}", String::from_utf8_lossy(&out.stderr));
    assert!(seen.iter().any(|l| l == "gatehouse example: tokens in SQLite file gatehouse.db"), "{seen:?}");
    assert!(dir.join("gatehouse.db").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------
// The binary: config errors and hash-secret
// ---------------------------------------------------------------------

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gatehouse-example"))
}

#[test]
fn config_errors_exit_1_with_a_clear_message() {
    let dir = std::env::temp_dir().join(format!("gatehouse-example-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_b64 = "c2VjcmV0LWtleS1tYXRlcmlhbC10aGF0LW11c3Qtbm90LWxlYWs=";
    let cases: [(&str, String, &str); 4] = [
        ("missing.json", String::new(), "cannot read config file"),
        ("syntax.json", "{\"keys\": ".to_owned(), "invalid JSON: EOF while parsing a value at line 1"),
        (
            "typo.json",
            format!(
                r#"{{"acess_token_ttl":5,"keys":{{"signing":{{"id":"k1","secret_b64":"{secret_b64}"}}}},"clients":[]}}"#
            ),
            "unknown field `acess_token_ttl`",
        ),
        (
            "badclient.json",
            format!(
                r#"{{"keys":{{"signing":{{"id":"k1","secret_b64":"{secret_b64}"}}}},"clients":[{{"id":"c","auth":{{"type":"confidential","secret":"plain-text-secret"}}}}]}}"#
            ),
            "clients[0]",
        ),
    ];
    for (name, text, want) in cases {
        let path = dir.join(name);
        if !text.is_empty() {
            std::fs::write(&path, text).unwrap();
        }
        let out = binary().arg("--config").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(want), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(!stderr.contains(secret_b64) && !stderr.contains("plain-text-secret"), "{stderr}");
        assert!(out.stdout.is_empty(), "{name}: nothing is printed before the config is valid");
    }
    let out = binary().args(["--listen", "not-an-address"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not IP:PORT"));
    let out = binary().arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn binary_refuses_the_sample_key_off_loopback() {
    use std::io::BufRead as _;
    let mut child = binary()
        .args(["--config", SAMPLE_PATH, "--listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Until it exits (end of output) or, wrongly, serves.
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let served = stdout.lines().map_while(Result::ok).find(|l| l.starts_with("gatehouse example listening"));
    if served.is_some() {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!((served, out.status.code()), (None, Some(1)), "{stderr}");
    assert!(stderr.contains("refusing to listen on 0.0.0.0:"), "{stderr}");
    assert!(stderr.contains("head -c 32 /dev/urandom | base64"), "{stderr}");
}

/// Spawns the binary on the sample config (memory store) on a free loopback
/// port and waits until it says it listens. Returns the child and a thread
/// reading the rest of its stdout (so it never blocks on a full pipe).
fn spawn_listening(dir: &std::path::Path) -> (std::process::Child, std::thread::JoinHandle<Vec<String>>) {
    use std::io::BufRead as _;
    let config = dir.join("memory.json");
    let sample = std::fs::read_to_string(SAMPLE_PATH).unwrap();
    let memory = sample.replace(r#""type": "sqlite", "path": "gatehouse.db""#, r#""type": "memory""#);
    assert_ne!(memory, sample);
    std::fs::write(&config, memory).unwrap();
    let mut child = binary()
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Blocks until the server prints, or exits (end of output).
    let mut seen = Vec::new();
    let listening = lines.by_ref().map_while(Result::ok).find(|l| {
        seen.push(l.clone());
        l.starts_with("gatehouse example listening on http://127.0.0.1:")
    });
    if listening.is_none() {
        let out = child.wait_with_output().unwrap();
        panic!("never listened: {seen:?} {}", String::from_utf8_lossy(&out.stderr));
    }
    (child, std::thread::spawn(move || lines.map_while(Result::ok).collect()))
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_binary_gracefully() {
    let dir = temp_dir("sigterm");
    let (child, rest) = spawn_listening(&dir);
    let pid = child.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    // A guard, not a synchronisation: a server that ignores SIGTERM must
    // fail the test, not hang it.
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let Ok(out) = exited.recv_timeout(std::time::Duration::from_secs(60)) else {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        panic!("still running 60 s after SIGTERM");
    };
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "a clean exit, not death by signal: {:?} {stderr}", out.status);
    assert_eq!(rest.join().unwrap(), ["gatehouse example: shutting down"]);
    // `--listen` moved the server while the issuer names the file's address.
    assert!(stderr.contains("warning: --listen 127.0.0.1:0 moves the server"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn hash_via_binary(stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = binary()
        .arg("hash-secret")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn hash_secret_generate_prints_a_url_safe_secret_and_its_digest() {
    let run = || {
        let out = binary().args(["hash-secret", "--generate"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let mut lines = stdout.lines();
        let secret = lines.next().unwrap().strip_prefix("secret: ").unwrap().to_owned();
        let digest = lines.next().unwrap().strip_prefix("digest: ").unwrap().to_owned();
        assert_eq!(lines.next(), None);
        (secret, digest)
    };
    let (secret, digest) = run();
    // Unreserved characters only: form-encoding (RFC 6749 §2.3.1) leaves
    // them as they are, so `curl -u id:secret` sends exactly the secret.
    assert!(secret.len() >= 32 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)));
    assert_eq!(hash_secret(&secret).unwrap(), digest);
    assert_ne!(run().0, secret, "a new secret each time");
}

#[tokio::test]
async fn a_generated_secret_works_with_basic_as_is() {
    let out = binary().args(["hash-secret", "--generate"]).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let secret = stdout.lines().next().unwrap().strip_prefix("secret: ").unwrap().to_owned();
    let digest = stdout.lines().nth(1).unwrap().strip_prefix("digest: ").unwrap();
    let sample = std::fs::read_to_string(SAMPLE_PATH).unwrap();
    let (_, old) = sample_digests().into_iter().find(|(id, _)| id == CLIENT.0).unwrap();
    let settings = gatehouse_example_server::Settings::from_json(&sample.replace(&old, digest)).unwrap();
    let app = start_with(settings).await;
    let r = post(app.addr, "/oauth/token", Some((CLIENT.0, &secret)), "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "{}", r.text());
    app.shutdown().await;
}

/// Why `--generate` exists: a secret with `+`, sent raw in Basic the way
/// `curl -u` sends it, is form-decoded into a space and fails; `hash-secret`
/// warns about such a secret.
#[tokio::test]
async fn a_plus_in_a_secret_must_be_form_encoded_in_basic() {
    let secret = "abc+def/ghi=0123456789abcdef0123456789";
    let out = hash_via_binary(&format!("{secret}\n"));
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: this secret contains `+` or `%`") && !stderr.contains(secret),
        "{stderr}"
    );
    let digest = hash_secret(secret).unwrap();
    let sample = std::fs::read_to_string(SAMPLE_PATH).unwrap();
    let (_, old) = sample_digests().into_iter().find(|(id, _)| id == CLIENT.0).unwrap();
    let app =
        start_with(gatehouse_example_server::Settings::from_json(&sample.replace(&old, &digest)).unwrap())
            .await;
    let raw = post(app.addr, "/oauth/token", Some((CLIENT.0, secret)), "grant_type=client_credentials").await;
    assert_eq!(raw.status, 401, "{}", raw.text());
    let encoded = secret.replace('+', "%2B");
    let r = post(app.addr, "/oauth/token", Some((CLIENT.0, &encoded)), "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "{}", r.text());
    app.shutdown().await;
}

#[test]
fn hash_secret_prints_only_the_digest() {
    let out = hash_via_binary(&format!("{}\n", CLIENT.1));
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, format!("{}\n", hash_secret(CLIENT.1).unwrap()));
    assert!(!stdout.contains(CLIENT.1));
    let out = hash_via_binary("too-short\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("too-short"));
}

// ---------------------------------------------------------------------
// The README's curl examples
// ---------------------------------------------------------------------

/// The confidential clients' digests in the sample config, by id.
fn sample_digests() -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(SAMPLE_PATH).unwrap()).unwrap();
    v["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| Some((c["id"].as_str()?.to_owned(), c["auth"]["secret"].as_str()?.to_owned())))
        .collect()
}

#[test]
fn readme_demo_secrets_hash_to_the_sample_digests() {
    let digests = sample_digests();
    assert_eq!(digests.len(), 3, "demo-client, demo-rs and demo-web are confidential");
    for (id, digest) in &digests {
        let needle = format!("-u {id}:");
        let uses: Vec<&str> = README
            .split(&needle)
            .skip(1)
            .map(|rest| rest.split(|c: char| c.is_whitespace()).next().unwrap())
            .collect();
        assert!(!uses.is_empty(), "the README never authenticates as {id}");
        // Every use with the right secret hashes to the config; the README
        // may show deliberately wrong ones only in the wrong-secret example.
        let right: Vec<&&str> =
            uses.iter().filter(|s| hash_secret(s).ok().as_ref() == Some(digest)).collect();
        assert!(!right.is_empty(), "no README secret for {id} matches the sample config");
    }
    let listen = sample().listen;
    assert!(README.contains(&format!("http://{listen}/oauth/token")));
}

/// The README's advice makes secrets that survive HTTP Basic as they are
/// (issue 9, item 13), and explains the encoding rule for those that do not.
#[test]
fn readme_advises_secrets_that_need_no_encoding() {
    assert!(!README.contains("openssl rand -base64 32"), "half of those contain `+`");
    assert!(README.contains("cargo run -q -p gatehouse-example-server -- hash-secret --generate"));
    let basic = README.split_once("**Client secrets in HTTP Basic.**").unwrap().1;
    let basic = basic.split_once("\n\n").unwrap().0;
    assert!(basic.contains("RFC 6749 §2.3.1") && basic.contains("`%2B` for `+`"), "{basic}");
}

/// One command from a README `sh` block and the answer printed under it.
#[derive(Debug)]
struct Example {
    line: String,
    expected: Vec<String>,
}

fn readme_examples() -> Vec<Example> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut current: Option<Example> = None;
    let mut continued = String::new();
    for raw in README.lines() {
        if raw.starts_with("```") {
            in_sh = raw == "```sh";
            out.extend(current.take());
            continue;
        }
        if !in_sh {
            continue;
        }
        if let Some(part) = raw.strip_suffix('\\') {
            continued.push_str(part.trim_start());
            continue;
        }
        let line = format!("{continued}{}", raw.trim_start());
        continued.clear();
        if line.starts_with("curl ") || line.starts_with("TOKEN=$(curl ") {
            out.extend(current.take());
            current = Some(Example { line, expected: Vec::new() });
        } else if let (Some(ex), Some(answer)) = (current.as_mut(), line.strip_prefix("# ")) {
            ex.expected.push(answer.to_owned());
        } else {
            out.extend(current.take());
        }
    }
    out
}

/// Splits a shell command line into words: single and double quotes and
/// `$TOKEN`, which is all the README uses.
fn shell_words(line: &str, token: &str) -> Vec<String> {
    let line = line.replace("$TOKEN", token);
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => words.extend(word.take()),
            '\'' | '"' => {
                let w = word.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|&q| q != c));
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Runs a curl command line (the subset of options the README uses)
/// against `addr` instead of the documented address.
async fn run_curl(addr: SocketAddr, documented: SocketAddr, line: &str, token: &str) -> (bool, Resp) {
    let words = shell_words(line, token);
    assert_eq!(words[0], "curl", "{line}");
    let (mut include, mut method, mut data, mut headers, mut url) =
        (false, None, Vec::new(), Vec::new(), None);
    let mut it = words.into_iter().skip(1);
    while let Some(w) = it.next() {
        match w.as_str() {
            "-s" => {}
            "-i" => include = true,
            "-si" | "-is" => include = true,
            "-X" => method = it.next(),
            "-u" => {
                let creds = it.next().unwrap();
                let (id, secret) = creds.split_once(':').unwrap();
                headers.push(basic((id, secret)));
            }
            "-d" => data.push(it.next().unwrap()),
            w if w.starts_with("http://") => url = Some(w.to_owned()),
            other => panic!("the README uses curl option {other:?}, which this test does not know: {line}"),
        }
    }
    let url = url.unwrap_or_else(|| panic!("no URL in {line}"));
    let path = url.strip_prefix(&format!("http://{documented}")).unwrap_or_else(|| panic!("{url}"));
    let body = data.join("&");
    if !data.is_empty() {
        headers.push(form());
    }
    let method = method.unwrap_or_else(|| if data.is_empty() { "GET" } else { "POST" }.to_owned());
    (include, send(addr, &method, path, &headers, body.as_bytes()).await)
}

/// Fields whose documented value must match exactly; the others (tokens,
/// times, ids) only have to be present.
const STABLE: &[&str] =
    &["active", "scope", "client_id", "token_type", "aud", "iss", "error", "error_description", "expires_in"];

fn check_json(line: &str, expected: &str, actual: &Resp) {
    let want: Value =
        serde_json::from_str(expected).unwrap_or_else(|e| panic!("README JSON {expected}: {e}"));
    let got = actual.json();
    let (Value::Object(want), Value::Object(got)) = (want, got) else { panic!("{line}: not objects") };
    let mut wk: Vec<&String> = want.keys().collect();
    let mut gk: Vec<&String> = got.keys().collect();
    wk.sort();
    gk.sort();
    assert_eq!(wk, gk, "{line}: fields differ from the README");
    for k in STABLE {
        assert_eq!(want.get(*k), got.get(*k), "{line}: field {k}");
    }
}

#[tokio::test]
async fn readme_curl_examples_give_the_documented_answers() {
    let examples = readme_examples();
    assert!(examples.len() >= 8, "found only {} curl examples in the README", examples.len());
    let documented = sample().listen;
    let app = start().await;
    let mut token = String::new();
    for ex in &examples {
        if let Some(rest) = ex.line.strip_prefix("TOKEN=$(") {
            let (curl, pipe) = rest.split_once(" | ").unwrap();
            assert!(pipe.contains("grep -o '\"access_token\":\"[^\"]*\"' | cut -d'\"' -f4"), "{}", ex.line);
            let (_, r) = run_curl(app.addr, documented, curl, &token).await;
            assert_eq!(r.status, 200, "{}: {}", ex.line, r.text());
            token = r.json()["access_token"].as_str().unwrap().to_owned();
            continue;
        }
        let (include, r) = run_curl(app.addr, documented, &ex.line, &token).await;
        assert!(!ex.expected.is_empty(), "the README shows no answer for {}", ex.line);
        for want in &ex.expected {
            if let Some(status_line) = want.strip_prefix("HTTP/1.1 ") {
                assert!(include, "{}: a status line is only shown with -i", ex.line);
                let code: u16 = status_line.split(' ').next().unwrap().parse().unwrap();
                assert_eq!(r.status, code, "{}: {}", ex.line, r.text());
            } else if want.starts_with('{') {
                check_json(&ex.line, want, &r);
            } else if let Some((name, value)) = want.split_once(": ") {
                assert_eq!(r.header(name), Some(value), "{}: header {name}", ex.line);
            } else {
                panic!("cannot read the README's expected answer {want:?} for {}", ex.line);
            }
        }
    }
    assert!(!token.is_empty(), "the README never sets TOKEN");
    app.shutdown().await;
}
