//! The journal writer: the one thread that appends to the journal, grouping whatever is
//! waiting into one transaction, then handing the committed events to the detector.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use wardwatch_listen::SinkError;
use wardwatch_store::{Encoded, Journal, ResendKeys};

use super::Shared;
use super::sink::WriteRequest;
use crate::resend::ResendWindow;

/// How often the writer forgets stored resend keys the window no longer needs.
const RESEND_PRUNE_EVERY: Duration = Duration::from_secs(10);

/// Events the writer just committed, handed straight to the detector so it need not read them
/// back: `entries` are every event stored with a sequence number above `after`.
pub(super) struct Handoff {
    pub(super) after: i64,
    pub(super) entries: Vec<wardwatch_store::JournalEntry>,
}

/// Handoffs waiting for the detector. When it is further behind, it reads the journal instead.
pub(super) const HANDOFF_QUEUE: usize = 2;

/// Commit requests as they come, grouping whatever is waiting into one transaction, then hand
/// the committed events to the detector.
pub(super) fn writer(
    mut db: impl Journal + ResendKeys,
    rx: Receiver<WriteRequest>,
    handoff: SyncSender<Handoff>,
    shared: Arc<Shared>,
    max_events: usize,
    resend: Arc<ResendWindow>,
    data_dir: std::path::PathBuf,
) {
    let mut seqs = Vec::new();
    let mut pruned = Instant::now();
    loop {
        if pruned.elapsed() >= RESEND_PRUNE_EVERY && resend.enabled() {
            pruned = Instant::now();
            if let Err(e) = resend.prune(&mut db) {
                tracing::warn!(error = %e, "cannot forget old resend keys; trying again later");
            }
        }
        let first = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) if !shared.stop.load(Ordering::Acquire) => continue,
            Err(_) => break,
        };
        let mut reqs = vec![first];
        let mut n = reqs[0].batch.len();
        while n < max_events {
            match rx.try_recv() {
                Ok(r) => {
                    n += r.batch.len();
                    reqs.push(r);
                }
                Err(_) => break,
            }
        }
        let (batches, acks): (Vec<Vec<Encoded>>, Vec<_>) =
            reqs.into_iter().map(|r| (r.batch, r.ack)).unzip();
        let before = shared.last_seq.load(Ordering::Acquire);
        let received_ns = jiff::Timestamp::now().as_nanosecond() as i64;
        match db.append_encoded(&batches, &mut seqs) {
            Ok(last) => {
                shared.set_write_error(None);
                // 0: every event was a resend already stored.
                shared.last_seq.fetch_max(last, Ordering::AcqRel);
                shared
                    .metrics
                    .events_stored
                    .fetch_add(n as u64, Ordering::Relaxed);
                for ack in acks {
                    let _ = ack.send(Ok(()));
                }
                // Sized up front (a `filter_map` cannot say its length): growing a vector of
                // 20,000 events moved each of them several times, a third of this thread's
                // time.
                let mut docs = Vec::with_capacity(n);
                let mut entries = Vec::with_capacity(n);
                for (Encoded { event, doc, .. }, seq) in batches.into_iter().flatten().zip(&seqs) {
                    docs.push(doc);
                    if *seq > 0 {
                        entries.push(wardwatch_store::JournalEntry {
                            seq: *seq,
                            received_ns,
                            event,
                        });
                    }
                }
                // The single writer is the pipeline's narrowest step: free the stored text
                // elsewhere (measured: 7% of a core in `free` on this thread).
                rayon::spawn(move || drop(docs));
                if !entries.is_empty() {
                    let h = Handoff {
                        after: before,
                        entries,
                    };
                    // While the detector keeps up from memory, wait for it rather than drop
                    // the handoff: reading events back from the journal parses them a second
                    // time, which under sustained load made detection the bottleneck. Waiting
                    // fills the writer's bounded channel, which slows the senders, with memory
                    // bounded by the two queues. When the detector is far behind (catching up
                    // after a restart), drop it: the journal is the buffer then, and ingest
                    // goes on until `max_queued_events`.
                    let lag = before - shared.cursor.load(Ordering::Acquire);
                    if lag <= (HANDOFF_QUEUE * max_events) as i64 {
                        let _ = handoff.send(h);
                    } else {
                        let _ = handoff.try_send(h);
                    }
                }
                shared.wake.1.notify_all();
            }
            Err(e) => {
                let reason = commit_failure(&e, &data_dir);
                tracing::error!(error = %e, events = n, "journal commit failed; batches refused");
                shared.set_write_error(Some(reason.clone()));
                shared
                    .metrics
                    .journal_failures
                    .fetch_add(1, Ordering::Relaxed);
                for ack in acks {
                    let _ = ack.send(Err(SinkError::Failed(reason.clone())));
                }
                // Do not spin on a disk that stays full: the senders retry meanwhile.
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// What a failed journal commit is reported as (log, `/healthz`, the senders' errors), with
/// what SQLite's words leave out: for "database or disk is full" (also said of a write the
/// system cut short) the space left on the data folder's file system; otherwise which store
/// file cannot be written and the system's reason, when one cannot ("disk I/O error" is all
/// SQLite says of a read-only mount or an immutable file).
fn commit_failure(e: &wardwatch_store::StoreError, data_dir: &std::path::Path) -> String {
    let detail = if e.is_disk_full() {
        crate::disk::describe(data_dir)
    } else {
        crate::disk::unwritable(data_dir)
    };
    let detail = detail.map(|s| format!(" ({s})")).unwrap_or_default();
    format!("journal commit failed: {e}{detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_commit_says_what_sqlite_leaves_out() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = |code| {
            wardwatch_store::StoreError::Sql(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        let full = commit_failure(&sqlite(rusqlite::ffi::SQLITE_FULL), dir.path());
        assert!(
            full.starts_with("journal commit failed: ")
                && full.contains("database or disk is full (")
                && full.contains(" free of ")
                && full.contains(&*dir.path().to_string_lossy()),
            "{full}"
        );
        let io = commit_failure(&sqlite(rusqlite::ffi::SQLITE_IOERR), dir.path());
        assert!(
            !io.contains(" free of ") && !io.contains("cannot be written"),
            "{io}"
        );
        // A store file that refuses writes is named.
        std::fs::create_dir(dir.path().join("wardwatch.db-wal")).unwrap();
        let io = commit_failure(&sqlite(rusqlite::ffi::SQLITE_IOERR), dir.path());
        assert!(
            io.starts_with("journal commit failed: ")
                && io.contains("wardwatch.db-wal` cannot be written: "),
            "{io}"
        );
    }
}
