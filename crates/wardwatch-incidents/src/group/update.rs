//! How an incident changes: a new incident from an alert, an alert applied to one (dedup into
//! steps), two merged, and the derived fields (score, severity, title) refreshed.
//!
//! Why a module of its own: these are the only functions that write an incident's contents,
//! so the invariants (alert ids capped but counted, entities in order of first appearance,
//! one step per rule, host and user, timeline in time order) live in one place.

use jiff::Timestamp;
use wardwatch_core::{Alert, Severity};

use super::links::{Seen, push_ci};
use super::{STEP_FACTS, SYSTEM_ACTOR};
use crate::attack;
use crate::context::Context;
use crate::model::{
    Incident, MAX_ALERT_IDS, MAX_ENTITIES, MAX_PROCESS_GUIDS, MAX_STEPS, Status, Step, push_unique,
};
use crate::score;

/// Fact values longer than this are cut in steps.
const MAX_FACT_LEN: usize = 512;

pub(super) fn describe_alert(alert: &Alert) -> String {
    match alert.host.as_deref() {
        Some(h) => format!("{} on {h}", alert.rule_title),
        None => alert.rule_title.clone(),
    }
}

pub(super) fn new_incident(alert: &Alert, now: Timestamp) -> Incident {
    let privacy = crate::model::is_privacy_alert(alert);
    let prefix = if privacy {
        crate::model::PRIVACY_INCIDENT_PREFIX
    } else {
        "inc-"
    };
    Incident {
        id: format!("{prefix}{}", alert.id),
        privacy,
        organization: alert.organization.clone(),
        title: alert.rule_title.clone(),
        severity: alert.level,
        score: 0.0,
        score_parts: Vec::new(),
        status: Status::New,
        resolution: None,
        assignee: None,
        comments: Vec::new(),
        history: Vec::new(),
        opened: now,
        first_seen: alert.timestamp,
        last_seen: alert.timestamp,
        closed: false,
        merged_into: None,
        alert_count: 0,
        alert_ids: Vec::new(),
        hosts: Vec::new(),
        users: Vec::new(),
        ips: Vec::new(),
        tactics: Vec::new(),
        techniques: Vec::new(),
        timeline: Vec::new(),
        process_guids: Vec::new(),
        emails: Vec::new(),
    }
}

/// Add `alert` to `inc`; returns whether anything but counters changed (a new step or entity).
pub(super) fn apply(inc: &mut Incident, alert: &Alert, seen: &Seen, ctx: &Context) -> bool {
    let mut grew = false;
    inc.alert_count += 1;
    if inc.alert_ids.len() < MAX_ALERT_IDS {
        inc.alert_ids.push(alert.id.clone());
    }
    inc.first_seen = inc.first_seen.min(alert.timestamp);
    inc.last_seen = inc.last_seen.max(alert.timestamp);
    // The source of a logon got involved before the host it reached.
    for h in seen.source_hosts.iter().chain(&seen.hosts) {
        grew |= inc.hosts.len() < MAX_ENTITIES && push_ci(&mut inc.hosts, h);
    }
    for u in &seen.users {
        grew |= inc.users.len() < MAX_ENTITIES && push_unique(&mut inc.users, u);
    }
    for r in &seen.recipients {
        grew |= push_unique(&mut inc.emails, r);
        if let Some(p) = ctx.roster.person(r) {
            grew |= inc.users.len() < MAX_ENTITIES && push_unique(&mut inc.users, &p.user);
        }
    }
    for ip in &seen.ips {
        grew |= inc.ips.len() < MAX_ENTITIES && push_unique(&mut inc.ips, ip);
    }
    for g in &seen.guids {
        if inc.process_guids.len() < MAX_PROCESS_GUIDS {
            push_unique(&mut inc.process_guids, g);
        }
    }
    let tactics: Vec<String> = attack::tactics_of(&alert.tags)
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    let techniques = alert.techniques();
    for t in &tactics {
        grew |= push_unique(&mut inc.tactics, t);
    }
    for t in &techniques {
        push_unique(&mut inc.techniques, t);
    }

    let host = seen.hosts.first().cloned();
    let user = seen.users.first().cloned().or_else(|| {
        seen.recipients
            .first()
            .and_then(|r| ctx.roster.person(r))
            .map(|p| p.user.clone())
    });
    let same = |s: &Step| {
        s.rule_id == alert.rule_id && eq_ci(s.host.as_deref(), host.as_deref()) && s.user == user
    };
    let full = inc.timeline.len() >= MAX_STEPS;
    let existing = inc.timeline.iter().position(same).or_else(|| {
        let same_place =
            |s: &Step| s.rule_id == alert.rule_id && eq_ci(s.host.as_deref(), host.as_deref());
        full.then(|| inc.timeline.iter().position(same_place))
            .flatten()
    });
    // The level this alert stands at here (account administration by a non-admin or on a
    // workstation is raised; see `context::level`).
    let (level, raised) = crate::context::contextual_level(alert, host.as_deref(), ctx);
    if let Some(step) = existing.map(|i| &mut inc.timeline[i]) {
        step.count += 1;
        step.first_seen = step.first_seen.min(alert.timestamp);
        step.last_seen = step.last_seen.max(alert.timestamp);
        step.level = step.level.max(level);
        if let Some(why) = raised {
            step.facts.entry("level.reason".into()).or_insert(why);
        }
    } else {
        grew = true;
        let mut facts: std::collections::BTreeMap<String, String> = STEP_FACTS
            .iter()
            .filter_map(|k| alert.facts.get(*k).map(|v| (k.to_string(), cut(v))))
            .collect();
        // A local account added to a group is named only by its SID; when the incident saw
        // the account created (4720 names both), name it.
        if facts.get("MemberName").is_none_or(|m| m == "-")
            && let Some(sid) = facts.get("MemberSid").cloned()
            && let Some(name) = inc.timeline.iter().find_map(|s| {
                (s.facts.get("TargetSid") == Some(&sid))
                    .then(|| s.facts.get("TargetUserName").cloned())
                    .flatten()
            })
        {
            facts.insert("MemberName".into(), name);
        }
        if let Some(why) = raised {
            facts.insert("level.reason".into(), why);
        }
        inc.timeline.push(Step {
            first_seen: alert.timestamp,
            last_seen: alert.timestamp,
            count: 1,
            rule_id: alert.rule_id.clone(),
            rule_title: alert.rule_title.clone(),
            level,
            host,
            user,
            facts,
            tactics,
            techniques,
            recommendation: alert.recommendation.clone(),
            awareness: alert.awareness.clone(),
        });
        // Stable: steps of the same second keep arrival order.
        inc.timeline.sort_by_key(|s| s.first_seen);
    }
    grew
}

