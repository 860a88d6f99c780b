//! Grants that trade a one-time token for new tokens: the authorization
//! code (RFC 6749 §4.1.3, RFC 7636 §4.6) and the rotating refresh token
//! (RFC 6749 §6, RFC 9700 §4.14.2).
//!
//! Both follow the same steps: the driver verifies the presented token and
//! loads it; [`decide_code_exchange`] or [`decide_refresh`] decides on the
//! record (client, state, expiry, binding) and names the tokens to mint;
//! the driver hands the store one atomic `consume` that marks the old token
//! used and stores its replacements, and [`settle`] reads the outcome. A
//! token that was already used is a replay: the whole grant is revoked,
//! every token issued from the code or the refresh chain with it.
//!
//! Two concurrent uses of one refresh token look exactly like a replay (one
//! of them may be the thief), so the loser's grant is revoked as well: the
//! winner's new tokens stop working too, and the user logs in again. That is
//! the strict reading of RFC 9700 §4.14.2; clients must not refresh in
//! parallel.

use crate::crypto;
use crate::error::Error;
use crate::issue::IssuedTokens;
use crate::model::{Claims, Client, GrantId, GrantType, Jti, Scope, TokenDigest, TokenRecord, TokenState};
use crate::policy;
use crate::store::Consumed;
use crate::time::UnixTime;
use crate::token_format::RawToken;

/// Every way a presented code or refresh token can be wrong, as one answer.
pub(crate) const BAD_GRANT: Error =
    Error::InvalidGrant("the grant is invalid, expired, revoked or was issued to another client");

/// Why an exchange is refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Answer with this error; nothing is written.
    Deny(Error),
    /// A used token came back: revoke this grant, then answer
    /// [`BAD_GRANT`] (RFC 6749 §4.1.2, §10.5; RFC 9700 §4.14.2).
    Replay(GrantId),
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Self::Deny(e)
    }
}

/// The tokens an accepted exchange mints, in the grant of the token it
/// consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rotation {
    /// The token to consume.
    pub(crate) from: TokenDigest,
    /// The grant's claims, which a new refresh token carries.
    pub(crate) claims: Claims,
    /// The new access token's scope: the grant's, or a narrower one.
    pub(crate) access_scope: Scope,
    /// When the new access token expires.
    pub(crate) access_expires_at: UnixTime,
    /// When the new refresh token expires, if one is issued.
    pub(crate) refresh_expires_at: Option<UnixTime>,
}

impl Rotation {
    /// The grant the new tokens join.
    pub(crate) fn grant(&self) -> GrantId {
        self.from.grant()
    }

    /// The records of the new tokens, minted at `now`: the access token,
    /// then the refresh token when one is issued (with the grant's whole
    /// scope, RFC 6749 §6: a later refresh may ask for the rest again).
    pub(crate) fn records(
        &self,
        now: UnixTime,
        access: (TokenDigest, Jti),
        refresh: Option<(TokenDigest, Jti)>,
    ) -> Vec<TokenRecord> {
        let claims = Claims { scope: self.access_scope.clone(), ..self.claims.clone() };
        let mut out = vec![TokenRecord::access(access.0, access.1, claims, now, self.access_expires_at)];
        if let (Some((digest, jti)), Some(exp)) = (refresh, self.refresh_expires_at) {
            out.push(TokenRecord::refresh(digest, jti, self.claims.clone(), now, exp));
        }
        out
    }

    /// The answer for the minted tokens.
    pub(crate) fn issued(self, now: UnixTime, access: RawToken, refresh: Option<RawToken>) -> IssuedTokens {
        IssuedTokens {
            access_token: access,
            expires_in: self.access_expires_at.0.saturating_sub(now.0),
            scope: self.access_scope,
            refresh_token: refresh,
        }
    }
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The checks every presented one-time token passes, on its record as
/// loaded (`None`: unknown, or its tag or kind was wrong) for `client` at
/// `now`.
///
/// # Errors
/// [`BAD_GRANT`] for each failure alike; [`Refusal::Replay`] for a used or
/// revoked token.
fn live_grant_token<'r>(
    client: &Client,
    record: Option<&'r TokenRecord>,
    now: UnixTime,
) -> Result<&'r TokenRecord, Refusal> {
    let record = record.ok_or(BAD_GRANT)?;
    // RFC 6749 §4.1.3 / §6: issued to the authenticated client. Checked
    // before the replay rule, so another client cannot revoke a grant that
    // is not its own.
    if record.client_id != client.id {
        return Err(BAD_GRANT.into());
    }
    match record.state {
        TokenState::Active => {}
        TokenState::Consumed | TokenState::Revoked => return Err(Refusal::Replay(record.grant_id())),
    }
    if now >= record.expires_at {
        return Err(BAD_GRANT.into());
    }
    Ok(record)
}

