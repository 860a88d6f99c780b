//! Rotating a client secret through [`AuthServer`], on a [`ManualClock`]:
//! the new secret works at once, the old one until the operator's
//! deadline, then never. No sleeps: the clock is moved by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use gatehouse_core::model::{Client, ClientAuth, ClientId, GrantType, Resource, SecretDigest};
use gatehouse_core::{
    AuthServer, ClientRegistry, Config, HttpRequest, Keyring, ManualClock, SecretRotation, UnixTime,
};
use gatehouse_memory::MemoryStore;

const START: UnixTime = UnixTime(1_700_000_000);

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

/// A server on a manual clock with one confidential client `app`, and
/// its first secret.
fn server() -> (AuthServer<MemoryStore>, ManualClock, String) {
    let clock = ManualClock::new(START);
    let server =
        AuthServer::new(MemoryStore::new(), Keyring::random().unwrap(), Config::new("https://as.example"))
            .with_clock(clock.clone());
    let (secret, digest) = SecretDigest::generate().unwrap();
    let app = Client::new_confidential(ClientId::new("app").unwrap(), digest)
        .with_grants([GrantType::ClientCredentials])
        .with_audiences([Resource::new("https://api.example").unwrap()]);
    block_on(server.store().put_client(app)).unwrap();
    (server, clock, secret)
}

/// The token endpoint's status for `app` presenting `secret`.
fn status(server: &AuthServer<MemoryStore>, secret: &str) -> u16 {
    let body = format!("grant_type=client_credentials&client_id=app&client_secret={secret}");
    block_on(server.token_endpoint(HttpRequest::form_post(body.as_bytes()))).status
}

fn rotate(server: &AuthServer<MemoryStore>, until: UnixTime) -> (String, Option<UnixTime>) {
    match block_on(server.rotate_client_secret(&ClientId::new("app").unwrap(), until)).unwrap() {
        SecretRotation::Rotated { secret, previous_until } => (secret.into_string(), previous_until),
        other => panic!("not rotated: {other:?}"),
    }
}

#[test]
fn the_old_secret_works_until_the_deadline_and_the_new_one_at_once() {
    let (server, clock, old) = server();
    let deadline = START.plus(3600);
    let (new, until) = rotate(&server, deadline);
    assert_eq!(until, Some(deadline));
    assert_ne!(new, old);
    assert_eq!((status(&server, &new), status(&server, &old)), (200, 200));
    clock.set(deadline.minus(1));
    assert_eq!((status(&server, &new), status(&server, &old)), (200, 200));
    clock.set(deadline);
    assert_eq!((status(&server, &new), status(&server, &old)), (200, 401));
    clock.advance(86_400);
    assert_eq!((status(&server, &new), status(&server, &old)), (200, 401));
    // Only the digest is stored: the registration holds no secret text.
    let stored = block_on(server.client(&ClientId::new("app").unwrap())).unwrap().unwrap();
    let json = serde_json::to_string(&stored).unwrap();
    assert!(!json.contains(&new) && !json.contains(&old), "{json}");
    assert!(matches!(&stored.auth, ClientAuth::Confidential { secret, .. } if secret.verify(&new)));
}

#[test]
fn a_deadline_of_now_ends_the_old_secret_at_once() {
    let (server, _clock, old) = server();
    let (new, until) = rotate(&server, START);
    assert_eq!(until, None);
    assert_eq!((status(&server, &new), status(&server, &old)), (200, 401));
}

#[test]
fn rotating_during_an_overlap_ends_the_oldest_secret() {
    let (server, clock, first) = server();
    let (second, _) = rotate(&server, START.plus(100));
    clock.advance(10);
    let (third, _) = rotate(&server, START.plus(200));
    assert_eq!([status(&server, &first), status(&server, &second), status(&server, &third)], [401, 200, 200]);
    clock.set(START.plus(200));
    assert_eq!([status(&server, &second), status(&server, &third)], [401, 200]);
}

#[test]
fn unknown_and_public_clients_are_not_rotated_and_nothing_changes() {
    let (server, _clock, secret) = server();
    let unknown = block_on(server.rotate_client_secret(&ClientId::new("nobody").unwrap(), START.plus(1)));
    assert!(matches!(unknown.unwrap(), SecretRotation::UnknownClient));
    let native = ClientId::new("native").unwrap();
    block_on(server.store().put_client(Client::new_public(native.clone()))).unwrap();
    assert!(matches!(
        block_on(server.rotate_client_secret(&native, START.plus(1))).unwrap(),
        SecretRotation::PublicClient
    ));
    assert!(block_on(server.client(&native)).unwrap().is_some_and(|c| !c.is_confidential()));
    assert!(block_on(server.client(&ClientId::new("nobody").unwrap())).unwrap().is_none());
    assert_eq!(status(&server, &secret), 200);
}

#[test]
fn a_disabled_client_is_refused_with_either_secret_until_enabled_again() {
    let (server, _clock, old) = server();
    let (new, _) = rotate(&server, START.plus(100));
    let app = ClientId::new("app").unwrap();
    assert!(block_on(server.set_client_enabled(&app, false)).unwrap());
    assert_eq!((status(&server, &new), status(&server, &old)), (401, 401));
    assert!(block_on(server.set_client_enabled(&app, true)).unwrap());
    assert_eq!((status(&server, &new), status(&server, &old)), (200, 200));
    assert!(!block_on(server.set_client_enabled(&ClientId::new("nobody").unwrap(), true)).unwrap());
    assert!(block_on(server.remove_client(&app)).unwrap());
    assert_eq!(status(&server, &new), 401);
    assert!(!block_on(server.remove_client(&app)).unwrap());
}

/// A registration stored before rotation existed (no `previous`) decodes,
/// and one with a previous secret round-trips.
#[test]
fn registrations_without_a_previous_secret_still_decode() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let old = format!(r#"{{"id":"app","auth":{{"type":"confidential","secret":"{digest}"}}}}"#);
    let c: Client = serde_json::from_str(&old).unwrap();
    assert!(matches!(c.auth, ClientAuth::Confidential { previous: None, .. }));
    assert!(!serde_json::to_string(&c).unwrap().contains("previous"));
    let (_, d) = SecretDigest::generate().unwrap();
    let rotated = c.with_rotated_secret(d, START.plus(5), START).unwrap();
    let json = serde_json::to_string(&rotated).unwrap();
    assert!(
        json.contains(&format!(r#""previous":{{"secret":"{digest}","until":{}}}"#, START.0 + 5)),
        "{json}"
    );
    let back: Client = serde_json::from_str(&json).unwrap();
    assert!(
        matches!(back.auth, ClientAuth::Confidential { previous: Some(p), .. } if p.until == START.plus(5))
    );
}
