//! The management report: a week or a month on one page, with recommendations, not just
//! numbers.
//!
//! Why always sent: "no incidents this week" is news to a manager, and a report that stops
//! when nothing happened cannot be told apart from a broken one. Charts are inline SVG (no
//! scripts, no external images), so the page reads the same in a browser, a mail client
//! that shows HTML, and a printed copy; the text part carries the same figures.

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use wardwatch_core::Severity;

use crate::render::{Mail, esc, link, severity_color};

/// What the report says, gathered by the caller from the store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportData {
    /// `week` or `month`.
    pub period: String,
    pub from: Timestamp,
    pub to: Timestamp,
    /// Incidents first seen in the period: (id, title, severity, main host).
    pub incidents: Vec<(String, String, Severity, String)>,
    /// Per calendar week (its Monday, `YYYY-MM-DD`): incidents per severity, informational first.
    pub by_week: Vec<(String, [u64; 5])>,
    /// Most targeted hosts: (host, what it is, incidents).
    pub assets: Vec<(String, String, u64)>,
    /// Most targeted departments: (department, incidents).
    pub departments: Vec<(String, u64)>,
    /// Scanning: (source, alerts, distinct targets).
    pub scanning: Vec<(String, u64, u64)>,
    /// Lateral movement: (from → to, alerts).
    pub lateral: Vec<(String, u64)>,
    /// Time to acknowledge and to resolve (median), and how many of each.
    pub ack_median: Option<SignedDuration>,
    pub acked: u64,
    pub resolve_median: Option<SignedDuration>,
    pub resolved: u64,
    /// Noisiest rules: (title, alerts).
    pub noisy_rules: Vec<(String, u64)>,
    /// Exceptions made in the period: (what it covers, alerts it stopped).
    pub exceptions: Vec<(String, u64)>,
    /// Awareness topics: (person, what they were involved in).
    pub awareness: Vec<(String, String)>,
    /// Ingest health per source: (source, events, last event received, or none in the period).
    pub ingest: Vec<(String, u64, Option<Timestamp>)>,
}

fn count(sev: Severity, d: &ReportData) -> u64 {
    d.incidents.iter().filter(|i| i.2 == sev).count() as u64
}

fn hours(d: SignedDuration) -> String {
    let mins = d.as_secs() / 60;
    if mins < 60 {
        format!("{mins} min")
    } else if mins < 48 * 60 {
        format!("{:.1} h", mins as f64 / 60.0)
    } else {
        format!("{:.1} days", mins as f64 / 1440.0)
    }
}

/// What the numbers call for, in sentences.
pub fn recommendations(d: &ReportData) -> Vec<String> {
    let mut out = Vec::new();
    let serious = count(Severity::Critical, d) + count(Severity::High, d);
    if d.incidents.is_empty() {
        out.push("No incidents this period: keep the routine (patching, backup tests) and check below that every log source still sends.".into());
    }
    if serious > 0 {
        out.push(format!(
            "{serious} high or critical incident{} this period: check each is resolved with a conclusion, and that its lessons (blocked senders, reset accounts) were applied.",
            if serious == 1 { "" } else { "s" }
        ));
    }
    if let Some(m) = d.ack_median
        && m > SignedDuration::from_hours(4)
    {
        out.push(format!(
            "Half the incidents waited more than {} for someone to look: agree who watches the notifications out of hours.",
            hours(m)
        ));
    }
    let open = d.incidents.len() as u64 - d.resolved.min(d.incidents.len() as u64);
    if open > 0 && !d.incidents.is_empty() {
        out.push(format!(
            "{open} incident{} of this period {} not resolved yet.",
            if open == 1 { "" } else { "s" },
            if open == 1 { "is" } else { "are" }
        ));
    }
    if let Some((rule, n)) = d.noisy_rules.first()
        && *n >= 50
    {
        out.push(format!(
            "The rule \"{rule}\" raised {n} alerts: if they are expected, add an exception so real alerts stand out."
        ));
    }
    if !d.awareness.is_empty() {
        out.push(format!(
            "{} colleague{} took part in an attack without knowing it (see Awareness topics): a short, blame-free talk or a targeted training helps more than a general campaign.",
            d.awareness.len(),
            if d.awareness.len() == 1 { "" } else { "s" }
        ));
    }
    let silent: Vec<&str> = d
        .ingest
        .iter()
        .filter(|(_, n, _)| *n == 0)
        .map(|(s, _, _)| s.as_str())
        .collect();
    if !silent.is_empty() {
        out.push(format!(
            "No events from {} in this period: check the sender, or nothing there is watched.",
            silent.join(", ")
        ));
    }
    if !d.scanning.is_empty() {
        out.push(format!(
            "{} source{} scanned the network: find the device behind each and make sure guest and medical networks cannot reach servers.",
            d.scanning.len(),
            if d.scanning.len() == 1 { "" } else { "s" }
        ));
    }
    out
}

