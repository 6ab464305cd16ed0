//! Mail campaigns and the click that follows.
//!
//! A campaign: flagged messages (`wardwatch.mail.verdict` phishing or suspicious) that share
//! a URL, an attachment hash, the sending server with the sender's domain, or a subject pattern
//! (digits and spacing aside) across recipients within [`WINDOW`]. From [`MIN_RECIPIENTS`]
//! recipients on, each message of it raises the campaign alert naming every recipient so far,
//! so all of them land in one incident (recipients link alerts causally).
//!
//! The click: a later proxy, DNS, URL-click or process event whose URL or host is one of the
//! campaign's links. It raises a high alert naming the account, the machine, the recipient's
//! address and the campaign, with an awareness note for that person in plain words: what they
//! received, what they did, what to check — the note a managed service sends ("raise
//! awareness with this user: he clicked this URL").
//!
//! Why here: a message alone is one alert per mailbox; forty alerts for one lure bury the
//! analyst, and the click — the moment a phish becomes an intrusion — is in another log.
//! ATT&CK T1566 (phishing), T1204.001 (malicious link).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wardwatch_core::{Entity, EntityKind, Event, Severity};

use super::{Hit, meta};
use crate::engine::{Detection, Finding};
use crate::pack::RuleMeta;

/// Recipients from which flagged messages sharing a key are a campaign.
const MIN_RECIPIENTS: usize = 3;
/// How long after its last message a campaign takes new messages.
const WINDOW: i64 = 72 * 3600;
/// How long after its last message a click on its links is joined to it.
const CLICK_WINDOW: i64 = 14 * 24 * 3600;
const MAX_CAMPAIGNS: usize = 2_000;
const MAX_RECIPIENTS: usize = 1_000;

fn campaign_rule() -> Arc<RuleMeta> {
    let mut m = meta(
        "analytic-mail-campaign",
        "Phishing Campaign: The Same Lure Reached Several Staff",
        Severity::Medium,
        &["attack.initial_access", "attack.t1566"],
        "Suspicious or phishing mail sharing a link, an attachment, a sending server or a subject reached several people. One campaign is one incident: every recipient is listed, so the mail can be pulled from every mailbox at once.",
        "Pull the message from every listed mailbox (search by the sender and subject), block the sender's domain and the links at the mail gateway and proxy, and watch for the link being opened: anyone who opened it gets a separate, high alert.",
    );
    Arc::make_mut(&mut m).product = None;
    m
}

fn click_rule(awareness: String) -> Arc<RuleMeta> {
    let mut m = meta(
        "analytic-mail-campaign-click",
        "Link From A Phishing Campaign Opened",
        Severity::High,
        &[
            "attack.execution",
            "attack.t1204.001",
            "attack.initial_access",
            "attack.t1566.002",
        ],
        "Someone opened a link from a phishing campaign: the proxy, DNS, click log or a process on the machine shows its address after the mail arrived.",
        "Talk with the person today. Check on the machine what the page was (sign-in form, download), look for downloads and new processes after the click, and if a password may have been typed, reset it and end the account's sessions; check the account's sign-ins and mailbox rules since.",
    );
    let inner = Arc::make_mut(&mut m);
    inner.wardwatch.awareness = Some(awareness);
    inner.product = None;
    m
}

/// What the campaign analytics keep of a mail event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct MailFacts {
    pub to: Vec<String>,
    pub from: String,
    pub subject: String,
    pub urls: Vec<String>,
    pub hashes: Vec<String>,
    pub sender_ip: String,
    pub flagged: bool,
}

/// What they keep of an event that may be a click.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ClickFacts {
    /// The URL, when the source has it; else empty.
    pub url: String,
    /// The host the user reached (the URL's, or the DNS name asked for).
    pub host: String,
    pub user: String,
    pub device: String,
    /// `proxy`, `DNS`, `URL-click log`, `process`.
    pub how: String,
}

fn text_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s
            .split([',', ';'])
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

