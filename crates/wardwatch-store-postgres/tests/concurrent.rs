//! Several nodes writing the state at once, each on its own connection: the audit chain stays
//! whole, the notification planner reading incident events while stages commit never skips
//! one, a partition's cursor only moves forward (workers committing one partition at once:
//! those behind are fenced, the state saved is the furthest commit's), a partner paging a TAXII
//! collection while nodes take POSTs reads each object once and in order, and a feed polled by
//! several nodes counts each group once. A real PostgreSQL (`wardwatch-peers`) —
//! skipped where it is not installed, failing under CI.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use wardwatch_core::Severity;
use wardwatch_peers::Peer;
use wardwatch_store::{
    AccessStore, AuditRecord, DetectionCommit, DetectionStore, IncidentRow, NotifyQueue, StoreError,
};
use wardwatch_store_postgres::Postgres;

const NODES: usize = 4;

fn incident(node: usize, i: usize) -> IncidentRow {
    IncidentRow {
        id: format!("inc-{node}-{i}"),
        org: "default".into(),
        opened: 1,
        first_seen: 1,
        last_seen: 2 + i as i64,
        severity: Severity::Medium,
        score: 50.0,
        closed: false,
        merged_into: None,
        title: "t".into(),
        doc: "{}".into(),
    }
}

