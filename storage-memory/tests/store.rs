//! The `TokenStore` and `ClientRegistry` guarantees, checked on
//! `MemoryStore` through its public API only.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::task::{Context, Poll, Waker};

use gatehouse_core::model::{
    Client, ClientAuth, ClientId, CodeBinding, GrantId, GrantTypes, Jti, Resource, Scope, Subject,
    TokenDigest, TokenKind, TokenRecord, TokenState,
};
use gatehouse_core::{ClientRegistry, Consumed, Keyring, StoreError, TokenStore, UnixTime};
use gatehouse_memory::MemoryStore;

fn keyring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| Keyring::random().unwrap())
}

fn digest(kind: TokenKind, grant: GrantId) -> TokenDigest {
    keyring().mint(kind, grant).unwrap().1
}

fn record(kind: TokenKind, grant: GrantId, expires_at: u64) -> TokenRecord {
    TokenRecord {
        digest: digest(kind, grant),
        kind,
        client_id: ClientId::new("app").unwrap(),
        subject: None,
        scope: Scope::parse("read write").unwrap(),
        audience: Arc::from(vec![Resource::new("https://api.example").unwrap()]),
        issued_at: UnixTime(100),
        not_before: UnixTime(100),
        expires_at: UnixTime(expires_at),
        jti: Jti::generate().unwrap(),
        state: TokenState::Active,
        code: None,
    }
}

fn grant() -> GrantId {
    GrantId::generate().unwrap()
}

fn with_state(mut r: TokenRecord, state: TokenState) -> TokenRecord {
    r.state = state;
    r
}

/// Drives a future that is ready at once (every `MemoryStore` future is),
/// without a runtime, so plain threads can race on the store.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("memory store futures are always ready"),
    }
}

#[tokio::test]
async fn get_round_trips_every_field() {
    let store = MemoryStore::new();
    let mut code = record(TokenKind::AuthorizationCode, grant(), 200);
    code.subject = Some(Subject::new("alice").unwrap());
    code.not_before = UnixTime(101);
    code.code = Some(Box::new(CodeBinding {
        redirect_uri: "https://app.example/cb".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
    }));
    let plain = record(TokenKind::Access, grant(), 300);
    let mut subject_only = record(TokenKind::Refresh, grant(), 400);
    subject_only.subject = Some(Subject::new("bob").unwrap());
    for r in [&code, &plain, &subject_only] {
        store.insert(r.clone()).await.unwrap();
    }
    for r in [code, plain, subject_only] {
        assert_eq!(store.get(&r.digest).await.unwrap(), Some(r));
    }
    assert_eq!(store.get(&digest(TokenKind::Access, grant())).await.unwrap(), None);
    assert_eq!(store.len(), 3);
}

