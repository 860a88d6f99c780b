//! The versioned schema and its forward-only migrations.
//!
//! The schema version lives in `PRAGMA user_version`; `MIGRATIONS[i]` takes
//! a database from version `i` to `i + 1`. A new version adds one entry at
//! the end and never edits an old one: files in the field were created by
//! the old entries.
//!
//! Before anything is written, [`check`] reads the header fields (which
//! needs no write) and refuses a file that is not a database, belongs to
//! another application, or has a newer schema. Only then does the caller
//! switch on WAL (which rewrites the header) and [`migrate`].

use std::path::Path;

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use crate::error::SqliteError;

/// `PRAGMA application_id` of a gatehouse store: "GATE" in ASCII. It tells
/// our files apart from any other SQLite database on open.
pub(crate) const APPLICATION_ID: i64 = 0x4741_5445;

/// Token states as stored in `tokens.state`. Integers, so that the
/// `UPDATE … WHERE state = 0` of `consume` compares one small value.
pub(crate) const STATE_ACTIVE: i64 = 0;
pub(crate) const STATE_REVOKED: i64 = 1;
pub(crate) const STATE_CONSUMED: i64 = 2;

/// Migration `i` takes the schema from version `i` to `i + 1`.
///
/// `tokens.record` is declared `TEXT` from when records were JSON; it now
/// holds the core's binary record as a BLOB, which `TEXT` affinity stores
/// unchanged, beside JSON text in rows written before (`src/codec.rs`).
const MIGRATIONS: &[&str] = &[
    // v1. Tokens are keyed by their digest, split into the grant id (16
    // bytes) and the hash (32 bytes). WITHOUT ROWID makes the primary key
    // the table's own B-tree: a get is one lookup, and the rows of a grant
    // are adjacent, so revoking a grant is one range scan of the key. The
    // record itself is the core's JSON form; `state` and `expires_at` are
    // copied out as columns because the store updates and scans them.
    // `state` is authoritative over the state inside the JSON.
    "
    CREATE TABLE tokens (
        grant_id   BLOB    NOT NULL CHECK (length(grant_id) = 16),
        hash       BLOB    NOT NULL CHECK (length(hash) = 32),
        state      INTEGER NOT NULL CHECK (state IN (0, 1, 2)),
        expires_at INTEGER NOT NULL,
        record     TEXT    NOT NULL,
        PRIMARY KEY (grant_id, hash)
    ) WITHOUT ROWID;
    CREATE INDEX tokens_by_expiry ON tokens (expires_at);
    CREATE TABLE clients (
        id     TEXT NOT NULL PRIMARY KEY,
        client TEXT NOT NULL
    ) WITHOUT ROWID;
    ",
    // v2. The clients generation: one row, bumped by triggers in the same
    // transaction as every change to `clients`, by whatever code or process
    // makes it (older code paths included). Each process caches the decoded
    // clients table tagged with the generation and reloads it when the
    // generation moves (`src/clients.rs`); token writes leave it alone.
    "
    CREATE TABLE clients_generation (
        id INTEGER NOT NULL PRIMARY KEY CHECK (id = 0),
        n  INTEGER NOT NULL
    );
    INSERT INTO clients_generation (id, n) VALUES (0, 0);
    CREATE TRIGGER clients_generation_on_insert AFTER INSERT ON clients
    BEGIN UPDATE clients_generation SET n = n + 1 WHERE id = 0; END;
    CREATE TRIGGER clients_generation_on_update AFTER UPDATE ON clients
    BEGIN UPDATE clients_generation SET n = n + 1 WHERE id = 0; END;
    CREATE TRIGGER clients_generation_on_delete AFTER DELETE ON clients
    BEGIN UPDATE clients_generation SET n = n + 1 WHERE id = 0; END;
    ",
    // v3. The CHECK on `tokens.state` says the same with `OR`s: SQLite
    // evaluates `state IN (0, 1, 2)` by building and dropping a temporary
    // B-tree on every insert and every state update, which callgrind put
    // at about a third of the writer thread's instructions per issued
    // token. A CHECK cannot be altered in place, so the table is rebuilt
    // by SQLite's documented procedure (lang_altertable.html, "other kinds
    // of table schema changes"): every row is copied once, inside this
    // migration's transaction.
    "
    CREATE TABLE tokens_v3 (
        grant_id   BLOB    NOT NULL CHECK (length(grant_id) = 16),
        hash       BLOB    NOT NULL CHECK (length(hash) = 32),
        state      INTEGER NOT NULL CHECK (state = 0 OR state = 1 OR state = 2),
        expires_at INTEGER NOT NULL,
        record     TEXT    NOT NULL,
        PRIMARY KEY (grant_id, hash)
    ) WITHOUT ROWID;
    INSERT INTO tokens_v3 (grant_id, hash, state, expires_at, record)
        SELECT grant_id, hash, state, expires_at, record FROM tokens ORDER BY grant_id, hash;
    DROP TABLE tokens;
    ALTER TABLE tokens_v3 RENAME TO tokens;
    CREATE INDEX tokens_by_expiry ON tokens (expires_at);
    ",
    // v4. The registry's seed marker (`ClientRegistry::seeded_at`): one
    // row at most, kept in the file with the clients, so it is lost
    // exactly when they are.
    "
    CREATE TABLE registry_seeded (
        id INTEGER NOT NULL PRIMARY KEY CHECK (id = 0),
        at INTEGER NOT NULL
    );
    ",
    // v5. Bulk revocation (`revoke_all`) finds a client's or a subject's
    // grants through these indexes, never by scanning the table. The
    // owners are copied out of the JSON into columns, as `state` and
    // `expires_at` are; each index entry is a token's, so purging a token
    // drops its entries and the indexes never outgrow the table. A
    // secondary index of a WITHOUT ROWID table holds the primary key, so
    // each covers the grant ids it is looked up for. Tokens without a
    // subject (client_credentials) stay out of the subject index. Rows of
    // older versions are filled from their JSON; a row whose JSON does not
    // parse is corrupt already (every read of it fails) and stays unfilled.
    "
    ALTER TABLE tokens ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE tokens ADD COLUMN subject TEXT;
    UPDATE tokens SET client_id = coalesce(json_extract(record, '$.client_id'), ''),
                      subject = json_extract(record, '$.subject')
        WHERE json_valid(record);
    CREATE INDEX tokens_by_client ON tokens (client_id);
    CREATE INDEX tokens_by_subject ON tokens (subject, client_id) WHERE subject IS NOT NULL;
    ",
];

