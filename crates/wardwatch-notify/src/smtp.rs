//! Mail delivery over SMTP with `lettre` (plain, STARTTLS or implicit TLS; optional login;
//! rustls with ring), and errors a person can act on.
//!
//! Why the error words: "connection refused", "TLS handshake eof" or "timed out" say nothing
//! about the fix. Each failure is named with the server, and with the likely cause when the
//! symptom tells it (a TLS server spoken to in plain text times out waiting for a greeting; a
//! plain server spoken to in TLS closes the handshake).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::{Digest, Sha256};

use crate::DeliveryError;
use crate::config::{SmtpConfig, TlsMode, parse_address, parse_server};
use crate::render::Mail;

/// A configured SMTP sender.
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
    tls: TlsMode,
    timeout: Duration,
    user: String,
}

impl SmtpSender {
    /// Build the sender (no connection yet). Fails on a value that cannot work.
    pub fn new(cfg: &SmtpConfig) -> Result<SmtpSender, DeliveryError> {
        let permanent = |m: String| DeliveryError::permanent(m);
        let (host, port) =
            parse_server(&cfg.server).map_err(|e| permanent(format!("notify.smtp.server: {e}")))?;
        let from =
            parse_address(&cfg.from).map_err(|e| permanent(format!("notify.smtp.from: {e}")))?;
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        let tls = match cfg.tls {
            TlsMode::None => Tls::None,
            mode => {
                let mut b = TlsParameters::builder(host.clone());
                if !cfg.ca_file.is_empty() {
                    let pem = std::fs::read(&cfg.ca_file).map_err(|e| {
                        permanent(format!("notify.smtp.ca_file `{}`: {e}", cfg.ca_file))
                    })?;
                    let cert = Certificate::from_pem(&pem).map_err(|e| {
                        permanent(format!(
                            "notify.smtp.ca_file `{}` is not a PEM certificate: {e}",
                            cfg.ca_file
                        ))
                    })?;
                    b = b.add_root_certificate(cert);
                }
                let params = b
                    .build_rustls()
                    .map_err(|e| permanent(format!("TLS settings for {}: {e}", cfg.server)))?;
                if mode == TlsMode::Starttls {
                    Tls::Required(params)
                } else {
                    Tls::Wrapper(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(timeout))
            .tls(tls);
        if !cfg.username.is_empty() {
            builder =
                builder.credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()));
        }
        Ok(SmtpSender {
            transport: builder.build(),
            from: Mailbox::new(Some("Wardwatch".into()), from),
            server: cfg.server.clone(),
            tls: cfg.tls,
            timeout,
            user: cfg.username.clone(),
        })
    }

    /// Connect, greet, secure and log in as configured, without sending.
    pub async fn check(&self) -> Result<(), DeliveryError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DeliveryError::transient(format!(
                "{} answered but did not accept the session",
                self.server
            ))),
            Err(e) => Err(self.explain(&e, None)),
        }
    }

    /// Send `mail` to `to`; `id` becomes the Message-ID, so a resend after a crash is the same
    /// message to the recipient's mail client.
    pub async fn send(&self, to: &str, id: &str, mail: &Mail) -> Result<(), DeliveryError> {
        let to_addr = parse_address(to).map_err(DeliveryError::permanent)?;
        let digest = Sha256::digest(id.as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let domain = self.from.email.domain().to_string();
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to_addr))
            .subject(&mail.subject)
            .message_id(Some(format!("<{hex}@{domain}>")))
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| DeliveryError::permanent(format!("cannot build the mail: {e}")))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| self.explain(&e, Some(to)))
    }

    /// A lettre error in words, with the server and the likely cause.
    fn explain(&self, e: &lettre::transport::smtp::Error, to: Option<&str>) -> DeliveryError {
        let server = &self.server;
        let mut chain = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            src = s.source();
        }
        let lower = chain.to_lowercase();
        let status = e.status().map(|c| c.to_string());
        if e.is_permanent() {
            let code = status.unwrap_or_default();
            if code.starts_with("535") || code.starts_with("534") || code.starts_with("530") {
                return DeliveryError::permanent(format!(
                    "{server} refused the login of `{}` ({chain}): check notify.smtp.username and password",
                    self.user
                ));
            }
            // 55x: the mailbox or address (RCPT); 50x: a command or the message itself.
            return match to {
                Some(to) if code.starts_with("55") => {
                    DeliveryError::permanent(format!("{server} refused recipient `{to}` ({chain})"))
                }
                Some(to) => DeliveryError::permanent(format!(
                    "{server} refused the mail to `{to}` ({chain})"
                )),
                None => DeliveryError::permanent(format!("{server} refused the mail ({chain})")),
            };
        }
        if e.is_transient() {
            // A 4xx answer: the server is there and asks to try later (greylisting, a full
            // mailbox, a busy relay).
            return match to {
                Some(to) => DeliveryError::transient(format!(
                    "{server} deferred the mail to `{to}` ({chain}); it is tried again later"
                )),
                None => DeliveryError::transient(format!(
                    "{server} is not taking mail now ({chain}); it is tried again later"
                )),
            };
        }
        if lower.contains("connection refused") {
            return DeliveryError::transient(format!(
                "cannot connect to the SMTP server {server}: connection refused (is it running, and is the port right?)"
            ));
        }
        if lower.contains("failed to lookup")
            || lower.contains("name or service not known")
            || lower.contains("no address")
        {
            return DeliveryError::transient(format!(
                "cannot find the SMTP server {server}: the host name does not resolve ({chain})"
            ));
        }
        if lower.contains("starttls") || (self.tls == TlsMode::Starttls && lower.contains("tls")) {
            return DeliveryError::transient(format!(
                "{server} did not complete STARTTLS ({chain}): does it offer STARTTLS? For a server that speaks TLS at once (port 465) set tls = \"tls\""
            ));
        }
        if e.is_timeout() || lower.contains("timed out") {
            let hint = match self.tls {
                TlsMode::None | TlsMode::Starttls => {
                    " — a server that expects TLS from the first byte (port 465) waits silently for a plain client: try tls = \"tls\""
                }
                TlsMode::Tls => "",
            };
            return DeliveryError::transient(format!(
                "no answer from the SMTP server {server} within {} s{hint}",
                self.timeout.as_secs()
            ));
        }
        if self.tls == TlsMode::Tls
            && (e.is_tls()
                || lower.contains("tls")
                || lower.contains("handshake")
                || lower.contains("eof")
                || lower.contains("corrupt"))
        {
            return DeliveryError::transient(format!(
                "TLS handshake with {server} failed ({chain}): is tls = \"tls\" right? Ports 25 and 587 start in plain text (tls = \"none\" or \"starttls\")"
            ));
        }
        if e.is_tls() || lower.contains("certificate") {
            return DeliveryError::transient(format!(
                "TLS with {server} failed ({chain}): is the server's certificate trusted? Set notify.smtp.ca_file for a hospital's own CA"
            ));
        }
        if lower.contains("unexpected") || lower.contains("parse") || lower.contains("invalid") {
            let hint = if self.tls == TlsMode::None {
                " — is it a TLS server (tls = \"tls\")?"
            } else {
                ""
            };
            return DeliveryError::transient(format!(
                "{server} did not speak SMTP as expected ({chain}){hint}"
            ));
        }
        DeliveryError::transient(format!("SMTP with {server} failed: {chain}"))
    }
}
