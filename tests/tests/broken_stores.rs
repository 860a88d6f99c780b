//! Proof that the suite can fail: deliberately broken stores, each with one
//! flaw, must fail the checks that guard against it, with the expected
//! message. A check that passed against one of them would be a check that
//! cannot see the bug it exists for.
//!
//! Every broken store is [`ReferenceStore`] with one method replaced; the
//! same wrapper with no flaw passes the whole suite (module `no_flaw`), so a
//! failure comes from the flaw, not the wrapper.

use std::future::Future;

use gatehouse_conformance::reference::ReferenceStore;
use gatehouse_conformance::{FnHarness, Harness};
use gatehouse_core::model::{Client, ClientId, GrantId, TokenDigest, TokenRecord, TokenState};
use gatehouse_core::{ClientPage, ClientRegistry, Consumed, RevokeScope, StoreError, TokenStore, UnixTime};

/// The one thing a [`Broken`] store gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// None: delegates everything to the reference store.
    None,
    /// `insert` overwrites an existing record (an upsert).
    UpsertingInsert,
    /// `consume` reads, yields to other tasks, then writes: two racing
    /// consumes can both see the token active.
    NonAtomicConsume,
    /// `consume` marks the token consumed and stores replacements one by
    /// one, stopping at the first conflict instead of changing nothing.
    PartialConsumeOnConflict,
    /// `consume` checks its replacements against the store but not against
    /// each other: two with one digest both "succeed", the second
    /// overwriting the first.
    TwinReplacements,
    /// `consume` of a used token reports `Unknown`, losing replay detection.
    ForgetsReplays,
    /// `get` finds a record by its hash alone, whatever its grant.
    ReadsByHashOnly,
    /// `revoke_grant` does nothing.
    IgnoresRevokeGrant,
    /// `revoke_grant` lists the grant's tokens, yields, then revokes that
    /// list: a replacement stored by a racing consume stays active.
    NonAtomicRevokeGrant,
    /// `revoke_all` does nothing.
    IgnoresRevokeAll,
    /// `revoke_all` lists the matching tokens, yields, then revokes that
    /// list: a replacement stored by a racing rotation stays active.
    NonAtomicRevokeAll,
    /// `revoke_all` of a subject at a client ignores the client: every
    /// grant of the subject ends.
    SubjectAtClientIgnoresClient,
    /// `purge_expired` deletes records whether or not they have expired.
    PurgesLiveRecords,
    /// `purge_expired` deletes nothing and returns `Ok(0)`. Allowed for a
    /// backend whose records expire by TTL and that says so
    /// ([`Harness::PURGES_EXPIRED`] = false); a flaw for any other.
    NeverPurges,
    /// `ping` fails although the store works.
    PingFails,
    /// `ping` stores a probe record to prove it can write.
    PingWrites,
    /// `list_clients` starts at `after` itself (inclusive cursor).
    ListsFromTheCursor,
    /// `list_clients` ignores its limit and answers every client at once.
    ListsEverything,
    /// `list_clients` reports a `next` even after the last page.
    ListsWithoutEnd,
    /// `set_seeded_at` records nothing.
    ForgetsSeedMarker,
    /// `set_seeded_at` also removes every client (a "reset" on seeding).
    SeedingClearsClients,
}

/// [`ReferenceStore`] with one [`Flaw`].
#[derive(Debug)]
struct Broken {
    inner: ReferenceStore,
    flaw: Flaw,
}

impl Broken {
    fn new(flaw: Flaw) -> Self {
        Self { inner: ReferenceStore::new(), flaw }
    }
}

/// Lets other tasks run a few times, to widen a race window without
/// sleeping.
async fn yield_a_few_times() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

impl TokenStore for Broken {
    async fn insert(&self, record: TokenRecord) -> Result<(), StoreError> {
        if self.flaw == Flaw::UpsertingInsert {
            self.inner.overwrite(record);
            return Ok(());
        }
        self.inner.insert(record).await
    }

