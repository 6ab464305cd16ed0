//! How bad an incident is, as a number with its reasons.
//!
//! Why: analysts open the highest score first, so the number must rank a phish that reached
//! the PACS above forty low alerts on one laptop — and say why, or nobody trusts it.
//!
//! ```text
//! score = base × asset × breadth + off-hours
//! base     = Σ over distinct rules of the weight of its highest level
//!            (informational 1, low 2, medium 5, high 10, critical 20)
//! asset    = criticality of the most critical involved host / 3 (unknown hosts: 3)
//! breadth  = 1 + 0.3 × (tactics − 1) + 0.2 × (hosts − 1) + 0.2 × (users − 1),
//!            hosts and users each counted at most 6 (a spray over 30 accounts is one story)
//! off-hours = 20 % of base × asset × breadth when an alert happened 20:00–06:00 UTC
//! ```
//! Off-hours is judged in UTC so that scores do not depend on the server's time zone; for a
//! hospital in Central Europe that is 21:00–07:00 local time in winter.
//!
//! [`Incident::score_parts`] lists the contributions as points that add up to the score.
//! [`severity`] raises the highest alert level by one when the score reaches [`HIGH_SCORE`].

use std::fmt::Write as _;

use wardwatch_core::Severity;

use crate::attack;
use crate::context::{Context, DEFAULT_CRITICALITY};
use crate::model::{Incident, ScorePart};

/// A score from which the incident's severity is one level above its highest alert: about
/// what three high alerts across two tactics on an ordinary asset reach (3 × 10 × 1.3 = 39
/// does not; add a critical asset or a third tactic and it does).
pub const HIGH_SCORE: f64 = 50.0;

/// Hosts and users beyond this many add no breadth.
const BREADTH_CAP: usize = 6;

