//! The crate's one error type. Every store method maps it into
//! [`StoreError`], keeping it as the source.

use gatehouse_core::StoreError;

/// Why a [`MemoryStore`](crate::MemoryStore) call failed. It reaches
/// callers wrapped in [`StoreError::Backend`]: both are bugs or limits,
/// never an outage, so this store never returns
/// [`StoreError::Unavailable`], and it decodes nothing, so it never returns
/// [`StoreError::Corrupt`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// A shard already holds 2^31 tokens.
    #[error("memory store shard is full")]
    ShardFull,
    /// A bug: `consume` reached a shard it had not locked. Nothing changed.
    #[error("memory store internal error: shard not locked")]
    NotLocked,
    /// `revoke_all` got a [`RevokeScope`](gatehouse_core::RevokeScope)
    /// added to the core after this store was written. Nothing changed:
    /// revoking nothing and answering `Ok` would leave live what the caller
    /// meant to end.
    #[error("memory store does not know this revocation scope")]
    UnknownScope,
}

impl From<MemoryError> for StoreError {
    fn from(e: MemoryError) -> Self {
        StoreError::backend(e)
    }
}
