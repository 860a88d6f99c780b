//! `admin tokens revoke` and `admin purge`.

use gatehouse_core::{AuthServer, ClientRegistry, RevokeScope, TokenStore};
use serde_json::json;

use super::args::RevokeArgs;
use super::{AdminError, Output};

/// Revokes every token of the grants `args` names: a subject's (sign out
/// everywhere), a subject's at one client, a client's
/// ([`AuthServer::revoke_all`]), or one grant's. Every instance sees them
/// inactive once this returns.
///
/// # Errors
/// [`AdminError::Failed`]: some grants may be revoked and others not yet;
/// run it again (it is idempotent). [`AdminError::Usage`] when neither a
/// subject, a client nor a grant is named.
pub(crate) async fn revoke<S: TokenStore + ClientRegistry>(
    server: &AuthServer<S>,
    args: RevokeArgs,
) -> Result<Output, AdminError> {
    let scope = match (args.subject, args.client, args.grant) {
        (_, _, Some(grant)) => {
            server.store().revoke_grant(&grant).await?;
            return Ok(Output::new(
                format!("revoked every token of grant {grant}"),
                json!({ "revoked": { "grant": grant.to_string() } }),
            ));
        }
        (Some(s), Some(c), None) => RevokeScope::SubjectAtClient(s, c),
        (Some(s), None, None) => RevokeScope::Subject(s),
        (None, Some(c), None) => RevokeScope::Client(c),
        (None, None, None) => {
            return Err(AdminError::Usage("name --subject, --client or --grant".to_owned()))
        }
    };
    let ended = server.revoke_all(&scope).await?;
    let (what, target) = match &scope {
        RevokeScope::Subject(s) => (format!("subject {s}"), json!({ "subject": s.as_str() })),
        RevokeScope::SubjectAtClient(s, c) => {
            (format!("subject {s} at client {c}"), json!({ "subject": s.as_str(), "client": c.as_str() }))
        }
        RevokeScope::Client(c) => (format!("client {c}"), json!({ "client": c.as_str() })),
        _ => (String::new(), json!({})),
    };
    Ok(Output::new(
        format!("revoked every token of {what}: {ended} grant(s) had a live token"),
        json!({ "revoked": target, "grants_with_live_tokens": ended }),
    ))
}

/// Deletes every token record expired by now, as the server's background
/// purge does.
///
/// # Errors
/// [`AdminError::Failed`].
pub(crate) async fn purge<S: TokenStore + ClientRegistry>(
    server: &AuthServer<S>,
) -> Result<Output, AdminError> {
    let deleted = crate::purge_once(server).await?;
    Ok(Output::new(format!("purged {deleted} expired token record(s)"), json!({ "purged": deleted })))
}
