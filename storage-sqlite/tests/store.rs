//! What is `SqliteStore`'s own, beyond the store contract that the shared
//! conformance suite (`gatehouse-conformance`, `tests/tests/sqlite.rs`)
//! checks on it: batch inserts, exact purge batches, reopening a file, and
//! corrupt rows.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{fresh, run, TempDir};
use gatehouse_core::model::{Client, ClientId, Scope, SecretDigest, TokenKind, TokenState};
use gatehouse_core::{ClientRegistry, StoreError, TokenStore, UnixTime};
use gatehouse_sqlite::{SqliteError, SqliteStore};

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
    let c = Client::new_confidential(ClientId::new(id).unwrap(), digest)
        .with_scope(Scope::parse("read").unwrap(), Scope::empty())
        .with_redirect_uris(["https://app.example/cb".to_owned()]);
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
    let third = fresh(TokenKind::Access, 2_000);
    for t in [&r, &other, &third] {
        run(s.insert(t.clone())).unwrap();
    }
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
    for (digest, json_error) in [(r.digest, true), (other.digest, false)] {
        let e = run(s.get(&digest)).unwrap_err();
        let cause = corrupt_cause(&e, "token record");
        let shown = format!("{e} / {} / {e:?}", source_chain(&e));
        assert!(!shown.contains("sensitive"), "{shown}");
        assert!(shown.contains(&digest.grant().to_string()), "{shown}");
        match cause {
            SqliteError::Json { category, line, column, .. } if json_error => {
                assert_eq!((*category, *line, *column), ("syntax", 1, 2), "{shown}");
            }
            SqliteError::KeyMismatch { .. } if !json_error => {}
            other => panic!("unexpected cause {other:?}"),
        }
    }
    // Every lookup of a corrupt client returns the one error decoded with
    // the snapshot, not a copy of it.
    let (first, second) = (run(s.client(&c.id)).unwrap_err(), run(s.client(&c.id)).unwrap_err());
    assert!(matches!(corrupt_cause(&first, "client"), SqliteError::Json { category: "data", .. }));
    assert!(std::ptr::eq(corrupt_cause(&first, "client"), corrupt_cause(&second, "client")));
    // A corrupt record is not consumed: the caller gets the error and the
    // row keeps its state.
    assert!(matches!(run(s.consume(&r.digest, vec![])), Err(StoreError::Corrupt { .. })));
    // A state this version does not know (the CHECK constraint bypassed).
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.execute_batch("PRAGMA ignore_check_constraints = ON").unwrap();
        conn.execute("UPDATE tokens SET state = 7 WHERE hash = ?1", [&third.digest.hash()[..]]).unwrap();
    }
    let e = run(s.get(&third.digest)).unwrap_err();
    assert!(matches!(corrupt_cause(&e, "token record"), SqliteError::UnknownState { value: 7, .. }), "{e:?}");
}

/// The [`SqliteError`] inside a [`StoreError::Corrupt`] about `what`
/// (shared through an `Arc` or not).
fn corrupt_cause<'a>(e: &'a StoreError, what: &str) -> &'a SqliteError {
    let StoreError::Corrupt { what: w, source: Some(source) } = e else {
        panic!("expected Corrupt, got {e:?}")
    };
    assert_eq!(*w, what);
    let source: &(dyn std::error::Error + 'static) = source.as_ref();
    match source.downcast_ref::<Arc<SqliteError>>() {
        Some(shared) => shared,
        None => source.downcast_ref::<SqliteError>().unwrap(),
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut next = e.source();
    while let Some(e) = next {
        out.push(e.to_string());
        next = e.source();
    }
    out.join(": ")
}
