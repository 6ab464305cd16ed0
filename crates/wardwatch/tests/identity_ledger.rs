//! `wardwatch identity load` and `wardwatch identity usage`: log files read into a store's
//! identity ledger offline, and the usage question answered from it as a table and as JSON.

use std::process::Command;

fn wardwatch(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn loaded_auth_logs_answer_where_and_how_an_account_was_used() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("auth.log");
    let mut text = String::new();
    // n.jansen: five days of ssh to app01 from her workstation, one sudo, and on the 3rd a
    // sign-in from an address never seen before.
    for day in 1..=5 {
        text.push_str(&format!(
            "<38>1 2026-12-0{day}T08:0{day}:00Z app01 sshd 4{day} - - Accepted password for n.jansen from 10.20.7.44 port 5100{day} ssh2\n"
        ));
    }
    text.push_str("<86>1 2026-12-02T09:00:00Z app01 sudo - - - n.jansen : TTY=pts/0 ; PWD=/home/n.jansen ; USER=root ; COMMAND=/usr/bin/systemctl restart epd\n");
    text.push_str("<38>1 2026-12-03T23:10:00Z app01 sshd 77 - - Failed password for n.jansen from 198.51.100.23 port 40000 ssh2\n");
    text.push_str("<38>1 2026-12-03T23:11:00Z app01 sshd 78 - - Accepted password for n.jansen from 198.51.100.23 port 40001 ssh2\n");
    // Someone else, and a line that is no identity use at all.
    text.push_str("<38>1 2026-12-02T08:00:00Z app01 sshd 90 - - Accepted password for p.devries from 10.20.7.50 port 5200 ssh2\n");
    text.push_str("<30>1 2026-12-02T08:00:00Z app01 systemd 1 - - Started Daily apt upgrade.\n");
    std::fs::write(&logs, text).unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (ok, _, err) = wardwatch(&["identity", "load", logs.to_str().unwrap(), "--data", data]);
    assert!(ok, "{err}");
    assert!(err.contains("10 events, 9 identity uses"), "{err}");

    let (ok, json, err) = wardwatch(&[
        "identity",
        "usage",
        "N.Jansen",
        "--data",
        data,
        "--from",
        "2026-12-03",
        "--to",
        "2026-12-05",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let u: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(u["account"], "n.jansen");
    assert_eq!(u["from"], "2026-12-03T00:00:00Z");
    assert_eq!(u["to"], "2026-12-06T00:00:00Z");
    assert_eq!(
        (u["uses"].as_u64(), u["failed"].as_u64()),
        (Some(5), Some(1)),
        "{u}"
    );
    let sources: Vec<(&str, bool)> = u["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["value"].as_str().unwrap(), p["new"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        sources,
        [("10.20.7.44", false), ("198.51.100.23", true)],
        "{u}"
    );
    assert_eq!(u["sources"][1]["first_seen"], "2026-12-03T23:10:00Z");
    assert_eq!(u["sources"][1]["last_seen"], "2026-12-03T23:11:00Z");

    let (ok, table, err) = wardwatch(&[
        "identity",
        "usage",
        "n.jansen",
        "--data",
        data,
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-05",
    ]);
    assert!(ok, "{err}");
    for want in [
        "n.jansen from 2026-12-01 to 2026-12-05 (whole UTC days)",
        "8 uses (7 succeeded, 1 failed)",
        "Hosts",
        "app01",
        "Logon types",
        "sudo",
        "ssh",
    ] {
        assert!(table.contains(want), "{want} in\n{table}");
    }
    // An account never seen, and bad input, are told apart from an answer.
    let (ok, _, err) = wardwatch(&["identity", "usage", "nobody", "--data", data]);
    assert!(!ok && err.contains("no use of account `nobody`"), "{err}");
    let (ok, _, err) = wardwatch(&[
        "identity",
        "usage",
        "n.jansen",
        "--data",
        data,
        "--from",
        "last week",
    ]);
    assert!(
        !ok && err.contains("--from: `last week` is not a time"),
        "{err}"
    );
    let empty = dir.path().join("empty");
    let (ok, _, err) = wardwatch(&[
        "identity",
        "usage",
        "n.jansen",
        "--data",
        empty.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("no store in"), "{err}");
}

/// With a GeoIP database (`--geoip`, as `serve`'s `identity.geoip`), the ledger names the
/// country of each source address; addresses the database does not know, and private ones,
/// have none.
#[test]
fn a_geoip_database_gives_the_ledger_its_countries() {
    use wardwatch_demo::mmdb::{GeoRecord, MmdbWriter};
    let dir = tempfile::tempdir().unwrap();
    let mut w = MmdbWriter::new("GeoLite2-City");
    let geo = |country: &str| GeoRecord {
        country: country.into(),
        city: None,
        latitude: 52.0,
        longitude: 5.0,
        accuracy_radius_km: 20,
    };
    w.insert("81.2.0.0/16", &geo("NL")).unwrap();
    w.insert("175.16.199.0/24", &geo("US")).unwrap();
    let mmdb = dir.path().join("geo.mmdb");
    std::fs::write(&mmdb, w.to_bytes()).unwrap();
    let logs = dir.path().join("auth.log");
    std::fs::write(
        &logs,
        "<38>1 2026-12-01T08:00:00Z app01 sshd 41 - - Accepted password for n.jansen from 81.2.69.160 port 51001 ssh2\n\
<38>1 2026-12-01T23:00:00Z app01 sshd 42 - - Failed password for n.jansen from 175.16.199.7 port 51002 ssh2\n\
<38>1 2026-12-02T08:00:00Z app01 sshd 43 - - Accepted password for n.jansen from 10.20.7.44 port 51003 ssh2\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (ok, _, err) = wardwatch(&[
        "identity",
        "load",
        logs.to_str().unwrap(),
        "--data",
        data,
        "--geoip",
        mmdb.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (ok, json, err) = wardwatch(&[
        "identity",
        "usage",
        "n.jansen",
        "--data",
        data,
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-02",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let u: serde_json::Value = serde_json::from_str(&json).unwrap();
    let countries: Vec<(&str, u64, u64)> = u["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["value"].as_str().unwrap(),
                p["succeeded"].as_u64().unwrap(),
                p["failed"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(countries, [("NL", 1, 0), ("US", 0, 1)], "{u}");
    assert_eq!(u["uses"], 3, "{u}");
    let (ok, _, err) = wardwatch(&[
        "identity",
        "load",
        logs.to_str().unwrap(),
        "--data",
        data,
        "--geoip",
        "/nonexistent.mmdb",
    ]);
    assert!(!ok && err.contains("--geoip /nonexistent.mmdb"), "{err}");
}
