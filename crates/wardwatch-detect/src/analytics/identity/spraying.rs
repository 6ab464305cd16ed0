//! Password spraying: failed authentications for many different accounts from one source.
//!
//! # What it does
//! Fires when one source fails to authenticate for [`MIN_ACCOUNTS`] different accounts within
//! [`WINDOW`] seconds, once per [`QUIET`] seconds. The [`success_after_failures`] analytic
//! remembers the alert: a success from the same source within the hour after is the spray
//! finding a password.
//!
//! [`success_after_failures`]: super::success_after_failures
//!
//! # Why it matters
//! Spraying tries one or two common passwords ("Winter2026!") on every account, staying under
//! each account's lockout threshold; per account it looks like a mistyped password.
//!
//! # Example
//! `Failed password for invalid user a1 .. a12 from 192.0.2.50` on four servers within ten
//! minutes: one alert naming 192.0.2.50 and twelve accounts.
//!
//! # References
//! ATT&CK T1110.003 (Password Spraying).

use wardwatch_core::Severity;

use super::{Attempt, Identity};
use crate::analytics::{Hit, meta};
use crate::engine::{CorrelationHit, Detection};

/// Different accounts failing from one source within [`WINDOW`] that make spraying.
pub(super) const MIN_ACCOUNTS: usize = 10;
pub(super) const WINDOW: i64 = 30 * 60;
const QUIET: i64 = 60 * 60;
pub(super) const ID: &str = "analytic-auth-password-spraying";

pub(super) fn rule() -> std::sync::Arc<crate::RuleMeta> {
    super::any_product(meta(
        ID,
        "Password Spraying: Failed Authentications For Many Accounts From One Source",
        Severity::High,
        &["attack.credential_access", "attack.t1110.003"],
        "One source failed to authenticate for many different accounts within half an hour (SSH, su/sudo, Windows NTLM validation, cloud sign-ins). Trying a few passwords on many accounts stays under each account's lockout; a person mistyping fails on one account only.",
        "Find the device behind the source address and disconnect or block it. Check every account tried for a successful sign-in afterwards and reset the passwords of any that succeeded; make sure the service is reachable only through VPN with MFA.",
    ))
}

/// Whether spraying fired (or had fired) for this attempt's source.
pub(super) fn check(state: &mut Identity, a: &Attempt, out: &mut Vec<Hit>) -> bool {
    let accounts = state.failures.distinct(&a.source, a.t, WINDOW);
    if accounts < MIN_ACCOUNTS {
        return false;
    }
    if state.failures.should_alert(&a.source, ID, a.t, QUIET) {
        let failures = state.failures.count(&a.source, a.t, WINDOW);
        out.push(Detection {
            rule: rule(),
            correlation: Some(CorrelationHit {
                group: vec![("source".into(), a.source.clone())],
                value: accounts as f64,
                timespan_secs: WINDOW as u64,
                events: failures as u64,
                accounts: accounts as u64,
            }),
            entities: super::tried(state, a, WINDOW, 25),
            finding: None,
        });
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::testkit::auth;
    use super::*;

    #[test]
    fn many_accounts_from_one_source_fire_spraying_not_brute_force() {
        let mut id = Identity::default();
        let mut out = Vec::new();
        // Variant 1: twelve invented accounts on four servers within ten minutes.
        for i in 0..12 {
            let host = format!("srv{}", i % 4);
            id.observe(
                &auth(i * 50, &host, &format!("a{i}"), "192.0.2.50", false),
                &mut out,
            );
        }
        let ids: Vec<&str> = out.iter().map(|d| d.rule.id.as_str()).collect();
        assert_eq!(ids, vec![ID], "spraying, not brute force as well");
        assert_eq!(out[0].correlation.as_ref().unwrap().accounts, 10);
        // Variant 2: a slow spray of real-looking names, one every two minutes.
        let mut out = Vec::new();
        for (i, u) in [
            "anna", "bert", "carla", "dirk", "eva", "frank", "greet", "hans", "ilse", "jan",
        ]
        .iter()
        .enumerate()
        {
            id.observe(
                &auth(10_000 + i as i64 * 120, "vpn01", u, "198.51.100.23", false),
                &mut out,
            );
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rule.id, ID);
        assert_eq!(out[0].correlation.as_ref().unwrap().accounts, 10);
        assert_eq!(out[0].entities.len(), 10, "every account tried is named");
        assert_eq!(out[0].entities[0].value, "jan", "the latest first");
    }

    #[test]
    fn a_shared_terminal_with_shift_change_typos_spread_over_hours_is_quiet() {
        let mut id = Identity::default();
        let mut out = Vec::new();
        for i in 0..30 {
            id.observe(
                &auth(i * 400, "ts01", &format!("nurse{i}"), "10.20.0.4", false),
                &mut out,
            );
        }
        assert!(
            out.is_empty(),
            "{:?}",
            out.iter().map(|d| &d.rule.id).collect::<Vec<_>>()
        );
    }
}
