//! An in-memory [`TokenStore`] and [`ClientRegistry`] for gatehouse:
//! for tests and single-process deployments. It is a backend like the
//! others: the conformance suite (`gatehouse-conformance`) checks it, and
//! compares it with the suite's own model, `ReferenceStore`.
//!
//! [`MemoryStore`] keeps tokens in a fixed number of shards, each behind
//! its own [`RwLock`], so introspection from many threads rarely meets a
//! writer. All tokens of one grant live in the same shard, which makes
//! every multi-token operation (consume with its replacements, revoke a
//! grant) a single critical section. Every method does its work inline and
//! returns a ready future; no lock is ever held across an `.await`.
//!
//! Nothing survives a restart.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//!
//! use gatehouse_core::model::{Claims, ClientId, GrantId, Jti, Scope, TokenKind, TokenRecord};
//! use gatehouse_core::{Keyring, TokenStore, UnixTime};
//! use gatehouse_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryStore::new();
//! let (_token, digest) = Keyring::random()?.mint(TokenKind::Access, GrantId::generate()?)?;
//! let claims = Claims::new(ClientId::new("billing")?, Scope::parse("invoices:read")?, Arc::from([]));
//! let (issued, expires) = (UnixTime(1_700_000_000), UnixTime(1_700_003_600));
//! let record = TokenRecord::access(digest, Jti::generate()?, claims, issued, expires);
//! store.insert(record.clone()).await?;
//! assert_eq!(store.get(&digest).await?, Some(record));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod clients;
mod error;
mod shard;

use std::future::{ready, Future};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use gatehouse_core::model::{Client, ClientId, GrantId, TokenDigest, TokenRecord, TokenState};
use gatehouse_core::{ClientPage, ClientRegistry, Consumed, RevokeScope, StoreError, TokenStore, UnixTime};

use clients::Clients;
pub use error::MemoryError;
use shard::{Entry, Shard};

/// Shards used by [`MemoryStore::new`]: enough that a few dozen cores
/// reading at once rarely share a lock, few enough that an empty store is
/// small.
pub const DEFAULT_SHARDS: usize = 64;

/// Most shards [`MemoryStore::with_shards`] accepts.
pub const MAX_SHARDS: usize = 4096;

/// Entries an expiry pass looks at per lock hold, so that a purge never
/// blocks a shard's readers for more than some tens of microseconds.
const PURGE_SCAN_BATCH: usize = 4096;

/// A shard on its own cache lines, so that readers taking one shard's
/// lock do not slow readers of the neighbouring shard (false sharing).
#[repr(align(128))]
#[derive(Default)]
struct Padded(RwLock<Shard>);

/// The in-memory token store and client registry.
///
/// # Grants and shards
/// The shard of a token is picked from its grant id, which is part of every
/// [`TokenDigest`]. So a grant's tokens share one lock: `consume` marks the
/// token and inserts its replacements under it, and `revoke_grant` marks
/// the grant's tokens under it, which makes the two atomic with respect to
/// each other.
///
/// Each shard also keeps an index from grant to the positions of its
/// tokens, updated in the same critical section as every insert, consume
/// and purge, so `revoke_grant` costs O(tokens of the grant) whatever the
/// store's size: any caller can trigger it by replaying a refresh token or
/// a code, so it must not cost a scan of the shard. A grant with one token
/// (client_credentials, the common case) costs one 8-byte bucket in that
/// index. We chose this over a set of revoked-grant markers consulted by
/// `get` and `consume`: markers must outlive every token of the grant,
/// need their own expiry and cleanup, would also revoke tokens inserted
/// *after* the call, and cost a second lookup on the introspection path.
///
/// A third index per shard, from each client and each subject to the keys
/// of its grants there, makes `revoke_all` cost O(tokens of the owner's
/// grants) too: one lookup per shard, then only those grants. A new grant
/// adds 4 bytes to its client's list (and its subject's); see the shard's
/// `owners` module for how stale keys are dropped.
///
/// Replacements in another grant than the consumed token are allowed; such
/// a `consume` locks every shard involved, in ascending order.
///
/// # Poisoned locks
/// A panic while a lock is held poisons it. We recover the data instead of
/// failing the shard forever: every write validates before it changes
/// anything, and nothing after validation can panic (allocation failure
/// aborts), so a poisoned shard is never half-written.
pub struct MemoryStore {
    shards: Box<[Padded]>,
    /// Where the next `purge_expired` call starts, so that successive calls
    /// spread their work over all shards.
    purge_cursor: AtomicUsize,
    clients: RwLock<Clients>,
    /// The registry's seed marker ([`ClientRegistry::seeded_at`]).
    seeded: RwLock<Option<UnixTime>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    // Counts only: never the records.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .field("tokens", &self.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store with [`DEFAULT_SHARDS`] shards.
    pub fn new() -> Self {
        Self::with_shards(DEFAULT_SHARDS)
    }

