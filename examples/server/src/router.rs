//! Every route of the example, on gatehouse-axum's router.

use std::sync::Arc;

use axum::Router;
use gatehouse_axum::Gatehouse;
use gatehouse_core::{AuthServer, ClientRegistry, FishingLimiter, RevocationFeed, TokenStore};

use crate::consent::DemoPages;
use crate::login::DemoUsers;

/// Every route of the example:
///
/// - gatehouse-axum's [`Gatehouse::router`]: `POST /oauth/token`,
///   `/oauth/introspect`, `/oauth/revoke`, `/oauth/events` (the revocation
///   feed resource servers long-poll; any other method gets the core's
///   405 with `Allow: POST`), `GET /.well-known/oauth-authorization-server`,
///   and `GET`/`POST /oauth/authorize` around the demo login and consent
///   page (the `consent` module), which checks logins against `users`;
/// - `GET /demo/callback`: the demo client's redirect URI;
/// - `GET /api/me`: the protected API ([`API_RESOURCE`](crate::API_RESOURCE));
/// - `GET /health/live`, `/health/ready`: health checks ([`crate::health`]).
///
/// # Errors
/// [`gatehouse_axum::Error`] when the server's config is not valid (the
/// metadata document cannot be built from it).
pub fn router<S: TokenStore + ClientRegistry, L: FishingLimiter>(
    server: Arc<AuthServer<S, L>>,
    users: Arc<DemoUsers>,
    feed: RevocationFeed,
) -> Result<Router, gatehouse_axum::Error> {
    let pages = DemoPages::new(&server.config().issuer, users);
    let gatehouse = Gatehouse::new(Arc::clone(&server)).with_consent(pages).with_feed(feed);
    Ok(gatehouse
        .router()?
        .merge(crate::api::routes(&gatehouse)?)
        .merge(crate::consent::callback_routes())
        .merge(crate::health::routes::<S, L>().with_state(server)))
}
