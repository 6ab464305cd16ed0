//! The command line, end to end: `wardwatch hunt` and `wardwatch rules check` on small fixtures
//! written by the tests.

use std::path::Path;
use std::process::{Command, Output};

fn wardwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(args)
        .output()
        .expect("run wardwatch")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const RULE: &str = r#"
title: Shadow copies deleted (test)
id: 0e8a3c55-7f51-4b0a-9a54-6a2b1c3d4e5f
logsource: {product: windows, category: process_creation}
detection:
    sel:
        Image|endswith: '\vssadmin.exe'
        CommandLine|contains|all: [delete, shadows]
    condition: sel
level: high
tags: [attack.impact, attack.t1490]
wardwatch: {recommendation: Isolate the host., assets: [server]}
"#;

/// A flat Sysmon-style JSON line for a process creation.
fn process(host: &str, second: u32, image: &str, cmd: &str) -> String {
    serde_json::json!({
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": host,
        "TimeCreated": format!("2026-03-01T10:00:{second:02}Z"),
        "Image": image,
        "CommandLine": cmd,
        "User": "HOSP\\alice",
    })
    .to_string()
}

fn fixture(dir: &Path) {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/vss.yml"), RULE).unwrap();
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let vss = "C:\\Windows\\System32\\vssadmin.exe";
    let a = [
        process("pacs01", 5, vss, "vssadmin delete shadows /all /quiet"),
        process("pacs01", 6, "C:\\Windows\\System32\\notepad.exe", "notepad"),
        "{\"EventID\": 1, \"Channel\": \"Microsoft-Wind".to_string(), // half-written line
    ];
    std::fs::write(logs.join("a.jsonl"), a.join("\n")).unwrap();
    let b = [process(
        "ws042",
        1,
        vss,
        "vssadmin.exe Delete Shadows /For=C:",
    )];
    std::fs::write(logs.join("b.jsonl"), b.join("\n")).unwrap();
}

