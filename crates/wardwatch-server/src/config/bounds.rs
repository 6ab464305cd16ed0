//! `[time]`, `[search]` and `[resend]`: what the server trusts of a sender's clock, how much
//! one search may cost, and how long a resent `_bulk` document is recognized.

use serde::{Deserialize, Serialize};

/// `[time]`: how far a sender's own time may be from when its event was received and still
/// drive retention and incident grouping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeSection {
    /// Days in the past. Default 30.
    pub max_behind_days: u64,
    /// Minutes in the future. Default 15.
    pub max_ahead_minutes: u64,
}

impl Default for TimeSection {
    fn default() -> Self {
        TimeSection {
            max_behind_days: 30,
            max_ahead_minutes: 15,
        }
    }
}

impl TimeSection {
    /// The window as the pipeline applies it.
    pub fn window(&self) -> wardwatch_core::ClockWindow {
        let hours = |h: u64| {
            jiff::SignedDuration::from_hours(
                i64::try_from(h)
                    .unwrap_or(i64::MAX / 3600)
                    .min(i64::MAX / 3600),
            )
        };
        wardwatch_core::ClockWindow {
            behind: hours(self.max_behind_days.saturating_mul(24)),
            ahead: jiff::SignedDuration::from_mins(
                i64::try_from(self.max_ahead_minutes)
                    .unwrap_or(i64::MAX / 60)
                    .min(i64::MAX / 60),
            ),
        }
    }
}

/// `[search]`: bounds on `GET /api/v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSection {
    /// Hours searched when a request gives no `from`. Default 24.
    pub default_window_hours: u64,
    /// Milliseconds a search may run before it returns what it has (`"partial": true`).
    /// Default 5000.
    pub budget_ms: u64,
}

impl Default for SearchSection {
    fn default() -> Self {
        SearchSection {
            default_window_hours: 24,
            budget_ms: 5000,
        }
    }
}

impl SearchSection {
    pub fn limits(&self) -> wardwatch_console::SearchLimits {
        wardwatch_console::SearchLimits {
            default_window: std::time::Duration::from_secs(
                self.default_window_hours.saturating_mul(3600),
            ),
            budget: std::time::Duration::from_millis(self.budget_ms),
        }
    }
}

/// `[resend]`: `_bulk` documents without `_id` sent again (a shipper's retry after a lost
/// acknowledgement) are recognized by their content and stored once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResendSection {
    /// Seconds during which the same document from the same source counts as a resend.
    /// Default 600; 0 turns recognition off.
    pub window_secs: u64,
    /// Most documents remembered (about 40 bytes each); the oldest are forgotten first, so
    /// under a heavy load the window is shorter. Default 500000 (about 20 MiB).
    pub max_documents: usize,
}

impl Default for ResendSection {
    fn default() -> Self {
        ResendSection {
            window_secs: 600,
            max_documents: 500_000,
        }
    }
}
