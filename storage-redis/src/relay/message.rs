//! The relay's messages on the Redis channel: one small JSON object each,
//! `{"o": <instance id>, "n": <number>, "type": ..., ids...}`, where `type`
//! is a [`FeedEvent`] kind (with the ids the feed's own JSON uses: `jti`,
//! `grant_id`, `sub`, `client_id`), `"heartbeat"` or `"bye"`.
//!
//! Identifiers only, like the feed: never a token, a digest or a secret.

use gatehouse_core::model::{ClientId, GrantId, Jti, Subject};
use gatehouse_core::FeedEvent;
use serde_json::{Map, Value};

/// The longest message decoded: ids are bounded (a client id is at most
/// 255 bytes), so anything longer is not ours.
const MAX_LEN: usize = 4096;

/// One message: who sent it, its number, what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// The sending relay's instance id.
    pub(crate) origin: String,
    /// An event's own number (1 for an instance's first), or for a
    /// heartbeat the last number the sender used (0 before its first).
    pub(crate) n: u64,
    pub(crate) body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// "I am here, and my last number is `n`."
    Heartbeat,
    /// "I am stopping, and my last number was `n`": the others forget the
    /// sender without a reset (one that goes silent without it may have
    /// failed to publish its last events, so they reset).
    Bye,
    /// Something resource servers must forget.
    Event(FeedEvent),
}

impl Message {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("o".into(), self.origin.as_str().into());
        m.insert("n".into(), self.n.into());
        match &self.body {
            Body::Heartbeat => {
                m.insert("type".into(), "heartbeat".into());
            }
            Body::Bye => {
                m.insert("type".into(), "bye".into());
            }
            Body::Event(e) => {
                m.insert("type".into(), e.kind().into());
                match e {
                    FeedEvent::Token { jti, grant } => {
                        m.insert("jti".into(), jti.to_string().into());
                        m.insert("grant_id".into(), grant.to_string().into());
                    }
                    FeedEvent::Grant(g) => {
                        m.insert("grant_id".into(), g.to_string().into());
                    }
                    FeedEvent::Subject(s) => {
                        m.insert("sub".into(), s.as_str().into());
                    }
                    FeedEvent::SubjectAtClient(s, c) => {
                        m.insert("sub".into(), s.as_str().into());
                        m.insert("client_id".into(), c.as_str().into());
                    }
                    FeedEvent::Client(c) => {
                        m.insert("client_id".into(), c.as_str().into());
                    }
                    // A kind added to the core after this relay: the
                    // receivers cannot read it and reset, which is safe.
                    _ => {}
                }
            }
        }
        Value::Object(m).to_string().into_bytes()
    }

    /// `None` for anything that is not a whole message this version
    /// understands (the receiver then resets).
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_LEN {
            return None;
        }
        let v: Value = serde_json::from_slice(bytes).ok()?;
        let text = |k: &str| v.get(k).and_then(Value::as_str);
        let origin = text("o")?.to_owned();
        let n = v.get("n")?.as_u64()?;
        let jti = || text("jti").and_then(|s| Jti::parse(s).ok());
        let grant = || text("grant_id").and_then(|s| GrantId::parse(s).ok());
        let sub = || text("sub").and_then(|s| Subject::new(s).ok());
        let client = || text("client_id").and_then(|s| ClientId::new(s).ok());
        let body = match text("type")? {
            "heartbeat" => Body::Heartbeat,
            "bye" => Body::Bye,
            "token" => Body::Event(FeedEvent::Token { jti: jti()?, grant: grant()? }),
            "grant" => Body::Event(FeedEvent::Grant(grant()?)),
            "subject" => Body::Event(FeedEvent::Subject(sub()?)),
            "subject_at_client" => Body::Event(FeedEvent::SubjectAtClient(sub()?, client()?)),
            "client" => Body::Event(FeedEvent::Client(client()?)),
            _ => return None,
        };
        Some(Self { origin, n, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> GrantId {
        GrantId::generate().unwrap()
    }

    #[test]
    fn every_kind_survives_the_round_trip() {
        let alice = Subject::new("alice").unwrap();
        let app = ClientId::new("odd {app}").unwrap();
        let bodies = [
            Body::Heartbeat,
            Body::Bye,
            Body::Event(FeedEvent::Token { jti: Jti::from_bytes([7; 16]), grant: grant() }),
            Body::Event(FeedEvent::Grant(grant())),
            Body::Event(FeedEvent::Subject(alice.clone())),
            Body::Event(FeedEvent::SubjectAtClient(alice, app.clone())),
            Body::Event(FeedEvent::Client(app)),
        ];
        for (n, body) in bodies.into_iter().enumerate() {
            let m = Message { origin: "abc".into(), n: n as u64, body };
            assert_eq!(Message::decode(&m.encode()), Some(m.clone()), "{m:?}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        let ok = r#"{"o":"a","n":1,"type":"grant","grant_id":"#;
        let g = grant().to_string();
        assert!(Message::decode(format!(r#"{ok}"{g}"}}"#).as_bytes()).is_some());
        for bad in [
            String::new(),
            "not json".into(),
            format!(r#"{{"n":1,"type":"grant","grant_id":"{g}"}}"#),
            format!(r#"{{"o":"a","n":-1,"type":"grant","grant_id":"{g}"}}"#),
            format!(r#"{{"o":"a","n":1,"type":"later","grant_id":"{g}"}}"#),
            r#"{"o":"a","n":1,"type":"grant","grant_id":"short"}"#.into(),
            r#"{"o":"a","n":1,"type":"client","client_id":""}"#.into(),
            r#"{"o":"a","n":1,"type":"token"}"#.into(),
            format!(r#"{ok}"{g}","pad":"{}"}}"#, "x".repeat(MAX_LEN)),
        ] {
            assert_eq!(Message::decode(bad.as_bytes()), None, "{bad}");
        }
    }
}
