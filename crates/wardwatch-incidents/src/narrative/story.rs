//! "What happened": the timeline in plain sentences, one line per rule and host.
//!
//! Why a module of its own: turning a step's facts into a sentence ("jsmith opened … from
//! Outlook", "40 failed logons for 30 accounts", "admin-kw added svc_backup2 to the group
//! Administrators") is a family of small cases that grows with the rule pack.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::words::{
    capitalize, clock, day, is_failure, list, list_counted, member, program, shorten, targeted,
};
use crate::context::Context;
use crate::model::{Incident, Step, push_unique};

/// A timeline line: the steps of one rule on one host.
pub(super) struct Line<'a> {
    steps: Vec<&'a Step>,
}

impl Line<'_> {
    fn first(&self) -> &Step {
        self.steps[0]
    }
    fn count(&self) -> u64 {
        self.steps.iter().map(|s| s.count).sum()
    }
    fn last_seen(&self) -> Timestamp {
        self.steps
            .iter()
            .map(|s| s.last_seen)
            .max()
            .unwrap_or(self.first().last_seen)
    }
    fn users(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.steps {
            if let Some(u) = &s.user {
                push_unique(&mut out, u);
            }
        }
        out
    }
}

pub(super) fn lines(incident: &Incident) -> Vec<Line<'_>> {
    let mut out: Vec<Line<'_>> = Vec::new();
    for s in &incident.timeline {
        let same = out.iter_mut().find(|l| {
            let f = l.first();
            f.rule_id == s.rule_id
                && f.host.as_deref().map(str::to_ascii_lowercase)
                    == s.host.as_deref().map(str::to_ascii_lowercase)
        });
        match same {
            Some(l) => l.steps.push(s),
            None => out.push(Line { steps: vec![s] }),
        }
    }
    out
}

pub(super) fn source(s: &Step, ctx: &Context) -> Option<String> {
    let ip = s
        .facts
        .get("IpAddress")
        .or_else(|| s.facts.get("source.ip"));
    let ws = s.facts.get("WorkstationName");
    let host = ws.cloned().or_else(|| {
        ip.and_then(|ip| ctx.inventory.host_for_ip(ip))
            .map(str::to_string)
    });
    match (host, ip) {
        (Some(h), Some(ip)) => Some(format!("{h} ({ip})")),
        (Some(h), None) => Some(h),
        (None, Some(ip)) => match ctx.inventory.asset_for_ip(ip) {
            Some(a) => Some(format!("{ip} ({})", a.describe())),
            None => Some(ip.clone()),
        },
        (None, None) => None,
    }
}

