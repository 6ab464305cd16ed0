//! Privileged accounts used outside working hours, or on or from a workstation that is not an
//! admin host.
//!
//! # What it does
//! An account is privileged when the roster says so (its `privileged` column, or an
//! administrator role), when Windows assigned it special privileges at logon (Security 4672,
//! which Windows writes for every logon holding administrator-equivalent rights), or when its
//! logon's group membership (Security 4627) names an administrators' group. Each interactive,
//! remote-desktop, SSH, `su`/`sudo` or explicit-credentials use of such an account is judged:
//! - **off-hours**: outside the hospital's working hours (the operator's time zone and day;
//!   weekends; only when the operator gave them) — unless the roster says the person is on
//!   call;
//! - **from a workstation**: the machine it was used on, or (remote desktop, SSH) came from,
//!   is a workstation, medical device or guest device by the inventory — administrators work
//!   from admin hosts (jump hosts, privileged-access workstations), so their credentials are
//!   never left on a machine anyone else uses.
//!
//! Off-hours, or someone else's machine (a workstation of another department — a ward's
//! shared machine — a medical or guest device), is medium; both high; a workstation of the
//! person's own department (their desk) or of no known department alone is low, medium with
//! off-hours. One alert per account, reason and machine in [`QUIET_SECS`]. A 4624 whose own 4672 follows (same logon id, same host) is judged when
//! the 4672 arrives.
//!
//! # Why it matters
//! Ransomware operators use stolen administrator accounts at night and on weekends, when no
//! one watches; an administrator's password typed on a ward workstation is one memory dump
//! away from an attacker.
//!
//! # Look-alikes
//! The on-call administrator at night, and administrators going through the jump host, raise
//! nothing.
//!
//! # References
//! ATT&CK T1078.002 (Domain Accounts), T1078.003 (Local Accounts); Microsoft's
//! "Securing privileged access" (tiering and privileged-access workstations).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_core::{Entity, EntityKind, Event, Severity};

use super::directory::Directory;
use super::profiles::Quiet;
use crate::analytics::network::NetClass;
use crate::analytics::{Hit, meta};
use crate::engine::{Detection, Finding};
use crate::{IdentityUse, LogonType, RuleMeta};

const ID: &str = "analytic-identity-privileged-account-use";
/// Quiet time per account, reason and machine.
const QUIET_SECS: i64 = 12 * 3600;
/// How long a logon waits for its 4672.
const PENDING_SECS: i64 = 120;
const MAX_PENDING: usize = 5_000;
const MAX_LEARNED: usize = 10_000;

/// Administrators' groups by name, and the SIDs / RIDs of the built-in ones (Administrators,
/// Account, Server and Backup Operators; Domain, Enterprise and Schema Admins).
const ADMIN_GROUPS: &[&str] = &[
    "domain admins",
    "enterprise admins",
    "schema admins",
    "administrators",
    "account operators",
    "server operators",
    "backup operators",
    "s-1-5-32-544",
    "s-1-5-32-548",
    "s-1-5-32-549",
    "s-1-5-32-551",
    "-512}",
    "-518}",
    "-519}",
];

pub(super) fn rule() -> Arc<RuleMeta> {
    super::any_product(meta(
        ID,
        "Privileged Account Used Off-Hours Or From A Workstation",
        Severity::Medium,
        &[
            "attack.defense_evasion",
            "attack.persistence",
            "attack.privilege_escalation",
            "attack.initial_access",
            "attack.t1078.002",
        ],
        "An account with administrator rights was used outside working hours (and its owner is not on call), or on or from a workstation rather than an admin host. Attackers use stolen administrator accounts when no one watches; an administrator's password typed on an ordinary workstation can be taken from its memory.",
        "Ask the administrator whether this was them and why. If not, disable the account and reset its password, and review what it did. If it was: administer from the jump host or a privileged-access workstation, and mark on-call staff in the roster.",
    ))
}

