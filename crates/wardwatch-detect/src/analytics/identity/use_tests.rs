//! The analytics of identity use on constructed events: each positive case and its
//! look-alikes (the jump host, the on-call administrator, a trip across a border, service
//! logons of service accounts).

use std::sync::Arc;

use serde_json::{Value, json};
use wardwatch_core::{Event, Origin, Severity, SourceKind};
use wardwatch_demo::mmdb::{GeoRecord, MmdbWriter};

use super::directory::{Directory, Machine, Person, WorkHours};
use crate::analytics::network::NetClass;
use crate::analytics::{Analytics, reduce};
use crate::engine::Detection;
use crate::geoip::GeoIp;

const DAY: i64 = 86_400;
/// Monday 2024-06-03 00:00 UTC.
const MONDAY: i64 = 1_717_372_800;

fn stamp(e: &mut Event, t: i64) {
    e.timestamp = jiff::Timestamp::from_second(MONDAY + t).unwrap();
    e.origin = Origin {
        source: "t".into(),
        record_id: Some(t as u64),
        ..Origin::default()
    };
}

/// A Windows Security record as `windows::normalize` leaves it.
fn win(t: i64, code: u32, host: &str, data: Value) -> Event {
    let mut raw = data;
    let o = raw.as_object_mut().unwrap();
    o.insert("EventID".into(), json!(code));
    o.insert("Channel".into(), json!("Security"));
    o.insert("Computer".into(), json!(host));
    let get = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    let user = get("TargetUserName").or_else(|| get("SubjectUserName"));
    let ip = get("IpAddress");
    let mut e = Event::new(SourceKind::FlatWindows, jiff::Timestamp::UNIX_EPOCH, raw);
    stamp(&mut e, t);
    e.ecs.channel = Some("Security".into());
    e.ecs.event_code = Some(code.to_string());
    e.ecs.host_name = Some(host.into());
    e.ecs.user_name = user;
    e.ecs.source_ip = ip;
    let (cat, action, outcome) = match code {
        4624 => ("authentication", "logged-in", Some("success")),
        4625 => ("authentication", "logon-failed", Some("failure")),
        4672 => ("iam", "special-privileges-assigned", None),
        _ => ("", "", None),
    };
    if !cat.is_empty() {
        e.ecs.event_category = Some(cat.into());
        e.ecs.event_action = Some(action.into());
    }
    e.ecs.event_outcome = outcome.map(str::to_string);
    e
}

fn logon(t: i64, user: &str, host: &str, kind: u8, from: &str) -> Event {
    let mut data = json!({"TargetUserName": user, "LogonType": kind.to_string()});
    if from.parse::<std::net::IpAddr>().is_ok() {
        data["IpAddress"] = json!(from);
    } else if !from.is_empty() {
        data["WorkstationName"] = json!(from);
    }
    win(t, 4624, host, data)
}

/// A VPN sign-in from `ip`, as the VPN decoders normalize it.
fn vpn(t: i64, user: &str, ip: &str) -> Event {
    let mut e = Event::new(
        SourceKind::Syslog,
        jiff::Timestamp::UNIX_EPOCH,
        json!("vpn"),
    );
    stamp(&mut e, t);
    e.ecs.host_name = Some("vpn01".into());
    e.ecs.event_provider = Some("openvpn".into());
    e.ecs.event_category = Some("authentication".into());
    e.ecs.event_action = Some("logged-in".into());
    e.ecs.event_outcome = Some("success".into());
    e.ecs.user_name = Some(user.into());
    e.ecs.source_ip = Some(ip.into());
    e
}

/// An Entra sign-in placed by Entra itself.
fn entra(t: i64, user: &str, ip: &str, country: &str, lat: f64, lon: f64) -> Event {
    let raw = json!({"category": "SignInLogs", "properties": {"location": {
        "countryOrRegion": country, "geoCoordinates": {"latitude": lat, "longitude": lon}}}});
    let mut e = Event::new(SourceKind::Json, jiff::Timestamp::UNIX_EPOCH, raw);
    stamp(&mut e, t);
    e.ecs.event_provider = Some("entra-id".into());
    e.ecs.event_category = Some("authentication".into());
    e.ecs.event_action = Some("sign-in".into());
    e.ecs.event_outcome = Some("success".into());
    e.ecs.host_name = Some("Office 365".into());
    e.ecs.user_name = Some(user.into());
    e.ecs.source_ip = Some(ip.into());
    e
}

fn geo(country: &str, lat: f64, lon: f64) -> GeoRecord {
    GeoRecord {
        country: country.into(),
        city: None,
        latitude: lat,
        longitude: lon,
        accuracy_radius_km: 20,
    }
}

