//! Security 4657 ("A registry value was modified") under Sysmon's registry field names.
//!
//! Hosts that audit the registry through a SACL instead of running Sysmon log value changes as
//! Security 4657. SigmaHQ writes its registry rules (`registry_set`, `registry_event`,
//! `registry_delete`) with Sysmon's names, so without this mapping hundreds of them never see
//! those hosts. The translation follows what Sysmon itself reports for the same change:
//!
//! - `TargetObject` is the key and the value name in one path, with the kernel's hive names
//!   shortened as Sysmon shortens them (`\REGISTRY\MACHINE` → `HKLM`, `\REGISTRY\USER` → `HKU`,
//!   `ControlSet001` → `CurrentControlSet`) and `(Default)` for the unnamed value;
//! - `Details` is the new data as Sysmon prints it (`DWORD (0x00000001)`, `QWORD
//!   (0x00000000-0x00000001)`, `Binary Data`, strings as they are);
//! - `EventType` is `SetValue` for a value created or modified, `DeleteValue` for a deletion;
//! - `Image`, `ProcessId` and `User` are the process and account that made the change.
//!
//! pySigma's Windows audit pipeline maps only `Details` and counts a newly created value as
//! `registry_add`; Sysmon reports every value write, new or not, as a set (Event ID 13), and so
//! do we (see [`Operation::categories`]).
//!
//! References: Microsoft, "4657(S): A registry value was modified" (OperationType `%%1904`–
//! `%%1906`, value types `%%1872`–`%%1883`); Sysmon's Event IDs 12 and 13.

use std::borrow::Cow;

use rsigma_eval::EventValue;
use serde_json::{Map, Value};

use super::security_4688::text;

/// What a 4657 record says was done to the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Created,
    Modified,
    Deleted,
}

impl Operation {
    /// The `OperationType` as Windows writes it: a message reference (`%%1905`) in the raw
    /// record, or its English text when an exporter rendered it.
    pub fn parse(raw: &str) -> Option<Operation> {
        let raw = raw.trim();
        Some(match raw {
            "%%1904" => Operation::Created,
            "%%1905" => Operation::Modified,
            "%%1906" => Operation::Deleted,
            _ if raw.eq_ignore_ascii_case("New registry value created") => Operation::Created,
            _ if raw.eq_ignore_ascii_case("Existing registry value modified") => {
                Operation::Modified
            }
            _ if raw.eq_ignore_ascii_case("Registry value deleted") => Operation::Deleted,
            _ => return None,
        })
    }

    /// The Sigma categories of the change, as Sysmon would have reported it: a value written
    /// (new or existing) is Event ID 13, a value deleted is Event ID 12.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Operation::Created | Operation::Modified => &["registry_set", "registry_event"],
            Operation::Deleted => &["registry_delete", "registry_event"],
        }
    }
}

/// The operation a 4657 record's `EventData` states.
pub(crate) fn operation(data: &Map<String, Value>) -> Option<Operation> {
    text(data, "OperationType").and_then(Operation::parse)
}

/// Sysmon-named `field` on a 4657 record's `EventData`.
pub(super) fn lookup<'a>(data: &'a Map<String, Value>, field: &str) -> Option<EventValue<'a>> {
    let owned = |s: String| Some(EventValue::Str(Cow::Owned(s)));
    match field {
        "TargetObject" => {
            let key = sysmon_key(text(data, "ObjectName")?);
            let value = text(data, "ObjectValueName").unwrap_or("(Default)");
            owned(format!("{key}\\{value}"))
        }
        "Details" => {
            if operation(data) == Some(Operation::Deleted) {
                return None;
            }
            owned(details(
                text(data, "NewValueType").unwrap_or(""),
                data.get("NewValue")?,
            )?)
        }
        "EventType" => Some(EventValue::Str(Cow::Borrowed(match operation(data)? {
            Operation::Deleted => "DeleteValue",
            Operation::Created | Operation::Modified => "SetValue",
        }))),
        "Image" => data.get("ProcessName").map(EventValue::from),
        "ProcessId" => {
            let pid = text(data, "ProcessId")?;
            let n = match pid.strip_prefix("0x").or_else(|| pid.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok()?,
                None => pid.parse().ok()?,
            };
            Some(EventValue::Int(n))
        }
        "User" => {
            let user = text(data, "SubjectUserName")?;
            owned(match text(data, "SubjectDomainName") {
                Some(d) => format!("{d}\\{user}"),
                None => user.to_string(),
            })
        }
        _ => None,
    }
}

