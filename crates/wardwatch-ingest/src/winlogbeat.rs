//! Winlogbeat and Elastic Agent documents: Windows events as Elastic ships them.
//!
//! # What it does
//! Recognizes the ECS shape (`winlog.channel`, `winlog.event_id`, `winlog.provider_name`,
//! `winlog.computer_name`, `winlog.event_data.*` or `winlog.user_data.*`, nested or as dotted
//! keys) and the pre-ECS Winlogbeat 6 shape (`event_id`, `log_name`, `source_name`,
//! `computer_name`, `event_data`), normalizes the Windows part with [`crate::windows::normalize`]
//! and then lets the ECS fields the document already states win (Elastic's ingest pipelines set
//! `user.name`, `source.ip`, `process.command_line`... with more knowledge than we have).
//!
//! One exception: `host.name` is `winlog.computer_name` whenever that is present. Beats set
//! `host.name` to the machine the shipper runs on, which under Windows Event Forwarding is the
//! collector — every event would otherwise appear to come from the WEC server (the OTRF datasets
//! show exactly this: `host.name` "WECserver", `computer_name` the real workstation).
//!
//! The time is `@timestamp`; the document is kept whole in [`Event::raw`], so Sigma rules read
//! `winlog.event_data.*` (or, for the 6.x shape, `event_data.*`).
//!
//! # Example
//! `{"@timestamp": "2024-03-01T10:00:00Z", "winlog": {"channel": "Security", "event_id": 4624,
//! "computer_name": "DC01", "event_data": {"TargetUserName": "alice"}}}` gives
//! [`SourceKind::WinlogbeatEcs`], `host.name` DC01, `user.name` alice, `event.action` logged-in.
//!
//! # References
//! Elastic, "Winlogbeat exported fields" (`winlog.*`); Elastic Common Schema.

use serde_json::Value;
use wardwatch_core::{Event, Origin, SourceKind};

use crate::doc::{ecs_of, first_text, lookup, object_at, overlay};
use crate::windows::{WindowsRecord, event_id_of, normalize};

/// Where one of the two Winlogbeat layouts keeps each Windows part.
struct Layout {
    channel: &'static str,
    provider: &'static str,
    event_id: &'static str,
    computer: &'static str,
    event_data: &'static str,
    user_data: &'static str,
}

const ECS: Layout = Layout {
    channel: "winlog.channel",
    provider: "winlog.provider_name",
    event_id: "winlog.event_id",
    computer: "winlog.computer_name",
    event_data: "winlog.event_data",
    user_data: "winlog.user_data",
};

/// Winlogbeat 6.x, before ECS.
const LEGACY: Layout = Layout {
    channel: "log_name",
    provider: "source_name",
    event_id: "event_id",
    computer: "computer_name",
    event_data: "event_data",
    user_data: "user_data",
};

/// Which Winlogbeat layout `v` has, if any.
fn layout_of(v: &Value) -> Option<&'static Layout> {
    let has = |p: &str| lookup(v, p).is_some();
    if has(ECS.event_id) || has(ECS.channel) || has(ECS.provider) {
        Some(&ECS)
    } else if v.get(LEGACY.event_id).is_some()
        && (v.get(LEGACY.channel).is_some() || v.get(LEGACY.computer).is_some())
    {
        Some(&LEGACY)
    } else {
        None
    }
}

/// Whether `v` is a Winlogbeat or Elastic Agent Windows document.
pub(crate) fn is_winlogbeat(v: &Value) -> bool {
    layout_of(v).is_some()
}

