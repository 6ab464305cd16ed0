//! The incident told in plain words: what happened, who and what, why it matters, what to do.
//!
//! Why: the people who read this are a hospital's IT staff, helpdesk and managers, not SOC
//! analysts. They need the story in order ("10:14 On WS-RAD-014 (workstation, Radiology),
//! jsmith opened https://… from Outlook"), the people and machines named as they know them
//! (roster and inventory), why it matters in a hospital, and what each of them should do now.
//! The narrative is built only from the incident and the context — no clock, no hash-map
//! order — so the same incident always reads the same, in the console, in e-mail and in tests.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::model::Incident;

mod advice;
mod steps;
mod story;
mod title;
mod words;

pub use steps::MAX_STEPS;
pub(crate) use title::short_title;

use advice::{addressee, what_to_do, who_and_what, why_it_matters};
use story::what_happened;
pub(crate) use words::clock;
use words::{capitalize, day, list, targeted, tried_count};

/// Who a list of steps is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ItTeam,
    Helpdesk,
    Manager,
}

impl Role {
    /// The heading used in text ("IT team").
    pub fn words(self) -> &'static str {
        match self {
            Role::ItTeam => "IT team",
            Role::Helpdesk => "Helpdesk",
            Role::Manager => "Manager",
        }
    }
}

/// What one role should do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSteps {
    pub role: Role,
    pub steps: Vec<String>,
}

/// An incident in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Narrative {
    pub title: String,
    pub summary: String,
    pub what_happened: Vec<String>,
    pub who_and_what: Vec<String>,
    pub why_it_matters: Vec<String>,
    pub what_to_do: Vec<RoleSteps>,
    /// A note for the person whose action started it, addressed by name.
    pub awareness: Option<String>,
}

/// Tell `incident` in words, using `ctx` to name people and machines.
pub fn narrate(incident: &Incident, ctx: &Context) -> Narrative {
    let dated = day(incident.first_seen) != day(incident.last_seen);
    let rules = incident.rules().len();
    let when = if dated {
        format!(
            "from {} to {} UTC",
            clock(incident.first_seen, true),
            clock(incident.last_seen, true)
        )
    } else if clock(incident.first_seen, false) == clock(incident.last_seen, false) {
        format!(
            "on {} at {} UTC",
            day(incident.first_seen),
            clock(incident.first_seen, false)
        )
    } else {
        format!(
            "on {} between {} and {} UTC",
            day(incident.first_seen),
            clock(incident.first_seen, false),
            clock(incident.last_seen, false)
        )
    };
    let mut summary = format!(
        "{} incident, score {:.1}: {} alert{} from {rules} rule{} {when}",
        capitalize(incident.severity.as_str()),
        incident.score,
        incident.alert_count,
        if incident.alert_count == 1 { "" } else { "s" },
        if rules == 1 { "" } else { "s" },
    );
    if !incident.hosts.is_empty() {
        let _ = write!(summary, ", on {}", list(&incident.hosts, 4));
    }
    let tried = targeted(incident);
    let people: Vec<String> = incident
        .users
        .iter()
        .filter(|u| !tried.contains(u))
        .map(|u| match ctx.roster.person(u) {
            Some(p) => format!("{} ({u})", p.name),
            None => u.clone(),
        })
        .collect();
    if !people.is_empty() {
        let _ = write!(summary, ", involving {}", list(&people, 4));
    }
    if !tried.is_empty() {
        let _ = write!(
            summary,
            "; {} accounts were tried",
            tried_count(incident, &tried)
        );
    }
    summary.push('.');

    let to = addressee(incident, ctx);
    let awareness = incident
        .timeline
        .first()
        .and_then(|s| s.awareness.as_deref())
        .map(|note| match &to {
            Some(who) => format!("For {who}: {}", note.trim()),
            None => note.trim().to_string(),
        });
    let manager_name = to.as_deref().map(|t| t.split(" (").next().unwrap_or(t));
    Narrative {
        title: incident.title.clone(),
        summary,
        what_happened: what_happened(incident, ctx),
        who_and_what: distinct(who_and_what(incident, ctx)),
        why_it_matters: why_it_matters(incident, ctx),
        what_to_do: what_to_do(incident, ctx, manager_name),
        awareness,
    }
}

impl Narrative {
    /// Plain text with headed sections, for the terminal and e-mail.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.title);
        let _ = writeln!(out, "{}", "=".repeat(self.title.chars().count()));
        let _ = writeln!(out, "{}", self.summary);
        let section = |out: &mut String, head: &str, items: &[String]| {
            if items.is_empty() {
                return;
            }
            let _ = writeln!(out, "\n{head}\n{}", "-".repeat(head.chars().count()));
            for i in items {
                let _ = writeln!(out, "- {i}");
            }
        };
        section(&mut out, "What happened", &self.what_happened);
        section(&mut out, "Who and what", &self.who_and_what);
        section(&mut out, "Why it matters", &self.why_it_matters);
        let _ = writeln!(out, "\nWhat to do now\n--------------");
        for r in &self.what_to_do {
            let _ = writeln!(out, "{}:", r.role.words());
            for (n, s) in r.steps.iter().enumerate() {
                let _ = writeln!(out, "  {}. {s}", n + 1);
            }
        }
        if let Some(a) = &self.awareness {
            let _ = writeln!(out, "\nAwareness note\n--------------\n{a}");
        }
        out
    }
}

/// The lines in their order, each once (two rules on one event describe it twice).
fn distinct(lines: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    for l in lines {
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::words::*;
    use crate::testkit::{alert, at, grouper, hospital};
    use wardwatch_core::Severity::{High, Medium};

    #[test]
    fn accounts_a_spraying_correlation_names_are_tried_not_involved() {
        // The correlation's alert names the accounts it saw tried (entities after the event's
        // own); they have no step of their own. The account that then logged on is involved.
        let ctx = hospital();
        let mut g = grouper();
        let t = at("2026-03-02T22:00:00Z");
        let spray = alert("spray", "Password spraying", Medium, t)
            .host("dc01")
            .user("gmorales")
            .user("clong")
            .user("ethomas")
            .ip("10.9.9.9")
            .fact("event.code", "4625")
            .fact("correlation.accounts", "3")
            .build();
        g.add(&spray, &ctx, t);
        let t2 = at("2026-03-02T22:05:00Z");
        let logon = alert("success", "Logon after spraying", High, t2)
            .host("dc01")
            .user("dross")
            .ip("10.9.9.9")
            .fact("event.code", "4624")
            .build();
        let out = g.add(&logon, &ctx, t2);
        let inc = out.last().expect("an incident");
        let tried = targeted(inc);
        assert!(tried.contains(&"clong".to_string()) && tried.contains(&"ethomas".to_string()));
        assert!(!tried.contains(&"dross".to_string()));
        let n = super::narrate(inc, &ctx);
        assert!(n.summary.contains("dross"), "{}", n.summary);
        assert!(!n.summary.contains("clong"), "{}", n.summary);
        assert!(n.summary.contains("3 accounts were tried"), "{}", n.summary);
    }

    #[test]
    fn lists_read_as_words() {
        let v: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(list(&v[..1], 3), "a");
        assert_eq!(list(&v[..3], 3), "a, b and c");
        assert_eq!(list(&v, 2), "a, b and 2 more");
        assert_eq!(
            program(r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE"),
            "Outlook"
        );
        assert_eq!(shorten("abcdef", 3), "abc…");
    }
}
