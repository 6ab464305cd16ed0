//! Identity analytics over authentication logs, whatever system wrote them: password guessing
//! against one place (brute force), few passwords against many accounts (spraying), and the
//! success that ends such guessing.
//!
//! # What it does
//! [`attempt`] reads one authentication attempt out of a normalized event — the account, the
//! source (the remote address; for NTLM validation without one, the workstation's name; for a
//! local `su`/`sudo`/`login`, the host itself), success or failure — from the ECS fields the
//! decoders fill: `event.category: authentication`, `event.action`, `event.outcome`,
//! `user.name`, `source.ip`. Sources: sshd, PAM, su, sudo and login on Linux (syslog or a
//! shipper's JSON), Windows 4624/4625/4771/4776, and any decoder that writes the same fields.
//! [`Identity`] keeps the recent failures per source in a [`WindowCounter`] and hands each
//! attempt to the analytics, one a file: `brute_force`, `spraying`, `success_after_failures`,
//! and `mfa_fatigue` (denied MFA pushes, then a successful sign-in, from Okta and Entra).
//!
//! The analytics of identity *use* read each successful use through [`crate::IdentityUse`]
//! (the reading the server's identity ledger shares) with what the [`Directory`] knows of
//! people and machines: `travel` (impossible travel and a new country, by GeoIP or the
//! identity provider's own place), `new_host` (first use on or from a machine, after a
//! learning window, levelled by how unusual the machine is for the person), `privileged`
//! (administrator accounts off-hours or on or from workstations; 4672 and 4627 teach who is
//! privileged) and `service_account` (service accounts signed in interactively). Their
//! per-account state is `profiles` (bounded).
//!
//! Windows 4625 and 4771 failures already have correlation rules (many failed logons on one
//! host from one source, spraying, Kerberos password guessing, success after spraying; see
//! `rules/credential_access/`): they count here only toward "success after failures of the
//! same account", which no rule says, so each behaviour raises one alert.
//!
//! # Why it matters
//! Hospitals expose SSH on data-centre servers, VPN portals and cloud sign-ins; guessing
//! against them is constant, and the one guess that works is the start of an incident.
//!
//! # References
//! ATT&CK T1110.001 (Password Guessing), T1110.003 (Password Spraying), T1078 (Valid
//! Accounts).

mod brute_force;
pub mod directory;
mod mfa_fatigue;
mod new_host;
mod privileged;
mod profiles;
mod service_account;
mod spraying;
mod success_after_failures;
mod travel;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_core::Event;

pub use directory::{Directory, Machine, Person, WorkHours};

use super::window::WindowCounter;
use super::{Hit, field};

/// How long failures are remembered (the longest window below).
const KEEP_SECS: i64 = 60 * 60;

/// One authentication attempt.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Attempt {
    pub t: i64,
    pub success: bool,
    /// The account, lowercased, without its domain.
    pub account: String,
    /// Where the attempt came from (see the module documentation).
    pub source: String,
    /// Whether a correlation rule already counts this failure for brute force and spraying.
    pub counted_by_rules: bool,
}

fn is_local(ip: &str) -> bool {
    matches!(ip, "127.0.0.1" | "::1" | "-" | "")
}

/// The attempt `event` records, if it records one.
pub(super) fn attempt(event: &Event) -> Option<Attempt> {
    let ecs = &event.ecs;
    if ecs.event_category.as_deref() != Some("authentication") {
        return None;
    }
    let success = match ecs.event_outcome.as_deref()? {
        "success" => true,
        "failure" => false,
        _ => return None,
    };
    let action = ecs.event_action.as_deref()?;
    let counted = if success {
        matches!(action, "logged-in" | "sign-in")
    } else {
        matches!(
            action,
            "logon-failed" | "kerberos-preauth-failed" | "credentials-validated" | "sign-in"
        )
    };
    if !counted {
        return None;
    }
    let user = ecs.user_name.as_deref()?.trim();
    let user = user.rsplit('\\').next().unwrap_or(user);
    if user.is_empty() || user == "-" || user.ends_with('$') {
        return None;
    }
    let windows = ecs
        .channel
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("Security"));
    let code = ecs.event_code.as_deref().unwrap_or("");
    let source = match ecs.source_ip.as_deref().map(str::trim) {
        Some(ip) if !is_local(ip) => ip.to_string(),
        _ if windows && code == "4776" => {
            format!(
                "workstation:{}",
                field(event, "Workstation")?.to_ascii_lowercase()
            )
        }
        // A Wi-Fi or wired client a RADIUS server or an access point names by its hardware
        // address: the device is where the guessing comes from.
        _ if ecs.source_mac.is_some() => {
            format!(
                "device:{}",
                ecs.source_mac.as_deref().unwrap_or("").to_ascii_lowercase()
            )
        }
        // A local su / sudo / login (no remote side): the host is where the guessing happens.
        // (Not a VPN, RADIUS or Wi-Fi record without an address: the server is no source.)
        _ if !windows && ecs.process_name.is_some() && ecs.event_provider.is_none() => {
            format!("local:{}", ecs.host_name.as_deref()?.to_ascii_lowercase())
        }
        _ => return None,
    };
    Some(Attempt {
        t: event.timestamp.as_second(),
        success,
        account: user.to_lowercase(),
        source,
        counted_by_rules: windows && matches!(code, "4625" | "4771"),
    })
}

