//! Small helpers that turn values into words: times, lists, program names, account changes.

use jiff::Timestamp;

use crate::model::{Incident, Step};

/// `t` as `HH:MM`, or `YYYY-MM-DD HH:MM` with `with_date`, in UTC.
pub(crate) fn clock(t: Timestamp, with_date: bool) -> String {
    if with_date {
        t.strftime("%Y-%m-%d %H:%M").to_string()
    } else {
        t.strftime("%H:%M").to_string()
    }
}

pub(super) fn day(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

pub(super) fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub(super) fn decapitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

pub(super) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// "a, b and c"; more than `max` items end in "and N more".
pub(super) fn list(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let rest = items.len().saturating_sub(max);
    match (shown.as_slice(), rest) {
        ([], _) => String::new(),
        ([one], 0) => one.to_string(),
        (many, 0) => format!(
            "{} and {}",
            many[..many.len() - 1].join(", "),
            many[many.len() - 1]
        ),
        (many, n) => format!("{} and {n} more", many.join(", ")),
    }
}

/// The file name of a Windows or Unix path, with friendly names for mail and office programs.
pub(super) fn program(path: &str) -> String {
    let name = path.rsplit(['\\', '/']).next().unwrap_or(path);
    match name.to_ascii_lowercase().as_str() {
        "outlook.exe" => "Outlook".into(),
        "winword.exe" => "Word".into(),
        "excel.exe" => "Excel".into(),
        "powerpnt.exe" => "PowerPoint".into(),
        "explorer.exe" => "Explorer".into(),
        "msedge.exe" => "Edge".into(),
        "chrome.exe" => "Chrome".into(),
        "firefox.exe" => "Firefox".into(),
        _ => name.to_string(),
    }
}

/// Whether a step is failed logons only (the accounts were tried, not used).
pub(super) fn is_failure(s: &Step) -> bool {
    let code = s.facts.get("event.code").map(String::as_str);
    s.facts
        .get("event.outcome")
        .is_some_and(|o| o.eq_ignore_ascii_case("failure"))
        || matches!(code, Some("4625" | "4771" | "4776"))
}

/// `CN=svc_backup2,CN=Users,DC=…` → `svc_backup2`.
pub(super) fn member(s: &Step) -> Option<String> {
    let m = s.facts.get("MemberName").filter(|m| m.as_str() != "-");
    match m {
        Some(m) => {
            let first = m.split(',').next().unwrap_or(m);
            Some(first.strip_prefix("CN=").unwrap_or(first).to_string())
        }
        None => s.facts.get("MemberSid").cloned(),
    }
}

/// `items` named, when `total` (at least as many) were seen: "a, b, c and 27 more".
pub(super) fn list_counted(items: &[String], total: usize, max: usize) -> String {
    let shown = &items[..items.len().min(max)];
    match total.saturating_sub(shown.len()) {
        0 => list(shown, max),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// How many accounts were tried without success: those named (`tried`, see [`targeted`]), or
/// more when a correlation counted accounts its alerts do not name (it fires from its
/// threshold on), less the accounts that failed and then got in.
pub(super) fn tried_count(incident: &Incident, tried: &[String]) -> usize {
    let failures = || incident.timeline.iter().filter(|s| is_failure(s));
    let behind = failures()
        .filter_map(|s| s.facts.get("correlation.accounts")?.parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    let got_in = incident
        .users
        .iter()
        .filter(|u| !tried.contains(u))
        .filter(|u| failures().any(|s| s.user.as_deref() == Some(u.as_str())))
        .count();
    tried.len().max(behind.saturating_sub(got_in))
}

/// Users whose every step is a failed logon, and users with no step of their own in an incident
/// of failed logons (the accounts a spraying or guessing correlation names as its targets):
/// tried, not used.
pub(super) fn targeted(incident: &Incident) -> Vec<String> {
    let failures = incident.timeline.iter().any(is_failure);
    incident
        .users
        .iter()
        .filter(|u| {
            let mut steps = incident
                .timeline
                .iter()
                .filter(|s| s.user.as_deref() == Some(u.as_str()));
            let mut any = false;
            let all = steps.all(|s| {
                any = true;
                is_failure(s)
            });
            if any { all } else { failures }
        })
        .cloned()
        .collect()
}
