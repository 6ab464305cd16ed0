//! `wardwatch serve` as a real process on ephemeral loopback ports: syslog from `logger` (UDP
//! and TCP, RFC 5424 and 3164), bulk ingest, streaming detection with the SigmaHQ rules on
//! EVTX-derived events, search and alerts over the API, `--print-config`.

mod common;

use common::{Server, http_get, http_post};

#[test]
fn print_config_shows_the_documented_defaults() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["serve", "--print-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:8080\""));
    assert!(text.contains("# Flush every commit to disk"));
}

fn logger(args: &[&str]) -> bool {
    std::process::Command::new("logger")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn syslog_from_logger_and_bulk_are_stored_searchable_and_detected() {
    let server = Server::start(&[]);
    let port = server.syslog.port().to_string();
    if !logger(&["--version"]) {
        eprintln!("skipped the logger part: `logger` (util-linux) is not installed");
    } else {
        assert!(logger(&[
            "-n",
            "127.0.0.1",
            "-P",
            &port,
            "-d",
            "--rfc5424",
            "-t",
            "sshd",
            "wwtest-udp-5424 Failed password for root"
        ]));
        assert!(logger(&[
            "-n",
            "127.0.0.1",
            "-P",
            &port,
            "-d",
            "--rfc3164",
            "wwtest-udp-3164 hello"
        ]));
        assert!(logger(&[
            "-n",
            "127.0.0.1",
            "-P",
            &port,
            "-T",
            "--rfc5424",
            "--octet-count",
            "wwtest-tcp-5424 hello"
        ]));
        assert!(logger(&[
            "-n",
            "127.0.0.1",
            "-P",
            &port,
            "-T",
            "--rfc3164",
            "wwtest-tcp-3164 hello"
        ]));
        for q in [
            "wwtest-udp-5424",
            "wwtest-udp-3164",
            "wwtest-tcp-5424",
            "wwtest-tcp-3164",
        ] {
            let v = server.wait_events(q, 1);
            assert_eq!(v["total"], 1, "{q}: {v}");
        }
        let v = server.wait_events("appname:sshd", 1);
        assert_eq!(v["events"][0]["raw"]["protocol"], "rfc5424", "{v}");
    }
    let doc = serde_json::json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "pacs01",
        "TimeCreated": "2026-11-01T03:00:00Z", "User": "HOSP\\mallory",
        "Image": "C:\\Windows\\System32\\vssadmin.exe", "CommandLine": "vssadmin delete shadows /all /quiet"
    });
    let body = format!("{{\"index\":{{}}}}\n{doc}\n");
    let (status, resp) = http_post(server.http, "/_bulk", &body, Some(&server.ingest_token));
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["errors"], false);
    let alerts = server.wait_alerts("", 1);
    let titles: Vec<&str> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule_title"].as_str().unwrap())
        .collect();
    assert!(titles.iter().any(|t| t.contains("Shadow")), "{titles:?}");
    // Stored as the sender wrote it (its own text, spliced into the journal document), and
    // read back as the same record.
    let v = server.wait_events("vssadmin", 1);
    assert_eq!(v["events"][0]["raw"], doc, "{v}");
    let (status, _) = http_post(server.http, "/_bulk", &body, Some("wrong-token"));
    assert_eq!(status, 401);
    let (status, m) = http_get(server.http, "/metrics", Some(&server.api_token));
    assert_eq!(status, 200);
    assert!(
        m.as_str()
            .unwrap()
            .contains("wardwatch_received_total{source=\"bulk\"} 1"),
        "{m}"
    );
    // The index runs on idle CPU; with nothing else to do it catches up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let m = http_get(server.http, "/metrics", Some(&server.api_token)).1;
        let m = m.as_str().unwrap();
        assert!(m.contains("# TYPE wardwatch_unindexed_events gauge"), "{m}");
        if m.contains("wardwatch_unindexed_events 0\n") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "index never caught up:\n{m}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn evtx_derived_events_raise_the_expected_sigmahq_alerts() {
    let Some(data) = common::shared("evtx_derived_events_raise_the_expected_sigmahq_alerts") else {
        return;
    };
    // A handful of SigmaHQ regression samples: each must raise its named rule once posted.
    let cases = [
        "rules/windows/process_creation/proc_creation_win_findstr_security_keyword_lookup",
        "rules/windows/registry/registry_set/registry_set_change_security_zones",
        "rules/windows/file/file_event/file_event_win_anydesk_artefact",
        "rules-emerging-threats/2026/Exploits/RedSun/win_defender_exploit_redsun_tiering_engine_detected_as_eicar",
    ];
    let rules = data.join("sigma/rules");
    let rules_et = data.join("sigma/rules-emerging-threats");
    let server = Server::start(&[
        "--rules",
        rules.to_str().unwrap(),
        "--rules",
        rules_et.to_str().unwrap(),
    ]);
    let mut expected = Vec::new();
    let mut body = String::new();
    for case in cases {
        let dir = data.join("evtx/sigma-regression-data").join(case);
        let info = std::fs::read_to_string(dir.join("info.yml")).unwrap();
        let id = info
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("- id:"))
            .unwrap()
            .trim()
            .to_string();
        expected.push(id);
        let evtx = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "evtx"))
            .unwrap();
        // The records as EVTX JSON, the way a forwarder converting EVTX would send them.
        wardwatch_ingest::decode_file(
            &evtx,
            1,
            |r| r,
            |item| {
                if let Ok(Ok(event)) = item {
                    body.push_str("{\"create\":{}}\n");
                    body.push_str(&event.raw.to_string());
                    body.push('\n');
                }
            },
        )
        .unwrap();
    }
    let (status, resp) = http_post(
        server.http,
        "/winlogbeat-8/_bulk",
        &body,
        Some(&server.ingest_token),
    );
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["errors"], false, "{resp}");
    for id in &expected {
        let v = server.wait_alerts(&format!("rule_id={id}"), 1);
        assert!(
            v["total"].as_u64().unwrap() >= 1,
            "rule {id} did not fire: {v}"
        );
    }
}