    async fn get(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, StoreError> {
        if self.flaw == Flaw::ReadsByHashOnly {
            return Ok(self.inner.records().into_iter().find(|r| r.digest.hash() == digest.hash()));
        }
        self.inner.get(digest).await
    }

    fn consume(
        &self,
        digest: &TokenDigest,
        replacements: Vec<TokenRecord>,
    ) -> impl Future<Output = Result<Consumed, StoreError>> + Send {
        let digest = *digest;
        async move {
            match self.flaw {
                Flaw::NonAtomicConsume => {
                    let Some(current) = self.inner.get(&digest).await? else { return Ok(Consumed::Unknown) };
                    if current.state != TokenState::Active {
                        return Ok(Consumed::Replayed(current));
                    }
                    yield_a_few_times().await;
                    self.inner.overwrite(TokenRecord { state: TokenState::Consumed, ..current.clone() });
                    for r in replacements {
                        self.inner.overwrite(r);
                    }
                    Ok(Consumed::Taken(current))
                }
                Flaw::PartialConsumeOnConflict => {
                    let Some(current) = self.inner.get(&digest).await? else { return Ok(Consumed::Unknown) };
                    if current.state != TokenState::Active {
                        return Ok(Consumed::Replayed(current));
                    }
                    self.inner.overwrite(TokenRecord { state: TokenState::Consumed, ..current.clone() });
                    for r in replacements {
                        self.inner.insert(r).await?;
                    }
                    Ok(Consumed::Taken(current))
                }
                Flaw::TwinReplacements => {
                    let Some(current) = self.inner.get(&digest).await? else { return Ok(Consumed::Unknown) };
                    if current.state != TokenState::Active {
                        return Ok(Consumed::Replayed(current));
                    }
                    for r in &replacements {
                        if r.digest == digest || self.inner.get(&r.digest).await?.is_some() {
                            return Err(StoreError::Conflict);
                        }
                    }
                    self.inner.overwrite(TokenRecord { state: TokenState::Consumed, ..current.clone() });
                    for r in replacements {
                        self.inner.overwrite(r);
                    }
                    Ok(Consumed::Taken(current))
                }
                Flaw::ForgetsReplays => match self.inner.consume(&digest, replacements).await? {
                    Consumed::Replayed(_) => Ok(Consumed::Unknown),
                    other => Ok(other),
                },
                _ => self.inner.consume(&digest, replacements).await,
            }
        }
    }

    fn revoke(&self, digest: &TokenDigest) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.inner.revoke(digest)
    }

    fn revoke_grant(&self, grant: &GrantId) -> impl Future<Output = Result<(), StoreError>> + Send {
        let grant = *grant;
        async move {
            match self.flaw {
                Flaw::IgnoresRevokeGrant => Ok(()),
                Flaw::NonAtomicRevokeGrant => {
                    let family: Vec<TokenDigest> = self
                        .inner
                        .records()
                        .iter()
                        .filter(|r| r.grant_id() == grant)
                        .map(|r| r.digest)
                        .collect();
                    yield_a_few_times().await;
                    for d in &family {
                        self.inner.revoke(d).await?;
                    }
                    Ok(())
                }
                _ => self.inner.revoke_grant(&grant).await,
            }
        }
    }

    async fn revoke_all(&self, scope: &RevokeScope) -> Result<u64, StoreError> {
        let matching = || -> Vec<TokenRecord> {
            self.inner.records().into_iter().filter(|r| scope.matches(r)).collect()
        };
        match self.flaw {
            Flaw::IgnoresRevokeAll => Ok(0),
            Flaw::NonAtomicRevokeAll => {
                let listed = matching();
                yield_a_few_times().await;
                for r in &listed {
                    self.inner.revoke(&r.digest).await?;
                }
                let ended: std::collections::BTreeSet<GrantId> = listed
                    .iter()
                    .filter(|r| r.state == TokenState::Active)
                    .map(TokenRecord::grant_id)
                    .collect();
                Ok(ended.len() as u64)
            }
            Flaw::SubjectAtClientIgnoresClient => match scope {
                RevokeScope::SubjectAtClient(sub, _) => {
                    self.inner.revoke_all(&RevokeScope::Subject(sub.clone())).await
                }
                _ => self.inner.revoke_all(scope).await,
            },
            _ => self.inner.revoke_all(scope).await,
        }
    }

    async fn purge_expired(&self, now: UnixTime, limit: usize) -> Result<usize, StoreError> {
        if self.flaw == Flaw::NeverPurges {
            return Ok(0);
        }
        if self.flaw == Flaw::PurgesLiveRecords {
            let victims: Vec<TokenDigest> =
                self.inner.records().iter().map(|r| r.digest).take(limit).collect();
            for d in &victims {
                self.inner.remove(d);
            }
            return Ok(victims.len());
        }
        self.inner.purge_expired(now, limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        match self.flaw {
            Flaw::PingFails => Err(StoreError::backend(std::io::Error::other("broken ping"))),
            Flaw::PingWrites => {
                let mut probe = gatehouse_conformance::fixtures::access(GrantId::from_bytes([0; 16]));
                probe.digest = gatehouse_core::store::PROBE_DIGEST;
                self.inner.overwrite(probe);
                Ok(())
            }
            _ => self.inner.ping().await,
        }
    }
}

impl ClientRegistry for Broken {
    fn client(&self, id: &ClientId) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send {
        self.inner.client(id)
    }

