//! The cluster's store — ClickHouse for events and alerts, PostgreSQL for the state — held as
//! `Box<dyn Store>` answers as the embedded store does for what a cluster's API node and
//! incident stage ask: the journal's reads by position, a detection commit with alerts and
//! incidents (and its replay, which stores nothing twice), listings, figures, the notification
//! queue's incident events. Real ClickHouse and PostgreSQL servers (`wardwatch-peers`) —
//! skipped where they are not installed, failing under CI.

use std::time::Duration;

use wardwatch_core::{Alert, AlertId, Entity, EntityKind, Event, EventRef, Origin, Severity};
use wardwatch_peers::Peer;
use wardwatch_store::{
    Db, DbOptions, DetectionCommit, Encoded, IncidentFilter, IncidentRow, SearchRequest, Store,
    StoreError,
};
use wardwatch_store_clickhouse::{ClickHouse, Layout, NewEvent};
use wardwatch_store_cluster::Cluster;

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_770_000_000;

fn events(n: usize) -> Vec<Encoded> {
    (0..n)
        .map(|i| {
            let host = ["PACS01", "ws-042", "EHR-DB"][i % 3];
            let raw = serde_json::json!({"EventID": 4624 + (i % 2) * 64, "Computer": host, "n": i});
            let mut e = Event::new(
                wardwatch_core::SourceKind::FlatWindows,
                jiff::Timestamp::from_second(T0 + (i as i64 % 17) * 60).unwrap(),
                raw,
            );
            e.ecs.host_name = Some(host.into());
            e.ecs.user_name = Some(["alice", "bob"][i % 2].into());
            e.ecs.event_code = Some((4624 + (i % 2) * 64).to_string());
            e.organization = ["default", "north"][i % 2].into();
            e.origin = Origin {
                source: "bulk:beats".into(),
                record_id: Some(i as u64),
                offset: None,
                id: None,
            };
            Encoded::new(e).unwrap()
        })
        .collect()
}

fn alert(seq: i64, e: &Event, rule: &str, level: Severity) -> Alert {
    Alert {
        id: AlertId::for_journal(rule, seq),
        rule_id: rule.into(),
        rule_title: format!("Rule {rule}"),
        level,
        tags: vec!["attack.lateral_movement".into()],
        timestamp: e.timestamp,
        organization: e.organization.clone(),
        host: e.ecs.host_name.clone(),
        entities: vec![Entity::new(
            EntityKind::Host,
            e.ecs.host_name.clone().unwrap_or_default(),
        )],
        event: EventRef {
            origin: e.origin.clone(),
            event_code: e.ecs.event_code.clone(),
            channel: None,
        },
        recommendation: Some("Check the host.".into()),
        awareness: None,
        facts: Default::default(),
    }
}

fn incident(i: usize, org: &str, last_seen: i64) -> IncidentRow {
    IncidentRow {
        id: format!("inc-{i}"),
        org: org.into(),
        opened: T0 * SEC,
        first_seen: T0 * SEC,
        last_seen,
        severity: Severity::High,
        score: 70.0 + i as f64,
        closed: false,
        merged_into: None,
        title: format!("Lateral movement {i}"),
        doc: format!("{{\"incident\":{{\"hosts\":[\"PACS01\"],\"users\":[\"alice\"],\"n\":{i}}}}}"),
    }
}

/// The same call on both stores, answers compared.
fn both<T: PartialEq + std::fmt::Debug>(
    a: &mut dyn Store,
    b: &mut dyn Store,
    what: &str,
    mut f: impl FnMut(&mut dyn Store) -> Result<T, StoreError>,
) -> T {
    let x = f(a).unwrap_or_else(|e| panic!("SQLite: {what}: {e}"));
    let y = f(b).unwrap_or_else(|e| panic!("cluster: {what}: {e}"));
    assert_eq!(x, y, "{what}: SQLite (left) and the cluster (right) differ");
    x
}

