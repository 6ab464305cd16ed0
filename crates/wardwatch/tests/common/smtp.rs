//! A real SMTP server on loopback for the notification tests: PyPI `aiosmtpd` run by the
//! Python of `target/py-smtp` (the virtualenv `.ci/run` makes) or `$WARDWATCH_AIOSMTPD_PYTHON`,
//! storing every mail it takes in a Maildir, and a parser for what it stored (headers, both
//! parts decoded). It is started as `python -m aiosmtpd`, which works also where the
//! virtualenv's own scripts name another path (a copied `target/`).
//!
//! Without aiosmtpd a test says so and skips — except under CI (`CI` set), where a missing
//! peer fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

/// A Python that has aiosmtpd, or `None` (test skipped) outside CI.
pub fn aiosmtpd(test: &str) -> Option<PathBuf> {
    let p = std::env::var_os("WARDWATCH_AIOSMTPD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py-smtp/bin/python")
        });
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{test}: aiosmtpd is missing at {} (CI must install it: see .ci/run)",
            p.display()
        );
    }
    eprintln!(
        "skipped {test}: no aiosmtpd for {} (run `bash .ci/run` once, or set WARDWATCH_AIOSMTPD_PYTHON)",
        p.display()
    );
    None
}

/// A Maildir handler that answers like a real relay for some recipients: `nobody@…` does
/// not exist (550, permanent), `busy@…` is deferred (451) the first time it is offered and
/// taken after that (greylisting).
const PICKY: &str = r#"
from aiosmtpd.handlers import Mailbox

class Picky(Mailbox):
    deferred = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith('nobody@'):
            return '550 5.1.1 <' + address + '>: no such user here'
        if address.startswith('busy@') and address not in Picky.deferred:
            Picky.deferred.add(address)
            return '451 4.7.1 <' + address + '>: greylisted, try again later'
        envelope.rcpt_tos.append(address)
        return '250 OK'
"#;

/// A running aiosmtpd that stores every mail it takes as a file in a Maildir.
pub struct Smtp {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl Smtp {
    /// Takes every recipient; `python` from [`aiosmtpd`].
    pub fn start(python: &Path, port: u16, maildir: &Path) -> Smtp {
        Smtp::spawn(python, port, maildir, false)
    }

    /// Refuses `nobody@…` (550) and defers `busy@…` once (451); see [`PICKY`].
    pub fn start_picky(python: &Path, port: u16, maildir: &Path) -> Smtp {
        Smtp::spawn(python, port, maildir, true)
    }

    fn spawn(python: &Path, port: u16, maildir: &Path, picky: bool) -> Smtp {
        // aiosmtpd makes the Maildir (with its tmp/new/cur) only where nothing exists yet.
        assert!(!maildir.exists(), "{} exists", maildir.display());
        let mut cmd = Command::new(python);
        cmd.args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
        ]);
        if picky {
            // The handler module sits beside the Maildir, never inside it.
            let module_dir = maildir.with_extension("handler");
            std::fs::create_dir_all(&module_dir).unwrap();
            std::fs::write(module_dir.join("picky.py"), PICKY).unwrap();
            cmd.arg("picky.Picky").env("PYTHONPATH", &module_dir);
        } else {
            cmd.arg("aiosmtpd.handlers.Mailbox");
        }
        let child = cmd
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Smtp {
            child,
            port,
            maildir: maildir.to_path_buf(),
        }
    }

    /// Every stored mail, decoded, oldest first.
    pub fn mails(&self) -> Vec<Received> {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(rd) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                let modified = e.metadata().and_then(|m| m.modified()).ok();
                files.push((modified, e.path()));
            }
        }
        // Maildir names start with the delivery time in seconds; the file time orders
        // within a second.
        files.sort();
        files
            .iter()
            .map(|(_, p)| Received::parse(&std::fs::read_to_string(p).unwrap()))
            .collect()
    }

    /// Wait until at least `n` mails are stored, then (so that an extra one would show) a
    /// few worker ticks more; the mails.
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.mails().len() < n {
            assert!(
                Instant::now() < deadline,
                "expected {n} mails, got {}: {:#?}",
                self.mails().len(),
                self.mails()
                    .iter()
                    .map(|m| m.subject.clone())
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(2000));
        self.mails()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A received mail: headers and decoded parts by content type.
#[derive(Debug)]
pub struct Received {
    pub headers: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub parts: BTreeMap<String, String>,
}

fn header(headers: &str, name: &str) -> String {
    let mut out = String::new();
    let mut on = false;
    for line in headers.lines() {
        if on && (line.starts_with(' ') || line.starts_with('\t')) {
            out.push(' ');
            out.push_str(line.trim());
            continue;
        }
        on = false;
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            out = v.trim().to_string();
            on = true;
        }
    }
    out
}

