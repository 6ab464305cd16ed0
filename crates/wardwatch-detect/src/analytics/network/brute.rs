//! Brute force and password spraying seen on the wire: failed Kerberos pre-authentication, NTLM
//! and SMB logon failures, failed SSH logins, and — where the sensor cannot see the outcome
//! (encrypted RDP and SSH) — the rhythm of one login after another.
//!
//! Why from the network: the sensor sees every host's authentications, including machines
//! whose own logs nobody collects (a medical device's SSH, a forgotten server's RDP). Brute
//! force is many failures against one account or one host; spraying is a few tries each
//! against many accounts, to stay under lockout thresholds; both look the same whatever the
//! tool (Hydra, CrackMapExec, Kerbrute, a botnet). A success after the failures means a guess
//! worked.
//!
//! Quiet by design: `KDC_ERR_PREAUTH_REQUIRED`, the first answer of every Windows logon, is no
//! failure; the admin jump host's and other known fan-out hosts' sessions are informational; attempts
//! from outside the hospital at its perimeter are the internet's background (low).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;

use super::topology::Topology;
use super::{Failure, Hit, NetFacts, at_level, found, listed, meta};
use crate::RuleMeta;
use crate::analytics::window::{MAX_PER_KEY, WindowCounter};

/// Failures against one account (or one host, when the account is not visible) in [`WINDOW`].
const BRUTE_FAILURES: usize = 10;
const WINDOW: i64 = 10 * 60;
/// Distinct accounts failing from one source in [`SPRAY_WINDOW`].
const SPRAY_ACCOUNTS: usize = 5;
const SPRAY_WINDOW: i64 = 30 * 60;
/// Logins to one host's SSH or RDP from one source in [`LOGIN_WINDOW`] (outcome unseen).
const LOGIN_SESSIONS: usize = 10;
const LOGIN_WINDOW: i64 = 5 * 60;
/// Distinct hosts one source opened SSH or RDP logins to in [`WINDOW`].
const LOGIN_HOSTS: usize = 10;

pub(super) fn rules() -> Vec<Arc<RuleMeta>> {
    vec![brute(), spray(), guessing(), login_fan_out(), guessed()]
}

fn brute() -> Arc<RuleMeta> {
    meta(
        "analytic-network-brute-force",
        "Brute Force: Many Failed Logons Against One Account Or Host",
        Severity::Medium,
        &["attack.credential_access", "attack.t1110.001"],
        "Within ten minutes the network sensor saw many failed authentications from one source against one account (Kerberos, NTLM, SMB) or one host (SSH): someone is guessing a password.",
        "Find the source machine and who was using it; unless it is a misconfigured service with an old password, isolate it. Check whether the account was locked or a later logon succeeded, and reset its password if so.",
    )
}

fn spray() -> Arc<RuleMeta> {
    meta(
        "analytic-network-password-spraying",
        "Password Spraying: Failed Logons For Many Accounts From One Source",
        Severity::Medium,
        &["attack.credential_access", "attack.t1110.003"],
        "Within half an hour one source failed to authenticate as many different accounts, a few tries each: password spraying, which stays under lockout thresholds by trying one common password on many accounts.",
        "Find the source machine; isolate it unless it is a known service. Check every named account for a successful logon after the failures and reset those passwords; tell the users affected.",
    )
}

fn guessing() -> Arc<RuleMeta> {
    meta(
        "analytic-network-login-guessing",
        "Login Guessing: Many SSH Or RDP Logins To One Host In Minutes",
        Severity::Medium,
        &["attack.credential_access", "attack.t1110"],
        "Within five minutes one source opened many SSH or remote desktop logins to the same host. Where the sensor cannot see whether they succeeded (encrypted), this rhythm is how password-guessing tools work.",
        "Check the target host's own logon log for failures from the source at those times; unless an administrator's tool explains it, block the source and check the target for a successful logon.",
    )
}

fn login_fan_out() -> Arc<RuleMeta> {
    meta(
        "analytic-network-remote-login-fan-out",
        "Remote Logins To Many Hosts From One Source",
        Severity::Medium,
        &[
            "attack.credential_access",
            "attack.t1110.003",
            "attack.lateral_movement",
            "attack.t1021",
        ],
        "Within ten minutes one source opened SSH or remote desktop logins to many different hosts: spraying credentials across machines, or moving through them.",
        "Unless the source is the administrators' jump host, find who used it and isolate it; check each target's logon log for the source's logons.",
    )
}

