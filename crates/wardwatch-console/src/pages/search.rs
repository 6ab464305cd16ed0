//! Event search: the query language, a time picker, a histogram and field facets over the
//! newest matches, and each event with its stored original and its normalized fields; every
//! value is a link that adds itself to the query. Searches are audited (events may carry
//! patient-related data).
//!
//! The histogram and the facets of the fields the journal keeps in columns (host, user, code,
//! channel) come from the store's sample of the newest [`SAMPLE`] matches: times and columns,
//! without reading the documents the columns prove match (parsing 1,000 documents was a third
//! of the page's time over a month of a hospital). The other facets come from the events
//! listed. Host and user names in the columns are lowercased; a query matches them either way.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use serde::Deserialize;
use wardwatch_store::{SampleRow, SearchRequest};

use super::{PageResult, window_options};
use crate::page::{attr, bar_chart, esc, host_link, layout, term, url_encode, when, when_ns};
use crate::{ApiError, ApiState, Principal, time};

#[derive(Debug, Deserialize, Default)]
pub(crate) struct Params {
    q: Option<String>,
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// How many of the newest matches the histogram and the column facets are drawn from.
const SAMPLE: usize = 1000;
/// How many rows the page lists.
const ROWS: usize = 100;
/// A column of a sample row.
type Column = fn(&SampleRow) -> Option<&str>;
/// Facets from the store's sample (the journal's columns).
const SAMPLE_FACETS: &[(&str, Column)] = &[
    ("host.name", |r| r.host.as_deref()),
    ("user.name", |r| r.user.as_deref()),
    ("event.code", |r| r.code.as_deref()),
    ("log.channel", |r| r.channel.as_deref()),
];
/// Facets from the events listed (fields without a column).
const LISTED_FACETS: &[&str] = &["event.action", "source.ip"];

/// A link that adds `field:value` to the current query.
fn add_link(q: &str, range: &str, field: &str, value: &str) -> String {
    let t = term(field, value);
    let nq = if q.trim().is_empty() || q.trim() == "*" {
        t.clone()
    } else if q.contains(&t) {
        q.trim().to_string()
    } else {
        format!("{} AND {t}", q.trim())
    };
    format!(
        "<a class=\"val\" title=\"add {}\" href=\"/search?q={}&amp;range={}\">{}</a>",
        attr(&t),
        url_encode(&nq),
        url_encode(range),
        esc(value)
    )
}

/// How many events match, and how far that number is to be trusted.
fn total_line(page: &wardwatch_store::EventPage) -> String {
    use wardwatch_store::TotalRelation;
    let n = page.total;
    if page.partial {
        return format!(
            "at least <b>{n}</b> event(s) match <span class=\"warn\">(an estimate: the search stopped at its time budget; narrow the time range or the query for an exact total)</span>"
        );
    }
    match page.total_relation {
        TotalRelation::Exact => format!("<b>{n}</b> event(s) match (exact total)"),
        TotalRelation::Estimate => format!(
            "about <b>{n}</b> event(s) match <span class=\"warn\">(an estimate: not every candidate was counted or checked one by one within {} ms, the rest were extrapolated from those that were; narrow the time range or the query for an exact total)</span>",
            wardwatch_store::COUNT_TIME.as_millis()
        ),
        TotalRelation::AtLeast => format!(
            "at least <b>{n}</b> event(s) match <span class=\"warn\">(the search stopped at its time budget; narrow the time range or the query for an exact total)</span>"
        ),
    }
}

/// A facet's card: its six most frequent values, each a link that adds it to the query.
fn facet_card(
    b: &mut String,
    q: &str,
    range: &str,
    field: &str,
    said: &str,
    counts: BTreeMap<String, u64>,
) {
    if counts.is_empty() {
        return;
    }
    let mut top: Vec<_> = counts.into_iter().collect();
    top.sort_by_key(|t| std::cmp::Reverse(t.1));
    let _ = write!(b, "<div class=\"card\"><b>{}</b>{said}<table>", esc(field));
    for (v, n) in top.iter().take(6) {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{n}</td></tr>",
            add_link(q, range, field, v)
        );
    }
    b.push_str("</table></div>");
}

