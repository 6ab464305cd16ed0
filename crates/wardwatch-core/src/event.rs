//! The normalized event: ECS core fields for every later stage, plus the source's own record.
//!
//! Why both: Sigma rules are written against each source's own field names (SigmaHQ's Windows
//! rules say `CommandLine`, not `process.command_line`), so detection reads [`Event::raw`] through
//! per-source field mappings, while the console, incidents and analytics read the normalized
//! [`Ecs`] fields and never have to know where an event came from.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::entity::{Entity, EntityKind};

/// The organization of a single-site deployment. Every event carries one from day one, so a
/// hospital group or a managed SOC can run many sites on one deployment later.
pub const DEFAULT_ORGANIZATION: &str = "default";

/// Which decoder produced an event, and so which field layout [`Event::raw`] has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A Windows event log record from an `.evtx` file: `{"Event": {"System": .., "EventData": ..}}`.
    Evtx,
    /// A Winlogbeat / Elastic Agent document in ECS shape: `winlog.event_data.*`, `winlog.channel`.
    WinlogbeatEcs,
    /// A flat Windows record as many exporters write it: `EventID`, `Channel`, `Image`, ... at the top.
    FlatWindows,
    /// Suricata EVE JSON.
    SuricataEve,
    /// A Zeek log record (TSV or JSON), with Zeek's own field names and its log's name as
    /// `_path` (`conn`, `dns`, `dce_rpc`...).
    Zeek,
    /// A syslog message (RFC 5424 or RFC 3164).
    Syslog,
    /// Any other JSON object, kept as it came.
    Json,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Evtx => "evtx",
            SourceKind::WinlogbeatEcs => "winlogbeat_ecs",
            SourceKind::FlatWindows => "flat_windows",
            SourceKind::SuricataEve => "suricata_eve",
            SourceKind::Zeek => "zeek",
            SourceKind::Syslog => "syslog",
            SourceKind::Json => "json",
        }
    }
}

/// Where an event came from, precisely enough to find it again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The file (or listener) name.
    pub source: String,
    /// The record number inside the source: EVTX `EventRecordID`, or the line number for text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<u64>,
    /// Byte offset of the record in the (decompressed) file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The sender's own id for the record (the Elasticsearch bulk `_id`), when it gave one: a
    /// record sent again with the same id (a retry after a lost acknowledgement) is stored once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// The ECS core fields that every later stage needs. Absent fields stay `None`; decoders fill
