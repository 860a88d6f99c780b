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
/// client may use each of them, or all of the client's when none were named.
pub(crate) fn grant_audience(client: &Client, requested: &[&str]) -> Result<Arc<[Resource]>, Error> {
    if requested.is_empty() {
        return Ok(client.audiences.clone());
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
