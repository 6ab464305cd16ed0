//! The console's HTML: one layout, escaping, links that make queries, and SVG charts drawn on
//! the server.
//!
//! Why plain Rust formatting rather than a template engine: the pages are a handful, their
//! structure is simple, and a proc-macro template crate would add compile time to every build
//! of the server. Every value that comes from data goes through [`esc`] (or [`attr`]) — the
//! only two ways text enters a page — so a hostile host name or command line is shown, never
//! run. No JavaScript framework, no CDN: the page is complete as served.

use std::fmt::Write as _;

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::ApiError;
use crate::auth::{Access, Principal};

/// HTML-escape text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Same as [`esc`]; says at the call site that the text goes into an attribute.
pub fn attr(s: &str) -> String {
    esc(s)
}

/// Percent-encode for a URL query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A query term that finds `value` in `field`: quoted when it holds anything but a plain word
/// (spaces, colons, parentheses, quotes), so clicking a value always gives a query that parses
/// and finds it.
pub fn term(field: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '\\' | '/'));
    if plain {
        format!("{field}:{value}")
    } else {
        format!(
            "{field}:\"{}\"",
            value.replace('\\', "\\\\").replace('"', "\\\"")
        )
    }
}

/// A link to the event search for `q`.
pub fn search_link(q: &str, text: &str) -> String {
    format!("<a href=\"/search?q={}\">{}</a>", url_encode(q), esc(text))
}

/// A value that, clicked, searches for itself in `field` (for those who may search; others see
/// the text).
pub fn value_link(p: &Principal, field: &str, value: &str) -> String {
    if p.may(Access::Search) {
        format!(
            "<a class=\"val\" title=\"search {}\" href=\"/search?q={}\">{}</a>",
            attr(&term(field, value)),
            url_encode(&term(field, value)),
            esc(value)
        )
    } else {
        esc(value)
    }
}

/// A host's page link.
pub fn host_link(name: &str) -> String {
    format!("<a href=\"/hosts/{}\">{}</a>", url_encode(name), esc(name))
}

/// A user's page link.
pub fn user_link(name: &str) -> String {
    format!("<a href=\"/users/{}\">{}</a>", url_encode(name), esc(name))
}

/// A hidden CSRF input for a form of this session.
pub fn csrf_input(p: &Principal) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">",
        attr(p.csrf.as_deref().unwrap_or(""))
    )
}

/// A severity badge.
pub fn severity(s: &str) -> String {
    format!("<span class=\"sev sev-{0}\">{0}</span>", esc(s))
}

/// Nanoseconds since the epoch as `YYYY-MM-DD HH:MM` UTC.
pub fn when_ns(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(ns.into())
        .map(when)
        .unwrap_or_default()
}

/// A time as `YYYY-MM-DD HH:MM` UTC.
pub fn when(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M").to_string()
}

