//! The introspection and token endpoints read the clock once per request:
//! authentication and the operation after it judge at the same instant,
//! and the hot path pays for one reading (tens of nanoseconds each on the
//! system clock), not two.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use gatehouse_core::model::{Client, ClientId, GrantType, Resource, Scope, SecretDigest};
use gatehouse_core::{AuthServer, ClientRegistry, Clock, Config, HttpRequest, Keyring, UnixTime};
use gatehouse_memory::MemoryStore;

/// A fixed time that counts how often it is read.
#[derive(Clone, Default)]
struct CountingClock(Arc<AtomicUsize>);

impl Clock for CountingClock {
    fn now(&self) -> UnixTime {
        self.0.fetch_add(1, Ordering::SeqCst);
        UnixTime(1_767_225_600)
    }

    fn now_millis(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst);
        1_767_225_600_000
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

#[tokio::test]
async fn each_endpoint_request_reads_the_clock_once() {
    let clock = CountingClock::default();
    let server =
        AuthServer::new(MemoryStore::new(), Keyring::random().unwrap(), Config::new("https://i.example"))
            .with_clock(clock.clone());
    let api = Resource::new("https://api.example").unwrap();
    let (app_secret, digest) = SecretDigest::generate().unwrap();
    let app = Client::new_confidential(ClientId::new("app").unwrap(), digest)
        .with_grants([GrantType::ClientCredentials])
        .with_scope(Scope::parse("read").unwrap(), Scope::parse("read").unwrap())
        .with_audiences([api.clone()]);
    let (rs_secret, digest) = SecretDigest::generate().unwrap();
    let rs = Client::new_resource_server(ClientId::new("rs").unwrap(), digest, [api]);
    server.store().put_client(app).await.unwrap();
    server.store().put_client(rs).await.unwrap();

    let reads = || clock.0.swap(0, Ordering::SeqCst);
    let app_basic = basic("app", &app_secret);
    let req = HttpRequest::form_post(b"grant_type=client_credentials").with_authorization(&app_basic);
    let issued = server.token_endpoint(req).await;
    assert_eq!(issued.status, 200);
    assert_eq!(reads(), 1, "token endpoint");

    let token = issued.json_body().unwrap()["access_token"].as_str().unwrap().to_owned();
    let rs_basic = basic("rs", &rs_secret);
    let body = format!("token={token}");
    let answer = server
        .introspection_endpoint(HttpRequest::form_post(body.as_bytes()).with_authorization(&rs_basic))
        .await;
    assert_eq!(answer.json_body().unwrap()["active"], true);
    assert_eq!(reads(), 1, "introspection endpoint");
}
