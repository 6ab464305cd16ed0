//! A server process the harness started, stopped by its own process id (never by name).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A started server; killed when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    /// Start `cmd` with its output appended to `log`, as the account `user` (uid, gid) when
    /// given.
    pub(crate) fn spawn(mut cmd: Command, log: &Path, user: Option<(u32, u32)>) -> Process {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", log.display()));
        let err = out.try_clone().expect("a second handle on the log");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        if let Some((uid, gid)) = user {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        Process { child }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has ended, and if so whether it succeeded.
    pub fn try_status(&mut self) -> Option<bool> {
        self.child.try_wait().ok().flatten().map(|s| s.success())
    }

    /// SIGKILL, and wait for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL when it has not ended within `grace`.
    pub fn terminate(&mut self, grace: Duration) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: a plain kill(2) of our own child's id, which we have not reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}
