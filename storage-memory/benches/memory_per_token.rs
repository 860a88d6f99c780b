//! Memory per stored token, measured as the growth of the process's
//! resident set (`VmRSS` in `/proc/self/status`) while a fresh store fills
//! with N client_credentials-like records: no subject, no code binding,
//! client id, scope and audience shared between records.
//!
//! RSS is used because the workspace forbids `unsafe`, which rules out a
//! counting global allocator. It counts everything the store really costs
//! (hash tables, entry chunks, allocator overhead and fragmentation), from
//! before the store exists until it holds N records. Each size runs in a
//! child process of its own so that one size's freed memory cannot hide the
//! next one's growth. Linux only.
//!
//! Run: `cargo bench -p gatehouse-memory --bench memory_per_token`

mod common;

use std::process::Command;
use std::sync::Arc;

use common::{run_ready, SplitMix};
use gatehouse_core::model::{Claims, ClientId, GrantId, Jti, Resource, Scope, TokenDigest, TokenRecord};
use gatehouse_core::{TokenStore, UnixTime};
use gatehouse_memory::MemoryStore;

const SIZES: [usize; 2] = [1_000, 1_000_000];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(n) = args.iter().position(|a| a == "--child").and_then(|i| args.get(i + 1)) {
        return child(n.parse()?);
    }
    println!("method: growth of VmRSS (/proc/self/status) from before the store exists to N records, one child process per N");
    let exe = std::env::current_exe()?;
    for n in SIZES {
        let out = Command::new(&exe).arg("--child").arg(n.to_string()).output()?;
        if !out.status.success() {
            return Err(format!("child for {n} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(())
}

fn child(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let client_id = ClientId::new("svc-billing")?;
    let scope = Scope::parse("invoices:read invoices:write")?;
    let audience: Arc<[Resource]> = Arc::from(vec![Resource::new("https://api.example.com")?]);
    let mut rng = SplitMix(0x5eed);

    let before = rss_bytes()?;
    let store = MemoryStore::new();
    for _ in 0..n {
        let record = TokenRecord::access(
            TokenDigest::new(GrantId::from_bytes(rng.bytes16()), rng.bytes32()),
            Jti::from_bytes(rng.bytes16()),
            Claims::new(client_id.clone(), scope.clone(), Arc::clone(&audience)),
            UnixTime(1_700_000_000),
            UnixTime(1_700_003_600),
        );
        run_ready(store.insert(record))?;
    }
    let after = rss_bytes()?;
    assert_eq!(store.len(), n);
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    println!(
        "{n:>9} tokens: {per:7.1} bytes per stored record (RSS +{} KiB)",
        after.saturating_sub(before) / 1024
    );
    Ok(())
}

fn rss_bytes() -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or("no VmRSS line")?;
    let kib: u64 = line.split_whitespace().nth(1).ok_or("bad VmRSS line")?.parse()?;
    Ok(kib * 1024)
}
