//! The Windows Event IDs a rule can match, read from its detection.
//!
//! Why: a rule that reads several logs (the built-in pack's multi-source rules, e.g. Sysmon 1,
//! Security 4688 and PowerShell 4104/4103/800 in one rule) names no Sigma category, so its
//! logsource is `product: windows` alone, which every Windows record satisfies. Evaluating
//! such a rule on each record of a Security log only to find that its `EventID` item fails
//! made `hunt` with the pack markedly slower. Its condition already says which Event IDs it
//! needs: the detector groups these rules by that set and evaluates them only on records with
//! one of those IDs, which keeps one rule per behaviour readable and costs nothing per record.
//!
//! The set is a conservative reading (a superset of what can match): an `EventID` item with
//! plain numbers or digit strings restricts its selection; `and` keeps the restriction of any
//! restricted side (the intersection when several are), `or` (and `1 of`, `N of`) the union
//! only when every side is restricted; `not`, keywords, modifiers, wildcards, array blocks and
//! unknown names restrict nothing. A rule whose condition restricts nothing is evaluated on
//! every record, as before.

use std::collections::{BTreeSet, HashMap};

use rsigma_parser::{ConditionExpr, Detection, Quantifier, SelectorPattern, SigmaRule, SigmaValue};

/// The Event IDs `rule` can match, or `None` when its detection does not restrict them.
pub(super) fn of_rule(rule: &SigmaRule) -> Option<BTreeSet<u64>> {
    let named = &rule.detection.named;
    // Several conditions are alternatives.
    union(
        rule.detection
            .conditions
            .iter()
            .map(|c| of_condition(c, named)),
    )
}

fn of_condition(c: &ConditionExpr, named: &HashMap<String, Detection>) -> Option<BTreeSet<u64>> {
    match c {
        ConditionExpr::And(args) => intersection(args.iter().map(|a| of_condition(a, named))),
        ConditionExpr::Or(args) => union(args.iter().map(|a| of_condition(a, named))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Identifier(name) => named.get(name).and_then(of_detection),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            // Where the reading is unsure which names a pattern selects, `1 of` takes them in
            // (a wider union) and `all of` leaves them out (fewer restrictions).
            let any = !matches!(quantifier, Quantifier::All);
            let sets = named
                .iter()
                .filter(|(name, _)| selects(pattern, name).unwrap_or(any))
                .map(|(_, d)| of_detection(d));
            if any { union(sets) } else { intersection(sets) }
        }
    }
}

/// Whether `pattern` selects `name`, or `None` when this reading cannot tell.
fn selects(pattern: &SelectorPattern, name: &str) -> Option<bool> {
    match pattern {
        // Sigma leaves names starting with `_` out of `them`; an engine may not.
        SelectorPattern::Them if name.starts_with('_') => None,
        SelectorPattern::Them => Some(true),
        SelectorPattern::Pattern(p) => match p.strip_suffix('*') {
            Some(prefix) if !prefix.contains(['*', '?']) => Some(name.starts_with(prefix)),
            _ if !p.contains(['*', '?']) => Some(name == p),
            _ => None,
        },
    }
}

fn of_detection(d: &Detection) -> Option<BTreeSet<u64>> {
    match d {
        Detection::AllOf(items) => intersection(items.iter().map(|item| {
            let name = item.field.name.as_deref()?;
            if !name.eq_ignore_ascii_case("EventID")
                || !item.field.modifiers.is_empty()
                || item.values.is_empty()
            {
                return None;
            }
            item.values.iter().map(event_id).collect()
        })),
        Detection::AnyOf(subs) => union(subs.iter().map(of_detection)),
        _ => None,
    }
}

/// A value an Event ID equals: a non-negative integer or a plain string of digits.
fn event_id(v: &SigmaValue) -> Option<u64> {
    match v {
        SigmaValue::Integer(i) => u64::try_from(*i).ok(),
        SigmaValue::String(s) => s.as_plain()?.parse().ok(),
        _ => None,
    }
}

/// Every side must hold: the restriction of the restricted sides.
fn intersection(sets: impl Iterator<Item = Option<BTreeSet<u64>>>) -> Option<BTreeSet<u64>> {
    sets.flatten()
        .reduce(|a, b| a.intersection(&b).copied().collect())
}

/// One side holds: restricted only when every side is (and there is one).
fn union(mut sets: impl Iterator<Item = Option<BTreeSet<u64>>>) -> Option<BTreeSet<u64>> {
    let mut out = sets.next()??;
    for s in sets {
        out.extend(s?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(detection: &str) -> Option<Vec<u64>> {
        let yaml = format!(
            "title: t\nlogsource: {{product: windows}}\ndetection:\n{detection}\nlevel: low\n"
        );
        let collection = rsigma_parser::parse_sigma_yaml(&yaml).expect("parses");
        assert!(collection.errors.is_empty(), "{:?}", collection.errors);
        of_rule(&collection.rules[0]).map(|s| s.into_iter().collect())
    }

    #[test]
    fn alternatives_of_logs_give_the_union_of_their_event_ids() {
        let multi = "    proc:\n        - {EventID: 1, Channel: 'Microsoft-Windows-Sysmon/Operational'}\n        - {EventID: 4688, Channel: Security}\n    ps:\n        - {EventID: 4104}\n        - {EventID: '4103'}\n    cmd: {CommandLine|contains: x}\n    script: {ScriptBlockText|contains: x}\n    quiet: {CommandLine|contains: y}\n    condition: ((proc and cmd) or (ps and script)) and not quiet";
        assert_eq!(ids(multi), Some(vec![1, 4103, 4104, 4688]));
        let selector = "    sel_a: {EventID: [4720, 4722]}\n    sel_b: {EventID: 4738}\n    condition: 1 of sel_*";
        assert_eq!(ids(selector), Some(vec![4720, 4722, 4738]));
        let all = "    sel_a: {EventID: [4720, 4722]}\n    sel_b: {EventID: 4722}\n    condition: all of sel_*";
        assert_eq!(ids(all), Some(vec![4722]));
    }

    #[test]
    fn anything_the_reading_cannot_be_sure_of_restricts_nothing() {
        // One side of an `or` without an Event ID.
        let open =
            "    a: {EventID: 4688}\n    b: {CommandLine|contains: x}\n    condition: a or b";
        assert_eq!(ids(open), None);
        // Negation, modifiers, wildcards, keywords.
        assert_eq!(ids("    a: {EventID: 4688}\n    condition: not a"), None);
        assert_eq!(ids("    a: {EventID|gte: 4600}\n    condition: a"), None);
        assert_eq!(ids("    a: {EventID: '46*'}\n    condition: a"), None);
        assert_eq!(ids("    a: [mimikatz]\n    condition: a"), None);
        // An `and` keeps the restricted side.
        let and =
            "    a: {EventID: 4657}\n    b: {ObjectName|contains: Run}\n    condition: a and b";
        assert_eq!(ids(and), Some(vec![4657]));
    }
}
