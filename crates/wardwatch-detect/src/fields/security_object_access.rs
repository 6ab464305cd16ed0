//! Object access auditing (Security 4656 "a handle to an object was requested" and 4663 "an
//! attempt was made to access an object") under Sysmon's field names.
//!
//! Credential theft reads another process's memory (LSASS), and ransomware and clean-up
//! scripts delete logs, backups and shadow copies. Sysmon reports the first as a process
//! access (Event ID 10) and the second as a file deletion (23/26); SigmaHQ writes those rules
//! for `process_access` and `file_delete` with Sysmon's names, and its `file_access` rules
//! (credential stores, browser profiles, DPAPI keys read by an unusual program) for the
//! kernel's file events. A host without Sysmon that audits kernel objects or the file system
//! records the same acts in the Security log, on the object's side:
//!
//! - a **process** object (`ObjectType` `Process`) opened by another program is
//!   `process_access`: `SourceImage` is the program that asked (`ProcessName`), `TargetImage`
//!   the process opened (`ObjectName`, as the kernel names it: `\Device\HarddiskVolume2\...`,
//!   so rules that compare its end match and rules that compare its drive do not),
//!   `GrantedAccess` the access mask (`0x1410`, printed as Sysmon prints it),
//!   `SourceProcessId` the asking process, `SourceUser` the account;
//! - a **file** object opened with `DELETE` (`0x10000`, `%%1537`) is `file_delete`:
//!   `TargetFilename` is the file, `Image` the program, `User` the account;
//! - a **file** object read (`ReadData`, `0x1`, `%%4416`) is `file_access`: `FileName` is the
//!   file, `Image` the program, `User` the account;
//! - a **file** object opened to write or append data (`WriteData`/`AddFile`, `0x2`, `%%4417`;
//!   `AppendData`/`AddSubdirectory`, `0x4`, `%%4418`) is Sysmon's file creation, `file_event`
//!   (and `file_access`, as any access is): `TargetFilename` (and `FileName`) is the file.
//!   Sysmon reports a file created or overwritten; auditing reports the write, which is the
//!   same act for the files SigmaHQ's `file_event` rules name (a dump in a temp folder, a
//!   script in a Startup folder, a web shell under the web root, a ransom note) on a host that
//!   audits its folders without Sysmon.
//!
//! A 4656 that was refused (a failure audit) opened nothing and is none of these. Other object
//! types (SAM, directory, registry keys, tokens) keep only their own names.
//!
//! References: Microsoft, "4656(S, F): A handle to an object was requested", "4663(S): An
//! attempt was made to access an object", the access mask tables of "File System" and
//! "Kernel Object" auditing; Sysmon Event IDs 10, 23, 26.

use std::borrow::Cow;

use rsigma_eval::EventValue;
use serde_json::{Map, Value};

use super::security_4688::text;

/// What a 4656/4663 record is, in Sysmon's categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectAccess {
    /// Another process opened (`process_access`).
    Process,
    /// A file opened for deletion (`file_delete`).
    FileDelete,
    /// A file read (`file_access`).
    FileRead,
    /// A file opened to write or append data (`file_event`, `file_access`).
    FileWrite,
}

const DELETE: u64 = 0x10000;
const READ_DATA: u64 = 0x1;
/// `WriteData`/`AddFile` and `AppendData`/`AddSubdirectory`.
const WRITE_DATA: u64 = 0x2 | 0x4;

impl ObjectAccess {
    /// What a 4656/4663 record's `EventData` describes; `None` for other objects and for a
    /// refused handle request (`failure`: the record's audit-failure keyword).
    pub fn of(data: &Map<String, Value>, failure: bool) -> Option<ObjectAccess> {
        if failure {
            return None;
        }
        let kind = text(data, "ObjectType")?;
        if kind.eq_ignore_ascii_case("Process") {
            return Some(ObjectAccess::Process);
        }
        if !kind.eq_ignore_ascii_case("File") {
            return None;
        }
        let mask = access_mask(data);
        let listed = |code: &str| {
            text(data, "AccessList").is_some_and(|l| l.split_whitespace().any(|c| c == code))
        };
        if mask.is_some_and(|m| m & DELETE != 0) || listed("%%1537") {
            Some(ObjectAccess::FileDelete)
        } else if mask.is_some_and(|m| m & WRITE_DATA != 0) || listed("%%4417") || listed("%%4418")
        {
            Some(ObjectAccess::FileWrite)
        } else if mask.is_some_and(|m| m & READ_DATA != 0) || listed("%%4416") {
            Some(ObjectAccess::FileRead)
        } else {
            None
        }
    }

    /// The Sigma categories of this access.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            ObjectAccess::Process => &["process_access"],
            ObjectAccess::FileDelete => &["file_delete"],
            ObjectAccess::FileRead => &["file_access"],
            ObjectAccess::FileWrite => &["file_event", "file_access"],
        }
    }
}

/// The `AccessMask` as a number (`0x1410`).
fn access_mask(data: &Map<String, Value>) -> Option<u64> {
    let raw = text(data, "AccessMask")?;
    match raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => raw.parse().ok(),
    }
}

