//! Field mappings: where a Sigma rule's field names are found in each source's layout.
//!
//! SigmaHQ's Windows rules use the names of the Windows event schema (`CommandLine`, `EventID`,
//! `Provider_Name`), but the same record arrives in several layouts: EVTX nests them under
//! `Event.System` and `Event.EventData`, Winlogbeat under `winlog.*` and `winlog.event_data.*`,
//! flat exporters at the top level. Measured: without this mapping SigmaHQ rules match nothing
//! on raw EVTX. We resolve names at lookup time instead of rewriting events, so the stored
//! event stays exactly as it came.
//!
//! Security 4688 (process creation without Sysmon) names its fields differently from Sysmon's
//! Event ID 1; [`security_4688`] maps Sysmon's names onto it so process-creation rules fire on
//! either. Security 4657 (registry auditing) likewise answers to Sysmon's registry names
//! ([`security_4657`]), so SigmaHQ's registry rules see hosts that audit the registry without
//! Sysmon. Security 5145 on `IPC$` (a named pipe opened over SMB) answers to Sysmon's pipe names
//! ([`security_5145`]), so SigmaHQ's `pipe_created` rules see remote pipe use on hosts that audit
//! file shares. Windows PowerShell 400, written at every PowerShell start whatever the audit
//! policy, answers to Sysmon's process creation names with its host application as the command
//! line ([`powershell_400`]). Object access auditing, 4656/4663, answers to Sysmon's process
//! access and file names by the object it opened ([`security_object_access`]): another process opened is
//! `process_access`, a file opened to delete `file_delete`, a file read `file_access`, a file
//! written or appended to `file_event` (Sysmon's file creation). A connection the Filtering
//! Platform permitted, 5156, answers to Sysmon's network connection names ([`security_5156`]),
//! so SigmaHQ's `network_connection` rules see hosts that audit it.

mod powershell_400;
mod security_4657;
mod security_4688;
mod security_5145;
mod security_5156;
mod security_object_access;

pub(crate) use security_5145::is_pipe_share as security_5145_is_pipe;

pub use security_4657::Operation;
pub use security_object_access::ObjectAccess;

use std::borrow::Cow;

use rsigma_eval::{Event as SigmaEvent, EventValue, JsonEvent};
use serde_json::{Map, Value};
use wardwatch_core::{Event, SourceKind};

/// The names Windows puts in `Event.System` (or `winlog.*`) that rules use directly.
const SYSTEM_FIELDS: &[&str] = &[
    "EventID",
    "Channel",
    "Computer",
    "Provider_Name",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "Version",
    "EventRecordID",
];

/// `EventData` fields that Windows writes into a fixed-width buffer, padded with spaces: the
/// LSA logon process name of 4624/4625/4611 is eight characters (`NtLmSsp `, `Advapi  `,
/// `User32 `). Rules name the process without the padding (SigmaHQ's pass-the-hash and token
/// abuse rules compare `LogonProcessName: 'NtLmSsp'`, `'Advapi'`), so the padding is dropped
/// when a rule reads them; the stored record keeps it.
const PADDED_FIELDS: &[&str] = &["LogonProcessName"];

/// Where a Windows record keeps its parts.
enum Layout<'a> {
    Windows {
        system: WindowsSystem<'a>,
        data: Option<&'a Map<String, Value>>,
        translation: Translation,
        /// Whether some `EventData` names contain spaces (Defender's `Threat Name`), which
        /// rules write without (`ThreatName`).
        spaced_names: bool,
    },
    Other,
}

