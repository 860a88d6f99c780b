//! Can a caller tell registered client ids from others by response time?
//! A timing-leak test in the spirit of dudect (Reparaz, Balasch and
//! Verbauwhede, "Dude, is my code constant time?", 2017).
//!
//! Three classes of failed client authentication, each presenting a wrong
//! secret of the same length:
//!
//! - `known`: a registered client id,
//! - `unknown`: a well-formed id nobody registered,
//! - `malformed`: an id that client-id parsing refuses (a control byte).
//!
//! All ids have the same length, and every class draws from a pool of ids,
//! so the classes differ only in what the server knows about the id. The
//! classes are interleaved in a random order, each call is timed with
//! [`Instant`], and for each pair of classes Welch's t statistic is
//! computed over the raw samples and over samples cropped at several
//! percentiles of the pooled distribution (dudect's way of discarding the
//! long tail that interrupts and other processes add). |t| above about 5
//! means the two classes are told apart with high confidence; below it,
//! this many samples found no difference.
//!
//! Two levels are measured, on the memory and on the SQLite store:
//!
//! - `authenticate`: [`AuthServer::authenticate`], the narrowest public
//!   function that holds the registry lookup, the secret digest and the
//!   comparison;
//! - `token endpoint`: [`AuthServer::token_endpoint`] with HTTP Basic
//!   credentials and `grant_type=client_credentials`, as the server sees a
//!   request. Each id carries one percent-escape at the same place, so the
//!   form-decoding work is the same in every class.
//!
//! Run: `cargo bench -p gatehouse-conformance --bench client_timing`
//! (100,000 samples per class per level per backend, 64 ids per class;
//! `-- <samples> <ids>` for other counts). Under `cargo test --benches` (no `--bench`
//! argument) it runs a few hundred samples as a smoke test and checks only
//! that every call failed as it should.
#![allow(missing_docs, clippy::unwrap_used)]

use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use base64::Engine as _;
use gatehouse_core::model::{Client, ClientId, GrantId, GrantType, SecretDigest};
use gatehouse_core::{AuthServer, ClientCredentials, ClientRegistry, Config, HttpRequest, Keyring};
use gatehouse_core::{LimiterConfig, PresentedSecret, TokenStore};
use gatehouse_memory::MemoryStore;
use gatehouse_sqlite::SqliteStore;

/// Registered clients; the first ones (as many as the pool) are the
/// `known` class.
const REGISTERED: usize = 256;
/// Ids per class by default: a sample draws one at random.
const POOL: usize = 64;
/// Samples per class in a full run.
const FULL_SAMPLES: usize = 100_000;
/// Samples per class in the smoke run under `cargo test`.
const SMOKE_SAMPLES: usize = 200;
/// Calls before measuring, to warm caches and the allocator.
const WARMUP: usize = 20_000;
/// Pooled-distribution percentiles samples are cropped at (1.0: raw).
const CROPS: [f64; 6] = [1.0, 0.99, 0.95, 0.9, 0.75, 0.5];
const CLASSES: [&str; 5] = ["known", "unknown", "malformed", "unknown (even)", "unknown (odd)"];
/// The pairs reported. The last is a control: the unknown class's samples
/// split in two (alternately, in time order); its |t| is what the harness
/// reports when there is no difference.
const PAIRS: [(usize, usize); 4] = [(0, 1), (0, 2), (1, 2), (3, 4)];

/// Drives a future the memory and SQLite lookups make ready at once: no
/// executor in the figures.
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("client lookups of the memory and SQLite stores are ready at once"),
    }
}

/// splitmix64: the class order needs no cryptographic randomness, only
/// independence from the code under test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// An id of class `class`, number `i`, 16 bytes whatever the class; with
/// `encoded`, form-encoded for HTTP Basic with one escape in every class.
fn id(class: usize, i: usize, encoded: bool) -> String {
    let (sep, n) = match class {
        0 => ('-', i),
        1 => ('-', 500_000_000 + i),
        _ => ('\u{1}', i),
    };
    if encoded {
        format!("client%{:02X}{n:09}", u32::from(sep))
    } else {
        format!("client{sep}{n:09}")
    }
}

/// One measured call's input for each level.
struct Case {
    creds: ClientCredentials,
    basic: String,
}

fn cases(wrong_secret: &str, pool: usize) -> [Vec<Case>; 3] {
    std::array::from_fn(|class| {
        (0..pool)
            .map(|i| {
                let creds = ClientCredentials::Basic {
                    id: id(class, i, false),
                    secret: PresentedSecret::new(wrong_secret),
                };
                // RFC 6749 §2.3.1: form-encoded inside Basic.
                let raw = format!("{}:{wrong_secret}", id(class, i, true));
                let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw));
                Case { creds, basic }
            })
            .collect()
    })
}

fn server<S: TokenStore + ClientRegistry>(store: S) -> AuthServer<S> {
    let mut config = Config::new("https://issuer.example");
    // Never throttle: a failed authentication is not charged, but be sure.
    config.limiter = LimiterConfig { burst: u32::MAX, per_minute: 60_000 };
    AuthServer::new(store, Keyring::random().unwrap(), config)
}

fn clients() -> Vec<Client> {
    (0..REGISTERED)
        .map(|i| {
            let (_, digest) = SecretDigest::generate().unwrap();
            Client::new_confidential(ClientId::new(&id(0, i, false)).unwrap(), digest)
                .with_grants([GrantType::ClientCredentials])
        })
        .collect()
}

