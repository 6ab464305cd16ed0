//! The checks over a message's facts, the score and the verdict.
//!
//! Every check adds a [`Reason`] with its points; the verdict reads the sum and what kind of
//! evidence made it:
//! - `phishing`: a known-bad indicator, or at least [`PHISHING`] points of which some come from
//!   deception (impersonation, a deceptive or hidden link, a dangerous attachment, a credential
//!   or fortune lure) — mail built to make a person act;
//! - `suspicious`: at least [`SUSPICIOUS`] points, some of them deception or a sender that
//!   cannot be trusted (failed authentication, impersonation, replies sent elsewhere): worth a
//!   look, not worth pulling from mailboxes on its own;
//! - `spam`: at least [`SUSPICIOUS`] points of unwanted bulk mail from a sender who is who they
//!   say (spam wording, an upstream filter's mark, the GTUBE test string);
//! - `clean`: below that.
//!
//! The points are set so that no single weak signal (a failed SPF check, an urgent word) makes
//! more than `suspicious`, and two independent strong ones (a look-alike sender and a password
//! form) make `phishing`.

use serde::Serialize;

use crate::message::Facts;
use crate::{Report, Scanner, lure};

/// The score from which a message is phishing (or spam, without deception).
pub const PHISHING: i32 = 10;
/// The score from which a message is suspicious.
pub const SUSPICIOUS: i32 = 5;

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Clean,
    Spam,
    Suspicious,
    Phishing,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Spam => "spam",
            Self::Suspicious => "suspicious",
            Self::Phishing => "phishing",
        }
    }
}

/// What kind of evidence a reason is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasonKind {
    Authentication,
    Impersonation,
    Link,
    Attachment,
    Wording,
    Indicator,
    Spam,
    Headers,
}

/// One reason that added to a message's score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub kind: ReasonKind,
    /// A stable name (`auth.dmarc_fail`, `link.shown_other_domain`).
    pub code: &'static str,
    pub points: i32,
    /// In words, naming what was found.
    pub text: String,
}

impl Reason {
    /// Whether the reason is deception (it makes a spam message phishing).
    fn deceives(&self) -> bool {
        match self.kind {
            ReasonKind::Impersonation | ReasonKind::Indicator => true,
            ReasonKind::Attachment => self.points >= 5,
            ReasonKind::Link => self.points >= 3,
            ReasonKind::Wording => matches!(
                self.code,
                "lure.credentials"
                    | "lure.prize"
                    | "lure.extortion"
                    | "lure.fake_charge"
                    | "lure.parcel"
                    | "evasion.lookalike_letters"
                    | "evasion.split_letters"
            ),
            _ => false,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (+{})", self.text, self.points)
    }
}

struct Judge<'a> {
    reasons: Vec<Reason>,
    scanner: &'a Scanner,
}

impl Judge<'_> {
    fn add(&mut self, kind: ReasonKind, code: &'static str, points: i32, text: String) {
        if self.reasons.iter().any(|r| r.code == code) {
            return;
        }
        self.reasons.push(Reason {
            kind,
            code,
            points,
            text,
        });
    }
}

