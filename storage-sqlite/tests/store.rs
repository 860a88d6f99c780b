//! What is `SqliteStore`'s own, beyond the store contract that the shared
//! conformance suite (`gatehouse-conformance`, `tests/tests/sqlite.rs`)
//! checks on it: batch inserts, exact purge batches, reopening a file, and
//! corrupt rows.
#![allow(clippy::unwrap_used)]

mod common;

use common::{fresh, run, TempDir};
use gatehouse_core::model::{
    Client, ClientAuth, ClientId, GrantTypes, Scope, SecretDigest, TokenKind, TokenState,
};
use gatehouse_core::{ClientRegistry, StoreError, TokenStore, UnixTime};
use gatehouse_sqlite::SqliteStore;

fn store(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(dir.db()).unwrap()
}

#[test]
fn insert_batch_is_all_or_nothing() {
    let dir = TempDir::new("batch");
    let s = store(&dir);
    let existing = fresh(TokenKind::Access, 2_000);
    run(s.insert(existing.clone())).unwrap();
    let new = fresh(TokenKind::Access, 2_000);
    assert!(matches!(s.insert_batch([new.clone(), existing]), Err(StoreError::Conflict)));
    assert_eq!(run(s.get(&new.digest)).unwrap(), None);
    s.insert_batch([new.clone()]).unwrap();
    assert_eq!(run(s.get(&new.digest)).unwrap(), Some(new));
}

#[test]
fn purge_deletes_expired_in_bounded_batches() {
    let dir = TempDir::new("purge");
    let s = store(&dir);
    let expired: Vec<_> = (0..25).map(|i| fresh(TokenKind::Access, 100 + i)).collect();
    let at_now = fresh(TokenKind::Access, 500);
    let live = fresh(TokenKind::Access, 10_000);
    s.insert_batch(expired.iter().cloned().chain([at_now.clone(), live.clone()])).unwrap();

    let now = UnixTime(500);
    assert_eq!(run(s.purge_expired(now, 0)).unwrap(), 0);
    let mut batches = Vec::new();
    loop {
        let n = run(s.purge_expired(now, 10)).unwrap();
        batches.push(n);
        if n < 10 {
            break;
        }
    }
    assert_eq!(batches, [10, 10, 5]);
    for r in &expired {
        assert_eq!(run(s.get(&r.digest)).unwrap(), None);
    }
    // "expired before now": a record expiring at `now` itself is left for
    // the next purge.
    assert!(run(s.get(&at_now.digest)).unwrap().is_some());
    assert!(run(s.get(&live.digest)).unwrap().is_some());
}

fn client(id: &str) -> (String, Client) {
    let (secret, digest) = SecretDigest::generate().unwrap();
    let c = Client {
        id: ClientId::new(id).unwrap(),
        auth: ClientAuth::Confidential { secret: digest, resource_server: None, previous: None },
        grant_types: GrantTypes::NONE,
        scope: Scope::parse("read").unwrap(),
        default_scope: Scope::empty(),
        audiences: Vec::new().into(),
        default_audience: None,
        redirect_uris: vec!["https://app.example/cb".to_owned()].into(),
        enabled: true,
    };
    (secret, c)
}

#[test]
fn everything_survives_reopening() {
    let dir = TempDir::new("reopen");
    let r = fresh(TokenKind::Refresh, 2_000);
    let (_, c) = client("c");
    {
        let s = store(&dir);
        run(s.insert(r.clone())).unwrap();
        run(s.revoke(&r.digest)).unwrap();
        run(s.put_client(c.clone())).unwrap();
    }
    let s = store(&dir);
    let mut revoked = r.clone();
    revoked.state = TokenState::Revoked;
    assert_eq!(run(s.get(&r.digest)).unwrap(), Some(revoked));
    assert!(run(s.client(&c.id)).unwrap().is_some());
}

#[test]
fn a_corrupt_row_is_reported_without_its_contents() {
    let dir = TempDir::new("corrupt");
    let s = store(&dir);
    let r = fresh(TokenKind::Access, 2_000);
    let other = fresh(TokenKind::Access, 2_000);
    run(s.insert(r.clone())).unwrap();
    run(s.insert(other.clone())).unwrap();
    let (_, c) = client("c");
    run(s.put_client(c.clone())).unwrap();
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.execute(
            "UPDATE tokens SET record = 'not json, sensitive-looking' WHERE hash = ?1",
            [&r.digest.hash()[..]],
        )
        .unwrap();
        // A well-formed record under the wrong key.
        let json = serde_json::to_string(&r).unwrap();
        conn.execute(
            "UPDATE tokens SET record = ?1 WHERE hash = ?2",
            rusqlite::params![json, &other.digest.hash()[..]],
        )
        .unwrap();
        conn.execute("UPDATE clients SET client = '{\"id\": 5}'", []).unwrap();
    }
    for digest in [r.digest, other.digest] {
        match run(s.get(&digest)) {
            Err(StoreError::Corrupt(msg)) => {
                assert!(!msg.contains("sensitive"), "{msg}");
                assert!(msg.contains(&digest.grant().to_string()), "{msg}");
            }
            res => panic!("expected Corrupt, got {res:?}"),
        }
    }
    assert!(matches!(run(s.client(&c.id)), Err(StoreError::Corrupt(_))));
    // A corrupt record is not consumed: the caller gets the error and the
    // row keeps its state.
    assert!(matches!(run(s.consume(&r.digest, vec![])), Err(StoreError::Corrupt(_))));
}
