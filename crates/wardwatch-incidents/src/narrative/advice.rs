//! "Who and what", "why it matters" and "what to do now", per role.
//!
//! Why a module of its own: this is where roster and inventory turn into names, departments
//! and criticality, and where the rules' own recommendations meet the ATT&CK fallbacks.

use std::fmt::Write as _;

use wardwatch_core::Severity;

use super::steps::{Advice, cap, merge, tactic_rank};
use super::words::{capitalize, decapitalize, list, list_counted, member, targeted, tried_count};
use super::{Role, RoleSteps};
use crate::attack;
use crate::context::{AssetClass, Context};
use crate::model::{Incident, push_unique};
use crate::score::off_hours;

pub(super) fn person_line(user: &str, ctx: &Context) -> String {
    match ctx.roster.person(user) {
        Some(p) => {
            let mut out = format!("{user}: {}", p.name);
            for part in [&p.role, &p.department, &p.email].into_iter().flatten() {
                let _ = write!(out, ", {part}");
            }
            if p.privileged {
                out.push_str(", privileged account");
            }
            if let Some(m) = &p.manager {
                let _ = write!(out, " (manager: {m})");
            }
            out
        }
        None => format!("{user}: not in the roster"),
    }
}

pub(super) fn who_and_what(incident: &Incident, ctx: &Context) -> Vec<String> {
    let mut out = Vec::new();
    let tried = targeted(incident);
    for u in incident.users.iter().filter(|u| !tried.contains(u)) {
        out.push(format!("Person {}", person_line(u, ctx)));
    }
    if incident.emails.len() > 1 {
        out.push(format!(
            "Mail recipients ({}): {}",
            incident.emails.len(),
            list_counted(&incident.emails, incident.emails.len(), 10)
        ));
    }
    if !tried.is_empty() {
        out.push(format!(
            "Accounts tried without success ({}): {}",
            tried_count(incident, &tried),
            list_counted(&tried, tried_count(incident, &tried), 8)
        ));
    }
    for h in &incident.hosts {
        out.push(match ctx.inventory.asset_for_host(h) {
            Some(a) => {
                let name = a.name.as_deref().filter(|n| !n.eq_ignore_ascii_case(h));
                let name = name.map(|n| format!(" \"{n}\"")).unwrap_or_default();
                format!(
                    "Host {h}{name}: {}, criticality {}",
                    a.describe(),
                    a.criticality
                )
            }
            None => format!("Host {h}: not in the inventory (criticality 3 assumed)"),
        });
    }
    for s in &incident.timeline {
        let f = |k: &str| s.facts.get(k).map(String::as_str);
        let on = s
            .host
            .as_deref()
            .map(|h| format!(" on {h}"))
            .unwrap_or_default();
        match f("event.code") {
            Some("4720") => {
                if let Some(t) = f("TargetUserName") {
                    let by = f("SubjectUserName")
                        .map(|u| format!(" by {u}"))
                        .unwrap_or_default();
                    out.push(format!("New account {t}: created{on}{by}"));
                }
            }
            Some("4728" | "4732" | "4756") => {
                if let (Some(g), Some(m)) = (f("TargetUserName"), member(s)) {
                    out.push(format!("Group {g}{on}: {m} added"));
                }
            }
            _ => {}
        }
    }
    let mut urls = Vec::new();
    for s in &incident.timeline {
        if let Some(u) = s.facts.get("url.full") {
            push_unique(&mut urls, u);
        }
    }
    out.extend(urls.into_iter().map(|u| format!("Link {u}")));
    for ip in &incident.ips {
        let host = ctx.inventory.host_for_ip(ip);
        out.push(match (ctx.inventory.asset_for_ip(ip), host) {
            (Some(_), Some(h)) => format!("Address {ip}: {h}"),
            (Some(a), None) => format!("Address {ip}: {}", a.describe()),
            (None, _) => format!("Address {ip}: not in the inventory"),
        });
    }
    out
}

pub(super) fn why_it_matters(incident: &Incident, ctx: &Context) -> Vec<String> {
    let mut out = Vec::new();
    for t in &incident.tactics {
        if let Some(t) = attack::tactic(t) {
            out.push(format!("{}: {}", capitalize(t.words), decapitalize(t.why)));
        }
    }
    let mut classes: Vec<(AssetClass, Vec<String>)> = Vec::new();
    for h in &incident.hosts {
        let class = ctx
            .inventory
            .asset_for_host(h)
            .map_or(AssetClass::Unknown, |a| a.class);
        match classes.iter_mut().find(|(c, _)| *c == class) {
            Some((_, hosts)) => hosts.push(h.clone()),
            None => classes.push((class, vec![h.clone()])),
        }
    }
    for (class, hosts) in classes {
        out.push(format!("{} ({})", class.why(), list(&hosts, 5)));
    }
    for u in &incident.users {
        if let Some(p) = ctx.roster.person(u).filter(|p| p.privileged) {
            out.push(format!(
                "{} ({u}) has a privileged account: whatever it may do, whoever uses it may do.",
                p.name
            ));
        }
    }
    if incident
        .timeline
        .iter()
        .any(|s| off_hours(s.first_seen) || off_hours(s.last_seen))
    {
        out.push(
            "It happened outside working hours (20:00–06:00 UTC), when few people are watching."
                .into(),
        );
    }
    out
}

