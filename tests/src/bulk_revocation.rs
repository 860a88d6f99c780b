//! Checks of bulk revocation, [`TokenStore::revoke_all`]: what it ends and
//! what it leaves, refresh rotations racing it, a grant whose lifetime a
//! code exchange extended; and the same through
//! [`AuthServer::revoke_all`](gatehouse_core::AuthServer::revoke_all)
//! ("sign out everywhere").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gatehouse_core::model::{ClientId, Subject, TokenRecord, TokenState};
use gatehouse_core::{Clock, Consumed, RevokeScope, SystemClock, TokenStore};
use tokio::sync::Barrier;

use crate::fixtures;
use crate::world::{ids, World, ALICE};
use crate::Harness;

/// Rounds of the race check; each is a new race on new grants.
const RACE_ROUNDS: usize = 30;
/// Refresh chains of the revoked subject racing each revocation.
const CHAINS: usize = 3;
/// Longest rotation chain in the race before giving up.
const MAX_ROTATIONS: usize = 100_000;

const WEB: &str = "bulk-web";
const SPA: &str = "bulk-spa";
const OTHER: &str = "bulk-other";

fn subject(s: &str) -> Subject {
    Subject::new(s).expect("valid subject")
}

fn client(c: &str) -> ClientId {
    fixtures::client_id(c)
}

/// `r` issued to `client` for `subject` (none: client_credentials).
fn owned(mut r: TokenRecord, client_id: &str, sub: Option<&str>) -> TokenRecord {
    r.client_id = client(client_id);
    r.subject = sub.map(subject);
    r
}

fn with_state(r: &TokenRecord, state: TokenState) -> TokenRecord {
    TokenRecord { state, ..r.clone() }
}

async fn insert<S: TokenStore>(s: &S, r: &TokenRecord) {
    if let Err(e) = s.insert(r.clone()).await {
        panic!("insert of a new record {:?} failed: {e:?}", r.digest);
    }
}

async fn revoke_all<S: TokenStore>(s: &S, scope: &RevokeScope) -> u64 {
    s.revoke_all(scope).await.unwrap_or_else(|e| panic!("revoke_all({scope:?}) failed: {e:?}"))
}

async fn assert_reads<S: TokenStore>(s: &S, expected: &TokenRecord, what: &str) {
    let got = s.get(&expected.digest).await.unwrap_or_else(|e| panic!("get failed: {e:?}"));
    assert_eq!(got.as_ref(), Some(expected), "{what}: stored record differs from what was expected");
}

async fn assert_all<S: TokenStore>(s: &S, records: &[TokenRecord], state: Option<TokenState>, what: &str) {
    for r in records {
        let expected = state.map_or_else(|| r.clone(), |st| with_state(r, st));
        assert_reads(s, &expected, what).await;
    }
}

/// A code exchanged for an access and a refresh token, the refresh token
/// then rotated once: every record of the grant as stored now (the code
/// and the first refresh token consumed).
async fn rotated_grant<S: TokenStore>(s: &S, client_id: &str, sub: &str) -> Vec<TokenRecord> {
    let g = fixtures::grant();
    let own = |r| owned(r, client_id, Some(sub));
    let code = own(fixtures::code(g));
    insert(s, &code).await;
    let (a1, r1) = (own(fixtures::access(g)), own(fixtures::refresh(g)));
    let taken = s.consume(&code.digest, vec![a1.clone(), r1.clone()]).await;
    assert!(matches!(taken, Ok(Consumed::Taken(_))), "code exchange: {taken:?}");
    let (a2, r2) = (own(fixtures::access(g)), own(fixtures::refresh(g)));
    let taken = s.consume(&r1.digest, vec![a2.clone(), r2.clone()]).await;
    assert!(matches!(taken, Ok(Consumed::Taken(_))), "refresh rotation: {taken:?}");
    vec![with_state(&code, TokenState::Consumed), a1, with_state(&r1, TokenState::Consumed), a2, r2]
}

/// Inserts an access and a refresh token of a new grant.
async fn fresh_grant<S: TokenStore>(s: &S, client_id: &str, sub: Option<&str>) -> Vec<TokenRecord> {
    let g = fixtures::grant();
    let records =
        vec![owned(fixtures::access(g), client_id, sub), owned(fixtures::refresh(g), client_id, sub)];
    for r in &records {
        insert(s, r).await;
    }
    records
}

