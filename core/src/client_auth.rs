//! Client authentication (RFC 6749 §2.3): client_secret_basic,
//! client_secret_post, and none for public clients.
//!
//! Unknown client, malformed client id, wrong secret, disabled client and
//! wrong method all end in the same `invalid_client`, after the same work,
//! so that neither the answer nor its timing tells which client ids exist:
//!
//! - exactly one registry lookup, whatever the id: a malformed id (one that
//!   [`ClientId::new`] refuses: empty, too long, not printable ASCII) is
//!   looked up as an id no client can be registered under
//!   (`ClientId::lookup_key`), so it costs what an unknown id costs;
//! - with a secret (Basic or post), exactly one digest of the presented
//!   secret and two constant-time comparisons: against the client's
//!   digest and against its previous secret's (during a rotation's
//!   overlap), each replaced by a fixed dummy digest when there is no such
//!   secret to compare with; with `none`, neither. Whether a previous
//!   secret exists, or is past its deadline, changes no work.
//!
//! What the lookup costs is the registry's part: [`ClientRegistry::client`]
//! requires a registered and an unregistered id to cost the same (each
//! backend clones a stand-in record on a miss rather than returning at
//! once). The `client_timing` bench of `gatehouse-conformance` measures the
//! whole against the memory and SQLite stores (see the README's
//! "Client ids and timing").
//!
//! What may differ is what the caller chose and so already knows: the
//! length of the id and of the secret, and the method.

use std::fmt;

use crate::audit::AuthMethod;
use crate::error::Error;
use crate::form::{AuthorizationHeader, Form};
use crate::model::{Client, ClientAuth, ClientId, SecretDigest};
use crate::store::{ClientRegistry, StoreError};
use crate::time::UnixTime;

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
    /// The same credentials, borrowed.
    pub(crate) fn presented(&self) -> Presented<'_> {
        match self {
            Self::Basic { id, secret } => {
                Presented { method: AuthMethod::ClientSecretBasic, id, secret: Some(&secret.0) }
            }
            Self::Post { id, secret } => {
                Presented { method: AuthMethod::ClientSecretPost, id, secret: Some(&secret.0) }
            }
            Self::None { id } => Presented { method: AuthMethod::None, id, secret: None },
        }
    }
}

/// Credentials borrowed from where they were read (the request, or a
/// [`ClientCredentials`]): the endpoints authenticate without copying the id
/// and the secret into `String`s. `Debug` never prints the secret.
#[derive(Clone, Copy)]
pub(crate) struct Presented<'a> {
    /// `ClientSecretBasic`, `ClientSecretPost` or `None`, and nothing else.
    pub(crate) method: AuthMethod,
    /// The client id, as sent.
    pub(crate) id: &'a str,
    /// The secret, for the two secret methods.
    secret: Option<&'a str>,
}

impl fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presented")
            .field("method", &self.method)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Presented<'_> {
    fn used_basic(&self) -> bool {
        self.method == AuthMethod::ClientSecretBasic
    }
}

/// Why [`authenticate`] did not return a client.
#[derive(Debug)]
pub(crate) enum AuthFailure {
    /// The credentials were refused: `invalid_client`.
    Rejected {
        /// See [`Error::InvalidClient`].
        basic: bool,
        /// The presented id, when it is well-formed (for the audit trail;
        /// it was built for the lookup anyway, so keeping it costs nothing
        /// that depends on the id).
        client: Option<ClientId>,
    },
    /// The registry failed.
    Store(StoreError),
}

impl From<AuthFailure> for Error {
    fn from(f: AuthFailure) -> Self {
        match f {
            AuthFailure::Rejected { basic, .. } => Error::InvalidClient { basic },
            AuthFailure::Store(e) => Error::Store(e),
        }
    }
}

/// Reads the credentials from the header and the form. More than one
/// method in one request is `invalid_request` (RFC 6749 §2.3).
pub(crate) fn extract<'h>(
    header: &'h AuthorizationHeader<'_>,
    form: &'h Form<'_>,
) -> Result<Presented<'h>, Error> {
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
            Ok(Presented { method: AuthMethod::ClientSecretBasic, id, secret: Some(secret) })
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
                Ok(Presented { method: AuthMethod::ClientSecretPost, id, secret: Some(secret) })
            }
            (Some(id), None) => Ok(Presented { method: AuthMethod::None, id, secret: None }),
            (None, Some(_)) => Err(Error::InvalidRequest("client_secret without client_id")),
            (None, None) => Err(Error::InvalidClient { basic: false }),
        },
    }
}

