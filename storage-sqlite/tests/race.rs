//! Racing one-time tokens from separate stores on one file, as separate
//! processes would: exactly one consumer wins, every time. (Racing tasks
//! on one store, and a grant revocation racing a rotation, are checks of
//! the shared conformance suite.)
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Barrier;

use common::{fresh, run, TempDir};
use gatehouse_core::model::{TokenKind, TokenRecord, TokenState};
use gatehouse_core::{Consumed, TokenStore};
use gatehouse_sqlite::SqliteStore;

/// Races, each on a new token.
const ROUNDS: usize = 50;

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

/// Separate stores have separate writer connections and mutexes, like
/// separate processes: only SQLite's own locking (`BEGIN IMMEDIATE`)
/// orders them.
#[test]
fn racing_consumers_on_separate_connections_exactly_one_wins() {
    let dir = TempDir::new("race-many");
    let stores: Vec<SqliteStore> = (0..4).map(|_| SqliteStore::open(dir.db()).unwrap()).collect();
    for _ in 0..ROUNDS {
        let target = fresh(TokenKind::Refresh, 2_000);
        run(stores[0].insert(target.clone())).unwrap();
        race_once(&stores, &target);
    }
}
