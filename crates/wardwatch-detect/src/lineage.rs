//! Process lineage: the parent's fields a process-creation record lacks, filled from the
//! parent's own creation record seen earlier on the same host.
//!
//! Why: Security 4688 names the new process's command line and (from Windows 10) its parent's
//! program, but never the parent's command line, and before Windows 10 not even the parent's
//! program; Sysmon's Event ID 1 has the parent's command line but, before Sysmon 13.30, not
//! the parent's account. SigmaHQ writes 70 process-creation rules on `ParentCommandLine`
//! (`excel.exe /automation -Embedding` starting a shell: DCOM; `svchost.exe -k netsvcs`
//! starting one: a service), so on a host that audits process creation without Sysmon they
//! never match; and a rule that *spares* a benign parent by its command line (an MMC console
//! opened on an `.msc` file) fires on every such record, because its filter cannot match. The
//! parent's own creation record, seen earlier on the same host, holds exactly those fields.
//!
//! How: [`Table`] keeps, per host, the recent process starts by process id (with their start
//! time, so a reused id is told apart, and Sysmon's `ProcessGuid` when there is one). When a
//! creation record lacks `ParentCommandLine`, `ParentImage` or `ParentUser` and its parent is
//! in the table — the same `ParentProcessGuid`, or else the same process id started no later
//! than the child and running the program the record names as its parent — the stage makes a
//! copy of the record with the missing fields set from the parent's record (a field the record
//! has is never overwritten), evaluates on it the rules that read a parent field
//! ([`LineageRules`]: those rules and their `same_as` twins), and those rules' results on the
//! record as it came are replaced by their results on the copy: a rule that needed the
//! parent's command line can fire, a rule whose filter spares the parent no longer does. The
//! alerts raised on such a record are built from the copy, so they show the parent's command
//! line; the stored record stays as it came.
//!
//! Where: in the ordered stage ([`crate::Correlator::settle`]), because it needs each host's
//! process starts in time order — `hunt` (after its parallel readers, over the records in time
//! order) and `serve` (in journal order) run the same code, and a record whose parent could be
//! filled ([`awaits_parent`]) has its alerts raised there, not by the parallel matcher. The
//! table is part of the correlator's state ([`crate::Correlator::export_state`]): `serve`
//! checkpoints it with its cursor, and a cluster's detect worker with its partition's, which
//! is enough because events are partitioned by host and a parent and its child are on the same
//! host.
//!
//! Bounds: a host keeps its [`PER_HOST_MAX`] most recent starts, all hosts together
//! [`ENTRIES_MAX`] and [`BYTES_MAX`] of text (the oldest starts go first); a command line,
//! program or account longer than [`TEXT_MAX`] is not kept (a rule then sees the field missing,
//! never a cut value). Process exits (4689, Sysmon 5) are not read: a reused process id
//! replaces the entry when its new process starts, and the parent's program, which Windows 10
//! and Sysmon name on the child, must agree.

mod table;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

use rsigma_eval::Event as SigmaEvent;
use rsigma_parser::{Detection as SigmaDetection, SigmaRule};
use serde_json::{Map, Value};
use wardwatch_core::{Event, SourceKind};

use crate::engine::{Detection, Detector};
use crate::fields::FieldView;
use crate::pack::RulePack;

pub use table::{BYTES_MAX, ENTRIES_MAX, PER_HOST_MAX, TEXT_MAX, Table};

/// The parent fields the stage fills, by their Sysmon names.
pub const PARENT_FIELDS: [&str; 3] = ["ParentCommandLine", "ParentImage", "ParentUser"];

/// Where a kept copy ([`keep_copy`]) nests the whole record.
const WHOLE_KEY: &str = "lineage.record";

/// Which record of a process start an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Security 4688: its own id is `NewProcessId`, its creator's `ProcessId` (hex).
    Security,
    /// Sysmon 1: `ProcessId`/`ParentProcessId` (decimal) and their GUIDs.
    Sysmon,
}

fn kind(event: &Event) -> Option<Kind> {
    let channel = event.ecs.channel.as_deref()?;
    match event.ecs.event_code.as_deref()? {
        "4688" if channel.eq_ignore_ascii_case("Security") => Some(Kind::Security),
        "1" if channel.eq_ignore_ascii_case("Microsoft-Windows-Sysmon/Operational") => {
            Some(Kind::Sysmon)
        }
        _ => None,
    }
}

/// Whether `event` is a process-creation record with process ids (Security 4688, Sysmon 1):
/// what the lineage table learns from.
pub fn is_process_start(event: &Event) -> bool {
    kind(event).is_some()
}

