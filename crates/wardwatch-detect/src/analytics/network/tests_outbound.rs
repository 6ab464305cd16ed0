//! Beaconing, DNS and large transfers out, with their benign look-alikes.

use wardwatch_core::{EntityKind, Event, Severity};

use super::NetClass;
use super::Topology;
use super::testkit::{dns, session};
use super::tests::{of, run, with_class};

/// `src` calling `dst`:443 every `every` seconds less up to `jitter` of it, for `hours`, sending
/// about `bytes`.
fn beacon(src: &str, dst: &str, every: i64, jitter: f64, hours: i64, bytes: u64) -> Vec<Event> {
    let mut t = 0;
    let mut out = Vec::new();
    let mut i = 0i64;
    while t < hours * 3600 {
        let off = ((i * 7919) % 100) as f64 / 100.0 * jitter * every as f64;
        t += every - off as i64;
        out.push(session(t, src, dst, 443, bytes + (i % 5) as u64, 1200));
        i += 1;
    }
    out
}

fn sorted(mut events: Vec<Event>) -> Vec<Event> {
    events.sort_by_key(|e| e.timestamp);
    events
}

#[test]
fn a_jittered_beacon_is_scored_and_explained() {
    let alerts = run(
        &beacon("10.1.1.20", "198.51.100.7", 300, 0.3, 8, 410),
        Topology::default(),
    );
    let b = of(&alerts, "analytic-network-beaconing");
    assert_eq!(b.len(), 1, "told once a day: {alerts:#?}");
    assert_eq!(b[0].level, Severity::Medium);
    assert_eq!(b[0].entities[0].value, "10.1.1.20");
    assert_eq!(b[0].entities[1].value, "198.51.100.7");
    assert_eq!(b[0].facts["beacon.destination"], "198.51.100.7:443");
    let score: f64 = b[0].facts["beacon.score"].parse().unwrap();
    assert!(score >= 0.8, "{:?}", b[0].facts);
    let interval: f64 = b[0].facts["beacon.interval_secs"].parse().unwrap();
    assert!((220.0..=300.0).contains(&interval));
    assert!(b[0].facts["beacon.explained"].contains("none other"));
}

#[test]
fn shared_destinations_browsing_ntp_and_the_backup_server_are_no_beacon() {
    // Thirty hosts check the same update service every hour.
    let mut events = Vec::new();
    for h in 0..30 {
        let mut e = beacon(&format!("10.1.2.{h}"), "20.190.1.1", 3600, 0.05, 30, 900);
        for (i, x) in e.iter_mut().enumerate() {
            x.timestamp = super::testkit::at(i as i64 * 3600 + h * 61);
        }
        events.extend(e);
    }
    // NTP every 64 s; browsing at random.
    events.extend(
        beacon("10.1.1.21", "192.0.2.123", 64, 0.0, 8, 48)
            .into_iter()
            .map(|mut e| {
                e.ecs.destination_port = Some(123);
                e
            }),
    );
    let mut t = 0;
    for i in 0..400i64 {
        t += 3 + (i * i * 37) % 400;
        events.push(session(
            t,
            "10.1.1.22",
            "203.0.113.80",
            443,
            300 + (i * 977 % 40_000) as u64,
            9000,
        ));
    }
    let alerts = run(&sorted(events), Topology::default());
    assert!(
        of(&alerts, "analytic-network-beaconing").is_empty(),
        "{alerts:#?}"
    );
    // The backup server's nightly regular pushes are informational.
    let alerts = run(
        &beacon("10.9.0.8", "198.51.100.99", 600, 0.0, 8, 50_000),
        with_class("10.9.0.8", NetClass::Backup),
    );
    let b = of(&alerts, "analytic-network-beaconing");
    assert!(b.iter().all(|a| a.level == Severity::Informational) && !b.is_empty());
}

fn hex_name(i: u64, domain: &str) -> String {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    let mut label = String::new();
    for _ in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        label.push(char::from_digit((x % 16) as u32, 16).unwrap());
    }
    format!("{}.{}.{domain}", &label[..30], &label[30..])
}

