//! Entity pages. A host: its asset class and criticality from the inventory, its alerts and
//! incidents, its recent events. A user: department and role from the roster, alerts,
//! incidents, and where and how the identity was used — hosts, source addresses, logon types,
//! first and last seen — from the events that name it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Path, State};
use wardwatch_core::Severity;
use wardwatch_store::{SearchRequest, StoredIncident};

use super::{DAY_NS, PageResult};
use crate::auth::Access;
use crate::page::{
    esc, host_link, layout, search_link, severity, term, url_encode, value_link, when,
};
use crate::{ApiError, ApiState, Principal, incident_view};

fn incidents_table(list: &[StoredIncident]) -> Result<String, ApiError> {
    let mut b = String::from(
        "<table><tr><th>Severity</th><th>Incident</th><th>Status</th><th>Last activity</th></tr>",
    );
    for st in list {
        let v = incident_view(st).map_err(ApiError::Internal)?;
        let _ = write!(
            b,
            "<tr><td>{}</td><td><a href=\"/incidents/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            severity(v.incident.severity.as_str()),
            url_encode(&st.id),
            esc(&v.incident.title),
            esc(v.lifecycle.status.as_str()),
            when(v.incident.last_seen)
        );
    }
    if list.is_empty() {
        b.push_str("<tr><td colspan=\"4\" class=\"muted\">none</td></tr>");
    }
    b.push_str("</table>");
    Ok(b)
}

fn week_ago() -> Option<jiff::Timestamp> {
    jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_nanos(7 * DAY_NS))
        .ok()
}

pub(crate) async fn host(
    State(s): State<ApiState>,
    who: Principal,
    Path(name): Path<String>,
) -> PageResult {
    let ctx = s.inner.telemetry.context();
    let (viewer, key) = (who.clone(), name.clone());
    let search = who.may(Access::Search);
    let budget = Some(s.search.budget);
    let (alerts, incidents, events) = s
        .with_db(move |db| {
            let req = SearchRequest {
                limit: 50,
                orgs: viewer.orgs(),
                privacy: viewer.privacy_scope(),
                ..SearchRequest::default()
            };
            let alerts = db.list_alerts(&req, Severity::Informational, None, Some(&key))?;
            let incidents = db.incidents_naming(
                "hosts",
                &key,
                viewer.orgs().as_deref(),
                viewer.privacy_scope(),
                50,
            )?;
            let events = if search {
                Some(db.search_events(&SearchRequest {
                    q: term("host.name", &key),
                    from: week_ago(),
                    limit: 20,
                    budget,
                    orgs: viewer.orgs(),
                    ..SearchRequest::default()
                })?)
            } else {
                None
            };
            Ok((alerts, incidents, events))
        })
        .await?;
    if alerts.total == 0
        && incidents.is_empty()
        && events.as_ref().is_none_or(|e| e.total == 0)
        && ctx.inventory.asset_for_host(&name).is_none()
    {
        return Err(ApiError::NotFound(format!("nothing is known about host `{name}`")).into());
    }
    let mut b = format!(
        "<h1>Host {}</h1><div class=\"card\"><h2>Inventory</h2>",
        esc(&name)
    );
    match ctx.inventory.asset_for_host(&name) {
        Some(a) => {
            let _ = write!(
                b,
                "<table class=\"kv\"><tr><td>Asset class</td><td>{}</td></tr><tr><td>Criticality</td><td>{} of 5</td></tr><tr><td>Name</td><td>{}</td></tr><tr><td>Department</td><td>{}</td></tr><tr><td>Why it matters</td><td>{}</td></tr></table>",
                esc(a.class.words()),
                a.criticality,
                esc(a.name.as_deref().unwrap_or("—")),
                esc(a.department.as_deref().unwrap_or("—")),
                esc(a.class.why())
            );
        }
        None => b.push_str("<p class=\"muted\">Not in the inventory.</p>"),
    }
    b.push_str("</div>");
    let _ = write!(b, "<h2>Incidents</h2>{}", incidents_table(&incidents)?);
    let _ = write!(
        b,
        "<h2>Alerts ({} in all; newest shown)</h2><table><tr><th>When</th><th>Level</th><th>Rule</th></tr>",
        alerts.total
    );
    for a in alerts.alerts.iter().take(20) {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            when(a.timestamp),
            severity(a.level.as_str()),
            esc(&a.rule_title)
        );
    }
    b.push_str("</table>");
    if let Some(ev) = events {
        let _ = write!(
            b,
            "<h2>Recent activity (7 d): {} event(s) · {}</h2><table>",
            ev.total,
            search_link(&term("host.name", &name), "search them")
        );
        for e in &ev.events {
            let seq = e.get("seq").and_then(|v| v.as_i64()).unwrap_or(0);
            let ts = e.get("@timestamp").and_then(|t| t.as_str()).unwrap_or("");
            let code = e
                .pointer("/ecs/event.code")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let user = e
                .pointer("/ecs/user.name")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let _ = write!(
                b,
                "<tr><td><a href=\"/events/{seq}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                esc(ts),
                esc(code),
                esc(user)
            );
        }
        b.push_str("</table>");
    }
    Ok(layout(&who, "", &format!("Host {name}"), &b))
}

