//! Interop (issue 14): the real syslog-ng 3.38 from Debian ships the same Linux authentication
//! lines two ways — its `elasticsearch-http()` destination (upper-case `HOST`, `PROGRAM`,
//! `MESSAGE`, `PRIORITY` documents into `/_bulk`) to one `wardwatch serve`, and RFC 5424 syslog
//! over TCP (octet-counted) to another — and both give the same normalized events and the same
//! alerts.
//!
//! `.ci/run` unpacks Debian's `syslog-ng-core`, `syslog-ng-mod-http` and `syslog-ng-scl` under
//! `target/syslog-ng` (installing them would remove rsyslog, which other suites need); a
//! system-wide syslog-ng with its http module works too. Without either the test says why it
//! skips.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, free_port};
use serde_json::{Value, json};

/// Where syslog-ng is: (binary, module path, include path, library path).
fn syslog_ng() -> Option<(PathBuf, String, String, Option<PathBuf>)> {
    let root = std::env::var_os("WARDWATCH_SYSLOG_NG_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/syslog-ng"));
    let unpacked = root.join("usr/sbin/syslog-ng");
    if unpacked.exists() && root.join("usr/lib/syslog-ng/3.38/libhttp.so").exists() {
        let r = root.display();
        return Some((
            unpacked,
            format!("{r}/usr/lib/syslog-ng/3.38"),
            format!("{r}/etc/syslog-ng:{r}/usr/share/syslog-ng/include"),
            Some(root.join("usr/lib/syslog-ng")),
        ));
    }
    let system = Path::new("/usr/sbin/syslog-ng");
    let http = Path::new("/usr/lib/syslog-ng/3.38/libhttp.so");
    (system.exists() && http.exists()).then(|| {
        (
            system.to_path_buf(),
            "/usr/lib/syslog-ng/3.38".into(),
            "/etc/syslog-ng:/usr/share/syslog-ng/include".into(),
            None,
        )
    })
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The normalized parts every route must agree on, keyed by the message.
fn normalized(events: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = events["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let ecs = &e["ecs"];
            let pick = |k: &str| ecs.get(k).cloned().unwrap_or(Value::Null);
            json!({
                "time": e["@timestamp"], "source_kind": e["source_kind"],
                "host": pick("host.name"), "program": pick("process.name"),
                "pid": pick("process.pid"), "facility": pick("log.syslog.facility.name"),
                "message": pick("message"), "category": pick("event.category"),
                "action": pick("event.action"), "outcome": pick("event.outcome"),
                "user": pick("user.name"), "source": pick("source.ip"),
                "port": pick("source.port"),
            })
        })
        .collect();
    out.sort_by_key(|v| v.to_string());
    out
}

