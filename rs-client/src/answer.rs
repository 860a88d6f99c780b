//! The typed introspection answer, and [`parse`]: the one pure decision
//! from an HTTP status and body to an answer or an [`Error`]. Every
//! doubtful case is an error, so that nothing but a well-formed
//! `"active": true` can ever come out as [`Introspection::Active`].

use serde_json::{Map, Value};

use crate::error::Error;

/// What the authorization server said about a token (RFC 7662 §2.2).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Introspection {
    /// `"active": true`, with the token's claims.
    Active(Box<Claims>),
    /// `"active": false`. RFC 7662 §2.2: the server should say nothing
    /// more; whatever else it sent is ignored.
    Inactive,
}

impl Introspection {
    /// Whether the token is active.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Active(_))
    }

    /// The claims of an active token.
    pub fn claims(&self) -> Option<&Claims> {
        match self {
            Self::Active(c) => Some(c),
            Self::Inactive => None,
        }
    }
}

/// The members of an active answer (RFC 7662 §2.2). All are optional in
/// the RFC; a member with the wrong type makes the whole answer an
/// [`Error::Member`] rather than being skipped, since a skipped `exp` would
/// make a token look eternal.
///
/// The resource server still decides: RFC 7662 §4 leaves checking the
/// audience and the scope to it ([`Claims::has_audience`],
/// [`Claims::has_scope`]).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Claims {
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// The client the token was issued to.
    pub client_id: Option<String>,
    /// A human-readable name of the resource owner.
    pub username: Option<String>,
    /// The token's type, e.g. `Bearer`.
    pub token_type: Option<String>,
    /// Expiry, seconds since the Unix epoch. A fractional value is rounded
    /// down (earlier).
    pub exp: Option<u64>,
    /// Issued at, seconds since the Unix epoch (rounded up).
    pub iat: Option<u64>,
    /// Not before, seconds since the Unix epoch (rounded up, later).
    pub nbf: Option<u64>,
    /// The subject: usually the resource owner.
    pub sub: Option<String>,
    /// The audiences; a single string in the answer becomes one element.
    pub aud: Vec<String>,
    /// The issuer.
    pub iss: Option<String>,
    /// The token's identifier.
    pub jti: Option<String>,
    /// Every other member, as sent (extensions, e.g. a grant id).
    pub extra: Map<String, Value>,
}

impl Claims {
    /// Each scope in `scope`.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty())
    }

    /// Whether `scope` is one of the token's scopes.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// Whether `audience` is one of the token's audiences.
    pub fn has_audience(&self, audience: &str) -> bool {
        self.aud.iter().any(|a| a == audience)
    }

    /// An estimate of the heap memory these claims hold, for the cache's
    /// byte bound.
    pub(crate) fn heap_bytes(&self) -> usize {
        let strings =
            [&self.scope, &self.client_id, &self.username, &self.token_type, &self.sub, &self.iss, &self.jti];
        let strings: usize = strings.iter().map(|s| s.as_ref().map_or(0, String::capacity)).sum();
        let aud: usize = self.aud.iter().map(|a| a.capacity() + std::mem::size_of::<String>()).sum();
        strings + aud + map_bytes(&self.extra)
    }
}

/// Per-node overhead counted for JSON values: a map slot or vector slot.
const VALUE_OVERHEAD: usize = 64;

fn map_bytes(map: &Map<String, Value>) -> usize {
    map.iter().map(|(k, v)| k.capacity() + VALUE_OVERHEAD + value_bytes(v)).sum()
}

fn value_bytes(v: &Value) -> usize {
    match v {
        Value::String(s) => s.capacity(),
        Value::Array(a) => a.iter().map(|x| VALUE_OVERHEAD + value_bytes(x)).sum(),
        Value::Object(m) => map_bytes(m),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// The answer to an introspection request, from its status and body.
///
/// # Errors
/// - [`Error::Status`]: any status but 200 (a 5xx, a 401 for the resource
///   server's own credentials, a redirect, ...);
/// - [`Error::NotJson`]: the body is not a JSON object;
/// - [`Error::MissingActive`], [`Error::Member`]`("active")`: no boolean
///   `active` (RFC 7662 §2.2: REQUIRED, boolean);
/// - [`Error::Member`]: a known member of an active answer has the wrong type.
pub fn parse(status: u16, body: &[u8]) -> Result<Introspection, Error> {
    if status != 200 {
        return Err(Error::Status(status));
    }
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) else {
        return Err(Error::NotJson);
    };
    match map.remove("active") {
        None => Err(Error::MissingActive),
        Some(Value::Bool(false)) => Ok(Introspection::Inactive),
        Some(Value::Bool(true)) => Ok(Introspection::Active(Box::new(claims(map)?))),
        Some(_) => Err(Error::Member("active")),
    }
}

fn claims(mut map: Map<String, Value>) -> Result<Claims, Error> {
    let mut take_str = |name: &'static str| match map.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::Member(name)),
    };
    let scope = take_str("scope")?;
    let client_id = take_str("client_id")?;
    let username = take_str("username")?;
    let token_type = take_str("token_type")?;
    let sub = take_str("sub")?;
    let iss = take_str("iss")?;
    let jti = take_str("jti")?;
    let exp = time(map.remove("exp"), "exp", f64::floor)?;
    let iat = time(map.remove("iat"), "iat", f64::ceil)?;
    let nbf = time(map.remove("nbf"), "nbf", f64::ceil)?;
    let aud = match map.remove("aud") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(Error::Member("aud")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(Error::Member("aud")),
    };
    Ok(Claims { scope, client_id, username, token_type, exp, iat, nbf, sub, aud, iss, jti, extra: map })
}

