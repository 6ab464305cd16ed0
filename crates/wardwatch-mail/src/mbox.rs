//! Telling a message from other bytes, and splitting an mbox file into its messages.
//!
//! An mbox (RFC 4155) is messages one after another, each opened by a `From ` line (the
//! envelope sender and a date) at the start of a line; lines of a body that start with `From `
//! were written as `>From `, so the split is safe. A message is anything that starts with a
//! header line (`Name: value`); anything else (a PE file, a zip) is not one.

use crate::MailError;

/// Whether `raw` starts like a mail message or an mbox.
pub fn is_message(raw: &[u8]) -> bool {
    check_message(raw).is_ok()
}

/// Whether `raw` is an mbox: its first line is a `From ` separator.
pub fn is_mbox(raw: &[u8]) -> bool {
    skip_blank(raw).starts_with(b"From ")
}

fn skip_blank(raw: &[u8]) -> &[u8] {
    let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    let start = raw
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(raw.len());
    &raw[start..]
}

/// Checks that `raw` opens with a header line (or an mbox `From ` line), naming what it found
/// otherwise.
pub(crate) fn check_message(raw: &[u8]) -> Result<(), MailError> {
    let body = skip_blank(raw);
    if body.is_empty() {
        return Err(MailError::Empty);
    }
    if body.starts_with(b"From ") {
        return Ok(());
    }
    let line_end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = &body[..line_end.min(200)];
    match line.iter().position(|&b| b == b':') {
        Some(colon)
            if colon > 0
                && line[..colon]
                    .iter()
                    .all(|&b| b.is_ascii_graphic() && b != b':') =>
        {
            Ok(())
        }
        _ if line.iter().any(|&b| b < 0x09 || b == 0x7f) => Err(MailError::NotAMessage(
            "it starts with binary data".to_string(),
        )),
        _ => Err(MailError::NotAMessage(format!(
            "its first line `{}` is not a header",
            String::from_utf8_lossy(&line[..line.len().min(60)]).trim_end()
        ))),
    }
}

/// The message inside a batch SMTP transcript (RFC 2442: `HELO`, `MAIL FROM`, `RCPT TO`,
/// `DATA`, the message, a line with a single dot), with dot-stuffing undone; `None` when `raw`
/// is not one.
pub fn unwrap_bsmtp(raw: &[u8]) -> Option<Vec<u8>> {
    let head = skip_blank(raw);
    let first: Vec<u8> = head.iter().take(10).map(u8::to_ascii_uppercase).collect();
    if !(first.starts_with(b"HELO ")
        || first.starts_with(b"EHLO ")
        || first.starts_with(b"MAIL FROM"))
    {
        return None;
    }
    let mut lines = head.split(|&b| b == b'\n');
    lines
        .by_ref()
        .find(|l| l.trim_ascii().eq_ignore_ascii_case(b"DATA"))?;
    let mut out = Vec::with_capacity(head.len());
    for line in lines {
        let body = line.strip_suffix(b"\r").unwrap_or(line);
        if body == b"." {
            break;
        }
        out.extend_from_slice(body.strip_prefix(b".").unwrap_or(body));
        out.extend_from_slice(b"\r\n");
    }
    Some(out)
}

/// Splits an mbox into its messages: `(byte offset of the message, message)`, each without its
/// `From ` separator line. Input that is not an mbox comes back whole as one message.
pub fn split_mbox(raw: &[u8]) -> Vec<(usize, &[u8])> {
    if !is_mbox(raw) {
        return vec![(0, raw)];
    }
    let mut starts = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let line_end = memchr::memchr(b'\n', &raw[pos..])
            .map(|i| pos + i + 1)
            .unwrap_or(raw.len());
        if raw[pos..].starts_with(b"From ") {
            starts.push((pos, line_end));
        }
        pos = line_end;
    }
    let mut out = Vec::with_capacity(starts.len());
    for (i, &(_, body_start)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map(|&(s, _)| s).unwrap_or(raw.len());
        let msg = &raw[body_start.min(end)..end];
        if !skip_blank(msg).is_empty() {
            out.push((body_start, msg));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_make_a_message_binary_and_prose_do_not() {
        assert!(is_message(b"Received: from x\r\nSubject: hi\r\n\r\nbody"));
        assert!(is_message(
            b"From alice@example.org Mon Jan  1 00:00:00 2024\nSubject: a\n\nb"
        ));
        assert_eq!(check_message(b"  \n"), Err(MailError::Empty));
        let e = check_message(b"MZ\x90\x00\x03\x00").unwrap_err();
        assert!(e.to_string().contains("binary"), "{e}");
        let e = check_message(b"hello world, this is prose\n").unwrap_err();
        assert!(e.to_string().contains("`hello world"), "{e}");
    }

    #[test]
    fn batch_smtp_transcript_gives_its_message() {
        let t = b"HELO example.com\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nSubject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n";
        assert_eq!(unwrap_bsmtp(t).unwrap(), b"Subject: hi\r\n\r\n.dot\r\n");
        assert_eq!(unwrap_bsmtp(b"Subject: x\r\n"), None);
    }

    #[test]
    fn mbox_splits_on_from_lines_only() {
        let mbox = b"From a@x Mon Jan  1 00:00:00 2024\nSubject: one\n\n>From the start\n\nFrom b@y Tue Jan  2 00:00:00 2024\nSubject: two\n\nbody\n";
        let parts = split_mbox(mbox);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].1.starts_with(b"Subject: one"));
        assert!(parts[1].1.starts_with(b"Subject: two"));
        assert_eq!(split_mbox(b"Subject: x\n\nbody").len(), 1);
    }
}
