//! The SQLite store through the storage seam only (`&mut dyn Store`), as the API and the
//! pipeline see any store: journal by position, detection commits with the cursor, incidents'
//! analyst side, exceptions, tokens.

use serde_json::json;
use wardwatch_core::{Alert, AlertId, Event, EventRef, Origin, Severity, SourceKind};
use wardwatch_store::{
    Db, DbOptions, DetectionCommit, Encoded, IncidentRow, LifecycleUpdate, SearchRequest,
    StoreError, TokenKind, token_hash, update_lifecycle,
};
use wardwatch_store::{Store, seam};

fn event(second: i64, host: &str) -> Event {
    let mut e = Event::new(
        SourceKind::FlatWindows,
        jiff::Timestamp::from_second(1_770_000_000 + second).unwrap(),
        json!({"EventID": 1, "Computer": host, "CommandLine": format!("run {second}")}),
    );
    e.ecs.host_name = Some(host.into());
    e.origin = Origin {
        source: "seam".into(),
        record_id: Some(second as u64),
        offset: None,
        id: Some(format!("doc-{second}")),
    };
    e
}

fn alert(e: &Event, seq: i64) -> Alert {
    Alert {
        id: AlertId::for_journal("r1", seq),
        rule_id: "r1".into(),
        rule_title: "Rule one".into(),
        level: Severity::High,
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

fn incident(id: &str) -> IncidentRow {
    IncidentRow {
        id: id.into(),
        org: "default".into(),
        opened: 1_770_000_000_000_000_000,
        first_seen: 1_770_000_000_000_000_000,
        last_seen: 1_770_000_001_000_000_000,
        severity: Severity::High,
        score: 7.5,
        closed: false,
        merged_into: None,
        title: "Remote execution on ws1".into(),
        doc: format!(r#"{{"incident": {{"id": "{id}", "hosts": ["ws1"]}}}}"#),
    }
}

fn store(dir: &std::path::Path) -> Box<dyn Store> {
    let db = Db::open(
        dir,
        &DbOptions {
            fsync_every_commit: false,
            ..Default::default()
        },
    )
    .unwrap();
    Box::new(db)
}

fn encoded(events: impl IntoIterator<Item = Event>) -> Vec<Encoded> {
    events
        .into_iter()
        .map(|e| Encoded::new(e).unwrap())
        .collect()
}

#[test]
fn the_journal_is_appended_and_read_by_position_and_a_resend_is_not_stored_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let mut seqs = Vec::new();
    let last = s
        .append_encoded(
            &[
                encoded((0..3).map(|i| event(i, "ws1"))),
                encoded([event(3, "ws2")]),
            ],
            &mut seqs,
        )
        .unwrap();
    assert_eq!((last, seqs.clone()), (4, vec![1, 2, 3, 4]));
    // A sender id already stored is reported as not stored (0); the new event gets a later
    // position (positions only grow; they need not be contiguous).
    let again = s
        .append_encoded(&[encoded([event(1, "ws1"), event(9, "ws3")])], &mut seqs)
        .unwrap();
    assert_eq!(seqs[0], 0);
    assert!(seqs[1] > 4 && again == seqs[1], "{seqs:?} {again}");
    assert_eq!(s.last_seq().unwrap(), again);
    let after = s.read_after(3, 10).unwrap();
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, again]);
    assert_eq!(after[0].event, event(3, "ws2"));
    let docs = s.read_docs_after(4, 10).unwrap();
    assert_eq!(docs.len(), 1);
    assert!(docs[0].1.contains("ws3"), "{}", docs[0].1);
    assert_eq!(s.event_at(2).unwrap().unwrap().event, event(1, "ws1"));
    assert!(s.event_at(99).unwrap().is_none());
    // Event time: the first event at or after second 3 is position 4.
    assert_eq!(s.seq_at_time(1_770_000_003_000_000_000).unwrap(), 4);
    let page = s
        .search_events(&SearchRequest {
            q: "ws2".into(),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.events.len(), 1, "{page:?}");
}

#[test]
fn a_detection_commit_keeps_results_and_cursor_together_and_a_replay_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    s.append_encoded(&[encoded((0..4).map(|i| event(i, "ws1")))], &mut Vec::new())
        .unwrap();
    assert_eq!(s.cursor("detect").unwrap(), (0, None));
    let entries = s.read_after(0, 10).unwrap();
    let alerts: Vec<_> = entries
        .iter()
        .filter(|e| e.seq % 2 == 0)
        .map(|e| (alert(&e.event, e.seq), e.seq, 5))
        .collect();
    let incidents = [incident("inc-1")];
    let commit = DetectionCommit {
        worker: "detect",
        cursor: 4,
        alerts: &alerts,
        incidents: &incidents,
        state: Some(r#"{"windows":[]}"#),
        ..Default::default()
    };
    assert_eq!(s.commit_detection(&commit).unwrap(), 2);
    // A worker killed after committing and replaying the same batch stores nothing twice.
    assert_eq!(s.commit_detection(&commit).unwrap(), 0);
    assert_eq!(
        s.cursor("detect").unwrap(),
        (4, Some(r#"{"windows":[]}"#.to_string()))
    );
    assert_eq!(s.stats().unwrap().alerts, 2);
    // A commit without state moves the cursor and keeps the state saved before (a worker
    // that checkpoints its state now and then).
    s.commit_detection(&DetectionCommit {
        worker: "detect",
        cursor: 5,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        s.cursor("detect").unwrap(),
        (5, Some(r#"{"windows":[]}"#.to_string()))
    );
    let (stored, doc) = s.alert(&alerts[0].0.id.0).unwrap().unwrap();
    assert_eq!(stored, alerts[0].0);
    assert!(doc.is_some());
    assert_eq!(s.open_incident_docs().unwrap().len(), 1);
    assert_eq!(s.incident("inc-1").unwrap().unwrap().status, "new");
}

/// Fencing: two workers of one partition (the first stalled past its lease while the second
/// took the partition over) commit through their own connections; the late one's commit
/// behind the stored cursor is refused whole, and the state the other saved stays.
#[test]
fn a_partitions_cursor_never_moves_back_and_a_late_worker_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut late, mut owner) = (store(dir.path()), store(dir.path()));
    let part = format!("{}3", wardwatch_store::PARTITION_CURSOR_PREFIX);
    late.commit_detection(&DetectionCommit {
        worker: &part,
        cursor: 10,
        state: Some("late at 10"),
        ..Default::default()
    })
    .unwrap();
    owner
        .commit_detection(&DetectionCommit {
            worker: &part,
            cursor: 20,
            state: Some("owner at 20"),
            incidents: &[incident("inc-owner")],
            ..Default::default()
        })
        .unwrap();
    let refused = late.commit_detection(&DetectionCommit {
        worker: &part,
        cursor: 15,
        state: Some("late at 15"),
        incidents: &[incident("inc-late")],
        ..Default::default()
    });
    match refused {
        Err(StoreError::Fenced {
            worker,
            stored,
            given,
        }) => assert_eq!((worker.as_str(), stored, given), (part.as_str(), 20, 15)),
        other => panic!("a late commit must be fenced: {other:?}"),
    }
    assert_eq!(
        owner.cursor(&part).unwrap(),
        (20, Some("owner at 20".to_string()))
    );
    assert!(
        late.incident("inc-late").unwrap().is_none(),
        "nothing written"
    );
    assert!(owner.incident("inc-owner").unwrap().is_some());
    // The same cursor again (a retry of a commit that went through) and onwards: accepted.
    for cursor in [20, 21] {
        owner
            .commit_detection(&DetectionCommit {
                worker: &part,
                cursor,
                state: Some("owner on"),
                ..Default::default()
            })
            .unwrap();
    }
    assert_eq!(owner.cursor(&part).unwrap().0, 21);
    // The single binary's own detector is not a partition's worker: not fenced.
    for cursor in [9, 4] {
        owner
            .commit_detection(&DetectionCommit {
                worker: "detect",
                cursor,
                ..Default::default()
            })
            .unwrap();
    }
}

#[test]
fn the_analysts_side_changes_only_when_the_change_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    s.commit_detection(&DetectionCommit {
        worker: "detect",
        incidents: &[incident("inc-1")],
        ..Default::default()
    })
    .unwrap();
    let ack = LifecycleUpdate {
        status: "acknowledged".into(),
        resolution: None,
        assignee: Some("alice".into()),
        lifecycle: r#"{"comments":[]}"#.into(),
    };
    // Unknown incident: nothing to change.
    let none: Result<Option<()>, StoreError> =
        update_lifecycle(&mut *s, "inc-9", |_| Ok((ack.clone(), ())));
    assert!(none.unwrap().is_none());
    // A change that fails writes nothing.
    #[derive(Debug)]
    enum Refused {
        Store,
        NotAllowed,
    }
    impl From<StoreError> for Refused {
        fn from(_: StoreError) -> Self {
            Refused::Store
        }
    }
    let refused = update_lifecycle(&mut *s, "inc-1", |_| {
        Err::<(LifecycleUpdate, ()), _>(Refused::NotAllowed)
    });
    assert!(matches!(refused, Err(Refused::NotAllowed)));
    assert_eq!(s.incident("inc-1").unwrap().unwrap().status, "new");
    // A change that succeeds is written and says what the caller asked it to.
    let status = update_lifecycle(&mut *s, "inc-1", |current| {
        Ok::<_, StoreError>((ack.clone(), current.status.clone()))
    })
    .unwrap();
    assert_eq!(status.as_deref(), Some("new"));
    let now = s.incident("inc-1").unwrap().unwrap();
    assert_eq!(
        (now.status.as_str(), now.assignee.as_deref()),
        ("acknowledged", Some("alice"))
    );
    // The object-safe form: `None` leaves it as it is but the incident exists.
    let seam: &mut dyn seam::IncidentStore = &mut *s;
    assert!(seam.change_lifecycle("inc-1", &mut |_| None).unwrap());
    assert!(!seam.change_lifecycle("inc-2", &mut |_| None).unwrap());
}

#[test]
fn exceptions_and_tokens_through_the_seam() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    s.put_exception("exc-1", "default", "r1", i64::MAX, r#"{"id":"exc-1"}"#)
        .unwrap();
    assert_eq!(
        s.exceptions()
            .unwrap()
            .iter()
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        ["exc-1"]
    );
    assert!(s.delete_exception("exc-1").unwrap());
    assert!(!s.delete_exception("exc-1").unwrap());
    s.add_token("beats", TokenKind::Ingest, "s3cret").unwrap();
    assert!(s.add_token("beats", TokenKind::Ingest, "other").is_err());
    assert_eq!(
        s.token_hashes(TokenKind::Ingest).unwrap(),
        [token_hash("s3cret")]
    );
    assert!(s.set_token_grant("beats", None, Some("north")).unwrap());
    let grant = s
        .token_grant(TokenKind::Ingest, &token_hash("s3cret"))
        .unwrap()
        .unwrap();
    assert_eq!(grant.org.as_deref(), Some("north"));
    assert!(s.token_hashes(TokenKind::Api).unwrap().is_empty());
    assert!(s.remove_token("beats").unwrap());
    assert!(s.tokens().unwrap().is_empty());
}
