//! The overview: what matters today at a glance — open incidents by severity, alerts over
//! time, the busiest hosts and users, the health of every source (quiet ones first), and the
//! day's noteworthy observations: low incidents rolled up per rule and host, out of the
//! analysts' queue.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use serde::Deserialize;
use wardwatch_core::Severity;
use wardwatch_store::{IncidentFilter, StoredIncident};

use super::health::QUIET_AFTER;
use super::{DAY_NS, HOUR_NS, PageResult, level_name, now_ns};
use crate::page::{
    bar_chart, esc, host_link, layout, severity, url_encode, user_link, when, when_ns,
};
use crate::{ApiError, ApiState, Principal, incident_view};

/// Per kind of source: senders, events, events/s, quiet senders, newest (ns).
type KindHealth = (usize, u64, f64, usize, i64);

#[derive(Debug, Deserialize, Default)]
pub(crate) struct OverviewParams {
    range: Option<String>,
}

/// One roll-up: the low incidents of one rule on one host on one day.
pub(crate) struct RollUp {
    pub day: String,
    pub rule_id: String,
    pub rule_title: String,
    pub host: String,
    pub incidents: Vec<(StoredIncident, wardwatch_incidents::IncidentView)>,
}

impl RollUp {
    /// Open while any of its incidents still takes alerts; it closes itself when nothing
    /// follows for the grouper's quiet period.
    pub fn open(&self) -> bool {
        self.incidents.iter().any(|(s, _)| !s.closed)
    }

    pub fn alerts(&self) -> u64 {
        self.incidents
            .iter()
            .map(|(_, v)| v.incident.alert_count)
            .sum()
    }

    pub fn link(&self) -> String {
        format!(
            "/noteworthy?day={}&rule={}&host={}",
            url_encode(&self.day),
            url_encode(&self.rule_id),
            url_encode(&self.host)
        )
    }
}

/// The low incidents since `from`, rolled up per day, rule and host (newest day first).
pub(crate) fn roll_ups(
    db: &(impl wardwatch_store::IncidentStore + ?Sized),
    who: &Principal,
    from: i64,
) -> Result<Vec<RollUp>, ApiError> {
    let page = db.list_incidents(&IncidentFilter {
        max_severity: Some(Severity::Low),
        from: Some(from),
        limit: 1000,
        orgs: who.orgs(),
        ..IncidentFilter::default()
    })?;
    let mut groups: BTreeMap<(String, String, String), RollUp> = BTreeMap::new();
    for stored in page.incidents {
        let view = incident_view(&stored).map_err(ApiError::Internal)?;
        let step = view.incident.timeline.first();
        let rule_id = step.map(|s| s.rule_id.clone()).unwrap_or_default();
        let rule_title = step.map(|s| s.rule_title.clone()).unwrap_or_default();
        let host = view
            .incident
            .hosts
            .first()
            .cloned()
            .unwrap_or_else(|| "-".into());
        let day = view.incident.last_seen.strftime("%Y-%m-%d").to_string();
        groups
            .entry((day.clone(), rule_id.clone(), host.to_lowercase()))
            .or_insert_with(|| RollUp {
                day,
                rule_id,
                rule_title,
                host,
                incidents: Vec::new(),
            })
            .incidents
            .push((stored, view));
    }
    let mut out: Vec<RollUp> = groups.into_values().collect();
    out.sort_by(|a, b| b.day.cmp(&a.day).then(b.alerts().cmp(&a.alerts())));
    Ok(out)
}

