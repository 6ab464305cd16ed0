//! Analytics: behaviour a single Sigma rule cannot say, raised as ordinary alerts.
//!
//! Why: a rule looks at one event (or counts one kind of event). Some attacks only show as a
//! shape across events: a parent starting a child it never started before, a service nobody
//! installed before, several different suspicious signals on one host within minutes, a network
//! logon followed by an admin-share access and a new service on the same host, one account
//! asking for many RC4 service tickets. Each analytic keeps a small state, sees events in time
//! order, and emits a [`Detection`] with its own [`RuleMeta`] (an `analytic:` origin), so
//! alerts, incidents and narratives treat it like any rule.
//!
//! Where they run: inside the [`crate::Correlator`], the one ordered stage `hunt` and `serve`
//! share; their state is saved and restored with the correlation state (the server keeps it
//! with its detection cursor). Callers hand the correlator only the events an analytic
//! [`wants`](Analytics::wants) (as [`reduce`]d copies: a few fields, not the whole record).
//!
//! Every analytic is one file here; thresholds are constants at its top, chosen on the tuning
//! half of the labelled sets and the benign sets (bench/efficacy.sh).
//!
//! **Architecture Invariant:** pure: no clock (event time only), no I/O.

mod burst;
pub mod identity;
mod kerberoast;
mod mail;
pub mod network;
mod rare_pair;
mod rare_service;
mod remote_exec;
pub(crate) mod window;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wardwatch_core::{Event, Severity, SourceKind};

use crate::engine::Detection;
use crate::pack::{RuleKind, RuleMeta, Wardwatch};

/// The fields an analytic may read from an event (kept by [`reduce`]).
const KEPT: &[&str] = &[
    "Image",
    "ParentImage",
    "CommandLine",
    "User",
    "ServiceName",
    "ImagePath",
    "ServiceFileName",
    "TaskName",
    "LogonType",
    "IpAddress",
    "TargetUserName",
    "TargetDomainName",
    "SubjectUserName",
    "ShareName",
    "RelativeTargetName",
    "TicketEncryptionType",
    "Status",
    "WorkstationName",
    "Workstation",
    "SubjectLogonId",
    "TargetLogonId",
    "GroupMembership",
];

/// A small copy of `event` holding only what analytics and their alerts need: a flat record
/// (`EventID`, `Channel`, `Computer` and [`KEPT`] fields found on the event).
pub fn reduce(event: &Event) -> Event {
    if mail::MailFacts::of(event).is_some()
        && let Some(raw) = mail::reduced_raw(event)
    {
        return reduced(event, event.source_kind, raw);
    }
    // A proxy, DNS or process record may be the click on a campaign's link: its URL, host,
    // user and machine ride along with whatever else is kept.
    let click = mail::ClickFacts::of(event).and_then(|c| serde_json::to_value(c).ok());
    if let Some(facts) = network::NetFacts::of(event) {
        // A network record keeps what the network analytics read of it, and its kind (they
        // read network records only).
        let mut raw = Map::new();
        raw.insert(
            "net".into(),
            serde_json::to_value(facts).unwrap_or_default(),
        );
        if let Some(c) = click {
            raw.insert("click".into(), c);
        }
        return reduced(event, event.source_kind, raw);
    }
    let mut raw = Map::new();
    if let Some(c) = &event.ecs.event_code {
        raw.insert("EventID".into(), Value::String(c.clone()));
    }
    if let Some(c) = &event.ecs.channel {
        raw.insert("Channel".into(), Value::String(c.clone()));
    }
    if let Some(h) = &event.ecs.host_name {
        raw.insert("Computer".into(), Value::String(h.clone()));
    }
    for f in KEPT {
        if let Some(v) = crate::fields::lookup(event, f) {
            raw.insert((*f).to_string(), Value::String(v));
        }
    }
    // An identity use keeps what was read of it (an Entra device or place is not in `KEPT`).
    if let Some(u) = crate::identity_use::IdentityUse::of(event)
        && let Ok(v) = serde_json::to_value(u)
    {
        raw.insert(crate::identity_use::REDUCED_KEY.into(), v);
    }
    if let Some(c) = click {
        raw.insert("click".into(), c);
    }
    reduced(event, SourceKind::FlatWindows, raw)
}

/// `event` with only `raw` as its record (of `kind`'s layout): its time, origin and normalized
/// fields stay.
fn reduced(event: &Event, kind: SourceKind, raw: Map<String, Value>) -> Event {
    Event {
        timestamp: event.timestamp,
        time_text: None,
        organization: event.organization.clone(),
        source_kind: kind,
        origin: event.origin.clone(),
        ecs: event.ecs.clone(),
        raw: Value::Object(raw),
        raw_text: Default::default(),
        received: event.received,
        time_skew: event.time_skew,
    }
}

