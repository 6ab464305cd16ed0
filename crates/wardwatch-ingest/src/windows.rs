//! Windows event normalization shared by every Windows-shaped source (EVTX files, Winlogbeat,
//! flat Sysmon-style JSON): the ECS core fields from the channel, the Event ID and `EventData`.
//!
//! Why one place: the same Security 4624 logon arrives as EVTX, as Winlogbeat ECS and as a flat
//! export; the console and the incident engine must see one `user.name` and one `source.ip`
//! whatever the shipper was.

use serde_json::{Map, Value};
use wardwatch_core::Ecs;

/// The parts of a Windows record that normalization reads, borrowed from whatever layout held them.
pub struct WindowsRecord<'a> {
    pub channel: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub event_id: Option<u64>,
    pub computer: Option<&'a str>,
    /// `EventData` (or `UserData`'s inner object) with named fields.
    pub data: Option<&'a Map<String, Value>>,
}

/// A JSON value as text: strings as they are, numbers and booleans printed.
pub fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A Windows `EventID`, which EVTX renders either as a number or as `{"#text": n, "#attributes": ..}`.
pub fn event_id_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Object(o) => o.get("#text").and_then(event_id_of),
        _ => None,
    }
}

fn field(data: Option<&Map<String, Value>>, names: &[&str]) -> Option<String> {
    let data = data?;
    names.iter().find_map(|n| {
        data.get(*n)
            .and_then(value_text)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "-")
    })
}

fn is_sysmon(channel: Option<&str>) -> bool {
    channel.is_some_and(|c| c.eq_ignore_ascii_case("Microsoft-Windows-Sysmon/Operational"))
}