/// what their source knows. Serialized with ECS's dotted names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ecs {
    #[serde(rename = "event.kind", skip_serializing_if = "Option::is_none")]
    pub event_kind: Option<String>,
    #[serde(rename = "event.category", skip_serializing_if = "Option::is_none")]
    pub event_category: Option<String>,
    #[serde(rename = "event.action", skip_serializing_if = "Option::is_none")]
    pub event_action: Option<String>,
    #[serde(rename = "event.outcome", skip_serializing_if = "Option::is_none")]
    pub event_outcome: Option<String>,
    /// The source's own event code (Windows Event ID, Suricata event type...).
    #[serde(rename = "event.code", skip_serializing_if = "Option::is_none")]
    pub event_code: Option<String>,
    /// The log or channel the event was written to (`Security`, `Microsoft-Windows-Sysmon/Operational`).
    #[serde(rename = "event.provider", skip_serializing_if = "Option::is_none")]
    pub event_provider: Option<String>,
    #[serde(rename = "log.channel", skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(rename = "host.name", skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    #[serde(rename = "host.ip", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    #[serde(rename = "user.name", skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(rename = "user.domain", skip_serializing_if = "Option::is_none")]
    pub user_domain: Option<String>,
    /// The role the user acted in (an EHR audit's agent role: `nurse`, `physician`...).
    #[serde(rename = "user.roles", skip_serializing_if = "Option::is_none")]
    pub user_roles: Option<String>,
    #[serde(rename = "source.ip", skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(rename = "source.port", skip_serializing_if = "Option::is_none")]
    pub source_port: Option<u16>,
    /// The source as the record names it when that is not an IP address (a workstation's
    /// name in an audit trail).
    #[serde(rename = "source.address", skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    #[serde(rename = "destination.ip", skip_serializing_if = "Option::is_none")]
    pub destination_ip: Option<String>,
    #[serde(rename = "destination.port", skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<u16>,
    #[serde(rename = "process.pid", skip_serializing_if = "Option::is_none")]
    pub process_pid: Option<u64>,
    #[serde(rename = "process.executable", skip_serializing_if = "Option::is_none")]
    pub process_executable: Option<String>,
    /// The program's name as a log names it: syslog's APP-NAME or tag (`sshd`, `sudo`), a
    /// shipper's `PROGRAM` or `process.name`. Linux logsources are chosen by it.
    #[serde(rename = "process.name", skip_serializing_if = "Option::is_none")]
    pub process_name: Option<String>,
    #[serde(
        rename = "process.command_line",
        skip_serializing_if = "Option::is_none"
    )]
    pub process_command_line: Option<String>,
    #[serde(
        rename = "process.parent.executable",
        skip_serializing_if = "Option::is_none"
    )]
    pub process_parent_executable: Option<String>,
    #[serde(rename = "file.path", skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    #[serde(rename = "url.full", skip_serializing_if = "Option::is_none")]
    pub url_full: Option<String>,
    #[serde(rename = "dns.question.name", skip_serializing_if = "Option::is_none")]
    pub dns_question_name: Option<String>,
    #[serde(rename = "network.protocol", skip_serializing_if = "Option::is_none")]
    pub network_protocol: Option<String>,
    /// The syslog facility by name (`auth`, `authpriv`, `daemon`...), from the priority of a
    /// syslog header or a shipper's `FACILITY` / `PRIORITY` / `log.syslog.facility.name`.
    #[serde(
        rename = "log.syslog.facility.name",
        skip_serializing_if = "Option::is_none"
    )]
    pub syslog_facility: Option<String>,
    /// Why it was done: an EHR audit's purpose of use (`TREAT`, `ETREAT`, `HPAYMT`...).
    #[serde(rename = "event.reason", skip_serializing_if = "Option::is_none")]
    pub event_reason: Option<String>,
    /// The patient whose record was touched (an EHR audit's patient id).
    #[serde(rename = "patient.id", skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<String>,
    /// Whether access to a record was gained by breaking the glass (emergency access outside
    /// the user's normal rights).
    #[serde(
        rename = "ehr.break_the_glass",
        skip_serializing_if = "Option::is_none"
    )]
    pub break_the_glass: Option<bool>,
    /// The transport (`tcp`, `udp`, `icmp`) of a network record.
    #[serde(rename = "network.transport", skip_serializing_if = "Option::is_none")]
    pub network_transport: Option<String>,
    /// The Community ID flow hash, which joins one connection across sensors.
    #[serde(
        rename = "network.community_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub network_community_id: Option<String>,
    /// Payload bytes the source (originator) sent.
    #[serde(rename = "source.bytes", skip_serializing_if = "Option::is_none")]
    pub source_bytes: Option<u64>,
    /// Payload bytes the destination (responder) sent.
    #[serde(rename = "destination.bytes", skip_serializing_if = "Option::is_none")]
    pub destination_bytes: Option<u64>,
    #[serde(rename = "source.packets", skip_serializing_if = "Option::is_none")]
    pub source_packets: Option<u64>,
    #[serde(
        rename = "destination.packets",
        skip_serializing_if = "Option::is_none"
    )]
    pub destination_packets: Option<u64>,
    /// The source's hardware address (DHCP), `aa:bb:cc:dd:ee:ff`.
    #[serde(rename = "source.mac", skip_serializing_if = "Option::is_none")]
    pub source_mac: Option<String>,
    /// How long the connection or transaction lasted, in nanoseconds (ECS `event.duration`).
    #[serde(rename = "event.duration", skip_serializing_if = "Option::is_none")]
    pub event_duration: Option<u64>,
    /// The sensor that saw the traffic (Zeek's `_system_name`, Suricata's `host`); the hosts
    /// the record is about are its source and destination.
    #[serde(rename = "observer.hostname", skip_serializing_if = "Option::is_none")]
    pub observer_hostname: Option<String>,
    /// The free-text message, for sources that have one (syslog).
    #[serde(rename = "message", skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The network address (`ip:port`) the record was received from: the syslog sender as the
    /// listener saw it, whatever the message claims about its host.
    #[serde(rename = "log.source.address", skip_serializing_if = "Option::is_none")]
    pub log_source_address: Option<String>,
    /// The subject of the TLS client certificate the sender presented (RFC 4514 text).
    #[serde(rename = "tls.client.subject", skip_serializing_if = "Option::is_none")]
    pub tls_client_subject: Option<String>,
}

