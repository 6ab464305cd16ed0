//! The SMTP journaling listener: the mail server sends a copy of every message here (an
//! Exchange journal rule, a Postfix `always_bcc`, a gateway's BCC), and each one is scanned and
//! stored as an `email.*` event before the server hears `250`.
//!
//! Who may send: a client that authenticates with `AUTH PLAIN` using an ingest token (the
//! token's organization is the events'), or an envelope sender (`MAIL FROM`) on the allowed
//! list — an address or `@domain` — from an allowed network. Anyone else gets `530` (a token is
//! configured) or `550` (not an allowed sender).
//!
//! What the sender hears (RFC 5321, with RFC 3463 enhanced codes):
//!
//! | reply | when |
//! |---|---|
//! | `250 2.0.0` after `DATA` | the message was scanned and its event committed |
//! | `451 4.3.0` | the pipeline is behind or failing: nothing was stored, send again later |
//! | `552 5.3.4` | the message (or its declared `SIZE`) is over `max_message_bytes` |
//! | `554 5.6.0` | the message is not a mail message (no header lines) |
//! | `452 4.5.3` | more than `max_recipients` recipients |
//! | `503 5.5.1` | commands out of order (`RCPT` before `MAIL`, `DATA` before `RCPT`) |
//! | `500 5.5.2` / `501 5.5.4` | unknown command / bad arguments |
//! | `421 4.4.2` | idle for `idle_timeout_secs` |
//!
//! A strict, small receiver rather than a general mail server: no relaying, no queue (a message
//! is acknowledged only once stored, so the sending server keeps it until then), no STARTTLS
//! (journal traffic stays on the internal network; put it behind the allowed networks).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use wardwatch_mail::Scanner;
use wardwatch_mail::event::{Seen, to_event};

use crate::bulk::TokenCheck;
use crate::gate::Allow;
use crate::{Sink, SinkError, SourceCounters};

/// `origin.source` of events received by [`serve_smtp`].
pub const SOURCE: &str = "smtp";

/// The longest command line accepted (RFC 5321 §4.5.3.1.4 says 512; extensions make it longer).
const MAX_LINE: usize = 4096;

/// How the SMTP listener behaves.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The name the listener gives in its greeting.
    pub hostname: String,
    /// The largest message accepted, in bytes.
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    pub max_connections: usize,
    pub idle_timeout_secs: u64,
    /// Envelope senders allowed without a token: full addresses or `@domain`.
    pub allowed_senders: Vec<String>,
    /// Networks allowed to connect.
    pub allow: Allow,
    /// Ingest tokens (`AUTH PLAIN` password), when the server has any.
    pub tokens: Option<TokenCheck>,
    pub scanner: Arc<Scanner>,
}

impl SmtpConfig {
    fn sender_allowed(&self, sender: &str) -> bool {
        let sender = sender.to_ascii_lowercase();
        self.allowed_senders.iter().any(|a| {
            let a = a.trim().to_ascii_lowercase();
            match a.strip_prefix('@') {
                Some(domain) => sender.rsplit_once('@').is_some_and(|(_, d)| d == domain),
                None => a == sender,
            }
        })
    }
}

/// Serve SMTP on `listener` until `shutdown` resolves.
pub async fn serve_smtp<S: Sink>(
    listener: TcpListener,
    sink: Arc<S>,
    counters: Arc<SourceCounters>,
    cfg: SmtpConfig,
    shutdown: impl Future,
) {
    let cfg = Arc::new(cfg);
    let slots = Arc::new(tokio::sync::Semaphore::new(cfg.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            a = listener.accept() => a,
        };
        let Ok((stream, peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if !cfg.allow.permits(peer.ip()) {
            SourceCounters::add(&counters.refused_network, 1);
            let mut stream = stream;
            let _ = stream
                .write_all(b"554 5.7.1 your network may not send here\r\n")
                .await;
            continue;
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            SourceCounters::add(&counters.listener_full, 1);
            let mut stream = stream;
            let _ = stream
                .write_all(b"421 4.3.2 too many connections, try again later\r\n")
                .await;
            continue;
        };
        let (sink, counters, cfg) = (sink.clone(), counters.clone(), cfg.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let mut session = Session {
                cfg: &cfg,
                sink: &*sink,
                counters: &counters,
                peer,
                helo: None,
                organization: None,
                from: None,
                rcpts: Vec::new(),
            };
            if let Err(e) = session.run(stream).await {
                tracing::debug!(peer = %peer, error = %e, "smtp session ended");
            }
        });
    }
}

struct Session<'a, S> {
    cfg: &'a SmtpConfig,
    sink: &'a S,
    counters: &'a SourceCounters,
    peer: SocketAddr,
    helo: Option<String>,
    /// The organization of the token the client authenticated with.
    organization: Option<String>,
    from: Option<String>,
    rcpts: Vec<String>,
}

enum Line {
    Text(Vec<u8>),
    TooLong,
    Closed,
    Idle,
}

