//! Flat Windows JSON: one object per event with the System fields and the `EventData` fields side
//! by side at the top, as nxlog, Logstash pipelines, `Get-WinEvent | ConvertTo-Json` and many
//! exporters write it.
//!
//! # What it does
//! Recognizes an object with an `EventID` (or `EventId`) and at least one of `Channel`,
//! `Computer`, `Hostname`, `Provider_Name`, `ProviderName`, `SourceName`, `ComputerName`,
//! `MachineName` or `LogName`; normalizes it with [`crate::windows::normalize`], reading the event
//! data from a nested `EventData` object when there is one and from the top level otherwise.
//! The time is the first readable of `@timestamp`, `TimeCreated` (text, epoch or .NET
//! `/Date(ms)/`), `TimeCreated.SystemTime`, Sysmon's `UtcTime`, nxlog's `EventTime` and
//! `TimeGenerated`. nxlog writes `EventTime` in the collector's local time without a zone; it is
//! taken as UTC, which is why it comes last.
//!
//! # Why it matters
//! The OTRF / Mordor attack datasets and most SIEM exports have this shape; Sigma rules read
//! their field names (`Image`, `CommandLine`) directly from [`Event::raw`].
//!
//! # Example
//! `{"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Hostname": "WS5",
//! "Image": "C:\\x.exe", "@timestamp": "2020-10-22T03:52:01.720Z"}` gives
//! [`SourceKind::FlatWindows`] with `process.executable` `C:\x.exe` and `host.name` WS5.
//!
//! # References
//! OTRF Security-Datasets (<https://github.com/OTRF/Security-Datasets>); nxlog `im_msvistalog`
//! fields.

use serde_json::Value;
use wardwatch_core::{Event, Origin, SourceKind};

use crate::doc::{first_text, object_at};
use crate::windows::{WindowsRecord, event_id_of, normalize};

const EVENT_ID: &[&str] = &["EventID", "EventId"];
const CHANNEL: &[&str] = &["Channel", "LogName"];
const PROVIDER: &[&str] = &[
    "Provider_Name",
    "ProviderName",
    "SourceName",
    "Provider.Name",
    "Provider",
];
const COMPUTER: &[&str] = &[
    "Computer",
    "Hostname",
    "ComputerName",
    "MachineName",
    "HostName",
];
const TIME: &[&str] = &[
    "@timestamp",
    "TimeCreated",
    "TimeCreated.SystemTime",
    "UtcTime",
    "EventTime",
    "TimeGenerated",
];

fn event_id(v: &Value) -> Option<u64> {
    EVENT_ID
        .iter()
        .find_map(|k| v.get(*k).and_then(event_id_of))
}

/// Whether `v` is a flat Windows record.
pub(crate) fn is_flat_windows(v: &Value) -> bool {
    event_id(v).is_some()
        && CHANNEL
            .iter()
            .chain(PROVIDER)
            .chain(COMPUTER)
            .any(|k| v.get(*k).is_some())
}

