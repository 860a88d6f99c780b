//! Requests and responses as plain values, so any web framework adapts to
//! the core in a few lines: copy the method, two headers and the body in;
//! copy the status, headers and body out.

use std::borrow::Cow;
use std::fmt;

/// A header as the framework saw it: absent, present once, or repeated.
/// A repeated `Authorization` or `Content-Type` is refused, since two
/// values leave it ambiguous which one the client meant.
///
/// `Debug` shows only whether it was sent and its length: an
/// `Authorization` value carries a client secret.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub enum Header<'a> {
    /// Not sent.
    #[default]
    Absent,
    /// Sent once, with these raw bytes (which need not be UTF-8).
    One(&'a [u8]),
    /// Sent more than once.
    Repeated,
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Absent => f.write_str("Absent"),
            Self::One(v) => write!(f, "One(<{} bytes>)", v.len()),
            Self::Repeated => f.write_str("Repeated"),
        }
    }
}

impl<'a> Header<'a> {
    /// Builds a header from every value the request carried.
    pub fn from_values<I: IntoIterator<Item = &'a [u8]>>(values: I) -> Self {
        let mut it = values.into_iter();
        match (it.next(), it.next()) {
            (None, _) => Self::Absent,
            (Some(v), None) => Self::One(v),
            (Some(_), Some(_)) => Self::Repeated,
        }
    }
}

impl<'a> From<Option<&'a [u8]>> for Header<'a> {
    fn from(v: Option<&'a [u8]>) -> Self {
        v.map_or(Self::Absent, Self::One)
    }
}

impl<'a> From<&'a str> for Header<'a> {
    fn from(v: &'a str) -> Self {
        Self::One(v.as_bytes())
    }
}

/// An incoming request to one of the endpoints.
///
/// `Debug` shows the method, whether each header was sent and the body's
/// length, never a value: the header and the body carry secrets and tokens.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HttpRequest<'a> {
    /// The HTTP method, e.g. `"POST"`.
    pub method: &'a str,
    /// The `Authorization` header.
    pub authorization: Header<'a>,
    /// The `Content-Type` header.
    pub content_type: Header<'a>,
    /// The raw body.
    pub body: &'a [u8],
}

impl fmt::Debug for HttpRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("authorization", &self.authorization)
            .field("content_type", &self.content_type)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

impl<'a> HttpRequest<'a> {
    /// A form POST: `Content-Type: application/x-www-form-urlencoded`.
    pub fn form_post(body: &'a [u8]) -> Self {
        Self {
            method: "POST",
            authorization: Header::Absent,
            content_type: Header::One(b"application/x-www-form-urlencoded"),
            body,
        }
    }

    /// The same request with an `Authorization` header.
    #[must_use]
    pub fn with_authorization(mut self, value: &'a str) -> Self {
        self.authorization = Header::One(value.as_bytes());
        self
    }
}

/// The response to send back.
///
/// `Debug` shows the status, the header names and the body's length: a
/// token response's body holds the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers to set (name, value). Values are mostly fixed texts, which
    /// cost no allocation.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// The body: always JSON.
    pub body: Vec<u8>,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &names)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