/// Which Security record, if any, answers to Sysmon's field names as well as its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Translation {
    None,
    /// 4688: a process creation ([`security_4688`]).
    ProcessCreation,
    /// 4657: a registry value set or deleted ([`security_4657`]).
    RegistryValue,
    /// 5145 on `IPC$`: a named pipe opened over SMB ([`security_5145`]).
    SharePipe,
    /// 5156: a connection the Filtering Platform permitted ([`security_5156`]).
    NetworkConnection,
    /// Windows PowerShell 400: the engine started, with its command line ([`powershell_400`]).
    PowerShellStart,
    /// 4656/4663, before the object it opened is known.
    ObjectAccessRecord,
    /// 4656/4663 on a process or a file ([`security_object_access`]).
    ObjectAccess(ObjectAccess),
}

/// The System part in whichever layout it came.
enum WindowsSystem<'a> {
    /// EVTX: `Event.System` with `#attributes`.
    Evtx(Option<&'a Map<String, Value>>),
    /// Winlogbeat: `winlog` object.
    Winlog(Option<&'a Map<String, Value>>),
    /// Flat: System fields at the top level.
    Flat(&'a Map<String, Value>),
}

/// An [`Event`] seen through the field mapping of its source, for rule evaluation.
pub struct FieldView<'a> {
    event: &'a Event,
    json: JsonEvent<'a>,
    layout: Layout<'a>,
}

fn obj(v: Option<&Value>) -> Option<&Map<String, Value>> {
    v.and_then(Value::as_object)
}

impl<'a> FieldView<'a> {
    pub fn new(event: &'a Event) -> Self {
        let raw = &event.raw;
        let translation = || {
            let security =
                (event.ecs.channel.as_deref()).is_some_and(|c| c.eq_ignore_ascii_case("Security"));
            let classic_powershell = (event.ecs.channel.as_deref())
                .is_some_and(|c| c.eq_ignore_ascii_case("Windows PowerShell"));
            match event.ecs.event_code.as_deref() {
                Some("400") if classic_powershell => Translation::PowerShellStart,
                Some("4688") if security => Translation::ProcessCreation,
                Some("4657") if security => Translation::RegistryValue,
                Some("5145") if security => Translation::SharePipe,
                Some("5156") if security => Translation::NetworkConnection,
                Some("4656" | "4663") if security => Translation::ObjectAccessRecord,
                _ => Translation::None,
            }
        };
        let layout = match event.source_kind {
            SourceKind::Evtx => {
                let ev = raw.get("Event");
                let data = obj(ev.and_then(|e| e.get("EventData"))).or_else(|| {
                    obj(ev.and_then(|e| e.get("UserData")))
                        .and_then(|u| u.values().next())
                        .and_then(Value::as_object)
                });
                Layout::Windows {
                    system: WindowsSystem::Evtx(obj(ev.and_then(|e| e.get("System")))),
                    data,
                    translation: translation(),
                    spaced_names: false,
                }
            }
            SourceKind::WinlogbeatEcs => {
                // Winlogbeat 6 kept `event_id`, `event_data`, `log_name` at the top level.
                let winlog = obj(raw.get("winlog")).or_else(|| raw.as_object());
                Layout::Windows {
                    system: WindowsSystem::Winlog(winlog),
                    data: winlog.and_then(|w| obj(w.get("event_data"))),
                    translation: translation(),
                    spaced_names: false,
                }
            }
            SourceKind::FlatWindows => match raw.as_object() {
                Some(top) => Layout::Windows {
                    system: WindowsSystem::Flat(top),
                    data: Some(top),
                    translation: translation(),
                    spaced_names: false,
                },
                None => Layout::Other,
            },
            _ => Layout::Other,
        };
        let layout = match layout {
            Layout::Windows {
                system,
                data,
                translation,
                ..
            } => {
                let translation = match (translation, data) {
                    (Translation::ObjectAccessRecord, Some(d)) => {
                        let failure = security_object_access::is_failure_audit(system.keywords());
                        ObjectAccess::of(d, failure)
                            .map_or(Translation::None, Translation::ObjectAccess)
                    }
                    (Translation::ObjectAccessRecord, None) => Translation::None,
                    (t, _) => t,
                };
                Layout::Windows {
                    system,
                    data,
                    translation,
                    spaced_names: data.is_some_and(|d| d.keys().any(|k| k.contains(' '))),
                }
            }
            other => other,
        };
        FieldView {
            event,
            json: JsonEvent::borrow(raw),
            layout,
        }
    }

    /// The process, file or other access a 4656/4663 record describes, if it is one of those.
    pub fn object_access(&self) -> Option<ObjectAccess> {
        match &self.layout {
            Layout::Windows {
                translation: Translation::ObjectAccess(a),
                ..
            } => Some(*a),
            _ => None,
        }
    }

    fn system_field(&self, system: &WindowsSystem<'a>, name: &str) -> Option<EventValue<'a>> {
        match system {
            WindowsSystem::Evtx(sys) => {
                let sys = (*sys)?;
                match name {
                    "EventID" => sys.get("EventID").and_then(|v| match v {
                        Value::Object(o) => o.get("#text"),
                        v => Some(v),
                    }),
                    "Provider_Name" => sys
                        .get("Provider")
                        .and_then(|p| p.get("#attributes"))
                        .and_then(|a| a.get("Name")),
                    _ => sys.get(name),
                }
                .map(EventValue::from)
            }
            WindowsSystem::Winlog(w) => {
                let w = (*w)?;
                // Winlogbeat 7+ names first; Winlogbeat 6 (fields at the top) second.
                let keys: &[&str] = match name {
                    "EventID" => {
                        // Winlogbeat 8 ships the Event ID as a string; rules compare numbers.
                        return w.get("event_id").map(number_or_text);
                    }
                    "Channel" => &["channel", "log_name"],
                    "Computer" => &["computer_name"],
                    "Provider_Name" => &["provider_name", "source_name"],
                    "EventRecordID" => &["record_id", "record_number"],
                    "Opcode" => &["opcode"],
                    "Task" => &["task"],
                    "Keywords" => &["keywords"],
                    "Version" => &["version"],
                    _ => return None,
                };
                keys.iter().find_map(|k| w.get(*k)).map(EventValue::from)
            }
            WindowsSystem::Flat(top) => {
                let alternatives: &[&str] = match name {
                    "EventID" => {
                        let v = top.get("EventID").or_else(|| top.get("EventId"))?;
                        return Some(number_or_text(v));
                    }
                    "Provider_Name" => &["Provider_Name", "ProviderName", "SourceName"],
                    "Computer" => &["Computer", "Hostname", "ComputerName"],
                    "EventRecordID" => &["EventRecordID", "RecordNumber"],
                    other => return top.get(other).map(EventValue::from),
                };
                alternatives
                    .iter()
                    .find_map(|k| top.get(*k))
                    .map(EventValue::from)
            }
        }
    }
}

impl<'a> WindowsSystem<'a> {
    /// The record's keywords as they came (hex text in EVTX, names in Winlogbeat).
    fn keywords(&self) -> Option<&'a Value> {
        match self {
            WindowsSystem::Evtx(sys) => sys.and_then(|s| s.get("Keywords")),
            WindowsSystem::Winlog(w) => w.and_then(|w| w.get("keywords")),
            WindowsSystem::Flat(top) => top.get("Keywords"),
        }
    }
}

/// A value of `EventData`. Unnamed `<Data>` elements (classic PowerShell 400/800, SQL Server
/// audit) render as `{"#text": [..]}`; rules match them as one text, as SigmaHQ's do with
/// `Data|contains`, so the parts are joined with newlines.
fn element_value(v: &Value) -> EventValue<'_> {
    match v.as_object().and_then(|o| o.get("#text")) {
        Some(Value::Array(parts)) => {
            let texts: Vec<String> = parts
                .iter()
                .filter_map(crate::fields::scalar_text)
                .collect();
            EventValue::Str(Cow::Owned(texts.join("\n")))
        }
        Some(text) => EventValue::from(text),
        None => EventValue::from(v),
    }
}

