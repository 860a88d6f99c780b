#![doc = include_str!("../README.md")]
//!
//! ## The crate
//!
//! An app serves the OAuth 2.0 endpoints of
//! an embedded [`AuthServer`](gatehouse_core::AuthServer) by merging one
//! [`Router`](axum::Router), and guards its own routes with the tokens it
//! issues by adding one layer.
//!
//! - [`Gatehouse`]: the router builder, generic over the store and the
//!   limiter. [`Gatehouse::router`] serves the token (RFC 6749 §3.2),
//!   introspection (RFC 7662) and revocation (RFC 7009) endpoints and the
//!   RFC 8414 metadata document (with `ETag` and `304`), and, with a
//!   [`Consent`], the authorization endpoint of the code flow. Bodies are
//!   read only up to the core's
//!   [`max_body_bytes`](gatehouse_core::Config::max_body_bytes).
//! - [`Consent`], [`Prompt`], [`Decision`]: the hook for the app's own
//!   login and consent pages; the crate does the protocol around them.
//! - [`RequireBearer`] (from [`Gatehouse::require`], or
//!   [`RequireBearer::new`] over any [`ValidateBearer`]) and [`Bearer`]: a
//!   tower layer that lets only requests with a valid bearer token for an
//!   audience and scope through, answering RFC 6750 errors itself, and the
//!   extractor that hands the route the token's
//!   [`Principal`](gatehouse_core::Principal), whether the token was
//!   checked in process or by a remote authorization server.
//! - [`Paths`]: where the endpoints are mounted.
//!
//! Each request to these routes runs in one `tracing` span,
//! `gatehouse.request`, with the fields `endpoint`, `method`, `status`,
//! and for a guarded route `error` or `client_id`; never a header, body,
//! query or token.
//!
//! # Example
//! ```
//! use axum::body::Body;
//! use axum::http::Request;
//! use axum::routing::get;
//! use axum::Router;
//! use gatehouse_axum::{Bearer, Gatehouse};
//! use gatehouse_core::model::{Client, ClientId, GrantType, Resource, Scope, SecretDigest};
//! use gatehouse_core::{AuthServer, ClientRegistry, Config, Keyring};
//! use gatehouse_memory::MemoryStore;
//! use http_body_util::BodyExt as _;
//! use tower::ServiceExt as _;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = AuthServer::new(MemoryStore::new(), Keyring::random()?, Config::new("https://auth.example"));
//! let (secret, digest) = SecretDigest::generate()?;
//! let client = Client::new_confidential(ClientId::new("app")?, digest)
//!     .with_grants([GrantType::ClientCredentials])
//!     .with_scope(Scope::parse("read")?, Scope::parse("read")?)
//!     .with_audiences([Resource::new("https://api.example")?]);
//! server.store().put_client(client).await?;
//!
//! let gatehouse = Gatehouse::new(server);
//! let me = get(|Bearer(p): Bearer| async move { p.client_id.as_str().to_owned() });
//! let app = Router::new()
//!     .route("/me", me.route_layer(gatehouse.require("https://api.example", "read")?))
//!     .merge(gatehouse.router()?);
//!
//! // The client gets a token...
//! let form = format!("grant_type=client_credentials&client_id=app&client_secret={secret}");
//! let req = Request::post("/oauth/token")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(Body::from(form))?;
//! let body = app.clone().oneshot(req).await?.into_body().collect().await?.to_bytes();
//! let token: serde_json::Value = serde_json::from_slice(&body)?;
//!
//! // ...and calls the protected route with it.
//! let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap_or_default());
//! let req = Request::get("/me").header("authorization", bearer).body(Body::empty())?;
//! let body = app.clone().oneshot(req).await?.into_body().collect().await?.to_bytes();
//! assert_eq!(body, "app");
//!
//! // Without one, the layer answers RFC 6750's 401 and its challenge.
//! let r = app.oneshot(Request::get("/me").body(Body::empty())?).await?;
//! assert_eq!(r.status(), 401);
//! assert_eq!(r.headers()["www-authenticate"], r#"Bearer realm="https://api.example""#);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod authorize;
mod bearer;
mod endpoints;
mod error;
mod feed;
mod metadata;
mod response;
mod router;
mod trace;

pub use authorize::{Consent, Decision, Prompt};
pub use bearer::{Bearer, RequireBearer, RequireBearerService, ValidateBearer};
pub use error::Error;
pub use router::{Gatehouse, Paths};
