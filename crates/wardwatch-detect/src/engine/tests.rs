use serde_json::json;
use wardwatch_core::{Event, Severity, SourceKind};

use crate::{Correlator, Detector, RulePack, RuleText};

fn pack(rules: &[&str]) -> RulePack {
    RulePack::load(rules.iter().enumerate().map(|(i, t)| RuleText {
        origin: format!("r{i}.yml"),
        text: t.to_string(),
    }))
}

fn evtx(channel: &str, id: u64, data: serde_json::Value, second: i64) -> Event {
    let raw = json!({"Event": {"System": {"EventID": id, "Channel": channel, "Computer": "WS1"},
        "EventData": data}});
    let mut e = Event::new(
        SourceKind::Evtx,
        jiff::Timestamp::from_second(second).unwrap(),
        raw,
    );
    e.ecs.channel = Some(channel.into());
    e.ecs.event_code = Some(id.to_string());
    e.ecs.host_name = Some("WS1".into());
    e.origin.record_id = Some(second as u64);
    e
}

const WHOAMI: &str = r#"
title: Whoami
id: 11111111-1111-4111-8111-111111111111
logsource: {product: windows, category: process_creation}
detection:
    sel: {Image|endswith: '\whoami.exe'}
    condition: sel
level: high
wardwatch: {recommendation: Check the host.}
"#;

const LINUX_ANY: &str = r#"
title: Linux anything with whoami
id: 33333333-3333-4333-8333-333333333333
logsource: {product: linux}
detection:
    kw: ['whoami']
    condition: kw
level: high
"#;

const SECURITY_EID1: &str = r#"
title: EventID 1 in Security
id: 44444444-4444-4444-8444-444444444444
logsource: {product: windows, service: security}
detection:
    sel: {EventID: 1}
    condition: sel
level: low
"#;

#[test]
fn process_creation_rule_fires_on_sysmon_1_and_security_4688_only() {
    let (det, problems) = Detector::build(&pack(&[WHOAMI, LINUX_ANY, SECURITY_EID1]));
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(det.rule_count(), 3);
    let sysmon = evtx(
        "Microsoft-Windows-Sysmon/Operational",
        1,
        json!({"Image": "C:\\Windows\\System32\\whoami.exe"}),
        1,
    );
    let d = det.detect(&sysmon);
    let ids: Vec<&str> = d.iter().map(|d| d.rule.id.as_str()).collect();
    assert_eq!(ids, vec!["11111111-1111-4111-8111-111111111111"]);
    let alert = d[0].to_alert(&sysmon);
    assert_eq!(alert.level, Severity::High);
    assert_eq!(alert.recommendation.as_deref(), Some("Check the host."));
    let security = evtx(
        "Security",
        4688,
        json!({"NewProcessName": "C:\\Windows\\System32\\whoami.exe"}),
        2,
    );
    assert_eq!(det.detect(&security).len(), 1);
    // Same Image in a channel that is not a process creation: nothing.
    let system = evtx(
        "System",
        1,
        json!({"Image": "C:\\Windows\\System32\\whoami.exe"}),
        3,
    );
    assert!(det.detect(&system).is_empty());
}

