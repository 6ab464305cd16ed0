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

use super::fanout::FanOut;
use super::topology::Topology;
use super::{Hit, NetFacts, at_level, found, listed, meta};
use crate::RuleMeta;

/// Failures against one account (or one host, when the account is not visible) in [`WINDOW`].
const BRUTE_FAILURES: u64 = 10;
const WINDOW: i64 = 10 * 60;
/// Distinct accounts failing from one source in [`SPRAY_WINDOW`].
const SPRAY_ACCOUNTS: usize = 5;
const SPRAY_WINDOW: i64 = 30 * 60;
/// Logins to one host's SSH or RDP from one source in [`LOGIN_WINDOW`] (outcome unseen).
const LOGIN_SESSIONS: u64 = 10;
const LOGIN_WINDOW: i64 = 5 * 60;
/// Distinct hosts one source opened SSH or RDP logins to in [`WINDOW`].
const LOGIN_HOSTS: usize = 10;
const MAX_ITEMS: usize = 2048;
const MAX_KEYS: usize = 50_000;

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
    /// (source, account or `@host`) → targets failed against.
    failures: FanOut<(String, String)>,
    /// Source → accounts that failed.
    accounts: FanOut<String>,
    /// (source, target) → login sessions (protocol).
    logins: FanOut<(String, String)>,
    /// Source → hosts with login sessions.
    login_hosts: FanOut<String>,
    /// Reported episodes: (kind, key) → episode start.
    #[serde(with = "super::fanout::as_pairs")]
    alerted: std::collections::HashMap<(String, String), i64>,
}

