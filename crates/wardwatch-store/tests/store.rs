//! The store end to end on a temporary directory: journal, detection commits, search, alerts,
//! retention, tokens, reopening.

use serde_json::json;
use wardwatch_core::{Alert, AlertId, Event, EventRef, Origin, Severity, SourceKind};
use wardwatch_store::{
    Db, DbOptions, DetectionCommit, IndexDb, SearchRequest, TokenKind, index_text, token_hash,
};

fn event(second: i64, host: &str, user: &str, cmd: &str) -> Event {
    let mut e = Event::new(
        SourceKind::FlatWindows,
        jiff::Timestamp::from_second(1_770_000_000 + second).unwrap(),
        json!({"EventID": 1, "Computer": host, "CommandLine": cmd}),
    );
    e.ecs.host_name = Some(host.into());
    e.ecs.user_name = Some(user.into());
    e.ecs.event_code = Some("1".into());
    e.origin = Origin {
        source: "test".into(),
        record_id: Some(second as u64),
        offset: None,
        id: None,
    };
    e
}

fn alert(e: &Event, rule: &str, level: Severity) -> Alert {
    Alert {
        id: AlertId::derive(rule, &e.origin, e.timestamp),
        rule_id: rule.into(),
        rule_title: format!("Rule {rule}"),
        level,
        tags: vec![],
        timestamp: e.timestamp,
        organization: "default".into(),
        host: e.ecs.host_name.clone(),
        entities: e.entities(),
        event: EventRef {
            origin: e.origin.clone(),
            event_code: None,
            channel: None,
        },
        recommendation: None,
        awareness: None,
        facts: Default::default(),
    }
}

fn open(dir: &std::path::Path) -> Db {
    Db::open(
        dir,
        &DbOptions {
            fsync_every_commit: false,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn journal_cursor_and_idempotent_detection_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path());
    assert_eq!(db.last_seq().unwrap(), 0);
    let batch: Vec<Event> = (0..5)
        .map(|i| event(i, "ws1", "alice", "cmd /c dir"))
        .collect();
    let last = db
        .append(&[batch.clone(), vec![event(9, "ws2", "bob", "whoami")]])
        .unwrap();
    assert_eq!(last, 6);
    let read = db.read_after(2, 10).unwrap();
    assert_eq!(
        read.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![3, 4, 5, 6]
    );
    assert_eq!(read[3].event, event(9, "ws2", "bob", "whoami"));
    let a = alert(&read[3].event, "r1", Severity::High);
    assert_eq!(
        db.commit_detection(&DetectionCommit {
            worker: "detect",
            cursor: 6,
            alerts: &[(a.clone(), 6, 1000)],
            state: Some("{}"),
            ..Default::default()
        })
        .unwrap(),
        1
    );
    // A replay after a crash commits the same alert again: stored once.
    assert_eq!(
        db.commit_detection(&DetectionCommit {
            worker: "detect",
            cursor: 6,
            alerts: &[(a.clone(), 6, 1000)],
            state: Some("{}"),
            ..Default::default()
        })
        .unwrap(),
        0
    );
    assert_eq!(db.cursor("detect").unwrap(), (6, Some("{}".to_string())));
    drop(db);
    let db = open(dir.path());
    let stats = db.stats().unwrap();
    assert_eq!((stats.events, stats.alerts, stats.last_seq), (6, 1, 6));
    let (got, ev) = db.alert(&a.id.0).unwrap().unwrap();
    assert_eq!(got, a);
    assert_eq!(ev.unwrap()["ecs"]["host.name"], "ws2");
    assert!(db.alert("nope").unwrap().is_none());
}

fn indexed(db: &mut Db, events: Vec<Event>) {
    let last = db.append(&[events]).unwrap();
    let read = db.read_after(0, 10_000).unwrap();
    let rows: Vec<(i64, String)> = read.iter().map(|r| (r.seq, index_text(&r.event))).collect();
    let dir = db.path().parent().unwrap().to_path_buf();
    let mut index = IndexDb::open(&dir, &DbOptions::default()).unwrap();
    index.commit(last, &rows).unwrap();
    db.commit_detection(&DetectionCommit {
        worker: "detect",
        cursor: last,
        ..Default::default()
    })
    .unwrap();
}

#[test]
fn search_with_terms_time_range_exact_total_and_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path());
    let mut events = Vec::new();
    for i in 0..25 {
        let host = if i % 2 == 0 { "ws-even" } else { "ws-odd" };
        let cmd = if i % 5 == 0 {
            "powershell -enc AAA"
        } else {
            "notepad"
        };
        events.push(event(i, host, "alice", cmd));
    }
    indexed(&mut db, events);
    let req = |q: &str, limit| SearchRequest {
        q: q.into(),
        limit,
        ..Default::default()
    };
    let page = db.search_events(&req("host.name:ws-even", 4)).unwrap();
    assert_eq!(page.total, 13);
    assert_eq!(page.events.len(), 4);
    // Newest first.
    assert_eq!(page.events[0]["origin"]["record_id"], 24);
    let mut seen = page.events.len();
    let mut cursor = page.next_cursor.clone();
    while let Some(c) = cursor {
        let p = db
            .search_events(&SearchRequest {
                cursor: Some(c),
                ..req("host.name:ws-even", 4)
            })
            .unwrap();
        assert_eq!(p.total, 13);
        seen += p.events.len();
        cursor = p.next_cursor;
    }
    assert_eq!(seen, 13);
    assert_eq!(db.search_events(&req("powershell", 100)).unwrap().total, 5);
    // Events the indexer has not reached are still found.
    db.append(&[vec![event(30, "ws-new", "bob", "powershell -nop")]])
        .unwrap();
    assert_eq!(db.search_events(&req("powershell", 100)).unwrap().total, 6);
    assert_eq!(
        db.search_events(&req("host.name:ws-new", 100))
            .unwrap()
            .total,
        1
    );
    assert_eq!(
        db.search_events(&req("\"powershell -enc\" NOT host.name:ws-odd", 100))
            .unwrap()
            .total,
        3
    );
    assert_eq!(
        db.search_events(&req(
            "CommandLine:notepad OR CommandLine:*enc* NOT host.name:ws-new",
            100
        ))
        .unwrap()
        .total,
        25
    );
    let ranged = SearchRequest {
        from: Some(jiff::Timestamp::from_second(1_770_000_010).unwrap()),
        to: Some(jiff::Timestamp::from_second(1_770_000_020).unwrap()),
        ..req("", 100)
    };
    assert_eq!(db.search_events(&ranged).unwrap().total, 10);
    let err = db.search_events(&req("host.name:", 10)).unwrap_err();
    assert!(err.to_string().contains("character 10"), "{err}");
    assert!(
        db.search_events(&SearchRequest {
            cursor: Some("x".into()),
            ..req("", 1)
        })
        .is_err()
    );
}

