//! Every built-in rule against variants of its technique that are **not** in `../shared/data`:
//! other tools, other parameters, other parents, written for this test. A rule fitted to one
//! recording fails here.
//!
//! Fixtures: `tests/variants/<rule path without .yml>.jsonl`, one case a line:
//! `{"variant": "what differs", "expect": "alert" | "quiet", "events": [{...}, ...]}`. Each
//! event is a flat Windows record (the shape nxlog and the OTRF datasets use) or any JSON line
//! `hunt` reads; the events of a case go through the detector and the correlator in order. An
//! `alert` case passes when the rule matches it (for a correlation: fires at least once over
//! the events; a rule that only feeds correlations matches without being reported alone); a
//! `quiet` case when it raises none. Shorthands keep the fixtures short:
//! `"Channel": "sysmon" | "security" | "system" | "powershell" | "powershell-classic"` is the
//! full channel name; a Windows record without `Hostname` is on `WS-TEST01`; a missing `@timestamp` is a fixed
//! working-day time plus the event's position in seconds (or `"at": SECONDS` from it).
//!
//! Each rule needs at least two `alert` variants.
//!
//! One behaviour, one alert: the same cases also say which two built-in rules are reported on
//! one event (a single record, or the record that completes a correlation). Two rules telling
//! one command twice give an incident narrative the same line twice with two recommendations,
//! so every such pair must be in `tests/overlaps.txt` with the reason why the two are different
//! behaviours (an allowed pair that no case shows any more is reported too, so the list stays
//! true). A new rule that restates another one fails here until one of them is narrowed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wardwatch_core::Origin;
use wardwatch_detect::{Correlator, Detector, RulePack, RuleText};

const BASE: i64 = 1_717_408_800; // 2024-06-03 10:00:00 UTC, a Monday morning

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/variants")
}

fn channel(short: &str) -> &str {
    match short {
        "sysmon" => "Microsoft-Windows-Sysmon/Operational",
        "security" => "Security",
        "system" => "System",
        "powershell" => "Microsoft-Windows-PowerShell/Operational",
        "powershell-classic" => "Windows PowerShell",
        "application" => "Application",
        "taskscheduler" => "Microsoft-Windows-TaskScheduler/Operational",
        "windefend" => "Microsoft-Windows-Windows Defender/Operational",
        "printservice-admin" => "Microsoft-Windows-PrintService/Admin",
        other => other,
    }
}

fn complete(mut ev: Value, i: usize) -> Value {
    let o = ev.as_object_mut().expect("an event is a JSON object");
    if let Some(Value::String(c)) = o.get("Channel") {
        let full = channel(c).to_string();
        o.insert("Channel".into(), Value::String(full));
    }
    if o.get("Channel").and_then(Value::as_str) == Some("Microsoft-Windows-Sysmon/Operational")
        && !o.contains_key("SourceName")
    {
        o.insert("SourceName".into(), json!("Microsoft-Windows-Sysmon"));
    }
    if o.get("Channel").and_then(Value::as_str) == Some("Security") && !o.contains_key("SourceName")
    {
        o.insert(
            "SourceName".into(),
            json!("Microsoft-Windows-Security-Auditing"),
        );
    }
    if o.contains_key("EventID") {
        o.entry("Hostname").or_insert(json!("WS-TEST01"));
    }
    if !o.contains_key("@timestamp") {
        let at = o.remove("at").and_then(|v| v.as_i64()).unwrap_or(i as i64);
        let ts = jiff::Timestamp::from_second(BASE + at).unwrap();
        o.insert("@timestamp".into(), json!(ts.to_string()));
    }
    ev
}

struct Case {
    variant: String,
    alert: bool,
    events: Vec<Value>,
}

fn cases(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1));
            let expect = v["expect"].as_str().unwrap_or("");
            assert!(
                matches!(expect, "alert" | "quiet"),
                "{}:{}: expect must be alert or quiet",
                path.display(),
                n + 1
            );
            let events = v["events"]
                .as_array()
                .unwrap_or_else(|| panic!("{}:{}: no events", path.display(), n + 1))
                .iter()
                .enumerate()
                .map(|(i, e)| complete(e.clone(), i))
                .collect();
            Case {
                variant: v["variant"].as_str().unwrap_or("").to_string(),
                alert: expect == "alert",
                events,
            }
        })
        .collect()
}