pub(crate) async fn user(
    State(s): State<ApiState>,
    who: Principal,
    Path(name): Path<String>,
) -> PageResult {
    let ctx = s.inner.telemetry.context();
    let (viewer, key) = (who.clone(), name.clone());
    let search = who.may(Access::Search);
    let budget = Some(s.search.budget);
    let (incidents, events) = s
        .with_db(move |db| {
            let incidents = db.incidents_naming(
                "users",
                &key,
                viewer.orgs().as_deref(),
                viewer.privacy_scope(),
                50,
            )?;
            let events = if search {
                Some(db.search_events(&SearchRequest {
                    q: term("user.name", &key),
                    from: week_ago(),
                    limit: 1000,
                    budget,
                    orgs: viewer.orgs(),
                    ..SearchRequest::default()
                })?)
            } else {
                None
            };
            Ok((incidents, events))
        })
        .await?;
    let person = ctx.roster.person(&name);
    if incidents.is_empty() && events.as_ref().is_none_or(|e| e.total == 0) && person.is_none() {
        return Err(ApiError::NotFound(format!("nothing is known about user `{name}`")).into());
    }
    let mut b = format!(
        "<h1>User {}</h1><div class=\"card\"><h2>Roster</h2>",
        esc(&name)
    );
    match person {
        Some(p) => {
            let _ = write!(
                b,
                "<table class=\"kv\"><tr><td>Name</td><td>{}</td></tr><tr><td>Department</td><td>{}</td></tr><tr><td>Role</td><td>{}</td></tr><tr><td>E-mail</td><td>{}</td></tr><tr><td>Privileged</td><td>{}</td></tr><tr><td>Manager</td><td>{}</td></tr></table>",
                esc(&p.name),
                esc(p.department.as_deref().unwrap_or("—")),
                esc(p.role.as_deref().unwrap_or("—")),
                esc(p.email.as_deref().unwrap_or("—")),
                if p.privileged { "yes" } else { "no" },
                esc(p.manager.as_deref().unwrap_or("—"))
            );
        }
        None => b.push_str("<p class=\"muted\">Not in the roster.</p>"),
    }
    b.push_str("</div>");
    let _ = write!(b, "<h2>Incidents</h2>{}", incidents_table(&incidents)?);
    if let Some(ev) = events {
        // Where and how the identity was used.
        let mut hosts: BTreeMap<String, (u64, String, String)> = BTreeMap::new();
        let mut addrs: BTreeMap<String, u64> = BTreeMap::new();
        let mut logons: BTreeMap<String, u64> = BTreeMap::new();
        let (mut first, mut last): (Option<String>, Option<String>) = (None, None);
        for e in &ev.events {
            let t = e.get("@timestamp").and_then(|t| t.as_str()).unwrap_or("");
            if let Some(h) = e.pointer("/ecs/host.name").and_then(|v| v.as_str()) {
                let entry = hosts
                    .entry(h.to_string())
                    .or_insert_with(|| (0, t.to_string(), t.to_string()));
                entry.0 += 1;
                if t < entry.1.as_str() {
                    entry.1 = t.to_string();
                }
                if t > entry.2.as_str() {
                    entry.2 = t.to_string();
                }
            }
            if let Some(a) = e.pointer("/ecs/source.ip").and_then(|v| v.as_str()) {
                *addrs.entry(a.to_string()).or_default() += 1;
            }
            let lt = e
                .pointer("/raw/Event/EventData/LogonType")
                .or_else(|| e.pointer("/raw/winlog/event_data/LogonType"))
                .or_else(|| e.pointer("/raw/LogonType"))
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                });
            if let Some(lt) = lt {
                *logons.entry(lt).or_default() += 1;
            }
            if !t.is_empty() {
                if first.as_deref().is_none_or(|f| t < f) {
                    first = Some(t.to_string());
                }
                if last.as_deref().is_none_or(|l| t > l) {
                    last = Some(t.to_string());
                }
            }
        }
        let _ = write!(
            b,
            "<h2>Where and how the identity was used (7 d{})</h2><p>{} event(s) · first seen {} · last seen {} · {}</p>",
            if ev.total > 1000 {
                ", newest 1000 events"
            } else {
                ""
            },
            ev.total,
            esc(first.as_deref().unwrap_or("—")),
            esc(last.as_deref().unwrap_or("—")),
            search_link(&term("user.name", &name), "search them")
        );
        let mut by_host: Vec<_> = hosts.iter().collect();
        by_host.sort_by_key(|h| std::cmp::Reverse(h.1.0));
        b.push_str("<table><tr><th>Host</th><th>Events</th><th>First seen</th><th>Last seen</th><th></th></tr>");
        for (h, (n, f, l)) in by_host.iter().take(20) {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{n}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                host_link(h),
                esc(f),
                esc(l),
                search_link(
                    &format!("{} AND {}", term("user.name", &name), term("host.name", h)),
                    "events"
                )
            );
        }
        b.push_str("</table><div class=\"facets\" style=\"margin-top:10px\">");
        for (title, field, map) in [
            ("Source addresses", "source.ip", &addrs),
            ("Logon types", "LogonType", &logons),
        ] {
            let mut top: Vec<_> = map.iter().collect();
            top.sort_by_key(|t| std::cmp::Reverse(*t.1));
            let _ = write!(b, "<div class=\"card\"><b>{title}</b><table>");
            for (v, n) in top.iter().take(10) {
                let words = if field == "LogonType" {
                    format!(" <span class=\"muted\">{}</span>", logon_words(v))
                } else {
                    String::new()
                };
                let _ = write!(
                    b,
                    "<tr><td>{}{words}</td><td>{n}</td></tr>",
                    value_link(&who, field, v)
                );
            }
            if top.is_empty() {
                b.push_str("<tr><td class=\"muted\">none</td></tr>");
            }
            b.push_str("</table></div>");
        }
        b.push_str("</div>");
    }
    Ok(layout(&who, "", &format!("User {name}"), &b))
}

/// A Windows logon type in words.
fn logon_words(t: &str) -> &'static str {
    match t {
        "2" => "interactive (at the keyboard)",
        "3" => "network (file share, remote service)",
        "4" => "batch (scheduled task)",
        "5" => "service",
        "7" => "unlock",
        "8" => "network, clear-text password",
        "9" => "new credentials (runas /netonly)",
        "10" => "remote desktop",
        "11" => "cached credentials",
        _ => "",
    }
}