#[test]
fn the_cluster_store_answers_as_the_embedded_one() {
    let test = "the_cluster_store_answers_as_the_embedded_one";
    let (Some(ch_peer), Some(pg_peer)) = (Peer::clickhouse(test), Peer::postgres(test)) else {
        return;
    };
    let events_url = format!("{}/ww", ch_peer.url());
    let err = Cluster::open(&events_url, &pg_peer.url())
        .err()
        .expect("no state schema yet")
        .to_string();
    assert!(err.contains("wardwatch cluster init"), "{err}");
    let (cluster, report) =
        Cluster::init(&events_url, &pg_peer.url(), &Layout::default()).expect("init");
    assert_eq!(report.state_schema_before, 0);
    let (_, again) = Cluster::init(&events_url, &pg_peer.url(), &Layout::default()).unwrap();
    assert_eq!(
        again.state_schema_before, again.state_schema,
        "init twice changes nothing"
    );
    drop(cluster);

    // The same events: appended to SQLite's journal, stored in ClickHouse by a worker at the
    // same positions.
    let dir = tempfile::tempdir().unwrap();
    let encoded = events(60);
    let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
    let mut seqs = Vec::new();
    db.append_encoded(std::slice::from_ref(&encoded), &mut seqs)
        .unwrap();
    let received: Vec<i64> = db
        .read_after(0, 1000)
        .unwrap()
        .iter()
        .map(|e| e.received_ns)
        .collect();
    let ch = ClickHouse::connect(&events_url).unwrap();
    let rows: Vec<NewEvent<'_>> = encoded
        .iter()
        .zip(seqs.iter().zip(&received))
        .map(|(e, (seq, r))| NewEvent {
            seq: *seq as u64,
            part: (*seq % 2) as u32,
            received_ns: *r,
            event: e,
        })
        .collect();
    ch.insert(&rows).unwrap();

    let mut sqlite: Box<dyn Store> = Box::new(db);
    let mut cluster: Box<dyn Store> = Box::new(Cluster::open(&events_url, &pg_peer.url()).unwrap());
    let (a, b) = (sqlite.as_mut(), cluster.as_mut());

    let journal = |s: &mut dyn Store| {
        let strip = |v: Vec<wardwatch_store::JournalEntry>| -> Vec<(i64, i64, String)> {
            v.into_iter()
                .map(|e| {
                    (
                        e.seq,
                        e.received_ns,
                        serde_json::to_string(&e.event).unwrap(),
                    )
                })
                .collect()
        };
        Ok((
            s.last_seq()?,
            strip(s.read_after(0, 7)?),
            strip(s.read_after(50, 100)?),
            s.read_docs_after(55, 3)?,
            s.event_at(5)?.map(|e| e.seq),
            s.event_at(999)?.map(|e| e.seq),
            s.seq_at_time((T0 + 5 * 60) * SEC)?,
            s.seq_at_time((T0 + 9_999) * SEC)?,
        ))
    };
    both(a, b, "the journal by position", journal);

    // A detection commit with alerts and incidents, then its replay.
    let entries: Vec<(i64, Event)> = seqs
        .iter()
        .zip(&encoded)
        .map(|(s, e)| (*s, e.event.clone()))
        .collect();
    let alerts: Vec<(Alert, i64, i64)> = entries
        .iter()
        .filter(|(s, _)| s % 4 == 0)
        .flat_map(|(s, e)| {
            [
                (alert(*s, e, "rule-remote-exec", Severity::High), *s, 9),
                (alert(*s, e, "rule-recon", Severity::Low), *s, 9),
            ]
        })
        .collect();
    let incidents = [
        incident(1, "default", (T0 + 600) * SEC),
        incident(2, "north", (T0 + 700) * SEC),
    ];
    let commit = DetectionCommit {
        worker: "incidents",
        cursor: 60,
        alerts: &alerts,
        incidents: &incidents,
        state: Some("{\"grouper\":2}"),
        ..Default::default()
    };
    let new = both(a, b, "commit", |s| s.commit_detection(&commit));
    assert_eq!(new, alerts.len());
    both(a, b, "the replay stores nothing twice", |s| {
        s.commit_detection(&commit)
    });

    let listing = |s: &mut dyn Store| {
        let req = SearchRequest {
            limit: 10,
            ..SearchRequest::default()
        };
        let page = s.list_alerts(&req, Severity::Informational, None, None)?;
        let high = s.list_alerts(&req, Severity::High, None, Some("pacs01"))?;
        let ids = |p: wardwatch_store::AlertPage| -> (Vec<String>, u64) {
            (p.alerts.iter().map(|a| a.id.0.clone()).collect(), p.total)
        };
        let one = s
            .alert(&alerts[3].0.id.0)?
            .map(|(a, doc)| (a.id.0, doc.is_some()));
        let stats = s.stats()?;
        Ok((
            ids(page),
            ids(high),
            one,
            (
                stats.events,
                stats.alerts,
                stats.last_seq,
                stats.event_bytes,
            ),
            stats.alerts_by_level,
            stats.cursors.iter().find(|c| c.0 == "incidents").cloned(),
            s.cursor("incidents")?,
            s.list_incidents(&IncidentFilter::default())?
                .incidents
                .into_iter()
                .map(|i| (i.id, i.org, i.status))
                .collect::<Vec<_>>(),
            s.incident_events_after(0, 10)?
                .into_iter()
                .map(|e| e.1)
                .collect::<Vec<_>>(),
            s.open_incident_docs()?,
        ))
    };
    both(a, b, "alerts, incidents and figures", listing);

    // What only the cluster says: it does not append, and it drops whole days by age.
    let err = cluster
        .append_encoded(&[encoded[..1].to_vec()], &mut Vec::new())
        .expect_err("a cluster node does not append")
        .to_string();
    assert!(err.contains("publish events to the stream"), "{err}");
    // Events received 40 and 20 days ago (seq 1000 on), beside today's.
    let now_ns = i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap();
    let day = 86_400 * SEC;
    let old: Vec<NewEvent<'_>> = encoded[..8]
        .iter()
        .enumerate()
        .map(|(i, e)| NewEvent {
            seq: 1000 + i as u64,
            part: 0,
            received_ns: now_ns - if i < 5 { 40 * day } else { 20 * day },
            event: e,
        })
        .collect();
    ch.insert(&old).unwrap();
    assert_eq!(cluster.stats().unwrap().events, 68);
    let removed = cluster
        .retain(Some(Duration::from_secs(30 * 86_400)), None, 0)
        .unwrap();
    assert_eq!((removed.events_removed, removed.alerts_removed), (5, 0));
    let removed = cluster.retain(None, Some(1), 0).unwrap();
    assert_eq!(
        (removed.events_removed, removed.alerts_removed),
        (3, 0),
        "the older day goes; the newest stays, whatever its size"
    );
    assert_eq!(cluster.stats().unwrap().events, 60);
    assert_eq!(cluster.event_at(1005).unwrap().map(|e| e.seq), None);
}