pub(crate) async fn page(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<OverviewParams>,
) -> PageResult {
    let range = if p.range.as_deref() == Some("7d") {
        "7d"
    } else {
        "24h"
    };
    let now = now_ns();
    let (span, bucket, label_every) = if range == "7d" {
        (7 * DAY_NS, 6 * HOUR_NS, 4)
    } else {
        (DAY_NS, HOUR_NS, 3)
    };
    let from = (now - span) / bucket * bucket + bucket;
    let viewer = who.clone();
    let inner = s.inner.clone();
    let data = s
        .with_db(move |db| {
            let orgs = viewer.orgs();
            let counts = db.open_incident_counts(orgs.as_deref())?;
            let hist = db.alert_histogram(from - bucket, now, bucket, orgs.as_deref())?;
            let week = now - 7 * DAY_NS;
            let hosts = db.top_alert_hosts(week, 8, orgs.as_deref())?;
            let users = db.top_alert_users(week, 8, orgs.as_deref())?;
            let senders = inner
                .health
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .refresh(db, now)?;
            let rolls = roll_ups(db, &viewer, now - 7 * DAY_NS)?;
            Ok((counts, hist, hosts, users, senders, rolls))
        })
        .await?;
    let (counts, hist, hosts, users, senders, rolls) = data;
    let mut senders: Vec<_> = senders.into_iter().filter(|x| who.sees(&x.org)).collect();
    let mut body = String::from("<h1>Overview</h1><div class=\"cards\">");
    // Open incidents by severity.
    body.push_str("<div class=\"card\"><h2>Open incidents</h2><table>");
    for level in (0..5).rev() {
        let n = counts.iter().find(|(l, _)| *l == level).map_or(0, |c| c.1);
        let name = level_name(level);
        let _ = write!(
            body,
            "<tr><td>{}</td><td><a href=\"/incidents?min_severity={name}&amp;max_severity={name}&amp;status=open\">{n}</a></td></tr>",
            severity(name)
        );
    }
    body.push_str("</table><p class=\"muted\">The analysts' queue shows medium and above; low ones are rolled up below.</p></div>");
    // Alerts over time.
    let bars: Vec<(String, u64)> = (0..(span / bucket))
        .map(|i| {
            let t = from - bucket + i * bucket;
            let n = hist.iter().find(|(b, _)| *b == t).map_or(0, |h| h.1);
            let label = jiff::Timestamp::from_nanosecond(t.into())
                .map(|ts| {
                    if range == "7d" {
                        ts.strftime("%a %Hh").to_string()
                    } else {
                        ts.strftime("%H:00").to_string()
                    }
                })
                .unwrap_or_default();
            (label, n)
        })
        .collect();
    let _ = write!(
        body,
        "<div class=\"card\" style=\"grid-column:span 2\"><h2>Alerts over the last {} · <a href=\"/?range=24h\">24 h</a> · <a href=\"/?range=7d\">7 d</a></h2>{}</div>",
        if range == "7d" { "7 days" } else { "24 hours" },
        bar_chart(&bars, 640, 140, label_every)
    );
    body.push_str("</div><div class=\"cards\" style=\"margin-top:14px\">");
    // Top hosts and users.
    body.push_str("<div class=\"card\"><h2>Hosts with most alerts (7 d)</h2><table>");
    for (h, n) in &hosts {
        let _ = write!(body, "<tr><td>{}</td><td>{n}</td></tr>", host_link(h));
    }
    if hosts.is_empty() {
        body.push_str("<tr><td class=\"muted\">no alerts</td></tr>");
    }
    body.push_str("</table></div><div class=\"card\"><h2>Users with most alerts (7 d)</h2><table>");
    for (u, n) in &users {
        let _ = write!(body, "<tr><td>{}</td><td>{n}</td></tr>", user_link(u));
    }
    if users.is_empty() {
        body.push_str("<tr><td class=\"muted\">no alerts</td></tr>");
    }
    body.push_str("</table></div></div>");
    // Noteworthy.
    let _ = write!(
        body,
        "<h2>Noteworthy (last 7 days): {} low incident(s) in {} daily roll-up(s), out of the queue</h2>",
        rolls.iter().map(|r| r.incidents.len()).sum::<usize>(),
        rolls.len()
    );
    body.push_str("<table><tr><th>Day</th><th>Rule</th><th>Host</th><th>Incidents</th><th>Alerts</th><th>State</th></tr>");
    for r in rolls.iter().take(30) {
        let _ = write!(
            body,
            "<tr><td>{}</td><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.day),
            r.link(),
            esc(&r.rule_title),
            host_link(&r.host),
            r.incidents.len(),
            r.alerts(),
            if r.open() {
                "open"
            } else {
                "<span class=\"muted\">closed itself</span>"
            }
        );
    }
    if rolls.is_empty() {
        body.push_str("<tr><td colspan=\"6\" class=\"muted\">nothing noteworthy</td></tr>");
    }
    body.push_str("</table>");
    // Source health.
    let listeners = s.inner.telemetry.stats();
    body.push_str("<h2>Sources</h2>");
    if let Some(map) = listeners.get("sources").and_then(|v| v.as_object()) {
        body.push_str("<table><tr><th>Listener</th><th>Received</th><th>Rejected</th><th>Dropped</th><th>Malformed</th></tr>");
        for (name, c) in map {
            let g = |k: &str| c.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
            let warn = |n: u64| {
                if n > 0 {
                    format!("<span class=\"warn\">{n}</span>")
                } else {
                    "0".into()
                }
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                g("received"),
                warn(g("rejected")),
                warn(g("dropped")),
                warn(g("malformed"))
            );
        }
        body.push_str("</table>");
    }
    cluster_section(&mut body, &listeners);
    senders.sort_by(|a, b| {
        let qa = now - a.last_received > QUIET_AFTER;
        let qb = now - b.last_received > QUIET_AFTER;
        qb.cmp(&qa)
            .then(b.last_received.cmp(&a.last_received))
            .then(a.host.cmp(&b.host))
    });
    let quiet = senders
        .iter()
        .filter(|x| now - x.last_received > QUIET_AFTER)
        .count();
    let _ = write!(
        body,
        "<p>{} sender(s) in the last 7 days; <span class=\"{}\">{quiet} quiet for over an hour</span>.</p>",
        senders.len(),
        if quiet > 0 { "quiet" } else { "ok" }
    );
    // Per kind of source: how many senders, how much, how many quiet.
    let mut kinds: BTreeMap<(String, String), KindHealth> = BTreeMap::new();
    for x in &senders {
        let k = kinds.entry((x.kind.clone(), x.source.clone())).or_default();
        k.0 += 1;
        k.1 += x.events;
        k.2 += x.rate;
        if now - x.last_received > QUIET_AFTER {
            k.3 += 1;
        }
        k.4 = k.4.max(x.last_received);
    }
    body.push_str("<table><tr><th>Kind</th><th>Via</th><th>Senders</th><th>Events (7 d)</th><th>Events/s</th><th>Last seen</th><th>Quiet</th></tr>");
    for ((kind, via), (n, events, rate, quiet, last)) in &kinds {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{n}</td><td>{events}</td><td>{rate:.1}</td><td>{}</td><td>{}</td></tr>",
            esc(kind),
            esc(via),
            when_ns(*last),
            if *quiet > 0 {
                format!("<span class=\"quiet\">{quiet} quiet</span>")
            } else {
                "<span class=\"ok\">none</span>".into()
            }
        );
    }
    body.push_str("</table>");
    let shown: Vec<_> = senders
        .iter()
        .filter(|x| now - x.last_received > QUIET_AFTER)
        .take(25)
        .collect();
    if !shown.is_empty() {
        body.push_str("<h2>Quiet senders: nothing for over an hour</h2><table><tr><th>Host</th><th>Kind</th><th>Via</th><th>Events (7 d)</th><th>Last seen</th></tr>");
        for x in &shown {
            let host = if x.host.is_empty() {
                "<span class=\"muted\">(no host)</span>".to_string()
            } else {
                host_link(&x.host)
            };
            let _ = write!(
                body,
                "<tr><td>{host}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"quiet\">{}</td></tr>",
                esc(&x.kind),
                esc(&x.source),
                x.events,
                when_ns(x.last_received)
            );
        }
        if quiet > shown.len() {
            let _ = write!(
                body,
                "<tr><td colspan=\"5\" class=\"muted\">and {} more</td></tr>",
                quiet - shown.len()
            );
        }
        body.push_str("</table>");
    }
    let _ = write!(
        body,
        "<p class=\"muted\">As of {} UTC.</p>",
        when(jiff::Timestamp::now())
    );
    Ok(layout(&who, "/", "Overview", &body))
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct RollUpParams {
    day: String,
    rule: String,
    host: String,
}

