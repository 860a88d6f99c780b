//! gatehouse's endpoints, one client (`app`, secret from `APP_SECRET`) and one protected route, `/hello`.
use axum::{routing::get, Router};
use gatehouse_axum::{Bearer, Gatehouse};
use gatehouse_core::{model::*, AuthServer, ClientRegistry, Config, Keyring};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let config = Config::new(&format!("http://{addr}"));
    let auth = AuthServer::new(gatehouse_memory::MemoryStore::new(), Keyring::random()?, config);
    let (read, api) = (Scope::parse("read")?, Resource::new("https://api.example")?);
    let secret = SecretDigest::from_secret(&std::env::var("APP_SECRET")?)?; // 32 bytes or more
    let client = Client::new_confidential(ClientId::new("app")?, secret).with_scope(read.clone(), read);
    auth.store().put_client(client.with_grants([GrantType::ClientCredentials]).with_audiences([api])).await?;
    let gatehouse = Gatehouse::new(auth);
    let hello = get(|Bearer(who): Bearer| async move { format!("hello, {}\n", who.client_id.as_str()) });
    let guarded = hello.route_layer(gatehouse.require("https://api.example", "read")?);
    let app = Router::new().route("/hello", guarded).merge(gatehouse.router()?);
    Ok(axum::serve(tokio::net::TcpListener::bind(addr).await?, app).await?)
}
