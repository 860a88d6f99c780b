//! What the tests and the bench share: the example authorization server
//! in-process on a loopback port, a few raw calls to it, and a stub
//! authorization server that answers whatever a test tells it to.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use gatehouse_example_server::settings::SAMPLE_PATH;
use gatehouse_example_server::{App, Settings};
use gatehouse_memory::MemoryStore;
use gatehouse_rs_client::{ClientConfig, ClientSecret};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};

/// The sample config's clients: one that gets tokens, and the resource server.
pub const CLIENT: (&str, &str) = ("demo-client", "demo-client-secret-not-for-production");
pub const RS: (&str, &str) = ("demo-rs", "demo-rs-secret-not-for-production-use");
/// The audience and scope of the sample's tokens, and its issuer.
pub const API: &str = "https://api.example.com";
pub const ISSUER: &str = "http://127.0.0.1:8080";

// ---------------------------------------------------------------------
// The example server
// ---------------------------------------------------------------------

pub struct Running {
    pub addr: SocketAddr,
    /// The embedded server, for operator calls (disable a client, ...).
    #[allow(dead_code)] // used by some test binaries only
    pub server: std::sync::Arc<gatehouse_core::AuthServer<MemoryStore>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops it gracefully (finishing the requests in flight).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

/// The example's sample config, as JSON, with the memory store (this
/// crate builds the example without SQLite).
pub fn sample_json() -> String {
    let json = std::fs::read_to_string(SAMPLE_PATH).unwrap();
    let sqlite = r#""store": { "type": "sqlite", "path": "gatehouse.db" }"#;
    assert!(json.contains(sqlite), "the sample's store line changed");
    json.replace(sqlite, r#""store": { "type": "memory" }"#)
}

pub fn sample() -> Settings {
    Settings::from_json(&sample_json()).unwrap()
}

/// The example over a fresh memory store on `listener`.
pub async fn start_on(listener: TcpListener, settings: Settings) -> Running {
    let addr = listener.local_addr().unwrap();
    let app = App::new(MemoryStore::new(), settings).await.unwrap();
    let server = std::sync::Arc::clone(app.server());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    Running { addr, server, stop: Some(stop), task }
}

pub async fn start(settings: Settings) -> Running {
    start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), settings).await
}

/// A client config for the example's resource server at `addr`.
pub fn rs_config(addr: SocketAddr) -> ClientConfig {
    ClientConfig::new(format!("http://{addr}/oauth/introspect"), RS.0, ClientSecret::new(RS.1))
}

/// A form `POST` with Basic credentials sent as they are; the status and
/// JSON answer.
pub async fn post_form(
    addr: SocketAddr,
    path: &str,
    (id, secret): (&str, &str),
    body: String,
) -> (u16, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::post(format!("http://{addr}{path}"))
        .header("authorization", format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// A new access token from `client_credentials`.
pub async fn issue(addr: SocketAddr) -> String {
    let (status, body) =
        post_form(addr, "/oauth/token", CLIENT, "grant_type=client_credentials".into()).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Revokes `token` as the client it was issued to.
pub async fn revoke(addr: SocketAddr, token: &str) {
    let (status, _) = post_form(addr, "/oauth/revoke", CLIENT, format!("token={token}")).await;
    assert_eq!(status, 200);
}

// ---------------------------------------------------------------------
// The stub authorization server
// ---------------------------------------------------------------------

/// A request as the stub saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

/// What the stub does with a request.
pub enum Reply {
    /// This status and body, as JSON.
    Json(u16, String),
    /// Nothing, ever.
    Hang,
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

pub struct Stub {
    pub addr: SocketAddr,
    /// TCP connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// Requests received, in order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// When set, each request waits for one permit before it is answered.
    pub gate: Option<Arc<Semaphore>>,
}

impl Stub {
    pub fn endpoint(&self) -> String {
        format!("http://{}/introspect", self.addr)
    }

    pub fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn last(&self) -> Seen {
        self.seen.lock().unwrap().last().cloned().unwrap()
    }
}

/// A stub answering every request with `handler`'s reply.
pub async fn stub(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Stub {
    start_stub(Arc::new(handler), None).await
}

/// Like [`stub`], each answer held until the test adds a permit to `gate`.
pub async fn gated_stub(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Stub {
    start_stub(Arc::new(handler), Some(Arc::new(Semaphore::new(0)))).await
}

async fn start_stub(handler: Arc<Handler>, gate: Option<Arc<Semaphore>>) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stub = Stub {
        addr: listener.local_addr().unwrap(),
        connections: Arc::default(),
        seen: Arc::default(),
        gate: gate.clone(),
    };
    let (connections, seen) = (Arc::clone(&stub.connections), Arc::clone(&stub.seen));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            connections.fetch_add(1, Ordering::SeqCst);
            let (handler, seen, gate) = (Arc::clone(&handler), Arc::clone(&seen), gate.clone());
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (handler, seen, gate) = (Arc::clone(&handler), Arc::clone(&seen), gate.clone());
                async move { Ok::<_, Infallible>(answer(req, &*handler, &seen, gate).await) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    stub
}

async fn answer(
    req: Request<Incoming>,
    handler: &Handler,
    seen: &Mutex<Vec<Seen>>,
    gate: Option<Arc<Semaphore>>,
) -> Response<Full<Bytes>> {
    let header = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (authorization, content_type) = (header("authorization"), header("content-type"));
    let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let request =
        Seen { method, path, authorization, content_type, body: String::from_utf8_lossy(&body).into() };
    let reply = handler(&request);
    seen.lock().unwrap().push(request);
    if let Some(gate) = gate {
        gate.acquire().await.unwrap().forget();
    }
    match reply {
        Reply::Json(status, body) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap(),
        Reply::Hang => std::future::pending().await,
    }
}
