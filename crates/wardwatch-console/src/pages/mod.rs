//! The console's pages, one module per section. Each handler reads through the store with
//! the principal's organizations, and renders with [`crate::page`].

pub(crate) mod admin;
pub(crate) mod alerts;
pub(crate) mod entities;
pub(crate) mod health;
pub(crate) mod incidents;
pub(crate) mod overview;
pub(crate) mod rules;
pub(crate) mod search;

use axum::response::Html;

use crate::page::PageError;

/// What a page handler returns.
pub(crate) type PageResult = Result<Html<String>, PageError>;

/// Now, ns since the epoch.
pub(crate) fn now_ns() -> i64 {
    i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX)
}

pub(crate) const HOUR_NS: i64 = 3_600_000_000_000;
pub(crate) const DAY_NS: i64 = 24 * HOUR_NS;

/// A time window by name (`1h`, `24h`, `7d`, `30d`, `all`), in ns, with the name it was given.
pub(crate) fn window(name: Option<&str>, default: &str) -> (i64, String) {
    let name = name.filter(|n| !n.is_empty()).unwrap_or(default);
    let ns = match name {
        "1h" => HOUR_NS,
        "24h" => DAY_NS,
        "7d" => 7 * DAY_NS,
        "30d" => 30 * DAY_NS,
        "all" => i64::MAX / 4,
        _ => return window(Some(default), default),
    };
    (ns, name.to_string())
}

/// `<option>`s for a window picker.
pub(crate) fn window_options(selected: &str) -> String {
    ["1h", "24h", "7d", "30d", "all"]
        .iter()
        .map(|w| {
            format!(
                "<option value=\"{w}\"{}>{}</option>",
                if *w == selected { " selected" } else { "" },
                match *w {
                    "1h" => "last hour",
                    "24h" => "last 24 hours",
                    "7d" => "last 7 days",
                    "30d" => "last 30 days",
                    _ => "all time",
                }
            )
        })
        .collect()
}

/// The severity name of a stored level number.
pub(crate) fn level_name(n: i64) -> &'static str {
    wardwatch_core::Severity::ALL
        .get(usize::try_from(n).unwrap_or(0))
        .map(|s| s.as_str())
        .unwrap_or("informational")
}
