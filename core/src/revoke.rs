//! Token revocation (RFC 7009).

use crate::limiter::FishingLimiter;
use crate::model::{Client, TokenKind};
use crate::server::AuthServer;
use crate::store::{ClientRegistry, TokenStore};
use crate::Error;

impl<S: TokenStore + ClientRegistry, L: FishingLimiter> AuthServer<S, L> {
    /// Revokes `token` on behalf of the authenticated `client`.
    ///
    /// RFC 7009 §2.2: an invalid or unknown token is not an error, and
    /// neither is another client's token (§2.1: the server checks that the
    /// token was issued to the requesting client; we then do nothing, and
    /// say nothing that would tell the caller whose token it was).
    /// Revoking a refresh token revokes its whole grant, access tokens
    /// included (§2.1).
    ///
    /// # Errors
    /// [`Error::Store`] only: the caller must not be told "revoked" when the
    /// store failed.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<(), Error> {
        let Ok(verified) = self.keys.verify(token) else {
            return Ok(());
        };
        let Some(record) = self.store.get(&verified.digest).await? else {
            return Ok(());
        };
        if record.client_id != client.id {
            return Ok(());
        }
        match record.kind {
            TokenKind::Refresh => self.store.revoke_grant(&record.grant_id()).await?,
            TokenKind::Access => {
                self.store.revoke(&record.digest).await?;
            }
            // Codes are not revocable through RFC 7009; they expire in a
            // minute and are single-use anyway.
            TokenKind::AuthorizationCode => {}
        }
        Ok(())
    }
}
