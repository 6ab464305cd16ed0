//! `wardwatch cluster init|status`: set up a scale-out deployment's engines and see how they
//! are (docs/SCALE.md).
//!
//! `init` creates what the nodes expect, idempotently — ClickHouse's `events` and `alerts`
//! tables, PostgreSQL's state schema (or its migration to this build's version) — so it is run
//! once before the first node starts and again after an upgrade. `status` says, per engine,
//! whether it answers and what it holds: ClickHouse's events and alerts (count, size, newest
//! position, alerts per level), PostgreSQL's schema version against this build's, rows per
//! table, and every stage's cursor and partition's acknowledged position.
//!
//! Each engine is tried on its own: one that is down is named with its error and the others
//! are still reported; the exit code is 1 when any engine is unreachable or not set up.
//! Addresses come from flags or the environment (`WARDWATCH_STORE_EVENTS`,
//! `WARDWATCH_STORE_STATE`: a password in an address stays out of the process list).

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use wardwatch_store_clickhouse::{ClickHouse, Layout};
use wardwatch_store_postgres::{Postgres, schema};

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create ClickHouse's tables and PostgreSQL's state schema (or bring it to this
    /// version); safe to run again.
    Init(InitArgs),
    /// Whether each engine answers, and what it holds.
    Status(Engines),
}

/// Where the engines are (`[store]` of the nodes' configuration).
#[derive(Debug, Args)]
pub struct Engines {
    /// Events and alerts: clickhouse://HOST:8123/DATABASE.
    #[arg(long, env = "WARDWATCH_STORE_EVENTS", value_name = "URL")]
    events: String,
    /// The state: postgres://USER@HOST:5432/DATABASE.
    #[arg(long, env = "WARDWATCH_STORE_STATE", value_name = "URL")]
    state: String,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    engines: Engines,
    /// Keep events and alerts this many days after they were received (a TTL where the
    /// ClickHouse server knows them; the nodes drop older days everywhere).
    #[arg(long, value_name = "DAYS")]
    retention_days: Option<u32>,
}

pub fn run(cmd: ClusterCommand) -> Result<ExitCode> {
    let mut out = Report::default();
    match cmd {
        ClusterCommand::Init(args) => init(&args, &mut out),
        ClusterCommand::Status(engines) => status(&engines, &mut out),
    }
    print!("{}", out.text);
    if out.failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("needs attention: {}", out.failed.join(", "));
        Ok(ExitCode::from(1))
    }
}

/// What is printed, and which engines failed.
#[derive(Default)]
struct Report {
    text: String,
    failed: Vec<&'static str>,
}

impl Report {
    fn line(&mut self, s: impl AsRef<str>) {
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }

    fn fail(&mut self, engine: &'static str, where_: &str, why: impl std::fmt::Display) {
        self.line(format!(
            "{engine:<11} {where_}  UNREACHABLE or REFUSED: {why}"
        ));
        self.failed.push(engine);
    }
}

fn init(args: &InitArgs, out: &mut Report) {
    let layout = Layout {
        retention_days: args.retention_days,
    };
    match ClickHouse::connect(&args.engines.events) {
        Err(e) => out.fail("ClickHouse", &args.engines.events, e),
        Ok(ch) => {
            let place = format!("{}/{}", ch.endpoint(), ch.database());
            match ch.init(&layout).and_then(|()| ch.version()) {
                Ok(v) => out.line(format!(
                    "{:<11} {place}  ready: tables events and alerts (server {v}{})",
                    "ClickHouse",
                    args.retention_days
                        .map(|d| format!(", events kept {d} days"))
                        .unwrap_or_default()
                )),
                Err(e) => out.fail("ClickHouse", &place, e),
            }
        }
    }
    match Postgres::init(&args.engines.state) {
        Err(e) => out.fail("PostgreSQL", &redacted(&args.engines.state), e),
        Ok((pg, before)) => {
            let what = match before {
                0 => "created".to_string(),
                v if v == schema::VERSION => "already there".to_string(),
                v => format!("migrated from version {v}"),
            };
            out.line(format!(
                "{:<11} {}  ready: state schema version {} ({what})",
                "PostgreSQL",
                pg.endpoint(),
                schema::VERSION
            ));
        }
    }
}

