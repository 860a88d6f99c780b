//! Two app instances, one Redis: each instance has its own connection
//! and its own `RedisStore`; state is shared at once, at the store level
//! and through two core `AuthServer`s.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{grant, record, Backend};
use gatehouse_core::model::{
    Client, ClientId, GrantType, Resource, Scope, SecretDigest, TokenKind, TokenState,
};
use gatehouse_core::{AuthServer, ClientRegistry, Config, Consumed, Keyring, TokenStore};
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

/// Two `AuthServer`s (same keyring, own connections, shared limiter
/// prefix) over one Redis: issued by A, active on B; revoked by B, inactive
/// on A at once.
#[tokio::test]
async fn two_auth_servers_share_issuance_and_revocation() {
    let redis = TestRedis::start();
    let prefix = unique_prefix();
    let keys = Keyring::random().unwrap();
    let server = |store: gatehouse_redis::RedisStore| {
        let limiter = store.limiter(Config::default().limiter);
        AuthServer::new(store, keys.clone(), Config::new("https://issuer.example")).with_limiter(limiter)
    };
    let a = server(redis.store_with(&prefix).await);
    let b = server(redis.store_with(&prefix).await);

    let api = Resource::new("https://api.example").unwrap();
    let app = Client::new_confidential(ClientId::new("app").unwrap(), SecretDigest::generate().unwrap().1)
        .with_grants([GrantType::ClientCredentials])
        .with_scope(Scope::parse("read").unwrap(), Scope::parse("read").unwrap())
        .with_audiences([api.clone()]);
    let rs =
        Client::new_resource_server(ClientId::new("rs").unwrap(), SecretDigest::generate().unwrap().1, [api]);
    // Registered once, through A: B sees them (introspection reads the
    // issuing client's registration).
    a.store().put_client(app.clone()).await.unwrap();
    a.store().put_client(rs.clone()).await.unwrap();

    let token = a.client_credentials(&app, None, &[]).await.unwrap().access_token.into_string();
    assert!(b.introspect(&rs, &token).await.unwrap().is_active());
    b.revoke(&app, &token).await.unwrap();
    assert!(!a.introspect(&rs, &token).await.unwrap().is_active());
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