/// `revoke_all` revokes every token (code, access, refresh; active,
/// consumed) of exactly the grants its scope names and returns how many
/// had an active token; a subject or client whose id extends another's is
/// another owner; revoking again ends nothing more; grants made after it
/// returns are untouched.
pub async fn revoke_all_ends_exactly_the_grants_it_names<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let alice_web = rotated_grant(&s, WEB, "alice").await;
    let alice_spa = fresh_grant(&s, SPA, Some("alice")).await;
    let bob_web = fresh_grant(&s, WEB, Some("bob")).await;
    let alice2_web = fresh_grant(&s, WEB, Some("alice2")).await;
    let web_service = fresh_grant(&s, WEB, None).await;
    let other_service = fresh_grant(&s, OTHER, None).await;
    let alice_web2 = fresh_grant(&s, "bulk-web2", Some("alice")).await;

    let n = revoke_all(&s, &RevokeScope::SubjectAtClient(subject("alice"), client(WEB))).await;
    assert_eq!(n, 1, "SubjectAtClient(alice, web) must end alice's one grant at web");
    assert_all(&s, &alice_web, Some(TokenState::Revoked), "SubjectAtClient must revoke the whole grant")
        .await;
    for (g, what) in [
        (&alice_spa, "alice at another client"),
        (&alice_web2, "alice at a client whose id extends web's"),
        (&bob_web, "another subject at web"),
        (&alice2_web, "a subject whose id extends alice's"),
        (&web_service, "web's client_credentials grant"),
    ] {
        assert_all(&s, g, None, &format!("SubjectAtClient(alice, web) revoked {what}")).await;
    }

    let n = revoke_all(&s, &RevokeScope::Subject(subject("alice"))).await;
    assert_eq!(n, 2, "Subject(alice) must end her two grants that were still active");
    for g in [&alice_spa, &alice_web2, &alice_web] {
        assert_all(&s, g, Some(TokenState::Revoked), "Subject(alice) must revoke every grant of hers").await;
    }
    for g in [&bob_web, &alice2_web, &web_service] {
        assert_all(&s, g, None, "Subject(alice) revoked a grant of someone else").await;
    }

    let n = revoke_all(&s, &RevokeScope::Client(client(WEB))).await;
    assert_eq!(n, 3, "Client(web) must end bob's, alice2's and its own client_credentials grant");
    for g in [&bob_web, &alice2_web, &web_service] {
        assert_all(&s, g, Some(TokenState::Revoked), "Client(web) must revoke every grant at web").await;
    }
    assert_all(&s, &other_service, None, "Client(web) revoked another client's grant").await;

    for scope in [
        RevokeScope::Client(client(WEB)),
        RevokeScope::Subject(subject("alice")),
        RevokeScope::Subject(subject("nobody")),
        RevokeScope::Client(client("bulk-unknown")),
    ] {
        assert_eq!(revoke_all(&s, &scope).await, 0, "{scope:?} again (or of nobody) must end nothing");
    }

    let later = fresh_grant(&s, WEB, Some("alice")).await;
    let later_service = fresh_grant(&s, WEB, None).await;
    assert_all(&s, &later, None, "a grant made after revoke_all returned").await;
    assert_all(&s, &later_service, None, "a grant made after revoke_all returned").await;
    assert_eq!(revoke_all(&s, &RevokeScope::Subject(subject("bob"))).await, 0);
    assert_all(&s, &later, None, "Subject(bob) revoked alice's new grant").await;
}

/// After `revoke_all`, consuming a code or a refresh token of a revoked
/// grant is `Replayed` with the revoked record and stores nothing.
pub async fn revoke_all_then_consume_is_replayed<H: Harness>(h: &H) {
    let s = h.fresh().await;
    let (g1, g2) = (fixtures::grant(), fixtures::grant());
    let code = owned(fixtures::code(g1), WEB, Some("carol"));
    let refresh = owned(fixtures::refresh(g2), SPA, Some("carol"));
    insert(&s, &code).await;
    insert(&s, &refresh).await;
    let n = revoke_all(&s, &RevokeScope::Subject(subject("carol"))).await;
    assert_eq!(n, 2, "revoke_all(Subject(carol)) must end her two grants");
    for (r, g) in [(&code, g1), (&refresh, g2)] {
        let repl = owned(fixtures::access(g), WEB, Some("carol"));
        let got = s.consume(&r.digest, vec![repl.clone()]).await;
        assert!(
            matches!(&got, Ok(Consumed::Replayed(rec)) if *rec == with_state(r, TokenState::Revoked)),
            "consume after revoke_all must be Replayed with the revoked record, got {got:?}"
        );
        let stored = s.get(&repl.digest).await.expect("get");
        assert!(stored.is_none(), "consume after revoke_all stored a replacement: {stored:?}");
    }
}

