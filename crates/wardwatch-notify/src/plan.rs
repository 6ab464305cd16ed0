//! Who hears about what, and when: the decisions, with no I/O.
//!
//! Why pure: these are the rules a hospital tunes and has to trust at 3 a.m. — one message
//! when an incident opens, one more only when it gets worse, never one per alert; quiet hours
//! that hold back what can wait but never a critical incident; a per-recipient rate limit that
//! ends with a plain "N more incidents: see the console" line instead of silence. Kept pure
//! (state in, state and messages out, the clock passed in) they are tested exhaustively and
//! replayed after a restart from the stored [`PlanState`].
//!
//! Each recipient is tracked on its own: a recipient whose route starts at `high` hears of a
//! medium incident for the first time when it becomes high, and that is its opening message.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;
use wardwatch_incidents::{Context, IncidentDoc};

use crate::config::{NotifyConfig, Route, WebhookFormat, hhmm};
use crate::render::{self, Mail, Reason};

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type", content = "to")]
pub enum Recipient {
    Mail(String),
    Webhook(String),
}

impl Recipient {
    /// `mail:it@hospital.example`, `webhook:teams`.
    pub fn key(&self) -> String {
        match self {
            Recipient::Mail(a) => format!("mail:{a}"),
            Recipient::Webhook(n) => format!("webhook:{n}"),
        }
    }

    /// The inverse of [`Recipient::key`].
    pub fn from_key(key: &str) -> Option<Recipient> {
        let (kind, to) = key.split_once(':')?;
        match kind {
            "mail" => Some(Recipient::Mail(to.to_string())),
            "webhook" => Some(Recipient::Webhook(to.to_string())),
            _ => None,
        }
    }
}

/// A rendered message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Mail(Mail),
    /// A webhook's JSON body, as sent.
    Json(String),
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Unique per incident event and recipient: queued twice, sent once.
    pub id: String,
    pub recipient: Recipient,
    /// `opened`, `escalated`, `digest`, `more`, `report`, `test`.
    pub kind: &'static str,
    pub incident: Option<String>,
    /// Held back until then (quiet hours).
    pub not_before: Timestamp,
    /// A short line for the delivery list (the mail subject, or the webhook's event).
    pub subject: String,
    pub content: Content,
}

/// What a recipient was last told about an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Told {
    severity: Severity,
    /// Lowercased.
    hosts: Vec<String>,
    privileged: Vec<String>,
    alerts: u64,
    escalations: u32,
}

/// Updates waiting for a recipient's digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pending {
    since: Timestamp,
    /// id → (title, severity), latest.
    incidents: BTreeMap<String, (String, Severity)>,
}

/// A recipient's current rate-limit hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Window {
    start: Timestamp,
    sent: u32,
    /// Incidents not told because of the limit: id → (title, severity).
    held: BTreeMap<String, (String, Severity)>,
}

/// Everything the planner remembers; stored as JSON with the messages it produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanState {
    /// incident id → recipient key → what they were told.
    told: BTreeMap<String, BTreeMap<String, Told>>,
    /// recipient key → digest waiting.
    pending: BTreeMap<String, Pending>,
    /// recipient key → rate-limit window.
    windows: BTreeMap<String, Window>,
    /// The last report period sent by the schedule (`week:2026-11-30`).
    #[serde(default)]
    pub last_report: Option<String>,
}

impl PlanState {
    /// How many incidents are tracked (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.told.len()
    }
}

/// A list message (digest, "N more") before rendering.
struct List<'a> {
    kind: &'static str,
    id: String,
    subject: String,
    intro: String,
    items: &'a [(String, String, Severity)],
    closing: Option<&'a str>,
    not_before: Timestamp,
}

/// The decisions, for one configuration and context.
pub struct Planner<'a> {
    pub cfg: &'a NotifyConfig,
    pub ctx: &'a Context,
}

const HOUR: SignedDuration = SignedDuration::from_hours(1);

fn norm_tag(t: &str) -> String {
    let t = t.trim().to_ascii_lowercase();
    t.strip_prefix("attack.").unwrap_or(&t).replace('_', "-")
}