/// Normalized ECS fields for a Windows record.
pub fn normalize(rec: &WindowsRecord<'_>) -> Ecs {
    let d = rec.data;
    let mut ecs = Ecs {
        event_kind: Some("event".into()),
        event_code: rec.event_id.map(|id| id.to_string()),
        event_provider: rec.provider.map(str::to_string),
        channel: rec.channel.map(str::to_string),
        host_name: rec.computer.map(str::to_string),
        ..Ecs::default()
    };
    // Who: the target of a logon or account change wins over the subject that performed it,
    // because that is the identity an analyst pivots on. In group management events the
    // target is the group (`Administrators`); the person is the one who changed it.
    let group_event = matches!(rec.event_id, Some(4727..=4737 | 4744..=4762 | 4764 | 4799));
    let user = if group_event {
        field(d, &["SubjectUserName", "User", "UserName"])
    } else {
        field(
            d,
            &[
                "TargetUserName",
                "User",
                "UserName",
                "SubjectUserName",
                "AccountName",
            ],
        )
    };
    if let Some(u) = user {
        if let Some((dom, name)) = u.split_once('\\') {
            ecs.user_domain = Some(dom.to_string());
            ecs.user_name = Some(name.to_string());
        } else {
            ecs.user_name = Some(u);
            ecs.user_domain = if group_event {
                field(d, &["SubjectDomainName", "Domain"])
            } else {
                field(d, &["TargetDomainName", "SubjectDomainName", "Domain"])
            };
        }
    }
    ecs.source_ip = field(
        d,
        &["IpAddress", "SourceIp", "SourceAddress", "ClientAddress"],
    )
    .map(|ip| ip.trim_start_matches("::ffff:").to_string());
    ecs.source_port = field(d, &["IpPort", "SourcePort"]).and_then(|p| p.parse().ok());
    ecs.destination_ip = field(d, &["DestinationIp", "DestAddress"]);
    ecs.destination_port = field(d, &["DestinationPort", "DestPort"]).and_then(|p| p.parse().ok());
    ecs.process_executable = field(
        d,
        &["Image", "NewProcessName", "ProcessName", "Application"],
    );
    ecs.process_command_line = field(d, &["CommandLine", "ProcessCommandLine"]);
    ecs.process_parent_executable = field(d, &["ParentImage", "ParentProcessName"]);
    // A Security 4688's `ProcessId` is the process that created the new one (its parent); the
    // process the record is about is `NewProcessId`.
    let pid_keys: &[&str] = if rec.event_id == Some(4688) && !is_sysmon(rec.channel) {
        &["NewProcessId", "ProcessId"]
    } else {
        &["ProcessId", "NewProcessId"]
    };
    ecs.process_pid = field(d, pid_keys).and_then(|p| parse_pid(&p));
    ecs.file_path = field(d, &["TargetFilename", "ObjectName", "ImageLoaded"]);
    ecs.dns_question_name = field(d, &["QueryName"]);
    let sysmon = is_sysmon(rec.channel);
    let (category, action) = match (sysmon, rec.event_id) {
        (true, Some(1)) | (false, Some(4688)) => ("process", "process-started"),
        (true, Some(3)) => ("network", "network-connection"),
        (true, Some(11)) => ("file", "file-created"),
        (true, Some(12..=14)) | (false, Some(4657)) => ("registry", "registry-changed"),
        (true, Some(22)) => ("network", "dns-query"),
        (false, Some(4624)) => ("authentication", "logged-in"),
        (false, Some(4625)) => ("authentication", "logon-failed"),
        (false, Some(4634 | 4647)) => ("session", "logged-off"),
        (false, Some(4648)) => ("authentication", "explicit-credentials"),
        (false, Some(4672)) => ("iam", "special-privileges-assigned"),
        (false, Some(4768)) => ("authentication", "kerberos-tgt-requested"),
        (false, Some(4769)) => ("authentication", "kerberos-service-ticket-requested"),
        (false, Some(4771)) => ("authentication", "kerberos-preauth-failed"),
        (false, Some(4776)) => ("authentication", "credentials-validated"),
        (false, Some(4720 | 4722 | 4724 | 4728 | 4732 | 4756)) => ("iam", "account-changed"),
        (false, Some(7045 | 4697)) => ("configuration", "service-installed"),
        _ => ("", ""),
    };
    if !category.is_empty() {
        ecs.event_category = Some(category.into());
        ecs.event_action = Some(action.into());
    }
    if !sysmon {
        match rec.event_id {
            Some(4624) => ecs.event_outcome = Some("success".into()),
            Some(4625 | 4771) => ecs.event_outcome = Some("failure".into()),
            // Kerberos and NTLM validation say how they ended in `Status` (0x0: granted).
            Some(4768 | 4769 | 4776) => {
                ecs.event_outcome = field(d, &["Status"]).map(|s| {
                    let ok = matches!(s.to_ascii_lowercase().as_str(), "0x0" | "0" | "0x00000000");
                    (if ok { "success" } else { "failure" }).into()
                });
            }
            _ => {}
        }
    }
    ecs
}