#[test]
fn registry_rules_fire_on_sysmon_13_and_on_security_4657_alike() {
    // Written the way SigmaHQ writes registry rules: Sysmon's names, category only.
    let wdigest = r#"
title: WDigest credential caching turned on
id: 77777777-7777-4777-8777-777777777701
logsource: {product: windows, category: registry_set}
detection:
    sel:
        EventType: SetValue
        TargetObject|endswith: '\Control\SecurityProviders\WDigest\UseLogonCredential'
        Details: 'DWORD (0x00000001)'
    condition: sel
level: high
"#;
    let (det, problems) = Detector::build(&pack(&[wdigest]));
    assert!(problems.is_empty(), "{problems:?}");
    let sysmon = evtx(
        "Microsoft-Windows-Sysmon/Operational",
        13,
        json!({"EventType": "SetValue", "Image": "C:\\Windows\\reg.exe",
            "TargetObject": "HKLM\\System\\CurrentControlSet\\Control\\SecurityProviders\\WDigest\\UseLogonCredential",
            "Details": "DWORD (0x00000001)"}),
        1,
    );
    assert_eq!(det.detect(&sysmon).len(), 1);
    let audit = |op: &str, value: &str, second| {
        evtx(
            "Security",
            4657,
            json!({"SubjectUserName": "jdoe", "SubjectDomainName": "HOSP",
                "ObjectName": "\\REGISTRY\\MACHINE\\SYSTEM\\ControlSet001\\Control\\SecurityProviders\\WDigest",
                "ObjectValueName": "UseLogonCredential", "OperationType": op,
                "NewValueType": "%%1876", "NewValue": value,
                "ProcessName": "C:\\Windows\\System32\\reg.exe"}),
            second,
        )
    };
    // A new value and a changed value are both a set, as Sysmon reports them.
    assert_eq!(det.detect(&audit("%%1904", "1", 2)).len(), 1);
    assert_eq!(det.detect(&audit("%%1905", "1", 3)).len(), 1);
    // Turned off again, or the value deleted: not this rule.
    assert!(det.detect(&audit("%%1905", "0", 4)).is_empty());
    assert!(det.detect(&audit("%%1906", "1", 5)).is_empty());
}

#[test]
fn pipe_rules_fire_on_sysmon_18_and_on_security_5145_over_ipc_alike() {
    // Written the way SigmaHQ writes pipe rules: Sysmon's names, category only.
    let psexec = r#"
title: PsExec service pipe
id: 77777777-7777-4777-8777-777777777702
logsource: {product: windows, category: pipe_created}
detection:
    sel:
        PipeName|startswith: '\PSEXESVC'
    condition: sel
level: medium
"#;
    let (det, problems) = Detector::build(&pack(&[psexec]));
    assert!(problems.is_empty(), "{problems:?}");
    let sysmon = evtx(
        "Microsoft-Windows-Sysmon/Operational",
        18,
        json!({"EventType": "ConnectPipe", "PipeName": "\\PSEXESVC-WS01-4242-stdin",
            "Image": "System"}),
        1,
    );
    assert_eq!(det.detect(&sysmon).len(), 1);
    let share = |share: &str, target: &str, second| {
        evtx(
            "Security",
            5145,
            json!({"SubjectUserName": "admmig", "SubjectDomainName": "OFFSEC",
                "IpAddress": "10.23.23.9", "ShareName": share, "RelativeTargetName": target,
                "AccessMask": "0x12019f"}),
            second,
        )
    };
    assert_eq!(
        det.detect(&share("\\\\*\\IPC$", "PSEXESVC-WS01-4242-stdin", 2))
            .len(),
        1
    );
    // Another pipe, or the same name as a file on a disk share: not this rule.
    assert!(det.detect(&share("\\\\*\\IPC$", "srvsvc", 3)).is_empty());
    assert!(
        det.detect(&share("\\\\*\\ADMIN$", "PSEXESVC.exe", 4))
            .is_empty()
    );
}

