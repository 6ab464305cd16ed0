//! Notifications and reports: who hears about which incident, when, in what words, and how
//! the message gets there.
//!
//! Two halves, kept apart:
//! - the decisions, pure: [`plan`] (routing by severity, asset class, department,
//!   organization and tag; one message when an incident opens and one when it escalates,
//!   digests for the rest, quiet hours, a per-recipient rate limit) and [`render`] (the mail's
//!   subject and text/HTML parts, webhook bodies for generic JSON, Microsoft Teams and Slack),
//!   plus [`report`], the management report as HTML with inline SVG charts;
//! - delivery, I/O: [`smtp`] (lettre: plain, STARTTLS, implicit TLS, optional login; rustls
//!   with ring) and [`webhook`] (one HTTP POST, HMAC-SHA256 signature header).
//!
//! Durability is the caller's: the server queues every [`plan::Outgoing`] in the store in the
//! same transaction as the planner's state, and a delivery worker sends and retries them.
//!
//! **Architecture Invariant:** `plan`, `render` and `report` do no I/O and read no clock; the
//! store, the clock and the network belong to the caller and to `smtp`/`webhook`.

pub mod config;
pub mod plan;
pub mod render;
pub mod report;
pub mod smtp;
pub mod webhook;

use std::time::Duration;

pub use config::{
    ConfigError, NotifyConfig, QuietHours, ReportSchedule, Route, SmtpConfig, TlsMode,
    WebhookConfig, WebhookFormat,
};
pub use plan::{Content, Outgoing, PlanState, Planner, Recipient, report_due};
pub use render::Mail;

/// A delivery that failed, in words; `permanent` when retrying cannot help (a refused
/// recipient, a rejected login, a malformed address).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub permanent: bool,
    pub message: String,
}

impl DeliveryError {
    pub fn permanent(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            permanent: true,
            message: message.into(),
        }
    }
    pub fn transient(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            permanent: false,
            message: message.into(),
        }
    }
}

/// Sends messages over the configured channels.
pub struct Deliverer {
    smtp: Option<smtp::SmtpSender>,
    webhooks: Vec<WebhookConfig>,
    timeout: Duration,
}

impl Deliverer {
    /// The channels of `cfg`.
    pub fn new(cfg: &NotifyConfig) -> Result<Deliverer, DeliveryError> {
        let smtp = cfg.smtp.as_ref().map(smtp::SmtpSender::new).transpose()?;
        Ok(Deliverer {
            timeout: Duration::from_secs(cfg.smtp.as_ref().map_or(20, |s| s.timeout_secs.max(1))),
            smtp,
            webhooks: cfg.webhooks.clone(),
        })
    }

    /// The SMTP sender, when configured.
    pub fn smtp(&self) -> Option<&smtp::SmtpSender> {
        self.smtp.as_ref()
    }

    /// Send one message.
    pub async fn send(
        &self,
        id: &str,
        to: &Recipient,
        content: &Content,
    ) -> Result<(), DeliveryError> {
        match (to, content) {
            (Recipient::Mail(addr), Content::Mail(mail)) => {
                let smtp = self.smtp.as_ref().ok_or_else(|| {
                    DeliveryError::transient("no [notify.smtp] configured for mail recipients")
                })?;
                smtp.send(addr, id, mail).await
            }
            (Recipient::Webhook(name), Content::Json(body)) => {
                let w = self
                    .webhooks
                    .iter()
                    .find(|w| w.name == *name)
                    .ok_or_else(|| {
                        DeliveryError::transient(format!(
                            "no [[notify.webhooks]] named `{name}` any more"
                        ))
                    })?;
                webhook::post(&w.url, body, &w.secret, self.timeout).await
            }
            _ => Err(DeliveryError::permanent(
                "message and recipient kinds differ (mail body for a webhook or the reverse)",
            )),
        }
    }
}
