//! Syslog listeners on real loopback sockets: UDP, TCP (framing, backpressure, connection
//! limit, shutdown) and TLS, with an in-memory sink.

mod listen_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use listen_common::{TestSink, counts, get, wait_until};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wardwatch_core::SourceKind;
use wardwatch_listen::SourceCounters;
use wardwatch_listen::{SyslogConfig, syslog_tcp, syslog_tls, syslog_udp, tls_acceptor};

fn config() -> SyslogConfig {
    SyslogConfig {
        max_message_bytes: 256,
        batch_max: 100,
        batch_delay_ms: 10,
        max_connections: 16,
        ..SyslogConfig::default()
    }
}

/// A running listener: stop it with [`Running::stop`], which waits for it to finish.
struct Running {
    addr: SocketAddr,
    sink: Arc<TestSink>,
    counters: Arc<SourceCounters>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the listener stops")
            .expect("the listener task does not panic");
    }
}

async fn start_tcp(listener: TcpListener, cfg: SyslogConfig) -> Running {
    let addr = listener.local_addr().unwrap();
    let sink = TestSink::new();
    let counters = Arc::new(SourceCounters::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(syslog_tcp::serve_tcp(
        listener,
        sink.clone(),
        counters.clone(),
        cfg,
        stopped,
    ));
    Running {
        addr,
        sink,
        counters,
        stop,
        task,
    }
}

async fn loopback_tcp() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

fn raw_str<'a>(raw: &'a Value, key: &str) -> Option<&'a str> {
    raw.get(key).and_then(Value::as_str)
}

#[tokio::test]
async fn udp_messages_arrive_decoded() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let sink = TestSink::new();
    let counters = Arc::new(SourceCounters::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(syslog_udp::serve_udp(
        socket,
        sink.clone(),
        counters.clone(),
        config(),
        stopped,
    ));

    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let oversize = format!(
        "<13>1 2024-05-14T08:00:00Z big app - - - {}",
        "x".repeat(400)
    );
    let datagrams: Vec<Vec<u8>> = vec![
        b"<34>1 2024-05-14T08:00:00Z pacs-01 sshd 42 - - Failed password for root\n".to_vec(),
        // Two messages in one datagram, as some senders pack them.
        b"<13>May 14 08:00:01 ehr-01 app: one\n<13>May 14 08:00:02 ehr-01 app: two\n".to_vec(),
        oversize.into_bytes(),
        b"<13>1 2024-05-14T08:00:03Z badutf8 app - - - caf\xe9".to_vec(),
    ];
    for d in &datagrams {
        client.send_to(d, addr).await.unwrap();
    }
    wait_until("five UDP messages are stored", || sink.len() == 5).await;
    let _ = stop.send(());
    task.await.unwrap();

    let events = sink.events();
    assert!(
        events
            .iter()
            .all(|e| e.origin.source == "syslog-udp" && e.source_kind == SourceKind::Syslog)
    );
    let hosts: Vec<_> = events
        .iter()
        .map(|e| e.ecs.host_name.clone().unwrap_or_default())
        .collect();
    assert_eq!(hosts, ["pacs-01", "ehr-01", "ehr-01", "big", "badutf8"]);
    assert_eq!(raw_str(&events[1].raw, "message"), Some("one"));
    assert_eq!(events[3].raw.get("truncated"), Some(&Value::Bool(true)));
    assert_eq!(events[4].raw.get("invalid_utf8"), Some(&Value::Bool(true)));
    assert_eq!(get(&counters.received), 5, "{}", counts(&counters));
    assert_eq!(get(&counters.malformed), 2, "{}", counts(&counters));
    assert_eq!(get(&counters.dropped), 0, "{}", counts(&counters));
    let sent: usize = datagrams.iter().map(Vec::len).sum();
    assert_eq!(get(&counters.bytes), sent as u64);
}

