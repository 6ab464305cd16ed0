//! Service accounts used interactively: someone at a keyboard, or over remote desktop, signed
//! in with an account that exists to run a service.
//!
//! # What it does
//! An account is a service account when the roster's role says so or its name follows the
//! hospital's naming conventions (`svc_*`, `*_svc`, `sa-*`... configurable,
//! [`super::directory::DEFAULT_SERVICE_PATTERNS`]). A successful Windows logon of type 2
//! (interactive), 10 (remote desktop) or 11 (cached interactive), or a console `login` on
//! Linux, by such an account raises an alert: medium, high when the machine it was used on or
//! from is a workstation. Service (5), batch (4) and network (3) logons are what service
//! accounts are for and raise nothing. One alert per account and machine in [`QUIET_SECS`].
//!
//! # Why it matters
//! Service accounts hold broad rights, rarely change their passwords and are exempt from MFA;
//! their passwords sit in scripts and configuration files. A person signing in with one is
//! either an administrator cutting a corner or an attacker who found the password
//! (Kerberoasting cracks exactly these).
//!
//! # References
//! ATT&CK T1078.002 (Domain Accounts), T1558.003 (Kerberoasting, how the password is often
//! found); CIS Controls 5.5 (service account inventory).

use std::sync::Arc;

use wardwatch_core::{Entity, EntityKind, Severity};

use super::directory::Directory;
use super::profiles::Quiet;
use crate::analytics::network::NetClass;
use crate::analytics::{Hit, meta};
use crate::engine::{Detection, Finding};
use crate::{IdentityUse, LogonType, RuleMeta};

const ID: &str = "analytic-identity-service-account-interactive";
const QUIET_SECS: i64 = 12 * 3600;

pub(super) fn rule() -> Arc<RuleMeta> {
    super::any_product(meta(
        ID,
        "Service Account Used Interactively",
        Severity::Medium,
        &[
            "attack.initial_access",
            "attack.t1078.002",
            "attack.lateral_movement",
        ],
        "An account that exists to run a service signed in interactively (at the keyboard, over remote desktop, or with cached credentials). Service accounts are never used by people; someone knows its password, from a script, a configuration file, or by cracking it.",
        "Find out who signed in with the service account and why. If no administrator did, reset its password (and update the services that use it), and review what the session did. Deny it interactive and remote-desktop logon by policy ('Deny log on locally', 'Deny log on through Remote Desktop Services').",
    ))
}

pub(super) fn check(
    quiet: &mut Quiet,
    dir: &Directory,
    u: &IdentityUse,
    t: i64,
    out: &mut Vec<Hit>,
) {
    if !u.success || !u.logon_type.is_some_and(LogonType::is_interactive) {
        return;
    }
    if !dir.is_service(&u.user) {
        return;
    }
    // The machine used on, or for remote desktop the one it came from.
    let machines: Vec<&str> = [
        u.host.as_deref(),
        u.device.as_deref(),
        u.source_ip.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let on_workstation = machines
        .iter()
        .find(|m| dir.class(m) == NetClass::Workstation)
        .copied();
    let place = u.host.clone().unwrap_or_default();
    if !quiet.may(&format!("{}\u{1f}{place}", u.user), ID, t, QUIET_SECS) {
        return;
    }
    let mut rule = (*rule()).clone();
    rule.level = if on_workstation.is_some() {
        Severity::High
    } else {
        Severity::Medium
    };
    let mut entities = Vec::new();
    if let Some(ip) = &u.source_ip {
        entities.push(Entity::new(EntityKind::Ip, ip));
    }
    entities.push(Entity::new(EntityKind::User, &u.user));
    if let Some(h) = &u.host {
        entities.push(Entity::new(EntityKind::Host, h));
    }
    if let Some(d) = &u.device {
        entities.push(Entity::new(EntityKind::Device, d));
    }
    let mut facts = vec![(
        "identity.logon_type".to_string(),
        u.logon_type
            .map_or("unknown", LogonType::as_str)
            .to_string(),
    )];
    if let Some(w) = on_workstation {
        facts.push(("identity.workstation".into(), w.to_string()));
    }
    out.push(Detection {
        rule: Arc::new(rule),
        correlation: None,
        entities,
        finding: Some(Arc::new(Finding { facts })),
    });
}
