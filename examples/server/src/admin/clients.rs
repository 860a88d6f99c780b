//! `admin clients ...`: thin drivers over the core's client lifecycle
//! (`AuthServer::list_clients`, `client`, `set_client_enabled`,
//! `remove_client`, `rotate_client_secret`).

use gatehouse_core::model::ClientId;
use gatehouse_core::{AuthServer, ClientRegistry, RandomSecret, SecretRotation, TokenStore};
use serde_json::{json, Value};

use super::args::ClientsCommand;
use super::render::{client_detail, client_json, clients_table};
use super::{add, AdminError, Output};

/// Clients read per store call while listing.
const PAGE: usize = 100;

/// Runs one `clients` subcommand.
///
/// # Errors
/// [`AdminError`]: a store error, or no such client.
pub(crate) async fn exec<S: TokenStore + ClientRegistry>(
    server: &AuthServer<S>,
    command: ClientsCommand,
) -> Result<Output, AdminError> {
    match command {
        ClientsCommand::List => list(server).await,
        ClientsCommand::Show { id } => {
            let client = server.client(&id).await?.ok_or(AdminError::NotFound(id))?;
            Ok(Output::new(client_detail(&client), client_json(&client)))
        }
        ClientsCommand::Add(args) => {
            let (client, secret) = add::client_from(args)?;
            // Read then write: a client added by someone else in between is
            // replaced (the registry's put is an upsert); run one change per
            // client at a time, as the core's client_admin says.
            if server.client(&client.id).await?.is_some() {
                return Err(AdminError::Exists(client.id));
            }
            server.store().put_client(client.clone()).await?;
            let mut json = json!({ "client": client_json(&client) });
            let mut human = format!("added client {}\n{}", client.id, client_detail(&client));
            if let Some(secret) = &secret {
                json["client_secret"] = secret.as_str().into();
                human.push_str(&secret_line(secret));
            }
            let out = Output::new(human, json);
            Ok(match secret {
                Some(_) => out.with_note(SHOWN_ONCE),
                None => out,
            })
        }
        ClientsCommand::Disable { id } => enable(server, id, false).await,
        ClientsCommand::Enable { id } => enable(server, id, true).await,
        ClientsCommand::Remove { id } => {
            if !server.remove_client(&id).await? {
                return Err(AdminError::NotFound(id));
            }
            Ok(Output::new(
                format!("removed client {id}; its tokens introspect inactive"),
                json!({ "client_id": id.as_str(), "removed": true }),
            ))
        }
        ClientsCommand::RotateSecret { id, overlap } => {
            let deadline = server.now().plus(overlap);
            match server.rotate_client_secret(&id, deadline).await? {
                SecretRotation::Rotated { secret, previous_until } => {
                    let until = match previous_until {
                        Some(t) => format!(
                            "the previous secret works until Unix time {} (in {overlap} s), then never",
                            t.0
                        ),
                        None => "the previous secret stopped working".to_owned(),
                    };
                    Ok(Output::new(
                        format!("rotated the secret of client {id}; {until}{}", secret_line(&secret)),
                        json!({
                            "client_id": id.as_str(),
                            "client_secret": secret.as_str(),
                            "previous_secret_until": previous_until.map(|t| t.0),
                        }),
                    )
                    .with_note(SHOWN_ONCE))
                }
                SecretRotation::PublicClient => Err(AdminError::PublicClient(id)),
                _ => Err(AdminError::NotFound(id)),
            }
        }
    }
}

const SHOWN_ONCE: &str = "give the client_secret to the client now: it is stored only as its digest \
                          and cannot be shown again";

fn secret_line(secret: &RandomSecret) -> String {
    format!("\nclient_secret: {}", secret.as_str())
}

/// Every client, page after page.
async fn list<S: TokenStore + ClientRegistry>(server: &AuthServer<S>) -> Result<Output, AdminError> {
    let mut all = Vec::new();
    let mut after: Option<ClientId> = None;
    loop {
        let page = server.list_clients(after.as_ref(), PAGE).await?;
        all.extend(page.clients);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let json = Value::Array(all.iter().map(client_json).collect());
    Ok(Output::new(clients_table(&all), json))
}

async fn enable<S: TokenStore + ClientRegistry>(
    server: &AuthServer<S>,
    id: ClientId,
    enabled: bool,
) -> Result<Output, AdminError> {
    if !server.set_client_enabled(&id, enabled).await? {
        return Err(AdminError::NotFound(id));
    }
    let human = match enabled {
        true => format!("enabled client {id}"),
        false => format!("disabled client {id}: it cannot authenticate and its tokens introspect inactive"),
    };
    Ok(Output::new(human, json!({ "client_id": id.as_str(), "enabled": enabled })))
}
