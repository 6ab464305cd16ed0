//! Reading a message's facts once: addresses, subject, dates, the sending infrastructure,
//! authentication results, the text (for wording), every URL and every attachment (attached
//! messages opened in turn).

use mail_parser::{Address, HeaderValue, Host, MessageParser, MimeHeaders, PartType};

use crate::attach;
use crate::auth::AuthResults;
use crate::score::Reason;
use crate::urls::{Collector, strip_tags};
use crate::{Kind, MailError, Mailbox, Report, Settings, Verdict};

/// The most text kept for wording checks.
const MAX_TEXT: usize = 256 << 10;
/// How deep attached messages are opened.
const MAX_NESTING: usize = 3;

/// What the checks read: the report being built and what only the checks need.
pub(crate) struct Facts {
    pub report: Report,
    /// Reasons found while reading (attachments).
    pub reasons: Vec<Reason>,
    /// Subject and text, lower-cased, for wording.
    pub text: String,
    /// The display name of `From:` as written.
    pub display_name: Option<String>,
    /// The message came through a mailing list (`List-Id`, `List-Post`).
    pub mailing_list: bool,
    /// What an upstream filter said (`X-Spam-Flag: YES`, Microsoft's SCL).
    pub upstream_spam: Option<String>,
    /// The message has HTML but no plain text.
    pub html_only: bool,
    /// Letters written with look-alikes from other Unicode blocks (subject, sender name, text).
    pub fancy_letters: usize,
    /// A word spelled out letter by letter (`C.a.l.l.e.d`) in the subject, sender name or text.
    pub split_letters: bool,
    /// The subject says `Re:` or `Fwd:` but the message answers nothing (no `In-Reply-To`,
    /// no `References`).
    pub fake_reply: bool,
    /// The display name with look-alike letters folded, when it had any.
    pub display_name_folded: Option<String>,
    /// Stray text in the `From:` line outside its name and address, as found.
    pub from_junk: Option<String>,
}

pub(crate) fn read(raw: &[u8], settings: &Settings) -> Result<Facts, MailError> {
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| MailError::Unparseable("no header or body could be read".into()))?;
    if msg.headers().is_empty() {
        return Err(MailError::Unparseable("no header lines".into()));
    }
    let mut problems = Vec::new();
    let from_addr = first_mailbox(msg.from());
    if from_addr.is_none() {
        problems.push("no readable From: address".to_string());
    }
    let display_name = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.name())
        .map(decode_words);
    let header_texts = |name: &str| -> Vec<String> {
        msg.headers()
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case(name))
            .filter_map(|h| header_text(h.value()))
            .collect()
    };
    let ar = header_texts("Authentication-Results");
    let rspf = header_texts("Received-SPF");
    let auth = AuthResults::read(
        ar.iter().map(String::as_str),
        rspf.iter().map(String::as_str),
    );
    let (origin_ip, origin_helo) = origin(&msg, &ar, &rspf);
    let mailing_list = msg.headers().iter().any(|h| {
        let n = h.name();
        n.eq_ignore_ascii_case("List-Id")
            || n.eq_ignore_ascii_case("List-Post")
            || n.eq_ignore_ascii_case("Mailing-List")
    });
    let upstream_spam = upstream_verdict(&msg);
    let mailer = header_texts("X-Mailer")
        .into_iter()
        .chain(header_texts("User-Agent"))
        .next();

    let mut walk = Walk {
        urls: Collector::default(),
        attachments: Vec::new(),
        reasons: Vec::new(),
        text: String::new(),
        raw_text: String::new(),
        fancy: 0,
        has_text: false,
        has_html: false,
        problems: Vec::new(),
    };
    if let Some(s) = msg.subject() {
        walk.add_text(&s.to_lowercase());
    }
    walk.message(&msg, 0);
    let (display_folded, display_fancy) = display_name
        .as_deref()
        .map(crate::evasion::fold_fancy)
        .unwrap_or_default();
    let subject = msg.subject().unwrap_or("");
    let fake_reply = {
        let s = subject.trim_start().to_ascii_lowercase();
        let prefixed = [
            "re:", "fw:", "fwd:", "res:", "enc:", "aw:", "wg:", "tr:", "rv:",
        ]
        .iter()
        .any(|p| s.starts_with(p));
        let answers = msg.headers().iter().any(|h| {
            h.name().eq_ignore_ascii_case("In-Reply-To")
                || h.name().eq_ignore_ascii_case("References")
        });
        prefixed && !answers
    };
    let head_of_text: String = walk.raw_text.chars().take(4000).collect();
    let split_letters = crate::evasion::split_letters(subject)
        || display_name
            .as_deref()
            .is_some_and(crate::evasion::split_letters)
        || crate::evasion::split_letters(&head_of_text);
    problems.extend(walk.problems);
    let body = settings.keep_body.then(|| body_text(&msg));
    let report = Report {
        kind: Kind::Message,
        message_id: msg.message_id().map(|s| s.trim().to_string()),
        from: from_addr,
        sender: first_mailbox(msg.sender()),
        reply_to: first_mailbox(msg.reply_to()),
        return_path: msg
            .return_address()
            .map(|s| s.trim().trim_matches(['<', '>']).to_ascii_lowercase())
            .filter(|s| !s.is_empty()),
        to: all_addresses(msg.to()),
        cc: all_addresses(msg.cc()),
        subject: msg.subject().map(|s| s.trim().to_string()),
        date: msg.date().map(|d| d.to_timestamp()),
        origin_ip,
        origin_helo,
        auth,
        mailer,
        urls: walk.urls.urls,
        attachments: walk.attachments,
        verdict: Verdict::Clean,
        score: 0,
        reasons: Vec::new(),
        problems,
        body,
    };
    Ok(Facts {
        report,
        reasons: walk.reasons,
        text: walk.text,
        display_name,
        mailing_list,
        upstream_spam,
        html_only: walk.has_html && !walk.has_text,
        fancy_letters: walk.fancy + display_fancy,
        split_letters,
        fake_reply,
        display_name_folded: (display_fancy > 0).then_some(display_folded),
        from_junk: msg.header_raw("From").and_then(from_junk),
    })
}

