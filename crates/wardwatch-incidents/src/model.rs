//! The incident: what analysts work on instead of single alerts.
//!
//! Why: a hospital IT team with no 24/7 SOC cannot triage a flood of alerts; it can read one
//! story — who, where, in what order, how bad — and act on it. An [`Incident`] is that story
//! as data: the entities involved in order of appearance, a deduplicated timeline of
//! [`Step`]s, the score with its reasons, and an append-only history of everything that
//! happened to it (grouping and analyst actions alike). It crosses the store and the API, so
//! it derives `Serialize`; new fields get `#[serde(default)]` to keep stored incidents readable.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use wardwatch_core::{AlertId, Severity};

/// At most this many alert ids are kept per incident; [`Incident::alert_count`] stays exact.
pub const MAX_ALERT_IDS: usize = 1000;

/// At most this many hosts, users and addresses each are listed per incident (a scan of a
/// whole subnet stays one readable incident); further ones still join it.
pub const MAX_ENTITIES: usize = 1000;

/// At most this many timeline steps per incident; beyond, an alert of a rule already seen on
/// its host counts on that step whoever the user.
pub const MAX_STEPS: usize = 500;

/// At most this many process GUIDs are remembered per incident for causal links.
pub const MAX_PROCESS_GUIDS: usize = 5000;

/// Where an incident is in the analysts' workflow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    #[default]
    New,
    Acknowledged,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an analyst concluded when resolving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    TruePositive,
    FalsePositive,
    Benign,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::TruePositive => "true-positive",
            Resolution::FalsePositive => "false-positive",
            Resolution::Benign => "benign",
        }
    }
}

/// One contribution to the score, in plain words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorePart {
    /// What kind of contribution: `rule`, `asset`, `breadth`, `off-hours`.
    pub name: String,
    /// Points it adds (negative for an asset less critical than average); the parts add up to
    /// [`Incident::score`].
    pub value: f64,
    pub reason: String,
}

/// An analyst's note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub author: String,
    pub at: Timestamp,
    pub text: String,
}

/// One change to an incident: `created`, `grew`, `merged`, `merged-into`, `closed`,
/// `acknowledged`, `resolved`, `reopened`, `assigned`, `commented`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: Timestamp,
    /// `wardwatch` for changes the grouper made, else the analyst.
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// One line of the timeline: every alert of one rule on one host by one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// How many alerts this step stands for.
    pub count: u64,
    pub rule_id: String,
    pub rule_title: String,
    pub level: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The facts of the first alert worth showing (see `group::STEP_FACTS`).
    #[serde(default)]
    pub facts: BTreeMap<String, String>,
    /// ATT&CK tactic short names (`credential-access`).
    #[serde(default)]
    pub tactics: Vec<String>,
    /// ATT&CK technique ids (`T1003.001`).
    #[serde(default)]
    pub techniques: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awareness: Option<String>,
}

/// Alerts about one story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// `inc-` (a privacy incident: [`PRIVACY_INCIDENT_PREFIX`]) + the id of the first alert:
    /// the same alerts always make the same incident.
    pub id: String,
    /// Made of patient-record privacy alerts (tag `privacy`) about one user, and nothing else:
    /// for the privacy officer's eyes, never in mail, webhooks, reports or anything shared.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privacy: bool,
    #[serde(rename = "organization.id", default = "default_org")]
    pub organization: String,
    pub title: String,
    pub severity: Severity,
    pub score: f64,
    pub score_parts: Vec<ScorePart>,
    pub status: Status,
    #[serde(default)]
    pub resolution: Option<Resolution>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    pub history: Vec<HistoryEntry>,
    /// When the grouper created it (the clock passed in, not event time).
    pub opened: Timestamp,
    /// Event time of the earliest alert.
    pub first_seen: Timestamp,
    /// Event time of the latest alert.
    pub last_seen: Timestamp,
    /// No alert joined for the quiet period, or merged into another; it can still be
    /// acknowledged and resolved, but no alert joins it any more.
    pub closed: bool,
    /// When it was merged away: the incident it lives on in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    pub alert_count: u64,
    /// The first [`MAX_ALERT_IDS`] alert ids.
    pub alert_ids: Vec<AlertId>,
    /// Host names (short, as first spelled; compared without case) in order of first appearance.
    pub hosts: Vec<String>,
    /// Account names (lowercased, without domain) in order of first appearance.
    pub users: Vec<String>,
    /// Source addresses in order of first appearance.
    pub ips: Vec<String>,
    /// ATT&CK tactic short names in first-seen order.
    pub tactics: Vec<String>,
    /// ATT&CK technique ids in first-seen order.
    pub techniques: Vec<String>,
    pub timeline: Vec<Step>,
    /// Process GUIDs seen (own and parent), for parent → child links.
    #[serde(default)]
    pub process_guids: Vec<String>,
    /// Mail recipients seen (lowercased), for mail → user links.
    #[serde(default)]
    pub emails: Vec<String>,
}

pub use wardwatch_core::PRIVACY_INCIDENT_PREFIX;

/// The tag of patient-record privacy alerts.
pub const PRIVACY_TAG: &str = "privacy";

/// Whether `alert` is a patient-record privacy alert.
pub fn is_privacy_alert(alert: &wardwatch_core::Alert) -> bool {
    alert.tags.iter().any(|t| t == PRIVACY_TAG)
}

fn default_org() -> String {
    wardwatch_core::DEFAULT_ORGANIZATION.to_string()
}

impl Incident {
    /// Append a history entry.
    pub(crate) fn log(&mut self, at: Timestamp, actor: &str, action: &str, detail: String) {
        self.history.push(HistoryEntry {
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            detail,
        });
    }

    /// The distinct rules of the timeline with the highest level each reached, in first-seen
    /// order.
    pub fn rules(&self) -> Vec<(&str, &str, Severity)> {
        let mut out: Vec<(&str, &str, Severity)> = Vec::new();
        for s in &self.timeline {
            match out.iter_mut().find(|(id, _, _)| *id == s.rule_id) {
                Some(r) => r.2 = r.2.max(s.level),
                None => out.push((&s.rule_id, &s.rule_title, s.level)),
            }
        }
        out
    }
}

/// Push `value` onto `list` unless it is already there.
pub(crate) fn push_unique(list: &mut Vec<String>, value: &str) -> bool {
    if list.iter().any(|v| v == value) {
        false
    } else {
        list.push(value.to_string());
        true
    }
}