fn guessed() -> Arc<RuleMeta> {
    meta(
        "analytic-network-guessed-password",
        "Logon Succeeded After Repeated Failures From The Same Source",
        Severity::High,
        &[
            "attack.credential_access",
            "attack.t1110",
            "attack.initial_access",
            "attack.t1078",
        ],
        "An account authenticated successfully from a source that had just failed to authenticate as it several times: a guessed password may have worked.",
        "Reset the account's password now and end its sessions; isolate the source machine and look at what the account did after the logon.",
    )
}

#[derive(Serialize, Deserialize)]
pub(super) struct Brute {
    /// `source|account` (or `source|@host`) → the targets of its wrong-password failures.
    failures: WindowCounter,
    /// Source → accounts that failed.
    accounts: WindowCounter,
    /// `source|target` → login sessions (protocol).
    logins: WindowCounter,
    /// Source → hosts with login sessions.
    login_hosts: WindowCounter,
}

impl Default for Brute {
    fn default() -> Self {
        Brute {
            failures: WindowCounter::new(WINDOW),
            accounts: WindowCounter::new(SPRAY_WINDOW),
            logins: WindowCounter::new(LOGIN_WINDOW),
            login_hosts: WindowCounter::new(WINDOW),
        }
    }
}

fn level(src: &str, topo: &Topology, base: Severity) -> Severity {
    if topo.class(src).fans_out_by_design() {
        // Informational: visible (where and how many) but no signal for the burst analytic.
        Severity::Informational
    } else if !topo.is_internal(src) {
        Severity::Low
    } else {
        base
    }
}

