//! The grant policy every operation shares: which client may use which
//! grant, what scope and audience it gets, how long its tokens live. Pure
//! functions over the client, the request and the time; each rule is here
//! once.

use std::sync::Arc;

use crate::error::Error;
use crate::model::{Client, GrantType, Resource, Scope};
use crate::time::UnixTime;

/// Whether `client` may use `grant` (RFC 6749 §5.2 `unauthorized_client`).
/// `client_credentials` is for confidential clients only (RFC 6749 §4.4).
///
/// # Errors
/// [`Error::UnauthorizedClient`].
pub(crate) fn permit_grant(client: &Client, grant: GrantType) -> Result<(), Error> {
    if grant == GrantType::ClientCredentials && !client.is_confidential() {
        return Err(Error::UnauthorizedClient("public clients may not use client_credentials"));
    }
    if !client.grant_types.contains(grant) {
        return Err(Error::UnauthorizedClient(match grant {
            GrantType::ClientCredentials => "the client may not use client_credentials",
            GrantType::AuthorizationCode => "the client may not use authorization_code",
            GrantType::RefreshToken => "the client may not use refresh_token",
        }));
    }
    Ok(())
}

/// The scope to grant: the requested one if it is within the client's
/// (RFC 6749 §3.3), or the client's default when none was requested.
///
/// # Errors
/// [`Error::InvalidScope`].
pub(crate) fn grant_scope(client: &Client, requested: Option<&str>) -> Result<Scope, Error> {
    match requested {
        None => Ok(client.default_scope.clone()),
        Some(s) => within(s, &client.scope, "scope exceeds what the client may request"),
    }
}

/// The scope of a refreshed access token: the grant's, or the requested one
/// if it is within it. RFC 6749 §6: the scope may narrow, never widen.
///
/// # Errors
/// [`Error::InvalidScope`].
pub(crate) fn narrow_scope(grant: &Scope, requested: Option<&str>) -> Result<Scope, Error> {
    match requested {
        None => Ok(grant.clone()),
        Some(s) => within(s, grant, "scope exceeds the original grant"),
    }
}

/// `requested`, parsed, if it is a subset of `limit`; otherwise
/// `invalid_scope` saying `exceeds`.
fn within(requested: &str, limit: &Scope, exceeds: &'static str) -> Result<Scope, Error> {
    let scope = Scope::parse(requested).map_err(|_| Error::InvalidScope("scope is malformed"))?;
    if !scope.is_subset_of(limit) {
        return Err(Error::InvalidScope(exceeds));
    }
    Ok(scope)
}

/// The audience to grant (RFC 8707 §2): the requested resources if the
/// client may use each of them. With none named, the client's default
/// audience, or its only one; never all of several, since a token valid at
/// every API could be replayed by one at another (RFC 9700 §2.3).
///
/// # Errors
/// [`Error::InvalidTarget`].
pub(crate) fn grant_audience(client: &Client, requested: &[&str]) -> Result<Arc<[Resource]>, Error> {
    if requested.is_empty() {
        return match (&client.default_audience, client.audiences.len()) {
            (Some(d), _) if client.audiences.contains(d) => Ok(Arc::from([d.clone()])),
            // Only a registry filled without `Client::validate` holds this.
            (Some(_), _) => {
                Err(Error::InvalidTarget("the client's default_audience is not one of its audiences"))
            }
            (None, 1) => Ok(client.audiences.clone()),
            (None, 0) => Err(Error::InvalidTarget("the client has no audience to request a token for")),
            (None, _) => Err(Error::InvalidTarget(
                "resource is required: the client has several audiences and no default_audience",
            )),
        };
    }
    let mut out: Vec<Resource> = Vec::with_capacity(requested.len());
    for r in requested {
        let res = Resource::new(r).map_err(|_| Error::InvalidTarget("resource must be an absolute URI"))?;
        if !client.audiences.contains(&res) {
            return Err(Error::InvalidTarget("the client may not request this resource"));
        }
        if !out.contains(&res) {
            out.push(res);
        }
    }
    Ok(out.into())
}