/// A kernel registry path as Sysmon prints it.
fn sysmon_key(object: &str) -> String {
    let mut key = replace_prefix(object, "\\REGISTRY\\MACHINE", "HKLM")
        .or_else(|| replace_prefix(object, "\\REGISTRY\\USER", "HKU"))
        .unwrap_or_else(|| object.to_string());
    // The kernel names the control set; Sysmon, like the rules, says CurrentControlSet.
    if let Some(rest) = strip_prefix_ci(&key, "HKLM\\SYSTEM\\ControlSet001") {
        key = format!("HKLM\\System\\CurrentControlSet{rest}");
    }
    key
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    let rest = &s[prefix.len()..];
    (head.eq_ignore_ascii_case(prefix) && (rest.is_empty() || rest.starts_with('\\')))
        .then_some(rest)
}

fn replace_prefix(s: &str, prefix: &str, with: &str) -> Option<String> {
    strip_prefix_ci(s, prefix).map(|rest| format!("{with}{rest}"))
}

/// The new data as Sysmon's `Details` shows it, by the value's type.
fn details(kind: &str, value: &Value) -> Option<String> {
    let as_text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let number = || -> Option<u64> {
        match as_text
            .strip_prefix("0x")
            .or_else(|| as_text.strip_prefix("0X"))
        {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => as_text.parse().ok(),
        }
    };
    let kind = kind.trim();
    let is = |code: &str, names: &[&str]| {
        kind == code || names.iter().any(|n| kind.eq_ignore_ascii_case(n))
    };
    Some(if is("%%1876", &["REG_DWORD", "Dword"]) {
        match number() {
            Some(n) => format!("DWORD (0x{:08x})", n as u32),
            None => as_text,
        }
    } else if is("%%1883", &["REG_QWORD", "Qword"]) {
        match number() {
            Some(n) => format!("QWORD (0x{:08x}-0x{:08x})", n >> 32, n & 0xffff_ffff),
            None => as_text,
        }
    } else if is("%%1875", &["REG_BINARY", "Binary"]) {
        "Binary Data".to_string()
    } else {
        as_text
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn text_of(d: &Map<String, Value>, field: &str) -> Option<String> {
        lookup(d, field).and_then(|v| v.as_str().map(|s| s.into_owned()))
    }

    #[test]
    fn a_run_key_value_reads_as_sysmon_would_print_it() {
        let d = data(json!({
            "SubjectUserName": "jdoe", "SubjectDomainName": "HOSP",
            "ObjectName": "\\REGISTRY\\USER\\S-1-5-21-1-2-3-1104\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
            "ObjectValueName": "Updater", "OperationType": "%%1904",
            "NewValueType": "%%1873", "NewValue": "C:\\Users\\Public\\u.exe",
            "ProcessId": "0x1a2c", "ProcessName": "C:\\Windows\\System32\\reg.exe"}));
        assert_eq!(
            text_of(&d, "TargetObject").as_deref(),
            Some(
                "HKU\\S-1-5-21-1-2-3-1104\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\Updater"
            )
        );
        assert_eq!(
            text_of(&d, "Details").as_deref(),
            Some("C:\\Users\\Public\\u.exe")
        );
        assert_eq!(text_of(&d, "EventType").as_deref(), Some("SetValue"));
        assert_eq!(
            text_of(&d, "Image").as_deref(),
            Some("C:\\Windows\\System32\\reg.exe")
        );
        assert_eq!(text_of(&d, "User").as_deref(), Some("HOSP\\jdoe"));
        assert!(matches!(
            lookup(&d, "ProcessId"),
            Some(EventValue::Int(0x1a2c))
        ));
        assert_eq!(operation(&d), Some(Operation::Created));
    }

    #[test]
    fn machine_keys_control_sets_and_numbers_take_sysmon_s_shape() {
        let d = data(json!({
            "ObjectName": "\\REGISTRY\\MACHINE\\SYSTEM\\ControlSet001\\Control\\SecurityProviders\\WDigest",
            "ObjectValueName": "UseLogonCredential", "OperationType": "%%1905",
            "NewValueType": "%%1876", "NewValue": "1"}));
        assert_eq!(
            text_of(&d, "TargetObject").as_deref(),
            Some(
                "HKLM\\System\\CurrentControlSet\\Control\\SecurityProviders\\WDigest\\UseLogonCredential"
            )
        );
        assert_eq!(
            text_of(&d, "Details").as_deref(),
            Some("DWORD (0x00000001)")
        );
        // Rendered by an exporter: the same answers.
        let rendered = data(json!({
            "ObjectName": "\\REGISTRY\\MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows Defender",
            "ObjectValueName": "DisableAntiSpyware",
            "OperationType": "Existing registry value modified",
            "NewValueType": "REG_DWORD", "NewValue": "0x1"}));
        assert_eq!(
            text_of(&rendered, "TargetObject").as_deref(),
            Some("HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\DisableAntiSpyware")
        );
        assert_eq!(
            text_of(&rendered, "Details").as_deref(),
            Some("DWORD (0x00000001)")
        );
        let qword = data(
            json!({"ObjectName": "\\REGISTRY\\MACHINE\\X", "ObjectValueName": "",
            "OperationType": "%%1905", "NewValueType": "%%1883", "NewValue": "4294967298"}),
        );
        assert_eq!(
            text_of(&qword, "Details").as_deref(),
            Some("QWORD (0x00000001-0x00000002)")
        );
        // An empty value name is the key's default value; a control set other than the
        // current one stays as it is.
        assert_eq!(
            text_of(&qword, "TargetObject").as_deref(),
            Some("HKLM\\X\\(Default)")
        );
        let other = data(
            json!({"ObjectName": "\\REGISTRY\\MACHINE\\SYSTEM\\ControlSet0012\\A",
            "ObjectValueName": "v"}),
        );
        assert_eq!(
            text_of(&other, "TargetObject").as_deref(),
            Some("HKLM\\SYSTEM\\ControlSet0012\\A\\v")
        );
    }

    #[test]
    fn a_deleted_value_has_no_details_and_odd_values_do_not_panic() {
        let d = data(json!({"ObjectName": "\\REGISTRY\\MACHINE\\SOFTWARE\\A",
            "ObjectValueName": "B", "OperationType": "%%1906",
            "NewValueType": "-", "NewValue": "-"}));
        assert_eq!(text_of(&d, "Details"), None);
        assert_eq!(text_of(&d, "EventType").as_deref(), Some("DeleteValue"));
        assert_eq!(Operation::Deleted.categories()[0], "registry_delete");
        let odd = data(json!({"ObjectName": "", "OperationType": "%%9999",
            "NewValueType": "%%1876", "NewValue": "not a number", "ProcessId": "0xZZ"}));
        assert_eq!(text_of(&odd, "TargetObject"), None);
        assert_eq!(text_of(&odd, "EventType"), None);
        assert_eq!(text_of(&odd, "Details").as_deref(), Some("not a number"));
        assert!(lookup(&odd, "ProcessId").is_none());
        assert_eq!(operation(&odd), None);
    }
}
