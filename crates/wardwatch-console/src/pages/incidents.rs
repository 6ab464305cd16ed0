//! The incident list (the analysts' queue: medium and above by default) and the incident page:
//! narrative, what to do per role, timeline, entity graph, score with reasons, and the
//! analyst's actions, including an exception made from an alert in one step.

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use wardwatch_core::Severity;
use wardwatch_incidents::{ExceptionOffer, IncidentView, Resolution};
use wardwatch_store::IncidentFilter;

use super::{PageResult, now_ns, window, window_options};
use crate::auth::Access;
use crate::incidents::{ActionBody, ExceptionBody, apply_action, create_exception};
use crate::page::{
    PageError, attr, csrf_input, esc, host_link, layout, severity, url_encode, user_link,
    value_link, when,
};
use crate::{ApiError, ApiState, Principal, incident_view};

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ListParams {
    status: Option<String>,
    min_severity: Option<String>,
    max_severity: Option<String>,
    assignee: Option<String>,
    asset_class: Option<String>,
    range: Option<String>,
    cursor: Option<String>,
}

fn sev(v: Option<&str>, name: &str, default: Severity) -> Result<Severity, ApiError> {
    match v.filter(|x| !x.is_empty()) {
        None => Ok(default),
        Some(x) => x.parse().map_err(|e: wardwatch_core::ParseSeverityError| {
            ApiError::BadRequest(format!("{name}: {e}"))
        }),
    }
}

fn select(name: &str, options: &[(&str, &str)], selected: &str) -> String {
    let mut out = format!("<select name=\"{name}\">");
    for (v, label) in options {
        let _ = write!(
            out,
            "<option value=\"{v}\"{}>{label}</option>",
            if *v == selected { " selected" } else { "" }
        );
    }
    out.push_str("</select>");
    out
}

pub(crate) async fn list(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<ListParams>,
) -> PageResult {
    let min = sev(p.min_severity.as_deref(), "min_severity", Severity::Medium)?;
    let max = p
        .max_severity
        .as_deref()
        .filter(|x| !x.is_empty())
        .map(|_| {
            sev(
                p.max_severity.as_deref(),
                "max_severity",
                Severity::Critical,
            )
        })
        .transpose()?;
    let status_sel = p.status.clone().unwrap_or_else(|| "open".into());
    let status = match status_sel.as_str() {
        "open" | "" | "any" => None,
        "new" | "acknowledged" | "resolved" => Some(status_sel.clone()),
        other => {
            return Err(ApiError::BadRequest(format!(
                "status: `{other}` is not one of open, new, acknowledged, resolved, any"
            ))
            .into());
        }
    };
    let (span, range) = window(p.range.as_deref(), "30d");
    let now = now_ns();
    let assignee = p.assignee.clone().filter(|a| !a.is_empty());
    let asset_class = p.asset_class.clone().filter(|a| !a.is_empty());
    let filter = IncidentFilter {
        status,
        min_severity: min,
        max_severity: max,
        assignee: assignee.clone(),
        from: Some(now.saturating_sub(span)),
        limit: 200,
        cursor: p.cursor.clone(),
        orgs: who.orgs(),
        privacy: who.privacy_scope(),
        ..IncidentFilter::default()
    };
    let ctx = s.inner.telemetry.context();
    let page = s.with_db(move |db| Ok(db.list_incidents(&filter)?)).await?;
    let mut rows = String::new();
    let mut shown = 0;
    for st in &page.incidents {
        if status_sel == "open" && st.status == "resolved" {
            continue;
        }
        let v = incident_view(st).map_err(ApiError::Internal)?;
        let classes: Vec<String> = v
            .incident
            .hosts
            .iter()
            .filter_map(|h| {
                ctx.inventory
                    .asset_for_host(h)
                    .map(|a| a.class.as_str().to_string())
            })
            .collect();
        if let Some(c) = &asset_class
            && !classes.iter().any(|x| x.eq_ignore_ascii_case(c))
        {
            continue;
        }
        shown += 1;
        let _ = write!(
            rows,
            "<tr><td>{}</td><td><a href=\"/incidents/{}\">{}</a><div class=\"muted\">{}</div></td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            severity(v.incident.severity.as_str()),
            url_encode(&st.id),
            esc(&v.incident.title),
            esc(&st.id),
            v.incident.score,
            esc(v.lifecycle.status.as_str()),
            esc(v.lifecycle.assignee.as_deref().unwrap_or("—")),
            v.incident
                .hosts
                .iter()
                .take(3)
                .map(|h| host_link(h))
                .collect::<Vec<_>>()
                .join(", "),
            esc(&classes.join(", ")),
            when(v.incident.last_seen)
        );
    }
    let sevs: Vec<(&str, &str)> = Severity::ALL
        .iter()
        .map(|s| (s.as_str(), s.as_str()))
        .collect();
    let mut body = String::from(
        "<h1>Incidents</h1><form class=\"filters\" method=\"get\" action=\"/incidents\">",
    );
    let _ = write!(
        body,
        "<label>Status{}</label><label>At least{}</label><label>Assignee<input name=\"assignee\" value=\"{}\" placeholder=\"name or -\"></label>\
         <label>Asset class<input name=\"asset_class\" value=\"{}\" placeholder=\"e.g. pacs\"></label><label>Last activity<select name=\"range\">{}</select></label><button>Filter</button></form>",
        select(
            "status",
            &[
                ("open", "open"),
                ("new", "new"),
                ("acknowledged", "acknowledged"),
                ("resolved", "resolved"),
                ("any", "any")
            ],
            &status_sel
        ),
        select("min_severity", &sevs, min.as_str()),
        attr(assignee.as_deref().unwrap_or("")),
        attr(asset_class.as_deref().unwrap_or("")),
        window_options(&range)
    );
    let _ = write!(
        body,
        "<p>{} incident(s) match{}.{}</p><table><tr><th>Severity</th><th>Incident</th><th>Score</th><th>Status</th><th>Assignee</th><th>Hosts</th><th>Asset class</th><th>Last activity</th></tr>{rows}</table>",
        if asset_class.is_some() || status_sel == "open" {
            shown as u64
        } else {
            page.total
        },
        if page.next_cursor.is_some() {
            " (first 200 shown)"
        } else {
            ""
        },
        if min > Severity::Low {
            " Low incidents are rolled up as noteworthy on the <a href=\"/\">overview</a>."
        } else {
            ""
        }
    );
    Ok(layout(&who, "/incidents", "Incidents", &body))
}

