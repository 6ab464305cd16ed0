//! First use of an account on a host, or from a device, it never used before (after the
//! learning window).
//!
//! # What it does
//! For each successful use, the host it was used on (an interactive, remote-desktop, SSH,
//! `su`/`sudo` or explicit-credentials logon; network logons to file servers and domain
//! controllers are every account's daily noise and teach nothing) and the device it came from
//! (the client workstation of a Windows logon or NTLM validation, the device an identity
//! provider names, the MAC address of a Wi-Fi or RADIUS client) are compared with the
//! account's own past ([`super::profiles`]). The level says how unusual the machine is for
//! this person:
//! - **informational**: a privileged account on an admin host (the jump host is where
//!   administrators go);
//! - **low**: a machine of the person's own department, or of a class of machine they already
//!   use (another ward workstation for a nurse), or one the inventory does not describe;
//! - **medium**: a machine of a class they never used, outside their department (a clinician's
//!   account on a server, a non-administrator on the jump host).
//!
//! # Why it matters
//! A stolen account is used where its owner never is: an attacker's foothold, a server the
//! owner has no business on. The ledger records every first use; this says the ones worth a
//! look.
//!
//! # References
//! ATT&CK T1078 (Valid Accounts), T1021 (Remote Services).

use std::sync::Arc;

use wardwatch_core::{Entity, EntityKind, Severity};

use super::directory::Directory;
use super::profiles::{Profiles, remember, seen};
use crate::analytics::network::NetClass;
use crate::analytics::{Hit, meta};
use crate::engine::{Detection, Finding};
use crate::{IdentityUse, LogonType, RuleMeta};

const ID: &str = "analytic-identity-new-host";

pub(super) fn rule() -> Arc<RuleMeta> {
    super::any_product(meta(
        ID,
        "Account Used On Or From A Machine It Never Used",
        Severity::Medium,
        &[
            "attack.initial_access",
            "attack.t1078",
            "attack.lateral_movement",
        ],
        "An account was used on, or from, a machine it had not been used on in the weeks before. The level says how unusual the machine is for this person: another workstation of their own ward is normal; a server or a machine of another class, outside their department, is not.",
        "Ask the account's owner whether they used that machine. If not, treat the account as compromised (reset the password, end its sessions) and look at how the machine was reached and what was done there.",
    ))
}

/// Whether a logon of this type says the account was used *on* its host.
fn uses_host(kind: Option<LogonType>) -> bool {
    matches!(
        kind,
        Some(
            LogonType::Interactive
                | LogonType::RemoteInteractive
                | LogonType::CachedInteractive
                | LogonType::Ssh
                | LogonType::Elevation
                | LogonType::ExplicitCredentials
                | LogonType::NetworkCleartext
        )
    )
}

/// How unusual `machine` is for this account; `None` when the machine tells nothing.
fn level(
    dir: &Directory,
    user: &str,
    machine: &str,
    classes: &[String],
) -> (Severity, &'static str, NetClass) {
    let person = dir.person(user);
    let privileged = person.is_some_and(|p| p.privileged);
    let m = dir.machine(machine);
    let class = m.map_or(NetClass::Unknown, |m| m.class);
    let same_department = match (
        person.and_then(|p| p.department.as_deref()),
        m.and_then(|m| m.department.as_deref()),
    ) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    if class == NetClass::Admin && privileged {
        return (
            Severity::Informational,
            "an admin host, used by a privileged account",
            class,
        );
    }
    if same_department {
        return (
            Severity::Low,
            "a machine of the person's own department",
            class,
        );
    }
    if class == NetClass::Unknown {
        return (
            Severity::Low,
            "a machine the inventory does not describe",
            class,
        );
    }
    if classes.iter().any(|c| c == class.as_str()) {
        return (
            Severity::Low,
            "a class of machine the account already uses",
            class,
        );
    }
    (
        Severity::Medium,
        "a class of machine the account never used, outside its department",
        class,
    )
}

pub(super) fn check(
    profiles: &mut Profiles,
    dir: &Directory,
    u: &IdentityUse,
    t: i64,
    out: &mut Vec<Hit>,
) {
    let host = u.host.as_deref().filter(|_| uses_host(u.logon_type));
    let device = u.device.as_deref();
    if host.is_none() && device.is_none() {
        return;
    }
    let (profile, learning) = profiles.get(&u.user, t);
    let mut found: Option<(Severity, String, String, &'static str, NetClass)> = None;
    for (what, machine, list) in [
        ("host", host, &mut profile.hosts),
        ("device", device, &mut profile.devices),
    ] {
        let Some(m) = machine else { continue };
        if seen(list, m) {
            continue;
        }
        if !learning {
            let (sev, why, class) = level(dir, &u.user, m, &profile.classes);
            if found.as_ref().is_none_or(|f| sev > f.0) {
                found = Some((sev, what.to_string(), m.to_string(), why, class));
            }
        }
        remember(list, m);
    }
    for m in [host, device].into_iter().flatten() {
        let class = dir.class(m);
        remember(&mut profile.classes, class.as_str());
    }
    let Some((level, what, machine, why, class)) = found else {
        return;
    };
    let mut rule = (*rule()).clone();
    rule.level = level;
    let mut entities = Vec::new();
    if let Some(ip) = &u.source_ip {
        entities.push(Entity::new(EntityKind::Ip, ip));
    }
    entities.push(Entity::new(EntityKind::User, &u.user));
    entities.push(Entity::new(
        if what == "host" {
            EntityKind::Host
        } else {
            EntityKind::Device
        },
        &machine,
    ));
    let known = if what == "host" {
        &profile.hosts
    } else {
        &profile.devices
    };
    let recent: Vec<&str> = known
        .iter()
        .rev()
        .filter(|k| **k != machine)
        .take(8)
        .map(String::as_str)
        .collect();
    out.push(Detection {
        rule: Arc::new(rule),
        correlation: None,
        entities,
        finding: Some(Arc::new(Finding {
            facts: vec![
                (format!("identity.new_{what}"), machine.clone()),
                ("identity.machine_class".into(), class.as_str().into()),
                ("identity.why".into(), why.into()),
                (format!("identity.known_{what}s"), recent.join(", ")),
                (
                    "identity.logon_type".into(),
                    u.logon_type.map_or("unknown", LogonType::as_str).into(),
                ),
            ],
        })),
    });
}