fn path<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    if let Some(flat) = v.get(dotted) {
        return Some(flat);
    }
    let mut cur = v;
    for part in dotted.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

impl MailFacts {
    pub(crate) fn of(event: &Event) -> Option<Self> {
        if let Some(m) = event.raw.get("mail") {
            return serde_json::from_value(m.clone()).ok();
        }
        if event.ecs.event_category.as_deref() != Some("email") {
            return None;
        }
        let raw = &event.raw;
        let to: Vec<String> = text_list(path(raw, "email.to.address"))
            .into_iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if to.is_empty() {
            return None;
        }
        let verdict = path(raw, "wardwatch.mail.verdict")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut hashes = Vec::new();
        if let Some(Value::Array(atts)) = path(raw, "email.attachments") {
            for a in atts {
                if let Some(h) = path(a, "file.hash.sha256").and_then(Value::as_str) {
                    hashes.push(h.to_ascii_lowercase());
                }
            }
        }
        Some(Self {
            to,
            from: text_list(path(raw, "email.from.address"))
                .first()
                .cloned()
                .unwrap_or_default()
                .to_ascii_lowercase(),
            subject: path(raw, "email.subject")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            urls: text_list(path(raw, "url.full")),
            hashes,
            sender_ip: event.ecs.source_ip.clone().unwrap_or_default(),
            flagged: matches!(verdict, "phishing" | "suspicious"),
        })
    }

    /// What ties this message to others of its campaign.
    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .urls
            .iter()
            .map(|u| format!("url {}", normalize_url(u)))
            .collect();
        keys.extend(self.hashes.iter().map(|h| format!("sha256 {h}")));
        let domain = self.from.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        if !self.sender_ip.is_empty() && !domain.is_empty() {
            keys.push(format!("sender {} {domain}", self.sender_ip));
        }
        let pattern = subject_pattern(&self.subject);
        if pattern.len() >= 12 {
            keys.push(format!("subject {pattern}"));
        }
        keys
    }
}

