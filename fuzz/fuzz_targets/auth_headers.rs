//! The `Authorization` header parsers, through the public paths that reach
//! them: client authentication at an endpoint (Basic) and
//! `AuthServer::validate_bearer` (Bearer). The first byte picks the shape:
//! raw header bytes, or `Basic ` + base64 of the rest (to explore what the
//! Basic parser sees after base64), or `Bearer ` + the rest.
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use gatehouse_core::model::{Resource, Scope};
use gatehouse_core::{BearerError, Header, HttpRequest};
use gatehouse_fuzz::{block_on, check_request_debug, check_response, reference_decode, server, Server, API};
use libfuzzer_sys::fuzz_target;

static SERVER: OnceLock<Server> = OnceLock::new();

/// RFC 6750 §2.1: `"Bearer" 1*SP b64token`, at most 4096 bytes of token.
fn reference_bearer(h: &[u8]) -> bool {
    let Some(sp) = h.iter().position(|&b| b == b' ') else { return false };
    let (scheme, rest) = (&h[..sp], &h[sp..]);
    let token = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    scheme.eq_ignore_ascii_case(b"bearer")
        && body_len > 0
        && token.len() <= 4096
        && token[..body_len].iter().all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// RFC 6749 §2.3.1 inside RFC 7617: `id:secret`, each form-encoded, the id
/// not empty.
fn reference_basic(decoded: &[u8]) -> bool {
    let Some(colon) = decoded.iter().position(|&b| b == b':') else { return false };
    let id = reference_decode(&decoded[..colon]);
    let secret = reference_decode(&decoded[colon + 1..]);
    matches!((id, secret), (Some(id), Some(_)) if !id.is_empty())
}

fuzz_target!(|data: &[u8]| {
    // No token exists on this server and no credential can be guessed, so
    // runs change nothing and one server serves them all.
    let server = SERVER.get_or_init(|| server().0);
    let Some((&mode, rest)) = data.split_first() else { return };
    let header: Vec<u8> = match mode % 3 {
        0 => rest.to_vec(),
        1 => format!("Basic {}", STANDARD.encode(rest)).into_bytes(),
        _ => [&b"Bearer "[..], rest].concat(),
    };

    // Client authentication: a revocation carrying the header.
    let mut req = HttpRequest::form_post(b"token=x");
    req.authorization = Header::One(&header);
    check_request_debug(&req);
    let r = block_on(server.revocation_endpoint(req));
    check_response(&r);
    if mode % 3 == 1 && header.len() <= 4096 {
        // Well-formed credentials of no client are 401; malformed ones 400.
        let want = if reference_basic(rest) { 401 } else { 400 };
        assert_eq!(r.status, want, "Basic credentials judged wrongly");
    }

    // Bearer validation.
    let aud = Resource::new(API).expect("resource");
    let scope = Scope::parse("read").expect("scope");
    let e = block_on(server.validate_bearer(Header::One(&header), &aud, &scope))
        .expect_err("no token exists on this server");
    let want_token = reference_bearer(&header);
    match &e {
        BearerError::InvalidToken => assert!(want_token, "a malformed Bearer header reached the token check"),
        BearerError::InvalidRequest => assert!(!want_token, "a well-formed Bearer header was refused"),
        other => panic!("unexpected {other:?}"),
    }
    let challenge = e.www_authenticate("api").expect("a challenge");
    assert!(!challenge.contains(['\r', '\n']), "a header value with a line break");
});
