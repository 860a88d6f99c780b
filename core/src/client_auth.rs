//! Client authentication (RFC 6749 §2.3): client_secret_basic,
//! client_secret_post, and none for public clients.
//!
//! Unknown client, wrong secret, disabled client and wrong method all end in
//! the same `invalid_client`, after the same work: the presented secret is
//! always digested and compared against a digest (a fixed dummy when there
//! is no client to compare with), in constant time.

use std::fmt;

use crate::form::{AuthorizationHeader, Form};
use crate::model::{Client, ClientAuth, ClientId, SecretDigest};
use crate::store::ClientRegistry;
use crate::Error;

/// A client secret as presented in a request. `Debug` never prints it.
#[derive(Clone)]
pub struct PresentedSecret(String);

impl PresentedSecret {
    /// Wraps a presented secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
}

impl fmt::Debug for PresentedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresentedSecret(<redacted>)")
    }
}

/// The credentials a request carried, and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientCredentials {
    /// `client_secret_basic`: HTTP Basic.
    Basic {
        /// The client id.
        id: String,
        /// The secret.
        secret: PresentedSecret,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post {
        /// The client id.
        id: String,
        /// The secret.
        secret: PresentedSecret,
    },
    /// `none`: a public client identifying itself by `client_id` only.
    None {
        /// The client id.
        id: String,
    },
}

impl ClientCredentials {
    fn used_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// Reads the credentials from the header and the form. More than one
/// method in one request is `invalid_request` (RFC 6749 §2.3).
pub(crate) fn extract(header: AuthorizationHeader, form: &Form<'_>) -> Result<ClientCredentials, Error> {
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    match header {
        AuthorizationHeader::Basic { id, secret } => {
            if body_secret.is_some() {
                return Err(Error::InvalidRequest("more than one client authentication method"));
            }
            // Some clients repeat client_id in the body; tolerate only the
            // same id.
            if body_id.is_some_and(|b| b != id) {
                return Err(Error::InvalidRequest("client_id differs from the Basic credentials"));
            }
            Ok(ClientCredentials::Basic { id, secret: PresentedSecret(secret) })
        }
        // RFC 6749 §5.2: a client that "attempted to authenticate via the
        // Authorization request header field" gets 401 with a challenge,
        // whatever its scheme. The challenge names Basic, the one scheme
        // this endpoint accepts (RFC 9110 §11.6.1: a challenge names a
        // scheme applicable to the resource); echoing `Bearer` or `Digest`
        // back would invite a retry that can never succeed.
        AuthorizationHeader::Other => Err(Error::InvalidClient { basic: true }),
        AuthorizationHeader::Absent => match (body_id, body_secret) {
            (Some(id), Some(secret)) => {
                Ok(ClientCredentials::Post { id: id.to_owned(), secret: PresentedSecret(secret.to_owned()) })
            }
            (Some(id), None) => Ok(ClientCredentials::None { id: id.to_owned() }),
            (None, Some(_)) => Err(Error::InvalidRequest("client_secret without client_id")),
            (None, None) => Err(Error::InvalidClient { basic: false }),
        },
    }
}

/// A digest nobody's secret has: what an unknown client's secret is
/// compared against, so that path does the same work as a wrong secret.
fn dummy_digest() -> &'static SecretDigest {
    static DUMMY: std::sync::OnceLock<SecretDigest> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| SecretDigest::of_presented("gatehouse: no client has this secret"))
}

/// Authenticates a client. See the module docs for what "the same work"
/// covers.
///
/// # Errors
/// [`Error::InvalidClient`] for every authentication failure;
/// [`Error::Store`] when the registry fails.
pub(crate) async fn authenticate<R: ClientRegistry>(
    registry: &R,
    creds: &ClientCredentials,
) -> Result<Client, Error> {
    let fail = Error::InvalidClient { basic: creds.used_basic() };
    let (id, presented) = match creds {
        ClientCredentials::Basic { id, secret } | ClientCredentials::Post { id, secret } => {
            (id, Some(SecretDigest::of_presented(&secret.0)))
        }
        ClientCredentials::None { id } => (id, None),
    };
    // An id that is not even well-formed cannot be registered: look up
    // nothing, but still compare below.
    let client = match ClientId::new(id) {
        Ok(cid) => registry.client(&cid).await?,
        Err(_) => None,
    };
    let stored = match client.as_ref().map(|c| &c.auth) {
        Some(ClientAuth::Confidential { secret, .. }) => Some(secret),
        _ => None,
    };
    let secret_ok = match &presented {
        Some(p) => {
            let ok = p.matches(stored.unwrap_or_else(|| dummy_digest()));
            ok && stored.is_some()
        }
        // `none` is only for clients without a secret.
        None => client.as_ref().is_some_and(|c| matches!(c.auth, ClientAuth::Public)),
    };
    match client {
        Some(c) if secret_ok && c.enabled => Ok(c),
        _ => Err(fail),
    }
}