#[test]
fn process_access_and_file_delete_rules_fire_on_sysmon_and_on_object_access_auditing_alike() {
    // Written the way SigmaHQ writes them: Sysmon's names, category only.
    let dump = r#"
title: LSASS read by a program in a user folder
id: 77777777-7777-4777-8777-777777777703
logsource: {product: windows, category: process_access}
detection:
    sel:
        TargetImage|endswith: '\lsass.exe'
        SourceImage|contains: '\Users\'
        GrantedAccess|endswith: '10'
    condition: sel
level: high
"#;
    let evtx_delete = r#"
title: Event log file deleted
id: 77777777-7777-4777-8777-777777777704
logsource: {product: windows, category: file_delete}
detection:
    sel:
        TargetFilename|endswith: '.evtx'
    condition: sel
level: medium
"#;
    let (det, problems) = Detector::build(&pack(&[dump, evtx_delete]));
    assert!(problems.is_empty(), "{problems:?}");
    let sysmon = evtx(
        "Microsoft-Windows-Sysmon/Operational",
        10,
        json!({"SourceImage": "C:\\Users\\jdoe\\AppData\\Local\\Temp\\m.exe",
            "TargetImage": "C:\\Windows\\system32\\lsass.exe", "GrantedAccess": "0x1010"}),
        1,
    );
    assert_eq!(det.detect(&sysmon).len(), 1);
    let handle = |id: u64, kind: &str, object: &str, mask: &str, second| {
        evtx(
            "Security",
            id,
            json!({"SubjectUserName": "jdoe", "SubjectDomainName": "HOSP",
                "ObjectType": kind, "ObjectName": object, "AccessMask": mask,
                "ProcessName": "C:\\Users\\jdoe\\Downloads\\pd.exe", "ProcessId": "0x1a2c"}),
            second,
        )
    };
    let lsass = "\\Device\\HarddiskVolume2\\Windows\\System32\\lsass.exe";
    // A handle requested (4656) and the memory read through it (4663) alike.
    assert_eq!(
        det.detect(&handle(4656, "Process", lsass, "0x1410", 2))
            .len(),
        1
    );
    assert_eq!(
        det.detect(&handle(4663, "Process", lsass, "0x10", 3)).len(),
        1
    );
    // Only querying the process, or a file of the same name: not this rule.
    assert!(
        det.detect(&handle(4656, "Process", lsass, "0x1000", 4))
            .is_empty()
    );
    assert!(
        det.detect(&handle(4663, "File", lsass, "0x1", 5))
            .is_empty()
    );
    // A log file opened to delete it is a file deletion; read, it is not.
    let log = "C:\\Windows\\System32\\winevt\\Logs\\Security.evtx";
    assert_eq!(
        det.detect(&handle(4663, "File", log, "0x10000", 6)).len(),
        1
    );
    assert!(det.detect(&handle(4663, "File", log, "0x1", 7)).is_empty());
    // A refused handle request opened nothing.
    let mut refused = handle(4656, "Process", lsass, "0x1410", 8);
    refused.raw["Event"]["System"]["Keywords"] = json!("0x8010000000000000");
    assert!(det.detect(&refused).is_empty());
}

#[test]
fn event_count_correlation_fires_once_threshold_is_reached() {
    let base = r#"
title: Failed logon
id: 55555555-5555-4555-8555-555555555555
name: failed_logon
logsource: {product: windows, service: security}
detection:
    sel: {EventID: 4625}
    condition: sel
level: low
"#;
    let corr = r#"
title: Password spraying
id: 66666666-6666-4666-8666-666666666666
correlation:
    type: value_count
    rules: [failed_logon]
    group-by: [IpAddress]
    timespan: 10m
    condition: {gte: 3, field: TargetUserName}
level: high
"#;
    let p = pack(&[base, corr]);
    let (det, problems) = Detector::build(&p);
    assert!(problems.is_empty(), "{problems:?}");
    // `generate` defaults to false: the base rule only feeds the correlation.
    assert!(!det.is_reported("55555555-5555-4555-8555-555555555555"));
    let (corr, problems) = Correlator::build(&p);
    assert!(problems.is_empty(), "{problems:?}");
    let mut corr = corr.unwrap();
    let mut fired = Vec::new();
    for (i, user) in ["ann", "ben", "cat", "dan"].iter().enumerate() {
        let e = evtx(
            "Security",
            4625,
            json!({"TargetUserName": user, "IpAddress": "10.9.9.9"}),
            100 + i as i64,
        );
        let d = det.detect(&e);
        assert_eq!(d.len(), 1);
        fired.extend(corr.process(&e, &d));
    }
    assert!(!fired.is_empty());
    // State survives an export and import into a fresh correlator.
    let saved = corr.export_state();
    let (fresh, _) = Correlator::build(&p);
    let mut fresh = fresh.unwrap();
    assert!(fresh.import_state(saved));
    assert!(!fresh.import_state(serde_json::json!({"version": 9999})));
    let hit = fired[0].correlation.as_ref().unwrap();
    assert_eq!(fired[0].rule.title, "Password spraying");
    assert_eq!(
        hit.group,
        vec![("IpAddress".to_string(), "10.9.9.9".to_string())]
    );
    assert!(hit.value >= 3.0);
}

