//! The management report's figures, read from the store for a period.
//!
//! Why in the server crate: it joins the store (incidents, alerts, exceptions, events) with
//! the incident model and the context (inventory departments, roster names); the rendering is
//! `wardwatch_notify::report`, pure.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp, ToSpan};
use wardwatch_core::Severity;
use wardwatch_incidents::{Context, IncidentView, exception_from_json};
use wardwatch_notify::report::ReportData;
use wardwatch_store::{
    AlertStore, EventSearch, ExceptionStore, IncidentFilter, IncidentStore, StoreError,
};

fn ns(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)
}

/// The period ending at `end`: `week` is the 7 days before it, `month` the calendar month
/// before `end`'s month (UTC). Returns (from, to).
pub fn period(period: &str, end: Timestamp) -> Result<(Timestamp, Timestamp), String> {
    let day = end
        .to_zoned(jiff::tz::TimeZone::UTC)
        .start_of_day()
        .map_err(|e| e.to_string())?;
    match period {
        "week" => Ok((
            (day.checked_sub(7.days()).map_err(|e| e.to_string())?).timestamp(),
            day.timestamp(),
        )),
        "month" => {
            let first = day.first_of_month().map_err(|e| e.to_string())?;
            let prev = first.checked_sub(1.month()).map_err(|e| e.to_string())?;
            Ok((prev.timestamp(), first.timestamp()))
        }
        other => Err(format!("--period `{other}`: write week or month")),
    }
}

