//! The identity analytics of use, the same in `hunt` and `serve`: a constructed fortnight of a
//! small hospital's Windows logons and Okta sign-ins, with the roster and inventory in a
//! context folder, a tiny GeoIP database built here, and the hospital's time zone. Both must
//! raise impossible travel, a new host, a privileged account off-hours and a service account
//! used interactively — and nothing for the look-alikes (the on-call administrator at night,
//! the jump host, a service account's service logons).

mod common;

use std::path::Path;

use common::{Server, http_post};
use jiff::tz::TimeZone;
use jiff::{ToSpan, Zoned};
use serde_json::{Value, json};
use wardwatch_demo::mmdb::{GeoRecord, MmdbWriter};

const TZ: &str = "Europe/Amsterdam";

fn geo(country: &str, lat: f64, lon: f64) -> GeoRecord {
    GeoRecord {
        country: country.into(),
        city: None,
        latitude: lat,
        longitude: lon,
        accuracy_radius_km: 20,
    }
}

/// The context folder and the GeoIP database, written into `dir`.
fn setting(dir: &Path) {
    let ctx = dir.join("context");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("roster.csv"),
        "user,display_name,department,role,privileged\n\
jdoe,J. Doe,ICU,nurse,no\n\
adm-piet,P. Admin,ICT,system administrator,yes\n\
adm-kees,K. Admin,ICT,on-call admin,yes\n",
    )
    .unwrap();
    std::fs::write(
        ctx.join("inventory.csv"),
        "match,class,criticality,zone,name,department\n\
WS-ICU-01,workstation,2,clinical,,ICU\n\
SRV-EPR01,epr-server,5,servers,,ICT\n\
JUMP01,admin,4,admin,,ICT\n",
    )
    .unwrap();
    let mut w = MmdbWriter::new("GeoLite2-City");
    w.insert("81.2.0.0/16", &geo("NL", 52.09, 5.12)).unwrap();
    w.insert("175.16.199.0/24", &geo("US", 40.71, -74.01))
        .unwrap();
    std::fs::write(dir.join("geo.mmdb"), w.to_bytes()).unwrap();
}

/// The fortnight, oldest first, as JSON documents (flat Windows records and Okta events).
fn fortnight() -> Vec<Value> {
    let tz = TimeZone::get(TZ).unwrap();
    let start: Zoned = Zoned::now()
        .with_time_zone(tz)
        .date()
        .checked_sub(14.days())
        .unwrap()
        .to_zoned(TimeZone::get(TZ).unwrap())
        .unwrap();
    let at = |day: i64, hour: i64, min: i64| -> String {
        start
            .checked_add(day.days().hours(hour).minutes(min))
            .unwrap()
            .timestamp()
            .to_string()
    };
    let logon = |t: String, user: &str, host: &str, kind: u8, ws: &str| {
        json!({"@timestamp": t, "EventID": 4624, "Channel": "Security", "Computer": host,
            "TargetUserName": user, "TargetDomainName": "HOSP", "LogonType": kind.to_string(),
            "WorkstationName": ws, "IpAddress": "-"})
    };
    let okta = |t: String, user: &str, ip: &str| {
        json!({"published": t, "uuid": format!("{user}-{t}"), "eventType": "user.session.start",
            "actor": {"alternateId": format!("{user}@hosp.example"), "type": "User"},
            "client": {"ipAddress": ip}, "outcome": {"result": "SUCCESS"},
            "target": [{"displayName": "Citrix Workspace", "type": "AppInstance"}],
            "displayMessage": "User login to Okta"})
    };
    let mut docs = Vec::new();
    for d in 0..10 {
        docs.push(logon(at(d, 8, 0), "jdoe", "WS-ICU-01", 2, "WS-ICU-01"));
        docs.push(okta(at(d, 20, 0), "jdoe", "81.2.69.10"));
        // The administrator works weekdays (a weekend morning is off-hours too).
        let weekday = start.checked_add(d.days()).unwrap().weekday();
        if !matches!(
            weekday,
            jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
        ) {
            docs.push(logon(at(d, 10, 0), "adm-piet", "SRV-EPR01", 10, "JUMP01"));
        }
        docs.push(logon(at(d, 10, 5), "svc_sql", "SRV-EPR01", 5, ""));
    }
    // Day 11: jdoe signs in from the Netherlands, then from New York an hour later.
    docs.push(okta(at(11, 9, 0), "jdoe", "81.2.69.10"));
    docs.push(okta(at(11, 10, 0), "jdoe", "175.16.199.5"));
    // jdoe's account on the EPR server over remote desktop: a new host of another class.
    docs.push(logon(at(11, 11, 0), "jdoe", "SRV-EPR01", 10, "WS-ICU-01"));
    // adm-piet at 02:00 through the jump host (off-hours); adm-kees, on call, likewise.
    docs.push(logon(at(12, 2, 0), "adm-piet", "SRV-EPR01", 10, "JUMP01"));
    docs.push(logon(at(12, 2, 10), "adm-kees", "SRV-EPR01", 10, "JUMP01"));
    // The SQL service account typed in at the ward workstation.
    docs.push(logon(at(12, 9, 0), "svc_sql", "WS-ICU-01", 2, "WS-ICU-01"));
    docs
}

