//! One check per guarantee of [`TokenStore`] and [`ClientRegistry`].
//!
//! Each check takes a [`Harness`], gets one fresh store from it, and panics
//! with a message naming the broken guarantee. A store error where the
//! contract promises success is a failure too.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gatehouse_core::model::{Client, ClientId, GrantId, TokenDigest, TokenRecord, TokenState};
use gatehouse_core::{ClientRegistry, Consumed, StoreError, TokenStore, UnixTime};
use tokio::sync::Barrier;

use crate::fixtures::{self, BASE};
use crate::Harness;

/// Rounds of each race check. Each round is a new race on new keys.
const RACE_ROUNDS: usize = 50;
/// Tasks racing in each round of the single-use check.
const RACERS: usize = 8;
/// Longest rotation chain in the grant-revocation race before giving up.
const MAX_ROTATIONS: usize = 100_000;

async fn get<S: TokenStore>(s: &S, d: &TokenDigest) -> Option<TokenRecord> {
    s.get(d).await.unwrap_or_else(|e| panic!("get({d:?}) failed: {e}"))
}

async fn insert<S: TokenStore>(s: &S, r: &TokenRecord) {
    if let Err(e) = s.insert(r.clone()).await {
        panic!("insert of a new record {:?} failed: {e:?}", r.digest);
    }
}

async fn consume<S: TokenStore>(s: &S, d: &TokenDigest, replacements: Vec<TokenRecord>) -> Consumed {
    s.consume(d, replacements).await.unwrap_or_else(|e| panic!("consume({d:?}) failed: {e:?}"))
}

async fn revoke<S: TokenStore>(s: &S, d: &TokenDigest) -> bool {
    s.revoke(d).await.unwrap_or_else(|e| panic!("revoke({d:?}) failed: {e:?}"))
}

async fn revoke_grant<S: TokenStore>(s: &S, g: &GrantId) {
    s.revoke_grant(g).await.unwrap_or_else(|e| panic!("revoke_grant({g:?}) failed: {e:?}"));
}

async fn purge<S: TokenStore>(s: &S, now: UnixTime, limit: usize) -> usize {
    s.purge_expired(now, limit).await.unwrap_or_else(|e| panic!("purge_expired failed: {e:?}"))
}

async fn client<S: ClientRegistry>(s: &S, id: &ClientId) -> Option<Client> {
    s.client(id).await.unwrap_or_else(|e| panic!("client({id:?}) failed: {e:?}"))
}

/// `r` with its state set to `state`: what a stored record must read as
/// after the store's own state change.
fn with_state(r: &TokenRecord, state: TokenState) -> TokenRecord {
    TokenRecord { state, ..r.clone() }
}

async fn assert_reads<S: TokenStore>(s: &S, expected: &TokenRecord, what: &str) {
    let got = get(s, &expected.digest).await;
    assert_eq!(got.as_ref(), Some(expected), "{what}: stored record differs from what was expected");
}

async fn assert_absent<S: TokenStore>(s: &S, d: &TokenDigest, what: &str) {
    let got = get(s, d).await;
    assert!(got.is_none(), "{what}: expected no record for {d:?}, found {got:?}");
}

/// Round trip: every field of every kind of record reads back as inserted:
/// subject (non-ASCII), code binding, multi-resource audience, distinct
/// times; the sparse form (no subject, empty scope); and times at the end
/// of `u64` (above `i64::MAX`, where a signed column would wrap).
pub async fn insert_then_get_round_trips<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let g = fixtures::grant();
    let mut far = fixtures::access(fixtures::grant());
    far.issued_at = UnixTime(u64::MAX);
    far.not_before = UnixTime(u64::MAX);
    far.expires_at = UnixTime(u64::MAX);
    let records = [
        fixtures::code(g),
        fixtures::refresh(g),
        fixtures::access(g),
        fixtures::service_access(fixtures::grant()),
        far,
    ];
    for r in &records {
        insert(&s, r).await;
    }
    for r in &records {
        assert_reads(&s, r, "round trip").await;
    }
}

