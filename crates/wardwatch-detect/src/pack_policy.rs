//! A community pack's level policy: which of its rules are left out and which are lowered, and why.
//!
//! Community packs (Hayabusa's own rules) are written for another tool's purpose: Hayabusa builds a
//! forensic timeline, so it has a rule for every logon and process start, and it rates routine
//! administration (a member added to the local Administrators group) high. Loaded as they are,
//! they bury the alerts that mean something and restate what our own rules already say about the
//! same record. A policy is the reviewed answer, shipped with the project and applied where the
//! pack is loaded: each entry names one rule id, what is done to it (left out, or set to a lower
//! level) and why. Nothing is decided per sample: the policy is data about rules.
//!
//! Applying it never fails the load: an entry whose rule is not in the pack (the pack moved on) or
//! whose title differs is reported, so the list is reviewed again, and the pack still loads.

use std::collections::HashMap;
use std::sync::Arc;

use rsigma_parser::Level;
use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;

use crate::pack::RulePack;

/// What the policy does to one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyAction {
    /// Not loaded: another rule speaks for the behaviour, or it is not a detection.
    LeaveOut,
    /// Loaded at this level instead of its own.
    Level(Severity),
}

/// One reviewed entry: a rule id, what is done to it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEntry {
    pub id: String,
    /// The rule's title as reviewed (checked against the pack's, so a renamed rule is noticed).
    pub title: String,
    pub action: PolicyAction,
    pub why: String,
}

/// A parsed policy for one pack.
#[derive(Debug, Clone, Default)]
pub struct PackPolicy {
    /// The pack's name (`hayabusa`).
    pub pack: String,
    entries: Vec<PolicyEntry>,
}

/// What applying a policy did, one line per rule, for `rules check` and the hunt's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyNote {
    /// The pack the policy belongs to.
    pub pack: String,
    pub id: String,
    pub title: String,
    /// `left-out`, `lowered` (with `from` and `to`), `not-in-pack` (an entry no loaded rule of the
    /// pack has) or `title-differs` (the id is there under another title; the entry still applies).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Severity>,
    pub why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    pack: String,
    #[serde(default)]
    reasons: HashMap<String, String>,
    rules: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    title: String,
    set: String,
    why: String,
}

impl PackPolicy {
    /// Parse a policy's YAML. `origin` names the text in errors. A `why` that is a key of the
    /// top-level `reasons:` map stands for that reason's text.
    pub fn parse(origin: &str, text: &str) -> Result<PackPolicy, String> {
        let raw: RawPolicy =
            yaml_serde::from_str(text).map_err(|e| format!("{origin}: not a pack policy: {e}"))?;
        let mut seen = HashMap::new();
        let mut entries = Vec::with_capacity(raw.rules.len());
        for (n, e) in raw.rules.into_iter().enumerate() {
            let place = format!("{origin}: rules[{n}] (`{}`)", e.id);
            if let Some(first) = seen.insert(e.id.clone(), n) {
                return Err(format!(
                    "{place}: the id is already listed at rules[{first}]"
                ));
            }
            let action = match e.set.as_str() {
                "leave-out" => PolicyAction::LeaveOut,
                other => PolicyAction::Level(other.parse().map_err(|_| {
                    format!("{place}: `set: {other}` is neither `leave-out` nor a level")
                })?),
            };
            let why = raw.reasons.get(&e.why).cloned().unwrap_or(e.why);
            if why.trim().is_empty() {
                return Err(format!("{place}: no `why`"));
            }
            entries.push(PolicyEntry {
                id: e.id,
                title: e.title,
                action,
                why,
            });
        }
        Ok(PackPolicy {
            pack: raw.pack,
            entries,
        })
    }

    /// The reviewed entries, in the policy's order.
    pub fn entries(&self) -> &[PolicyEntry] {
        &self.entries
    }
}

fn level_of(s: Severity) -> Level {
    match s {
        Severity::Informational => Level::Informational,
        Severity::Low => Level::Low,
        Severity::Medium => Level::Medium,
        Severity::High => Level::High,
        Severity::Critical => Level::Critical,
    }
}