fn hospital() -> Directory {
    let mut d = Directory::default();
    let mut w = MmdbWriter::new("GeoLite2-City");
    w.insert("81.2.0.0/16", &geo("NL", 52.09, 5.12)).unwrap();
    w.insert("84.192.0.0/16", &geo("BE", 50.85, 4.35)).unwrap();
    w.insert("175.16.199.0/24", &geo("US", 40.71, -74.01))
        .unwrap();
    d.set_geoip(Arc::new(GeoIp::from_bytes(w.to_bytes()).unwrap()));
    let machine = |class, dep: Option<&str>| Machine {
        class,
        department: dep.map(str::to_string),
    };
    for h in ["ws-icu-01", "ws-icu-02", "ws-icu-07"] {
        d.add_host(h, machine(NetClass::Workstation, Some("ICU")));
    }
    d.add_host(
        "ws-rad-01",
        machine(NetClass::Workstation, Some("Radiology")),
    );
    d.add_host("ws-ict-01", machine(NetClass::Workstation, Some("ICT")));
    d.add_host("srv-epr01", machine(NetClass::Server, Some("ICT")));
    d.add_host("jump01", machine(NetClass::Admin, Some("ICT")));
    d.add_network(
        "10.20.0.0/16".parse().unwrap(),
        machine(NetClass::Workstation, None),
    );
    d.add_person(
        "jdoe",
        Person::from_roster(Some("ICU"), Some("nurse"), false),
    );
    d.add_person(
        "adm-piet",
        Person::from_roster(Some("ICT"), Some("system administrator"), true),
    );
    d.add_person(
        "adm-kees",
        Person::from_roster(Some("ICT"), Some("on-call admin"), true),
    );
    d.set_work_hours(WorkHours::default());
    d
}

fn analytics() -> Analytics {
    let mut a = Analytics::default();
    a.set_directory(Arc::new(hospital()));
    a
}

/// Feed `events` (sorted by time) and return the identity-use alerts: (rule id, level, time).
fn run(a: &mut Analytics, events: &[Event]) -> Vec<(String, Severity, i64)> {
    let mut events = events.to_vec();
    events.sort_by_key(|e| e.timestamp);
    let mut out = Vec::new();
    for e in &events {
        for d in a.observe(e, &[]) {
            if d.rule.id.starts_with("analytic-identity-") {
                out.push((
                    d.rule.id.clone(),
                    d.rule.level,
                    e.timestamp.as_second() - MONDAY,
                ));
            }
        }
    }
    out
}

fn ids(found: &[(String, Severity, i64)]) -> Vec<(&str, Severity)> {
    found.iter().map(|(i, l, _)| (i.as_str(), *l)).collect()
}

/// Ten days of ordinary morning logons of `user` on `host` and VPN sign-ins from the
/// Netherlands.
fn habits(user: &str, host: &str, kind: u8) -> Vec<Event> {
    (0..10)
        .flat_map(|d| {
            [
                logon(d * DAY + 9 * 3600, user, host, kind, "ws-icu-01"),
                vpn(d * DAY + 20 * 3600, user, "81.2.69.10"),
            ]
        })
        .collect()
}

#[test]
fn impossible_travel_between_the_netherlands_and_new_york() {
    let mut a = analytics();
    let mut ev = habits("jdoe", "ws-icu-01", 2);
    let base = 10 * DAY + 8 * 3600;
    ev.push(vpn(base, "jdoe", "81.2.69.10"));
    ev.push(vpn(base + 2 * 3600, "jdoe", "175.16.199.5"));
    let found = run(&mut a, &ev);
    assert_eq!(
        ids(&found),
        [("analytic-identity-impossible-travel", Severity::High)],
        "a new country as well: high"
    );
}

#[test]
fn a_border_crossing_and_a_long_flight_are_not_travel() {
    let mut a = analytics();
    let mut ev = habits("jdoe", "ws-icu-01", 2);
    let base = 10 * DAY + 8 * 3600;
    // Utrecht to Brussels in an hour: 150 km, not travel; Belgium is new: medium.
    ev.push(vpn(base, "jdoe", "84.192.3.4"));
    // New York twelve hours after Brussels: 5,900 km at ~490 km/h, a flight.
    ev.push(vpn(base + 13 * 3600, "jdoe", "175.16.199.5"));
    let found = run(&mut a, &ev);
    assert_eq!(
        ids(&found),
        [
            ("analytic-identity-new-country", Severity::Medium),
            ("analytic-identity-new-country", Severity::Medium)
        ]
    );
}

