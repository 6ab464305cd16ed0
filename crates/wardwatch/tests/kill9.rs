//! Durability under kill -9: while a sender posts numbered events through `/_bulk` (retrying a
//! batch until it is acknowledged, with ES `_id`s), the server is killed with SIGKILL and
//! restarted several times. Afterwards every acknowledged event is stored exactly once, and
//! every alert that `wardwatch hunt` finds on the same events exists exactly once.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Server, free_port, http_get, request};

const EVENTS: usize = 6000;
const BATCH: usize = 200;
const RULE_ID: &str = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f";

fn rule() -> String {
    format!(
        "title: Kill-9 test marker\nid: {RULE_ID}\nlogsource: {{product: windows, category: process_creation}}\n\
         detection:\n  sel:\n    CommandLine|contains: 'kill9-marker'\n  condition: sel\nlevel: high\n"
    )
}

/// Event `n`: a Sysmon process creation; every 7th carries the marker the rule looks for.
fn doc(n: usize) -> String {
    let cmd = if n.is_multiple_of(7) {
        format!("cmd /c kill9-marker {n}")
    } else {
        format!("cmd /c echo {n}")
    };
    serde_json::json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "ws-k9",
        "TimeCreated": format!("2026-11-01T00:{:02}:{:02}Z", (n / 60) % 60, n % 60),
        "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": cmd, "n": n
    })
    .to_string()
}

#[test]
fn kill_9_loses_nothing_acknowledged_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("marker.yml"), rule()).unwrap();
    let data = dir.path().join("data");
    let http = format!("127.0.0.1:{}", free_port());
    let args = ["--rules", rules.to_str().unwrap()];
    let mut server = Server::start_in(&data, &http, "", &args);
    let addr = server.http;

    let acked = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sender = {
        let (acked, done) = (acked.clone(), done.clone());
        std::thread::spawn(move || {
            let mut retries = 0;
            for start in (0..EVENTS).step_by(BATCH) {
                let mut body = String::new();
                for n in start..(start + BATCH).min(EVENTS) {
                    body.push_str(&format!(
                        "{{\"create\":{{\"_id\":\"ev-{n}\"}}}}\n{}\n",
                        doc(n)
                    ));
                }
                // Retry until acknowledged: the server may be dead, restarting, or busy.
                loop {
                    match request(addr, "POST", "/_bulk", &body, Some("test-ingest")) {
                        Ok((200, v)) if v["errors"] == false => break,
                        _ => {
                            retries += 1;
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
                acked.store((start + BATCH).min(EVENTS), Ordering::SeqCst);
            }
            done.store(true, Ordering::SeqCst);
            retries
        })
    };

    // Kill -9 and restart at a few different moments while the sender runs.
    let mut kills = 0;
    for pause_ms in [150, 400, 250, 600, 300] {
        std::thread::sleep(Duration::from_millis(pause_ms));
        if done.load(Ordering::SeqCst) {
            break;
        }
        server.kill();
        kills += 1;
        server = Server::start_in(&data, &http, "", &args);
    }
    let retries = sender.join().unwrap();
    assert_eq!(acked.load(Ordering::SeqCst), EVENTS);
    eprintln!("kill -9: {kills} kill(s), {retries} retried request(s)");
    assert!(
        kills >= 2,
        "the sender finished before the server could be killed twice"
    );

    // Wait for detection to catch up.
    for _ in 0..600 {
        let (_, s) = http_get(server.http, "/api/v1/stats", Some("test-api"));
        if s["pipeline"]["queued"] == 0 && s["store"]["events"].as_u64() >= Some(EVENTS as u64) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // Every acknowledged event exactly once.
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/events?limit=1000&from=0&q=host.name:ws-k9".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = http_get(server.http, &path, Some("test-api"));
        assert_eq!(status, 200, "{page}");
        for e in page["events"].as_array().unwrap() {
            *seen.entry(e["raw"]["n"].as_u64().unwrap()).or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let dupes: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).collect();
    assert!(dupes.is_empty(), "stored more than once: {dupes:?}");
    assert_eq!(
        seen.len(),
        EVENTS,
        "missing events: {}",
        EVENTS - seen.len()
    );

    // Every alert hunt finds on the same events, exactly once.
    let jsonl = dir.path().join("events.jsonl");
    std::fs::write(&jsonl, (0..EVENTS).map(doc).collect::<Vec<_>>().join("\n")).unwrap();
    let hunt = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args([
            "hunt",
            jsonl.to_str().unwrap(),
            "-r",
            rules.to_str().unwrap(),
            "--format",
            "jsonl",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(hunt.status.success());
    let mut expected: Vec<u64> = String::from_utf8(hunt.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|f| f["rule_id"] == RULE_ID)
        .map(|f| f["record_id"].as_u64().unwrap() - 1)
        .collect();
    expected.sort();
    assert_eq!(expected.len(), EVENTS.div_ceil(7));
    let (_, alerts) = http_get(
        server.http,
        &format!("/api/v1/alerts?limit=1000&rule_id={RULE_ID}"),
        Some("test-api"),
    );
    let mut got: Vec<u64> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a["event"]["origin"]["id"]
                .as_str()
                .unwrap()
                .trim_start_matches("ev-")
                .parse()
                .unwrap()
        })
        .collect();
    got.sort();
    assert_eq!(alerts["total"].as_u64().unwrap() as usize, expected.len());
    assert_eq!(got, expected);
}