/// The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.6) on the
/// loaded code: an access token, and a refresh token when the client may
/// use that grant, for the code's scope and audience.
///
/// # Errors
/// [`Refusal::Deny`] with `invalid_grant` for an unknown, expired or foreign
/// code, a redirect URI other than the one the code was issued for, or a
/// PKCE verifier that does not match; [`Refusal::Replay`] for a used code.
pub(crate) fn decide_code_exchange(
    client: &Client,
    code: Option<&TokenRecord>,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: UnixTime,
    (access_ttl, refresh_ttl): (u64, u64),
) -> Result<Rotation, Refusal> {
    let record = live_grant_token(client, code, now)?;
    let binding = record.code.as_deref().ok_or(BAD_GRANT)?;
    // RFC 6749 §4.1.3: the same redirect_uri as the authorization request,
    // which always carries one here.
    if redirect_uri != Some(binding.redirect_uri.as_str()) {
        return Err(Error::InvalidGrant("redirect_uri does not match the authorization request").into());
    }
    let verifier = code_verifier.ok_or(Error::InvalidGrant("code_verifier is required (PKCE)"))?;
    if !valid_verifier(verifier) || !crypto::pkce_s256_matches(verifier, &binding.code_challenge) {
        return Err(Error::InvalidGrant("code_verifier does not match the code_challenge").into());
    }
    // The grant's lifetime is fixed here, at the code exchange: the end of
    // its first refresh token, handed on to each next one.
    let refresh_expires_at =
        client.grant_types.contains(GrantType::RefreshToken).then(|| now.plus(refresh_ttl));
    Ok(Rotation {
        from: record.digest,
        claims: record.claims(),
        access_scope: record.scope.clone(),
        access_expires_at: policy::expiry(now, access_ttl, refresh_expires_at),
        refresh_expires_at,
    })
}

/// The `refresh_token` grant (RFC 6749 §6) on the loaded refresh token: a
/// new access token for the grant's scope or a narrower `scope`, and a new
/// refresh token that keeps the grant's scope and expires when the old one
/// would have (a grant's lifetime is fixed at the code exchange, however
/// often it is refreshed; the access token expires no later).
///
/// # Errors
/// [`Refusal::Deny`] with `invalid_scope` for a scope wider than the
/// grant's, or `invalid_grant` for an unknown, expired or foreign refresh
/// token; [`Refusal::Replay`] for a reused one.
pub(crate) fn decide_refresh(
    client: &Client,
    refresh_token: Option<&TokenRecord>,
    scope: Option<&str>,
    now: UnixTime,
    access_ttl: u64,
) -> Result<Rotation, Refusal> {
    let record = live_grant_token(client, refresh_token, now)?;
    let access_scope = policy::narrow_scope(&record.scope, scope)?;
    Ok(Rotation {
        from: record.digest,
        claims: record.claims(),
        access_scope,
        access_expires_at: policy::expiry(now, access_ttl, Some(record.expires_at)),
        refresh_expires_at: Some(record.expires_at),
    })
}

