//! `admin clients add`: a [`Client`] from the flags, with the rules the
//! config file applies to its clients (the same checks, named by flag), and
//! a new secret for a confidential client.

use gatehouse_core::model::{Client, GrantType, Scope, SecretDigest};
use gatehouse_core::RandomSecret;

use super::args::{AddArgs, ClientType};
use super::AdminError;

/// The client `args` describe and, when it is confidential, its new secret
/// (256 bits from the OS random source; only its digest is in the client).
///
/// # Errors
/// [`AdminError::Usage`] naming the flag and the fix; [`AdminError::Random`]
/// when the OS random source fails.
pub(crate) fn client_from(args: AddArgs) -> Result<(Client, Option<RandomSecret>), AdminError> {
    let usage = |msg: &str| Err(AdminError::Usage(msg.to_owned()));
    if !args.grants.is_empty() && args.audiences.is_empty() {
        return usage(
            "--audience is missing: a client that gets tokens needs the resource identifiers of the \
             APIs they are for, e.g. --audience https://api.example.com",
        );
    }
    if args.grants.contains(&GrantType::AuthorizationCode) && args.redirect_uris.is_empty() {
        return usage(
            "--redirect-uri is missing: a client with the authorization_code grant needs the URIs its \
             codes may be sent to, e.g. --redirect-uri https://app.example.com/callback",
        );
    }
    let (client, secret) = match args.kind {
        ClientType::Public if !args.resource_server.is_empty() => {
            return usage(
                "--resource-server needs --type confidential: a resource server authenticates to \
                 introspect (RFC 7662 §2.1)",
            )
        }
        ClientType::Public => (Client::new_public(args.id), None),
        ClientType::Confidential => {
            let secret = RandomSecret::generate().map_err(|e| AdminError::Random(e.to_string()))?;
            let digest =
                SecretDigest::from_secret(secret.as_str()).map_err(|e| AdminError::Random(e.to_string()))?;
            let client = match args.resource_server.is_empty() {
                true => Client::new_confidential(args.id, digest),
                false => Client::new_resource_server(args.id, digest, args.resource_server),
            };
            (client, Some(secret))
        }
    };
    let mut client =
        (client.with_grants(args.grants).with_scope(scope(args.scope), scope(args.default_scope)))
            .with_audiences(args.audiences)
            .with_redirect_uris(args.redirect_uris);
    if let Some(audience) = args.default_audience {
        client = client.with_default_audience(audience);
    }
    client.enabled = !args.disabled;
    client.validate().map_err(|e| AdminError::Usage(format!("--{}: {e}", flag(e.field))))?;
    Ok((client, secret))
}

fn scope(s: Option<Scope>) -> Scope {
    s.unwrap_or_else(Scope::empty)
}

/// The flag that sets a [`Client`] field.
fn flag(field: &str) -> &str {
    match field {
        "default_scope" => "default-scope",
        "default_audience" => "default-audience",
        "redirect_uris" => "redirect-uri",
        "audiences" => "audience",
        "grant_types" => "grant",
        other => other,
    }
}