/// Whether `event` is a process start that names its parent and lacks one of the parent's
/// fields ([`PARENT_FIELDS`]): its rule matches are settled, and its alerts raised, by the
/// ordered stage, which may know the parent.
pub fn awaits_parent(event: &Event) -> bool {
    Start::of(event).is_some_and(|s| s.names_parent() && !s.lacks.is_empty())
}

/// What a process-creation record says of its process and its parent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Start {
    /// The organization and the host, lowercased (the table's key).
    pub(crate) host: String,
    /// Event time, milliseconds since the epoch.
    pub(crate) ts: i64,
    pub(crate) pid: Option<u64>,
    pub(crate) guid: Option<String>,
    pub(crate) image: Option<String>,
    pub(crate) command_line: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) parent_pid: Option<u64>,
    pub(crate) parent_guid: Option<String>,
    /// The parent's program as the record names it (4688 from Windows 10, Sysmon).
    pub(crate) parent_image: Option<String>,
    /// The parent fields the record does not have.
    pub(crate) lacks: Vec<&'static str>,
}

impl Start {
    pub(crate) fn of(event: &Event) -> Option<Start> {
        let kind = kind(event)?;
        let host = event.ecs.host_name.as_deref()?.trim().to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        // One server may hold several organizations: a host is one of an organization's.
        let host = format!("{}\u{1f}{host}", event.organization);
        let view = FieldView::new(event);
        let text = |name: &str| -> Option<String> {
            let v = view.get_field(name)?;
            let s = v.as_str()?;
            let s = s.trim();
            (!s.is_empty() && s != "-").then(|| s.to_string())
        };
        let (pid, parent_pid) = match kind {
            Kind::Security => ("NewProcessId", "ProcessId"),
            Kind::Sysmon => ("ProcessId", "ParentProcessId"),
        };
        let lacks = PARENT_FIELDS
            .into_iter()
            .filter(|f| view.get_field(f).is_none())
            .collect();
        Some(Start {
            host,
            ts: event.timestamp.as_millisecond(),
            pid: text(pid).as_deref().and_then(process_id),
            guid: text("ProcessGuid").map(|g| g.to_ascii_lowercase()),
            image: text("Image"),
            command_line: text("CommandLine"),
            user: text("User"),
            parent_pid: text(parent_pid).as_deref().and_then(process_id),
            parent_guid: text("ParentProcessGuid").map(|g| g.to_ascii_lowercase()),
            parent_image: text("ParentImage"),
            lacks,
        })
    }

    pub(crate) fn names_parent(&self) -> bool {
        self.parent_pid.is_some() || self.parent_guid.is_some()
    }
}

/// A process id as Security writes it (`0x1a2c`) or Sysmon does (`6700`); 0 (the idle
/// process, or none) is no id.
pub(crate) fn process_id(text: &str) -> Option<u64> {
    let t = text.trim();
    let n = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => t.parse().ok()?,
    };
    (n != 0).then_some(n)
}

/// `C:\Windows\System32\cmd.exe` → `cmd.exe`, lowercase (a 4688 may name a program by its
/// device path where Sysmon names a drive).
pub(crate) fn program(path: &str) -> String {
    path.rsplit(['\\', '/'])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase()
}

/// The rules whose results a parent's fields can change: every rule that reads one of
/// [`PARENT_FIELDS`], and the rules one of them names in `wardwatch: same_as` or is named by
/// (one alert per behaviour is decided among the re-evaluated rules). Compiled on first use: a
/// hunt over logs without process creation never pays for it.
pub(crate) struct LineageRules {
    pack: RulePack,
    ids: HashSet<String>,
    detector: OnceLock<Detector>,
}

impl LineageRules {
    /// The lineage rules of `pack` (none when no rule reads a parent field: the table is still
    /// kept, so alerts on a process start show its parent's command line).
    pub(crate) fn of(pack: &RulePack) -> LineageRules {
        let replaced = crate::engine::replaced_rules(pack);
        let mut ids: HashSet<String> = pack
            .rules
            .iter()
            .filter(|(rule, meta)| !replaced.contains(meta.id.as_str()) && reads_parent(rule))
            .map(|(_, meta)| meta.id.clone())
            .collect();
        // Twins of a lineage rule are settled with it.
        loop {
            let before = ids.len();
            for (_, meta) in &pack.rules {
                if replaced.contains(meta.id.as_str()) {
                    continue;
                }
                let twin = meta.wardwatch.same_as.iter().any(|t| ids.contains(t))
                    || (ids.contains(&meta.id) && !meta.wardwatch.same_as.is_empty());
                if twin {
                    ids.insert(meta.id.clone());
                    for t in &meta.wardwatch.same_as {
                        ids.insert(t.clone());
                    }
                }
            }
            if ids.len() == before {
                break;
            }
        }
        let sub = pack.subset(|_, meta| ids.contains(&meta.id) && !replaced.contains(&*meta.id));
        LineageRules {
            pack: sub,
            ids,
            detector: OnceLock::new(),
        }
    }