#[test]
fn correlations_that_name_each_other_report_one_alert_per_event() {
    // Password spraying and "many failures on one host" count the same failed logons: a spray
    // against one host completes both on the same event, and a person should read it once.
    let base = r#"
title: Failed logon
id: 55555555-5555-4555-8555-555555555555
name: failed_logon
logsource: {product: windows, service: security}
detection:
    sel: {EventID: 4625}
    condition: sel
level: low
"#;
    let host = r#"
title: Many failures on one host
id: 77777777-7777-4777-8777-777777777777
correlation:
    type: event_count
    rules: [failed_logon]
    group-by: [Computer, IpAddress]
    timespan: 10m
    condition: {gte: 3}
level: medium
"#;
    let spray = |same_as: &str| {
        format!(
            r#"
title: Password spraying
id: 66666666-6666-4666-8666-666666666666
correlation:
    type: value_count
    rules: [failed_logon]
    group-by: [IpAddress]
    timespan: 10m
    condition: {{gte: 3, field: TargetUserName}}
level: high
{same_as}
"#
        )
    };
    let titles = |rules: &[&str], users: &[&str]| {
        let p = pack(rules);
        let (det, problems) = Detector::build(&p);
        assert!(problems.is_empty(), "{problems:?}");
        let (corr, problems) = Correlator::build(&p);
        assert!(problems.is_empty(), "{problems:?}");
        let mut corr = corr.unwrap();
        let mut per_event = Vec::new();
        for (i, user) in users.iter().enumerate() {
            let e = evtx(
                "Security",
                4625,
                json!({"TargetUserName": user, "IpAddress": "10.9.9.9"}),
                100 + i as i64,
            );
            let mut t: Vec<String> = corr
                .process(&e, &det.detect(&e))
                .iter()
                .map(|d| d.rule.title.clone())
                .collect();
            t.sort();
            per_event.push(t);
        }
        per_event
    };
    let named = spray("wardwatch: {same_as: [77777777-7777-4777-8777-777777777777]}");
    let spray_of_three = ["ann", "ben", "cat"];
    // Without same_as both fire on the third failure; with it, only the higher level does.
    assert_eq!(
        titles(&[base, host, &spray("")], &spray_of_three)[2],
        vec!["Many failures on one host", "Password spraying"]
    );
    assert_eq!(
        titles(&[base, host, &named], &spray_of_three)[2],
        vec!["Password spraying"]
    );
    // One account guessed three times is no spray: the host correlation still tells it.
    assert_eq!(
        titles(&[base, host, &named], &["ann", "ann", "ann"])[2],
        vec!["Many failures on one host"]
    );
}

