//! [`ReferenceStore`]: the model the property tests compare backends with.
//!
//! It is written to be obviously correct rather than fast: one mutex over
//! ordered maps, every method a few lines done under the lock, grant
//! revocation a scan. It never holds the lock across an `.await`: each
//! method does its work and returns a ready future.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::future::{ready, Future};
use std::sync::{Mutex, MutexGuard, PoisonError};

use gatehouse_core::model::{Client, ClientId, GrantId, TokenDigest, TokenRecord, TokenState};
use gatehouse_core::{ClientPage, ClientRegistry, Consumed, RevokeScope, StoreError, TokenStore, UnixTime};

/// A correct in-process store, the model for the conformance suite.
///
/// Besides the contract, it has two inherent methods, [`remove`](Self::remove)
/// and [`overwrite`](Self::overwrite), that break the contract's rules on
/// purpose: the model-based test uses `remove` to follow a backend's choice
/// of which expired records to purge, and the broken stores of the suite's
/// own tests are built with them.
#[derive(Debug, Default)]
pub struct ReferenceStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    tokens: BTreeMap<TokenDigest, TokenRecord>,
    clients: BTreeMap<ClientId, Client>,
    seeded: Option<UnixTime>,
}

impl ReferenceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No method panics under the lock; a poisoned lock still holds
        // consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Deletes a record whatever its state and expiry, returning it. Not part
    /// of the contract.
    pub fn remove(&self, digest: &TokenDigest) -> Option<TokenRecord> {
        self.lock().tokens.remove(digest)
    }

    /// Stores a record, replacing any record with its digest. Not part of the
    /// contract (inserts never overwrite): for building broken stores.
    pub fn overwrite(&self, record: TokenRecord) -> Option<TokenRecord> {
        self.lock().tokens.insert(record.digest, record)
    }

    /// Every stored record, in digest order.
    pub fn records(&self) -> Vec<TokenRecord> {
        self.lock().tokens.values().cloned().collect()
    }

    fn consume_now(
        &self,
        digest: &TokenDigest,
        replacements: Vec<TokenRecord>,
    ) -> Result<Consumed, StoreError> {
        let mut st = self.lock();
        let Some(current) = st.tokens.get(digest) else {
            return Ok(Consumed::Unknown);
        };
        if current.state != TokenState::Active {
            return Ok(Consumed::Replayed(current.clone()));
        }
        let taken = current.clone();
        // Check every replacement, against the store and each other, before
        // changing anything.
        for (i, r) in replacements.iter().enumerate() {
            if st.tokens.contains_key(&r.digest) || replacements[..i].iter().any(|p| p.digest == r.digest) {
                return Err(StoreError::Conflict);
            }
        }
        if let Some(t) = st.tokens.get_mut(digest) {
            t.state = TokenState::Consumed;
        }
        for r in replacements {
            st.tokens.insert(r.digest, r);
        }
        Ok(Consumed::Taken(taken))
    }

    /// Every grant with a token `scope` names, then every token of those
    /// grants, in one step under the lock; counts the grants that had an
    /// active token.
    fn revoke_all_now(&self, scope: &RevokeScope) -> u64 {
        let mut st = self.lock();
        let grants: BTreeSet<GrantId> =
            st.tokens.values().filter(|r| scope.matches(r)).map(TokenRecord::grant_id).collect();
        let mut ended = BTreeSet::new();
        for r in st.tokens.values_mut().filter(|r| grants.contains(&r.grant_id())) {
            if r.state == TokenState::Active {
                ended.insert(r.grant_id());
            }
            r.state = TokenState::Revoked;
        }
        ended.len() as u64
    }

    fn purge_now(&self, now: UnixTime, limit: usize) -> usize {
        let mut st = self.lock();
        let expired: Vec<TokenDigest> =
            st.tokens.values().filter(|r| r.expires_at < now).map(|r| r.digest).take(limit).collect();
        for d in &expired {
            st.tokens.remove(d);
        }
        expired.len()
    }
}

impl TokenStore for ReferenceStore {
    fn insert(&self, record: TokenRecord) -> impl Future<Output = Result<(), StoreError>> + Send {
        let result = match self.lock().tokens.entry(record.digest) {
            Entry::Occupied(_) => Err(StoreError::Conflict),
            Entry::Vacant(slot) => {
                slot.insert(record);
                Ok(())
            }
        };
        ready(result)
    }

    fn get(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send {
        ready(Ok(self.lock().tokens.get(digest).cloned()))
    }

    fn consume(
        &self,
        digest: &TokenDigest,
        replacements: Vec<TokenRecord>,
    ) -> impl Future<Output = Result<Consumed, StoreError>> + Send {
        ready(self.consume_now(digest, replacements))
    }

    fn revoke(&self, digest: &TokenDigest) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let found = self.lock().tokens.get_mut(digest).map(|r| r.state = TokenState::Revoked).is_some();
        ready(Ok(found))
    }

    fn revoke_grant(&self, grant: &GrantId) -> impl Future<Output = Result<(), StoreError>> + Send {
        for r in self.lock().tokens.values_mut().filter(|r| r.grant_id() == *grant) {
            r.state = TokenState::Revoked;
        }
        ready(Ok(()))
    }

    fn revoke_all(&self, scope: &RevokeScope) -> impl Future<Output = Result<u64, StoreError>> + Send {
        ready(Ok(self.revoke_all_now(scope)))
    }

    fn purge_expired(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        ready(Ok(self.purge_now(now, limit)))
    }
}

impl ClientRegistry for ReferenceStore {
    fn client(&self, id: &ClientId) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send {
        ready(Ok(self.lock().clients.get(id).cloned()))
    }

    fn put_client(&self, client: Client) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.lock().clients.insert(client.id.clone(), client);
        ready(Ok(()))
    }

    fn remove_client(&self, id: &ClientId) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ready(Ok(self.lock().clients.remove(id).is_some()))
    }

    fn list_clients(
        &self,
        after: Option<&ClientId>,
        limit: usize,
    ) -> impl Future<Output = Result<ClientPage, StoreError>> + Send {
        use std::ops::Bound;
        let limit = limit.max(1);
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.clone()));
        let state = self.lock();
        let clients = state.clients.range((start, Bound::Unbounded)).take(limit.saturating_add(1));
        ready(Ok(ClientPage::from_ascending(clients.map(|(_, c)| c.clone()).collect(), limit)))
    }

    fn seeded_at(&self) -> impl Future<Output = Result<Option<UnixTime>, StoreError>> + Send {
        ready(Ok(self.lock().seeded))
    }

    fn set_seeded_at(&self, at: UnixTime) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.lock().seeded = Some(at);
        ready(Ok(()))
    }
}