/// The schema version this crate writes and reads.
pub(crate) const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Maps a failure while reading the header: SQLite only notices that a
/// file is not a database on its first read.
fn read_error(path: &Path, source: rusqlite::Error) -> SqliteError {
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => SqliteError::NotADatabase { path: path.to_owned() },
        _ => SqliteError::Open { path: path.to_owned(), source },
    }
}

/// Checks, without writing anything, that `conn` holds an empty database or
/// a gatehouse store of a version we know. Returns its version.
pub(crate) fn check(conn: &Connection, path: &Path) -> Result<i64, SqliteError> {
    let version: i64 =
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| read_error(path, e))?;
    let app_id: i64 =
        conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(|e| read_error(path, e))?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(SqliteError::ForeignDatabase { path: path.to_owned() });
    }
    if version == 0 {
        // Version 0 is "nothing here yet" only if there is really nothing:
        // anyone else's database also starts at user_version 0.
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(|e| read_error(path, e))?;
        if objects != 0 {
            return Err(SqliteError::ForeignDatabase { path: path.to_owned() });
        }
    } else if app_id != APPLICATION_ID {
        return Err(SqliteError::ForeignDatabase { path: path.to_owned() });
    }
    if version > CURRENT_VERSION {
        return Err(SqliteError::NewerSchema {
            path: path.to_owned(),
            found: version,
            supported: CURRENT_VERSION,
        });
    }
    Ok(version)
}

/// Brings the schema to [`CURRENT_VERSION`].
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), SqliteError> {
    migrate_to(conn, path, CURRENT_VERSION)
}

