//! Nothing secret at rest: after issuing tokens and registering clients,
//! no file of the database (main, `-wal`, `-shm`) holds a raw token, any
//! part of one that is not public, or a raw client secret, in any of the
//! encodings checked.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{minted, run, TempDir};
use gatehouse_core::model::{Client, ClientId, GrantId, Resource, Scope, SecretDigest, TokenKind};
use gatehouse_core::{ClientRegistry, TokenStore};
use gatehouse_sqlite::SqliteStore;

/// Byte strings that must appear in no file.
fn forbidden_forms_of_token(token: &str) -> Vec<Vec<u8>> {
    let (_, body) = token.split_once('.').unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
    // Layout: grant id (16, public) ‖ random (32) ‖ tag (32).
    let (random, tag) = (&bytes[16..48], &bytes[48..80]);
    vec![
        token.as_bytes().to_vec(),
        body.as_bytes().to_vec(),
        random.to_vec(),
        tag.to_vec(),
        hex(random).into_bytes(),
        URL_SAFE_NO_PAD.encode(random).into_bytes(),
    ]
}

fn forbidden_forms_of_secret(secret: &str) -> Vec<Vec<u8>> {
    let raw = URL_SAFE_NO_PAD.decode(secret).unwrap();
    vec![secret.as_bytes().to_vec(), raw.clone(), hex(&raw).into_bytes()]
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every forbidden string is at least this long; the scan looks up each
/// window of this many bytes in a set of prefixes, one pass per file.
const PREFIX: usize = 16;

/// Asserts no file in `dir` contains any forbidden byte string; returns how
/// many files were read.
fn assert_clean(dir: &std::path::Path, forbidden: &[Vec<u8>]) -> usize {
    let mut prefixes: HashMap<&[u8], Vec<&[u8]>> = HashMap::new();
    for f in forbidden {
        assert!(f.len() >= PREFIX);
        prefixes.entry(&f[..PREFIX]).or_default().push(f);
    }
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        files += 1;
        for (at, window) in bytes.windows(PREFIX).enumerate() {
            for f in prefixes.get(window).into_iter().flatten() {
                assert!(
                    !bytes[at..].starts_with(f),
                    "{} holds a forbidden value at byte {at}",
                    path.display()
                );
            }
        }
    }
    files
}

#[test]
fn no_raw_token_or_secret_in_any_database_file() {
    let dir = TempDir::new("at-rest");
    let store = SqliteStore::open(dir.db()).unwrap();
    let keys = common::keyring();
    let mut forbidden = Vec::new();

    for kind in [TokenKind::Access, TokenKind::Refresh, TokenKind::AuthorizationCode] {
        for _ in 0..20 {
            let (raw, record) = minted(&keys, kind, GrantId::generate().unwrap(), 2_000);
            run(store.insert(record)).unwrap();
            forbidden.extend(forbidden_forms_of_token(raw.expose()));
        }
    }
    // Replacements stored by a rotation take the other write path.
    let grant = GrantId::generate().unwrap();
    let (code_raw, code) = minted(&keys, TokenKind::AuthorizationCode, grant, 2_000);
    let (access_raw, access) = minted(&keys, TokenKind::Access, grant, 2_000);
    let (refresh_raw, refresh) = minted(&keys, TokenKind::Refresh, grant, 2_000);
    run(store.insert(code.clone())).unwrap();
    run(store.consume(&code.digest, vec![access, refresh])).unwrap();
    for raw in [&code_raw, &access_raw, &refresh_raw] {
        forbidden.extend(forbidden_forms_of_token(raw.expose()));
    }

    for i in 0..10 {
        let (secret, digest) = SecretDigest::generate().unwrap();
        let id = ClientId::new(&format!("client-{i}")).unwrap();
        let client = if i % 2 == 0 {
            Client::new_resource_server(id, digest, [Resource::new("https://api.example").unwrap()])
        } else {
            Client::new_confidential(id, digest)
        }
        .with_scope(Scope::parse("read").unwrap(), Scope::empty());
        run(store.put_client(client)).unwrap();
        forbidden.extend(forbidden_forms_of_secret(&secret));
    }

    // While open: the data is (at least) in the WAL.
    assert!(assert_clean(dir.path(), &forbidden) >= 2, "expected the main file and its WAL");
    // After closing: checkpointed into the main file.
    drop(store);
    assert!(assert_clean(dir.path(), &forbidden) >= 1);

    // The check can fail: a raw token written to the file is found.
    let leaky = rusqlite::Connection::open(dir.db()).unwrap();
    leaky.execute("UPDATE clients SET client = ?1 WHERE id = 'client-0'", [code_raw.expose()]).unwrap();
    drop(leaky);
    let leak = std::panic::catch_unwind(|| assert_clean(dir.path(), &forbidden));
    assert!(leak.is_err(), "a planted raw token was not detected");
}
