//! `wardwatch demo`: the generated week fed through a real server shows the three story
//! incidents through the API, and the password spray in the identity ledger; `--generate-only`
//! writes files `hunt` reads.

mod common;

use std::process::Command;

use common::{http_get, start_demo};

#[test]
fn demo_feeds_a_week_and_serves_its_incidents() {
    let demo = start_demo(&[]);
    let (http, data) = (demo.http, &demo.data);
    let (status, v) = http_get(http, "/api/v1/incidents?min_severity=medium", Some("demo"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["total"], 3,
        "the three stories, and nothing else above low: {v}"
    );
    for inc in v["incidents"].as_array().unwrap() {
        assert!(inc["alert_count"].as_u64().unwrap() >= 5, "{inc}");
        assert!(
            !inc["recommendations"].as_array().unwrap().is_empty(),
            "{inc}"
        );
        assert!(
            inc["narrative"]
                .as_str()
                .unwrap()
                .contains("What to do now"),
            "{inc}"
        );
    }
    // The password spray is in its incident and in the identity ledger: every account the
    // guest Wi-Fi tablet tried has a failed use from it on the domain controller, and the one
    // it guessed a successful one, a new source for that account.
    let spray = v["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["ips"].to_string().contains("10.99.3.17"))
        .unwrap_or_else(|| panic!("no incident names the spraying tablet: {v}"));
    let tried: Vec<&str> = spray["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u.as_str())
        .collect();
    assert!(tried.len() >= 10, "{spray}");
    let mut guessed = Vec::new();
    for user in &tried {
        let (status, u) = http_get(
            http,
            &format!("/api/v1/identities/{user}/usage?from=now-8d"),
            Some("demo"),
        );
        assert_eq!(status, 200, "{user}: {u}");
        let from_tablet = u["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["value"] == "10.99.3.17")
            .unwrap_or_else(|| panic!("{user}: the tablet is not among the sources: {u}"));
        assert!(from_tablet["failed"].as_u64().unwrap() >= 1, "{user}: {u}");
        assert!(u["hosts"].to_string().contains("\"dc01."), "{user}: {u}");
        if from_tablet["succeeded"].as_u64().unwrap() > 0 {
            assert_eq!(from_tablet["new"], true, "{user}: {u}");
            guessed.push(user.to_string());
        }
    }
    assert_eq!(guessed.len(), 1, "one account guessed: {guessed:?}");
    // The terminal view of the same store.
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args([
            "incidents",
            "list",
            "--data",
            data.to_str().unwrap(),
            "--min-severity",
            "medium",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("PACS01"), "{list}");
    let id = v["incidents"][0]["id"].as_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["incidents", "show", id, "--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&out.stdout);
    assert!(
        show.contains("What happened") && show.contains("History"),
        "{show}"
    );
}

#[test]
fn generate_only_writes_files_hunt_reads() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args([
            "demo",
            "--generate-only",
            dir.path().to_str().unwrap(),
            "--scale",
            "0.05",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "windows.jsonl",
        "syslog.log",
        "eve.json",
        "mail.jsonl",
        "inventory.csv",
        "roster.csv",
        "stories.json",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let hunt = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args([
            "hunt",
            dir.path().to_str().unwrap(),
            "--format",
            "csv",
            "-q",
        ])
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&hunt.stdout);
    for rule in [
        "LSASS Dump Via Comsvcs.dll MiniDump",
        "Shadow Copies Deleted With Vssadmin",
        "Password Spraying",
    ] {
        assert!(
            csv.contains(rule),
            "hunt over the generated week must find `{rule}`:\n{csv}"
        );
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args([
            "incidents",
            "list",
            "--data",
            dir.path().join("nowhere").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no store in"));
}