/// A NumericDate (RFC 7519 §2): seconds, possibly fractional; `round`
/// picks the safe side for that member. Negative or non-finite is wrong.
fn time(v: Option<Value>, name: &'static str, round: fn(f64) -> f64) -> Result<Option<u64>, Error> {
    let n = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n,
        Some(_) => return Err(Error::Member(name)),
    };
    if let Some(u) = n.as_u64() {
        return Ok(Some(u));
    }
    match n.as_f64().map(round) {
        // `u64::MAX as f64` rounds up to 2^64, so `<` keeps the cast exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(f) if f >= 0.0 && f < u64::MAX as f64 => Ok(Some(f as u64)),
        _ => Err(Error::Member(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Introspection {
        parse(200, body.as_bytes()).unwrap()
    }

    fn err(body: &str) -> Error {
        parse(200, body.as_bytes()).unwrap_err()
    }

    #[test]
    fn active_answer_with_every_member() {
        let a =
            ok(r#"{"active":true,"scope":"read write","client_id":"c","username":"u","token_type":"Bearer",
            "exp":200,"iat":100,"nbf":100,"sub":"alice","aud":["https://a","https://b"],"iss":"https://as",
            "jti":"j1","grant_id":"g1","cnf":{"x5t#S256":"abc"}}"#);
        let c = a.claims().unwrap();
        assert_eq!(c.scope.as_deref(), Some("read write"));
        assert_eq!(c.client_id.as_deref(), Some("c"));
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(c.token_type.as_deref(), Some("Bearer"));
        assert_eq!((c.exp, c.iat, c.nbf), (Some(200), Some(100), Some(100)));
        assert_eq!(c.sub.as_deref(), Some("alice"));
        assert_eq!(c.aud, ["https://a", "https://b"]);
        assert_eq!(c.iss.as_deref(), Some("https://as"));
        assert_eq!(c.jti.as_deref(), Some("j1"));
        assert_eq!(c.extra["grant_id"], "g1");
        assert_eq!(c.extra["cnf"]["x5t#S256"], "abc");
        assert_eq!(c.extra.len(), 2, "known members are not repeated in extra");
        assert!(c.has_scope("write") && !c.has_scope("rea") && !c.has_scope(""));
        assert!(c.has_audience("https://b") && !c.has_audience("https://c"));
    }

    #[test]
    fn bare_active_has_no_claims_and_null_is_absent() {
        assert_eq!(ok(r#"{"active":true}"#), Introspection::Active(Box::default()));
        let a = ok(r#"{"active":true,"exp":null,"sub":null,"aud":null}"#);
        assert_eq!(a, Introspection::Active(Box::default()));
    }

    #[test]
    fn single_string_audience_is_one_audience() {
        assert_eq!(ok(r#"{"active":true,"aud":"https://a"}"#).claims().unwrap().aud, ["https://a"]);
    }

    #[test]
    fn fractional_times_round_to_the_safe_side() {
        let c = ok(r#"{"active":true,"exp":200.9,"nbf":100.1,"iat":100.1}"#).claims().cloned().unwrap();
        assert_eq!((c.exp, c.nbf, c.iat), (Some(200), Some(101), Some(101)));
    }

    #[test]
    fn inactive_ignores_everything_else() {
        assert_eq!(ok(r#"{"active":false}"#), Introspection::Inactive);
        assert_eq!(ok(r#"{"active":false,"exp":"garbage","error":"x","scope":7}"#), Introspection::Inactive);
    }

    #[test]
    fn active_must_be_a_boolean() {
        assert_eq!(err(r#"{"scope":"read"}"#), Error::MissingActive);
        assert_eq!(err(r#"{"active":null}"#), Error::Member("active"));
        for v in [r#""true""#, "1", "[true]", r#"{"v":true}"#] {
            assert_eq!(err(&format!(r#"{{"active":{v}}}"#)), Error::Member("active"), "{v}");
        }
    }

    #[test]
    fn wrong_member_types_are_errors_not_skipped() {
        for (body, name) in [
            (r#"{"active":true,"exp":"200"}"#, "exp"),
            (r#"{"active":true,"exp":-1}"#, "exp"),
            (r#"{"active":true,"exp":1e300}"#, "exp"),
            (r#"{"active":true,"nbf":true}"#, "nbf"),
            (r#"{"active":true,"iat":[1]}"#, "iat"),
            (r#"{"active":true,"scope":["read"]}"#, "scope"),
            (r#"{"active":true,"sub":1}"#, "sub"),
            (r#"{"active":true,"client_id":{}}"#, "client_id"),
            (r#"{"active":true,"aud":["a",1]}"#, "aud"),
            (r#"{"active":true,"aud":1}"#, "aud"),
            (r#"{"active":true,"jti":false}"#, "jti"),
        ] {
            assert_eq!(err(body), Error::Member(name), "{body}");
        }
    }

    #[test]
    fn not_a_json_object_is_an_error() {
        for body in ["", "garbage", "[]", "true", r#""active""#, r#"{"active":true"#, "<html>500</html>"] {
            assert_eq!(err(body), Error::NotJson, "{body}");
        }
    }

    #[test]
    fn any_status_but_200_is_an_error_whatever_the_body() {
        for status in [201, 204, 301, 400, 401, 403, 429, 500, 503] {
            assert_eq!(parse(status, br#"{"active":true}"#), Err(Error::Status(status)));
        }
    }

    #[test]
    fn heap_bytes_grows_with_the_claims() {
        let small = ok(r#"{"active":true,"sub":"a"}"#);
        let big = ok(&format!(r#"{{"active":true,"sub":"a","x":["{}"]}}"#, "y".repeat(1000)));
        let (s, b) = (small.claims().unwrap().heap_bytes(), big.claims().unwrap().heap_bytes());
        assert!(s < 100 && b > 1000, "{s} {b}");
    }
}