/// The alerts' rules and entities, in a comparable order.
fn alert_summary(alerts: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = alerts["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| json!({"rule": a["rule_id"], "entities": a["entities"], "level": a["level"]}))
        .collect();
    out.sort_by_key(|v| v.to_string());
    out
}

#[test]
fn syslog_ng_elasticsearch_http_and_rfc5424_give_the_same_events_and_alerts() {
    let Some((bin, modules, include, libs)) = syslog_ng() else {
        eprintln!(
            "skipped syslog_ng_elasticsearch_http_and_rfc5424_give_the_same_events_and_alerts: syslog-ng 3.38 with its http module is not here (.ci/run unpacks it under target/syslog-ng)"
        );
        return;
    };
    let bulk_server = Server::start(&[]);
    let syslog_server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let in_port = free_port();
    let conf = format!(
        r#"@version: 3.38
@define include-path "{include}"
@include "scl.conf"
options {{ keep-hostname(yes); stats-freq(0); }};
source s_in {{ network(ip("127.0.0.1") port({in_port}) transport("tcp")); }};
destination d_es {{
    elasticsearch-http(url("http://{bulk}/_bulk") index("syslog-ng") type("")
        user("syslog-ng") password("{token}") batch-lines(25) timeout(5) workers(1));
}};
destination d_5424 {{ syslog("127.0.0.1" port({syslog_port}) transport("tcp")); }};
log {{ source(s_in); destination(d_es); destination(d_5424); }};
"#,
        bulk = bulk_server.http,
        token = bulk_server.ingest_token,
        syslog_port = syslog_server.syslog.port(),
    );
    std::fs::write(p("syslog-ng.conf"), conf).unwrap();
    let mut cmd = Command::new(&bin);
    cmd.args([
        "-F",
        "-e",
        "-f",
        &p("syslog-ng.conf"),
        &format!("--module-path={modules}"),
        "-R",
        &p("syslog-ng.persist"),
        "-c",
        &p("syslog-ng.ctl"),
        "-p",
        &p("syslog-ng.pid"),
    ])
    .env("TZ", "UTC")
    .stdout(Stdio::null())
    .stderr(Stdio::from(
        std::fs::File::create(p("syslog-ng.log")).unwrap(),
    ));
    if let Some(libs) = libs {
        cmd.env("LD_LIBRARY_PATH", libs);
    }
    let _sng = Running(cmd.spawn().expect("start syslog-ng"));
    let log = || std::fs::read_to_string(p("syslog-ng.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = loop {
        match std::net::TcpStream::connect(("127.0.0.1", in_port)) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("syslog-ng did not listen: {e}\n{}", log()),
        }
    };

    // A server's morning: 100 guessed root passwords from one address in seconds, then the one
    // that worked; a sudo by the intruder; an ordinary cron line.
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let stamp = now.strftime("%b %e %H:%M:%S").to_string();
    let mut lines = Vec::new();
    for i in 0..100 {
        lines.push(format!(
            "<38>{stamp} db01 sshd[{}]: Failed password for root from 203.0.113.9 port {} ssh2",
            2000 + i,
            40000 + i
        ));
    }
    lines.push(format!(
        "<38>{stamp} db01 sshd[2100]: Accepted password for root from 203.0.113.9 port 41000 ssh2"
    ));
    lines.push(format!(
        "<85>{stamp} db01 sudo:     root : TTY=pts/0 ; PWD=/root ; USER=root ; COMMAND=/usr/bin/id"
    ));
    lines.push(format!(
        "<78>{stamp} db01 CRON[2200]: (root) CMD (run-parts /etc/cron.hourly)"
    ));
    for l in &lines {
        writeln!(conn, "{l}").unwrap();
    }
    conn.flush().unwrap();
    drop(conn);

    let n = lines.len() as u64;
    let via_bulk = bulk_server.wait_events("host.name:db01", n);
    let via_syslog = syslog_server.wait_events("host.name:db01", n);
    assert_eq!(
        via_bulk["total"],
        n,
        "elasticsearch-http(): {via_bulk}\n{}",
        log()
    );
    assert_eq!(via_syslog["total"], n, "RFC 5424: {via_syslog}\n{}", log());
    // The bulk documents are syslog-ng's own upper-case keys, stored as they came.
    let raw = &via_bulk["events"][0]["raw"];
    assert!(
        raw.get("PROGRAM").is_some() && raw.get("MESSAGE").is_some(),
        "{raw}"
    );
    let (a, b) = (normalized(&via_bulk), normalized(&via_syslog));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "the two routes disagree");
    }
    let failed = a
        .iter()
        .find(|e| e["action"] == "logon-failed")
        .expect("a normalized failure");
    assert_eq!(failed["program"], "sshd");
    assert_eq!(failed["facility"], "auth");
    assert_eq!(failed["user"], "root");
    assert_eq!(failed["source"], "203.0.113.9");

    let want = [
        "analytic-auth-brute-force",
        "analytic-auth-success-after-failures",
    ];
    for s in [&bulk_server, &syslog_server] {
        s.wait_alerts("rule_id=analytic-auth-success-after-failures", 1);
    }
    let alerts_bulk = bulk_server.wait_alerts("", 2);
    let alerts_syslog = syslog_server.wait_alerts("", 2);
    let (x, y) = (alert_summary(&alerts_bulk), alert_summary(&alerts_syslog));
    assert_eq!(x, y, "the same alerts both ways");
    for rule in want {
        assert_eq!(
            x.iter().filter(|a| a["rule"] == rule).count(),
            1,
            "{rule} once: {x:?}"
        );
    }
}