#[tokio::test]
async fn udp_drops_and_counts_while_the_sink_is_busy() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let sink = TestSink::new();
    sink.set_busy(Some(Duration::from_millis(100)));
    let counters = Arc::new(SourceCounters::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(syslog_udp::serve_udp(
        socket,
        sink.clone(),
        counters.clone(),
        config(),
        stopped,
    ));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..3 {
        let msg = format!("<13>1 2024-05-14T08:00:00Z h app - - - lost {i}");
        client.send_to(msg.as_bytes(), addr).await.unwrap();
    }
    wait_until("three UDP messages are counted as dropped", || {
        get(&counters.dropped) == 3
    })
    .await;
    assert_eq!(sink.len(), 0);

    // Refused by `submit` although `busy()` said free: dropped and counted too.
    sink.set_busy_on_submit_only(true);
    client.send_to(b"<13>refused", addr).await.unwrap();
    wait_until("the refused batch is counted", || {
        get(&counters.dropped) == 4
    })
    .await;

    sink.set_busy_on_submit_only(false);
    sink.set_busy(None);
    client.send_to(b"<13>kept", addr).await.unwrap();
    wait_until("the next message is stored", || sink.len() == 1).await;
    let _ = stop.send(());
    task.await.unwrap();
    assert_eq!(get(&counters.received), 5, "{}", counts(&counters));
}

#[tokio::test]
async fn tcp_octet_counted_and_newline_messages_arrive() {
    let run = start_tcp(loopback_tcp().await, config()).await;
    let mut tcp = TcpStream::connect(run.addr).await.unwrap();
    let octet = "<165>1 2024-05-14T08:00:00.003Z lab-01 evntslog - ID47 [exampleSDID@32473 iut=\"3\"] octet";
    tcp.write_all(format!("{} {octet}", octet.len()).as_bytes())
        .await
        .unwrap();
    tcp.write_all(
        b"<13>May 14 08:00:01 ehr-01 app: newline\r\n<13>May 14 08:00:02 ehr-01 app: spl",
    )
    .await
    .unwrap();
    tcp.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    tcp.write_all(b"it\n<13>May 14 08:00:03 ehr-01 app: last without newline")
        .await
        .unwrap();
    drop(tcp);
    wait_until("four TCP messages are stored", || run.sink.len() == 4).await;
    let events = run.sink.events();
    let messages: Vec<_> = events
        .iter()
        .map(|e| raw_str(&e.raw, "message").unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        messages,
        ["octet", "newline", "split", "last without newline"]
    );
    assert_eq!(events[0].ecs.host_name.as_deref(), Some("lab-01"));
    assert!(events[0].raw.get("structured_data").is_some());
    assert!(events.iter().all(|e| e.origin.source == "syslog-tcp"));
    assert_eq!(get(&run.counters.malformed), 0, "{}", counts(&run.counters));
    run.stop().await;
}

#[tokio::test]
async fn tcp_oversize_frames_are_kept_cut_and_counted() {
    let run = start_tcp(loopback_tcp().await, config()).await;
    let mut tcp = TcpStream::connect(run.addr).await.unwrap();
    let long = format!(
        "<13>1 2024-05-14T08:00:00Z big app - - - {}",
        "y".repeat(1000)
    );
    let mut bytes = format!("{} {long}", long.len()).into_bytes();
    bytes.extend_from_slice(long.as_bytes());
    bytes.extend_from_slice(b"\n<13>1 2024-05-14T08:00:00Z ok app - - - after\n");
    tcp.write_all(&bytes).await.unwrap();
    drop(tcp);
    wait_until("three TCP messages are stored", || run.sink.len() == 3).await;
    let events = run.sink.events();
    assert_eq!(events[0].raw.get("truncated"), Some(&Value::Bool(true)));
    assert_eq!(events[1].raw.get("truncated"), Some(&Value::Bool(true)));
    assert_eq!(raw_str(&events[2].raw, "message"), Some("after"));
    assert_eq!(get(&run.counters.malformed), 2, "{}", counts(&run.counters));
    run.stop().await;
}

