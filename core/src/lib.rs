//! Gatehouse core: an embeddable OAuth 2.0 authorization server.
//!
//! Your app embeds an [`AuthServer`] and becomes its own authorization
//! server: it issues opaque tokens (`client_credentials`, and
//! `authorization_code` with PKCE and rotating refresh tokens), lets its
//! resource servers introspect them (RFC 7662) or validate them in-process
//! (RFC 6750), and its clients revoke them (RFC 7009). The core does no I/O of its own: requests and responses are
//! plain values ([`HttpRequest`] → [`HttpResponse`]), storage is any
//! [`TokenStore`] + [`ClientRegistry`], and time comes from a [`Clock`].
//!
//! # Who may introspect
//! Only confidential clients registered as resource servers
//! ([`model::ResourceServer`]). A resource server authenticates as itself —
//! it never needs the credentials of the client that obtained the token —
//! and sees as active only tokens whose audience names one of its
//! resources. Public clients get 401; other clients get 403. Inactive
//! answers are throttled per caller (see [`limiter`]).
//!
//! # Module map
//! - [`model`]: clients, token records and validated identifiers.
//! - [`store`]: the storage traits and what every backend guarantees.
//! - [`token_format`]: the opaque token format and the keyring.
//! - [`AuthServer`]: every operation as a thin driver: read the clock once,
//!   load, call the operation's pure decision, write. Its client
//!   lifecycle methods (list, enable/disable, remove, rotate a secret with
//!   an overlap: [`AuthServer::rotate_client_secret`]) are for operators.
//! - [`issue`], [`authorize`], [`introspect`], [`bearer`]: the operations'
//!   public types (token requests and answers, the authorization request,
//!   introspection answers, bearer principals); the decisions themselves,
//!   with those of code exchange, refresh and revocation, and the grant
//!   policy they share (scope, audience, lifetimes), are internal pure
//!   functions.
//! - [`http`]: the request/response values the endpoints take and give.
//! - [`limiter`]: the token-fishing limiter.
//! - [`metadata`]: the RFC 8414 metadata document.
//! - [`audit`]: the typed audit events and the sink that receives them.
//! - [`feed`]: the revocation feed resource servers read to drop cached
//!   answers at once.
//! - [`time`]: the clock.
//!
//! # Example
//! ```
//! use gatehouse_core::model::{Client, ClientId, GrantType, Resource, Scope, SecretDigest};
//! use gatehouse_core::{AuthServer, ClientRegistry, Config, HttpRequest, Keyring};
//! use gatehouse_memory::MemoryStore;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let server = AuthServer::new(MemoryStore::new(), Keyring::random()?, Config::new("https://auth.example"));
//! let api = Resource::new("https://api.example")?;
//!
//! // A client that gets tokens for the API...
//! let (app_secret, digest) = SecretDigest::generate()?;
//! let app = Client::new_confidential(ClientId::new("app")?, digest)
//!     .with_grants([GrantType::ClientCredentials])
//!     .with_scope(Scope::parse("read write")?, Scope::parse("read")?)
//!     .with_audiences([api.clone()]);
//! server.store().put_client(app).await?;
//! // ...and the API itself, a resource server that may introspect them.
//! let (rs_secret, digest) = SecretDigest::generate()?;
//! server.store().put_client(Client::new_resource_server(ClientId::new("api")?, digest, [api])).await?;
//!
//! // The client asks for a token (client_secret_post)...
//! let body = format!("grant_type=client_credentials&client_id=app&client_secret={app_secret}");
//! let response = server.token_endpoint(HttpRequest::form_post(body.as_bytes())).await;
//! assert_eq!(response.status, 200);
//! let token = response.json_body()?["access_token"].as_str().unwrap().to_owned();
//!
//! // ...and the API introspects it with its own credentials.
//! let body = format!("token={token}&client_id=api&client_secret={rs_secret}");
//! let answer = server.introspection_endpoint(HttpRequest::form_post(body.as_bytes())).await;
//! assert_eq!(answer.json_body()?["active"], true);
//! assert_eq!(answer.json_body()?["scope"], "read");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]

pub mod audit;
pub mod authorize;
mod b64;
pub mod bearer;
mod client_admin;
mod client_auth;
mod config;
mod crypto;
mod error;
mod exchange;
pub mod feed;
mod form;
mod hex;
pub mod http;
pub mod introspect;
pub mod issue;
mod join;
mod json;
pub mod limiter;
pub mod metadata;
pub mod model;
mod policy;
mod revoke;
mod scan;
mod server;
pub mod store;
pub mod time;
pub mod token_format;

pub use audit::{AuditEvent, AuditSink, NoAudit};
pub use authorize::{AuthorizationCheck, AuthorizationRequest, ValidatedAuthorization};
pub use bearer::{BearerError, Principal, TokenId};
pub use client_admin::SecretRotation;
pub use client_auth::{ClientCredentials, PresentedSecret};
pub use config::Config;
pub use crypto::{constant_time_eq, RandomError, RandomSecret};
pub use error::Error;
pub use feed::{FeedEvent, RevocationFeed};
pub use http::{Header, HttpRequest, HttpResponse};
pub use introspect::{InactiveReason, Introspection};
pub use issue::IssuedTokens;
pub use limiter::{Admission, FishingLimiter, LimiterConfig, MemoryLimiter};
pub use metadata::{Endpoints, Metadata};
pub use server::AuthServer;
pub use store::{ClientPage, ClientRegistry, Consumed, RevokeScope, StoreError, TokenStore};
pub use time::{Clock, ManualClock, SystemClock, UnixTime};
pub use token_format::{KeyId, Keyring, RawToken};