/// A horizontal bar chart as inline SVG.
fn bars(rows: &[(String, u64)], color: &str) -> String {
    if rows.is_empty() {
        return String::from("<p style=\"color:#57606a\">None.</p>");
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let h = 22 * rows.len() + 4;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"{h}\" role=\"img\" style=\"font:12px sans-serif\">"
    );
    for (k, (label, n)) in rows.iter().enumerate() {
        let y = 22 * k + 2;
        let w = (*n as f64 / max as f64 * 330.0).max(2.0);
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" fill=\"#1b1f24\">{}</text><rect x=\"250\" y=\"{y}\" width=\"{w:.0}\" height=\"16\" fill=\"{color}\"/><text x=\"{:.0}\" y=\"{}\" fill=\"#1b1f24\">{n}</text>",
            y + 13,
            esc(&shorten(label, 38)),
            250.0 + w + 6.0,
            y + 13
        );
    }
    s.push_str("</svg>");
    s
}

/// Incidents per week, stacked by severity, as inline SVG columns.
fn weeks_chart(d: &ReportData) -> String {
    let max = d
        .by_week
        .iter()
        .map(|(_, c)| c.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let n = d.by_week.len().max(1);
    let col = (560 / n).clamp(30, 90);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"190\" role=\"img\" style=\"font:12px sans-serif\"><line x1=\"40\" y1=\"160\" x2=\"630\" y2=\"160\" stroke=\"#8c959f\"/><text x=\"0\" y=\"20\" fill=\"#57606a\">{max}</text><text x=\"0\" y=\"160\" fill=\"#57606a\">0</text>"
    );
    for (k, (week, counts)) in d.by_week.iter().enumerate() {
        let x = 50 + k * col;
        let mut y = 160.0;
        for (sev, c) in Severity::ALL.iter().zip(counts) {
            if *c == 0 {
                continue;
            }
            let h = *c as f64 / max as f64 * 140.0;
            y -= h;
            let _ = write!(
                s,
                "<rect x=\"{x}\" y=\"{y:.1}\" width=\"{}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}</title></rect>",
                col * 2 / 3,
                severity_color(*sev),
                c,
                sev.as_str()
            );
        }
        let _ = write!(
            s,
            "<text x=\"{x}\" y=\"178\" fill=\"#1b1f24\">{}</text>",
            esc(week.get(5..).unwrap_or(week))
        );
    }
    s.push_str("</svg>");
    s
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// The report as a mail (subject, text and HTML parts); the HTML part is also what
/// `--out FILE.html` writes.
pub fn render(d: &ReportData, console_url: &str) -> Mail {
    let span = format!(
        "{} to {}",
        d.from.strftime("%Y-%m-%d"),
        (d.to - SignedDuration::from_secs(1)).strftime("%Y-%m-%d")
    );
    let what = if d.period == "month" { "month" } else { "week" };
    let headline = if d.incidents.is_empty() {
        format!("No incidents this {what}")
    } else {
        let crit = count(Severity::Critical, d);
        let high = count(Severity::High, d);
        format!(
            "{} incident{} this {what} ({crit} critical, {high} high)",
            d.incidents.len(),
            if d.incidents.len() == 1 { "" } else { "s" }
        )
    };
    let subject = format!("[Wardwatch] {} report {span}: {headline}", capital(what));
    let recs = recommendations(d);

    // Text part.
    let mut t = format!("{headline}\n{}\n\n", "=".repeat(headline.chars().count()));
    let _ = writeln!(t, "Period: {span} (UTC)\n");
    let _ = writeln!(t, "What we recommend\n-----------------");
    for r in &recs {
        let _ = writeln!(t, "- {r}");
    }
    let _ = writeln!(t, "\nIncidents by severity\n---------------------");
    for sev in Severity::ALL.iter().rev() {
        let _ = writeln!(t, "  {:<14}{}", sev.as_str(), count(*sev, d));
    }
    let section = |t: &mut String, head: &str, rows: Vec<String>| {
        let _ = writeln!(t, "\n{head}\n{}", "-".repeat(head.chars().count()));
        if rows.is_empty() {
            let _ = writeln!(t, "  none");
        }
        for r in rows {
            let _ = writeln!(t, "  {r}");
        }
    };
    let mut listed: Vec<String> = d
        .incidents
        .iter()
        .filter(|i| i.2 >= Severity::Medium)
        .map(|(id, title, s, h)| {
            format!("[{}] {title} ({h}) {}", s.as_str(), link(console_url, id))
        })
        .collect();
    let quiet = d.incidents.len() - listed.len();
    if quiet > 0 {
        listed.push(format!(
            "and {quiet} low-severity incident{} (see the console)",
            if quiet == 1 { "" } else { "s" }
        ));
    }
    section(&mut t, "Incidents (medium and above)", listed);
    section(
        &mut t,
        "Incidents by week",
        d.by_week
            .iter()
            .map(|(w, c)| format!("week of {w}: {}", c.iter().sum::<u64>()))
            .collect(),
    );
    section(
        &mut t,
        "Most targeted assets",
        d.assets
            .iter()
            .map(|(h, what, n)| format!("{h} ({what}): {n}"))
            .collect(),
    );
    section(
        &mut t,
        "Most targeted departments",
        d.departments
            .iter()
            .map(|(x, n)| format!("{x}: {n}"))
            .collect(),
    );
    section(
        &mut t,
        "Scanning (where and how many)",
        d.scanning
            .iter()
            .map(|(s, n, targets)| format!("{s}: {n} alerts, {targets} targets"))
            .collect(),
    );
    section(
        &mut t,
        "Lateral movement",
        d.lateral.iter().map(|(p, n)| format!("{p}: {n}")).collect(),
    );
    let ack = d.ack_median.map_or("-".to_string(), hours);
    let res = d.resolve_median.map_or("-".to_string(), hours);
    section(
        &mut t,
        "Response times (median)",
        vec![
            format!("to acknowledge: {ack} ({} acknowledged)", d.acked),
            format!("to resolve: {res} ({} resolved)", d.resolved),
        ],
    );
    section(
        &mut t,
        "Noisiest rules",
        d.noisy_rules
            .iter()
            .map(|(r, n)| format!("{r}: {n} alerts"))
            .collect(),
    );
    section(
        &mut t,
        "Exceptions added",
        d.exceptions
            .iter()
            .map(|(e, n)| format!("{e} ({n} alerts stopped)"))
            .collect(),
    );
    section(
        &mut t,
        "Awareness topics",
        d.awareness
            .iter()
            .map(|(p, w)| format!("{p}: {w}"))
            .collect(),
    );
    section(
        &mut t,
        "Ingest health per source",
        d.ingest
            .iter()
            .map(|(s, n, last)| match last {
                Some(l) => format!("{s}: {n} events, last {}", l.strftime("%Y-%m-%d %H:%M")),
                None => format!("{s}: no events in this period"),
            })
            .collect(),
    );
    let _ = writeln!(
        t,
        "\nConsole: {}/incidents",
        console_url.trim_end_matches('/')
    );

    // HTML part.
    let mut h = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
<body style=\"font-family:Segoe UI,Helvetica,Arial,sans-serif;color:#1b1f24;max-width:760px;margin:16px\">\
<p style=\"color:#57606a\">Wardwatch · {} report · {}</p><h1 style=\"margin:4px 0 12px\">{}</h1>",
        esc(&subject),
        what,
        esc(&span),
        esc(&headline)
    );
    h.push_str("<h2>What we recommend</h2><ul>");
    for r in &recs {
        let _ = write!(h, "<li>{}</li>", esc(r));
    }
    h.push_str("</ul><h2>Incidents by severity</h2>");
    let sev_rows: Vec<(String, u64)> = Severity::ALL
        .iter()
        .rev()
        .map(|s| (s.as_str().to_string(), count(*s, d)))
        .collect();
    h.push_str(&bars(&sev_rows, "#a40e26"));
    h.push_str("<h2>Incidents by week</h2>");
    h.push_str(&weeks_chart(d));
    if !d.incidents.is_empty() {
        h.push_str("<h2>Incidents (medium and above)</h2><ul>");
        for (id, title, s, host) in d.incidents.iter().filter(|i| i.2 >= Severity::Medium) {
            let _ = write!(
                h,
                "<li><strong style=\"color:{}\">{}</strong> <a href=\"{}\">{}</a> ({})</li>",
                severity_color(*s),
                s.as_str(),
                esc(&link(console_url, id)),
                esc(title),
                esc(host)
            );
        }
        let quiet = d
            .incidents
            .iter()
            .filter(|i| i.2 < Severity::Medium)
            .count();
        if quiet > 0 {
            let _ = write!(
                h,
                "<li style=\"color:#57606a\">and {quiet} low-severity incident{} (see the console)</li>",
                if quiet == 1 { "" } else { "s" }
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("<h2>Most targeted assets</h2>");
    h.push_str(&bars(
        &d.assets
            .iter()
            .map(|(x, what, n)| (format!("{x} ({what})"), *n))
            .collect::<Vec<_>>(),
        "#0969da",
    ));
    h.push_str("<h2>Most targeted departments</h2>");
    h.push_str(&bars(&d.departments, "#0969da"));
    h.push_str("<h2>Scanning: where and how many</h2>");
    h.push_str(&bars(
        &d.scanning
            .iter()
            .map(|(s, n, targets)| (format!("{s} → {targets} targets"), *n))
            .collect::<Vec<_>>(),
        "#bc4c00",
    ));
    h.push_str("<h2>Lateral movement</h2>");
    h.push_str(&bars(&d.lateral, "#bc4c00"));
    let _ = write!(
        h,
        "<h2>Response times</h2><p>Median time to acknowledge: <strong>{}</strong> ({} acknowledged). Median time to resolve: <strong>{}</strong> ({} resolved).</p>",
        esc(&ack),
        d.acked,
        esc(&res),
        d.resolved
    );
    h.push_str("<h2>Noisiest rules</h2>");
    h.push_str(&bars(&d.noisy_rules, "#57606a"));
    h.push_str("<h2>Exceptions added</h2>");
    list_html(
        &mut h,
        d.exceptions
            .iter()
            .map(|(e, n)| format!("{e} ({n} alerts stopped)"))
            .collect(),
    );
    h.push_str("<h2>Awareness topics</h2>");
    list_html(
        &mut h,
        d.awareness
            .iter()
            .map(|(p, w)| format!("{p}: {w}"))
            .collect(),
    );
    h.push_str("<h2>Ingest health per source</h2><table style=\"border-collapse:collapse\">");
    h.push_str("<tr><th align=\"left\">source</th><th align=\"right\">events</th><th align=\"left\">last event</th></tr>");
    if d.ingest.is_empty() {
        h.push_str("<tr><td colspan=\"3\">No source sent anything.</td></tr>");
    }
    for (s, n, last) in &d.ingest {
        let last = last.map_or("none in this period".to_string(), |l| {
            l.strftime("%Y-%m-%d %H:%M").to_string()
        });
        let _ = write!(
            h,
            "<tr><td style=\"padding:2px 12px 2px 0\">{}</td><td align=\"right\" style=\"padding:2px 12px\">{n}</td><td>{}</td></tr>",
            esc(s),
            esc(&last)
        );
    }
    let _ = write!(
        h,
        "</table><p><a href=\"{0}/incidents\">{0}/incidents</a></p></body></html>",
        esc(console_url.trim_end_matches('/'))
    );
    Mail {
        subject,
        text: t,
        html: h,
    }
}

fn list_html(h: &mut String, rows: Vec<String>) {
    if rows.is_empty() {
        h.push_str("<p style=\"color:#57606a\">None.</p>");
        return;
    }
    h.push_str("<ul>");
    for r in rows {
        let _ = write!(h, "<li>{}</li>", esc(&r));
    }
    h.push_str("</ul>");
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_week_is_news_too() {
        let d = ReportData {
            period: "week".into(),
            from: "2026-11-30T00:00:00Z".parse().unwrap(),
            to: "2026-12-07T00:00:00Z".parse().unwrap(),
            ingest: vec![("syslog".into(), 0, None)],
            by_week: vec![("2026-11-30".into(), [0; 5])],
            ..ReportData::default()
        };
        let m = render(&d, "https://ww.example");
        assert!(
            m.subject.contains("No incidents this week"),
            "{}",
            m.subject
        );
        assert!(
            m.subject.contains("2026-11-30 to 2026-12-06"),
            "{}",
            m.subject
        );
        assert!(m.html.contains("<svg"));
        assert!(m.text.contains("No events from syslog"), "{}", m.text);
    }
}