    fn put_client(&self, client: Client) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.put_client(client)
    }

    fn remove_client(&self, id: &ClientId) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.inner.remove_client(id)
    }

    async fn list_clients(&self, after: Option<&ClientId>, limit: usize) -> Result<ClientPage, StoreError> {
        match self.flaw {
            Flaw::ListsFromTheCursor => {
                let everything = self.inner.list_clients(None, usize::MAX - 1).await?.clients;
                let from = everything.into_iter().filter(|c| after.is_none_or(|a| c.id >= *a));
                Ok(ClientPage::from_ascending(from.take(limit.max(1) + 1).collect(), limit))
            }
            Flaw::ListsEverything => self.inner.list_clients(after, usize::MAX - 1).await,
            Flaw::ListsWithoutEnd => {
                let page = self.inner.list_clients(after, limit).await?;
                let next = page.clients.last().map(|c| c.id.clone()).or_else(|| after.cloned());
                Ok(ClientPage::new(page.clients, next))
            }
            _ => self.inner.list_clients(after, limit).await,
        }
    }

    fn seeded_at(&self) -> impl Future<Output = Result<Option<UnixTime>, StoreError>> + Send {
        self.inner.seeded_at()
    }

    async fn set_seeded_at(&self, at: UnixTime) -> Result<(), StoreError> {
        match self.flaw {
            Flaw::ForgetsSeedMarker => Ok(()),
            Flaw::SeedingClearsClients => {
                for c in self.inner.list_clients(None, usize::MAX - 1).await?.clients {
                    self.inner.remove_client(&c.id).await?;
                }
                self.inner.set_seeded_at(at).await
            }
            _ => self.inner.set_seeded_at(at).await,
        }
    }
}

// The wrapper without a flaw must pass everything.
gatehouse_conformance::store_conformance!(no_flaw, Broken::new(Flaw::None));

/// A backend whose records expire by TTL, so that it never purges, and says
/// so.
struct TtlBackend;

impl Harness for TtlBackend {
    type Store = Broken;
    const PURGES_EXPIRED: bool = false;

    async fn fresh(&self) -> Broken {
        Broken::new(Flaw::NeverPurges)
    }
}

// Never purging is within the contract for such a backend: it passes
// everything (and this instantiates the suite through a `Harness`).
gatehouse_conformance::store_conformance!(ttl_backend, harness = TtlBackend);

/// Runs `module::check` against a fresh [`Broken`] store with `flaw`, and
/// asserts that it panics with a message containing `needle`.
macro_rules! assert_fails {
    ($flaw:expr, $module:ident :: $check:ident, $needle:expr) => {{
        let flaw: Flaw = $flaw;
        let message = gatehouse_conformance::run(async move {
            let harness = FnHarness(move || async move { Broken::new(flaw) });
            let joined =
                tokio::spawn(async move { gatehouse_conformance::$module::$check(&harness).await }).await;
            match joined {
                Ok(()) => panic!(
                    "{} passed against a store with flaw {flaw:?}: the suite cannot see this flaw",
                    stringify!($check)
                ),
                Err(e) => gatehouse_conformance::panic_message(e.into_panic()),
            }
        });
        assert!(
            message.contains($needle),
            "{} failed against flaw {flaw:?}, but not for the expected reason ({:?}): {message}",
            stringify!($check),
            $needle
        );
    }};
}

#[test]
fn upserting_insert_is_caught() {
    assert_fails!(Flaw::UpsertingInsert, store_contract::insert_never_overwrites, "must fail with Conflict");
    assert_fails!(Flaw::UpsertingInsert, store_contract::insert_race_has_one_winner, "racing inserts");
    assert_fails!(Flaw::UpsertingInsert, model::store_matches_reference, "diverged from the reference");
}

#[test]
fn non_atomic_consume_is_caught() {
    assert_fails!(
        Flaw::NonAtomicConsume,
        store_contract::consume_is_single_use_under_race,
        "concurrent consumes of one code were Taken"
    );
}

#[test]
fn partial_consume_on_conflict_is_caught() {
    assert_fails!(
        Flaw::PartialConsumeOnConflict,
        store_contract::consume_conflicting_replacement_changes_nothing,
        "a failed consume must leave the token Active"
    );
    assert_fails!(
        Flaw::PartialConsumeOnConflict,
        model::store_matches_reference,
        "diverged from the reference"
    );
}

#[test]
fn twin_replacements_are_caught() {
    assert_fails!(
        Flaw::TwinReplacements,
        store_contract::consume_conflicting_replacement_changes_nothing,
        "two replacements with one digest must be Conflict"
    );
}

