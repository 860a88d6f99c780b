//! Gatehouse core: an embeddable OAuth 2.0 authorization server.
#![forbid(unsafe_code)]

mod crypto;
mod error;
mod hex;
pub mod limiter;
pub mod model;
pub mod store;
pub mod time;
pub mod token_format;

pub use error::Error;
pub use limiter::{Admission, FishingLimiter, LimiterConfig, MemoryLimiter};
pub use store::{ClientRegistry, Consumed, StoreError, TokenStore};
pub use time::{Clock, ManualClock, SystemClock, UnixTime};
pub use token_format::{KeyId, Keyring, RawToken};