/// Lookup of an absent digest is `Ok(None)`, not an error, including a
/// digest whose hash is stored under another grant: the grant is part of
/// the key.
pub async fn get_unknown_is_none<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let g = fixtures::grant();
    let r = fixtures::access(g);
    assert_absent(&s, &r.digest, "empty store").await;
    insert(&s, &r).await;
    assert_absent(&s, &fixtures::access(g).digest, "other digest, same grant").await;
    let other_grant = TokenDigest::new(fixtures::grant(), *r.digest.hash());
    assert_absent(&s, &other_grant, "same hash under another grant (the grant is part of the key)").await;
}

/// A digest is its grant and its hash: a record with the hash of a stored
/// one under another grant is another record (inserting it is no
/// conflict), and each operation on one leaves the other as it was.
pub async fn same_hash_in_another_grant_is_another_record<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let a = fixtures::refresh(fixtures::grant());
    let mut b = fixtures::refresh(fixtures::grant());
    b.digest = TokenDigest::new(b.digest.grant(), *a.digest.hash());
    insert(&s, &a).await;
    insert(&s, &b).await;
    assert_reads(&s, &a, "same hash, first grant").await;
    assert_reads(&s, &b, "same hash, second grant").await;
    assert!(revoke(&s, &b.digest).await);
    assert_reads(&s, &a, "revoking the same hash in another grant changed this record").await;
    let r = consume(&s, &a.digest, vec![]).await;
    assert_eq!(r, Consumed::Taken(a.clone()), "the same hash revoked in another grant must not count");
    assert_reads(&s, &with_state(&b, TokenState::Revoked), "consume changed the other grant's record").await;
    revoke_grant(&s, &a.digest.grant()).await;
    assert_reads(&s, &with_state(&b, TokenState::Revoked), "after revoking the first grant").await;
    let c = fixtures::refresh(fixtures::grant());
    let c = TokenRecord { digest: TokenDigest::new(c.digest.grant(), *a.digest.hash()), ..c };
    insert(&s, &c).await;
    revoke_grant(&s, &a.digest.grant()).await;
    assert_reads(&s, &c, "revoke_grant revoked the same hash in another grant").await;
}

/// No overwrite: inserting an existing digest fails with `Conflict` and the
/// stored record, state included, is unchanged, whether it is active,
/// consumed or revoked (an upsert would resurrect a used code).
pub async fn insert_never_overwrites<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let g = fixtures::grant();
    let original = fixtures::code(g);
    insert(&s, &original).await;

    let mut impostor = fixtures::refresh(fixtures::grant());
    impostor.digest = original.digest;
    impostor.state = TokenState::Active;
    let r = s.insert(impostor.clone()).await;
    assert!(
        matches!(r, Err(StoreError::Conflict)),
        "insert of an existing digest must fail with Conflict, got {r:?}"
    );
    assert_reads(&s, &original, "insert overwrote an existing record").await;

    for (state, what) in [(TokenState::Consumed, "consumed"), (TokenState::Revoked, "revoked")] {
        let t = fixtures::code(g);
        insert(&s, &t).await;
        match state {
            TokenState::Consumed => {
                assert!(matches!(consume(&s, &t.digest, vec![]).await, Consumed::Taken(_)))
            }
            _ => assert!(revoke(&s, &t.digest).await),
        }
        let r = s.insert(t.clone()).await;
        assert!(
            matches!(r, Err(StoreError::Conflict)),
            "insert over a {what} record must be Conflict, got {r:?}"
        );
        assert_reads(&s, &with_state(&t, state), &format!("insert overwrote a {what} record")).await;
    }
}