/// A busy sink stops the listener reading: the sender's writes stall once the socket buffers
/// are full, and when the sink is free again every message arrives, once, in order.
#[tokio::test]
async fn tcp_backpressure_stalls_the_sender_and_loses_nothing() {
    // Small socket buffers (no autotuning), so the stall comes after little data.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(16).unwrap();
    let run = start_tcp(
        listener,
        SyslogConfig {
            max_message_bytes: 4096,
            ..config()
        },
    )
    .await;
    run.sink.set_busy(Some(Duration::from_millis(20)));

    const MESSAGES: usize = 5000;
    let pad = "p".repeat(900);
    let messages: Vec<String> = (0..MESSAGES)
        .map(|i| format!("<13>1 2024-05-14T08:00:00Z ws-1 app - - - seq={i} {pad}\n"))
        .collect();
    let total: usize = messages.iter().map(String::len).sum();
    let written = Arc::new(AtomicU64::new(0));
    let client = tokio::net::TcpSocket::new_v4().unwrap();
    client.set_send_buffer_size(32 * 1024).unwrap();
    let mut tcp = client.connect(run.addr).await.unwrap();
    let progress = written.clone();
    let writer = tokio::spawn(async move {
        for m in messages {
            tcp.write_all(m.as_bytes()).await.unwrap();
            progress.fetch_add(m.len() as u64, Ordering::SeqCst);
        }
        tcp.shutdown().await.unwrap();
    });

    // Wait until the writer makes no progress any more.
    let mut last = u64::MAX;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = written.load(Ordering::SeqCst);
        if now == last && now > 0 {
            break;
        }
        last = now;
    }
    let stalled_at = written.load(Ordering::SeqCst);
    assert!(
        stalled_at < total as u64,
        "the sender wrote everything ({stalled_at} bytes) although the sink was busy"
    );
    assert_eq!(
        run.sink.len(),
        0,
        "nothing is stored while the sink is busy"
    );

    run.sink.set_busy(None);
    tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the sender finishes once the sink is free")
        .unwrap();
    wait_until("every message is stored", || run.sink.len() == MESSAGES).await;
    let seqs: Vec<usize> = run
        .sink
        .events()
        .iter()
        .map(|e| {
            let msg = raw_str(&e.raw, "message").unwrap();
            msg["seq=".len()..msg.find(' ').unwrap()].parse().unwrap()
        })
        .collect();
    assert_eq!(
        seqs,
        (0..MESSAGES).collect::<Vec<_>>(),
        "each message once, in order"
    );
    assert_eq!(get(&run.counters.dropped), 0, "{}", counts(&run.counters));
    run.stop().await;
}

/// `busy()` says free but `submit` refuses: the same batch is offered again until it is taken.
#[tokio::test]
async fn tcp_batch_refused_as_busy_is_submitted_again() {
    let run = start_tcp(loopback_tcp().await, config()).await;
    run.sink.set_busy(Some(Duration::from_millis(10)));
    run.sink.set_busy_on_submit_only(true);
    let mut tcp = TcpStream::connect(run.addr).await.unwrap();
    for i in 0..10 {
        tcp.write_all(format!("<13>1 - h app - - - m{i}\n").as_bytes())
            .await
            .unwrap();
    }
    wait_until("the batch is refused a few times", || {
        run.sink.submits.load(Ordering::SeqCst) >= 3
    })
    .await;
    assert_eq!(run.sink.len(), 0);
    run.sink.set_busy(None);
    wait_until("the batch is stored", || run.sink.len() == 10).await;
    drop(tcp);
    let sink = run.sink.clone();
    run.stop().await;
    assert_eq!(sink.len(), 10, "stored once");
}