/// The state of this analytic.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Privileged {
    /// Accounts seen with special privileges or in an administrators' group.
    learned: VecDeque<String>,
    /// Logons waiting for their 4672 (key: host and logon id).
    pending: HashMap<String, (i64, IdentityUse)>,
    quiet: Quiet,
}

/// Whether `kind` is a use at the keyboard of a machine (locally or remotely).
fn judged(kind: Option<LogonType>) -> bool {
    matches!(
        kind,
        Some(
            LogonType::Interactive
                | LogonType::RemoteInteractive
                | LogonType::CachedInteractive
                | LogonType::Ssh
                | LogonType::Elevation
                | LogonType::ExplicitCredentials
        )
    )
}

/// Machines administrators do not work on or from.
fn not_for_admins(class: NetClass) -> bool {
    matches!(
        class,
        NetClass::Workstation | NetClass::MedicalDevice | NetClass::GuestWifi
    )
}

/// The ordinary machine the use happened on or came from, if any, and whether it is known
/// to be someone else's: a workstation of another department (a ward's shared machine), a
/// medical device or a guest device. A workstation of the person's own department (their
/// desk), or one whose department the inventory does not say, is not.
fn ordinary_machine(dir: &Directory, u: &IdentityUse) -> Option<(String, NetClass, bool)> {
    let remote = matches!(
        u.logon_type,
        Some(LogonType::RemoteInteractive | LogonType::Ssh | LogonType::ExplicitCredentials)
    );
    let mut candidates: Vec<&str> = Vec::new();
    if remote {
        candidates.extend(u.device.as_deref());
        candidates.extend(u.source_ip.as_deref());
    }
    candidates.extend(u.host.as_deref());
    let department = dir.person(&u.user).and_then(|p| p.department.clone());
    candidates.into_iter().find_map(|m| {
        let machine = dir.machine(m)?;
        let foreign = match (machine.class, &department, &machine.department) {
            (NetClass::MedicalDevice | NetClass::GuestWifi, _, _) => true,
            // Another department's, or a department's machine used by an account the roster
            // does not place.
            (_, a, Some(b)) => !a.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(b)),
            _ => false,
        };
        not_for_admins(machine.class).then(|| (m.to_string(), machine.class, foreign))
    })
}

/// A field of a full event or of its reduced copy.
fn get(event: &Event, name: &str) -> Option<String> {
    crate::fields::lookup(event, name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && v != "-")
}

fn logon_key(host: &str, id: &str) -> String {
    format!("{}\u{1f}{}", host.to_lowercase(), id.to_lowercase())
}

impl Privileged {
    fn is_learned(&self, user: &str) -> bool {
        self.learned.iter().any(|u| u == user)
    }

    fn learn(&mut self, user: &str) {
        if self.is_learned(user) {
            return;
        }
        if self.learned.len() >= MAX_LEARNED {
            self.learned.pop_front();
        }
        self.learned.push_back(user.to_string());
    }

    /// A Windows record that says an account is privileged (4672, or 4627 naming an admin
    /// group); judges the logon it belongs to when that logon is waiting.
    pub(super) fn observe_privileges(
        &mut self,
        dir: &Directory,
        event: &Event,
        out: &mut Vec<Hit>,
    ) -> bool {
        let (channel, code) = crate::analytics::code(event);
        if !channel.eq_ignore_ascii_case("Security") || !matches!(code, "4672" | "4627") {
            return false;
        }
        let user = match code {
            "4672" => get(event, "SubjectUserName"),
            _ => get(event, "TargetUserName"),
        };
        let Some(user) = user.as_deref().and_then(crate::identity_use::account_of) else {
            return true;
        };
        if code == "4627" {
            let groups = get(event, "GroupMembership")
                .unwrap_or_default()
                .to_lowercase();
            if !ADMIN_GROUPS.iter().any(|g| groups.contains(g)) {
                return true;
            }
        }
        self.learn(&user);
        let id = match code {
            "4672" => get(event, "SubjectLogonId"),
            _ => get(event, "TargetLogonId"),
        };
        if let (Some(host), Some(id)) = (event.ecs.host_name.as_deref(), id)
            && let Some((_, u)) = self.pending.remove(&logon_key(host, &id))
        {
            self.judge(dir, &u, event.timestamp.as_second(), out);
        }
        true
    }

