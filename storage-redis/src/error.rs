//! The crate's error type. Every store method maps it into
//! [`StoreError`](gatehouse_core::StoreError), keeping it as the source.

use std::time::Duration;

use gatehouse_core::StoreError;

/// Why a Redis call failed. Messages name keys at most (digests, which
/// are not secret), never a raw token or secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Redis did not answer within the configured timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The redis client or server reported an error (connection refused,
    /// I/O, script error, ...).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The key prefix contains `{` or `}`, which would override the
    /// per-grant hash tag and break Redis Cluster routing.
    #[error("key prefix must not contain '{{' or '}}'")]
    InvalidPrefix,
    /// On Redis Cluster, a consume must keep all records in one slot: each
    /// replacement must belong to the consumed token's grant.
    #[error("on redis cluster, replacements must belong to the consumed token's grant")]
    CrossSlot,
    /// A record has a state this version cannot store.
    #[error("token state {0} is not supported by this backend")]
    UnsupportedState(String),
    /// A script answered something it never returns.
    #[error("unexpected reply from redis: {0}")]
    UnexpectedReply(&'static str),
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        StoreError::backend(e)
    }
}
