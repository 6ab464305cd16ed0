//! The durable pipeline when a detection commit fails: the detector matches the next batch
//! while the last one commits, so a failed commit must throw that work away and redo both
//! batches from the committed cursor — every alert stored exactly once, none lost.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use wardwatch_core::{Event, SourceKind};
use wardwatch_detect::{Detector, RulePack, RuleText};
use wardwatch_listen::Sink;
use wardwatch_server::config::{PipelineConfig, RetentionConfig};
use wardwatch_server::metrics::Metrics;
use wardwatch_server::pipeline::{IncidentSetup, Pipeline};

const RULE: &str = r#"
title: Shadow copies deleted
id: 5b8f1c6e-2f6a-4d2b-9c1e-7a0d3e4f5a60
status: test
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        CommandLine|contains: 'delete shadows'
    condition: selection
level: high
"#;

fn event(n: u64) -> Event {
    let raw = json!({
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": "pacs01",
        "Image": "C:\\Windows\\System32\\vssadmin.exe",
        "CommandLine": format!("vssadmin delete shadows /all /quiet #{n}"),
    });
    let ts = jiff::Timestamp::from_second(1_790_000_000 + n as i64).unwrap();
    let mut e = Event::new(SourceKind::FlatWindows, ts, raw);
    e.ecs.event_code = Some("1".into());
    e.ecs.channel = Some("Microsoft-Windows-Sysmon/Operational".into());
    e.ecs.host_name = Some("pacs01".into());
    e
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_failed_detection_commit_is_redone_from_the_committed_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let pack = RulePack::load([RuleText {
        origin: "test:shadow".into(),
        text: RULE.into(),
    }]);
    let (detector, problems) = Detector::build(&pack);
    assert!(problems.is_empty(), "{problems:?}");
    // Small batches (`config`), so the 40 events make several and one is matched ahead while
    // the previous one fails to commit.
    let pipeline = Pipeline::start(
        dir.path(),
        &config(),
        Arc::new(detector),
        None,
        IncidentSetup::default(),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    let db = rusqlite::Connection::open(dir.path().join(wardwatch_store::FILE_NAME)).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    // Every detection commit fails while this trigger exists.
    db.execute_batch(
        "CREATE TRIGGER refuse_alerts BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for batch in 0..4u64 {
        let events = (batch * 10..batch * 10 + 10).map(event).collect();
        rt.block_on(pipeline.sink.submit(events)).unwrap();
    }
    let shared = pipeline.shared.clone();
    wait_until("all 40 events stored", || {
        shared.last_seq.load(Ordering::Acquire) == 40
    });
    // At least one pass has failed by now (each retry waits a second): nothing advanced.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(shared.cursor.load(Ordering::Acquire), 0);
    let stored: i64 = db
        .query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 0);

    db.execute_batch("DROP TRIGGER refuse_alerts;").unwrap();
    wait_until("detection to reach the end of the journal", || {
        shared.cursor.load(Ordering::Acquire) == 40
    });
    let (alerts, events): (i64, i64) = db
        .query_row(
            "SELECT COUNT(*), COUNT(DISTINCT seq) FROM alerts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((alerts, events), (40, 40), "one alert for each event, once");
    let cursor: i64 = db
        .query_row("SELECT seq FROM cursors WHERE name = 'detect'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(cursor, 40);
    pipeline.stop();
}

/// A blind connection attempt from 10.20.3.7 to 10.20.5.`n` on port 445 (a Zeek `conn` S0).
fn probe(n: u64) -> Event {
    let raw = json!({"_path": "conn", "conn_state": "S0"});
    let ts = jiff::Timestamp::from_second(1_790_000_000 + n as i64).unwrap();
    let mut e = Event::new(SourceKind::Zeek, ts, raw);
    e.ecs.event_code = Some("conn".into());
    e.ecs.source_ip = Some("10.20.3.7".into());
    e.ecs.destination_ip = Some(format!("10.20.5.{n}"));
    e.ecs.destination_port = Some(445);
    e.ecs.network_transport = Some("tcp".into());
    e.ecs.event_outcome = Some("failure".into());
    e
}

/// A pipeline without fsync, with small detection batches.
fn config() -> PipelineConfig {
    PipelineConfig {
        fsync: false,
        max_queued_events: 100_000,
        commit_max_events: 1_000,
        writer_queue_batches: 4,
        detect_batch: 10,
        retention: RetentionConfig {
            max_age_days: None,
            max_size_mb: None,
            interval_secs: 3600,
            ledger_days: None,
            ledger_max_rows: None,
        },
        clock: Default::default(),
        resend: Default::default(),
    }
}

fn start(dir: &std::path::Path) -> Pipeline {
    let pack = RulePack::load([RuleText {
        origin: "test:shadow".into(),
        text: RULE.into(),
    }]);
    let (detector, _) = Detector::build(&pack);
    let (correlator, _) = wardwatch_detect::Correlator::build(&pack);
    Pipeline::start(
        dir,
        &config(),
        Arc::new(detector),
        correlator,
        IncidentSetup::default(),
        Arc::new(Metrics::default()),
    )
    .unwrap()
}

/// The analytics' state is saved now and then, not with every batch: a server that dies
/// with its cursor past the last checkpoint replays the journal from the checkpoint on start,
/// so a scan spread over the crash is still seen whole, and reported once.
#[test]
fn analytics_state_is_replayed_from_its_checkpoint_after_a_crash() {
    let live = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let pipeline = start(live.path());
    let shared = pipeline.shared.clone();
    // The first batch is checkpointed (nothing was saved before); the next is not yet due.
    rt.block_on(pipeline.sink.submit((1..=3).map(probe).collect()))
        .unwrap();
    wait_until("the first probes through detection", || {
        shared.cursor.load(Ordering::Acquire) == 3
    });
    rt.block_on(pipeline.sink.submit((4..=6).map(probe).collect()))
        .unwrap();
    wait_until("the next probes through detection", || {
        shared.cursor.load(Ordering::Acquire) == 6
    });
    // What a kill -9 leaves: the database as committed (a consistent copy of it).
    let db = rusqlite::Connection::open(live.path().join(wardwatch_store::FILE_NAME)).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let copy = crashed.path().join(wardwatch_store::FILE_NAME);
    db.execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    pipeline.stop();
    let (cursor, at): (i64, i64) = rusqlite::Connection::open(&copy)
        .unwrap()
        .query_row(
            "SELECT seq, json_extract(state, '$.at') FROM cursors WHERE name = 'detect'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((cursor, at), (6, 3), "the cursor is past the checkpoint");

    // Restarted on what the crash left: the next six probes make ten hosts in two minutes.
    let pipeline = start(crashed.path());
    let shared = pipeline.shared.clone();
    rt.block_on(pipeline.sink.submit((7..=12).map(probe).collect()))
        .unwrap();
    wait_until("the last probes through detection", || {
        shared.cursor.load(Ordering::Acquire) == 12
    });
    pipeline.stop();
    let db = rusqlite::Connection::open(&copy).unwrap();
    let scans: Vec<String> = db
        .prepare("SELECT doc FROM alerts WHERE rule_id = 'analytic-network-horizontal-scan'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(scans.len(), 1, "one scan, seen whole: {scans:?}");
    assert!(scans[0].contains("\"scan.hosts\":\"10\""), "{}", scans[0]);
    // Stopping saved the state where the cursor is.
    let at: i64 = db
        .query_row(
            "SELECT json_extract(state, '$.at') FROM cursors WHERE name = 'detect'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(at, 12);
}