/// A line that says what an event is: its message when it has one, else what the normalized
/// fields say (action, category, provider, process).
fn summary(e: &serde_json::Value, ecs: &BTreeMap<String, String>) -> String {
    let message = e
        .pointer("/raw/message")
        .or_else(|| e.pointer("/raw/Event/EventData/CommandLine"))
        .or_else(|| e.pointer("/raw/alert/signature"))
        .and_then(|m| m.as_str());
    let text = match message {
        Some(m) => m.to_string(),
        None => [
            "event.action",
            "event.category",
            "event.provider",
            "process.executable",
            "destination.ip",
        ]
        .iter()
        .filter_map(|k| ecs.get(*k).map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(" · "),
    };
    text.chars().take(160).collect()
}

fn ecs_map(v: &serde_json::Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(o) = v.get("ecs").and_then(|e| e.as_object()) {
        for (k, val) in o {
            let text = match val {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            out.insert(k.clone(), text);
        }
    }
    out
}

pub(crate) async fn page(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<Params>,
) -> PageResult {
    let q = p.q.clone().unwrap_or_default();
    let range = p.range.clone().unwrap_or_else(|| "7d".into());
    let now = jiff::Timestamp::now();
    let (from, to) = if range == "custom" {
        (
            p.from
                .as_deref()
                .filter(|x| !x.is_empty())
                .map(|t| time::parse(t, now, "from"))
                .transpose()?,
            p.to.as_deref()
                .filter(|x| !x.is_empty())
                .map(|t| time::parse(t, now, "to"))
                .transpose()?,
        )
    } else {
        let (span, _) = super::window(Some(&range), "7d");
        (
            now.checked_sub(jiff::SignedDuration::from_nanos(span)).ok(),
            None,
        )
    };
    let mut b = format!(
        "<h1>Search events</h1><form class=\"filters\" method=\"get\" action=\"/search\">\
         <label>Query<input name=\"q\" value=\"{}\" size=\"60\" placeholder=\"host.name:PACS01 AND EventID:4625\"></label>\
         <label>Time<select name=\"range\">{}<option value=\"custom\"{}>between…</option></select></label>\
         <label>From<input name=\"from\" value=\"{}\" placeholder=\"2026-12-01T00:00:00Z\" size=\"20\"></label>\
         <label>To<input name=\"to\" value=\"{}\" placeholder=\"now\" size=\"20\"></label><button>Search</button></form>",
        attr(&q),
        window_options(&range),
        if range == "custom" { " selected" } else { "" },
        attr(p.from.as_deref().unwrap_or("")),
        attr(p.to.as_deref().unwrap_or(""))
    );
    if p.q.is_none() {
        b.push_str("<p class=\"muted\">Words find events that contain them; <code>field:value</code> matches a field (host names with or without their domain, <code>*</code> as a wildcard); combine with AND, OR, NOT and parentheses.</p>");
        return Ok(layout(&who, "/search", "Search", &b));
    }
    // A query that does not parse gets a clear answer on the page (and is not run).
    if let Err(e) = wardwatch_store::query::parse(&q) {
        let _ = write!(
            b,
            "<div class=\"err\"><b>The query does not parse:</b> {}</div>",
            esc(&e.to_string())
        );
        return Ok(layout(&who, "/search", "Search", &b));
    }
    s.audit(&who, "search", "events", &who.home_org(), &q)
        .await?;
    let req = SearchRequest {
        q: q.clone(),
        from,
        to,
        limit: ROWS,
        cursor: None,
        budget: Some(s.search.budget),
        orgs: who.orgs(),
        count_time: None,
        sample: SAMPLE,
        privacy: wardwatch_store::PrivacyScope::Without,
    };
    let started = std::time::Instant::now();
    let page = s.with_db(move |db| Ok(db.search_events(&req)?)).await?;
    let took = started.elapsed();
    let _ = write!(
        b,
        "<p class=\"total\">{} · {} ms{}</p>",
        total_line(&page),
        took.as_millis(),
        if page.total as usize > page.sample.len() {
            format!(
                " · histogram and facets from the newest {}",
                page.sample.len()
            )
        } else {
            String::new()
        }
    );
    // Histogram over the sample.
    let times: Vec<i64> = page.sample.iter().map(|r| r.ts).collect();
    if let (Some(min), Some(max)) = (times.iter().min(), times.iter().max()) {
        let n = 40i64;
        let width = ((max - min) / n).max(1);
        let mut bars: Vec<(String, u64)> = (0..n).map(|i| (when_ns(min + i * width), 0)).collect();
        for t in &times {
            let i = (((t - min) / width).min(n - 1)) as usize;
            bars[i].1 += 1;
        }
        let _ = write!(
            b,
            "<div class=\"card\">{}</div>",
            bar_chart(&bars, 900, 110, 10)
        );
    }
    // Facets.
    b.push_str("<h2>Fields</h2><div class=\"facets\">");
    for (f, column) in SAMPLE_FACETS {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for v in page.sample.iter().filter_map(column) {
            *counts.entry(v.to_string()).or_default() += 1;
        }
        facet_card(&mut b, &q, &range, f, "", counts);
    }
    for f in LISTED_FACETS {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for e in &page.events {
            if let Some(v) = e.get("ecs").and_then(|x| x.get(*f)).and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                o => Some(o.to_string()),
            }) {
                *counts.entry(v).or_default() += 1;
            }
        }
        let of = format!(
            " <span class=\"muted\">(of the {} listed)</span>",
            page.events.len()
        );
        facet_card(&mut b, &q, &range, f, &of, counts);
    }
    b.push_str("</div>");
    // Rows.
    let _ = write!(
        b,
        "<h2>Events (newest {} shown)</h2><table><tr><th>Time</th><th>Host</th><th>User</th><th>Code</th><th>Summary</th></tr>",
        page.events.len().min(ROWS)
    );
    for e in page.events.iter().take(ROWS) {
        let ecs = ecs_map(e);
        let seq = e.get("seq").and_then(|v| v.as_i64()).unwrap_or(0);
        let ts = e.get("@timestamp").and_then(|t| t.as_str()).unwrap_or("");
        let summary = summary(e, &ecs);
        let cell = |k: &str, f: &str| {
            ecs.get(k)
                .map(|v| add_link(&q, &range, f, v))
                .unwrap_or_default()
        };
        let _ = write!(
            b,
            "<tr><td><a href=\"/events/{seq}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=\"muted\">{}</td></tr>",
            esc(ts),
            cell("host.name", "host.name"),
            cell("user.name", "user.name"),
            cell("event.code", "event.code"),
            esc(&summary)
        );
    }
    b.push_str("</table>");
    Ok(layout(&who, "/search", "Search", &b))
}