#[test]
fn hunt_reports_detections_in_time_order_as_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let logs = dir.path().join("logs");
    let rules = dir.path().join("rules");
    let out = wardwatch(&[
        "hunt",
        logs.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{}", text(&out.stdout));
    assert_eq!(rows[0]["host"], "ws042");
    assert_eq!(rows[1]["host"], "pacs01");
    for key in [
        "rule_id",
        "rule_title",
        "level",
        "timestamp",
        "host",
        "file",
        "record_id",
        "event_id",
        "channel",
        "tags",
    ] {
        assert!(rows[0].get(key).is_some(), "missing {key}");
    }
    assert_eq!(rows[0]["level"], "high");
    assert_eq!(rows[0]["event_id"], "1");
    assert_eq!(rows[0]["tags"][1], "attack.t1490");
    assert_eq!(rows[0]["recommendation"], "Isolate the host.");
    // What the finding names, the acting side first (`../shared/DESIGN.md`).
    assert_eq!(rows[0]["user"], "alice");
    assert_eq!(
        rows[0]["entities"],
        serde_json::json!([
            {"kind": "user", "value": "alice"},
            {"kind": "host", "value": "ws042"}
        ])
    );
    let summary = text(&out.stderr);
    assert!(summary.contains("events     3"), "{summary}");
    assert!(summary.contains("skipped    1"), "{summary}");
    assert!(summary.contains("a.jsonl at byte"), "{summary}");
    assert!(summary.contains("high 2"), "{summary}");
}

#[test]
fn output_is_identical_across_thread_counts_and_formats_parse() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let logs = dir.path().join("logs");
    let rules = dir.path().join("rules");
    let run = |threads: &str, format: &str| {
        let out = wardwatch(&[
            "hunt",
            logs.to_str().unwrap(),
            "-r",
            rules.to_str().unwrap(),
            "--format",
            format,
            "--threads",
            threads,
            "-q",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(run("1", "jsonl"), run("4", "jsonl"));
    let csv = run("2", "csv");
    assert!(csv.starts_with("timestamp,level,rule_title,rule_id,host"));
    assert_eq!(csv.lines().count(), 3);
    let table = run("2", "table");
    assert!(table.contains("Shadow copies deleted (test)"));
    assert!(table.contains("CommandLine: vssadmin delete shadows"));
}

#[test]
fn min_level_and_output_file() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let logs = dir.path().join("logs");
    let rules = dir.path().join("rules");
    let out_file = dir.path().join("out.jsonl");
    let out = wardwatch(&[
        "hunt",
        logs.to_str().unwrap(),
        "-r",
        rules.to_str().unwrap(),
        "--format",
        "jsonl",
        "--min-level",
        "critical",
        "-o",
        out_file.to_str().unwrap(),
        "-q",
    ]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "");
    let bad = wardwatch(&["hunt", logs.to_str().unwrap(), "--min-level", "severe"]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("severe"));
}

#[test]
fn builtin_pack_is_used_without_rules_and_loads_cleanly() {
    let check = wardwatch(&["rules", "check"]);
    assert!(check.status.success(), "{}", text(&check.stdout));
    let stdout = text(&check.stdout);
    assert!(stdout.contains("failed 0"), "{stdout}");
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let out = wardwatch(&[
        "hunt",
        dir.path().join("logs").to_str().unwrap(),
        "--format",
        "jsonl",
        "-q",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("vssadmin"),
        "the built-in pack should catch shadow-copy deletion: {}",
        text(&out.stdout)
    );
}

#[test]
fn rules_check_names_each_bad_rule_and_its_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yml"), RULE).unwrap();
    std::fs::write(dir.path().join("broken.yml"), "title: [unclosed\n").unwrap();
    std::fs::write(
        dir.path().join("badmod.yml"),
        "title: Bad modifier\nlogsource: {product: windows}\ndetection:\n  sel: {Image|nosuchmodifier: x}\n  condition: sel\n",
    )
    .unwrap();
    let out = wardwatch(&[
        "rules",
        "check",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["loaded"], 1);
    assert_eq!(v["failed"], 2);
    let files: Vec<String> = v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["origin"].as_str().unwrap().to_string())
        .collect();
    assert!(files.iter().any(|f| f.ends_with("broken.yml")), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with("badmod.yml")), "{files:?}");
}

#[test]
fn unreadable_inputs_are_errors_not_panics() {
    let out = wardwatch(&["hunt", "/nonexistent/wardwatch-test-path", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no file could be read"));
}

#[test]
fn serve_takes_optional_packs_and_names_one_it_cannot_find() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["serve", "--data"])
        .arg(&data)
        .args([
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "",
            "--pack",
            "no-such-pack",
        ])
        .env("WARDWATCH_PACK_PATH", dir.path())
        .output()
        .expect("run wardwatch");
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "a missing pack must stop serve: {err}"
    );
    assert!(
        err.contains("rules.packs") && err.contains("no-such-pack"),
        "the error names the setting and the pack: {err}"
    );

    // A pack found by name in $WARDWATCH_PACK_PATH (NAME-rules) is reported by `doctor`.
    let pack = dir.path().join("ward-rules");
    std::fs::create_dir(&pack).unwrap();
    std::fs::write(pack.join("r.yml"), RULE).unwrap();
    let config = dir.path().join("w.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n[http]\nlisten = \"127.0.0.1:0\"\n[syslog]\nlisten = \"\"\n[rules]\npacks = [\"ward\"]\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["doctor", "--config"])
        .arg(&config)
        .env("WARDWATCH_PACK_PATH", dir.path())
        .output()
        .expect("run wardwatch doctor");
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        said.contains("rules.packs: `ward` is") && said.contains("ward-rules"),
        "{said}"
    );
}

/// A Zeek TSV `conn` log: `src` trying port 445 on 30 hosts, nothing answering.
fn zeek_sweep(src: &str) -> String {
    let mut text = String::from(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\n",
    );
    for i in 1..=30 {
        text.push_str(&format!(
            "17728000{i:02}.25\tC{i}\t{src}\t5{i:04}\t10.20.1.{i}\t445\ttcp\t-\t-\t-\t-\tS0\n"
        ));
    }
    text
}

