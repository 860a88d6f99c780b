//! Copying the core's [`HttpResponse`] into axum's [`Response`].

use std::borrow::Cow;

use axum::body::Body;
use axum::response::Response;
use gatehouse_core::HttpResponse;
use http::header::{self, HeaderName, InvalidHeaderName};
use http::{HeaderValue, StatusCode};

/// Copies the core's response into axum's. A status or header that http
/// cannot carry (the core never produces one) fails closed with the core's
/// 500 rather than dropping, say, `WWW-Authenticate`.
pub(crate) fn convert(r: HttpResponse) -> Response {
    try_convert(r).or_else(|| try_convert(HttpResponse::server_error())).unwrap_or_else(|| {
        // Not reached: the core's 500 always fits.
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// The copy, or `None` when a status or header does not fit.
fn try_convert(r: HttpResponse) -> Option<Response> {
    let mut out = Response::new(Body::from(r.body));
    *out.status_mut() = StatusCode::from_u16(r.status).ok()?;
    for (name, value) in r.headers {
        // The values on every response are known here and borrowed, saving
        // a copy per header; any other value is checked.
        let value = match value {
            Cow::Borrowed(v @ ("application/json" | "no-store" | "no-cache")) => {
                Ok(HeaderValue::from_static(v))
            }
            Cow::Borrowed(v) => HeaderValue::from_str(v),
            Cow::Owned(v) => HeaderValue::try_from(v),
        };
        out.headers_mut().append(header_name(name).ok()?, value.ok()?);
    }
    Some(out)
}

/// The core's header names, without parsing the usual ones each time.
fn header_name(name: &'static str) -> Result<HeaderName, InvalidHeaderName> {
    Ok(match name {
        "Content-Type" => header::CONTENT_TYPE,
        "Cache-Control" => header::CACHE_CONTROL,
        "Pragma" => header::PRAGMA,
        other => return HeaderName::try_from(other),
    })
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    #[tokio::test]
    async fn a_response_http_cannot_carry_becomes_the_cores_server_error() {
        let core = HttpResponse::server_error();
        for bad in [
            HttpResponse {
                status: 200,
                headers: vec![("Bad Name", Cow::Borrowed("x"))],
                body: b"{}".to_vec(),
            },
            HttpResponse { status: 200, headers: vec![("X-A", Cow::Borrowed("a\nb"))], body: b"{}".to_vec() },
            HttpResponse { status: 1000, headers: Vec::new(), body: b"{}".to_vec() },
        ] {
            let r = convert(bad);
            assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(r.headers().get(header::CONTENT_TYPE).unwrap(), "application/json");
            let body = r.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, core.body);
        }
    }

    #[test]
    fn every_header_and_the_status_are_copied() {
        let r = convert(HttpResponse::from(&gatehouse_core::Error::Throttled { retry_after: 7 }));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let h = r.headers();
        assert_eq!(h.get("content-type").unwrap(), "application/json");
        assert_eq!(h.get("cache-control").unwrap(), "no-store");
        assert_eq!(h.get("pragma").unwrap(), "no-cache");
        assert_eq!(h.get("retry-after").unwrap(), "7");
    }
}