/// Strings as they are, numbers and booleans printed; `None` for the rest.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether `spaced` equals `name` once its spaces are removed (`Threat Name` = `ThreatName`).
fn unspaced_eq(spaced: &str, name: &str) -> bool {
    spaced.bytes().filter(|b| *b != b' ').eq(name.bytes())
}

/// A number as a number, or a numeric string as a number (Event IDs), else the value as is.
fn number_or_text(v: &Value) -> EventValue<'_> {
    match v {
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => EventValue::Int(n),
            Err(_) => EventValue::from(v),
        },
        v => EventValue::from(v),
    }
}

impl SigmaEvent for FieldView<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if let Layout::Windows {
            system,
            data,
            translation,
            spaced_names,
        } = &self.layout
        {
            if SYSTEM_FIELDS.contains(&path)
                && let Some(v) = self.system_field(system, path)
            {
                return Some(v);
            }
            if let Some(v) = data.and_then(|d| d.get(path)) {
                if PADDED_FIELDS.contains(&path)
                    && let Some(text) = v.as_str()
                {
                    return Some(EventValue::Str(Cow::Borrowed(text.trim_end())));
                }
                return Some(element_value(v));
            }
            let translated = data.and_then(|d| match translation {
                Translation::ProcessCreation => security_4688::lookup(d, path),
                Translation::RegistryValue => security_4657::lookup(d, path),
                Translation::SharePipe => security_5145::lookup(d, path),
                Translation::NetworkConnection => security_5156::lookup(d, path),
                Translation::PowerShellStart => powershell_400::lookup(d, path),
                Translation::ObjectAccess(a) => security_object_access::lookup(d, *a, path),
                Translation::None | Translation::ObjectAccessRecord => None,
            });
            if let Some(v) = translated {
                return Some(v);
            }
            if *spaced_names
                && let Some(v) = data.and_then(|d| {
                    d.iter()
                        .find(|(k, _)| k.contains(' ') && unspaced_eq(k, path))
                        .map(|(_, v)| v)
                })
            {
                return Some(EventValue::from(v));
            }
            if !path.contains('.') {
                return None;
            }
        }
        self.json.get_field(path)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.json.any_string_value(pred)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.json.all_string_values()
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.json.visit_string_values(visit)
    }

    fn to_json(&self) -> Value {
        self.event.raw.clone()
    }
}