/// What the steps of `line` did, as the rest of a sentence after the place.
/// `used` are the accounts that did more than fail to log on; they are named first.
pub(super) fn action(line: &Line<'_>, ctx: &Context, used: &[String]) -> String {
    let s = line.first();
    let f = |k: &str| s.facts.get(k).map(String::as_str);
    let actor = s.user.clone().unwrap_or_else(|| "someone".to_string());
    let code = f("event.code").unwrap_or("");
    let from = source(s, ctx)
        .map(|src| format!(" from {src}"))
        .unwrap_or_default();
    let mut users = line.users();
    users.sort_by_key(|u| !used.contains(u));

    if let Some(to) = f("email.to.address") {
        let mut out = String::from("a mail");
        if let Some(sender) = f("email.from.address") {
            let _ = write!(out, " from {sender}");
        }
        let _ = write!(out, " reached {to}");
        if let Some(subject) = f("email.subject") {
            let _ = write!(out, " with the subject \"{}\"", shorten(subject, 80));
        }
        if let Some(url) = f("url.full") {
            let _ = write!(out, ", carrying the link {url}");
        }
        return out;
    }
    // The network sensor's lateral movement: addresses, named from the inventory.
    let named = |ip: &str| match ctx.inventory.host_for_ip(ip.trim()) {
        Some(h) => format!("{h} ({})", ip.trim()),
        None => ip.trim().to_string(),
    };
    if let Some(chain) = f("lateral.chain") {
        let hops: Vec<String> = chain.split('→').map(named).collect();
        let how = f("lateral.kind")
            .map(|k| format!(" (last hop: {k})"))
            .unwrap_or_default();
        return format!(
            "the network sensor followed a chain of administration: {}{how}",
            hops.join(" → ")
        );
    }
    if let (Some(edge), Some(kind)) = (f("lateral.edge"), f("lateral.kind"))
        && let Some((a, b)) = edge.split_once('→')
    {
        return format!(
            "a first-seen administrative edge {} → {} ({kind})",
            named(a),
            named(b)
        );
    }
    if is_failure(s) {
        // A correlation alert fires on each logon past its threshold: count the logons (and
        // accounts) behind the alerts, not the alerts.
        let behind = |k: &str| {
            line.steps
                .iter()
                .filter_map(|s| s.facts.get(k)?.parse::<u64>().ok())
                .max()
        };
        let n = behind("correlation.events").unwrap_or_else(|| line.count());
        let accounts =
            behind("correlation.accounts").map_or(users.len(), |a| (a as usize).max(users.len()));
        let tries = if n == 1 {
            "1 failed logon".to_string()
        } else {
            format!("{n} failed logons")
        };
        return match users.as_slice() {
            [] => format!("{tries}{from}"),
            [one] if accounts <= 1 => format!("{tries} for {one}{from}"),
            named => format!(
                "{tries} for {accounts} accounts ({}){from}",
                list_counted(named, accounts, 5)
            ),
        };
    }
    if code == "4720" {
        let subject = f("SubjectUserName").map_or(actor.clone(), str::to_string);
        let target = f("TargetUserName").unwrap_or("an account");
        return format!("{subject} created the account {target}");
    }
    if matches!(code, "4728" | "4732" | "4756") {
        let subject = f("SubjectUserName").map_or(actor.clone(), str::to_string);
        let who = member(s).unwrap_or_else(|| "an account".into());
        let group = f("TargetUserName").unwrap_or("a group");
        return format!("{subject} added {who} to the group {group}");
    }
    if let Some(service) = f("ServiceName") {
        let path = f("ImagePath")
            .map(|p| format!(" ({})", shorten(p, 120)))
            .unwrap_or_default();
        return format!("the service {service}{path} was installed");
    }
    if let Some(kind) = f("LogonType") {
        let how = match kind {
            "2" => "at the keyboard".to_string(),
            "3" => "over the network".to_string(),
            "10" => "by remote desktop".to_string(),
            other => format!("(logon type {other})"),
        };
        let who = if users.len() > 1 {
            list(&users, 5)
        } else {
            actor
        };
        return format!("{who} logged on {how}{from}");
    }
    let parent = f("ParentImage")
        .or(f("process.parent.executable"))
        .map(program);
    if let Some(url) = f("url.full") {
        let by = parent.map(|p| format!(" from {p}")).unwrap_or_default();
        return format!("{actor} opened {url}{by}");
    }
    if let Some(cmd) = f("CommandLine").or(f("process.command_line")) {
        let by = parent
            .map(|p| format!(" (started by {p})"))
            .unwrap_or_default();
        let cmd = shorten(cmd, 160);
        return match &s.user {
            Some(u) => format!("{u} ran `{cmd}`{by}"),
            None => format!("`{cmd}` ran{by}"),
        };
    }
    if let Some(target) = f("TargetImage") {
        let src = f("SourceImage")
            .or(f("Image"))
            .map(program)
            .unwrap_or_else(|| "a process".into());
        return format!("{src} opened the memory of {}", program(target));
    }
    let image = f("Image")
        .or(f("process.executable"))
        .map(program)
        .unwrap_or_else(|| "a program".into());
    let who = match &s.user {
        Some(u) => format!("{image} (run by {u})"),
        None => image,
    };
    if let Some(dest) = f("DestinationHostname").or(f("DestinationIp")) {
        let port = f("DestinationPort")
            .map(|p| format!(" on port {p}"))
            .unwrap_or_default();
        return format!("{who} connected to {dest}{port}");
    }
    if let Some(q) = f("QueryName") {
        return format!("{who} looked up {q}");
    }
    if let Some(file) = f("TargetFilename") {
        return format!("{who} wrote {}", shorten(file, 160));
    }
    if let Some(key) = f("TargetObject") {
        return format!("{who} changed the registry value {}", shorten(key, 160));
    }
    if s.user.is_some() {
        format!("{actor}: {}", s.rule_title)
    } else {
        s.rule_title.clone()
    }
}