/// Reads the store's answer to consuming `rotation.from`.
///
/// # Errors
/// [`Refusal::Replay`] when someone used the token between our read and our
/// write; [`BAD_GRANT`] when it vanished.
pub(crate) fn settle(consumed: &Consumed, rotation: &Rotation) -> Result<(), Refusal> {
    match consumed {
        Consumed::Taken(_) => Ok(()),
        Consumed::Replayed(_) => Err(Refusal::Replay(rotation.grant())),
        Consumed::Unknown => Err(BAD_GRANT.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientId, CodeBinding, Resource, Subject};

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CB: &str = "https://app.example/cb";
    const TTLS: (u64, u64) = (60, 1000);

    fn client(refresh: bool) -> Client {
        let c = Client::new_public(ClientId::new("app").unwrap());
        if refresh {
            c.with_grants([GrantType::AuthorizationCode, GrantType::RefreshToken])
        } else {
            c.with_grants([GrantType::AuthorizationCode])
        }
    }

    fn claims() -> Claims {
        let audience = [Resource::new("https://api.example").unwrap()].into();
        Claims::new(ClientId::new("app").unwrap(), Scope::parse("read write").unwrap(), audience)
            .with_subject(Subject::new("alice").unwrap())
    }

    fn code() -> TokenRecord {
        let digest = TokenDigest::new(GrantId::from_bytes([7; 16]), [1; 32]);
        let binding = CodeBinding { redirect_uri: CB.to_owned(), code_challenge: CHALLENGE.to_owned() };
        TokenRecord::code(digest, Jti::from_bytes([2; 16]), claims(), binding, UnixTime(100), UnixTime(160))
    }

    fn refresh_token() -> TokenRecord {
        let digest = TokenDigest::new(GrantId::from_bytes([7; 16]), [3; 32]);
        TokenRecord::refresh(digest, Jti::from_bytes([4; 16]), claims(), UnixTime(100), UnixTime(1100))
    }

    fn denied(r: Result<Rotation, Refusal>) -> &'static str {
        match r {
            Err(Refusal::Deny(Error::InvalidGrant(m) | Error::InvalidScope(m))) => m,
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    #[test]
    fn a_code_is_exchanged_for_its_scope_and_audience() {
        let c = code();
        let r = decide_code_exchange(&client(true), Some(&c), Some(CB), Some(VERIFIER), UnixTime(110), TTLS)
            .unwrap();
        assert_eq!(r.from, c.digest);
        assert_eq!(r.claims, claims());
        assert_eq!(r.access_scope, c.scope);
        // The grant ends with its first refresh token; the access token at
        // its own ttl, earlier.
        assert_eq!((r.access_expires_at, r.refresh_expires_at), (UnixTime(170), Some(UnixTime(1110))));
        let r = decide_code_exchange(&client(false), Some(&c), Some(CB), Some(VERIFIER), UnixTime(110), TTLS)
            .unwrap();
        assert_eq!(r.refresh_expires_at, None);
        let records = r.records(UnixTime(110), (c.digest, c.jti), Some((c.digest, c.jti)));
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn a_code_is_refused_unless_every_binding_matches() {
        let c = code();
        let at = |cl: &Client, r: Option<&TokenRecord>, uri, v, now| {
            decide_code_exchange(cl, r, uri, v, UnixTime(now), TTLS)
        };
        let app = client(true);
        assert_eq!(denied(at(&app, None, Some(CB), Some(VERIFIER), 110)), BAD_GRANT.description());
        // Expired: from `expires_at` on.
        assert_eq!(denied(at(&app, Some(&c), Some(CB), Some(VERIFIER), 160)), BAD_GRANT.description());
        let other =
            Client::new_public(ClientId::new("other").unwrap()).with_grants([GrantType::AuthorizationCode]);
        assert_eq!(denied(at(&other, Some(&c), Some(CB), Some(VERIFIER), 110)), BAD_GRANT.description());
        assert!(denied(at(&app, Some(&c), Some("https://app.example/cb2"), Some(VERIFIER), 110))
            .contains("redirect_uri"));
        assert!(denied(at(&app, Some(&c), None, Some(VERIFIER), 110)).contains("redirect_uri"));
        assert!(denied(at(&app, Some(&c), Some(CB), None, 110)).contains("required"));
        let wrong = "a".repeat(43);
        assert!(denied(at(&app, Some(&c), Some(CB), Some(&wrong), 110)).contains("does not match"));
        let mut no_binding = c.clone();
        no_binding.code = None;
        assert_eq!(
            denied(at(&app, Some(&no_binding), Some(CB), Some(VERIFIER), 110)),
            BAD_GRANT.description()
        );
    }

    #[test]
    fn a_used_token_is_a_replay_of_its_grant_but_only_for_its_own_client() {
        let mut c = code();
        c.state = TokenState::Consumed;
        let grant = c.grant_id();
        let r = decide_code_exchange(&client(true), Some(&c), Some(CB), Some(VERIFIER), UnixTime(110), TTLS);
        assert!(matches!(r, Err(Refusal::Replay(g)) if g == grant));
        let mut t = refresh_token();
        t.state = TokenState::Revoked;
        assert!(matches!(
            decide_refresh(&client(true), Some(&t), None, UnixTime(110), 60),
            Err(Refusal::Replay(_))
        ));
        let other = Client::new_public(ClientId::new("other").unwrap());
        assert!(matches!(decide_refresh(&other, Some(&t), None, UnixTime(110), 60), Err(Refusal::Deny(_))));
    }

    #[test]
    fn a_refresh_keeps_the_grants_end_and_scope() {
        let t = refresh_token();
        let r = decide_refresh(&client(true), Some(&t), Some("read"), UnixTime(1090), 60).unwrap();
        assert_eq!(r.access_scope, Scope::parse("read").unwrap());
        assert_eq!(r.claims.scope, t.scope);
        // The access token is cut short at the grant's end.
        assert_eq!((r.access_expires_at, r.refresh_expires_at), (UnixTime(1100), Some(UnixTime(1100))));
        let new = r.records(UnixTime(1090), (t.digest, t.jti), Some((t.digest, t.jti)));
        assert_eq!((new[0].scope.as_str(), new[1].scope.as_str()), ("read", "read write"));
        assert!(denied(decide_refresh(&client(true), Some(&t), Some("admin"), UnixTime(1090), 60))
            .contains("original grant"));
        assert_eq!(
            denied(decide_refresh(&client(true), Some(&t), None, UnixTime(1100), 60)),
            BAD_GRANT.description()
        );
    }

    #[test]
    fn settling_a_consume() {
        let t = refresh_token();
        let r = decide_refresh(&client(true), Some(&t), None, UnixTime(110), 60).unwrap();
        assert!(settle(&Consumed::Taken(t.clone()), &r).is_ok());
        assert!(
            matches!(settle(&Consumed::Replayed(t.clone()), &r), Err(Refusal::Replay(g)) if g == t.grant_id())
        );
        assert!(matches!(settle(&Consumed::Unknown, &r), Err(Refusal::Deny(_))));
    }

    #[test]
    fn verifier_syntax() {
        assert!(valid_verifier(&"a".repeat(43)));
        assert!(valid_verifier(&"-._~".repeat(32)));
        assert!(!valid_verifier(&"a".repeat(42)));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(&"a+".repeat(30)));
    }
}
