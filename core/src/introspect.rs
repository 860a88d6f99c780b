//! Token introspection (RFC 7662).
//!
//! RFC 7662 §4: "the introspection endpoint … MUST perform all applicable
//! checks against a token's state". `judge` is every check, as one pure
//! function over the loaded record, the issuing client, the caller and the
//! time; the driver ([`AuthServer::introspect`](crate::AuthServer::introspect))
//! only verifies the tag, loads, and charges the fishing limiter for
//! inactive answers.

use crate::error::Error;
use crate::json;
use crate::limiter::Admission;
use crate::model::{Client, ClientId, Resource, ResourceServer, TokenKind, TokenRecord, TokenState};
use crate::time::UnixTime;
use crate::token_format::Rejection;

/// Why a token is inactive. The HTTP answer is always exactly
/// `{"active":false}`; the reason is for in-process callers, metrics and
/// tests, and must never be sent to a resource server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InactiveReason {
    /// Not in our token syntax.
    Malformed,
    /// Names a key id we do not have.
    UnknownKey,
    /// Its tag does not verify: forged or corrupted.
    Forged,
    /// Well-formed and correctly tagged, but not stored (expired and
    /// purged, or never issued by this store).
    Unknown,
    /// Past `exp` (plus clock skew).
    Expired,
    /// Before `nbf` (minus clock skew).
    NotYetValid,
    /// Revoked, alone or with its grant.
    Revoked,
    /// A used one-time token.
    Consumed,
    /// Not a token this viewer may see active: a code, a refresh token
    /// shown to anyone but the client it was issued to, or a refresh token
    /// presented as a bearer token.
    NotAnAccessToken,
    /// Its client was deleted.
    ClientUnknown,
    /// Its client is disabled.
    ClientDisabled,
    /// Its audience names none of the caller's resources.
    WrongAudience,
}

impl From<Rejection> for InactiveReason {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Malformed => Self::Malformed,
            Rejection::UnknownKey => Self::UnknownKey,
            Rejection::BadTag => Self::Forged,
        }
    }
}

/// The answer to an introspection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Introspection {
    /// The token is active for this caller.
    Active(TokenRecord),
    /// It is not, and why.
    Inactive(InactiveReason),
}

impl Introspection {
    /// Whether the token is active.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Active(_))
    }

    /// The RFC 7662 §2.2 JSON body. Inactive is exactly `{"active":false}`.
    ///
    /// It cannot fail, so an active answer can never come out as anything
    /// else: the body is written by the crate's JSON writer, which has no
    /// error path (every member is a constant name, a number, or a `str`
    /// escaped per RFC 8259 §7; property-tested against `serde_json`), and
    /// the `jti` is always its 22 base64url characters. An earlier version
    /// serialized through `serde_json` and turned a (then impossible)
    /// failure into `{"active":false}`: the tests below check every field of
    /// an active answer for any record.
    pub fn to_json(&self, issuer: &str) -> Vec<u8> {
        let r = match self {
            Self::Inactive(_) => return b"{\"active\":false}".to_vec(),
            Self::Active(r) => r,
        };
        // Sized for the whole body, so it is written without growing: the
        // fixed part (names, punctuation, numbers, jti, grant id) is at
        // most 238 bytes.
        let variable = r.scope.as_str().len()
            + r.client_id.as_str().len()
            + r.subject.as_ref().map_or(0, |s| s.as_str().len())
            + r.audience.iter().map(|a| a.as_str().len() + 3).sum::<usize>()
            + issuer.len();
        let mut body = json::Object::with_capacity(240 + variable);
        body.bool("active", true).str("scope", r.scope.as_str()).str("client_id", r.client_id.as_str());
        if let Some(sub) = &r.subject {
            body.str("sub", sub.as_str());
        }
        if r.kind == TokenKind::Access {
            body.constant("token_type", "Bearer");
        }
        body.u64("exp", r.expires_at.0)
            .u64("iat", r.issued_at.0)
            .u64("nbf", r.not_before.0)
            .strs("aud", r.audience.iter().map(Resource::as_str))
            .str("iss", issuer)
            .id("jti", r.jti.as_bytes())
            // An extension member (RFC 7662 §2.2 allows them): resource
            // servers that cache answers drop a grant's tokens when the
            // revocation feed says the grant ended (see `feed`). Not
            // secret: it is in the clear in every token of the grant.
            .id("grant_id", r.grant_id().as_bytes())
            .finish()
    }
}

/// Who is looking at a token: the driver's input to [`judge`], never seen
/// outside the crate.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Viewer<'a> {
    /// A resource server introspecting: sees access tokens for its
    /// resources, and refresh tokens issued to itself.
    ResourceServer {
        /// The caller's client id.
        id: &'a ClientId,
        /// Its resource-server registration.
        rs: &'a ResourceServer,
    },
    /// An API in the same process validating a bearer token for one of its
    /// resources: sees access tokens for that resource only.
    Bearer {
        /// The resource being accessed.
        audience: &'a Resource,
    },
}