#[test]
fn hunt_reads_zeek_logs_and_the_context_folder_says_who_scans_by_design() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("conn.log"), zeek_sweep("10.10.0.5")).unwrap();
    std::fs::write(logs.join("scanner_conn.log"), zeek_sweep("10.30.0.9")).unwrap();
    let context = dir.path().join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("inventory.csv"),
        "match,class,criticality,zone,name\n10.30.0.9,scanner,3,admin,NESSUS01\n\
10.10.0.0/16,workstation,2,clinical,\n10.20.0.0/16,server,4,servers,\n",
    )
    .unwrap();
    let run = |with_context: bool| {
        let mut args = vec![
            "hunt",
            "--format",
            "jsonl",
            "--min-level",
            "informational",
            "-q",
        ];
        let ctx = context.to_string_lossy().into_owned();
        if with_context {
            args.extend(["--context", ctx.as_str()]);
        }
        let logs = logs.to_string_lossy().into_owned();
        args.push(&logs);
        let out = wardwatch(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["rule_id"] == "analytic-network-horizontal-scan")
            .collect::<Vec<_>>()
    };
    let without = run(false);
    assert_eq!(
        without.len(),
        2,
        "one per source, at ten hosts: {without:#?}"
    );
    assert!(without.iter().all(|r| r["level"] == "medium"));
    let with = run(true);
    let level_of = |src: &str| -> Vec<String> {
        with.iter()
            .filter(|r| r["entities"][0]["value"] == src)
            .map(|r| r["level"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(level_of("10.10.0.5").iter().all(|l| l == "medium"));
    assert!(
        level_of("10.30.0.9").iter().all(|l| l == "informational"),
        "a known scanner's sweep is seen, not raised: {with:#?}"
    );
    assert!(!level_of("10.30.0.9").is_empty());
    let first = &with[0];
    assert_eq!(first["entities"][0]["kind"], "ip");
    assert!(
        first["details"]
            .as_str()
            .unwrap()
            .contains("scan.hosts: 10"),
        "{first}"
    );
    // A folder that does not exist is an error naming it.
    let out = wardwatch(&[
        "hunt",
        "--context",
        "/nonexistent/ctx",
        "-q",
        logs.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/nonexistent/ctx"));
}

/// `wardwatch mail scan`: one JSON row per message of an mbox (named `FILE#N`), a lone
/// attachment scanned on its own, and the table's reasons.
#[test]
fn mail_scan_rows_for_mbox_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("inbox.mbox");
    std::fs::write(
        &mbox,
        "From a@x Mon Jan  1 00:00:00 2024\nFrom: Pay Pal Service <service@paypa1-secure.example>\nTo: nurse@st-mary.example\n\
         Subject: Your account has been suspended\nMessage-ID: <m1@paypa1-secure.example>\n\n\
         Verify your account within 24 hours: <a href=\"http://203.0.113.9/login\">https://www.paypal.com</a>\n\n\
         From b@y Tue Jan  2 00:00:00 2024\nFrom: ward7@st-mary.example\nTo: nurse@st-mary.example\nSubject: rota\n\nSee you Monday.\n",
    )
    .unwrap();
    let mut pe = vec![0u8; 0x200];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3C] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    std::fs::write(dir.path().join("scan.pdf"), &pe).unwrap();
    let out = wardwatch(&[
        "mail",
        "scan",
        "--format",
        "jsonl",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert!(rows[0]["file"].as_str().unwrap().ends_with("inbox.mbox#1"));
    assert_eq!(rows[0]["message_id"], "m1@paypa1-secure.example");
    assert_eq!(rows[0]["from"], "service@paypa1-secure.example");
    assert_ne!(rows[0]["verdict"], "clean");
    assert!(
        rows[0]["reasons"].as_array().unwrap().len() >= 3,
        "{:#?}",
        rows[0]
    );
    assert_eq!(rows[1]["verdict"], "clean");
    assert!(rows[2]["file"].as_str().unwrap().ends_with("scan.pdf"));
    assert!(
        rows[2]["reasons"][0].as_str().unwrap().contains("program"),
        "{:#?}",
        rows[2]
    );
    let table = wardwatch(&["mail", "scan", mbox.to_str().unwrap()]);
    assert!(
        text(&table.stdout).contains("(+"),
        "{}",
        text(&table.stdout)
    );
    let missing = wardwatch(&["mail", "scan", "/nonexistent/mail"]);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("/nonexistent/mail"));
}
