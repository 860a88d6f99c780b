//! Helpers shared by the integration tests. Each test crate uses a
//! different subset, hence the `dead_code` allowance.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use gatehouse_core::model::{
    Claims, ClientId, CodeBinding, GrantId, Jti, Scope, TokenDigest, TokenKind, TokenRecord,
};
use gatehouse_core::{KeyId, Keyring, RawToken, UnixTime};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        // The grant id generator is the OS CSPRNG: a unique name without a
        // crate for it.
        let unique = GrantId::generate().unwrap();
        let dir = std::env::temp_dir().join(format!("gatehouse-sqlite-{tag}-{unique}"));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn db(&self) -> PathBuf {
        self.0.join("tokens.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub use gatehouse_sqlite::block_on as run;

/// Polls `f` once: reads must be ready then, with no executor.
pub fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("store read was not ready on first poll"),
    }
}

/// The fixed keyring of the tests (and of the durability child).
pub fn keyring() -> Keyring {
    Keyring::new((KeyId::new("k1").unwrap(), &[7u8; 32]), &[]).unwrap()
}

/// An active record of `kind` for `digest`, expiring at `exp` (a code with
/// its binding).
pub fn record(digest: TokenDigest, kind: TokenKind, exp: u64) -> TokenRecord {
    let claims =
        Claims::new(ClientId::new("client-1").unwrap(), Scope::parse("read write").unwrap(), Arc::from([]));
    let (jti, issued, expires) = (Jti::generate().unwrap(), UnixTime(1_000), UnixTime(exp));
    match kind {
        TokenKind::AuthorizationCode => {
            let binding = CodeBinding {
                redirect_uri: "https://app.example/cb".to_owned(),
                code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
            };
            TokenRecord::code(digest, jti, claims, binding, issued, expires)
        }
        TokenKind::Refresh => TokenRecord::refresh(digest, jti, claims, issued, expires),
        _ => TokenRecord::access(digest, jti, claims, issued, expires),
    }
}

/// Mints a token of `kind` in `grant` and its active record.
pub fn minted(keys: &Keyring, kind: TokenKind, grant: GrantId, exp: u64) -> (RawToken, TokenRecord) {
    let (raw, digest) = keys.mint(kind, grant).unwrap();
    (raw, record(digest, kind, exp))
}

/// A record for a fresh random digest.
pub fn fresh(kind: TokenKind, exp: u64) -> TokenRecord {
    minted(&keyring(), kind, GrantId::generate().unwrap(), exp).1
}
