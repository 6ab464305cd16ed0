//! `wardwatch cluster init|status` against real ClickHouse and PostgreSQL servers
//! (`wardwatch-peers`): init makes both engines ready and is safe to run again, status reports
//! each engine's figures, and an engine that is down is named while the other is still
//! reported. Skipped where the servers are not installed, failing under CI.

use std::process::{Command, Output};

use wardwatch_peers::Peer;

fn wardwatch(args: &[&str], events: &str, state: &str) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(args)
        .env("WARDWATCH_STORE_EVENTS", events)
        .env("WARDWATCH_STORE_STATE", state)
        .output()
        .expect("wardwatch runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn cluster_init_sets_up_both_engines_and_status_names_the_one_that_is_down() {
    let test = "cluster_init_sets_up_both_engines_and_status_names_the_one_that_is_down";
    let (Some(ch), Some(mut pg)) = (Peer::clickhouse(test), Peer::postgres(test)) else {
        return;
    };
    let events = format!("{}/wardwatch", ch.url());
    // A password in the address is never printed.
    let state = pg.url().replace("postgres@", "postgres:s3cret@");

    let (code, out, err) = wardwatch(&["cluster", "status"], &events, &state);
    assert_eq!(code, 1, "nothing set up yet: {out}{err}");
    assert!(out.contains("run `wardwatch cluster init`"), "{out}");

    let (code, out, err) = wardwatch(
        &["cluster", "init", "--retention-days", "90"],
        &events,
        &state,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("ClickHouse") && out.contains("ready: tables events and alerts"),
        "{out}"
    );
    assert!(out.contains("events kept 90 days"), "{out}");
    assert!(
        out.contains("state schema version") && out.contains("(created)"),
        "{out}"
    );
    let (code, out, _) = wardwatch(&["cluster", "init"], &events, &state);
    assert_eq!(code, 0);
    assert!(
        out.contains("(already there)"),
        "init again changes nothing: {out}"
    );

    let (code, out, err) = wardwatch(&["cluster", "status"], &events, &state);
    eprintln!("wardwatch cluster status:\n{out}");
    assert_eq!(code, 0, "{out}{err}");
    for want in [
        "ClickHouse",
        "up, server",
        "events    0",
        "alerts    0",
        "PostgreSQL",
        "incidents 0",
        "audit 0",
        "cursors   none yet",
    ] {
        assert!(out.contains(want), "`{want}` in:\n{out}");
    }
    assert!(
        !out.contains("s3cret") && !err.contains("s3cret"),
        "{out}{err}"
    );

    pg.kill();
    let (code, out, err) = wardwatch(&["cluster", "status"], &events, &state);
    eprintln!("with PostgreSQL down:\n{out}{err}");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("PostgreSQL") && l.contains("UNREACHABLE")),
        "{out}"
    );
    assert!(
        out.contains("events    0"),
        "ClickHouse is still reported: {out}"
    );
    assert!(err.contains("needs attention: PostgreSQL"), "{err}");
    assert!(
        !out.contains("s3cret") && !err.contains("s3cret"),
        "{out}{err}"
    );
}