#[test]
fn rules_without_a_category_are_read_only_on_the_event_ids_they_need() {
    // One rule reading process creation in two logs, one reading any record with a keyword.
    let multi = r#"
title: Shell command in two logs
id: 88888888-8888-4888-8888-888888888881
logsource: {product: windows}
detection:
    proc:
        - {EventID: 1, Channel: 'Microsoft-Windows-Sysmon/Operational'}
        - {EventID: 4688, Channel: Security}
    cmd: {CommandLine|contains: 'vssadmin delete'}
    condition: proc and cmd
level: high
"#;
    let anywhere = r#"
title: Keyword anywhere
id: 88888888-8888-4888-8888-888888888882
logsource: {product: windows}
detection:
    words: ['vssadmin delete']
    condition: words
level: low
"#;
    let (d, problems) = Detector::build(&pack(&[multi, anywhere]));
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        d.rules_read_on_every_record().collect::<Vec<_>>(),
        vec!["88888888-8888-4888-8888-888888888882"]
    );
    let ids = |e: &Event| {
        let mut v: Vec<String> = d.detect(e).iter().map(|x| x.rule.id.clone()).collect();
        v.sort();
        v
    };
    let cmd = json!({"CommandLine": "vssadmin delete shadows /all"});
    // Its own Event IDs: both rules; another Event ID: only the one read everywhere.
    assert_eq!(ids(&evtx("Security", 4688, cmd.clone(), 1)).len(), 2);
    assert_eq!(
        ids(&evtx(
            "Microsoft-Windows-Sysmon/Operational",
            1,
            cmd.clone(),
            2
        ))
        .len(),
        2
    );
    assert_eq!(
        ids(&evtx("Security", 4104, cmd, 3)),
        vec!["88888888-8888-4888-8888-888888888882"]
    );
}

/// Three rules on Security 4732: a context-free SigmaHQ-like one (medium), a built-in one that
/// replaces it at a lower level, and a sibling that calls the first similar at a higher level.
fn twin(id: &str, level: &str, related: &str) -> String {
    format!(
        r#"
title: Twin {id}
id: {id}
logsource: {{product: windows, service: security}}
detection:
    sel: {{EventID: 4732}}
    condition: sel
level: {level}
{related}
"#
    )
}

#[test]
fn rules_that_name_each_other_report_one_alert_per_event() {
    const BASE: &str = "aaaaaaaa-0000-4000-8000-000000000001";
    const OURS: &str = "aaaaaaaa-0000-4000-8000-000000000002";
    const SIBLING: &str = "aaaaaaaa-0000-4000-8000-000000000003";
    let base = twin(BASE, "medium", "");
    let ours = twin(OURS, "low", &format!("wardwatch: {{replaces: [{BASE}]}}"));
    let sibling = twin(
        SIBLING,
        "high",
        &format!("wardwatch: {{same_as: [{BASE}]}}"),
    );
    let event = evtx("Security", 4732, json!({"TargetSid": "S-1-5-32-544"}), 10);
    let ids = |rules: &[&str]| {
        let (d, problems) = Detector::build(&pack(rules));
        assert!(problems.is_empty(), "{problems:?}");
        let mut ids: Vec<String> = d.detect(&event).iter().map(|x| x.rule.id.clone()).collect();
        ids.sort();
        ids
    };
    // Replaced: ours is kept at its own (lower) level; the one it replaces is not compiled,
    // so it stays quiet also on records ours leaves alone.
    assert_eq!(ids(&[&base, &ours]), vec![OURS.to_string()]);
    let narrow_ours = twin(OURS, "low", &format!("wardwatch: {{replaces: [{BASE}]}}")).replace(
        "sel: {EventID: 4732}",
        "sel: {EventID: 4732, TargetSid: 'S-1-5-32-555'}",
    );
    assert!(ids(&[&base, &narrow_ours]).is_empty());
    // Same as: the higher level is kept, whichever side names the other.
    assert_eq!(ids(&[&base, &sibling]), vec![SIBLING.to_string()]);
    let low_sibling = twin(SIBLING, "low", &format!("wardwatch: {{same_as: [{BASE}]}}"));
    assert_eq!(ids(&[&base, &low_sibling]), vec![BASE.to_string()]);
    // Alone, each rule fires as before; rules that do not name each other both fire.
    assert_eq!(ids(&[&base]), vec![BASE.to_string()]);
    assert_eq!(ids(&[&ours]), vec![OURS.to_string()]);
    let stranger = twin("aaaaaaaa-0000-4000-8000-000000000004", "medium", "");
    assert_eq!(ids(&[&base, &stranger]).len(), 2);
    // Sigma's own `related:` list is documentation: SigmaHQ keeps related rules side by side.
    let documented = twin(
        SIBLING,
        "high",
        &format!("related:\n    - id: {BASE}\n      type: similar"),
    );
    assert_eq!(ids(&[&base, &documented]).len(), 2);
}