fn unquote(qp: &str) -> String {
    let joined = qp.replace("=\r\n", "").replace("=\n", "");
    let b = joined.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && let Ok(v) = u8::from_str_radix(joined.get(i + 1..i + 3).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One RFC 2047 encoded word (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`), decoded.
fn encoded_word(token: &str) -> Option<String> {
    let inner = token.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut it = inner.splitn(3, '?');
    let (_, enc, text) = (it.next()?, it.next()?, it.next()?);
    Some(match enc.to_ascii_lowercase().as_str() {
        "b" => String::from_utf8_lossy(
            &base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()?,
        )
        .into_owned(),
        _ => unquote(&text.replace('_', " ")),
    })
}

/// A header value in plain text: blanks between two encoded words do not count (RFC 2047).
fn decode_words(v: &str) -> String {
    let mut out = String::new();
    let mut prev_encoded = false;
    for (i, token) in v.split(' ').enumerate() {
        let decoded = encoded_word(token);
        if i > 0 && !(prev_encoded && decoded.is_some()) {
            out.push(' ');
        }
        out.push_str(decoded.as_deref().unwrap_or(token));
        prev_encoded = decoded.is_some();
    }
    out
}

impl Received {
    pub fn parse(raw: &str) -> Received {
        let raw = raw.replace("\r\n", "\n");
        let (headers, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let ctype = header(headers, "Content-Type");
        let mut parts = BTreeMap::new();
        if let Some(b) = ctype.split("boundary=").nth(1) {
            let boundary = format!("--{}", b.trim_matches('"').split(';').next().unwrap());
            for chunk in body.split(&boundary).skip(1) {
                let Some((h, b)) = chunk.trim_start_matches('\n').split_once("\n\n") else {
                    continue;
                };
                let ct = header(h, "Content-Type");
                let kind = ct.split(';').next().unwrap_or("").trim().to_string();
                let enc = header(h, "Content-Transfer-Encoding").to_lowercase();
                let text = match enc.as_str() {
                    "base64" => String::from_utf8_lossy(
                        &base64::engine::general_purpose::STANDARD
                            .decode(b.split_whitespace().collect::<String>())
                            .unwrap_or_default(),
                    )
                    .into_owned(),
                    "quoted-printable" => unquote(b),
                    _ => b.to_string(),
                };
                parts.insert(kind, text);
            }
        }
        Received {
            to: header(headers, "To"),
            subject: decode_words(&header(headers, "Subject")),
            message_id: header(headers, "Message-ID"),
            headers: headers.to_string(),
            parts,
        }
    }

    pub fn text(&self) -> &str {
        self.parts.get("text/plain").map_or("", String::as_str)
    }

    pub fn html(&self) -> &str {
        self.parts.get("text/html").map_or("", String::as_str)
    }

    /// The incident the mail is about (the console link in its text).
    pub fn incident(&self) -> Option<String> {
        let t = self.text();
        let at = t.find("/incidents/inc-")?;
        let id: String = t[at + "/incidents/".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        Some(id)
    }
}
