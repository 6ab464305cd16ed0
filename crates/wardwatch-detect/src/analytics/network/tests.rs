use std::sync::Arc;

use wardwatch_core::{Alert, EntityKind, Event, Severity};

use super::testkit::{conn, kerberos, rdp};
use super::{NetClass, Role, Topology};
use crate::analytics::{Analytics, reduce};

/// Every alert the analytics raise over `events` (in time order), fed whole as `serve` feeds
/// them; the same run over the reduced copies `hunt` keeps must give the same alerts.
pub(super) fn run(events: &[Event], topology: Topology) -> Vec<Alert> {
    let topology = Arc::new(topology);
    let feed = |reduced: bool| {
        let mut a = Analytics::default();
        a.set_topology(topology.clone());
        let mut out = Vec::new();
        for e in events {
            // hunt and serve hand the analytics only what they want.
            if !Analytics::wants(e, &[]) {
                continue;
            }
            let e = if reduced { reduce(e) } else { e.clone() };
            assert!(Analytics::wants(&e, &[]), "a reduced copy is still wanted");
            for d in a.observe(&e, &[]) {
                out.push(d.to_alert(&e));
            }
        }
        out
    };
    let serve = feed(false);
    let hunt = feed(true);
    assert_eq!(
        serve
            .iter()
            .map(|a| (&a.rule_id, a.level, &a.facts, &a.entities))
            .collect::<Vec<_>>(),
        hunt.iter()
            .map(|a| (&a.rule_id, a.level, &a.facts, &a.entities))
            .collect::<Vec<_>>(),
        "hunt and serve differ"
    );
    serve
}

pub(super) fn of<'a>(alerts: &'a [Alert], rule: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.rule_id == rule).collect()
}

pub(super) fn with_class(ip: &str, class: NetClass) -> Topology {
    let mut t = Topology::default();
    t.add(
        format!("{ip}/32").parse().unwrap(),
        Role {
            class,
            zone: None,
            name: None,
        },
    );
    t
}

/// `n` blind attempts from `src` to hosts 10.2.0.1.. on port 445, `gap` seconds apart.
fn sweep(src: &str, n: usize, gap: i64) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let state = if i % 2 == 0 { "S0" } else { "REJ" };
            conn(
                i as i64 * gap,
                src,
                &format!("10.2.0.{}", i + 1),
                445,
                state,
                0,
            )
        })
        .collect()
}

#[test]
fn a_horizontal_scan_says_where_and_how_many() {
    let alerts = run(&sweep("10.1.1.50", 40, 3), Topology::default());
    let h = of(&alerts, "analytic-network-horizontal-scan");
    // At ten hosts, and again when the scan has grown fourfold.
    assert_eq!(h.len(), 2, "{alerts:#?}");
    assert_eq!(h[0].level, Severity::Medium);
    assert_eq!(h[0].facts["scan.hosts"], "10");
    assert_eq!(h[0].facts["scan.ports"], "445");
    assert_eq!(h[0].facts["scan.subnets"], "10.2.0.0/24");
    assert!(h[0].facts["scan.targets"].starts_with("10.2.0.1, 10.2.0.10"));
    assert_eq!(h[1].facts["scan.hosts"], "40");
    assert!(h[1].facts["scan.targets"].ends_with("and 30 more"));
    assert_eq!(h[0].entities[0].kind, EntityKind::Ip);
    assert_eq!(h[0].entities[0].value, "10.1.1.50", "the source first");
    assert_eq!(h[0].entities.len(), 11);
    // The sweep (low) came first, at five hosts.
    let s = of(&alerts, "analytic-network-discovery-sweep");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].level, Severity::Low);
    assert_eq!(s[0].facts["scan.hosts"], "5");
}

#[test]
fn a_known_scanner_or_an_outside_source_stays_low() {
    let scanner = run(
        &sweep("10.9.0.5", 40, 3),
        with_class("10.9.0.5", NetClass::Scanner),
    );
    assert!(!scanner.is_empty());
    assert!(
        scanner.iter().all(|a| a.level <= Severity::Low),
        "{scanner:#?}"
    );
    let outside = run(&sweep("203.0.113.7", 40, 3), Topology::default());
    assert!(outside.iter().all(|a| a.level <= Severity::Low));
}