pub(super) fn what_happened(incident: &Incident, ctx: &Context) -> Vec<String> {
    let tried = targeted(incident);
    let used: Vec<String> = incident
        .users
        .iter()
        .filter(|u| !tried.contains(u))
        .cloned()
        .collect();
    let dated = day(incident.first_seen) != day(incident.last_seen);
    let mut named: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in lines(incident) {
        let s = line.first();
        let place = match &s.host {
            Some(h) if push_unique(&mut named, &h.to_ascii_lowercase()) => {
                match ctx.inventory.asset_for_host(h) {
                    Some(a) => format!("On {h} ({}), ", a.describe()),
                    None => format!("On {h} (not in the inventory), "),
                }
            }
            Some(h) => format!("On {h}, "),
            None => String::new(),
        };
        let act = action(&line, ctx, &used);
        let sentence = if place.is_empty() {
            capitalize(&act)
        } else {
            format!("{place}{act}")
        };
        let n = line.count();
        let repeat = if n > 1 {
            format!(", {n} times until {}", clock(line.last_seen(), dated))
        } else {
            String::new()
        };
        out.push(format!(
            "{} {sentence}. [{}, {}{repeat}]",
            clock(s.first_seen, dated),
            s.rule_title,
            s.level
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use wardwatch_core::Severity;

    use super::*;

    /// The sentence `action` makes of one step with `facts` by `user`.
    fn check(user: Option<&str>, facts: &[(&str, &str)], expected: &str) {
        let step = Step {
            first_seen: Timestamp::UNIX_EPOCH,
            last_seen: Timestamp::UNIX_EPOCH,
            count: 1,
            rule_id: "r".into(),
            rule_title: "Some rule".into(),
            level: Severity::High,
            host: Some("WS-1".into()),
            user: user.map(str::to_string),
            facts: facts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            tactics: Vec::new(),
            techniques: Vec::new(),
            recommendation: None,
            awareness: None,
        };
        let line = Line { steps: vec![&step] };
        assert_eq!(action(&line, &Context::default(), &[]), expected);
    }

    #[test]
    fn facts_become_sentences() {
        check(
            Some("jsmith"),
            &[
                ("url.full", "https://x.example/a"),
                ("ParentImage", r"C:\O\OUTLOOK.EXE"),
            ],
            "jsmith opened https://x.example/a from Outlook",
        );
        check(
            Some("jsmith"),
            &[("CommandLine", "whoami /all"), ("ParentImage", "cmd.exe")],
            "jsmith ran `whoami /all` (started by cmd.exe)",
        );
        check(
            None,
            &[("CommandLine", "vssadmin delete shadows")],
            "`vssadmin delete shadows` ran",
        );
        check(
            Some("bob"),
            &[("event.code", "4625"), ("IpAddress", "10.1.1.1")],
            "1 failed logon for bob from 10.1.1.1",
        );
        check(
            Some("bob"),
            &[
                ("event.code", "4624"),
                ("LogonType", "10"),
                ("WorkstationName", "WS-2"),
            ],
            "bob logged on by remote desktop from WS-2",
        );
        check(
            Some("kw"),
            &[
                ("event.code", "4720"),
                ("SubjectUserName", "kw"),
                ("TargetUserName", "svc2"),
            ],
            "kw created the account svc2",
        );
        check(
            Some("kw"),
            &[
                ("event.code", "4732"),
                ("SubjectUserName", "kw"),
                ("MemberSid", "S-1-5-21-1"),
                ("TargetUserName", "Administrators"),
            ],
            "kw added S-1-5-21-1 to the group Administrators",
        );
        check(
            None,
            &[("ServiceName", "PSEXESVC")],
            "the service PSEXESVC was installed",
        );
        check(
            Some("amy"),
            &[
                ("Image", r"C:\W\powershell.exe"),
                ("DestinationIp", "185.1.1.1"),
                ("DestinationPort", "443"),
            ],
            "powershell.exe (run by amy) connected to 185.1.1.1 on port 443",
        );
        check(
            None,
            &[("Image", "rundll32.exe"), ("QueryName", "evil.example")],
            "rundll32.exe looked up evil.example",
        );
        check(
            None,
            &[
                ("Image", "winword.exe"),
                ("TargetFilename", r"C:\Users\a\x.exe"),
            ],
            r"Word wrote C:\Users\a\x.exe",
        );
        check(
            None,
            &[("TargetObject", r"HKLM\Run\x")],
            r"a program changed the registry value HKLM\Run\x",
        );
        check(
            None,
            &[
                ("SourceImage", "procdump.exe"),
                ("TargetImage", r"C:\Windows\System32\lsass.exe"),
            ],
            "procdump.exe opened the memory of lsass.exe",
        );
        check(Some("amy"), &[], "amy: Some rule");
        check(None, &[], "Some rule");
    }
}
