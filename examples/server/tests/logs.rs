//! The binary's logs: the audit trail through `gatehouse-tracing` and the
//! subscriber `main.rs` sets up from the config's `log` (text or JSON) and
//! `RUST_LOG`. Each test runs the real binary and reads its standard error.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use common::{introspect, issue, post, CLIENT, RS, WEB};
use gatehouse_example_server::settings::SAMPLE_PATH;
use gatehouse_redis::testing::RedisServer;
use serde_json::Value;

/// The binary, serving the sample config changed by `edit`, on a loopback
/// port; its standard error is collected until it is stopped.
struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: JoinHandle<String>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Server {
    fn start(edit: impl FnOnce(&mut Value), rust_log: Option<&str>) -> Self {
        let mut config: Value = serde_json::from_str(&std::fs::read_to_string(SAMPLE_PATH).unwrap()).unwrap();
        config["store"] = serde_json::json!({ "type": "memory" });
        edit(&mut config);
        let dir = std::env::temp_dir().join(format!(
            "gatehouse-logs-{}-{}",
            std::process::id(),
            gatehouse_core::model::GrantId::generate().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(&path, config.to_string()).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse-example"));
        cmd.args(["--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        match rust_log {
            Some(v) => cmd.env("RUST_LOG", v),
            None => cmd.env_remove("RUST_LOG"),
        };
        let mut child = cmd.spawn().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let addr = loop {
            let mut line = String::new();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "the server stopped before listening");
            if let Some(a) = line.trim().strip_prefix("gatehouse example listening on http://") {
                break a.parse().unwrap();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Self { child, addr, stderr, _dir: TempDir(dir) }
    }

    /// Stops the server as a service manager would (SIGTERM: it finishes
    /// and writes out its last batch of lines); its standard error.
    fn stop(mut self) -> String {
        let term = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(term.success());
        assert!(self.child.wait().unwrap().success(), "the server did not stop cleanly");
        self.stderr.join().unwrap()
    }
}

/// The JSON lines of `log` with `"event": name`.
fn events<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["fields"]["event"] == name).collect()
}

/// With `"log": {"format": "json"}`, a failed authentication, a code replay
/// and a Redis outage each produce their JSON line at their level, and no
/// token, code, verifier or secret appears anywhere in the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_record_failures_replays_and_outages_without_secrets() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let server = Server::start(
        |c| {
            c["store"] = serde_json::json!({ "type": "redis", "url": url, "prefix": "logs-test:" });
            c["log"] = serde_json::json!({ "format": "json" });
        },
        None,
    );
    let addr = server.addr;
    let r =
        post(addr, "/oauth/token", Some((CLIENT.0, "a-wrong-secret")), "grant_type=client_credentials").await;
    assert_eq!(r.status, 401);
    let token = issue(addr).await;
    let (code, verifier, access, refresh) = common::code_flow(addr, Some("read write")).await;
    assert_eq!(common::exchange_code(addr, &code, &verifier).await.status, 400);
    redis.stop();
    let r = introspect(addr, Some(RS), &token).await;
    assert_eq!(r.status, 503, "{}", r.text());
    let out = server.stop();

    let lines: Vec<Value> =
        out.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    let failed = events(&lines, "client_auth_failed");
    assert_eq!(failed.len(), 1, "{out}");
    assert_eq!(failed[0]["level"], "INFO");
    assert_eq!(failed[0]["fields"]["client_id"], CLIENT.0);
    assert_eq!(failed[0]["fields"]["method"], "client_secret_basic");
    let replay = events(&lines, "replay_detected");
    assert_eq!(replay.len(), 1, "{out}");
    assert_eq!(replay[0]["level"], "WARN");
    assert_eq!(replay[0]["fields"]["token_kind"], "authorization_code");
    assert_eq!(replay[0]["fields"]["grant_revoked"], true);
    let outage = events(&lines, "store_failed");
    assert!(!outage.is_empty(), "{out}");
    assert_eq!(outage[0]["level"], "ERROR");
    assert_eq!(outage[0]["target"], "gatehouse::audit");
    assert!(outage[0]["fields"]["error"].as_str().unwrap().starts_with("storage backend unavailable"));
    assert_eq!(events(&lines, "token_issued").len(), 4, "{out}");
    for secret in [&token, &code, &verifier, &access, &refresh] {
        assert!(!out.contains(secret.as_str()), "a token or verifier in the logs");
        // Nor its random part alone (after the kind, key id and grant id).
        assert!(!out.contains(&secret[secret.len().saturating_sub(60)..]), "part of a token in the logs");
    }
    for secret in [CLIENT.1, RS.1, WEB.1, "a-wrong-secret", common::ALICE.1] {
        assert!(!out.contains(secret), "a secret in the logs");
    }
}

