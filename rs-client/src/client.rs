//! [`IntrospectionClient`]: one RFC 7662 request per call, over a pool of
//! kept-alive HTTP/1.1 connections (over TLS for `https://`), as the
//! resource server.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::answer::{parse, Introspection};
use crate::credentials::{basic_authorization, form_urlencode, ClientSecret};
use crate::error::Error;
use crate::tls::{client_config, is_tls_failure, TlsRoots};

/// Anything that answers introspection requests: the HTTP
/// [`IntrospectionClient`], or a fake in tests. The cache
/// ([`crate::CachedClient`]) wraps one.
pub trait Introspect: Send + Sync + 'static {
    /// What the authorization server says about `token`.
    ///
    /// # Errors
    /// [`Error`]: no trustworthy answer. Never to be read as "active".
    fn introspect(&self, token: &str) -> impl Future<Output = Result<Introspection, Error>> + Send;
}

impl<T: Introspect> Introspect for std::sync::Arc<T> {
    fn introspect(&self, token: &str) -> impl Future<Output = Result<Introspection, Error>> + Send {
        T::introspect(self, token)
    }
}

/// Settings of an [`IntrospectionClient`]. Start from [`ClientConfig::new`]
/// and change what differs from the defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The introspection endpoint, e.g.
    /// `https://auth.example.com/oauth/introspect`, or
    /// `http://127.0.0.1:8080/oauth/introspect` on loopback.
    pub endpoint: String,
    /// The resource server's client id at the authorization server.
    pub client_id: String,
    /// Its client secret, sent with `client_secret_basic`.
    pub client_secret: ClientSecret,
    /// The certificate authorities an `https://` endpoint's certificate
    /// must chain to. Default [`TlsRoots::Mozilla`]; a private CA's PEM
    /// with [`TlsRoots::Pem`] or [`TlsRoots::MozillaAndPem`].
    pub tls_roots: TlsRoots,
    /// Longest wait for a TCP connection (the TLS handshake counts against
    /// `request_timeout`). Default 2 s.
    pub connect_timeout: Duration,
    /// Longest wait for a whole answer, connecting included. Default 5 s.
    pub request_timeout: Duration,
    /// Largest answer body accepted. Default 64 KiB.
    pub max_body_bytes: usize,
    /// Idle connections kept open to the endpoint. Default 32.
    pub max_idle_connections: usize,
    /// How long an idle connection is kept. Default 60 s.
    pub idle_timeout: Duration,
    /// Allow plain `http://` to a host that is not a loopback address.
    /// Default `false`: the secret and the tokens would cross the network
    /// in clear (RFC 7662 §4 requires TLS). Only for a TLS-terminating
    /// proxy on a trusted network.
    pub allow_plain_http_off_loopback: bool,
}

impl ClientConfig {
    /// Settings for the endpoint and credentials, with the defaults above.
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret,
            tls_roots: TlsRoots::default(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_body_bytes: 64 * 1024,
            max_idle_connections: 32,
            idle_timeout: Duration::from_secs(60),
            allow_plain_http_off_loopback: false,
        }
    }
}

/// An RFC 7662 client for a resource server: authenticates with
/// `client_secret_basic`, checks an `https://` endpoint's certificate,
/// reuses connections, and turns every doubtful
/// outcome into an [`Error`] (see [`crate::answer::parse`]). Cheap to
/// share: put it in an `Arc`, or wrap it in a [`crate::CachedClient`].
///
/// Must be used inside a Tokio runtime.
pub struct IntrospectionClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoint: Uri,
    /// Marked sensitive; never printed (see the `Debug` impl).
    authorization: HeaderValue,
    client_id: String,
    request_timeout: Duration,
    max_body_bytes: usize,
}

impl fmt::Debug for IntrospectionClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionClient")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("request_timeout", &self.request_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl IntrospectionClient {
    /// A client with these settings.
    ///
    /// # Errors
    /// [`Error::Config`]: the endpoint is not an absolute `https://` or
    /// `http://` URL, is plain http off loopback without
    /// [`ClientConfig::allow_plain_http_off_loopback`], a timeout is zero,
    /// the credentials make no header, or [`ClientConfig::tls_roots`]'s
    /// PEM holds no usable CA certificate.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let endpoint = check_endpoint(&config)?;
        if config.connect_timeout.is_zero() || config.request_timeout.is_zero() {
            return Err(Error::Config("timeouts must be longer than zero".into()));
        }
        if config.client_id.is_empty() {
            return Err(Error::Config("the client id is empty".into()));
        }
        let mut authorization =
            HeaderValue::try_from(basic_authorization(&config.client_id, &config.client_secret))
                .map_err(|_| Error::Config("the credentials do not make a header".into()))?;
        authorization.set_sensitive(true);

        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(config.connect_timeout));
        // Small request, small answer: don't let Nagle hold them back.
        tcp.set_nodelay(true);
        // The TLS layer above decides the scheme.
        tcp.enforce_http(false);
        let tls = HttpsConnectorBuilder::new().with_tls_config(client_config(&config.tls_roots)?);
        // An https endpoint's connections are TLS or nothing: no path,
        // whatever a later change does to the URI, falls back to clear text.
        let tls = if endpoint.scheme_str() == Some("https") { tls.https_only() } else { tls.https_or_http() };
        let connector = tls.enable_http1().wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.idle_timeout)
            .pool_max_idle_per_host(config.max_idle_connections)
            .build(connector);
        Ok(Self {
            http,
            endpoint,
            authorization,
            client_id: config.client_id,
            request_timeout: config.request_timeout,
            max_body_bytes: config.max_body_bytes,
        })
    }

    async fn exchange(&self, token: &str) -> Result<Introspection, Error> {
        // RFC 7662 §2.1; the hint saves the server a lookup, and it may ignore it.
        let body = format!("token={}&token_type_hint=access_token", form_urlencode(token));
        let body = self.post_form(body).await?;
        parse(200, &body)
    }

    /// The whole-exchange timeout.
    pub(crate) fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// POSTs `body` (a form) with the client's credentials and returns the
    /// body of a 200 answer; any other status is an error.
    pub(crate) async fn post_form(&self, body: String) -> Result<Bytes, Error> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.endpoint.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::Config(format!("cannot build the request: {e}")))?;
        let response = self.http.request(request).await.map_err(|e| failure(&e))?;
        let status = response.status().as_u16();
        if status != 200 {
            // Not worth reading: it is an error whatever it says.
            return Err(Error::Status(status));
        }
        let body = match Limited::new(response.into_body(), self.max_body_bytes).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => return Err(Error::TooLarge(self.max_body_bytes)),
            Err(e) => return Err(failure(e.as_ref())),
        };
        Ok(body)
    }
}