/// A file that is not a message, scanned as an attachment on its own.
pub(crate) fn lone_file(name: &str, raw: &[u8], settings: &Settings) -> Facts {
    let mut urls = Collector::default();
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (fact, reasons) = attach::analyze(Some(base), None, raw, &mut urls);
    let _ = settings;
    Facts {
        report: Report {
            kind: Kind::File,
            message_id: None,
            from: None,
            sender: None,
            reply_to: None,
            return_path: None,
            to: Vec::new(),
            cc: Vec::new(),
            subject: None,
            date: None,
            origin_ip: None,
            origin_helo: None,
            auth: AuthResults::default(),
            mailer: None,
            urls: urls.urls,
            attachments: vec![fact],
            verdict: Verdict::Clean,
            score: 0,
            reasons: Vec::new(),
            problems: Vec::new(),
            body: None,
        },
        reasons,
        text: String::new(),
        display_name: None,
        mailing_list: false,
        upstream_spam: None,
        html_only: false,
        fancy_letters: 0,
        split_letters: false,
        fake_reply: false,
        display_name_folded: None,
        from_junk: None,
    }
}

/// The attachments of a message found inside an attachment (a forwarded mail, an mbox):
/// `(name, bytes)` each, uuencoded files in its text included.
pub(crate) fn attachments_of(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    let body = match crate::mbox::split_mbox(raw).into_iter().next() {
        Some((_, m)) => m,
        None => raw,
    };
    let Some(msg) = MessageParser::default().parse(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, part) in msg.parts.iter().enumerate().take(256) {
        let is_attachment = msg.attachments.contains(&(i as u32));
        match &part.body {
            PartType::Text(t) | PartType::Html(t) if !is_attachment => {
                out.extend(attach::legacy_uudecode(t));
            }
            PartType::Multipart(_) => {}
            _ if is_attachment => {
                let name = part
                    .attachment_name()
                    .unwrap_or("(unnamed attachment)")
                    .to_string();
                out.push((name, part.contents().to_vec()));
            }
            _ => {}
        }
    }
    out
}

struct Walk {
    urls: Collector,
    attachments: Vec<attach::AttachmentFact>,
    reasons: Vec<Reason>,
    text: String,
    /// The first text as written (for letter-by-letter spelling).
    raw_text: String,
    fancy: usize,
    has_text: bool,
    has_html: bool,
    problems: Vec<String>,
}