#[test]
fn reading_by_hash_alone_is_caught() {
    assert_fails!(
        Flaw::ReadsByHashOnly,
        store_contract::same_hash_in_another_grant_is_another_record,
        "same hash"
    );
    assert_fails!(Flaw::ReadsByHashOnly, model::store_matches_reference, "diverged from the reference");
}

#[test]
fn forgotten_replays_are_caught() {
    assert_fails!(Flaw::ForgetsReplays, store_contract::consume_takes_once, "must be Replayed");
    assert_fails!(Flaw::ForgetsReplays, store_contract::consume_revoked_is_replayed, "must be Replayed");
    assert_fails!(Flaw::ForgetsReplays, model::store_matches_reference, "diverged from the reference");
}

#[test]
fn ignored_grant_revocation_is_caught() {
    assert_fails!(
        Flaw::IgnoresRevokeGrant,
        store_contract::revoke_grant_revokes_family,
        "must revoke every token of the grant"
    );
    assert_fails!(
        Flaw::IgnoresRevokeGrant,
        store_contract::revoke_grant_then_consume_is_replayed,
        "Replayed"
    );
    assert_fails!(
        Flaw::IgnoresRevokeGrant,
        store_contract::revoke_grant_races_consume,
        "after revoke_grant returned was Taken"
    );
    assert_fails!(Flaw::IgnoresRevokeGrant, model::store_matches_reference, "diverged from the reference");
}

#[test]
fn non_atomic_grant_revocation_is_caught() {
    assert_fails!(
        Flaw::NonAtomicRevokeGrant,
        store_contract::revoke_grant_races_consume,
        "after revoke_grant returned was Taken"
    );
}

#[test]
fn broken_bulk_revocation_is_caught() {
    assert_fails!(
        Flaw::IgnoresRevokeAll,
        bulk_revocation::revoke_all_ends_exactly_the_grants_it_names,
        "must end alice's one grant"
    );
    assert_fails!(
        Flaw::IgnoresRevokeAll,
        bulk_revocation::revoke_all_then_consume_is_replayed,
        "must end her two grants"
    );
    assert_fails!(
        Flaw::IgnoresRevokeAll,
        bulk_revocation::sign_out_everywhere_through_the_server,
        "must end both of Alice's sessions"
    );
    assert_fails!(
        Flaw::NonAtomicRevokeAll,
        bulk_revocation::revoke_all_races_refresh_rotation,
        "after revoke_all returned was Taken"
    );
    assert_fails!(
        Flaw::SubjectAtClientIgnoresClient,
        bulk_revocation::revoke_all_ends_exactly_the_grants_it_names,
        "must end alice's one grant at web"
    );
    assert_fails!(
        Flaw::SubjectAtClientIgnoresClient,
        bulk_revocation::sign_out_everywhere_through_the_server,
        "disconnecting the SPA must end Alice's one session there"
    );
}

#[test]
fn purging_live_records_is_caught() {
    assert_fails!(
        Flaw::PurgesLiveRecords,
        store_contract::purge_removes_only_expired,
        "when none had expired"
    );
    assert_fails!(Flaw::PurgesLiveRecords, model::store_matches_reference, "only expired records deleted");
}

#[test]
fn never_purging_is_caught_unless_declared() {
    assert_fails!(
        Flaw::NeverPurges,
        store_contract::purge_removes_only_expired,
        "returned less than its limit"
    );
    assert_fails!(Flaw::NeverPurges, model::store_matches_reference, "no expired record left");
}

#[test]
fn broken_pings_are_caught() {
    assert_fails!(Flaw::PingFails, store_contract::ping_answers_and_changes_nothing, "ping of a working");
    assert_fails!(
        Flaw::PingWrites,
        store_contract::ping_answers_and_changes_nothing,
        "must not store anything"
    );
}

#[test]
fn broken_client_listings_are_caught() {
    assert_fails!(
        Flaw::ListsFromTheCursor,
        client_checks::list_clients_pages_in_id_order,
        "did not move forward"
    );
    assert_fails!(
        Flaw::ListsFromTheCursor,
        client_checks::list_clients_survives_changes_between_pages,
        "listed twice"
    );
    assert_fails!(Flaw::ListsEverything, client_checks::list_clients_pages_in_id_order, "a page of");
    assert_fails!(
        Flaw::ListsWithoutEnd,
        client_checks::list_clients_pages_in_id_order,
        "did not move forward"
    );
}

#[test]
fn broken_seed_markers_are_caught() {
    assert_fails!(Flaw::ForgetsSeedMarker, client_checks::seed_marker_round_trips, "left:");
    assert_fails!(Flaw::SeedingClearsClients, client_checks::seed_marker_round_trips, "changed the clients");
}