    /// A successful use: judged now when the account is known privileged, or kept until its
    /// 4672 says so.
    pub(super) fn observe_use(
        &mut self,
        dir: &Directory,
        event: &Event,
        u: &IdentityUse,
        out: &mut Vec<Hit>,
    ) {
        if !u.success || !judged(u.logon_type) {
            return;
        }
        let t = event.timestamp.as_second();
        if dir.person(&u.user).is_some_and(|p| p.privileged) || self.is_learned(&u.user) {
            self.judge(dir, u, t, out);
            return;
        }
        if event.ecs.event_code.as_deref() == Some("4624")
            && let (Some(host), Some(id)) =
                (event.ecs.host_name.as_deref(), get(event, "TargetLogonId"))
        {
            if self.pending.len() >= MAX_PENDING {
                self.pending.retain(|_, (at, _)| t - *at <= PENDING_SECS);
                if self.pending.len() >= MAX_PENDING {
                    self.pending.clear();
                }
            }
            self.pending.insert(logon_key(host, &id), (t, u.clone()));
        }
    }

    fn judge(&mut self, dir: &Directory, u: &IdentityUse, t: i64, out: &mut Vec<Hit>) {
        let on_call = dir.person(&u.user).is_some_and(|p| p.on_call);
        let when = dir
            .off_hours(jiff::Timestamp::from_second(t).unwrap_or_default())
            .filter(|_| !on_call);
        let machine = ordinary_machine(dir, u);
        // Off-hours weighs 2; someone else's machine (a ward's shared workstation, a medical
        // or guest device) 2; the person's own desk, or a workstation of no known department,
        // 1: medium from 2, high from 4.
        let mut reasons = Vec::new();
        let mut weight = 0;
        if when.is_some() {
            reasons.push("off-hours");
            weight += 2;
        }
        if let Some((_, _, foreign)) = &machine {
            reasons.push(if *foreign {
                "on or from another department's workstation or a device"
            } else {
                "on or from a workstation"
            });
            weight += if *foreign { 2 } else { 1 };
        }
        if reasons.is_empty() {
            return;
        }
        let place = machine
            .as_ref()
            .map(|(m, _, _)| m.clone())
            .or_else(|| u.host.clone())
            .unwrap_or_default();
        let key = format!("{}\u{1f}{}\u{1f}{place}", u.user, reasons.join("+"));
        if !self.quiet.may(&key, ID, t, QUIET_SECS) {
            return;
        }
        let mut rule = (*rule()).clone();
        rule.level = match weight {
            4.. => Severity::High,
            2..=3 => Severity::Medium,
            _ => Severity::Low,
        };
        let mut entities = Vec::new();
        if let Some(ip) = &u.source_ip {
            entities.push(Entity::new(EntityKind::Ip, ip));
        }
        entities.push(Entity::new(EntityKind::User, &u.user));
        if let Some((m, _, _)) = &machine {
            entities.push(Entity::new(EntityKind::Host, m));
        }
        let mut facts = vec![
            ("identity.why".into(), reasons.join(" and ")),
            (
                "identity.logon_type".into(),
                u.logon_type.map_or("unknown", LogonType::as_str).into(),
            ),
        ];
        if let Some(w) = when {
            facts.push(("identity.local_time".into(), w));
        }
        if let Some((m, c, _)) = machine {
            facts.push(("identity.workstation".into(), m));
            facts.push(("identity.machine_class".into(), c.as_str().into()));
        }
        out.push(Detection {
            rule: Arc::new(rule),
            correlation: None,
            entities,
            finding: Some(Arc::new(Finding { facts })),
        });
    }
}