const CSS: &str = r#"
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f4f6f9}
header{background:#16324f;color:#fff;display:flex;align-items:center;gap:18px;padding:0 18px;height:48px}
header a{color:#dbe7f5;text-decoration:none;padding:4px 2px}header a:hover,header a.on{color:#fff;border-bottom:2px solid #7fb3ea}
header .brand{font-weight:700;color:#fff;margin-right:10px}header .me{margin-left:auto;display:flex;gap:10px;align-items:center;color:#dbe7f5}
header form{margin:0}header button{background:none;border:1px solid #7fb3ea;color:#fff;border-radius:4px;padding:3px 10px;cursor:pointer}
main{padding:18px;max-width:1280px;margin:0 auto}h1{font-size:22px;margin:4px 0 14px}h2{font-size:16px;margin:18px 0 8px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:14px}.card{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:12px 14px}
.card h2{margin-top:0}table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e6eaf0;vertical-align:top}
th{font-size:12px;color:#5b6677;text-transform:uppercase;letter-spacing:.03em}tr:hover td{background:#f8fafc}
a{color:#1a5fb4}.muted{color:#6b7686}.sev{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff;background:#8a94a6}
.sev-critical{background:#8b1a1a}.sev-high{background:#c9302c}.sev-medium{background:#e08a00}.sev-low{background:#3a7bd5}.sev-informational{background:#8a94a6}
.quiet{color:#b42318;font-weight:600}.ok{color:#217a3c}.warn{color:#b54708}
form.inline{display:inline}input,select,textarea{font:inherit;padding:5px 7px;border:1px solid #c3ccd7;border-radius:4px}
button,.btn{font:inherit;background:#1a5fb4;color:#fff;border:0;border-radius:4px;padding:6px 12px;cursor:pointer;text-decoration:none}
.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin-bottom:12px}.filters label{display:flex;flex-direction:column;font-size:12px;color:#5b6677}
.narr p{margin:6px 0}.narr ul{margin:4px 0 8px 18px;padding:0}.err{background:#fff4f2;border:1px solid #f3b8ae;border-radius:8px;padding:14px}
.facets{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:10px}.kv td:first-child{color:#5b6677;white-space:nowrap;width:1%}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;border:1px solid #e1e6ec;border-radius:6px;padding:8px;font-size:12px}
a.val{text-decoration:none;border-bottom:1px dotted #1a5fb4}.login{max-width:360px;margin:80px auto;background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:22px}
.login label{display:block;margin:10px 0 4px}.login input{width:100%}.notice{background:#eef5ff;border:1px solid #b6d0f5;border-radius:6px;padding:8px 10px;margin:8px 0}
svg text{font:11px system-ui,sans-serif;fill:#4a5568}
"#;

/// The style sheet (`/static/console.css`).
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

/// `/favicon.ico`: nothing (browsers ask for it on every page; without this route the request
/// would reach the ingest router and count as a refused shipper).
pub async fn favicon() -> axum::http::StatusCode {
    StatusCode::NO_CONTENT
}

/// A whole page: header with the sections this role may open, the sign-out form, `body`.
pub fn layout(p: &Principal, active: &str, title: &str, body: &str) -> Html<String> {
    let mut nav = String::new();
    let items: [(&str, &str, Access); 7] = [
        ("/", "Overview", Access::Read),
        ("/incidents", "Incidents", Access::Read),
        ("/alerts", "Alerts", Access::Read),
        ("/search", "Search", Access::Search),
        ("/rules", "Rules", Access::Read),
        ("/audit", "Audit", Access::Audit),
        ("/admin", "Accounts", Access::Admin),
    ];
    for (href, label, access) in items {
        if p.may(access) {
            let on = if href == active { " class=\"on\"" } else { "" };
            let _ = write!(nav, "<a href=\"{href}\"{on}>{label}</a>");
        }
    }
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t} · Wardwatch</title><link rel=\"stylesheet\" href=\"/static/console.css\"></head>\
         <body><header><span class=\"brand\">Wardwatch</span>{nav}<span class=\"me\">{who} · {role}\
         <form method=\"post\" action=\"/logout\">{csrf}<button type=\"submit\">Sign out</button></form></span></header>\
         <main>{body}</main></body></html>",
        t = esc(title),
        who = esc(&p.name),
        role = p.role.as_str(),
        csrf = csrf_input(p),
    ))
}

/// A page without the navigation (sign-in, errors before sign-in).
pub fn bare(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t} · Wardwatch</title><link rel=\"stylesheet\" href=\"/static/console.css\"></head>\
         <body><header><span class=\"brand\">Wardwatch</span></header><main>{body}</main></body></html>",
        t = esc(title)
    ))
}

/// An error shown as a page: what went wrong in words, and the way back.
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<wardwatch_store::StoreError> for PageError {
    fn from(e: wardwatch_store::StoreError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, _) = self.0.status();
        let heading = match status {
            StatusCode::BAD_REQUEST => "That request could not be understood",
            StatusCode::UNAUTHORIZED => "Please sign in",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::PAYLOAD_TOO_LARGE => "The form is too long",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            StatusCode::CONFLICT => "That cannot be done now",
            _ => "Something went wrong",
        };
        let body = format!(
            "<div class=\"err\"><h1>{}</h1><p>{}</p><p><a href=\"javascript:history.back()\">Back</a> · <a href=\"/\">Overview</a></p></div>",
            esc(heading),
            esc(&self.0.reason())
        );
        (status, bare(heading, &body)).into_response()
    }
}

/// A bar chart of counts over time as SVG: `bars` are (label, value); every `label_every`-th
/// label is written under its bar.
pub fn bar_chart(bars: &[(String, u64)], width: u32, height: u32, label_every: usize) -> String {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let n = bars.len().max(1) as f64;
    let plot_h = f64::from(height) - 18.0;
    let left = 34.0;
    let bw = (f64::from(width) - left) / n;
    let mut out = format!(
        "<svg role=\"img\" aria-label=\"bar chart\" viewBox=\"0 0 {width} {height}\" width=\"100%\" height=\"{height}\" preserveAspectRatio=\"none\">"
    );
    let _ = write!(
        out,
        "<text x=\"0\" y=\"10\">{max}</text><text x=\"0\" y=\"{:.0}\">0</text><line x1=\"{left}\" y1=\"{plot_h:.1}\" x2=\"{width}\" y2=\"{plot_h:.1}\" stroke=\"#c3ccd7\"/>",
        plot_h
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let h = plot_h * (*v as f64) / (max as f64);
        let x = left + i as f64 * bw;
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#3a7bd5\"><title>{}: {v}</title></rect>",
            x + 1.0,
            plot_h - h,
            (bw - 2.0).max(1.0),
            h,
            esc(label)
        );
        if label_every > 0 && i % label_every == 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{}\">{}</text>",
                x + 1.0,
                height - 3,
                esc(label)
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_data_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn clicked_values_make_queries_that_parse_and_find_them() {
        for (field, value) in [
            ("host.name", "PACS01"),
            ("user.name", "HOSPITAL\\anna"),
            ("CommandLine", "powershell -enc \"AAA\" (x)"),
            ("url", "http://evil.example/a?b=c"),
        ] {
            let q = term(field, value);
            let parsed = wardwatch_store::query::parse(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(
                parsed,
                wardwatch_store::query::Query::Field {
                    field: field.into(),
                    value: value.into()
                },
                "{q}"
            );
        }
    }
}
