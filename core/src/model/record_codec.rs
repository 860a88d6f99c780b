//! The stored form of a [`TokenRecord`]: a compact, versioned binary
//! encoding that backends write, and a decoder that also reads the JSON
//! form they wrote before it.
//!
//! Decoding a record's JSON was about a third of a valid introspection's
//! instructions on SQLite and Redis (serde over every field, base64 and
//! hex text for the binary ids); this format stores the ids as raw bytes
//! and the times as fixed-width integers, so decoding is bounds checks,
//! copies and the identifier validation that JSON decoding did too.
//!
//! # No migration
//! The first byte is the format version ([`RECORD_FORMAT_VERSION`]). It is
//! never `{`, the first byte of every JSON record written before, so
//! [`decode_record`] tells the two apart by that byte alone: backends read
//! both and write only the binary form. Stored JSON records stay readable
//! for as long as they live, and are replaced as tokens expire and are
//! reissued. A later version takes the next byte value (never `{`) and
//! keeps the older decoders.
//!
//! # Layout of version 1
//! All integers are little-endian; `varint` is unsigned LEB128 (at most 10
//! bytes, in its shortest form); a string is a `varint` length and that
//! many UTF-8 bytes.
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 1 | version: `1` |
//! | 1 | 1 | state ([`STATE_OFFSET`]): `0` active, `1` revoked, `2` consumed |
//! | 2 | 1 | kind: `0` access, `1` refresh, `2` authorization code |
//! | 3 | 1 | flags: bit 0 subject present, bit 1 code binding present; the other bits are `0` |
//! | 4 | 16 | grant id |
//! | 20 | 32 | digest hash |
//! | 52 | 16 | jti |
//! | 68 | 8 | issued at (`u64`, unix seconds) |
//! | 76 | 8 | not before |
//! | 84 | 8 | expires at ([`EXPIRES_AT_OFFSET`]) |
//! | 92 | … | client id, then the subject (if flagged), the scope (canonical form), the audience (a `varint` count, then each resource), the code binding's redirect URI and code challenge (if flagged) |
//!
//! Nothing may follow the last field. The state sits at a fixed offset so
//! that a backend that changes it in place (a one-byte write) need not
//! decode the record; the ones in this workspace keep the state outside
//! the record (a SQLite column, the state byte in front of a Redis value),
//! and what they keep there wins over the byte here.
//!
//! # Totality
//! [`decode_record`] answers every byte string with a record or a
//! [`RecordDecodeError`], never a panic. It allocates nothing a length
//! field asks for before checking that the input holds that many bytes, so
//! a hostile length costs nothing; every value is validated as the
//! identifier constructors validate it. Its errors name the field and the
//! rule broken, never the stored bytes.

use std::sync::Arc;

use super::ids::{ClientId, GrantId, Jti, Resource, Subject};
use super::record::{CodeBinding, TokenDigest, TokenKind, TokenRecord, TokenState};
use super::scope::Scope;
use crate::time::UnixTime;

/// The version byte of the binary format [`encode_record`] writes.
pub const RECORD_FORMAT_VERSION: u8 = 1;

/// Where the state byte of a binary record is (see the module docs).
pub const STATE_OFFSET: usize = 1;

/// Where the expiry time of a binary record starts: 8 bytes, a
/// little-endian `u64` of unix seconds.
pub const EXPIRES_AT_OFFSET: usize = 84;

/// The first byte of a JSON record: every record written before the binary
/// format began with it.
const JSON_START: u8 = b'{';

/// Bytes before the first variable-length field.
const FIXED_LEN: usize = 92;

const FLAG_SUBJECT: u8 = 1;
const FLAG_CODE: u8 = 2;

/// Why stored bytes are not a record. The messages name fields and rules,
/// never the stored bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordDecodeError {
    /// No bytes at all.
    #[error("empty record")]
    Empty,
    /// The first byte is neither a known format version nor `{`.
    #[error("unknown record format version {0}")]
    UnknownVersion(u8),
    /// The bytes end inside a field.
    #[error("record truncated in {0}")]
    Truncated(&'static str),
    /// A field holds a value it may not have.
    #[error("record field {what}: {rule}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// The rule it broke.
        rule: &'static str,
    },
    /// Bytes follow the last field.
    #[error("{0} bytes after the end of the record")]
    TrailingBytes(usize),
    /// A JSON record (the format before the binary one) did not decode.
    #[error("JSON record: {category} error at line {line} column {column}")]
    Json {
        /// serde_json's category of the error (syntax, data, end of input).
        category: &'static str,
        /// Where it was found.
        line: usize,
        /// Where it was found.
        column: usize,
    },
}

