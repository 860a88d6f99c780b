//! [`PlainFields`] against `tracing-subscriber`'s default field formatter:
//! the same events, through the same subscriber otherwise, must give the
//! same bytes.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use tracing::Level;
use tracing_subscriber::fmt::format::Writer;

use super::*;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A clock that always reads the same, or fails.
#[derive(Debug, Clone, Copy)]
struct Fixed(bool);

impl FormatTime for Fixed {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        if self.0 {
            w.write_str("2026-12-02T05:00:00.000001Z")
        } else {
            Err(fmt::Error)
        }
    }
}

/// Which formatters write the line.
#[derive(Debug, Clone, Copy)]
enum Formatters {
    /// `tracing-subscriber`'s: `Format<Full>` and `DefaultFields`.
    Default,
    /// The default line with [`PlainFields`].
    Fields,
    /// [`TextLine`] with [`PlainFields`], as the server writes.
    Ours,
}

/// What `emit` logs through a text subscriber with a fixed clock, written
/// by `formatters`, sanitizing messages or not.
fn text(formatters: Formatters, sanitize: bool, emit: &dyn Fn()) -> String {
    text_at(Fixed(true), formatters, sanitize, emit)
}

fn text_at(clock: Fixed, formatters: Formatters, sanitize: bool, emit: &dyn Fn()) -> String {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let builder = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_timer(clock)
        .with_max_level(Level::TRACE)
        .with_ansi_sanitization(sanitize);
    match formatters {
        Formatters::Default => tracing::subscriber::with_default(builder.finish(), emit),
        Formatters::Fields => {
            tracing::subscriber::with_default(builder.fmt_fields(PlainFields).finish(), emit)
        }
        Formatters::Ours => tracing::subscriber::with_default(
            builder.fmt_fields(PlainFields).event_format(TextLine::new(clock)).finish(),
            emit,
        ),
    }
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

/// Ours, both alone and together, against the default, with and without
/// sanitizing; asserts something was written.
#[track_caller]
fn assert_same(emit: &dyn Fn()) {
    for sanitize in [true, false] {
        let default = text(Formatters::Default, sanitize, emit);
        assert!(!default.is_empty(), "nothing was logged");
        assert_eq!(text(Formatters::Fields, sanitize, emit), default, "fields, sanitize: {sanitize}");
        assert_eq!(text(Formatters::Ours, sanitize, emit), default, "line, sanitize: {sanitize}");
    }
}

/// An error with a source, recorded as one (the default's own format).
#[derive(Debug)]
struct Outer(Inner);
#[derive(Debug)]
struct Inner(String);

impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outer \x1b failed")
    }
}
impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
impl std::error::Error for Inner {}

/// One value of each kind a field can have.
#[derive(Debug, Clone)]
struct Values {
    a: String,
    b: String,
    message: String,
    unsigned: u64,
    signed: i64,
    flag: bool,
    maybe: Option<String>,
    float: f64,
}

