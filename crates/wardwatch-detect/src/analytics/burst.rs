//! A burst of different suspicious signals on one host or one account: at least three different
//! low-level rules or analytics, on at least three different events, of at least two different
//! kinds of activity, within ten minutes, raised as one medium alert.
//!
//! A signal's kind is its first ATT&CK tactic, except that account administration (accounts
//! created, changed or put in groups, domain policy edited: T1098, T1136, T1484, T1531, T1201)
//! is one kind whatever its tags say: an administrator onboarding people lights persistence,
//! privilege-escalation and defense-evasion rules at once, and that is one piece of work, not
//! an intrusion moving through its steps. One rule tagged with two tactics counts once.
//!
//! Why: most single signals are weak (a first-seen process pair, a network logon, a task
//! created, a discovery command), and a pack that alerted on each would bury the people
//! reading it. An intrusion is many steps close together: discovery, then credentials, then
//! execution elsewhere. Several kinds of weak signal on one host or account within minutes is
//! worth a person's look even when no single rule is.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use wardwatch_core::{Event, Severity};

use super::{Hit, hit, meta};
use crate::engine::Detection;

const WINDOW: i64 = 10 * 60;
/// Different rules needed within the window.
const MIN_RULES: usize = 3;
/// Different kinds of activity among them.
const MIN_KINDS: usize = 2;
/// Different events carrying them: one administrative action (an account created and put in a
/// group) lights several rules on one or two records, an intrusion spreads over more.
const MIN_EVENTS: usize = 3;
/// Keys (hosts and accounts) remembered.
const MAX_KEYS: usize = 50_000;

const TACTICS: &[&str] = &[
    "reconnaissance",
    "resource_development",
    "initial_access",
    "execution",
    "persistence",
    "privilege_escalation",
    "defense_evasion",
    "credential_access",
    "discovery",
    "lateral_movement",
    "collection",
    "command_and_control",
    "exfiltration",
    "impact",
];

pub(super) fn rule() -> std::sync::Arc<crate::RuleMeta> {
    meta(
        "analytic-signal-burst",
        "Several Different Suspicious Signals Within Minutes",
        Severity::Medium,
        // No tactic of its own: the incident takes the tactics of the signals it groups.
        &[],
        "Within ten minutes, one host or one account raised at least three different low-level signals (rules or analytics) of at least two kinds of activity (ATT&CK tactics; account administration counts as one kind). Each alone is weak; together they are the shape of an intrusion moving through its steps.",
        "Read the signals of this host or account in order (the incident lists them). If they are not explained by one piece of planned work, treat the host as compromised: isolate it and check the account's other activity.",
    )
}

/// The ATT&CK tactics of a detection's tags (`attack.credential_access`, `attack.credential-access`).
fn tactics(d: &Detection) -> impl Iterator<Item = String> + '_ {
    d.rule.tags.iter().filter_map(|t| {
        let t = t.strip_prefix("attack.")?.replace('-', "_");
        TACTICS.contains(&t.as_str()).then_some(t)
    })
}

/// Techniques of account administration: account manipulation, account creation, domain
/// policy modification, account access removal, password policy discovery.
const ADMINISTRATION: &[&str] = &["t1098", "t1136", "t1484", "t1531", "t1201"];

/// The kind of activity a signal stands for (see the module doc).
fn kind(d: &Detection) -> Option<String> {
    let administration = d.rule.tags.iter().any(|t| {
        t.strip_prefix("attack.").is_some_and(|t| {
            ADMINISTRATION.iter().any(|a| {
                t.eq_ignore_ascii_case(a) || t.to_ascii_lowercase().starts_with(&format!("{a}."))
            })
        })
    });
    if administration {
        return Some("account administration".into());
    }
    let own: Vec<String> = tactics(d).collect();
    TACTICS
        .iter()
        .find(|t| own.iter().any(|o| o == *t))
        .map(|t| t.to_string())
}

/// A weak signal: a low-level rule or analytic with an ATT&CK tactic (informational ones, such
/// as logoffs, are context, not signals).
fn weak(d: &Detection) -> bool {
    d.rule.level == Severity::Low && tactics(d).next().is_some()
}

