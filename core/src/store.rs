//! The storage contract. Every backend (memory, SQLite, Redis) implements
//! [`TokenStore`] and [`ClientRegistry`]; the shared conformance suite
//! (`gatehouse-conformance`) checks each guarantee documented here.
//!
//! Backends only ever see [`TokenDigest`]s, never raw tokens, and
//! [`SecretDigest`](crate::model::SecretDigest)s, never raw secrets.
//!
//! The methods are async without `async-trait`: each returns
//! `impl Future + Send`, so the core stays generic over the store with no
//! boxing. A backend whose work is short and local (memory, SQLite) may do
//! it inline and return a ready future; it must never hold a lock across an
//! `.await`.

use std::future::Future;

use crate::model::{Client, ClientId, GrantId, Subject, TokenDigest, TokenRecord};
use crate::time::UnixTime;

/// A storage failure. Not-found is never an error: lookups return
/// `Ok(None)`.
///
/// The core fails closed on every variant: a request that meets a store
/// error gets a server error, never an answer about the token.
/// [`Unavailable`](Self::Unavailable) is a 503 with `Retry-After` (retry
/// later), every other variant a 500.
///
/// # Which variant a backend returns
/// [`Unavailable`](Self::Unavailable) when the backend cannot be reached
/// or cannot serve anyone right now, and waiting alone may cure it: the
/// connection is refused or lost, a call times out, the server is loading,
/// failing over or down (Redis `LOADING`, `CLUSTERDOWN`, `MASTERDOWN`), the
/// database stayed locked by another writer for the whole busy timeout
/// (SQLite `SQLITE_BUSY`/`SQLITE_LOCKED`). [`Backend`](Self::Backend) for
/// every other failure, which retrying will not fix: a script or SQL
/// error, a refused permission, a full disk, an internal bug (a writer
/// thread that panicked), and a record that cannot be encoded for
/// storage (a bug, not bad data). [`Corrupt`](Self::Corrupt) for stored
/// data that cannot be decoded. An in-process backend (memory) never
/// returns `Unavailable`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed in a way a retry will not cure (a rejected
    /// command, I/O on the database file, a bug). The source is kept for
    /// the operator; it must not contain a raw token or secret.
    #[error("storage backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The backend cannot be reached right now (connection refused or
    /// lost, timeout, server down, database locked beyond the busy
    /// timeout): the same request may succeed later. As with
    /// [`Backend`](Self::Backend), a write may or may not have taken effect.
    /// The source is kept for the operator; it must not contain a raw token
    /// or secret.
    #[error("storage backend unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An insert met an existing key. Inserts never overwrite.
    #[error("a record with this key already exists")]
    Conflict,
    /// Stored data could not be decoded: the backend holds a value that is
    /// not what it wrote (damaged, edited by hand, copied under another
    /// key). Retrying will not cure it.
    #[error("stored {what} is corrupt")]
    Corrupt {
        /// What could not be decoded (`"token record"`, `"client"`, ...).
        what: &'static str,
        /// Why, when the backend knows: for the operator. Like every
        /// source here it must not contain a raw token or secret, nor the
        /// stored text itself.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StoreError {
    /// Wraps any backend error.
    pub fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> Self {
        Self::Backend(Box::new(e))
    }

    /// Wraps a backend error that means "cannot be reached right now".
    pub fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> Self {
        Self::Unavailable(Box::new(e))
    }

    /// Stored `what` could not be decoded, because of `source`
    /// ([`StoreError::Corrupt`]).
    pub fn corrupt<E: std::error::Error + Send + Sync + 'static>(what: &'static str, source: E) -> Self {
        Self::Corrupt { what, source: Some(Box::new(source)) }
    }

    /// Whether this is [`StoreError::Unavailable`]: the request may be
    /// retried later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// The outcome of [`TokenStore::consume`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Consumed {
    /// The token was active; it is now consumed and the replacements are
    /// stored. Holds the record as it was before this call.
    Taken(TokenRecord),
    /// The token had already been consumed or revoked; nothing changed.
    /// Holds the stored record, so the core can revoke its whole grant
    /// (RFC 6749 §4.1.2, §10.5; RFC 9700 §4.14).
    Replayed(TokenRecord),
    /// There is no record with this digest; nothing changed.
    Unknown,
}

