//! The client snapshot never answers with a stale client: a client written
//! through one store (standing for another process: its own connections,
//! writer thread and snapshot) is seen by the other store's very next
//! lookup, and so is a write made with plain SQL, as older code would.
#![allow(clippy::unwrap_used)]

mod common;

use common::{fresh, ready, run, TempDir};
use gatehouse_core::model::{Client, ClientAuth, ClientId, SecretDigest, TokenKind};
use gatehouse_core::{ClientRegistry, TokenStore};
use gatehouse_sqlite::{SqliteConfig, SqliteStore};
use std::time::Duration;

fn client(id: &str) -> Client {
    Client::new_confidential(ClientId::new(id).unwrap(), SecretDigest::generate().unwrap().1)
}

fn secret(c: &Client) -> &SecretDigest {
    match &c.auth {
        ClientAuth::Confidential { secret, .. } => secret,
        other => panic!("expected a confidential client, got {other:?}"),
    }
}

/// Whether `got` holds the secret of `want` (digests have no `PartialEq`
/// on purpose; the test compares their stored form).
fn same_secret(got: &Client, want: &Client) -> bool {
    serde_json::to_string(secret(got)).unwrap() == serde_json::to_string(secret(want)).unwrap()
}

#[test]
fn a_client_write_by_one_store_is_seen_by_the_others_next_lookup() {
    let dir = TempDir::new("client-cache");
    let (a, b) = (SqliteStore::open(dir.db()).unwrap(), SqliteStore::open(dir.db()).unwrap());
    let app = client("app");
    let other = client("other");
    run(a.put_client(other.clone())).unwrap();

    // Unknown, then registered.
    assert!(ready(b.client(&app.id)).unwrap().is_none());
    run(a.put_client(app.clone())).unwrap();
    assert!(ready(b.client(&app.id)).unwrap().unwrap().enabled);
    // Warm snapshot in `b`; token writes do not disturb it.
    run(a.insert(fresh(TokenKind::Access, 2_000))).unwrap();
    assert!(ready(b.client(&app.id)).unwrap().unwrap().enabled);

    // Disabled.
    let mut disabled = app.clone();
    disabled.enabled = false;
    run(a.put_client(disabled)).unwrap();
    assert!(!ready(b.client(&app.id)).unwrap().unwrap().enabled);

    // Re-keyed.
    let rekeyed = client("app");
    run(a.put_client(rekeyed.clone())).unwrap();
    let got = ready(b.client(&app.id)).unwrap().unwrap();
    assert!(got.enabled);
    assert!(same_secret(&got, &rekeyed) && !same_secret(&got, &app));

    // Removed; the other client stays.
    assert!(run(a.remove_client(&app.id)).unwrap());
    assert!(ready(b.client(&app.id)).unwrap().is_none());
    assert!(ready(b.client(&other.id)).unwrap().is_some());

    // And the other way round, through `b`'s writer.
    run(b.put_client(app.clone())).unwrap();
    assert!(ready(a.client(&app.id)).unwrap().is_some());
}

/// A store that reads the clients generation from the database on every
/// `client` lookup, or never again after its first (within the test).
fn open_checking(dir: &TempDir, every: Duration) -> SqliteStore {
    let mut config = SqliteConfig::default();
    config.client_db_check_interval = every;
    SqliteStore::open_with(dir.db(), config).unwrap()
}

#[test]
fn a_client_changed_with_plain_sql_is_seen_at_once_when_checking_every_lookup() {
    let dir = TempDir::new("client-cache-sql");
    let s = open_checking(&dir, Duration::ZERO);
    let app = client("app");
    run(s.put_client(app.clone())).unwrap();
    assert!(ready(s.client(&app.id)).unwrap().unwrap().enabled);

    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let json: String =
        conn.query_row("SELECT client FROM clients WHERE id = 'app'", [], |r| r.get(0)).unwrap();
    let off = json.replace("\"enabled\":true", "\"enabled\":false");
    assert_ne!(off, json);
    conn.execute("UPDATE clients SET client = ?1 WHERE id = 'app'", [&off]).unwrap();
    assert!(!ready(s.client(&app.id)).unwrap().unwrap().enabled);

    conn.execute("DELETE FROM clients", []).unwrap();
    assert!(ready(s.client(&app.id)).unwrap().is_none());

    conn.execute("INSERT INTO clients (id, client) VALUES ('app', ?1)", [&json]).unwrap();
    assert!(ready(s.client(&app.id)).unwrap().unwrap().enabled);
}