/// One roll-up opened: its incidents, a search for its events, an exception in one step.
pub(crate) async fn noteworthy(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<RollUpParams>,
) -> PageResult {
    let viewer = who.clone();
    let now = now_ns();
    let rolls = s
        .with_db(move |db| roll_ups(db, &viewer, now - 30 * DAY_NS))
        .await?;
    let Some(r) = rolls
        .into_iter()
        .find(|r| r.day == p.day && r.rule_id == p.rule && r.host.eq_ignore_ascii_case(&p.host))
    else {
        return Err(ApiError::NotFound(
            "no such noteworthy roll-up (it may be older than 30 days)".into(),
        )
        .into());
    };
    let mut body = format!(
        "<h1>Noteworthy: {} on {} ({})</h1><p>{} low incident(s), {} alert(s); {}.</p>",
        esc(&r.rule_title),
        host_link(&r.host),
        esc(&r.day),
        r.incidents.len(),
        r.alerts(),
        if r.open() {
            "still open"
        } else {
            "closed itself: nothing followed"
        }
    );
    if who.may(crate::auth::Access::Search) {
        let q = crate::page::term("host.name", &r.host);
        let _ = write!(
            body,
            "<p><a class=\"btn\" href=\"/search?q={}&amp;range=custom&amp;from={}&amp;to={}\">Search this host's events that day</a></p>",
            url_encode(&q),
            url_encode(&format!("{}T00:00:00Z", r.day)),
            url_encode(&format!("{}T23:59:59Z", r.day)),
        );
    }
    body.push_str("<table><tr><th>Incident</th><th>Last seen</th><th>Users</th><th>Alerts</th><th>State</th></tr>");
    for (st, v) in &r.incidents {
        let _ = write!(
            body,
            "<tr><td><a href=\"/incidents/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            url_encode(&st.id),
            esc(&v.incident.title),
            when(v.incident.last_seen),
            v.incident
                .users
                .iter()
                .map(|u| user_link(u))
                .collect::<Vec<_>>()
                .join(", "),
            v.incident.alert_count,
            if st.closed { "closed" } else { "open" }
        );
    }
    body.push_str("</table>");
    if who.may(crate::auth::Access::Act)
        && let Some(aid) = r
            .incidents
            .first()
            .and_then(|(_, v)| v.incident.alert_ids.first())
    {
        body.push_str("<h2>Turn into an exception</h2><p>Stops this rule alerting on this host (for the time you choose).</p>");
        body.push_str(&super::incidents::exception_form(
            &who,
            &aid.0,
            &wardwatch_incidents::ExceptionOffer::for_host(&r.host),
        ));
    }
    Ok(layout(&who, "/", "Noteworthy", &body))
}