/// Linearizable inserts: of many concurrent inserts of one digest, exactly
/// one succeeds and the others get `Conflict`; the winner's record is stored.
pub async fn insert_race_has_one_winner<H: Harness>(h: &H) {
    let s = Arc::new(h.fresh().await);
    for round in 0..RACE_ROUNDS {
        let g = fixtures::grant();
        let base = fixtures::access(g);
        let barrier = Arc::new(Barrier::new(RACERS));
        let mut tasks = Vec::new();
        for _ in 0..RACERS {
            // Same key, different contents, so the stored one names its writer.
            let mut r = fixtures::access(g);
            r.digest = base.digest;
            let (s, b) = (Arc::clone(&s), Arc::clone(&barrier));
            tasks.push(tokio::spawn(async move {
                b.wait().await;
                let res = s.insert(r.clone()).await;
                (r, res)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (r, res) = t.await.expect("insert task panicked");
            match res {
                Ok(()) => winners.push(r),
                Err(StoreError::Conflict) => {}
                Err(e) => panic!("racing insert failed with {e:?}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: {} of {RACERS} racing inserts of one digest succeeded",
            winners.len()
        );
        assert_reads(&*s, &winners[0], "racing inserts: the stored record must be the winner's").await;
    }
}

/// Single use: consuming an active token gives `Taken` with the record as it
/// was (state `Active`), leaves it `Consumed`, and a second consume gives
/// `Replayed` with the stored, consumed record.
pub async fn consume_takes_once<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let code = fixtures::code(fixtures::grant());
    insert(&s, &code).await;
    let first = consume(&s, &code.digest, vec![]).await;
    assert_eq!(first, Consumed::Taken(code.clone()), "first consume must be Taken with the record as it was");
    let consumed = with_state(&code, TokenState::Consumed);
    assert_reads(&s, &consumed, "after consume").await;
    let second = consume(&s, &code.digest, vec![]).await;
    assert_eq!(
        second,
        Consumed::Replayed(consumed.clone()),
        "second consume must be Replayed with the stored record (replay detection needs it)"
    );
    assert_reads(&s, &consumed, "after a replayed consume").await;
}

/// Consuming an absent digest is `Unknown` and stores none of the
/// replacements.
pub async fn consume_unknown<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let g = fixtures::grant();
    let missing = fixtures::code(g);
    let repl = fixtures::access(g);
    let r = consume(&s, &missing.digest, vec![repl.clone()]).await;
    assert_eq!(r, Consumed::Unknown, "consume of an absent digest must be Unknown");
    assert_absent(&s, &repl.digest, "consume of an unknown token stored a replacement").await;
    assert_absent(&s, &missing.digest, "consume of an unknown token created it").await;
}

/// A `Taken` consume stores every replacement as given; a replayed consume
/// stores none of its own.
pub async fn consume_inserts_replacements<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let g = fixtures::grant();
    let old = fixtures::refresh(g);
    insert(&s, &old).await;
    let (access, refresh) = (fixtures::access(g), fixtures::refresh(g));
    let r = consume(&s, &old.digest, vec![access.clone(), refresh.clone()]).await;
    assert_eq!(r, Consumed::Taken(old.clone()));
    assert_reads(&s, &access, "replacement access token").await;
    assert_reads(&s, &refresh, "replacement refresh token").await;
    assert_reads(&s, &with_state(&old, TokenState::Consumed), "rotated refresh token").await;

    let late = fixtures::access(g);
    let r = consume(&s, &old.digest, vec![late.clone()]).await;
    assert!(matches!(r, Consumed::Replayed(_)), "second rotation must be Replayed, got {r:?}");
    assert_absent(&s, &late.digest, "a replayed consume stored its replacement").await;
}

/// All or nothing: when a replacement's digest exists, consume fails with
/// `Conflict`, the token stays `Active`, no other replacement is stored, and
/// the existing record is unchanged. The token can then still be consumed.
pub async fn consume_conflicting_replacement_changes_nothing<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let g = fixtures::grant();
    let token = fixtures::refresh(g);
    let existing = fixtures::access(g);
    insert(&s, &token).await;
    insert(&s, &existing).await;
    let fresh = fixtures::access(g);
    let mut clash = fixtures::refresh(g);
    clash.digest = existing.digest;
    let r = s.consume(&token.digest, vec![fresh.clone(), clash]).await;
    assert!(
        matches!(r, Err(StoreError::Conflict)),
        "consume with an existing replacement must be Conflict, got {r:?}"
    );
    assert_reads(&s, &token, "a failed consume must leave the token Active").await;
    assert_absent(&s, &fresh.digest, "a failed consume stored a replacement").await;
    assert_reads(&s, &existing, "a failed consume changed the clashing record").await;

    // Two replacements with one digest conflict with each other; a
    // replacement may not be the consumed token itself.
    let twin = fixtures::access(g);
    let mut itself = fixtures::access(g);
    itself.digest = token.digest;
    for (bad, what) in [
        (vec![fresh.clone(), twin.clone(), twin.clone()], "two replacements with one digest"),
        (vec![fresh.clone(), itself], "the consumed token as its own replacement"),
    ] {
        let r = s.consume(&token.digest, bad).await;
        assert!(matches!(r, Err(StoreError::Conflict)), "consume with {what} must be Conflict, got {r:?}");
        assert_reads(&s, &token, &format!("consume with {what}: the token must stay Active")).await;
        assert_absent(&s, &fresh.digest, &format!("consume with {what} stored a replacement")).await;
        assert_absent(&s, &twin.digest, &format!("consume with {what} stored a replacement")).await;
    }

    let r = consume(&s, &token.digest, vec![fresh.clone()]).await;
    assert_eq!(r, Consumed::Taken(token.clone()), "after a failed consume the token must still be usable");
    assert_reads(&s, &fresh, "replacement after retry").await;
}

/// Consuming a revoked token is `Replayed` with the revoked record, and
/// stores nothing.
pub async fn consume_revoked_is_replayed<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let g = fixtures::grant();
    let token = fixtures::refresh(g);
    insert(&s, &token).await;
    assert!(revoke(&s, &token.digest).await);
    let repl = fixtures::access(g);
    let r = consume(&s, &token.digest, vec![repl.clone()]).await;
    let revoked = with_state(&token, TokenState::Revoked);
    assert_eq!(r, Consumed::Replayed(revoked.clone()), "consume of a revoked token must be Replayed");
    assert_reads(&s, &revoked, "consume changed a revoked token").await;
    assert_absent(&s, &repl.digest, "consume of a revoked token stored a replacement").await;
}

