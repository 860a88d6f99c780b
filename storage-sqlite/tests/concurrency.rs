//! Many tasks introspecting while others issue, revoke and purge; readers
//! never wait for a writer.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{fresh, run, TempDir};
use gatehouse_core::model::{TokenKind, TokenState};
use gatehouse_core::{StoreError, TokenStore, UnixTime};
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

/// A write that cannot get the lock within the busy timeout fails with a
/// backend error (the core then fails closed); it never reports success.
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
    assert!(matches!(res, Err(StoreError::Backend(_))), "{res:?}");
    let res = run(store.consume(&r.digest, vec![]));
    assert!(matches!(res, Err(StoreError::Backend(_))), "{res:?}");
    drop(tx);
    run(store.insert(r.clone())).unwrap();
    assert!(run(store.get(&r.digest)).unwrap().is_some());
}