pub(super) fn wants(event: &Event) -> bool {
    attempt(event).is_some()
        || mfa_fatigue::denied(event).is_some()
        || crate::IdentityUse::of(event).is_some_and(|u| u.success)
        || matches!(
            super::code(event),
            ("Security", "4672") | ("Security", "4627")
        )
}

/// The state the identity analytics share.
#[derive(Serialize, Deserialize)]
pub(super) struct Identity {
    /// Failures per source not counted by rules (value: the account tried).
    failures: WindowCounter,
    /// Every failure per source and account (value: the account).
    account_failures: WindowCounter,
    /// Denied MFA pushes per account.
    #[serde(default = "mfa_counter")]
    mfa_denied: WindowCounter,
    /// Each account's habits (hosts, devices, countries, last place).
    #[serde(default)]
    profiles: profiles::Profiles,
    #[serde(default)]
    privileged: privileged::Privileged,
    /// When accounts last raised travel and service-account alerts.
    #[serde(default)]
    quiet: profiles::Quiet,
    /// What is known of people and machines (configuration, not state).
    #[serde(skip)]
    directory: Arc<Directory>,
}

fn mfa_counter() -> WindowCounter {
    WindowCounter::new(mfa_fatigue::WINDOW)
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            failures: WindowCounter::new(KEEP_SECS),
            account_failures: WindowCounter::new(KEEP_SECS),
            mfa_denied: mfa_counter(),
            profiles: Default::default(),
            privileged: Default::default(),
            quiet: Default::default(),
            directory: Arc::default(),
        }
    }
}

/// An analytic's metadata for alerts from any product (the attempts come from Linux, Windows
/// and cloud sign-ins alike).
fn any_product(meta: std::sync::Arc<crate::RuleMeta>) -> std::sync::Arc<crate::RuleMeta> {
    let mut m = (*meta).clone();
    m.product = None;
    std::sync::Arc::new(m)
}

/// The accounts a source tried recently, as `user` entities for the alert.
fn tried(state: &Identity, a: &Attempt, window: i64, max: usize) -> Vec<wardwatch_core::Entity> {
    state
        .failures
        .distinct_values(&a.source, a.t, window, max)
        .into_iter()
        .map(|u| wardwatch_core::Entity::new(wardwatch_core::EntityKind::User, u))
        .collect()
}

fn account_key(a: &Attempt) -> String {
    format!("{}\u{1f}{}", a.source, a.account)
}

impl Identity {
    /// What the analytics know of people and machines (kept when the state is restored).
    pub(super) fn set_directory(&mut self, directory: Arc<Directory>) {
        self.directory = directory;
    }

    pub(super) fn directory(&self) -> Arc<Directory> {
        self.directory.clone()
    }

    /// The analytics of identity use: one successful use, judged against the account's
    /// habits and the directory.
    fn observe_use(&mut self, event: &Event, out: &mut Vec<Hit>) {
        let dir = self.directory.clone();
        if self.privileged.observe_privileges(&dir, event, out) {
            return;
        }
        let Some(u) = crate::IdentityUse::of(event).filter(|u| u.success) else {
            return;
        };
        let t = event.timestamp.as_second();
        travel::check(&mut self.profiles, &dir, &u, t, &mut self.quiet, out);
        new_host::check(&mut self.profiles, &dir, &u, t, out);
        self.privileged.observe_use(&dir, event, &u, out);
        service_account::check(&mut self.quiet, &dir, &u, t, out);
    }

