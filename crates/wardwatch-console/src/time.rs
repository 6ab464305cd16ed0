//! Times in query parameters: RFC 3339 (`2026-03-01T10:00:00Z`), relative (`now-15m`, `now-24h`,
//! `now-7d`, `now`, and `now+30d` for expiry dates), or epoch milliseconds.

use jiff::{SignedDuration, Timestamp};

use crate::ApiError;

/// Parse parameter `name`'s value `text`, relative to `now`.
pub fn parse(text: &str, now: Timestamp, name: &str) -> Result<Timestamp, ApiError> {
    let t = text.trim();
    let bad = || {
        ApiError::BadRequest(format!(
            "{name}: `{t}` is not a time (use RFC 3339 like 2026-03-01T10:00:00Z, now-24h, now+30d, or epoch milliseconds)"
        ))
    };
    if t == "now" {
        return Ok(now);
    }
    let relative = t
        .strip_prefix("now-")
        .map(|r| (r, -1))
        .or_else(|| t.strip_prefix("now+").map(|r| (r, 1)));
    if let Some((rel, sign)) = relative {
        let (num, unit) = rel.split_at(rel.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let per_unit: i64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        // Checked all the way: `now-99999999999999999d` is a bad request, not an overflow.
        let out_of_range = || {
            ApiError::BadRequest(format!(
                "{name}: `{t}` is out of range (times go from {} to {})",
                Timestamp::MIN,
                Timestamp::MAX
            ))
        };
        if num.is_empty() {
            return Err(bad());
        }
        let n: i64 = num.parse().map_err(|_| out_of_range())?;
        let secs = n
            .checked_mul(per_unit)
            .and_then(|s| s.checked_mul(sign))
            .ok_or_else(out_of_range)?;
        return now
            .checked_add(SignedDuration::from_secs(secs))
            .map_err(|_| out_of_range());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let ms: i64 = t.parse().map_err(|_| bad())?;
        return Timestamp::from_millisecond(ms).map_err(|_| bad());
    }
    t.parse().map_err(|_| bad())
}

/// The period `[from, to)` a report asks about, from its optional `from`/`to` parameters: `to`
/// defaults to `now`, `from` to `default_span` before `to`; a period that does not run forward or
/// is longer than `max_days` is a bad request naming both ends.
pub fn period(
    from: Option<&str>,
    to: Option<&str>,
    now: Timestamp,
    default_span: SignedDuration,
    max_days: i64,
) -> Result<(Timestamp, Timestamp), ApiError> {
    let to = to.map(|t| parse(t, now, "to")).transpose()?.unwrap_or(now);
    let from = match from {
        Some(t) => parse(t, now, "from")?,
        None => to.checked_sub(default_span).unwrap_or(Timestamp::MIN),
    };
    if from >= to {
        return Err(ApiError::BadRequest(format!(
            "from: `{from}` is not before to: `{to}`"
        )));
    }
    if to.duration_since(from) > SignedDuration::from_hours(24 * max_days) {
        return Err(ApiError::BadRequest(format!(
            "from/to: at most {max_days} days at a time"
        )));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_relative_and_epoch_times() {
        let now: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse("now-2h", now, "from").unwrap().to_string(),
            "2026-03-01T10:00:00Z"
        );
        assert_eq!(
            parse("2026-03-01T10:00:00Z", now, "from").unwrap(),
            parse("now-120m", now, "from").unwrap()
        );
        assert_eq!(
            parse("1772359200000", now, "to").unwrap().to_string(),
            "2026-03-01T10:00:00Z"
        );
        let e = parse("yesterday", now, "from").unwrap_err().to_string();
        assert!(e.contains("from: `yesterday`"), "{e}");
        assert!(parse("now-5y", now, "from").is_err());
        // Overflowed the multiplication before (a panic in debug builds, a wrapped time in
        // release ones): now a bad request that names the parameter.
        for text in [
            "now-99999999999999999d",
            "now+9223372036854775807s",
            "now-153722867280912931m",
            "now-106751991167301d",
            "now-99999999999999999999999999d",
        ] {
            let e = parse(text, now, "from").unwrap_err().to_string();
            assert!(
                e.contains("from: `") && e.contains("out of range"),
                "{text}: {e}"
            );
        }
        assert_eq!(
            parse("now+30d", now, "expires").unwrap().to_string(),
            "2026-03-31T12:00:00Z"
        );
    }

    #[test]
    fn a_period_runs_forward_within_its_limit() {
        let now: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let day = SignedDuration::from_hours(24);
        let (from, to) = period(None, None, now, day, 7).unwrap();
        assert_eq!((from.to_string(), to), ("2026-02-28T12:00:00Z".into(), now));
        let (from, to) = period(Some("now-3d"), Some("now-1d"), now, day, 7).unwrap();
        assert_eq!(to.duration_since(from), SignedDuration::from_hours(48));
        for (f, t, says) in [
            ("now", "now-2d", "is not before to"),
            ("now-1h", "now-1h", "is not before to"),
            ("now-9d", "now", "at most 7 days"),
            ("soon", "now", "from: `soon`"),
        ] {
            let e = period(Some(f), Some(t), now, day, 7)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{f}..{t}: {e}");
        }
    }
}