impl RulePack {
    /// Apply `policy` to the rules whose origin `in_pack` says came from the pack: leave out and
    /// lower as it says, and record a [`PolicyNote`] for each rule it touched and each entry
    /// that found no rule of the pack. Rules of other origins with the same id are not touched.
    pub fn apply_policy(&mut self, policy: &PackPolicy, in_pack: impl Fn(&str) -> bool) {
        let by_id: HashMap<&str, &PolicyEntry> =
            policy.entries.iter().map(|e| (e.id.as_str(), e)).collect();
        let mut found: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut notes = Vec::new();
        let mut judge = |meta: &Arc<crate::RuleMeta>| -> Option<PolicyAction> {
            if !in_pack(&meta.origin) {
                return None;
            }
            let entry = by_id.get(meta.id.as_str())?;
            found.insert(meta.id.clone());
            if entry.title.trim() != meta.title.trim() {
                notes.push(note(
                    policy,
                    entry,
                    "title-differs",
                    None,
                    None,
                    &meta.title,
                ));
            }
            match entry.action {
                PolicyAction::LeaveOut => {
                    notes.push(note(policy, entry, "left-out", None, None, &meta.title));
                }
                PolicyAction::Level(to) => {
                    notes.push(note(
                        policy,
                        entry,
                        "lowered",
                        Some(meta.level),
                        Some(to),
                        &meta.title,
                    ));
                }
            }
            Some(entry.action)
        };
        let mut kept = Vec::with_capacity(self.rules.len());
        for (mut rule, meta) in std::mem::take(&mut self.rules) {
            match judge(&meta) {
                Some(PolicyAction::LeaveOut) => continue,
                Some(PolicyAction::Level(to)) => {
                    rule.level = Some(level_of(to));
                    let mut m = (*meta).clone();
                    m.level = to;
                    kept.push((rule, Arc::new(m)));
                }
                None => kept.push((rule, meta)),
            }
        }
        self.rules = kept;
        let mut kept = Vec::with_capacity(self.correlations.len());
        for (mut corr, meta) in std::mem::take(&mut self.correlations) {
            match judge(&meta) {
                Some(PolicyAction::LeaveOut) => continue,
                Some(PolicyAction::Level(to)) => {
                    corr.level = Some(level_of(to));
                    let mut m = (*meta).clone();
                    m.level = to;
                    kept.push((corr, Arc::new(m)));
                }
                None => kept.push((corr, meta)),
            }
        }
        self.correlations = kept;
        for e in &policy.entries {
            if !found.contains(&e.id) {
                notes.push(note(policy, e, "not-in-pack", None, None, &e.title));
            }
        }
        self.policy_notes.extend(notes);
    }

    /// What the pack policies applied so far did (see [`RulePack::apply_policy`]).
    pub fn policy_notes(&self) -> &[PolicyNote] {
        &self.policy_notes
    }
}

