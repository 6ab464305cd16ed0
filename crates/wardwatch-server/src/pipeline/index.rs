//! The indexer: builds the full-text index behind the journal at the lowest CPU priority.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use wardwatch_store::{IndexDb, Journal, doc_text};

use super::Shared;

/// Build the full-text index behind the journal, with its own cursor in its own file: search
/// stays exact meanwhile (it checks events after this cursor directly), and neither ingest nor
/// detection waits for indexing.
pub(super) fn index_loop(db: impl Journal, mut index: IndexDb, shared: Arc<Shared>, batch: usize) {
    lowest_priority();
    let mut cursor = match index.cursor() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the index cursor; search will scan");
            return;
        }
    };
    shared.indexed.store(cursor, Ordering::Release);
    // On stop, leave at once: the index is derived data and resumes from its cursor, so a
    // backlog must not hold up a shutdown.
    while !shared.stop.load(Ordering::Acquire) {
        let docs = match db.read_docs_after(cursor, batch) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the journal for indexing; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let Some(last) = docs.last().map(|(seq, _)| *seq) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        // On this thread only: indexing must not take the cores detection needs.
        let rows: Vec<(i64, String)> = docs
            .iter()
            .filter_map(|(seq, doc)| match doc_text(doc) {
                Ok(words) => Some((*seq, words)),
                Err(e) => {
                    tracing::warn!(seq, error = %e, "stored event is not valid JSON; not indexed");
                    None
                }
            })
            .collect();
        match index.commit(last, &rows) {
            Ok(_) => {
                cursor = last;
                shared.indexed.store(last, Ordering::Release);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot commit the index; retrying");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// Give this thread the lowest CPU priority: indexing is work that can wait. Under full load
/// the cores go to ingest and detection and the index falls behind (search stays exact: it
/// checks unindexed events directly); it catches up as soon as there is a spare cycle.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        // SCHED_IDLE: run only on a core nothing else wants. Nice 19 alone is not enough:
        // measured, the indexer still took a fifth of the CPU samples under full load, because
        // it ran in every gap the others left (an fsync, a lock) and was not preempted at once
        // when they woke.
        // SAFETY: plain syscalls on this thread's own id; `param` lives across the call.
        let ok = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            let param = libc::sched_param { sched_priority: 0 };
            let idle = libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19) == 0 && idle
        };
        if !ok {
            tracing::debug!("could not lower the indexer's priority");
        }
    }
}