#[test]
fn a_vertical_scan_names_the_target_and_its_ports() {
    let events: Vec<Event> = (0..30)
        .map(|i| conn(i, "10.1.1.60", "10.3.0.7", 1000 + i as u16, "REJ", 0))
        .collect();
    let alerts = run(&events, Topology::default());
    let v = of(&alerts, "analytic-network-vertical-scan");
    assert_eq!(v.len(), 1, "{alerts:#?}");
    assert_eq!(v[0].facts["scan.port_count"], "15");
    assert_eq!(v[0].facts["scan.targets"], "10.3.0.7");
    assert!(v[0].facts["scan.ports"].starts_with("1000, 1001"));
    assert_eq!(v[0].entities[1].value, "10.3.0.7");
    assert!(of(&alerts, "analytic-network-horizontal-scan").is_empty());
}

#[test]
fn low_and_slow_probing_over_hours_is_found_and_ordinary_traffic_is_not() {
    // One blind attempt every 15 minutes to another host or port, for eight hours.
    let events: Vec<Event> = (0..32)
        .map(|i| {
            conn(
                i * 900,
                "10.1.1.70",
                &format!("10.4.{}.{}", i % 3, i),
                22 + (i % 4) as u16 * 1000,
                "S0",
                0,
            )
        })
        .collect();
    let alerts = run(&events, Topology::default());
    let slow = of(&alerts, "analytic-network-low-and-slow-scan");
    assert_eq!(slow.len(), 1, "{alerts:#?}");
    assert_eq!(slow[0].facts["scan.host_ports"], "20");
    assert!(of(&alerts, "analytic-network-horizontal-scan").is_empty());

    // A workstation's day: sessions to its servers, a stale mapped drive that never answers,
    // broadcasts and UDP without replies.
    let mut day = Vec::new();
    for i in 0..300 {
        day.push(conn(
            i * 60,
            "10.1.1.80",
            &format!("10.5.0.{}", i % 6 + 1),
            443,
            "SF",
            900,
        ));
        if i % 20 == 0 {
            day.push(conn(i * 60 + 1, "10.1.1.80", "10.5.9.9", 445, "S0", 0));
            let mut b = conn(i * 60 + 2, "10.1.1.80", "10.1.1.255", 138, "S0", 0);
            b.ecs.network_transport = Some("udp".into());
            day.push(b);
        }
    }
    assert!(run(&day, Topology::default()).is_empty());
}

#[test]
fn brute_force_spraying_and_a_guessed_password() {
    let mut events = Vec::new();
    for i in 0..12 {
        events.push(kerberos(
            i * 5,
            "10.1.1.90",
            "10.0.0.10",
            "nurse1",
            Some("KDC_ERR_PREAUTH_FAILED"),
        ));
    }
    events.push(kerberos(70, "10.1.1.90", "10.0.0.10", "nurse1", None));
    // Spraying from another source: six accounts, two tries each.
    for (i, user) in ["ana", "ben", "cem", "dia", "eli", "fay"]
        .iter()
        .enumerate()
    {
        for k in 0..2 {
            events.push(kerberos(
                100 + i as i64 * 10 + k,
                "10.1.1.91",
                "10.0.0.10",
                user,
                Some("KDC_ERR_PREAUTH_FAILED"),
            ));
        }
    }
    // Every Windows logon starts with PREAUTH_REQUIRED: never a failure.
    for i in 0..50 {
        events.push(kerberos(
            200 + i,
            "10.1.1.92",
            "10.0.0.10",
            "dr.who",
            Some("KDC_ERR_PREAUTH_REQUIRED"),
        ));
    }
    let alerts = run(&events, Topology::default());
    let b = of(&alerts, "analytic-network-brute-force");
    assert_eq!(b.len(), 1, "{alerts:#?}");
    assert_eq!(b[0].facts["brute.failures"], "10");
    assert_eq!(b[0].facts["brute.account"], "nurse1");
    assert_eq!(b[0].facts["brute.protocol"], "kerberos");
    assert_eq!(b[0].entities[0].value, "10.1.1.90");
    assert!(
        b[0].entities
            .iter()
            .any(|e| e.kind == EntityKind::User && e.value == "nurse1")
    );
    let g = of(&alerts, "analytic-network-guessed-password");
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].level, Severity::High);
    assert_eq!(g[0].facts["brute.failures_before"], "12");
    let s = of(&alerts, "analytic-network-password-spraying");
    assert_eq!(s.len(), 1, "{alerts:#?}");
    assert_eq!(s[0].facts["spray.accounts"], "5");
    assert_eq!(s[0].facts["spray.account_list"], "ana, ben, cem, dia, eli");
    assert!(alerts.iter().all(|a| a.entities[0].value != "10.1.1.92"));
}

