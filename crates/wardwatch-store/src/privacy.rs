//! Which patient-record privacy incidents and alerts a listing holds.
//!
//! Privacy alerts (rule ids starting with `wardwatch_core::PRIVACY_RULE_PREFIX`) and the
//! incidents made of them (ids starting with `wardwatch_core::PRIVACY_INCIDENT_PREFIX`) are for
//! the privacy officer: listings leave them out unless the caller asks, the overview's and the
//! report's figures never count them, and they never reach the notification queue.

use wardwatch_core::{PRIVACY_INCIDENT_PREFIX, PRIVACY_RULE_PREFIX};

/// Privacy incidents and alerts in a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrivacyScope {
    /// Leave them out (the default: everything that is not the privacy officer's).
    #[default]
    Without,
    /// Everything, privacy incidents and alerts among the rest.
    With,
    /// Only them.
    Only,
}

impl PrivacyScope {
    fn cond(self, col: &str, prefix: &str) -> String {
        // The prefixes hold no LIKE wildcards (`%`, `_`).
        match self {
            PrivacyScope::Without => format!(" AND {col} NOT LIKE '{prefix}%'"),
            PrivacyScope::With => String::new(),
            PrivacyScope::Only => format!(" AND {col} LIKE '{prefix}%'"),
        }
    }

    /// The SQL condition (` AND ...`) on an incident id column.
    pub(crate) fn incidents(self, id_col: &str) -> String {
        self.cond(id_col, PRIVACY_INCIDENT_PREFIX)
    }

    /// The SQL condition (` AND ...`) on an alert's rule id column.
    pub(crate) fn alerts(self, rule_col: &str) -> String {
        self.cond(rule_col, PRIVACY_RULE_PREFIX)
    }
}

/// Whether the incident `id` is a privacy incident.
pub(crate) fn is_privacy_incident(id: &str) -> bool {
    id.starts_with(PRIVACY_INCIDENT_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefixes_hold_no_like_wildcards() {
        for p in [PRIVACY_INCIDENT_PREFIX, PRIVACY_RULE_PREFIX] {
            assert!(!p.contains(['%', '_', '\'']), "{p}");
        }
        assert_eq!(
            PrivacyScope::Without.incidents("id"),
            " AND id NOT LIKE 'priv-%'"
        );
        assert_eq!(PrivacyScope::With.alerts("rule_id"), "");
    }
}