/// The entity graph: users, hosts, addresses and URLs as nodes in columns, the links the
/// timeline shows (a user on a host, an address or URL seen with a host) as lines.
fn entity_graph(v: &IncidentView) -> String {
    let inc = &v.incident;
    let mut urls: Vec<String> = Vec::new();
    for st in &inc.timeline {
        for (k, val) in &st.facts {
            let kl = k.to_lowercase();
            if (kl.contains("url") || kl == "destinationhostname" || kl.contains("domain"))
                && !urls.contains(val)
                && urls.len() < 6
            {
                urls.push(val.clone());
            }
        }
    }
    let cols: [(&str, Vec<String>); 4] = [
        ("users", inc.users.iter().take(8).cloned().collect()),
        ("hosts", inc.hosts.iter().take(8).cloned().collect()),
        ("addresses", inc.ips.iter().take(8).cloned().collect()),
        ("urls", urls),
    ];
    let rows = cols.iter().map(|c| c.1.len()).max().unwrap_or(0).max(1);
    let (w, rh) = (860.0, 38.0);
    let h = 40.0 + rows as f64 * rh;
    let cw = w / 4.0;
    let pos = |col: usize, row: usize| {
        (
            cw * col as f64 + cw / 2.0,
            40.0 + row as f64 * rh + rh / 2.0,
        )
    };
    let find = |col: usize, name: &str| {
        cols[col]
            .1
            .iter()
            .position(|x| x.eq_ignore_ascii_case(name))
    };
    let mut edges: Vec<((f64, f64), (f64, f64))> = Vec::new();
    for st in &inc.timeline {
        let hpos = st
            .host
            .as_deref()
            .and_then(|hn| find(1, hn))
            .map(|i| pos(1, i));
        if let (Some(hp), Some(ui)) = (hpos, st.user.as_deref().and_then(|u| find(0, u))) {
            edges.push((pos(0, ui), hp));
        }
        if let Some(hp) = hpos {
            for val in st.facts.values() {
                if let Some(ii) = find(2, val) {
                    edges.push((hp, pos(2, ii)));
                }
                if let Some(ui) = find(3, val) {
                    edges.push((hp, pos(3, ui)));
                }
            }
        }
    }
    edges.dedup();
    let mut out = format!(
        "<svg role=\"img\" aria-label=\"entity graph\" viewBox=\"0 0 {w} {h}\" width=\"100%\" height=\"{h}\">"
    );
    for (i, (title, _)) in cols.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{:.0}\" y=\"18\" text-anchor=\"middle\" style=\"font-weight:600\">{title}</text>",
            cw * i as f64 + cw / 2.0
        );
    }
    for (a, b) in &edges {
        let _ = write!(
            out,
            "<line x1=\"{:.0}\" y1=\"{:.0}\" x2=\"{:.0}\" y2=\"{:.0}\" stroke=\"#9fb3c8\" stroke-width=\"1.5\"/>",
            a.0, a.1, b.0, b.1
        );
    }
    let colors = ["#6f42c1", "#1a5fb4", "#b54708", "#217a3c"];
    for (ci, (_, names)) in cols.iter().enumerate() {
        for (ri, name) in names.iter().enumerate() {
            let (x, y) = pos(ci, ri);
            let label: String = name.chars().take(30).collect();
            let _ = write!(
                out,
                "<rect x=\"{:.0}\" y=\"{:.0}\" width=\"{:.0}\" height=\"26\" rx=\"13\" fill=\"#fff\" stroke=\"{}\" stroke-width=\"1.5\"><title>{}</title></rect><text x=\"{x:.0}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text>",
                x - cw / 2.0 + 10.0,
                y - 13.0,
                cw - 20.0,
                colors[ci],
                esc(name),
                y + 4.0,
                esc(&label)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// The one-step exception form for an alert: it offers only the scopes the alert has
/// (see [`ExceptionOffer`]), so submitting it as shown never ends in "the alert names no host".
pub(crate) fn exception_form(who: &Principal, alert_id: &str, offer: &ExceptionOffer) -> String {
    let mut f = format!(
        "<form method=\"post\" action=\"/alerts/{}/exception\">{}",
        url_encode(alert_id),
        csrf_input(who)
    );
    for k in &offer.facts {
        let _ = write!(
            f,
            "<label><input type=\"checkbox\" name=\"field\" value=\"{0}\"{1}> same {0}</label> ",
            attr(k),
            if offer.checked.contains(k) {
                " checked"
            } else {
                ""
            }
        );
    }
    if let Some(host) = &offer.host {
        let _ = write!(
            f,
            "<label><input type=\"checkbox\" name=\"scope_host\" value=\"1\" checked> this host only ({})</label> ",
            esc(host)
        );
    }
    if let Some(user) = &offer.user {
        let _ = write!(
            f,
            "<label><input type=\"checkbox\" name=\"scope_user\" value=\"1\"{}> this user only ({})</label>",
            if offer.host.is_none() { " checked" } else { "" },
            esc(user)
        );
    }
    f.push_str(
        "<br><label>Expires <select name=\"expires\"><option value=\"now+7d\">in 7 days</option><option value=\"now+30d\" selected>in 30 days</option><option value=\"now+90d\">in 90 days</option></select></label> \
         <label>Justification <input name=\"justification\" required minlength=\"5\" size=\"40\" placeholder=\"why this is expected\"></label> \
         <button type=\"submit\">Create exception</button></form>",
    );
    f
}

pub(crate) async fn detail(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> PageResult {
    let key = id.clone();
    let viewer = who.clone();
    let found = s
        .with_db(move |db| {
            let Some(st) = db
                .incident(&key)?
                .filter(|i| viewer.sees_incident(&i.org, &i.id))
            else {
                return Ok(None);
            };
            let v = incident_view(&st).map_err(ApiError::Internal)?;
            let mut alerts = Vec::new();
            for aid in v.incident.alert_ids.iter().rev().take(50) {
                if let Some((a, _)) = db.alert(&aid.0)? {
                    alerts.push(a);
                }
            }
            Ok(Some((v, alerts)))
        })
        .await?;
    let Some((v, alerts)) = found else {
        return Err(ApiError::NotFound(format!("no incident `{id}`")).into());
    };
    let inc = &v.incident;
    let n = &v.narrative;
    let mut b = format!(
        "<h1>{} {}</h1><p class=\"muted\">{} · score {:.0} · status <b>{}</b>{} · {} alert(s) · {} to {} UTC · organization {}</p>",
        severity(inc.severity.as_str()),
        esc(&inc.title),
        esc(&inc.id),
        inc.score,
        esc(v.lifecycle.status.as_str()),
        v.lifecycle
            .assignee
            .as_deref()
            .map(|a| format!(" · assigned to {}", esc(a)))
            .unwrap_or_default(),
        inc.alert_count,
        when(inc.first_seen),
        when(inc.last_seen),
        esc(&inc.organization)
    );
    // Actions.
    if who.may(Access::Act) {
        let c = csrf_input(&who);
        let act = format!("/incidents/{}/action", url_encode(&inc.id));
        b.push_str("<div class=\"card\"><h2>Actions</h2>");
        let _ = write!(
            b,
            "<form class=\"inline\" method=\"post\" action=\"{act}\">{c}<input type=\"hidden\" name=\"action\" value=\"acknowledge\"><button>Acknowledge</button></form> \
             <form class=\"inline\" method=\"post\" action=\"{act}\">{c}<input type=\"hidden\" name=\"action\" value=\"assign\"><input name=\"assignee\" placeholder=\"assign to\" size=\"12\" required><button>Assign</button></form> \
             <form class=\"inline\" method=\"post\" action=\"{act}\">{c}<input type=\"hidden\" name=\"action\" value=\"resolve\"><select name=\"resolution\"><option value=\"true-positive\">true positive</option><option value=\"false-positive\">false positive</option><option value=\"benign\">benign</option></select><input name=\"text\" placeholder=\"note\" size=\"16\"><button>Resolve</button></form> \
             <form class=\"inline\" method=\"post\" action=\"{act}\">{c}<input type=\"hidden\" name=\"action\" value=\"reopen\"><button>Reopen</button></form>\
             <form method=\"post\" action=\"{act}\" style=\"margin-top:8px\">{c}<input type=\"hidden\" name=\"action\" value=\"comment\"><input name=\"text\" placeholder=\"comment\" size=\"60\" required><button>Comment</button></form></div>"
        );
    }
    // Narrative.
    b.push_str("<div class=\"card narr\"><h2>What happened</h2>");
    let _ = write!(b, "<p><b>{}</b></p>", esc(&n.summary));
    let list = |items: &[String]| {
        let mut o = String::from("<ul>");
        for i in items {
            let _ = write!(o, "<li>{}</li>", esc(i));
        }
        o.push_str("</ul>");
        o
    };
    b.push_str(&list(&n.what_happened));
    let _ = write!(
        b,
        "<h2>Who and what</h2>{}<h2>Why it matters</h2>{}<h2>What to do</h2>",
        list(&n.who_and_what),
        list(&n.why_it_matters)
    );
    for rs in &n.what_to_do {
        let _ = write!(b, "<h3>{}</h3>{}", esc(rs.role.words()), list(&rs.steps));
    }
    if let Some(a) = &n.awareness {
        let _ = write!(b, "<h2>Awareness</h2><p>{}</p>", esc(a));
    }
    b.push_str("</div>");
    // Graph.
    let _ = write!(
        b,
        "<div class=\"card\"><h2>Entities</h2>{}</div>",
        entity_graph(&v)
    );
    // Timeline.
    b.push_str("<h2>Timeline</h2><table><tr><th>When</th><th>Rule</th><th>Host</th><th>User</th><th>×</th><th>Key facts</th></tr>");
    for st in &inc.timeline {
        let facts: Vec<String> = st
            .facts
            .iter()
            .map(|(k, val)| format!("{}: {}", esc(k), value_link(&who, k, val)))
            .collect();
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            when(st.first_seen),
            severity(st.level.as_str()),
            esc(&st.rule_title),
            st.host.as_deref().map(host_link).unwrap_or_default(),
            st.user.as_deref().map(user_link).unwrap_or_default(),
            st.count,
            facts.join("<br>")
        );
    }
    b.push_str("</table>");
    // Score.
    let _ = write!(
        b,
        "<h2>Score {:.0}: why</h2><table><tr><th>Part</th><th>Value</th><th>Reason</th></tr>",
        inc.score
    );
    for sp in &inc.score_parts {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{:.2}</td><td>{}</td></tr>",
            esc(&sp.name),
            sp.value,
            esc(&sp.reason)
        );
    }
    b.push_str("</table>");
    // Alerts with the one-step exception.
    let _ = write!(
        b,
        "<h2>Alerts ({} shown)</h2><table><tr><th>When</th><th>Rule</th><th>Host</th><th>Facts</th></tr>",
        alerts.len()
    );
    for a in &alerts {
        let facts: Vec<String> = a
            .facts
            .iter()
            .map(|(k, val)| format!("{}: {}", esc(k), value_link(&who, k, val)))
            .collect();
        let mut cell = facts.join("<br>");
        if who.may(Access::Act) {
            let _ = write!(
                cell,
                "<details><summary>Create an exception from this alert</summary>{}</details>",
                exception_form(&who, &a.id.0, &ExceptionOffer::for_alert(a))
            );
        }
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{cell}</td></tr>",
            when(a.timestamp),
            severity(a.level.as_str()),
            esc(&a.rule_title),
            a.host.as_deref().map(host_link).unwrap_or_default()
        );
    }
    b.push_str("</table>");
    // History.
    b.push_str("<h2>History and comments</h2><table>");
    for hst in &v.lifecycle.history {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            when(hst.at),
            esc(&hst.actor),
            esc(&hst.action),
            esc(&hst.detail)
        );
    }
    for cm in &v.lifecycle.comments {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>comment</td><td>{}</td></tr>",
            when(cm.at),
            esc(&cm.author),
            esc(&cm.text)
        );
    }
    b.push_str("</table>");
    Ok(layout(&who, "/incidents", &inc.title, &b))
}

