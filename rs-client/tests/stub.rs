//! The client against a stub authorization server that answers like
//! another server would, or wrongly: extra members, `active:false` with
//! extra fields, errors, a hang, garbage. Every doubtful answer must be an
//! error, never "active".
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{gated_stub, stub, Reply, Stub};
use gatehouse_rs_client::{
    CacheConfig, CachedClient, ClientConfig, ClientSecret, Error, Introspect, Introspection,
    IntrospectionClient,
};
use tokio::io::AsyncWriteExt as _;

const SECRET: &str = "stub-rs-secret";

fn config(stub: &Stub) -> ClientConfig {
    ClientConfig::new(stub.endpoint(), "stub-rs", ClientSecret::new(SECRET))
}

fn client(stub: &Stub) -> IntrospectionClient {
    IntrospectionClient::new(config(stub)).unwrap()
}

fn json(body: &str) -> impl Fn(&common::Seen) -> Reply + Send + Sync + 'static {
    let body = body.to_owned();
    move |_| Reply::Json(200, body.clone())
}

#[tokio::test]
async fn request_is_an_rfc7662_form_post_with_client_secret_basic() {
    let s = stub(json(r#"{"active":false}"#)).await;
    let mut c = config(&s);
    // RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
    c.client_id = "rs:one".into();
    c.client_secret = ClientSecret::new("p+ss wörd");
    IntrospectionClient::new(c).unwrap().introspect("a+b/c=d e").await.unwrap();
    let seen = s.last();
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/introspect"));
    assert_eq!(seen.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    assert_eq!(seen.body, "token=a%2Bb%2Fc%3Dd+e&token_type_hint=access_token");
    let basic = seen.authorization.unwrap();
    let pair = STANDARD.decode(basic.strip_prefix("Basic ").unwrap()).unwrap();
    assert_eq!(String::from_utf8(pair).unwrap(), "rs%3Aone:p%2Bss+w%C3%B6rd");
}

#[tokio::test]
async fn another_servers_active_answer_with_extra_members() {
    // Shaped like a Keycloak-style answer: a single-string audience, a
    // fractional iat, members of its own.
    let s = stub(json(
        r#"{"active":true,"exp":4102444800,"iat":1700000000.5,"jti":"5f3c","iss":"https://idp.example/realms/r",
            "aud":"account","sub":"f:1:alice","typ":"Bearer","azp":"spa","scope":"openid email",
            "client_id":"spa","username":"alice","token_type":"Bearer","realm_access":{"roles":["user"]}}"#,
    ))
    .await;
    let answer = client(&s).introspect("tok").await.unwrap();
    let c = answer.claims().unwrap();
    assert_eq!(c.aud, ["account"]);
    assert_eq!((c.exp, c.iat, c.nbf), (Some(4_102_444_800), Some(1_700_000_001), None));
    assert_eq!((c.sub.as_deref(), c.username.as_deref()), (Some("f:1:alice"), Some("alice")));
    assert!(c.has_scope("email") && !c.has_scope("profile"));
    assert_eq!(c.extra["realm_access"]["roles"][0], "user");
    assert_eq!(c.extra["azp"], "spa");
}

#[tokio::test]
async fn inactive_with_extra_fields_is_inactive() {
    let s = stub(json(r#"{"active":false,"error":"token expired","exp":1,"scope":"admin"}"#)).await;
    assert_eq!(client(&s).introspect("tok").await.unwrap(), Introspection::Inactive);
}

#[tokio::test]
async fn error_statuses_are_errors_even_with_an_active_body() {
    for status in [500, 502, 503, 401, 403, 400, 302] {
        let s = stub(move |_| Reply::Json(status, r#"{"active":true}"#.into())).await;
        assert_eq!(client(&s).introspect("tok").await, Err(Error::Status(status)));
    }
}

#[tokio::test]
async fn unparsable_answers_are_errors() {
    for (body, expected) in [
        ("garbage", Error::NotJson),
        ("<html><body>Service Unavailable</body></html>", Error::NotJson),
        ("", Error::NotJson),
        (r#"[{"active":true}]"#, Error::NotJson),
        (r#"{"scope":"read"}"#, Error::MissingActive),
        (r#"{"active":"true"}"#, Error::Member("active")),
        (r#"{"active":1}"#, Error::Member("active")),
        (r#"{"active":true,"exp":"soon"}"#, Error::Member("exp")),
    ] {
        let s = stub(json(body)).await;
        assert_eq!(client(&s).introspect("tok").await, Err(expected), "{body}");
    }
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let s = stub(|_| Reply::Hang).await;
    let mut c = config(&s);
    c.request_timeout = Duration::from_millis(300);
    let e = IntrospectionClient::new(c).unwrap().introspect("tok").await.unwrap_err();
    assert_eq!(e, Error::Timeout(Duration::from_millis(300)));
}

#[tokio::test]
async fn a_body_over_the_limit_is_an_error() {
    let big = format!(r#"{{"active":true,"x":"{}"}}"#, "y".repeat(2000));
    let s = stub(json(&big)).await;
    let mut c = config(&s);
    c.max_body_bytes = 1024;
    assert_eq!(IntrospectionClient::new(c).unwrap().introspect("tok").await, Err(Error::TooLarge(1024)));
    c = config(&s);
    c.max_body_bytes = big.len();
    assert!(
        IntrospectionClient::new(c).unwrap().introspect("tok").await.unwrap().is_active(),
        "at the limit"
    );
}

#[tokio::test]
async fn a_refused_connection_is_an_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = ClientConfig::new(format!("http://{addr}/i"), "rs", ClientSecret::new(SECRET));
    let e = IntrospectionClient::new(c).unwrap().introspect("tok").await.unwrap_err();
    assert!(matches!(e, Error::Network(_)), "{e:?}");
}

#[tokio::test]
async fn a_server_speaking_garbage_is_an_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(b"{\"active\":true}\r\n\r\n").await;
        }
    });
    let c = ClientConfig::new(format!("http://{addr}/i"), "rs", ClientSecret::new(SECRET));
    let e = IntrospectionClient::new(c).unwrap().introspect("tok").await.unwrap_err();
    assert!(matches!(e, Error::Network(_)), "{e:?}");
}

#[tokio::test]
async fn errors_never_carry_the_token_the_secret_or_the_body() {
    let token = "tok-6f1d2a-never-print-me";
    // A broken server that echoes what it got (the token, and the Basic
    // header holding the secret) in every kind of failed answer.
    for status in [200, 500] {
        let s = stub(move |seen| {
            Reply::Json(
                status,
                format!("echo {} {}", seen.body, seen.authorization.clone().unwrap_or_default()),
            )
        })
        .await;
        let e = client(&s).introspect(token).await.unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(!text.contains(token) && !text.contains(SECRET) && !text.contains("echo"), "{text}");
        assert!(!text.contains(&STANDARD.encode(format!("stub-rs:{SECRET}"))), "{text}");
    }
}

#[tokio::test]
async fn connections_are_reused() {
    let s = stub(json(r#"{"active":true}"#)).await;
    let c = client(&s);
    for _ in 0..5 {
        assert!(c.introspect("tok").await.unwrap().is_active());
    }
    assert_eq!((s.requests(), s.connections.load(std::sync::atomic::Ordering::SeqCst)), (5, 1));
}

#[tokio::test]
async fn concurrent_requests_for_one_token_make_one_call_to_the_server() {
    let s = gated_stub(json(r#"{"active":true,"sub":"alice"}"#)).await;
    let c = Arc::new(CachedClient::new(client(&s), CacheConfig::default()));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let c = Arc::clone(&c);
            tokio::spawn(async move { c.introspect("tok").await })
        })
        .collect();
    // One thread: each yield lets every task and the stub run until they
    // wait. Bounded, so that a broken single flight fails rather than hangs.
    let mut rounds = 0;
    while s.requests() == 0 && rounds < 10_000 {
        tokio::task::yield_now().await;
        rounds += 1;
    }
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    s.gate.as_ref().unwrap().add_permits(10);
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_active());
    }
    assert_eq!(s.requests(), 1);
    // And the answer is cached now.
    c.introspect("tok").await.unwrap();
    assert_eq!(s.requests(), 1);
}
