//! Brute force: many failed authentications from one source within minutes.
//!
//! # What it does
//! Fires when one source (a remote address, an NTLM workstation, or a host for local `su` /
//! `sudo`) fails [`MIN_FAILURES`] times within [`WINDOW`] seconds against fewer accounts than
//! spraying needs, once per burst (again only after [`QUIET`] seconds without an alert).
//!
//! # Why it matters
//! Password guessing against SSH, a VPN portal or a cloud sign-in is how exposed services are
//! broken into; a hundred failures in seconds is a tool, not a person mistyping.
//!
//! # Example
//! 100 × `sshd: Failed password for root from 203.0.113.9` within ten seconds: one alert, on the
//! tenth failure, naming the host, `root` and 203.0.113.9.
//!
//! # References
//! ATT&CK T1110.001 (Password Guessing).

use wardwatch_core::Severity;

use super::{Attempt, Identity};
use crate::analytics::{Hit, meta};
use crate::engine::{CorrelationHit, Detection};

/// Failures from one source within [`WINDOW`] that make brute force.
pub(super) const MIN_FAILURES: usize = 10;
pub(super) const WINDOW: i64 = 5 * 60;
/// No second alert for the same source within this many seconds of the last.
const QUIET: i64 = 30 * 60;
const ID: &str = "analytic-auth-brute-force";

pub(super) fn rule() -> std::sync::Arc<crate::RuleMeta> {
    super::any_product(meta(
        ID,
        "Brute Force: Many Failed Authentications From One Source",
        Severity::Medium,
        &["attack.credential_access", "attack.t1110.001"],
        "One source failed to authenticate many times within minutes (SSH, su/sudo, Windows NTLM validation, cloud sign-ins). That many failures in so short a time is a tool guessing passwords, not a person mistyping.",
        "Find out who owns the source address. Block an unknown or external source at the firewall, make sure the service is not reachable from the internet or guest networks (SSH and remote access behind VPN with MFA), prefer keys over passwords for SSH, and check the same source for any successful sign-in afterwards.",
    ))
}

pub(super) fn check(state: &mut Identity, a: &Attempt, out: &mut Vec<Hit>) {
    let failures = state.failures.count(&a.source, a.t, WINDOW);
    if failures < MIN_FAILURES || !state.failures.should_alert(&a.source, ID, a.t, QUIET) {
        return;
    }
    let accounts = state.failures.distinct(&a.source, a.t, WINDOW);
    out.push(Detection {
        rule: rule(),
        correlation: Some(CorrelationHit {
            group: vec![("source".into(), a.source.clone())],
            value: failures as f64,
            timespan_secs: WINDOW as u64,
            events: failures as u64,
            accounts: accounts as u64,
        }),
        entities: super::tried(state, a, WINDOW, 10),
        finding: None,
    });
}

#[cfg(test)]
mod tests {
    use super::super::testkit::auth;
    use super::*;

    #[test]
    fn a_hundred_ssh_failures_in_seconds_fire_once() {
        let mut id = Identity::default();
        let mut out = Vec::new();
        for i in 0..100 {
            id.observe(
                &auth(i / 10, "db01", "root", "203.0.113.9", false),
                &mut out,
            );
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rule.id, ID);
        let c = out[0].correlation.as_ref().unwrap();
        assert_eq!((c.events, c.accounts), (10, 1));
    }

    #[test]
    fn a_second_variant_slow_guessing_over_minutes_against_two_accounts_on_two_hosts() {
        let mut id = Identity::default();
        let mut out = Vec::new();
        for i in 0..12 {
            let (host, user) = if i % 2 == 0 {
                ("db01", "oracle")
            } else {
                ("app02", "postgres")
            };
            id.observe(&auth(i * 25, host, user, "198.51.100.7", false), &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].correlation.as_ref().unwrap().accounts, 2);
    }

    #[test]
    fn a_user_mistyping_and_failures_spread_over_hours_are_quiet() {
        let mut id = Identity::default();
        let mut out = Vec::new();
        for i in 0..4 {
            id.observe(&auth(i * 5, "db01", "alice", "10.0.0.5", false), &mut out);
        }
        // A stale saved password retrying every ten minutes all day.
        for i in 0..100 {
            id.observe(
                &auth(1000 + i * 600, "db01", "svc_backup", "10.0.0.8", false),
                &mut out,
            );
        }
        assert!(out.is_empty());
    }
}