/// How far a sender's time may be from the time its event was received and still be trusted.
///
/// Why a window and not the received time alone: shippers batch and retry, and a forwarder
/// catching up after an outage sends hours-old events whose own times are the true ones. Why
/// not the sender's time alone: a clock months off (or a forged stamp) would expire its alert at
/// once, or close every open incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockWindow {
    /// How far in the past a sender's time may be.
    pub behind: SignedDuration,
    /// How far in the future a sender's time may be.
    pub ahead: SignedDuration,
}

impl Default for ClockWindow {
    /// 30 days behind (a shipper catching up after an outage, a week replayed), 15 minutes
    /// ahead (clock drift; nothing legitimate arrives from the future).
    fn default() -> Self {
        ClockWindow {
            behind: SignedDuration::from_hours(30 * 24),
            ahead: SignedDuration::from_mins(15),
        }
    }
}

impl ClockWindow {
    /// The skew in seconds of a sender's time `sent` against `received`, when it is outside
    /// the window.
    pub fn skew(&self, sent: Timestamp, received: Timestamp) -> Option<i64> {
        let d = sent.duration_since(received);
        (d > self.ahead || d < -self.behind).then(|| d.as_secs())
    }
}

/// One normalized record, whatever its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When the event happened, in UTC. When the source had no usable time, the decoder says so
    /// with [`Event::time_text`] and uses the Unix epoch.
    #[serde(rename = "@timestamp")]
    pub timestamp: Timestamp,
    /// The source's own time text, kept as it came (RFC 3164 stamps have no year nor zone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_text: Option<String>,
    /// The organization the event belongs to ([`DEFAULT_ORGANIZATION`] for a single site).
    #[serde(rename = "organization.id")]
    pub organization: String,
    /// Which decoder produced the event, and so the layout of [`Event::raw`].
    pub source_kind: SourceKind,
    /// Where the event came from.
    pub origin: Origin,
    /// The normalized fields.
    pub ecs: Ecs,
    /// When the server received the event (ECS `event.ingested`): set by [`Event::receive`] on
    /// the way into the journal; `None` for events read from files (`hunt`).
    #[serde(
        rename = "event.ingested",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub received: Option<Timestamp>,
    /// How far the sender's time ([`Event::timestamp`]) is from [`Event::received`], in
    /// seconds (positive: the sender says later than it arrived), set only when it is outside
    /// the trusted [`ClockWindow`]. Such an event is kept and searchable by its own time, but
    /// retention and incident grouping use the received time (see [`Event::trusted_time`]).
    #[serde(
        rename = "event.time_skew",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub time_skew: Option<i64>,
    /// The source's record as it came (EVTX `Event.System`/`EventData`, Suricata, syslog parts).
    pub raw: serde_json::Value,
    /// The JSON text `raw` was parsed from, when the decoder had it and kept `raw` exactly as
    /// parsed. Whoever changes `raw` afterwards clears it.
    #[serde(skip)]
    pub raw_text: RawText,
}

/// The sender's JSON text of an event's record, carried from the decoder to the journal so the
/// journal stores it as it came instead of serializing the parsed tree again (that serializing
/// was about 6% of the server's CPU samples under full load, 5 µs an event). Transport only: never serialized, and
/// ignored when events are compared.
#[derive(Debug, Clone, Default)]
pub struct RawText(Option<Box<str>>);

impl RawText {
    /// `text`, which must be the JSON text the event's `raw` was parsed from.
    pub fn new(text: &str) -> Self {
        RawText(Some(text.into()))
    }

    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// Take the text out, leaving none.
    pub fn take(&mut self) -> Option<Box<str>> {
        self.0.take()
    }
}

impl PartialEq for RawText {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Event {
    /// A new event in the default organization with empty normalized fields.
    pub fn new(source_kind: SourceKind, timestamp: Timestamp, raw: serde_json::Value) -> Self {
        Event {
            timestamp,
            time_text: None,
            organization: DEFAULT_ORGANIZATION.to_string(),
            source_kind,
            origin: Origin::default(),
            ecs: Ecs::default(),
            received: None,
            time_skew: None,
            raw,
            raw_text: RawText::default(),
        }
    }

    /// Mark the event received at `at`: keep `at` as [`Event::received`] and, when the
    /// sender's time is outside `window` around it, the skew in [`Event::time_skew`]. Returns
    /// the skew when there is one.
    pub fn receive(&mut self, at: Timestamp, window: &ClockWindow) -> Option<i64> {
        self.received = Some(at);
        self.time_skew = window.skew(self.timestamp, at);
        self.time_skew
    }