/// A cluster's API node (`serve --role api`) tells the cluster's figures under `cluster`: the
/// backlog, each partition's lag and the worker holding it, the incident stage's holder.
fn cluster_section(body: &mut String, stats: &serde_json::Value) {
    let error = stats.get("cluster_error").and_then(|v| v.as_str());
    let Some(c) = stats.get("cluster").filter(|c| c.is_object()) else {
        if let Some(e) = error {
            let _ = write!(
                body,
                "<h2>Cluster</h2><p class=\"warn\">NATS does not answer: {}</p>",
                esc(e)
            );
        }
        return;
    };
    body.push_str("<h2>Cluster</h2>");
    if let Some(e) = error {
        let _ = write!(
            body,
            "<p class=\"warn\">NATS does not answer ({}): the figures below are the last read.</p>",
            esc(e)
        );
    }
    let n = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
    let backlog = &c["backlog"];
    let fill = backlog.get("fill").and_then(|x| x.as_f64()).unwrap_or(0.0) * 100.0;
    let _ = write!(
        body,
        "<p>Backlog {} batches ({} bytes, {fill:.0}% of the most allowed); lag {} batches; incident stage {}; notifications {}; {} alert batch(es) waiting.</p>",
        n(backlog, "messages"),
        n(backlog, "bytes"),
        n(c, "lag"),
        match c.get("incident_stage").and_then(|x| x.as_str()) {
            Some(w) => format!("active in {}", esc(w)),
            None => "<span class=\"warn\">held by no process</span>".to_string(),
        },
        match c.get("notifier").and_then(|x| x.as_str()) {
            Some(w) => format!("sent by {}", esc(w)),
            None => "<span class=\"warn\">sent by no process</span>".to_string(),
        },
        n(c, "alerts_waiting"),
    );
    body.push_str("<table><tr><th>Partition</th><th>Worker</th><th>Lag</th><th>Unacknowledged</th><th>Redelivered</th></tr>");
    for p in c["partitions"].as_array().into_iter().flatten() {
        let worker = match p.get("worker").and_then(|x| x.as_str()) {
            Some(w) => esc(w),
            None => "<span class=\"warn\">none</span>".to_string(),
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{worker}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            n(p, "partition"),
            n(p, "lag"),
            n(p, "unacknowledged"),
            n(p, "redelivered")
        );
    }
    body.push_str("</table>");
}

#[cfg(test)]
mod cluster_tests {
    use super::cluster_section;

    #[test]
    fn the_cluster_section_names_each_partitions_worker_and_a_missing_one() {
        let stats = serde_json::json!({
            "cluster": {
                "backlog": {"messages": 12, "bytes": 4096, "fill": 0.5},
                "lag": 7,
                "incident_stage": "detect-a-<1>",
                "notifier": null,
                "alerts_waiting": 2,
                "partitions": [
                    {"partition": 0, "worker": "detect-a-<1>", "lag": 3, "unacknowledged": 1, "redelivered": 0},
                    {"partition": 1, "worker": null, "lag": 4, "unacknowledged": 0, "redelivered": 2},
                ],
            },
            "cluster_error": null,
        });
        let mut body = String::new();
        cluster_section(&mut body, &stats);
        assert!(body.contains("Backlog 12 batches"), "{body}");
        assert!(body.contains("50% of the most allowed"), "{body}");
        assert!(body.contains("active in detect-a-&lt;1&gt;"), "{body}");
        assert!(
            body.contains("notifications <span class=\"warn\">sent by no process</span>"),
            "{body}"
        );
        assert!(
            body.contains("<td>1</td><td><span class=\"warn\">none</span></td><td>4</td>"),
            "{body}"
        );
        // A single binary tells no cluster: nothing is drawn.
        let mut none = String::new();
        cluster_section(&mut none, &serde_json::json!({"sources": {}}));
        assert!(none.is_empty());
        // NATS down before the first read: said so.
        cluster_section(
            &mut none,
            &serde_json::json!({"cluster": null, "cluster_error": "no servers"}),
        );
        assert!(none.contains("NATS does not answer: no servers"), "{none}");
    }
}