/// Exactly one of many concurrent consumes of one token is `Taken`; the
/// others are `Replayed` with the consumed record; only the winner's
/// replacement is stored. Repeated on new tokens, on a multi-thread runtime.
pub async fn consume_is_single_use_under_race<H: Harness>(h: &H) {
    let s = Arc::new(h.fresh().await);
    for round in 0..RACE_ROUNDS {
        let g = fixtures::grant();
        let code = fixtures::code(g);
        insert(&*s, &code).await;
        let barrier = Arc::new(Barrier::new(RACERS));
        let mut tasks = Vec::new();
        for _ in 0..RACERS {
            let repl = fixtures::access(g);
            let (s, b, d) = (Arc::clone(&s), Arc::clone(&barrier), code.digest);
            tasks.push(tokio::spawn(async move {
                b.wait().await;
                let r = s.consume(&d, vec![repl.clone()]).await;
                (repl, r)
            }));
        }
        let consumed = with_state(&code, TokenState::Consumed);
        let (mut taken, mut losers) = (Vec::new(), Vec::new());
        for t in tasks {
            let (repl, r) = t.await.expect("consume task panicked");
            match r {
                Ok(Consumed::Taken(rec)) => {
                    assert_eq!(rec, code, "Taken must hold the record as it was");
                    taken.push(repl);
                }
                Ok(Consumed::Replayed(rec)) => {
                    assert_eq!(rec, consumed, "a losing racer must see the consumed record");
                    losers.push(repl);
                }
                other => panic!("round {round}: racing consume gave {other:?}"),
            }
        }
        assert_eq!(
            taken.len(),
            1,
            "round {round}: {} of {RACERS} concurrent consumes of one code were Taken (must be exactly 1)",
            taken.len()
        );
        assert_reads(&*s, &consumed, "after the race").await;
        assert_reads(&*s, &taken[0], "the winner's replacement").await;
        for l in &losers {
            assert_absent(&*s, &l.digest, "a losing racer's replacement was stored").await;
        }
    }
}