#[test]
fn alerts_page_by_level_rule_and_host() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path());
    let events: Vec<Event> = (0..6)
        .map(|i| event(i, if i < 3 { "a" } else { "b" }, "u", "x"))
        .collect();
    db.append(std::slice::from_ref(&events)).unwrap();
    let alerts: Vec<(Alert, i64, i64)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                alert(
                    e,
                    if i % 2 == 0 { "r1" } else { "r2" },
                    if i < 2 { Severity::Low } else { Severity::High },
                ),
                i as i64 + 1,
                0,
            )
        })
        .collect();
    db.commit_detection(&DetectionCommit {
        worker: "detect",
        cursor: 6,
        alerts: &alerts,
        ..Default::default()
    })
    .unwrap();
    let req = SearchRequest {
        limit: 2,
        ..Default::default()
    };
    let p = db
        .list_alerts(&req, Severity::Informational, None, None)
        .unwrap();
    assert_eq!((p.total, p.alerts.len()), (6, 2));
    let p2 = db
        .list_alerts(
            &SearchRequest {
                cursor: p.next_cursor.clone(),
                ..req.clone()
            },
            Severity::Informational,
            None,
            None,
        )
        .unwrap();
    assert_ne!(p.alerts[0].id, p2.alerts[0].id);
    assert_eq!(
        db.list_alerts(&req, Severity::High, None, None)
            .unwrap()
            .total,
        4
    );
    assert_eq!(
        db.list_alerts(&req, Severity::Informational, Some("r1"), Some("A"))
            .unwrap()
            .total,
        2
    );
}

#[test]
fn retention_by_size_keeps_unprocessed_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path());
    let events: Vec<Event> = (0..100)
        .map(|i| event(i, "h", "u", "some command line"))
        .collect();
    indexed(&mut db, events);
    let before = db.stats().unwrap();
    let r = db.retain(None, Some(before.event_bytes / 2), 100).unwrap();
    assert!(r.events_removed >= 49 && r.events_removed <= 51, "{r:?}");
    let after = db.stats().unwrap();
    assert!(after.event_bytes <= before.event_bytes / 2);
    // The oldest went; search no longer finds them.
    let page = db
        .search_events(&SearchRequest {
            q: "command".into(),
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.total as i64, after.events);
    // Nothing a reader has not processed is removed.
    let r = db.retain(None, Some(0), 60).unwrap();
    assert_eq!(db.read_after(0, 1000).unwrap().first().unwrap().seq, 61);
    assert!(r.events_removed > 0);
    // By age, counted from when the events were received: dated 2026-02 by their senders,
    // they were received just now, so a day's retention keeps them...
    let day = Some(std::time::Duration::from_secs(86_400));
    assert_eq!(db.retain(day, None, 100).unwrap().events_removed, 0);
    // ...until a day has passed.
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(25);
    db.retain_at(tomorrow, day, None, 100).unwrap();
    assert_eq!(db.stats().unwrap().events, 0);
}

