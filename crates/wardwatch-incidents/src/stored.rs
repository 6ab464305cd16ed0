//! An incident as it is stored and shown: the grouper's side, the analysts' side, one view.
//!
//! Why two sides: the detection worker keeps growing an incident while analysts act on it. If
//! both wrote one document, one would overwrite the other. So the grouper writes an
//! [`IncidentDoc`] (the incident and its narrative) and the API writes a [`Lifecycle`]
//! (status, assignee, comments, people's history); an [`IncidentView`] lays the second over the
//! first, and analysts' actions run through the same rules as on an [`Incident`].

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::exception::Exception;
use crate::lifecycle::LifecycleError;
use crate::model::{Comment, HistoryEntry, Incident, Resolution, Status};
use crate::narrative::Narrative;

/// An exception as stored: its JSON document, and the counters the store keeps beside it
/// (how many alerts it stopped, and when last, ns since the epoch). The error names the
/// exception and what did not parse.
pub fn exception_from_json(
    id: &str,
    doc: &str,
    suppressed: u64,
    last_suppressed_ns: Option<i64>,
) -> Result<Exception, String> {
    let mut e: Exception = serde_json::from_str(doc)
        .map_err(|err| format!("exception `{id}`: stored document unreadable: {err}"))?;
    e.suppressed = suppressed;
    e.last_suppressed = last_suppressed_ns.and_then(|n| Timestamp::from_nanosecond(n.into()).ok());
    Ok(e)
}

/// What the detection worker stores for an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDoc {
    pub incident: Incident,
    pub narrative: Narrative,
}

/// The analysts' side of an incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub status: Status,
    #[serde(default)]
    pub resolution: Option<Resolution>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    /// People's actions only; the grouper's history stays in the [`IncidentDoc`].
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// An incident with the analysts' side laid over it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentView {
    /// The merged incident: status, assignee and comments from the analysts, history from
    /// both, in time order.
    pub incident: Incident,
    pub narrative: Narrative,
    pub lifecycle: Lifecycle,
}

impl IncidentView {
    /// The view of a stored incident: the grouper's JSON document and, when anyone acted yet,
    /// the analysts' JSON document. The error names what did not parse.
    pub fn from_json(id: &str, doc: &str, lifecycle: Option<&str>) -> Result<IncidentView, String> {
        let doc: IncidentDoc = serde_json::from_str(doc)
            .map_err(|e| format!("incident `{id}`: stored document unreadable: {e}"))?;
        let lifecycle = match lifecycle {
            Some(l) => serde_json::from_str(l)
                .map_err(|e| format!("incident `{id}`: stored lifecycle unreadable: {e}"))?,
            None => Lifecycle::default(),
        };
        Ok(IncidentView::new(doc, lifecycle))
    }

    /// Lay `lifecycle` over `doc`.
    pub fn new(doc: IncidentDoc, lifecycle: Lifecycle) -> IncidentView {
        let mut incident = doc.incident;
        incident.status = lifecycle.status;
        incident.resolution = lifecycle.resolution;
        incident.assignee = lifecycle.assignee.clone();
        incident.comments = lifecycle.comments.clone();
        incident.history.extend(lifecycle.history.iter().cloned());
        // Stable: entries at the same instant keep grouper-then-people order.
        incident.history.sort_by_key(|h| h.at);
        IncidentView {
            incident,
            narrative: doc.narrative,
            lifecycle,
        }
    }

    /// Apply an analyst's action (any of [`Incident`]'s lifecycle methods) and record it on
    /// the analysts' side, which is what the caller stores.
    pub fn act(
        &mut self,
        action: impl FnOnce(&mut Incident) -> Result<(), LifecycleError>,
    ) -> Result<(), LifecycleError> {
        let before = self.incident.history.len();
        action(&mut self.incident)?;
        self.lifecycle.status = self.incident.status;
        self.lifecycle.resolution = self.incident.resolution;
        self.lifecycle.assignee = self.incident.assignee.clone();
        self.lifecycle.comments = self.incident.comments.clone();
        self.lifecycle
            .history
            .extend(self.incident.history[before..].iter().cloned());
        Ok(())
    }

    /// What an incident list shows: identity, state, who and where, the narrative in text and
    /// the recommended steps per role.
    pub fn summary(&self) -> Value {
        let i = &self.incident;
        json!({
            "id": i.id,
            "title": i.title,
            "severity": i.severity,
            "score": (i.score * 10.0).round() / 10.0,
            "status": i.status,
            "resolution": i.resolution,
            "assignee": i.assignee,
            "closed": i.closed,
            "alert_count": i.alert_count,
            "first_seen": i.first_seen,
            "last_seen": i.last_seen,
            "hosts": i.hosts,
            "users": i.users,
            "ips": i.ips,
            "emails": i.emails,
            "tactics": i.tactics,
            "summary": self.narrative.summary,
            "narrative": self.narrative.to_text(),
            "recommendations": self.narrative.what_to_do,
            "awareness": self.narrative.awareness,
        })
    }

    /// Everything: the summary plus the timeline, score parts, history, comments and the
    /// narrative's sections.
    pub fn full(&self) -> Value {
        let mut v = self.summary();
        let i = &self.incident;
        if let Value::Object(m) = &mut v {
            m.insert("organization.id".into(), json!(i.organization));
            m.insert("opened".into(), json!(i.opened));
            m.insert("merged_into".into(), json!(i.merged_into));
            m.insert("techniques".into(), json!(i.techniques));
            m.insert("score_parts".into(), json!(i.score_parts));
            m.insert("timeline".into(), json!(i.timeline));
            m.insert("history".into(), json!(i.history));
            m.insert("comments".into(), json!(i.comments));
            m.insert("narrative_sections".into(), json!(self.narrative));
            m.insert("alert_ids".into(), json!(i.alert_ids));
        }
        v
    }

    /// The incident for a terminal or an e-mail: a header, the narrative, the score's reasons
    /// and the history.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let i = &self.incident;
        let mut out = String::new();
        let _ = writeln!(out, "{}  {}", i.id, i.title);
        let _ = writeln!(
            out,
            "severity {} · score {:.1} · {} · {} alert(s) · {} → {}{}",
            i.severity.as_str(),
            i.score,
            status_words(i),
            i.alert_count,
            short(i.first_seen),
            short(i.last_seen),
            if i.closed { " · closed (quiet)" } else { "" }
        );
        if let Some(a) = &i.assignee {
            let _ = writeln!(out, "assigned to {a}");
        }
        if let Some(m) = &i.merged_into {
            let _ = writeln!(out, "merged into {m}");
        }
        out.push('\n');
        out.push_str(&self.narrative.to_text());
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("\nScore\n");
        for p in &i.score_parts {
            let _ = writeln!(out, "  {:>+7.1}  {}", p.value, p.reason);
        }
        if !i.comments.is_empty() {
            out.push_str("\nComments\n");
            for c in &i.comments {
                let _ = writeln!(out, "  {} {}: {}", short(c.at), c.author, c.text);
            }
        }
        out.push_str("\nHistory\n");
        for h in &i.history {
            let detail = if h.detail.is_empty() {
                String::new()
            } else {
                format!(" — {}", h.detail)
            };
            let _ = writeln!(out, "  {} {} {}{detail}", short(h.at), h.actor, h.action);
        }
        out
    }
}

fn status_words(i: &Incident) -> String {
    match (i.status, i.resolution) {
        (Status::Resolved, Some(r)) => format!("resolved ({})", r.as_str()),
        (s, _) => s.as_str().to_string(),
    }
}

fn short(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}