/// Which grants [`TokenStore::revoke_all`] ends: those of a resource owner,
/// of a resource owner at one client, or of one client.
///
/// A grant matches when one of its tokens carries the subject (and client)
/// named here: the core gives every token of a grant the same client and
/// subject, so that is every token of the grant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevokeScope {
    /// Every grant of this resource owner, at every client: "sign out
    /// everywhere" (password change, account closed, lost device).
    Subject(Subject),
    /// Every grant this resource owner gave this client: "disconnect this
    /// app".
    SubjectAtClient(Subject, ClientId),
    /// Every grant of this client, with or without a resource owner
    /// (client_credentials tokens too): a compromised or retired client.
    Client(ClientId),
}

impl RevokeScope {
    /// Whether `record` is a token this scope names.
    pub fn matches(&self, record: &TokenRecord) -> bool {
        match self {
            Self::Subject(s) => record.subject.as_ref() == Some(s),
            Self::SubjectAtClient(s, c) => record.subject.as_ref() == Some(s) && record.client_id == *c,
            Self::Client(c) => record.client_id == *c,
        }
    }
}

/// Where tokens live.
///
/// # Guarantees every backend gives
/// - **Linearizable per key**: each method takes effect at one instant
///   between its call and its return, for every caller of every process
///   sharing the backend.
/// - **No overwrite**: [`insert`](Self::insert) of an existing digest fails
///   with [`StoreError::Conflict`] and changes nothing.
/// - **Round trip**: [`get`](Self::get) returns the record as inserted, with
///   `state` as the atomic operations below left it.
/// - **Expired records may vanish**: a backend may drop a record whose
///   `expires_at` has passed (TTL, purge), at any time after that.
pub trait TokenStore: Send + Sync + 'static {
    /// Stores a new record.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the digest exists (nothing changes);
    /// [`StoreError::Backend`] or [`StoreError::Unavailable`] when the
    /// backend fails (the record may or may not have been stored; the core
    /// never hands out its token).
    fn insert(&self, record: TokenRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Looks a record up by digest. `Ok(None)` when there is none.
    ///
    /// A record whose grant was revoked by [`revoke_grant`](Self::revoke_grant)
    /// reads with `state == Revoked`.
    ///
    /// # Errors
    /// [`StoreError::Backend`], [`StoreError::Unavailable`] or
    /// [`StoreError::Corrupt`]; never for a missing record.
    fn get(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;

    /// Looks a record up together with its client (the one it was issued
    /// to) as the registry has it at the same instant: what introspection
    /// and bearer validation judge on. `Ok(None)` when there is no record;
    /// `Some((record, None))` when its client is not registered.
    ///
    /// The default is [`get`](Self::get) then
    /// [`ClientRegistry::client`], which is exact. A backend may answer both
    /// from one read (SQLite reads the record and the clients' version in
    /// one statement), but never with a client older than the record.
    ///
    /// # Errors
    /// As [`get`](Self::get) and [`ClientRegistry::client`].
    fn get_with_client(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<(TokenRecord, Option<Client>)>, StoreError>> + Send
    where
        Self: ClientRegistry,
    {
        async move {
            let Some(record) = self.get(digest).await? else {
                return Ok(None);
            };
            let client = self.client(&record.client_id).await?;
            Ok(Some((record, client)))
        }
    }

    /// Atomically consumes a one-time token (an authorization code, or a
    /// refresh token being rotated) and stores its replacements.
    ///
    /// If the record is `Active`, it becomes `Consumed` and every record in
    /// `replacements` is inserted, all in one step: no caller ever sees the
    /// token consumed without its replacements, and of two racing calls on
    /// the same digest exactly one gets [`Consumed::Taken`]. Otherwise nothing
    /// changes and the call reports [`Consumed::Replayed`] or
    /// [`Consumed::Unknown`].
    ///
    /// Every replacement belongs to the consumed token's grant (its digest
    /// carries the same [`GrantId`]): the core never mixes grants, and a
    /// clustered backend relies on it to keep the operation in one slot. A
    /// backend may refuse a replacement from another grant with
    /// [`StoreError::Backend`], changing nothing.
    ///
    /// Expiry is not checked here: the core decides on the record first.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a replacement's digest exists (nothing
    /// changes); [`StoreError::Backend`] or [`StoreError::Unavailable`].
    fn consume(
        &self,
        digest: &TokenDigest,
        replacements: Vec<TokenRecord>,
    ) -> impl Future<Output = Result<Consumed, StoreError>> + Send;

    /// Marks one token `Revoked`. Returns whether a record was found (a
    /// revoked or consumed one counts; its state becomes `Revoked`).
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Unavailable`].
    fn revoke(&self, digest: &TokenDigest) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revokes every token of a grant (the family of tokens from one code
    /// or one client_credentials request), in one step: after it returns,
    /// every such token reads `Revoked`, and a racing
    /// [`consume`](Self::consume) of one of them either completed before (its
    /// replacements are revoked too) or reports `Replayed`. The core never
    /// inserts into a grant it revoked; a backend may store such a late
    /// insert either as given or as revoked.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Unavailable`].
    fn revoke_grant(&self, grant: &GrantId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Revokes every token of every grant that `scope` names (see
    /// [`RevokeScope`]), whatever its kind (access, refresh, authorization
    /// code) and state, and returns how many of those grants still had an
    /// `Active` token (a grant whose tokens all expired may or may not be
    /// counted: a backend may have dropped them).
    ///
    /// Guarantees, for every caller of every process sharing the backend:
    /// - **Nothing escapes**: once it returns, every token of a matching
    ///   grant stored before the call began reads `Revoked`. For each such
    ///   grant it is as [`revoke_grant`](Self::revoke_grant): a racing
    ///   [`consume`](Self::consume) of one of its tokens (a refresh
    ///   rotation, a code exchange) either completed before (its
    ///   replacements are revoked too) or reports `Replayed`. So no live
    ///   token of such a grant is left, however the calls interleave.
    /// - **New grants are unaffected**: a grant first stored after it
    ///   returned is not revoked by it. A grant first stored while it runs
    ///   may or may not be.
    /// - **Bounded work**: a backend finds the matching grants through an
    ///   index, never by scanning every token, and keeps that index within
    ///   the lifetime of the tokens it points to.
    ///
    /// It need not be one step across grants (a clustered backend revokes
    /// grant after grant): a reader may see one matching grant revoked and
    /// another not yet while it runs.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Unavailable`]: some of the
    /// grants may have been revoked; calling it again finishes the work.
    fn revoke_all(&self, scope: &RevokeScope) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Deletes up to `limit` records that expired before `now`, returning how
    /// many it deleted. Callers loop until it returns less than `limit`
    /// ([`purge_expired_all`] does); bounded batches keep each call short. A backend whose records expire
    /// by themselves (Redis TTLs) may return `Ok(0)`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Unavailable`].
    fn purge_expired(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// A cheap round trip to the backend, for readiness checks: `Ok` when
    /// the store could serve a read right now. Changes nothing.
    ///
    /// The default looks up [`PROBE_DIGEST`], a digest no token has: one
    /// [`get`](Self::get), so it fails exactly when reads fail. A backend
    /// may answer with something cheaper that reaches the same server
    /// (Redis `PING`), but never `Ok` without a round trip to it.
    ///
    /// # Errors
    /// What [`get`](Self::get) returns: [`StoreError::Unavailable`] when the
    /// backend cannot be reached, [`StoreError::Backend`] otherwise.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move { self.get(&PROBE_DIGEST).await.map(drop) }
    }
}

/// The digest [`TokenStore::ping`] looks up by default: all zeros, which no
/// SHA-256 output is expected to be, so it is never stored.
pub const PROBE_DIGEST: TokenDigest = TokenDigest::new(GrantId::from_bytes([0; 16]), [0; 32]);

/// Deletes every record that expired before `now`, calling
/// [`TokenStore::purge_expired`] with `batch` until a call deletes fewer
/// than `batch` records, as its contract prescribes; returns how many it
/// deleted in all. Each call stays short, so a store shared with live
/// traffic is never held for the whole purge. A `batch` of 0 is taken as 1,
/// so the loop always ends.
///
/// Run it from a periodic task; records that expire during the loop may be
/// left for the next run.
///
/// # Errors
/// The first [`StoreError`]; the records deleted by earlier calls stay
/// deleted.
pub async fn purge_expired_all<S: TokenStore>(
    store: &S,
    now: UnixTime,
    batch: usize,
) -> Result<usize, StoreError> {
    let batch = batch.max(1);
    let mut total = 0;
    loop {
        let n = store.purge_expired(now, batch).await?;
        total += n;
        if n < batch {
            return Ok(total);
        }
    }
}

/// Where registered clients live. Introspection reads it on every call, so
/// that a disabled or deleted client's tokens go inactive at once.
pub trait ClientRegistry: Send + Sync + 'static {
    /// Looks a client up. `Ok(None)` when there is none.
    ///
    /// Client authentication calls this for every presented client id, so
    /// a lookup should cost the same whether or not the id is registered:
    /// otherwise response times tell which ids exist. A backend that keeps
    /// decoded records answers a miss by cloning (and dropping) a stand-in
    /// record, so a miss does what a hit does (memory, SQLite). What the
    /// caller chose, such as the id's length, may change the cost. A
    /// backend that falls short says where in its docs (Redis: an id not
    /// in its cache costs a round trip).
    ///
    /// `id` may be one that no client can be registered under (client
    /// authentication looks malformed ids up that way, for the same
    /// reason): the answer is then `Ok(None)`, which an exact lookup gives
    /// without special handling.
    ///
    /// # Errors
    /// [`StoreError::Backend`], [`StoreError::Unavailable`] or
    /// [`StoreError::Corrupt`].
    fn client(&self, id: &ClientId) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send;

    /// Registers a client, or replaces the registration with the same id
    /// (this is an administrative write, unlike token inserts).
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Unavailable`].
    fn put_client(&self, client: Client) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a client. Returns whether it existed. Its tokens stay stored
    /// but introspect inactive.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Unavailable`].
    fn remove_client(&self, id: &ClientId) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// One page of the registered clients, in ascending byte order of
    /// their ids: those whose id is greater than `after` (from the first
    /// when `None`), at most `limit` of them (a `limit` of 0 is taken as
    /// 1). [`ClientPage::next`] is `None` when no client follows the page,
    /// and otherwise the `after` of the next page. Paging with it visits
    /// every client that stays registered during the listing exactly once,
    /// whatever is added or removed meanwhile; a client added or removed
    /// during the listing may or may not be visited.
    ///
    /// A page holds complete clients, as [`client`](Self::client) returns
    /// them. A backend may return fewer than `limit` clients with a `next`
    /// (Redis skips index entries of clients removed while it reads); only
    /// `next == None` means the end. Lookups need not cost the same for
    /// every id here: this is for operators, not for callers presenting
    /// credentials.
    ///
    /// # Errors
    /// [`StoreError::Backend`], [`StoreError::Unavailable`] or
    /// [`StoreError::Corrupt`] (a registration that does not decode).
    fn list_clients(
        &self,
        after: Option<&ClientId>,
        limit: usize,
    ) -> impl Future<Output = Result<ClientPage, StoreError>> + Send;

    /// When the registry was last seeded, as recorded by
    /// [`set_seeded_at`](Self::set_seeded_at); `None` when never, or when
    /// the backend lost its data since. The marker is kept with the
    /// clients and lost with them (a Redis restarted without persistence,
    /// a flushed key space): an app that seeds its registry from a file
    /// tells an empty registry it must seed from one emptied on purpose by
    /// this marker, never by counting clients.
    ///
    /// # Errors
    /// [`StoreError::Backend`], [`StoreError::Unavailable`] or
    /// [`StoreError::Corrupt`].
    fn seeded_at(&self) -> impl Future<Output = Result<Option<UnixTime>, StoreError>> + Send;

    /// Records that the registry was seeded at `at`, replacing any earlier
    /// record. Write it after the clients it vouches for.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Unavailable`].
    fn set_seeded_at(&self, at: UnixTime) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// One page of [`ClientRegistry::list_clients`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientPage {
    /// The clients, in ascending order of id.
    pub clients: Vec<Client>,
    /// Where the next page starts (pass it as `after`); `None` at the end.
    pub next: Option<ClientId>,
}

impl ClientPage {
    /// A page of `clients` followed by `next`.
    pub fn new(clients: Vec<Client>, next: Option<ClientId>) -> Self {
        Self { clients, next }
    }

    /// The page a backend that reads in order builds from up to `limit + 1`
    /// ascending clients: the first `limit` (at least 1), with `next` set
    /// to the last of them when there were more.
    pub fn from_ascending(mut clients: Vec<Client>, limit: usize) -> Self {
        let limit = limit.max(1);
        let next = match clients.len() > limit {
            true => {
                clients.truncate(limit);
                clients.last().map(|c| c.id.clone())
            }
            false => None,
        };
        Self { clients, next }
    }
}

#[cfg(test)]
mod tests {
    use std::future::{ready, Future};
    use std::sync::Mutex;

    use super::*;

    /// A store holding only `expired` expired records, recording the limit
    /// of each purge call and failing the call numbered `fail_at`.
    struct Expired {
        left: Mutex<usize>,
        calls: Mutex<Vec<usize>>,
        fail_at: Option<usize>,
    }

    impl Expired {
        fn new(expired: usize, fail_at: Option<usize>) -> Self {
            Self { left: Mutex::new(expired), calls: Mutex::new(Vec::new()), fail_at }
        }

        fn calls(&self) -> Vec<usize> {
            self.calls.lock().unwrap().clone()
        }
    }

    fn unused<T: Send>() -> impl Future<Output = Result<T, StoreError>> + Send {
        ready(Err(StoreError::Corrupt { what: "nothing: not used by these tests", source: None }))
    }

    impl TokenStore for Expired {
        fn insert(&self, _: TokenRecord) -> impl Future<Output = Result<(), StoreError>> + Send {
            unused()
        }
        fn get(
            &self,
            _: &TokenDigest,
        ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send {
            unused()
        }
        fn consume(
            &self,
            _: &TokenDigest,
            _: Vec<TokenRecord>,
        ) -> impl Future<Output = Result<Consumed, StoreError>> + Send {
            unused()
        }
        fn revoke(&self, _: &TokenDigest) -> impl Future<Output = Result<bool, StoreError>> + Send {
            unused()
        }
        fn revoke_grant(&self, _: &GrantId) -> impl Future<Output = Result<(), StoreError>> + Send {
            unused()
        }
        fn revoke_all(&self, _: &RevokeScope) -> impl Future<Output = Result<u64, StoreError>> + Send {
            unused()
        }
        fn purge_expired(
            &self,
            _: UnixTime,
            limit: usize,
        ) -> impl Future<Output = Result<usize, StoreError>> + Send {
            let mut calls = self.calls.lock().unwrap();
            calls.push(limit);
            if self.fail_at == Some(calls.len()) {
                return ready(Err(StoreError::Conflict));
            }
            let mut left = self.left.lock().unwrap();
            let n = limit.min(*left);
            *left -= n;
            ready(Ok(n))
        }
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn purge_expired_all_loops_until_a_short_batch() {
        let now = UnixTime(1_000);
        let s = Expired::new(2 * 10 + 5, None);
        assert_eq!(run(purge_expired_all(&s, now, 10)).unwrap(), 25);
        assert_eq!(s.calls(), [10, 10, 10]);
        // An exact multiple needs one more call to see that none are left.
        let s = Expired::new(20, None);
        assert_eq!(run(purge_expired_all(&s, now, 10)).unwrap(), 20);
        assert_eq!(s.calls(), [10, 10, 10]);
        let s = Expired::new(0, None);
        assert_eq!(run(purge_expired_all(&s, now, 10)).unwrap(), 0);
        assert_eq!(s.calls(), [10]);
    }

    #[test]
    fn purge_expired_all_takes_a_zero_batch_as_one() {
        let s = Expired::new(2, None);
        assert_eq!(run(purge_expired_all(&s, UnixTime(1), 0)).unwrap(), 2);
        assert_eq!(s.calls(), [1, 1, 1]);
    }

    #[test]
    fn purge_expired_all_stops_at_the_first_error() {
        let s = Expired::new(100, Some(2));
        assert!(matches!(run(purge_expired_all(&s, UnixTime(1), 10)), Err(StoreError::Conflict)));
        assert_eq!(s.calls(), [10, 10]);
        assert_eq!(*s.left.lock().unwrap(), 90);
    }
}
