//! Security 5145 on `IPC$` (a client opened a named pipe on this host over SMB) under Sysmon's
//! pipe field names.
//!
//! Lateral movement and remote administration go through named pipes: PsExec's `\PSEXESVC`,
//! the service manager's `\svcctl`, the task scheduler's `\atsvc`, the EFS pipe that coercion
//! attacks call, the pipes of command-and-control frameworks. Sysmon reports a pipe
//! connection as Event ID 18, which SigmaHQ's `pipe_created` rules read by `PipeName`. A host
//! without Sysmon that audits detailed file share access records the same connection, seen
//! from the server's side, as Security 5145 with `ShareName` `\\*\IPC$` and the pipe as
//! `RelativeTargetName`. This maps the one onto the other:
//!
//! - `PipeName` is `\` and the relative name (`svcctl` → `\svcctl`), as Sysmon prints it;
//! - `EventType` is `ConnectPipe`;
//! - `User` is the client's account (`DOMAIN\name`).
//!
//! 5145 names no process (the client's process is on another machine), so rules that also ask
//! for `Image` do not fire on it. Only `IPC$` records are pipes: 5145 on a disk share is a file
//! access and stays outside `pipe_created` (see [`is_pipe`]).
//!
//! Reference: Microsoft, "5145(S, F): A network share object was checked to see whether client
//! can be granted desired access"; Sysmon's Event ID 18 (PipeConnected).

use std::borrow::Cow;

use rsigma_eval::EventValue;
use serde_json::{Map, Value};

use super::security_4688::text;

/// Whether a 5145 record's `EventData` is a named pipe opened over `IPC$`.
pub(crate) fn is_pipe(data: &Map<String, Value>) -> bool {
    is_pipe_share(text(data, "ShareName"), text(data, "RelativeTargetName"))
}

/// Whether a 5145 record with this `ShareName` and `RelativeTargetName` is a named pipe: the
/// share is `IPC$` (`\\*\IPC$`) and a pipe is named.
pub(crate) fn is_pipe_share(share: Option<&str>, target: Option<&str>) -> bool {
    let ipc = share.is_some_and(|s| {
        s.rsplit('\\')
            .next()
            .is_some_and(|share| share.trim().eq_ignore_ascii_case("IPC$"))
    });
    ipc && target.is_some_and(|t| !matches!(t.trim(), "" | "-"))
}

/// Sysmon-named `field` on a 5145 record's `EventData` (a pipe record: see [`is_pipe`]).
pub(super) fn lookup<'a>(data: &'a Map<String, Value>, field: &str) -> Option<EventValue<'a>> {
    if !is_pipe(data) {
        return None;
    }
    match field {
        "PipeName" => {
            let name = text(data, "RelativeTargetName")?;
            Some(EventValue::Str(Cow::Owned(if name.starts_with('\\') {
                name.to_string()
            } else {
                format!("\\{name}")
            })))
        }
        "EventType" => Some(EventValue::Str(Cow::Borrowed("ConnectPipe"))),
        "User" => {
            let user = text(data, "SubjectUserName")?;
            Some(EventValue::Str(Cow::Owned(
                match text(data, "SubjectDomainName") {
                    Some(d) => format!("{d}\\{user}"),
                    None => user.to_string(),
                },
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(share: &str, target: &str) -> Map<String, Value> {
        json!({"ShareName": share, "RelativeTargetName": target, "SubjectUserName": "admmig",
               "SubjectDomainName": "OFFSEC", "IpAddress": "10.23.23.9"})
        .as_object()
        .unwrap()
        .clone()
    }

    fn get(d: &Map<String, Value>, field: &str) -> Option<String> {
        lookup(d, field).and_then(|v| v.as_str().map(|s| s.into_owned()))
    }

    #[test]
    fn a_pipe_over_ipc_answers_to_sysmon_names() {
        let d = data("\\\\*\\IPC$", "svcctl");
        assert!(is_pipe(&d));
        assert_eq!(get(&d, "PipeName").as_deref(), Some("\\svcctl"));
        assert_eq!(get(&d, "EventType").as_deref(), Some("ConnectPipe"));
        assert_eq!(get(&d, "User").as_deref(), Some("OFFSEC\\admmig"));
        // Already rooted names are not rooted twice; the share compares case-insensitively.
        let d = data("\\\\*\\ipc$", "\\PSEXESVC-WS01-1234-stdin");
        assert_eq!(
            get(&d, "PipeName").as_deref(),
            Some("\\PSEXESVC-WS01-1234-stdin")
        );
    }

    #[test]
    fn a_file_on_a_disk_share_is_no_pipe() {
        let d = data("\\\\*\\C$", "Windows\\Temp\\x.exe");
        assert!(!is_pipe(&d));
        assert_eq!(get(&d, "PipeName"), None);
        let d = data("\\\\*\\IPC$", "-");
        assert!(!is_pipe(&d), "no relative name, no pipe");
    }
}