#[test]
fn correlation_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("failed.yml"),
        "title: Failed logon (test)\nid: 8d1e6f0a-1b2c-4d3e-9f40-5a6b7c8d9e0f\nname: test_failed_logon\n\
         logsource: {product: windows, service: security}\ndetection:\n  sel: {EventID: 4625}\n  condition: sel\nlevel: low\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("spray.yml"),
        "title: Many failed logons (test)\nid: 9e2f7a1b-2c3d-4e4f-8a51-6b7c8d9e0f1a\ncorrelation:\n  type: event_count\n  rules: [test_failed_logon]\n  group-by: [IpAddress]\n  timespan: 1h\n  condition: {gte: 3}\nlevel: high\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let args = ["--rules", rules.to_str().unwrap()];
    let post = |server: &Server, n: usize| {
        let doc = serde_json::json!({"EventID": 4625, "Channel": "Security", "Computer": "dc01",
            "TimeCreated": format!("2026-11-01T02:00:0{n}Z"), "TargetUserName": format!("user{n}"),
            "IpAddress": "10.9.9.9"});
        let (status, v) = http_post(
            server.http,
            "/_bulk",
            &format!("{{\"index\":{{}}}}\n{doc}\n"),
            Some("test-ingest"),
        );
        assert_eq!(status, 200, "{v}");
    };
    let mut server = Server::start_in(&data, "127.0.0.1:0", "", &args);
    post(&server, 1);
    post(&server, 2);
    let processed = |server: &Server, n: u64| {
        for _ in 0..300 {
            let (_, s) = http_get(server.http, "/api/v1/stats", Some("test-api"));
            if s["pipeline"]["queued"] == 0 && s["store"]["events"].as_u64() >= Some(n) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("detection did not catch up");
    };
    processed(&server, 2);
    server.kill();
    let server = Server::start_in(&data, "127.0.0.1:0", "", &args);
    post(&server, 3);
    let v = server.wait_alerts("rule_id=9e2f7a1b-2c3d-4e4f-8a51-6b7c8d9e0f1a", 1);
    assert_eq!(
        v["total"], 1,
        "the third failure after the restart must complete the count: {v}"
    );
}
