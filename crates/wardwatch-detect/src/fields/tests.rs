use serde_json::json;
use wardwatch_core::{Event, SourceKind};

use super::lookup;

fn event(kind: SourceKind, channel: &str, id: &str, raw: serde_json::Value) -> Event {
    let mut e = Event::new(kind, jiff::Timestamp::UNIX_EPOCH, raw);
    e.ecs.channel = Some(channel.into());
    e.ecs.event_code = Some(id.into());
    e
}

#[test]
fn evtx_system_and_event_data_resolve_by_native_names() {
    let e = event(
        SourceKind::Evtx,
        "Security",
        "4624",
        json!({"Event": {"System": {"EventID": {"#text": 4624, "#attributes": {"Qualifiers": 0}},
            "Channel": "Security", "Computer": "DC1",
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}}},
            "EventData": {"LogonType": 10, "TargetUserName": "alice"}}}),
    );
    assert_eq!(lookup(&e, "EventID").as_deref(), Some("4624"));
    assert_eq!(
        lookup(&e, "Provider_Name").as_deref(),
        Some("Microsoft-Windows-Security-Auditing")
    );
    assert_eq!(lookup(&e, "LogonType").as_deref(), Some("10"));
    assert_eq!(lookup(&e, "TargetUserName").as_deref(), Some("alice"));
    assert_eq!(lookup(&e, "Event.System.Computer").as_deref(), Some("DC1"));
    assert_eq!(lookup(&e, "CommandLine"), None);
}

#[test]
fn security_4688_answers_to_sysmon_names() {
    let e = event(
        SourceKind::Evtx,
        "Security",
        "4688",
        json!({"Event": {"System": {"EventID": 4688, "Channel": "Security"},
            "EventData": {"NewProcessName": "C:\\Windows\\System32\\cmd.exe",
                "ParentProcessName": "C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
                "SubjectUserName": "bob", "SubjectDomainName": "HOSP", "TargetUserName": "-",
                "MandatoryLabel": "S-1-16-12288", "CommandLine": "cmd /c whoami"}}}),
    );
    assert_eq!(
        lookup(&e, "Image").as_deref(),
        Some("C:\\Windows\\System32\\cmd.exe")
    );
    assert!(lookup(&e, "ParentImage").unwrap().ends_with("WINWORD.EXE"));
    assert_eq!(lookup(&e, "User").as_deref(), Some("HOSP\\bob"));
    assert_eq!(lookup(&e, "IntegrityLevel").as_deref(), Some("High"));
    assert_eq!(lookup(&e, "CommandLine").as_deref(), Some("cmd /c whoami"));
}

#[test]
fn security_4688_names_service_accounts_as_sysmon_does() {
    let as_sid = |sid: &str, name: &str| {
        let e = event(
            SourceKind::Evtx,
            "Security",
            "4688",
            json!({"Event": {"System": {"EventID": 4688, "Channel": "Security"},
                "EventData": {"NewProcessName": "C:\\Windows\\System32\\cmd.exe",
                    "SubjectUserSid": sid, "SubjectUserName": name,
                    "SubjectDomainName": "HOSP", "TargetUserName": "-"}}}),
        );
        lookup(&e, "User")
    };
    assert_eq!(
        as_sid("S-1-5-18", "WS07$").as_deref(),
        Some("NT AUTHORITY\\SYSTEM")
    );
    assert_eq!(
        as_sid("S-1-5-20", "WS07$").as_deref(),
        Some("NT AUTHORITY\\NETWORK SERVICE")
    );
    assert_eq!(
        as_sid("S-1-5-21-1-2-3-1104", "jdoe").as_deref(),
        Some("HOSP\\jdoe")
    );
    // UAC's broker (SYSTEM) creating a user's elevated process: the owner is not SYSTEM.
    let elevated = event(
        SourceKind::Evtx,
        "Security",
        "4688",
        json!({"Event": {"System": {"EventID": 4688, "Channel": "Security"},
            "EventData": {"NewProcessName": "C:\\Windows\\System32\\Taskmgr.exe",
                "SubjectUserSid": "S-1-5-18", "SubjectUserName": "WS07$",
                "SubjectDomainName": "HOSP", "TokenElevationType": "%%1937"}}}),
    );
    assert_eq!(lookup(&elevated, "User").as_deref(), Some("HOSP\\WS07$"));
}

#[test]
fn winlogbeat_and_flat_layouts_resolve_the_same_names() {
    let wb = event(
        SourceKind::WinlogbeatEcs,
        "Microsoft-Windows-Sysmon/Operational",
        "1",
        json!({"winlog": {"event_id": "1", "channel": "Microsoft-Windows-Sysmon/Operational",
            "computer_name": "WS1", "provider_name": "Microsoft-Windows-Sysmon",
            "event_data": {"Image": "C:\\a.exe"}}}),
    );
    assert_eq!(lookup(&wb, "EventID").as_deref(), Some("1"));
    assert_eq!(lookup(&wb, "Computer").as_deref(), Some("WS1"));
    assert_eq!(lookup(&wb, "Image").as_deref(), Some("C:\\a.exe"));
    let flat = event(
        SourceKind::FlatWindows,
        "Microsoft-Windows-Sysmon/Operational",
        "1",
        json!({"EventID": "1", "SourceName": "Microsoft-Windows-Sysmon", "Hostname": "WS1",
            "Image": "C:\\a.exe"}),
    );
    assert_eq!(
        lookup(&flat, "Provider_Name").as_deref(),
        Some("Microsoft-Windows-Sysmon")
    );
    assert_eq!(lookup(&flat, "Computer").as_deref(), Some("WS1"));
    assert_eq!(lookup(&flat, "Image").as_deref(), Some("C:\\a.exe"));
}

