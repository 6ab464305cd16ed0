//! Several nodes writing the state at once, each on its own connection: the audit chain stays
//! whole, the notification planner reading incident events while stages commit never skips
//! one, and a partition's position only moves forward. A real PostgreSQL (`wardwatch-peers`) —
//! skipped where it is not installed, failing under CI.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use wardwatch_core::Severity;
use wardwatch_peers::Peer;
use wardwatch_store::{
    AccessStore, AuditRecord, DetectionCommit, DetectionStore, IncidentRow, NotifyQueue,
    PartitionState,
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
                    // Two workers save one partition, each its own rising positions.
                    pg.save_partition(7, (i * NODES + node) as u64, &[node as u8])
                        .unwrap();
                }
            })
        })
        .collect();
    start.wait();
    for n in nodes {
        n.join().unwrap();
    }
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
    let (seq, _) = pg.load_partition(7).unwrap();
    assert_eq!(
        seq,
        (24 * NODES + NODES - 1) as u64,
        "the highest position stays"
    );
}