#[test]
fn dns_tunnelling_names_the_host_and_the_domain_and_shared_lookups_stay_quiet() {
    let mut events: Vec<Event> = (0..60)
        .map(|i| {
            dns(
                i * 5,
                "10.1.1.30",
                &hex_name(i as u64, "t.evil-c2.net"),
                "NOERROR",
            )
        })
        .collect();
    // Every host asks the antivirus cloud about file hashes (hashed names, shared).
    for i in 0..400 {
        let host = format!("10.1.3.{}", i % 40);
        events.push(dns(
            i,
            &host,
            &hex_name(1000 + i as u64, "avqs.example-av.com"),
            "NOERROR",
        ));
    }
    let alerts = run(&sorted(events), Topology::default());
    let t = of(&alerts, "analytic-network-dns-tunnelling");
    assert_eq!(t.len(), 1, "{alerts:#?}");
    assert_eq!(t[0].entities[0].value, "10.1.1.30");
    assert!(
        t[0].entities
            .iter()
            .any(|e| e.kind == EntityKind::Domain && e.value == "evil-c2.net")
    );
    assert_eq!(t[0].facts["dns.random_names"], "30");
    assert!(t[0].facts["dns.encoded_chars"].parse::<usize>().unwrap() >= 30 * 24);
}

#[test]
fn an_nxdomain_burst_across_domains_and_a_misconfigured_host_that_is_not() {
    let mut events: Vec<Event> = (0..60)
        .map(|i| {
            let name = format!("{}.com", &hex_name(i, "x")[..12]);
            dns(i as i64 * 3, "10.1.1.31", &name, "NXDOMAIN")
        })
        .collect();
    // Search suffixes: the hospital's own domain, over and over.
    for i in 0..200 {
        events.push(dns(
            i,
            "10.1.1.32",
            &format!("srv{}.corp.hospital.org", i % 50),
            "NXDOMAIN",
        ));
    }
    let alerts = run(&sorted(events), Topology::default());
    let n = of(&alerts, "analytic-network-nxdomain-burst");
    assert_eq!(n.len(), 1, "{alerts:#?}");
    assert_eq!(n[0].entities[0].value, "10.1.1.31");
    assert_eq!(n[0].facts["dns.nxdomain_answers"], "40");
}

/// `src` sending `n` connections of 100 MB to `dst` from `start`, a minute apart.
fn upload(start: i64, src: &str, dst: &str, n: i64) -> Vec<Event> {
    (0..n)
        .map(|i| session(start + i * 60, src, dst, 443, 100_000_000, 20_000))
        .collect()
}

#[test]
fn a_large_transfer_at_night_and_the_look_alikes() {
    // Monday 08:00 + 18 h = Tuesday 02:00.
    let night = 18 * 3600;
    let alerts = run(
        &upload(night, "10.1.1.40", "203.0.113.50", 12),
        Topology::default(),
    );
    let x = of(&alerts, "analytic-network-large-transfer-out");
    assert_eq!(x.len(), 1, "{alerts:#?}");
    assert_eq!(x[0].level, Severity::Medium);
    assert_eq!(x[0].facts["transfer.amount"], "1.0 GB");
    assert_eq!(x[0].entities[1].value, "203.0.113.50");
    // The same in working hours, or inside the hospital: nothing.
    let day = run(
        &upload(3600, "10.1.1.40", "203.0.113.50", 12),
        Topology::default(),
    );
    assert!(day.is_empty(), "{day:#?}");
    let inside = run(
        &upload(night, "10.1.1.40", "10.2.0.9", 12),
        Topology::default(),
    );
    assert!(inside.is_empty());
    // The backup server: informational. A host doing it every night: low from the fourth.
    let backup = run(
        &upload(night, "10.9.0.8", "203.0.113.50", 12),
        with_class("10.9.0.8", NetClass::Backup),
    );
    assert_eq!(backup[0].level, Severity::Informational);
    let nights: Vec<Event> = (0..5)
        .flat_map(|d| upload(night + d * 86_400, "10.1.1.41", "203.0.113.51", 12))
        .collect();
    let levels: Vec<Severity> = of(
        &run(&nights, Topology::default()),
        "analytic-network-large-transfer-out",
    )
    .iter()
    .map(|a| a.level)
    .collect();
    assert_eq!(
        levels,
        vec![
            Severity::Medium,
            Severity::Medium,
            Severity::Medium,
            Severity::Low,
            Severity::Low
        ]
    );
}