impl Brute {
    pub(super) fn observe(&mut self, f: &NetFacts, t: i64, topo: &Topology, out: &mut Vec<Hit>) {
        let Some(src) = f.src.as_deref() else {
            return;
        };
        let dst = f.dst.as_deref().unwrap_or_default();
        let protocol = f
            .auth_protocol
            .clone()
            .or_else(|| f.login.clone())
            .unwrap_or_default();
        let targets_of: Vec<&str> = (!dst.is_empty()).then_some(dst).into_iter().collect();
        match f.auth_ok {
            Some(false) => {
                let subject = match &f.account {
                    Some(a) => a.to_ascii_lowercase(),
                    None => format!("@{dst}"),
                };
                // Guessing passwords is wrong passwords; one unknown account tried again and
                // again is a misconfigured service (unknown names count for spraying below).
                let key = format!("{src}|{subject}");
                if f.failure != Some(Failure::UnknownAccount) {
                    self.failures.push(&key, t, dst);
                    let failures = self.failures.count(&key, t, WINDOW);
                    if failures >= BRUTE_FAILURES
                        && self.failures.should_alert(&key, "brute", t, WINDOW)
                    {
                        let mut targets =
                            self.failures.distinct_values(&key, t, WINDOW, MAX_PER_KEY);
                        targets.sort_unstable();
                        let tref: Vec<&str> = targets.iter().map(String::as_str).collect();
                        let accounts: Vec<&str> = f.account.as_deref().into_iter().collect();
                        let facts = vec![
                            ("brute.failures".into(), failures.to_string()),
                            ("brute.protocol".into(), protocol.clone()),
                            (
                                "brute.account".into(),
                                f.account.clone().unwrap_or_else(|| "(not visible)".into()),
                            ),
                            (
                                "brute.targets".into(),
                                listed(tref.iter().copied(), tref.len(), 10),
                            ),
                            ("brute.window_secs".into(), WINDOW.to_string()),
                        ];
                        let rule = at_level(&brute(), level(src, topo, Severity::Medium));
                        out.push(found(&rule, src, &tref, &accounts, facts));
                    }
                }
                if let Some(account) = &f.account {
                    self.accounts.push(src, t, &account.to_ascii_lowercase());
                    let n = self.accounts.distinct(src, t, SPRAY_WINDOW);
                    if n >= SPRAY_ACCOUNTS
                        && self.accounts.should_alert(src, "spray", t, SPRAY_WINDOW)
                    {
                        let mut names =
                            self.accounts
                                .distinct_values(src, t, SPRAY_WINDOW, MAX_PER_KEY);
                        names.sort_unstable();
                        let facts = vec![
                            ("spray.accounts".into(), n.to_string()),
                            (
                                "spray.failures".into(),
                                self.accounts.count(src, t, SPRAY_WINDOW).to_string(),
                            ),
                            ("spray.protocol".into(), protocol.clone()),
                            (
                                "spray.account_list".into(),
                                listed(names.iter().map(String::as_str), names.len(), 10),
                            ),
                            ("spray.window_secs".into(), SPRAY_WINDOW.to_string()),
                        ];
                        let shown: Vec<&str> = names.iter().take(10).map(String::as_str).collect();
                        let rule = at_level(&spray(), level(src, topo, Severity::Medium));
                        out.push(found(&rule, src, &targets_of, &shown, facts));
                    }
                }
            }
            Some(true) => {
                if let Some(account) = &f.account {
                    let key = format!("{src}|{}", account.to_ascii_lowercase());
                    let before = self.failures.count(&key, t, WINDOW);
                    if before >= BRUTE_FAILURES / 2
                        && self.failures.should_alert(&key, "guessed", t, WINDOW)
                    {
                        let facts = vec![
                            ("brute.failures_before".into(), before.to_string()),
                            ("brute.protocol".into(), protocol.clone()),
                            ("brute.account".into(), account.clone()),
                        ];
                        let rule = at_level(&guessed(), level(src, topo, Severity::High));
                        out.push(found(&rule, src, &targets_of, &[account.as_str()], facts));
                    }
                }
            }
            None => {}
        }
        // A login whose outcome the sensor saw was counted above as an authentication.
        let Some(login) = f.login.clone() else {
            return;
        };
        if dst.is_empty() || f.auth_ok.is_some() {
            return;
        }
        let pair = format!("{src}|{dst}");
        self.logins.push(&pair, t, &login);
        self.login_hosts.push(src, t, dst);
        let sessions = self.logins.count(&pair, t, LOGIN_WINDOW);
        // One alert per source and window, however many of its targets cross the line (a
        // sweep over hundreds of hosts is one story, told by the fan-out alert's counts).
        if sessions >= LOGIN_SESSIONS && self.login_hosts.should_alert(src, "guessing", t, WINDOW) {
            let accounts: Vec<&str> = f.account.as_deref().into_iter().collect();
            let facts = vec![
                ("brute.sessions".into(), sessions.to_string()),
                ("brute.protocol".into(), login.clone()),
                ("brute.targets".into(), dst.to_string()),
                ("brute.window_secs".into(), LOGIN_WINDOW.to_string()),
            ];
            let rule = at_level(&guessing(), level(src, topo, Severity::Medium));
            out.push(found(&rule, src, &[dst], &accounts, facts));
        }
        let n = self.login_hosts.distinct(src, t, WINDOW);
        // Again each time the count of hosts has grown fourfold (10, 40, 160...): how many,
        // as the sweep goes on.
        let stage = (n / LOGIN_HOSTS).max(1).ilog(4);
        if n >= LOGIN_HOSTS
            && self
                .login_hosts
                .should_alert(src, &format!("fan-out-{stage}"), t, WINDOW)
        {
            let mut hosts = self
                .login_hosts
                .distinct_values(src, t, WINDOW, MAX_PER_KEY);
            hosts.sort_unstable();
            let facts = vec![
                ("login.hosts".into(), n.to_string()),
                (
                    "login.sessions".into(),
                    self.login_hosts.count(src, t, WINDOW).to_string(),
                ),
                ("login.protocol".into(), login.clone()),
                (
                    "login.targets".into(),
                    listed(hosts.iter().map(String::as_str), hosts.len(), 10),
                ),
                ("login.window_secs".into(), WINDOW.to_string()),
            ];
            let shown: Vec<&str> = hosts.iter().take(10).map(String::as_str).collect();
            let rule = at_level(&login_fan_out(), level(src, topo, Severity::Medium));
            out.push(found(&rule, src, &shown, &[], facts));
        }
    }
}
