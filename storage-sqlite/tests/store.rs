//! What is `SqliteStore`'s own, beyond the store contract that the shared
//! conformance suite (`gatehouse-conformance`, `tests/tests/sqlite.rs`)
//! checks on it: batch inserts, exact purge batches, reopening a file,
//! corrupt rows, and rows in the record format of earlier versions.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{fresh, run, TempDir};
use gatehouse_core::model::{
    encode_record, Claims, Client, ClientId, CodeBinding, GrantId, Jti, RecordDecodeError, Resource, Scope,
    SecretDigest, Subject, TokenDigest, TokenKind, TokenRecord, TokenState,
};
use gatehouse_core::{ClientRegistry, Consumed, StoreError, TokenStore, UnixTime};
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
            "UPDATE tokens SET record = '{not json, sensitive-looking' WHERE hash = ?1",
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
            SqliteError::Record { source: RecordDecodeError::Json { category, line, column }, .. }
                if json_error =>
            {
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

/// Two token rows as earlier versions wrote them: the record column holds
/// `serde_json::to_string(&record)` as TEXT (copied from that code's
/// output). An authorization code of grant `[7; 16]`, then an access token
/// of grant `[8; 16]`.
const OLD_ROWS: [(u8, u8, &str); 2] = [
    (
        7,
        0xab,
        r#"{"digest":"BwcHBwcHBwcHBwcHBwcHBw.abababababababababababababababababababababababababababababababab","kind":"authorization_code","client_id":"web app","subject":"alice","scope":"read write","audience":["https://api.example"],"issued_at":1700000000,"not_before":1700000000,"expires_at":1700000060,"jti":"AwMDAwMDAwMDAwMDAwMDAw","state":"active","code":{"redirect_uri":"https://app.example/cb?x=1","code_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}}"#,
    ),
    (
        8,
        0xcd,
        r#"{"digest":"CAgICAgICAgICAgICAgICA.cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","kind":"access","client_id":"app","subject":null,"scope":"read","audience":["https://api.example"],"issued_at":1700000000,"not_before":1700000000,"expires_at":1700003600,"jti":"BAQEBAQEBAQEBAQEBAQEBA","state":"active","code":null}"#,
    ),
];

/// What `OLD_ROWS` hold, built with today's constructors.
fn old_records() -> [TokenRecord; 2] {
    let api: Arc<[Resource]> = [Resource::new("https://api.example").unwrap()].into();
    let code = TokenRecord::code(
        TokenDigest::new(GrantId::from_bytes([7; 16]), [0xab; 32]),
        Jti::from_bytes([3; 16]),
        Claims::new(ClientId::new("web app").unwrap(), Scope::parse("read write").unwrap(), api.clone())
            .with_subject(Subject::new("alice").unwrap()),
        CodeBinding {
            redirect_uri: "https://app.example/cb?x=1".to_owned(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        },
        UnixTime(1_700_000_000),
        UnixTime(1_700_000_060),
    );
    let access = TokenRecord::access(
        TokenDigest::new(GrantId::from_bytes([8; 16]), [0xcd; 32]),
        Jti::from_bytes([4; 16]),
        Claims::new(ClientId::new("app").unwrap(), Scope::parse("read").unwrap(), api),
        UnixTime(1_700_000_000),
        UnixTime(1_700_003_600),
    );
    [code, access]
}

fn record_type(dir: &TempDir, digest: &TokenDigest) -> String {
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    conn.query_row("SELECT typeof(record) FROM tokens WHERE hash = ?1", [&digest.hash()[..]], |r| r.get(0))
        .unwrap()
}

#[test]
fn rows_written_as_json_by_earlier_versions_still_read_and_change_state() {
    let dir = TempDir::new("old-json");
    let s = store(&dir);
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        for (g, h, json) in OLD_ROWS {
            conn.execute(
                "INSERT INTO tokens (grant_id, hash, state, expires_at, record) VALUES (?1, ?2, 0, 0, ?3)",
                rusqlite::params![vec![g; 16], vec![h; 32], json],
            )
            .unwrap();
        }
    }
    let [code, access] = old_records();
    assert_eq!(record_type(&dir, &code.digest), "text");
    assert_eq!(run(s.get(&code.digest)).unwrap(), Some(code.clone()));
    let (got, client) = run(s.get_with_client(&access.digest)).unwrap().unwrap();
    assert_eq!((got, client.is_none()), (access.clone(), true));

    // Consumed once (a new record written beside it, in the new form),
    // then replayed; the old row keeps its JSON, its state column changes.
    let next = fresh(TokenKind::Refresh, 2_000);
    assert_eq!(run(s.consume(&code.digest, vec![next.clone()])).unwrap(), Consumed::Taken(code.clone()));
    let mut consumed = code.clone();
    consumed.state = TokenState::Consumed;
    assert_eq!(run(s.consume(&code.digest, vec![])).unwrap(), Consumed::Replayed(consumed));
    assert_eq!(record_type(&dir, &code.digest), "text");
    assert_eq!(record_type(&dir, &next.digest), "blob");
    assert_eq!(run(s.get(&next.digest)).unwrap(), Some(next));

    assert!(run(s.revoke(&access.digest)).unwrap());
    let mut revoked = access.clone();
    revoked.state = TokenState::Revoked;
    assert_eq!(run(s.get(&access.digest)).unwrap(), Some(revoked));
}

#[test]
fn new_records_are_stored_as_binary_blobs() {
    let dir = TempDir::new("blob");
    let s = store(&dir);
    let r = fresh(TokenKind::Access, 2_000);
    run(s.insert(r.clone())).unwrap();
    assert_eq!(record_type(&dir, &r.digest), "blob");
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let bytes: Vec<u8> = conn
        .query_row("SELECT record FROM tokens WHERE hash = ?1", [&r.digest.hash()[..]], |row| row.get(0))
        .unwrap();
    assert_eq!(bytes, encode_record(&r));
    assert_eq!(run(s.get(&r.digest)).unwrap(), Some(r));
}
