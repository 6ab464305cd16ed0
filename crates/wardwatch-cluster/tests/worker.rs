//! Detection workers on real servers (`wardwatch-peers`: `nats-server -js`, ClickHouse), with
//! a small stage of the test's own and the state in a SQLite store: every event stored once
//! with its alerts, a poison message kept as undecodable and counted without blocking its
//! partition, and ClickHouse down — the workers stop acknowledging, the stream keeps the
//! events, and they catch up once it is back, still exactly once. A worker fenced by a further
//! commit of its partition (it lost its lease) writes nothing and leaves the partition.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use wardwatch_cluster::worker::{OpenState, StageFactory};
use wardwatch_cluster::{
    ClusterConfig, Detected, Entry, NatsSink, Stage, WorkerMetrics, WorkerSetup, run_worker,
};
use wardwatch_core::{Alert, AlertId, Event, EventRef, Severity, SourceKind};
use wardwatch_listen::Sink;
use wardwatch_peers::Peer;
use wardwatch_store::{Db, DbOptions, DetectionStore};
use wardwatch_store_clickhouse::{ClickHouse, Layout};

/// Raises one alert on each event whose message says "alert", and counts what it saw in its
/// state (so a restore is visible).
struct Marker {
    seen: u64,
}

impl Stage for Marker {
    fn restore(&mut self, state: Option<&str>) {
        self.seen = state.and_then(|s| s.parse().ok()).unwrap_or(0);
    }

    fn export_state(&self) -> Option<String> {
        Some(self.seen.to_string())
    }

    fn detect(&mut self, entries: &[Entry]) -> Detected {
        let mut out = Detected::default();
        for e in entries {
            self.seen += 1;
            let event = &e.encoded.event;
            if event.raw["message"]
                .as_str()
                .is_some_and(|m| m.contains("alert"))
            {
                let a = Alert {
                    id: AlertId::for_journal("marker", e.seq),
                    rule_id: "marker".into(),
                    rule_title: "Marker".into(),
                    level: Severity::High,
                    tags: Vec::new(),
                    timestamp: event.timestamp,
                    organization: event.organization.clone(),
                    host: event.ecs.host_name.clone(),
                    entities: event.entities(),
                    event: EventRef {
                        origin: event.origin.clone(),
                        event_code: None,
                        channel: None,
                    },
                    recommendation: None,
                    awareness: None,
                    facts: Default::default(),
                };
                out.alerts.push((a, e.seq, 0));
            }
        }
        out
    }
}

fn event(i: u64) -> Event {
    let mut e = Event::new(
        SourceKind::Syslog,
        jiff::Timestamp::now(),
        serde_json::json!({
            "message": if i.is_multiple_of(10) { format!("alert {i}") } else { format!("event {i}") },
            "n": i
        }),
    );
    e.origin.source = "syslog-tcp".into();
    e.ecs.host_name = Some(format!("host-{}", i % 13));
    e
}

