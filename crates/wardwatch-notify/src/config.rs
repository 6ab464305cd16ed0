//! `[notify]`: where messages go, to whom, and how often.
//!
//! Every key has a default; with no `[notify.smtp]`, no webhook and no route, nothing is
//! sent. [`NotifyConfig::validate`] names the key of every bad value (an address that does
//! not parse, a route to a webhook that does not exist), so `serve` refuses to start with a
//! configuration that would silently lose messages.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;

/// `[notify]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// The console's address as people reach it; links are `{console_url}/incidents/{id}`.
    pub console_url: String,
    /// Updates to an incident already announced (new alerts, nothing worse) are collected
    /// this many minutes, then sent as one digest.
    pub digest_minutes: u64,
    /// Most messages per recipient per hour; beyond, one "N more incidents" message at the
    /// end of the hour. 0: no limit.
    pub rate_limit_per_hour: u32,
    /// Failed deliveries are retried with exponential backoff up to this many attempts.
    pub max_attempts: u32,
    /// The first retry waits this many seconds; each further one twice as long (at most an
    /// hour).
    pub retry_secs: u64,
    pub quiet_hours: QuietHours,
    pub smtp: Option<SmtpConfig>,
    pub webhooks: Vec<WebhookConfig>,
    pub routes: Vec<Route>,
    pub report: ReportSchedule,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            console_url: "http://127.0.0.1:8080".into(),
            digest_minutes: 30,
            rate_limit_per_hour: 10,
            max_attempts: 20,
            retry_secs: 30,
            quiet_hours: QuietHours::default(),
            smtp: None,
            webhooks: Vec::new(),
            routes: Vec::new(),
            report: ReportSchedule::default(),
        }
    }
}

/// `[notify.quiet_hours]`: at night only what cannot wait goes out; the rest is held until
/// the morning. Critical incidents always go out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuietHours {
    /// `HH:MM`; empty (with `end`) for no quiet hours.
    pub start: String,
    pub end: String,
    /// IANA time zone of `start` and `end`.
    pub timezone: String,
    /// Incidents at or above this severity go out during quiet hours (critical always does).
    pub let_through: Severity,
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours {
            start: String::new(),
            end: String::new(),
            timezone: "UTC".into(),
            let_through: Severity::Critical,
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP (a relay on the same host or a trusted segment).
    #[default]
    None,
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server does not
    /// offer it.
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

/// `[notify.smtp]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// `host:port`.
    pub server: String,
    /// The sender address.
    pub from: String,
    #[serde(default)]
    pub tls: TlsMode,
    /// Login (optional; both or neither).
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// Extra CA certificate (PEM) to trust, for a hospital's own mail server certificate.
    #[serde(default)]
    pub ca_file: String,
    /// Seconds to wait for the server.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    20
}

/// A webhook body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// Wardwatch's own JSON document.
    #[default]
    Generic,
    /// A Microsoft Teams message with an Adaptive Card (Workflows "post to a channel").
    Teams,
    /// A Slack incoming-webhook message with blocks.
    Slack,
}

/// `[[notify.webhooks]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// What routes call it.
    pub name: String,
    /// `http://` or `https://` address.
    pub url: String,
    #[serde(default)]
    pub format: WebhookFormat,
    /// When set, every body is signed: header `X-Wardwatch-Signature: sha256=<hex HMAC>`.
    #[serde(default)]
    pub secret: String,
}

/// `[[notify.routes]]`: who hears about which incidents. Empty filters match everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Mail recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// Names of `[[notify.webhooks]]`.
    #[serde(default)]
    pub webhooks: Vec<String>,
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Asset classes of an involved host (`pacs`, `epr-server`, `domain-controller`, ...).
    #[serde(default)]
    pub asset_classes: Vec<String>,
    /// Departments of an involved host or person (inventory and roster).
    #[serde(default)]
    pub departments: Vec<String>,
    /// `organization.id`s.
    #[serde(default)]
    pub organizations: Vec<String>,
    /// ATT&CK tactics or techniques of the incident (`impact`, `attack.t1490`).
    #[serde(default)]
    pub tags: Vec<String>,
}

fn default_min_severity() -> Severity {
    Severity::Medium
}

/// `[notify.report]`: the management report, sent on a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSchedule {
    /// Recipients; empty: no scheduled report.
    pub to: Vec<String>,
    /// `week` (sent Monday for the week before) or `month` (sent on the 1st).
    pub period: String,
    /// Hour of day (in the quiet hours' time zone) it is sent.
    pub hour: u8,
}

impl Default for ReportSchedule {
    fn default() -> Self {
        ReportSchedule {
            to: Vec::new(),
            period: "week".into(),
            hour: 7,
        }
    }
}

/// A configuration value that cannot work, with its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notify.{key}: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

fn bad(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        problem: problem.into(),
    }
}

/// Parse `HH:MM` into minutes after midnight.
pub(crate) fn hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// A mail address as lettre takes it, or why not.
pub fn parse_address(s: &str) -> Result<lettre::Address, String> {
    s.trim()
        .parse::<lettre::Address>()
        .map_err(|e| format!("`{s}` is not a mail address ({e})"))
}

/// `host:port` of an SMTP server, or why not.
pub fn parse_server(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s.trim().rsplit_once(':').ok_or_else(|| {
        format!("`{s}` has no port: write host:port, e.g. mail.hospital.example:587")
    })?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("`{s}` has no host"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("`{port}` in `{s}` is not a port (1-65535)"))?;
    Ok((host.to_string(), port))
}

impl NotifyConfig {
    /// Whether any channel is configured.
    pub fn enabled(&self) -> bool {
        self.smtp.is_some() || !self.webhooks.is_empty()
    }

