//! Store wrappers for checks: one that fails on demand (fail-closed
//! checks) and one that counts reads (the "forged token touches no storage"
//! check).

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use gatehouse_core::model::{Client, ClientId, GrantId, TokenDigest, TokenRecord};
use gatehouse_core::{ClientPage, ClientRegistry, Consumed, RevokeScope, StoreError, TokenStore, UnixTime};

/// Wraps a store; while failing, every call fails with
/// [`StoreError::Backend`] ([`set_failing`](Self::set_failing)), or with
/// [`StoreError::Unavailable`] as a store whose server went away would
/// ([`set_unreachable`](Self::set_unreachable)). Counts token reads and
/// client reads.
#[derive(Debug, Clone)]
pub struct Instrumented<S> {
    inner: Arc<S>,
    /// `OK`, `FAILING` or `UNREACHABLE`.
    failure: Arc<AtomicU8>,
    token_reads: Arc<AtomicUsize>,
    client_reads: Arc<AtomicUsize>,
}

/// The error an instrumented store returns while failing.
#[derive(Debug, thiserror::Error)]
#[error("injected storage failure")]
pub struct InjectedFailure;

const OK: u8 = 0;
const FAILING: u8 = 1;
const UNREACHABLE: u8 = 2;

impl<S> Instrumented<S> {
    /// Wraps `inner`, not failing, counters at zero.
    pub fn new(inner: S) -> Self {
        Self {
            inner: Arc::new(inner),
            failure: Arc::default(),
            token_reads: Arc::default(),
            client_reads: Arc::default(),
        }
    }

    /// Makes every later call fail with [`StoreError::Backend`] (`true`) or
    /// pass through (`false`).
    pub fn set_failing(&self, on: bool) {
        self.failure.store(if on { FAILING } else { OK }, Ordering::SeqCst);
    }

    /// Makes every later call fail with [`StoreError::Unavailable`]
    /// (`true`), as a backend that cannot be reached does, or pass through
    /// (`false`).
    pub fn set_unreachable(&self, on: bool) {
        self.failure.store(if on { UNREACHABLE } else { OK }, Ordering::SeqCst);
    }

    /// How many `get`/`consume` calls reached the store.
    pub fn token_reads(&self) -> usize {
        self.token_reads.load(Ordering::SeqCst)
    }

    /// How many `client` calls reached the store.
    pub fn client_reads(&self) -> usize {
        self.client_reads.load(Ordering::SeqCst)
    }

    fn gate(&self) -> Result<(), StoreError> {
        match self.failure.load(Ordering::SeqCst) {
            OK => Ok(()),
            UNREACHABLE => Err(StoreError::unavailable(InjectedFailure)),
            _ => Err(StoreError::backend(InjectedFailure)),
        }
    }
}

impl<S: TokenStore + ClientRegistry> TokenStore for Instrumented<S> {
    fn insert(&self, record: TokenRecord) -> impl Future<Output = Result<(), StoreError>> + Send {
        let gate = self.gate();
        async move {
            gate?;
            self.inner.insert(record).await
        }
    }

    fn get(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send {
        self.token_reads.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate();
        async move {
            gate?;
            self.inner.get(digest).await
        }
    }

    /// Forwarded, so a backend's own `get_with_client` is what the checks
    /// exercise. Counted as a token and a client read when first polled:
    /// a lookup the core never starts is not a read.
    async fn get_with_client(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<(TokenRecord, Option<Client>)>, StoreError>
    where
        Self: ClientRegistry,
    {
        self.token_reads.fetch_add(1, Ordering::SeqCst);
        self.client_reads.fetch_add(1, Ordering::SeqCst);
        self.gate()?;
        self.inner.get_with_client(digest).await
    }

    fn consume(
        &self,
        digest: &TokenDigest,
        replacements: Vec<TokenRecord>,
    ) -> impl Future<Output = Result<Consumed, StoreError>> + Send {
        self.token_reads.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate();
        async move {
            gate?;
            self.inner.consume(digest, replacements).await
        }
    }

    fn revoke(&self, digest: &TokenDigest) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let gate = self.gate();
        async move {
            gate?;
            self.inner.revoke(digest).await
        }
    }

    fn revoke_grant(&self, grant: &GrantId) -> impl Future<Output = Result<(), StoreError>> + Send {
        let gate = self.gate();
        async move {
            gate?;
            self.inner.revoke_grant(grant).await
        }
    }

    fn revoke_all(&self, scope: &RevokeScope) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let gate = self.gate();
        async move {
            gate?;
            self.inner.revoke_all(scope).await
        }
    }

    fn purge_expired(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        let gate = self.gate();
        async move {
            gate?;
            self.inner.purge_expired(now, limit).await
        }
    }

    /// Forwarded, so a backend's own probe is what runs.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        let gate = self.gate();
        async move {
            gate?;
            self.inner.ping().await
        }
    }
}

impl<S: ClientRegistry> ClientRegistry for Instrumented<S> {
    fn client(&self, id: &ClientId) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send {
        self.client_reads.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate();
        async move {
            gate?;
            self.inner.client(id).await
        }
    }

    fn put_client(&self, client: Client) -> impl Future<Output = Result<(), StoreError>> + Send {
        let gate = self.gate();
        async move {
            gate?;
            self.inner.put_client(client).await
        }
    }

    fn remove_client(&self, id: &ClientId) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let gate = self.gate();
        async move {
            gate?;
            self.inner.remove_client(id).await
        }
    }

    fn list_clients(
        &self,
        after: Option<&ClientId>,
        limit: usize,
    ) -> impl Future<Output = Result<ClientPage, StoreError>> + Send {
        let gate = self.gate();
        async move {
            gate?;
            self.inner.list_clients(after, limit).await
        }
    }

    fn seeded_at(&self) -> impl Future<Output = Result<Option<UnixTime>, StoreError>> + Send {
        let gate = self.gate();
        async move {
            gate?;
            self.inner.seeded_at().await
        }
    }

    fn set_seeded_at(&self, at: UnixTime) -> impl Future<Output = Result<(), StoreError>> + Send {
        let gate = self.gate();
        async move {
            gate?;
            self.inner.set_seeded_at(at).await
        }
    }
}
