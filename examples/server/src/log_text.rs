//! The text log line: exactly the bytes `tracing-subscriber`'s default
//! text format writes (`Format<Full>` with `DefaultFields`), with less work
//! per line.
//!
//! At `info` the audit trail has a line per request, and under callgrind
//! the default formatter was most of that line's cost: every field goes
//! through `write!("{}{}{:?}", name, "=", value)`, a string's `Debug` walks
//! it for characters to escape, an integer goes through the `fmt`
//! machinery, the message is copied a character at a time through its
//! ANSI-escaping writer, and the level, the target and the line's end are
//! each a `write!` of their own. [`PlainFields`] and [`TextLine`] write the
//! same text with plain string writes when a value needs no escaping
//! (looked for eight bytes at a time), and hand everything else to the
//! same code the default uses (`str`'s `Debug`, the value's `Debug`, the
//! default visitor or the default format itself), so no line changes:
//! operators grep these lines. The tests compare both formatters' lines on
//! generated values.
//!
//! Not reproduced, because this server has neither: ANSI colours (with
//! them, both hand the line to the default code) and the `log` crate
//! bridge's normalised metadata.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Format, Full, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The example's event formatter for text lines (see the module docs):
/// `<time> <level> <spans> <target>: <fields>`, as the default `Full`
/// format writes them with its default settings.
#[derive(Debug, Clone)]
pub struct TextLine<T> {
    timer: T,
    /// The default format with the same timer, for lines with colours.
    styled: Format<Full, T>,
}

impl<T: FormatTime + Clone> TextLine<T> {
    /// Lines whose timestamps `timer` writes.
    pub fn new(timer: T) -> Self {
        Self { styled: tracing_subscriber::fmt::format().with_timer(timer.clone()), timer }
    }
}

/// The level as the default format writes it without colours: padded to
/// five characters.
fn level_text(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        // ERROR, the last of the five.
        _ => "ERROR",
    }
}

impl<S, N, T> FormatEvent<S, N> for TextLine<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    T: FormatTime,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return self.styled.format_event(ctx, writer, event);
        }
        let meta = event.metadata();
        // A clock that cannot be read does not lose the line.
        if self.timer.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        writer.write_char(' ')?;
        writer.write_str(level_text(*meta.level()))?;
        writer.write_char(' ')?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        writer.write_char('{')?;
                        writer.write_str(fields)?;
                        writer.write_char('}')?;
                    }
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The example's field formatter for text lines (see the module docs):
/// `name=value` pairs separated by spaces, the message first as is,
/// strings quoted and escaped as `Debug` does, other values as their
/// `Debug`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'a> MakeVisitor<Writer<'a>> for PlainFields {
    type Visitor = PlainVisitor<'a>;

    fn make_visitor(&self, target: Writer<'a>) -> Self::Visitor {
        // With colours, names are styled: the default visitor writes those.
        let shortcuts = !target.has_ansi_escapes();
        PlainVisitor { writer: target, is_empty: true, result: Ok(()), shortcuts }
    }
}

/// Writes one event's or span's fields (see [`PlainFields`]).
#[derive(Debug)]
pub struct PlainVisitor<'a> {
    writer: Writer<'a>,
    /// No field written yet (the first has no space before it).
    is_empty: bool,
    result: fmt::Result,
    /// Plain writes allowed (no ANSI styling to reproduce).
    shortcuts: bool,
}

/// The field that holds an event's formatted message.
const MESSAGE: &str = "message";

/// Fields of the `log` crate's bridge: the default visitor may skip them.
const LOG_PREFIX: &str = "log.";