#[test]
fn defender_names_with_spaces_answer_to_names_without() {
    let e = event(
        SourceKind::Evtx,
        "Microsoft-Windows-Windows Defender/Operational",
        "1116",
        json!({"Event": {"System": {"EventID": 1116},
            "EventData": {"Threat Name": "Tool:Win32/EICAR_Test_File", "Source Name": "Real-Time Protection"}}}),
    );
    assert_eq!(
        lookup(&e, "ThreatName").as_deref(),
        Some("Tool:Win32/EICAR_Test_File")
    );
    assert_eq!(
        lookup(&e, "Threat Name").as_deref(),
        Some("Tool:Win32/EICAR_Test_File")
    );
    assert_eq!(lookup(&e, "SourceNam"), None);
}

#[test]
fn unnamed_data_elements_match_as_one_text() {
    let e = event(
        SourceKind::Evtx,
        "Windows PowerShell",
        "400",
        json!({"Event": {"System": {"EventID": 400},
            "EventData": {"Data": {"#text": ["Available", "None", "\tHostApplication=powershell.exe -enc AAA"]}}}}),
    );
    let data = lookup(&e, "Data").unwrap();
    assert!(data.contains("HostApplication=powershell.exe -enc"));
    assert!(data.starts_with("Available\n"));
    // The engine's start is a process creation too: its host application is the command line.
    assert_eq!(
        lookup(&e, "CommandLine").as_deref(),
        Some("powershell.exe -enc AAA")
    );
    assert!(lookup(&e, "Image").unwrap().ends_with("\\powershell.exe"));
}

#[test]
fn winlogbeat_6_documents_keep_their_fields_at_the_top() {
    let e = event(
        SourceKind::WinlogbeatEcs,
        "Security",
        "4688",
        json!({"event_id": 4688, "log_name": "Security", "source_name": "Microsoft-Windows-Security-Auditing",
            "computer_name": "WS9", "event_data": {"NewProcessName": "C:\\x\\cmd.exe", "CommandLine": "cmd /c dir"}}),
    );
    assert_eq!(lookup(&e, "EventID").as_deref(), Some("4688"));
    assert_eq!(lookup(&e, "Channel").as_deref(), Some("Security"));
    assert_eq!(
        lookup(&e, "Provider_Name").as_deref(),
        Some("Microsoft-Windows-Security-Auditing")
    );
    assert_eq!(lookup(&e, "Image").as_deref(), Some("C:\\x\\cmd.exe"));
    assert_eq!(lookup(&e, "CommandLine").as_deref(), Some("cmd /c dir"));
}

#[test]
fn security_5156_answers_to_sysmon_network_names_and_keeps_its_own() {
    let e = event(
        SourceKind::Evtx,
        "Security",
        "5156",
        json!({"Event": {"System": {"EventID": 5156, "Channel": "Security"},
            "EventData": {"ProcessID": "3000",
                "Application": "\\device\\harddiskvolume3\\users\\bob\\appdata\\local\\temp\\x.exe",
                "Direction": "%%14593", "SourceAddress": "10.0.0.5", "SourcePort": "50001",
                "DestAddress": "198.51.100.7", "DestPort": "3389", "Protocol": 6}}}),
    );
    assert_eq!(
        lookup(&e, "Image").as_deref(),
        Some("C:\\users\\bob\\appdata\\local\\temp\\x.exe")
    );
    assert_eq!(lookup(&e, "Initiated").as_deref(), Some("true"));
    assert_eq!(lookup(&e, "DestinationIp").as_deref(), Some("198.51.100.7"));
    // The record's own names still answer.
    assert_eq!(lookup(&e, "DestPort").as_deref(), Some("3389"));
    // Another Security event gets no such names.
    let other = event(
        SourceKind::Evtx,
        "Security",
        "5157",
        json!({"Event": {"System": {"EventID": 5157, "Channel": "Security"},
            "EventData": {"Application": "\\device\\harddiskvolume3\\x.exe", "Direction": "%%14593"}}}),
    );
    assert_eq!(lookup(&other, "Image"), None);
    assert_eq!(lookup(&other, "Initiated"), None);
}

#[test]
fn padded_logon_process_names_read_without_their_padding() {
    let e = event(
        SourceKind::Evtx,
        "Security",
        "4624",
        json!({"Event": {"System": {"EventID": 4624, "Channel": "Security"},
            "EventData": {"LogonProcessName": "NtLmSsp ", "WorkstationName": "WS1 ",
                "LogonType": 3}}}),
    );
    assert_eq!(lookup(&e, "LogonProcessName").as_deref(), Some("NtLmSsp"));
    // Other fields keep what Windows wrote.
    assert_eq!(lookup(&e, "WorkstationName").as_deref(), Some("WS1 "));
    let flat = event(
        SourceKind::FlatWindows,
        "Security",
        "4625",
        json!({"EventID": 4625, "Channel": "Security", "LogonProcessName": "Advapi  "}),
    );
    assert_eq!(lookup(&flat, "LogonProcessName").as_deref(), Some("Advapi"));
}
