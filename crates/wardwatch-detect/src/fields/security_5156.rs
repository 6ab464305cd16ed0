//! Security 5156 ("The Windows Filtering Platform has permitted a connection") under Sysmon's
//! network connection field names.
//!
//! Hosts that audit the Filtering Platform instead of running Sysmon record every permitted
//! connection as Security 5156: the program, the direction, both addresses and ports. SigmaHQ
//! writes its `network_connection` rules (a script host or rundll32 reaching the internet, RDP
//! or SMB from an unusual program, connections to tunnelling services...) with Sysmon's Event
//! ID 3 names, so without this mapping they never see those hosts. pySigma's Windows audit
//! pipeline makes the same choice (`network_connection` is 5156). The translation:
//!
//! - `Image` is `Application` with the kernel's volume prefix (`\device\harddiskvolume3\`)
//!   written as `C:\`, the way Sysmon prints the path. The record does not say which drive
//!   letter the volume has; programs of other volumes read as `C:` too, which only matters to
//!   rules that compare a whole path, not to the usual `endswith` on the program's name;
//! - `Initiated` is `true` for an outbound connection (`%%14593`), `false` for an inbound one;
//! - `SourceIp`/`SourcePort` and `DestinationIp`/`DestinationPort` are the record's own source
//!   and destination: the side that connected and the side that was reached, in both
//!   directions, as Sysmon reports a TCP connection too. For an outbound connection the source
//!   is this host; for an inbound one the source is the peer and the destination this host's
//!   listening port (the OTRF recordings show it in both logs: a domain controller's inbound
//!   LDAP reads `172.18.39.5:57293 -> 172.18.38.5:389` in 5156, and Sysmon's Event ID 3 on the
//!   same DC names the connecting side, an ephemeral port, as the source of an inbound
//!   connection to 389);
//! - `Protocol` stays the record's own (the IANA number), since the record has a field of
//!   that name and a record's own fields come first; few rules read it;
//! - `ProcessId` is the number.
//!
//! 5156 names no user, so rules that ask for `User` do not fire on it. Blocked connections
//! (5157) are not connections made and are left out, as Sysmon leaves them out.
//!
//! References: Microsoft, "5156(S): The Windows Filtering Platform has permitted a connection"
//! (Direction `%%14592` inbound, `%%14593` outbound); Sysmon's Event ID 3.

use std::borrow::Cow;

use rsigma_eval::EventValue;
use serde_json::{Map, Value};

use super::security_4688::text;

/// Sysmon-named `field` on a 5156 record's `EventData`.
pub(super) fn lookup<'a>(data: &'a Map<String, Value>, field: &str) -> Option<EventValue<'a>> {
    let owned = |s: String| Some(EventValue::Str(Cow::Owned(s)));
    let borrowed = |key: &str| data.get(key).map(EventValue::from);
    match field {
        "Image" => owned(dos_path(text(data, "Application")?)),
        "Initiated" => {
            let outbound = direction_is_outbound(text(data, "Direction")?)?;
            Some(EventValue::Str(Cow::Borrowed(if outbound {
                "true"
            } else {
                "false"
            })))
        }
        "SourceIp" => borrowed("SourceAddress"),
        "SourcePort" => port(data, "SourcePort"),
        "DestinationIp" => borrowed("DestAddress"),
        "DestinationPort" => port(data, "DestPort"),
        "ProcessId" => port(data, "ProcessID").or_else(|| port(data, "ProcessId")),
        _ => None,
    }
}

/// A number the record may hold as text (`"445"`) or as a number.
fn port<'a>(data: &'a Map<String, Value>, key: &str) -> Option<EventValue<'a>> {
    match data.get(key)? {
        Value::String(s) => s.trim().parse::<i64>().ok().map(EventValue::Int),
        v => Some(EventValue::from(v)),
    }
}

/// Whether a 5156 `Direction` is outbound: the message reference, or its English text when an
/// exporter rendered it.
fn direction_is_outbound(raw: &str) -> Option<bool> {
    match raw.trim() {
        "%%14593" => Some(true),
        "%%14592" => Some(false),
        d if d.eq_ignore_ascii_case("Outbound") => Some(true),
        d if d.eq_ignore_ascii_case("Inbound") => Some(false),
        _ => None,
    }
}

