//! What a sender's clock can and cannot do to the pipeline, and a shipper's resend.
//!
//! Before: retention and the incident clock went by the sender's own time, so an event dated
//! two years back had its alert deleted by the next retention pass, and one event dated two
//! years ahead closed every open incident; a `_bulk` document sent again without `_id` was
//! stored twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use wardwatch_core::{Event, RawText, SourceKind};
use wardwatch_detect::{Detector, RulePack, RuleText};
use wardwatch_listen::Sink;
use wardwatch_server::config::{PipelineConfig, ResendSection, RetentionConfig};
use wardwatch_server::metrics::Metrics;
use wardwatch_server::pipeline::{IncidentSetup, Pipeline};
use wardwatch_store::{Db, DbOptions};

const RULE: &str = r#"
title: Shadow copies deleted
id: 5b8f1c6e-2f6a-4d2b-9c1e-7a0d3e4f5a61
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

fn event(host: &str, at: Timestamp, n: u32) -> Event {
    let text = json!({
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": host,
        "Image": "C:\\Windows\\System32\\vssadmin.exe",
        "CommandLine": format!("vssadmin delete shadows /all /quiet #{n}"),
    })
    .to_string();
    let mut e = Event::new(
        SourceKind::FlatWindows,
        at,
        serde_json::from_str(&text).unwrap(),
    );
    e.raw_text = RawText::new(&text);
    e.ecs.event_code = Some("1".into());
    e.ecs.channel = Some("Microsoft-Windows-Sysmon/Operational".into());
    e.ecs.host_name = Some(host.into());
    e.origin.source = "bulk".into();
    e
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config(retention_days: Option<u64>) -> PipelineConfig {
    PipelineConfig {
        fsync: false,
        max_queued_events: 100_000,
        commit_max_events: 1_000,
        writer_queue_batches: 4,
        detect_batch: 100,
        retention: RetentionConfig {
            max_age_days: retention_days,
            max_size_mb: None,
            interval_secs: 1,
            ledger_days: None,
            ledger_max_rows: None,
        },
        clock: Default::default(),
        resend: ResendSection::default(),
    }
}

fn start(dir: &std::path::Path, cfg: &PipelineConfig, metrics: Arc<Metrics>) -> Pipeline {
    let pack = RulePack::load([RuleText {
        origin: "test:shadow".into(),
        text: RULE.into(),
    }]);
    let (detector, problems) = Detector::build(&pack);
    assert!(problems.is_empty(), "{problems:?}");
    Pipeline::start(
        dir,
        cfg,
        Arc::new(detector),
        None,
        IncidentSetup::default(),
        metrics,
    )
    .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn events_dated_two_years_off_keep_their_alert_and_leave_incidents_open() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::default());
    let pipeline = start(dir.path(), &config(Some(1)), metrics.clone());
    let rt = runtime();
    let db = Db::open(dir.path(), &DbOptions::default()).unwrap();
    let open = || db.open_incident_docs().unwrap().len();
    let alerts = || db.stats().unwrap().alerts;

    let now = Timestamp::now();
    let two_years = SignedDuration::from_hours(2 * 365 * 24);
    rt.block_on(pipeline.sink.submit(vec![event("pacs01", now, 1)]))
        .unwrap();
    wait_until("the first incident", || open() == 1);

    // Two years ahead, on another host: its own incident, and nothing closes.
    rt.block_on(
        pipeline
            .sink
            .submit(vec![event("ws-future", now + two_years, 2)]),
    )
    .unwrap();
    // Two years back, on a third host.
    rt.block_on(
        pipeline
            .sink
            .submit(vec![event("ws-past", now - two_years, 3)]),
    )
    .unwrap();
    wait_until("three alerts", || alerts() == 3);
    assert_eq!(open(), 3, "every incident stays open");

    // Retention (one day, every second) has run a few times: nothing received today goes.
    std::thread::sleep(Duration::from_millis(2500));
    let stats = db.stats().unwrap();
    assert_eq!((stats.events, stats.alerts), (3, 3));
    assert_eq!(open(), 3);

    // The events keep the sender's time, the received time and the skew; the alerts are
    // placed at the received time and say why.
    let stored = db.read_after(0, 10).unwrap();
    assert_eq!(stored[1].event.timestamp, now + two_years);
    assert!(stored[1].event.time_skew.unwrap() > 700 * 86_400);
    assert!(stored[2].event.time_skew.unwrap() < -700 * 86_400);
    assert!(stored[0].event.time_skew.is_none());
    assert!(stored.iter().all(|e| e.event.received.is_some()));
    let page = db
        .list_alerts(
            &Default::default(),
            wardwatch_core::Severity::Informational,
            None,
            Some("ws-future"),
        )
        .unwrap();
    let alert = &page.alerts[0];
    assert!(alert.timestamp.duration_since(now).abs() < SignedDuration::from_mins(5));
    assert_eq!(
        alert.facts["event.sender_time"],
        (now + two_years).to_string()
    );
    assert!(alert.facts.contains_key("event.time_skew"));

    // Counted per source.
    let text = metrics.render(0, 0, 0);
    assert!(
        text.contains("wardwatch_time_skewed_total{source=\"bulk\"} 2"),
        "{text}"
    );
    pipeline.stop();
}

#[test]
fn a_resent_bulk_document_without_id_is_stored_once_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::default());
    let cfg = config(None);
    let now = Timestamp::now();
    let batch = || -> Vec<Event> { (0..50).map(|n| event("pacs01", now, n)).collect() };
    let rt = runtime();
    let pipeline = start(dir.path(), &cfg, metrics.clone());
    rt.block_on(pipeline.sink.submit(batch())).unwrap();
    // The shipper did not get the acknowledgement and sends the batch again, plus a new one.
    let mut again = batch();
    again.push(event("pacs01", now, 50));
    rt.block_on(pipeline.sink.submit(again)).unwrap();
    let db = Db::open(dir.path(), &DbOptions::default()).unwrap();
    assert_eq!(db.stats().unwrap().events, 51);
    assert!(
        metrics
            .render(0, 0, 0)
            .contains("wardwatch_resends_total{source=\"bulk\"} 50")
    );
    pipeline.stop();

    // After a restart (the acknowledgement was lost to a kill), the window is refilled from
    // the journal: the retry is still recognized.
    let pipeline = start(dir.path(), &cfg, Arc::new(Metrics::default()));
    rt.block_on(pipeline.sink.submit(batch())).unwrap();
    assert_eq!(db.stats().unwrap().events, 51);
    // A document with the same content from another source, or with an `_id`, is not a resend.
    let mut other = event("pacs01", now, 0);
    other.origin.source = "bulk:other".into();
    let mut with_id = event("pacs01", now, 0);
    with_id.origin.id = Some("doc-0".into());
    rt.block_on(pipeline.sink.submit(vec![other, with_id]))
        .unwrap();
    assert_eq!(db.stats().unwrap().events, 53);
    pipeline.stop();
}