/// Text is the default format, and `RUST_LOG` filters: at
/// `gatehouse::audit=warn` a failed authentication (info) is not written,
/// throttling (warn) is.
#[tokio::test]
async fn text_logs_follow_rust_log() {
    let server =
        Server::start(|c| c["limiter"] = serde_json::json!({ "burst": 1, "per_minute": 1 }), Some("warn"));
    let addr = server.addr;
    post(addr, "/oauth/token", Some((CLIENT.0, "a-wrong-secret")), "grant_type=client_credentials").await;
    introspect(addr, Some(RS), "gat_k1.guess").await;
    assert_eq!(introspect(addr, Some(RS), "gat_k1.guess").await.status, 429);
    let out = server.stop();
    assert!(!out.contains("client_auth_failed"), "{out}");
    let line =
        out.lines().find(|l| l.contains("throttled")).unwrap_or_else(|| panic!("no throttled line: {out}"));
    assert!(line.contains("WARN") && line.contains("gatehouse::audit"), "{line}");
    assert!(line.contains("caller=\"demo-rs\""), "{line}");
    assert!(!line.starts_with('{'), "text, not JSON: {line}");
}

/// Makes `server` refuse one client authentication (a wrong secret), stops
/// it, and returns the audit line that refusal wrote.
async fn failed_auth_line(server: Server) -> String {
    let r = post(
        server.addr,
        "/oauth/token",
        Some((CLIENT.0, "a-wrong-secret")),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.status, 401);
    let out = server.stop();
    let line = out.lines().find(|l| l.contains("client_auth_failed")).map(str::to_owned);
    line.unwrap_or_else(|| panic!("no line: {out}"))
}

/// The default text line, byte for byte: the timestamp, then what
/// `tracing-subscriber`'s default format writes (the server writes it with
/// its own formatters, `log_text`, which must not change a byte: operators
/// grep these lines).
#[tokio::test]
async fn text_lines_are_exactly_the_default_format() {
    let line = failed_auth_line(Server::start(|_| {}, None)).await;
    // `2026-12-02T04:44:39.123456Z`, then the rest.
    let (time, rest) = line.split_at(27);
    let shape = |i: usize, b: u8| match i {
        4 | 7 => b == b'-',
        10 => b == b'T',
        13 | 16 => b == b':',
        19 => b == b'.',
        26 => b == b'Z',
        _ => b.is_ascii_digit(),
    };
    assert!(time.bytes().enumerate().all(|(i, b)| shape(i, b)), "{line}");
    assert_eq!(
        rest,
        format!(
            "  INFO gatehouse::audit: client authentication failed event=\"client_auth_failed\" \
             method=\"client_secret_basic\" client_id=\"{}\"",
            CLIENT.0
        )
    );
}

/// `info` lines wait in a batch of up to `batch_ms`; a server stopping
/// writes the batch out first, so a SIGTERM loses no line. (With a batch of
/// a second, the line is written before the period ends only by that final
/// flush.)
#[tokio::test]
async fn a_stopping_server_writes_out_its_last_batch() {
    let line =
        failed_auth_line(Server::start(|c| c["log"] = serde_json::json!({ "batch_ms": 1000 }), None)).await;
    assert!(line.contains("INFO"), "{line}");
}

/// `log` is optional (text, `info`, batches of 50 ms); `format` is `text` or `json`; a typo
/// is refused with its path.
#[test]
fn log_settings_parse() {
    use gatehouse_example_server::settings::{LogFormat, LogSettings};
    use gatehouse_example_server::Settings;
    let with = |log: Option<Value>| {
        let mut c: Value = serde_json::from_str(&std::fs::read_to_string(SAMPLE_PATH).unwrap()).unwrap();
        if let Some(l) = log {
            c["log"] = l;
        }
        Settings::from_json(&c.to_string())
    };
    let s = with(None).unwrap();
    assert_eq!(s.log, LogSettings::default());
    assert_eq!((s.log.format, s.log.filter.as_str()), (LogFormat::Text, "info"));
    let s = with(Some(serde_json::json!({ "format": "json", "filter": "warn" }))).unwrap();
    assert_eq!((s.log.format, s.log.filter.as_str()), (LogFormat::Json, "warn"));
    let e = with(Some(serde_json::json!({ "format": "yaml" }))).unwrap_err().to_string();
    assert!(e.contains("log.format"), "{e}");
    let e = with(Some(serde_json::json!({ "fromat": "json" }))).unwrap_err().to_string();
    assert!(e.contains("fromat"), "{e}");
    assert_eq!(s.log.batch_ms, 50);
    assert_eq!(with(Some(serde_json::json!({ "batch_ms": 0 }))).unwrap().log.batch_ms, 0);
    let e = with(Some(serde_json::json!({ "batch_ms": 1001 }))).unwrap_err().to_string();
    assert!(e.contains("log.batch_ms") && e.contains("at most 1000"), "{e}");
}