    /// The time later stages may trust: the sender's own time when it is within the window
    /// around the received time (or when the event was never received: files), else the
    /// received time. A sender cannot move retention or the incident clock with its stamps.
    pub fn trusted_time(&self) -> Timestamp {
        match (self.received, self.time_skew) {
            (Some(at), Some(_)) => at,
            _ => self.timestamp,
        }
    }

    /// The entities this event names, from its normalized fields, the acting side first: the
    /// source address, the user, the host, then what was acted on (destination address, the
    /// domain asked for, the URL). Each once, in that order.
    pub fn entities(&self) -> Vec<Entity> {
        let mut out: Vec<Entity> = Vec::new();
        let mut push = |kind, v: &Option<String>| {
            if let Some(v) = v.as_deref().map(str::trim)
                && !v.is_empty()
                && v != "-"
            {
                let e = Entity::new(kind, v);
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        };
        push(EntityKind::Ip, &self.ecs.source_ip);
        push(EntityKind::User, &self.ecs.user_name);
        push(EntityKind::Host, &self.ecs.host_name);
        push(EntityKind::Ip, &self.ecs.destination_ip);
        push(EntityKind::Domain, &self.ecs.dns_question_name);
        push(EntityKind::Url, &self.ecs.url_full);
        push(EntityKind::Patient, &self.ecs.patient_id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_serializes_with_dotted_names_and_skips_absent() {
        let mut e = Event::new(
            SourceKind::Syslog,
            Timestamp::UNIX_EPOCH,
            serde_json::json!({}),
        );
        e.ecs.host_name = Some("ws-1".into());
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["ecs"]["host.name"], "ws-1");
        assert!(v["ecs"].get("user.name").is_none());
        assert_eq!(v["organization.id"], "default");
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn a_sender_time_far_from_the_received_time_is_flagged_and_not_trusted() {
        let now: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
        let window = ClockWindow::default();
        let two_years = SignedDuration::from_hours(2 * 365 * 24);
        for (sent, skewed) in [
            (now - SignedDuration::from_hours(3), false),
            (now - SignedDuration::from_hours(29 * 24), false),
            (now + SignedDuration::from_mins(10), false),
            (now - two_years, true),
            (now + two_years, true),
            (now + SignedDuration::from_mins(16), true),
        ] {
            let mut e = Event::new(SourceKind::Json, sent, serde_json::json!({}));
            assert_eq!(e.trusted_time(), sent, "not received yet: its own time");
            let skew = e.receive(now, &window);
            assert_eq!(skew.is_some(), skewed, "{sent}");
            assert_eq!(e.received, Some(now));
            if skewed {
                assert_eq!(e.trusted_time(), now);
                assert_eq!(skew, Some(sent.duration_since(now).as_secs()));
            } else {
                assert_eq!(e.trusted_time(), sent);
            }
            // Kept through the journal's JSON.
            let back: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn entities_skip_placeholders_and_dedup() {
        let mut e = Event::new(
            SourceKind::Evtx,
            Timestamp::UNIX_EPOCH,
            serde_json::json!({}),
        );
        e.ecs.host_name = Some("WS-1".into());
        e.ecs.user_name = Some("-".into());
        e.ecs.source_ip = Some("10.0.0.1".into());
        e.ecs.destination_ip = Some("10.0.0.1".into());
        let ents = e.entities();
        assert_eq!(ents.len(), 2);
        assert!(ents.contains(&Entity::new(EntityKind::Host, "ws-1")));
    }

    #[test]
    fn entities_name_the_acting_side_first() {
        let mut e = Event::new(
            SourceKind::Json,
            Timestamp::UNIX_EPOCH,
            serde_json::json!({}),
        );
        e.ecs.host_name = Some("WS-1".into());
        e.ecs.user_name = Some("mnguyen".into());
        e.ecs.source_ip = Some("10.0.0.7".into());
        e.ecs.destination_ip = Some("203.0.113.9".into());
        e.ecs.dns_question_name = Some("Evil.Example".into());
        let got: Vec<String> = e.entities().iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "ip:10.0.0.7",
                "user:mnguyen",
                "host:ws-1",
                "ip:203.0.113.9",
                "domain:evil.example"
            ]
        );
    }
}
