//! Model-based check: random operation sequences on `MemoryStore` and on a
//! plain `HashMap` model must agree. The digests come from a tiny universe
//! in which hashes repeat across grants and share 8-byte prefixes, so the
//! store's tag-collision and entry-moving paths run constantly. Grants
//! 0 and 1 (and 2 and 3) share the bytes the grant index is keyed by, and
//! `revoke_grant` runs after purges (which move entries) and consumes
//! (which add to a grant), so a stale grant index shows up as a token
//! that does not read `Revoked`, or one that does and should not.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use gatehouse_core::model::{ClientId, GrantId, Jti, Scope, TokenDigest, TokenKind, TokenRecord, TokenState};
use gatehouse_core::{Consumed, StoreError, TokenStore, UnixTime};
use gatehouse_memory::MemoryStore;
use proptest::prelude::*;

const GRANTS: u8 = 4;
const HASHES: u8 = 4;

fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("memory store futures are always ready"),
    }
}

/// Grant `g`: bytes 8..12 (the store's grant-index key) are shared by
/// pairs of grants, the rest differ.
fn grant_id(g: u8) -> GrantId {
    let mut b = [g; 16];
    b[8..12].fill(g / 2);
    GrantId::from_bytes(b)
}

/// Key `k` in `0..GRANTS * HASHES`. Hashes 0 and 1 share their first 8
/// bytes, as do 2 and 3.
fn digest(k: u8) -> TokenDigest {
    let (g, h) = (k / HASHES, k % HASHES);
    let mut hash = [h; 32];
    hash[..8].fill(h / 2);
    TokenDigest::new(grant_id(g), hash)
}

fn record(k: u8, exp: u64) -> TokenRecord {
    TokenRecord {
        digest: digest(k),
        kind: TokenKind::Refresh,
        client_id: ClientId::new("c").unwrap(),
        subject: None,
        scope: Scope::empty(),
        audience: Arc::from(Vec::new()),
        issued_at: UnixTime(0),
        not_before: UnixTime(0),
        expires_at: UnixTime(exp),
        jti: Jti::from_bytes([k; 16]),
        state: TokenState::Active,
        code: None,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, u64),
    Get(u8),
    Consume(u8, Vec<(u8, u64)>),
    Revoke(u8),
    RevokeGrant(u8),
    Purge(u64, usize),
}

fn key() -> impl Strategy<Value = u8> {
    0..GRANTS * HASHES
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (key(), 0..10u64).prop_map(|(k, e)| Op::Insert(k, e)),
        2 => key().prop_map(Op::Get),
        2 => (key(), prop::collection::vec((key(), 0..10u64), 0..3)).prop_map(|(k, r)| Op::Consume(k, r)),
        1 => key().prop_map(Op::Revoke),
        2 => (0..GRANTS).prop_map(Op::RevokeGrant),
        1 => (0..10u64, 0..4usize).prop_map(|(t, l)| Op::Purge(t, l)),
    ]
}

fn check(shards: usize, ops: Vec<Op>) {
    let store = MemoryStore::with_shards(shards);
    let mut model: HashMap<TokenDigest, TokenRecord> = HashMap::new();
    for op in ops {
        match op {
            Op::Insert(k, e) => {
                let got = now(store.insert(record(k, e)));
                match model.entry(digest(k)) {
                    Entry::Occupied(_) => assert!(matches!(got, Err(StoreError::Conflict))),
                    Entry::Vacant(v) => {
                        got.unwrap();
                        v.insert(record(k, e));
                    }
                }
            }
            Op::Get(k) => assert_eq!(now(store.get(&digest(k))).unwrap().as_ref(), model.get(&digest(k))),
            Op::Consume(k, repl) => {
                let repl: Vec<_> = repl.into_iter().map(|(k, e)| record(k, e)).collect();
                let got = now(store.consume(&digest(k), repl.clone()));
                match model.get(&digest(k)).cloned() {
                    None => assert_eq!(got.unwrap(), Consumed::Unknown),
                    Some(r) if r.state != TokenState::Active => {
                        assert_eq!(got.unwrap(), Consumed::Replayed(r))
                    }
                    Some(r) => {
                        let mut seen = Vec::new();
                        let clash = repl.iter().any(|x| {
                            let dup = seen.contains(&x.digest) || model.contains_key(&x.digest);
                            seen.push(x.digest);
                            dup
                        });
                        if clash {
                            assert!(matches!(got, Err(StoreError::Conflict)));
                        } else {
                            assert_eq!(got.unwrap(), Consumed::Taken(r));
                            if let Some(m) = model.get_mut(&digest(k)) {
                                m.state = TokenState::Consumed;
                            }
                            model.extend(repl.into_iter().map(|x| (x.digest, x)));
                        }
                    }
                }
            }
            Op::Revoke(k) => {
                let found = now(store.revoke(&digest(k))).unwrap();
                assert_eq!(found, model.contains_key(&digest(k)));
                if let Some(m) = model.get_mut(&digest(k)) {
                    m.state = TokenState::Revoked;
                }
            }
            Op::RevokeGrant(g) => {
                let g = grant_id(g);
                now(store.revoke_grant(&g)).unwrap();
                model.values_mut().filter(|r| r.grant_id() == g).for_each(|r| r.state = TokenState::Revoked);
            }
            Op::Purge(t, limit) => {
                let expired = model.values().filter(|r| r.expires_at <= UnixTime(t)).count();
                let n = now(store.purge_expired(UnixTime(t), limit)).unwrap();
                assert_eq!(n, expired.min(limit));
                // Which expired records go first is the store's choice.
                let before = model.len();
                model.retain(|d, r| r.expires_at > UnixTime(t) || now(store.get(d)).unwrap().is_some());
                assert_eq!(before - model.len(), n);
            }
        }
        assert_eq!(store.len(), model.len());
    }
    for (d, r) in &model {
        assert_eq!(now(store.get(d)).unwrap().as_ref(), Some(r));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn agrees_with_a_hash_map_model(shards in 1..4usize, ops in prop::collection::vec(op(), 0..60)) {
        check(shards, ops);
    }
}
