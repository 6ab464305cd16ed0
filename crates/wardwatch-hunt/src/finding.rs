//! A finding: one alert plus what an analyst needs to read it in a hunt's output.

use serde::Serialize;
use wardwatch_core::{Alert, Event};
use wardwatch_detect::{Detection, fields};

/// The event fields worth showing beside an alert, in order of usefulness; the first few present
/// make up [`Finding::details`].
const DETAIL_FIELDS: &[&str] = &[
    "CommandLine",
    "Image",
    "ParentImage",
    "ParentCommandLine",
    "TargetFilename",
    "TargetObject",
    "Details",
    "ImageLoaded",
    "TargetImage",
    "GrantedAccess",
    "PipeName",
    "QueryName",
    "DestinationIp",
    "DestinationPort",
    "ServiceName",
    "ImagePath",
    "ServiceFileName",
    "TaskName",
    "TargetUserName",
    "SubjectUserName",
    "MemberName",
    "LogonType",
    "IpAddress",
    "WorkstationName",
    "ScriptBlockText",
    "Payload",
    "HostApplication",
    "ShareName",
    "RelativeTargetName",
    "ObjectName",
    "AccessMask",
    "Properties",
];

/// At most this many characters of details per finding.
const DETAILS_MAX: usize = 600;
/// At most this many fields in the details.
const DETAILS_FIELDS_MAX: usize = 5;

/// One row of a hunt's output.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule_id: String,
    pub rule_title: String,
    pub level: wardwatch_core::Severity,
    pub timestamp: jiff::Timestamp,
    pub host: Option<String>,
    pub user: Option<String>,
    pub file: String,
    pub record_id: Option<u64>,
    pub event_id: Option<String>,
    pub channel: Option<String>,
    pub tags: Vec<String>,
    /// `Field: value` pairs from the event that explain the match.
    pub details: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<String>,
    /// For correlations: `field=value` of the group that crossed the threshold, and the count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<String>,
    pub alert_id: String,
    #[serde(skip)]
    pub alert: Alert,
}

impl Finding {
    pub fn new(detection: &Detection, event: &Event) -> Self {
        let alert = detection.to_alert(event);
        let details = match (&detection.correlation, &detection.finding) {
            // An analytic that counts across events: its counts and targets, not one record's.
            (_, Some(found)) => found
                .facts
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(" ¦ "),
            (Some(_), None) => String::new(),
            (None, None) => details(event),
        };
        let correlation = detection.correlation.as_ref().map(|c| {
            let group: Vec<String> = c.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(
                "{} (value {} within {}s)",
                group.join(" "),
                c.value,
                c.timespan_secs
            )
        });
        Finding {
            rule_id: alert.rule_id.clone(),
            rule_title: alert.rule_title.clone(),
            level: alert.level,
            timestamp: alert.timestamp,
            host: alert.host.clone(),
            user: event.ecs.user_name.clone(),
            file: event.origin.source.clone(),
            record_id: event.origin.record_id,
            event_id: event.ecs.event_code.clone(),
            channel: event.ecs.channel.clone(),
            tags: alert.tags.clone(),
            details,
            recommendation: alert.recommendation.clone(),
            correlation,
            alert_id: alert.id.0.clone(),
            alert,
        }
    }

    /// The sort key of hunt output: time, then rule, then record.
    pub fn order_key(&self) -> (jiff::Timestamp, &str, &str, &str, Option<u64>) {
        (
            self.timestamp,
            &self.rule_title,
            &self.rule_id,
            &self.file,
            self.record_id,
        )
    }
}

fn details(event: &Event) -> String {
    let mut out = String::new();
    let mut n = 0;
    for f in DETAIL_FIELDS {
        if n == DETAILS_FIELDS_MAX || out.len() >= DETAILS_MAX {
            break;
        }
        if let Some(v) = fields::lookup(event, f) {
            let v = v.trim();
            if v.is_empty() || v == "-" {
                continue;
            }
            if !out.is_empty() {
                out.push_str(" ¦ ");
            }
            out.push_str(f);
            out.push_str(": ");
            out.push_str(v);
            n += 1;
        }
    }
    if out.is_empty()
        && let Some(m) = &event.ecs.message
    {
        out.push_str(m);
    }
    if out.len() > DETAILS_MAX {
        let mut cut = DETAILS_MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}
