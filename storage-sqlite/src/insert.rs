//! Token inserts: one row per statement, or a run of rows per statement.
//!
//! Issuance queues one insert per token, and the writer thread applies the
//! queued writes in batches (`src/writer.rs`). A row inserted by a
//! statement of its own also pays that statement's fixed work: opening a
//! cursor on the table and on each index, seeking each from its root page,
//! halting and resetting the statement. Within one statement the cursors
//! stay open, and SQLite's B-tree skips the descent when a new key lands
//! on the last page a cursor is already on, which is where issued tokens
//! land (grant ids begin with their issue time, expiries grow with it, the
//! client index is ordered by client then grant). So the writer applies a
//! run of consecutive queued inserts as multi-row `INSERT`s of [`CHUNKS`]
//! rows (fixed sizes, so each is prepared once and cached), measured in
//! the README (*Group commit*).
//!
//! Each request still gets its own answer. A multi-row statement has no
//! conflict clause: a row that breaks any constraint (an existing key, a
//! key twice in the run, a NOT NULL or CHECK) aborts it, SQLite backs out
//! the rows it had written (its statement journal) and the statement
//! fails; then each of its rows is inserted again by a statement of its
//! own ([`insert_rows`]), so only the request whose row fails gets an
//! error (`Conflict` for an existing key). Not `INSERT OR IGNORE`: it
//! would also skip, without an error, a row that breaks a NOT NULL or a
//! CHECK, and such a row must fail, never be acknowledged as stored.

use std::sync::OnceLock;

use gatehouse_core::StoreError;
use rusqlite::{params, Connection};

use crate::codec::TokenRow;

/// The columns of a token row, in binding order.
const COLUMNS: &str = "tokens (grant_id, hash, state, expires_at, record, client_id, subject)";
/// Parameters bound per row.
const PER_ROW: usize = 7;

// `ON CONFLICT DO NOTHING` plus a check of the change count, rather than
// matching SQLite's constraint error codes: an existing key is reported as
// `Conflict` and never overwritten.
const INSERT_TOKEN: &str =
    "INSERT INTO tokens (grant_id, hash, state, expires_at, record, client_id, subject) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING";

/// Rows per multi-row statement, largest first: a run is cut greedily
/// into these (19 rows: 16, 2, 1), and a single row left over uses the
/// one-row statement. Powers of two keep the statements per run at most
/// about log2 of its length; seven statements fit in the writer's cache.
pub(crate) const CHUNKS: [usize; 6] = [64, 32, 16, 8, 4, 2];

/// Inserts each row by a statement of its own, failing with `Conflict` at
/// the first existing key. Atomic as part of one writer request (its
/// savepoint), or when it is given one row.
///
/// # Errors
/// `Conflict` for an existing key; `Backend` (or `Unavailable`) for any
/// other failure of the statement.
pub(crate) fn insert_rows(c: &Connection, rows: &[TokenRow]) -> Result<(), StoreError> {
    let mut st = c.prepare_cached(INSERT_TOKEN).map_err(crate::error::store_error)?;
    for row in rows {
        let n = st
            .execute(params![
                &row.grant_id[..],
                &row.hash[..],
                row.state,
                row.expires_at,
                row.record,
                row.client_id,
                row.subject
            ])
            .map_err(crate::error::store_error)?;
        if n == 0 {
            return Err(StoreError::Conflict);
        }
    }
    Ok(())
}

/// How many of `remaining` (at least 1) rows the next statement takes: the
/// largest of [`CHUNKS`] that fits, or 1.
pub(crate) fn chunk_len(remaining: usize) -> usize {
    CHUNKS.iter().copied().find(|&n| n <= remaining).unwrap_or(1)
}

/// The multi-row statement for each of [`CHUNKS`], built once.
fn chunk_sql(rows: usize) -> Option<&'static str> {
    static SQL: OnceLock<Vec<(usize, String)>> = OnceLock::new();
    let all = SQL.get_or_init(|| {
        CHUNKS
            .iter()
            .map(|&n| {
                let row = format!("({})", ["?"; PER_ROW].join(", "));
                (n, format!("INSERT INTO {COLUMNS} VALUES {}", vec![row; n].join(", ")))
            })
            .collect()
    });
    all.iter().find(|(n, _)| *n == rows).map(|(_, sql)| sql.as_str())
}

