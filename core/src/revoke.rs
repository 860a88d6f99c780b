//! Token revocation (RFC 7009): what to revoke, decided on the loaded
//! record.

use crate::model::{Client, GrantId, Jti, TokenDigest, TokenKind, TokenRecord};

/// What a revocation request writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revocation {
    /// Nothing: the answer is the same success (RFC 7009 §2.2).
    Nothing,
    /// This token alone (its key, and its `jti` for the audit trail).
    Token(TokenDigest, Jti),
    /// Every token of this grant.
    Grant(GrantId),
}

/// What revoking the presented token (its record as loaded; `None` when it
/// is unknown or failed its tag check) on behalf of `client` writes.
///
/// RFC 7009 §2.2: an invalid or unknown token is not an error, and neither
/// is another client's token (§2.1: the server checks that the token was
/// issued to the requesting client; we then do nothing, and say nothing that
/// would tell the caller whose token it was). Revoking a refresh token
/// revokes its whole grant, access tokens included (§2.1).
pub(crate) fn decide_revocation(client: &Client, record: Option<&TokenRecord>) -> Revocation {
    let Some(record) = record.filter(|r| r.client_id == client.id) else {
        return Revocation::Nothing;
    };
    match record.kind {
        TokenKind::Refresh => Revocation::Grant(record.grant_id()),
        TokenKind::Access => Revocation::Token(record.digest, record.jti),
        // Codes are not revocable through RFC 7009; they expire in a minute
        // and are single-use anyway.
        TokenKind::AuthorizationCode => Revocation::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Claims, ClientId, Scope};
    use crate::time::UnixTime;

    fn record(kind: TokenKind) -> TokenRecord {
        let digest = TokenDigest::new(GrantId::from_bytes([5; 16]), [6; 32]);
        let claims = Claims::new(ClientId::new("app").unwrap(), Scope::empty(), [].into());
        let mut r = TokenRecord::access(digest, Jti::from_bytes([1; 16]), claims, UnixTime(0), UnixTime(9));
        r.kind = kind;
        r
    }

    #[test]
    fn only_the_owners_access_and_refresh_tokens_are_revoked() {
        let app = Client::new_public(ClientId::new("app").unwrap());
        let access = record(TokenKind::Access);
        assert_eq!(decide_revocation(&app, Some(&access)), Revocation::Token(access.digest, access.jti));
        let refresh = record(TokenKind::Refresh);
        assert_eq!(decide_revocation(&app, Some(&refresh)), Revocation::Grant(refresh.grant_id()));
        assert_eq!(decide_revocation(&app, Some(&record(TokenKind::AuthorizationCode))), Revocation::Nothing);
        assert_eq!(decide_revocation(&app, None), Revocation::Nothing);
        let other = Client::new_public(ClientId::new("other").unwrap());
        assert_eq!(decide_revocation(&other, Some(&refresh)), Revocation::Nothing);
    }
}