/// Runs every check over the facts and sets the verdict.
pub(crate) fn judge(facts: Facts, scanner: &Scanner) -> Report {
    let Facts {
        mut report,
        reasons,
        text,
        display_name,
        mailing_list,
        upstream_spam,
        html_only,
        fancy_letters,
        split_letters,
        fake_reply,
        display_name_folded,
        from_junk,
    } = facts;
    let display_name = display_name_folded.or(display_name);
    let mut j = Judge {
        reasons: Vec::new(),
        scanner,
    };
    crate::checks::authentication(&mut j.reasons, &report, scanner);
    crate::checks::senders(
        &mut j.reasons,
        &report,
        display_name.as_deref(),
        mailing_list,
        scanner,
    );
    crate::checks::links(&mut j.reasons, &report, scanner);
    attachments(&mut j, &report, reasons);
    wording(&mut j, &text, &report);
    if fancy_letters >= 3 {
        j.add(
            ReasonKind::Wording,
            "evasion.lookalike_letters",
            3,
            format!("{fancy_letters} letters are written with look-alikes from other alphabets or symbol sets, to slip past word filters"),
        );
    }
    if split_letters {
        j.add(
            ReasonKind::Wording,
            "evasion.split_letters",
            2,
            "words are spelled out letter by letter (\"C.a.l.l.e.d\"), to slip past word filters"
                .into(),
        );
    }
    if let Some(junk) = from_junk {
        j.add(
            ReasonKind::Headers,
            "headers.from_junk",
            3,
            format!("the From: line carries stray text beside the sender's name and address (`{junk}`), a mark of filter-dodging bulk mail"),
        );
    }
    if fake_reply {
        j.add(
            ReasonKind::Headers,
            "headers.fake_reply",
            2,
            "the subject says it answers or forwards a mail, but it answers nothing".into(),
        );
    }
    if let Some(u) = upstream_spam {
        j.add(
            ReasonKind::Spam,
            "spam.upstream",
            3,
            format!("an earlier filter marked it as spam ({u})"),
        );
    }
    if text.contains("xjs*c4jdbqadn1.nsbn3*2idnen*gtube-standard-anti-ube-test-email*c.34x") {
        j.add(
            ReasonKind::Spam,
            "spam.gtube",
            10,
            "the GTUBE spam test string (every filter must mark it spam)".into(),
        );
    }
    if html_only && report.urls.len() >= 3 && report.kind == crate::Kind::Message {
        j.add(
            ReasonKind::Spam,
            "spam.html_only",
            1,
            "HTML without a plain-text part, full of links".into(),
        );
    }
    let mut reasons = j.reasons;
    reasons.sort_by(|a, b| b.points.cmp(&a.points).then(a.code.cmp(b.code)));
    let score: i32 = reasons.iter().map(|r| r.points).sum();
    let indicator = reasons.iter().any(|r| r.kind == ReasonKind::Indicator);
    let deception: i32 = reasons
        .iter()
        .filter(|r| r.deceives())
        .map(|r| r.points)
        .sum();
    let gtube = reasons.iter().any(|r| r.code == "spam.gtube");
    let upstream = reasons.iter().any(|r| r.code == "spam.upstream");
    // Who sent it cannot be trusted: failed authentication, impersonation, replies elsewhere.
    let untrusted: i32 = reasons
        .iter()
        .filter(|r| {
            matches!(
                r.kind,
                ReasonKind::Authentication | ReasonKind::Impersonation | ReasonKind::Headers
            )
        })
        .map(|r| r.points)
        .sum();
    report.verdict = if indicator || (score >= PHISHING && deception >= 4) {
        Verdict::Phishing
    } else if gtube && deception == 0 {
        Verdict::Spam
    } else if score >= SUSPICIOUS && (deception > 0 || untrusted > 0) {
        Verdict::Suspicious
    } else if score >= SUSPICIOUS || upstream {
        Verdict::Spam
    } else {
        Verdict::Clean
    };
    report.score = score;
    report.reasons = reasons;
    report
}

fn attachments(j: &mut Judge, report: &Report, reasons: Vec<Reason>) {
    let ind = &j.scanner.settings().indicators;
    for a in &report.attachments {
        let name = a.name.as_deref().unwrap_or("(unnamed attachment)");
        if ind.sha256.contains(&a.sha256) {
            j.add(
                ReasonKind::Indicator,
                "indicator.attachment_hash",
                12,
                format!("{name}: its SHA-256 {} is a known-bad indicator", a.sha256),
            );
        }
        for (member, h) in a.members.iter().zip(&a.member_sha256) {
            if ind.sha256.contains(h) {
                j.add(
                    ReasonKind::Indicator,
                    "indicator.attachment_hash",
                    12,
                    format!("{member}: its SHA-256 {h} is a known-bad indicator"),
                );
            }
        }
    }
    // Attachment reasons are capped so one file counts for its worst findings, not for every
    // name it repeats.
    let mut total = 0;
    for r in reasons {
        if total >= 16 {
            break;
        }
        if j.reasons
            .iter()
            .any(|x| x.code == r.code && x.text == r.text)
        {
            continue;
        }
        total += r.points;
        j.reasons.push(r);
    }
}

fn wording(j: &mut Judge, text: &str, report: &Report) {
    if report.kind != crate::Kind::Message {
        return;
    }
    if let Some(phrase) = lure::spam_wording(text) {
        j.add(
            ReasonKind::Spam,
            "spam.wording",
            2,
            format!("the text reads like bulk advertising (\"{phrase}\")"),
        );
    }
    if let Some(phrase) = lure::generic_greeting(text) {
        j.add(
            ReasonKind::Wording,
            "lure.generic_greeting",
            1,
            format!("it greets a reader it does not know by name (\"{phrase}\")"),
        );
    }
    if let Some(subject) = &report.subject {
        let lower = subject.to_lowercase();
        if let Some(to) = report
            .to
            .iter()
            .find(|t| t.contains('@') && lower.contains(t.as_str()))
        {
            j.add(
                ReasonKind::Headers,
                "headers.address_in_subject",
                2,
                format!("the subject carries the recipient's address `{to}`, as bulk mail does"),
            );
        }
    }
    let mut total = 0;
    for (l, phrase) in lure::find(text) {
        if total >= 7 {
            break;
        }
        total += l.points;
        j.add(
            ReasonKind::Wording,
            l.code,
            l.points,
            format!("the text {} (\"{phrase}\")", l.what),
        );
    }
}