/// `revoke` marks one token `Revoked` and reports whether it was found:
/// `true` for active, consumed and already revoked tokens, `false` for an
/// absent one. Other tokens of the grant are untouched.
pub async fn revoke_marks_revoked<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let g = fixtures::grant();
    let (a, b) = (fixtures::access(g), fixtures::refresh(g));
    insert(&s, &a).await;
    insert(&s, &b).await;
    assert!(revoke(&s, &a.digest).await, "revoke of an active token must return true");
    assert_reads(&s, &with_state(&a, TokenState::Revoked), "after revoke").await;
    assert_reads(&s, &b, "revoke of one token changed its sibling").await;
    assert!(revoke(&s, &a.digest).await, "revoke of a revoked token must return true");
    assert_reads(&s, &with_state(&a, TokenState::Revoked), "after a second revoke").await;
    assert!(!revoke(&s, &fixtures::access(g).digest).await, "revoke of an absent token must return false");
}

/// A record's state goes Active → Consumed → Revoked through the store's
/// operations, and every other field stays as inserted at each step.
pub async fn state_transitions_are_stored<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let code = fixtures::code(fixtures::grant());
    insert(&s, &code).await;
    assert_reads(&s, &code, "Active after insert").await;
    assert!(matches!(consume(&s, &code.digest, vec![]).await, Consumed::Taken(_)));
    assert_reads(&s, &with_state(&code, TokenState::Consumed), "Consumed after consume").await;
    assert!(revoke(&s, &code.digest).await, "revoke of a consumed token must return true");
    assert_reads(&s, &with_state(&code, TokenState::Revoked), "Revoked after revoking a consumed token")
        .await;
}

/// `revoke_grant` revokes every token of the grant, whatever its state,
/// including replacements stored by consume; other grants are untouched;
/// revoking an unknown grant, or a grant twice, succeeds.
pub async fn revoke_grant_revokes_family<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let (g, other) = (fixtures::grant(), fixtures::grant());
    let code = fixtures::code(g);
    let (access, refresh) = (fixtures::access(g), fixtures::refresh(g));
    insert(&s, &code).await;
    assert!(matches!(
        consume(&s, &code.digest, vec![access.clone(), refresh.clone()]).await,
        Consumed::Taken(_)
    ));
    let (access2, refresh2) = (fixtures::access(g), fixtures::refresh(g));
    assert!(matches!(
        consume(&s, &refresh.digest, vec![access2.clone(), refresh2.clone()]).await,
        Consumed::Taken(_)
    ));
    let revoked_alone = fixtures::access(g);
    insert(&s, &revoked_alone).await;
    assert!(revoke(&s, &revoked_alone.digest).await);
    let bystanders = [fixtures::code(other), fixtures::access(other), fixtures::refresh(other)];
    for b in &bystanders {
        insert(&s, b).await;
    }

    revoke_grant(&s, &g).await;
    for r in [&code, &access, &refresh, &access2, &refresh2, &revoked_alone] {
        assert_reads(
            &s,
            &with_state(r, TokenState::Revoked),
            "revoke_grant must revoke every token of the grant",
        )
        .await;
    }
    for b in &bystanders {
        assert_reads(&s, b, "revoke_grant changed a token of another grant").await;
    }
    revoke_grant(&s, &g).await;
    revoke_grant(&s, &fixtures::grant()).await;
    assert_reads(&s, &with_state(&access2, TokenState::Revoked), "after revoking the grant twice").await;
}