fn status(engines: &Engines, out: &mut Report) {
    match ClickHouse::connect(&engines.events) {
        Err(e) => out.fail("ClickHouse", &engines.events, e),
        Ok(ch) => clickhouse_status(&ch, out),
    }
    match Postgres::unchecked(&engines.state) {
        Err(e) => out.fail("PostgreSQL", &redacted(&engines.state), e),
        Ok(pg) => postgres_status(&pg, out),
    }
}

fn clickhouse_status(ch: &ClickHouse, out: &mut Report) {
    let place = format!("{}/{}", ch.endpoint(), ch.database());
    let version = match ch.version() {
        Ok(v) => v,
        Err(e) => return out.fail("ClickHouse", &place, e),
    };
    match ch.counts() {
        Ok(c) => {
            out.line(format!(
                "{:<11} {place}  up, server {version}",
                "ClickHouse"
            ));
            out.line(format!(
                "  events    {} ({}), newest position {}",
                c.events,
                human(c.event_bytes),
                c.last_seq
            ));
            let levels: Vec<String> = c
                .alerts_by_level
                .iter()
                .rev()
                .map(|(l, n)| {
                    let name = wardwatch_core::Severity::ALL
                        .get(usize::from(*l))
                        .map_or("unknown", |s| s.as_str());
                    format!("{name} {n}")
                })
                .collect();
            out.line(format!(
                "  alerts    {}{}",
                c.alerts,
                if levels.is_empty() {
                    String::new()
                } else {
                    format!(": {}", levels.join(", "))
                }
            ));
        }
        Err(e) => {
            out.line(format!(
                "{:<11} {place}  up, server {version}",
                "ClickHouse"
            ));
            out.line(format!(
                "  tables    NOT SET UP ({e}): run `wardwatch cluster init`"
            ));
            out.failed.push("ClickHouse");
        }
    }
}

fn postgres_status(pg: &Postgres, out: &mut Report) {
    let place = pg.endpoint().to_string();
    let version = match pg.server_version() {
        Ok(v) => v,
        Err(e) => return out.fail("PostgreSQL", &place, e),
    };
    let found = match pg.schema_version() {
        Ok(v) => v,
        Err(e) => return out.fail("PostgreSQL", &place, e),
    };
    out.line(format!(
        "{:<11} {place}  up, server {version}, state schema version {found} (this build: {})",
        "PostgreSQL",
        schema::VERSION
    ));
    if found != schema::VERSION {
        out.line(if found < schema::VERSION {
            "  schema    OLDER than this build: run `wardwatch cluster init`"
        } else {
            "  schema    NEWER than this build: upgrade this Wardwatch"
        });
        out.failed.push("PostgreSQL");
        return;
    }
    match pg.table_rows() {
        Ok(rows) => {
            let rows: Vec<String> = rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
            out.line(format!("  rows      {}", rows.join(", ")));
        }
        Err(e) => {
            out.line(format!("  rows      cannot be counted: {e}"));
            out.failed.push("PostgreSQL");
        }
    }
    match pg.cursors() {
        Ok(c) if c.is_empty() => out.line("  cursors   none yet (no stage has committed)"),
        Ok(c) => {
            let c: Vec<String> = c.iter().map(|(n, s)| format!("{n} at {s}")).collect();
            out.line(format!("  cursors   {}", c.join(", ")));
        }
        Err(e) => {
            out.line(format!("  cursors   cannot be read: {e}"));
            out.failed.push("PostgreSQL");
        }
    }
}

/// An address as it may be printed: a password in it replaced.
fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((user, host)) => format!(
                "{scheme}://{}@{host}",
                user.split(':').next().unwrap_or_default()
            ),
            None => url.to_string(),
        },
        None => "(the configured address)".to_string(),
    }
}

fn human(bytes: u64) -> String {
    wardwatch_server::disk::human(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_printed() {
        assert_eq!(
            redacted("postgres://ww:s3cret@db.hosp:5432/state"),
            "postgres://ww@db.hosp:5432/state"
        );
        assert_eq!(redacted("host=db password=x"), "(the configured address)");
    }
}