impl HttpResponse {
    /// A JSON response with the headers every token-bearing response needs
    /// (RFC 6749 §5.1: `Cache-Control: no-store`, `Pragma: no-cache`).
    pub(crate) fn json(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![
                ("Content-Type", Cow::Borrowed("application/json")),
                ("Cache-Control", Cow::Borrowed("no-store")),
                ("Pragma", Cow::Borrowed("no-cache")),
            ],
            body,
        }
    }

    /// The `400 invalid_request` the core answers a body longer than
    /// [`Config::max_body_bytes`](crate::Config::max_body_bytes) with
    /// ([`Error::BodyTooLarge`](crate::Error::BodyTooLarge)), for an adapter
    /// that stops reading the body at that limit, before the core sees it.
    pub fn body_too_large() -> Self {
        Self::from(&crate::error::Error::BodyTooLarge)
    }

    /// The `500 server_error` the core answers any failure of its own with
    /// (a store, random source or configuration failure), saying nothing
    /// about the cause: for an adapter that fails while sending a response
    /// on.
    pub fn server_error() -> Self {
        Self::from(&crate::error::Error::Config(String::new()))
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| &**v)
    }

    /// The body parsed as JSON (for tests and adapters that want a value).
    ///
    /// # Errors
    /// When the body is not JSON, which the core never produces.
    pub fn json_body(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

impl From<&crate::error::Error> for HttpResponse {
    fn from(e: &crate::error::Error) -> Self {
        let body = crate::json::Object::with_capacity(96)
            .str("error", e.code())
            .str("error_description", e.description())
            .finish();
        let mut r = Self::json(e.status(), body);
        match e {
            crate::error::Error::InvalidClient { basic: true } => {
                r.headers
                    .push(("WWW-Authenticate", Cow::Borrowed("Basic realm=\"oauth\", charset=\"UTF-8\"")));
            }
            crate::error::Error::MethodNotAllowed => r.headers.push(("Allow", Cow::Borrowed("POST"))),
            _ => {}
        }
        // 429 (RFC 6585 §4) and 503 (RFC 9110 §15.6.4) say when to retry.
        if let Some(secs) = e.retry_after() {
            r.headers.push(("Retry-After", Cow::Owned(secs.to_string())));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn header_from_values() {
        assert_eq!(Header::from_values(std::iter::empty()), Header::Absent);
        assert_eq!(Header::from_values([&b"a"[..]]), Header::One(b"a"));
        assert_eq!(Header::from_values([&b"a"[..], &b"b"[..]]), Header::Repeated);
    }

    #[test]
    fn debug_never_shows_a_value() {
        const SECRET: &str = "s3cr3t-value-in-every-field";
        let auth = format!("Basic {SECRET}");
        let body = format!("token={SECRET}&client_secret={SECRET}");
        let req = HttpRequest::form_post(body.as_bytes()).with_authorization(&auth);
        // Neither as text nor as the byte list a derived `Debug` would print.
        let as_bytes = format!("{:?}", &SECRET.as_bytes()[..4]);
        let as_bytes = as_bytes.trim_matches(['[', ']']);
        let shown = format!("{req:?} {:?} {:?}", req.authorization, Header::One(SECRET.as_bytes()));
        assert!(!shown.contains(SECRET) && !shown.contains(as_bytes), "{shown}");
        assert!(shown.contains("POST") && shown.contains(&format!("<{} bytes>", body.len())), "{shown}");
        let resp = HttpResponse::json(200, format!(r#"{{"access_token":"{SECRET}"}}"#).into_bytes());
        let shown = format!("{resp:?} {resp:#?}");
        assert!(!shown.contains(SECRET) && !shown.contains(as_bytes), "{shown}");
        assert!(shown.contains("200") && shown.contains("Cache-Control"), "{shown}");
    }

    #[test]
    fn error_responses_carry_their_headers() {
        let r = HttpResponse::from(&Error::InvalidClient { basic: true });
        assert_eq!(r.status, 401);
        assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.json_body().unwrap()["error"], "invalid_client");
        let r = HttpResponse::from(&Error::InvalidClient { basic: false });
        assert_eq!(r.header("www-authenticate"), None);
        let r = HttpResponse::from(&Error::Throttled { retry_after: 7 });
        assert_eq!((r.status, r.header("retry-after")), (429, Some("7")));
        let r = HttpResponse::from(&Error::MethodNotAllowed);
        assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
        let down = std::io::Error::from(std::io::ErrorKind::TimedOut);
        let r = HttpResponse::from(&Error::Store(crate::store::StoreError::unavailable(down)));
        assert_eq!((r.status, r.header("retry-after")), (503, Some("5")));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let body = r.json_body().unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
        assert!(body.get("active").is_none() && body.get("access_token").is_none());
        let r =
            HttpResponse::from(&Error::Store(crate::store::StoreError::Corrupt { what: "x", source: None }));
        assert_eq!((r.status, r.header("retry-after")), (500, None));
    }

    #[test]
    fn body_too_large_is_the_answer_to_an_oversized_form() {
        let Err(e) = crate::form::parse_form(&[b'a'; 2000], 1024) else { panic!("an oversized form parsed") };
        let r = HttpResponse::body_too_large();
        assert_eq!(r, HttpResponse::from(&e));
        assert_eq!((r.status, r.header("cache-control")), (400, Some("no-store")));
        let body = r.json_body().unwrap();
        assert_eq!(
            (body["error"].as_str(), body["error_description"].as_str()),
            (Some("invalid_request"), Some("request body is too large"))
        );
    }

    #[test]
    fn server_error_is_the_answer_to_any_failure_of_the_server() {
        let r = HttpResponse::server_error();
        let down = crate::store::StoreError::backend(std::io::Error::from(std::io::ErrorKind::Other));
        assert_eq!(r, HttpResponse::from(&Error::Store(down)));
        assert_eq!(r, HttpResponse::from(&Error::Config("secret detail".into())));
        assert_eq!(
            (r.status, r.header("cache-control"), r.header("retry-after")),
            (500, Some("no-store"), None)
        );
        let body = r.json_body().unwrap();
        assert_eq!(
            (body["error"].as_str(), body["error_description"].as_str()),
            (Some("server_error"), Some("the server could not complete the request"))
        );
    }
}
