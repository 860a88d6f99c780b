//! The timestamp of each log line: what `tracing-subscriber`'s default
//! timer writes (RFC 3339, UTC, microseconds: `2026-12-02T04:44:39.123456Z`),
//! with the date and time of day worked out once a second instead of on
//! every line. At `info` the audit trail has a line per request, and the
//! default timer's calendar arithmetic and formatting were about 2.5k
//! instructions of each line's 8.8k under callgrind.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// The timer (see the module docs). Clocks before 1970 print as 1970.
#[derive(Debug, Clone, Copy, Default)]
pub struct UtcMicros;

thread_local! {
    /// The last second formatted on this thread, and its text up to the
    /// seconds (`2026-12-02T04:44:39`).
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        SECOND.with(|cell| {
            let mut cached = cell.borrow_mut();
            let (second, text) = &mut *cached;
            if *second != now.as_secs() {
                *second = now.as_secs();
                text.clear();
                write_seconds(text, now.as_secs())?;
            }
            w.write_str(text)?;
            w.write_str(fraction(now.subsec_micros(), &mut [0; 8]))
        })
    }
}

/// `.uuuuuuZ`: the microseconds `micros` (below a million) as six digits
/// and the zone, written without the `fmt` machinery (a `write!` with a
/// padded number was most of what was left of this timer's cost).
fn fraction(micros: u32, buf: &mut [u8; 8]) -> &str {
    buf[0] = b'.';
    let mut rest = micros;
    for digit in buf[1..7].iter_mut().rev() {
        // Below 10.
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    buf[7] = b'Z';
    // Only ASCII was written.
    std::str::from_utf8(buf).unwrap_or(".000000Z")
}

/// `YYYY-MM-DDTHH:MM:SS` of `secs` since the Unix epoch, in UTC.
fn write_seconds(out: &mut String, secs: u64) -> fmt::Result {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    write!(out, "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shifted to start on 0000-03-01, so leap days end each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(secs: u64) -> String {
        let mut s = String::new();
        write_seconds(&mut s, secs).unwrap();
        s
    }

    #[test]
    fn dates_and_times_of_known_instants() {
        assert_eq!(text(0), "1970-01-01T00:00:00");
        assert_eq!(text(86_399), "1970-01-01T23:59:59");
        assert_eq!(text(951_782_400), "2000-02-29T00:00:00"); // a leap day of a 400-year leap
        assert_eq!(text(4_107_542_399), "2100-02-28T23:59:59"); // 2100 is not a leap year
        assert_eq!(text(4_107_542_400), "2100-03-01T00:00:00");
        assert_eq!(text(1_796_185_479), "2026-12-02T04:24:39");
        assert_eq!(text(253_402_300_799), "9999-12-31T23:59:59");
    }

    /// Every day from 1970 to 2400 follows the one before it, as a
    /// calendar counts: the day, month and year roll over where they
    /// should, February has 29 days exactly in leap years.
    #[test]
    fn consecutive_days_count_like_a_calendar() {
        let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let length = |y: u64, m: u64| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut expected = (1970, 1, 1);
        for days in 0..157_000 {
            assert_eq!(civil_from_days(days), expected, "day {days}");
            let (y, m, d) = expected;
            expected = if d < length(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn fractions_are_six_digits_and_the_zone() {
        for (micros, text) in [(0, ".000000Z"), (7, ".000007Z"), (120_000, ".120000Z"), (999_999, ".999999Z")]
        {
            assert_eq!(fraction(micros, &mut [0; 8]), text);
            assert_eq!(fraction(micros, &mut [0; 8]), format!(".{micros:06}Z"));
        }
    }

    /// The same text as `tracing-subscriber`'s default timer, read around
    /// the same instant (the seconds may tick between the two reads: then
    /// the next pair agrees).
    #[test]
    fn it_writes_what_the_default_timer_writes() {
        let format = |t: &dyn FormatTime| {
            let mut s = String::new();
            t.format_time(&mut Writer::new(&mut s)).unwrap();
            s
        };
        let same_second = (0..10).any(|_| {
            let (ours, theirs) = (format(&UtcMicros), format(&tracing_subscriber::fmt::time::SystemTime));
            ours.len() == theirs.len() && ours[..19] == theirs[..19] && ours.ends_with('Z')
        });
        assert!(
            same_second,
            "{} vs {}",
            format(&UtcMicros),
            format(&tracing_subscriber::fmt::time::SystemTime)
        );
    }
}
