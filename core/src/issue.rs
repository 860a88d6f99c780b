//! Issuing tokens: the `client_credentials` grant (RFC 6749 §4.4).

use std::sync::Arc;

use crate::limiter::FishingLimiter;
use crate::model::{
    Client, GrantId, GrantType, Jti, Resource, Scope, TokenKind, TokenRecord, TokenState, GRANT_ID_RANDOM_LEN,
};
use crate::server::AuthServer;
use crate::store::{ClientRegistry, TokenStore};
use crate::token_format::RawToken;
use crate::{crypto, json, Error, UnixTime};

/// What the token endpoint hands back (RFC 6749 §5.1).
#[derive(Debug)]
#[non_exhaustive]
pub struct IssuedTokens {
    /// The access token.
    pub access_token: RawToken,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The scope granted.
    pub scope: Scope,
    /// A refresh token, for grants that issue one.
    pub refresh_token: Option<RawToken>,
}

impl IssuedTokens {
    /// The RFC 6749 §5.1 JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        let mut body = json::Object::with_capacity(384);
        body.str("access_token", self.access_token.expose())
            .str("token_type", "Bearer")
            .u64("expires_in", self.expires_in);
        if !self.scope.is_empty() {
            body.str("scope", self.scope.as_str());
        }
        if let Some(r) = &self.refresh_token {
            body.str("refresh_token", r.expose());
        }
        body.finish()
    }
}

/// The scope to grant: the requested one if it is within the client's
/// (RFC 6749 §3.3), or the client's default when none was requested.
pub(crate) fn grant_scope(client: &Client, requested: Option<&str>) -> Result<Scope, Error> {
    match requested {
        None => Ok(client.default_scope.clone()),
        Some(s) => {
            let scope = Scope::parse(s).map_err(|_| Error::InvalidScope("scope is malformed"))?;
            if !scope.is_subset_of(&client.scope) {
                return Err(Error::InvalidScope("scope exceeds what the client may request"));
            }
            Ok(scope)
        }
    }
}

/// The audience to grant (RFC 8707 §2): the requested resources if the
/// client may use each of them. With none named, the client's default
/// audience, or its only one; never all of several, since a token valid at
/// every API could be replayed by one at another (RFC 9700 §2.3).
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

impl<S: TokenStore + ClientRegistry, L: FishingLimiter> AuthServer<S, L> {
    /// The `client_credentials` grant for an authenticated client, with an
    /// optional requested scope and RFC 8707 `resource`s.
    ///
    /// # Errors
    /// `unauthorized_client` for a public client or one not registered for
    /// the grant; `invalid_scope`; `invalid_target`; [`Error::Store`] or
    /// [`Error::Random`] (no token is returned unless it was stored).
    pub async fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
        resources: &[&str],
    ) -> Result<IssuedTokens, Error> {
        // RFC 6749 §4.4: only confidential clients may use this grant.
        if !client.is_confidential() {
            return Err(Error::UnauthorizedClient("public clients may not use client_credentials"));
        }
        if !client.grant_types.contains(GrantType::ClientCredentials) {
            return Err(Error::UnauthorizedClient("the client may not use client_credentials"));
        }
        let scope = grant_scope(client, scope)?;
        let audience = grant_audience(client, resources)?;
        // One reading of the clock: the grant id's time and `iat` agree.
        let millis = self.clock.now_millis();
        let now = UnixTime(millis / 1000);
        let ttl = self.config.access_token_ttl;
        // One call to the OS random source for the grant id's random part,
        // the jti and the token's 256 bits (each is a system call).
        let fresh: [u8; GRANT_ID_RANDOM_LEN + 16 + 32] = crypto::random_bytes()?;
        let (grant_random, rest) = fresh.split_at(GRANT_ID_RANDOM_LEN);
        let (jti_bytes, secret) = rest.split_at(16);
        let mut grant = [0u8; GRANT_ID_RANDOM_LEN];
        grant.copy_from_slice(grant_random);
        let mut jti = [0u8; 16];
        jti.copy_from_slice(jti_bytes);
        let mut random = [0u8; 32];
        random.copy_from_slice(secret);
        // Time-ordered, so a store's inserts append (see `time_ordered`).
        let grant = GrantId::time_ordered(millis, &grant);
        let (token, digest) = self.keys.mint_from(TokenKind::Access, grant, &random);
        let record = TokenRecord {
            digest,
            kind: TokenKind::Access,
            client_id: client.id.clone(),
            subject: None,
            scope: scope.clone(),
            audience,
            issued_at: now,
            not_before: now,
            expires_at: now.plus(ttl),
            jti: Jti::from_bytes(jti),
            state: TokenState::Active,
            code: None,
        };
        self.store.insert(record).await?;
        Ok(IssuedTokens { access_token: token, expires_in: ttl, scope, refresh_token: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ClientId;

    fn res(s: &str) -> Resource {
        Resource::new(s).unwrap()
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
}
