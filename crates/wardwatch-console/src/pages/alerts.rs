//! The alerts list: newest first, filtered by level, rule, host and time.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use serde::Deserialize;
use wardwatch_core::Severity;
use wardwatch_store::SearchRequest;

use super::{PageResult, window, window_options};
use crate::page::{attr, esc, host_link, layout, severity, value_link, when};
use crate::{ApiError, ApiState, Principal};

#[derive(Debug, Deserialize, Default)]
pub(crate) struct Params {
    min_level: Option<String>,
    rule: Option<String>,
    host: Option<String>,
    range: Option<String>,
    cursor: Option<String>,
}

pub(crate) async fn list(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<Params>,
) -> PageResult {
    let min: Severity = match p.min_level.as_deref().filter(|x| !x.is_empty()) {
        None => Severity::Low,
        Some(x) => x.parse().map_err(|e: wardwatch_core::ParseSeverityError| {
            ApiError::BadRequest(format!("min_level: {e}"))
        })?,
    };
    let (span, range) = window(p.range.as_deref(), "7d");
    let now = jiff::Timestamp::now();
    let from = now
        .checked_sub(jiff::SignedDuration::from_nanos(span))
        .unwrap_or(jiff::Timestamp::MIN);
    let req = SearchRequest {
        from: Some(from),
        limit: 200,
        cursor: p.cursor.clone(),
        orgs: who.orgs(),
        privacy: who.privacy_scope(),
        ..SearchRequest::default()
    };
    let (rule, host) = (
        p.rule.clone().filter(|x| !x.is_empty()),
        p.host.clone().filter(|x| !x.is_empty()),
    );
    let (r2, h2) = (rule.clone(), host.clone());
    let page = s
        .with_db(move |db| Ok(db.list_alerts(&req, min, r2.as_deref(), h2.as_deref())?))
        .await?;
    let mut b =
        String::from("<h1>Alerts</h1><form class=\"filters\" method=\"get\" action=\"/alerts\">");
    let levels: String = Severity::ALL
        .iter()
        .map(|l| {
            format!(
                "<option{}>{}</option>",
                if *l == min { " selected" } else { "" },
                l.as_str()
            )
        })
        .collect();
    let _ = write!(
        b,
        "<label>At least<select name=\"min_level\">{levels}</select></label><label>Rule id<input name=\"rule\" value=\"{}\"></label>\
         <label>Host<input name=\"host\" value=\"{}\"></label><label>Time<select name=\"range\">{}</select></label><button>Filter</button></form>",
        attr(rule.as_deref().unwrap_or("")),
        attr(host.as_deref().unwrap_or("")),
        window_options(&range)
    );
    let _ = write!(
        b,
        "<p>{} alert(s){}.</p><table><tr><th>When</th><th>Level</th><th>Rule</th><th>Host</th><th>Facts</th></tr>",
        page.total,
        if page.next_cursor.is_some() {
            ", newest 200 shown"
        } else {
            ""
        }
    );
    for a in &page.alerts {
        let facts: Vec<String> = a
            .facts
            .iter()
            .take(4)
            .map(|(k, v)| format!("{}: {}", esc(k), value_link(&who, k, v)))
            .collect();
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td><a href=\"/alerts?rule={}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            when(a.timestamp),
            severity(a.level.as_str()),
            crate::page::url_encode(&a.rule_id),
            esc(&a.rule_title),
            a.host.as_deref().map(host_link).unwrap_or_default(),
            facts.join("<br>")
        );
    }
    b.push_str("</table>");
    Ok(layout(&who, "/alerts", "Alerts", &b))
}
