//! The identity ledger fed by the pipeline: each stored event counted exactly once, through a
//! failed detection commit and a restart.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use wardwatch_core::{Event, SourceKind};
use wardwatch_detect::{Detector, RulePack};
use wardwatch_listen::Sink;
use wardwatch_server::config::{PipelineConfig, RetentionConfig};
use wardwatch_server::metrics::Metrics;
use wardwatch_server::pipeline::{IncidentSetup, Pipeline};
use wardwatch_store::{Db, DbOptions};

/// Logon `n`: even ones succeed on ws-01 from the ward, odd ones fail on epr01 from afar.
fn logon(n: u64) -> Event {
    let ok = n.is_multiple_of(2);
    let raw = json!({"EventID": if ok { 4624 } else { 4625 }, "LogonType": "10",
                     "WorkstationName": "WS-ICU-07"});
    let ts = jiff::Timestamp::from_second(1_796_112_000 + n as i64 * 60).unwrap();
    let mut e = Event::new(SourceKind::FlatWindows, ts, raw);
    e.ecs.channel = Some("Security".into());
    e.ecs.event_code = Some(if ok { "4624" } else { "4625" }.into());
    e.ecs.event_action = Some(if ok { "logged-in" } else { "logon-failed" }.into());
    e.ecs.event_category = Some("authentication".into());
    e.ecs.event_outcome = Some(if ok { "success" } else { "failure" }.into());
    e.ecs.user_name = Some("HOSP\\n.jansen".into());
    e.ecs.host_name = Some(if ok { "ws-01" } else { "epr01" }.into());
    e.ecs.source_ip = Some(if ok { "10.20.7.44" } else { "198.51.100.23" }.into());
    e
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(dir: &std::path::Path) -> Pipeline {
    let (detector, _) = Detector::build(&RulePack::load(Vec::<wardwatch_detect::RuleText>::new()));
    let cfg = PipelineConfig {
        fsync: false,
        max_queued_events: 100_000,
        commit_max_events: 1_000,
        writer_queue_batches: 4,
        detect_batch: 7,
        retention: RetentionConfig {
            max_age_days: None,
            max_size_mb: None,
            interval_secs: 3600,
            ledger_days: None,
            ledger_max_rows: None,
        },
        clock: Default::default(),
        resend: Default::default(),
    };
    Pipeline::start(
        dir,
        &cfg,
        Arc::new(detector),
        None,
        IncidentSetup::default(),
        Arc::new(Metrics::default()),
    )
    .unwrap()
}

fn submit(p: &Pipeline, range: std::ops::Range<u64>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(p.sink.submit(range.map(logon).collect()))
        .unwrap();
}

fn usage(dir: &std::path::Path) -> Option<wardwatch_store::IdentityUsage> {
    let db = Db::open(dir, &DbOptions::default()).unwrap();
    let day: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
    db.identity_usage("n.jansen", None, day, day).unwrap()
}

#[test]
fn the_ledger_counts_each_event_once_through_a_failed_commit_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = start(dir.path());
    let db = rusqlite::Connection::open(dir.path().join(wardwatch_store::FILE_NAME)).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    // Every detection commit that writes the ledger fails while this trigger exists.
    db.execute_batch(
        "CREATE TRIGGER refuse_ledger BEFORE INSERT ON identity_usage BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();
    submit(&pipeline, 0..30);
    let shared = pipeline.shared.clone();
    wait_until("30 events stored", || {
        shared.last_seq.load(Ordering::Acquire) == 30
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        shared.cursor.load(Ordering::Acquire),
        0,
        "nothing committed"
    );
    assert_eq!(usage(dir.path()), None, "no use recorded");
    db.execute_batch("DROP TRIGGER refuse_ledger;").unwrap();
    wait_until("detection to reach the end", || {
        shared.cursor.load(Ordering::Acquire) == 30
    });
    let u = usage(dir.path()).unwrap();
    assert_eq!((u.uses, u.succeeded, u.failed), (30, 15, 15));
    pipeline.stop();

    // A restart replays nothing already counted; new events add to it.
    let pipeline = start(dir.path());
    submit(&pipeline, 30..40);
    let shared = pipeline.shared.clone();
    wait_until("detection to reach the end after the restart", || {
        shared.cursor.load(Ordering::Acquire) == 40
    });
    pipeline.stop();
    let u = usage(dir.path()).unwrap();
    assert_eq!((u.uses, u.succeeded, u.failed), (40, 20, 20));
    let hosts: Vec<_> = u.hosts.iter().map(|p| (p.value.as_str(), p.uses)).collect();
    assert_eq!(hosts, vec![("epr01", 20), ("ws-01", 20)]);
    let sources: Vec<_> = u
        .sources
        .iter()
        .map(|p| (p.value.as_str(), p.failed))
        .collect();
    assert_eq!(sources, vec![("10.20.7.44", 0), ("198.51.100.23", 20)]);
    assert_eq!(u.devices[0].value, "ws-icu-07");
    assert_eq!(u.logon_types[0].value, "remote-interactive");
    assert_eq!(
        u.first_seen,
        Some(jiff::Timestamp::from_second(1_796_112_000).unwrap())
    );
}