fn count(ch: &ClickHouse, table: &str) -> u64 {
    let (status, body) = wardwatch_peers::http_post(
        ch.endpoint().rsplit(':').next().unwrap().parse().unwrap(),
        "/",
        &format!("SELECT count() FROM wardwatch.{table}"),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    body.trim().parse().unwrap()
}

fn distinct_events(ch: &ClickHouse) -> u64 {
    let port: u16 = ch.endpoint().rsplit(':').next().unwrap().parse().unwrap();
    let (_, body) = wardwatch_peers::http_post(
        port,
        "/",
        "SELECT uniqExact(visitParamExtractUInt(original, 'n')) FROM wardwatch.events",
    )
    .unwrap();
    body.trim().parse().unwrap()
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn workers_store_once_keep_poison_and_wait_out_clickhouse() {
    let Some(nats) = Peer::nats("workers_store_once_keep_poison") else {
        return;
    };
    let Some(mut chp) = Peer::clickhouse("workers_store_once_keep_poison") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = ClusterConfig {
        nats: nats.url(),
        partitions: 3,
        ack_wait_secs: 4,
        max_backlog_mb: 256,
        ..ClusterConfig::default()
    };
    rt.block_on(wardwatch_cluster::init(&cfg)).unwrap();
    let ch =
        ClickHouse::connect(&format!("clickhouse://127.0.0.1:{}/wardwatch", chp.port)).unwrap();
    ch.init(&Layout::default()).unwrap();
    let state_dir = tempfile::tempdir().unwrap();
    let dir = state_dir.path().to_path_buf();
    let state: OpenState = Arc::new(move || {
        Db::open(&dir, &DbOptions::default()).map(|d| Box::new(d) as Box<dyn DetectionStore + Send>)
    });
    let stages: StageFactory = Arc::new(|_| Box::new(Marker { seen: 0 }) as Box<dyn Stage>);
    let setup = WorkerSetup {
        cluster: cfg.clone(),
        events: ch.clone(),
        state: state.clone(),
        stages,
        clock: wardwatch_core::ClockWindow::default(),
        name: "test-worker".into(),
        batch_messages: 4,
        lease_ttl: Duration::from_secs(4),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(WorkerMetrics::default());
    let worker = {
        let (handle, stop, metrics) = (rt.handle().clone(), stop.clone(), metrics.clone());
        std::thread::spawn(move || run_worker(setup, handle, stop, metrics))
    };

    // 3,000 events in 30 batches, and a poison message on partition 1.
    let sink = rt.block_on(NatsSink::start(&cfg, "test-ingest")).unwrap();
    wait_until("the sink connects", 10, || sink.connected());
    for b in 0..30 {
        let batch: Vec<Event> = (b * 100..(b + 1) * 100).map(event).collect();
        rt.block_on(sink.submit(batch)).unwrap();
    }
    let _runtime = rt.enter();
    let js = jetstream::new(rt.block_on(async_nats::connect(nats.url())).unwrap());
    rt.block_on(async {
        js.publish(
            "ww.events.1.default",
            "this is not an event\n{\"broken".into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    });
    wait_until("3,000 events stored", 120, || count(&ch, "events") >= 3000);
    wait_until("the poison kept", 30, || count(&ch, "undecodable") >= 2);
    wait_until("the stream drained", 30, || {
        rt.block_on(wardwatch_cluster::status(&cfg))
            .unwrap()
            .stream
            .messages
            == 0
    });
    assert_eq!(count(&ch, "events"), 3000);
    assert_eq!(distinct_events(&ch), 3000);
    assert_eq!(count(&ch, "alerts"), 300);
    assert_eq!(count(&ch, "undecodable"), 2, "two undecodable lines");
    assert_eq!(metrics.undecodable.load(Ordering::Relaxed), 2);
    assert_eq!(metrics.partitions.load(Ordering::Relaxed), 3);
    // The partitions' saved state counts every event (3,000 over three partitions).
    let db = Db::open(state_dir.path(), &DbOptions::default()).unwrap();
    let seen: u64 = (0..3)
        .map(|p| {
            db.cursor(&wardwatch_cluster::worker::state_name(p))
                .unwrap()
                .1
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(seen, 3000);

    // ClickHouse down: nothing is acknowledged, the stream holds the new events.
    chp.kill();
    for b in 30..40 {
        let batch: Vec<Event> = (b * 100..(b + 1) * 100).map(event).collect();
        rt.block_on(sink.submit(batch)).unwrap();
    }
    wait_until("commits fail while ClickHouse is down", 30, || {
        metrics.commit_failures.load(Ordering::Relaxed) > 0
    });
    std::thread::sleep(Duration::from_secs(6));
    let held = rt.block_on(wardwatch_cluster::status(&cfg)).unwrap();
    assert!(held.stream.messages > 0, "{held:?}");
    // Back: the workers catch up, each event still once.
    chp.start();
    wait_until("caught up after ClickHouse came back", 120, || {
        count(&ch, "events") >= 4000
    });
    wait_until("the stream drained again", 30, || {
        rt.block_on(wardwatch_cluster::status(&cfg))
            .unwrap()
            .stream
            .messages
            == 0
    });
    assert_eq!(count(&ch, "events"), 4000);
    assert_eq!(distinct_events(&ch), 4000);
    assert_eq!(count(&ch, "alerts"), 400);

    stop.store(true, Ordering::Release);
    worker.join().unwrap().unwrap();
}

/// Fencing: while a worker holds a partition, another commits the partition further (as a
/// worker that took it over while this one stalled past its lease would). This worker's next
/// group writes nothing — not to ClickHouse, not to the state — and it leaves the partition;
/// taking it up again from the stored cursor, it skips what that cursor covers.
#[test]
fn a_worker_fenced_by_a_further_commit_writes_nothing_and_leaves_the_partition() {
    let Some(nats) = Peer::nats("a_worker_fenced_by_a_further_commit") else {
        return;
    };
    let Some(chp) = Peer::clickhouse("a_worker_fenced_by_a_further_commit") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = ClusterConfig {
        nats: nats.url(),
        partitions: 1,
        ack_wait_secs: 4,
        max_backlog_mb: 256,
        ..ClusterConfig::default()
    };
    rt.block_on(wardwatch_cluster::init(&cfg)).unwrap();
    let ch =
        ClickHouse::connect(&format!("clickhouse://127.0.0.1:{}/wardwatch", chp.port)).unwrap();
    ch.init(&Layout::default()).unwrap();
    let state_dir = tempfile::tempdir().unwrap();
    let dir = state_dir.path().to_path_buf();
    let state: OpenState = Arc::new(move || {
        Db::open(&dir, &DbOptions::default()).map(|d| Box::new(d) as Box<dyn DetectionStore + Send>)
    });
    let setup = WorkerSetup {
        cluster: cfg.clone(),
        events: ch.clone(),
        state,
        stages: Arc::new(|_| Box::new(Marker { seen: 0 }) as Box<dyn Stage>),
        clock: wardwatch_core::ClockWindow::default(),
        name: "late-worker".into(),
        batch_messages: 4,
        lease_ttl: Duration::from_secs(3),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(WorkerMetrics::default());
    let worker = {
        let (handle, stop, metrics) = (rt.handle().clone(), stop.clone(), metrics.clone());
        std::thread::spawn(move || run_worker(setup, handle, stop, metrics))
    };
    let sink = rt.block_on(NatsSink::start(&cfg, "test-ingest")).unwrap();
    wait_until("the sink connects", 10, || sink.connected());
    rt.block_on(sink.submit((0..100).map(event).collect()))
        .unwrap();
    wait_until("the first batch stored", 60, || count(&ch, "events") >= 100);
    let name = wardwatch_cluster::worker::state_name(0);
    let mut db = Db::open(state_dir.path(), &DbOptions::default()).unwrap();
    wait_until("the first batch committed", 30, || {
        db.cursor(&name).unwrap().0 > 0
    });

    // Another worker commits the partition far ahead.
    db.commit_detection(&wardwatch_store::DetectionCommit {
        worker: &name,
        cursor: 10_000,
        state: Some("5"),
        ..Default::default()
    })
    .unwrap();
    rt.block_on(sink.submit((100..200).map(event).collect()))
        .unwrap();
    wait_until("the worker fenced", 60, || {
        metrics.fenced.load(Ordering::Relaxed) >= 1
    });
    // Taken up again from the stored cursor: the batch is at or below it, skipped.
    wait_until(
        "the batch skipped after taking the partition again",
        60,
        || metrics.skipped.load(Ordering::Relaxed) >= 1,
    );
    wait_until("the stream drained", 30, || {
        rt.block_on(wardwatch_cluster::status(&cfg))
            .unwrap()
            .stream
            .messages
            == 0
    });
    assert_eq!(
        count(&ch, "events"),
        100,
        "nothing of the fenced group stored"
    );
    assert_eq!(
        db.cursor(&name).unwrap(),
        (10_000, Some("5".to_string())),
        "the further commit's cursor and state stay"
    );
    stop.store(true, Ordering::Release);
    worker.join().unwrap().unwrap();
}
