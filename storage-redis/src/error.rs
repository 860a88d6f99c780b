//! The crate's error type. Every store method maps it into
//! [`StoreError`](gatehouse_core::StoreError), keeping it as the source:
//! [`StoreError::Unavailable`](gatehouse_core::StoreError::Unavailable)
//! when Redis cannot be reached or serve right now
//! ([`RedisError::is_unavailable`]), `Backend` otherwise.

use std::time::Duration;

use gatehouse_core::StoreError;
use redis::{ErrorKind, ServerErrorKind};

/// Why a Redis call failed, or why a stored value could not be decoded.
/// Messages name keys at most (digests and client ids, which are not
/// secret), never a raw token or secret, nor the stored text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// Redis did not answer within the configured timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The redis client or server reported an error (connection refused,
    /// I/O, script error, ...). See [`is_unavailable`](Self::is_unavailable)
    /// for which ones mean "not now".
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
    /// `revoke_all` got a revocation scope added to the core after this
    /// store was written. Nothing changed.
    #[error("this redis store does not know the revocation scope")]
    UnknownScope,
    /// A [`RedisFeedRelay`](crate::RedisFeedRelay) cannot start: says why.
    #[error("the revocation relay cannot start: {0}")]
    RelaySetup(&'static str),
    /// A stored record is not JSON of the expected shape. Says where, never
    /// what the stored text is.
    #[error("{what} {key}: JSON {category} error at line {line} column {column}")]
    Json {
        /// What kind of record: `"token record"` or `"client"`.
        what: &'static str,
        /// Which one: the token's digest or the client's id.
        key: String,
        /// The kind of JSON error: `syntax`, `data`, `eof` or `io`.
        category: &'static str,
        /// Where the error is in the stored JSON.
        line: usize,
        /// Where the error is in that line.
        column: usize,
    },
    /// A stored record names another key than the one it is stored under
    /// (a value copied under another key would otherwise answer for a token
    /// it is not).
    #[error("{what} {key}: the stored record has another key")]
    KeyMismatch {
        /// What kind of record: `"token record"`.
        what: &'static str,
        /// The key it is stored under: the token's digest.
        key: String,
    },
    /// A token value's record is not a record: the core's decoder says
    /// which field broke which rule (or, for a JSON value of an older
    /// version, the kind and position of the JSON error), never what is
    /// stored.
    #[error("token record {key}: {source}")]
    Record {
        /// The token's digest.
        key: String,
        /// Why the bytes are not a record.
        source: gatehouse_core::model::RecordDecodeError,
    },
    /// A token value does not start with a state byte this version knows
    /// (`None`: the value is empty).
    #[error("token record {key}: unknown token state {value:?}")]
    UnknownState {
        /// The token's digest.
        key: String,
        /// The stored state byte.
        value: Option<u8>,
    },
}

impl RedisError {
    /// Whether Redis cannot be reached or cannot serve right now, so that
    /// the same call may succeed later without anyone changing anything:
    /// our timeout; a refused, reset or dropped connection and any other
    /// socket error; a cluster node that cannot be found; and the server
    /// replies that mean "not now" (`LOADING` after a restart, `TRYAGAIN`,
    /// `CLUSTERDOWN`, `MASTERDOWN`, `READONLY` from a replica promoted or
    /// demoted during a failover, `BUSY` while another client's script
    /// runs).
    ///
    /// Everything else is a fault a retry will not cure: a rejected
    /// command or script, a refused login or permission (`NOPERM`), a
    /// reply of the wrong type, a bad prefix.
    pub fn is_unavailable(&self) -> bool {
        let Self::Redis(e) = self else {
            return matches!(self, Self::Timeout(_));
        };
        if e.is_io_error() || e.code() == Some("BUSY") {
            return true;
        }
        matches!(
            e.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ReadOnly
                )
        )
    }
}

impl From<RedisError> for StoreError {
    /// A decoding failure is [`StoreError::Corrupt`]; every other one is
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`] (see
    /// [`RedisError::is_unavailable`]).
    fn from(e: RedisError) -> Self {
        match e {
            RedisError::Json { what, .. } | RedisError::KeyMismatch { what, .. } => {
                StoreError::corrupt(what, e)
            }
            RedisError::UnknownState { .. } | RedisError::Record { .. } => {
                StoreError::corrupt("token record", e)
            }
            e if e.is_unavailable() => StoreError::unavailable(e),
            e => StoreError::backend(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn server_reply(line: &str) -> RedisError {
        match redis::parse_redis_value(format!("-{line}\r\n").as_bytes()) {
            Ok(v) => match v.extract_error() {
                Err(e) => RedisError::Redis(e),
                Ok(v) => panic!("not an error reply: {v:?}"),
            },
            Err(e) => RedisError::Redis(e),
        }
    }

    fn io(kind: io::ErrorKind) -> RedisError {
        RedisError::Redis(redis::RedisError::from(io::Error::from(kind)))
    }

    #[test]
    fn unreachable_and_not_now_are_unavailable() {
        let unavailable = [
            RedisError::Timeout(Duration::from_millis(500)),
            io(io::ErrorKind::ConnectionRefused),
            io(io::ErrorKind::ConnectionReset),
            io(io::ErrorKind::BrokenPipe),
            io(io::ErrorKind::TimedOut),
            io(io::ErrorKind::UnexpectedEof),
            RedisError::Redis((ErrorKind::ClusterConnectionNotFound, "no node").into()),
            server_reply("LOADING Redis is loading the dataset in memory"),
            server_reply("CLUSTERDOWN The cluster is down"),
            server_reply("MASTERDOWN Link with MASTER is down"),
            server_reply("TRYAGAIN Multiple keys request during rehashing of slot"),
            server_reply("READONLY You can't write against a read only replica."),
            server_reply("BUSY Redis is busy running a script."),
        ];
        for e in unavailable {
            assert!(e.is_unavailable(), "{e:?}");
            assert!(matches!(StoreError::from(e), StoreError::Unavailable(_)));
        }
    }

    #[test]
    fn faults_a_retry_will_not_cure_are_backend_errors() {
        let faults = [
            server_reply("ERR Error running script"),
            server_reply("NOPERM this user has no permissions to run the 'evalsha' command"),
            server_reply("WRONGTYPE Operation against a key holding the wrong kind of value"),
            server_reply("NOSCRIPT No matching script."),
            RedisError::Redis((ErrorKind::AuthenticationFailed, "invalid password").into()),
            RedisError::Redis((ErrorKind::UnexpectedReturnType, "not an int").into()),
            RedisError::InvalidPrefix,
            RedisError::CrossSlot,
            RedisError::UnexpectedReply("3"),
            RedisError::UnknownScope,
            RedisError::RelaySetup("no runtime"),
            RedisError::UnsupportedState("x".into()),
        ];
        for e in faults {
            assert!(!e.is_unavailable(), "{e:?}");
            assert!(matches!(StoreError::from(e), StoreError::Backend(_)));
        }
    }
}
