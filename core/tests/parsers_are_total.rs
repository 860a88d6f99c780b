//! Every parser is total: arbitrary bytes in the body, the headers, the
//! token or the query yield an OAuth answer (JSON with `error`, or an
//! inactive answer), never a panic and never a 5xx.
#![allow(missing_docs)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use gatehouse_core::model::{Resource, Scope};
use gatehouse_core::{AuthServer, AuthorizationRequest, Config, Header, HttpRequest, Keyring};
use gatehouse_memory::MemoryStore;
use proptest::prelude::*;

fn ready<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("memory-store futures are always ready"),
    }
}

fn server() -> AuthServer<MemoryStore> {
    AuthServer::new(
        MemoryStore::new(),
        Keyring::random().expect("random"),
        Config::new("https://issuer.example"),
    )
}

/// Bytes that look a little like form bodies, so the parser gets past its
/// first checks often.
fn formish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"&".to_vec()),
        Just(b"=".to_vec()),
        Just(b"%".to_vec()),
        Just(b"+".to_vec()),
        Just(b"token".to_vec()),
        Just(b"grant_type".to_vec()),
        Just(b"client_credentials".to_vec()),
        Just(b"refresh_token".to_vec()),
        Just(b"authorization_code".to_vec()),
        Just(b"client_id".to_vec()),
        Just(b"resource".to_vec()),
        Just(b"gat_k1.".to_vec()),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

fn header() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        Just(Some(b"application/x-www-form-urlencoded".to_vec())),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Some),
        "(Basic|Bearer|basic) [A-Za-z0-9+/=:%]{0,40}".prop_map(|s| Some(s.into_bytes())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn endpoints_answer_every_request(
        method in prop_oneof![Just("POST"), Just("GET"), Just("post"), Just("PUT")],
        auth in header(),
        ctype in header(),
        body in prop_oneof![formish(), prop::collection::vec(any::<u8>(), 0..300)],
    ) {
        let s = server();
        for endpoint in 0..3 {
            let req = HttpRequest {
                method,
                authorization: Header::from(auth.as_deref()),
                content_type: Header::from(ctype.as_deref()),
                body: &body,
            };
            let r = match endpoint {
                0 => ready(s.token_endpoint(req)),
                1 => ready(s.introspection_endpoint(req)),
                _ => ready(s.revocation_endpoint(req)),
            };
            prop_assert!(r.status < 500, "status {}", r.status);
            let json = r.json_body().expect("every answer is JSON");
            prop_assert!(json.get("error").is_some() || r.status == 200);
        }
    }

    #[test]
    fn bearer_validation_answers_every_header(auth in header()) {
        let s = server();
        let api = Resource::new("https://api.example").expect("resource");
        let r = ready(s.validate_bearer(Header::from(auth.as_deref()), &api, &Scope::empty()));
        let e = r.expect_err("nothing is registered, so nothing is valid");
        prop_assert!(e.status() < 500);
        prop_assert!(e.www_authenticate("api").is_some());
    }

    #[test]
    fn token_verification_is_total(token in prop_oneof![
        "gat_[a-z0-9]{0,20}\\.[A-Za-z0-9_-]{0,120}",
        any::<String>(),
    ]) {
        let keys = Keyring::random().expect("random");
        prop_assert!(keys.verify(&token).is_err());
    }

    #[test]
    fn authorization_queries_are_total(q in any::<String>()) {
        let s = server();
        if let Ok(req) = AuthorizationRequest::from_query(&q) {
            let alice = gatehouse_core::model::Subject::new("alice").expect("subject");
            // Nothing is registered: every request is refused without a redirect.
            prop_assert!(ready(s.authorize(&req, &alice)).is_err());
        }
    }
}
