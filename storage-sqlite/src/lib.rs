#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod clients;
mod codec;
mod conn;
mod error;
mod oneshot;
mod schema;
mod store;
mod writer;

pub use conn::{SqliteConfig, Synchronous};
pub use error::SqliteError;
pub use oneshot::block_on;
pub use store::SqliteStore;

/// The schema version this crate creates and migrates to
/// (`PRAGMA user_version` of its files).
pub const SCHEMA_VERSION: i64 = schema::CURRENT_VERSION;