/// Whether a record's `Keywords` (`0x8010000000000000`) carry the audit-failure bit.
pub(crate) fn is_failure_audit(keywords: Option<&Value>) -> bool {
    const AUDIT_FAILURE: u64 = 0x0010_0000_0000_0000;
    let number = match keywords {
        Some(Value::String(s)) => {
            let s = s.trim();
            match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                // Winlogbeat renders the keywords as names.
                None => return s.contains("Audit Failure"),
            }
        }
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::Array(names)) => {
            return names
                .iter()
                .any(|n| n.as_str().is_some_and(|n| n == "Audit Failure"));
        }
        _ => None,
    };
    number.is_some_and(|k| k & AUDIT_FAILURE != 0)
}

/// Sysmon-named `field` on a 4656/4663 record's `EventData`, for the access it describes.
pub(super) fn lookup<'a>(
    data: &'a Map<String, Value>,
    access: ObjectAccess,
    field: &str,
) -> Option<EventValue<'a>> {
    let borrowed = |k: &str| data.get(k).map(EventValue::from);
    match (access, field) {
        (ObjectAccess::Process, "SourceImage") => borrowed("ProcessName"),
        (ObjectAccess::Process, "TargetImage") => borrowed("ObjectName"),
        (ObjectAccess::Process, "GrantedAccess") => {
            // Sysmon prints the mask as 0x followed by lower-case hex digits.
            Some(EventValue::Str(Cow::Owned(format!(
                "0x{:x}",
                access_mask(data)?
            ))))
        }
        (ObjectAccess::Process, "SourceProcessId") => process_id(data),
        (ObjectAccess::Process, "SourceUser") => user(data),
        (ObjectAccess::FileDelete, "TargetFilename") => borrowed("ObjectName"),
        (ObjectAccess::FileRead, "FileName") => borrowed("ObjectName"),
        (ObjectAccess::FileWrite, "TargetFilename" | "FileName") => borrowed("ObjectName"),
        (ObjectAccess::FileDelete | ObjectAccess::FileRead | ObjectAccess::FileWrite, "Image") => {
            borrowed("ProcessName")
        }
        (
            ObjectAccess::FileDelete | ObjectAccess::FileRead | ObjectAccess::FileWrite,
            "ProcessId",
        ) => process_id(data),
        (ObjectAccess::FileDelete | ObjectAccess::FileRead | ObjectAccess::FileWrite, "User") => {
            user(data)
        }
        _ => None,
    }
}

/// The asking process's id as a number (the Security log writes it in hex).
fn process_id(data: &Map<String, Value>) -> Option<EventValue<'static>> {
    let pid = text(data, "ProcessId")?;
    let n = match pid.strip_prefix("0x").or_else(|| pid.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None => pid.parse().ok()?,
    };
    Some(EventValue::Int(n))
}

