//! Model-based property test: a store under test and [`ReferenceStore`] get
//! the same random sequence of operations, and must give the same result at
//! every step and hold the same records at the end.
//!
//! Operations work on a small pool of keys ([`GRANTS`] grants of [`SLOTS`]
//! tokens each), so that sequences often hit the same key twice: re-inserts,
//! double consumes, revocations of consumed tokens, purges of revoked ones.
//! The pool is built to collide in any index keyed on part of a digest:
//! every grant uses the same [`SLOTS`] hashes, pairs of hashes share their
//! first 8 bytes, and pairs of grants share bytes 8..12 (what
//! `MemoryStore`'s tag and grant index are keyed by), so a store that
//! confuses two keys, or keeps a stale grant index after purges (which
//! move entries) and consumes (which add to a grant), diverges.
//!
//! Where the contract leaves a choice, the comparison accepts any allowed
//! answer and then follows the store's choice:
//! - `purge_expired` may delete any expired records up to its limit (or
//!   none, for a TTL backend); the model drops what the store dropped.
//! - Consuming a token that is not active while a replacement's digest
//!   exists may report `Replayed`/`Unknown` or `Conflict`: nothing changes
//!   either way.
//! - Inserting into a grant after `revoke_grant` is not generated: whether
//!   such a record reads `Revoked` (a grant tombstone) is not specified, and
//!   the core never does it.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use gatehouse_core::model::{
    Claims, ClientId, CodeBinding, GrantId, Jti, Resource, Scope, Subject, TokenDigest, TokenKind,
    TokenRecord,
};
use gatehouse_core::{Consumed, StoreError, TokenStore, UnixTime};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use crate::fixtures::BASE;
use crate::reference::ReferenceStore;
use crate::Harness;

/// Number of grants in the key pool.
pub const GRANTS: u8 = 4;
/// Number of token slots per grant in the key pool.
pub const SLOTS: u8 = 4;
/// Random sequences per run, unless `PROPTEST_CASES` says otherwise.
pub const DEFAULT_CASES: u32 = 64;
/// Longest generated sequence.
pub const MAX_OPS: usize = 40;

/// A key of the pool: slot `slot` of grant `grant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tok {
    /// Grant index, below [`GRANTS`].
    pub grant: u8,
    /// Slot index, below [`SLOTS`].
    pub slot: u8,
}

impl Tok {
    /// The grant id of grant index `grant`. Grants 0 and 1 (and 2 and 3)
    /// share bytes 8..12; the other bytes differ.
    pub fn grant_id(grant: u8) -> GrantId {
        let mut b = [0xa0 ^ grant; 16];
        b[8..12].fill(0xa0 ^ (grant / 2));
        GrantId::from_bytes(b)
    }

    /// This key's digest. Its hash depends on the slot only, so it repeats
    /// in every grant; slots 0 and 1 (and 2 and 3) share the first 8 bytes.
    pub fn digest(self) -> TokenDigest {
        let mut hash = [0x50 ^ self.slot; 32];
        hash[..8].fill(0x50 ^ (self.slot / 2));
        TokenDigest::new(Self::grant_id(self.grant), hash)
    }

    /// Every key of the pool.
    pub fn all() -> impl Iterator<Item = Tok> {
        (0..GRANTS).flat_map(|grant| (0..SLOTS).map(move |slot| Tok { grant, slot }))
    }
}

/// A new record to store: its key, kind and expiry (seconds after
/// [`BASE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct New {
    /// The key.
    pub tok: Tok,
    /// The token kind.
    pub kind: TokenKind,
    /// Expires at `BASE + expires_in`.
    pub expires_in: u8,
}

