//! Helpers shared by the test binaries: a Redis to test against (one node
//! or a cluster), records and clients. The store contract itself is
//! checked by the shared conformance suite (`gatehouse-conformance`,
//! `tests/tests/redis.rs`), on one node and on a cluster.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::future::Future;
use std::sync::Arc;

use gatehouse_core::model::{
    Claims, Client, ClientId, CodeBinding, GrantId, Jti, Resource, Scope, Subject, TokenDigest, TokenKind,
    TokenRecord,
};
use gatehouse_core::{Clock, Keyring, SystemClock, UnixTime};
use gatehouse_redis::testing::{unique_prefix, TestCluster, TestRedis};
use gatehouse_redis::RedisStore;

/// A Redis to test against: single node or cluster.
pub trait Backend: Send + Sync {
    fn store_with(&self, prefix: &str) -> impl Future<Output = RedisStore> + Send;
    /// One URL per node, for scanning.
    fn node_urls(&self) -> Vec<String>;
    fn store(&self) -> impl Future<Output = RedisStore> + Send {
        async { self.store_with(&unique_prefix()).await }
    }
}

impl Backend for TestRedis {
    async fn store_with(&self, prefix: &str) -> RedisStore {
        RedisStore::connect(&self.url(), prefix).await.unwrap()
    }
    fn node_urls(&self) -> Vec<String> {
        vec![self.url()]
    }
}

impl Backend for TestCluster {
    async fn store_with(&self, prefix: &str) -> RedisStore {
        RedisStore::connect_cluster(&self.urls(), prefix).await.unwrap()
    }
    fn node_urls(&self) -> Vec<String> {
        self.urls()
    }
}

pub fn now() -> UnixTime {
    SystemClock.now()
}

pub fn keyring() -> Keyring {
    Keyring::random().unwrap()
}

/// A record for a freshly minted token; returns the raw token too (only
/// for the at-rest scan, which checks it never reaches Redis).
pub fn minted(ring: &Keyring, kind: TokenKind, grant: GrantId, ttl: u64) -> (String, TokenRecord) {
    let (raw, digest) = ring.mint(kind, grant).unwrap();
    (raw.into_string(), record_for(digest, kind, ttl))
}

pub fn record(kind: TokenKind, grant: GrantId) -> TokenRecord {
    minted(&keyring(), kind, grant, 3600).1
}

pub fn record_for(digest: TokenDigest, kind: TokenKind, ttl: u64) -> TokenRecord {
    let t = now();
    let audience = Arc::from(vec![Resource::new("https://api.example").unwrap()]);
    let claims =
        Claims::new(ClientId::new("web-app").unwrap(), Scope::parse("read write").unwrap(), audience)
            .with_subject(Subject::new("alice").unwrap());
    let (jti, expires) = (Jti::generate().unwrap(), t.plus(ttl));
    match kind {
        TokenKind::AuthorizationCode => {
            let binding = CodeBinding {
                redirect_uri: "https://app.example/cb".to_owned(),
                code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
            };
            TokenRecord::code(digest, jti, claims, binding, t, expires)
        }
        TokenKind::Refresh => TokenRecord::refresh(digest, jti, claims, t, expires),
        _ => TokenRecord::access(digest, jti, claims, t, expires),
    }
}

pub fn grant() -> GrantId {
    GrantId::generate().unwrap()
}

pub fn public_client(id: &str) -> Client {
    Client::new_public(ClientId::new(id).unwrap())
        .with_scope(Scope::parse("read").unwrap(), Scope::empty())
        .with_redirect_uris(["https://app.example/cb".to_owned()])
}