/// Decode a record for which [`is_flat_windows`] holds.
pub(crate) fn decode(v: Value, origin: Origin) -> Event {
    let channel = first_text(&v, CHANNEL);
    let provider = first_text(&v, PROVIDER);
    let computer = first_text(&v, COMPUTER);
    let nested = object_at(&v, "EventData");
    let ecs = normalize(&WindowsRecord {
        channel: channel.as_deref(),
        provider: provider.as_deref(),
        event_id: event_id(&v),
        computer: computer.as_deref(),
        data: nested.as_deref().or(v.as_object()),
    });
    drop(nested);
    crate::doc::event_of(SourceKind::FlatWindows, v, TIME, ecs, origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode_json(v: Value) -> Event {
        assert!(is_flat_windows(&v), "not recognized: {v}");
        decode(v, Origin::default())
    }

    #[test]
    fn otrf_sysmon_process_access() {
        // Shape and values from an OTRF Mordor nxlog record (trimmed).
        let ev = decode_json(json!({
            "EventTime": "2020-08-07 10:32:22", "@timestamp": "2020-08-07T14:32:25.358Z",
            "Hostname": "MORDORDC.theshire.local", "host": "wec.internal.cloudapp.net",
            "Channel": "Microsoft-Windows-Sysmon/Operational", "SourceName": "Microsoft-Windows-Sysmon",
            "EventID": 10, "SourceImage": "C:\\windows\\system32\\svchost.exe",
            "TargetImage": "C:\\windows\\System32\\lsass.exe", "AccountName": "SYSTEM"
        }));
        assert_eq!(ev.source_kind, SourceKind::FlatWindows);
        assert_eq!(ev.timestamp.to_string(), "2020-08-07T14:32:25.358Z");
        assert_eq!(ev.ecs.host_name.as_deref(), Some("MORDORDC.theshire.local"));
        assert_eq!(
            ev.ecs.event_provider.as_deref(),
            Some("Microsoft-Windows-Sysmon")
        );
        assert_eq!(ev.ecs.event_code.as_deref(), Some("10"));
        assert_eq!(ev.ecs.user_name.as_deref(), Some("SYSTEM"));
    }

    #[test]
    fn security_logon_with_time_created_only() {
        let ev = decode_json(json!({
            "EventID": "4625", "Channel": "Security", "Computer": "DC01",
            "Provider_Name": "Microsoft-Windows-Security-Auditing",
            "TimeCreated": "2022-08-18T06:56:13.967Z",
            "TargetUserName": "admin", "IpAddress": "10.9.8.7"
        }));
        assert_eq!(ev.timestamp.to_string(), "2022-08-18T06:56:13.967Z");
        assert_eq!(ev.ecs.event_outcome.as_deref(), Some("failure"));
        assert_eq!(ev.ecs.source_ip.as_deref(), Some("10.9.8.7"));
        assert_eq!(ev.ecs.user_name.as_deref(), Some("admin"));
    }

    #[test]
    fn nested_event_data_and_powershell_dates() {
        let ev = decode_json(json!({
            "Id": 1, "EventID": 1, "ProviderName": "Microsoft-Windows-Sysmon",
            "LogName": "Microsoft-Windows-Sysmon/Operational", "MachineName": "ws7",
            "TimeCreated": "/Date(1603335121720)/",
            "EventData": {"Image": "C:\\a.exe", "CommandLine": "a.exe -x", "ProcessId": "77"}
        }));
        assert_eq!(ev.timestamp.to_string(), "2020-10-22T02:52:01.72Z");
        assert_eq!(ev.ecs.process_command_line.as_deref(), Some("a.exe -x"));
        assert_eq!(ev.ecs.process_pid, Some(77));
        assert_eq!(ev.ecs.event_action.as_deref(), Some("process-started"));
        assert_eq!(ev.ecs.host_name.as_deref(), Some("ws7"));
    }

    #[test]
    fn nxlog_event_time_is_the_last_resort() {
        let ev = decode_json(json!({"EventID": 7045, "Hostname": "h",
            "EventTime": "2020-08-07 10:32:22", "UtcTime": "2020-08-07 14:32:22.692"}));
        assert_eq!(ev.timestamp.to_string(), "2020-08-07T14:32:22.692Z");
        let ev = decode_json(json!({"EventID": 7045, "Hostname": "h",
            "EventTime": "2020-08-07 10:32:22"}));
        assert_eq!(ev.timestamp.to_string(), "2020-08-07T10:32:22Z");
        assert_eq!(ev.ecs.event_action.as_deref(), Some("service-installed"));
    }

    #[test]
    fn an_event_id_alone_is_not_windows() {
        assert!(!is_flat_windows(&json!({"EventID": 4624})));
        assert!(!is_flat_windows(&json!({"Channel": "Security"})));
        assert!(!is_flat_windows(
            &json!({"EventID": "x", "Channel": "Security"})
        ));
    }
}
