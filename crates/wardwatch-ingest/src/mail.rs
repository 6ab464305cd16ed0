//! Mail files for `hunt`: an `.eml` message, an mbox of many, or a batch-SMTP transcript,
//! each message scanned by `wardwatch-mail` into the `email.*` event real intake stores (so
//! the mail rules and the campaign analytics run on saved mail as on journaled mail).
//!
//! A file is taken for mail when it opens with a header block that has at least two of the
//! headers every message carries (`From:`, `Date:`, `Subject:`, `Message-ID:`, `Received:`...),
//! or with an mbox `From ` line followed by one. The event's time is the message's `Date:`
//! (a saved file has no time of receipt); a message without a usable date is still scanned and
//! stored, at the Unix epoch, with a warning naming it.

use jiff::Timestamp;
use wardwatch_core::Event;
use wardwatch_mail::event::{Seen, to_event};
use wardwatch_mail::{Scanner, Settings};

use crate::file::Warning;

/// The largest mail file read (an mbox bigger than this is read up to it).
pub const MAX_MAIL_BYTES: usize = 256 << 20;

const HEADERS: &[&str] = &[
    "from:",
    "to:",
    "date:",
    "subject:",
    "message-id:",
    "received:",
    "return-path:",
    "mime-version:",
    "delivered-to:",
    "content-type:",
    "authentication-results:",
    "x-mailer:",
    "reply-to:",
];

/// Whether a file's first bytes (as text) are a mail message or an mbox.
pub(crate) fn looks_like_mail(head: &str) -> bool {
    let mut lines = head.lines().skip_while(|l| l.trim().is_empty());
    let Some(first) = lines.next() else {
        return false;
    };
    let mut seen = 0;
    let mut check = |line: &str| {
        let lower = line.to_ascii_lowercase();
        if HEADERS.iter().any(|h| lower.starts_with(h)) {
            seen += 1;
        }
    };
    if !first.starts_with("From ") {
        if !first.contains(':') || first.starts_with('{') || first.starts_with('<') {
            return false;
        }
        check(first);
    }
    for line in lines.take(60) {
        if line.trim().is_empty() {
            break;
        }
        check(line);
    }
    seen >= 2
}

/// Every message of a mail file as an event, or a warning naming the message that could not
/// be scanned; each with whether it counts as a record decoded (a warning about a missing date
/// comes beside its message's event and counts as nothing).
pub(crate) fn decode(bytes: &[u8], source: &str) -> Vec<(Result<Event, Warning>, Option<bool>)> {
    let scanner = Scanner::new(Settings::default());
    let messages = wardwatch_mail::split_mbox(bytes);
    let many = messages.len() > 1;
    let mut out = Vec::with_capacity(messages.len());
    for (i, (offset, raw)) in messages.into_iter().enumerate() {
        let name = if many {
            format!("{source}#{}", i + 1)
        } else {
            source.to_string()
        };
        match scanner.scan(raw) {
            Ok(report) => {
                let received = report
                    .date
                    .and_then(|d| Timestamp::from_second(d).ok())
                    .unwrap_or(Timestamp::UNIX_EPOCH);
                if report.date.is_none() {
                    out.push((
                        Err(Warning::new(
                            source,
                            Some(offset as u64),
                            format!("{name}: the message has no readable Date: header; it is placed at 1970-01-01"),
                        )),
                        None,
                    ));
                }
                let seen = Seen {
                    source: name,
                    record_id: Some(i as u64 + 1),
                    received,
                    action: "delivered".into(),
                };
                let mut e = to_event(&report, &seen);
                e.origin.offset = Some(offset as u64);
                out.push((Ok(e), Some(true)));
            }
            Err(e) => out.push((
                Err(Warning::new(
                    source,
                    Some(offset as u64),
                    format!("{name}: {e}"),
                )),
                Some(false),
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_is_told_from_syslog_and_json() {
        assert!(looks_like_mail(
            "Received: from x by y\r\nFrom: a@b\r\nSubject: hi\r\n\r\nbody"
        ));
        assert!(looks_like_mail(
            "From a@b Mon Jan  1 00:00:00 2024\nFrom: a@b\nDate: Mon, 1 Jan 2024\n\nx"
        ));
        assert!(!looks_like_mail(
            "Jan  1 10:00:00 host sshd[1]: Accepted password for x"
        ));
        assert!(!looks_like_mail("{\"a\": 1}"));
        assert!(!looks_like_mail(
            "<34>1 2024-01-01T00:00:00Z host app - - - msg"
        ));
    }

    #[test]
    fn an_mbox_gives_one_event_per_message() {
        let mbox = b"From a@x Mon Jan  1 00:00:00 2024\nFrom: a@x.example\nTo: b@h.example\nSubject: one\nDate: Mon, 01 Jan 2024 10:00:00 +0000\n\nhello\n\nFrom c@y Mon Jan  1 00:00:00 2024\nFrom: c@y.example\nTo: b@h.example\nSubject: two\n\nhi\n";
        let items = decode(mbox, "inbox.mbox");
        let events: Vec<&Event> = items.iter().filter_map(|(i, _)| i.as_ref().ok()).collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].timestamp.to_string(), "2024-01-01T10:00:00Z");
        assert_eq!(events[0].raw["email"]["subject"], "one");
        assert_eq!(events[1].origin.source, "inbox.mbox#2");
        assert_eq!(
            items.iter().filter(|(i, _)| i.is_err()).count(),
            1,
            "the second has no date"
        );
        assert_eq!(items.iter().filter(|(_, c)| c.is_none()).count(), 1);
    }
}