/// The value a rule's field name resolves to on `event`, as text (for tests, and for showing
/// analysts the fields a rule looked at).
pub fn lookup(event: &Event, field: &str) -> Option<String> {
    let view = FieldView::new(event);
    let v = view.get_field(field)?;
    v.as_str().map(|s| s.into_owned())
}

/// What an alert keeps of its event ([`wardwatch_core::Alert::facts`]): every ECS field that
/// is set, under its ECS name, and each of [`wardwatch_core::FACT_FIELDS`] the event has.
pub fn facts(event: &Event) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let Ok(serde_json::Value::Object(ecs)) = serde_json::to_value(&event.ecs) {
        for (k, v) in ecs {
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            out.insert(k, text);
        }
    }
    let view = FieldView::new(event);
    for field in wardwatch_core::FACT_FIELDS {
        let Some(v) = view.get_field(field) else {
            continue;
        };
        // An ECS list (`email.to.address: [..]`) is one fact, its items joined.
        let text = match &v {
            EventValue::Array(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .filter_map(|i| i.as_str().map(|s| s.into_owned()))
                    .collect();
                (!parts.is_empty()).then(|| parts.join(", "))
            }
            other => other.as_str().map(|s| s.into_owned()),
        };
        if let Some(text) = text
            && !text.is_empty()
            && text != "-"
        {
            out.insert((*field).to_string(), text);
        }
    }
    out
}

#[cfg(test)]
mod tests;