async fn read_line(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    idle: Duration,
) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(idle, r.fill_buf()).await {
            Err(_) => return Ok(Line::Idle),
            Ok(c) => c?,
        };
        if chunk.is_empty() {
            return Ok(if buf.is_empty() {
                Line::Closed
            } else {
                Line::Text(buf)
            });
        }
        match memchr_nl(chunk) {
            Some(i) => {
                buf.extend_from_slice(&chunk[..=i]);
                r.consume(i + 1);
                if buf.len() > MAX_LINE * 256 {
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Text(buf));
            }
            None => {
                let n = chunk.len();
                buf.extend_from_slice(chunk);
                r.consume(n);
                if buf.len() > MAX_LINE * 256 {
                    return Ok(Line::TooLong);
                }
            }
        }
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// The address inside `FROM:<a@b> SIZE=10` / `TO:<a@b>`, and the parameters after it.
fn path_arg<'l>(args: &'l str, keyword: &str) -> Option<(String, &'l str)> {
    let rest = args.trim_start();
    if rest.len() < keyword.len() || !rest[..keyword.len()].eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((rest[..end].trim().to_string(), rest[end + 1..].trim()))
}

impl<S: Sink> Session<'_, S> {
    async fn run(&mut self, stream: TcpStream) -> std::io::Result<()> {
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        let idle = Duration::from_secs(self.cfg.idle_timeout_secs.max(1));
        w.write_all(
            format!("220 {} Wardwatch mail journal ESMTP\r\n", self.cfg.hostname).as_bytes(),
        )
        .await?;
        loop {
            let line = match read_line(&mut r, idle).await? {
                Line::Text(l) => l,
                Line::TooLong => {
                    w.write_all(b"500 5.5.6 line too long\r\n").await?;
                    return Ok(());
                }
                Line::Closed => return Ok(()),
                Line::Idle => {
                    SourceCounters::add(&self.counters.idle_timeouts, 1);
                    w.write_all(b"421 4.4.2 idle too long, closing\r\n").await?;
                    return Ok(());
                }
            };
            if line.len() > MAX_LINE {
                w.write_all(b"500 5.5.6 command line too long\r\n").await?;
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let (verb, args) = text.split_once(' ').unwrap_or((text, ""));
            let reply: String = match verb.to_ascii_uppercase().as_str() {
                "EHLO" | "HELO" if args.trim().is_empty() => {
                    "501 5.5.4 a domain or address is required".into()
                }
                "EHLO" => {
                    self.helo = Some(args.trim().to_string());
                    self.reset();
                    format!(
                        "250-{} greets {}\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN\r\n250 PIPELINING",
                        self.cfg.hostname,
                        args.trim(),
                        self.cfg.max_message_bytes
                    )
                }
                "HELO" => {
                    self.helo = Some(args.trim().to_string());
                    self.reset();
                    format!("250 {}", self.cfg.hostname)
                }
                "AUTH" => self.auth(args, &mut r, &mut w, idle).await?,
                "MAIL" => self.mail(args),
                "RCPT" => self.rcpt(args),
                "DATA" => {
                    if self.rcpts.is_empty() {
                        "503 5.5.1 RCPT first".into()
                    } else {
                        w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                            .await?;
                        match self.data(&mut r, idle).await? {
                            Some(reply) => reply,
                            None => return Ok(()),
                        }
                    }
                }
                "RSET" => {
                    self.reset();
                    "250 2.0.0 Ok".into()
                }
                "NOOP" => "250 2.0.0 Ok".into(),
                "VRFY" => "252 2.5.2 cannot verify, send anyway".into(),
                "QUIT" => {
                    w.write_all(b"221 2.0.0 Bye\r\n").await?;
                    return Ok(());
                }
                "STARTTLS" => {
                    "502 5.5.1 not offered here: send journal copies over the internal network"
                        .into()
                }
                _ => "500 5.5.2 command not recognized".into(),
            };
            w.write_all(reply.as_bytes()).await?;
            w.write_all(b"\r\n").await?;
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
    }

    async fn auth<W: AsyncWriteExt + Unpin>(
        &mut self,
        args: &str,
        r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        w: &mut W,
        idle: Duration,
    ) -> std::io::Result<String> {
        let mut parts = args.split_whitespace();
        if !parts
            .next()
            .is_some_and(|m| m.eq_ignore_ascii_case("PLAIN"))
        {
            return Ok("504 5.5.4 only AUTH PLAIN is offered".into());
        }
        let Some(tokens) = &self.cfg.tokens else {
            return Ok(
                "503 5.5.1 no tokens are configured: this listener takes allowed senders only"
                    .into(),
            );
        };
        let initial = match parts.next() {
            Some(i) => i.to_string(),
            None => {
                w.write_all(b"334 \r\n").await?;
                match read_line(r, idle).await? {
                    Line::Text(l) => String::from_utf8_lossy(&l).trim().to_string(),
                    _ => return Ok("501 5.5.2 no credentials".into()),
                }
            }
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(initial.trim())
            .unwrap_or_default();
        let password = decoded
            .split(|&b| b == 0)
            .nth(2)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        match tokens(&password) {
            Some(org) if !password.is_empty() => {
                self.organization = Some(org);
                Ok("235 2.7.0 Authentication successful".into())
            }
            _ => {
                SourceCounters::add(&self.counters.rejected, 1);
                Ok("535 5.7.8 Authentication credentials invalid".into())
            }
        }
    }

    fn mail(&mut self, args: &str) -> String {
        if self.helo.is_none() {
            return "503 5.5.1 EHLO first".into();
        }
        if self.from.is_some() {
            return "503 5.5.1 nested MAIL command".into();
        }
        let Some((from, params)) = path_arg(args, "FROM:") else {
            return "501 5.5.4 syntax: MAIL FROM:<address>".into();
        };
        for p in params.split_whitespace() {
            if let Some(size) = p.strip_prefix("SIZE=").or_else(|| p.strip_prefix("size="))
                && size
                    .parse::<usize>()
                    .is_ok_and(|s| s > self.cfg.max_message_bytes)
            {
                return format!(
                    "552 5.3.4 message size exceeds the limit of {} bytes",
                    self.cfg.max_message_bytes
                );
            }
        }
        if self.organization.is_none() && !self.cfg.sender_allowed(&from) {
            SourceCounters::add(&self.counters.rejected, 1);
            return if self.cfg.tokens.is_some() {
                "530 5.7.0 authentication required (AUTH PLAIN with an ingest token), or send from an allowed sender".into()
            } else {
                format!("550 5.7.1 sender <{from}> may not send journal copies here")
            };
        }
        self.from = Some(from);
        "250 2.1.0 Ok".into()
    }

    fn rcpt(&mut self, args: &str) -> String {
        if self.from.is_none() {
            return "503 5.5.1 MAIL first".into();
        }
        let Some((to, _)) = path_arg(args, "TO:") else {
            return "501 5.5.4 syntax: RCPT TO:<address>".into();
        };
        if self.rcpts.len() >= self.cfg.max_recipients {
            return "452 4.5.3 too many recipients".into();
        }
        self.rcpts.push(to.to_ascii_lowercase());
        "250 2.1.5 Ok".into()
    }

    /// Reads the message up to the lone dot, then scans and stores it; the reply to send, or
    /// `None` when the client went away mid-message.
    async fn data(
        &mut self,
        r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        idle: Duration,
    ) -> std::io::Result<Option<String>> {
        let mut message = Vec::new();
        let mut too_big = false;
        loop {
            let line = match read_line(r, idle).await? {
                Line::Text(l) => l,
                Line::TooLong => {
                    too_big = true;
                    continue;
                }
                Line::Closed | Line::Idle => {
                    self.reset();
                    return Ok(None);
                }
            };
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            if body == b"." {
                break;
            }
            if too_big {
                continue;
            }
            let body = body.strip_prefix(b".").unwrap_or(body);
            message.extend_from_slice(body);
            message.extend_from_slice(b"\r\n");
            if message.len() > self.cfg.max_message_bytes {
                too_big = true;
                message = Vec::new();
            }
        }
        SourceCounters::add(&self.counters.received, 1);
        SourceCounters::add(&self.counters.bytes, message.len() as u64);
        let reply = if too_big {
            SourceCounters::add(&self.counters.rejected, 1);
            format!(
                "552 5.3.4 message exceeds the limit of {} bytes",
                self.cfg.max_message_bytes
            )
        } else {
            self.store(&message).await
        };
        self.reset();
        Ok(Some(reply))
    }

    async fn store(&self, message: &[u8]) -> String {
        let mut report = match self.cfg.scanner.scan(message) {
            Ok(r) => r,
            Err(e) => {
                SourceCounters::add(&self.counters.rejected, 1);
                return format!("554 5.6.0 message refused: {e}");
            }
        };
        if report.to.is_empty() {
            // A journal copy often has the recipients only on the envelope (Bcc).
            report.to = self.rcpts.clone();
        }
        let seen = Seen {
            source: SOURCE.to_string(),
            record_id: None,
            received: jiff::Timestamp::now(),
            action: "delivered".into(),
        };
        let mut event = to_event(&report, &seen);
        if let Some(org) = &self.organization {
            event.organization = org.clone();
        }
        event.raw["wardwatch"]["mail"]["envelope"] = json!({
            "from": self.from,
            "to": self.rcpts,
            "client": self.peer.ip().to_string(),
            "helo": self.helo,
        });
        let id = report.message_id.clone().unwrap_or_default();
        match self.sink.submit(vec![event]).await {
            Ok(()) => format!(
                "250 2.0.0 Ok: stored {}",
                if id.is_empty() { "message" } else { &id }
            ),
            Err(SinkError::Busy { retry_after }) => {
                SourceCounters::add(&self.counters.throttled, 1);
                format!(
                    "451 4.3.0 busy: detection is behind, try again in {} s",
                    retry_after.as_secs().max(1)
                )
            }
            Err(e) => format!("451 4.3.0 not stored ({e}), try again later"),
        }
    }
}

#[cfg(test)]
mod tests;