#[tokio::test]
async fn tcp_connections_over_the_limit_wait_for_a_free_slot() {
    let run = start_tcp(
        loopback_tcp().await,
        SyslogConfig {
            max_connections: 1,
            ..config()
        },
    )
    .await;
    let mut first = TcpStream::connect(run.addr).await.unwrap();
    first
        .write_all(b"<13>1 - h app - - - first\n")
        .await
        .unwrap();
    wait_until("the first connection's message is stored", || {
        run.sink.len() == 1
    })
    .await;
    let mut second = TcpStream::connect(run.addr).await.unwrap();
    second
        .write_all(b"<13>1 - h app - - - second\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(run.sink.len(), 1, "the second connection is not served yet");
    drop(first);
    wait_until("the second connection is served", || run.sink.len() == 2).await;
    drop(second);
    run.stop().await;
}

#[tokio::test]
async fn tcp_shutdown_stores_what_was_received() {
    let run = start_tcp(
        loopback_tcp().await,
        SyslogConfig {
            batch_delay_ms: 60_000,
            ..config()
        },
    )
    .await;
    let mut tcp = TcpStream::connect(run.addr).await.unwrap();
    tcp.write_all(b"<13>1 - h app - - - pending\n")
        .await
        .unwrap();
    wait_until("the message is read", || get(&run.counters.received) == 1).await;
    assert_eq!(run.sink.len(), 0, "still waiting for its batch to fill");
    let sink = run.sink.clone();
    run.stop().await;
    assert_eq!(sink.len(), 1);
    drop(tcp);
}

/// What the sender wrote but the listener had not read yet (it was waiting for a busy sink) is
/// read and stored when the listener stops: TCP had already acknowledged it.
#[tokio::test]
async fn tcp_shutdown_reads_what_the_kernel_already_acknowledged() {
    let run = start_tcp(loopback_tcp().await, config()).await;
    run.sink.set_busy(Some(Duration::from_secs(60)));
    let mut tcp = TcpStream::connect(run.addr).await.unwrap();
    tcp.write_all(b"<13>1 - h app - - - unread\n")
        .await
        .unwrap();
    // Let the connection be accepted and start waiting for the sink.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        get(&run.counters.received),
        0,
        "not read while the sink is busy"
    );
    run.sink.set_busy(None);
    let sink = run.sink.clone();
    run.stop().await;
    assert_eq!(sink.len(), 1);
    drop(tcp);
}

#[tokio::test]
async fn tls_messages_arrive() {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let acceptor = tls_acceptor(
        key.cert.pem().as_bytes(),
        key.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let listener = loopback_tcp().await;
    let addr = listener.local_addr().unwrap();
    let sink = TestSink::new();
    let counters = Arc::new(SourceCounters::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(syslog_tls::serve_tls(
        listener,
        acceptor,
        sink.clone(),
        counters.clone(),
        config(),
        stopped,
    ));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(key.cert.der().clone()).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    for i in 0..3 {
        let msg = format!(
            "<38>1 2024-05-14T08:00:0{i}Z ehr-db-01 sshd - - - Accepted publickey for svc{i}"
        );
        tls.write_all(format!("{} {msg}", msg.len()).as_bytes())
            .await
            .unwrap();
    }
    tls.shutdown().await.unwrap();
    wait_until("three TLS messages are stored", || sink.len() == 3).await;
    let events = sink.events();
    assert!(events.iter().all(
        |e| e.origin.source == "syslog-tls" && e.ecs.host_name.as_deref() == Some("ehr-db-01")
    ));
    assert_eq!(
        raw_str(&events[2].raw, "message"),
        Some("Accepted publickey for svc2")
    );

    // A client that does not speak TLS is dropped without harm.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain.write_all(b"<13>not tls\n").await.unwrap();
    drop(plain);
    let _ = stop.send(());
    task.await.unwrap();
    assert_eq!(sink.len(), 3);
    assert_eq!(get(&counters.received), 3, "{}", counts(&counters));
}