/// After `revoke_grant`, consuming a token of the grant is `Replayed` with
/// the revoked record and stores no replacement.
pub async fn revoke_grant_then_consume_is_replayed<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let g = fixtures::grant();
    let refresh = fixtures::refresh(g);
    insert(&s, &refresh).await;
    revoke_grant(&s, &g).await;
    let repl = fixtures::refresh(g);
    let r = consume(&s, &refresh.digest, vec![repl.clone()]).await;
    assert_eq!(
        r,
        Consumed::Replayed(with_state(&refresh, TokenState::Revoked)),
        "consume after revoke_grant must be Replayed with the revoked record"
    );
    assert_absent(&s, &repl.digest, "consume after revoke_grant stored a replacement").await;
}

/// `revoke_grant` racing a chain of refresh-token rotations in the grant
/// (each `consume` of the newest refresh token storing the next one), as
/// when a replay is detected while a thief keeps rotating.
///
/// The revocation is one step: every rotation either completed before it
/// (its replacements are revoked too) or is `Replayed` after it. So once
/// `revoke_grant` has returned, the next rotation must be `Replayed`; and
/// after both finish, every token of the grant reads `Revoked` and the
/// replayed rotation stored nothing.
pub async fn revoke_grant_races_consume<H: Harness>(h: &H) {
    let s = Arc::new(h.fresh().await);
    for round in 0..RACE_ROUNDS {
        let g = fixtures::grant();
        let first = fixtures::refresh(g);
        let sibling = fixtures::access(g);
        insert(&*s, &first).await;
        insert(&*s, &sibling).await;
        let barrier = Arc::new(Barrier::new(2));
        let revoked = Arc::new(AtomicBool::new(false));
        let rotator = {
            let (s, b, revoked, first) =
                (Arc::clone(&s), Arc::clone(&barrier), Arc::clone(&revoked), first.clone());
            tokio::spawn(async move {
                b.wait().await;
                // Rotate until the revocation stops the chain.
                let mut stored = Vec::new();
                let mut current = first;
                for _ in 0..MAX_ROTATIONS {
                    // A store whose futures are always ready would never let
                    // this task yield, and could starve the revoker queued
                    // behind it on this worker.
                    tokio::task::yield_now().await;
                    let revoke_returned = revoked.load(Ordering::SeqCst);
                    let repl = vec![fixtures::access(g), fixtures::refresh(g)];
                    match s.consume(&current.digest, repl.clone()).await {
                        Ok(Consumed::Taken(_)) => {
                            assert!(
                                !revoke_returned,
                                "round {round}: a rotation after revoke_grant returned was Taken \
                                 (the grant's newest refresh token was not revoked)"
                            );
                            current = repl[1].clone();
                            stored.extend(repl);
                        }
                        Ok(Consumed::Replayed(_)) => return (stored, repl),
                        other => panic!("round {round}: rotation racing revoke_grant gave {other:?}"),
                    }
                }
                panic!("round {round}: {MAX_ROTATIONS} rotations and revoke_grant never stopped the chain");
            })
        };
        let revoker = {
            let (s, b, revoked) = (Arc::clone(&s), Arc::clone(&barrier), Arc::clone(&revoked));
            tokio::spawn(async move {
                b.wait().await;
                let r = s.revoke_grant(&g).await;
                revoked.store(true, Ordering::SeqCst);
                r
            })
        };
        revoker.await.expect("revoke_grant task panicked").expect("revoke_grant failed");
        let (stored, refused) = match rotator.await {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };

        for r in [&first, &sibling].into_iter().chain(&stored) {
            assert_reads(
                &*s,
                &with_state(r, TokenState::Revoked),
                &format!("round {round}: every token of the grant must read Revoked after revoke_grant"),
            )
            .await;
        }
        for r in &refused {
            assert_absent(
                &*s,
                &r.digest,
                &format!("round {round}: a replayed rotation stored a replacement"),
            )
            .await;
        }
    }
}

