//! Many tasks introspecting while others issue, revoke and purge; readers
//! never wait for a writer.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{fresh, run, TempDir};
use gatehouse_core::http::HttpRequest;
use gatehouse_core::model::{
    Client, ClientId, GrantType, Resource, Scope, SecretDigest, TokenKind, TokenState,
};
use gatehouse_core::{AuthServer, ClientRegistry, Config, Error, Keyring, StoreError, TokenStore, UnixTime};
use gatehouse_sqlite::{SqliteConfig, SqliteStore};

#[test]
fn introspection_runs_alongside_issuance_revocation_and_purge() {
    let dir = TempDir::new("concurrency");
    let store = SqliteStore::open(dir.db()).unwrap();
    let existing: Arc<Vec<_>> = Arc::new((0..200).map(|_| fresh(TokenKind::Access, 10_000)).collect());
    store.insert_batch(existing.iter().cloned()).unwrap();
    store.insert_batch((0..2_000).map(|_| fresh(TokenKind::Access, 10))).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().unwrap();
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..8 {
            let (store, existing) = (store.clone(), existing.clone());
            tasks.spawn(async move {
                for i in 0..500 {
                    let r = &existing[(t * 31 + i * 7) % existing.len()];
                    let got = store.get(&r.digest).await.unwrap().expect("a stored token vanished");
                    assert!(matches!(got.state, TokenState::Active | TokenState::Revoked));
                    tokio::task::yield_now().await;
                }
            });
        }
        for _ in 0..2 {
            let store = store.clone();
            tasks.spawn(async move {
                for _ in 0..100 {
                    let r = fresh(TokenKind::Access, 10_000);
                    store.insert(r.clone()).await.unwrap();
                    // A write that returned is visible to the very next
                    // read, whichever reader connection serves it.
                    assert_eq!(store.get(&r.digest).await.unwrap(), Some(r.clone()));
                    assert!(store.revoke(&r.digest).await.unwrap());
                    let got = store.get(&r.digest).await.unwrap().unwrap();
                    assert_eq!(got.state, TokenState::Revoked);
                }
            });
        }
        {
            let (store, existing) = (store.clone(), existing.clone());
            tasks.spawn(async move {
                for r in existing.iter().step_by(10) {
                    store.revoke(&r.digest).await.unwrap();
                }
            });
        }
        {
            let store = store.clone();
            tasks.spawn(async move {
                let mut purged = 0;
                loop {
                    let n = store.purge_expired(UnixTime(100), 100).await.unwrap();
                    purged += n;
                    if n < 100 {
                        break;
                    }
                }
                assert_eq!(purged, 2_000);
            });
        }
        while let Some(res) = tasks.join_next().await {
            res.unwrap();
        }
    });
    for (i, r) in existing.iter().enumerate() {
        let want = if i % 10 == 0 { TokenState::Revoked } else { TokenState::Active };
        assert_eq!(run(store.get(&r.digest)).unwrap().unwrap().state, want);
    }
}

/// WAL: a reader sees the last committed state even while another
/// connection holds the write lock mid-transaction (as a long purge
/// batch would).
#[test]
fn reads_do_not_wait_for_an_open_write_transaction() {
    let dir = TempDir::new("reader-vs-writer");
    let store = SqliteStore::open(dir.db()).unwrap();
    let r = fresh(TokenKind::Access, 10);
    run(store.insert(r.clone())).unwrap();

    let mut other = rusqlite::Connection::open(dir.db()).unwrap();
    let tx = other.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    tx.execute("DELETE FROM tokens", []).unwrap();
    assert_eq!(run(store.get(&r.digest)).unwrap(), Some(r.clone()));
    tx.commit().unwrap();
    assert_eq!(run(store.get(&r.digest)).unwrap(), None);
}