/// A grant whose first token (a code) expired long ago, but which a consume
/// extended with a long-lived refresh token, is still found: a backend
/// must not forget a grant while it has a live token, however short its
/// first token's life was. (The code's expiry is in the past of the real
/// clock, which a TTL backend goes by.)
pub async fn revoke_all_reaches_grants_a_consume_extended<H: Harness>(h: &H) {
    let g = fixtures::grant();
    let long_ago = SystemClock.now().minus(24 * 3600);
    let code = fixtures::expiring_at(owned(fixtures::code(g), WEB, Some("dave")), long_ago);
    let (access, refresh) =
        (owned(fixtures::access(g), WEB, Some("dave")), owned(fixtures::refresh(g), WEB, Some("dave")));
    for scope in [RevokeScope::Subject(subject("dave")), RevokeScope::Client(client(WEB))] {
        let s = h.fresh().await;
        insert(&s, &code).await;
        let taken = s.consume(&code.digest, vec![access.clone(), refresh.clone()]).await;
        assert!(matches!(taken, Ok(Consumed::Taken(_))), "code exchange: {taken:?}");
        assert_eq!(revoke_all(&s, &scope).await, 1, "{scope:?} must find the grant its exchange extended");
        assert_all(
            &s,
            &[access.clone(), refresh.clone()],
            Some(TokenState::Revoked),
            "a grant extended by its code exchange must be revoked whole",
        )
        .await;
    }
}

/// One refresh chain: rotates from `first` until a rotation is refused,
/// asserting that none is `Taken` once `revoked` is set. Returns what it
/// stored and the refused replacements.
async fn rotate_until_refused<S: TokenStore>(
    s: Arc<S>,
    first: TokenRecord,
    revoked: Arc<AtomicBool>,
    round: usize,
) -> (Vec<TokenRecord>, Vec<TokenRecord>) {
    let g = first.grant_id();
    let (client_id, sub) = (first.client_id.clone(), first.subject.clone());
    let own = |mut r: TokenRecord| {
        r.client_id = client_id.clone();
        r.subject = sub.clone();
        r
    };
    let mut stored = Vec::new();
    let mut current = first;
    for _ in 0..MAX_ROTATIONS {
        // Always-ready futures (memory) would never let this task yield.
        tokio::task::yield_now().await;
        let revoke_returned = revoked.load(Ordering::SeqCst);
        let repl = vec![own(fixtures::access(g)), own(fixtures::refresh(g))];
        match s.consume(&current.digest, repl.clone()).await {
            Ok(Consumed::Taken(_)) => {
                assert!(
                    !revoke_returned,
                    "round {round}: a rotation after revoke_all returned was Taken \
                     (a live refresh token of the subject escaped)"
                );
                current = repl[1].clone();
                stored.extend(repl);
            }
            Ok(Consumed::Replayed(_)) => return (stored, repl),
            other => panic!("round {round}: rotation racing revoke_all gave {other:?}"),
        }
    }
    panic!("round {round}: {MAX_ROTATIONS} rotations and revoke_all never stopped the chain");
}

