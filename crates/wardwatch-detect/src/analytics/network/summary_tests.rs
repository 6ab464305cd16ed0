use std::sync::Arc;

use wardwatch_core::Event;

use super::super::testkit::{conn, dce_rpc, kerberos, session, smb_mapping};
use super::super::{AdminKind, NetClass, Role, Topology};
use super::{NetworkSummary, Summariser};
use crate::analytics::reduce;

const DAY: i64 = 86_400;

fn site() -> Topology {
    let mut t = Topology::default();
    let mut add = |net: &str, class, zone: &str, name: Option<&str>| {
        t.add(
            net.parse().unwrap(),
            Role {
                class,
                zone: Some(zone.into()),
                name: name.map(str::to_string),
            },
        )
    };
    add("10.20.0.0/16", NetClass::Workstation, "clinical", None);
    add("10.10.0.0/24", NetClass::Server, "servers", None);
    add("10.10.0.40/32", NetClass::Server, "servers", Some("PACS01"));
    add("10.30.1.0/24", NetClass::MedicalDevice, "devices", None);
    t
}

/// The summary of `events` fed whole (as serve reads them from the store) and as reduced
/// copies (as hunt keeps them): they must be the same.
fn summarise(events: &[Event], from: Option<i64>, to: Option<i64>) -> NetworkSummary {
    let topo = Arc::new(site());
    let run = |reduced: bool| {
        let mut s = Summariser::new(topo.clone(), from, to);
        for e in events.iter().filter(|e| Summariser::wants(e)) {
            if reduced {
                s.observe(&reduce(e));
            } else {
                s.observe(e);
            }
        }
        s.finish()
    };
    let whole = run(false);
    assert_eq!(whole, run(true), "whole and reduced records differ");
    whole
}

fn week() -> Vec<Event> {
    let mut events = Vec::new();
    // Day one (the baseline): the admin workstation maps C$ on the PACS, as every day.
    events.push(smb_mapping(
        3600,
        "10.20.1.5",
        "10.10.0.40",
        "\\\\PACS01\\C$",
    ));
    events.push(session(3600, "10.20.1.5", "10.10.0.40", 445, 900, 900));
    // Day two: a workstation sweeps port 445 across two subnets, guesses passwords at the DC,
    // creates a service on another workstation and then on the PACS.
    let (a, b) = ("10.20.3.7", "10.20.4.8");
    for i in 0..12 {
        let target = format!("10.20.{}.{}", 5 + i % 2, 10 + i);
        events.push(conn(DAY + 60 + i, a, &target, 445, "S0", 0));
    }
    events.push(conn(DAY + 80, a, "10.10.0.9", 3389, "REJ", 0));
    for i in 0..3 {
        events.push(kerberos(
            DAY + 100 + i,
            a,
            "10.10.0.5",
            "svc-backup",
            Some("KDC_ERR_PREAUTH_FAILED"),
        ));
    }
    events.push(dce_rpc(DAY + 200, a, b, "svcctl", "CreateServiceW"));
    events.push(dce_rpc(
        DAY + 300,
        b,
        "10.10.0.40",
        "svcctl",
        "CreateServiceW",
    ));
    events.push(smb_mapping(
        DAY + 400,
        "10.20.1.5",
        "10.10.0.40",
        "\\\\PACS01\\C$",
    ));
    // The pumps: HL7 to the interface engine while learning, then one to a new peer.
    for h in 0..30 {
        events.push(session(h * 3600, "10.30.1.11", "10.10.0.60", 2575, 900, 80));
    }
    events.push(session(
        DAY + 7200,
        "10.30.1.13",
        "10.10.0.60",
        2575,
        900,
        80,
    ));
    events.push(session(2 * DAY, "10.30.1.11", "10.10.0.77", 22, 300, 300));
    events.sort_by_key(|e| e.timestamp);
    events
}