/// The Monday (UTC date) of the week `t` is in.
fn monday(t: Timestamp) -> String {
    let z = t.to_zoned(jiff::tz::TimeZone::UTC);
    let back = z.weekday().to_monday_zero_offset() as i64;
    z.checked_sub(back.days())
        .map(|m| m.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn median(mut v: Vec<SignedDuration>) -> Option<SignedDuration> {
    v.sort();
    v.get(v.len() / 2).copied().filter(|_| !v.is_empty())
}

fn top<K: Ord + Clone>(m: BTreeMap<K, u64>, n: usize) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// Everything the report shows for `[from, to)`.
pub fn gather(
    db: &(impl IncidentStore + AlertStore + EventSearch + ExceptionStore + ?Sized),
    period_name: &str,
    from: Timestamp,
    to: Timestamp,
    ctx: &Context,
) -> Result<ReportData, StoreError> {
    let (f, t) = (ns(from), ns(to));
    let mut d = ReportData {
        period: period_name.to_string(),
        from,
        to,
        ..ReportData::default()
    };
    // Weeks of the period, each listed even when empty.
    let mut weeks: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    let mut day = from;
    while day < to {
        weeks.entry(monday(day)).or_default();
        day += SignedDuration::from_hours(24);
    }
    // Incidents active in the period (paged), kept when first seen in it.
    let mut views: Vec<IncidentView> = Vec::new();
    let mut cursor = None;
    loop {
        let page = db.list_incidents(&IncidentFilter {
            from: Some(f),
            to: None,
            limit: 500,
            cursor: cursor.clone(),
            ..IncidentFilter::default()
        })?;
        for s in &page.incidents {
            match wardwatch_console::incident_view(s) {
                Ok(v) if v.incident.first_seen >= from && v.incident.first_seen < to => {
                    views.push(v)
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(incident = %s.id, error = %e, "incident unreadable; not in the report")
                }
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    views.sort_by_key(|v| {
        std::cmp::Reverse((v.incident.severity, (v.incident.score * 10.0) as i64))
    });
    let mut assets: BTreeMap<String, u64> = BTreeMap::new();
    let mut depts: BTreeMap<String, u64> = BTreeMap::new();
    let (mut acks, mut resolves) = (Vec::new(), Vec::new());
    for v in &views {
        let i = &v.incident;
        d.incidents.push((
            i.id.clone(),
            i.title.clone(),
            i.severity,
            i.hosts.first().cloned().unwrap_or_default(),
        ));
        let lvl = Severity::ALL
            .iter()
            .position(|s| *s == i.severity)
            .unwrap_or(0);
        weeks.entry(monday(i.first_seen)).or_default()[lvl] += 1;
        if i.severity < Severity::Medium {
            continue;
        }
        let mut seen_depts = Vec::new();
        for h in &i.hosts {
            *assets.entry(h.clone()).or_default() += 1;
            if let Some(dep) = ctx
                .inventory
                .asset_for_host(h)
                .and_then(|a| a.department.clone())
                && !seen_depts.contains(&dep)
            {
                seen_depts.push(dep);
            }
        }
        for u in &i.users {
            if let Some(dep) = ctx.roster.person(u).and_then(|p| p.department.clone())
                && !seen_depts.contains(&dep)
            {
                seen_depts.push(dep);
            }
        }
        for dep in seen_depts {
            *depts.entry(dep).or_default() += 1;
        }
        let first = |action: &str| i.history.iter().find(|h| h.action == action).map(|h| h.at);
        if let Some(at) = first("acknowledged").or(first("resolved")) {
            acks.push(at.duration_since(i.opened));
        }
        if let Some(at) = first("resolved") {
            resolves.push(at.duration_since(i.opened));
        }
        if let Some(a) = &v.narrative.awareness {
            let who = a
                .strip_prefix("For ")
                .and_then(|r| r.split_once(": "))
                .map_or("a colleague".to_string(), |(w, _)| w.to_string());
            d.awareness.push((who, i.title.clone()));
        }
    }
    d.by_week = weeks.into_iter().collect();
    d.assets = top(assets, 8)
        .into_iter()
        .map(|(h, n)| {
            let what = ctx
                .inventory
                .asset_for_host(&h)
                .map_or("not in the inventory".to_string(), |a| a.describe());
            (h, what, n)
        })
        .collect();
    d.departments = top(depts, 8);
    d.acked = acks.len() as u64;
    d.resolved = resolves.len() as u64;
    d.ack_median = median(acks);
    d.resolve_median = median(resolves);
    d.noisy_rules = db.alert_counts_by_rule(f, t, 8)?;
    // Scanning and lateral movement: where and how many, from the alerts' entities.
    let mut scans: BTreeMap<String, (u64, std::collections::BTreeSet<String>)> = BTreeMap::new();
    for doc in db.alert_docs_with(
        f,
        t,
        &[
            "attack.discovery",
            "attack.reconnaissance",
            "attack.t1046",
            "scan",
        ],
        100_000,
    )? {
        let Ok(a) = serde_json::from_str::<wardwatch_core::Alert>(&doc) else {
            continue;
        };
        let tags = a.tags.join(" ").to_lowercase();
        if !(tags.contains("attack.t1046")
            || tags.contains("reconnaissance")
            || tags.contains("discovery")
            || a.rule_title.to_lowercase().contains("scan"))
        {
            continue;
        }
        let src = a
            .facts
            .get("source.ip")
            .or(a.facts.get("IpAddress"))
            .cloned()
            .or(a.host.clone())
            .unwrap_or_else(|| "unknown".into());
        let target = a
            .facts
            .get("destination.ip")
            .cloned()
            .or(a.host.clone())
            .unwrap_or_default();
        let e = scans.entry(src).or_default();
        e.0 += 1;
        if !target.is_empty() {
            e.1.insert(target);
        }
    }
    let mut scanning: Vec<(String, u64, u64)> = scans
        .into_iter()
        .map(|(s, (n, t))| (s, n, t.len() as u64))
        .collect();
    scanning.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    scanning.truncate(8);
    d.scanning = scanning;
    let mut lateral: BTreeMap<String, u64> = BTreeMap::new();
    for doc in db.alert_docs_with(
        f,
        t,
        &["attack.lateral_movement", "attack.lateral-movement"],
        100_000,
    )? {
        let Ok(a) = serde_json::from_str::<wardwatch_core::Alert>(&doc) else {
            continue;
        };
        let from_host = a
            .facts
            .get("WorkstationName")
            .or(a.facts.get("IpAddress"))
            .or(a.facts.get("source.ip"))
            .cloned()
            .unwrap_or_else(|| "?".into());
        let to_host = a.host.clone().unwrap_or_else(|| "?".into());
        *lateral
            .entry(format!("{from_host} → {to_host}"))
            .or_default() += 1;
    }
    d.lateral = top(lateral, 8);
    for e in db.exceptions()? {
        if let Ok(x) = exception_from_json(&e.id, &e.doc, e.suppressed, e.last_suppressed)
            && x.created >= from
            && x.created < to
        {
            let scope = x
                .host
                .as_deref()
                .or(x.user.as_deref())
                .map(|s| format!(" on {s}"))
                .unwrap_or_default();
            d.exceptions.push((
                format!(
                    "{}{scope}: {} (by {})",
                    x.rule_id, x.justification, x.author
                ),
                x.suppressed,
            ));
        }
    }
    d.ingest = db
        .events_by_source(f, t, 30 * 24 * 3600 * 1_000_000_000)?
        .into_iter()
        .map(|(s, n, last)| {
            (
                s,
                n,
                last.and_then(|l| Timestamp::from_nanosecond(l.into()).ok()),
            )
        })
        .collect();
    Ok(d)
}