/// Every kind of field, in events and spans, at several call sites: the
/// shapes the audit trail uses (a literal message, `str`, `%` Display,
/// `Option`s, integers, booleans) and the rest a `tracing` field can be.
fn emit_all(v: &Values) {
    let span = tracing::info_span!("request", id = v.a.as_str(), n = v.unsigned);
    let _entered = span.enter();
    tracing::info!(
        target: "gatehouse::audit",
        event = "introspection_answered",
        caller = v.a.as_str(),
        grant_id = %v.b,
        jti = v.maybe.as_deref(),
        active = v.flag,
        reason = v.maybe.as_deref().map(|_| v.b.as_str()),
        "introspection answered"
    );
    tracing::warn!(count = v.unsigned, delta = v.signed, ratio = v.float, shown = ?v.a, "{}", v.message);
    tracing::error!(r#type = v.b.as_str(), message = v.message.as_str(), after = v.signed);
    tracing::info!(only = v.a.as_str());
    tracing::info!(message = v.flag, other = v.unsigned);
    let inner = tracing::debug_span!("inner", text = %v.message, flag = v.flag);
    inner.in_scope(|| tracing::debug!(first = v.signed, "{}{}", v.a, v.b));
    let error = Outer(Inner(v.message.clone()));
    tracing::error!(error = &error as &(dyn std::error::Error + 'static), plain = v.b.as_str());
    tracing::trace!(bytes = v.a.as_bytes(), wide = u128::from(v.unsigned), "");
}

/// Characters every escaping rule is about, among others.
fn tricky_string() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => Just('"'),
        1 => Just('\\'),
        1 => Just('\''),
        1 => proptest::char::range('\0', '\x1f'),
        1 => Just('\x7f'),
        1 => proptest::char::range('\u{80}', '\u{a0}'),
        1 => Just('\u{301}'),  // a combining accent: Debug escapes it
        1 => Just('\u{200b}'), // zero-width space
        1 => Just('é'),
        1 => Just('\u{1f600}'),
        1 => any::<char>(),
    ];
    // Mostly plain text with one character to escape somewhere (in an
    // 8-byte word or in the tail the scans look at byte by byte).
    let one_in_plain =
        ("[a-z ]{0,30}", ch.clone(), any::<prop::sample::Index>()).prop_map(|(plain, c, at)| {
            let mut s = plain;
            s.insert(at.index(s.len() + 1), c);
            s
        });
    prop_oneof![
        1 => Just(String::new()),
        1 => "[a-z ]{0,30}",
        4 => one_in_plain,
        4 => proptest::collection::vec(ch, 0..30).prop_map(String::from_iter),
        1 => any::<String>(),
    ]
}

fn values() -> impl Strategy<Value = Values> {
    (
        tricky_string(),
        tricky_string(),
        tricky_string(),
        any::<u64>(),
        any::<i64>(),
        any::<bool>(),
        proptest::option::of(tricky_string()),
        any::<f64>(),
    )
        .prop_map(|(a, b, message, unsigned, signed, flag, maybe, float)| Values {
            a,
            b,
            message,
            unsigned,
            signed,
            flag,
            maybe,
            float,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The differential test: any values, the same lines.
    #[test]
    fn lines_match_the_default_formatter(v in values()) {
        for sanitize in [true, false] {
            let emit = || emit_all(&v);
            let default = text(Formatters::Default, sanitize, &emit);
            prop_assert_eq!(&text(Formatters::Fields, sanitize, &emit), &default, "fields, sanitize: {}", sanitize);
            prop_assert_eq!(&text(Formatters::Ours, sanitize, &emit), &default, "line, sanitize: {}", sanitize);
        }
    }
}

/// Every level, spans with and without fields, nested or named as the
/// parent, another target, an event with nothing but its message, and a
/// clock that fails.
#[test]
fn line_layouts_match_the_default_formatter() {
    assert_same(&|| {
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!("i");
        tracing::warn!("w");
        tracing::error!("e");
        tracing::info!(target: "some::other", "");
        tracing::info!(n = 1);
    });
    assert_same(&|| {
        let outer = tracing::info_span!("outer");
        let inner = tracing::info_span!("gatehouse.request", method = "POST", path = "/oauth/token");
        outer.in_scope(|| inner.in_scope(|| tracing::info!(a = 1, "in both")));
        tracing::info!(parent: &inner, "named parent");
        tracing::info!(parent: None, "no parent");
        let empty = tracing::debug_span!("empty", later = tracing::field::Empty);
        empty.in_scope(|| tracing::debug!("before"));
        empty.record("later", "now");
        empty.in_scope(|| tracing::debug!("after"));
    });
    for sanitize in [true, false] {
        let emit = || tracing::info!(x = 1, "no clock");
        let default = text_at(Fixed(false), Formatters::Default, sanitize, &emit);
        assert!(default.starts_with("<unknown time>  INFO"), "{default}");
        assert_eq!(text_at(Fixed(false), Formatters::Ours, sanitize, &emit), default);
    }
}

/// The edges, by name: the integers' extremes, empty and escaped strings,
/// every terminal control character in a message.
#[test]
fn edge_values_match_the_default_formatter() {
    for (unsigned, signed) in [(0, 0), (9, -1), (10, -9), (u64::MAX, i64::MIN), (1 << 63, i64::MAX)] {
        assert_same(&|| tracing::info!(unsigned, signed));
    }
    for s in ["", "plain", "\"", "\\", "a\"b\\c", "tab\there", "\u{301}start", "é", "\x1b[31mred", "nul\0"] {
        assert_same(&|| tracing::info!(value = s, "{s}"));
    }
    assert_same(&|| tracing::info!("r#type" = 1, r#loop = "raw"));
    let controls: String =
        ['\x1b', '\x07', '\x08', '\x0c', '\x7f', '\u{80}', '\u{9f}', '\u{a0}', '\n'].iter().collect();
    assert_same(&|| tracing::info!("{controls} and {controls}"));
    assert_same(&|| tracing::info!(message = controls.as_str()));
}

/// The audit trail's lines themselves, through the real sink, for the
/// events a request makes.
#[test]
fn audit_lines_match_the_default_formatter() {
    use gatehouse_core::audit::{AuthMethod, Verdict};
    use gatehouse_core::model::{ClientId, GrantId, Jti, Resource, Scope, TokenKind};
    use gatehouse_core::{AuditEvent, AuditSink, InactiveReason, UnixTime};
    let rs = ClientId::new("bench-rs").unwrap();
    let grant = GrantId::from_bytes([7; 16]);
    let jti = Jti::from_bytes([9; 16]);
    let scope = Scope::parse("read write").unwrap();
    let audience = [Resource::new("https://api.example/").unwrap()];
    let events = [
        AuditEvent::IntrospectionAnswered {
            caller: &rs,
            grant: Some(grant),
            jti: Some(jti),
            verdict: Verdict::Active,
        },
        AuditEvent::IntrospectionAnswered {
            caller: &rs,
            grant: None,
            jti: None,
            verdict: Verdict::Inactive(InactiveReason::Forged),
        },
        AuditEvent::TokenIssued {
            client: &rs,
            grant,
            jti,
            kind: TokenKind::Access,
            subject: None,
            scope: &scope,
            audience: &audience,
            expires_at: UnixTime(1_800_000_000),
        },
        AuditEvent::ClientAuthFailed { method: AuthMethod::ClientSecretBasic, client: Some(&rs) },
        AuditEvent::Throttled { caller: &rs, retry_after: 7 },
    ];
    for event in &events {
        assert_same(&|| gatehouse_tracing::TracingSink.record(event));
    }
    let line = text(Formatters::Ours, true, &|| gatehouse_tracing::TracingSink.record(&events[0]));
    assert_eq!(
        line,
        format!(
            "2026-12-02T05:00:00.000001Z  INFO gatehouse::audit: introspection answered event=\"introspection_answered\" \
             caller=\"bench-rs\" grant_id={grant} jti={jti} active=true\n"
        )
    );
}