pub(super) fn wants(detections: &[Detection]) -> bool {
    detections.iter().any(weak)
}

#[derive(Default, Clone, Serialize, Deserialize)]
struct Recent {
    /// (time, rule id, kind of activity, event) of weak signals within the window.
    signals: Vec<(i64, String, Vec<String>, String)>,
    alerted: i64,
}

#[derive(Default, Serialize, Deserialize)]
pub(super) struct Burst {
    keys: HashMap<String, Recent>,
}

impl Burst {
    pub(super) fn observe(&mut self, event: &Event, detections: &[&Detection]) -> Vec<Hit> {
        let weak: Vec<&&Detection> = detections.iter().filter(|d| weak(d)).collect();
        if weak.is_empty() {
            return Vec::new();
        }
        let t = event.timestamp.as_second();
        if self.keys.len() > MAX_KEYS {
            self.keys
                .retain(|_, r| r.signals.iter().any(|(s, ..)| t - s <= WINDOW));
        }
        let mut keys = Vec::new();
        if let Some(h) = &event.ecs.host_name {
            keys.push(format!("host:{}", h.to_ascii_lowercase()));
        }
        if let Some(u) = &event.ecs.user_name {
            let u = u.to_ascii_lowercase();
            // Machine and well-known service identities act on every host: not one account.
            if !u.ends_with('$')
                && !matches!(
                    u.as_str(),
                    "system" | "local service" | "network service" | "-"
                )
            {
                keys.push(format!("user:{u}"));
            }
        }
        let record = format!(
            "{}#{}#{}",
            event.origin.source,
            event.origin.record_id.unwrap_or_default(),
            event.timestamp.as_nanosecond()
        );
        let mut fired = false;
        for key in keys {
            let r = self.keys.entry(key).or_default();
            r.signals.retain(|(s, ..)| t - s <= WINDOW);
            for d in &weak {
                r.signals.push((
                    t,
                    d.rule.id.clone(),
                    kind(d).into_iter().collect(),
                    record.clone(),
                ));
            }
            let rules: BTreeSet<&str> = r.signals.iter().map(|(_, id, ..)| id.as_str()).collect();
            let events: BTreeSet<&str> = r.signals.iter().map(|(.., e)| e.as_str()).collect();
            let kinds: BTreeSet<&str> = r
                .signals
                .iter()
                .flat_map(|(_, _, ts, _)| ts.iter().map(String::as_str))
                .collect();
            if rules.len() >= MIN_RULES
                && events.len() >= MIN_EVENTS
                && kinds.len() >= MIN_KINDS
                && t - r.alerted > WINDOW
            {
                r.alerted = t;
                fired = true;
            }
        }
        if fired {
            vec![hit(&rule(), event)]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::analytics::testkit::ev;
    use crate::pack::{RuleKind, RuleMeta};

    fn sig(id: &str, tag: &str, level: Severity) -> Detection {
        tagged(id, &[tag], level)
    }

    fn tagged(id: &str, tags: &[&str], level: Severity) -> Detection {
        Detection {
            rule: Arc::new(RuleMeta {
                id: id.into(),
                title: id.into(),
                level,
                tags: tags.iter().map(|t| format!("attack.{t}")).collect(),
                kind: RuleKind::Detection,
                origin: "t".into(),
                description: None,
                product: None,
                service: None,
                category: None,
                wardwatch: Default::default(),
            }),
            correlation: None,
            entities: Vec::new(),
            finding: None,
        }
    }

    fn at(t: i64, host: &str) -> Event {
        ev(
            t,
            json!({"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Hostname": host}),
        )
    }

    #[test]
    fn three_kinds_over_two_tactics_in_minutes_fire_once() {
        let mut b = Burst::default();
        let (d1, d2, d3) = (
            sig("a", "discovery", Severity::Low),
            sig("b", "credential-access", Severity::Low),
            sig("c", "execution", Severity::Low),
        );
        // Variant 1: discovery, credentials, execution on one host over six minutes.
        assert!(b.observe(&at(0, "WS1"), &[&d1]).is_empty());
        assert!(b.observe(&at(120, "WS1"), &[&d2]).is_empty());
        assert_eq!(b.observe(&at(360, "WS1"), &[&d3]).len(), 1);
        assert!(
            b.observe(&at(400, "WS1"), &[&d3]).is_empty(),
            "once per window"
        );
        // Variant 2: execution first, two signals on one event, then discovery, on another
        // host, with an informational signal that does not count.
        let info = sig("i", "persistence", Severity::Informational);
        assert!(b.observe(&at(1000, "WS2"), &[&d3, &info]).is_empty());
        assert!(b.observe(&at(1010, "WS2"), &[&d2, &d1]).is_empty());
        assert_eq!(b.observe(&at(1300, "WS2"), &[&d1]).len(), 1);
    }

    #[test]
    fn one_administrative_action_lighting_several_rules_is_quiet() {
        let mut b = Burst::default();
        let (a, c, g) = (
            sig("user-created", "persistence", Severity::Low),
            sig("local-user-created", "persistence", Severity::Low),
            sig("group-member-added", "privilege-escalation", Severity::Low),
        );
        // The account created (two rules on one record), then put in a group.
        assert!(b.observe(&at(0, "DC01"), &[&a, &c]).is_empty());
        assert!(b.observe(&at(5, "DC01"), &[&g]).is_empty());
    }

    #[test]
    fn account_administration_over_many_records_is_one_kind_and_quiet() {
        let mut b = Burst::default();
        // An administrator onboarding a colleague: the account created, enabled, changed,
        // put in two groups, the password policy edited — persistence, privilege-escalation
        // and defense-evasion tags, all account administration.
        let created = tagged("created", &["persistence", "t1136.001"], Severity::Low);
        let changed = tagged(
            "changed",
            &["persistence", "privilege-escalation", "t1098"],
            Severity::Low,
        );
        let group = tagged(
            "group",
            &["privilege_escalation", "persistence", "t1098"],
            Severity::Low,
        );
        let policy = tagged(
            "policy",
            &["defense-evasion", "privilege-escalation", "t1484"],
            Severity::Low,
        );
        assert!(b.observe(&at(0, "DC01"), &[&created]).is_empty());
        assert!(b.observe(&at(1, "DC01"), &[&changed]).is_empty());
        assert!(b.observe(&at(2, "DC01"), &[&group]).is_empty());
        assert!(b.observe(&at(30, "DC01"), &[&policy]).is_empty());
        // One rule with two tactics is one kind: three events of it and a sibling of the
        // same first tactic stay quiet.
        let two = tagged("two", &["execution", "defense-evasion"], Severity::Low);
        let exec = sig("exec", "execution", Severity::Low);
        assert!(b.observe(&at(0, "WS9"), &[&two]).is_empty());
        assert!(b.observe(&at(10, "WS9"), &[&exec]).is_empty());
        assert!(b.observe(&at(20, "WS9"), &[&two]).is_empty());
        // The same administration followed by credential access on the host is two kinds.
        let cred = sig("cred", "credential-access", Severity::Low);
        assert_eq!(b.observe(&at(60, "DC01"), &[&cred]).len(), 1);
    }

    #[test]
    fn one_tactic_spread_signals_or_medium_rules_are_quiet() {
        let mut b = Burst::default();
        let (d1, d2, d3) = (
            sig("a", "discovery", Severity::Low),
            sig("b", "discovery", Severity::Low),
            sig("c", "discovery", Severity::Low),
        );
        assert!(
            b.observe(&at(0, "WS1"), &[&d1, &d2, &d3]).is_empty(),
            "one tactic"
        );
        let (e1, e2) = (
            sig("x", "execution", Severity::Low),
            sig("y", "persistence", Severity::Low),
        );
        assert!(b.observe(&at(0, "WS3"), &[&e1]).is_empty());
        assert!(b.observe(&at(700, "WS3"), &[&e2]).is_empty());
        assert!(
            b.observe(&at(1400, "WS3"), &[&d1]).is_empty(),
            "spread over more than the window"
        );
        let m = sig("m", "impact", Severity::Medium);
        assert!(
            b.observe(&at(0, "WS4"), &[&m, &e1, &d1]).is_empty(),
            "a medium rule is not a weak signal"
        );
    }
}
