//! What the authorization server's revocation feed says, and which cached
//! answers each event makes wrong: [`Revocation`], and `parse_batch` for
//! gatehouse's feed (`POST /oauth/events`; see the README, "Revocation
//! push").

use serde_json::Value;

use crate::answer::{Claims, Introspection};
use crate::error::Error;

/// A revocation the authorization server announced: the cached answers it
/// names must be dropped at once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation {
    /// One token, by its `jti`.
    Token {
        /// Its `jti`.
        jti: String,
    },
    /// Every token of a grant (the answer's `grant_id` member).
    Grant {
        /// The grant id.
        grant_id: String,
    },
    /// Every token of a resource owner (`sub`).
    Subject {
        /// The subject.
        sub: String,
    },
    /// Every token a resource owner gave one client.
    SubjectAtClient {
        /// The subject.
        sub: String,
        /// The client.
        client_id: String,
    },
    /// Every token of a client (revoked in bulk, disabled or removed).
    Client {
        /// The client.
        client_id: String,
    },
}

impl Revocation {
    /// Whether a cached `answer` must be dropped. Inactive answers are
    /// never dropped: a revocation cannot make them active.
    pub fn matches(&self, answer: &Introspection) -> bool {
        let Some(c) = answer.claims() else { return false };
        let is = |have: &Option<String>, want: &str| have.as_deref() == Some(want);
        match self {
            Self::Token { jti } => is(&c.jti, jti),
            Self::Grant { grant_id } => grant_of(c) == Some(grant_id.as_str()),
            Self::Subject { sub } => is(&c.sub, sub),
            Self::SubjectAtClient { sub, client_id } => is(&c.sub, sub) && is(&c.client_id, client_id),
            Self::Client { client_id } => is(&c.client_id, client_id),
        }
    }
}

fn grant_of(c: &Claims) -> Option<&str> {
    c.extra.get("grant_id").and_then(Value::as_str)
}

/// One answer of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) stream: String,
    pub(crate) cursor: u64,
    pub(crate) reset: bool,
    pub(crate) events: Vec<Revocation>,
}

/// Reads one answer of gatehouse's feed. An event of an unknown `type` is
/// a reset: the client cannot tell what it revoked, so it forgets
/// everything rather than keep a token it should have dropped.
///
/// # Errors
/// [`Error::NotJson`] or [`Error::Member`] for a malformed answer.
pub(crate) fn parse_batch(body: &[u8]) -> Result<Batch, Error> {
    let v: Value = serde_json::from_slice(body).map_err(|_| Error::NotJson)?;
    let str_of = |v: &Value, name: &'static str| {
        v.get(name).and_then(Value::as_str).map(str::to_owned).ok_or(Error::Member(name))
    };
    let stream = str_of(&v, "stream")?;
    let cursor = v.get("cursor").and_then(Value::as_u64).ok_or(Error::Member("cursor"))?;
    let mut reset = v.get("reset").and_then(Value::as_bool).ok_or(Error::Member("reset"))?;
    let mut events = Vec::new();
    for e in v.get("events").and_then(Value::as_array).ok_or(Error::Member("events"))? {
        let event = match e.get("type").and_then(Value::as_str) {
            Some("token") => Revocation::Token { jti: str_of(e, "jti")? },
            Some("grant") => Revocation::Grant { grant_id: str_of(e, "grant_id")? },
            Some("subject") => Revocation::Subject { sub: str_of(e, "sub")? },
            Some("subject_at_client") => {
                Revocation::SubjectAtClient { sub: str_of(e, "sub")?, client_id: str_of(e, "client_id")? }
            }
            Some("client") => Revocation::Client { client_id: str_of(e, "client_id")? },
            _ => {
                reset = true;
                continue;
            }
        };
        events.push(event);
    }
    Ok(Batch { stream, cursor, reset, events })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::parse;

    fn answer(json: &str) -> Introspection {
        parse(200, json.as_bytes()).unwrap()
    }

    #[test]
    fn each_revocation_matches_its_answers_only() {
        let a = answer(r#"{"active":true,"jti":"j1","sub":"alice","client_id":"app","grant_id":"g1"}"#);
        let b = answer(r#"{"active":true,"jti":"j2","sub":"bob","client_id":"web","grant_id":"g2"}"#);
        let s = |x: &str| x.to_owned();
        let cases = [
            (Revocation::Token { jti: s("j1") }, true, false),
            (Revocation::Grant { grant_id: s("g1") }, true, false),
            (Revocation::Subject { sub: s("bob") }, false, true),
            (Revocation::SubjectAtClient { sub: s("alice"), client_id: s("app") }, true, false),
            (Revocation::SubjectAtClient { sub: s("alice"), client_id: s("web") }, false, false),
            (Revocation::Client { client_id: s("web") }, false, true),
        ];
        for (r, on_a, on_b) in cases {
            assert_eq!((r.matches(&a), r.matches(&b)), (on_a, on_b), "{r:?}");
            assert!(!r.matches(&Introspection::Inactive));
        }
    }

    #[test]
    fn batches_parse_and_unknown_events_reset() {
        let body = br#"{"stream":"s1","cursor":3,"reset":false,"events":[
            {"seq":2,"type":"token","jti":"j","grant_id":"g"},{"seq":3,"type":"client","client_id":"app"}]}"#;
        let b = parse_batch(body).unwrap();
        assert_eq!((b.stream.as_str(), b.cursor, b.reset), ("s1", 3, false));
        assert_eq!(
            b.events,
            vec![Revocation::Token { jti: "j".into() }, Revocation::Client { client_id: "app".into() }]
        );
        let body = br#"{"stream":"s1","cursor":4,"reset":false,"events":[{"seq":4,"type":"new_kind"}]}"#;
        assert!(parse_batch(body).unwrap().reset);
        assert!(parse_batch(b"{}").is_err());
        assert!(parse_batch(b"nope").is_err());
        let body = br#"{"stream":"s1","cursor":4,"reset":false,"events":[{"type":"token"}]}"#;
        assert!(parse_batch(body).is_err(), "a token event without its jti");
    }
}
