//! gatehouse-axum's bearer layer backed by this client (feature `axum`):
//! a remote resource server's routes take the same
//! [`Bearer`](gatehouse_axum::Bearer) extractor and
//! [`Principal`] as a monolith's, and get the same refusals.
//!
//! [`CachedClient`] implements [`ValidateBearer`]: it reads the header by
//! the core's RFC 6750 rules ([`parse_bearer`]), asks the authorization
//! server (through the cache), and [`decide`]s. [`CachedClient::require`]
//! makes the layer, as `Gatehouse::require` does in process.

use std::sync::Arc;

use gatehouse_axum::{RequireBearer, ValidateBearer};
use gatehouse_core::bearer::parse_bearer;
use gatehouse_core::model::{ClientId, Resource, Scope, Subject};
use gatehouse_core::{BearerError, Header, Principal, StoreError, TokenId, UnixTime};

use crate::answer::{Claims, Introspection};
use crate::cached::CachedClient;
use crate::client::Introspect;
use crate::clock::Clock;
use crate::error::Error;

impl<I: Introspect, C: Clock> ValidateBearer for CachedClient<I, C> {
    async fn validate(
        &self,
        authorization: Header<'_>,
        audience: &Resource,
        scope: &Scope,
    ) -> Result<Principal, BearerError> {
        let token = parse_bearer(authorization)?;
        let answer = self.introspect(token).await;
        decide(answer.as_deref(), audience, scope)
    }
}

impl<I: Introspect, C: Clock> CachedClient<I, C> {
    /// A layer for the resource server's routes: only requests with a
    /// bearer token this client finds active for `audience` (a resource
    /// identifier, RFC 8707), granted every scope in `scope`
    /// (space-separated; empty for none), reach them. The same layer, with
    /// the same refusals, as `Gatehouse::require` makes in process; see
    /// [`decide`] for what this one answers.
    ///
    /// # Errors
    /// [`gatehouse_axum::Error::Requirement`] when `audience` or `scope` is
    /// not valid.
    pub fn require(
        self: &Arc<Self>,
        audience: &str,
        scope: &str,
    ) -> Result<RequireBearer<Self>, gatehouse_axum::Error> {
        RequireBearer::new(Arc::clone(self), audience, scope)
    }
}

/// The answer for a request whose token introspected as `answer`, at a
/// route for `audience` that requires every scope in `required`: the one
/// decision of the remote bearer layer, in this order.
///
/// 1. No answer ([`Error`] of any kind: network, timeout, a status other
///    than 200, an unparsable body): [`BearerError::Server`] with an
///    unavailable store, a 503 with `Retry-After`. Never a verdict on the
///    token: the authorization server could not be asked.
/// 2. `"active": false`: [`BearerError::InvalidToken`] (RFC 6750 §3.1).
/// 3. A `token_type` other than `Bearer` (any case): not an access token
///    (RFC 7662 §2.2), [`BearerError::InvalidToken`]. Without one, the
///    answer is taken as an access token's.
/// 4. An active answer the core's [`Principal`] cannot carry:
///    [`BearerError::Server`] with a failed store, a 500. RFC 7662 makes
///    every member optional, but a principal needs `client_id` and `exp`
///    ([`Error::MissingClaim`]); and a member that is present must fit its
///    core type, or the whole answer is refused rather than the member
///    skipped ([`Error::UnfitClaim`]): `client_id` a [`ClientId`], `sub` a
///    [`Subject`], `scope` a [`Scope`], each `aud` a [`Resource`] (an
///    absolute URI), `jti` a [`TokenId`]. An absent `scope` is the empty
///    scope; an absent `aud` names no resource.
/// 5. An audience without `audience`: [`BearerError::InvalidToken`]. RFC
///    7662 §4 leaves this check to the resource server; in process the
///    core makes it (an inactive token), with the same answer.
/// 6. A scope without every one in `required`:
///    [`BearerError::InsufficientScope`].
///
/// The authorization server decided expiry: an active answer is not
/// checked against this machine's clock (the cache never reuses one past
/// its `exp`).
///
/// # Errors
/// The [`BearerError`]s above.
pub fn decide(
    answer: Result<&Introspection, &Error>,
    audience: &Resource,
    required: &Scope,
) -> Result<Principal, BearerError> {
    let claims = match answer {
        Err(e) => return Err(server(StoreError::unavailable(e.clone()))),
        Ok(Introspection::Inactive) => return Err(BearerError::InvalidToken),
        Ok(Introspection::Active(claims)) => claims,
    };
    if claims.token_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
        return Err(BearerError::InvalidToken);
    }
    let principal = principal(claims).map_err(|e| server(StoreError::backend(e)))?;
    if !principal.audience.contains(audience) {
        return Err(BearerError::InvalidToken);
    }
    if !required.is_subset_of(&principal.scope) {
        return Err(BearerError::InsufficientScope { required: required.clone() });
    }
    Ok(principal)
}

