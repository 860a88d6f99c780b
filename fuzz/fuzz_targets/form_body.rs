//! The form body parser, through the two public paths that reach it: an
//! endpoint's body (bytes, up to `max_body_bytes`) and the authorization
//! request's query (`AuthorizationRequest::from_query`, text up to 8 KiB).
//! Both must agree with a plain byte-by-byte reading of the form rules.
#![no_main]

use std::sync::OnceLock;

use gatehouse_core::{AuthorizationRequest, HttpRequest};
use gatehouse_fuzz::{block_on, check_response, reference_form, server, Server};
use libfuzzer_sys::fuzz_target;

static SERVER: OnceLock<Server> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    // Revocation by an unauthenticated caller changes nothing, so one
    // server serves every run.
    let server = SERVER.get_or_init(|| server().0);
    let reference = reference_form(data, server.config().max_body_bytes);
    let r = block_on(server.revocation_endpoint(HttpRequest::form_post(data)));
    check_response(&r);
    if reference.is_none() {
        let body = r.json_body().expect("JSON");
        assert_eq!(
            (r.status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "a malformed form was accepted"
        );
    }

    let Ok(query) = std::str::from_utf8(data) else { return };
    let parsed = AuthorizationRequest::from_query(query);
    match (reference_form(data, 8 * 1024), parsed) {
        (None, Ok(_)) => panic!("from_query accepted a malformed query"),
        (Some(_), Err(e)) => panic!("from_query refused a well-formed query: {e}"),
        (None, Err(_)) => {}
        (Some(pairs), Ok(req)) => {
            let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            assert_eq!(req.response_type, get("response_type"));
            assert_eq!(req.client_id, get("client_id"));
            assert_eq!(req.redirect_uri, get("redirect_uri"));
            assert_eq!(req.scope, get("scope"));
            assert_eq!(req.state, get("state"));
            assert_eq!(req.code_challenge, get("code_challenge"));
            assert_eq!(req.code_challenge_method, get("code_challenge_method"));
            let resources: Vec<String> =
                pairs.iter().filter(|(k, _)| k == "resource").map(|(_, v)| v.clone()).collect();
            assert_eq!(req.resources, resources);
        }
    }
});
