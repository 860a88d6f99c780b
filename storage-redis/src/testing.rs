//! Test support (cargo feature `testing`): throwaway `redis-server`
//! processes and a local 3-master Redis Cluster, for this crate's tests and
//! the shared conformance suite.
//!
//! Servers listen on 127.0.0.1 only, on a free port, with no persistence and
//! their own temporary directory; each is killed by PID when its handle is
//! dropped (also when a test panics). `REDIS_URL` (single node) and
//! `REDIS_CLUSTER_NODES` (comma-separated URLs) select existing servers
//! instead.
//!
//! Readiness is bounded polling (PING, `CLUSTER INFO`), never a fixed sleep.

// Test support: a failure to set up the test environment is a panic.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::RedisStore;

/// The one line shown when `redis-server` is missing.
pub const MISSING_SERVER: &str = "redis-server not found: apt-get install -y redis-server";
/// The one line shown when `redis-cli` is missing.
pub const MISSING_CLI: &str = "redis-cli not found: apt-get install -y redis-server";

const READY_WITHIN: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(10);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A key prefix no other test (in this or another process) uses, so tests
/// sharing one Redis never see each other's keys.
pub fn unique_prefix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("ghtest-{}-{n}-{nanos}:", std::process::id())
}

/// A `redis-server` child process on 127.0.0.1, killed by PID on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    cluster: bool,
}

impl RedisServer {
    /// Starts a single server on a free port.
    ///
    /// # Panics
    /// With [`MISSING_SERVER`] when `redis-server` is not installed, or when
    /// no server could be started.
    pub fn start() -> Self {
        Self::spawn(false)
    }

    fn spawn(cluster: bool) -> Self {
        for _ in 0..20 {
            let mut s = Self { child: None, port: free_port(cluster), dir: temp_dir(), cluster };
            if s.launch() {
                return s;
            }
            // Lost the port to someone else between probe and bind: drop
            // (removing the directory) and retry on another port.
        }
        panic!("could not start redis-server on a free loopback port");
    }

    /// Launches the process; false when it exited (port taken).
    fn launch(&mut self) -> bool {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join(format!("redis-{}.log", self.port)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            cmd.args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", &format!("nodes-{}.conf", self.port)]);
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{MISSING_SERVER}"),
            Err(e) => panic!("cannot run redis-server: {e}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if c.try_wait().ok().flatten().is_some() {
                    self.child = None;
                    return false;
                }
            }
            if command(self.port, "PING").is_some_and(|r| r.starts_with("+PONG")) {
                return true;
            }
            std::thread::sleep(POLL);
        }
        self.stop();
        false
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the process by PID and reaps it. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts a fresh process on the same port (after [`stop`](Self::stop)).
    ///
    /// # Panics
    /// When it does not come up.
    pub fn restart(&mut self) {
        self.stop();
        assert!(self.launch(), "redis-server did not restart on port {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A local 3-master Redis Cluster (`--cluster-enabled yes` ×3 and
/// `redis-cli --cluster create`), every process killed by PID on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them and waits until
    /// every node reports `cluster_state:ok`.
    ///
    /// # Panics
    /// When `redis-server`/`redis-cli` is missing or the cluster does not
    /// form.
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::spawn(true)).collect();
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output();
        let out = match out {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{MISSING_CLI}"),
            Err(e) => panic!("cannot run redis-cli: {e}"),
        };
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let ok = nodes
                .iter()
                .all(|n| command(n.port, "CLUSTER INFO").is_some_and(|r| r.contains("cluster_state:ok")));
            if ok {
                return Self { nodes };
            }
            assert!(Instant::now() < deadline, "cluster did not reach cluster_state:ok");
            std::thread::sleep(POLL);
        }
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }
}

/// A single Redis for a test: `REDIS_URL` when set, else a throwaway server.
#[derive(Debug)]
pub enum TestRedis {
    /// A server this test started (and will kill).
    Local(RedisServer),
    /// The server named by `REDIS_URL`.
    External(String),
}

impl TestRedis {
    /// `REDIS_URL`, or a fresh server.
    pub fn start() -> Self {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => Self::External(url),
            _ => Self::Local(RedisServer::start()),
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        match self {
            Self::Local(s) => s.url(),
            Self::External(u) => u.clone(),
        }
    }

    /// A store on it with a fresh [`unique_prefix`].
    pub async fn store(&self) -> RedisStore {
        RedisStore::connect(&self.url(), &unique_prefix()).await.unwrap()
    }
}

/// A Redis Cluster for a test: `REDIS_CLUSTER_NODES` when set, else a
/// throwaway local cluster.
#[derive(Debug)]
pub enum TestCluster {
    /// A cluster this test started (and will kill).
    Local(RedisCluster),
    /// The nodes named by `REDIS_CLUSTER_NODES`.
    External(Vec<String>),
}

impl TestCluster {
    /// `REDIS_CLUSTER_NODES`, or a fresh local cluster.
    pub fn start() -> Self {
        match std::env::var("REDIS_CLUSTER_NODES") {
            Ok(v) if !v.is_empty() => Self::External(v.split(',').map(str::to_owned).collect()),
            _ => Self::Local(RedisCluster::start()),
        }
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        match self {
            Self::Local(c) => c.urls(),
            Self::External(u) => u.clone(),
        }
    }

    /// A store on it with a fresh [`unique_prefix`].
    pub async fn store(&self) -> RedisStore {
        RedisStore::connect_cluster(&self.urls(), &unique_prefix()).await.unwrap()
    }
}

fn temp_dir() -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("gatehouse-redis-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A loopback port that is free now (and, for a cluster node, whose bus
/// port `+10000` is free too).
fn free_port(cluster: bool) -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if !cluster {
            return port;
        }
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Sends one inline command and reads the reply (a bulk reply is read to
/// its end). `None` on any connection problem.
fn command(port: u16, cmd: &str) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    s.write_all(format!("{cmd}\r\n").as_bytes()).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if complete(&buf) {
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
    }
}

fn complete(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else { return false };
    if buf.first() != Some(&b'$') {
        return true;
    }
    let len: usize = std::str::from_utf8(&buf[1..end]).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    buf.len() >= end + 2 + len + 2
}

/// Waits until `cond(store's client cache)` holds: bounded polling (up to
/// 15 s), for events that happen on Redis's schedule (tracking set up,
/// an invalidation pushed, a lost connection noticed).
///
/// # Panics
/// When the store has no client cache, or the condition does not come true
/// in time.
pub async fn wait_for_cache(store: &RedisStore, what: &str, cond: impl Fn(crate::ClientCacheStatus) -> bool) {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let status = store.client_cache_status().expect("the store has a client cache");
        if cond(status) {
            return;
        }
        assert!(Instant::now() < deadline, "client cache: {what} did not happen in time ({status:?})");
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `store`'s client cache is live (tracking established).
///
/// # Panics
/// As [`wait_for_cache`].
pub async fn cache_live(store: &RedisStore) {
    wait_for_cache(store, "tracking set up", |s| s.live).await;
}

/// Runs `write` (a client change through any store), then waits until
/// `store`'s client cache has handled one more invalidation message than
/// before: from then on, `store` cannot be evicting that change's key
/// behind the test's back.
///
/// # Panics
/// As [`wait_for_cache`].
pub async fn after_invalidation<F: std::future::Future>(store: &RedisStore, write: F) -> F::Output {
    let before = store.client_cache_status().expect("the store has a client cache").invalidations;
    let out = write.await;
    wait_for_cache(store, "invalidation", |s| s.invalidations > before).await;
    out
}