/// The binary form of `record`, version [`RECORD_FORMAT_VERSION`].
pub fn encode_record(record: &TokenRecord) -> Vec<u8> {
    let mut out = Vec::new();
    encode_record_into(record, &mut out);
    out
}

/// Appends the binary form of `record` to `out`, for a backend that frames
/// the record with bytes of its own (Redis puts a state byte in front).
pub fn encode_record_into(record: &TokenRecord, out: &mut Vec<u8>) {
    let code = record.code.as_deref();
    let strings = record.client_id.as_str().len()
        + record.subject.as_ref().map_or(0, |s| s.as_str().len())
        + record.scope.as_str().len()
        + record.audience.iter().map(|r| r.as_str().len()).sum::<usize>()
        + code.map_or(0, |c| c.redirect_uri.len() + c.code_challenge.len());
    // Every length up to 127 is one varint byte (client id, subject, scope,
    // audience count, two for a code binding, one per resource); a longer
    // one only grows the Vec.
    out.reserve(FIXED_LEN + strings + 6 + record.audience.len());
    let flags =
        if record.subject.is_some() { FLAG_SUBJECT } else { 0 } | if code.is_some() { FLAG_CODE } else { 0 };
    out.extend_from_slice(&[RECORD_FORMAT_VERSION, state_byte(record.state), kind_byte(record.kind), flags]);
    out.extend_from_slice(record.digest.grant().as_bytes());
    out.extend_from_slice(record.digest.hash());
    out.extend_from_slice(record.jti.as_bytes());
    for t in [record.issued_at, record.not_before, record.expires_at] {
        out.extend_from_slice(&t.0.to_le_bytes());
    }
    put_str(out, record.client_id.as_str());
    if let Some(s) = &record.subject {
        put_str(out, s.as_str());
    }
    put_str(out, record.scope.as_str());
    put_varint(out, record.audience.len() as u64);
    for r in record.audience.iter() {
        put_str(out, r.as_str());
    }
    if let Some(c) = code {
        put_str(out, &c.redirect_uri);
        put_str(out, &c.code_challenge);
    }
}

/// A record from its stored form: the binary form of any version this
/// crate knows, or the JSON form written before it (first byte `{`).
///
/// # Errors
/// [`RecordDecodeError`] for anything else; never a panic, whatever the
/// bytes.
pub fn decode_record(bytes: &[u8]) -> Result<TokenRecord, RecordDecodeError> {
    match bytes.first() {
        None => Err(RecordDecodeError::Empty),
        Some(&RECORD_FORMAT_VERSION) => decode_v1(bytes),
        Some(&JSON_START) => decode_json(bytes),
        Some(&v) => Err(RecordDecodeError::UnknownVersion(v)),
    }
}

const fn state_byte(s: TokenState) -> u8 {
    match s {
        TokenState::Active => 0,
        TokenState::Revoked => 1,
        TokenState::Consumed => 2,
    }
}

