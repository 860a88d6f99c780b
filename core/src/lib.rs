//! Gatehouse core: an embeddable OAuth 2.0 authorization server.
#![forbid(unsafe_code)]

mod client_auth;
mod config;
mod crypto;
mod error;
mod form;
mod hex;
pub mod http;
pub mod introspect;
pub mod issue;
pub mod limiter;
pub mod model;
pub mod revoke;
mod server;
pub mod store;
pub mod time;
pub mod token_format;

pub use client_auth::{ClientCredentials, PresentedSecret};
pub use config::Config;
pub use error::Error;
pub use http::{Header, HttpRequest, HttpResponse};
pub use introspect::{InactiveReason, Introspection};
pub use issue::IssuedTokens;
pub use limiter::{Admission, FishingLimiter, LimiterConfig, MemoryLimiter};
pub use server::AuthServer;
pub use store::{ClientRegistry, Consumed, StoreError, TokenStore};
pub use time::{Clock, ManualClock, SystemClock, UnixTime};
pub use token_format::{KeyId, Keyring, RawToken};