/// The answer's claims as the core's types (rule 4 of [`decide`]).
fn principal(c: &Claims) -> Result<Principal, Error> {
    let client_id = c.client_id.as_deref().ok_or(Error::MissingClaim("client_id"))?;
    let client_id = ClientId::new(client_id).map_err(|_| Error::UnfitClaim("client_id"))?;
    let exp = c.exp.ok_or(Error::MissingClaim("exp"))?;
    let subject = c.sub.as_deref().map(Subject::new).transpose().map_err(|_| Error::UnfitClaim("sub"))?;
    let scope = Scope::parse(c.scope.as_deref().unwrap_or("")).map_err(|_| Error::UnfitClaim("scope"))?;
    let audience = c
        .aud
        .iter()
        .map(|a| Resource::new(a))
        .collect::<Result<Arc<[Resource]>, _>>()
        .map_err(|_| Error::UnfitClaim("aud"))?;
    let jti = c.jti.as_deref().map(TokenId::new).transpose().map_err(|_| Error::UnfitClaim("jti"))?;
    Ok(Principal::new(client_id, subject, scope, audience, UnixTime(exp), jti))
}

fn server(e: StoreError) -> BearerError {
    BearerError::Server(gatehouse_core::Error::Store(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::parse;

    const API: &str = "https://api.example";

    fn api() -> Resource {
        Resource::new(API).unwrap()
    }

    fn scope(s: &str) -> Scope {
        Scope::parse(s).unwrap()
    }

    /// The decision for this answer body, at a route for [`API`] requiring
    /// `required`.
    fn answer(body: &str, required: &str) -> Result<Principal, BearerError> {
        let answer = parse(200, body.as_bytes()).unwrap();
        decide(Ok(&answer), &api(), &scope(required))
    }

    fn active(extra: &str) -> String {
        format!(
            r#"{{"active":true,"client_id":"app","exp":1700,"aud":["{API}","https://b"],"scope":"write read"{extra}}}"#
        )
    }

    /// The status of a server error, and its cause's message.
    fn server_error(r: Result<Principal, BearerError>) -> (u16, String) {
        match r {
            Err(e @ BearerError::Server(_)) => {
                let BearerError::Server(gatehouse_core::Error::Store(s)) = &e else { unreachable!() };
                let cause = std::error::Error::source(s).map(ToString::to_string).unwrap_or_default();
                (e.status(), cause)
            }
            other => panic!("not a server error: {other:?}"),
        }
    }

    #[test]
    fn an_active_answer_is_the_cores_principal() {
        let jti = gatehouse_core::model::Jti::from_bytes([5; 16]);
        let p = answer(&active(&format!(r#","sub":"alice","jti":"{jti}","iss":"x""#)), "read").unwrap();
        assert_eq!((p.client_id.as_str(), p.subject.as_ref().map(Subject::as_str)), ("app", Some("alice")));
        assert_eq!((p.scope.as_str(), p.expires_at), ("read write", UnixTime(1700)));
        assert_eq!(p.audience.iter().map(Resource::as_str).collect::<Vec<_>>(), [API, "https://b"]);
        // A gatehouse jti is the core's own Jti, as in process.
        assert_eq!(p.jti.and_then(|t| t.jti()), Some(jti));
        // Another server's jti is carried as it is; without one, none.
        let p = answer(&active(r#","jti":"urn:uuid:1234""#), "").unwrap();
        assert_eq!(p.jti.map(|t| t.to_string()).as_deref(), Some("urn:uuid:1234"));
        assert_eq!(answer(&active(""), "").unwrap().jti, None);
        assert_eq!(answer(&active(r#","token_type":"bearer""#), "").unwrap().subject, None);
    }

    #[test]
    fn no_answer_is_a_503_never_a_verdict() {
        for e in [
            Error::Network("refused".into()),
            Error::Timeout(std::time::Duration::from_secs(5)),
            Error::Status(500),
            Error::Status(401),
            Error::NotJson,
            Error::Member("exp"),
        ] {
            let r = decide(Err(&e), &api(), &scope("read"));
            assert_eq!(server_error(r), (503, e.to_string()));
            let r = decide(Err(&e), &api(), &scope("read")).unwrap_err();
            assert_eq!((r.retry_after(), r.www_authenticate("api")), (Some(5), None));
        }
    }

    #[test]
    fn inactive_a_foreign_audience_and_not_an_access_token_are_invalid_tokens() {
        assert!(matches!(answer(r#"{"active":false}"#, ""), Err(BearerError::InvalidToken)));
        let r = answer(r#"{"active":true,"client_id":"app","exp":1,"aud":"https://other"}"#, "");
        assert!(matches!(r, Err(BearerError::InvalidToken)));
        // No audience at all: not known to be for this resource.
        let r = answer(r#"{"active":true,"client_id":"app","exp":1,"scope":"read"}"#, "");
        assert!(matches!(r, Err(BearerError::InvalidToken)));
        let r = answer(&active(r#","token_type":"refresh_token""#), "");
        assert!(matches!(r, Err(BearerError::InvalidToken)));
    }

    #[test]
    fn a_missing_scope_is_insufficient_scope() {
        let r = answer(&active(""), "read admin");
        let Err(BearerError::InsufficientScope { required }) = r else { panic!("{r:?}") };
        assert_eq!(required.as_str(), "admin read");
        let r = answer(&format!(r#"{{"active":true,"client_id":"app","exp":1,"aud":"{API}"}}"#), "read");
        assert!(matches!(r, Err(BearerError::InsufficientScope { .. })), "no scope is the empty scope");
    }

    #[test]
    fn an_answer_the_principal_cannot_carry_is_a_500() {
        let aud = format!(r#""aud":"{API}""#);
        for (body, cause) in [
            (format!(r#"{{"active":true,"exp":1,{aud}}}"#), Error::MissingClaim("client_id")),
            (format!(r#"{{"active":true,"client_id":"app",{aud}}}"#), Error::MissingClaim("exp")),
            (format!(r#"{{"active":true,"client_id":"","exp":1,{aud}}}"#), Error::UnfitClaim("client_id")),
            (active(r#","sub":"""#), Error::UnfitClaim("sub")),
            (active(r#","jti":"a\u0000b""#), Error::UnfitClaim("jti")),
            (
                format!(r#"{{"active":true,"client_id":"app","exp":1,{aud},"scope":"a\\b"}}"#),
                Error::UnfitClaim("scope"),
            ),
            // Keycloak's "account" is no resource indicator: refused, not
            // dropped from the audience the route is handed.
            (
                format!(r#"{{"active":true,"client_id":"app","exp":1,"aud":["{API}","account"]}}"#),
                Error::UnfitClaim("aud"),
            ),
        ] {
            assert_eq!(server_error(answer(&body, "")), (500, cause.to_string()), "{body}");
        }
    }
}
