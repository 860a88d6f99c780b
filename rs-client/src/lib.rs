#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! - [`client`]: [`IntrospectionClient`], one RFC 7662 request per call,
//!   and the [`Introspect`] trait.
//! - [`answer`]: [`Introspection`] and [`Claims`], and [`answer::parse`],
//!   the pure decision from a status and body to an answer or an error.
//! - [`cache`]: [`CacheConfig`], what is reused how long, within which
//!   bounds; [`CachedClient`] puts it in front of a client, with single
//!   flight.
//! - [`revocation`]: [`Revocation`], what the authorization server's feed
//!   announces; [`EventStream`] reads the feed and applies it to a
//!   [`CachedClient`] (whose lease it renews).
//! - [`tls`]: [`TlsRoots`], the certificate authorities an `https://`
//!   endpoint may chain to.
//! - [`clock`]: the injectable [`Clock`].
//! - `bearer` (feature `axum`): gatehouse-axum's bearer layer backed by a
//!   [`CachedClient`] (`CachedClient::require`), and `bearer::decide`,
//!   from an answer to the core's `Principal` or an RFC 6750 refusal.
//! - [`error`]: [`Error`], one enum for the crate.
#![forbid(unsafe_code)]

pub mod answer;
#[cfg(feature = "axum")]
pub mod bearer;
pub mod cache;
mod cached;
pub mod client;
pub mod clock;
mod credentials;
mod digest;
pub mod error;
pub mod revocation;
mod stream;
pub mod tls;

pub use answer::{Claims, Introspection};
pub use cache::CacheConfig;
pub use cached::{CacheStats, CachedClient};
pub use client::{ClientConfig, Introspect, IntrospectionClient};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credentials::ClientSecret;
pub use error::Error;
pub use revocation::Revocation;
pub use stream::{EventStream, StreamStatus};
pub use tls::TlsRoots;