#[tokio::test]
async fn insert_never_overwrites() {
    let store = MemoryStore::new();
    let first = record(TokenKind::Access, grant(), 200);
    store.insert(first.clone()).await.unwrap();
    let mut second = record(TokenKind::Access, grant(), 999);
    second.digest = first.digest;
    assert!(matches!(store.insert(second).await, Err(StoreError::Conflict)));
    assert_eq!(store.get(&first.digest).await.unwrap(), Some(first));
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn a_digest_is_its_grant_and_its_hash() {
    // Same hash, other grant: another key. With one shard both share the
    // index tag, which exercises the collision path.
    for shards in [1, 64] {
        let store = MemoryStore::with_shards(shards);
        let a = record(TokenKind::Access, grant(), 200);
        let mut b = record(TokenKind::Access, grant(), 300);
        b.digest = TokenDigest::new(b.digest.grant(), *a.digest.hash());
        store.insert(a.clone()).await.unwrap();
        store.insert(b.clone()).await.unwrap();
        assert_eq!(store.get(&a.digest).await.unwrap(), Some(a.clone()));
        assert_eq!(store.get(&b.digest).await.unwrap(), Some(b.clone()));
        assert_eq!(store.get(&TokenDigest::new(grant(), *a.digest.hash())).await.unwrap(), None);
        assert!(store.revoke(&b.digest).await.unwrap());
        assert_eq!(store.get(&a.digest).await.unwrap().unwrap().state, TokenState::Active);
    }
}

#[tokio::test]
async fn consume_takes_once_and_stores_replacements() {
    let store = MemoryStore::new();
    let g = grant();
    let code = record(TokenKind::AuthorizationCode, g, 200);
    store.insert(code.clone()).await.unwrap();
    let access = record(TokenKind::Access, g, 300);
    let refresh = record(TokenKind::Refresh, g, 400);

    let got = store.consume(&code.digest, vec![access.clone(), refresh.clone()]).await.unwrap();
    assert_eq!(got, Consumed::Taken(code.clone()));
    let consumed = with_state(code.clone(), TokenState::Consumed);
    assert_eq!(store.get(&code.digest).await.unwrap(), Some(consumed.clone()));
    assert_eq!(store.get(&access.digest).await.unwrap(), Some(access));
    assert_eq!(store.get(&refresh.digest).await.unwrap(), Some(refresh));

    // A replay changes nothing and hands back the stored record.
    let again = record(TokenKind::Access, g, 300);
    let got = store.consume(&code.digest, vec![again.clone()]).await.unwrap();
    assert_eq!(got, Consumed::Replayed(consumed));
    assert_eq!(store.get(&again.digest).await.unwrap(), None);

    let unknown = digest(TokenKind::Refresh, g);
    let got = store.consume(&unknown, vec![again.clone()]).await.unwrap();
    assert_eq!(got, Consumed::Unknown);
    assert_eq!(store.get(&again.digest).await.unwrap(), None);
    assert_eq!(store.len(), 3);
}

#[tokio::test]
async fn consume_of_a_revoked_token_is_a_replay() {
    let store = MemoryStore::new();
    let r = record(TokenKind::Refresh, grant(), 200);
    store.insert(r.clone()).await.unwrap();
    assert!(store.revoke(&r.digest).await.unwrap());
    let got = store.consume(&r.digest, vec![]).await.unwrap();
    assert_eq!(got, Consumed::Replayed(with_state(r, TokenState::Revoked)));
}

#[tokio::test]
async fn consume_conflict_changes_nothing() {
    let store = MemoryStore::with_shards(4);
    let g = grant();
    let refresh = record(TokenKind::Refresh, g, 200);
    let existing = record(TokenKind::Access, grant(), 200);
    store.insert(refresh.clone()).await.unwrap();
    store.insert(existing.clone()).await.unwrap();
    let fresh = record(TokenKind::Refresh, g, 300);

    // A replacement that exists, in another grant (and maybe shard).
    let mut clash = record(TokenKind::Access, grant(), 300);
    clash.digest = existing.digest;
    // Two replacements with one digest.
    let twin = record(TokenKind::Access, g, 300);
    // A replacement with the consumed token's own digest.
    let mut itself = record(TokenKind::Refresh, g, 300);
    itself.digest = refresh.digest;

    for bad in [vec![fresh.clone(), clash], vec![fresh.clone(), twin.clone(), twin.clone()], vec![itself]] {
        assert!(matches!(store.consume(&refresh.digest, bad).await, Err(StoreError::Conflict)));
        assert_eq!(store.get(&refresh.digest).await.unwrap(), Some(refresh.clone()));
        assert_eq!(store.get(&fresh.digest).await.unwrap(), None);
        assert_eq!(store.get(&twin.digest).await.unwrap(), None);
        assert_eq!(store.get(&existing.digest).await.unwrap(), Some(existing.clone()));
        assert_eq!(store.len(), 2);
    }
    // And the token is still usable.
    let got = store.consume(&refresh.digest, vec![fresh.clone()]).await.unwrap();
    assert_eq!(got, Consumed::Taken(refresh));
}

#[tokio::test]
async fn consume_may_place_replacements_in_other_grants() {
    let store = MemoryStore::with_shards(8);
    let code = record(TokenKind::AuthorizationCode, grant(), 200);
    store.insert(code.clone()).await.unwrap();
    let others: Vec<_> = (0..10).map(|_| record(TokenKind::Access, grant(), 300)).collect();
    let got = store.consume(&code.digest, others.clone()).await.unwrap();
    assert_eq!(got, Consumed::Taken(code));
    for r in others {
        assert_eq!(store.get(&r.digest).await.unwrap(), Some(r));
    }
}

#[tokio::test]
async fn revoke_marks_one_token() {
    let store = MemoryStore::new();
    let g = grant();
    let a = record(TokenKind::Access, g, 200);
    let b = record(TokenKind::Access, g, 200);
    let code = record(TokenKind::AuthorizationCode, g, 200);
    for r in [&a, &b, &code] {
        store.insert(r.clone()).await.unwrap();
    }
    assert!(store.revoke(&a.digest).await.unwrap());
    assert!(store.revoke(&a.digest).await.unwrap(), "a revoked token still counts as found");
    assert!(!store.revoke(&digest(TokenKind::Access, g)).await.unwrap());
    assert_eq!(store.get(&a.digest).await.unwrap(), Some(with_state(a, TokenState::Revoked)));
    assert_eq!(store.get(&b.digest).await.unwrap(), Some(b));
    store.consume(&code.digest, vec![]).await.unwrap();
    assert!(store.revoke(&code.digest).await.unwrap());
    assert_eq!(store.get(&code.digest).await.unwrap().unwrap().state, TokenState::Revoked);
}

#[tokio::test]
async fn revoke_grant_revokes_the_whole_family_only() {
    let store = MemoryStore::with_shards(2);
    let g = grant();
    let code = record(TokenKind::AuthorizationCode, g, 200);
    store.insert(code.clone()).await.unwrap();
    let access = record(TokenKind::Access, g, 300);
    let refresh = record(TokenKind::Refresh, g, 300);
    store.consume(&code.digest, vec![access.clone(), refresh.clone()]).await.unwrap();
    // Other grants, many of them in the same shard.
    let bystanders: Vec<_> = (0..50).map(|_| record(TokenKind::Access, grant(), 300)).collect();
    for r in &bystanders {
        store.insert(r.clone()).await.unwrap();
    }

    store.revoke_grant(&g).await.unwrap();
    for d in [code.digest, access.digest, refresh.digest] {
        assert_eq!(store.get(&d).await.unwrap().unwrap().state, TokenState::Revoked);
    }
    for r in &bystanders {
        assert_eq!(store.get(&r.digest).await.unwrap().as_ref(), Some(r));
    }
    let next = record(TokenKind::Refresh, g, 400);
    let got = store.consume(&refresh.digest, vec![next.clone()]).await.unwrap();
    assert_eq!(got, Consumed::Replayed(with_state(refresh, TokenState::Revoked)));
    assert_eq!(store.get(&next.digest).await.unwrap(), None);
    // Revoking a grant with no tokens is fine.
    store.revoke_grant(&grant()).await.unwrap();
}

/// The store finds a grant's tokens through an index that purges (which
/// move entries) and consumes (which add to a grant) must keep exact: here
/// hundreds of grants share one shard, some rotate, most of their early
/// tokens expire and are purged, and then every third grant is revoked.
#[tokio::test]
async fn revoke_grant_is_exact_after_purges_and_rotations() {
    let store = MemoryStore::with_shards(1);
    let mut grants: Vec<(GrantId, Vec<TokenRecord>)> = Vec::new();
    for i in 0..300u64 {
        let g = grant();
        let first = record(TokenKind::Refresh, g, if i % 2 == 0 { 150 } else { 500 });
        store.insert(first.clone()).await.unwrap();
        grants.push((g, vec![first]));
    }
    // Every fifth grant rotates three times: each consume adds an access
    // and a refresh token to the grant, early ones expiring at 150.
    for (i, (g, tokens)) in grants.iter_mut().enumerate() {
        if i % 5 != 0 {
            continue;
        }
        for round in 0..3u64 {
            let Some(last) = tokens.last().cloned() else { continue };
            let exp = if round == 0 { 150 } else { 600 };
            let access = record(TokenKind::Access, *g, exp);
            let refresh = record(TokenKind::Refresh, *g, exp);
            let got = store.consume(&last.digest, vec![access.clone(), refresh.clone()]).await.unwrap();
            assert_eq!(got, Consumed::Taken(last));
            if let Some(l) = tokens.last_mut() {
                l.state = TokenState::Consumed;
            }
            tokens.extend([access, refresh]);
        }
    }
    // Delete everything that expired at 150, in small batches (each moves
    // entries around the shard).
    while store.purge_expired(UnixTime(150), 7).await.unwrap() == 7 {}
    for (_, tokens) in &mut grants {
        tokens.retain(|t| t.expires_at > UnixTime(150));
    }
    for (i, (g, tokens)) in grants.iter_mut().enumerate() {
        if i % 3 == 0 {
            store.revoke_grant(g).await.unwrap();
            for t in tokens.iter_mut() {
                t.state = TokenState::Revoked;
            }
        }
    }
    let mut stored = 0;
    for (_, tokens) in &grants {
        for t in tokens {
            assert_eq!(store.get(&t.digest).await.unwrap().as_ref(), Some(t));
            stored += 1;
        }
    }
    assert_eq!(store.len(), stored);
}

#[test]
fn racing_consumers_get_exactly_one_take() {
    const THREADS: usize = 8;
    let store = MemoryStore::new();
    for _ in 0..200 {
        let g = grant();
        let code = record(TokenKind::AuthorizationCode, g, 200);
        now(store.insert(code.clone())).unwrap();
        let barrier = Barrier::new(THREADS);
        let outcomes: Vec<(Consumed, Vec<TokenDigest>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        let repl =
                            vec![record(TokenKind::Access, g, 300), record(TokenKind::Refresh, g, 300)];
                        let digests = repl.iter().map(|r| r.digest).collect();
                        barrier.wait();
                        (now(store.consume(&code.digest, repl)).unwrap(), digests)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut taken = 0;
        for (outcome, digests) in outcomes {
            let stored = digests.iter().filter(|d| now(store.get(d)).unwrap().is_some()).count();
            match outcome {
                Consumed::Taken(r) => {
                    taken += 1;
                    assert_eq!(r, code);
                    assert_eq!(stored, 2, "the winner's replacements are stored");
                }
                Consumed::Replayed(r) => {
                    assert_eq!(r, with_state(code.clone(), TokenState::Consumed));
                    assert_eq!(stored, 0, "a loser's replacements are not");
                }
                Consumed::Unknown => panic!("the code exists"),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(taken, 1);
    }
}

#[test]
fn revoke_grant_and_consume_race_cleanly() {
    let store = MemoryStore::with_shards(4);
    for _ in 0..500 {
        let g = grant();
        let refresh = record(TokenKind::Refresh, g, 200);
        let access = record(TokenKind::Access, g, 200);
        now(store.insert(refresh.clone())).unwrap();
        now(store.insert(access.clone())).unwrap();
        let repl = vec![record(TokenKind::Refresh, g, 300), record(TokenKind::Access, g, 300)];
        let repl_digests: Vec<_> = repl.iter().map(|r| r.digest).collect();
        let barrier = Barrier::new(2);
        let outcome = std::thread::scope(|s| {
            let consumer = s.spawn(|| {
                barrier.wait();
                now(store.consume(&refresh.digest, repl)).unwrap()
            });
            s.spawn(|| {
                barrier.wait();
                now(store.revoke_grant(&g)).unwrap();
            });
            consumer.join().unwrap()
        });
        // Whatever the order, every token of the grant now reads Revoked.
        for d in [refresh.digest, access.digest] {
            assert_eq!(now(store.get(&d)).unwrap().unwrap().state, TokenState::Revoked);
        }
        match outcome {
            Consumed::Taken(_) => {
                for d in &repl_digests {
                    let r = now(store.get(d)).unwrap();
                    assert_eq!(r.unwrap().state, TokenState::Revoked, "replacements are revoked too");
                }
            }
            Consumed::Replayed(r) => {
                assert_eq!(r.state, TokenState::Revoked);
                for d in &repl_digests {
                    assert_eq!(now(store.get(d)).unwrap(), None);
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn purge_deletes_exactly_the_expired_in_bounded_batches() {
    // Two shards of ~6,000 tokens: more than one scan batch per shard.
    let store = MemoryStore::with_shards(2);
    let mut kept = Vec::new();
    let mut gone = Vec::new();
    for i in 0..12_000u64 {
        // expires_at == now counts as expired: inactive from that second on.
        let exp = if i % 3 == 0 { 1_000 + i % 2 } else { 1_001 + i % 2 };
        let r = record(TokenKind::Access, grant(), exp);
        if exp <= 1_001 {
            gone.push(r.digest);
        } else {
            kept.push(r.digest);
        }
        store.insert(r).await.unwrap();
    }
    let mut total = 0;
    loop {
        let n = store.purge_expired(UnixTime(1_001), 700).await.unwrap();
        assert!(n <= 700);
        total += n;
        if n < 700 {
            break;
        }
    }
    assert_eq!(total, gone.len());
    assert_eq!(store.purge_expired(UnixTime(1_001), 700).await.unwrap(), 0);
    assert_eq!(store.purge_expired(UnixTime(1_001), 0).await.unwrap(), 0);
    for d in &gone {
        assert_eq!(store.get(d).await.unwrap(), None);
    }
    for d in &kept {
        assert!(store.get(d).await.unwrap().is_some());
    }
    assert_eq!(store.len(), kept.len());
    assert_eq!(store.purge_expired(UnixTime(u64::MAX), usize::MAX).await.unwrap(), kept.len());
    assert!(store.is_empty());
}

#[test]
fn purge_never_hides_a_live_token_from_readers() {
    let store = MemoryStore::with_shards(2);
    let live: Vec<_> = (0..2_000).map(|_| record(TokenKind::Access, grant(), 10_000)).collect();
    for r in &live {
        now(store.insert(r.clone())).unwrap();
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            // Expired tokens keep arriving and being purged in small batches,
            // so entries keep moving inside the shards.
            for round in 0..20 {
                for _ in 0..500 {
                    now(store.insert(record(TokenKind::Access, grant(), round))).unwrap();
                }
                while now(store.purge_expired(UnixTime(100), 37)).unwrap() == 37 {}
            }
            done.store(true, Ordering::Release);
        });
        s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                for r in &live {
                    assert_eq!(now(store.get(&r.digest)).unwrap().as_ref(), Some(r));
                }
            }
        });
    });
    assert_eq!(store.len(), live.len());
}

#[tokio::test]
async fn clients_put_get_replace_remove() {
    let store = MemoryStore::new();
    let id = ClientId::new("app").unwrap();
    let mut client = Client {
        id: id.clone(),
        auth: ClientAuth::Public,
        grant_types: GrantTypes::NONE,
        scope: Scope::parse("read").unwrap(),
        default_scope: Scope::empty(),
        audiences: Arc::from(Vec::new()),
        default_audience: None,
        redirect_uris: vec!["https://app.example/cb".to_owned()].into(),
        enabled: true,
    };
    assert!(store.client(&id).await.unwrap().is_none());
    store.put_client(client.clone()).await.unwrap();
    assert_eq!(store.client(&id).await.unwrap().unwrap().redirect_uris, client.redirect_uris);
    client.enabled = false;
    store.put_client(client).await.unwrap();
    assert!(!store.client(&id).await.unwrap().unwrap().enabled, "put replaces");
    assert!(store.remove_client(&id).await.unwrap());
    assert!(!store.remove_client(&id).await.unwrap());
    assert!(store.client(&id).await.unwrap().is_none());
}
