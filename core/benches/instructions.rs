//! Instruction counts of the hot operations, for `valgrind --tool=callgrind`.
//!
//! Run `core/benches/callgrind.sh` (it builds this binary and runs it under
//! callgrind once per operation). Each operation runs in its own
//! `#[inline(never)]` function named `measure_<op>`; callgrind collects only
//! inside it (`--toggle-collect`), so setup is not counted, and the script
//! divides by the number of calls. Counts are repeatable on a noisy machine,
//! unlike times: a change in them is a change in the code.
//!
//! Run directly, the binary takes `<op> <iterations>`; under `cargo bench`
//! (which passes `--bench`) it runs every operation a few times natively, as
//! a smoke test.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::hint::black_box;

use common::{ready, setup, setup_with, Setup};
use gatehouse_core::model::{decode_record, encode_record, Claims, GrantId, Jti, TokenKind, TokenRecord};
use gatehouse_core::{ClientCredentials, HttpRequest, PresentedSecret, UnixTime};

#[inline(never)]
fn measure_introspect_valid(s: &Setup) {
    assert!(ready(s.server.introspect(&s.rs, black_box(&s.valid))).unwrap().is_active());
}

#[inline(never)]
fn measure_introspect_unknown(s: &Setup) {
    assert!(!ready(s.server.introspect(&s.rs, black_box(&s.unknown))).unwrap().is_active());
}

#[inline(never)]
fn measure_introspect_forged(s: &Setup) {
    assert!(!ready(s.server.introspect(&s.rs, black_box(&s.forged))).unwrap().is_active());
}

#[inline(never)]
fn measure_http_introspect_valid(s: &Setup, body: &[u8]) {
    let req = HttpRequest::form_post(body).with_authorization(&s.rs_basic);
    assert_eq!(ready(s.server.introspection_endpoint(black_box(req))).status, 200);
}

#[inline(never)]
fn measure_http_introspect_forged(s: &Setup, body: &[u8]) {
    let req = HttpRequest::form_post(body).with_authorization(&s.rs_basic);
    assert_eq!(ready(s.server.introspection_endpoint(black_box(req))).status, 200);
}

#[inline(never)]
fn measure_issue(s: &Setup) {
    black_box(ready(s.server.client_credentials(&s.app, None, &[])).unwrap());
}

#[inline(never)]
fn measure_http_issue(s: &Setup) {
    let req = HttpRequest::form_post(b"grant_type=client_credentials").with_authorization(&s.app_basic);
    assert_eq!(ready(s.server.token_endpoint(black_box(req))).status, 200);
}

#[inline(never)]
fn measure_client_auth(s: &Setup, creds: &ClientCredentials) {
    black_box(ready(s.server.authenticate(black_box(creds))).unwrap());
}

#[inline(never)]
fn measure_client_auth_unknown(s: &Setup, creds: &ClientCredentials) {
    assert!(ready(s.server.authenticate(black_box(creds))).is_err());
}

#[inline(never)]
fn measure_client_auth_wrong_secret(s: &Setup, creds: &ClientCredentials) {
    assert!(ready(s.server.authenticate(black_box(creds))).is_err());
}

#[inline(never)]
fn measure_client_auth_malformed(s: &Setup, creds: &ClientCredentials) {
    assert!(ready(s.server.authenticate(black_box(creds))).is_err());
}

// The same three on a server with a sink that records nothing (see
// `setup_with`): beside the plain ones, the cost of emitting an event.
#[inline(never)]
fn measure_introspect_valid_noop_sink(s: &Setup) {
    assert!(ready(s.server.introspect(&s.rs, black_box(&s.valid))).unwrap().is_active());
}

#[inline(never)]
fn measure_introspect_forged_noop_sink(s: &Setup) {
    assert!(!ready(s.server.introspect(&s.rs, black_box(&s.forged))).unwrap().is_active());
}

#[inline(never)]
fn measure_issue_noop_sink(s: &Setup) {
    black_box(ready(s.server.client_credentials(&s.app, None, &[])).unwrap());
}

#[inline(never)]
fn measure_record_encode(r: &TokenRecord) {
    black_box(encode_record(black_box(r)));
}

#[inline(never)]
fn measure_record_decode(b: &[u8]) {
    black_box(decode_record(black_box(b)).unwrap());
}

