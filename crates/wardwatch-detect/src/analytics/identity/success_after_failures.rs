//! A successful authentication that ends guessing: the account, or the source, failed many
//! times just before.
//!
//! # What it does
//! On a success for account A from source S, fires when A failed from S at least
//! [`MIN_FAILURES`] times within the [`WINDOW`] before, or when S raised password spraying
//! within that window (the spray found a password). Windows 4625/4771 failures count toward
//! the first (no rule says it); spraying by Windows logons has its own rule.
//!
//! # Why it matters
//! Failures alone are noise that firewalls see every minute; the success after them is an
//! account in an attacker's hands.
//!
//! # Example
//! Twenty `Failed password for alice from 203.0.113.9`, then `Accepted password for alice from
//! 203.0.113.9`: one alert on the success, naming alice and 203.0.113.9.
//!
//! # References
//! ATT&CK T1110 (Brute Force), T1078 (Valid Accounts).

use wardwatch_core::Severity;

use super::{Attempt, Identity, account_key, spraying};
use crate::analytics::{Hit, meta};
use crate::engine::{CorrelationHit, Detection};

/// Failures of the account from the source before the success.
const MIN_FAILURES: usize = 5;
const WINDOW: i64 = 60 * 60;
const ID: &str = "analytic-auth-success-after-failures";

pub(super) fn rule() -> std::sync::Arc<crate::RuleMeta> {
    super::any_product(meta(
        ID,
        "Successful Authentication After Repeated Failures From The Same Source",
        Severity::High,
        &[
            "attack.credential_access",
            "attack.t1110",
            "attack.initial_access",
            "attack.t1078",
        ],
        "An account authenticated successfully from a source that had just failed many times for that account, or that was password spraying. The guessing found a working password, unless the owner finally typed the right one.",
        "Ask the account's owner whether they signed in from that address just now. If not, treat the account as compromised: disable it or reset its password, end its sessions, and review what it did from that source (servers reached, records opened). Block the source.",
    ))
}

pub(super) fn check(state: &mut Identity, a: &Attempt, out: &mut Vec<Hit>) {
    let key = account_key(a);
    let own = state.account_failures.count(&key, a.t, WINDOW);
    let sprayed = state
        .failures
        .alerted_at(&a.source, spraying::ID)
        .is_some_and(|at| a.t - at <= WINDOW && at <= a.t);
    let fire = if own >= MIN_FAILURES {
        true
    } else {
        // A sprayed source: one alert per source and window, whichever account it found.
        sprayed && state.failures.should_alert(&a.source, ID, a.t, WINDOW)
    };
    if !fire {
        return;
    }
    let accounts = state.failures.distinct(&a.source, a.t, WINDOW).max(1);
    // One alert per burst of guessing: the failures are forgotten once they led to a success.
    state.account_failures.forget(&key);
    out.push(Detection {
        rule: rule(),
        correlation: Some(CorrelationHit {
            group: vec![
                ("source".into(), a.source.clone()),
                ("account".into(), a.account.clone()),
            ],
            value: own as f64,
            timespan_secs: WINDOW as u64,
            events: own as u64 + 1,
            accounts: accounts as u64,
        }),
        // The event names the account and the source; nothing to add.
        entities: Vec::new(),
        finding: None,
    });
}

#[cfg(test)]
mod tests {
    use super::super::testkit::auth;
    use super::*;

    fn ids(out: &[Hit]) -> Vec<&str> {
        out.iter().map(|d| d.rule.id.as_str()).collect()
    }

    #[test]
    fn guessing_then_success_fires_on_the_success() {
        let mut id = Identity::default();
        let mut out = Vec::new();
        for i in 0..20 {
            id.observe(&auth(i, "db01", "alice", "203.0.113.9", false), &mut out);
        }
        id.observe(&auth(30, "db01", "alice", "203.0.113.9", true), &mut out);
        assert_eq!(ids(&out), vec!["analytic-auth-brute-force", ID]);
        // The next success of the same account is an ordinary sign-in.
        id.observe(&auth(40, "db01", "alice", "203.0.113.9", true), &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_spray_that_finds_a_password_fires_for_the_account_it_found() {
        let mut id = Identity::default();
        let mut out = Vec::new();
        for i in 0..12 {
            id.observe(
                &auth(i * 10, "vpn01", &format!("u{i}"), "192.0.2.50", false),
                &mut out,
            );
        }
        // u3 failed once only, but the source was spraying.
        id.observe(&auth(500, "vpn01", "u3", "192.0.2.50", true), &mut out);
        assert_eq!(ids(&out).last(), Some(&ID));
    }

    #[test]
    fn a_few_typos_then_success_and_a_success_elsewhere_are_quiet() {
        let mut id = Identity::default();
        let mut out = Vec::new();
        for i in 0..3 {
            id.observe(&auth(i, "db01", "bob", "10.0.0.7", false), &mut out);
        }
        id.observe(&auth(10, "db01", "bob", "10.0.0.7", true), &mut out);
        for i in 0..8 {
            id.observe(&auth(100 + i, "db01", "carol", "10.0.0.8", false), &mut out);
        }
        // Carol signs in from her own desk, not from where the failures came.
        id.observe(&auth(200, "db01", "carol", "10.0.0.99", true), &mut out);
        assert!(out.is_empty());
    }
}
