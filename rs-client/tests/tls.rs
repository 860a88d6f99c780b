//! The client against an https stub authorization server whose CA and
//! certificates are made here: introspection works when the certificate
//! chains to the configured private root and names the host; every other
//! case (an unknown CA, another host name, an expired certificate, a
//! server that does not speak TLS) is [`Error::Tls`], and no request, so
//! no token, ever reached the server.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gatehouse_rs_client::{
    CacheConfig, CachedClient, ClientConfig, ClientSecret, Error, Introspect, Introspection,
    IntrospectionClient, TlsRoots,
};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const ACTIVE: &str = r#"{"active":true,"sub":"alice","scope":"read","exp":4102444800}"#;

/// A certificate authority made for one test.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(DnType::CommonName, name);
        Self { cert: params.self_signed(&key).unwrap(), key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, |_| {})
    }

    fn leaf_with(&self, names: &[&str], edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        edit(&mut params);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf { chain: vec![cert.der().clone()], key: key.serialize_der() }
    }
}

/// A server certificate chain and its PKCS #8 key.
struct Leaf {
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

/// An https stub on a loopback port answering [`ACTIVE`] to every request.
struct Stub {
    port: u16,
    /// HTTP requests received (after a successful handshake).
    requests: Arc<AtomicUsize>,
}

impl Stub {
    async fn start(leaf: Leaf) -> Self {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(leaf.chain, key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stub = Self { port: listener.local_addr().unwrap().port(), requests: Arc::default() };
        let requests = Arc::clone(&stub.requests);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (acceptor, requests) = (acceptor.clone(), Arc::clone(&requests));
                tokio::spawn(async move {
                    // A refused handshake ends here: nothing is served.
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper::service::service_fn(move |_: Request<Incoming>| {
                        requests.fetch_add(1, Ordering::SeqCst);
                        async {
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from_static(ACTIVE.as_bytes())))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        stub
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn config(endpoint: String, roots: TlsRoots) -> ClientConfig {
    let mut c = ClientConfig::new(endpoint, "stub-rs", ClientSecret::new("tls-stub-secret"));
    c.tls_roots = roots;
    c
}

async fn introspect(endpoint: String, roots: TlsRoots) -> Result<Introspection, Error> {
    IntrospectionClient::new(config(endpoint, roots)).unwrap().introspect("tls-test-token").await
}

/// The error of a failed TLS introspection; it names no token or secret.
fn tls_error(result: Result<Introspection, Error>) -> String {
    match result {
        Err(Error::Tls(m)) => {
            assert!(!m.contains("tls-test-token") && !m.contains("tls-stub-secret"), "{m}");
            m
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn introspection_works_over_https_with_a_private_root() {
    let ca = Ca::new("gatehouse test CA");
    let stub = Stub::start(ca.leaf(&["localhost", "127.0.0.1"])).await;
    // By name and by IP address, the private root alone or with Mozilla's.
    for (host, roots) in [
        ("localhost", TlsRoots::Pem(ca.pem())),
        ("127.0.0.1", TlsRoots::Pem(ca.pem())),
        ("localhost", TlsRoots::MozillaAndPem(ca.pem())),
    ] {
        let endpoint = format!("https://{host}:{}/introspect", stub.port);
        let answer = introspect(endpoint, roots).await.unwrap();
        assert_eq!(answer.claims().unwrap().sub.as_deref(), Some("alice"));
    }
    assert_eq!(stub.requests(), 3);
}

#[tokio::test]
async fn an_untrusted_certificate_fails_closed() {
    let ca = Ca::new("the server's CA");
    let stub = Stub::start(ca.leaf(&["localhost"])).await;
    let endpoint = format!("https://localhost:{}/introspect", stub.port);
    // Another private CA, Mozilla's roots (which do not hold a CA made
    // here), both.
    let other = Ca::new("another CA");
    for roots in [TlsRoots::Pem(other.pem()), TlsRoots::Mozilla, TlsRoots::MozillaAndPem(other.pem())] {
        let m = tls_error(introspect(endpoint.clone(), roots).await);
        assert!(m.contains("UnknownIssuer"), "{m}");
    }
    assert_eq!(stub.requests(), 0, "the token was sent to an untrusted server");
}

#[tokio::test]
async fn a_self_signed_server_certificate_fails_closed() {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().self_signed(&key).unwrap();
    let stub = Stub::start(Leaf { chain: vec![cert.der().clone()], key: key.serialize_der() }).await;
    let endpoint = format!("https://localhost:{}/introspect", stub.port);
    tls_error(introspect(endpoint, TlsRoots::Pem(Ca::new("unrelated").pem())).await);
    assert_eq!(stub.requests(), 0);
}

#[tokio::test]
async fn a_certificate_for_another_host_fails_closed() {
    let ca = Ca::new("gatehouse test CA");
    // Trusted, but for other names than the endpoint's host.
    let stub = Stub::start(ca.leaf(&["auth.example.test", "127.0.0.2"])).await;
    for host in ["localhost", "127.0.0.1"] {
        let endpoint = format!("https://{host}:{}/introspect", stub.port);
        let m = tls_error(introspect(endpoint, TlsRoots::Pem(ca.pem())).await);
        assert!(m.contains("not valid for name"), "{m}");
    }
    assert_eq!(stub.requests(), 0);
}

#[tokio::test]
async fn an_expired_certificate_fails_closed() {
    let ca = Ca::new("gatehouse test CA");
    let stub = Stub::start(ca.leaf_with(&["localhost"], |p| {
        p.not_before = date_time_ymd(2000, 1, 1);
        p.not_after = date_time_ymd(2001, 1, 1);
    }))
    .await;
    let endpoint = format!("https://localhost:{}/introspect", stub.port);
    let m = tls_error(introspect(endpoint, TlsRoots::Pem(ca.pem())).await);
    assert!(m.contains("certificate expired"), "{m}");
    assert_eq!(stub.requests(), 0);
}

#[tokio::test]
async fn a_server_without_tls_at_an_https_endpoint_fails_closed() {
    // A plain-http server: the client must not fall back to clear text.
    let plain = common::stub(|_| common::Reply::Json(200, ACTIVE.to_owned())).await;
    let endpoint = format!("https://{}/introspect", plain.addr);
    tls_error(introspect(endpoint, TlsRoots::default()).await);
    assert_eq!(plain.requests(), 0, "the request went out in clear");
}

#[tokio::test]
async fn the_cache_works_over_https() {
    let ca = Ca::new("gatehouse test CA");
    let stub = Stub::start(ca.leaf(&["localhost"])).await;
    let endpoint = format!("https://localhost:{}/introspect", stub.port);
    let client = IntrospectionClient::new(config(endpoint, TlsRoots::Pem(ca.pem()))).unwrap();
    let cached = CachedClient::new(client, CacheConfig::default());
    for _ in 0..2 {
        assert!(cached.introspect("tls-test-token").await.unwrap().claims().is_some());
    }
    assert_eq!(stub.requests(), 1, "the second answer came from the cache");
}
