//! End to end: a sequence of up to eight arbitrary requests (method,
//! headers, body) to the token, introspection and revocation endpoints,
//! bearer validation and the authorization endpoint, on a fresh server
//! holding a live access token, refresh token and code. The fuzzer names
//! those (and the clients' secrets, the PKCE verifier and ready-made Basic
//! headers) with the bytes 0xF8..=0xFF, which never occur in UTF-8. A body
//! is either raw bytes or a form built from known parameter names and
//! values, so that successful grants, refreshes, replays and revocations
//! are a few mutations away. No request may panic, and every answer keeps
//! `check_response`'s rules.
#![no_main]

use arbitrary::Arbitrary;
use gatehouse_core::model::{Resource, Scope, Subject};
use gatehouse_core::{AuthorizationRequest, Header, HttpRequest};
use gatehouse_fuzz::{
    block_on, check_request_debug, check_response, server, Live, API, CHALLENGE, OTHER_API, REDIRECT,
};
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
enum Body {
    Raw(Vec<u8>),
    Form(Vec<(Name, Value)>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Name {
    GrantType,
    ClientId,
    ClientSecret,
    Code,
    RedirectUri,
    CodeVerifier,
    RefreshToken,
    Token,
    TokenTypeHint,
    Scope,
    Resource,
    ResponseType,
    CodeChallenge,
    CodeChallengeMethod,
    State,
}

#[derive(Arbitrary, Debug)]
enum Value {
    /// One of the live values (0..8), see [`Live`].
    Live(u8),
    Word(Word),
    /// Put in as is, unencoded.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Word {
    ClientCredentials,
    AuthorizationCode,
    RefreshToken,
    App,
    Api,
    Native,
    Redirect,
    ApiUrl,
    OtherApiUrl,
    Read,
    ReadWrite,
    Admin,
    Code,
    S256,
    Challenge,
    AccessTokenHint,
}

impl Name {
    fn as_str(self) -> &'static str {
        match self {
            Self::GrantType => "grant_type",
            Self::ClientId => "client_id",
            Self::ClientSecret => "client_secret",
            Self::Code => "code",
            Self::RedirectUri => "redirect_uri",
            Self::CodeVerifier => "code_verifier",
            Self::RefreshToken => "refresh_token",
            Self::Token => "token",
            Self::TokenTypeHint => "token_type_hint",
            Self::Scope => "scope",
            Self::Resource => "resource",
            Self::ResponseType => "response_type",
            Self::CodeChallenge => "code_challenge",
            Self::CodeChallengeMethod => "code_challenge_method",
            Self::State => "state",
        }
    }
}

impl Word {
    fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::App => "app",
            Self::Api => "api",
            Self::Native => "native",
            Self::Redirect => REDIRECT,
            Self::ApiUrl => API,
            Self::OtherApiUrl => OTHER_API,
            Self::Read => "read",
            Self::ReadWrite => "read write",
            Self::Admin => "admin",
            Self::Code => "code",
            Self::S256 => "S256",
            Self::Challenge => CHALLENGE,
            Self::AccessTokenHint => "access_token",
        }
    }
}

/// Form-encodes `s` (RFC 6749 Appendix B).
fn encode(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
}

impl Body {
    fn bytes(&self, live: &Live) -> Vec<u8> {
        let pairs = match self {
            Self::Raw(raw) => return live.substitute(raw),
            Self::Form(pairs) => pairs,
        };
        let mut out = Vec::new();
        for (name, value) in pairs {
            if !out.is_empty() {
                out.push(b'&');
            }
            out.extend_from_slice(name.as_str().as_bytes());
            out.push(b'=');
            match value {
                Value::Live(i) => encode(&live.values[usize::from(*i) % live.values.len()], &mut out),
                Value::Word(w) => encode(w.as_str(), &mut out),
                Value::Raw(raw) => out.extend_from_slice(&live.substitute(raw)),
            }
        }
        out
    }
}

#[derive(Arbitrary, Debug)]
struct Request {
    endpoint: Endpoint,
    post: bool,
    method: String,
    authorization: Hdr,
    form: bool,
    content_type: Hdr,
    body: Body,
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
        let body = r.body.bytes(&live);
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