/// The weight of one rule at `level`.
pub fn weight(level: Severity) -> f64 {
    match level {
        Severity::Informational => 1.0,
        Severity::Low => 2.0,
        Severity::Medium => 5.0,
        Severity::High => 10.0,
        Severity::Critical => 20.0,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The score of `incident` and its parts (rounded to hundredths; parts add up to the score
/// within rounding).
pub fn score(incident: &Incident, ctx: &Context) -> (f64, Vec<ScorePart>) {
    let mut parts = Vec::new();
    let mut base = 0.0;
    for (id, title, level) in incident.rules() {
        let w = weight(level);
        base += w;
        parts.push(ScorePart {
            name: "rule".into(),
            value: w,
            reason: format!("{title} ({level}, rule {id})"),
        });
    }

    // The most critical involved host; the first in order of appearance wins ties.
    let mut crit = DEFAULT_CRITICALITY;
    let mut why_crit = String::from("no host in the inventory: criticality 3");
    let mut best: Option<u8> = None;
    for h in &incident.hosts {
        if let Some(a) = ctx.inventory.asset_for_host(h)
            && best.is_none_or(|b| a.criticality > b)
        {
            best = Some(a.criticality);
            crit = a.criticality;
            why_crit = format!("{h}: {} criticality {}", a.class, a.criticality);
        }
    }
    let asset = f64::from(crit) / 3.0;
    if crit != DEFAULT_CRITICALITY {
        parts.push(ScorePart {
            name: "asset".into(),
            value: round2(base * (asset - 1.0)),
            reason: format!("×{:.2}, {why_crit}", asset),
        });
    }

    let tactics = incident.tactics.len();
    let hosts = incident.hosts.len().min(BREADTH_CAP);
    let users = incident.users.len().min(BREADTH_CAP);
    let breadth = 1.0
        + 0.3 * tactics.saturating_sub(1) as f64
        + 0.2 * hosts.saturating_sub(1) as f64
        + 0.2 * users.saturating_sub(1) as f64;
    if breadth > 1.0 {
        let mut reason = format!("×{breadth:.2}");
        if tactics > 1 {
            let words: Vec<&str> = incident
                .tactics
                .iter()
                .map(|t| attack::tactic(t).map_or(t.as_str(), |t| t.words))
                .collect();
            let _ = write!(reason, ", {tactics} ATT&CK tactics: {}", words.join(", "));
        }
        if hosts > 1 {
            let _ = write!(
                reason,
                ", {}",
                plural(incident.hosts.len(), "host", "hosts")
            );
        }
        if users > 1 {
            let _ = write!(
                reason,
                ", {}",
                plural(incident.users.len(), "user", "users")
            );
        }
        parts.push(ScorePart {
            name: "breadth".into(),
            value: round2(base * asset * (breadth - 1.0)),
            reason,
        });
    }

    let mut total = base * asset * breadth;
    let night: u64 = incident
        .timeline
        .iter()
        .filter(|s| off_hours(s.first_seen) || off_hours(s.last_seen))
        .map(|s| s.count)
        .sum();
    if night > 0 {
        let bonus = total * 0.2;
        total += bonus;
        parts.push(ScorePart {
            name: "off-hours".into(),
            value: round2(bonus),
            reason: format!(
                "+20 %, {} between 20:00 and 06:00 UTC",
                plural(night as usize, "alert", "alerts")
            ),
        });
    }
    (round2(total), parts)
}

/// Whether `t` falls between 20:00 and 06:00 UTC.
pub fn off_hours(t: jiff::Timestamp) -> bool {
    let hour = t.to_zoned(jiff::tz::TimeZone::UTC).hour();
    !(6..20).contains(&hour)
}

/// The incident's severity: its highest alert level, one level higher when `score` reaches
/// [`HIGH_SCORE`].
pub fn severity(highest: Severity, score: f64) -> Severity {
    if score < HIGH_SCORE {
        return highest;
    }
    match highest {
        Severity::Informational => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn parts_add_up_and_say_why() {
        let ctx = hospital();
        let mut g = grouper();
        let t = at("2026-03-02T10:00:00Z");
        g.add(
            &alert("r1", "Encoded PowerShell", Severity::High, t)
                .host("ws-rad-014")
                .user("jsmith")
                .tags(&["attack.execution", "attack.t1059.001"])
                .build(),
            &ctx,
            t,
        );
        let out = g.add(
            &alert("r2", "LSASS dump", Severity::Critical, t)
                .host("pacs01")
                .user("jsmith")
                .tags(&["attack.credential_access"])
                .build(),
            &ctx,
            t,
        );
        let inc = &out[0];
        // base 30, pacs criticality 5 → ×5/3, breadth 1 + 0.3 + 0.2 = 1.5
        assert_eq!(inc.score, 75.0);
        let sum: f64 = inc.score_parts.iter().map(|p| p.value).sum();
        assert!((sum - inc.score).abs() < 0.05, "{sum} vs {}", inc.score);
        let reasons: Vec<&str> = inc.score_parts.iter().map(|p| p.reason.as_str()).collect();
        assert!(
            reasons.iter().any(|r| r.contains("pacs criticality 5")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(
                |r| r.contains("2 ATT&CK tactics: execution, credential access")
                    && r.contains("2 hosts")
            ),
            "{reasons:?}"
        );
        assert_eq!(inc.severity, Severity::Critical);
    }

    #[test]
    fn off_hours_in_utc_and_severity_raise() {
        assert!(off_hours(at("2026-03-02T02:37:00Z")));
        assert!(off_hours(at("2026-03-02T20:00:00Z")));
        assert!(!off_hours(at("2026-03-02T06:00:00Z")));
        assert_eq!(severity(Severity::Medium, 49.9), Severity::Medium);
        assert_eq!(severity(Severity::Medium, 50.0), Severity::High);
        assert_eq!(severity(Severity::Critical, 500.0), Severity::Critical);
    }

    #[test]
    fn a_single_low_alert_on_an_unknown_host_scores_its_weight() {
        let ctx = Context::default();
        let mut g = grouper();
        let t = at("2026-03-02T10:00:00Z");
        let out = g.add(
            &alert("r1", "x", Severity::Low, t).host("ws-9").build(),
            &ctx,
            t,
        );
        assert_eq!(out[0].score, 2.0);
        assert_eq!(out[0].score_parts.len(), 1);
    }
}