impl Introspect for IntrospectionClient {
    /// One `POST` to the endpoint; the whole exchange, connecting included,
    /// within the request timeout.
    async fn introspect(&self, token: &str) -> Result<Introspection, Error> {
        tokio::time::timeout(self.request_timeout, self.exchange(token))
            .await
            .unwrap_or(Err(Error::Timeout(self.request_timeout)))
    }
}

/// The endpoint as a URI, if it is one this client will send secrets to:
/// any `https://` URL, or `http://` to loopback (RFC 7662 §4 requires TLS;
/// on loopback the traffic does not leave the machine).
fn check_endpoint(config: &ClientConfig) -> Result<Uri, Error> {
    let uri: Uri = config.endpoint.parse().map_err(|_| Error::Config("the endpoint is not a URL".into()))?;
    let host = uri.host().unwrap_or("");
    if host.is_empty() {
        return Err(Error::Config("the endpoint must be an absolute https:// or http:// URL".into()));
    }
    match uri.scheme_str() {
        Some("https") => return Ok(uri),
        Some("http") => {}
        _ => return Err(Error::Config("the endpoint must be an absolute https:// or http:// URL".into())),
    }
    if !config.allow_plain_http_off_loopback && !is_loopback(host) {
        return Err(Error::Config(format!(
            "refusing plain http to {host}, which is not loopback: the secret and the tokens would travel in clear"
        )));
    }
    Ok(uri)
}

fn is_loopback(host: &str) -> bool {
    let ip = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    host.eq_ignore_ascii_case("localhost") || ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A failed request as an [`Error`]: [`Error::Tls`] when TLS failed (a
/// certificate or name the client does not trust among them), else
/// [`Error::Network`].
fn failure(e: &(dyn std::error::Error + 'static)) -> Error {
    if is_tls_failure(e) {
        Error::Tls(chain(e))
    } else {
        Error::Network(chain(e))
    }
}

/// An error and its sources, one line. hyper's own message is often just
/// "client error (Connect)"; the cause is in the chain. None of them holds
/// the request's body, so no token (rustls's name certificate problems,
/// never the data).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: &str) -> ClientConfig {
        ClientConfig::new(endpoint, "rs", ClientSecret::new("not-printed-secret"))
    }

    fn refused(config: ClientConfig) -> String {
        match IntrospectionClient::new(config) {
            Err(Error::Config(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn loopback_http_is_accepted() {
        for e in ["http://127.0.0.1:8080/oauth/introspect", "http://localhost/i", "http://[::1]:1/i"] {
            IntrospectionClient::new(config(e)).unwrap();
        }
    }

    #[test]
    fn plain_http_off_loopback_is_refused_unless_allowed() {
        let m = refused(config("http://auth.example.com/introspect"));
        assert!(m.contains("not loopback"), "{m}");
        refused(config("http://10.0.0.1/introspect"));
        let mut c = config("http://10.0.0.1/introspect");
        c.allow_plain_http_off_loopback = true;
        // Building needs no runtime; only requests do.
        IntrospectionClient::new(c).unwrap();
    }

    #[test]
    fn https_is_accepted_anywhere_and_non_urls_are_refused() {
        for e in
            ["https://auth.example.com/oauth/introspect", "https://10.0.0.1:8443/i", "https://127.0.0.1/i"]
        {
            IntrospectionClient::new(config(e)).unwrap();
        }
        refused(config("/oauth/introspect"));
        refused(config("https:///i"));
        refused(config("ftp://127.0.0.1/i"));
        refused(config("not a url"));
    }

    #[test]
    fn zero_timeouts_and_empty_id_are_refused() {
        let mut c = config("http://127.0.0.1/i");
        c.request_timeout = Duration::ZERO;
        refused(c);
        let mut c = config("http://127.0.0.1/i");
        c.connect_timeout = Duration::ZERO;
        refused(c);
        refused(ClientConfig::new("http://127.0.0.1/i", "", ClientSecret::new("s")));
    }

    #[test]
    fn debug_shows_neither_secret_nor_header() {
        let c = IntrospectionClient::new(config("http://127.0.0.1:1/i")).unwrap();
        let d = format!("{c:?} {:?}", config("http://127.0.0.1:1/i"));
        assert!(!d.contains("not-printed-secret") && !d.contains("Basic"), "{d}");
        assert!(d.contains("127.0.0.1:1") && d.contains("\"rs\""), "{d}");
    }
}
