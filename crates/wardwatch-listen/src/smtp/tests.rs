//! The SMTP session over a real socket, with a sink that records what it stores.

use std::sync::Mutex;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::*;
use crate::gate::Allow;

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<wardwatch_core::Event>>,
}

impl Sink for Recorder {
    async fn submit(&self, batch: Vec<wardwatch_core::Event>) -> Result<(), SinkError> {
        self.events.lock().unwrap().extend(batch);
        Ok(())
    }
}

async fn start(allowed: &[&str]) -> (SocketAddr, Arc<Recorder>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = Arc::new(Recorder::default());
    let tokens: TokenCheck = Arc::new(|t| (t == "journal-token").then(|| "org-a".to_string()));
    let cfg = SmtpConfig {
        hostname: "ww-test".into(),
        max_message_bytes: 4096,
        max_recipients: 10,
        max_connections: 4,
        idle_timeout_secs: 5,
        allowed_senders: allowed.iter().map(|s| s.to_string()).collect(),
        allow: Allow::parse(&[], "test").unwrap(),
        tokens: Some(tokens),
        scanner: Arc::new(Scanner::new(Default::default())),
    };
    let s = sink.clone();
    tokio::spawn(serve_smtp(
        listener,
        s,
        Arc::new(SourceCounters::default()),
        cfg,
        std::future::pending::<()>(),
    ));
    (addr, sink)
}

/// Sends `lines` one after another, returning every reply's first line.
async fn talk(addr: SocketAddr, lines: &[&str]) -> Vec<String> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut replies = Vec::new();
    let read_reply = async |r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>| {
        let mut first = None;
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).await.unwrap() == 0 {
                break;
            }
            first.get_or_insert(l.trim_end().to_string());
            if l.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        first.unwrap_or_default()
    };
    replies.push(read_reply(&mut r).await);
    for line in lines {
        w.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        replies.push(read_reply(&mut r).await);
    }
    replies
}

const MESSAGE: &str = "From: a@x.example\r\nTo: b@h.example\r\nSubject: hello\r\nMessage-ID: <m1@x.example>\r\n\r\n..dot-stuffed line\r\n.";

#[tokio::test]
async fn allowed_sender_is_stored_before_250_others_are_refused() {
    let (addr, sink) = start(&["@exchange.h.example"]).await;
    let r = talk(
        addr,
        &[
            "EHLO mx1",
            "MAIL FROM:<journal@exchange.h.example> SIZE=300",
            "RCPT TO:<archive@h.example>",
            "DATA",
            MESSAGE,
            "QUIT",
        ],
    )
    .await;
    assert!(r[0].starts_with("220"), "{r:?}");
    assert!(r[5].starts_with("250 2.0.0"), "{r:?}");
    let events = sink.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].raw["email"]["subject"], "hello");
    assert_eq!(
        events[0].raw["wardwatch"]["mail"]["envelope"]["to"][0],
        "archive@h.example"
    );
    let r = talk(addr, &["EHLO mx2", "MAIL FROM:<someone@elsewhere.example>"]).await;
    assert!(r[2].starts_with("530 5.7.0"), "{r:?}");
    let r = talk(addr, &["EHLO mx2", "MAIL FROM:<a@b.example> SIZE=999999"]).await;
    assert!(r[2].starts_with("552 5.3.4"), "{r:?}");
    let r = talk(addr, &["RCPT TO:<x@y>", "HELO a", "DATA", "FOO"]).await;
    assert!(r[1].starts_with("503"), "{r:?}");
    assert!(r[3].starts_with("503"), "{r:?}");
    assert!(r[4].starts_with("500"), "{r:?}");
}

#[tokio::test]
async fn a_token_authenticates_and_sets_the_organization_and_garbage_gets_554() {
    let (addr, sink) = start(&[]).await;
    let auth = base64::engine::general_purpose::STANDARD.encode(b"\0journal\0journal-token");
    let bad = base64::engine::general_purpose::STANDARD.encode(b"\0journal\0wrong");
    let r = talk(
        addr,
        &[
            "EHLO mx",
            &format!("AUTH PLAIN {bad}"),
            &format!("AUTH PLAIN {auth}"),
            "MAIL FROM:<j@anywhere.example>",
            "RCPT TO:<a@h.example>",
            "DATA",
            MESSAGE,
            "MAIL FROM:<j@anywhere.example>",
            "RCPT TO:<a@h.example>",
            "DATA",
            "\u{1}\u{2}binary junk\r\n.",
        ],
    )
    .await;
    assert!(r[2].starts_with("535"), "{r:?}");
    assert!(r[3].starts_with("235"), "{r:?}");
    assert!(r[7].starts_with("250 2.0.0"), "{r:?}");
    assert!(r[11].starts_with("554 5.6.0"), "{r:?}");
    let events = sink.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].organization, "org-a");
}