    pub(crate) fn contains(&self, rule_id: &str) -> bool {
        self.ids.contains(rule_id)
    }

    fn detector(&self) -> &Detector {
        self.detector.get_or_init(|| Detector::build(&self.pack).0)
    }

    /// The lineage rules' matches on `event` (a copy with the parent's fields).
    pub(crate) fn detect(&self, event: &Event) -> Vec<Detection> {
        self.detector().detect(event)
    }
}

/// Whether `rule`'s detection names a parent field.
fn reads_parent(rule: &SigmaRule) -> bool {
    fn walk(d: &SigmaDetection) -> bool {
        match d {
            SigmaDetection::AllOf(items) => items.iter().any(|i| {
                i.field
                    .name
                    .as_deref()
                    .is_some_and(|n| PARENT_FIELDS.contains(&n))
            }),
            SigmaDetection::AnyOf(subs) | SigmaDetection::And(subs) => subs.iter().any(walk),
            SigmaDetection::Keywords(_) => false,
            SigmaDetection::ArrayMatch { body, .. } => walk(body),
            SigmaDetection::Conditional { named, .. } => named.values().any(walk),
        }
    }
    rule.detection.named.values().any(walk)
}

/// A copy of `event` with `fill` (Sysmon names and values) set among its record's fields,
/// where rules and alerts read them; `None` when the record has no field map to set them in.
pub(crate) fn with_fields(event: &Event, fill: &[(&'static str, String)]) -> Option<Event> {
    let mut copy = event.clone();
    let data = match copy.source_kind {
        SourceKind::Evtx => copy
            .raw
            .get_mut("Event")
            .and_then(|e| e.get_mut("EventData"))
            .and_then(Value::as_object_mut)?,
        SourceKind::WinlogbeatEcs => {
            // Winlogbeat 7+ nests the data under `winlog`; Winlogbeat 6 kept it at the top.
            let nested = copy.raw.get("winlog").is_some_and(Value::is_object);
            let base = if nested {
                copy.raw.get_mut("winlog")?
            } else {
                &mut copy.raw
            };
            base.get_mut("event_data").and_then(Value::as_object_mut)?
        }
        SourceKind::FlatWindows => copy.raw.as_object_mut()?,
        _ => return None,
    };
    for (name, value) in fill {
        if !data.contains_key(*name) {
            data.insert((*name).to_string(), Value::String(value.clone()));
        }
    }
    Some(copy)
}

/// What `hunt` keeps of a process start for the ordered stage: the analytics' reduced copy
/// ([`crate::analytics::reduce`]) with the whole record nested in it, which the lineage stage
/// reads back ([`whole`]).
pub fn keep_copy(event: &Event) -> Event {
    let mut copy = crate::analytics::reduce(event);
    if let Some(o) = copy.raw.as_object_mut() {
        let mut nested = Map::new();
        nested.insert(
            "source_kind".into(),
            serde_json::to_value(event.source_kind).unwrap_or(Value::Null),
        );
        nested.insert("raw".into(), event.raw.clone());
        o.insert(WHOLE_KEY.into(), Value::Object(nested));
    }
    copy
}

/// The whole record of `event`: the one [`keep_copy`] nested, or `event` itself.
pub fn whole(event: &Event) -> Cow<'_, Event> {
    let nested = event.raw.get(WHOLE_KEY).and_then(Value::as_object);
    let Some((kind, raw)) = nested.and_then(|n| {
        let kind: SourceKind = serde_json::from_value(n.get("source_kind")?.clone()).ok()?;
        Some((kind, n.get("raw")?))
    }) else {
        return Cow::Borrowed(event);
    };
    Cow::Owned(Event {
        timestamp: event.timestamp,
        time_text: event.time_text.clone(),
        organization: event.organization.clone(),
        source_kind: kind,
        origin: event.origin.clone(),
        ecs: event.ecs.clone(),
        raw: raw.clone(),
        raw_text: Default::default(),
        received: event.received,
        time_skew: event.time_skew,
    })
}

#[cfg(test)]
mod tests;