impl Default for Brute {
    fn default() -> Self {
        Brute {
            failures: FanOut::new(WINDOW, MAX_ITEMS, MAX_KEYS),
            accounts: FanOut::new(SPRAY_WINDOW, MAX_ITEMS, MAX_KEYS),
            logins: FanOut::new(LOGIN_WINDOW, 16, MAX_KEYS),
            login_hosts: FanOut::new(WINDOW, MAX_ITEMS, MAX_KEYS),
            alerted: Default::default(),
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
    /// Whether (kind, key)'s episode starting at `first` is news (and remember it).
    fn first_time(&mut self, kind: &str, key: &str, first: i64) -> bool {
        let k = (kind.to_string(), key.to_string());
        if self.alerted.get(&k) == Some(&first) {
            return false;
        }
        self.alerted.insert(k, first);
        true
    }

    pub(super) fn observe(&mut self, f: &NetFacts, t: i64, topo: &Topology, out: &mut Vec<Hit>) {
        let Some(src) = f.src.clone() else {
            return;
        };
        let dst = f.dst.clone().unwrap_or_default();
        let protocol = f
            .auth_protocol
            .clone()
            .or_else(|| f.login.clone())
            .unwrap_or_default();
        match f.auth_ok {
            Some(false) => {
                let subject = match &f.account {
                    Some(a) => a.to_ascii_lowercase(),
                    None => format!("@{dst}"),
                };
                // Guessing passwords is wrong passwords; one unknown account tried again and
                // again is a misconfigured service (unknown names count for spraying below).
                let password = f.failure != Some(super::Failure::UnknownAccount);
                let (events, first, targets) = if password {
                    let w = self.failures.add(&(src.clone(), subject.clone()), &dst, t);
                    let targets: Vec<String> = w.items().map(str::to_string).collect();
                    (w.events, w.first, targets)
                } else {
                    (0, 0, Vec::new())
                };
                if events >= BRUTE_FAILURES
                    && self.first_time("brute", &format!("{src}|{subject}"), first)
                {
                    let accounts: Vec<&str> = f.account.as_deref().into_iter().collect();
                    let tref: Vec<&str> = targets.iter().map(String::as_str).collect();
                    let facts = vec![
                        ("brute.failures".into(), events.to_string()),
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
                    let rule = at_level(&brute(), level(&src, topo, Severity::Medium));
                    out.push(found(&rule, &src, &tref, &accounts, facts));
                }
                if let Some(account) = &f.account {
                    let w = self.accounts.add(&src, &account.to_ascii_lowercase(), t);
                    let (n, first, events) = (w.distinct(), w.first, w.events);
                    if n >= SPRAY_ACCOUNTS && self.first_time("spray", &src, first) {
                        let w = self.accounts.get(&src).expect("just added");
                        let mut names: Vec<&str> = w.items().collect();
                        names.sort_unstable();
                        let facts = vec![
                            ("spray.accounts".into(), n.to_string()),
                            ("spray.failures".into(), events.to_string()),
                            ("spray.protocol".into(), protocol.clone()),
                            (
                                "spray.account_list".into(),
                                listed(names.iter().copied(), names.len(), 10),
                            ),
                            ("spray.window_secs".into(), SPRAY_WINDOW.to_string()),
                        ];
                        let shown: Vec<&str> = names.iter().take(10).copied().collect();
                        let rule = at_level(&spray(), level(&src, topo, Severity::Medium));
                        let targets: Vec<&str> = (!dst.is_empty())
                            .then_some(dst.as_str())
                            .into_iter()
                            .collect();
                        out.push(found(&rule, &src, &targets, &shown, facts));
                    }
                }
            }
            Some(true) => {
                if let Some(account) = &f.account {
                    let key = (src.clone(), account.to_ascii_lowercase());
                    let before = self
                        .failures
                        .get(&key)
                        .filter(|w| w.events >= BRUTE_FAILURES / 2 && t - w.last <= WINDOW)
                        .map(|w| (w.events, w.first));
                    if let Some((failures, first)) = before
                        && self.first_time("guessed", &format!("{src}|{account}"), first)
                    {
                        let facts = vec![
                            ("brute.failures_before".into(), failures.to_string()),
                            ("brute.protocol".into(), protocol.clone()),
                            ("brute.account".into(), account.clone()),
                        ];
                        let targets: Vec<&str> = (!dst.is_empty())
                            .then_some(dst.as_str())
                            .into_iter()
                            .collect();
                        let rule = at_level(&guessed(), level(&src, topo, Severity::High));
                        out.push(found(&rule, &src, &targets, &[account.as_str()], facts));
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
        let pair = (src.clone(), dst.clone());
        let w = self.logins.add(&pair, &login, t);
        let (events, first) = (w.events, w.first);
        // One alert per source and episode, however many of its targets cross the line (a
        // sweep over hundreds of hosts is one story, told by the fan-out alert's counts).
        let episode = self
            .login_hosts
            .get(&src)
            .filter(|w| t - w.last <= WINDOW)
            .map_or(first, |w| w.first.min(first));
        if events >= LOGIN_SESSIONS && self.first_time("guessing", &src, episode) {
            let accounts: Vec<&str> = f.account.as_deref().into_iter().collect();
            let facts = vec![
                ("brute.sessions".into(), events.to_string()),
                ("brute.protocol".into(), login.clone()),
                ("brute.targets".into(), dst.clone()),
                ("brute.window_secs".into(), LOGIN_WINDOW.to_string()),
            ];
            let rule = at_level(&guessing(), level(&src, topo, Severity::Medium));
            out.push(found(&rule, &src, &[dst.as_str()], &accounts, facts));
        }
        let w = self.login_hosts.add(&src, &dst, t);
        let (n, first, events) = (w.distinct(), w.first, w.events);
        // Again each time the count of hosts has grown fourfold (10, 40, 160...): how many,
        // as the sweep goes on.
        let stage = (n / LOGIN_HOSTS).max(1).ilog(4);
        if n >= LOGIN_HOSTS && self.first_time(&format!("fan-out-{stage}"), &src, first) {
            let w = self.login_hosts.get(&src).expect("just added");
            let mut hosts: Vec<&str> = w.items().collect();
            hosts.sort_unstable();
            let facts = vec![
                ("login.hosts".into(), n.to_string()),
                ("login.sessions".into(), events.to_string()),
                ("login.protocol".into(), login.clone()),
                (
                    "login.targets".into(),
                    listed(hosts.iter().copied(), hosts.len(), 10),
                ),
                ("login.window_secs".into(), WINDOW.to_string()),
            ];
            let shown: Vec<&str> = hosts.iter().take(10).copied().collect();
            let rule = at_level(&login_fan_out(), level(&src, topo, Severity::Medium));
            out.push(found(&rule, &src, &shown, &[], facts));
        }
        if self.alerted.len() > MAX_KEYS {
            self.alerted
                .retain(|_, first| t - *first <= SPRAY_WINDOW * 2);
        }
    }
}
