//! Opening files: new, empty, ours, not a database, someone else's, newer.
//! Migration from each older version is in `schema::tests`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{fresh, run, TempDir};
use gatehouse_core::model::TokenKind;
use gatehouse_core::TokenStore;
use gatehouse_sqlite::{SqliteError, SqliteStore, SCHEMA_VERSION};

fn user_version(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
}

/// Every file of the directory with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect()
}

#[test]
fn a_missing_file_is_created_at_the_current_version() {
    let dir = TempDir::new("mig-new");
    let s = SqliteStore::open(dir.db()).unwrap();
    run(s.insert(fresh(TokenKind::Access, 2_000))).unwrap();
    drop(s);
    assert_eq!(user_version(&dir.db()), SCHEMA_VERSION);
}

#[test]
fn an_empty_file_is_version_zero_and_migrates() {
    let dir = TempDir::new("mig-empty");
    std::fs::write(dir.db(), b"").unwrap();
    let s = SqliteStore::open(dir.db()).unwrap();
    let r = fresh(TokenKind::Access, 2_000);
    run(s.insert(r.clone())).unwrap();
    drop(s);
    assert_eq!(user_version(&dir.db()), SCHEMA_VERSION);
    // Reopening a current file changes nothing and keeps the data.
    let s = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(run(s.get(&r.digest)).unwrap(), Some(r));
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_untouched() {
    let dir = TempDir::new("mig-notadb");
    let text: Vec<u8> = b"this is a configuration file, not a database\n".repeat(100);
    std::fs::write(dir.db(), &text).unwrap();
    let before = snapshot(dir.path());

    let err = SqliteStore::open(dir.db()).unwrap_err();
    assert!(matches!(err, SqliteError::NotADatabase { .. }), "{err:?}");
    assert!(err.to_string().contains("is not an SQLite database"), "{err}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn another_applications_database_is_refused_and_untouched() {
    let dir = TempDir::new("mig-foreign");
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.execute_batch("CREATE TABLE tokens (x); INSERT INTO tokens VALUES (1);").unwrap();
    }
    let before = snapshot(dir.path());
    let err = SqliteStore::open(dir.db()).unwrap_err();
    assert!(matches!(err, SqliteError::ForeignDatabase { .. }), "{err:?}");
    assert!(err.to_string().contains("not a gatehouse token store"), "{err}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_newer_schema_is_refused_and_untouched() {
    let dir = TempDir::new("mig-newer");
    drop(SqliteStore::open(dir.db()).unwrap());
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = snapshot(dir.path());

    let err = SqliteStore::open(dir.db()).unwrap_err();
    match &err {
        SqliteError::NewerSchema { found, supported, .. } => {
            assert_eq!((*found, *supported), (99, SCHEMA_VERSION));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert!(err.to_string().contains("schema version 99, newer than"), "{err}");
    assert_eq!(snapshot(dir.path()), before);
    assert_eq!(user_version(&dir.db()), 99);
}

#[test]
fn two_stores_may_open_one_new_file_at_once() {
    let dir = TempDir::new("mig-race");
    let path = dir.db();
    let opened: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| SqliteStore::open(&path))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for store in &opened {
        assert!(store.is_ok(), "{store:?}");
    }
    drop(opened);
    assert_eq!(user_version(&path), SCHEMA_VERSION);
}
