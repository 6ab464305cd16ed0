//! A search's time budget: a watchdog thread that interrupts the connection's statement when
//! the budget runs out.
//!
//! Why a thread: a statement that walks millions of index entries without returning a row
//! never gives the search's own loop a chance to look at the clock; SQLite's interrupt stops
//! it from outside, and the search returns what it found as `partial`.

/// Interrupts a connection's statement when a search's budget runs out — once the search has
/// looked at a candidate (so paging always moves on), or at twice the budget at the latest.
/// Dropping it stops the timer; an interrupt that lands after the statement finished is a
/// no-op in SQLite.
pub(super) struct Watchdog {
    deadline: std::time::Instant,
    looked: std::sync::Arc<std::sync::atomic::AtomicBool>,
    done: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub(super) fn start(conn: &rusqlite::Connection, budget: std::time::Duration) -> Watchdog {
        use std::sync::atomic::Ordering;
        use std::sync::mpsc::RecvTimeoutError;
        let handle = conn.get_interrupt_handle();
        let looked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let started = std::time::Instant::now();
        let seen = looked.clone();
        let thread = std::thread::Builder::new()
            .name("wardwatch-search-budget".into())
            .spawn(move || {
                if wait.recv_timeout(budget) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
                let hard = budget * 2 + std::time::Duration::from_millis(100);
                while !seen.load(Ordering::Acquire) && started.elapsed() < hard {
                    if wait.recv_timeout(std::time::Duration::from_millis(1))
                        != Err(RecvTimeoutError::Timeout)
                    {
                        return;
                    }
                }
                handle.interrupt();
            })
            .ok();
        Watchdog {
            deadline: started + budget,
            looked,
            done: Some(done),
            thread,
        }
    }

    pub(super) fn looked(&self) {
        self.looked
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub(super) fn expired(&self) -> bool {
        std::time::Instant::now() >= self.deadline
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(super) fn is_interrupt(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OperationInterrupted)
}