pub(super) fn eq_ci(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        (None, None) => true,
        _ => false,
    }
}

pub(super) fn cut(v: &str) -> String {
    if v.len() <= MAX_FACT_LEN {
        return v.to_string();
    }
    let mut end = MAX_FACT_LEN;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &v[..end])
}

/// Move everything of `gone` into `into`; `gone` is closed and points at `into`.
pub(super) fn merge(into: &mut Incident, gone: &mut Incident, why: &str, now: Timestamp) {
    into.alert_count += gone.alert_count;
    for a in &gone.alert_ids {
        if into.alert_ids.len() >= MAX_ALERT_IDS {
            break;
        }
        into.alert_ids.push(a.clone());
    }
    into.first_seen = into.first_seen.min(gone.first_seen);
    into.last_seen = into.last_seen.max(gone.last_seen);
    for h in &gone.hosts {
        if into.hosts.len() < MAX_ENTITIES {
            push_ci(&mut into.hosts, h);
        }
    }
    for (to, from) in [
        (&mut into.users, &gone.users),
        (&mut into.ips, &gone.ips),
        (&mut into.tactics, &gone.tactics),
        (&mut into.techniques, &gone.techniques),
        (&mut into.emails, &gone.emails),
    ] {
        for v in from {
            if to.len() < MAX_ENTITIES {
                push_unique(to, v);
            }
        }
    }
    for g in &gone.process_guids {
        if into.process_guids.len() < MAX_PROCESS_GUIDS {
            push_unique(&mut into.process_guids, g);
        }
    }
    for step in &gone.timeline {
        let same = into.timeline.iter_mut().find(|s| {
            s.rule_id == step.rule_id
                && eq_ci(s.host.as_deref(), step.host.as_deref())
                && s.user == step.user
        });
        match same {
            Some(s) => {
                s.count += step.count;
                s.first_seen = s.first_seen.min(step.first_seen);
                s.last_seen = s.last_seen.max(step.last_seen);
                s.level = s.level.max(step.level);
            }
            None => into.timeline.push(step.clone()),
        }
    }
    into.timeline.sort_by_key(|s| s.first_seen);
    into.log(
        now,
        SYSTEM_ACTOR,
        "merged",
        format!(
            "took in {} ({} alerts, {}), linked by {why}",
            gone.id, gone.alert_count, gone.status
        ),
    );
    gone.closed = true;
    gone.merged_into = Some(into.id.clone());
    gone.log(
        now,
        SYSTEM_ACTOR,
        "merged-into",
        format!("merged into {}, linked by {why}", into.id),
    );
}

/// Recompute score, severity and title from the contents.
pub(super) fn refresh(inc: &mut Incident, ctx: &Context) {
    let (s, parts) = score::score(inc, ctx);
    inc.score = s;
    inc.score_parts = parts;
    let highest = inc
        .timeline
        .iter()
        .map(|s| s.level)
        .max()
        .unwrap_or(Severity::Informational);
    inc.severity = score::severity(highest, s);
    inc.title = crate::narrative::short_title(inc, ctx);
}
