//! The incident's short title: what happened, in words.
//!
//! Why: a subject line and a list row are read in a second. "LSASS Dump Via Comsvcs.dll
//! MiniDump on WS-RAD-019 and PACS01" names the first rule; "Phishing mail led to a password
//! dump and shadow-copy deletion on the PACS server" says what happened. The title is how the
//! incident started, what it led to (the most severe later steps, at most two), and where
//! (the most critical machine those steps touched). It is built from the timeline's ATT&CK
//! techniques and facts, so it works for SigmaHQ rules as well as ours.

use super::words::{capitalize, is_failure};
use crate::context::{AssetClass, Context};
use crate::model::{Incident, Step};

/// What a step did, as a noun phrase, by its most telling technique (first match wins), in
/// the order a title prefers them.
const PHRASES: &[(&str, &str)] = &[
    ("T1486", "file encryption"),
    ("T1490", "shadow-copy deletion"),
    ("T1003", "a password dump"),
    ("T1558", "stolen Kerberos tickets"),
    ("T1550", "a pass-the-hash logon"),
    ("T1078", "a successful logon"),
    ("T1048", "data sent out"),
    ("T1567", "data uploaded to a web service"),
    ("T1562", "protection switched off"),
    ("T1070", "cleared logs"),
    ("T1021.001", "a remote desktop logon"),
    ("T1021", "remote execution"),
    ("T1569", "remote execution"),
    ("T1047", "remote execution"),
    ("T1098@admin", "administrator rights"),
    ("T1136", "a new account"),
    ("T1543", "a new service"),
    ("T1547", "an autostart entry"),
    ("T1053", "a scheduled task"),
    ("T1105", "code downloaded and run"),
    ("T1059", "a script run"),
    ("T1204", "a malicious document opened"),
    ("T1566", "a phishing mail"),
    ("T1110", "password guessing"),
    ("T1071", "contact with an outside server"),
    ("T1087", "network discovery"),
    ("T1018", "network discovery"),
    ("T1482", "network discovery"),
    ("T1218", "a system tool misused"),
    ("T1027", "hidden code"),
    ("T1098", "an account change"),
    ("T1112", "a registry change"),
];

/// The phrase for `step` and its rank in [`PHRASES`] (lower is preferred).
fn phrase(step: &Step) -> (usize, String) {
    let group_add = matches!(
        step.facts.get("event.code").map(String::as_str),
        Some("4728" | "4732" | "4756")
    );
    for (rank, (id, words)) in PHRASES.iter().enumerate() {
        let (id, admin) = match id.strip_suffix("@admin") {
            Some(id) => (id, true),
            None => (*id, false),
        };
        if admin && !group_add {
            continue;
        }
        let hit = step.techniques.iter().any(|t| {
            let t = t.to_ascii_uppercase();
            t == id || t.starts_with(&format!("{id}."))
        });
        if hit {
            return (rank, words.to_string());
        }
    }
    (PHRASES.len(), step.rule_title.to_lowercase())
}

/// How it started: the first step, told as a beginning.
fn start(incident: &Incident, ctx: &Context) -> String {
    let Some(first) = incident.timeline.first() else {
        return "Alerts".into();
    };
    if first.facts.contains_key("email.to.address") {
        return "Phishing mail".into();
    }
    if is_failure(first) {
        let accounts = incident
            .timeline
            .iter()
            .filter(|s| is_failure(s))
            .filter_map(|s| s.user.as_deref())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let what = if accounts > 2 || first.rule_title.to_lowercase().contains("spray") {
            "Password spraying"
        } else {
            "Password guessing"
        };
        let from = first
            .facts
            .get("IpAddress")
            .or_else(|| first.facts.get("source.ip"))
            .and_then(|ip| ctx.inventory.asset_for_ip(ip))
            .filter(|a| a.class != AssetClass::Unknown)
            .map(|a| format!(" from a {}", a.class.words()))
            .unwrap_or_default();
        return format!("{what}{from}");
    }
    capitalize(&phrase(first).1)
}

/// Where: the most critical of `hosts`, by its kind for the systems a hospital names by kind
/// ("the PACS server"), else by name. The narrative names the others.
fn place(hosts: &[&str], ctx: &Context) -> String {
    let mut best: Option<(&str, u8, AssetClass)> = None;
    for h in hosts {
        let (crit, class) = ctx
            .inventory
            .asset_for_host(h)
            .map_or((3, AssetClass::Unknown), |a| (a.criticality, a.class));
        if best.is_none_or(|(_, c, _)| crit > c) {
            best = Some((h, crit, class));
        }
    }
    let Some((host, _, class)) = best else {
        return String::new();
    };
    match class {
        AssetClass::Pacs
        | AssetClass::EprServer
        | AssetClass::DomainController
        | AssetClass::MedicalDevice => format!(" on the {}", class.words()),
        _ => format!(" on {host}"),
    }
}

/// The incident's title in words (see the module doc).
pub(crate) fn short_title(incident: &Incident, ctx: &Context) -> String {
    let begin = start(incident, ctx);
    let first_phrase = incident.timeline.first().map(|s| phrase(s).1);
    let later: Vec<&Step> = incident
        .timeline
        .iter()
        .skip(1)
        .filter(|s| Some(phrase(s).1) != first_phrase && !is_failure(s))
        .collect();
    let top = later.iter().map(|s| s.level).max();
    let mut chosen: Vec<(usize, usize, String, &Step)> = Vec::new();
    for (order, s) in later.iter().enumerate() {
        if Some(s.level) != top {
            continue;
        }
        let (rank, words) = phrase(s);
        if !chosen.iter().any(|c| c.2 == words) {
            chosen.push((rank, order, words, s));
        }
    }
    chosen.sort_by_key(|c| c.0);
    chosen.truncate(2);
    chosen.sort_by_key(|c| c.1);
    // The place: where the chosen steps happened (of all their steps with the same phrase),
    // else every host of the incident.
    let mut hosts: Vec<&str> = Vec::new();
    for s in &later {
        let words = phrase(s).1;
        if chosen.iter().any(|c| c.2 == words)
            && let Some(h) = s.host.as_deref()
            && !hosts.iter().any(|x| x.eq_ignore_ascii_case(h))
        {
            hosts.push(h);
        }
    }
    if hosts.is_empty() {
        hosts = incident.hosts.iter().map(String::as_str).collect();
    }
    let place = place(&hosts, ctx);
    match chosen.as_slice() {
        [] => format!("{begin}{place}"),
        [one] => format!("{begin} led to {}{place}", one.2),
        [a, b, ..] => format!("{begin} led to {} and {}{place}", a.2, b.2),
    }
}
