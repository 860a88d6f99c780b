//! TEST-ONLY helper for `tests/durability.rs`; not a tool to run by hand.
//!
//! Opens the store at the path given as first argument (with
//! `synchronous = FULL`, or `NORMAL` when the second argument is `normal`),
//! then issues access tokens with a fixed, public test key until it is
//! killed, printing each raw token on its own line once its insert has
//! returned. Printing a token is the whole point of this throwaway test
//! process and is done nowhere else.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use gatehouse_core::model::{ClientId, GrantId, Jti, Scope, TokenKind, TokenRecord, TokenState};
use gatehouse_core::{KeyId, Keyring, TokenStore, UnixTime};
use gatehouse_sqlite::{SqliteConfig, SqliteStore, Synchronous};

fn main() -> ExitCode {
    match issue_until_killed() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("durability-child: {e}");
            ExitCode::FAILURE
        }
    }
}

fn issue_until_killed() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let path = args.next().ok_or("usage: durability-child DB [full|normal]")?;
    let mut config = SqliteConfig::default();
    if args.next().is_some_and(|a| a == "normal") {
        config.synchronous = Synchronous::Normal;
    }
    let store = SqliteStore::open_with(path, config)?;
    let keys = Keyring::new((KeyId::new("k1")?, &[7u8; 32]), &[])?;
    let client = ClientId::new("durability")?;
    let scope = Scope::parse("read")?;
    let audience: Arc<[_]> = Arc::from(Vec::new());
    let mut out = std::io::stdout().lock();
    loop {
        let (raw, digest) = keys.mint(TokenKind::Access, GrantId::generate()?)?;
        let record = TokenRecord {
            digest,
            kind: TokenKind::Access,
            client_id: client.clone(),
            subject: None,
            scope: scope.clone(),
            audience: audience.clone(),
            issued_at: UnixTime(1_000),
            not_before: UnixTime(1_000),
            expires_at: UnixTime(u64::MAX),
            jti: Jti::generate()?,
            state: TokenState::Active,
            code: None,
        };
        // The store's futures are ready on their first poll.
        poll_once(store.insert(record))??;
        writeln!(out, "{}", raw.expose())?;
        out.flush()?;
    }
}

fn poll_once<F: std::future::Future>(f: F) -> Result<F::Output, &'static str> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Ok(v),
        std::task::Poll::Pending => Err("store future was not ready"),
    }
}
