//! Mail verdicts: one message in, what it is and why out.
//!
//! A message is parsed with `mail-parser` (MIME, encoded words, charsets), and its facts —
//! sender, recipients, authentication results, the sending infrastructure, every URL (from text
//! and HTML, unwrapped from redirectors and safe-link wrappers) and every attachment (looked
//! into: archives, Office documents, RTF, PDF, HTML) — are read once into a [`Report`]. The
//! checks then add [`Reason`]s, each with the points it adds, and the sum and the kinds of
//! evidence decide the [`Verdict`]: `phishing`, `spam`, `suspicious` or `clean`.
//!
//! Why reasons rather than a bare score: the analyst who reads "phishing" has to decide whether
//! to pull the mail from forty mailboxes; "the sender's domain `rnedline-supplies.com` looks like
//! your supplier `medline-supplies.com`; the link shows one domain and leads to another" is what
//! lets them decide in a minute, and what the awareness note tells the user.
//!
//! The crate is pure: bytes and settings in, a report out; no files, sockets or clock
//! ([`split_mbox`] splits a mailbox already read). Reading folders, Maildir and the SMTP
//! journal belong to the callers.

mod attach;
mod auth;
mod checks;
mod evasion;
pub mod event;
mod imperson;
mod lure;
mod mbox;
mod message;
mod score;
mod settings;
mod urls;

pub use attach::{AttachmentFact, analyze_file};
pub use auth::{AuthResult, AuthResults};
pub use mbox::{is_mbox, is_message, split_mbox, unwrap_bsmtp};
pub use score::{Reason, ReasonKind, Verdict};
pub use settings::{Indicators, Settings};
pub use urls::UrlFact;

use serde::Serialize;

/// Why a message could not be scanned at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MailError {
    /// The input is empty (or only white space).
    #[error("empty input: no message to scan")]
    Empty,
    /// The input does not start with header lines (`Name: value`), so it is not a message.
    #[error("not a mail message: {0} (a message starts with header lines such as `From:`)")]
    NotAMessage(String),
    /// The parser gave up on the input.
    #[error("unparseable message: {0}")]
    Unparseable(String),
}

/// One mailbox (an address and the name shown for it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Mailbox {
    /// The display name, if any (`"PayPal Service"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The address, lower-cased (`service@paypa1-secure.com`).
    pub address: String,
}

impl Mailbox {
    /// The domain part of the address, lower-cased (empty when the address has none).
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

/// What was scanned: a mail message, or a lone file scanned as if it were an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Message,
    File,
}

/// Everything known about one message, and the verdict with its reasons.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Mailbox>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<Mailbox>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Mailbox>,
    /// The envelope sender (`Return-Path`), lower-cased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_path: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The `Date:` header as seconds since 1970 (UTC), when it parses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
    /// The address of the first server outside the receiving organization's own relays that
    /// handed the message on (the sending infrastructure), when the `Received:` chain says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_ip: Option<String>,
    /// The name that server gave for itself (HELO / EHLO).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_helo: Option<String>,
    pub auth: AuthResults,
    /// The `X-Mailer` / `User-Agent` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailer: Option<String>,
    pub urls: Vec<UrlFact>,
    pub attachments: Vec<AttachmentFact>,
    pub verdict: Verdict,
    pub score: i32,
    pub reasons: Vec<Reason>,
    /// What the parser found wrong with the message (it scanned what it could).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The text of the message (plain, or HTML reduced to text), only when
    /// [`Settings::keep_body`] is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// The scanner: settings compiled once, then any number of messages.
#[derive(Debug, Clone, Default)]
pub struct Scanner {
    settings: Settings,
    imperson: imperson::Impersonation,
}

impl Scanner {
    pub fn new(settings: Settings) -> Self {
        let imperson = imperson::Impersonation::new(&settings);
        Self { settings, imperson }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(crate) fn imperson(&self) -> &imperson::Impersonation {
        &self.imperson
    }

    /// Scans one message (`.eml`, one mbox entry, a journaled copy).
    pub fn scan(&self, raw: &[u8]) -> Result<Report, MailError> {
        if let Some(inner) = mbox::unwrap_bsmtp(raw) {
            return self.scan(&inner);
        }
        mbox::check_message(raw)?;
        let facts = message::read(raw, &self.settings)?;
        Ok(score::judge(facts, self))
    }

    /// Scans a file that may be a message or a lone attachment (a file saved out of a mail):
    /// a message is scanned as [`Scanner::scan`]; anything else as an attachment on its own.
    pub fn scan_any(&self, name: &str, raw: &[u8]) -> Result<Report, MailError> {
        if mbox::unwrap_bsmtp(raw).is_some() {
            return self.scan(raw);
        }
        match mbox::check_message(raw) {
            Ok(()) => self.scan(raw),
            Err(MailError::Empty) => Err(MailError::Empty),
            Err(_) => {
                let facts = message::lone_file(name, raw, &self.settings);
                Ok(score::judge(facts, self))
            }
        }
    }
}

#[cfg(test)]
mod tests;