/// Inserts `rows` (a length from [`CHUNKS`]) by one statement: all of
/// them, or none (SQLite backs a failed statement out alone; the
/// transaction stays open unless SQLite rolled it back, which the caller
/// checks).
///
/// # Errors
/// Any failure of the statement, a constraint of any row included; a
/// length that is not a chunk size is refused before anything runs.
pub(crate) fn insert_chunk(c: &Connection, rows: &[&TokenRow]) -> rusqlite::Result<()> {
    let sql = chunk_sql(rows.len()).ok_or(rusqlite::Error::InvalidParameterCount(rows.len(), 0))?;
    let mut st = c.prepare_cached(sql)?;
    for (i, row) in rows.iter().enumerate() {
        let at = i * PER_ROW;
        st.raw_bind_parameter(at + 1, &row.grant_id[..])?;
        st.raw_bind_parameter(at + 2, &row.hash[..])?;
        st.raw_bind_parameter(at + 3, row.state)?;
        st.raw_bind_parameter(at + 4, row.expires_at)?;
        st.raw_bind_parameter(at + 5, &row.record[..])?;
        st.raw_bind_parameter(at + 6, row.client_id.as_str())?;
        st.raw_bind_parameter(at + 7, row.subject.as_deref())?;
    }
    // Without a conflict clause, a statement that succeeded inserted
    // every row; checked anyway, since its rows are acknowledged on it.
    let n = st.raw_execute()?;
    if n == rows.len() {
        Ok(())
    } else {
        Err(rusqlite::Error::StatementChangedRows(n))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn conn() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut c, std::path::Path::new(":memory:")).unwrap();
        c
    }

    pub(crate) fn row(n: u8) -> TokenRow {
        TokenRow {
            grant_id: [n; 16],
            hash: [n; 32],
            state: 0,
            expires_at: 1_000 + i64::from(n),
            record: vec![n; 8],
            client_id: "client-1".to_owned(),
            subject: None,
        }
    }

    pub(crate) fn stored(c: &Connection) -> Vec<u8> {
        let mut st = c.prepare("SELECT grant_id FROM tokens ORDER BY grant_id").unwrap();
        st.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap().map(|g| g.unwrap()[0]).collect()
    }

    #[test]
    fn runs_are_cut_into_the_largest_chunks_that_fit() {
        let cut = |mut n: usize| {
            let mut sizes = Vec::new();
            while n > 0 {
                let k = chunk_len(n);
                sizes.push(k);
                n -= k;
            }
            sizes
        };
        assert_eq!(cut(1), vec![1]);
        assert_eq!(cut(19), vec![16, 2, 1]);
        assert_eq!(cut(64), vec![64]);
        assert_eq!(cut(256), vec![64; 4]);
        assert_eq!(cut(127), vec![64, 32, 16, 8, 4, 2, 1]);
    }

    #[test]
    fn a_chunk_is_stored_whole_or_not_at_all() {
        let c = conn();
        let rows: Vec<_> = (1..=4).map(row).collect();
        insert_chunk(&c, &rows.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(stored(&c), vec![1, 2, 3, 4]);
        let mut bad_check = row(7);
        bad_check.state = 5;
        // Each chunk breaks a constraint in its last row: an existing key,
        // a key twice in the chunk, a CHECK. None of their rows stays.
        for chunk in [
            vec![row(5), row(6), row(3), row(9)],
            vec![row(5), row(6), row(10), row(5)],
            vec![row(5), row(6), row(10), bad_check],
        ] {
            assert!(insert_chunk(&c, &chunk.iter().collect::<Vec<_>>()).is_err());
            assert_eq!(stored(&c), vec![1, 2, 3, 4]);
        }
    }

    #[test]
    fn only_chunk_sizes_have_a_statement() {
        let c = conn();
        assert!(insert_chunk(&c, &[&row(1)]).is_err());
        assert!(insert_chunk(&c, &[&row(2), &row(3), &row(4)]).is_err());
        assert_eq!(stored(&c), Vec::<u8>::new());
        for n in CHUNKS {
            assert!(chunk_sql(n).is_some_and(|sql| sql.matches('?').count() == n * PER_ROW));
        }
    }
}
