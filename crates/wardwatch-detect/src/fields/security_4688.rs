//! Security 4688 ("A new process has been created") under Sysmon's field names.
//!
//! Sysmon Event ID 1 and Security 4688 describe the same thing; SigmaHQ writes
//! `process_creation` rules with Sysmon's names. This maps them onto 4688's, as SigmaHQ's
//! Windows audit pipeline does: `Image` is `NewProcessName`, `ParentImage` is
//! `ParentProcessName`, `User` is the account that runs the new process (the service accounts
//! by the names Sysmon prints: see [`service_account`]), `IntegrityLevel` comes
//! from the `MandatoryLabel` SID.
//!
//! Reference: Microsoft, "4688(S): A new process has been created".

use std::borrow::Cow;

use rsigma_eval::EventValue;
use serde_json::{Map, Value};

pub(super) fn text<'a>(data: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    data.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "-")
}

/// Sysmon-named `field` on a 4688 record's `EventData`.
pub(super) fn lookup<'a>(data: &'a Map<String, Value>, field: &str) -> Option<EventValue<'a>> {
    let borrowed = |k: &str| data.get(k).map(EventValue::from);
    match field {
        "Image" => borrowed("NewProcessName"),
        "ParentImage" => borrowed("ParentProcessName"),
        "ProcessId" => borrowed("NewProcessId"),
        "ParentProcessId" => borrowed("ProcessId"),
        "LogonId" => borrowed("TargetLogonId").or_else(|| borrowed("SubjectLogonId")),
        "User" => {
            // Windows 10+ names the new process's account as Target*; older ones only Subject*.
            let (sid, dom, user) = match text(data, "TargetUserName") {
                Some(u) => (
                    text(data, "TargetUserSid"),
                    text(data, "TargetDomainName"),
                    u,
                ),
                None => (
                    text(data, "SubjectUserSid"),
                    text(data, "SubjectDomainName"),
                    text(data, "SubjectUserName")?,
                ),
            };
            // Without Target* fields the Subject is the account that *created* the process. A
            // SYSTEM broker (UAC's AppInfo) creates a user's elevated or limited process: its
            // token type says so, and then the owner is not in the record.
            if let Some(name) = sid.and_then(service_account)
                && !split_token(data)
            {
                return Some(EventValue::Str(Cow::Borrowed(name)));
            }
            Some(EventValue::Str(Cow::Owned(match dom {
                Some(d) => format!("{d}\\{user}"),
                None => user.to_string(),
            })))
        }
        "IntegrityLevel" => {
            let level = match text(data, "MandatoryLabel")? {
                "S-1-16-0" => "Untrusted",
                "S-1-16-4096" => "Low",
                "S-1-16-8192" => "Medium",
                "S-1-16-8448" => "Medium Plus",
                "S-1-16-12288" => "High",
                "S-1-16-16384" => "System",
                "S-1-16-20480" => "Protected",
                _ => return None,
            };
            Some(EventValue::Str(Cow::Borrowed(level)))
        }
        _ => None,
    }
}

/// Whether the new process has one half of a UAC split token (`TokenElevationType` 2, elevated,
/// or 3, limited: `%%1937`/`%%1938`): a user's token, whoever created the process.
fn split_token(data: &Map<String, Value>) -> bool {
    text(data, "TokenElevationType").is_some_and(|t| {
        t.contains("1937") || t.contains("1938") || t.ends_with("(2)") || t.ends_with("(3)")
    })
}

/// The account Sysmon names for a well-known service SID. The Security log names the local
/// system account by the machine (`HOSP\WS01$`, SID S-1-5-18) where Sysmon prints
/// `NT AUTHORITY\SYSTEM`, which is what rules about processes running as SYSTEM look for
/// (`User|contains: 'AUTHORI'`).
pub(super) fn service_account(sid: &str) -> Option<&'static str> {
    Some(match sid {
        "S-1-5-18" => "NT AUTHORITY\\SYSTEM",
        "S-1-5-19" => "NT AUTHORITY\\LOCAL SERVICE",
        "S-1-5-20" => "NT AUTHORITY\\NETWORK SERVICE",
        _ => return None,
    })
}