/// A kernel path (`\device\harddiskvolume2\windows\system32\svchost.exe`) as a drive path
/// (`C:\windows\system32\svchost.exe`); other paths (`System`, already a drive path) as they are.
fn dos_path(app: &str) -> String {
    const DEVICE: &str = "\\device\\harddiskvolume";
    let lower_head = app.get(..DEVICE.len()).map(str::to_ascii_lowercase);
    if lower_head.as_deref() == Some(DEVICE) {
        let rest = &app[DEVICE.len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with('\\') {
            return format!("C:{}", &rest[digits..]);
        }
    }
    app.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn get(d: &Map<String, Value>, field: &str) -> Option<String> {
        lookup(d, field).and_then(|v| match v {
            EventValue::Int(n) => Some(n.to_string()),
            other => other.as_str().map(|s| s.into_owned()),
        })
    }

    #[test]
    fn an_outbound_connection_reads_as_sysmon_would_print_it() {
        let d = data(json!({
            "ProcessID": "4242",
            "Application": "\\device\\harddiskvolume2\\windows\\system32\\rundll32.exe",
            "Direction": "%%14593", "SourceAddress": "10.1.2.3", "SourcePort": "50123",
            "DestAddress": "203.0.113.9", "DestPort": "443", "Protocol": 6,
            "FilterRTID": 0, "LayerName": "%%14611", "LayerRTID": 48}));
        assert_eq!(
            get(&d, "Image").as_deref(),
            Some("C:\\windows\\system32\\rundll32.exe")
        );
        assert_eq!(get(&d, "Initiated").as_deref(), Some("true"));
        assert_eq!(get(&d, "SourceIp").as_deref(), Some("10.1.2.3"));
        assert_eq!(get(&d, "DestinationIp").as_deref(), Some("203.0.113.9"));
        assert_eq!(get(&d, "DestinationPort").as_deref(), Some("443"));
        assert_eq!(get(&d, "SourcePort").as_deref(), Some("50123"));
        assert_eq!(get(&d, "ProcessId").as_deref(), Some("4242"));
        assert_eq!(get(&d, "User"), None, "5156 names no user");
    }

    #[test]
    fn an_inbound_connection_names_the_peer_as_the_source() {
        // As Windows writes an inbound RDP connection: the client is the source, this host and
        // its listening port the destination.
        let d = data(json!({
            "Application": "\\device\\harddiskvolume4\\windows\\system32\\svchost.exe",
            "Direction": "Inbound", "SourceAddress": "203.0.113.41", "SourcePort": "52342",
            "DestAddress": "10.1.2.3", "DestPort": 3389, "Protocol": 6}));
        assert_eq!(get(&d, "Initiated").as_deref(), Some("false"));
        assert_eq!(get(&d, "SourceIp").as_deref(), Some("203.0.113.41"));
        assert_eq!(get(&d, "DestinationIp").as_deref(), Some("10.1.2.3"));
        assert_eq!(get(&d, "DestinationPort").as_deref(), Some("3389"));
        assert_eq!(
            get(&d, "Image").as_deref(),
            Some("C:\\windows\\system32\\svchost.exe")
        );
    }

    #[test]
    fn paths_that_are_not_a_volume_device_stay_as_they_are() {
        assert_eq!(dos_path("System"), "System");
        assert_eq!(dos_path("C:\\Tools\\x.exe"), "C:\\Tools\\x.exe");
        assert_eq!(
            dos_path("\\device\\harddiskvolumeX\\a.exe"),
            "\\device\\harddiskvolumeX\\a.exe"
        );
        assert_eq!(
            dos_path("\\Device\\HarddiskVolume11\\Users\\a\\x.exe"),
            "C:\\Users\\a\\x.exe"
        );
        let d = data(json!({"Direction": "%%99999"}));
        assert_eq!(get(&d, "Initiated"), None);
    }
}