/// Brings the schema to `target`, one transaction per version, so a failed
/// step leaves the file at the previous version. Two processes opening the
/// same new file at once are serialised by `BEGIN IMMEDIATE`; the second
/// re-reads the version inside its transaction and finds nothing to do.
pub(crate) fn migrate_to(conn: &mut Connection, path: &Path, target: i64) -> Result<(), SqliteError> {
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| SqliteError::Open { path: path.to_owned(), source: e })?;
        let version = check(&tx, path)?;
        if version >= target {
            return Ok(());
        }
        let next = version + 1;
        let failed = |source| SqliteError::Migration { path: path.to_owned(), version: next, source };
        let sql = usize::try_from(version).ok().and_then(|i| MIGRATIONS.get(i)).copied().unwrap_or("");
        tx.execute_batch(sql).map_err(failed)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(failed)?;
        tx.pragma_update(None, "user_version", next).map_err(failed)?;
        tx.commit().map_err(failed)?;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn schema_sql(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare(
                "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_schema ORDER BY name",
            )
            .unwrap();
        st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    fn version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
    }

    #[test]
    fn every_older_version_migrates_to_the_schema_of_a_fresh_file() {
        let p = Path::new(":memory:");
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh, p).unwrap();
        assert_eq!(version(&fresh), CURRENT_VERSION);
        let expected = schema_sql(&fresh);
        for start in 0..CURRENT_VERSION {
            let mut conn = Connection::open_in_memory().unwrap();
            migrate_to(&mut conn, p, start).unwrap();
            assert_eq!(version(&conn), start);
            migrate(&mut conn, p).unwrap();
            assert_eq!(version(&conn), CURRENT_VERSION, "from version {start}");
            assert_eq!(schema_sql(&conn), expected, "from version {start}");
        }
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let p = Path::new(":memory:");
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, p).unwrap();
        let before = schema_sql(&conn);
        migrate(&mut conn, p).unwrap();
        assert_eq!(schema_sql(&conn), before);
    }

    /// The opcodes of `sql` as SQLite compiles it.
    fn opcodes(conn: &Connection, sql: &str) -> Vec<String> {
        let mut st = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Value::Null; st.parameter_count()];
        st.query_map(rusqlite::params_from_iter(nulls), |r| r.get(1))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn token_writes_build_no_temporary_btree_and_states_stay_checked() {
        let p = Path::new(":memory:");
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, p).unwrap();
        for sql in [
            "INSERT INTO tokens (grant_id, hash, state, expires_at, record) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            "UPDATE tokens SET state = ?3 WHERE grant_id = ?1 AND hash = ?2",
        ] {
            assert!(!opcodes(&conn, sql).iter().any(|o| o == "OpenEphemeral"), "{sql}");
        }
        let insert = |state: rusqlite::types::Value, g: u8| {
            conn.execute(
                "INSERT INTO tokens (grant_id, hash, state, expires_at, record) VALUES (?1, ?2, ?3, 0, '{}')",
                rusqlite::params![vec![g; 16], vec![0u8; 32], state],
            )
        };
        for (g, ok) in [(0, true), (1, true), (2, true), (3, false)] {
            assert_eq!(insert(rusqlite::types::Value::Integer(g), g as u8).is_ok(), ok, "state {g}");
        }
        assert!(insert(rusqlite::types::Value::Real(1.5), 9).is_err());
        assert!(insert(rusqlite::types::Value::Integer(-1), 10).is_err());
    }

    #[test]
    fn version_two_rows_survive_the_rebuild_of_version_three() {
        let p = Path::new(":memory:");
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, p, 2).unwrap();
        conn.execute(
            "INSERT INTO tokens (grant_id, hash, state, expires_at, record) VALUES (?1, ?2, 1, 77, 'r')",
            rusqlite::params![vec![5u8; 16], vec![6u8; 32]],
        )
        .unwrap();
        migrate(&mut conn, p).unwrap();
        let row: (Vec<u8>, Vec<u8>, i64, i64, String) = conn
            .query_row("SELECT grant_id, hash, state, expires_at, record FROM tokens", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap();
        assert_eq!(row, (vec![5; 16], vec![6; 32], 1, 77, "r".to_owned()));
        let plan: String = conn
            .query_row("EXPLAIN QUERY PLAN SELECT * FROM tokens WHERE expires_at < 5", [], |r| r.get(3))
            .unwrap();
        assert!(plan.contains("tokens_by_expiry"), "{plan}");
    }

    #[test]
    fn version_three_rows_get_their_owner_columns() {
        let p = Path::new(":memory:");
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, p, 3).unwrap();
        let rows = [
            (1u8, r#"{"client_id":"web","subject":"alice"}"#),
            (2, r#"{"client_id":"svc","subject":null}"#),
            (3, "not json"),
        ];
        for (g, record) in rows {
            conn.execute(
                "INSERT INTO tokens (grant_id, hash, state, expires_at, record) VALUES (?1, ?2, 0, 77, ?3)",
                rusqlite::params![vec![g; 16], vec![6u8; 32], record],
            )
            .unwrap();
        }
        migrate(&mut conn, p).unwrap();
        let mut st = conn.prepare("SELECT client_id, subject FROM tokens ORDER BY grant_id").unwrap();
        let got: Vec<(String, Option<String>)> =
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap();
        let want = [("web", Some("alice")), ("svc", None), ("", None)];
        let want: Vec<(String, Option<String>)> =
            want.iter().map(|(c, s)| ((*c).to_owned(), s.map(str::to_owned))).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn check_refuses_foreign_and_newer_databases() {
        let p = Path::new(":memory:");
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        assert!(matches!(check(&conn, p), Err(SqliteError::ForeignDatabase { .. })));

        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", 7).unwrap();
        assert!(matches!(check(&conn, p), Err(SqliteError::ForeignDatabase { .. })));

        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, p).unwrap();
        conn.pragma_update(None, "user_version", CURRENT_VERSION + 1).unwrap();
        match check(&conn, p) {
            Err(SqliteError::NewerSchema { found, supported, .. }) => {
                assert_eq!((found, supported), (CURRENT_VERSION + 1, CURRENT_VERSION));
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
    }
}
