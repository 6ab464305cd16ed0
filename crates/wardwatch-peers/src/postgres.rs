//! PostgreSQL from Debian: `initdb` a new cluster in the temporary folder (trust
//! authentication, superuser `postgres`), then the `postgres` server itself as our child
//! process (not `pg_ctl`, which would leave it to be found by name). As root, both run as the
//! system's `postgres` account, which owns the folder (PostgreSQL refuses to run as root).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Process, wait_for};

/// The folder with `initdb`, `postgres` and `pg_isready`: Debian's newest under
/// `/usr/lib/postgresql/*/bin`, or `$WARDWATCH_PG_BIN`.
pub(crate) fn binaries() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("WARDWATCH_PG_BIN") {
        return Ok(PathBuf::from(p));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("/usr/lib/postgresql: {e}"))?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, b)| b)
        .ok_or_else(|| "no /usr/lib/postgresql/*/bin/postgres".to_string())
}

/// The `postgres` account's uid and gid when we are root (else run as ourselves).
fn account() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&"postgres"))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

fn chown_tree(dir: &Path, (uid, gid): (u32, u32)) {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).expect("chown the data folder");
}

pub(crate) fn init(bin: &Path, dir: &Path) {
    let user = account();
    if let Some(u) = user {
        chown_tree(dir, u);
    }
    let data = dir.join("data");
    let mut cmd = Command::new(bin.join("initdb"));
    cmd.arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
    let mut p = Process::spawn(cmd, &dir.join("initdb.log"), user);
    let ok = wait_for(|| matches!(p.try_status(), Some(true)));
    if !ok {
        let log = std::fs::read_to_string(dir.join("initdb.log")).unwrap_or_default();
        panic!("initdb failed in {}:\n{log}", data.display());
    }
}

pub(crate) fn start(bin: &Path, dir: &Path, port: u16) -> Process {
    let mut cmd = Command::new(bin.join("postgres"));
    cmd.arg("-D")
        .arg(dir.join("data"))
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ])
        .arg("-k")
        .arg(dir);
    Process::spawn(cmd, &dir.join("server.log"), account())
}

pub(crate) fn ready(bin: &Path, port: u16) -> bool {
    wait_for(|| {
        Command::new(bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
            .status()
            .is_ok_and(|s| s.success())
    })
}