#[test]
fn identity_provider_places_work_without_a_database() {
    let mut a = Analytics::default();
    let mut ev: Vec<Event> = (0..3)
        .map(|d| {
            entra(
                d * DAY,
                "n.jansen@hosp.example",
                "81.2.69.10",
                "NL",
                52.09,
                5.12,
            )
        })
        .collect();
    ev.push(entra(
        2 * DAY + 1800,
        "n.jansen@hosp.example",
        "198.51.100.9",
        "BR",
        -23.55,
        -46.63,
    ));
    let found = run(&mut a, &ev);
    assert_eq!(
        ids(&found),
        [("analytic-identity-impossible-travel", Severity::Medium)],
        "still learning: medium"
    );
}

#[test]
fn a_country_many_colleagues_sign_in_from_is_low_and_first_places_only_teach() {
    let mut a = analytics();
    let mut ev = Vec::new();
    // Ten accounts sign in from the Netherlands, five of them also from Belgium.
    for u in 0..10 {
        for d in 0..10 {
            ev.push(vpn(
                d * DAY + 3600 * 8 + u,
                &format!("user{u}"),
                "81.2.69.10",
            ));
        }
        if u < 5 {
            ev.push(vpn(
                2 * DAY + 3600 * 12 + u,
                &format!("user{u}"),
                "84.192.3.4",
            ));
        }
    }
    // After learning, user9 signs in from Belgium (common here): low.
    ev.push(vpn(11 * DAY, "user9", "84.192.3.4"));
    // A new account's first placed use from the Netherlands only teaches its profile.
    ev.push(vpn(20 * DAY, "newcomer", "81.2.69.10"));
    let found = run(&mut a, &ev);
    assert_eq!(
        ids(&found),
        [("analytic-identity-new-country", Severity::Low)]
    );
}

#[test]
fn new_hosts_are_levelled_by_how_unusual_they_are() {
    let mut a = analytics();
    let mut ev = habits("jdoe", "ws-icu-01", 2);
    let day = 10 * DAY + 10 * 3600;
    ev.push(logon(day, "jdoe", "ws-icu-02", 2, ""));
    ev.push(logon(day + 60, "jdoe", "ws-rad-01", 2, ""));
    ev.push(logon(day + 120, "jdoe", "srv-file", 3, "ws-icu-01"));
    ev.push(logon(day + 180, "jdoe", "srv-epr01", 10, "ws-icu-01"));
    let found = run(&mut a, &ev);
    assert_eq!(
        ids(&found),
        [
            ("analytic-identity-new-host", Severity::Low),
            ("analytic-identity-new-host", Severity::Low),
            ("analytic-identity-new-host", Severity::Medium),
        ],
        "own ward, same class, (network logon: nothing), a server outside the department"
    );
}

#[test]
fn the_jump_host_is_informational_for_administrators_only() {
    let mut a = analytics();
    let mut ev = habits("adm-piet", "srv-epr01", 10);
    ev.extend(habits("jdoe", "ws-icu-01", 2));
    let day = 10 * DAY + 10 * 3600;
    ev.push(logon(day, "adm-piet", "jump01", 10, "10.30.0.5"));
    ev.push(logon(day + 60, "jdoe", "jump01", 10, "ws-icu-01"));
    let found: Vec<_> = run(&mut a, &ev)
        .into_iter()
        .filter(|f| f.0 == "analytic-identity-new-host")
        .collect();
    assert_eq!(
        ids(&found),
        [
            ("analytic-identity-new-host", Severity::Informational),
            ("analytic-identity-new-host", Severity::Medium),
        ]
    );
}

#[test]
fn privileged_accounts_off_hours_or_from_workstations() {
    let mut a = analytics();
    let at = |d: i64, h: i64| d * DAY + h * 3600;
    let ev = vec![
        // Monday 10:00 through the jump host: the way it should be.
        logon(at(0, 10), "adm-piet", "srv-epr01", 10, "jump01"),
        // Tuesday 02:00 through the jump host: off-hours.
        logon(at(1, 2), "adm-piet", "srv-epr01", 10, "jump01"),
        // The on-call administrator at 02:00: nothing.
        logon(at(1, 2) + 60, "adm-kees", "srv-epr01", 10, "jump01"),
        // Wednesday 10:00, remote desktop from a ward workstation: medium.
        logon(at(2, 10), "adm-piet", "srv-epr01", 10, "ws-icu-07"),
        // Thursday 03:00 at the keyboard of a ward workstation: both, high.
        logon(at(3, 3), "adm-piet", "ws-icu-02", 2, ""),
        // A nurse at night on her ward: nothing (not privileged).
        logon(at(3, 3) + 60, "jdoe", "ws-icu-01", 2, ""),
        // A service logon of the administrator at night is no interactive use.
        logon(at(3, 4), "adm-piet", "srv-epr01", 5, ""),
        // Friday 10:00 at the desk in the ICT department: low.
        logon(at(4, 10), "adm-piet", "ws-ict-01", 2, ""),
    ];
    let found = run(&mut a, &ev);
    let priv_: Vec<_> = found
        .iter()
        .filter(|f| f.0 == "analytic-identity-privileged-account-use")
        .map(|f| (f.1, f.2 / DAY))
        .collect();
    assert_eq!(
        priv_,
        [
            (Severity::Medium, 1),
            (Severity::Medium, 2),
            (Severity::High, 3),
            (Severity::Low, 4)
        ]
    );
}