impl New {
    /// The full record. Its contents depend on kind and expiry, so two
    /// records for one key differ (an overwrite is visible).
    pub fn record(self) -> TokenRecord {
        let Tok { grant, slot } = self.tok;
        let kind_byte = match self.kind {
            TokenKind::Access => 1,
            TokenKind::Refresh => 2,
            _ => 3,
        };
        let expires_at = BASE.plus(u64::from(self.expires_in));
        let issued_at = expires_at.minus(100);
        let mut claims = Claims::new(
            ClientId::new("model-client").expect("valid client id"),
            Scope::parse("read write").expect("valid scope"),
            Arc::from(vec![Resource::new("https://api.example").expect("valid resource")]),
        );
        if slot % 2 == 0 {
            claims = claims.with_subject(Subject::new("model-user").expect("valid subject"));
        }
        let digest = self.tok.digest();
        let jti =
            Jti::from_bytes([grant, slot, kind_byte, self.expires_in, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        match self.kind {
            TokenKind::AuthorizationCode => {
                let binding = CodeBinding {
                    redirect_uri: format!("https://app.example/cb/{grant}"),
                    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
                };
                TokenRecord::code(digest, jti, claims, binding, issued_at, expires_at)
            }
            TokenKind::Refresh => TokenRecord::refresh(digest, jti, claims, issued_at, expires_at),
            _ => TokenRecord::access(digest, jti, claims, issued_at, expires_at),
        }
    }
}

/// One store operation of a generated sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// `insert` of a new record.
    Insert(New),
    /// `get` of a key.
    Get(Tok),
    /// `consume` of a key with replacements in its grant (the slots of the
    /// [`New`] records are used with the consumed key's grant).
    Consume(Tok, Vec<New>),
    /// `revoke` of a key.
    Revoke(Tok),
    /// `revoke_grant` of a grant index.
    RevokeGrant(u8),
    /// `purge_expired(BASE + now, limit)`.
    Purge {
        /// Seconds after [`BASE`].
        now: u8,
        /// The batch limit.
        limit: u8,
    },
}

fn tok() -> impl Strategy<Value = Tok, Tree: Send> {
    (0..GRANTS, 0..SLOTS).prop_map(|(grant, slot)| Tok { grant, slot })
}

fn kind() -> impl Strategy<Value = TokenKind, Tree: Send> {
    prop_oneof![Just(TokenKind::Access), Just(TokenKind::Refresh), Just(TokenKind::AuthorizationCode)]
}

fn new() -> impl Strategy<Value = New, Tree: Send> {
    (tok(), kind(), 0..8u8).prop_map(|(tok, kind, expires_in)| New { tok, kind, expires_in })
}

/// One random operation over the pool.
pub fn op() -> impl Strategy<Value = Op, Tree: Send> {
    prop_oneof![
        4 => new().prop_map(Op::Insert),
        2 => tok().prop_map(Op::Get),
        3 => (tok(), prop::collection::vec(new(), 0..=2)).prop_map(|(t, repl)| Op::Consume(t, repl)),
        1 => tok().prop_map(Op::Revoke),
        1 => (0..GRANTS).prop_map(Op::RevokeGrant),
        1 => (0..10u8, 1..4u8).prop_map(|(now, limit)| Op::Purge { now, limit }),
    ]
}

/// A random sequence of 1 to [`MAX_OPS`] operations.
pub fn ops() -> impl Strategy<Value = Vec<Op>, Tree: Send> {
    prop::collection::vec(op(), 1..=MAX_OPS)
}

/// Where a store and the model first disagreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Index of the operation (or the number of operations, for the final
    /// comparison of all records).
    pub step: usize,
    /// What was being done.
    pub what: String,
    /// What the model says (or what the contract allows).
    pub expected: String,
    /// What the store did.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {}: {}\n  expected: {}\n  actual:   {}",
            self.step, self.what, self.expected, self.actual
        )
    }
}

impl std::error::Error for Mismatch {}

fn outcome<T: fmt::Debug>(r: &Result<T, StoreError>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(StoreError::Conflict) => "Err(Conflict)".to_owned(),
        Err(e) => format!("Err({e:?})"),
    }
}

fn same<T: PartialEq>(a: &Result<T, StoreError>, b: &Result<T, StoreError>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x == y,
        (Err(StoreError::Conflict), Err(StoreError::Conflict)) => true,
        _ => false,
    }
}

/// Applies `ops` to `store` and to a fresh [`ReferenceStore`], comparing
/// every result, then compares every key of the pool. `store` must start
/// empty. `purges_expired` is [`Harness::PURGES_EXPIRED`].
///
/// # Errors
/// The first [`Mismatch`].
pub async fn matches_model<S: TokenStore>(
    store: &S,
    ops: &[Op],
    purges_expired: bool,
) -> Result<(), Mismatch> {
    let model = ReferenceStore::new();
    let mut revoked_grants = HashSet::new();
    for (step, op) in ops.iter().enumerate() {
        let mismatch =
            |expected: String, actual: String| Mismatch { step, what: format!("{op:?}"), expected, actual };
        match op {
            Op::Insert(new) => {
                if revoked_grants.contains(&new.tok.grant) {
                    continue;
                }
                let (e, a) = (model.insert(new.record()).await, store.insert(new.record()).await);
                if !same(&e, &a) {
                    return Err(mismatch(outcome(&e), outcome(&a)));
                }
            }
            Op::Get(t) => {
                let (e, a) = (model.get(&t.digest()).await, store.get(&t.digest()).await);
                if !same(&e, &a) {
                    return Err(mismatch(outcome(&e), outcome(&a)));
                }
            }
            Op::Consume(t, repl) => {
                let mut seen = HashSet::new();
                let repl: Vec<TokenRecord> = repl
                    .iter()
                    .map(|n| New { tok: Tok { grant: t.grant, slot: n.tok.slot }, ..*n })
                    .filter(|n| seen.insert(n.tok))
                    .map(New::record)
                    .collect();
                let mut clash = false;
                for r in &repl {
                    clash |= model.get(&r.digest).await.ok().flatten().is_some();
                }
                let e = model.consume(&t.digest(), repl.clone()).await;
                let a = store.consume(&t.digest(), repl).await;
                let allowed_conflict = clash
                    && matches!(e, Ok(Consumed::Replayed(_) | Consumed::Unknown))
                    && matches!(a, Err(StoreError::Conflict));
                if !same(&e, &a) && !allowed_conflict {
                    return Err(mismatch(outcome(&e), outcome(&a)));
                }
            }
            Op::Revoke(t) => {
                let (e, a) = (model.revoke(&t.digest()).await, store.revoke(&t.digest()).await);
                if !same(&e, &a) {
                    return Err(mismatch(outcome(&e), outcome(&a)));
                }
            }
            Op::RevokeGrant(g) => {
                revoked_grants.insert(*g);
                let a = store.revoke_grant(&Tok::grant_id(*g)).await;
                if let Err(e) = a {
                    return Err(mismatch("Ok(())".to_owned(), format!("Err({e:?})")));
                }
                let _ = model.revoke_grant(&Tok::grant_id(*g)).await;
            }
            Op::Purge { now, limit } => {
                let now = BASE.plus(u64::from(*now));
                let limit = usize::from(*limit);
                check_purge(store, &model, now, limit, purges_expired)
                    .await
                    .map_err(|(e, a)| mismatch(e, a))?;
            }
        }
    }
    for t in Tok::all() {
        let (e, a) = (model.get(&t.digest()).await, store.get(&t.digest()).await);
        if !same(&e, &a) {
            return Err(Mismatch {
                step: ops.len(),
                what: format!("final state of {t:?}"),
                expected: outcome(&e),
                actual: outcome(&a),
            });
        }
    }
    Ok(())
}

