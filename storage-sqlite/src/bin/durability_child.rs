//! TEST-ONLY helper for `tests/durability.rs`; not a tool to run by hand.
//!
//! Opens the store at the path given as first argument (with
//! `synchronous = FULL`, or `NORMAL` when the second argument is `normal`),
//! then, until it is killed, runs concurrent threads on one store (so their
//! writes share group commits):
//! - issuers insert access tokens with a fixed, public test key and print
//!   `issued <token>` once the insert is acknowledged;
//! - revokers insert a token, then revoke it (by `revoke`, or by
//!   `revoke_grant` on every other round) and print `revoked <token>` once
//!   the revocation is acknowledged.
//!
//! Printing a token is the whole point of this throwaway test process and
//! is done nowhere else.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use gatehouse_core::model::{Claims, ClientId, GrantId, Jti, Scope, TokenKind, TokenRecord};
use gatehouse_core::{KeyId, Keyring, RawToken, TokenStore, UnixTime};
use gatehouse_sqlite::block_on;
use gatehouse_sqlite::{SqliteConfig, SqliteStore, Synchronous};

const ISSUERS: usize = 8;
const REVOKERS: usize = 4;

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    match run_until_killed() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("durability-child: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_until_killed() -> Result<(), Failure> {
    let mut args = std::env::args_os().skip(1);
    let path = args.next().ok_or("usage: durability-child DB [full|normal]")?;
    let mut config = SqliteConfig::default();
    if args.next().is_some_and(|a| a == "normal") {
        config.synchronous = Synchronous::Normal;
    }
    let store = SqliteStore::open_with(path, config)?;
    let keys = Keyring::new((KeyId::new("k1")?, &[7u8; 32]), &[])?;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..ISSUERS + REVOKERS)
            .map(|i| {
                let (store, keys) = (&store, &keys);
                s.spawn(move || if i < ISSUERS { issue(store, keys) } else { revoke(store, keys) })
            })
            .collect();
        // Each worker loops until the process is killed: the first to
        // return has failed.
        for w in workers {
            w.join().map_err(|_| "a worker panicked")??;
        }
        Ok(())
    })
}

fn token(keys: &Keyring) -> Result<(RawToken, TokenRecord), Failure> {
    let (raw, digest) = keys.mint(TokenKind::Access, GrantId::generate()?)?;
    let record = TokenRecord::access(
        digest,
        Jti::generate()?,
        Claims::new(ClientId::new("durability")?, Scope::parse("read")?, Arc::from(Vec::new())),
        UnixTime(1_000),
        UnixTime(u64::MAX),
    );
    Ok((raw, record))
}

/// One whole line per write, so lines of different threads never mix.
fn print(what: &str, raw: &RawToken) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{what} {}", raw.expose())?;
    out.flush()?;
    Ok(())
}

fn issue(store: &SqliteStore, keys: &Keyring) -> Result<(), Failure> {
    loop {
        let (raw, record) = token(keys)?;
        block_on(store.insert(record))?;
        print("issued", &raw)?;
    }
}

fn revoke(store: &SqliteStore, keys: &Keyring) -> Result<(), Failure> {
    for round in 0usize.. {
        let (raw, record) = token(keys)?;
        let digest = record.digest;
        block_on(store.insert(record))?;
        if round % 2 == 0 {
            block_on(store.revoke(&digest))?;
        } else {
            block_on(store.revoke_grant(&digest.grant()))?;
        }
        print("revoked", &raw)?;
    }
    Ok(())
}
