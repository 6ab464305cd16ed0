//! Time text as log shippers write it, turned into a UTC [`Timestamp`].
//!
//! # What it does
//! Parses RFC 3339 with `Z` or an offset (with or without the colon, as Suricata writes
//! `+0000`), a space instead of the `T`, date-times without an offset (taken as UTC), bare dates
//! (midnight UTC), RFC 2822 (`Tue, 1 Jul 2003 10:52:37 +0200`), .NET JSON dates
//! (`/Date(1603335121720)/`, as PowerShell's `ConvertTo-Json` writes `TimeCreated`) and Unix epochs
//! given as text, whose unit (seconds, milliseconds, microseconds or nanoseconds) is read from
//! their magnitude.
//!
//! # Why it matters
//! Every source spells time differently, and an event with the wrong time is misplaced in every
//! timeline and correlation window. Text that is none of these gives `None`, never a guess.
//!
//! # Example
//! `2024-01-01T10:00:00.123456+0000`, `2024-01-01 10:00:00.123` and `1704103200123` all give
//! 2024-01-01T10:00:00.123Z (the first with its microseconds).
//!
//! # References
//! RFC 3339; RFC 2822 section 3.3; ISO 8601 basic offsets (`±hhmm`).

use jiff::civil::{Date, DateTime};
use jiff::{Timestamp, tz::TimeZone};

/// Longer text than this is no timestamp; refusing it early keeps pathological input cheap.
const MAX_LEN: usize = 64;

/// Parse `t` (see the module documentation for the accepted forms).
pub(crate) fn parse_time(t: &str) -> Option<Timestamp> {
    let t = t.trim();
    if t.is_empty() || t.len() > MAX_LEN {
        return None;
    }
    if let Some(ts) = dotnet_date(t) {
        return Some(ts);
    }
    if let Some(ts) = epoch(t) {
        return Some(ts);
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Some(ts);
    }
    // Only now the forms without an offset: jiff's civil parser would accept an offset and
    // ignore it, so it must come after the parse that honours one.
    if !has_offset(t)
        && let Ok(dt) = t.parse::<DateTime>()
    {
        return dt.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
    }
    if let Ok(d) = t.parse::<Date>()
        && t.len() == 10
    {
        return d.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
    }
    jiff::fmt::rfc2822::parse(t).ok().map(|z| z.timestamp())
}

/// Whether the text after the date part carries a zone designator or an offset.
fn has_offset(t: &str) -> bool {
    let time_part = t.get(10..).unwrap_or("");
    time_part.contains(['Z', 'z', '+']) || time_part.get(1..).is_some_and(|s| s.contains('-'))
}

/// `/Date(1603335121720)/` or `/Date(1603335121720+0100)/`: milliseconds since the epoch (the
/// offset only says where the writer was; the milliseconds are already UTC).
fn dotnet_date(t: &str) -> Option<Timestamp> {
    let inner = t.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let (sign, body) = match inner.strip_prefix('-') {
        Some(b) => (-1, b),
        None => (1, inner),
    };
    let end = body.find(['+', '-']).unwrap_or(body.len());
    let digits = &body[..end];
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: i64 = digits.parse().ok()?;
    Timestamp::from_millisecond(sign * ms).ok()
}

/// A Unix epoch as text, with an optional fraction: `1704103200`, `1704103200.5`,
/// `1704103200123` (milliseconds). The unit follows from the number of integer digits: up to 11
/// is seconds (until the year 5138), 12–14 milliseconds, 15–17 microseconds, 18–19 nanoseconds.
fn epoch(t: &str) -> Option<Timestamp> {
    let (negative, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 19 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let significant = int.trim_start_matches('0').len();
    let unit_ns: i128 = match significant {
        0..=11 => 1_000_000_000,
        12..=14 => 1_000_000,
        15..=17 => 1_000,
        _ => 1,
    };
    let whole: i128 = int.parse().ok()?;
    let frac = &frac[..frac.len().min(9)];
    let frac_ns = if frac.is_empty() {
        0
    } else {
        let f: i128 = frac.parse().ok()?;
        f * unit_ns / 10i128.pow(frac.len() as u32)
    };
    let ns = whole * unit_ns + frac_ns;
    Timestamp::from_nanosecond(if negative { -ns } else { ns }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One case: the text and the RFC 3339 rendering expected, or `None`.
    fn check(input: &str, expected: Option<&str>) {
        let got = parse_time(input).map(|t| t.to_string());
        assert_eq!(got.as_deref(), expected, "input {input:?}");
    }

    #[test]
    fn rfc3339_and_offsets() {
        check("2024-01-01T10:00:00Z", Some("2024-01-01T10:00:00Z"));
        check("2024-01-01T10:00:00.5z", Some("2024-01-01T10:00:00.5Z"));
        check("2024-01-01T12:00:00+02:00", Some("2024-01-01T10:00:00Z"));
        check("2024-01-01T05:00:00-05:00", Some("2024-01-01T10:00:00Z"));
        check(
            "2024-01-01T10:00:00.123456+0000",
            Some("2024-01-01T10:00:00.123456Z"),
        );
        check("2024-01-01T11:30:00+0130", Some("2024-01-01T10:00:00Z"));
        check(
            "2019-10-18T04:45:48.0729893-05:00",
            Some("2019-10-18T09:45:48.0729893Z"),
        );
        check(
            "2022-05-11T18:10:20.399931000Z",
            Some("2022-05-11T18:10:20.399931Z"),
        );
    }

    #[test]
    fn no_offset_is_utc() {
        check("2024-01-01 10:00:00.123", Some("2024-01-01T10:00:00.123Z"));
        check("2024-01-01T10:00:00", Some("2024-01-01T10:00:00Z"));
        check("2020-08-07 10:32:22", Some("2020-08-07T10:32:22Z"));
        check("2024-01-01", Some("2024-01-01T00:00:00Z"));
    }

    #[test]
    fn epochs_by_magnitude() {
        check("1704103200", Some("2024-01-01T10:00:00Z"));
        check("1704103200.25", Some("2024-01-01T10:00:00.25Z"));
        check("1704103200123", Some("2024-01-01T10:00:00.123Z"));
        check("1704103200123.5", Some("2024-01-01T10:00:00.1235Z"));
        check("1704103200123456", Some("2024-01-01T10:00:00.123456Z"));
        check(
            "1704103200123456789",
            Some("2024-01-01T10:00:00.123456789Z"),
        );
        check("0", Some("1970-01-01T00:00:00Z"));
        check("-86400", Some("1969-12-31T00:00:00Z"));
        check("1591367999.305988", Some("2020-06-05T14:39:59.305988Z"));
    }

    #[test]
    fn other_writers() {
        check("/Date(1603335121720)/", Some("2020-10-22T02:52:01.72Z"));
        check(
            "/Date(1603335121720+0100)/",
            Some("2020-10-22T02:52:01.72Z"),
        );
        check(
            "Tue, 1 Jul 2003 10:52:37 +0200",
            Some("2003-07-01T08:52:37Z"),
        );
    }

    #[test]
    fn rejects_what_is_not_a_time() {
        check("", None);
        check("   ", None);
        check("yesterday", None);
        check("2024-13-01T00:00:00Z", None);
        check("2024-01-01T10:00:00+99:00", None);
        check("99999999999999999999", None);
        check("1.2.3", None);
        check("/Date()/", None);
        check("/Date(abc)/", None);
        check(&"1".repeat(200), None);
        check("2024-01-01T10:00:00Zjunk", None);
    }
}
