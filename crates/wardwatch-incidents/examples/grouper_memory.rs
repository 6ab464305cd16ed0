//! How much memory the grouper holds while one incident stays open and its alerts keep coming
//! (a noisy host, a long spray): resident memory before and after a million alerts.
//!
//! `cargo run --release -p wardwatch-incidents --example grouper_memory [ALERTS]`

use std::collections::BTreeMap;

use wardwatch_core::{Alert, AlertId, Entity, EntityKind, EventRef, Origin, Severity};
use wardwatch_incidents::{Context, GroupConfig, Grouper};

/// Resident memory of this process in MiB (Linux; 0 elsewhere).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / (1024.0 * 1024.0))
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let ctx = Context::default();
    let mut g = Grouper::new(GroupConfig::default(), Vec::new());
    let start: jiff::Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
    let alert = |i: u64| Alert {
        id: AlertId(format!("{i:016x}")),
        rule_id: "spray".into(),
        rule_title: "Failed logon".into(),
        level: Severity::Low,
        tags: Vec::new(),
        // One a second: the incident never goes quiet.
        timestamp: start + jiff::SignedDuration::from_secs(i as i64),
        organization: "default".into(),
        host: Some("dc01".into()),
        entities: vec![Entity::new(EntityKind::Host, "dc01")],
        event: EventRef {
            origin: Origin::default(),
            event_code: None,
            channel: None,
        },
        recommendation: None,
        awareness: None,
        facts: BTreeMap::new(),
    };
    // Warm up: the first incident and its bounded parts (timeline, entities, capped ids).
    let warm = 10_000.min(n);
    for i in 0..warm {
        let a = alert(i);
        g.add(&a, &ctx, a.timestamp);
    }
    let before = rss_mib();
    for i in warm..n {
        let a = alert(i);
        g.add(&a, &ctx, a.timestamp);
    }
    let after = rss_mib();
    let open: Vec<_> = g.open().collect();
    println!(
        "grouper, one incident open, {n} alerts: resident {before:.1} MiB after {warm} alerts, {after:.1} MiB after {n} (+{:.1} MiB); open incidents {}, alert_count {}",
        after - before,
        open.len(),
        open.first().map_or(0, |i| i.alert_count),
    );
}