/// When a token minted at `now` expires: after `ttl`, but never after
/// `grant_end`, the end of the grant it belongs to (an access token never
/// outlives its refresh chain).
pub(crate) fn expiry(now: UnixTime, ttl: u64, grant_end: Option<UnixTime>) -> UnixTime {
    let end = now.plus(ttl);
    grant_end.map_or(end, |g| end.min(g))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientId, SecretDigest};

    fn res(s: &str) -> Resource {
        Resource::new(s).unwrap()
    }

    fn scope(s: &str) -> Scope {
        Scope::parse(s).unwrap()
    }

    fn confidential() -> Client {
        Client::new_confidential(ClientId::new("c").unwrap(), SecretDigest::generate().unwrap().1)
    }

    #[test]
    fn only_registered_grants_and_only_confidential_client_credentials() {
        let public = Client::new_public(ClientId::new("p").unwrap())
            .with_grants([GrantType::ClientCredentials, GrantType::AuthorizationCode]);
        assert!(matches!(
            permit_grant(&public, GrantType::ClientCredentials),
            Err(Error::UnauthorizedClient(m)) if m.starts_with("public")
        ));
        assert!(permit_grant(&public, GrantType::AuthorizationCode).is_ok());
        assert!(matches!(
            permit_grant(&public, GrantType::RefreshToken),
            Err(Error::UnauthorizedClient(m)) if m.ends_with("refresh_token")
        ));
        let service = confidential().with_grants([GrantType::ClientCredentials]);
        assert!(permit_grant(&service, GrantType::ClientCredentials).is_ok());
        assert!(permit_grant(&confidential(), GrantType::ClientCredentials).is_err());
    }

    #[test]
    fn requested_scope_within_the_clients_or_its_default() {
        let c = confidential().with_scope(scope("read write"), scope("read"));
        assert_eq!(grant_scope(&c, None).unwrap(), scope("read"));
        assert_eq!(grant_scope(&c, Some("write read")).unwrap(), scope("read write"));
        assert!(
            matches!(grant_scope(&c, Some("admin")), Err(Error::InvalidScope(m)) if m.contains("exceeds"))
        );
        assert!(
            matches!(grant_scope(&c, Some("a\"b")), Err(Error::InvalidScope(m)) if m.contains("malformed"))
        );
    }

    #[test]
    fn a_refresh_narrows_never_widens() {
        let grant = scope("read write");
        assert_eq!(narrow_scope(&grant, None).unwrap(), grant);
        assert_eq!(narrow_scope(&grant, Some("read")).unwrap(), scope("read"));
        assert!(matches!(
            narrow_scope(&grant, Some("read admin")),
            Err(Error::InvalidScope(m)) if m.contains("original grant")
        ));
    }

    #[test]
    fn audience_without_resource() {
        const API: &str = "https://api.example";
        const BILLING: &str = "https://billing.example";
        let (api, billing) = (res(API), res(BILLING));
        let c = Client::new_public(ClientId::new("c").unwrap());
        let names = |a: Arc<[Resource]>| a.iter().map(|r| r.as_str().to_owned()).collect::<Vec<_>>();
        let aud = |c: &Client| grant_audience(c, &[]).map(names);
        let one = c.clone().with_audiences([api.clone()]);
        assert_eq!(aud(&one).unwrap(), [API]);
        // Several audiences: never all of them (RFC 9700 §2.3).
        let two = c.clone().with_audiences([api, billing.clone()]);
        assert!(matches!(aud(&two), Err(Error::InvalidTarget(m)) if m.contains("resource is required")));
        let defaulted = two.with_default_audience(billing.clone());
        assert_eq!(aud(&defaulted).unwrap(), [BILLING]);
        // A named resource still wins over the default.
        assert_eq!(grant_audience(&defaulted, &[API]).map(names).unwrap(), [API]);
        assert!(matches!(aud(&c), Err(Error::InvalidTarget(_))));
        // A default that is not an audience (a registry filled without
        // validation) fails closed.
        let stray = one.with_default_audience(billing);
        assert!(matches!(aud(&stray), Err(Error::InvalidTarget(_))));
    }

    #[test]
    fn requested_resources_are_the_clients_and_deduplicated() {
        const API: &str = "https://api.example";
        let c = Client::new_public(ClientId::new("c").unwrap()).with_audiences([res(API)]);
        assert_eq!(grant_audience(&c, &[API, API]).unwrap().len(), 1);
        assert!(matches!(grant_audience(&c, &["https://other.example"]), Err(Error::InvalidTarget(_))));
        assert!(
            matches!(grant_audience(&c, &["not a uri"]), Err(Error::InvalidTarget(m)) if m.contains("absolute"))
        );
    }

    #[test]
    fn tokens_never_outlive_their_grant() {
        let now = UnixTime(1000);
        assert_eq!(expiry(now, 3600, None), UnixTime(4600));
        assert_eq!(expiry(now, 3600, Some(UnixTime(9000))), UnixTime(4600));
        assert_eq!(expiry(now, 3600, Some(UnixTime(1001))), UnixTime(1001));
    }
}