#[test]
fn retention_counts_age_from_reception_not_from_the_senders_stamp() {
    // Failed before: retention compared the sender's own time, so an event dated two years
    // back lost its event and its alert in the first retention pass after it arrived.
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path());
    let now = jiff::Timestamp::now();
    let two_years = jiff::SignedDuration::from_hours(2 * 365 * 24);
    let mut events = Vec::new();
    for (i, at) in [now - two_years, now + two_years, now]
        .into_iter()
        .enumerate()
    {
        let mut e = event(i as i64, "h", "u", "x");
        e.timestamp = at;
        e.receive(now, &wardwatch_core::ClockWindow::default());
        events.push(e);
    }
    assert!(events[0].time_skew.is_some() && events[1].time_skew.is_some());
    db.append(&[events.clone()]).unwrap();
    let alerts: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (alert(e, "r1", Severity::High), i as i64 + 1, 0))
        .collect();
    db.commit_detection(&DetectionCommit {
        worker: "detect",
        cursor: 3,
        alerts: &alerts,
        ..Default::default()
    })
    .unwrap();
    let month = Some(std::time::Duration::from_secs(30 * 86_400));
    let r = db.retain(month, None, 3).unwrap();
    assert_eq!(r, wardwatch_store::RetentionReport::default());
    let stats = db.stats().unwrap();
    assert_eq!((stats.events, stats.alerts), (3, 3));
    // The journal keeps the sender's time, the received time and the skew.
    let back = db.read_after(0, 10).unwrap();
    assert_eq!(back[0].event.timestamp, now - two_years);
    assert_eq!(back[0].event.received, Some(now));
    assert_eq!(back[0].event.time_skew, Some(-two_years.as_secs()));
    // A month and a day later, all go: the age is the server's.
    let later = now + jiff::SignedDuration::from_hours(31 * 24);
    let r = db.retain_at(later, month, None, 3).unwrap();
    assert_eq!((r.events_removed, r.alerts_removed), (3, 3));
}

#[test]
fn events_resent_with_the_same_sender_id_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path());
    let with_id = |i: i64, id: Option<&str>| {
        let mut e = event(i, "h", "u", "x");
        e.origin.id = id.map(str::to_string);
        e
    };
    let first = vec![
        with_id(1, Some("a")),
        with_id(2, Some("b")),
        with_id(3, None),
    ];
    assert_eq!(db.append(&[first]).unwrap(), 3);
    // A retry of the same batch after a lost acknowledgement, plus one new event.
    let retry = vec![
        with_id(1, Some("a")),
        with_id(2, Some("b")),
        with_id(4, Some("c")),
        with_id(3, None),
    ];
    // Sequence numbers only grow (ignored resends may leave gaps).
    assert!(db.append(&[retry]).unwrap() > 3);
    assert_eq!(db.stats().unwrap().events, 5);
    assert_eq!(db.append(&[vec![with_id(1, Some("a"))]]).unwrap(), 0);
}

#[test]
fn a_search_out_of_time_returns_what_it_found_as_partial_and_goes_on_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path());
    let events: Vec<Event> = (0..3000)
        .map(|i| event(i, "h", "u", if i % 3 == 0 { "needle" } else { "hay" }))
        .collect();
    indexed(&mut db, events);
    let full = db
        .search_events(&SearchRequest {
            q: "CommandLine:needle".into(),
            limit: 1000,
            budget: Some(std::time::Duration::from_secs(60)),
            ..Default::default()
        })
        .unwrap();
    assert!(!full.partial);
    assert_eq!(full.total, 1000);
    assert!(full.next_cursor.is_none());
    // No time at all: partial, and paging on from each cursor finds every event exactly once.
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = None;
    let mut partials = 0;
    for _ in 0..10_000 {
        let page = db
            .search_events(&SearchRequest {
                q: "CommandLine:needle".into(),
                limit: 1000,
                cursor: cursor.clone(),
                budget: Some(std::time::Duration::ZERO),
                ..Default::default()
            })
            .unwrap();
        partials += usize::from(page.partial);
        assert!(page.total as usize >= page.events.len());
        for e in &page.events {
            assert!(seen.insert(e["seq"].as_i64().unwrap()), "{e}");
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert!(partials > 0);
    assert_eq!(seen.len(), 1000);
}

#[test]
fn tokens_are_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path());
    db.add_token("winlogbeat-dc", TokenKind::Ingest, "s3cret")
        .unwrap();
    assert!(
        db.add_token("winlogbeat-dc", TokenKind::Ingest, "other")
            .is_err()
    );
    assert_eq!(
        db.token_hashes(TokenKind::Ingest).unwrap(),
        vec![token_hash("s3cret")]
    );
    assert!(db.token_hashes(TokenKind::Api).unwrap().is_empty());
    assert_eq!(db.tokens().unwrap()[0].name, "winlogbeat-dc");
    assert!(db.remove_token("winlogbeat-dc").unwrap());
    assert!(!db.remove_token("winlogbeat-dc").unwrap());
}