/// How often `rule_id` is raised over `events` by the whole built-in pack.
fn fires(detector: &Detector, pack: &RulePack, rule_id: &str, events: &[Value]) -> usize {
    let (mut correlator, _) = Correlator::build(pack);
    let mut n = 0;
    for (i, ev) in events.iter().enumerate() {
        let origin = Origin {
            source: "variant".into(),
            record_id: Some(i as u64 + 1),
            ..Origin::default()
        };
        let event = wardwatch_ingest::jsonl::decode_value(ev.clone(), origin)
            .unwrap_or_else(|e| panic!("event does not decode: {e}: {ev}"));
        let detections = detector.detect(&event);
        // A rule that only feeds correlations is not reported alone, but it still has to match.
        n += detections.iter().filter(|d| d.rule.id == rule_id).count();
        if let Some(c) = correlator.as_mut() {
            n += c
                .process(&event, &detections)
                .iter()
                .filter(|d| d.rule.id == rule_id)
                .count();
        }
    }
    n
}

#[test]
fn every_rule_catches_variants_not_in_the_shared_data() {
    let pack = RulePack::load(wardwatch_rules::RULES.iter().map(|(name, text)| RuleText {
        origin: (*name).to_string(),
        text: (*text).to_string(),
    }));
    assert!(pack.problems().is_empty(), "{:?}", pack.problems());
    let (detector, problems) = Detector::build(&pack);
    assert!(problems.is_empty(), "{problems:?}");
    let ids: BTreeMap<String, String> = pack
        .metas()
        .map(|m| (m.origin.clone(), m.id.clone()))
        .collect();
    let mut failures = Vec::new();
    let mut variants = 0;
    for (name, _) in wardwatch_rules::RULES {
        let id = &ids[*name];
        let path = fixtures().join(name.replace(".yml", ".jsonl"));
        if !path.exists() {
            failures.push(format!("{name}: no variant fixture at {}", path.display()));
            continue;
        }
        let cases = cases(&path);
        let alerts = cases.iter().filter(|c| c.alert).count();
        if alerts < 2 {
            failures.push(format!(
                "{name}: {alerts} alert variant(s), need at least 2"
            ));
        }
        for c in &cases {
            let n = fires(&detector, &pack, id, &c.events);
            variants += 1;
            if c.alert && n == 0 {
                failures.push(format!("{name}: missed variant \"{}\"", c.variant));
            }
            if !c.alert && n > 0 {
                failures.push(format!(
                    "{name}: fired {n} time(s) on quiet case \"{}\"",
                    c.variant
                ));
            }
        }
    }
    // No fixture without its rule (a renamed or removed rule leaves none behind).
    for entry in walk(&fixtures()) {
        let rel = entry
            .strip_prefix(fixtures())
            .unwrap()
            .display()
            .to_string();
        let rule = rel.replace(".jsonl", ".yml");
        if !wardwatch_rules::RULES.iter().any(|(n, _)| *n == rule) {
            failures.push(format!("fixture {rel} has no rule {rule}"));
        }
    }
    println!(
        "rule variants: {} rules, {variants} cases",
        wardwatch_rules::RULES.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
    out
}

/// The pack's rules reported on each event of `events` (detection rules the detector reports,
/// correlations the correlator raises on the event that completes them), by rule file.
fn reported_per_event(
    detector: &Detector,
    pack: &RulePack,
    files: &BTreeMap<String, String>,
    events: &[Value],
) -> Vec<BTreeSet<String>> {
    let (mut correlator, _) = Correlator::build(pack);
    let mut out = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        let origin = Origin {
            source: "variant".into(),
            record_id: Some(i as u64 + 1),
            ..Origin::default()
        };
        let event = wardwatch_ingest::jsonl::decode_value(ev.clone(), origin)
            .unwrap_or_else(|e| panic!("event does not decode: {e}: {ev}"));
        let detections = detector.detect(&event);
        let mut here: BTreeSet<String> = detections
            .iter()
            .filter(|d| detector.is_reported(&d.rule.id))
            .filter_map(|d| files.get(&d.rule.id).cloned())
            .collect();
        if let Some(c) = correlator.as_mut() {
            here.extend(
                c.process(&event, &detections)
                    .iter()
                    .filter_map(|d| files.get(&d.rule.id).cloned()),
            );
        }
        out.push(here);
    }
    out
}