#[test]
fn keywords_that_must_all_be_there_match_within_the_text() {
    // A field-less `'|all':` list, as SigmaHQ's Exchange cmdlet-log rules write it: every
    // keyword somewhere in the record, not one value equal to each.
    let rule = r#"
title: Export role assigned
id: 55555555-5555-4555-8555-555555555555
logsource: {product: windows, service: msexchange-management}
detection:
    role:
        '|all':
            - 'New-ManagementRoleAssignment'
            - 'Mailbox Import Export'
    condition: role
level: high
"#;
    let p = pack(&[rule]);
    assert!(p.problems().is_empty(), "{:?}", p.problems());
    let (d, problems) = Detector::build(&p);
    assert!(problems.is_empty(), "{problems:?}");
    let cmd = |text: &str| {
        evtx(
            "MSExchange Management",
            1,
            json!({"Data": text}),
            1_700_000_000,
        )
    };
    let hit = cmd(r#"New-ManagementRoleAssignment -Role "Mailbox Import Export" -User "svc""#);
    assert_eq!(d.detect(&hit).len(), 1);
    let half = cmd(r#"New-ManagementRoleAssignment -Role "Help Desk" -User "svc""#);
    assert!(d.detect(&half).is_empty());
}

#[test]
fn wildcards_in_startswith_and_endswith_values_match_at_their_end() {
    // SigmaHQ's "Weak Encryption Enabled and Kerberoast" reads hex digits at the end of the
    // UAC value; "Notepad Password Files Discovery" a file name pattern at the end of the line.
    let uac = r#"
title: Pre-authentication bit newly set
id: 55555555-5555-4555-8555-555555555555
logsource: {product: windows, service: security}
detection:
    new: {EventID: 4738, NewUacValue|endswith: ['1????', '3????']}
    old: {OldUacValue|endswith: ['1????', '3????']}
    prefix: {NewUacValue|startswith: '0x?0'}
    condition: new and not old and prefix
level: high
"#;
    let notes = r#"
title: Password file opened
id: 66666666-6666-4666-8666-666666666666
logsource: {product: windows, category: process_creation}
detection:
    sel: {CommandLine|endswith: ['password*.txt', 'passwords.csv']}
    condition: sel
level: medium
"#;
    let (det, problems) = Detector::build(&pack(&[uac, notes]));
    assert!(problems.is_empty(), "{problems:?}");
    let change = |old: &str, new: &str| {
        det.detect(&evtx(
            "Security",
            4738,
            json!({"OldUacValue": old, "NewUacValue": new}),
            1,
        ))
        .len()
    };
    assert_eq!(change("0x210", "0x10210"), 1, "the 0x10000 bit newly set");
    assert_eq!(change("0x10210", "0x10210"), 0, "already set before");
    assert_eq!(change("0x210", "0x1210"), 0, "too short to hold the bit");
    assert_eq!(change("0x210", "0x20210"), 0, "another bit");
    let opened = |cmd: &str| {
        det.detect(&evtx(
            "Security",
            4688,
            json!({"NewProcessName": "C:\\Windows\\System32\\notepad.exe", "CommandLine": cmd}),
            2,
        ))
        .len()
    };
    assert_eq!(
        opened("notepad.exe C:\\Users\\a\\Desktop\\password-list.txt"),
        1
    );
    assert_eq!(
        opened("notepad.exe D:\\passwords.csv"),
        1,
        "a plain value beside"
    );
    assert_eq!(opened("notepad.exe C:\\password-list.txt.bak"), 0);
    assert_eq!(opened("notepad.exe C:\\notes.txt"), 0);
}