/// `(rule id, level)` of the identity-use alerts, sorted.
fn identity_alerts<'a>(rows: impl Iterator<Item = &'a Value>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = rows
        .filter_map(|a| {
            let id = a["rule_id"].as_str()?;
            (id.starts_with("analytic-identity-")
                && a["level"] != "informational"
                && a["level"] != "low")
                .then(|| {
                    (
                        id.to_string(),
                        a["level"].as_str().unwrap_or("").to_string(),
                    )
                })
        })
        .collect();
    v.sort();
    v
}

fn expected() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        ("analytic-identity-impossible-travel", "high"),
        ("analytic-identity-new-host", "medium"),
        ("analytic-identity-privileged-account-use", "medium"),
        ("analytic-identity-service-account-interactive", "high"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    v.sort();
    v
}

#[test]
fn hunt_and_serve_raise_the_same_identity_alerts() {
    let dir = tempfile::tempdir().unwrap();
    setting(dir.path());
    let docs = fortnight();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let text: String = docs.iter().map(|d| format!("{d}\n")).collect();
    std::fs::write(logs.join("identity.jsonl"), text).unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["hunt", "--format", "jsonl", "-q", "--context"])
        .arg(dir.path().join("context"))
        .arg("--geoip")
        .arg(dir.path().join("geo.mmdb"))
        .args(["--timezone", TZ])
        .arg(&logs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let hunted = identity_alerts(rows.iter());
    assert_eq!(hunted, expected(), "hunt");
    let travel = rows
        .iter()
        .find(|r| r["rule_id"] == "analytic-identity-impossible-travel")
        .unwrap();
    let names: Vec<&str> = travel["entities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["value"].as_str())
        .collect();
    assert!(
        names.contains(&"jdoe") && names.contains(&"175.16.199.5"),
        "{travel}"
    );

    // The same documents through a running server configured the same way.
    let config = dir.path().join("wardwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[incidents]\ncontext = {:?}\n[identity]\ngeoip = {:?}\ntimezone = \"{TZ}\"\n",
            dir.path().join("context"),
            dir.path().join("geo.mmdb")
        ),
    )
    .unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let mut body = String::new();
    for d in &docs {
        body.push_str("{\"index\":{}}\n");
        body.push_str(&d.to_string());
        body.push('\n');
    }
    let (status, resp) = http_post(server.http, "/_bulk", &body, Some(&server.ingest_token));
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["errors"], false, "{resp}");
    // Detection runs behind the journal: poll until the identity alerts are all there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let served = loop {
        let alerts = server.wait_alerts("", 1);
        let served = identity_alerts(alerts["alerts"].as_array().unwrap().iter());
        if served.len() >= expected().len() || std::time::Instant::now() > deadline {
            // The last document raises the last expected alert; anything surplus came before.
            break served;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(served, expected(), "serve");
}

#[test]
fn a_damaged_geoip_database_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("broken.mmdb");
    std::fs::write(&db, b"no tree, no metadata").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["hunt", "-q", "--geoip"])
        .arg(&db)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--geoip") && err.contains("broken.mmdb"),
        "{err}"
    );
}