#[test]
fn rdp_guessing_and_fan_out_and_the_jump_host_stays_low() {
    let mut events: Vec<Event> = (0..12)
        .map(|i| rdp(i * 10, "10.1.1.95", "10.6.0.1"))
        .collect();
    events.extend((0..12).map(|i| rdp(200 + i, "10.1.1.95", &format!("10.6.1.{i}"))));
    let alerts = run(&events, Topology::default());
    let guess = of(&alerts, "analytic-network-login-guessing");
    assert_eq!(guess.len(), 1, "{alerts:#?}");
    assert_eq!(guess[0].facts["brute.sessions"], "10");
    assert_eq!(guess[0].facts["brute.protocol"], "rdp");
    let fan = of(&alerts, "analytic-network-remote-login-fan-out");
    assert_eq!(fan.len(), 1);
    assert_eq!(fan[0].facts["login.hosts"], "10");
    // A sweep that goes on is told again as it grows: at 10, 40 and 160 hosts.
    let wide: Vec<Event> = (0..200)
        .map(|i| rdp(i, "10.1.1.96", &format!("10.7.{}.{}", i / 200, i % 200)))
        .collect();
    let grown = run(&wide, Topology::default());
    let counts: Vec<&str> = of(&grown, "analytic-network-remote-login-fan-out")
        .iter()
        .map(|a| a.facts["login.hosts"].as_str())
        .collect();
    assert_eq!(counts, ["10", "40", "160"]);
    let jump = run(&events, with_class("10.1.1.95", NetClass::Admin));
    assert!(!jump.is_empty());
    assert!(jump.iter().all(|a| a.level <= Severity::Low), "{jump:#?}");
}

#[test]
fn state_survives_a_restart_and_stays_bounded() {
    let mut a = Analytics::default();
    for e in sweep("10.1.1.50", 8, 3) {
        a.observe(&e, &[]);
    }
    let saved = serde_json::to_value(&a).unwrap();
    let mut b: Analytics = serde_json::from_value(saved).unwrap();
    let mut fired = Vec::new();
    for e in sweep("10.1.1.50", 12, 3).into_iter().skip(8) {
        fired.extend(b.observe(&e, &[]));
    }
    assert!(
        fired
            .iter()
            .any(|d| d.rule.id == "analytic-network-horizontal-scan"),
        "the scan's first eight hosts were remembered"
    );
}

fn inventory(rows: &[(&str, NetClass, &str)]) -> Topology {
    let mut t = Topology::default();
    for (net, class, zone) in rows {
        let net = if net.contains('/') {
            net.to_string()
        } else {
            format!("{net}/32")
        };
        t.add(
            net.parse().unwrap(),
            Role {
                class: *class,
                zone: Some(zone.to_string()),
                name: None,
            },
        );
    }
    t
}

fn hospital() -> Topology {
    let mut t = inventory(&[
        ("10.1.0.0/16", NetClass::Workstation, "clinical"),
        ("10.2.0.0/16", NetClass::Server, "servers"),
        ("10.0.0.10", NetClass::DomainController, "servers"),
        ("10.9.0.2", NetClass::Admin, "admin"),
        ("10.50.0.0/16", NetClass::GuestWifi, "guest"),
        ("10.5.0.0/16", NetClass::MedicalDevice, "iomt"),
    ]);
    let row = |from: &str, to: &str, ports: Vec<(u16, u16, Option<String>)>, line: usize| {
        super::ZoneAllow {
            from: from.into(),
            to: to.into(),
            ports,
            at: format!("zones.csv line {line}"),
        }
    };
    t.set_policy(vec![
        row(
            "clinical",
            "servers",
            vec![(443, 443, None), (445, 445, Some("tcp".into()))],
            2,
        ),
        row("admin", "*", vec![], 3),
        row("guest", "internet", vec![], 4),
        row("iomt", "servers", vec![(104, 104, None)], 5),
    ]);
    t
}

