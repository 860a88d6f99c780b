//! Between core values and SQLite rows.
//!
//! A token's `record` column holds the core's binary record
//! ([`encode_record`]), bound as a BLOB. The column was declared `TEXT`
//! when records were JSON; a column's affinity never converts a BLOB (only
//! numbers become text), and no CHECK constrains it, so the old column
//! takes the new values as they are and no schema step is needed. Rows
//! written as JSON text by earlier versions stay as they are and still
//! read: [`decode_record`] tells the two forms apart by their first byte.
//! A row is rewritten in the new form only when it is inserted; state
//! changes touch the `state` column alone.
//!
//! Decoding errors become [`StoreError::Corrupt`] whose source is a
//! [`SqliteError`] built here from the key (a digest or client id, not
//! secret) and the field and rule the record broke (or the kind of JSON
//! error and its position): never from the stored bytes themselves.

use gatehouse_core::model::{decode_record, encode_record, Client, TokenDigest, TokenRecord, TokenState};
use gatehouse_core::{StoreError, UnixTime};
use serde_json::error::Category;

use crate::error::SqliteError;
use crate::schema::{STATE_ACTIVE, STATE_CONSUMED, STATE_REVOKED};

/// What a token row holds, as [`StoreError::Corrupt`] names it.
const TOKEN: &str = "token record";
/// What a client row holds, as [`StoreError::Corrupt`] names it.
const CLIENT: &str = "client";

/// A record's columns, ready to bind.
pub(crate) struct TokenRow {
    pub(crate) grant_id: [u8; 16],
    pub(crate) hash: [u8; 32],
    pub(crate) state: i64,
    pub(crate) expires_at: i64,
    pub(crate) record: Vec<u8>,
    /// The owners, for the bulk-revocation indexes.
    pub(crate) client_id: String,
    pub(crate) subject: Option<String>,
}

/// SQLite integers are signed; a time past `i64::MAX` (year 292 billion)
/// is stored as `i64::MAX`. The exact value stays in the record; the column
/// only orders purges, and both sides of that comparison clamp alike.
pub(crate) fn time_column(t: UnixTime) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

pub(crate) const fn state_column(s: TokenState) -> i64 {
    match s {
        TokenState::Active => STATE_ACTIVE,
        TokenState::Revoked => STATE_REVOKED,
        // `TokenState` is non-exhaustive; a state added to core later must
        // get its own column value here (and a migration) before use.
        _ => STATE_CONSUMED,
    }
}

fn state_of_column(digest: &TokenDigest, v: i64) -> Result<TokenState, SqliteError> {
    match v {
        STATE_ACTIVE => Ok(TokenState::Active),
        STATE_REVOKED => Ok(TokenState::Revoked),
        STATE_CONSUMED => Ok(TokenState::Consumed),
        _ => Err(SqliteError::UnknownState { key: format!("{digest:?}"), value: v }),
    }
}

/// The kind and position of a JSON error, without its message: serde's
/// messages quote the offending stored text.
fn json_error(what: &'static str, key: String, e: &serde_json::Error) -> SqliteError {
    let category = match e.classify() {
        Category::Io => "io",
        Category::Syntax => "syntax",
        Category::Data => "data",
        Category::Eof => "eof",
    };
    SqliteError::Json { what, key, category, line: e.line(), column: e.column() }
}

/// The columns of a record.
pub(crate) fn encode_token(record: &TokenRecord) -> TokenRow {
    TokenRow {
        grant_id: *record.digest.grant().as_bytes(),
        hash: *record.digest.hash(),
        state: state_column(record.state),
        expires_at: time_column(record.expires_at),
        record: encode_record(record),
        client_id: record.client_id.as_str().to_owned(),
        subject: record.subject.as_ref().map(|s| s.as_str().to_owned()),
    }
}

/// A record from its stored bytes (binary, or the JSON of older versions)
/// and state column, checking that the record belongs to the key it was
/// found under (a row copied under another key would otherwise answer for
/// a token it is not).
pub(crate) fn decode_token(
    digest: &TokenDigest,
    state: i64,
    bytes: &[u8],
) -> Result<TokenRecord, StoreError> {
    let mut record =
        decode_record(bytes).map_err(|source| SqliteError::Record { key: format!("{digest:?}"), source })?;
    if record.digest != *digest {
        return Err(SqliteError::KeyMismatch { what: TOKEN, key: format!("{digest:?}") }.into());
    }
    record.state = state_of_column(digest, state)?;
    Ok(record)
}

/// A client's stored JSON. Its secret is already a digest.
pub(crate) fn encode_client(client: &Client) -> Result<String, StoreError> {
    serde_json::to_string(client).map_err(StoreError::backend)
}

/// A client from its stored JSON, checking it is stored under its own id.
/// The error is the cause alone, so that the client cache can keep it
/// (see [`SqliteError`]'s `From` for the [`StoreError`] it becomes).
pub(crate) fn decode_client(id: &str, json: &str) -> Result<Client, SqliteError> {
    let client: Client = serde_json::from_str(json).map_err(|e| json_error(CLIENT, format!("{id:?}"), &e))?;
    if client.id.as_str() != id {
        return Err(SqliteError::KeyMismatch { what: CLIENT, key: format!("{id:?}") });
    }
    Ok(client)
}
