//! Rule packs: parse Sigma YAML texts, keep every rule that parses, report every one that does not.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use rsigma_parser::{
    CorrelationRule, Detection, FilterRule, Level, Modifier, SigmaRule, SigmaValue, SpecialChar,
    StringPart,
};
use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;

/// One rule file's text and where it came from (a path, or `builtin:<name>` for the embedded pack).
#[derive(Debug, Clone)]
pub struct RuleText {
    pub origin: String,
    pub text: String,
}

/// A rule that could not be loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleProblem {
    /// The file (or `builtin:` name) the rule came from.
    pub origin: String,
    /// The rule's title or id, when it got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub reason: String,
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(r) => write!(f, "{}: rule `{}`: {}", self.origin, r, self.reason),
            None => write!(f, "{}: {}", self.origin, self.reason),
        }
    }
}

/// What a rule is in Sigma's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    Detection,
    Correlation,
}

/// Our own fields in a rule (`wardwatch:` block): what to tell people when it fires.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wardwatch {
    /// What to do, in plain words, for the IT team.
    #[serde(default)]
    pub recommendation: Option<String>,
    /// A note for the user whose action caused the alert, where one did.
    #[serde(default)]
    pub awareness: Option<String>,
    /// Asset classes the rule concerns (workstation, server, domain-controller, ...).
    #[serde(default)]
    pub assets: Vec<String>,
    /// Ids of rules (typically SigmaHQ's) this one replaces: when both are loaded, those are
    /// not compiled, so this rule speaks for the behaviour alone — for instance a rule that
    /// judges a record by its context instead of a context-free rule on the same record (see
    /// [`crate::Detector::build`]). Sigma's own `related:` list stays documentation: SigmaHQ
    /// keeps its related rules side by side, and so do we.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
    /// Ids of rules that say the same thing about the same record (a SigmaHQ rule this one
    /// overlaps): when both match one event, only the higher level is reported (on a tie, this
    /// one), so a person sees one alert per behaviour.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub same_as: Vec<String>,
}

/// What callers need to know about a loaded rule, independent of the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMeta {
    /// The rule's `id` (or, for the rare rule without one, a stable id derived from its title).
    pub id: String,
    pub title: String,
    pub level: Severity,
    pub tags: Vec<String>,
    pub kind: RuleKind,
    pub origin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub wardwatch: Wardwatch,
}

pub(crate) fn severity_of(level: Option<Level>) -> Severity {
    match level {
        Some(Level::Informational) | None => Severity::Informational,
        Some(Level::Low) => Severity::Low,
        Some(Level::Medium) => Severity::Medium,
        Some(Level::High) => Severity::High,
        Some(Level::Critical) => Severity::Critical,
    }
}

fn wardwatch_block(attrs: &HashMap<String, yaml_serde::Value>) -> Result<Wardwatch, String> {
    match attrs.get("wardwatch") {
        None => Ok(Wardwatch::default()),
        Some(v) => serde_json::to_value(v)
            .and_then(serde_json::from_value)
            .map_err(|e| format!("invalid `wardwatch:` block: {e}")),
    }
}

/// A parser message on one line. Condition errors come as a multi-line diagram
/// (`--> 1:18`, the source line, a caret, `= expected ...`); keep the position, the source and
/// what was expected, so `rules check` prints one line per problem.
pub(crate) fn one_line(reason: &str) -> String {
    if !reason.contains('\n') {
        return reason.to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    for (i, line) in reason.lines().enumerate() {
        let t = line.trim();
        if i == 0 {
            let head = t
                .split("  -->")
                .next()
                .unwrap_or(t)
                .trim()
                .trim_end_matches(':');
            parts.push(head.to_string());
        } else if let Some(expected) = t.strip_prefix("= ") {
            parts.push(expected.to_string());
        } else if let Some((num, src)) = t.split_once(" | ")
            && num.trim().parse::<u32>().is_ok()
        {
            parts.push(format!("in `{}`", src.trim()));
        }
    }
    parts.join("; ")
}

/// What [`RulePack::admit`] reads of a detection or correlation rule.
struct Head<'a> {
    id: Option<&'a str>,
    title: &'a str,
    attrs: &'a HashMap<String, yaml_serde::Value>,
}

