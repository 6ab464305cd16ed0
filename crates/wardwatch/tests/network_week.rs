//! The generated network week through the decoder and the analytics as `hunt` runs them: recall
//! and false alerts per analytic, over several seeds (each seed draws its own sizes, timings,
//! targets and jitter), and the benign look-alikes kept below medium.

use std::collections::BTreeMap;
use std::sync::Arc;

use wardwatch_core::{Alert, Origin, Severity};
use wardwatch_demo::Hospital;
use wardwatch_demo::network::{self, NetConfig, NetWeek, ZeekLine};
use wardwatch_detect::analytics::{Analytics, reduce};

/// The alerts over `lines` (the week's Zeek or EVE lines), as `hunt --context` raises them
/// (reduced copies, in time order).
fn alerts_of(week: &NetWeek, lines: &[(ZeekLine, Option<usize>)]) -> Vec<Alert> {
    let files = vec![
        ("inventory.csv".to_string(), week.site.inventory_csv()),
        ("zones.csv".to_string(), week.site.zones_csv()),
    ];
    let (ctx, problems) = wardwatch_incidents::Context::from_files(&files);
    assert!(problems.is_empty(), "{problems:?}");
    let mut analytics = Analytics::default();
    analytics.set_topology(Arc::new(wardwatch_server::context::topology(&ctx)));
    let mut out = Vec::new();
    for (i, (line, _)) in lines.iter().enumerate() {
        let origin = Origin {
            source: "sensor.json".into(),
            record_id: Some(i as u64),
            ..Origin::default()
        };
        let event = wardwatch_ingest::jsonl::decode_line(line.line.as_bytes(), origin)
            .unwrap_or_else(|e| panic!("line {i} does not decode: {e}: {}", line.line));
        if !Analytics::wants(&event, &[]) {
            continue;
        }
        let event = reduce(&event);
        for d in analytics.observe(&event, &[]) {
            out.push(d.to_alert(&event));
        }
    }
    out
}

#[derive(Default, Debug)]
struct Row {
    planted: usize,
    found: usize,
    false_alerts: usize,
}

fn source(a: &Alert) -> &str {
    a.entities.first().map_or("", |e| e.value.as_str())
}

#[test]
fn recall_and_false_alerts_per_analytic_over_seeded_weeks() {
    score(false);
}

/// The same weeks as a Suricata sensor logs them (EVE JSON): the analytics read one vocabulary
/// from either sensor.
#[test]
fn the_same_weeks_as_suricata_eve() {
    score(true);
}

fn score(eve: bool) {
    let mut table: BTreeMap<&str, Row> = BTreeMap::new();
    for rule in Analytics::metas() {
        if rule.id.starts_with("analytic-network-") {
            table
                .entry(Box::leak(rule.id.clone().into_boxed_str()))
                .or_default();
        }
    }
    let mut missed = Vec::new();
    let mut false_alerts = Vec::new();
    let mut look_alike_levels: BTreeMap<String, Severity> = BTreeMap::new();
    for seed in [2026u64, 7, 424_242] {
        let cfg = NetConfig {
            seed,
            scale: 0.3,
            ..NetConfig::default()
        };
        let week = network::generate(&cfg, &Hospital::new(seed));
        let lines = if eve {
            week.eve_lines()
        } else {
            week.lines.clone()
        };
        let alerts = alerts_of(&week, &lines);
        for p in &week.planted {
            let row = table.entry(p.analytic).or_default();
            row.planted += 1;
            let hit = alerts.iter().any(|a| {
                a.rule_id == p.analytic && source(a) == p.source && a.level >= Severity::Medium
            });
            if hit {
                row.found += 1;
            } else {
                missed.push(format!("seed {seed}: {} by {}", p.analytic, p.source));
            }
        }
        let actors: Vec<&str> = week
            .planted
            .iter()
            .flat_map(|p| {
                std::iter::once(p.source.as_str()).chain(p.involved.iter().map(String::as_str))
            })
            .collect();
        for a in alerts.iter().filter(|a| a.level >= Severity::Medium) {
            if !actors.contains(&source(a)) {
                table
                    .entry(Box::leak(a.rule_id.clone().into_boxed_str()))
                    .or_default()
                    .false_alerts += 1;
                false_alerts.push(format!(
                    "seed {seed}: {} {:?} {:?}",
                    a.rule_id, a.level, a.facts
                ));
            }
        }
        for l in &week.look_alikes {
            let worst = alerts
                .iter()
                .filter(|a| source(a) == l.source)
                .map(|a| a.level)
                .max()
                .unwrap_or(Severity::Informational);
            let e = look_alike_levels.entry(l.what.to_string()).or_insert(worst);
            *e = (*e).max(worst);
        }
    }
    println!(
        "\n{}\n{:<44} {:>7} {:>5} {:>7} {:>12}",
        if eve { "Suricata EVE" } else { "Zeek" },
        "analytic",
        "planted",
        "found",
        "recall",
        "false alerts"
    );
    for (rule, r) in &table {
        let recall = if r.planted == 0 {
            "-".to_string()
        } else {
            format!("{:.0}%", 100.0 * r.found as f64 / r.planted as f64)
        };
        println!(
            "{rule:<44} {:>7} {:>5} {recall:>7} {:>12}",
            r.planted, r.found, r.false_alerts
        );
    }
    println!("\nlook-alikes (worst level of their alerts):");
    for (what, level) in &look_alike_levels {
        println!("  {level:?}: {what}");
    }
    println!("missed: {missed:#?}\nfalse alerts: {false_alerts:#?}");

    let planted: usize = table.values().map(|r| r.planted).sum();
    let found: usize = table.values().map(|r| r.found).sum();
    let false_total: usize = table.values().map(|r| r.false_alerts).sum();
    assert!(planted >= 3 * 14, "every analytic planted in every week");
    assert!(
        found as f64 >= 0.9 * planted as f64,
        "recall floor 90%: {missed:#?}"
    );
    for (rule, r) in &table {
        if r.planted > 0 {
            assert!(
                r.found * 3 >= r.planted * 2,
                "{rule}: recall below two thirds"
            );
        }
    }
    assert!(
        false_total <= 3,
        "at most one false alert a week: {false_alerts:#?}"
    );
    for (what, level) in &look_alike_levels {
        assert!(
            *level < Severity::Medium,
            "look-alike raised {level:?}: {what}"
        );
    }
}