    pub(super) fn observe(&mut self, event: &Event, out: &mut Vec<Hit>) {
        self.observe_use(event, out);
        if let Some(user) = mfa_fatigue::denied(event) {
            mfa_fatigue::record_denial(self, &user, event.timestamp.as_second());
            return;
        }
        let Some(a) = attempt(event) else {
            return;
        };
        if a.success {
            mfa_fatigue::check(self, &a, out);
            success_after_failures::check(self, &a, out);
            return;
        }
        self.account_failures
            .push(&account_key(&a), a.t, &a.account);
        if a.counted_by_rules {
            return;
        }
        self.failures.push(&a.source, a.t, &a.account);
        // Spraying first: a source guessing many accounts is spraying, not brute force.
        if !spraying::check(self, &a, out) {
            brute_force::check(self, &a, out);
        }
    }

    pub(super) fn metas() -> Vec<std::sync::Arc<crate::RuleMeta>> {
        vec![
            brute_force::rule(),
            spraying::rule(),
            success_after_failures::rule(),
            mfa_fatigue::rule(),
            travel::travel_rule(),
            travel::country_rule(),
            new_host::rule(),
            privileged::rule(),
            service_account::rule(),
        ]
    }
}

#[cfg(test)]
mod use_tests;

#[cfg(test)]
pub(super) mod testkit {
    use wardwatch_core::{Event, Origin, SourceKind};

    /// A normalized Linux authentication event at `t` seconds (as `linux_auth` fills it).
    pub fn auth(t: i64, host: &str, user: &str, ip: &str, success: bool) -> Event {
        let ts = jiff::Timestamp::from_second(1_717_408_800 + t).unwrap();
        let mut e = Event::new(SourceKind::Syslog, ts, serde_json::json!({}));
        e.origin = Origin {
            source: "t".into(),
            record_id: Some(t as u64),
            ..Origin::default()
        };
        e.ecs.host_name = Some(host.into());
        e.ecs.process_name = Some("sshd".into());
        e.ecs.event_category = Some("authentication".into());
        e.ecs.event_action = Some(if success { "logged-in" } else { "logon-failed" }.into());
        e.ecs.event_outcome = Some(if success { "success" } else { "failure" }.into());
        e.ecs.user_name = Some(user.into());
        if !ip.is_empty() {
            e.ecs.source_ip = Some(ip.into());
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::auth;
    use super::*;
    use crate::analytics::testkit::ev;
    use serde_json::json;

    #[test]
    fn attempts_from_each_source_kind() {
        let a = attempt(&auth(0, "db01", "Root", "203.0.113.9", false)).unwrap();
        assert_eq!(
            (a.account.as_str(), a.source.as_str(), a.success),
            ("root", "203.0.113.9", false)
        );
        let local = attempt(&auth(0, "DB01", "bob", "", false)).unwrap();
        assert_eq!(local.source, "local:db01");
        let mut win = ev(
            0,
            json!({"EventID": 4776, "Channel": "Security", "TargetUserName": "bob", "Workstation": "WS7", "Status": "0xc000006a"}),
        );
        win.ecs.event_category = Some("authentication".into());
        win.ecs.event_action = Some("credentials-validated".into());
        win.ecs.event_outcome = Some("failure".into());
        win.ecs.user_name = Some("bob".into());
        let w = attempt(&win).unwrap();
        assert_eq!(
            (w.source.as_str(), w.counted_by_rules),
            ("workstation:ws7", false)
        );
        win.ecs.user_name = Some("WS7$".into());
        assert_eq!(attempt(&win), None, "machine accounts are not guessed");
        // A RADIUS failure names the Wi-Fi client; without an address or a device the
        // RADIUS server itself is no source.
        let mut radius = auth(0, "radius01", "h.devries", "", false);
        radius.ecs.process_name = Some("radiusd".into());
        radius.ecs.event_provider = Some("freeradius".into());
        assert_eq!(attempt(&radius), None);
        radius.ecs.source_mac = Some("3C:22:FB:12:34:56".into());
        assert_eq!(attempt(&radius).unwrap().source, "device:3c:22:fb:12:34:56");
        let mut other = auth(0, "db01", "bob", "10.0.0.1", true);
        other.ecs.event_action = Some("session-opened".into());
        assert_eq!(attempt(&other), None);
    }
}
