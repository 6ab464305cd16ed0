use serde_json::{Value, json};
use wardwatch_core::{Event, SourceKind};

use super::{ENTRIES_MAX, PER_HOST_MAX, Start, TEXT_MAX, Table, keep_copy, process_id, whole};
use crate::{Correlator, Detection, Detector, RulePack, RuleText};

fn pack(rules: &[&str]) -> RulePack {
    RulePack::load(rules.iter().enumerate().map(|(i, t)| RuleText {
        origin: format!("r{i}.yml"),
        text: t.to_string(),
    }))
}

/// A Windows record of `host` at `ms` milliseconds, in the EVTX layout.
fn evtx(host: &str, channel: &str, id: u64, data: Value, ms: i64) -> Event {
    let raw = json!({"Event": {"System": {"EventID": id, "Channel": channel, "Computer": host},
        "EventData": data}});
    let mut e = Event::new(
        SourceKind::Evtx,
        jiff::Timestamp::from_millisecond(1_717_400_000_000 + ms).unwrap(),
        raw,
    );
    e.ecs.channel = Some(channel.into());
    e.ecs.event_code = Some(id.to_string());
    e.ecs.host_name = Some(host.into());
    e.origin.source = "t.evtx".into();
    e.origin.record_id = Some(ms as u64);
    e
}

/// A Security 4688 of Windows 10: new process `pid` running `image`, created by `ppid`
/// running `parent`.
fn sec(ms: i64, pid: &str, image: &str, cmd: &str, ppid: &str, parent: &str) -> Event {
    evtx(
        "WS1",
        "Security",
        4688,
        json!({"SubjectUserSid": "S-1-5-21-1-2-3-1104", "SubjectUserName": "jdoe",
            "SubjectDomainName": "HOSP", "SubjectLogonId": "0x3e7a1", "NewProcessId": pid,
            "NewProcessName": image, "TokenElevationType": "%%1938", "ProcessId": ppid,
            "CommandLine": cmd, "TargetUserSid": "S-1-0-0", "TargetUserName": "-",
            "ParentProcessName": parent, "MandatoryLabel": "S-1-16-8192"}),
        ms,
    )
}

/// A Sysmon 1 without `ParentUser` (Sysmon before 13.30).
fn sysmon(ms: i64, pid: u64, guid: &str, image: &str, cmd: &str, ppid: u64, pguid: &str) -> Event {
    evtx(
        "WS1",
        "Microsoft-Windows-Sysmon/Operational",
        1,
        json!({"ProcessGuid": guid, "ProcessId": pid.to_string(), "Image": image,
            "CommandLine": cmd, "User": "HOSP\\jdoe", "ParentProcessGuid": pguid,
            "ParentProcessId": ppid.to_string(), "ParentImage": "C:\\Windows\\explorer.exe",
            "ParentCommandLine": "C:\\Windows\\Explorer.EXE"}),
        ms,
    )
}

const EXCEL: &str = "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE";
const CMD: &str = "C:\\Windows\\System32\\cmd.exe";
const MMC: &str = "C:\\Windows\\System32\\mmc.exe";

/// A shell started by a program that COM started (`-Embedding`), except an MMC console opened
/// on a snap-in file: reads the parent's command line both ways.
const DCOM_SHELL: &str = r#"
title: Shell from a COM server
id: 5e1f0000-0000-4000-8000-000000000001
logsource: {product: windows, category: process_creation}
detection:
    sel:
        ParentCommandLine|contains: '-Embedding'
        Image|endswith: '\cmd.exe'
    mmc_parent: {ParentImage|endswith: '\mmc.exe', Image|endswith: '\cmd.exe'}
    spared: {ParentCommandLine|contains: '.msc'}
    condition: (sel or mmc_parent) and not spared
level: high
"#;

/// Reads only the child's own fields.
const ANY_SHELL: &str = r#"
title: Any shell
id: 5e1f0000-0000-4000-8000-000000000002
logsource: {product: windows, category: process_creation}
detection:
    sel: {Image|endswith: '\cmd.exe'}
    condition: sel
level: low
"#;

const PARENT_USER: &str = r#"
title: Shell whose parent runs as the user
id: 5e1f0000-0000-4000-8000-000000000003
logsource: {product: windows, category: process_creation}
detection:
    sel: {ParentUser: 'HOSP\jdoe', Image|endswith: '\whoami.exe'}
    condition: sel