/// Decode a document for which [`is_winlogbeat`] holds (any other object decodes too, with
/// only its explicit ECS fields).
pub(crate) fn decode(v: Value, origin: Origin) -> Event {
    let layout = layout_of(&v).unwrap_or(&ECS);
    let channel = first_text(&v, &[layout.channel]);
    let provider = first_text(&v, &[layout.provider]);
    let computer = first_text(&v, &[layout.computer]);
    let event_id = lookup(&v, layout.event_id)
        .or_else(|| lookup(&v, "event.code"))
        .and_then(event_id_of);
    let data = object_at(&v, layout.event_data).or_else(|| {
        // UserData wraps its fields in one element named after the event template; Winlogbeat
        // usually unwraps it, but not always.
        let ud = object_at(&v, layout.user_data)?;
        match ud.values().next().and_then(Value::as_object) {
            Some(inner) if ud.len() == 1 => Some(std::borrow::Cow::Owned(inner.clone())),
            _ => Some(ud),
        }
    });
    let mut ecs = normalize(&WindowsRecord {
        channel: channel.as_deref(),
        provider: provider.as_deref(),
        event_id,
        computer: computer.as_deref(),
        data: data.as_deref(),
    });
    drop(data);
    overlay(&mut ecs, ecs_of(&v));
    if computer.is_some() {
        ecs.host_name = computer;
    }
    crate::doc::event_of(SourceKind::WinlogbeatEcs, v, &["@timestamp"], ecs, origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode_json(v: Value) -> Event {
        assert!(is_winlogbeat(&v), "not recognized: {v}");
        decode(v, Origin::default())
    }

    #[test]
    fn ecs_security_logon_uses_windows_fields() {
        let ev = decode_json(json!({
            "@timestamp": "2024-03-01T10:00:00.123Z",
            "winlog": {"channel": "Security", "event_id": 4624,
                "provider_name": "Microsoft-Windows-Security-Auditing",
                "computer_name": "DC01.hosp.local",
                "event_data": {"TargetUserName": "alice", "TargetDomainName": "HOSP",
                    "IpAddress": "10.1.2.3", "IpPort": "50123"}},
            "host": {"name": "wec01"}
        }));
        assert_eq!(ev.source_kind, SourceKind::WinlogbeatEcs);
        assert_eq!(ev.timestamp.to_string(), "2024-03-01T10:00:00.123Z");
        assert_eq!(ev.time_text.as_deref(), Some("2024-03-01T10:00:00.123Z"));
        assert_eq!(
            ev.ecs.host_name.as_deref(),
            Some("DC01.hosp.local"),
            "computer_name wins over the shipper's host.name"
        );
        assert_eq!(ev.ecs.user_name.as_deref(), Some("alice"));
        assert_eq!(ev.ecs.user_domain.as_deref(), Some("HOSP"));
        assert_eq!(ev.ecs.source_ip.as_deref(), Some("10.1.2.3"));
        assert_eq!(ev.ecs.event_code.as_deref(), Some("4624"));
        assert_eq!(ev.ecs.event_action.as_deref(), Some("logged-in"));
        assert_eq!(ev.ecs.channel.as_deref(), Some("Security"));
        assert_eq!(ev.raw["host"]["name"], "wec01", "raw is kept as it came");
    }

    #[test]
    fn explicit_ecs_fields_win_and_dotted_keys_are_read() {
        let ev = decode_json(json!({
            "@timestamp": "2024-03-01T10:00:00Z",
            "winlog.channel": "Microsoft-Windows-Sysmon/Operational",
            "winlog.event_id": "1",
            "winlog.event_data.Image": "C:\\Windows\\System32\\cmd.exe",
            "winlog.event_data.CommandLine": "cmd /c whoami",
            "winlog.event_data.User": "HOSP\\bob",
            "process.command_line": "cmd.exe /c whoami",
            "user": {"name": "robert"},
            "event": {"category": ["process"], "action": "Process Create (rule: ProcessCreate)"}
        }));
        assert_eq!(
            ev.ecs.process_executable.as_deref(),
            Some("C:\\Windows\\System32\\cmd.exe")
        );
        assert_eq!(
            ev.ecs.process_command_line.as_deref(),
            Some("cmd.exe /c whoami")
        );
        assert_eq!(ev.ecs.user_name.as_deref(), Some("robert"));
        assert_eq!(ev.ecs.user_domain.as_deref(), Some("HOSP"));
        assert_eq!(
            ev.ecs.event_action.as_deref(),
            Some("Process Create (rule: ProcessCreate)")
        );
        assert_eq!(ev.ecs.event_category.as_deref(), Some("process"));
    }

    #[test]
    fn user_data_and_event_code_fallback() {
        let ev = decode_json(json!({
            "@timestamp": 1709287200000u64,
            "event": {"code": "1102"},
            "winlog": {"channel": "Security",
                "user_data": {"LogFileCleared": {"SubjectUserName": "mallory"}}}
        }));
        assert_eq!(ev.ecs.event_code.as_deref(), Some("1102"));
        assert_eq!(ev.ecs.user_name.as_deref(), Some("mallory"));
        assert_eq!(ev.timestamp.to_string(), "2024-03-01T10:00:00Z");
    }

    #[test]
    fn winlogbeat6_legacy_shape() {
        let ev = decode_json(json!({
            "@timestamp": "2019-05-18T20:42:59.034Z",
            "beat": {"hostname": "WECserver"}, "host": {"name": "WECserver"},
            "event_id": 4688, "log_name": "Security",
            "source_name": "Microsoft-Windows-Security-Auditing",
            "computer_name": "HR001.shire.com",
            "event_data": {"NewProcessName": "C:\\Windows\\System32\\whoami.exe",
                "SubjectUserName": "pgustavo", "NewProcessId": "0x1a4"}
        }));
        assert_eq!(ev.ecs.host_name.as_deref(), Some("HR001.shire.com"));
        assert_eq!(
            ev.ecs.process_executable.as_deref(),
            Some("C:\\Windows\\System32\\whoami.exe")
        );
        assert_eq!(ev.ecs.process_pid, Some(420));
        assert_eq!(ev.ecs.event_action.as_deref(), Some("process-started"));
        assert_eq!(ev.ecs.user_name.as_deref(), Some("pgustavo"));
    }

    #[test]
    fn other_documents_are_not_winlogbeat() {
        assert!(!is_winlogbeat(&json!({"event_id": 1})));
        assert!(!is_winlogbeat(
            &json!({"EventID": 4624, "Channel": "Security"})
        ));
        assert!(!is_winlogbeat(&json!({"winlog": "x"})));
    }
}
