//! Helpers shared by the test binaries: a Redis to test against (one node
//! or a cluster), records and clients. The store contract itself is
//! checked by the shared conformance suite (`gatehouse-conformance`,
//! `tests/tests/redis.rs`), on one node and on a cluster.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::future::Future;
use std::sync::Arc;

use gatehouse_core::model::{
    Client, ClientAuth, ClientId, GrantId, GrantTypes, Jti, Scope, Subject, TokenDigest, TokenKind,
    TokenRecord, TokenState,
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
    TokenRecord {
        digest,
        kind,
        client_id: ClientId::new("web-app").unwrap(),
        subject: Some(Subject::new("alice").unwrap()),
        scope: Scope::parse("read write").unwrap(),
        audience: Arc::from(vec![gatehouse_core::model::Resource::new("https://api.example").unwrap()]),
        issued_at: t,
        not_before: t,
        expires_at: t.plus(ttl),
        jti: Jti::generate().unwrap(),
        state: TokenState::Active,
        code: None,
    }
}

pub fn grant() -> GrantId {
    GrantId::generate().unwrap()
}

pub fn public_client(id: &str) -> Client {
    Client {
        id: ClientId::new(id).unwrap(),
        auth: ClientAuth::Public,
        grant_types: GrantTypes::NONE,
        scope: Scope::parse("read").unwrap(),
        default_scope: Scope::empty(),
        audiences: Arc::from(Vec::new()),
        default_audience: None,
        redirect_uris: vec!["https://app.example/cb".to_owned()].into(),
        enabled: true,
    }
}
