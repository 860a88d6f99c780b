//! The endpoints' futures stay small: every adapter moves them (into a
//! task, a `Box`, a `pin!`), and each move copies the whole state. The
//! bounds leave room for compiler versions; what they catch is a rare path
//! (the code exchange, the refresh) growing every request's future again.
#![allow(missing_docs, clippy::unwrap_used)]

use gatehouse_core::{AuthServer, Config, HttpRequest, Keyring};
use gatehouse_memory::MemoryStore;

#[test]
fn the_token_endpoint_does_not_carry_the_rare_grants_futures() {
    let server =
        AuthServer::new(MemoryStore::new(), Keyring::random().unwrap(), Config::new("https://i.example"));
    let token = server.token_endpoint(HttpRequest::form_post(b"grant_type=client_credentials"));
    // In a release build, 1,296 bytes; 2,216 with the code exchange's and the
    // refresh's futures held inline.
    let size = std::mem::size_of_val(&token);
    assert!(size <= 1_700, "token endpoint future: {size} bytes");
}
