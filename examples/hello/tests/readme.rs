//! The root README's embedding section is this crate: its Rust block is
//! `src/main.rs` byte for byte, its dependency lines are this crate's, and
//! the app, run as the README says, issues a token and serves the
//! protected route with it (and refuses it without one).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

const README: &str = include_str!("../../../README.md");
const MAIN: &str = include_str!("../src/main.rs");
const MANIFEST: &str = include_str!("../Cargo.toml");

/// The body of the first fenced block opening with `fence` in the
/// README's `## Embedding` section.
fn embedding_block(fence: &str) -> &'static str {
    let start = README.find("\n## Embedding\n").unwrap();
    let section = &README[start + 1..];
    let section = &section[..section.find("\n## ").unwrap()];
    let open = format!("\n{fence}\n");
    let body = &section[section.find(&open).unwrap() + open.len()..];
    &body[..body.find("```\n").unwrap()]
}

#[test]
fn the_readme_app_is_this_crate_in_at_most_20_lines() {
    let block = embedding_block("```rust,no_run");
    assert_eq!(block, MAIN, "the README's embedding block differs from examples/hello/src/main.rs");
    assert!(block.lines().count() <= 20, "{} lines", block.lines().count());
}

/// Each README dependency line names a dependency of this crate with the
/// same version requirement and features (the gatehouse crates add only
/// their `path` here).
#[test]
fn the_readme_dependency_lines_are_this_crates() {
    let block = embedding_block("```toml");
    let mut lines = block.lines();
    assert_eq!(lines.next(), Some("[dependencies]"));
    let deps = &MANIFEST[MANIFEST.find("\n[dependencies]\n").unwrap()..];
    let deps = &deps[..deps.find("\n\n").unwrap()];
    let mut names = Vec::new();
    for line in lines {
        let (name, spec) = line.split_once(" = ").unwrap();
        let ours = deps.lines().find(|l| l.starts_with(&format!("{name} = "))).unwrap_or_else(|| {
            panic!("{name} is not a dependency of examples/hello");
        });
        let ours = &ours[name.len() + 3..];
        if let Some(version) = spec.strip_prefix('"') {
            let version = version.trim_end_matches('"');
            assert!(ours == spec || ours.contains(&format!("version = \"{version}\"")), "{name}: {ours}");
        } else {
            assert_eq!(ours, spec, "{name}");
        }
        names.push(name);
    }
    // Every dependency is in the README.
    let ours = deps.lines().filter(|l| l.contains(" = ") && !l.starts_with('#')).count();
    assert_eq!(ours, names.len(), "{names:?}");
    for name in ["gatehouse-axum", "gatehouse-core", "gatehouse-memory"] {
        assert!(block.contains(&format!("{name} = \"0.1\"")), "{name}");
    }
    assert!(env!("CARGO_PKG_VERSION").starts_with("0.1."), "update the README's gatehouse versions");
}

/// The app as `cargo run` starts it, killed when the test ends.
struct App {
    child: Child,
    addr: SocketAddr,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl App {
    fn start(secret: &str) -> Self {
        // A free port: bound and released, then handed to the app.
        let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hello"))
            .env("LISTEN", addr.to_string())
            .env("APP_SECRET", secret)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut app = Self { child, addr };
        // Wait until it accepts connections (or has exited).
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = app.child.try_wait().unwrap() {
                panic!("the app exited: {status}");
            }
            assert!(Instant::now() < deadline, "the app did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        app
    }

    /// One HTTP/1.1 request; the status, the head and the body.
    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &str,
    ) -> (u16, String, String) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_owned(), body.to_owned())
    }
}

/// The README's `bash` block: the secret it runs the app with, and the
/// answers it shows, each checked against the running app.
#[test]
fn the_readme_app_issues_a_token_and_serves_the_protected_route_with_it() {
    let shown = embedding_block("```bash");
    let secret = shown.split_once("APP_SECRET=").unwrap().1.split(' ').next().unwrap();
    assert!(shown.contains(&format!("curl -s -u app:{secret} -d grant_type=client_credentials ")), "{shown}");
    let app = App::start(secret);
    let basic = format!("Basic {}", STANDARD.encode(format!("app:{secret}")));
    let form = ("Content-Type", "application/x-www-form-urlencoded".to_owned());
    let (status, _, body) =
        app.send("POST", "/oauth/token", &[("Authorization", basic), form], "grant_type=client_credentials");
    assert_eq!(status, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(token["scope"], "read");
    let token = token["access_token"].as_str().unwrap();

    let (status, _, body) = app.send("GET", "/hello", &[("Authorization", format!("Bearer {token}"))], "");
    assert_eq!((status, body.as_str()), (200, "hello, app\n"));
    let answer = format!("/hello\n# {}\n", body.trim_end());
    assert!(shown.contains(&answer), "the README does not show {answer:?}");

    let (status, head, body) = app.send("GET", "/hello", &[], "");
    assert_eq!(status, 401, "{body}");
    let challenge =
        head.lines().find_map(|l| l.to_ascii_lowercase().starts_with("www-authenticate: ").then(|| &l[18..]));
    assert_eq!(challenge, Some(r#"Bearer realm="https://api.example""#));
    let answer =
        format!("# HTTP/1.1 401 Unauthorized\n# www-authenticate: {}\n# {body}\n", challenge.unwrap());
    assert!(shown.contains(&answer), "the README does not show {answer:?}");

    // The metadata document names the app's own address.
    let (status, _, body) = app.send("GET", "/.well-known/oauth-authorization-server", &[], "");
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["token_endpoint"], format!("http://{}/oauth/token", app.addr));
}