const fn kind_byte(k: TokenKind) -> u8 {
    match k {
        TokenKind::Access => 0,
        TokenKind::Refresh => 1,
        TokenKind::AuthorizationCode => 2,
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn decode_json(bytes: &[u8]) -> Result<TokenRecord, RecordDecodeError> {
    serde_json::from_slice(bytes).map_err(|e| RecordDecodeError::Json {
        category: match e.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "end of input",
        },
        line: e.line(),
        column: e.column(),
    })
}

const fn invalid(what: &'static str, rule: &'static str) -> RecordDecodeError {
    RecordDecodeError::Invalid { what, rule }
}

/// The rest of the input, read front to back. Every read checks the
/// length first and fails with `Truncated` naming the field.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RecordDecodeError> {
        if n > self.rest.len() {
            return Err(RecordDecodeError::Truncated(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], RecordDecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, RecordDecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn time(&mut self, what: &'static str) -> Result<UnixTime, RecordDecodeError> {
        Ok(UnixTime(u64::from_le_bytes(self.array(what)?)))
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, RecordDecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            let low = u64::from(b & 0x7f);
            // The tenth byte holds bit 63 only: anything more overflows.
            if shift == 63 && low > 1 {
                return Err(invalid(what, "length overflows 64 bits"));
            }
            v |= low << shift;
            if b & 0x80 == 0 {
                // A zero last byte after the first adds nothing: refused,
                // so that every record has exactly one encoding.
                if b == 0 && shift > 0 {
                    return Err(invalid(what, "overlong length"));
                }
                return Ok(v);
            }
        }
        Err(invalid(what, "length overflows 64 bits"))
    }

    /// A length that the rest of the input can hold: checked before
    /// anything is allocated for it.
    fn len(&mut self, what: &'static str) -> Result<usize, RecordDecodeError> {
        let n = self.varint(what)?;
        match usize::try_from(n) {
            Ok(n) if n <= self.rest.len() => Ok(n),
            _ => Err(RecordDecodeError::Truncated(what)),
        }
    }

    fn str(&mut self, what: &'static str) -> Result<&'a str, RecordDecodeError> {
        let n = self.len(what)?;
        std::str::from_utf8(self.take(n, what)?).map_err(|_| invalid(what, "not UTF-8"))
    }
}

fn decode_v1(bytes: &[u8]) -> Result<TokenRecord, RecordDecodeError> {
    let mut r = Reader { rest: bytes };
    r.byte("version")?;
    let state = match r.byte("state")? {
        0 => TokenState::Active,
        1 => TokenState::Revoked,
        2 => TokenState::Consumed,
        _ => return Err(invalid("state", "unknown value")),
    };
    let kind = match r.byte("kind")? {
        0 => TokenKind::Access,
        1 => TokenKind::Refresh,
        2 => TokenKind::AuthorizationCode,
        _ => return Err(invalid("kind", "unknown value")),
    };
    let flags = r.byte("flags")?;
    if flags & !(FLAG_SUBJECT | FLAG_CODE) != 0 {
        return Err(invalid("flags", "unknown bit set"));
    }
    let grant = GrantId::from_bytes(r.array("grant id")?);
    let digest = TokenDigest::new(grant, r.array("hash")?);
    let jti = Jti::from_bytes(r.array("jti")?);
    let issued_at = r.time("issued_at")?;
    let not_before = r.time("not_before")?;
    let expires_at = r.time("expires_at")?;
    let client_id = ClientId::new(r.str("client_id")?).map_err(|e| invalid("client_id", e.rule))?;
    let subject = if flags & FLAG_SUBJECT != 0 {
        Some(Subject::new(r.str("subject")?).map_err(|e| invalid("subject", e.rule))?)
    } else {
        None
    };
    let scope = Scope::from_canonical(r.str("scope")?).map_err(|e| invalid("scope", e.rule))?;
    let audience = audience(&mut r)?;
    let code = if flags & FLAG_CODE != 0 {
        let redirect_uri = r.str("redirect_uri")?.to_owned();
        let code_challenge = r.str("code_challenge")?.to_owned();
        Some(Box::new(CodeBinding { redirect_uri, code_challenge }))
    } else {
        None
    };
    if !r.rest.is_empty() {
        return Err(RecordDecodeError::TrailingBytes(r.rest.len()));
    }
    Ok(TokenRecord {
        digest,
        kind,
        client_id,
        subject,
        scope,
        audience,
        issued_at,
        not_before,
        expires_at,
        jti,
        state,
        code,
    })
}

fn audience(r: &mut Reader<'_>) -> Result<Arc<[Resource]>, RecordDecodeError> {
    const WHAT: &str = "audience";
    // Each resource takes at least its length byte, so `len` bounds the
    // count by the bytes left; the Vec grows as resources are read.
    let n = r.len(WHAT)?;
    let mut out = Vec::with_capacity(n.min(4));
    for _ in 0..n {
        out.push(Resource::new(r.str(WHAT)?).map_err(|e| invalid(WHAT, e.rule))?);
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests;
