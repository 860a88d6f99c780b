//! The example app in-process on loopback ports, and a small hand-written
//! HTTP/1.1 client to drive it (no HTTP client dependency).
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use gatehouse_example_server::settings::SAMPLE_PATH;
use gatehouse_example_server::{run, App, Settings};
use gatehouse_memory::MemoryStore;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::oneshot;

pub const CLIENT: (&str, &str) = ("demo-client", "demo-client-secret-not-for-production");
pub const RS: (&str, &str) = ("demo-rs", "demo-rs-secret-not-for-production-use");
pub const WEB: (&str, &str) = ("demo-web", "demo-web-secret-not-for-production-use");
pub const WEB_CALLBACK: &str = "http://127.0.0.1:8080/demo/callback";
pub const PUBLIC_CALLBACK: &str = "http://127.0.0.1:9876/callback";
/// The demo login page's user and password (sample config).
pub const ALICE: (&str, &str) = ("alice", "alice-demo-password-not-for-production");

// ---------------------------------------------------------------------
// The app and a minimal HTTP client
// ---------------------------------------------------------------------

/// An app serving on a loopback port in this process.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Running {
    /// Stops it gracefully; panics if it failed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

pub fn sample() -> Settings {
    Settings::load(Path::new(SAMPLE_PATH)).unwrap()
}

/// The app over a fresh memory store, whatever `settings.store` says.
pub async fn start_with(settings: Settings) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener, settings).await
}

/// Like [`start_with`], on a listener the caller bound (so the settings
/// can name its address).
pub async fn start_on(listener: tokio::net::TcpListener, settings: Settings) -> Running {
    let addr = listener.local_addr().unwrap();
    let app = App::new(MemoryStore::new(), settings).await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = app.serve(listener, async {
        let _ = stopped.await;
    });
    let task = tokio::spawn(async move { serve.await.map_err(|e| e.to_string()) });
    Running { addr, stop: Some(stop), task }
}

/// The app as the binary runs it: the store named by `settings.store`,
/// opened by [`run`]. The listener is bound before `run` starts, so
/// requests sent at once wait in its backlog until the app serves them.
pub fn start_configured(settings: Settings) -> Running {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let stopped = async {
            let _ = stopped.await;
        };
        run(settings, listener, stopped).await.map_err(|e| e.to_string())
    });
    Running { addr, stop: Some(stop), task }
}

pub async fn start() -> Running {
    start_with(sample()).await
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request on a fresh connection (`Connection: close`) and reads
/// the whole response.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Resp {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> Resp {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let resp = Resp { status, headers, body: raw[split + 4..].to_vec() };
    assert!(resp.header("transfer-encoding").is_none(), "this client does not decode chunked bodies");
    if let Some(len) = resp.header("content-length") {
        assert_eq!(resp.body.len(), len.parse::<usize>().unwrap());
    }
    resp
}

pub fn basic((id, secret): (&str, &str)) -> (&'static str, String) {
    ("Authorization", format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))))
}

pub fn form() -> (&'static str, String) {
    ("Content-Type", "application/x-www-form-urlencoded".to_owned())
}

pub async fn post(addr: SocketAddr, path: &str, creds: Option<(&str, &str)>, body: &str) -> Resp {
    let mut headers = vec![form()];
    headers.extend(creds.map(basic));
    send(addr, "POST", path, &headers, body.as_bytes()).await
}

pub async fn issue(addr: SocketAddr) -> String {
    let r = post(addr, "/oauth/token", Some(CLIENT), "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_owned()
}

pub async fn introspect(addr: SocketAddr, creds: Option<(&str, &str)>, token: &str) -> Resp {
    post(addr, "/oauth/introspect", creds, &format!("token={token}")).await
}

// ---------------------------------------------------------------------
// The authorization code flow: the demo login form, driven as a browser
// would
// ---------------------------------------------------------------------

/// A query string, form-encoded.
pub fn encode(pairs: &[(&str, &str)]) -> String {
    oauth2::url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// The value of `name` in the query of an absolute URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = oauth2::url::Url::parse(url).unwrap();
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The login form as a browser got it: the page, its CSRF token and the
/// cookie to send back.
pub struct LoginPage {
    pub resp: Resp,
    pub csrf: String,
    pub cookie: String,
}

/// `GET` the authorization URL's path and query; panics unless it is the
/// login form.
pub async fn open_login(addr: SocketAddr, path_and_query: &str) -> LoginPage {
    let resp = send(addr, "GET", path_and_query, &[], b"").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    login_page(resp)
}

/// Reads the CSRF token and cookie out of a rendered login form.
pub fn login_page(resp: Resp) -> LoginPage {
    let html = resp.text();
    let csrf = html
        .split_once(r#"name="csrf" value=""#)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(v, _)| v.to_owned())
        .unwrap_or_else(|| panic!("no CSRF field in {html}"));
    let set_cookie = resp.header("set-cookie").expect("the form sets its CSRF cookie");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    LoginPage { resp, csrf, cookie }
}

/// `POST`s the login form back to the same URL with `fields` and the
/// page's CSRF token and cookie.
pub async fn submit_login(
    addr: SocketAddr,
    path_and_query: &str,
    page: &LoginPage,
    fields: &[(&str, &str)],
) -> Resp {
    let mut all = fields.to_vec();
    all.push(("csrf", &page.csrf));
    let headers = [form(), ("Cookie", page.cookie.clone())];
    send(addr, "POST", path_and_query, &headers, encode(&all).as_bytes()).await
}

/// Signs in as alice and approves; returns the redirect's `Location`.
pub async fn approve(addr: SocketAddr, path_and_query: &str) -> String {
    let page = open_login(addr, path_and_query).await;
    let fields = [("username", ALICE.0), ("password", ALICE.1), ("decision", "approve")];
    let r = submit_login(addr, path_and_query, &page, &fields).await;
    assert_eq!(r.status, 302, "{}", r.text());
    r.header("location").unwrap().to_owned()
}

/// Runs the code flow for demo-web with PKCE, approved by the demo login,
/// asking for `scope` (or the client's default): (code, verifier, access
/// token, refresh token).
pub async fn code_flow(addr: SocketAddr, scope: Option<&str>) -> (String, String, String, String) {
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (challenge, verifier) = (challenge.as_str().to_owned(), verifier.secret().clone());
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", WEB.0),
        ("redirect_uri", WEB_CALLBACK),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    query.extend(scope.map(|s| ("scope", s)));
    let location = approve(addr, &format!("/oauth/authorize?{}", encode(&query))).await;
    let code = query_param(&location, "code").unwrap();
    let r = exchange_code(addr, &code, &verifier).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let (access, refresh) =
        (j["access_token"].as_str().unwrap().to_owned(), j["refresh_token"].as_str().unwrap().to_owned());
    (code, verifier, access, refresh)
}

/// Exchanges a code of demo-web at the token endpoint.
pub async fn exchange_code(addr: SocketAddr, code: &str, verifier: &str) -> Resp {
    let body = encode(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", WEB_CALLBACK),
        ("code_verifier", verifier),
    ]);
    post(addr, "/oauth/token", Some(WEB), &body).await
}
