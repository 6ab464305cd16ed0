//! `[mail]`: what the mail scanner is told (the hospital's own domains, brands, indicators,
//! whether bodies are kept) and the SMTP journaling listener that feeds it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_listen as listen;
use wardwatch_mail::{Indicators, Scanner, Settings};

use crate::ServeError;

/// `[mail]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSection {
    /// Address of the SMTP journaling listener (`0.0.0.0:2525`); empty: off. Default empty.
    pub smtp_listen: String,
    /// Envelope senders (`MAIL FROM`) allowed to send journal copies without a token: full
    /// addresses or `@domain`. Clients may instead authenticate with `AUTH PLAIN` and an ingest
    /// token. Default: none.
    pub smtp_allowed_senders: Vec<String>,
    /// Networks allowed to connect to the listener (CIDR); empty: any. Default: none.
    pub smtp_allowed_networks: Vec<String>,
    /// The largest message accepted, KiB. Default 51200 (50 MiB).
    pub smtp_max_message_kb: u64,
    /// Concurrent SMTP connections. Default 64.
    pub smtp_max_connections: usize,
    /// Seconds without a byte before a connection is closed. Default 300.
    pub smtp_idle_timeout_secs: u64,
    /// The hospital's own mail domains: look-alikes and spoofs of them are judged hardest.
    pub own_domains: Vec<String>,
    /// Brands to protect besides the built-in list (suppliers, the EHR vendor), as
    /// `name=domain` or a domain.
    pub brands: Vec<String>,
    /// Indicator file: one SHA-256, URL or domain per line; empty for none.
    pub indicators: PathBuf,
    /// Keep message text in stored events. Default false: headers, URLs, attachment names and
    /// hashes only.
    pub keep_body: bool,
}

impl Default for MailSection {
    fn default() -> Self {
        MailSection {
            smtp_listen: String::new(),
            smtp_allowed_senders: Vec::new(),
            smtp_allowed_networks: Vec::new(),
            smtp_max_message_kb: 51_200,
            smtp_max_connections: 64,
            smtp_idle_timeout_secs: 300,
            own_domains: Vec::new(),
            brands: Vec::new(),
            indicators: PathBuf::new(),
            keep_body: false,
        }
    }
}

impl MailSection {
    /// The scanner these settings describe (the indicator file read now).
    pub fn scanner(&self) -> Result<Scanner, ServeError> {
        let mut indicators = Indicators::default();
        if !self.indicators.as_os_str().is_empty() {
            let text = std::fs::read_to_string(&self.indicators).map_err(|e| {
                ServeError::Config(format!(
                    "mail.indicators `{}`: {e}",
                    self.indicators.display()
                ))
            })?;
            let (ind, problems) = Indicators::parse_lines(&text);
            for p in problems {
                tracing::warn!(file = %self.indicators.display(), problem = %p, "indicator line skipped");
            }
            indicators = ind;
        }
        Ok(Scanner::new(Settings {
            own_domains: self.own_domains.clone(),
            brands: self.brands.clone(),
            indicators,
            keep_body: self.keep_body,
        }))
    }

    /// Bind and start the SMTP listener when `smtp_listen` is set; its bound address.
    pub(crate) async fn start_smtp<S: listen::Sink>(
        &self,
        sink: Arc<S>,
        counters: Arc<listen::SourceCounters>,
        tokens: listen::bulk::TokenCheck,
        shutdown: impl std::future::Future + Send + 'static,
        tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<Option<SocketAddr>, ServeError> {
        if self.smtp_listen.trim().is_empty() {
            return Ok(None);
        }
        let addr: SocketAddr = self.smtp_listen.trim().parse().map_err(|e| {
            ServeError::Config(format!("mail.smtp_listen `{}`: {e}", self.smtp_listen))
        })?;
        let cfg = listen::smtp::SmtpConfig {
            hostname: "wardwatch".into(),
            max_message_bytes: (self.smtp_max_message_kb * 1024) as usize,
            max_recipients: 5_000,
            max_connections: self.smtp_max_connections,
            idle_timeout_secs: self.smtp_idle_timeout_secs,
            allowed_senders: self.smtp_allowed_senders.clone(),
            allow: listen::Allow::parse(&self.smtp_allowed_networks, "mail.smtp_allowed_networks")?,
            tokens: Some(tokens),
            scanner: Arc::new(self.scanner()?),
        };
        let tcp = listen::bind_tcp(addr).await?;
        let bound = tcp
            .local_addr()
            .map_err(|e| ServeError::Bind(e.to_string()))?;
        tasks.push(tokio::spawn(listen::smtp::serve_smtp(
            tcp, sink, counters, cfg, shutdown,
        )));
        Ok(Some(bound))
    }
}