/// Authenticates a client at time `now` (which decides whether a previous
/// secret is still accepted). See the module docs for what "the same work"
/// covers.
///
/// # Errors
/// [`AuthFailure::Rejected`] for every authentication failure;
/// [`AuthFailure::Store`] when the registry fails.
pub(crate) async fn authenticate<R: ClientRegistry>(
    registry: &R,
    creds: Presented<'_>,
    now: UnixTime,
) -> Result<Client, AuthFailure> {
    let (id, presented) = (creds.id, creds.secret.map(SecretDigest::of_presented));
    // Every id is looked up, a malformed one too, as an id nobody has: see
    // the module docs.
    let (lookup, well_formed) = ClientId::lookup_key(id);
    let client = registry.client(&lookup).await.map_err(AuthFailure::Store)?;
    let (stored, previous) = match client.as_ref().map(|c| &c.auth) {
        Some(ClientAuth::Confidential { secret, previous, .. }) => (Some(secret), previous.as_ref()),
        _ => (None, None),
    };
    let secret_ok = match &presented {
        Some(p) => {
            // Both comparisons always run, and are combined without short
            // circuits: whether the client has a previous secret, or which
            // one matched, changes no work.
            let current = p.matches(stored.unwrap_or(&SecretDigest::NOBODY));
            let old = p.matches(previous.map_or(&SecretDigest::NOBODY, |o| &o.secret));
            let old_live = previous.is_some_and(|o| now < o.until);
            (current | (old & old_live)) & stored.is_some()
        }
        // `none` is only for clients without a secret.
        None => client.as_ref().is_some_and(|c| matches!(c.auth, ClientAuth::Public)),
    };
    match client {
        // `well_formed` only guards against a registry that would answer
        // for an id no client can have.
        Some(c) if secret_ok && c.enabled && well_formed => Ok(c),
        _ => Err(AuthFailure::Rejected { basic: creds.used_basic(), client: well_formed.then_some(lookup) }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;
    use std::future::{ready, Future};
    use std::pin::pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::crypto::work;
    use crate::store::{ClientPage, StoreError};

    /// A registry that counts its lookups.
    #[derive(Default)]
    struct Counting {
        clients: Mutex<HashMap<ClientId, Client>>,
        lookups: AtomicUsize,
    }

    impl ClientRegistry for Counting {
        fn client(&self, id: &ClientId) -> impl Future<Output = Result<Option<Client>, StoreError>> + Send {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            ready(Ok(self.clients.lock().unwrap().get(id).cloned()))
        }

        fn put_client(&self, client: Client) -> impl Future<Output = Result<(), StoreError>> + Send {
            self.clients.lock().unwrap().insert(client.id.clone(), client);
            ready(Ok(()))
        }

        fn remove_client(&self, id: &ClientId) -> impl Future<Output = Result<bool, StoreError>> + Send {
            ready(Ok(self.clients.lock().unwrap().remove(id).is_some()))
        }

        fn list_clients(
            &self,
            _: Option<&ClientId>,
            _: usize,
        ) -> impl Future<Output = Result<ClientPage, StoreError>> + Send {
            ready(Err(StoreError::Conflict)) // not used by these tests
        }

        fn seeded_at(&self) -> impl Future<Output = Result<Option<UnixTime>, StoreError>> + Send {
            ready(Ok(None))
        }

        fn set_seeded_at(&self, _: UnixTime) -> impl Future<Output = Result<(), StoreError>> + Send {
            ready(Ok(()))
        }
    }

    fn now<F: Future>(f: F) -> F::Output {
        match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the counting registry is always ready"),
        }
    }

    const SECRET: &str = "the-right-secret-of-at-least-32-bytes";
    const OLD: &str = "the-old-secret-of-at-least-32-bytes!";
    /// When the tests authenticate; the rotated client's old secret is
    /// accepted until `AT + 10`.
    const AT: UnixTime = UnixTime(1_000);
    const WRONG: &str = "a-wrong-secret-of-the-same-length-xx";

    fn registry() -> Counting {
        let r = Counting::default();
        let digest = SecretDigest::from_secret(SECRET).unwrap();
        now(r.put_client(Client::new_confidential(ClientId::new("known").unwrap(), digest))).unwrap();
        now(r.put_client(Client::new_public(ClientId::new("native").unwrap()))).unwrap();
        let old =
            Client::new_confidential(ClientId::new("rotated").unwrap(), SecretDigest::of_presented(OLD));
        let rotated = old.with_rotated_secret(SecretDigest::of_presented(SECRET), AT.plus(10), AT).unwrap();
        now(r.put_client(rotated)).unwrap();
        r
    }

    /// Ids nobody registered: one well-formed, and one per rule
    /// `ClientId::new` enforces.
    fn unregistered() -> Vec<String> {
        vec![
            "unknown".into(),
            String::new(),
            " known".into(),
            "known ".into(),
            "kno\nwn".into(),
            "knöwn".into(),
            "k".repeat(256),
            "k".repeat(100_000),
        ]
    }

    /// Authenticates and returns (succeeded, lookups, digests, comparisons).
    fn work_of(r: &Counting, creds: &ClientCredentials) -> (bool, usize, usize, usize) {
        r.lookups.store(0, Ordering::Relaxed);
        let _ = work::take();
        let ok = match now(authenticate(r, creds.presented(), AT)).map_err(Error::from) {
            Ok(_) => true,
            Err(Error::InvalidClient { .. }) => false,
            Err(e) => panic!("unexpected error {e:?}"),
        };
        let (digests, comparisons) = work::take();
        (ok, r.lookups.load(Ordering::Relaxed), digests, comparisons)
    }

    fn basic(id: &str, secret: &str) -> ClientCredentials {
        ClientCredentials::Basic { id: id.into(), secret: PresentedSecret::new(secret) }
    }

    /// A known id with a wrong secret, a client with or without a previous
    /// secret, an unknown id and every kind of malformed id each cost one
    /// lookup, one digest and two comparisons: the work that lets timing
    /// tell them apart is not there.
    #[test]
    fn presented_credentials_never_show_the_secret() {
        let creds = basic("known", SECRET);
        let shown = format!("{:?} {:?}", creds.presented(), creds);
        assert!(shown.contains("known") && shown.contains("ClientSecretBasic"), "{shown}");
        assert!(!shown.contains(SECRET), "{shown}");
    }

    #[test]
    fn every_attempt_with_a_secret_costs_one_lookup_one_digest_two_comparisons() {
        let r = registry();
        assert_eq!(work_of(&r, &basic("known", SECRET)), (true, 1, 1, 2));
        assert_eq!(work_of(&r, &basic("known", WRONG)), (false, 1, 1, 2));
        assert_eq!(work_of(&r, &basic("rotated", SECRET)), (true, 1, 1, 2));
        assert_eq!(work_of(&r, &basic("rotated", OLD)), (true, 1, 1, 2));
        assert_eq!(work_of(&r, &basic("rotated", WRONG)), (false, 1, 1, 2));
        // A public client presenting a secret is compared with the dummy.
        assert_eq!(work_of(&r, &basic("native", WRONG)), (false, 1, 1, 2));
        for id in unregistered() {
            assert_eq!(work_of(&r, &basic(&id, WRONG)), (false, 1, 1, 2), "id of {} bytes", id.len());
            let post = ClientCredentials::Post { id: id.clone(), secret: PresentedSecret::new(WRONG) };
            assert_eq!(work_of(&r, &post), (false, 1, 1, 2), "id of {} bytes", id.len());
        }
    }

    fn authenticates_at(r: &Counting, id: &str, secret: &str, at: UnixTime) -> bool {
        let _ = work::take();
        let ok = now(authenticate(r, basic(id, secret).presented(), at)).is_ok();
        // The same work at every time, before and after the deadline.
        assert_eq!(work::take(), (1, 2), "{id} at {at:?}");
        ok
    }

    /// After a rotation the new secret works at once; the old one until
    /// the deadline (exclusive), then never; a wrong one never.
    #[test]
    fn a_previous_secret_works_until_its_deadline_then_never() {
        let r = registry();
        let deadline = AT.plus(10);
        for at in [AT, deadline.minus(1)] {
            assert!(authenticates_at(&r, "rotated", SECRET, at));
            assert!(authenticates_at(&r, "rotated", OLD, at), "old secret refused at {at:?}");
            assert!(!authenticates_at(&r, "rotated", WRONG, at));
        }
        for at in [deadline, deadline.plus(1), UnixTime(u64::MAX)] {
            assert!(authenticates_at(&r, "rotated", SECRET, at));
            assert!(!authenticates_at(&r, "rotated", OLD, at), "old secret accepted at {at:?}");
        }
        // A disabled client is refused with either secret.
        let mut off = now(r.client(&ClientId::new("rotated").unwrap())).unwrap().unwrap();
        off.enabled = false;
        now(r.put_client(off)).unwrap();
        assert!(!authenticates_at(&r, "rotated", SECRET, AT));
        assert!(!authenticates_at(&r, "rotated", OLD, AT));
    }

    /// A deadline not after the rotation keeps no previous secret; a
    /// second rotation drops the first one's; a public client has no
    /// secret to rotate.
    #[test]
    fn rotation_keeps_at_most_one_previous_secret() {
        let c = Client::new_confidential(ClientId::new("c").unwrap(), SecretDigest::of_presented(OLD));
        let at_once = c.with_rotated_secret(SecretDigest::of_presented(SECRET), AT, AT).unwrap();
        assert!(matches!(at_once.auth, ClientAuth::Confidential { previous: None, .. }));
        let third = "the-third-secret-of-at-least-32-bytes";
        let twice = c
            .with_rotated_secret(SecretDigest::of_presented(SECRET), AT.plus(10), AT)
            .unwrap()
            .with_rotated_secret(SecretDigest::of_presented(third), AT.plus(20), AT.plus(1))
            .unwrap();
        let ClientAuth::Confidential { secret, previous: Some(p), .. } = &twice.auth else {
            panic!("no previous secret: {twice:?}");
        };
        assert!(secret.verify(third) && p.secret.verify(SECRET) && !p.secret.verify(OLD));
        assert_eq!(p.until, AT.plus(20));
        let public = Client::new_public(ClientId::new("p").unwrap());
        assert!(public.with_rotated_secret(SecretDigest::of_presented(SECRET), AT.plus(10), AT).is_none());
    }

    /// `none` digests nothing, but still looks every id up.
    #[test]
    fn every_failure_without_a_secret_costs_one_lookup() {
        let r = registry();
        let none = |id: &str| ClientCredentials::None { id: id.into() };
        assert_eq!(work_of(&r, &none("native")), (true, 1, 0, 0));
        assert_eq!(work_of(&r, &none("known")), (false, 1, 0, 0));
        for id in unregistered() {
            assert_eq!(work_of(&r, &none(&id)), (false, 1, 0, 0), "id of {} bytes", id.len());
        }
    }

    /// A malformed id is looked up as an id no registration can have, at
    /// most 256 bytes long; a well-formed one as itself.
    #[test]
    fn malformed_ids_are_looked_up_as_ids_nobody_has() {
        let (id, ok) = ClientId::lookup_key("known");
        assert!(ok);
        assert_eq!(id, ClientId::new("known").unwrap());
        let mut inputs = unregistered();
        inputs.remove(0);
        // A multi-byte character across byte 256, after valid bytes.
        inputs.push(format!("{}é{}", "k".repeat(255), "k".repeat(10)));
        inputs.push(format!("{}é", "k".repeat(254)));
        for s in inputs {
            let (id, ok) = ClientId::lookup_key(&s);
            assert!(!ok);
            assert!(ClientId::new(id.as_str()).is_err(), "{} bytes became a valid id", s.len());
            assert!(id.as_str().len() <= 256);
        }
        // A registry that answers for such an id does not let it in.
        let r = registry();
        let (stray, _) = ClientId::lookup_key("k\u{1}");
        let digest = SecretDigest::from_secret(SECRET).unwrap();
        r.clients.lock().unwrap().insert(stray.clone(), Client::new_confidential(stray, digest));
        assert_eq!(work_of(&r, &basic("k\u{1}", SECRET)), (false, 1, 1, 2));
    }
}
