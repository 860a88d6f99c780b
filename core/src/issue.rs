//! The token endpoint's requests and answers (RFC 6749 §4.1.3, §4.4.2, §5.1,
//! §6), and the `client_credentials` grant (RFC 6749 §4.4).

use crate::error::Error;
use crate::form::Form;
use crate::json;
use crate::model::{Claims, Client, GrantType, Scope};
use crate::policy;
use crate::time::UnixTime;
use crate::token_format::RawToken;

/// A token request, parsed once from the form by its `grant_type`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TokenRequest<'f> {
    /// RFC 6749 §4.4.2, with RFC 8707 `resource`s.
    ClientCredentials { scope: Option<&'f str>, resources: Vec<&'f str> },
    /// RFC 6749 §4.1.3, with the RFC 7636 §4.5 `code_verifier`.
    AuthorizationCode { code: &'f str, redirect_uri: Option<&'f str>, code_verifier: Option<&'f str> },
    /// RFC 6749 §6.
    RefreshToken { refresh_token: &'f str, scope: Option<&'f str> },
}

impl<'f> TokenRequest<'f> {
    /// The request `form` makes with `grant_type` (already read from it:
    /// its presence is checked before client authentication, the rest
    /// after).
    ///
    /// # Errors
    /// [`Error::UnsupportedGrantType`]; [`Error::InvalidRequest`] when the
    /// grant's required parameter is missing or repeated.
    pub(crate) fn from_form(grant_type: &str, form: &'f Form<'_>) -> Result<Self, Error> {
        Ok(match GrantType::from_param(grant_type).ok_or(Error::UnsupportedGrantType)? {
            GrantType::ClientCredentials => Self::ClientCredentials {
                scope: form.get("scope"),
                resources: form.all("resource").collect(),
            },
            GrantType::AuthorizationCode => Self::AuthorizationCode {
                code: form.require("code", "code is required")?,
                redirect_uri: form.get("redirect_uri"),
                code_verifier: form.get("code_verifier"),
            },
            GrantType::RefreshToken => Self::RefreshToken {
                refresh_token: form.require("refresh_token", "refresh_token is required")?,
                scope: form.get("scope"),
            },
        })
    }
}

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
            .constant("token_type", "Bearer")
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

/// One access token to mint: what it says and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccessGrant {
    /// Its claims.
    pub(crate) claims: Claims,
    /// When it expires.
    pub(crate) expires_at: UnixTime,
}

/// The `client_credentials` grant (RFC 6749 §4.4) for an authenticated
/// client at `now`: the access token to mint, or why not.
///
/// # Errors
/// `unauthorized_client` for a public client or one not registered for the
/// grant; `invalid_scope`; `invalid_target`.
pub(crate) fn decide_client_credentials(
    client: &Client,
    scope: Option<&str>,
    resources: &[&str],
    now: UnixTime,
    ttl: u64,
) -> Result<AccessGrant, Error> {
    policy::permit_grant(client, GrantType::ClientCredentials)?;
    let scope = policy::grant_scope(client, scope)?;
    let audience = policy::grant_audience(client, resources)?;
    let claims = Claims::new(client.id.clone(), scope, audience);
    Ok(AccessGrant { claims, expires_at: policy::expiry(now, ttl, None) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::parse_form;
    use crate::model::{ClientId, Resource, SecretDigest};

    #[test]
    fn a_token_request_is_parsed_by_its_grant_type() {
        let f = parse_form(b"scope=a&resource=x&resource=y&code=c", 1024).unwrap();
        assert_eq!(
            TokenRequest::from_form("client_credentials", &f).unwrap(),
            TokenRequest::ClientCredentials { scope: Some("a"), resources: vec!["x", "y"] }
        );
        assert_eq!(
            TokenRequest::from_form("authorization_code", &f).unwrap(),
            TokenRequest::AuthorizationCode { code: "c", redirect_uri: None, code_verifier: None }
        );
        assert!(matches!(
            TokenRequest::from_form("refresh_token", &f),
            Err(Error::InvalidRequest("refresh_token is required"))
        ));
        assert!(matches!(TokenRequest::from_form("password", &f), Err(Error::UnsupportedGrantType)));
        // Exact names only.
        assert!(matches!(
            TokenRequest::from_form("Client_Credentials", &f),
            Err(Error::UnsupportedGrantType)
        ));
    }

    #[test]
    fn client_credentials_grants_the_clients_default_for_its_ttl() {
        let api = Resource::new("https://api.example").unwrap();
        let client =
            Client::new_confidential(ClientId::new("app").unwrap(), SecretDigest::generate().unwrap().1)
                .with_grants([GrantType::ClientCredentials])
                .with_scope(Scope::parse("read write").unwrap(), Scope::parse("read").unwrap())
                .with_audiences([api.clone()]);
        let g = decide_client_credentials(&client, None, &[], UnixTime(100), 60).unwrap();
        assert_eq!(g.expires_at, UnixTime(160));
        assert_eq!(g.claims, Claims::new(client.id.clone(), Scope::parse("read").unwrap(), [api].into()));
        let public =
            Client::new_public(ClientId::new("p").unwrap()).with_grants([GrantType::ClientCredentials]);
        assert!(matches!(
            decide_client_credentials(&public, None, &[], UnixTime(100), 60),
            Err(Error::UnauthorizedClient(_))
        ));
    }
}
