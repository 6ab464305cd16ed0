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
}