/// A form body's fields, with a clear error naming the form.
fn form(body: &[u8], what: &str) -> Result<Vec<(String, String)>, PageError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::BadRequest(format!("{what}: {e}")).into())
}

fn field(f: &[(String, String)], name: &str) -> Option<String> {
    f.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `POST /incidents/{id}/action` from the incident page.
pub(crate) async fn action(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let f = form(&body, "action form")?;
    let resolution = match field(&f, "resolution") {
        None => None,
        Some(r) => Some(
            serde_json::from_value::<Resolution>(serde_json::Value::String(r.clone())).map_err(
                |_| {
                    ApiError::BadRequest(format!(
                        "resolution: `{r}` is not true-positive, false-positive or benign"
                    ))
                },
            )?,
        ),
    };
    let b = ActionBody {
        action: field(&f, "action").unwrap_or_default(),
        actor: None,
        resolution,
        assignee: field(&f, "assignee"),
        text: field(&f, "text"),
    };
    apply_action(&s, &who, &id, b).await?;
    Ok(Redirect::to(&format!("/incidents/{}", url_encode(&id))).into_response())
}

/// `POST /alerts/{id}/exception`: the one-step exception.
pub(crate) async fn exception(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let f = form(&body, "exception form")?;
    let b = ExceptionBody {
        alert_id: id,
        fields: f
            .iter()
            .filter(|(k, _)| k == "field")
            .map(|(_, v)| v.clone())
            .collect(),
        scope_host: field(&f, "scope_host").is_some(),
        scope_user: field(&f, "scope_user").is_some(),
        expires: field(&f, "expires").unwrap_or_else(|| "now+30d".into()),
        justification: field(&f, "justification").unwrap_or_default(),
        author: None,
    };
    let e = create_exception(&s, &who, b).await?;
    Ok(Redirect::to(&format!("/rules?created={}", url_encode(&e.id))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn offer(host: Option<&str>, user: Option<&str>, checked: &[&str]) -> ExceptionOffer {
        ExceptionOffer {
            host: host.map(str::to_string),
            user: user.map(str::to_string),
            facts: vec![
                "source.ip".into(),
                "destination.ip".into(),
                "event.code".into(),
            ],
            checked: checked.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn the_exception_form_offers_only_the_scopes_the_alert_has() {
        let who = Principal::new("anna", Role::Analyst, &[], "127.0.0.1");
        let edge = exception_form(
            &who,
            "a1",
            &offer(None, None, &["source.ip", "destination.ip"]),
        );
        assert!(!edge.contains("scope_host"), "{edge}");
        assert!(!edge.contains("scope_user"), "{edge}");
        assert!(edge.contains("value=\"source.ip\" checked"), "{edge}");
        assert!(edge.contains("value=\"destination.ip\" checked"), "{edge}");
        assert!(edge.contains("value=\"event.code\">"), "{edge}");

        let on_host = exception_form(&who, "a2", &offer(Some("pacs01"), Some("anna"), &[]));
        assert!(
            on_host.contains("name=\"scope_host\" value=\"1\" checked> this host only (pacs01)")
        );
        assert!(on_host.contains("name=\"scope_user\" value=\"1\"> this user only (anna)"));
        assert!(
            !on_host.contains("\" checked> same"),
            "no fact checked: {on_host}"
        );

        let user_only = exception_form(&who, "a3", &offer(None, Some("anna"), &[]));
        assert!(user_only.contains("name=\"scope_user\" value=\"1\" checked>"));
    }
}
