//! What is `MemoryStore`'s own, beyond the store contract that the shared
//! conformance suite (`gatehouse-conformance`, `tests/tests/memory.rs`)
//! checks on it: replacements in other grants (and shards), and its shard
//! internals (the grant index, purge batches that move entries) under load
//! and under racing readers.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use gatehouse_core::model::{
    Claims, ClientId, CodeBinding, GrantId, Jti, Resource, Scope, TokenDigest, TokenKind, TokenRecord,
    TokenState,
};
use gatehouse_core::{Consumed, Keyring, StoreError, TokenStore, UnixTime};
use gatehouse_memory::MemoryStore;

fn keyring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| Keyring::random().unwrap())
}

fn digest(kind: TokenKind, grant: GrantId) -> TokenDigest {
    keyring().mint(kind, grant).unwrap().1
}

fn record(kind: TokenKind, grant: GrantId, expires_at: u64) -> TokenRecord {
    let audience = Arc::from(vec![Resource::new("https://api.example").unwrap()]);
    let claims = Claims::new(ClientId::new("app").unwrap(), Scope::parse("read write").unwrap(), audience);
    let (digest, jti) = (digest(kind, grant), Jti::generate().unwrap());
    let (issued, expires) = (UnixTime(100), UnixTime(expires_at));
    match kind {
        TokenKind::AuthorizationCode => {
            let binding = CodeBinding {
                redirect_uri: "https://app.example/cb".to_owned(),
                code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
            };
            TokenRecord::code(digest, jti, claims, binding, issued, expires)
        }
        TokenKind::Refresh => TokenRecord::refresh(digest, jti, claims, issued, expires),
        _ => TokenRecord::access(digest, jti, claims, issued, expires),
    }
}

fn grant() -> GrantId {
    GrantId::generate().unwrap()
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

/// The contract lets a backend refuse a replacement from another grant;
/// this one takes them (across shards), and a clash with an existing
/// record of another grant is a `Conflict` that changes nothing.
#[tokio::test]
async fn consume_may_place_replacements_in_other_grants() {
    let store = MemoryStore::with_shards(8);
    let code = record(TokenKind::AuthorizationCode, grant(), 200);
    let existing = record(TokenKind::Access, grant(), 200);
    store.insert(code.clone()).await.unwrap();
    store.insert(existing.clone()).await.unwrap();
    let others: Vec<_> = (0..10).map(|_| record(TokenKind::Access, grant(), 300)).collect();

    let mut clash = record(TokenKind::Access, grant(), 300);
    clash.digest = existing.digest;
    let with_clash = others.iter().cloned().chain([clash]).collect();
    assert!(matches!(store.consume(&code.digest, with_clash).await, Err(StoreError::Conflict)));
    assert_eq!(store.get(&code.digest).await.unwrap(), Some(code.clone()));
    assert_eq!(store.get(&existing.digest).await.unwrap(), Some(existing));
    for r in &others {
        assert_eq!(store.get(&r.digest).await.unwrap(), None);
    }
    assert_eq!(store.len(), 2);

    let got = store.consume(&code.digest, others.clone()).await.unwrap();
    assert_eq!(got, Consumed::Taken(code));
    for r in others {
        assert_eq!(store.get(&r.digest).await.unwrap(), Some(r));
    }
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