/// `GET /events/{seq}`: one event, original and normalized.
pub(crate) async fn event(
    State(s): State<ApiState>,
    who: Principal,
    Path(seq): Path<String>,
) -> PageResult {
    let n: i64 = seq
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no event `{seq}`")))?;
    let viewer = who.clone();
    let found = s
        .with_db(move |db| {
            Ok(db
                .event_at(n)?
                .filter(|e| viewer.sees(&e.event.organization)))
        })
        .await?;
    let Some(entry) = found else {
        return Err(ApiError::NotFound(format!("no event `{seq}`")).into());
    };
    s.audit(
        &who,
        "event.view",
        &format!("event:{n}"),
        &entry.event.organization,
        "",
    )
    .await?;
    let v = serde_json::to_value(&entry.event).map_err(|e| ApiError::Internal(e.to_string()))?;
    let ecs = ecs_map(&v);
    let mut b = format!(
        "<h1>Event {n}</h1><p class=\"muted\">{} UTC · stored {} UTC · organization {} · via {}</p><h2>Normalized fields</h2><table class=\"kv\">",
        when(entry.event.timestamp),
        when_ns(entry.received_ns),
        esc(&entry.event.organization),
        esc(&entry.event.origin.source)
    );
    for (k, val) in &ecs {
        let field = k.clone();
        let shown = if k == "host.name" {
            format!("{} · {}", add_link("", "7d", &field, val), host_link(val))
        } else {
            add_link("", "7d", &field, val)
        };
        let _ = write!(b, "<tr><td>{}</td><td>{shown}</td></tr>", esc(&field));
    }
    b.push_str("</table><h2>Original</h2>");
    let original = match entry.event.raw_text.as_str() {
        Some(t) => serde_json::from_str::<serde_json::Value>(t)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| t.to_string()),
        None => serde_json::to_string_pretty(&entry.event.raw).unwrap_or_default(),
    };
    let _ = write!(b, "<pre>{}</pre>", esc(&original));
    Ok(layout(&who, "/search", &format!("Event {n}"), &b))
}

#[cfg(test)]
mod tests {
    use wardwatch_store::{EventPage, TotalRelation};

    use super::total_line;

    fn page(total: u64, total_relation: TotalRelation, partial: bool) -> EventPage {
        EventPage {
            total,
            total_relation,
            events: Vec::new(),
            next_cursor: None,
            from: None,
            to: None,
            partial,
            note: None,
            sample: Vec::new(),
        }
    }

    #[test]
    fn the_total_says_whether_it_is_exact_an_estimate_or_a_lower_bound() {
        let exact = total_line(&page(12, TotalRelation::Exact, false));
        assert_eq!(exact, "<b>12</b> event(s) match (exact total)");
        let about = total_line(&page(4000, TotalRelation::Estimate, false));
        assert!(about.starts_with("about <b>4000</b>"), "{about}");
        assert!(about.contains("an estimate"), "{about}");
        let at_least = total_line(&page(2_000_000, TotalRelation::AtLeast, false));
        assert!(
            at_least.starts_with("at least <b>2000000</b>"),
            "{at_least}"
        );
        assert!(at_least.contains("time budget"), "{at_least}");
        // The time budget wins: what was found by then is a lower bound.
        let partial = total_line(&page(7, TotalRelation::AtLeast, true));
        assert!(partial.contains("time budget"), "{partial}");
    }
}