fn note(
    policy: &PackPolicy,
    entry: &PolicyEntry,
    outcome: &'static str,
    from: Option<Severity>,
    to: Option<Severity>,
    title: &str,
) -> PolicyNote {
    let why = if outcome == "title-differs" {
        format!(
            "the policy reviewed it as `{}`; check that the entry still fits",
            entry.title
        )
    } else {
        entry.why.clone()
    };
    PolicyNote {
        pack: policy.pack.clone(),
        id: entry.id.clone(),
        title: title.to_string(),
        outcome,
        from,
        to,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Detector, RuleText};

    fn rule(id: &str, title: &str, level: &str, image: &str) -> String {
        format!(
            "title: {title}\nid: {id}\nlogsource: {{product: windows, category: process_creation}}\n\
             detection:\n    sel: {{Image|endswith: '\\{image}'}}\n    condition: sel\nlevel: {level}\n\
             tags: [attack.execution]\n"
        )
    }

    const POLICY: &str = r#"
pack: demo
reasons:
  timeline: one alert for every event of this type.
rules:
  - {id: 11111111-0000-4000-8000-000000000001, title: Whoami Run, set: low, why: routine}
  - {id: 11111111-0000-4000-8000-000000000002, title: Every Process, set: leave-out, why: timeline}
  - {id: 11111111-0000-4000-8000-000000000009, title: Gone, set: leave-out, why: duplicate}
"#;

    fn pack(origin: &str) -> RulePack {
        RulePack::load([
            RuleText {
                origin: format!("{origin}/a.yml"),
                text: rule(
                    "11111111-0000-4000-8000-000000000001",
                    "Whoami Run",
                    "high",
                    "whoami.exe",
                ),
            },
            RuleText {
                origin: format!("{origin}/b.yml"),
                text: rule(
                    "11111111-0000-4000-8000-000000000002",
                    "Every Process",
                    "informational",
                    ".exe",
                ),
            },
            RuleText {
                origin: format!("{origin}/c.yml"),
                text: rule(
                    "11111111-0000-4000-8000-000000000003",
                    "Net Run",
                    "medium",
                    "net.exe",
                ),
            },
        ])
    }

    #[test]
    fn lowers_leaves_out_and_reports_what_it_did() {
        let policy = PackPolicy::parse("demo.yml", POLICY).unwrap();
        let mut p = pack("/packs/demo");
        p.apply_policy(&policy, |o| o.starts_with("/packs/demo/"));
        let levels: HashMap<&str, Severity> =
            p.metas().map(|m| (m.title.as_str(), m.level)).collect();
        assert_eq!(levels.get("Whoami Run"), Some(&Severity::Low));
        assert_eq!(levels.get("Net Run"), Some(&Severity::Medium));
        assert!(!levels.contains_key("Every Process"), "{levels:?}");
        let outcomes: Vec<(&str, &str)> = p
            .policy_notes()
            .iter()
            .map(|n| (n.title.as_str(), n.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("Whoami Run", "lowered"),
                ("Every Process", "left-out"),
                ("Gone", "not-in-pack")
            ]
        );
        let lowered = &p.policy_notes()[0];
        assert_eq!(
            (lowered.from, lowered.to),
            (Some(Severity::High), Some(Severity::Low))
        );
        assert_eq!(
            p.policy_notes()[1].why,
            "one alert for every event of this type."
        );
        // The lowered rule still compiles and is what the detector reports.
        let (det, problems) = Detector::build(&p);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(det.rule_count(), 2);
    }

    #[test]
    fn rules_from_elsewhere_with_the_same_id_are_not_touched() {
        let policy = PackPolicy::parse("demo.yml", POLICY).unwrap();
        let mut p = pack("/work/rules");
        p.apply_policy(&policy, |o| o.starts_with("/packs/demo/"));
        assert_eq!(p.rule_count(), 3);
        assert!(
            p.policy_notes().iter().all(|n| n.outcome == "not-in-pack"),
            "{:?}",
            p.policy_notes()
        );
    }

    #[test]
    fn a_renamed_rule_is_noticed_and_the_entry_still_applies() {
        let policy = PackPolicy::parse(
            "demo.yml",
            "pack: demo\nrules:\n  - {id: 11111111-0000-4000-8000-000000000003, title: Old Name, set: leave-out, why: duplicate of ours}\n",
        )
        .unwrap();
        let mut p = pack("/packs/demo");
        p.apply_policy(&policy, |_| true);
        assert_eq!(p.rule_count(), 2);
        let outcomes: Vec<&str> = p.policy_notes().iter().map(|n| n.outcome).collect();
        assert_eq!(outcomes, ["title-differs", "left-out"]);
        assert!(p.policy_notes()[0].why.contains("`Old Name`"));
    }

    #[test]
    fn bad_policies_name_the_entry() {
        let dup = "pack: d\nrules:\n  - {id: x, title: X, set: low, why: w}\n  - {id: x, title: X, set: low, why: w}\n";
        let err = PackPolicy::parse("p.yml", dup).unwrap_err();
        assert!(
            err.contains("p.yml: rules[1] (`x`)") && err.contains("rules[0]"),
            "{err}"
        );
        let bad = "pack: d\nrules:\n  - {id: y, title: Y, set: quieter, why: w}\n";
        let err = PackPolicy::parse("p.yml", bad).unwrap_err();
        assert!(
            err.contains("rules[0] (`y`)") && err.contains("quieter"),
            "{err}"
        );
        let unknown = "pack: d\nrules:\n  - {id: y, title: Y, set: low, why: w, level: high}\n";
        assert!(PackPolicy::parse("p.yml", unknown).is_err());
        let empty = "pack: d\nrules:\n  - {id: y, title: Y, set: low, why: ' '}\n";
        assert!(
            PackPolicy::parse("p.yml", empty)
                .unwrap_err()
                .contains("no `why`")
        );
    }
}