/// A write that cannot get the lock within the busy timeout fails with
/// `StoreError::Unavailable` (the core then fails closed, with a 503 that
/// says when to retry); it never reports success.
#[test]
fn a_write_blocked_past_the_busy_timeout_is_an_error() {
    let dir = TempDir::new("busy");
    let mut config = SqliteConfig::default();
    config.busy_timeout = Duration::from_millis(50);
    let store = SqliteStore::open_with(dir.db(), config).unwrap();

    let mut other = rusqlite::Connection::open(dir.db()).unwrap();
    let tx = other.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    let r = fresh(TokenKind::Access, 10_000);
    let res = run(store.insert(r.clone()));
    assert!(matches!(res, Err(StoreError::Unavailable(_))), "{res:?}");
    let res = run(store.consume(&r.digest, vec![]));
    assert!(matches!(res, Err(StoreError::Unavailable(_))), "{res:?}");
    drop(tx);
    run(store.insert(r.clone())).unwrap();
    assert!(run(store.get(&r.digest)).unwrap().is_some());
}

/// The core's endpoints while another process holds the write lock past the
/// busy timeout: issuance and revocation answer 503
/// `temporarily_unavailable` with `Retry-After` (no token, no silent 200);
/// introspection, a read, still answers, since WAL readers never wait for
/// a writer. Once the lock is released, the same requests succeed.
#[test]
fn endpoints_blocked_by_another_writer_answer_503_with_retry_after() {
    let dir = TempDir::new("busy-http");
    let mut config = SqliteConfig::default();
    config.busy_timeout = Duration::from_millis(50);
    let store = SqliteStore::open_with(dir.db(), config).unwrap();
    let server =
        AuthServer::new(store.clone(), Keyring::random().unwrap(), Config::new("https://issuer.example"));
    let api = Resource::new("https://api.example").unwrap();
    let (app_secret, app_digest) = SecretDigest::generate().unwrap();
    let (rs_secret, rs_digest) = SecretDigest::generate().unwrap();
    let app = Client::new_confidential(ClientId::new("app").unwrap(), app_digest)
        .with_grants([GrantType::ClientCredentials])
        .with_scope(Scope::parse("read").unwrap(), Scope::parse("read").unwrap())
        .with_audiences([api.clone()]);
    run(store.put_client(app)).unwrap();
    run(store.put_client(Client::new_resource_server(ClientId::new("rs").unwrap(), rs_digest, [api])))
        .unwrap();
    let issue_body = format!("grant_type=client_credentials&client_id=app&client_secret={app_secret}");
    let issue = || run(server.token_endpoint(HttpRequest::form_post(issue_body.as_bytes())));
    let issued = issue();
    assert_eq!(issued.status, 200);
    let token = issued.json_body().unwrap()["access_token"].as_str().unwrap().to_owned();
    let introspect_body = format!("client_id=rs&client_secret={rs_secret}&token={token}");
    let revoke_body = format!("client_id=app&client_secret={app_secret}&token={token}");
    let revoke = || run(server.revocation_endpoint(HttpRequest::form_post(revoke_body.as_bytes())));

    let mut other = rusqlite::Connection::open(dir.db()).unwrap();
    let tx = other.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    let retry = Error::UNAVAILABLE_RETRY_AFTER.to_string();
    for r in [issue(), revoke()] {
        let body = r.json_body().unwrap();
        assert_eq!(r.status, 503, "{body}");
        assert_eq!(r.header("retry-after"), Some(retry.as_str()));
        assert_eq!(body["error"], "temporarily_unavailable");
        assert!(body.get("access_token").is_none(), "{body}");
    }
    let r = run(server.introspection_endpoint(HttpRequest::form_post(introspect_body.as_bytes())));
    assert_eq!(r.json_body().unwrap()["active"], true, "the revocation did not happen");
    drop(tx);
    assert_eq!(issue().status, 200);
    assert_eq!(revoke().status, 200);
    let r = run(server.introspection_endpoint(HttpRequest::form_post(introspect_body.as_bytes())));
    assert_eq!(r.body, b"{\"active\":false}");
}