/// A write through the store API is announced in the notice file, so it is
/// seen at once even by a store that never checks the database again; a
/// plain SQL write is not announced: such a store's `client` misses it (the
/// documented window), while `get_with_client` sees it at once.
#[test]
fn the_notice_file_carries_store_writes_and_the_database_check_plain_sql() {
    let dir = TempDir::new("client-cache-notice");
    let never = Duration::MAX;
    let (a, b) = (open_checking(&dir, never), open_checking(&dir, never));
    let app = client("app");
    let mut record = fresh(TokenKind::Access, 2_000);
    record.client_id = app.id.clone();
    run(a.insert(record.clone())).unwrap();
    assert!(ready(b.client(&app.id)).unwrap().is_none());
    run(a.put_client(app.clone())).unwrap();
    assert!(ready(b.client(&app.id)).unwrap().unwrap().enabled);
    let mut disabled = app.clone();
    disabled.enabled = false;
    run(a.put_client(disabled)).unwrap();
    assert!(!ready(b.client(&app.id)).unwrap().unwrap().enabled);
    assert!(run(a.remove_client(&app.id)).unwrap());
    assert!(ready(b.client(&app.id)).unwrap().is_none());
    run(a.put_client(app.clone())).unwrap();
    assert!(ready(b.client(&app.id)).unwrap().unwrap().enabled);

    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    conn.execute("DELETE FROM clients", []).unwrap();
    assert!(ready(b.client(&app.id)).unwrap().is_some(), "unannounced: within the check interval");
    let (_, registered) = ready(b.get_with_client(&record.digest)).unwrap().unwrap();
    assert!(registered.is_none(), "get_with_client reads the generation with the token");
}

/// `get_with_client` reads the clients generation with the token row, and
/// never answers with a client older than that: a client written by
/// another store (process) or with plain SQL is seen by the next call, even
/// when this store's snapshot is warm.
#[test]
fn get_with_client_sees_a_client_write_by_another_store_or_plain_sql() {
    let dir = TempDir::new("client-cache-with-token");
    let (a, b) = (SqliteStore::open(dir.db()).unwrap(), SqliteStore::open(dir.db()).unwrap());
    let mut record = fresh(TokenKind::Access, 2_000);
    let app = client("app");
    record.client_id = app.id.clone();
    run(a.insert(record.clone())).unwrap();
    let with_client = |s: &SqliteStore| ready(s.get_with_client(&record.digest)).unwrap().unwrap();

    // Unregistered, then registered by the other store.
    assert!(with_client(&b).1.is_none());
    run(a.put_client(app.clone())).unwrap();
    let (got, registered) = with_client(&b);
    assert_eq!(got, record);
    assert!(registered.unwrap().enabled);

    // Warm snapshot in `b`; a disables it.
    let mut disabled = app.clone();
    disabled.enabled = false;
    run(a.put_client(disabled)).unwrap();
    assert!(!with_client(&b).1.unwrap().enabled);

    // Re-keyed by the other store.
    let rekeyed = client("app");
    run(a.put_client(rekeyed.clone())).unwrap();
    let got = with_client(&b).1.unwrap();
    assert!(got.enabled && same_secret(&got, &rekeyed));

    // Disabled, then removed, with plain SQL.
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let json: String =
        conn.query_row("SELECT client FROM clients WHERE id = 'app'", [], |r| r.get(0)).unwrap();
    let off = json.replace("\"enabled\":true", "\"enabled\":false");
    assert_ne!(off, json);
    conn.execute("UPDATE clients SET client = ?1 WHERE id = 'app'", [&off]).unwrap();
    assert!(!with_client(&b).1.unwrap().enabled);
    conn.execute("DELETE FROM clients", []).unwrap();
    assert!(with_client(&b).1.is_none());
}