/// A field of a [`reduce`]d event.
fn field<'a>(event: &'a Event, name: &str) -> Option<&'a str> {
    event
        .raw
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "-")
}

/// The event's channel and code, when it is a Windows record.
fn code(event: &Event) -> (&str, &str) {
    (
        event.ecs.channel.as_deref().unwrap_or(""),
        event.ecs.event_code.as_deref().unwrap_or(""),
    )
}

fn is_process_start(event: &Event) -> bool {
    matches!(
        code(event),
        ("Microsoft-Windows-Sysmon/Operational", "1") | ("Security", "4688")
    )
}

fn is_service_install(event: &Event) -> bool {
    matches!(code(event), ("System", "7045") | ("Security", "4697"))
}

/// `C:\Windows\System32\cmd.exe` → `cmd.exe`.
fn program(path: &str) -> String {
    path.rsplit(['\\', '/'])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase()
}

/// The metadata of an analytic's alerts.
fn meta(
    id: &str,
    title: &str,
    level: Severity,
    tags: &[&str],
    description: &str,
    recommendation: &str,
) -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: id.to_string(),
        title: title.to_string(),
        level,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        kind: RuleKind::Detection,
        origin: format!("analytic:{id}"),
        description: Some(description.to_string()),
        product: Some("windows".into()),
        service: None,
        category: None,
        wardwatch: Wardwatch {
            recommendation: Some(recommendation.to_string()),
            awareness: None,
            assets: Vec::new(),
            ..Wardwatch::default()
        },
    })
}

/// An analytic's finding, on the event being observed (every analytic fires on the event that
/// completes its pattern).
pub type Hit = Detection;

fn hit(rule: &Arc<RuleMeta>, _event: &Event) -> Hit {
    Detection {
        rule: rule.clone(),
        correlation: None,
        entities: Vec::new(),
        finding: None,
    }
}

/// Every analytic, with its state.
#[derive(Default, Serialize, Deserialize)]
pub struct Analytics {
    rare_pair: rare_pair::RarePair,
    rare_service: rare_service::RareService,
    burst: burst::Burst,
    remote_exec: remote_exec::RemoteExec,
    kerberoast: kerberoast::Kerberoast,
    #[serde(default)]
    identity: identity::Identity,
    network: network::Network,
    #[serde(default)]
    mail: mail::MailCampaigns,
}

impl Analytics {
    /// Whether `event` (with the rules it matched) is one some analytic reads.
    pub fn wants(event: &Event, detections: &[Detection]) -> bool {
        is_process_start(event)
            || is_service_install(event)
            || remote_exec::wants(event)
            || kerberoast::wants(event)
            || identity::wants(event)
            || network::wants(event)
            || mail::wants(event)
            || burst::wants(detections)
    }

    /// What the network analytics know of the hospital's addresses and zones (kept when the
    /// state is restored: it is configuration, not state).
    pub fn set_topology(&mut self, topology: Arc<network::Topology>) {
        self.network.set_topology(topology);
    }

    /// What the identity analytics know of people, machines, working hours and places (kept
    /// when the state is restored: it is configuration, not state).
    pub fn set_directory(&mut self, directory: Arc<identity::Directory>) {
        self.identity.set_directory(directory);
    }

    /// The identity analytics' directory (to carry it over a state restore).
    pub fn identity_directory(&self) -> Arc<identity::Directory> {
        self.identity.directory()
    }

    /// Feed one event in time order (the full event or its [`reduce`]d copy); returns the
    /// analytics that fired.
    pub fn observe(&mut self, event: &Event, detections: &[Detection]) -> Vec<Hit> {
        // The Windows analytics read the record's fields by their flat names, as `hunt`'s
        // reduced copies carry them; `serve` hands over whole records, whose EVTX or
        // Winlogbeat layout nests them: read those through the same reduction.
        let flat;
        let event = if matches!(
            event.source_kind,
            SourceKind::Evtx | SourceKind::WinlogbeatEcs
        ) {
            flat = reduce(event);
            &flat
        } else {
            event
        };
        let mut out = Vec::new();
        self.rare_pair.observe(event, &mut out);
        self.rare_service.observe(event, &mut out);
        self.remote_exec.observe(event, &mut out);
        self.kerberoast.observe(event, &mut out);
        self.identity.observe(event, &mut out);
        self.network.observe(event, &mut out);
        self.mail.observe(event, &mut out);
        // The burst sees the rules' detections and the other analytics' findings alike.
        let mut signals: Vec<&Detection> = detections.iter().collect();
        signals.extend(out.iter());
        let burst = self.burst.observe(event, &signals);
        out.extend(burst);
        out
    }