#[test]
fn where_and_how_many_per_source_with_the_first_day_as_baseline() {
    let s = summarise(&week(), None, None);
    assert_eq!(s.baseline.rule, "the first day of the records");
    let a = s.sources.iter().find(|x| x.source == "10.20.3.7").unwrap();
    assert_eq!(
        (a.zone.as_str(), a.class.as_str()),
        ("clinical", "workstation")
    );
    let blind = a.blind.as_ref().unwrap();
    assert_eq!((blind.attempts, blind.hosts), (13, 13));
    assert_eq!(blind.ports[0].value, "445");
    assert_eq!(blind.ports[0].count, 12);
    let subnets: Vec<(&str, u64)> = blind
        .subnets
        .iter()
        .map(|c| (c.value.as_str(), c.count))
        .collect();
    assert_eq!(
        subnets,
        [
            ("10.20.5.0/24", 6),
            ("10.20.6.0/24", 6),
            ("10.10.0.0/24", 1)
        ]
    );
    assert_eq!(blind.zones[0].value, "clinical");
    assert_eq!(blind.zones[1].value, "servers");
    // The scan analytic's own findings: five hosts within two minutes, then ten.
    let kinds: Vec<(&str, u64)> = a.scans.iter().map(|x| (x.kind.as_str(), x.hosts)).collect();
    assert_eq!(kinds, [("sweep", 5), ("horizontal", 10)]);
    assert_eq!(a.scans[1].level, "medium");
    let lateral = a.lateral.as_ref().unwrap();
    assert_eq!((lateral.attempts, lateral.hosts), (1, 1));
    assert_eq!(lateral.kinds[0].value, "service");
    let logons = a.failed_logons.as_ref().unwrap();
    assert_eq!(logons.attempts, 3);
    assert_eq!(logons.kinds[0].value, "svc-backup");
    // The busiest source comes first.
    assert_eq!(s.sources[0].source, "10.20.3.7");

    // The graph: the admin share mapped on day one is the baseline; the two services are new.
    let g = &s.graph;
    assert_eq!((g.edges_total, g.first_seen_total), (3, 2));
    let usual = g
        .edges
        .iter()
        .find(|e| e.kind == AdminKind::AdminShare)
        .unwrap();
    assert_eq!(usual.count, 2);
    assert_eq!(usual.target_name.as_deref(), Some("PACS01"));
    assert!(!usual.first_seen);
    assert!(
        g.edges[..2]
            .iter()
            .all(|e| e.first_seen && e.kind == AdminKind::Service)
    );

    // The pumps: both in the inventory, the new one quiet, the old one's new peer listed.
    assert_eq!(s.devices.len(), 2, "{:#?}", s.devices);
    let pump = &s.devices[0];
    assert_eq!(pump.ip, "10.30.1.11");
    assert_eq!(
        (pump.zone.as_str(), pump.class.as_str()),
        ("devices", "10.30.1.0/24")
    );
    assert_eq!(pump.baseline, ["out 10.10.0.60:2575"]);
    assert_eq!(pump.deviations.len(), 1);
    assert_eq!(pump.deviations[0].edge, "out 10.10.0.77:22");
    assert!(pump.protocols.contains(&"hl7".to_string()));
    assert!(s.devices[1].deviations.is_empty());
}

#[test]
fn records_before_from_are_only_the_baseline() {
    let from = super::super::testkit::at(DAY).as_second();
    let to = super::super::testkit::at(DAY + 350).as_second();
    let s = summarise(&week(), Some(from), Some(to));
    assert_eq!(s.baseline.rule, "the 7 days before `from`");
    assert_eq!(s.from.unwrap().as_second(), from);
    // Day one's admin share is outside the period; day two's repeat is after `to`.
    assert!(s.graph.edges.iter().all(|e| e.kind == AdminKind::Service));
    assert_eq!(s.graph.first_seen_total, 2);
    let a = s.sources.iter().find(|x| x.source == "10.20.3.7").unwrap();
    assert_eq!(a.blind.as_ref().unwrap().attempts, 13);
    assert!(!s.sources.iter().any(|x| x.source == "10.20.1.5"));
    // The pump's deviation is after `to`: it is listed with none.
    let pump = s.devices.iter().find(|d| d.ip == "10.30.1.11").unwrap();
    assert!(pump.deviations.is_empty());
    // The summary travels as JSON and back unchanged.
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<NetworkSummary>(&json).unwrap(), s);
}

/// A scanner's hundreds of scans: the first twenty are listed in full, and every one is
/// counted by kind, so the counts stay right past the list.
#[test]
fn scans_past_the_listed_ones_are_counted_by_kind() {
    let mut events = Vec::new();
    // 30 hosts, an hour apart, each probed on 16 ports within a minute: 30 vertical scans.
    for h in 0..30i64 {
        let target = format!("10.20.9.{}", 10 + h);
        for p in 0..16i64 {
            events.push(conn(
                DAY + h * 3600 + p,
                "10.20.3.7",
                &target,
                1000 + p as u16,
                "REJ",
                0,
            ));
        }
    }
    let s = summarise(&events, None, None);
    let src = s
        .sources
        .iter()
        .find(|x| x.source == "10.20.3.7")
        .expect("the scanner");
    assert_eq!(src.scans.len(), 20);
    let vertical = src
        .scan_kinds
        .iter()
        .find(|c| c.value == "vertical")
        .expect("vertical scans counted");
    assert_eq!(vertical.count, 30, "one per host: {:?}", src.scan_kinds);
    let by_kind: u64 = src.scan_kinds.iter().map(|c| c.count).sum();
    assert_eq!(src.scans_total, by_kind);
    // The JSON says so too.
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["sources"][0]["scans_total"], by_kind);
}
