//! Alerts: what a rule (or an analytic) says about an event.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::entity::Entity;
use crate::event::Origin;
use crate::severity::Severity;

/// A deterministic alert id: the same rule on the same event always gives the same id, so a
/// replay after a crash cannot create a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlertId(pub String);

impl AlertId {
    /// The id of `rule_id` firing on the event found at `origin` at `time`: a 64-bit FNV-1a hash
    /// of the three, in hex. Stable across runs, platforms and versions.
    pub fn derive(rule_id: &str, origin: &Origin, time: Timestamp) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        };
        feed(rule_id.as_bytes());
        feed(origin.source.as_bytes());
        feed(&origin.record_id.unwrap_or(u64::MAX).to_le_bytes());
        feed(&origin.offset.unwrap_or(u64::MAX).to_le_bytes());
        feed(&time.as_nanosecond().to_le_bytes());
        AlertId(format!("{h:016x}"))
    }
}

impl AlertId {
    /// The id of `rule_id` firing on the journal entry `seq` of a live store: a stored event
    /// keeps its sequence number, so re-detecting it after a crash gives the same id.
    pub fn for_journal(rule_id: &str, seq: i64) -> Self {
        let origin = Origin {
            source: "journal".into(),
            record_id: Some(seq as u64),
            offset: None,
            id: None,
        };
        AlertId::derive(rule_id, &origin, Timestamp::UNIX_EPOCH)
    }
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the event an alert matched can be found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub origin: Origin,
    /// Windows Event ID or the source's own event code, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_code: Option<String>,
    /// The channel or log the event came from, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// The rule id prefix of the patient-record privacy analytics' alerts (tag `privacy`): they
/// are kept apart (their own incidents, no mail or report, privacy officers and admins only).
pub const PRIVACY_RULE_PREFIX: &str = "analytic-privacy-";

/// The id prefix of the incidents made of privacy alerts (one per user).
pub const PRIVACY_INCIDENT_PREFIX: &str = "priv-";

/// A rule matched an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: AlertId,
    pub rule_id: String,
    pub rule_title: String,
    pub level: Severity,
    /// ATT&CK tags as written in the rule (`attack.t1059.001`, `attack.execution`).
    pub tags: Vec<String>,
    /// When the matched event happened.
    pub timestamp: Timestamp,
    #[serde(rename = "organization.id")]
    pub organization: String,
    /// The host the event came from, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub entities: Vec<Entity>,
    pub event: EventRef,
    /// What to do, in plain words, when the rule says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<String>,
    /// A note for the person whose action caused the alert, when the rule has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awareness: Option<String>,
    /// What the matched event says, by field name: its ECS fields (`process.command_line`,
    /// `url.full`, `source.ip`...) and the source fields incidents link on and narratives
    /// quote (`ProcessGuid`, `ParentProcessGuid`, `LogonType`, `WorkstationName`,
    /// `TargetUserName`...). See [`FACT_FIELDS`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
}

/// Source fields (Sigma names) copied into [`Alert::facts`] when the event has them, besides
/// its ECS fields: what links alerts causally (process GUIDs, logon source) and what a
/// narrative names (the command, the target account, the service installed).
pub const FACT_FIELDS: &[&str] = &[
    "ProcessGuid",
    "ParentProcessGuid",
    "ProcessId",
    "ParentProcessId",
    "Image",
    "ParentImage",
    "CommandLine",
    "ParentCommandLine",
    "TargetImage",
    "SourceImage",
    "TargetFilename",
    "TargetObject",
    "LogonType",
    "IpAddress",
    "WorkstationName",
    "TargetUserName",
    "TargetDomainName",
    "SubjectUserName",
    "MemberName",
    "MemberSid",
    "TargetSid",
    "ServiceName",
    "ImagePath",
    "ShareName",
    "RelativeTargetName",
    "DestinationHostname",
    "DestinationIp",
    "DestinationPort",
    "QueryName",
    "email.from.address",
    "email.to.address",
    "email.subject",
];

impl Alert {
    /// ATT&CK technique ids in the tags (`T1059.001`), upper-cased, in tag order.
    pub fn techniques(&self) -> Vec<String> {
        self.tags
            .iter()
            .filter_map(|t| t.strip_prefix("attack."))
            .filter(|t| {
                t.len() >= 5
                    && t.as_bytes()[0].eq_ignore_ascii_case(&b't')
                    && t.as_bytes()[1].is_ascii_digit()
            })
            .map(|t| t.to_ascii_uppercase())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_are_deterministic_and_distinct() {
        let o = Origin {
            source: "a.evtx".into(),
            record_id: Some(7),
            offset: None,
            id: None,
        };
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(AlertId::derive("r1", &o, t), AlertId::derive("r1", &o, t));
        assert_ne!(AlertId::derive("r1", &o, t), AlertId::derive("r2", &o, t));
        let o2 = Origin {
            record_id: Some(8),
            ..o.clone()
        };
        assert_ne!(AlertId::derive("r1", &o, t), AlertId::derive("r1", &o2, t));
        assert_eq!(AlertId::derive("r1", &o, t).0.len(), 16);
    }

    #[test]
    fn techniques_come_from_attack_tags() {
        let a = Alert {
            id: AlertId("x".into()),
            rule_id: "r".into(),
            rule_title: "t".into(),
            level: Severity::High,
            tags: vec![
                "attack.execution".into(),
                "attack.t1059.001".into(),
                "cve.2021-1".into(),
            ],
            timestamp: Timestamp::UNIX_EPOCH,
            organization: "default".into(),
            host: None,
            entities: vec![],
            event: EventRef {
                origin: Origin::default(),
                event_code: None,
                channel: None,
            },
            recommendation: None,
            awareness: None,
            facts: BTreeMap::new(),
        };
        assert_eq!(a.techniques(), vec!["T1059.001".to_string()]);
    }
}