#[inline(never)]
fn measure_record_encode_json(r: &TokenRecord) {
    black_box(serde_json::to_vec(black_box(r)).unwrap());
}

#[inline(never)]
fn measure_record_decode_json(b: &[u8]) {
    black_box(decode_record(black_box(b)).unwrap());
}

/// A record as `client_credentials` stores it for the setup's app: what
/// the SQLite and Redis stores encode on issuance and decode on every
/// introspection.
fn stored_record(s: &Setup) -> TokenRecord {
    let (_, digest) = s.keys.mint(TokenKind::Access, GrantId::generate().unwrap()).unwrap();
    let claims = Claims::new(s.app.id.clone(), s.app.default_scope.clone(), s.app.audiences.clone());
    TokenRecord::access(
        digest,
        Jti::generate().unwrap(),
        claims,
        UnixTime(1_767_225_600),
        UnixTime(1_767_229_200),
    )
}

const OPS: &[&str] = &[
    "introspect_valid",
    "introspect_unknown",
    "introspect_forged",
    "http_introspect_valid",
    "http_introspect_forged",
    "issue",
    "http_issue",
    "client_auth",
    "client_auth_unknown",
    "client_auth_wrong_secret",
    "client_auth_malformed",
    "introspect_valid_noop_sink",
    "introspect_forged_noop_sink",
    "issue_noop_sink",
    "record_encode",
    "record_decode",
    "record_encode_json",
    "record_decode_json",
];

fn run(op: &str, iterations: usize, s: &Setup) {
    let valid_body = format!("token={}", s.valid);
    let forged_body = format!("token={}", s.forged);
    let good =
        ClientCredentials::Basic { id: "rs".into(), secret: PresentedSecret::new(s.rs_secret.clone()) };
    // The three failures present one secret; the unknown id is 4 bytes
    // longer than the other two (4 more bytes to hash).
    let unknown = ClientCredentials::Basic { id: "nobody".into(), secret: PresentedSecret::new("x") };
    let wrong_secret = ClientCredentials::Basic { id: "rs".into(), secret: PresentedSecret::new("x") };
    let malformed = ClientCredentials::Basic { id: "r\u{1}".into(), secret: PresentedSecret::new("x") };
    let record = stored_record(s);
    let (binary, json) = (encode_record(&record), serde_json::to_vec(&record).unwrap());
    for _ in 0..iterations {
        match op {
            "introspect_valid" => measure_introspect_valid(s),
            "introspect_unknown" => measure_introspect_unknown(s),
            "introspect_forged" => measure_introspect_forged(s),
            "http_introspect_valid" => measure_http_introspect_valid(s, valid_body.as_bytes()),
            "http_introspect_forged" => measure_http_introspect_forged(s, forged_body.as_bytes()),
            "issue" => measure_issue(s),
            "http_issue" => measure_http_issue(s),
            "client_auth" => measure_client_auth(s, &good),
            "client_auth_unknown" => measure_client_auth_unknown(s, &unknown),
            "client_auth_wrong_secret" => measure_client_auth_wrong_secret(s, &wrong_secret),
            "client_auth_malformed" => measure_client_auth_malformed(s, &malformed),
            "introspect_valid_noop_sink" => measure_introspect_valid_noop_sink(s),
            "introspect_forged_noop_sink" => measure_introspect_forged_noop_sink(s),
            "issue_noop_sink" => measure_issue_noop_sink(s),
            "record_encode" => measure_record_encode(&record),
            "record_decode" => measure_record_decode(&binary),
            "record_encode_json" => measure_record_encode_json(&record),
            "record_decode_json" => measure_record_decode_json(&json),
            other => panic!("unknown operation {other}; one of {OPS:?}"),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let audited = |op: &str| op.ends_with("_noop_sink");
    match args.as_slice() {
        [op, n] => run(op, n.parse().unwrap(), &setup_with(1_000, audited(op))),
        _ => {
            let (plain, with_sink) = (setup(1_000), setup_with(1_000, true));
            for op in OPS {
                run(op, 10, if audited(op) { &with_sink } else { &plain });
            }
            println!("instructions: every operation ran; run core/benches/callgrind.sh for counts");
        }
    }
}
