//! Levels that mean something in this hospital: the same record is routine in one context and
//! worth a person's look in another.
//!
//! Why here: a rule sees one record; whether the account that acted administers hosts, and
//! whether the host is a workstation or a server, is what the operator told us in the roster
//! and the inventory. Account administration (accounts created or changed, members added to
//! groups, domain policy edited) is what administrators do all day, so its rules are low; the
//! same action by an account the roster says holds no administrator rights, done on a
//! workstation, a medical device or a guest Wi-Fi device (where nobody administers accounts),
//! or done at night (20:00–06:00 UTC, as the score counts off-hours) is raised to medium, with
//! the reason kept on the step.
//!
//! **Architecture Invariant:** pure: a function of the alert and the context.

use wardwatch_core::{Alert, Severity};

use super::{AssetClass, Context, account_name};

/// ATT&CK techniques of account administration: account manipulation, account creation,
/// domain policy modification, account access removal.
const ADMINISTRATION: &[&str] = &["t1098", "t1136", "t1484", "t1531"];

/// Whether `alert` is account administration (by its ATT&CK technique tags).
pub fn is_account_administration(alert: &Alert) -> bool {
    alert.tags.iter().any(|t| {
        let t = t.to_ascii_lowercase();
        t.strip_prefix("attack.").is_some_and(|t| {
            ADMINISTRATION
                .iter()
                .any(|a| t == *a || t.strip_prefix(a).is_some_and(|r| r.starts_with('.')))
        })
    })
}

/// The level `alert` stands at here, and why it differs from the rule's, if it does. `host` is
/// the host the incident placed it on (the alert's own, or resolved from an address).
pub fn contextual_level(
    alert: &Alert,
    host: Option<&str>,
    ctx: &Context,
) -> (Severity, Option<String>) {
    if alert.level != Severity::Low || !is_account_administration(alert) {
        return (alert.level, None);
    }
    let actor = ["SubjectUserName", "user.name"]
        .iter()
        .find_map(|k| alert.facts.get(*k))
        .filter(|u| !u.is_empty() && *u != "-" && !u.ends_with('$'));
    if let Some(actor) = actor
        && let Some(person) = ctx.roster.person(actor)
        && !person.privileged
    {
        return (
            Severity::Medium,
            Some(format!(
                "raised to medium: {} ({}) holds no administrator rights in the roster",
                account_name(actor),
                person.name
            )),
        );
    }
    if let Some(host) = host
        && let Some(asset) = ctx.inventory.asset_for_host(host)
        && matches!(
            asset.class,
            AssetClass::Workstation | AssetClass::MedicalDevice | AssetClass::GuestWifi
        )
    {
        return (
            Severity::Medium,
            Some(format!(
                "raised to medium: account administration on a {} ({host}), where nobody administers accounts",
                asset.class.words()
            )),
        );
    }
    if crate::score::off_hours(alert.timestamp) {
        return (
            Severity::Medium,
            Some("raised to medium: account administration between 20:00 and 06:00 UTC".into()),
        );
    }
    (alert.level, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Inventory, Person, Roster};
    use crate::testkit::alert;

    fn ctx() -> Context {
        let person = |user: &str, privileged: bool| Person {
            user: user.into(),
            name: format!("Name of {user}"),
            email: None,
            department: None,
            role: None,
            privileged,
            manager: None,
        };
        Context {
            roster: Roster::new(vec![person("it-admin", true), person("nurse7", false)]),
            inventory: Inventory::from_csv(
                "match,class,criticality\nWS-WARD-3,workstation,2\nDC01,domain-controller,5\n",
            )
            .expect("inventory"),
            ..Context::default()
        }
    }

    fn group_add(actor: &str) -> Alert {
        let t = "2026-03-02T10:00:00Z".parse().unwrap();
        let mut a = alert(
            "r",
            "Member Added To The Local Administrators Group",
            Severity::Low,
            t,
        )
        .tags(&["attack.persistence", "attack.t1098"])
        .build();
        a.facts.insert("SubjectUserName".into(), actor.into());
        a
    }

    #[test]
    fn administration_is_raised_by_a_non_admin_actor_or_a_workstation_only() {
        let ctx = ctx();
        // An administrator on the domain controller: routine, stays low.
        assert_eq!(
            contextual_level(&group_add("HOSP\\it-admin"), Some("DC01"), &ctx),
            (Severity::Low, None)
        );
        // A nurse's account doing it: raised, and the reason names the person.
        let (level, why) = contextual_level(&group_add("nurse7"), Some("DC01"), &ctx);
        assert_eq!(level, Severity::Medium);
        assert!(why.unwrap().contains("Name of nurse7"));
        // The administrator doing it on a ward workstation: raised.
        let (level, why) = contextual_level(&group_add("it-admin"), Some("ws-ward-3"), &ctx);
        assert_eq!(level, Severity::Medium);
        assert!(why.unwrap().contains("workstation"));
        // Unknown actor, unknown host, office hours: the rule's level.
        assert_eq!(
            contextual_level(&group_add("someone"), Some("SRV9"), &ctx).0,
            Severity::Low
        );
        // The same at night: raised.
        let mut night = group_add("it-admin");
        night.timestamp = "2026-03-02T23:40:00Z".parse().unwrap();
        let (level, why) = contextual_level(&night, Some("DC01"), &ctx);
        assert_eq!(level, Severity::Medium);
        assert!(why.unwrap().contains("20:00 and 06:00"));
        // The host itself (a machine account) is not a person.
        assert_eq!(
            contextual_level(&group_add("WS-WARD-3$"), Some("DC01"), &ctx).0,
            Severity::Low
        );
    }

    #[test]
    fn other_rules_keep_their_level() {
        let ctx = ctx();
        let t = "2026-03-02T10:00:00Z".parse().unwrap();
        let mut a = alert("r", "Discovery", Severity::Low, t)
            .tags(&["attack.discovery", "attack.t1087"])
            .build();
        a.facts.insert("SubjectUserName".into(), "nurse7".into());
        assert_eq!(
            contextual_level(&a, Some("WS-WARD-3"), &ctx).0,
            Severity::Low
        );
        let mut m = group_add("nurse7");
        m.level = Severity::High;
        assert_eq!(
            contextual_level(&m, Some("DC01"), &ctx),
            (Severity::High, None)
        );
    }
}