/// Purges the store, checks what it did against what the contract allows,
/// and makes the model drop what the store dropped.
async fn check_purge<S: TokenStore>(
    store: &S,
    model: &ReferenceStore,
    now: UnixTime,
    limit: usize,
    purges_expired: bool,
) -> Result<(), (String, String)> {
    let n = match store.purge_expired(now, limit).await {
        Ok(n) => n,
        Err(e) => return Err(("Ok(_)".to_owned(), format!("Err({e:?})"))),
    };
    if n > limit {
        return Err((format!("at most {limit} deleted"), format!("Ok({n})")));
    }
    let mut vanished = Vec::new();
    for r in model.records() {
        match store.get(&r.digest).await {
            Ok(None) => {
                // A record expiring exactly at `now` may go either way.
                if r.expires_at > now {
                    return Err(("only expired records deleted".to_owned(), format!("deleted live {r:?}")));
                }
                model.remove(&r.digest);
                vanished.push(r.digest);
            }
            Ok(Some(_)) => {}
            Err(e) => return Err(("Ok(_)".to_owned(), format!("get after purge: Err({e:?})"))),
        }
    }
    if n != vanished.len() {
        return Err((format!("Ok({}), the number of records deleted", vanished.len()), format!("Ok({n})")));
    }
    if purges_expired && n < limit {
        let left: Vec<TokenDigest> =
            model.records().iter().filter(|r| r.expires_at < now).map(|r| r.digest).collect();
        if !left.is_empty() {
            return Err((
                format!("no expired record left after Ok({n}) with limit {limit}"),
                format!("still stored: {left:?}"),
            ));
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES)
}

async fn run_case<H: Harness>(h: &H, ops: &[Op]) -> Result<(), Mismatch> {
    let store = h.fresh().await;
    matches_model(&store, ops, H::PURGES_EXPIRED).await
}

/// The check: random sequences ([`ops`]) on fresh stores from `h` must
/// match the model ([`matches_model`]). On a failure the sequence is shrunk,
/// and the panic message gives the smallest failing sequence found, in Rust
/// syntax, to turn into a named regression test that calls
/// [`matches_model`] with it.
///
/// It drives proptest's shrinking by hand, so that the cases run in the
/// check's async runtime.
///
/// # Panics
/// On a mismatch.
pub async fn store_matches_reference<H: Harness>(h: &H) {
    let config = Config { cases: cases(), max_shrink_iters: 1024, ..Config::default() };
    let mut runner = TestRunner::new(config.clone());
    let strategy = ops();
    for _ in 0..config.cases {
        let mut tree = strategy.new_tree(&mut runner).expect("generate an operation sequence");
        let Err(first) = run_case(h, &tree.current()).await else { continue };
        let mut best = (tree.current(), first);
        let mut iters = 0;
        if tree.simplify() {
            while iters < config.max_shrink_iters {
                iters += 1;
                let candidate = tree.current();
                match run_case(h, &candidate).await {
                    Err(m) => {
                        best = (candidate, m);
                        if !tree.simplify() {
                            break;
                        }
                    }
                    Ok(()) => {
                        if !tree.complicate() {
                            break;
                        }
                    }
                }
            }
        }
        let (ops, m) = best;
        panic!(
            "store diverged from the reference model\n{m}\nsmallest failing sequence ({} ops):\n{ops:#?}",
            ops.len()
        );
    }
}