impl PlainVisitor<'_> {
    /// Hands one field to `tracing-subscriber`'s own visitor, writing into
    /// the same line: for what this one has no shortcut for.
    fn delegate(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        let mut default = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut default);
        self.result = default.finish();
        // It wrote the field, and the space before it unless it was the
        // first (a `log.` field it may skip is the one exception, and this
        // server installs no `log` bridge).
        self.is_empty = false;
    }

    /// Whether this field can take the shortcuts: not styled, not a `log`
    /// bridge field.
    fn plain(&self, field: &Field) -> bool {
        self.shortcuts && !field.name().starts_with(LOG_PREFIX)
    }

    /// The space before every field but the first.
    fn pad(&mut self) -> fmt::Result {
        if self.is_empty {
            self.is_empty = false;
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    /// `name=` (or `name` and another `after`), the name without a raw
    /// identifier's `r#`.
    fn name(&mut self, name: &str, after: &str) -> fmt::Result {
        self.pad()?;
        self.writer.write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_str(after)
    }

    /// `name="value"` as `str`'s `Debug` writes the value: quoted, and
    /// escaped. A string with nothing to escape (printable ASCII other
    /// than `"` and `\`, the usual case) is copied whole; any other goes
    /// through `Debug` itself.
    fn quoted(&mut self, name: &str, value: &str) -> fmt::Result {
        if scan::needs_debug_escape(value.as_bytes()) {
            self.name(name, "=")?;
            write!(self.writer, "{value:?}")
        } else {
            self.name(name, "=\"")?;
            self.writer.write_str(value)?;
            self.writer.write_char('"')
        }
    }

    /// The message, as the default visitor writes it: its text as is,
    /// with ANSI control characters escaped when the writer sanitizes.
    fn message(&mut self, value: &dyn fmt::Debug) -> fmt::Result {
        self.pad()?;
        if self.writer.sanitizes_ansi_escapes() {
            write!(AnsiEscaping(&mut self.writer), "{value:?}")
        } else {
            write!(self.writer, "{value:?}")
        }
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        if !self.plain(field) {
            return self.delegate(|v| v.record_str(field, value));
        }
        self.result = if field.name() == MESSAGE {
            // The default writes `format_args!("{value}")`: the text itself.
            self.pad().and_then(|()| AnsiEscaping::write_message(&mut self.writer, value))
        } else {
            self.quoted(field.name(), value)
        };
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        if !self.plain(field) {
            return self.delegate(|v| v.record_debug(field, value));
        }
        self.result = if field.name() == MESSAGE {
            self.message(value)
        } else {
            self.name(field.name(), "=").and_then(|()| write!(self.writer, "{value:?}"))
        };
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.result.is_err() {
            return;
        }
        if !self.plain(field) || field.name() == MESSAGE {
            return self.delegate(|v| v.record_bool(field, value));
        }
        self.result = self
            .name(field.name(), "=")
            .and_then(|()| self.writer.write_str(if value { "true" } else { "false" }));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.result.is_err() {
            return;
        }
        if !self.plain(field) || field.name() == MESSAGE {
            return self.delegate(|v| v.record_u64(field, value));
        }
        self.result = self.name(field.name(), "=").and_then(|()| write_u64(&mut self.writer, value, false));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.result.is_err() {
            return;
        }
        if !self.plain(field) || field.name() == MESSAGE {
            return self.delegate(|v| v.record_i64(field, value));
        }
        self.result = self
            .name(field.name(), "=")
            .and_then(|()| write_u64(&mut self.writer, value.unsigned_abs(), value < 0));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // Rare (no audit field is one), and the default's format for its
        // sources is its own.
        if self.result.is_err() {
            return;
        }
        self.delegate(|v| v.record_error(field, value));
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// The decimal digits of `n` (after a `-` when `negative`), as `Debug`
/// writes an integer.
fn write_u64(w: &mut Writer<'_>, mut n: u64, negative: bool) -> fmt::Result {
    let mut digits = [0u8; 21];
    let mut at = digits.len();
    loop {
        at -= 1;
        // The remainder is below 10.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        digits[at] = b'-';
    }
    // Only ASCII digits and `-` were written.
    w.write_str(std::str::from_utf8(&digits[at..]).map_err(|_| fmt::Error)?)
}

/// A writer that escapes what `tracing-subscriber` escapes in a message
/// (terminal control characters: ESC, BEL, BS, FF, DEL and the C1
/// controls), so that a message cannot drive the terminal showing the log.
/// Text of printable ASCII only, the usual case, is passed on whole.
struct AnsiEscaping<'w, 'a>(&'w mut Writer<'a>);

impl AnsiEscaping<'_, '_> {
    /// `text` written as a message (see the type's docs).
    fn write_message(w: &mut Writer<'_>, text: &str) -> fmt::Result {
        if w.sanitizes_ansi_escapes() {
            AnsiEscaping(w).write_str(text)
        } else {
            w.write_str(text)
        }
    }
}

impl fmt::Write for AnsiEscaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if scan::is_printable_ascii(s.as_bytes()) {
            return self.0.write_str(s);
        }
        // The same substitutions as `tracing-subscriber`'s escaping writer
        // (fmt/format/escape.rs), one character at a time.
        for ch in s.chars() {
            match ch {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", u32::from(ch))?,
                _ => self.0.write_char(ch)?,
            }
        }
        Ok(())
    }
}

/// Byte scans eight bytes at a time (as in the core's `scan` module): most
/// values have nothing to escape, and the answer then comes from a few
/// word operations per eight bytes.
mod scan {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;

    /// The high bit of each byte of `w` that is zero (and maybe of bytes
    /// above a zero byte, from the borrow: the answer "is there a zero
    /// byte" stays exact).
    const fn zeros(w: u64) -> u64 {
        w.wrapping_sub(ONES) & !w & HIGHS
    }

    /// The high bit of each byte of `w` equal to `b` (as [`zeros`]).
    const fn equal(w: u64, b: u8) -> u64 {
        zeros(w ^ (ONES * b as u64))
    }

    /// Non-zero iff some byte of `w` is below `0x20` or above `0x7e`: not
    /// printable ASCII.
    const fn unprintable(w: u64) -> u64 {
        let below = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
        // A byte above 0x7e has its high bit set after adding 1 (0x7f), or
        // before (0x80 and up). `w + ONES` may carry from a 0xff byte into
        // the next; that byte itself is caught by `w`'s own high bit, so
        // the answer stands.
        let above = (w.wrapping_add(ONES) | w) & HIGHS;
        below | above
    }

    /// Whether `word` is non-zero for some 8-byte word of `bytes`; the last
    /// few bytes are taken as a word padded with spaces (printable, and
    /// neither `"` nor `\`: no test here finds anything in them).
    fn any_in(bytes: &[u8], word: impl Fn(u64) -> u64) -> bool {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            if word(u64::from_le_bytes(a)) != 0 {
                return true;
            }
        }
        let rest = words.remainder();
        let mut a = [b' '; 8];
        a[..rest.len()].copy_from_slice(rest);
        word(u64::from_le_bytes(a)) != 0
    }

    /// Whether `str`'s `Debug` escapes some byte of `bytes` (its own test:
    /// below 0x20, above 0x7e, `\` or `"`).
    pub(super) fn needs_debug_escape(bytes: &[u8]) -> bool {
        any_in(bytes, |w| unprintable(w) | equal(w, b'"') | equal(w, b'\\'))
    }

    /// Whether every byte of `bytes` is printable ASCII (0x20 to 0x7e).
    pub(super) fn is_printable_ascii(bytes: &[u8]) -> bool {
        !any_in(bytes, unprintable)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_position_and_every_byte() {
            for len in [1, 7, 8, 9, 17] {
                for pos in 0..len {
                    for b in 0..=255u8 {
                        let mut v = vec![b'a'; len];
                        v[pos] = b;
                        let printable = (0x20..=0x7e).contains(&b);
                        assert_eq!(is_printable_ascii(&v), printable, "{pos} {b}");
                        assert_eq!(
                            needs_debug_escape(&v),
                            !printable || b == b'"' || b == b'\\',
                            "{pos} {b}"
                        );
                    }
                }
            }
            assert!(is_printable_ascii(b"") && !needs_debug_escape(b""));
        }

        /// A 0xff byte carries into its neighbour when one is added: the
        /// neighbour alone must not decide.
        #[test]
        fn carries_do_not_hide_or_invent_bytes() {
            let v = [0xff, b'a', b'a', b'a', b'a', b'a', b'a', b'a'];
            assert!(!is_printable_ascii(&v));
            assert!(is_printable_ascii(b"~~~~~~~~"));
            assert!(!is_printable_ascii(&[b'~', b'~', b'~', b'~', b'~', b'~', b'~', 0x7f]));
        }
    }
}

#[cfg(test)]
mod tests;