    /// An empty store with `shards` shards, clamped to `1..=`[`MAX_SHARDS`].
    /// More shards mean less lock contention, for a few hundred bytes
    /// each.
    pub fn with_shards(shards: usize) -> Self {
        let n = shards.clamp(1, MAX_SHARDS);
        Self {
            shards: (0..n).map(|_| Padded::default()).collect(),
            purge_cursor: AtomicUsize::new(0),
            clients: RwLock::new(Clients::default()),
            seeded: RwLock::new(None),
        }
    }

    /// How many token records are stored (expired ones included until
    /// purged). Shards are counted one after another, so under concurrent
    /// writes this is approximate.
    pub fn len(&self) -> usize {
        (0..self.shards.len()).map(|i| self.read(i).len()).sum()
    }

    /// Whether no token record is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard_of(&self, grant: &GrantId) -> usize {
        // Grant ids are 128 CSPRNG bits, so any 8 of them spread grants
        // evenly.
        let x = grant.as_bytes().first_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b));
        let n = self.shards.len() as u64;
        usize::try_from(x % n).unwrap_or(0)
    }

    fn read(&self, i: usize) -> RwLockReadGuard<'_, Shard> {
        self.shards[i].0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, i: usize) -> RwLockWriteGuard<'_, Shard> {
        self.shards[i].0.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert_now(&self, record: TokenRecord) -> Result<(), StoreError> {
        let mut shard = self.write(self.shard_of(&record.digest.grant()));
        if shard.contains(&record.digest) {
            return Err(StoreError::Conflict);
        }
        Ok(shard.push_new(Entry::new(record))?)
    }

    fn get_now(&self, digest: &TokenDigest) -> Option<TokenRecord> {
        self.read(self.shard_of(&digest.grant())).get(digest).map(Entry::to_record)
    }

    fn consume_now(
        &self,
        digest: &TokenDigest,
        replacements: Vec<TokenRecord>,
    ) -> Result<Consumed, StoreError> {
        let home = self.shard_of(&digest.grant());
        let targets: Vec<usize> = replacements.iter().map(|r| self.shard_of(&r.digest.grant())).collect();
        let mut order = targets.clone();
        order.push(home);
        order.sort_unstable();
        order.dedup();
        // Every multi-shard locker takes its locks in ascending order, so
        // two of them can never wait on each other.
        let mut locked: Vec<(usize, RwLockWriteGuard<'_, Shard>)> =
            order.iter().map(|&i| (i, self.write(i))).collect();
        let slot = |want: usize, locked: &[(usize, RwLockWriteGuard<'_, Shard>)]| {
            locked.iter().position(|(i, _)| *i == want).ok_or(MemoryError::NotLocked)
        };

        // Validate everything before changing anything.
        let home_slot = slot(home, &locked)?;
        let before = match locked[home_slot].1.get(digest) {
            None => return Ok(Consumed::Unknown),
            Some(e) if e.state != TokenState::Active => return Ok(Consumed::Replayed(e.to_record())),
            Some(e) => e.to_record(),
        };
        let mut digests: Vec<&TokenDigest> = replacements.iter().map(|r| &r.digest).collect();
        digests.sort_unstable();
        if digests.windows(2).any(|w| w[0] == w[1]) {
            return Err(StoreError::Conflict);
        }
        let mut slots = Vec::with_capacity(replacements.len());
        for (r, &target) in replacements.iter().zip(&targets) {
            let s = slot(target, &locked)?;
            // This also refuses a replacement with the consumed digest.
            if locked[s].1.contains(&r.digest) {
                return Err(StoreError::Conflict);
            }
            slots.push(s);
        }
        for (s, (_, shard)) in locked.iter().enumerate() {
            if !shard.has_room(slots.iter().filter(|&&x| x == s).count()) {
                return Err(MemoryError::ShardFull.into());
            }
        }

        // Commit. The checks above leave no way for what follows to fail.
        if let Some(e) = locked[home_slot].1.get_mut(digest) {
            e.state = TokenState::Consumed;
        }
        for (r, s) in replacements.into_iter().zip(slots) {
            locked[s].1.push_new(Entry::new(r))?;
        }
        Ok(Consumed::Taken(before))
    }

    fn revoke_now(&self, digest: &TokenDigest) -> bool {
        let mut shard = self.write(self.shard_of(&digest.grant()));
        match shard.get_mut(digest) {
            Some(e) => {
                e.state = TokenState::Revoked;
                true
            }
            None => false,
        }
    }

    fn revoke_grant_now(&self, grant: &GrantId) {
        self.write(self.shard_of(grant)).revoke_grant(grant);
    }

    /// One shard after another, each under its write lock for the time it
    /// takes to revoke the owner's grants there (found through the shard's
    /// owner index, never by a scan). Each shard's part is one step with
    /// respect to the consumes of its grants, which is what the contract
    /// asks; taking every lock at once would make the whole call one step
    /// but stall every reader of the store for its duration.
    fn revoke_all_now(&self, scope: &RevokeScope) -> Result<u64, StoreError> {
        if !matches!(
            scope,
            RevokeScope::Subject(_) | RevokeScope::SubjectAtClient(..) | RevokeScope::Client(_)
        ) {
            return Err(MemoryError::UnknownScope.into());
        }
        let ended: usize = (0..self.shards.len()).map(|i| self.write(i).revoke_all(scope)).sum();
        Ok(ended as u64)
    }

    /// Visits shards from the shared cursor, each in bounded steps. A call
    /// that returns less than `limit` has made a full pass over every
    /// shard during the call, so nothing that had expired at `now` is left.
    fn purge_now(&self, now: UnixTime, limit: usize) -> usize {
        let n = self.shards.len();
        let start = self.purge_cursor.load(Ordering::Relaxed) % n;
        let mut deleted = 0;
        for k in 0..n {
            if deleted >= limit {
                break;
            }
            let s = (start + k) % n;
            let mut cursor = usize::MAX;
            loop {
                // The guard drops at the end of each step, letting readers
                // and writers in between.
                deleted += self.write(s).purge_step(now, &mut cursor, PURGE_SCAN_BATCH, limit - deleted);
                if cursor == 0 || deleted >= limit {
                    break;
                }
            }
            // A shard left part-way is restarted from its top next time.
            let next = if cursor == 0 { (s + 1) % n } else { s };
            self.purge_cursor.store(next, Ordering::Relaxed);
        }
        deleted
    }

    fn clients_read(&self) -> RwLockReadGuard<'_, Clients> {
        self.clients.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn clients_write(&self) -> RwLockWriteGuard<'_, Clients> {
        self.clients.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TokenStore for MemoryStore {
    fn insert(&self, record: TokenRecord) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(self.insert_now(record))
    }

    fn get(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send {
        ready(Ok(self.get_now(digest)))
    }

    /// The record, then its client, as the default does, in one ready
    /// future. The client is read with a plain lookup, not with
    /// [`ClientRegistry::client`]'s: its id comes from a stored record,
    /// never from a caller, so the equal cost of a hit and a miss (and the
    /// stand-in a miss clones) buys nothing here.
    fn get_with_client(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<(TokenRecord, Option<Client>)>, StoreError>> + Send {
        ready(Ok(self.get_now(digest).map(|record| {
            let client = self.clients_read().get(&record.client_id);
            (record, client)
        })))
    }

    fn consume(
        &self,
        digest: &TokenDigest,
        replacements: Vec<TokenRecord>,
    ) -> impl Future<Output = Result<Consumed, StoreError>> + Send {
        ready(self.consume_now(digest, replacements))
    }

    fn revoke(&self, digest: &TokenDigest) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ready(Ok(self.revoke_now(digest)))
    }

    fn revoke_grant(&self, grant: &GrantId) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.revoke_grant_now(grant);
        ready(Ok(()))
    }

    fn revoke_all(&self, scope: &RevokeScope) -> impl Future<Output = Result<u64, StoreError>> + Send {
        ready(self.revoke_all_now(scope))
    }

    fn purge_expired(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        ready(Ok(self.purge_now(now, limit)))
    }
}

impl ClientRegistry for MemoryStore {
    fn client(&self, id: &ClientId) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send {
        ready(Ok(self.clients_read().lookup(id)))
    }

    fn put_client(&self, client: Client) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.clients_write().put(client);
        ready(Ok(()))
    }

    fn remove_client(&self, id: &ClientId) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ready(Ok(self.clients_write().remove(id)))
    }

    fn list_clients(
        &self,
        after: Option<&ClientId>,
        limit: usize,
    ) -> impl Future<Output = Result<ClientPage, StoreError>> + Send {
        ready(Ok(self.clients_read().page(after, limit)))
    }

    fn seeded_at(&self) -> impl Future<Output = Result<Option<UnixTime>, StoreError>> + Send {
        ready(Ok(*self.seeded.read().unwrap_or_else(PoisonError::into_inner)))
    }

    fn set_seeded_at(&self, at: UnixTime) -> impl Future<Output = Result<(), StoreError>> + Send {
        *self.seeded.write().unwrap_or_else(PoisonError::into_inner) = Some(at);
        ready(Ok(()))
    }
}