/// `tests/overlaps.txt`: `a.yml + b.yml: why these are two behaviours`, one pair a line, `#`
/// comments. Each pair is written in name order.
fn allowed_overlaps() -> BTreeMap<(String, String), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/overlaps.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let place = format!("{}:{}", path.display(), n + 1);
        let (pair, reason) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("{place}: expected `a.yml + b.yml: reason`"));
        let (a, b) = pair
            .split_once(" + ")
            .unwrap_or_else(|| panic!("{place}: expected `a.yml + b.yml: reason`"));
        let (a, b) = (a.trim().to_string(), b.trim().to_string());
        assert!(a < b, "{place}: write the pair in name order ({b} first)");
        assert!(
            reason.trim().len() >= 20,
            "{place}: say why the two rules are different behaviours"
        );
        for r in [&a, &b] {
            assert!(
                wardwatch_rules::RULES.iter().any(|(name, _)| name == r),
                "{place}: no rule {r}"
            );
        }
        assert!(
            out.insert((a, b), reason.to_string()).is_none(),
            "{place}: pair listed twice"
        );
    }
    out
}

#[test]
fn no_two_rules_tell_one_event_unless_allowed() {
    let pack = RulePack::load(wardwatch_rules::RULES.iter().map(|(name, text)| RuleText {
        origin: (*name).to_string(),
        text: (*text).to_string(),
    }));
    let (detector, _) = Detector::build(&pack);
    let files: BTreeMap<String, String> = pack
        .metas()
        .map(|m| (m.id.clone(), m.origin.clone()))
        .collect();
    let allowed = allowed_overlaps();
    // Pair -> the first case that shows it.
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for entry in walk(&fixtures()) {
        for c in cases(&entry) {
            for rules in reported_per_event(&detector, &pack, &files, &c.events) {
                let rules: Vec<&String> = rules.iter().collect();
                for (i, a) in rules.iter().enumerate() {
                    for b in &rules[i + 1..] {
                        // A file's correlation and the rule it counts are one behaviour's parts.
                        if a == b {
                            continue;
                        }
                        let rel = entry
                            .strip_prefix(fixtures())
                            .unwrap()
                            .display()
                            .to_string();
                        seen.entry(((*a).clone(), (*b).clone()))
                            .or_insert_with(|| format!("{rel} \"{}\"", c.variant));
                    }
                }
            }
        }
    }
    let mut failures = Vec::new();
    for ((a, b), case) in &seen {
        if !allowed.contains_key(&(a.clone(), b.clone())) {
            failures.push(format!(
                "{a} + {b} are both reported on one event ({case}): narrow one of them so the \
                 behaviour is told once, or list the pair in tests/overlaps.txt with the reason \
                 they are two behaviours"
            ));
        }
    }
    for (a, b) in allowed.keys() {
        if !seen.contains_key(&(a.clone(), b.clone())) {
            failures.push(format!(
                "tests/overlaps.txt allows {a} + {b}, but no variant shows both on one event: \
                 remove the line"
            ));
        }
    }
    println!(
        "rule overlaps: {} pairs on one event, {} allowed",
        seen.len(),
        allowed.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A rule with no Sigma category or service is read on every Windows record unless its
/// detection says which Event IDs it needs (`EventID` items its condition requires): the
/// detector then evaluates it only on those records. One the detector cannot read that way
/// makes every hunt slower: give it an `EventID` item, or a category.
#[test]
fn no_rule_is_read_on_every_record() {
    let pack = RulePack::load(wardwatch_rules::RULES.iter().map(|(name, text)| RuleText {
        origin: (*name).to_string(),
        text: (*text).to_string(),
    }));
    let (detector, _) = Detector::build(&pack);
    let files: BTreeMap<&str, &str> = pack
        .metas()
        .map(|m| (m.id.as_str(), m.origin.as_str()))
        .collect();
    let every: Vec<&str> = detector
        .rules_read_on_every_record()
        .map(|id| files.get(id).copied().unwrap_or(id))
        .collect();
    assert!(
        every.is_empty(),
        "evaluated on every record (no category, no Event ID the condition requires): {every:?}"
    );
}