#[test]
fn nodes_writing_at_once_keep_the_chain_the_order_and_the_positions() {
    let Some(peer) =
        Peer::postgres("nodes_writing_at_once_keep_the_chain_the_order_and_the_positions")
    else {
        return;
    };
    let url = peer.url();
    Postgres::init(&url).unwrap();
    let start = Arc::new(Barrier::new(NODES + 2));
    let done = Arc::new(AtomicBool::new(false));

    // The notification planner, reading as the stages commit.
    let reader = {
        let (url, start, done) = (url.clone(), start.clone(), done.clone());
        std::thread::spawn(move || {
            let pg = Postgres::connect(&url).unwrap();
            start.wait();
            let mut seen = Vec::new();
            let mut last = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                for (seq, id) in pg.incident_events_after(last, 1000).unwrap() {
                    last = seq;
                    seen.push(id);
                }
                if finished {
                    return seen;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    let nodes: Vec<_> = (0..NODES)
        .map(|node| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || {
                let mut pg = Postgres::connect(&url).unwrap();
                start.wait();
                let mut fenced = 0;
                for i in 0..25 {
                    pg.audit(&AuditRecord {
                        actor: format!("node{node}"),
                        action: "acknowledge".into(),
                        target: format!("incident:{i}"),
                        org: "default".into(),
                        addr: "10.0.0.1".into(),
                        detail: String::new(),
                    })
                    .unwrap();
                    pg.commit_detection(&DetectionCommit {
                        worker: &format!("stage-{node}"),
                        cursor: i as i64,
                        incidents: &[incident(node, i)],
                        ..Default::default()
                    })
                    .unwrap();
                    // The workers commit one partition, each its own rising positions: one
                    // behind what another committed is refused whole.
                    let cursor = (i * NODES + node) as i64;
                    match pg.commit_detection(&DetectionCommit {
                        worker: "detect-part-7",
                        cursor,
                        state: Some(&format!("node {node} at {cursor}")),
                        ..Default::default()
                    }) {
                        Ok(_) => {}
                        Err(StoreError::Fenced { stored, given, .. }) => {
                            assert!(stored > given);
                            fenced += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                fenced
            })
        })
        .collect();
    start.wait();
    let fenced: usize = nodes.into_iter().map(|n| n.join().unwrap()).sum();
    eprintln!("{fenced} partition commit(s) behind another were fenced");
    done.store(true, Ordering::SeqCst);
    let seen = reader.join().unwrap();

    let pg = Postgres::connect(&url).unwrap();
    let verdict = pg.verify_audit().unwrap();
    assert_eq!(verdict.entries, (NODES * 25) as u64);
    assert_eq!(verdict.broken, None, "the chain stays whole");
    assert_eq!(
        seen.len(),
        NODES * 25,
        "the planner saw every incident event, none skipped while another committed"
    );
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len());
    let last = (24 * NODES + NODES - 1) as i64;
    assert_eq!(
        pg.cursor("detect-part-7").unwrap(),
        (last, Some(format!("node {} at {last}", NODES - 1))),
        "the highest position stays, with the state committed with it"
    );
}

/// Four API nodes taking partners' POSTs into one TAXII collection while a partner pages it
/// with `next`, and polling one feed at once: every object gets its own date added, the
/// partner reads each exactly once and in order, each POST's status is kept, and each group of
/// the feed is counted new by one node only.
#[test]
fn nodes_sharing_at_once_keep_dates_in_order_and_polls_whole() {
    use wardwatch_store::{
        AddOutcome, FeedGroup, FeedIndicator, FeedPoll, FeedStore, NewTaxiiObject, TaxiiQuery,
        TaxiiStore,
    };
    let Some(peer) = Peer::postgres("nodes_sharing_at_once_keep_dates_in_order_and_polls_whole")
    else {
        return;
    };
    let url = peer.url();
    Postgres::init(&url).unwrap();
    const COLLECTION: &str = "9a1b0c3e-0000-4000-8000-00000000000c";
    // The nodes, the partner and this thread.
    let start = Arc::new(Barrier::new(NODES + 2));
    let done = Arc::new(AtomicBool::new(false));
    let partner = {
        let (url, start, done) = (url.clone(), start.clone(), done.clone());
        std::thread::spawn(move || {
            let pg = Postgres::connect(&url).unwrap();
            start.wait();
            let mut q = TaxiiQuery::everything(COLLECTION, 7);
            let mut seen: Vec<(i64, String)> = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = pg.taxii_query(&q).unwrap();
                if let Some(last) = page.rows.last() {
                    q.after = Some(last.date_added);
                }
                seen.extend(page.rows.into_iter().map(|r| (r.date_added, r.id)));
                if finished && !page.more {
                    return seen;
                }
            }
        })
    };
    let nodes: Vec<_> = (0..NODES)
        .map(|node| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || {
                let mut pg = Postgres::connect(&url).unwrap();
                start.wait();
                let mut new = 0;
                for i in 0..25 {
                    let objects: Vec<NewTaxiiObject> = (0..2)
                        .map(|k| NewTaxiiObject {
                            id: format!("sighting--{node}-{i}-{k}"),
                            ty: "sighting".into(),
                            spec_version: "2.1".into(),
                            version: Some(("2026-01-01T00:00:00.000Z".into(), 1)),
                            tlp: 1,
                            creator: Some(format!("identity--{node}")),
                            private: true,
                            doc: "{}".into(),
                        })
                        .collect();
                    let sid = format!("status-{node}-{i}");
                    let out = pg
                        .taxii_add(COLLECTION, &objects, Some("north"), &mut |o, _| {
                            Some((sid.clone(), "north".into(), format!("{}", o.len())))
                        })
                        .unwrap();
                    assert!(out.iter().all(|o| matches!(o, AddOutcome::Added { .. })));
                    let group = FeedGroup {
                        grp: format!("indicator--{i}"),
                        version: "2026-01-01T00:00:00Z".into(),
                        indicators: vec![FeedIndicator {
                            kind: "domain".into(),
                            value: format!("bad{i}.example"),
                            valid_until: None,
                            revoked: false,
                            doc: "{}".into(),
                        }],
                    };
                    let poll = FeedPoll {
                        position: Some(format!("{i:04}")),
                        objects: 1,
                        ..FeedPoll::default()
                    };
                    new += pg.feed_apply("shared", &[group], &poll).unwrap().new;
                }
                new
            })
        })
        .collect();
    start.wait();
    let new: u64 = nodes.into_iter().map(|n| n.join().unwrap()).sum();
    done.store(true, Ordering::SeqCst);
    let seen = partner.join().unwrap();
    assert_eq!(seen.len(), NODES * 25 * 2, "each object read once");
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "in the order added"
    );
    let pg = Postgres::connect(&url).unwrap();
    for node in 0..NODES {
        for i in 0..25 {
            let status = pg.taxii_status(&format!("status-{node}-{i}")).unwrap();
            assert_eq!(status.map(|s| s.doc).as_deref(), Some("2"));
        }
    }
    assert_eq!(new, 25, "each group new to one node only");
    let f = pg.feed_status("shared").unwrap().unwrap();
    assert_eq!((f.indicators, f.objects), (25, (NODES * 25) as i64));
}
