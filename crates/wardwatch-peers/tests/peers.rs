//! Each server starts, answers, stops and starts again on the same port with its data.

use wardwatch_peers::{Peer, http_get, http_post};

#[test]
fn nats_answers_with_jetstream_and_comes_back_after_a_kill() {
    let Some(mut nats) = Peer::nats("nats_answers_with_jetstream_and_comes_back_after_a_kill")
    else {
        return;
    };
    let monitor = nats.monitor_port().unwrap();
    let (code, body) = http_get(monitor, "/jsz").unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"config\""), "JetStream is on: {body}");
    assert!(nats.url().starts_with("nats://127.0.0.1:"));
    nats.kill();
    assert!(http_get(monitor, "/healthz").is_none(), "killed");
    nats.start();
    assert_eq!(http_get(monitor, "/healthz").unwrap().0, 200);
}

#[test]
fn clickhouse_answers_sql_over_http_and_keeps_its_tables_across_a_restart() {
    let Some(mut ch) =
        Peer::clickhouse("clickhouse_answers_sql_over_http_and_keeps_its_tables_across_a_restart")
    else {
        return;
    };
    let q = |sql: &str| http_get(ch.port, &format!("/?query={}", sql.replace(' ', "%20")));
    assert_eq!(q("SELECT 2*3").unwrap().1.trim(), "6");
    // Over GET the server is read-only; changes go as a POST body.
    let post = |sql: &str| http_post(ch.port, "/", sql).unwrap();
    assert_eq!(
        q("CREATE TABLE t (x UInt64) ENGINE = Memory").unwrap().0,
        500
    );
    let (code, body) =
        post("CREATE TABLE t (d Date, x UInt64) ENGINE = MergeTree PARTITION BY d ORDER BY x");
    assert_eq!(code, 200, "{body}");
    assert_eq!(post("INSERT INTO t VALUES ('2026-12-07', 7)").0, 200);
    ch.stop();
    assert!(!ch.running());
    ch.start();
    let q = |sql: &str| http_get(ch.port, &format!("/?query={}", sql.replace(' ', "%20")));
    assert_eq!(q("SELECT sum(x) FROM t").unwrap().1.trim(), "7");
}

#[test]
fn postgres_accepts_connections_and_restarts_after_a_kill() {
    let Some(mut pg) = Peer::postgres("postgres_accepts_connections_and_restarts_after_a_kill")
    else {
        return;
    };
    let psql = |sql: &str| {
        std::process::Command::new("psql")
            .args([&pg.url(), "-tAc", sql])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Ok(answer) = psql("SELECT 40 + 2") else {
        eprintln!("no psql client here; the server's readiness was checked with pg_isready");
        return;
    };
    assert_eq!(answer, "42");
    psql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (5)").unwrap();
    pg.kill();
    pg.start();
    let psql = |sql: &str| {
        std::process::Command::new("psql")
            .args([&pg.url(), "-tAc", sql])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    assert_eq!(psql("SELECT n FROM kept").unwrap(), "5");
}
