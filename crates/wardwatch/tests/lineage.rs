//! Process lineage, the same in `hunt` and `serve`: Security 4688 records (Winlogbeat, as a
//! hospital ships them) of three workstations, judged by the built-in pack's "Shell Started By
//! DCOM-Activated Application", which reads the parent's command line that 4688 never carries.
//! Both must fill it from the parent's own record: raise the rule for the shell Excel started
//! as a COM server (`/automation -Embedding`), show that command line on the alert, spare the
//! shell an administrator opened from an MMC console on a snap-in file (`.msc`, which the rule
//! spares and which only the parent's record tells), and not take another host's process with
//! the same id for a parent.

mod common;

use common::{Server, post_bulk};
use serde_json::{Value, json};

const DCOM_SHELL: &str = "32fe818d-e2e6-4a2c-b178-1f9425e36012";
const EXCEL: &str = "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE";
const MMC: &str = "C:\\Windows\\System32\\mmc.exe";
const CMD: &str = "C:\\Windows\\System32\\cmd.exe";
/// "Security Event Log Cleared": the last document, judged after all the others.
const LOG_CLEARED: &str = "7b998933-5210-4fd4-b505-62365a87565b";

/// A Windows 10 4688 of `host` at `time`, as Winlogbeat 8 ships it.
fn started(
    time: &str,
    host: &str,
    pid: &str,
    image: &str,
    cmd: &str,
    ppid: &str,
    parent: &str,
) -> Value {
    json!({
        "@timestamp": time,
        "host": {"name": host},
        "winlog": {"channel": "Security", "event_id": "4688", "computer_name": host,
            "provider_name": "Microsoft-Windows-Security-Auditing", "record_id": 0,
            "event_data": {"SubjectUserSid": "S-1-5-21-1-2-3-1104", "SubjectUserName": "jdoe",
                "SubjectDomainName": "HOSP", "SubjectLogonId": "0x3e7a1",
                "NewProcessId": pid, "NewProcessName": image, "TokenElevationType": "%%1938",
                "ProcessId": ppid, "CommandLine": cmd, "TargetUserSid": "S-1-0-0",
                "TargetUserName": "-", "TargetDomainName": "-", "TargetLogonId": "0x0",
                "ParentProcessName": parent, "MandatoryLabel": "S-1-16-8192"}},
        "event": {"code": "4688", "provider": "Microsoft-Windows-Security-Auditing"},
    })
}

/// `secs` seconds past a minute an hour ago (within the time a server trusts a sender's clock).
fn at(base: jiff::Timestamp, secs: i64) -> String {
    (base + jiff::SignedDuration::from_secs(secs)).to_string()
}

fn documents(base: jiff::Timestamp) -> Vec<Value> {
    let mut docs = vec![
        // Excel started by COM on a ward workstation, then a shell from it.
        started(
            &at(base, 0),
            "WS-ICU-01",
            "0x1f40",
            EXCEL,
            "\"EXCEL.EXE\" /automation -Embedding",
            "0x2a0",
            "C:\\Windows\\System32\\svchost.exe",
        ),
        started(
            &at(base, 2),
            "WS-ICU-01",
            "0x2b4c",
            CMD,
            "cmd.exe /c whoami /all",
            "0x1f40",
            EXCEL,
        ),
        // An administrator's Computer Management console, and a prompt opened from it.
        started(
            &at(base, 300),
            "WS-ADM-01",
            "0x900",
            MMC,
            "\"C:\\Windows\\system32\\mmc.exe\" C:\\Windows\\system32\\compmgmt.msc /s",
            "0x1200",
            "C:\\Windows\\explorer.exe",
        ),
        started(
            &at(base, 330),
            "WS-ADM-01",
            "0x904",
            CMD,
            "cmd.exe",
            "0x900",
            MMC,
        ),
        // Another workstation: a shell naming a parent id only WS-ICU-01 has seen.
        started(
            &at(base, 360),
            "WS-ICU-02",
            "0x3000",
            CMD,
            "cmd.exe /c ver",
            "0x1f40",
            EXCEL,
        ),
        // The log cleared last: once its alert is there, every record before it was judged.
        json!({"@timestamp": at(base, 420), "host": {"name": "WS-ICU-02"},
            "winlog": {"channel": "Security", "event_id": "1102", "computer_name": "WS-ICU-02",
                "provider_name": "Microsoft-Windows-Eventlog", "record_id": 0}}),
    ];
    for (i, d) in docs.iter_mut().enumerate() {
        d["winlog"]["record_id"] = json!(100 + i);
    }
    docs
}

/// `(host, time)` of the DCOM shell alerts, sorted.
fn dcom_alerts<'a>(rows: impl Iterator<Item = &'a Value>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = rows
        .filter(|a| a["rule_id"] == DCOM_SHELL)
        .map(|a| {
            (
                a["host"].as_str().unwrap_or("").to_string(),
                a["timestamp"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn expected(base: jiff::Timestamp) -> Vec<(String, String)> {
    vec![("WS-ICU-01".to_string(), at(base, 2))]
}

#[test]
fn hunt_and_serve_fill_the_parent_command_line_alike() {
    let dir = tempfile::tempdir().unwrap();
    let now = jiff::Timestamp::now().as_second();
    let base = jiff::Timestamp::from_second(now - now % 60 - 3600).unwrap();
    let docs = documents(base);
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let text: String = docs.iter().map(|d| format!("{d}\n")).collect();
    std::fs::write(logs.join("security.jsonl"), text).unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["hunt", "--format", "jsonl", "-q"])
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
    assert_eq!(dcom_alerts(rows.iter()), expected(base), "hunt: {rows:#?}");
    let hunted = rows.iter().find(|r| r["rule_id"] == DCOM_SHELL).unwrap();
    assert!(
        hunted["details"]
            .as_str()
            .unwrap()
            .contains("ParentCommandLine: \"EXCEL.EXE\" /automation -Embedding"),
        "{hunted:#}"
    );

    let server = Server::start(&[]);
    post_bulk(&server, &docs);
    // Detection runs behind the journal, in its order: once the last document's alert is
    // there, every record before it was judged.
    let last = server.wait_alerts(&format!("rule_id={LOG_CLEARED}"), 1);
    assert_eq!(last["total"], 1, "{last:#}");
    let v = server.wait_alerts(&format!("rule_id={DCOM_SHELL}"), 1);
    let served = v["alerts"].as_array().unwrap();
    assert_eq!(dcom_alerts(served.iter()), expected(base), "serve: {v:#}");
    // The alert shows the parent's command line, taken from the parent's own record.
    assert_eq!(
        served[0]["facts"]["ParentCommandLine"], "\"EXCEL.EXE\" /automation -Embedding",
        "{:#}",
        served[0]
    );
}