/// A parsed rule pack: detection rules, correlation rules and filters, each with its metadata,
/// plus every problem met while parsing. Rules are compiled later, by [`crate::Detector::build`].
#[derive(Debug, Default)]
pub struct RulePack {
    pub(crate) rules: Vec<(SigmaRule, Arc<RuleMeta>)>,
    pub(crate) correlations: Vec<(CorrelationRule, Arc<RuleMeta>)>,
    pub(crate) filters: Vec<(FilterRule, String)>,
    problems: Vec<RuleProblem>,
    /// What the pack policies applied did ([`RulePack::apply_policy`]).
    pub(crate) policy_notes: Vec<crate::pack_policy::PolicyNote>,
}

/// A stable id for a rule that has none: FNV-1a of its origin and title.
fn derived_id(origin: &str, title: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in origin.bytes().chain([0]).chain(title.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("noid-{h:016x}")
}

/// Sigma keywords match anywhere in the record's text (their values are implicitly wrapped in
/// wildcards), also when a field-less `'|all':` list says that every one of them must be there
/// (12 SigmaHQ rules, e.g. the Exchange cmdlet-log ones). rsigma compiles such a list's values
/// as exact strings, so those rules never fire; this gives the field-less items without a
/// string modifier of their own the `contains` the specification implies.
fn keywords_match_within(detection: &mut Detection) {
    match detection {
        Detection::AllOf(items) => {
            for item in items {
                let f = &mut item.field;
                let placed = [
                    Modifier::Contains,
                    Modifier::StartsWith,
                    Modifier::EndsWith,
                    Modifier::Re,
                ]
                .into_iter()
                .any(|m| f.has_modifier(m));
                if f.is_keyword() && !placed {
                    f.modifiers.insert(0, Modifier::Contains);
                }
            }
        }
        Detection::AnyOf(dets) => dets.iter_mut().for_each(keywords_match_within),
        _ => {}
    }
}

/// A `startswith` or `endswith` value with a wildcard in it (`NewUacValue|endswith: '1????'`,
/// `CommandLine|endswith: 'password*.txt'`) must match at the start or the end of the field.
/// rsigma 0.23 turns such a value into a regular expression anchored at the wrong end (a
/// `startswith` value is matched at the end and an `endswith` one at the start), so SigmaHQ's
/// rules that use them — weak Kerberos encryption enabled on an account, directory user
/// enumeration, password files opened in Notepad — never fire on the records they describe.
/// Sigma defines `endswith: v` as `*v` and `startswith: v` as `v*`, so this writes those items
/// in that form (the modifier dropped, a `*` added to each value), which rsigma compiles
/// correctly. Values without a wildcard in items without one keep the faster plain matchers.
fn anchored_wildcards_match_at_their_end(detection: &mut Detection) {
    match detection {
        Detection::AllOf(items) => {
            for item in items {
                let f = &mut item.field;
                let starts = f.has_modifier(Modifier::StartsWith);
                let ends = f.has_modifier(Modifier::EndsWith);
                let other = [Modifier::Contains, Modifier::Re]
                    .into_iter()
                    .any(|m| f.has_modifier(m));
                let wildcard = item
                    .values
                    .iter()
                    .any(|v| matches!(v, SigmaValue::String(s) if !s.is_plain()));
                if starts == ends || other || !wildcard {
                    continue;
                }
                let dropped = if starts {
                    Modifier::StartsWith
                } else {
                    Modifier::EndsWith
                };
                f.modifiers.retain(|m| *m != dropped);
                for v in &mut item.values {
                    if let SigmaValue::String(s) = v {
                        let any = StringPart::Special(SpecialChar::WildcardMulti);
                        if starts {
                            s.parts.push(any);
                            s.original.push('*');
                        } else {
                            s.parts.insert(0, any);
                            s.original.insert(0, '*');
                        }
                    }
                }
            }
        }
        Detection::AnyOf(dets) => dets
            .iter_mut()
            .for_each(anchored_wildcards_match_at_their_end),
        _ => {}
    }
}

impl RulePack {
    /// The detection rules `keep` selects, with every correlation and filter, as a pack of
    /// their own (the lineage stage compiles such a part: [`crate::lineage`]).
    pub(crate) fn subset(&self, keep: impl Fn(&SigmaRule, &RuleMeta) -> bool) -> RulePack {
        RulePack {
            rules: self
                .rules
                .iter()
                .filter(|(rule, meta)| keep(rule, meta))
                .cloned()
                .collect(),
            correlations: self.correlations.clone(),
            filters: self.filters.clone(),
            problems: Vec::new(),
            policy_notes: Vec::new(),
        }
    }

    /// Parse every text. Files that fail, and rules inside them that fail, become
    /// [`RuleProblem`]s; everything else is kept. A rule id seen twice keeps its first definition.
    pub fn load(texts: impl IntoIterator<Item = RuleText>) -> RulePack {
        let mut pack = RulePack::default();
        let mut seen: HashMap<String, String> = HashMap::new();
        for RuleText { origin, text } in texts {
            let collection = match rsigma_parser::parse_sigma_yaml(&text) {
                Ok(c) => c,
                Err(e) => {
                    pack.problem(&origin, None, e.to_string());
                    continue;
                }
            };
            for err in &collection.errors {
                pack.problem(&origin, None, err.clone());
            }
            for mut rule in collection.rules {
                let head = Head {
                    id: rule.id.as_deref(),
                    title: &rule.title,
                    attrs: &rule.custom_attributes,
                };
                let Some((id, wardwatch)) = pack.admit(&mut seen, &origin, head) else {
                    continue;
                };
                rule.id = Some(id.clone());
                for detection in rule.detection.named.values_mut() {
                    keywords_match_within(detection);
                    anchored_wildcards_match_at_their_end(detection);
                }
                let meta = RuleMeta {
                    id,
                    title: rule.title.clone(),
                    level: severity_of(rule.level),
                    tags: rule.tags.clone(),
                    kind: RuleKind::Detection,
                    origin: origin.clone(),
                    description: rule.description.clone(),
                    product: rule.logsource.product.clone(),
                    service: rule.logsource.service.clone(),
                    category: rule.logsource.category.clone(),
                    wardwatch,
                };
                pack.rules.push((rule, Arc::new(meta)));
            }
            for mut corr in collection.correlations {
                let head = Head {
                    id: corr.id.as_deref(),
                    title: &corr.title,
                    attrs: &corr.custom_attributes,
                };
                let Some((id, wardwatch)) = pack.admit(&mut seen, &origin, head) else {
                    continue;
                };
                corr.id = Some(id.clone());
                let meta = RuleMeta {
                    id,
                    title: corr.title.clone(),
                    level: severity_of(corr.level),
                    tags: corr.tags.clone(),
                    kind: RuleKind::Correlation,
                    origin: origin.clone(),
                    description: corr.description.clone(),
                    product: None,
                    service: None,
                    category: None,
                    wardwatch,
                };
                pack.correlations.push((corr, Arc::new(meta)));
            }
            for filter in collection.filters {
                pack.filters.push((filter, origin.clone()));
            }
        }
        pack.check_correlation_references();
        pack
    }

    /// The id a rule will have (its own, or one derived from its title) and its `wardwatch:`
    /// block, or `None` after recording why it cannot be kept (a duplicate id, a bad block).
    fn admit(
        &mut self,
        seen: &mut HashMap<String, String>,
        origin: &str,
        head: Head<'_>,
    ) -> Option<(String, Wardwatch)> {
        let id = head
            .id
            .map(str::to_string)
            .unwrap_or_else(|| derived_id(origin, head.title));
        if let Some(first) = seen.get(&id) {
            let reason = format!("duplicate rule id `{id}` (first defined in {first})");
            self.problem(origin, Some(head.title.to_string()), reason);
            return None;
        }
        match wardwatch_block(head.attrs) {
            Ok(w) => {
                seen.insert(id.clone(), origin.to_string());
                Some((id, w))
            }
            Err(reason) => {
                self.problem(origin, Some(head.title.to_string()), reason);
                None
            }
        }
    }

    /// A correlation that names a rule the pack does not have can never fire: say so.
    fn check_correlation_references(&mut self) {
        let known: std::collections::HashSet<String> = self
            .rules
            .iter()
            .flat_map(|(r, m)| [Some(m.id.as_str()), r.name.as_deref()])
            .chain(
                self.correlations
                    .iter()
                    .flat_map(|(c, m)| [Some(m.id.as_str()), c.name.as_deref()]),
            )
            .flatten()
            .map(str::to_string)
            .collect();
        let mut problems = Vec::new();
        self.correlations.retain(|(c, m)| {
            let missing: Vec<&String> = c.rules.iter().filter(|r| !known.contains(*r)).collect();
            if missing.is_empty() {
                return true;
            }
            problems.push(RuleProblem {
                origin: m.origin.clone(),
                rule: Some(m.title.clone()),
                reason: format!(
                    "correlation refers to rule(s) not in the pack: {}",
                    missing
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            false
        });
        self.problems.extend(problems);
    }

    fn problem(&mut self, origin: &str, rule: Option<String>, reason: String) {
        self.problems.push(RuleProblem {
            origin: origin.to_string(),
            rule,
            reason: one_line(&reason),
        });
    }

    /// Problems met while parsing.
    pub fn problems(&self) -> &[RuleProblem] {
        &self.problems
    }

    /// Number of detection rules parsed.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Number of correlation rules parsed.
    pub fn correlation_count(&self) -> usize {
        self.correlations.len()
    }

    /// Metadata of every parsed rule, detection rules first.
    pub fn metas(&self) -> impl Iterator<Item = &RuleMeta> {
        self.rules
            .iter()
            .map(|(_, m)| m.as_ref())
            .chain(self.correlations.iter().map(|(_, m)| m.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(origin: &str, text: &str) -> RuleText {
        RuleText {
            origin: origin.into(),
            text: text.into(),
        }
    }

    const GOOD: &str = r#"
title: Whoami
id: 11111111-1111-4111-8111-111111111111
logsource: {product: windows, category: process_creation}
detection:
    sel: {Image|endswith: '\whoami.exe'}
    condition: sel
level: medium
tags: [attack.discovery, attack.t1033]
wardwatch:
    recommendation: Ask who ran it.
    assets: [workstation]
"#;

    #[test]
    fn loads_good_rules_and_reports_bad_ones_with_origin() {
        let pack = RulePack::load([
            text("a.yml", GOOD),
            text("b.yml", "title: [unclosed"),
            text("c.yml", GOOD),
            text(
                "d.yml",
                "title: x\nlogsource: {}\ndetection: {condition: sel}\nwardwatch: {assets: 3}\n",
            ),
        ]);
        assert_eq!(pack.rule_count(), 1);
        let meta = pack.metas().next().unwrap();
        assert_eq!(meta.level, Severity::Medium);
        assert_eq!(
            meta.wardwatch.recommendation.as_deref(),
            Some("Ask who ran it.")
        );
        assert_eq!(meta.category.as_deref(), Some("process_creation"));
        let origins: Vec<&str> = pack.problems().iter().map(|p| p.origin.as_str()).collect();
        assert!(origins.contains(&"b.yml"), "{:?}", pack.problems());
        assert!(
            pack.problems()
                .iter()
                .any(|p| p.origin == "c.yml" && p.reason.contains("duplicate rule id")),
            "{:?}",
            pack.problems()
        );
    }

    #[test]
    fn multi_line_parser_messages_become_one_line() {
        let msg = "Condition parse error at 1:18:  --> 1:18\n  |\n1 | sel | count() > 10\n  |                  ^---\n  |\n  = expected EOI, or_op, or and_op";
        assert_eq!(
            one_line(msg),
            "Condition parse error at 1:18; in `sel | count() > 10`; expected EOI, or_op, or and_op"
        );
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn correlation_with_unknown_rule_is_a_problem() {
        let corr = r#"
title: Many
id: 22222222-2222-4222-8222-222222222222
correlation:
    type: event_count
    rules: [does-not-exist]
    group-by: [User]
    timespan: 5m
    condition: {gte: 3}
"#;
        let pack = RulePack::load([text("e.yml", corr)]);
        assert_eq!(pack.correlation_count(), 0);
        assert!(pack.problems()[0].reason.contains("`does-not-exist`"));
    }
}