/// Windows writes process ids in decimal (Sysmon) or hex (`0x1a4`, Security).
fn parse_pid(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn logon_takes_target_user_and_strips_mapped_ipv4() {
        let data = json!({"TargetUserName": "alice", "TargetDomainName": "HOSP",
            "SubjectUserName": "WS1$", "IpAddress": "::ffff:10.1.2.3", "IpPort": "50123"});
        let ecs = normalize(&WindowsRecord {
            channel: Some("Security"),
            provider: Some("Microsoft-Windows-Security-Auditing"),
            event_id: Some(4624),
            computer: Some("dc01.hosp.local"),
            data: data.as_object(),
        });
        assert_eq!(ecs.user_name.as_deref(), Some("alice"));
        assert_eq!(ecs.user_domain.as_deref(), Some("HOSP"));
        assert_eq!(ecs.source_ip.as_deref(), Some("10.1.2.3"));
        assert_eq!(ecs.source_port, Some(50123));
        assert_eq!(ecs.event_outcome.as_deref(), Some("success"));
        assert_eq!(ecs.event_category.as_deref(), Some("authentication"));
    }

    #[test]
    fn sysmon_process_splits_domain_user_and_reads_pid() {
        let data = json!({"User": "HOSP\\bob", "Image": "C:\\x.exe", "ProcessId": 4460,
            "CommandLine": "x.exe -a"});
        let ecs = normalize(&WindowsRecord {
            channel: Some("Microsoft-Windows-Sysmon/Operational"),
            provider: None,
            event_id: Some(1),
            computer: Some("ws1"),
            data: data.as_object(),
        });
        assert_eq!(ecs.user_name.as_deref(), Some("bob"));
        assert_eq!(ecs.process_pid, Some(4460));
        assert_eq!(ecs.event_action.as_deref(), Some("process-started"));
        assert_eq!(parse_pid("0x1a4"), Some(420));
        assert_eq!(
            event_id_of(&json!({"#text": 7045, "#attributes": {"Qualifiers": 16384}})),
            Some(7045)
        );
    }

    #[test]
    fn security_4688_pid_is_the_new_process_not_its_creator() {
        let data = json!({"NewProcessId": "0x1a4", "ProcessId": "0x2f0",
            "NewProcessName": "C:\\Windows\\System32\\cmd.exe",
            "ParentProcessName": "C:\\Windows\\explorer.exe"});
        let ecs = normalize(&WindowsRecord {
            channel: Some("Security"),
            provider: Some("Microsoft-Windows-Security-Auditing"),
            event_id: Some(4688),
            computer: Some("ws1"),
            data: data.as_object(),
        });
        assert_eq!(ecs.process_pid, Some(0x1a4));
        assert_eq!(
            ecs.process_parent_executable.as_deref(),
            Some("C:\\Windows\\explorer.exe")
        );
        // Elsewhere `ProcessId` is the process the record is about (4656, 4663, 5156...).
        let data = json!({"ProcessId": "0x2f0", "ProcessName": "C:\\x.exe"});
        let ecs = normalize(&WindowsRecord {
            channel: Some("Security"),
            provider: None,
            event_id: Some(4663),
            computer: Some("ws1"),
            data: data.as_object(),
        });
        assert_eq!(ecs.process_pid, Some(0x2f0));
    }

    #[test]
    fn kerberos_and_ntlm_outcomes_come_from_status() {
        let norm = |id: u64, data: Value| {
            let ecs = normalize(&WindowsRecord {
                channel: Some("Security"),
                provider: None,
                event_id: Some(id),
                computer: Some("dc01"),
                data: data.as_object(),
            });
            (
                ecs.event_action.unwrap_or_default(),
                ecs.event_outcome.unwrap_or_default(),
            )
        };
        let failed = json!({"TargetUserName": "bob", "Workstation": "WS7", "Status": "0xC000006A"});
        assert_eq!(
            norm(4776, failed),
            ("credentials-validated".into(), "failure".into())
        );
        let ok = json!({"TargetUserName": "bob", "Status": "0x0"});
        assert_eq!(
            norm(4768, ok),
            ("kerberos-tgt-requested".into(), "success".into())
        );
        let pre =
            json!({"TargetUserName": "bob", "IpAddress": "::ffff:10.0.0.9", "Status": "0x18"});
        assert_eq!(
            norm(4771, pre),
            ("kerberos-preauth-failed".into(), "failure".into())
        );
    }

    #[test]
    fn group_changes_name_the_admin_not_the_group() {
        let data = json!({"TargetUserName": "Administrators", "TargetDomainName": "Builtin",
            "SubjectUserName": "admin-kw", "SubjectDomainName": "HOSP", "MemberSid": "S-1-5-21-1-2-3-1003"});
        let ecs = normalize(&WindowsRecord {
            channel: Some("Security"),
            provider: None,
            event_id: Some(4732),
            computer: Some("epr01"),
            data: data.as_object(),
        });
        assert_eq!(ecs.user_name.as_deref(), Some("admin-kw"));
        assert_eq!(ecs.user_domain.as_deref(), Some("HOSP"));
    }
}