level: medium
"#;

/// What `serve` does with each event in journal order: match, settle, report; `(rule ids,
/// ParentCommandLine the alert shows)` per event.
fn run(rules: &[&str], events: &[Event]) -> Vec<(Vec<String>, Option<String>)> {
    let p = pack(rules);
    let (det, _) = Detector::build(&p);
    let (corr, _) = Correlator::build(&p);
    let mut corr = corr.unwrap();
    events
        .iter()
        .map(|e| {
            let mut d = det.detect(e);
            let copy = corr.settle(e, &mut d);
            let shown = copy.as_ref().unwrap_or(e);
            let mut ids: Vec<String> = d.iter().map(|d: &Detection| d.rule.id.clone()).collect();
            ids.sort();
            let facts = d
                .first()
                .map(|d| d.to_alert(shown).facts)
                .unwrap_or_default();
            (ids, facts.get("ParentCommandLine").cloned())
        })
        .collect()
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn process_ids_are_read_as_security_and_sysmon_write_them() {
    assert_eq!(process_id("0x1a2c"), Some(0x1a2c));
    assert_eq!(process_id(" 0X1A2C "), Some(0x1a2c));
    assert_eq!(process_id("6700"), Some(6700));
    for bad in [
        "",
        "-",
        "0x",
        "0",
        "0x0",
        "12ab",
        "0xzz",
        "99999999999999999999999",
    ] {
        assert_eq!(process_id(bad), None, "{bad:?}");
    }
}

#[test]
fn a_4688_child_gets_its_parents_command_line_and_the_rule_that_needs_it_fires() {
    let parent = sec(
        0,
        "0x1f40",
        EXCEL,
        "\"EXCEL.EXE\" /automation -Embedding",
        "0x2a0",
        "C:\\Windows\\System32\\svchost.exe",
    );
    let child = sec(1_500, "0x2b4c", CMD, "cmd.exe /c whoami", "0x1f40", EXCEL);
    let got = run(&[DCOM_SHELL, ANY_SHELL], &[parent, child.clone()]);
    assert_eq!(
        got[1].0,
        ids(&[
            "5e1f0000-0000-4000-8000-000000000001",
            "5e1f0000-0000-4000-8000-000000000002"
        ])
    );
    assert_eq!(
        got[1].1.as_deref(),
        Some("\"EXCEL.EXE\" /automation -Embedding"),
        "the alert shows the parent's command line"
    );
    // Without the parent's record the child is judged as it came.
    let alone = run(&[DCOM_SHELL, ANY_SHELL], &[child]);
    assert_eq!(alone[0].0, ids(&["5e1f0000-0000-4000-8000-000000000002"]));
    assert_eq!(alone[0].1, None);
}

#[test]
fn a_filter_on_the_parents_command_line_spares_the_child_once_the_parent_is_known() {
    let console = sec(
        0,
        "0x900",
        MMC,
        "\"mmc.exe\" C:\\Windows\\system32\\compmgmt.msc",
        "0x1200",
        "C:\\Windows\\explorer.exe",
    );
    let shell = sec(4_000, "0x904", CMD, "cmd.exe", "0x900", MMC);
    // As it came, the filter cannot match (4688 has no parent command line): it fires.
    let raw = run(&[DCOM_SHELL], std::slice::from_ref(&shell));
    assert_eq!(raw[0].0, ids(&["5e1f0000-0000-4000-8000-000000000001"]));
    let settled = run(&[DCOM_SHELL], &[console, shell]);
    assert!(settled[1].0.is_empty(), "{settled:?}");
}

#[test]
fn a_reused_process_id_or_a_later_start_is_not_taken_for_the_parent() {
    let excel = sec(
        0,
        "0x1f40",
        EXCEL,
        "EXCEL.EXE -Embedding",
        "0x2a0",
        "svchost.exe",
    );
    // Excel exits; its id goes to Notepad, then a shell names Excel as its parent with that id.
    let notepad = sec(
        60_000,
        "0x1f40",
        "C:\\Windows\\notepad.exe",
        "notepad",
        "0x1200",
        "explorer.exe",
    );
    let shell = sec(61_000, "0x2b4c", CMD, "cmd.exe", "0x1f40", EXCEL);
    let got = run(&[DCOM_SHELL], &[excel.clone(), notepad, shell.clone()]);
    assert!(got[2].0.is_empty(), "Notepad replaced Excel: {got:?}");
    // A parent recorded after the child (out of order) is not the child's.
    let early_child = sec(0, "0x2b4c", CMD, "cmd.exe", "0x1f40", EXCEL);
    let late_parent = sec(
        5_000,
        "0x1f40",
        EXCEL,
        "EXCEL.EXE -Embedding",
        "0x2a0",
        "svchost.exe",
    );
    let mut p = Start::of(&late_parent).unwrap();
    let c = Start::of(&early_child).unwrap();
    let mut table = Table::default();
    table.record(&p);
    assert!(table.parent_of(&c).is_none());
    p.ts = c.ts;
    table.record(&p);
    assert!(table.parent_of(&c).is_some(), "same instant: parent first");
    // Another host's process with the same id is not the parent.
    let mut other = excel;
    other.ecs.host_name = Some("WS2".into());
    let got = run(&[DCOM_SHELL], &[other, shell]);
    assert!(got[1].0.is_empty());
}

#[test]
fn sysmon_parents_are_found_by_guid_and_give_the_parent_user_without_overwriting() {
    let g = |n: u8| format!("{{5770385f-c22a-5e0e-{n:02x}00-000000000a00}}");
    let shell = sysmon(0, 4100, &g(1), CMD, "cmd.exe", 3000, &g(0));
    let whoami = sysmon(
        900,
        4200,
        &g(2),
        "C:\\Windows\\System32\\whoami.exe",
        "whoami",
        4100,
        &g(1),
    );
    let mut whoami = whoami;
    whoami.raw["Event"]["EventData"]["ParentImage"] = json!(CMD);
    let got = run(&[PARENT_USER], &[shell.clone(), whoami.clone()]);
    assert_eq!(got[1].0, ids(&["5e1f0000-0000-4000-8000-000000000003"]));
    // The record's own ParentCommandLine stays (Sysmon wrote one: explorer's).
    assert_eq!(got[1].1.as_deref(), Some("C:\\Windows\\Explorer.EXE"));
    // A parent with the same id but another GUID is another process.
    let other = sysmon(0, 4100, &g(9), CMD, "cmd.exe", 3000, &g(0));
    let got = run(&[PARENT_USER], &[other, whoami]);
    assert!(got[1].0.is_empty(), "{got:?}");
}

#[test]
fn one_start_recorded_by_sysmon_and_by_security_is_one_entry() {
    let g = "{5770385f-c22a-5e0e-0100-000000000a00}";
    let mut table = Table::default();
    let s = Start::of(&sysmon(
        0,
        0x1f40,
        g,
        EXCEL,
        "EXCEL.EXE /automation -Embedding",
        3000,
        "{x}",
    ))
    .unwrap();
    let a = Start::of(&sec(
        300,
        "0x1f40",
        EXCEL,
        "EXCEL.EXE /automation -Embedding",
        "0xbb8",
        "x.exe",
    ))
    .unwrap();
    table.record(&s);
    table.record(&a);
    assert_eq!(table.len(), 1);
    let child = Start::of(&sec(900, "0x2b4c", CMD, "cmd", "0x1f40", EXCEL)).unwrap();
    let p = table.parent_of(&child).unwrap();
    assert_eq!(p.guid.as_deref(), Some(g));
}

#[test]
fn the_table_is_bounded_per_host_overall_and_per_text() {
    let mut table = Table::default();
    let start = |host: &str, pid: u64, ms: i64, cmd: String| Start {
        host: host.into(),
        ts: ms,
        pid: Some(pid),
        image: Some(CMD.into()),
        command_line: Some(cmd),
        ..Start::default()
    };
    for i in 0..(PER_HOST_MAX as u64 + 10) {
        table.record(&start("busy", i + 1, i as i64, "cmd".into()));
    }
    assert_eq!(table.len(), PER_HOST_MAX);
    let child = |pid: u64| Start {
        host: "busy".into(),
        ts: i64::MAX,
        parent_pid: Some(pid),
        ..Start::default()
    };
    assert!(
        table.parent_of(&child(1)).is_none(),
        "the oldest went first"
    );
    assert!(table.parent_of(&child(PER_HOST_MAX as u64 + 10)).is_some());
    // Many hosts: the total holds.
    for i in 0..(ENTRIES_MAX as u64 + 100) {
        table.record(&start(
            &format!("h{}", i % 5_000),
            i + 1,
            10_000 + i as i64,
            "c".into(),
        ));
    }
    assert!(table.len() <= ENTRIES_MAX);
    // A command line past the limit is not kept: a rule sees it missing, never cut.
    let mut t = Table::default();
    t.record(&start("ws", 7, 0, "x".repeat(TEXT_MAX + 1)));
    let p = t
        .parent_of(&Start {
            host: "ws".into(),
            ts: 1,
            parent_pid: Some(7),
            ..Start::default()
        })
        .unwrap();
    assert_eq!(p.command_line, None);
    assert_eq!(p.image.as_deref(), Some(CMD));
}

#[test]
fn odd_records_are_ignored_without_panicking() {
    let p = pack(&[DCOM_SHELL]);
    let (corr, _) = Correlator::build(&p);
    let mut corr = corr.unwrap();
    let odd = [
        json!({"NewProcessId": "0xzz", "ProcessId": 12, "CommandLine": ["a"]}),
        json!({"NewProcessId": null, "ProcessId": "-"}),
        json!("not an object"),
        json!({"NewProcessId": "0x10", "ProcessId": "0x10", "NewProcessName": 5}),
    ];
    for (i, data) in odd.into_iter().enumerate() {
        let mut e = evtx("WS1", "Security", 4688, data, i as i64);
        let mut d = Vec::new();
        assert!(corr.settle(&e, &mut d).is_none());
        e.ecs.host_name = None;
        assert!(corr.settle(&e, &mut d).is_none());
    }
    // A record whose EventData is not a map: found, but nothing to fill in.
    let mut e = Event::new(
        SourceKind::Evtx,
        jiff::Timestamp::UNIX_EPOCH,
        json!({"Event": 3}),
    );
    e.ecs.channel = Some("Security".into());
    e.ecs.event_code = Some("4688".into());
    e.ecs.host_name = Some("WS1".into());
    assert!(corr.settle(&e, &mut Vec::new()).is_none());
}

#[test]
fn the_table_survives_a_restart_through_the_saved_state() {
    let rules = [DCOM_SHELL];
    let p = pack(&rules);
    let (det, _) = Detector::build(&p);
    let (first, _) = Correlator::build(&p);
    let mut first = first.unwrap();
    let parent = sec(
        0,
        "0x1f40",
        EXCEL,
        "EXCEL.EXE -Embedding",
        "0x2a0",
        "svchost.exe",
    );
    first.settle(&parent, &mut det.detect(&parent));
    let saved = first.export_state();
    let (second, _) = Correlator::build(&p);
    let mut second = second.unwrap();
    assert!(second.import_state(saved.clone()));
    assert_eq!(second.lineage_len(), 1);
    assert_eq!(second.export_state()["lineage"], saved["lineage"]);
    let child = sec(1_000, "0x2b4c", CMD, "cmd.exe", "0x1f40", EXCEL);
    let mut d = det.detect(&child);
    assert!(d.is_empty());
    assert!(second.settle(&child, &mut d).is_some());
    assert_eq!(d.len(), 1);
    // A state saved before the lineage stage existed restores with an empty table.
    let mut old = saved;
    old.as_object_mut().unwrap().remove("lineage");
    assert!(second.import_state(old));
    assert_eq!(second.lineage_len(), 0);
}

#[test]
fn hunts_kept_copy_gives_the_whole_record_back_through_its_encoding() {
    let e = sec(
        0,
        "0x1f40",
        EXCEL,
        "EXCEL.EXE -Embedding",
        "0x2a0",
        "svchost.exe",
    );
    let kept = keep_copy(&e);
    // `hunt` encodes what it keeps and decodes it before the ordered stage.
    let back: Event = serde_json::from_slice(&serde_json::to_vec(&kept).unwrap()).unwrap();
    let w = whole(&back);
    assert_eq!(w.raw, e.raw);
    assert_eq!(w.source_kind, e.source_kind);
    // The analytics still read the reduced copy's flat fields.
    assert_eq!(
        crate::fields::lookup(&back, "Image").as_deref(),
        Some(EXCEL)
    );
    // A record that is not a kept copy is its own whole.
    assert!(matches!(whole(&e), std::borrow::Cow::Borrowed(_)));
}