impl Walk {
    fn message(&mut self, msg: &mail_parser::Message, depth: usize) {
        for (i, part) in msg.parts.iter().enumerate() {
            let id = i as u32;
            if part.is_encoding_problem {
                self.problems.push(format!(
                    "part {i}: its content could not be decoded as declared"
                ));
            }
            let is_attachment = msg.attachments.contains(&id);
            let is_body = msg.text_body.contains(&id) || msg.html_body.contains(&id);
            match &part.body {
                PartType::Message(inner) if is_attachment && depth < MAX_NESTING => {
                    if let Some(s) = inner.subject() {
                        self.add_text(&s.to_lowercase());
                    }
                    self.message(inner, depth + 1);
                }
                PartType::Message(_) if is_attachment => {}
                PartType::Text(t)
                    if !is_attachment || (is_body && part.attachment_name().is_none()) =>
                {
                    self.has_text = true;
                    self.urls.text(t, "text");
                    self.add_text(&t.to_lowercase());
                    for (name, bytes) in attach::legacy_uudecode(t) {
                        self.attachment(Some(&name), Some("application/octet-stream"), &bytes);
                    }
                }
                PartType::Html(h)
                    if !is_attachment || (is_body && part.attachment_name().is_none()) =>
                {
                    self.has_html = true;
                    self.urls.html(h, "text");
                    if !self.has_text || self.text.len() < 64 {
                        self.add_text(&strip_tags(h).to_lowercase());
                    }
                }
                PartType::Multipart(_) => {}
                _ if is_attachment || part.attachment_name().is_some() => {
                    let ctype = part.content_type().map(|c| match c.subtype() {
                        Some(s) => format!("{}/{}", c.ctype(), s),
                        None => c.ctype().to_string(),
                    });
                    let name = part.attachment_name().map(str::to_string);
                    self.attachment(name.as_deref(), ctype.as_deref(), part.contents());
                }
                _ => {}
            }
        }
    }

    fn add_text(&mut self, t: &str) {
        if self.raw_text.len() < 4000 {
            self.raw_text
                .push_str(&t[..floor_boundary(t, 4000 - self.raw_text.len())]);
            self.raw_text.push('\n');
        }
        let (folded, n) = crate::evasion::fold_fancy(t);
        self.fancy += n;
        let t = if n > 0 {
            folded.to_lowercase()
        } else {
            t.to_string()
        };
        let t = t.as_str();
        if self.text.len() < MAX_TEXT {
            let room = MAX_TEXT - self.text.len();
            let mut end = t.len().min(room);
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            self.text.push_str(&t[..end]);
            self.text.push('\n');
        }
    }

    fn attachment(&mut self, name: Option<&str>, ctype: Option<&str>, data: &[u8]) {
        if self.attachments.len() >= 64 {
            return;
        }
        let (fact, reasons) = attach::analyze(name, ctype, data, &mut self.urls);
        self.attachments.push(fact);
        self.reasons.extend(reasons);
    }
}

/// Text in a `From:` value that belongs to neither the name nor the address: words beside a
/// quoted name (`"Energy Action"  .NBPG <a@b>`) or anything after the address
/// (`"GLS", <a@b>, GLS,`). Mail programs never write this; bulk senders rotating tokens to
/// dodge filters do.
fn from_junk(raw: &str) -> Option<String> {
    let v = raw.replace(['\r', '\n'], " ");
    let v = v.trim();
    let open = v.find('<')?;
    let close = open + v[open..].find('>')?;
    let after = strip_comments(&v[close + 1..]);
    let after = after.trim();
    if !after.is_empty() {
        return Some(after.chars().take(40).collect());
    }
    let before = &v[..open];
    if before.contains("\"\"\"") {
        return Some(before.trim().chars().take(40).collect());
    }
    let first = before.find('"')?;
    let last = before.rfind('"')?;
    if last <= first {
        return None;
    }
    let outside = format!("{}{}", &before[..first], &before[last + 1..]);
    let outside = strip_comments(&outside);
    let outside = outside.trim();
    (!outside.is_empty()).then(|| outside.chars().take(40).collect())
}

fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Decodes RFC 2047 encoded words a sender left inside a quoted display name (where the
/// standard does not allow them, so the parser keeps them as written, but mail clients show
/// them decoded).
fn decode_words(s: &str) -> String {
    use base64::Engine;
    if !s.contains("=?") {
        return s.to_string();
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("=?") {
        out.push_str(&rest[..start]);
        let word = &rest[start + 2..];
        let mut parts = word.splitn(3, '?');
        let (Some(_charset), Some(enc), Some(tail)) = (parts.next(), parts.next(), parts.next())
        else {
            out.push_str(&rest[start..]);
            return out;
        };
        let Some(end) = tail.find("?=") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let text = &tail[..end];
        let bytes = match enc {
            "B" | "b" => base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .unwrap_or_else(|_| text.as_bytes().to_vec()),
            _ => {
                let t = text.replace('_', " ");
                let b = t.as_bytes();
                let mut v = Vec::with_capacity(b.len());
                let mut i = 0;
                while i < b.len() {
                    if b[i] == b'='
                        && let Some(x) = b
                            .get(i + 1..i + 3)
                            .and_then(|h| std::str::from_utf8(h).ok())
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                    {
                        v.push(x);
                        i += 3;
                        continue;
                    }
                    v.push(b[i]);
                    i += 1;
                }
                v
            }
        };
        out.push_str(&String::from_utf8_lossy(&bytes));
        let consumed = start + 2 + (word.len() - tail.len()) + end + 2;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    out
}

fn floor_boundary(s: &str, max: usize) -> usize {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

fn first_mailbox(a: Option<&Address>) -> Option<Mailbox> {
    let a = a?.first()?;
    let address = a.address()?.trim().to_ascii_lowercase();
    if address.is_empty() {
        return None;
    }
    Some(Mailbox {
        name: a
            .name()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        address,
    })
}

fn all_addresses(a: Option<&Address>) -> Vec<String> {
    let Some(a) = a else { return Vec::new() };
    let mut out: Vec<String> = a
        .iter()
        .filter_map(|x| x.address())
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .take(1000)
        .collect();
    out.dedup();
    out
}

fn header_text(v: &HeaderValue) -> Option<String> {
    match v {
        HeaderValue::Text(t) => Some(t.to_string()),
        HeaderValue::TextList(l) => Some(l.join(", ")),
        _ => None,
    }
}

/// The address and HELO of the server that handed the message to the receiving organization:
/// from Microsoft's `sender IP is`, `Received-SPF`'s `client-ip=`, or else the topmost
/// `Received:` hop from a public address in another domain than its receiver.
fn origin(
    msg: &mail_parser::Message,
    ar: &[String],
    rspf: &[String],
) -> (Option<String>, Option<String>) {
    let mut ip: Option<String> = None;
    for a in ar {
        if let Some(i) = a.find("sender IP is ") {
            let v: String = a[i + 13..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit() || *c == '.' || *c == ':')
                .collect();
            if v.parse::<std::net::IpAddr>().is_ok() {
                ip = Some(v);
                break;
            }
        }
    }
    if ip.is_none() {
        for r in rspf {
            if let Some(i) = r.find("client-ip=") {
                let v: String = r[i + 10..]
                    .chars()
                    .take_while(|c| c.is_ascii_hexdigit() || *c == '.' || *c == ':')
                    .collect();
                if v.parse::<std::net::IpAddr>().is_ok() {
                    ip = Some(v);
                    break;
                }
            }
        }
    }
    let mut helo = None;
    for r in msg.received_all() {
        let Some(from_ip) = r.from_ip else { continue };
        if let Some(known) = &ip {
            if from_ip.to_string() == *known {
                helo = host_name(r.helo.as_ref().or(r.from.as_ref()));
                break;
            }
            continue;
        }
        if !is_public(from_ip) {
            continue;
        }
        let from = host_name(r.from.as_ref()).unwrap_or_default();
        let by = host_name(r.by.as_ref()).unwrap_or_default();
        if !from.is_empty() && crate::urls::registrable(&from) == crate::urls::registrable(&by) {
            continue;
        }
        ip = Some(from_ip.to_string());
        helo = host_name(r.helo.as_ref().or(r.from.as_ref()));
        break;
    }
    (ip, helo)
}

fn host_name(h: Option<&Host>) -> Option<String> {
    match h? {
        Host::Name(n) => Some(n.to_ascii_lowercase()),
        Host::IpAddr(ip) => Some(ip.to_string()),
    }
}

fn is_public(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v) => {
            !(v.is_private() || v.is_loopback() || v.is_link_local() || v.is_unspecified())
        }
        std::net::IpAddr::V6(v) => {
            !(v.is_loopback()
                || v.is_unspecified()
                || (v.segments()[0] & 0xfe00) == 0xfc00
                || (v.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// An upstream filter's verdict carried in the headers.
fn upstream_verdict(msg: &mail_parser::Message) -> Option<String> {
    for h in msg.headers() {
        let name = h.name();
        let Some(v) = header_text(h.value()) else {
            continue;
        };
        let lower = v.trim().to_ascii_lowercase();
        if name.eq_ignore_ascii_case("X-Spam-Flag") && lower.starts_with("yes") {
            return Some("X-Spam-Flag: YES".into());
        }
        if name.eq_ignore_ascii_case("X-Spam-Status") && lower.starts_with("yes") {
            return Some("X-Spam-Status: Yes".into());
        }
        if name.eq_ignore_ascii_case("X-MS-Exchange-Organization-SCL")
            && lower.parse::<i32>().is_ok_and(|scl| scl >= 5)
        {
            return Some(format!("Microsoft spam confidence level {lower}"));
        }
    }
    None
}

/// The message's text for storage when the operator asked for bodies.
fn body_text(msg: &mail_parser::Message) -> String {
    let text = msg
        .body_text(0)
        .map(|t| t.into_owned())
        .or_else(|| msg.body_html(0).map(|h| strip_tags(&h)))
        .unwrap_or_default();
    let mut end = text.len().min(64 << 10);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}