/// `revoke_all(Subject)` racing refresh rotations in several of the
/// subject's grants (at two clients), as when a user changes a password
/// while a thief keeps refreshing. Once it has returned, no rotation of
/// those grants is `Taken`; after both finish, every token of them reads
/// `Revoked` and no refused rotation stored anything. Another subject's
/// grant, rotated after, is untouched.
pub async fn revoke_all_races_refresh_rotation<H: Harness>(h: &H) {
    let s = Arc::new(h.fresh().await);
    for round in 0..RACE_ROUNDS {
        let victim = format!("erin-{round}");
        let barrier = Arc::new(Barrier::new(CHAINS + 1));
        let revoked = Arc::new(AtomicBool::new(false));
        let mut firsts = Vec::new();
        let mut chains = Vec::new();
        for i in 0..CHAINS {
            let g = fixtures::grant();
            let first = owned(fixtures::refresh(g), if i % 2 == 0 { WEB } else { SPA }, Some(&victim));
            let sibling = owned(fixtures::access(g), first.client_id.as_str(), Some(&victim));
            insert(&*s, &first).await;
            insert(&*s, &sibling).await;
            firsts.push(first.clone());
            firsts.push(sibling);
            let (s, b, revoked) = (Arc::clone(&s), Arc::clone(&barrier), Arc::clone(&revoked));
            chains.push(tokio::spawn(async move {
                b.wait().await;
                rotate_until_refused(s, first, revoked, round).await
            }));
        }
        let bystander = fresh_grant(&*s, WEB, Some("frank")).await;
        let revoker = {
            let (s, b, revoked, victim) =
                (Arc::clone(&s), Arc::clone(&barrier), Arc::clone(&revoked), victim.clone());
            tokio::spawn(async move {
                b.wait().await;
                let r = s.revoke_all(&RevokeScope::Subject(subject(&victim))).await;
                revoked.store(true, Ordering::SeqCst);
                r
            })
        };
        let n = revoker.await.expect("revoke_all task panicked").expect("revoke_all failed");
        assert_eq!(n, CHAINS as u64, "round {round}: revoke_all must end each of the {CHAINS} grants");
        let mut stored = firsts;
        let mut refused = Vec::new();
        for chain in chains {
            match chain.await {
                Ok((s, r)) => {
                    stored.extend(s);
                    refused.extend(r);
                }
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        let what = format!("round {round}: every token of the subject must read Revoked after revoke_all");
        assert_all(&*s, &stored, Some(TokenState::Revoked), &what).await;
        for r in &refused {
            let got = s.get(&r.digest).await.expect("get");
            assert!(got.is_none(), "round {round}: a refused rotation stored a replacement: {got:?}");
        }
        assert_all(&*s, &bystander, None, &format!("round {round}: another subject's grant")).await;
    }
}

/// Through the server: Alice signs in at two apps (code flow, then a
/// refresh); "sign out everywhere" ends both: her access tokens introspect
/// inactive, her refresh tokens are refused. A client_credentials token
/// of another client is untouched, and Alice can sign in again at once.
/// Then "disconnect this app" and "retire this client" end what they name.
pub async fn sign_out_everywhere_through_the_server<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let json = |r: gatehouse_core::HttpResponse| {
        assert_eq!(r.status, 200, "body: {}", String::from_utf8_lossy(&r.body));
        r.json_body().expect("json")
    };
    let field = |v: &serde_json::Value, name: &str| v[name].as_str().expect("field").to_owned();
    let mut sessions = Vec::new();
    for app in [ids::WEB, ids::SPA] {
        let (code, verifier, cb) = w.code_for(app, "").await;
        let first = json(w.exchange(app, &code, cb, &verifier).await);
        let next = json(w.refresh(app, &field(&first, "refresh_token"), "").await);
        sessions.push((app, field(&next, "access_token"), field(&next, "refresh_token")));
    }
    let service = w.issue_default().await;
    let alice = subject(ALICE);

    let ended = w.server.revoke_all(&RevokeScope::Subject(alice.clone())).await.expect("revoke_all");
    assert_eq!(ended, 2, "sign out everywhere must end both of Alice's sessions");
    for (app, access, refresh) in &sessions {
        assert!(!w.introspect(ids::RS, access).await.is_active(), "{app}'s access token is still active");
        let r = w.refresh(app, refresh, "").await;
        assert_eq!(r.status, 400, "{app}'s refresh token still works: {}", String::from_utf8_lossy(&r.body));
    }
    assert!(w.introspect(ids::RS, &service).await.is_active(), "a client_credentials token was revoked");

    let mut again = Vec::new();
    for app in [ids::WEB, ids::SPA] {
        let (code, verifier, cb) = w.code_for(app, "").await;
        again.push(field(&json(w.exchange(app, &code, cb, &verifier).await), "access_token"));
    }
    for t in &again {
        assert!(w.introspect(ids::RS, t).await.is_active(), "a session started after sign-out is inactive");
    }

    let spa = client(ids::SPA);
    let ended = w.server.revoke_all(&RevokeScope::SubjectAtClient(alice, spa)).await.expect("revoke_all");
    assert_eq!(ended, 1, "disconnecting the SPA must end Alice's one session there");
    assert!(
        w.introspect(ids::RS, &again[0]).await.is_active(),
        "disconnecting the SPA ended the web session"
    );
    assert!(!w.introspect(ids::RS, &again[1]).await.is_active(), "the SPA session is still active");

    let app = client(ids::APP);
    assert_eq!(w.server.revoke_all(&RevokeScope::Client(app)).await.expect("revoke_all"), 1);
    assert!(!w.introspect(ids::RS, &service).await.is_active(), "retiring the app left its token active");
    assert!(w.introspect(ids::RS, &again[0]).await.is_active(), "retiring the app ended the web session");
}

/// A store failure reaches the caller of the server's `revoke_all` as an
/// error (never a count), and the grants stay as they were for a retry.
pub async fn revoke_all_fails_closed<H: Harness>(h: &H) {
    let w = World::new(h.fresh().await).await;
    let (code, verifier, cb) = w.code_for(ids::WEB, "").await;
    let r = w.exchange(ids::WEB, &code, cb, &verifier).await;
    let access = r.json_body().expect("json")["access_token"].as_str().expect("access").to_owned();
    let scope = RevokeScope::Subject(subject(ALICE));
    for unreachable in [false, true] {
        if unreachable {
            w.store().set_unreachable(true);
        } else {
            w.store().set_failing(true);
        }
        let got = w.server.revoke_all(&scope).await;
        assert!(
            matches!(&got, Err(gatehouse_core::Error::Store(e)) if e.is_unavailable() == unreachable),
            "revoke_all on a failing store must be a store error, got {got:?}"
        );
        w.store().set_failing(false);
    }
    assert!(w.introspect(ids::RS, &access).await.is_active());
    assert_eq!(w.server.revoke_all(&scope).await.expect("retry"), 1);
    assert!(!w.introspect(ids::RS, &access).await.is_active());
}