/// `purge_expired` deletes only records that expired before `now`, at most
/// `limit` per call, and returns how many it deleted; consumed and revoked
/// records that are still live stay (replay detection needs them). A backend
/// that purges (see [`Harness::PURGES_EXPIRED`]) deletes every expired
/// record by the time a call returns less than `limit`.
pub async fn purge_removes_only_expired<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let now = BASE;
    let g = fixtures::grant();
    let live: Vec<TokenRecord> =
        (0..3).map(|_| fixtures::expiring_at(fixtures::code(g), now.plus(100))).collect();
    let expired: Vec<TokenRecord> =
        (1..=5).map(|i| fixtures::expiring_at(fixtures::code(g), now.minus(i))).collect();
    for r in live.iter().chain(&expired) {
        insert(&s, r).await;
    }
    // Consumed and revoked, live and expired.
    for r in [&live[0], &expired[0]] {
        assert!(matches!(consume(&s, &r.digest, vec![]).await, Consumed::Taken(_)));
    }
    for r in [&live[1], &expired[1]] {
        assert!(revoke(&s, &r.digest).await);
    }
    let mut present: Vec<TokenRecord> = Vec::new();
    for r in live.iter().chain(&expired) {
        present.push(get(&s, &r.digest).await.expect("record just inserted"));
    }
    let live_digests: HashSet<TokenDigest> = live.iter().map(|r| r.digest).collect();

    // Nothing has expired before a `now` earlier than every expiry.
    let n = purge(&s, now.minus(1000), 10).await;
    assert_eq!(n, 0, "purge deleted {n} records when none had expired");
    // A limit of 0 deletes nothing.
    let n = purge(&s, now, 0).await;
    assert_eq!(n, 0, "purge deleted {n} records with limit 0");
    for r in &present {
        assert!(get(&s, &r.digest).await.is_some(), "purge with limit 0 deleted a record");
    }

    const LIMIT: usize = 2;
    let mut total = 0;
    for call in 0.. {
        assert!(
            call < 10,
            "purge_expired keeps returning {LIMIT} with only {} expired records",
            expired.len()
        );
        let n = purge(&s, now, LIMIT).await;
        assert!(n <= LIMIT, "purge_expired deleted {n} records with limit {LIMIT}");
        let mut vanished = 0;
        let mut kept = Vec::new();
        for r in present {
            match get(&s, &r.digest).await {
                Some(now_stored) => {
                    assert_eq!(now_stored, r, "purge_expired changed a record it did not delete");
                    kept.push(r);
                }
                None => {
                    assert!(
                        !live_digests.contains(&r.digest),
                        "purge_expired deleted a live record (expires_at {:?}, now {now:?}, state {:?})",
                        r.expires_at,
                        r.state
                    );
                    vanished += 1;
                }
            }
        }
        present = kept;
        assert_eq!(n, vanished, "purge_expired returned {n} but {vanished} records disappeared");
        total += n;
        if n < LIMIT {
            break;
        }
    }
    if H::PURGES_EXPIRED {
        let left: Vec<_> = present.iter().filter(|r| !live_digests.contains(&r.digest)).collect();
        assert!(
            left.is_empty(),
            "purge_expired returned less than its limit but {} expired records remain (deleted {total})",
            left.len()
        );
    }
    for r in &live {
        assert!(get(&s, &r.digest).await.is_some(), "live record lost after purging");
    }
}