    /// The metadata of every analytic (for `rules check` and documentation).
    pub fn metas() -> Vec<Arc<RuleMeta>> {
        vec![
            rare_pair::rule(),
            rare_service::rule(),
            burst::rule(),
            remote_exec::rule(),
            kerberoast::rule(),
        ]
        .into_iter()
        .chain(identity::Identity::metas())
        .chain(network::rules())
        .chain(mail::MailCampaigns::metas())
        .collect()
    }
}

#[cfg(test)]
mod layout_tests {
    use serde_json::json;
    use wardwatch_core::{Event, SourceKind};

    use super::Analytics;

    /// A 4769 service ticket request in the layout `kind` ships it in.
    fn tgs(kind: SourceKind, t: i64, svc: &str) -> Event {
        let data = json!({"TargetUserName": "jdoe@HOSP.LOCAL", "ServiceName": svc,
            "TicketEncryptionType": "0x17", "Status": "0x0"});
        let raw = match kind {
            SourceKind::Evtx => json!({"Event": {"System": {"EventID": 4769, "Channel": "Security",
                "Computer": "DC01"}, "EventData": data}}),
            SourceKind::WinlogbeatEcs => json!({"winlog": {"event_id": "4769",
                "channel": "Security", "computer_name": "DC01", "event_data": data}}),
            _ => {
                let mut flat = data;
                flat["EventID"] = json!(4769);
                flat["Channel"] = json!("Security");
                flat
            }
        };
        let mut e = Event::new(
            kind,
            jiff::Timestamp::from_second(1_700_000_000 + t).unwrap(),
            raw,
        );
        e.ecs.event_code = Some("4769".into());
        e.ecs.channel = Some("Security".into());
        e.ecs.host_name = Some("DC01".into());
        e
    }

    #[test]
    fn whole_evtx_and_winlogbeat_records_raise_what_flat_and_reduced_ones_do() {
        let fired = |kind: SourceKind, reduce_first: bool| {
            let mut a = Analytics::default();
            let mut ids = Vec::new();
            for (i, s) in ["svc_sql", "svc_web", "svc_backup"].iter().enumerate() {
                let e = tgs(kind, i as i64, s);
                let e = if reduce_first { super::reduce(&e) } else { e };
                ids.extend(a.observe(&e, &[]).into_iter().map(|d| d.rule.id.clone()));
            }
            ids
        };
        let flat = fired(SourceKind::FlatWindows, false);
        assert!(
            flat.iter().any(|id| id.contains("kerberoast")),
            "flat records raise Kerberoasting: {flat:?}"
        );
        for kind in [SourceKind::Evtx, SourceKind::WinlogbeatEcs] {
            // `serve` hands whole records; `hunt` hands reduced copies.
            assert_eq!(fired(kind, false), flat, "{kind:?} whole");
            assert_eq!(fired(kind, true), flat, "{kind:?} reduced");
        }
    }
}

#[cfg(test)]
pub(crate) mod testkit {
    use serde_json::{Value, json};
    use wardwatch_core::{Event, Origin};

    /// A flat Windows event at `secs` seconds into a day, decoded like `hunt` decodes it.
    pub fn ev(secs: i64, mut fields: Value) -> Event {
        let ts = jiff::Timestamp::from_second(1_717_408_800 + secs).unwrap();
        let o = fields.as_object_mut().unwrap();
        o.insert("@timestamp".into(), json!(ts.to_string()));
        o.entry("Hostname").or_insert(json!("WS1"));
        let text = |k: &str| {
            o.get(k)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        };
        let (code, channel, host) = (text("EventID"), text("Channel"), text("Hostname"));
        let mut e = Event {
            timestamp: ts,
            time_text: None,
            organization: "default".into(),
            source_kind: wardwatch_core::SourceKind::FlatWindows,
            origin: Origin {
                source: "t".into(),
                record_id: Some(secs as u64),
                ..Origin::default()
            },
            ecs: Default::default(),
            raw: fields,
            raw_text: Default::default(),
            received: None,
            time_skew: None,
        };
        e.ecs.event_code = code;
        e.ecs.channel = channel;
        e.ecs.host_name = host;
        super::reduce(&e)
    }
}