#[test]
fn lateral_movement_is_judged_by_who_the_ends_are_and_said_once_per_edge() {
    use super::testkit::{dce_rpc, smb_mapping};
    let events = vec![
        // Workstation to workstation: a service created (PsExec's way).
        smb_mapping(0, "10.1.0.7", "10.1.0.8", "\\\\WS-0008\\ADMIN$"),
        dce_rpc(5, "10.1.0.7", "10.1.0.8", "svcctl", "CreateServiceW"),
        dce_rpc(6, "10.1.0.7", "10.1.0.8", "svcctl", "CreateServiceW"),
        // The jump host's daily work.
        dce_rpc(10, "10.9.0.2", "10.2.0.4", "svcctl", "StartServiceW"),
        // Querying services is no action.
        dce_rpc(11, "10.1.0.7", "10.2.0.9", "svcctl", "QueryServiceStatus"),
    ];
    let alerts = run(&events, hospital());
    let lateral = of(&alerts, "analytic-network-lateral-movement");
    assert_eq!(lateral.len(), 3, "{alerts:#?}");
    assert_eq!(
        lateral[0].facts["lateral.kind"],
        "administrative share mapped"
    );
    assert_eq!(
        lateral[0].level,
        Severity::Medium,
        "reaching a peer: medium"
    );
    assert!(
        !lateral[0].facts.contains_key("lateral.policy"),
        "one zone: the policy has nothing to say, the classes do"
    );
    assert_eq!(
        lateral[1].level,
        Severity::High,
        "running code on a peer: high"
    );
    assert_eq!(
        lateral[1].facts["lateral.operation"],
        "svcctl CreateServiceW"
    );
    assert_eq!(lateral[1].entities[0].value, "10.1.0.7");
    assert_eq!(lateral[1].entities[1].value, "10.1.0.8");
    assert_eq!(lateral[2].level, Severity::Informational, "the jump host");
    // Without an inventory the same service creation is medium (a first-seen edge).
    let bare = run(&events[1..3], Topology::default());
    assert_eq!(
        of(&bare, "analytic-network-lateral-movement")[0].level,
        Severity::Medium
    );
}

#[test]
fn a_chain_of_hosts_is_one_alert_naming_them_in_order() {
    use super::testkit::dce_rpc;
    let events = vec![
        dce_rpc(0, "10.1.0.7", "10.1.0.8", "svcctl", "CreateServiceW"),
        dce_rpc(600, "10.1.0.8", "10.2.0.20", "IWbemServices", "ExecMethod"),
        dce_rpc(
            900,
            "10.2.0.20",
            "10.2.0.30",
            "ITaskSchedulerService",
            "SchRpcRegisterTask",
        ),
        // Hours later: no longer the same path.
        dce_rpc(20_000, "10.2.0.30", "10.2.0.40", "svcctl", "CreateServiceW"),
    ];
    let alerts = run(&events, Topology::default());
    let chains = of(&alerts, "analytic-network-lateral-chain");
    assert_eq!(chains.len(), 2, "{alerts:#?}");
    assert_eq!(
        chains[0].facts["lateral.chain"],
        "10.1.0.7 → 10.1.0.8 → 10.2.0.20"
    );
    assert_eq!(
        chains[1].facts["lateral.chain"],
        "10.1.0.7 → 10.1.0.8 → 10.2.0.20 → 10.2.0.30"
    );
    assert_eq!(chains[1].facts["lateral.hops"], "3");
    let order: Vec<&str> = chains[1]
        .entities
        .iter()
        .take(4)
        .map(|e| e.value.as_str())
        .collect();
    assert_eq!(order, ["10.1.0.7", "10.1.0.8", "10.2.0.20", "10.2.0.30"]);
    assert_eq!(chains[0].level, Severity::High);
}

#[test]
fn dcsync_from_a_workstation_and_replication_between_controllers() {
    use super::testkit::dce_rpc;
    let events = vec![
        // Another controller answers Kerberos: it is a DC even without an inventory.
        kerberos(0, "10.1.0.7", "10.0.0.11", "nurse1", None),
        dce_rpc(10, "10.0.0.11", "10.0.0.10", "drsuapi", "DRSGetNCChanges"),
        dce_rpc(20, "10.1.0.66", "10.0.0.10", "drsuapi", "DRSBind"),
        dce_rpc(21, "10.1.0.66", "10.0.0.10", "drsuapi", "DRSGetNCChanges"),
        dce_rpc(22, "10.1.0.66", "10.0.0.10", "drsuapi", "DRSGetNCChanges"),
    ];
    for topo in [Topology::default(), hospital()] {
        let alerts = run(&events, topo);
        let d = of(&alerts, "analytic-network-dcsync");
        assert_eq!(d.len(), 1, "{alerts:#?}");
        assert_eq!(d[0].level, Severity::Critical);
        assert_eq!(d[0].entities[0].value, "10.1.0.66");
        assert_eq!(d[0].entities[1].value, "10.0.0.10");
        assert_eq!(d[0].facts["lateral.operation"], "drsuapi DRSGetNCChanges");
    }
}

