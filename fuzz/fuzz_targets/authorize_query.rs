//! The authorization request: `AuthorizationRequest::from_query`, then the
//! server's checks (`check_authorization`, `authorize`, `deny`) on a fresh
//! server. Whatever the query, every redirect goes to a URI registered for
//! the client, and what the server appends cannot be steered by the query
//! (no raw `&`, `#` or `=` smuggled in through `state`).
#![no_main]

use gatehouse_core::model::Subject;
use gatehouse_core::{AuthorizationCheck, AuthorizationRequest};
use gatehouse_fuzz::{block_on, server, REDIRECT};
use libfuzzer_sys::fuzz_target;

/// A redirect must be the registered URI, then `?`, then `name=value`
/// pairs whose values are form-encoded (RFC 6749 Appendix B).
fn check_redirect(url: &str) {
    let rest = url.strip_prefix(REDIRECT).expect("a redirect to an unregistered URI");
    let params = rest.strip_prefix('?').expect("parameters start with ?");
    for pair in params.split('&') {
        let (name, value) = pair.split_once('=').expect("name=value");
        assert!(
            ["code", "state", "iss", "error", "error_description"].contains(&name),
            "unexpected parameter {name:?}"
        );
        assert!(
            value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
            "an unencoded byte in {name}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let Ok(req) = AuthorizationRequest::from_query(query) else { return };
    // A fresh server per run: `authorize` stores a code.
    let (server, _) = server();
    match block_on(server.check_authorization(&req)) {
        // A refusal to redirect: the app shows an error page.
        Err(_) => {}
        Ok(AuthorizationCheck::Redirect(url)) => check_redirect(&url),
        Ok(AuthorizationCheck::Valid(v)) => {
            assert_eq!(v.redirect_uri(), REDIRECT);
            assert!(!v.audience().is_empty(), "a grant for no audience");
            let subject = Subject::new("alice").expect("subject");
            let url = block_on(server.authorize(&req, &subject)).expect("authorize a valid request");
            check_redirect(&url);
            assert!(url.contains("code="), "a valid request without a code");
            let url = block_on(server.deny(&req)).expect("deny a valid request");
            check_redirect(&url);
            assert!(url.contains("error=access_denied"));
        }
        Ok(_) => {}
    }
});