/// Times `samples` calls per class, interleaved at random. `call` must
/// fail (every class is a failed authentication).
fn measure(rng: &mut Rng, cases: &[Vec<Case>; 3], samples: usize, call: impl Fn(&Case)) -> [Vec<u64>; 3] {
    let pool = cases[0].len();
    for _ in 0..WARMUP.min(samples * 3) {
        call(&cases[rng.below(3)][rng.below(pool)]);
    }
    let mut order: Vec<u8> = (0..3u8).flat_map(|c| std::iter::repeat_n(c, samples)).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let picks: Vec<usize> = order.iter().map(|_| rng.below(pool)).collect();
    let mut times: [Vec<u64>; 3] = std::array::from_fn(|_| Vec::with_capacity(samples));
    for (&class, &pick) in order.iter().zip(&picks) {
        let case = &cases[usize::from(class)][pick];
        let start = Instant::now();
        call(black_box(case));
        let ns = start.elapsed().as_nanos();
        times[usize::from(class)].push(u64::try_from(ns).unwrap_or(u64::MAX));
    }
    times
}

fn mean(x: &[u64]) -> f64 {
    x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64
}

/// Welch's t of two samples.
fn welch(a: &[u64], b: &[u64]) -> f64 {
    let var =
        |x: &[u64], m: f64| x.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / (x.len() as f64 - 1.0);
    let (ma, mb) = (mean(a), mean(b));
    let se = (var(a, ma) / a.len() as f64 + var(b, mb) / b.len() as f64).sqrt();
    if se == 0.0 {
        0.0
    } else {
        (ma - mb) / se
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Prints, per pair of classes, |t| for each crop, the largest, and the
/// difference of the means (ns) where it is largest.
fn report(backend: &str, level: &str, times: &[Vec<u64>; 3]) {
    let (even, odd): (Vec<_>, Vec<_>) = times[1].iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let split = |half: Vec<(usize, &u64)>| half.into_iter().map(|(_, &t)| t).collect::<Vec<u64>>();
    let classes = [times[0].clone(), times[1].clone(), times[2].clone(), split(even), split(odd)];
    let mut pooled: Vec<u64> = times.iter().flatten().copied().collect();
    pooled.sort_unstable();
    let medians: Vec<u64> = times
        .iter()
        .map(|t| {
            let mut s = t.clone();
            s.sort_unstable();
            percentile(&s, 0.5)
        })
        .collect();
    println!(
        "\n{backend} / {level}: {} samples per class; median ns: known {}, unknown {}, malformed {}",
        times[0].len(),
        medians[0],
        medians[1],
        medians[2]
    );
    let crops: Vec<String> = CROPS.iter().map(|p| format!("p{:>4}", p * 100.0)).collect();
    println!("  {:<31} {}   max |t|  Δmean ns", "pair", crops.join(" "));
    for (a, b) in PAIRS {
        let mut cells = Vec::new();
        let (mut max, mut delta) = (0f64, 0f64);
        for &p in &CROPS {
            let limit = percentile(&pooled, p);
            let keep = |x: &Vec<u64>| x.iter().copied().filter(|&v| v <= limit).collect::<Vec<_>>();
            let (ka, kb) = (keep(&classes[a]), keep(&classes[b]));
            let t = welch(&ka, &kb).abs();
            if t > max {
                max = t;
                delta = mean(&ka) - mean(&kb);
            }
            cells.push(format!("{t:>5.1}"));
        }
        let pair = format!("{} vs {}", CLASSES[a], CLASSES[b]);
        println!("  {pair:<31} {}   {max:>7.1}  {delta:>+8.1}", cells.join(" "));
    }
}

fn run<S: TokenStore + ClientRegistry>(
    backend: &str,
    server: &AuthServer<S>,
    rng: &mut Rng,
    samples: usize,
    pool: usize,
) {
    let cases = cases("wrong-secret-of-the-usual-length-43-bytes.x", pool);
    let times = measure(rng, &cases, samples, |c| {
        assert!(ready(server.authenticate(&c.creds)).is_err());
    });
    report(backend, "authenticate", &times);
    let times = measure(rng, &cases, samples, |c| {
        let req = HttpRequest::form_post(b"grant_type=client_credentials").with_authorization(&c.basic);
        assert_eq!(ready(server.token_endpoint(req)).status, 401);
    });
    report(backend, "token endpoint", &times);
}

/// A temporary directory for the SQLite file, removed at the end.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let full = std::env::args().any(|a| a == "--bench");
    let samples = match args.first() {
        Some(n) => n.parse().expect("samples per class: a number"),
        None if full => FULL_SAMPLES,
        None => SMOKE_SAMPLES,
    };
    let pool = args.get(1).map_or(POOL, |n| n.parse().expect("ids per class: a number"));
    assert!((1..=REGISTERED).contains(&pool), "ids per class: 1 to {REGISTERED}");
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    let mut rng = Rng(seed);
    let registered = clients();

    let memory = server(MemoryStore::new());
    for c in &registered {
        ready(memory.store().put_client(c.clone())).unwrap();
    }
    run("memory", &memory, &mut rng, samples, pool);

    let dir =
        TempDir(std::env::temp_dir().join(format!("gatehouse-timing-{}", GrantId::generate().unwrap())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let sqlite = server(SqliteStore::open(dir.0.join("timing.db")).unwrap());
    for c in &registered {
        gatehouse_sqlite::block_on(sqlite.store().put_client(c.clone())).unwrap();
    }
    run("sqlite", &sqlite, &mut rng, samples, pool);
}
