//! Racing one-time tokens on real OS threads: exactly one consumer wins,
//! every time, and a grant revocation is never half-applied.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Barrier;

use common::{fresh, minted, run, TempDir};
use gatehouse_core::model::{GrantId, TokenKind, TokenRecord, TokenState};
use gatehouse_core::{Consumed, TokenStore};
use gatehouse_sqlite::SqliteStore;

const ROUNDS: usize = 100;
const THREADS: usize = 8;

/// Each of `stores.len()` threads consumes `target` with its own
/// replacement; checks exactly one wins and only its replacement exists.
fn race_once(stores: &[SqliteStore], target: &TokenRecord) {
    let replacements: Vec<TokenRecord> = stores.iter().map(|_| fresh(TokenKind::Access, 2_000)).collect();
    let barrier = Barrier::new(stores.len());
    let outcomes: Vec<Consumed> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .zip(&replacements)
            .map(|(store, rep)| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    run(store.consume(&target.digest, vec![rep.clone()])).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let winners: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, Consumed::Taken(_)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "outcomes: {outcomes:?}");
    for (i, o) in outcomes.iter().enumerate() {
        match o {
            Consumed::Taken(before) => assert_eq!(before, target),
            Consumed::Replayed(r) => assert_eq!(r.state, TokenState::Consumed),
            other => panic!("thread {i} saw {other:?}"),
        }
        let stored = run(stores[0].get(&replacements[i].digest)).unwrap();
        assert_eq!(stored.is_some(), winners[0] == i, "replacement of thread {i}");
    }
}

#[test]
fn racing_consumers_on_one_store_exactly_one_wins() {
    let dir = TempDir::new("race-one");
    let store = SqliteStore::open(dir.db()).unwrap();
    let stores: Vec<SqliteStore> = (0..THREADS).map(|_| store.clone()).collect();
    for round in 0..ROUNDS {
        let kind = if round % 2 == 0 { TokenKind::AuthorizationCode } else { TokenKind::Refresh };
        let target = fresh(kind, 2_000);
        run(store.insert(target.clone())).unwrap();
        race_once(&stores, &target);
    }
}

/// Separate stores have separate writer connections and mutexes, like
/// separate processes: only SQLite's own locking (`BEGIN IMMEDIATE`)
/// orders them.
#[test]
fn racing_consumers_on_separate_connections_exactly_one_wins() {
    let dir = TempDir::new("race-many");
    let stores: Vec<SqliteStore> = (0..4).map(|_| SqliteStore::open(dir.db()).unwrap()).collect();
    for _ in 0..ROUNDS / 2 {
        let target = fresh(TokenKind::Refresh, 2_000);
        run(stores[0].insert(target.clone())).unwrap();
        race_once(&stores, &target);
    }
}

#[test]
fn revoke_grant_racing_a_rotation_leaves_the_whole_family_revoked() {
    let dir = TempDir::new("race-grant");
    let store = SqliteStore::open(dir.db()).unwrap();
    let keys = common::keyring();
    let (mut taken, mut replayed) = (0, 0);
    for _ in 0..ROUNDS {
        let grant = GrantId::generate().unwrap();
        let (_, refresh) = minted(&keys, TokenKind::Refresh, grant, 2_000);
        let (_, access) = minted(&keys, TokenKind::Access, grant, 2_000);
        let (_, next) = minted(&keys, TokenKind::Refresh, grant, 2_000);
        run(store.insert(refresh.clone())).unwrap();

        let barrier = Barrier::new(2);
        let outcome = std::thread::scope(|s| {
            let rotate = s.spawn(|| {
                barrier.wait();
                run(store.consume(&refresh.digest, vec![access.clone(), next.clone()])).unwrap()
            });
            let revoke = s.spawn(|| {
                barrier.wait();
                run(store.revoke_grant(&grant)).unwrap();
            });
            revoke.join().unwrap();
            rotate.join().unwrap()
        });

        assert_eq!(run(store.get(&refresh.digest)).unwrap().unwrap().state, TokenState::Revoked);
        match outcome {
            // The rotation came first: its replacements were revoked with
            // the grant.
            Consumed::Taken(_) => {
                taken += 1;
                for r in [&access, &next] {
                    assert_eq!(run(store.get(&r.digest)).unwrap().unwrap().state, TokenState::Revoked);
                }
            }
            // The revocation came first: the rotation changed nothing.
            Consumed::Replayed(r) => {
                replayed += 1;
                assert_eq!(r.state, TokenState::Revoked);
                for r in [&access, &next] {
                    assert_eq!(run(store.get(&r.digest)).unwrap(), None);
                }
            }
            other => panic!("rotation saw {other:?}"),
        }
    }
    assert_eq!(taken + replayed, ROUNDS);
}
