//! Rules: the loaded packs and their rules, hits per rule over the week, the noisiest rules,
//! the problems found at load, and the exceptions with their expiry and what they suppressed.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use serde::Deserialize;

use super::{DAY_NS, PageResult, level_name, now_ns};
use crate::page::{bar_chart, esc, layout, severity, when, when_ns};
use crate::{ApiError, ApiState, Principal};

#[derive(Debug, Deserialize, Default)]
pub(crate) struct Params {
    created: Option<String>,
}

pub(crate) async fn page(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<Params>,
) -> PageResult {
    let info = s.inner.telemetry.rules();
    let now = now_ns();
    let viewer = who.clone();
    let (hits, hists, exceptions) = s
        .with_db(move |db| {
            let orgs = viewer.orgs();
            let hits = db.rule_hits(now - 7 * DAY_NS, orgs.as_deref())?;
            let mut hists = Vec::new();
            for h in hits.iter().take(5) {
                hists.push(db.rule_histogram(
                    &h.0,
                    now - 7 * DAY_NS,
                    now,
                    DAY_NS / 4,
                    orgs.as_deref(),
                )?);
            }
            let ex: Vec<_> = db
                .exceptions()?
                .into_iter()
                .filter(|e| viewer.sees(&e.org))
                .collect();
            Ok((hits, hists, ex))
        })
        .await?;
    let mut b = String::from("<h1>Rules</h1>");
    if let Some(id) = &p.created {
        let _ = write!(
            b,
            "<div class=\"notice\">Exception <b>{}</b> created.</div>",
            esc(id)
        );
    }
    // Exceptions.
    let _ = write!(
        b,
        "<h2>Exceptions ({})</h2><table><tr><th>Rule</th><th>Scope</th><th>Justification</th><th>Author</th><th>Expires</th><th>Suppressed</th><th>Last</th></tr>",
        exceptions.len()
    );
    for e in &exceptions {
        let ex = wardwatch_incidents::exception_from_json(
            &e.id,
            &e.doc,
            e.suppressed,
            e.last_suppressed,
        )
        .map_err(ApiError::Internal)?;
        let mut scope: Vec<String> = Vec::new();
        if let Some(h) = &ex.host {
            scope.push(format!("host {h}"));
        }
        if let Some(u) = &ex.user {
            scope.push(format!("user {u}"));
        }
        for c in &ex.conditions {
            scope.push(serde_json::to_string(c).unwrap_or_default());
        }
        let scope = if scope.is_empty() {
            "everywhere".to_string()
        } else {
            scope.join("; ")
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
            esc(&ex.rule_id),
            esc(&scope),
            esc(&ex.justification),
            esc(&ex.author),
            when(ex.expires),
            if i64::try_from(ex.expires.as_nanosecond()).unwrap_or(0) < now {
                " (expired)"
            } else {
                ""
            },
            e.suppressed,
            e.last_suppressed.map(when_ns).unwrap_or_else(|| "—".into())
        );
    }
    b.push_str("</table>");
    // Noisiest, with hits over the week.
    b.push_str("<h2>Noisiest rules (7 d)</h2><div class=\"cards\">");
    for (h, hist) in hits.iter().zip(&hists) {
        let bars: Vec<(String, u64)> = (0..28)
            .map(|i| {
                let t = now - 7 * DAY_NS + i * DAY_NS / 4;
                let n = hist
                    .iter()
                    .filter(|(x, _)| *x >= t && *x < t + DAY_NS / 4)
                    .map(|x| x.1)
                    .sum();
                (when_ns(t), n)
            })
            .collect();
        let _ = write!(
            b,
            "<div class=\"card\"><b>{}</b> {} <span class=\"muted\">{} hits</span>{}</div>",
            esc(&h.1),
            severity(level_name(h.2)),
            h.3,
            bar_chart(&bars, 300, 60, 0)
        );
    }
    b.push_str("</div>");
    // Problems.
    let _ = write!(
        b,
        "<h2>Problems found at load ({})</h2>",
        info.problems.len()
    );
    if info.problems.is_empty() {
        b.push_str("<p class=\"ok\">None.</p>");
    } else {
        b.push_str("<ul>");
        for pr in &info.problems {
            let _ = write!(b, "<li>{}</li>", esc(pr));
        }
        b.push_str("</ul>");
    }
    // Every rule.
    let _ = write!(
        b,
        "<h2>Loaded rules ({})</h2><table><tr><th>Rule</th><th>Level</th><th>Pack</th><th>Enabled</th><th>Hits (7 d)</th><th>Last hit</th></tr>",
        info.rules.len()
    );
    for r in &info.rules {
        let h = hits.iter().find(|h| h.0 == r.id);
        let _ = write!(
            b,
            "<tr><td><a href=\"/alerts?rule={}\">{}</a><div class=\"muted\">{}</div></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            crate::page::url_encode(&r.id),
            esc(&r.title),
            esc(&r.id),
            severity(&r.level),
            esc(&r.pack),
            if r.enabled { "yes" } else { "no" },
            h.map_or(0, |h| h.3),
            h.map(|h| when_ns(h.4)).unwrap_or_else(|| "—".into())
        );
    }
    b.push_str("</table>");
    Ok(layout(&who, "/rules", "Rules", &b))
}