/// Every check on a loaded token, for a viewer at `now`: the one code path
/// behind both introspection and bearer validation.
///
/// `issuer` is the token's client as the registry has it now (`None` when
/// it was deleted).
///
/// # Errors
/// The first [`InactiveReason`] found.
pub(crate) fn judge(
    record: &TokenRecord,
    issuer: Option<&Client>,
    viewer: Viewer<'_>,
    now: UnixTime,
    skew: u64,
) -> Result<(), InactiveReason> {
    match record.state {
        TokenState::Active => {}
        TokenState::Revoked => return Err(InactiveReason::Revoked),
        TokenState::Consumed => return Err(InactiveReason::Consumed),
    }
    // Refresh tokens are shown only to the client that holds them
    // (RFC 7662 §4 allows the server to limit what each caller sees).
    let own_refresh = matches!(viewer, Viewer::ResourceServer { id, .. } if *id == record.client_id)
        && record.kind == TokenKind::Refresh;
    if record.kind != TokenKind::Access && !own_refresh {
        return Err(InactiveReason::NotAnAccessToken);
    }
    if now >= record.expires_at.plus(skew) {
        return Err(InactiveReason::Expired);
    }
    if now.plus(skew) < record.not_before {
        return Err(InactiveReason::NotYetValid);
    }
    match issuer {
        None => return Err(InactiveReason::ClientUnknown),
        Some(c) if !c.enabled => return Err(InactiveReason::ClientDisabled),
        Some(_) => {}
    }
    let audience_ok = match viewer {
        Viewer::ResourceServer { rs, .. } => own_refresh || rs.accepts(&record.audience),
        Viewer::Bearer { audience } => record.is_for(audience),
    };
    if !audience_ok {
        return Err(InactiveReason::WrongAudience);
    }
    Ok(())
}

/// [`judge`] as an answer, on the record and its client as loaded (`None`:
/// unknown). The record is passed by value and moved once, into the answer:
/// it is the largest value on the hot path.
pub(crate) fn decide_introspection(
    loaded: Option<(TokenRecord, Option<Client>)>,
    viewer: Viewer<'_>,
    now: UnixTime,
    skew: u64,
) -> Introspection {
    let Some((record, issuer)) = loaded else {
        return Introspection::Inactive(InactiveReason::Unknown);
    };
    match judge(&record, issuer.as_ref(), viewer, now, skew) {
        Ok(()) => Introspection::Active(record),
        Err(reason) => Introspection::Inactive(reason),
    }
}

/// A reservation's admission as a result.
pub(crate) fn admitted(a: Admission) -> Result<(), Error> {
    match a {
        Admission::Allowed => Ok(()),
        Admission::Throttled { retry_after } => Err(Error::Throttled { retry_after }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Claims, GrantId, Jti, Scope, Subject, TokenDigest};
    use proptest::prelude::*;

    fn record(
        client: &str,
        subject: Option<&str>,
        scope: &str,
        audience: &[String],
        times: (u64, u64, u64),
        jti: [u8; 16],
        kind: TokenKind,
    ) -> Option<TokenRecord> {
        let mut claims = Claims::new(
            ClientId::new(client).ok()?,
            Scope::parse(scope).ok()?,
            audience.iter().map(|a| Resource::new(a).ok()).collect::<Option<Vec<_>>>()?.into(),
        );
        if let Some(s) = subject {
            claims = claims.with_subject(Subject::new(s).ok()?);
        }
        let digest = TokenDigest::new(GrantId::from_bytes([1; 16]), [2; 32]);
        let (jti, (iat, nbf, exp)) = (Jti::from_bytes(jti), times);
        let mut r = TokenRecord::access(digest, jti, claims, UnixTime(iat), UnixTime(exp));
        r.kind = kind;
        r.not_before = UnixTime(nbf);
        Some(r)
    }

    #[test]
    fn inactive_is_exactly_active_false() {
        assert_eq!(Introspection::Inactive(InactiveReason::Revoked).to_json("x"), b"{\"active\":false}");
    }

    proptest! {
        /// Whatever an active record holds (any valid client id, subject,
        /// scope and audience, any times and jti, any issuer text), its
        /// body is JSON with `active: true` and every field as stored.
        #[test]
        fn an_active_answer_is_always_active_json(
            client in "[ -~]{1,40}",
            subject in proptest::option::of("\\PC{1,40}"),
            scope in "[!#-\\[\\]-~ ]{0,60}",
            audience in proptest::collection::vec("[a-z][a-z0-9+.-]{0,8}:[!-~]{1,30}", 0..4),
            times in any::<(u64, u64, u64)>(),
            jti in any::<[u8; 16]>(),
            access in any::<bool>(),
            issuer in any::<String>(),
        ) {
            let kind = if access { TokenKind::Access } else { TokenKind::Refresh };
            let r = record(&client, subject.as_deref(), &scope, &audience, times, jti, kind);
            // Values the model types refuse are not records.
            prop_assume!(r.is_some());
            let Some(r) = r else { return Ok(()) };
            let body = Introspection::Active(r.clone()).to_json(&issuer);
            let v: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
            prop_assert_eq!(&v["active"], true);
            prop_assert_eq!(v["client_id"].as_str(), Some(r.client_id.as_str()));
            prop_assert_eq!(v["scope"].as_str(), Some(r.scope.as_str()));
            prop_assert_eq!(v["sub"].as_str(), r.subject.as_ref().map(Subject::as_str));
            prop_assert_eq!(v["token_type"].as_str(), access.then_some("Bearer"));
            prop_assert_eq!(v["iat"].as_u64(), Some(times.0));
            prop_assert_eq!(v["nbf"].as_u64(), Some(times.1));
            prop_assert_eq!(v["exp"].as_u64(), Some(times.2));
            let aud: Vec<&str> = r.audience.iter().map(Resource::as_str).collect();
            prop_assert_eq!(v["aud"].as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>()), Some(aud));
            prop_assert_eq!(v["iss"].as_str(), Some(issuer.as_str()));
            let jti_text = r.jti.to_string();
            prop_assert_eq!(jti_text.len(), 22);
            prop_assert_eq!(v["jti"].as_str(), Some(jti_text.as_str()));
            prop_assert_eq!(Jti::parse(&jti_text).ok(), Some(r.jti));
            let grant_text = r.grant_id().to_string();
            prop_assert_eq!(v["grant_id"].as_str(), Some(grant_text.as_str()));
        }
    }
}
