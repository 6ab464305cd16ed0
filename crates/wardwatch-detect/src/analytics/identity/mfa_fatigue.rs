//! MFA fatigue: many multi-factor pushes denied for one account, then a sign-in that succeeds.
//!
//! # What it does
//! Counts, per account, the pushes the user denied (`event.action: mfa-push-denied`: Okta
//! Verify's `user.mfa.okta_verify.deny_push`, Entra's error 500121 "declined the
//! authentication") and fires on the next successful sign-in of that account when at least
//! [`MIN_DENIED`] denials happened within [`WINDOW`] seconds before it.
//!
//! # Why it matters
//! An attacker who has the password sends push after push at night until the tired user taps
//! "approve" (Uber 2022, Lapsus$); the denials are the user saying no, the success is the
//! moment the account is lost.
//!
//! # Example
//! Five denied Okta Verify pushes for `n.jansen` between 02:10 and 02:25, then
//! `user.authentication.auth_via_mfa` SUCCESS at 02:27: one alert on the success.
//!
//! # References
//! ATT&CK T1621 (Multi-Factor Authentication Request Generation).

use wardwatch_core::{Event, Severity};

use super::{Attempt, Identity};
use crate::analytics::{Hit, meta};
use crate::engine::{CorrelationHit, Detection};

/// Denied pushes within [`WINDOW`] before a success that make fatigue.
pub(super) const MIN_DENIED: usize = 3;
pub(super) const WINDOW: i64 = 60 * 60;
const ID: &str = "analytic-mfa-fatigue";

pub(super) fn rule() -> std::sync::Arc<crate::RuleMeta> {
    super::any_product(meta(
        ID,
        "MFA Fatigue: Pushes Denied, Then A Successful Sign-In",
        Severity::High,
        &["attack.credential_access", "attack.t1621"],
        "The account's owner denied several multi-factor pushes, and then a sign-in of the account succeeded. Someone who has the password sent pushes until one was approved.",
        "Call the account's owner now (not by mail): if they did not mean to approve, revoke the account's sessions and tokens, reset the password and re-register MFA; switch the account to number matching or phishing-resistant MFA, and look at what was done after the sign-in.",
    ))
}

/// The account a denied push is for, when `event` is one.
pub(super) fn denied(event: &Event) -> Option<String> {
    let ecs = &event.ecs;
    if ecs.event_action.as_deref() != Some("mfa-push-denied") {
        return None;
    }
    ecs.user_name
        .as_deref()
        .map(|u| u.trim().to_lowercase())
        .filter(|u| !u.is_empty())
}

pub(super) fn record_denial(state: &mut Identity, user: &str, t: i64) {
    state.mfa_denied.push(user, t, "denied");
}

pub(super) fn check(state: &mut Identity, a: &Attempt, out: &mut Vec<Hit>) {
    let denials = state.mfa_denied.count(&a.account, a.t, WINDOW);
    if denials < MIN_DENIED {
        return;
    }
    // Once: the denials are spent by the success they led to.
    state.mfa_denied.forget(&a.account);
    out.push(Detection {
        rule: rule(),
        correlation: Some(CorrelationHit {
            group: vec![("account".into(), a.account.clone())],
            value: denials as f64,
            timespan_secs: WINDOW as u64,
            events: denials as u64 + 1,
            accounts: 1,
        }),
        entities: Vec::new(),
        finding: None,
    });
}

#[cfg(test)]
mod tests {
    use super::super::testkit::auth;
    use super::*;

    fn push_denied(t: i64, user: &str) -> Event {
        let mut e = auth(t, "okta", user, "198.51.100.7", false);
        e.ecs.event_action = Some("mfa-push-denied".into());
        e.ecs.process_name = None;
        e
    }

    fn okta_sign_in(t: i64, user: &str) -> Event {
        let mut e = auth(t, "okta", user, "198.51.100.7", true);
        e.ecs.event_action = Some("sign-in".into());
        e.ecs.process_name = None;
        e
    }

    #[test]
    fn denied_pushes_then_a_success_fire_once() {
        let mut id = Identity::default();
        let mut out = Vec::new();
        for i in 0..5 {
            id.observe(&push_denied(i * 180, "N.Jansen@hosp.example"), &mut out);
        }
        id.observe(&okta_sign_in(1000, "n.jansen@hosp.example"), &mut out);
        assert_eq!(out.iter().filter(|d| d.rule.id == ID).count(), 1);
        id.observe(&okta_sign_in(1100, "n.jansen@hosp.example"), &mut out);
        assert_eq!(out.iter().filter(|d| d.rule.id == ID).count(), 1);
    }

    #[test]
    fn one_mistaken_denial_or_denials_long_before_are_quiet() {
        let mut id = Identity::default();
        let mut out = Vec::new();
        id.observe(&push_denied(0, "a@h"), &mut out);
        id.observe(&okta_sign_in(60, "a@h"), &mut out);
        for i in 0..4 {
            id.observe(&push_denied(1000 + i, "b@h"), &mut out);
        }
        id.observe(&okta_sign_in(1000 + 2 * 3600, "b@h"), &mut out);
        assert!(out.iter().all(|d| d.rule.id != ID));
    }
}