    /// Every problem that would make a message fail or go nowhere, each with its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.console_url.starts_with("http://") || self.console_url.starts_with("https://")) {
            return Err(bad(
                "console_url",
                format!("`{}` is not an http(s) address", self.console_url),
            ));
        }
        let q = &self.quiet_hours;
        if !(q.start.is_empty() && q.end.is_empty()) {
            for (k, v) in [("start", &q.start), ("end", &q.end)] {
                if hhmm(v).is_none() {
                    return Err(bad(
                        format!("quiet_hours.{k}"),
                        format!("`{v}` is not a time of day (HH:MM)"),
                    ));
                }
            }
        }
        if jiff::tz::TimeZone::get(&q.timezone).is_err() {
            return Err(bad(
                "quiet_hours.timezone",
                format!("`{}` is not a known time zone", q.timezone),
            ));
        }
        if let Some(s) = &self.smtp {
            parse_server(&s.server).map_err(|p| bad("smtp.server", p))?;
            parse_address(&s.from).map_err(|p| bad("smtp.from", p))?;
            if s.username.is_empty() != s.password.is_empty() {
                return Err(bad(
                    "smtp.username",
                    "give both username and password, or neither",
                ));
            }
            if !s.username.is_empty() && s.tls == TlsMode::None {
                return Err(bad(
                    "smtp.tls",
                    "a password is never sent over plain SMTP: set tls = \"starttls\" or \"tls\"",
                ));
            }
            if !s.ca_file.is_empty() && !std::path::Path::new(&s.ca_file).is_file() {
                return Err(bad(
                    "smtp.ca_file",
                    format!("`{}` is not a readable file", s.ca_file),
                ));
            }
        }
        let mut names = BTreeSet::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            if !names.insert(w.name.as_str()) || w.name.is_empty() {
                return Err(bad(
                    format!("webhooks[{i}].name"),
                    format!("`{}` is empty or used twice", w.name),
                ));
            }
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(bad(
                    format!("webhooks[{i}].url"),
                    format!("`{}` is not an http(s) address", w.url),
                ));
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            if r.to.is_empty() && r.webhooks.is_empty() {
                return Err(bad(
                    format!("routes[{i}]"),
                    "names no recipient (`to`) and no webhook",
                ));
            }
            if !r.to.is_empty() && self.smtp.is_none() {
                return Err(bad(
                    format!("routes[{i}].to"),
                    "mail recipients need [notify.smtp]",
                ));
            }
            for (j, a) in r.to.iter().enumerate() {
                parse_address(a).map_err(|p| bad(format!("routes[{i}].to[{j}]"), p))?;
            }
            for w in &r.webhooks {
                if !names.contains(w.as_str()) {
                    return Err(bad(
                        format!("routes[{i}].webhooks"),
                        format!("no [[notify.webhooks]] is named `{w}`"),
                    ));
                }
            }
        }
        for (j, a) in self.report.to.iter().enumerate() {
            parse_address(a).map_err(|p| bad(format!("report.to[{j}]"), p))?;
        }
        if !self.report.to.is_empty() && self.smtp.is_none() {
            return Err(bad(
                "report.to",
                "the report is mailed: it needs [notify.smtp]",
            ));
        }
        if !matches!(self.report.period.as_str(), "week" | "month") {
            return Err(bad(
                "report.period",
                format!("`{}`: write week or month", self.report.period),
            ));
        }
        if self.report.hour > 23 {
            return Err(bad("report.hour", "an hour of day is 0-23"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> NotifyConfig {
        #[derive(Deserialize)]
        struct Wrap {
            notify: NotifyConfig,
        }
        toml::from_str::<Wrap>(text).unwrap().notify
    }

    #[test]
    fn the_minimal_config_works_as_written() {
        let c = parse(
            r#"
[notify.smtp]
server = "127.0.0.1:2525"      # host:port
from = "wardwatch@hospital.example"
tls = "none"                   # none | starttls | tls
[[notify.routes]]
to = ["it-team@hospital.example"]
min_severity = "medium"
"#,
        );
        c.validate().unwrap();
        assert!(c.enabled());
        assert_eq!(c.routes[0].min_severity, Severity::Medium);
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = parse(
            r#"
[notify.smtp]
server = "127.0.0.1:2525"
from = "wardwatch@hospital.example"
[[notify.routes]]
to = ["it-team at hospital"]
"#,
        );
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "routes[0].to[0]");
        assert!(e.to_string().contains("it-team at hospital"), "{e}");
        c.routes[0].to = vec!["it@h.example".into()];
        c.smtp.as_mut().unwrap().server = "mail.example".into();
        assert_eq!(c.validate().unwrap_err().key, "smtp.server");
        c.smtp.as_mut().unwrap().server = "mail.example:99999".into();
        assert!(c.validate().unwrap_err().problem.contains("not a port"));
        c.smtp.as_mut().unwrap().server = "mail.example:25".into();
        c.smtp.as_mut().unwrap().username = "u".into();
        c.smtp.as_mut().unwrap().password = "p".into();
        assert_eq!(c.validate().unwrap_err().key, "smtp.tls");
        c.smtp.as_mut().unwrap().tls = TlsMode::Starttls;
        c.validate().unwrap();
        c.routes[0].webhooks = vec!["teams".into()];
        assert_eq!(c.validate().unwrap_err().key, "routes[0].webhooks");
        c.quiet_hours.start = "25:00".into();
        c.quiet_hours.end = "06:00".into();
        assert_eq!(c.validate().unwrap_err().key, "quiet_hours.start");
    }
}