impl Planner<'_> {
    fn matches(&self, r: &Route, doc: &IncidentDoc) -> bool {
        let i = &doc.incident;
        if i.severity < r.min_severity {
            return false;
        }
        if !r.organizations.is_empty() && !r.organizations.contains(&i.organization) {
            return false;
        }
        if !r.asset_classes.is_empty() {
            let hit = i.hosts.iter().any(|h| {
                let class = self
                    .ctx
                    .inventory
                    .asset_for_host(h)
                    .map_or("unknown", |a| a.class.as_str());
                r.asset_classes
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(class))
            });
            if !hit {
                return false;
            }
        }
        if !r.departments.is_empty() {
            let mut depts: Vec<String> = Vec::new();
            for h in &i.hosts {
                if let Some(d) = self
                    .ctx
                    .inventory
                    .asset_for_host(h)
                    .and_then(|a| a.department.clone())
                {
                    depts.push(d);
                }
            }
            for u in &i.users {
                if let Some(d) = self.ctx.roster.person(u).and_then(|p| p.department.clone()) {
                    depts.push(d);
                }
            }
            if !depts
                .iter()
                .any(|d| r.departments.iter().any(|x| x.eq_ignore_ascii_case(d)))
            {
                return false;
            }
        }
        if !r.tags.is_empty() {
            let have: Vec<String> = i
                .tactics
                .iter()
                .chain(&i.techniques)
                .map(|t| norm_tag(t))
                .collect();
            if !r.tags.iter().any(|t| have.contains(&norm_tag(t))) {
                return false;
            }
        }
        true
    }

    /// Everyone the routes send `doc` to, each once, in route order.
    pub fn recipients(&self, doc: &IncidentDoc) -> Vec<Recipient> {
        let mut out: Vec<Recipient> = Vec::new();
        for r in self.cfg.routes.iter().filter(|r| self.matches(r, doc)) {
            let all =
                r.to.iter()
                    .map(|a| Recipient::Mail(a.trim().to_string()))
                    .chain(r.webhooks.iter().map(|w| Recipient::Webhook(w.clone())));
            for x in all {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
        }
        out
    }

    /// Whether `now` is in the quiet hours, and if so when they end.
    pub fn quiet_until(&self, now: Timestamp) -> Option<Timestamp> {
        let q = &self.cfg.quiet_hours;
        let (start, end) = (hhmm(&q.start)?, hhmm(&q.end)?);
        if start == end {
            return None;
        }
        let tz = jiff::tz::TimeZone::get(&q.timezone).ok()?;
        let local = now.to_zoned(tz);
        let minute = local.hour() as u32 * 60 + local.minute() as u32;
        let inside = if start < end {
            minute >= start && minute < end
        } else {
            minute >= start || minute < end
        };
        if !inside {
            return None;
        }
        let day = local.start_of_day().ok()?;
        let mut at = day.checked_add((end as i64).minutes()).ok()?.timestamp();
        if at <= now {
            at = day
                .checked_add(1.day())
                .ok()?
                .checked_add((end as i64).minutes())
                .ok()?
                .timestamp();
        }
        Some(at)
    }

    /// When a message about an incident of `severity` may go out.
    fn not_before(&self, severity: Severity, now: Timestamp) -> Timestamp {
        if severity >= Severity::Critical || severity >= self.cfg.quiet_hours.let_through {
            return now;
        }
        self.quiet_until(now).unwrap_or(now)
    }

    /// Count one message to `who` against the rate limit; false (and the incident held for
    /// the "N more" note) when the hour is used up.
    fn admit(
        &self,
        state: &mut PlanState,
        who: &str,
        held: &[(String, String, Severity)],
        now: Timestamp,
    ) -> bool {
        let limit = self.cfg.rate_limit_per_hour;
        if limit == 0 {
            return true;
        }
        let w = state.windows.entry(who.to_string()).or_insert(Window {
            start: now,
            sent: 0,
            held: BTreeMap::new(),
        });
        if now.duration_since(w.start) >= HOUR && w.held.is_empty() {
            *w = Window {
                start: now,
                sent: 0,
                held: BTreeMap::new(),
            };
        }
        if w.sent < limit {
            w.sent += 1;
            true
        } else {
            for (id, t, s) in held {
                w.held.insert(id.clone(), (t.clone(), *s));
            }
            false
        }
    }

    fn webhook_format(&self, name: &str) -> WebhookFormat {
        self.cfg
            .webhooks
            .iter()
            .find(|w| w.name == name)
            .map_or(WebhookFormat::Generic, |w| w.format)
    }

    fn incident_message(
        &self,
        doc: &IncidentDoc,
        to: &Recipient,
        reason: Reason,
        changes: &[String],
        id: String,
        now: Timestamp,
    ) -> Outgoing {
        let console = &self.cfg.console_url;
        let subject = render::subject(doc, reason);
        let content = match to {
            Recipient::Mail(_) => {
                Content::Mail(render::incident_mail(doc, reason, changes, console))
            }
            Recipient::Webhook(name) => Content::Json(
                render::webhook_body(self.webhook_format(name), doc, reason, changes, console)
                    .to_string(),
            ),
        };
        Outgoing {
            id,
            recipient: to.clone(),
            kind: match reason {
                Reason::Opened => "opened",
                Reason::Escalated => "escalated",
            },
            incident: Some(doc.incident.id.clone()),
            not_before: self.not_before(doc.incident.severity, now),
            subject,
            content,
        }
    }

    fn list_message(&self, to: &Recipient, l: List<'_>) -> Outgoing {
        let List {
            kind,
            id,
            subject,
            intro,
            items,
            closing,
            not_before,
        } = l;
        let console = &self.cfg.console_url;
        let content = match to {
            Recipient::Mail(_) => {
                Content::Mail(render::list_mail(&subject, &intro, items, closing, console))
            }
            Recipient::Webhook(name) => Content::Json(
                render::webhook_list_body(
                    self.webhook_format(name),
                    &format!("incidents.{kind}"),
                    &intro,
                    items,
                    closing,
                    console,
                )
                .to_string(),
            ),
        };
        Outgoing {
            id,
            recipient: to.clone(),
            kind,
            incident: None,
            not_before,
            subject,
            content,
        }
    }

    /// An incident was created or changed: the messages it calls for.
    pub fn incident(
        &self,
        state: &mut PlanState,
        doc: &IncidentDoc,
        now: Timestamp,
    ) -> Vec<Outgoing> {
        let i = &doc.incident;
        if i.merged_into.is_some() {
            // Lives on in another incident, which carries its alerts.
            state.told.remove(&i.id);
            return Vec::new();
        }
        let hosts: Vec<String> = i.hosts.iter().map(|h| h.to_lowercase()).collect();
        let privileged: Vec<String> = i
            .users
            .iter()
            .filter(|u| self.ctx.roster.person(u).is_some_and(|p| p.privileged))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for to in self.recipients(doc) {
            let key = to.key();
            let item = vec![(i.id.clone(), i.title.clone(), i.severity)];
            let told = state.told.get(&i.id).and_then(|m| m.get(&key)).cloned();
            match told {
                None => {
                    if self.admit(state, &key, &item, now) {
                        out.push(self.incident_message(
                            doc,
                            &to,
                            Reason::Opened,
                            &[],
                            format!("{}/opened/{key}", i.id),
                            now,
                        ));
                    }
                    state.told.entry(i.id.clone()).or_default().insert(
                        key,
                        Told {
                            severity: i.severity,
                            hosts: hosts.clone(),
                            privileged: privileged.clone(),
                            alerts: i.alert_count,
                            escalations: 0,
                        },
                    );
                }
                Some(t) => {
                    let mut changes = Vec::new();
                    if i.severity > t.severity {
                        changes.push(format!(
                            "severity rose from {} to {}",
                            t.severity.as_str(),
                            i.severity.as_str()
                        ));
                    }
                    let new_hosts: Vec<&String> = i
                        .hosts
                        .iter()
                        .filter(|h| !t.hosts.contains(&h.to_lowercase()))
                        .collect();
                    if !new_hosts.is_empty() {
                        changes.push(format!(
                            "new host{} {}",
                            if new_hosts.len() == 1 { "" } else { "s" },
                            new_hosts
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    let new_priv: Vec<&String> = privileged
                        .iter()
                        .filter(|u| !t.privileged.contains(u))
                        .collect();
                    if !new_priv.is_empty() {
                        changes.push(format!(
                            "privileged account{} {} joined",
                            if new_priv.len() == 1 { "" } else { "s" },
                            new_priv
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    let mut t = t;
                    if !changes.is_empty() {
                        t.escalations += 1;
                        if self.admit(state, &key, &item, now) {
                            out.push(self.incident_message(
                                doc,
                                &to,
                                Reason::Escalated,
                                &changes,
                                format!("{}/escalated-{}/{key}", i.id, t.escalations),
                                now,
                            ));
                        }
                        // Told now; a digest would repeat it.
                        if let Some(p) = state.pending.get_mut(&key) {
                            p.incidents.remove(&i.id);
                        }
                    } else if i.alert_count > t.alerts {
                        let p = state.pending.entry(key.clone()).or_insert(Pending {
                            since: now,
                            incidents: BTreeMap::new(),
                        });
                        p.incidents
                            .insert(i.id.clone(), (i.title.clone(), i.severity));
                    }
                    t.severity = t.severity.max(i.severity);
                    t.hosts = hosts.clone();
                    t.privileged = privileged.clone();
                    t.alerts = i.alert_count;
                    state.told.entry(i.id.clone()).or_default().insert(key, t);
                }
            }
        }
        if i.closed {
            // No alert joins a closed incident: nothing more to compare against.
            state.told.remove(&i.id);
        }
        out
    }

    /// Time passed: digests whose window is over, and "N more" notes for hours that ended
    /// with incidents held back by the rate limit.
    pub fn tick(&self, state: &mut PlanState, now: Timestamp) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let window = SignedDuration::from_mins(self.cfg.digest_minutes as i64);
        let due: Vec<String> = state
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.since) >= window)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let Some(p) = state.pending.remove(&key) else {
                continue;
            };
            let Some(to) = Recipient::from_key(&key) else {
                continue;
            };
            if p.incidents.is_empty() {
                continue;
            }
            let items: Vec<(String, String, Severity)> = p
                .incidents
                .into_iter()
                .map(|(id, (t, s))| (id, t, s))
                .collect();
            if !self.admit(state, &key, &items, now) {
                continue;
            }
            let top = items.iter().map(|x| x.2).max().unwrap_or(Severity::Low);
            let n = items.len();
            let subject = format!(
                "[Wardwatch] Digest: {n} incident{} updated",
                if n == 1 { "" } else { "s" }
            );
            let intro = format!(
                "New alerts joined {n} incident{} you were told about; none got worse. Since {} UTC:",
                if n == 1 { "" } else { "s" },
                p.since.strftime("%Y-%m-%d %H:%M")
            );
            out.push(self.list_message(
                &to,
                List {
                    kind: "digest",
                    id: format!("digest/{key}/{}", p.since.as_nanosecond()),
                    subject,
                    intro,
                    items: &items,
                    closing: None,
                    not_before: self.not_before(top, now),
                },
            ));
        }
        let ended: Vec<String> = state
            .windows
            .iter()
            .filter(|(_, w)| now.duration_since(w.start) >= HOUR)
            .map(|(k, _)| k.clone())
            .collect();
        for key in ended {
            let Some(w) = state.windows.remove(&key) else {
                continue;
            };
            if w.held.is_empty() {
                continue;
            }
            let Some(to) = Recipient::from_key(&key) else {
                continue;
            };
            let n = w.held.len();
            let items: Vec<(String, String, Severity)> =
                w.held.into_iter().map(|(id, (t, s))| (id, t, s)).collect();
            let line = format!(
                "{n} more incident{}: see the console",
                if n == 1 { "" } else { "s" }
            );
            let intro = format!(
                "You were sent the limit of {} messages in the hour from {} UTC; these incidents came after it and were not sent one by one:",
                self.cfg.rate_limit_per_hour,
                w.start.strftime("%H:%M")
            );
            out.push(self.list_message(
                &to,
                List {
                    kind: "more",
                    id: format!("more/{key}/{}", w.start.as_nanosecond()),
                    subject: format!("[Wardwatch] {line}"),
                    intro,
                    items: &items,
                    closing: Some(&line),
                    not_before: now,
                },
            ));
            // The note opens the next hour.
            state.windows.insert(
                key,
                Window {
                    start: now,
                    sent: 1,
                    held: BTreeMap::new(),
                },
            );
        }
        out
    }
}

/// The scheduled report due at `now`, as (period key, end of the period), unless `last` (the
/// key last sent) is it. The schedule is the last Monday (`week`) or 1st of the month
/// (`month`) at `report.hour` in the quiet hours' time zone; a server that was down then sends
/// it when it comes back, within a day. The report counts UTC days (and says so), so the
/// period ends at that Monday's or 1st's date, 00:00 UTC — not at local midnight, which east
/// of Greenwich falls on the Sunday and would drop the week's last day.
pub fn report_due(
    cfg: &NotifyConfig,
    last: Option<&str>,
    now: Timestamp,
) -> Option<(String, Timestamp)> {
    if cfg.report.to.is_empty() {
        return None;
    }
    let tz = jiff::tz::TimeZone::get(&cfg.quiet_hours.timezone).ok()?;
    let local = now.to_zoned(tz);
    let today = local.start_of_day().ok()?;
    let start = match cfg.report.period.as_str() {
        "month" => today.first_of_month().ok()?,
        _ => {
            let back = local.weekday().to_monday_zero_offset() as i64;
            today.checked_sub(back.days()).ok()?
        }
    };
    let at = start
        .checked_add((cfg.report.hour as i64).hours())
        .ok()?
        .timestamp();
    if now < at || now.duration_since(at) > SignedDuration::from_hours(24) {
        return None;
    }
    let key = format!("{}:{}", cfg.report.period, start.strftime("%Y-%m-%d"));
    if last == Some(key.as_str()) {
        return None;
    }
    let end = start
        .date()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?
        .timestamp();
    Some((key, end))
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