#[test]
fn a_4672_makes_its_logon_privileged() {
    let mut a = analytics();
    let t = 10 * 3600;
    let mut first = logon(t, "it-jan", "srv-epr01", 10, "ws-icu-07");
    first.raw["TargetLogonId"] = json!("0x3E7A1");
    let special = win(
        t + 1,
        4672,
        "srv-epr01",
        json!({"SubjectUserName": "it-jan", "SubjectLogonId": "0x3e7a1"}),
    );
    let found = run(&mut a, &[first, special]);
    assert_eq!(
        found,
        [(
            "analytic-identity-privileged-account-use".to_string(),
            Severity::Medium,
            t + 1
        )]
    );
    // Learned: the next remote desktop from a workstation is judged at once (another place).
    let again = logon(t + 600, "it-jan", "srv-epr01", 10, "10.20.4.4");
    assert_eq!(run(&mut a, &[again]).len(), 1);
}

#[test]
fn service_accounts_signed_in_interactively() {
    let mut a = analytics();
    let t = 10 * 3600;
    let ev = vec![
        logon(t, "svc_backup", "srv-epr01", 5, ""),
        logon(t + 1, "svc_backup", "srv-epr01", 3, "10.9.0.4"),
        logon(t + 2, "svc_backup", "srv-epr01", 4, ""),
        logon(t + 60, "svc_backup", "srv-epr01", 10, "jump01"),
        logon(t + 120, "svc_sql", "ws-icu-01", 2, ""),
        logon(t + 180, "svcmanager", "ws-icu-01", 2, ""),
    ];
    let found = run(&mut a, &ev);
    assert_eq!(
        ids(&found),
        [
            (
                "analytic-identity-service-account-interactive",
                Severity::Medium
            ),
            (
                "analytic-identity-service-account-interactive",
                Severity::High
            ),
        ]
    );
}

#[test]
fn reduced_copies_raise_the_same_alerts_as_their_events() {
    let mut ev = habits("jdoe", "ws-icu-01", 2);
    let base = 10 * DAY + 8 * 3600;
    ev.push(vpn(base, "jdoe", "81.2.69.10"));
    ev.push(vpn(base + 2 * 3600, "jdoe", "175.16.199.5"));
    ev.push(logon(base + 3 * 3600, "jdoe", "srv-epr01", 10, "ws-icu-01"));
    ev.push(logon(base + 4 * 3600, "svc_sql", "ws-icu-01", 2, ""));
    let mut first = logon(base, "it-jan", "srv-epr01", 10, "ws-icu-07");
    first.raw["TargetLogonId"] = json!("0x99");
    ev.push(first);
    ev.push(win(
        base + 1,
        4672,
        "srv-epr01",
        json!({"SubjectUserName": "it-jan", "SubjectLogonId": "0x99"}),
    ));
    let full = run(&mut analytics(), &ev);
    let copies: Vec<Event> = ev
        .iter()
        .filter(|e| Analytics::wants(e, &[] as &[Detection]))
        .map(reduce)
        .collect();
    let reduced = run(&mut analytics(), &copies);
    assert_eq!(full.len(), 4, "{full:?}");
    assert_eq!(full, reduced);
}

#[test]
fn state_survives_a_restore_and_keeps_the_directory() {
    let mut a = analytics();
    run(&mut a, &habits("jdoe", "ws-icu-01", 2));
    let saved = serde_json::to_value(&a).unwrap();
    let mut b: Analytics = serde_json::from_value(saved).unwrap();
    b.set_directory(Arc::new(hospital()));
    let found = run(
        &mut b,
        &[logon(
            10 * DAY + 10 * 3600,
            "jdoe",
            "srv-epr01",
            10,
            "ws-icu-01",
        )],
    );
    assert_eq!(
        ids(&found),
        [("analytic-identity-new-host", Severity::Medium)]
    );
}