#[test]
fn segmentation_names_both_ends_the_port_and_the_policy() {
    let session = |secs, src: &str, dst: &str, port| conn(secs, src, dst, port, "SF", 500);
    let events = vec![
        session(0, "10.50.3.17", "10.2.0.5", 445), // guest tablet → file server
        session(1, "10.5.0.40", "93.184.216.34", 443), // infusion pump → internet
        session(2, "10.5.0.40", "93.184.216.99", 443), // the same pump, another address
        session(3, "10.1.0.7", "10.2.0.5", 443),   // allowed
        session(4, "10.1.0.7", "10.2.0.5", 3389),  // not among the allowed ports
        session(5, "10.50.3.17", "8.8.8.8", 53),   // guests may reach the internet
        conn(6, "10.50.3.18", "10.2.0.5", 445, "S0", 0), // dropped by the firewall: no finding
    ];
    let alerts = run(&events, hospital());
    let seg = of(&alerts, "analytic-network-segmentation-violation");
    assert_eq!(seg.len(), 3, "{alerts:#?}");
    assert_eq!(seg[0].level, Severity::High);
    assert_eq!(seg[0].facts["segmentation.from"], "10.50.3.17 (zone guest)");
    assert_eq!(seg[0].facts["segmentation.to"], "10.2.0.5 (zone servers)");
    assert_eq!(seg[0].facts["segmentation.port"], "445/tcp");
    assert!(
        seg[0].facts["segmentation.policy"]
            .contains("zones.csv allows nothing from guest to servers")
    );
    assert_eq!(
        seg[1].facts["segmentation.to"],
        "93.184.216.34 (zone internet)"
    );
    assert_eq!(
        seg[1].level,
        Severity::High,
        "a medical device on the internet"
    );
    assert_eq!(seg[2].level, Severity::Medium);
    assert!(seg[2].facts["segmentation.policy"].contains(
        "not among the ports zones.csv allows from clinical to servers (zones.csv line 2)"
    ));
    // No policy, no segmentation findings.
    assert!(
        of(
            &run(&events, Topology::default()),
            "analytic-network-segmentation-violation"
        )
        .is_empty()
    );
}

/// Where the inventory names the machines, an alert names its source's host beside its
/// address (an exception can then be scoped to the host); the targets stay addresses.
#[test]
fn alerts_name_the_hosts_the_inventory_knows() {
    use super::testkit::dce_rpc;
    use wardwatch_core::EntityKind;
    let mut t = hospital();
    for (ip, name) in [("10.1.0.7", "WS-0007"), ("10.1.0.8", "WS-0008")] {
        t.add(
            format!("{ip}/32").parse().unwrap(),
            Role {
                class: NetClass::Workstation,
                zone: Some("clinical".into()),
                name: Some(name.into()),
            },
        );
    }
    let mut events = vec![dce_rpc(
        5,
        "10.1.0.7",
        "10.1.0.8",
        "svcctl",
        "CreateServiceW",
    )];
    // Then it sweeps twelve servers, a minute later.
    events.extend(
        sweep("10.1.0.7", 12, 1)
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                e.timestamp = super::testkit::at(60 + i as i64);
                e
            }),
    );
    let alerts = run(&events, t);
    let lateral = of(&alerts, "analytic-network-lateral-movement");
    let names: Vec<(EntityKind, &str)> = lateral[0]
        .entities
        .iter()
        .map(|e| (e.kind, e.value.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (EntityKind::Ip, "10.1.0.7"),
            (EntityKind::Host, "ws-0007"),
            (EntityKind::Ip, "10.1.0.8"),
        ]
    );
    let scan = of(&alerts, "analytic-network-horizontal-scan");
    assert!(!scan.is_empty(), "{alerts:#?}");
    let hosts: Vec<&str> = scan[0]
        .entities
        .iter()
        .filter(|e| e.kind == EntityKind::Host)
        .map(|e| e.value.as_str())
        .collect();
    assert_eq!(hosts, ["ws-0007"], "the scan's targets are not its hosts");
}
