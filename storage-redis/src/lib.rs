#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod conn;
mod error;
mod keys;
mod limiter;
mod scripts;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use conn::{RedisConnection, DEFAULT_TIMEOUT};
pub use error::Error;
pub use limiter::RedisLimiter;
pub use store::{RedisOptions, RedisStore};