pub(super) fn what_to_do(
    incident: &Incident,
    ctx: &Context,
    addressee: Option<&str>,
) -> Vec<RoleSteps> {
    // The rules' own advice in order; for a rule without, the ATT&CK table's advice for its
    // first technique (else tactic) that no earlier advice covered. Merged into a few steps,
    // most urgent first (see `steps`).
    let mut advice = Vec::new();
    let mut covered: Vec<String> = Vec::new();
    for s in &incident.timeline {
        let rec = match &s.recommendation {
            Some(r) => Some(r.clone()),
            None => {
                let techniques: Vec<String> = s
                    .techniques
                    .iter()
                    .filter(|t| !covered.contains(t))
                    .cloned()
                    .collect();
                let tactics: Vec<String> = s
                    .tactics
                    .iter()
                    .filter(|t| !covered.contains(t))
                    .cloned()
                    .collect();
                if techniques.is_empty() && !s.techniques.is_empty() {
                    None
                } else {
                    attack::recommendation(&techniques, &tactics).map(str::to_string)
                }
            }
        };
        for t in s.techniques.iter().chain(&s.tactics) {
            push_unique(&mut covered, t);
        }
        if let Some(r) = rec {
            advice.push(Advice {
                text: r.trim().to_string(),
                level: level_rank(s.level),
                stage: s
                    .tactics
                    .iter()
                    .map(|t| tactic_rank(t))
                    .min()
                    .unwrap_or(u8::MAX),
            });
        }
    }
    let mut it = merge(advice);
    if it.is_empty() {
        it.push("Review the alerts of this incident and decide whether they were expected.".into());
    }

    let tried = targeted(incident);
    // Accounts the incident created are not people to call: the IT team's steps deal with
    // them.
    let created: Vec<String> = incident
        .timeline
        .iter()
        .filter(|s| s.facts.get("event.code").map(String::as_str) == Some("4720"))
        .filter_map(|s| s.facts.get("TargetUserName"))
        .map(|u| u.to_lowercase())
        .collect();
    let mut helpdesk = Vec::new();
    let stolen = incident.tactics.iter().any(|t| t == "credential-access");
    for u in incident
        .users
        .iter()
        .filter(|u| !tried.contains(u) && !created.contains(&u.to_lowercase()))
    {
        let who = match ctx.roster.person(u) {
            Some(p) => format!("{} ({u})", p.name),
            None => u.clone(),
        };
        helpdesk.push(if stolen {
            format!(
                "Reset the password of {who} and sign them out everywhere: this attack goes after passwords. Then call them to explain why."
            )
        } else {
            format!(
                "Call {who} to confirm they did this; if not, reset their password and sign them out everywhere."
            )
        });
    }
    if !tried.is_empty() {
        helpdesk.push(format!(
            "Expect calls about locked accounts: {} accounts were tried; unlock them for their owners once the source is blocked.",
            tried_count(incident, &tried)
        ));
    }

    let mut manager = Vec::new();
    if let (Some(name), Some(_)) = (
        addressee,
        incident.timeline.first().and_then(|s| s.awareness.as_ref()),
    ) {
        manager.push(format!(
            "Talk with {name} about how this started, without blame; the awareness note below is for them."
        ));
    }
    for u in &incident.users {
        if let Some(p) = ctx.roster.person(u).filter(|p| p.privileged) {
            let boss = p.manager.clone().unwrap_or_else(|| "their manager".into());
            manager.push(format!(
                "Ask {boss} whether what {} ({u}) did was planned (a change ticket); if not, treat it as an attack.",
                p.name
            ));
        }
    }
    let vital: Vec<String> = incident
        .hosts
        .iter()
        .filter(|h| {
            ctx.inventory.asset_for_host(h).is_some_and(|a| {
                a.criticality >= 4
                    || matches!(
                        a.class,
                        AssetClass::Pacs
                            | AssetClass::EprServer
                            | AssetClass::DomainController
                            | AssetClass::MedicalDevice
                    )
            })
        })
        .cloned()
        .collect();
    if !vital.is_empty() && incident.severity >= Severity::High {
        manager.push(format!(
            "Decide with the IT team whether {} may be taken off the network, and warn the departments that depend on {} to prepare their downtime procedures.",
            list(&vital, 5),
            if vital.len() == 1 { "it" } else { "them" }
        ));
    }
    if incident
        .tactics
        .iter()
        .any(|t| t == "impact" || t == "exfiltration")
    {
        manager.push(
            "Inform management and the privacy officer; a significant incident must be reported to the authorities within 24 hours (NIS2 early warning)."
                .into(),
        );
    }
    let helpdesk = cap(helpdesk);
    let manager = cap(manager);
    let mut out = vec![RoleSteps {
        role: Role::ItTeam,
        steps: it,
    }];
    if !helpdesk.is_empty() {
        out.push(RoleSteps {
            role: Role::Helpdesk,
            steps: helpdesk,
        });
    }
    if !manager.is_empty() {
        out.push(RoleSteps {
            role: Role::Manager,
            steps: manager,
        });
    }
    out
}

/// Who the first step's awareness note is for: the step's user, or the roster owner of the
/// mail's recipient; by name when the roster knows them.
pub(super) fn addressee(incident: &Incident, ctx: &Context) -> Option<String> {
    let s = incident.timeline.first()?;
    let user = s.user.clone().or_else(|| {
        let to = s.facts.get("email.to.address")?;
        ctx.roster.person(to).map(|p| p.user.clone())
    })?;
    Some(match ctx.roster.person(&user) {
        Some(p) => format!("{} ({user})", p.name),
        None => user,
    })
}

/// A level as a number, higher more urgent.
fn level_rank(level: Severity) -> u8 {
    Severity::ALL
        .iter()
        .position(|l| *l == level)
        .map_or(0, |p| p as u8)
}
