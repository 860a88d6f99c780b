//! Between core values and SQLite rows.
//!
//! Decoding errors become [`StoreError::Corrupt`] with a message built here
//! from the digest (not secret), the kind of JSON error and its position:
//! never from the stored text itself.

use gatehouse_core::model::{Client, TokenDigest, TokenRecord, TokenState};
use gatehouse_core::{StoreError, UnixTime};

use crate::schema::{STATE_ACTIVE, STATE_CONSUMED, STATE_REVOKED};

/// A record's columns, ready to bind.
pub(crate) struct TokenRow {
    pub(crate) grant_id: [u8; 16],
    pub(crate) hash: [u8; 32],
    pub(crate) state: i64,
    pub(crate) expires_at: i64,
    pub(crate) record: String,
    /// The owners, for the bulk-revocation indexes.
    pub(crate) client_id: String,
    pub(crate) subject: Option<String>,
}

/// SQLite integers are signed; a time past `i64::MAX` (year 292 billion)
/// is stored as `i64::MAX`. The exact value stays in the JSON; the column
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

fn state_of_column(digest: &TokenDigest, v: i64) -> Result<TokenState, StoreError> {
    match v {
        STATE_ACTIVE => Ok(TokenState::Active),
        STATE_REVOKED => Ok(TokenState::Revoked),
        STATE_CONSUMED => Ok(TokenState::Consumed),
        _ => Err(StoreError::Corrupt(format!("token {digest:?}: unknown state {v}"))),
    }
}

fn json_error(what: &str, e: &serde_json::Error) -> String {
    format!("{what}: JSON {:?} error at line {} column {}", e.classify(), e.line(), e.column())
}

/// The columns of a record.
pub(crate) fn encode_token(record: &TokenRecord) -> Result<TokenRow, StoreError> {
    let json = serde_json::to_string(record)
        .map_err(|e| StoreError::Corrupt(json_error(&format!("token {:?}", record.digest), &e)))?;
    Ok(TokenRow {
        grant_id: *record.digest.grant().as_bytes(),
        hash: *record.digest.hash(),
        state: state_column(record.state),
        expires_at: time_column(record.expires_at),
        record: json,
        client_id: record.client_id.as_str().to_owned(),
        subject: record.subject.as_ref().map(|s| s.as_str().to_owned()),
    })
}

/// A record from its stored JSON and state column, checking that the JSON
/// belongs to the key it was found under (a row copied under another key
/// would otherwise answer for a token it is not).
pub(crate) fn decode_token(digest: &TokenDigest, state: i64, json: &str) -> Result<TokenRecord, StoreError> {
    let mut record: TokenRecord = serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(json_error(&format!("token {digest:?}"), &e)))?;
    if record.digest != *digest {
        return Err(StoreError::Corrupt(format!("token {digest:?}: stored record has another digest")));
    }
    record.state = state_of_column(digest, state)?;
    Ok(record)
}

/// A client's stored JSON. Its secret is already a digest.
pub(crate) fn encode_client(client: &Client) -> Result<String, StoreError> {
    serde_json::to_string(client)
        .map_err(|e| StoreError::Corrupt(json_error(&format!("client {:?}", client.id.as_str()), &e)))
}

/// A client from its stored JSON, checking it is stored under its own id.
pub(crate) fn decode_client(id: &str, json: &str) -> Result<Client, StoreError> {
    let client: Client = serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(json_error(&format!("client {id:?}"), &e)))?;
    if client.id.as_str() != id {
        return Err(StoreError::Corrupt(format!("client {id:?}: stored record has another id")));
    }
    Ok(client)
}
