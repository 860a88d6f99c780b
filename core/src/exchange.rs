//! Grants that trade a one-time token for new tokens: the authorization
//! code (RFC 6749 §4.1.3, RFC 7636 §4.6) and the rotating refresh token
//! (RFC 6749 §6, RFC 9700 §4.14.2).
//!
//! Both follow the same steps: verify the presented token, load it, decide
//! on the record (client, state, expiry, binding), then hand the store one
//! atomic `consume` that marks it used and stores its replacements. A token
//! that was already used is a replay: the whole grant is revoked, every
//! token issued from the code or the refresh chain with it.
//!
//! Two concurrent uses of one refresh token look exactly like a replay (one
//! of them may be the thief), so the loser's grant is revoked as well: the
//! winner's new tokens stop working too, and the user logs in again. That is
//! the strict reading of RFC 9700 §4.14.2; clients must not refresh in
//! parallel.

use crate::crypto;
use crate::issue::IssuedTokens;
use crate::limiter::FishingLimiter;
use crate::model::{Client, GrantType, Jti, Scope, TokenKind, TokenRecord, TokenState};
use crate::server::AuthServer;
use crate::store::{ClientRegistry, Consumed, TokenStore};
use crate::time::UnixTime;
use crate::Error;

/// When an access token minted at `now` expires: after `ttl`, but never
/// after `grant_end`, the end of the grant it belongs to.
fn access_expiry(now: UnixTime, ttl: u64, grant_end: Option<UnixTime>) -> UnixTime {
    let end = now.plus(ttl);
    grant_end.map_or(end, |g| end.min(g))
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

const BAD_GRANT: Error =
    Error::InvalidGrant("the grant is invalid, expired, revoked or was issued to another client");

impl<S: TokenStore + ClientRegistry, L: FishingLimiter> AuthServer<S, L> {
    /// Loads a presented one-time token of `kind` for `client`: every
    /// failure is the same `invalid_grant`; a used one revokes its grant.
    async fn load_grant_token(
        &self,
        client: &Client,
        token: &str,
        kind: TokenKind,
    ) -> Result<TokenRecord, Error> {
        let verified = self.keys.verify(token).map_err(|_| BAD_GRANT)?;
        if verified.kind != kind {
            return Err(BAD_GRANT);
        }
        let record = self.store.get(&verified.digest).await?.ok_or(BAD_GRANT)?;
        // RFC 6749 §4.1.3 / §6: issued to the authenticated client. Checked
        // before the replay rule, so another client cannot revoke a grant
        // that is not its own.
        if record.client_id != client.id {
            return Err(BAD_GRANT);
        }
        match record.state {
            TokenState::Active => {}
            TokenState::Consumed | TokenState::Revoked => {
                self.store.revoke_grant(&record.grant_id()).await?;
                return Err(BAD_GRANT);
            }
        }
        if self.clock.now() >= record.expires_at {
            return Err(BAD_GRANT);
        }
        Ok(record)
    }

    /// Mints an access token for `access_scope` (and a refresh token
    /// expiring at `refresh_expiry`, when given, for the grant's whole
    /// scope) in `from`'s grant, then consumes `from` and stores them in one
    /// step.
    ///
    /// The grant has no record of its own: its scope and its fixed end are
    /// those of its current refresh token, each handed to the next one. So
    /// `refresh_expiry` is the end of the grant, and the access token never
    /// outlives it.
    async fn rotate(
        &self,
        from: &TokenRecord,
        access_scope: Scope,
        refresh_expiry: Option<UnixTime>,
    ) -> Result<IssuedTokens, Error> {
        let now = self.clock.now();
        let grant = from.grant_id();
        let access_expiry = access_expiry(now, self.config.access_token_ttl, refresh_expiry);
        let record = |kind, scope: &Scope, digest, expires_at| -> Result<TokenRecord, Error> {
            Ok(TokenRecord {
                digest,
                kind,
                client_id: from.client_id.clone(),
                subject: from.subject.clone(),
                scope: scope.clone(),
                audience: from.audience.clone(),
                issued_at: now,
                not_before: now,
                expires_at,
                jti: Jti::generate()?,
                state: TokenState::Active,
                code: None,
            })
        };
        let (access, digest) = self.keys.mint(TokenKind::Access, grant)?;
        let mut records = vec![record(TokenKind::Access, &access_scope, digest, access_expiry)?];
        let refresh = match refresh_expiry {
            Some(exp) => {
                // RFC 6749 §6: a narrowed scope is the new access token's;
                // the refresh token keeps the grant's, so a later refresh may
                // ask for the rest again.
                let (raw, digest) = self.keys.mint(TokenKind::Refresh, grant)?;
                records.push(record(TokenKind::Refresh, &from.scope, digest, exp)?);
                Some(raw)
            }
            None => None,
        };
        match self.store.consume(&from.digest, records).await? {
            Consumed::Taken(_) => Ok(IssuedTokens {
                access_token: access,
                expires_in: access_expiry.0.saturating_sub(now.0),
                scope: access_scope,
                refresh_token: refresh,
            }),
            // Someone used it between our read and our write: a replay.
            Consumed::Replayed(_) => {
                self.store.revoke_grant(&grant).await?;
                Err(BAD_GRANT)
            }
            Consumed::Unknown => Err(BAD_GRANT),
        }
    }

    /// The `authorization_code` grant: trades a code for an access token,
    /// and a refresh token when the client may use that grant.
    ///
    /// # Errors
    /// `unauthorized_client` when the client may not use the grant;
    /// `invalid_grant` for an unknown, expired, used (its grant is then
    /// revoked) or foreign code, a redirect URI other than the one the code
    /// was issued for, or a PKCE verifier that does not match;
    /// [`Error::Store`] / [`Error::Random`].
    pub async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<IssuedTokens, Error> {
        if !client.grant_types.contains(GrantType::AuthorizationCode) {
            return Err(Error::UnauthorizedClient("the client may not use authorization_code"));
        }
        let record = self.load_grant_token(client, code, TokenKind::AuthorizationCode).await?;
        let binding = record.code.as_deref().ok_or(BAD_GRANT)?;
        // RFC 6749 §4.1.3: the same redirect_uri as the authorization
        // request, which always carries one here.
        if redirect_uri != Some(binding.redirect_uri.as_str()) {
            return Err(Error::InvalidGrant("redirect_uri does not match the authorization request"));
        }
        let verifier = code_verifier.ok_or(Error::InvalidGrant("code_verifier is required (PKCE)"))?;
        if !valid_verifier(verifier) || !crypto::pkce_s256_matches(verifier, &binding.code_challenge) {
            return Err(Error::InvalidGrant("code_verifier does not match the code_challenge"));
        }
        let refresh_expiry = client
            .grant_types
            .contains(GrantType::RefreshToken)
            .then(|| self.clock.now().plus(self.config.refresh_token_ttl));
        let scope = record.scope.clone();
        self.rotate(&record, scope, refresh_expiry).await
    }

    /// The `refresh_token` grant: rotates the refresh token. The new one
    /// expires when the old one would have: a grant's lifetime is fixed at
    /// the code exchange, however often it is refreshed, and the new access
    /// token expires no later. A requested `scope` narrows the new access
    /// token only; the new refresh token keeps the grant's scope (RFC 6749
    /// §6).
    ///
    /// # Errors
    /// `unauthorized_client`; `invalid_scope` for a scope wider than the
    /// grant's; `invalid_grant` for an unknown, expired, foreign or reused
    /// refresh token (its grant is then revoked); [`Error::Store`] /
    /// [`Error::Random`].
    pub async fn refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> Result<IssuedTokens, Error> {
        if !client.grant_types.contains(GrantType::RefreshToken) {
            return Err(Error::UnauthorizedClient("the client may not use refresh_token"));
        }
        let record = self.load_grant_token(client, refresh_token, TokenKind::Refresh).await?;
        // RFC 6749 §6: the scope may narrow, never widen.
        let scope = match scope {
            None => record.scope.clone(),
            Some(s) => {
                let s = Scope::parse(s).map_err(|_| Error::InvalidScope("scope is malformed"))?;
                if !s.is_subset_of(&record.scope) {
                    return Err(Error::InvalidScope("scope exceeds the original grant"));
                }
                s
            }
        };
        let expiry = record.expires_at;
        self.rotate(&record, scope, Some(expiry)).await
    }
}

#[cfg(test)]
mod tests {
    use crate::time::UnixTime;

    #[test]
    fn access_tokens_never_outlive_their_grant() {
        let now = UnixTime(1000);
        assert_eq!(super::access_expiry(now, 3600, None), UnixTime(4600));
        assert_eq!(super::access_expiry(now, 3600, Some(UnixTime(9000))), UnixTime(4600));
        assert_eq!(super::access_expiry(now, 3600, Some(UnixTime(1001))), UnixTime(1001));
    }

    #[test]
    fn verifier_syntax() {
        assert!(super::valid_verifier(&"a".repeat(43)));
        assert!(super::valid_verifier(&"-._~".repeat(32)));
        assert!(!super::valid_verifier(&"a".repeat(42)));
        assert!(!super::valid_verifier(&"a".repeat(129)));
        assert!(!super::valid_verifier(&"a+".repeat(30)));
    }
}
