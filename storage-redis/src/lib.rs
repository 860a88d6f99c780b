#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod bulk;
mod client_cache;
mod conn;
mod error;
mod keys;
mod limiter;
mod relay;
mod scripts;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use client_cache::ClientCacheStatus;
#[cfg(feature = "testing")]
pub use conn::RoundTrips;
pub use conn::{RedisConnection, DEFAULT_TIMEOUT};
pub use error::RedisError;
pub use limiter::RedisLimiter;
pub use relay::{FeedRelayOptions, RedisFeedRelay, RelayStatus};
pub use store::{RedisOptions, RedisStore};
