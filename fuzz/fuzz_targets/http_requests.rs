//! End to end: a sequence of up to eight arbitrary requests (method,
//! headers, body) to the token, introspection and revocation endpoints,
//! bearer validation and the authorization endpoint, on a fresh server
//! holding a live access token, refresh token and code. The fuzzer names
//! those (and the clients' secrets, the PKCE verifier and ready-made Basic
//! headers) with the bytes 0xF8..=0xFF, which never occur in UTF-8. No
//! request may panic, and every answer keeps `check_response`'s rules.
#![no_main]

use arbitrary::Arbitrary;
use gatehouse_core::model::{Resource, Scope, Subject};
use gatehouse_core::{AuthorizationRequest, Header, HttpRequest};
use gatehouse_fuzz::{block_on, check_request_debug, check_response, server, Live, API};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Endpoint {
    Token,
    Introspect,
    Revoke,
    Bearer,
    Authorize,
}

#[derive(Arbitrary, Debug)]
enum Hdr {
    Absent,
    One(Vec<u8>),
    Repeated,
}

#[derive(Arbitrary, Debug)]
struct Request {
    endpoint: Endpoint,
    post: bool,
    method: String,
    authorization: Hdr,
    form: bool,
    content_type: Hdr,
    body: Vec<u8>,
    /// Seconds the clock moves before this request.
    wait: u16,
}

fn header<'a>(h: &Hdr, buf: &'a mut Vec<u8>, live: &Live) -> Header<'a> {
    match h {
        Hdr::Absent => Header::Absent,
        Hdr::Repeated => Header::Repeated,
        Hdr::One(v) => {
            *buf = live.substitute(v);
            Header::One(buf)
        }
    }
}

fuzz_target!(|requests: Vec<Request>| {
    let (server, clock) = server();
    let live = Live::mint(&server);
    let api = Resource::new(API).expect("resource");
    for r in requests.iter().take(8) {
        clock.advance(u64::from(r.wait));
        let body = live.substitute(&r.body);
        let (mut auth, mut ctype) = (Vec::new(), Vec::new());
        let authorization = header(&r.authorization, &mut auth, &live);
        let content_type = if r.form {
            Header::One(&b"application/x-www-form-urlencoded"[..])
        } else {
            header(&r.content_type, &mut ctype, &live)
        };
        let method = if r.post { "POST" } else { &r.method };
        let req = HttpRequest { method, authorization, content_type, body: &body };
        check_request_debug(&req);
        match r.endpoint {
            Endpoint::Token => check_response(&block_on(server.token_endpoint(req))),
            Endpoint::Introspect => check_response(&block_on(server.introspection_endpoint(req))),
            Endpoint::Revoke => check_response(&block_on(server.revocation_endpoint(req))),
            Endpoint::Bearer => {
                let scope = std::str::from_utf8(&body).ok().and_then(|s| Scope::parse(s).ok());
                let scope = scope.unwrap_or_else(Scope::empty);
                if let Err(e) = block_on(server.validate_bearer(authorization, &api, &scope)) {
                    assert!(e.status() < 500, "a server error from a store that cannot fail");
                }
            }
            Endpoint::Authorize => {
                let Ok(query) = std::str::from_utf8(&body) else { continue };
                let Ok(req) = AuthorizationRequest::from_query(query) else { continue };
                let subject = Subject::new("alice").expect("subject");
                if let Err(e) = block_on(server.authorize(&req, &subject)) {
                    assert!(e.status() < 500, "a server error from a store that cannot fail: {e}");
                }
            }
        }
    }
});