impl ClickFacts {
    pub(crate) fn of(event: &Event) -> Option<Self> {
        if let Some(c) = event.raw.get("click") {
            return serde_json::from_value(c.clone()).ok();
        }
        if event.ecs.event_category.as_deref() == Some("email") {
            return None;
        }
        let raw = &event.raw;
        let user = event
            .ecs
            .user_name
            .clone()
            .or_else(|| {
                path(raw, "user.email")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let device = event.ecs.host_name.clone().unwrap_or_default();
        let (url, how) = if let Some(u) = event
            .ecs
            .url_full
            .clone()
            .or_else(|| text_list(path(raw, "url.full")).into_iter().next())
        {
            let how = if path(raw, "event.action")
                .and_then(Value::as_str)
                .is_some_and(|a| a.contains("click"))
            {
                "URL-click log"
            } else {
                "proxy"
            };
            (u, how)
        } else if let Some(q) = path(raw, "dns.question.name").and_then(Value::as_str) {
            return Some(Self {
                url: String::new(),
                host: q.trim_end_matches('.').to_ascii_lowercase(),
                user,
                device,
                how: "DNS".into(),
            });
        } else {
            let cmd = event.ecs.process_command_line.clone().or_else(|| {
                raw.get("CommandLine")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })?;
            let start = cmd.find("http://").or_else(|| cmd.find("https://"))?;
            let end = cmd[start..]
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .map(|e| start + e)
                .unwrap_or(cmd.len());
            (cmd[start..end].to_string(), "process")
        };
        let host = host_of(&url)?;
        Some(Self {
            url,
            host,
            user,
            device,
            how: how.into(),
        })
    }
}

pub(super) fn wants(event: &Event) -> bool {
    MailFacts::of(event).is_some() || ClickFacts::of(event).is_some()
}

/// The reduced copy's record: what the analytics read, nothing else.
pub(super) fn reduced_raw(event: &Event) -> Option<serde_json::Map<String, Value>> {
    let mut raw = serde_json::Map::new();
    if let Some(m) = MailFacts::of(event) {
        raw.insert("mail".into(), serde_json::to_value(m).ok()?);
    } else if let Some(c) = ClickFacts::of(event) {
        raw.insert("click".into(), serde_json::to_value(c).ok()?);
    } else {
        return None;
    }
    Some(raw)
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    let host = host
        .split(':')
        .next()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// A URL compared across messages and logs: no scheme, no trailing slash, lower-case host.
fn normalize_url(u: &str) -> String {
    let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
    let (host, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    format!(
        "{}{}",
        host.to_ascii_lowercase(),
        tail.trim_end_matches('/')
    )
}

/// A subject with the parts that change per recipient removed (digits, reply prefixes,
/// spacing and punctuation).
fn subject_pattern(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut t = lower.trim();
    loop {
        let before = t;
        for p in ["re:", "fw:", "fwd:", "aw:", "wg:", "tr:"] {
            t = t.strip_prefix(p).unwrap_or(t).trim_start();
        }
        if t == before {
            break;
        }
    }
    t.chars()
        .filter(|c| c.is_alphabetic() || c.is_whitespace())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Campaign {
    id: String,
    first: i64,
    last: i64,
    subject: String,
    from: String,
    keys: BTreeSet<String>,
    recipients: BTreeSet<String>,
    /// When each recipient's message arrived.
    received: BTreeMap<String, i64>,
    urls: BTreeSet<String>,
    hosts: BTreeSet<String>,
    /// Users or machines already alerted for a click.
    clicked: BTreeSet<String>,
}

#[derive(Default, Serialize, Deserialize)]
pub(super) struct MailCampaigns {
    campaigns: Vec<Campaign>,
    next_id: u64,
}

impl MailCampaigns {
    pub(super) fn metas() -> Vec<Arc<RuleMeta>> {
        vec![campaign_rule(), click_rule(String::new())]
    }

    pub(super) fn observe(&mut self, event: &Event, out: &mut Vec<Hit>) {
        let t = event.timestamp.as_second();
        if let Some(m) = MailFacts::of(event) {
            if m.flagged {
                self.message(t, &m, out);
            }
        } else if let Some(c) = ClickFacts::of(event) {
            self.click(t, &c, out);
        }
    }

    fn message(&mut self, t: i64, m: &MailFacts, out: &mut Vec<Hit>) {
        let keys = m.keys();
        if keys.is_empty() {
            return;
        }
        let found = self
            .campaigns
            .iter()
            .position(|c| t - c.last <= WINDOW && keys.iter().any(|k| c.keys.contains(k)));
        let idx = match found {
            Some(i) => i,
            None => {
                if self.campaigns.len() >= MAX_CAMPAIGNS {
                    let oldest = self
                        .campaigns
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, c)| c.last)
                        .map(|(i, _)| i)
                        .unwrap_or(0);
                    self.campaigns.swap_remove(oldest);
                }
                self.next_id += 1;
                self.campaigns.push(Campaign {
                    id: format!("mail-campaign-{}-{}", t, self.next_id),
                    first: t,
                    subject: m.subject.clone(),
                    from: m.from.clone(),
                    ..Campaign::default()
                });
                self.campaigns.len() - 1
            }
        };
        let c = &mut self.campaigns[idx];
        c.last = c.last.max(t);
        c.keys.extend(keys);
        for u in &m.urls {
            c.urls.insert(normalize_url(u));
            if let Some(h) = host_of(u) {
                c.hosts.insert(h);
            }
        }
        let mut new = false;
        for r in &m.to {
            if c.recipients.len() < MAX_RECIPIENTS && c.recipients.insert(r.clone()) {
                c.received.insert(r.clone(), t);
                new = true;
            }
        }
        if new && c.recipients.len() >= MIN_RECIPIENTS {
            let mut entities: Vec<Entity> = c
                .recipients
                .iter()
                .map(|r| Entity::new(EntityKind::Email, r))
                .collect();
            if !c.from.is_empty() {
                entities.insert(0, Entity::new(EntityKind::Email, &c.from));
            }
            let facts = vec![
                ("mail.campaign.id".to_string(), c.id.clone()),
                (
                    "mail.campaign.recipients".to_string(),
                    c.recipients.len().to_string(),
                ),
                ("email.subject".to_string(), c.subject.clone()),
                ("email.from.address".to_string(), c.from.clone()),
                (
                    "email.to.address".to_string(),
                    recipients_text(&c.recipients),
                ),
                (
                    "mail.campaign.urls".to_string(),
                    c.urls.iter().take(5).cloned().collect::<Vec<_>>().join(" "),
                ),
            ];
            out.push(Detection {
                rule: campaign_rule(),
                correlation: None,
                entities,
                finding: Some(Arc::new(Finding { facts })),
            });
        }
    }

    fn click(&mut self, t: i64, click: &ClickFacts, out: &mut Vec<Hit>) {
        let url_key = (!click.url.is_empty()).then(|| normalize_url(&click.url));
        for c in &mut self.campaigns {
            if t < c.first || t - c.last > CLICK_WINDOW || c.recipients.len() < MIN_RECIPIENTS {
                continue;
            }
            let matches = url_key.as_ref().is_some_and(|u| c.urls.contains(u))
                || c.hosts.contains(&click.host);
            if !matches {
                continue;
            }
            let who = if click.user.is_empty() {
                click.device.to_ascii_lowercase()
            } else {
                account(&click.user)
            };
            if who.is_empty() || !c.clicked.insert(who.clone()) {
                continue;
            }
            let recipient = c
                .recipients
                .iter()
                .find(|r| account(r) == account(&click.user) || r.eq_ignore_ascii_case(&click.user))
                .cloned();
            let when = |s: i64| {
                jiff::Timestamp::from_second(s)
                    .map(|t| t.strftime("%A %d %B at %H:%M UTC").to_string())
                    .unwrap_or_default()
            };
            let received = recipient
                .as_ref()
                .and_then(|r| c.received.get(r))
                .copied()
                .unwrap_or(c.first);
            let target = if click.url.is_empty() {
                click.host.clone()
            } else {
                click.url.clone()
            };
            let on = if click.device.is_empty() {
                String::new()
            } else {
                format!(" on {}", click.device)
            };
            let awareness = format!(
                "What you received: a mail{} from {} with the subject \"{}\" on {} — it was sent to {} people here and is a phishing attempt. \
                 What you did: on {}{on} you opened its link {target}. \
                 What to check now: if the page asked for your password, change it today and tell the IT service desk; \
                 if something was downloaded or you allowed anything to run, leave the computer on and call the IT service desk. \
                 Next time, check the sender's address and hover over a link before opening it; when in doubt, forward the mail to the IT service desk.",
                recipient
                    .as_ref()
                    .map(|r| format!(" to {r}"))
                    .unwrap_or_default(),
                if c.from.is_empty() {
                    "an unknown sender"
                } else {
                    &c.from
                },
                c.subject,
                when(received),
                c.recipients.len(),
                when(t),
            );
            let mut entities = Vec::new();
            if let Some(r) = &recipient {
                entities.push(Entity::new(EntityKind::Email, r));
            }
            if !click.user.is_empty() {
                entities.push(Entity::new(EntityKind::User, &click.user));
            }
            if !click.device.is_empty() {
                entities.push(Entity::new(EntityKind::Host, &click.device));
            }
            let facts = vec![
                ("mail.campaign.id".to_string(), c.id.clone()),
                ("mail.click.how".to_string(), click.how.clone()),
                ("url.full".to_string(), target.clone()),
                ("email.subject".to_string(), c.subject.clone()),
                ("email.from.address".to_string(), c.from.clone()),
            ];
            out.push(Detection {
                rule: click_rule(awareness),
                correlation: None,
                entities,
                finding: Some(Arc::new(Finding { facts })),
            });
        }
    }
}

/// `40 people: ann@…, bob@…, cat@… and 37 more`.
fn recipients_text(r: &BTreeSet<String>) -> String {
    let shown: Vec<&str> = r.iter().take(3).map(String::as_str).collect();
    let more = r.len().saturating_sub(shown.len());
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{} people: {}{tail}", r.len(), shown.join(", "))
}

/// The account part of `HOSPITAL\jsmith`, `jsmith@hospital.org` or `jsmith`, lower-cased.
fn account(s: &str) -> String {
    let s = s.rsplit('\\').next().unwrap_or(s);
    s.split('@').next().unwrap_or(s).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wardwatch_core::{Origin, SourceKind};

    fn event(secs: i64, raw: Value, category: Option<&str>) -> Event {
        let mut e = Event {
            timestamp: jiff::Timestamp::from_second(1_780_000_000 + secs).unwrap(),
            time_text: None,
            organization: "default".into(),
            source_kind: SourceKind::Json,
            origin: Origin::default(),
            ecs: Default::default(),
            raw,
            raw_text: Default::default(),
            received: None,
            time_skew: None,
        };
        e.ecs.event_category = category.map(str::to_string);
        e
    }

    fn mail(secs: i64, to: &str, verdict: &str) -> Event {
        event(
            secs,
            json!({"email": {"to": {"address": [to]}, "from": {"address": ["it@rnicrosoft-support.example"]},
                   "subject": format!("Mailbox quota {secs}")},
                   "url": {"full": ["https://login.rnicrosoft-support.example/owa?u=1"]},
                   "wardwatch": {"mail": {"verdict": verdict}}}),
            Some("email"),
        )
    }

    #[test]
    fn campaign_from_the_third_recipient_and_one_click_each() {
        let mut a = MailCampaigns::default();
        let mut out = Vec::new();
        for (i, who) in [
            "ann@h.example",
            "bob@h.example",
            "cat@h.example",
            "dan@h.example",
        ]
        .iter()
        .enumerate()
        {
            a.observe(&mail(i as i64 * 60, who, "phishing"), &mut out);
        }
        assert_eq!(out.len(), 2, "third and fourth recipient");
        assert_eq!(out[1].entities.len(), 5, "sender and four recipients");
        out.clear();
        let mut click = event(
            3600,
            json!({"url": {"full": "https://login.rnicrosoft-support.example/owa?u=1/"}}),
            Some("web"),
        );
        click.ecs.user_name = Some("HOSP\\bob".into());
        click.ecs.host_name = Some("WS-ICU-7".into());
        click.ecs.url_full = Some("https://login.rnicrosoft-support.example/owa?u=1/".into());
        a.observe(&click, &mut out);
        a.observe(&click, &mut out);
        assert_eq!(out.len(), 1, "one alert per person");
        let note = out[0].rule.wardwatch.awareness.clone().unwrap();
        assert!(
            note.contains("bob@h.example")
                && note.contains("WS-ICU-7")
                && note.contains("opened its link"),
            "{note}"
        );
        assert!(
            out[0]
                .entities
                .iter()
                .any(|e| e.kind == EntityKind::Email && e.value == "bob@h.example")
        );
    }

    #[test]
    fn clean_mail_is_no_campaign_and_dns_clicks_count() {
        let mut a = MailCampaigns::default();
        let mut out = Vec::new();
        for (i, who) in ["a@h.example", "b@h.example", "c@h.example"]
            .iter()
            .enumerate()
        {
            a.observe(&mail(i as i64, who, "clean"), &mut out);
        }
        assert!(out.is_empty());
        for (i, who) in ["a@h.example", "b@h.example", "c@h.example"]
            .iter()
            .enumerate()
        {
            a.observe(&mail(10 + i as i64, who, "suspicious"), &mut out);
        }
        assert_eq!(out.len(), 1);
        let mut dns = event(
            100,
            json!({"dns": {"question": {"name": "login.rnicrosoft-support.example."}}}),
            Some("network"),
        );
        dns.ecs.host_name = Some("WS-2".into());
        out.clear();
        a.observe(&dns, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].finding.as_ref().unwrap().facts[1].1, "DNS");
    }
}
