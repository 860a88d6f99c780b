//! The store's contract, method by method, until the shared conformance
//! suite plugs in.
#![allow(clippy::unwrap_used)]

mod common;

use common::{fresh, run, TempDir};
use gatehouse_core::model::{
    Client, ClientAuth, ClientId, CodeBinding, GrantId, GrantTypes, Scope, SecretDigest, TokenKind,
    TokenState,
};
use gatehouse_core::{ClientRegistry, Consumed, StoreError, TokenStore, UnixTime};
use gatehouse_sqlite::SqliteStore;

fn store(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(dir.db()).unwrap()
}

#[test]
fn insert_then_get_round_trips() {
    let dir = TempDir::new("roundtrip");
    let s = store(&dir);
    let mut code = fresh(TokenKind::AuthorizationCode, 2_000);
    code.code = Some(Box::new(CodeBinding {
        redirect_uri: "https://app.example/cb".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
    }));
    code.subject = Some(gatehouse_core::model::Subject::new("alice").unwrap());
    run(s.insert(code.clone())).unwrap();
    assert_eq!(run(s.get(&code.digest)).unwrap(), Some(code.clone()));

    let mut far = fresh(TokenKind::Access, u64::MAX);
    far.issued_at = UnixTime(u64::MAX);
    run(s.insert(far.clone())).unwrap();
    assert_eq!(run(s.get(&far.digest)).unwrap(), Some(far));
}

#[test]
fn get_of_unknown_digest_is_none() {
    let dir = TempDir::new("miss");
    let s = store(&dir);
    assert_eq!(run(s.get(&fresh(TokenKind::Access, 2_000).digest)).unwrap(), None);
}

#[test]
fn insert_never_overwrites() {
    let dir = TempDir::new("conflict");
    let s = store(&dir);
    let r = fresh(TokenKind::Access, 2_000);
    run(s.insert(r.clone())).unwrap();
    let mut other = r.clone();
    other.scope = Scope::parse("admin").unwrap();
    assert!(matches!(run(s.insert(other)), Err(StoreError::Conflict)));
    assert_eq!(run(s.get(&r.digest)).unwrap(), Some(r));
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
fn consume_takes_once_then_reports_replay() {
    let dir = TempDir::new("consume");
    let s = store(&dir);
    let code = fresh(TokenKind::AuthorizationCode, 2_000);
    let access = fresh(TokenKind::Access, 2_000);
    run(s.insert(code.clone())).unwrap();

    match run(s.consume(&code.digest, vec![access.clone()])).unwrap() {
        Consumed::Taken(before) => assert_eq!(before, code),
        other => panic!("expected Taken, got {other:?}"),
    }
    assert_eq!(run(s.get(&access.digest)).unwrap(), Some(access));
    let mut consumed = code.clone();
    consumed.state = TokenState::Consumed;
    assert_eq!(run(s.get(&code.digest)).unwrap(), Some(consumed.clone()));

    let again = fresh(TokenKind::Access, 2_000);
    assert_eq!(run(s.consume(&code.digest, vec![again.clone()])).unwrap(), Consumed::Replayed(consumed));
    assert_eq!(run(s.get(&again.digest)).unwrap(), None);

    let unknown = fresh(TokenKind::AuthorizationCode, 2_000);
    assert_eq!(run(s.consume(&unknown.digest, vec![])).unwrap(), Consumed::Unknown);
}

#[test]
fn consume_of_revoked_is_replayed() {
    let dir = TempDir::new("consume-revoked");
    let s = store(&dir);
    let refresh = fresh(TokenKind::Refresh, 2_000);
    run(s.insert(refresh.clone())).unwrap();
    assert!(run(s.revoke(&refresh.digest)).unwrap());
    match run(s.consume(&refresh.digest, vec![])).unwrap() {
        Consumed::Replayed(r) => assert_eq!(r.state, TokenState::Revoked),
        other => panic!("expected Replayed, got {other:?}"),
    }
}

#[test]
fn consume_with_conflicting_replacement_changes_nothing() {
    let dir = TempDir::new("consume-conflict");
    let s = store(&dir);
    let code = fresh(TokenKind::AuthorizationCode, 2_000);
    let existing = fresh(TokenKind::Access, 2_000);
    run(s.insert(code.clone())).unwrap();
    run(s.insert(existing.clone())).unwrap();
    let new = fresh(TokenKind::Refresh, 2_000);
    let r = run(s.consume(&code.digest, vec![new.clone(), existing.clone()]));
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(run(s.get(&code.digest)).unwrap(), Some(code));
    assert_eq!(run(s.get(&new.digest)).unwrap(), None);
    assert_eq!(run(s.get(&existing.digest)).unwrap(), Some(existing));
}

#[test]
fn revoke_marks_one_token() {
    let dir = TempDir::new("revoke");
    let s = store(&dir);
    let a = fresh(TokenKind::Access, 2_000);
    let b = fresh(TokenKind::Access, 2_000);
    run(s.insert(a.clone())).unwrap();
    run(s.insert(b.clone())).unwrap();
    assert!(run(s.revoke(&a.digest)).unwrap());
    assert!(run(s.revoke(&a.digest)).unwrap(), "a revoked record still counts as found");
    assert_eq!(run(s.get(&a.digest)).unwrap().unwrap().state, TokenState::Revoked);
    assert_eq!(run(s.get(&b.digest)).unwrap().unwrap().state, TokenState::Active);
    assert!(!run(s.revoke(&fresh(TokenKind::Access, 2_000).digest)).unwrap());
}

#[test]
fn revoke_grant_revokes_the_whole_family_only() {
    let dir = TempDir::new("revoke-grant");
    let s = store(&dir);
    let keys = common::keyring();
    let grant = GrantId::generate().unwrap();
    let (_, code) = common::minted(&keys, TokenKind::AuthorizationCode, grant, 2_000);
    let (_, access) = common::minted(&keys, TokenKind::Access, grant, 2_000);
    let (_, refresh) = common::minted(&keys, TokenKind::Refresh, grant, 2_000);
    let other = fresh(TokenKind::Access, 2_000);
    run(s.insert(code.clone())).unwrap();
    run(s.consume(&code.digest, vec![access.clone(), refresh.clone()])).unwrap();
    run(s.insert(other.clone())).unwrap();

    run(s.revoke_grant(&grant)).unwrap();
    for r in [&code, &access, &refresh] {
        assert_eq!(run(s.get(&r.digest)).unwrap().unwrap().state, TokenState::Revoked);
    }
    assert_eq!(run(s.get(&other.digest)).unwrap().unwrap().state, TokenState::Active);
    run(s.revoke_grant(&GrantId::generate().unwrap())).unwrap();
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
        auth: ClientAuth::Confidential { secret: digest, resource_server: None },
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
fn clients_put_replace_get_remove() {
    let dir = TempDir::new("clients");
    let s = store(&dir);
    let id = ClientId::new("app one").unwrap();
    assert!(run(s.client(&id)).unwrap().is_none());
    let (_, c) = client("app one");
    run(s.put_client(c.clone())).unwrap();
    let got = run(s.client(&id)).unwrap().unwrap();
    assert_eq!(serde_json::to_value(&got).unwrap(), serde_json::to_value(&c).unwrap());

    let mut disabled = c;
    disabled.enabled = false;
    run(s.put_client(disabled)).unwrap();
    assert!(!run(s.client(&id)).unwrap().unwrap().enabled);

    assert!(run(s.remove_client(&id)).unwrap());
    assert!(!run(s.remove_client(&id)).unwrap());
    assert!(run(s.client(&id)).unwrap().is_none());
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
