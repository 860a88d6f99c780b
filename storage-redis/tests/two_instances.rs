//! Two app instances, one Redis: each instance has its own connection
//! and its own `RedisStore`; state is shared at once.
//!
//! (At the store level for now; the same check through two core server
//! instances comes with the core server API.)
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{grant, record, Backend};
use gatehouse_core::model::{TokenKind, TokenState};
use gatehouse_core::{Consumed, TokenStore};
use gatehouse_redis::testing::{unique_prefix, TestCluster, TestRedis};

async fn shared_state<B: Backend>(b: &B) {
    let prefix = unique_prefix();
    let one = Arc::new(b.store_with(&prefix).await);
    let two = Arc::new(b.store_with(&prefix).await);
    let g = grant();
    let a = record(TokenKind::Access, g);
    one.insert(a.clone()).await.unwrap();
    assert_eq!(two.get(&a.digest).await.unwrap(), Some(a.clone()));
    // Revoked on one: inactive on the other immediately.
    one.revoke(&a.digest).await.unwrap();
    assert_eq!(two.get(&a.digest).await.unwrap().unwrap().state, TokenState::Revoked);
    // Grant revoked on two: revoked on one.
    let r = record(TokenKind::Refresh, g);
    one.insert(r.clone()).await.unwrap();
    two.revoke_grant(&g).await.unwrap();
    assert_eq!(one.get(&r.digest).await.unwrap().unwrap().state, TokenState::Revoked);
    // A code exchanged on both at once: exactly one instance wins.
    for _ in 0..20 {
        let g = grant();
        let code = record(TokenKind::AuthorizationCode, g);
        one.insert(code.clone()).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let s = if i % 2 == 0 { one.clone() } else { two.clone() };
                let repl = vec![record(TokenKind::Access, g)];
                let d = code.digest;
                tokio::spawn(async move { s.consume(&d, repl).await.unwrap() })
            })
            .collect();
        let mut taken = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), Consumed::Taken(_)) {
                taken += 1;
            }
        }
        assert_eq!(taken, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_state() {
    shared_state(&TestRedis::start()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_state_on_cluster() {
    shared_state(&TestCluster::start()).await;
}

/// On a cluster a consume whose replacement is in another grant (another
/// slot) is refused up front and changes nothing.
#[tokio::test]
async fn cluster_refuses_cross_grant_replacements() {
    let cluster = TestCluster::start();
    let s = cluster.store().await;
    let code = record(TokenKind::AuthorizationCode, grant());
    s.insert(code.clone()).await.unwrap();
    let stray = record(TokenKind::Access, grant());
    assert!(s.consume(&code.digest, vec![stray.clone()]).await.is_err());
    assert_eq!(s.get(&code.digest).await.unwrap(), Some(code));
    assert_eq!(s.get(&stray.digest).await.unwrap(), None);
}