/// The client registry: absent is `Ok(None)`; `put_client` registers and,
/// for an existing id, replaces; `remove_client` deletes and reports
/// whether the client existed; clients are independent of each other.
pub async fn client_put_get_remove<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let (_, conf) = fixtures::confidential_client("confidential app");
    let public = fixtures::public_client("public-app");
    let (_, rs) = fixtures::resource_server("rs", &[fixtures::API, "urn:example:billing"]);
    // Ids with braces (a Redis hash tag) and spaces are ids like any other.
    let odd = [fixtures::public_client("odd {tag} id"), fixtures::public_client("x}y{")];
    assert!(client(&s, &conf.id).await.is_none(), "absent client must read as None");
    for c in [&conf, &public, &rs].into_iter().chain(&odd) {
        s.put_client(c.clone()).await.expect("put_client failed");
    }
    for c in [&conf, &public, &rs].into_iter().chain(&odd) {
        let got = client(&s, &c.id).await.unwrap_or_else(|| panic!("client {:?} not found after put", c.id));
        assert_eq!(fixtures::client_json(&got), fixtures::client_json(c), "client round trip");
    }

    // Replace: new secret, disabled, narrower scope.
    let (_, mut replaced) = fixtures::confidential_client("confidential app");
    replaced.enabled = false;
    replaced.scope = fixtures::scope("read");
    replaced.default_scope = fixtures::scope("read");
    s.put_client(replaced.clone()).await.expect("put_client (replace) failed");
    let got = client(&s, &conf.id).await.expect("replaced client must exist");
    assert_eq!(fixtures::client_json(&got), fixtures::client_json(&replaced), "put_client must replace");

    assert!(
        s.remove_client(&conf.id).await.expect("remove_client failed"),
        "remove of a client must return true"
    );
    assert!(client(&s, &conf.id).await.is_none(), "removed client still readable");
    assert!(
        !s.remove_client(&conf.id).await.expect("remove_client failed"),
        "second remove must return false"
    );
    for c in [&public, &rs].into_iter().chain(&odd) {
        let got = client(&s, &c.id).await.expect("removing one client removed another");
        assert_eq!(fixtures::client_json(&got), fixtures::client_json(c));
    }
    for c in &odd {
        assert!(s.remove_client(&c.id).await.expect("remove_client failed"), "remove of {:?}", c.id);
        assert!(client(&s, &c.id).await.is_none(), "removed client {:?} still readable", c.id);
    }
}

/// `get_with_client` returns the record with its client as the registry has
/// it at that moment: a client replaced (disabled) or removed just before is
/// seen so by the very next lookup; an absent digest is `None`.
pub async fn get_with_client_reads_the_current_client<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let r = fixtures::access(fixtures::grant());
    let (_, mut owner) = fixtures::confidential_client(r.client_id.as_str());
    insert(&s, &r).await;
    let got = s.get_with_client(&r.digest).await.expect("get_with_client failed");
    assert!(matches!(&got, Some((rec, None)) if rec == &r), "unregistered client must read as None: {got:?}");
    s.put_client(owner.clone()).await.expect("put_client failed");
    let got = s.get_with_client(&r.digest).await.expect("get_with_client failed");
    let (rec, client) = got.expect("record must be found");
    assert_eq!(rec, r);
    assert_eq!(fixtures::client_json(&client.expect("client must be found")), fixtures::client_json(&owner));
    owner.enabled = false;
    s.put_client(owner.clone()).await.expect("put_client (disable) failed");
    let (_, client) = s.get_with_client(&r.digest).await.expect("get_with_client failed").expect("record");
    assert!(!client.expect("client must be found").enabled, "a disabled client must read disabled at once");
    assert!(s.remove_client(&owner.id).await.expect("remove_client failed"));
    let (_, client) = s.get_with_client(&r.digest).await.expect("get_with_client failed").expect("record");
    assert!(client.is_none(), "a removed client must read as None at once");
    let absent = fixtures::access(fixtures::grant());
    assert!(s.get_with_client(&absent.digest).await.expect("get_with_client failed").is_none());
}

/// `ping` answers `Ok` on a working store, empty or not, and changes
/// nothing: the record stored before reads the same after, and the probe
/// digest the default looks up is not stored.
pub async fn ping_answers_and_changes_nothing<H: Harness>(h: &H) {
    let s = h.fresh().await;
    if let Err(e) = s.ping().await {
        panic!("ping of a working, empty store failed: {e:?}");
    }
    let r = fixtures::access(fixtures::grant());
    insert(&s, &r).await;
    for _ in 0..3 {
        if let Err(e) = s.ping().await {
            panic!("ping of a working store failed: {e:?}");
        }
    }
    assert_reads(&s, &r, "ping").await;
    assert_absent(&s, &gatehouse_core::store::PROBE_DIGEST, "ping must not store anything").await;
}