/// `DOMAIN\name` of the subject, or the service account's name as Sysmon prints it.
fn user(data: &Map<String, Value>) -> Option<EventValue<'static>> {
    if let Some(name) = text(data, "SubjectUserSid").and_then(super::security_4688::service_account)
    {
        return Some(EventValue::Str(Cow::Borrowed(name)));
    }
    let user = text(data, "SubjectUserName")?;
    Some(EventValue::Str(Cow::Owned(
        match text(data, "SubjectDomainName") {
            Some(d) => format!("{d}\\{user}"),
            None => user.to_string(),
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn get(d: &Map<String, Value>, access: ObjectAccess, field: &str) -> Option<String> {
        lookup(d, access, field).and_then(|v| v.as_str().map(|s| s.into_owned()))
    }

    #[test]
    fn a_process_opened_by_another_reads_as_a_sysmon_process_access() {
        let d = data(json!({
            "SubjectUserSid": "S-1-5-21-1-2-3-1104", "SubjectUserName": "jdoe",
            "SubjectDomainName": "HOSP", "ObjectType": "Process",
            "ObjectName": "\\Device\\HarddiskVolume3\\Windows\\System32\\lsass.exe",
            "AccessMask": "0x1410", "ProcessId": "0x1a2c",
            "ProcessName": "C:\\Users\\jdoe\\Downloads\\pd64.exe"}));
        let access = ObjectAccess::of(&d, false).unwrap();
        assert_eq!(access, ObjectAccess::Process);
        assert_eq!(access.categories(), ["process_access"]);
        assert_eq!(
            get(&d, access, "SourceImage").as_deref(),
            Some("C:\\Users\\jdoe\\Downloads\\pd64.exe")
        );
        assert!(
            get(&d, access, "TargetImage")
                .unwrap()
                .ends_with("\\lsass.exe")
        );
        assert_eq!(get(&d, access, "GrantedAccess").as_deref(), Some("0x1410"));
        assert_eq!(get(&d, access, "SourceUser").as_deref(), Some("HOSP\\jdoe"));
        assert!(matches!(
            lookup(&d, access, "SourceProcessId"),
            Some(EventValue::Int(0x1a2c))
        ));
        // File names do not apply to a process object, nor a refused request.
        assert_eq!(get(&d, access, "TargetFilename"), None);
        assert_eq!(ObjectAccess::of(&d, true), None);
        // Upper-case hex in the record is printed as Sysmon prints it.
        let mut upper = d.clone();
        upper.insert("AccessMask".into(), json!("0x1FFFFF"));
        assert_eq!(
            get(&upper, access, "GrantedAccess").as_deref(),
            Some("0x1fffff")
        );
    }

    #[test]
    fn files_opened_to_delete_or_read_are_file_delete_and_file_access() {
        let delete = data(json!({
            "SubjectUserSid": "S-1-5-18", "SubjectUserName": "WS07$",
            "SubjectDomainName": "HOSP", "ObjectType": "File",
            "ObjectName": "C:\\Windows\\System32\\winevt\\Logs\\Security.evtx",
            "AccessMask": "0x10000", "AccessList": "%%1537\r\n\t\t\t\t",
            "ProcessName": "C:\\Windows\\System32\\cmd.exe"}));
        let access = ObjectAccess::of(&delete, false).unwrap();
        assert_eq!(access.categories(), ["file_delete"]);
        assert!(
            get(&delete, access, "TargetFilename")
                .unwrap()
                .ends_with(".evtx")
        );
        assert_eq!(
            get(&delete, access, "Image").as_deref(),
            Some("C:\\Windows\\System32\\cmd.exe")
        );
        assert_eq!(
            get(&delete, access, "User").as_deref(),
            Some("NT AUTHORITY\\SYSTEM")
        );
        // The access list alone says it when the mask is missing.
        let mut listed = delete.clone();
        listed.remove("AccessMask");
        assert_eq!(
            ObjectAccess::of(&listed, false),
            Some(ObjectAccess::FileDelete)
        );

        let read = data(json!({
            "SubjectUserName": "jdoe", "SubjectDomainName": "HOSP", "ObjectType": "File",
            "ObjectName": "C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Credentials\\0A1B",
            "AccessMask": "0x1", "AccessList": "%%4416", "ProcessName": "C:\\Temp\\x.exe"}));
        let access = ObjectAccess::of(&read, false).unwrap();
        assert_eq!(access.categories(), ["file_access"]);
        assert!(
            get(&read, access, "FileName")
                .unwrap()
                .contains("\\Credentials\\")
        );
        assert_eq!(get(&read, access, "TargetFilename"), None);

        // Data written or appended is Sysmon's file creation, under both file names.
        let write = data(json!({
            "SubjectUserName": "jdoe", "SubjectDomainName": "HOSP", "ObjectType": "File",
            "ObjectName": "C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\u.vbs",
            "AccessMask": "0x2", "AccessList": "%%4417", "ProcessName": "C:\\Windows\\System32\\cmd.exe"}));
        let access = ObjectAccess::of(&write, false).unwrap();
        assert_eq!(access, ObjectAccess::FileWrite);
        assert_eq!(access.categories(), ["file_event", "file_access"]);
        assert!(
            get(&write, access, "TargetFilename")
                .unwrap()
                .ends_with("\\u.vbs")
        );
        assert!(
            get(&write, access, "FileName")
                .unwrap()
                .ends_with("\\u.vbs")
        );
        assert_eq!(get(&write, access, "User").as_deref(), Some("HOSP\\jdoe"));
        // Appending, named only in the access list, is a write too; a read and write handle is
        // a write (it is still in file_access).
        let mut append = write.clone();
        append.remove("AccessMask");
        append.insert("AccessList".into(), json!("%%4418\r\n\t\t\t\t"));
        assert_eq!(
            ObjectAccess::of(&append, false),
            Some(ObjectAccess::FileWrite)
        );
        let mut both = write.clone();
        both.insert("AccessMask".into(), json!("0x3"));
        assert_eq!(
            ObjectAccess::of(&both, false),
            Some(ObjectAccess::FileWrite)
        );
        // Deleting wins over writing: a rename-and-delete is a deletion.
        let mut gone = write.clone();
        gone.insert("AccessMask".into(), json!("0x10002"));
        assert_eq!(
            ObjectAccess::of(&gone, false),
            Some(ObjectAccess::FileDelete)
        );

        // Writing attributes or other objects are none of these.
        let attrs =
            data(json!({"ObjectType": "File", "ObjectName": "C:\\x", "AccessMask": "0x100"}));
        assert_eq!(ObjectAccess::of(&attrs, false), None);
        let sam = data(
            json!({"ObjectType": "SAM_DOMAIN", "ObjectName": "WS07", "AccessMask": "0x10000"}),
        );
        assert_eq!(ObjectAccess::of(&sam, false), None);
    }

    #[test]
    fn the_audit_failure_keyword_is_read_in_every_layout() {
        assert!(is_failure_audit(Some(&json!("0x8010000000000000"))));
        assert!(!is_failure_audit(Some(&json!("0x8020000000000000"))));
        assert!(is_failure_audit(Some(&json!(["Audit Failure"]))));
        assert!(!is_failure_audit(Some(&json!(["Audit Success"]))));
        assert!(!is_failure_audit(None));
        assert!(!is_failure_audit(Some(&json!("garbage"))));
    }
}
