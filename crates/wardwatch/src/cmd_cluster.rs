//! `wardwatch cluster init|status`: set up a scale-out deployment's engines and see how they
//! are (docs/SCALE.md).
//!
//! `init` creates what the nodes expect, idempotently — NATS' events stream and one durable
//! consumer per partition (`wardwatch_cluster::init`), ClickHouse's `events` and `alerts`
//! tables, PostgreSQL's state schema (or its migration to this build's version) — so it is run
//! once before the first node starts and again after an upgrade. `status` says, per engine,
//! whether it answers and what it holds: the stream's backlog and, per partition, its
//! consumer's lag, unacknowledged and redelivered messages and whether a worker is attached;
//! ClickHouse's events and alerts (count, size, newest position, alerts per level);
//! PostgreSQL's schema version against this build's, rows per table, and every stage's cursor
//! and partition's saved position.
//!
//! Each engine is tried on its own: one that is down is named with its error and the others
//! are still reported; the exit code is 1 when any engine is unreachable or not set up.
//! Addresses come from the nodes' configuration (`[cluster]`, `[store]`), overridden by flags
//! or the environment (`WARDWATCH_CLUSTER_NATS`, `WARDWATCH_STORE_EVENTS`,
//! `WARDWATCH_STORE_STATE`: a password in an address stays out of the process list).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use wardwatch_cluster::ClusterConfig;
use wardwatch_cluster::Status;
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

/// Where the engines are: the nodes' configuration, or each address on its own.
#[derive(Debug, Args)]
pub struct Engines {
    /// The nodes' configuration file: its `[cluster]` and `[store]` sections.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// NATS servers, comma-separated (`[cluster] nats`).
    #[arg(long, env = "WARDWATCH_CLUSTER_NATS", value_name = "URL")]
    nats: Option<String>,
    /// Partitions of the events stream (`[cluster] partitions`).
    #[arg(long, value_name = "N")]
    partitions: Option<u32>,
    /// Events and alerts: clickhouse://HOST:8123/DATABASE (`[store] events`).
    #[arg(long, env = "WARDWATCH_STORE_EVENTS", value_name = "URL")]
    events: Option<String>,
    /// The state: postgres://USER@HOST:5432/DATABASE (`[store] state`).
    #[arg(long, env = "WARDWATCH_STORE_STATE", value_name = "URL")]
    state: Option<String>,
}

/// The engines' addresses once the configuration and the flags are read.
struct Resolved {
    cluster: Option<ClusterConfig>,
    events: Option<String>,
    state: Option<String>,
}

impl Engines {
    fn resolve(&self) -> Result<Resolved> {
        let config =
            match &self.config {
                None => None,
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    Some(wardwatch_server::Config::from_toml(&text).with_context(|| {
                        format!("{} is not a valid configuration", path.display())
                    })?)
                }
            };
        let (mut cluster, store) = match config {
            Some(c) => (c.cluster, c.store),
            None => (None, None),
        };
        if let Some(nats) = &self.nats {
            cluster.get_or_insert_with(ClusterConfig::default).nats = nats.clone();
        }
        if let Some(n) = self.partitions {
            cluster
                .get_or_insert_with(ClusterConfig::default)
                .partitions = n;
        }
        Ok(Resolved {
            cluster,
            events: self
                .events
                .clone()
                .or_else(|| store.as_ref().map(|s| s.events.clone())),
            state: self.state.clone().or_else(|| store.map(|s| s.state)),
        })
    }
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
        ClusterCommand::Init(args) => {
            let engines = args.engines.resolve()?;
            init(&args, &engines, &mut out)?;
        }
        ClusterCommand::Status(engines) => status(&engines.resolve()?, &mut out)?,
    }
    print!("{}", out.text);
    if out.failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("needs attention: {}", out.failed.join(", "));
        Ok(ExitCode::from(1))
    }
}

/// Run NATS' part (async) on a runtime of this command's own.
fn nats<T>(f: impl Future<Output = T>) -> Result<T> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the NATS client's runtime")?
        .block_on(f))
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
        self.line(format!("{engine:<11} {where_}  FAILED: {why}"));
        self.failed.push(engine);
    }

    fn missing(&mut self, engine: &'static str, give: &str) {
        self.line(format!("{engine:<11} NOT CONFIGURED: give {give}"));
        self.failed.push(engine);
    }
}

fn init(args: &InitArgs, engines: &Resolved, out: &mut Report) -> Result<()> {
    match &engines.cluster {
        None => out.missing("NATS", "--nats or [cluster] nats"),
        Some(cfg) => match nats(wardwatch_cluster::init(cfg))? {
            Ok(s) => out.line(format!(
                "{:<11} {}  ready: stream {} with {} partition consumers, {} replica(s)",
                "NATS",
                cfg.nats,
                s.stream.name,
                s.partitions.iter().filter(|p| p.exists).count(),
                s.stream.replicas
            )),
            Err(e) => out.fail("NATS", &cfg.nats, e),
        },
    }
    let layout = Layout {
        retention_days: args.retention_days,
    };
    match engines.events.as_deref().map(ClickHouse::connect) {
        None => out.missing("ClickHouse", "--events or [store] events"),
        Some(Err(e)) => out.fail("ClickHouse", "(the configured address)", e),
        Some(Ok(ch)) => {
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
    match engines.state.as_deref().map(Postgres::init) {
        None => out.missing("PostgreSQL", "--state or [store] state"),
        Some(Err(e)) => {
            let place = redacted(engines.state.as_deref().unwrap_or_default());
            out.fail("PostgreSQL", &place, e)
        }
        Some(Ok((pg, before))) => {
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
    Ok(())
}

fn status(engines: &Resolved, out: &mut Report) -> Result<()> {
    match &engines.cluster {
        None => out.missing("NATS", "--nats or [cluster] nats"),
        Some(cfg) => match nats(wardwatch_cluster::status(cfg))? {
            Ok(s) => nats_status(&s, out),
            Err(e) => out.fail("NATS", &cfg.nats, e),
        },
    }
    match engines.events.as_deref().map(ClickHouse::connect) {
        None => out.missing("ClickHouse", "--events or [store] events"),
        Some(Err(e)) => out.fail("ClickHouse", "(the configured address)", e),
        Some(Ok(ch)) => clickhouse_status(&ch, out),
    }
    match engines.state.as_deref().map(Postgres::unchecked) {
        None => out.missing("PostgreSQL", "--state or [store] state"),
        Some(Err(e)) => {
            let place = redacted(engines.state.as_deref().unwrap_or_default());
            out.fail("PostgreSQL", &place, e)
        }
        Some(Ok(pg)) => postgres_status(&pg, out),
    }
    Ok(())
}

fn nats_status(s: &Status, out: &mut Report) {
    let st = &s.stream;
    out.line(format!(
        "{:<11} {}  up, stream {}: backlog {} batches ({}, {:.0}% of the most allowed), sequences {}..{}, {} replica(s)",
        "NATS",
        s.nats,
        st.name,
        st.messages,
        human(st.bytes),
        st.fill * 100.0,
        st.first_seq,
        st.last_seq,
        st.replicas
    ));
    let mut missing = false;
    for p in &s.partitions {
        if !p.exists {
            missing = true;
            out.line(format!(
                "  partition {:<3} {}  MISSING: run `wardwatch cluster init`",
                p.partition, p.consumer
            ));
            continue;
        }
        out.line(format!(
            "  partition {:<3} {}  lag {}, unacknowledged {}, redelivered {}, acknowledged up to {}, {}",
            p.partition,
            p.consumer,
            p.pending,
            p.ack_pending,
            p.redelivered,
            p.ack_floor,
            match (s.holder(&wardwatch_cluster::worker::part_key(p.partition)), p.waiting > 0) {
                (Some(w), _) => format!("held by {w}"),
                (None, true) => "a worker is attached".to_string(),
                (None, false) => "no worker holds it".to_string(),
            }
        ));
    }
    out.line(format!(
        "  incident stage  {}, {} alert batch(es) waiting",
        match s.holder(wardwatch_cluster::incidents::LEASE) {
            Some(w) => format!("active in {w}"),
            None => "no process holds it".to_string(),
        },
        s.alerts_pending
    ));
    if missing {
        out.failed.push("NATS");
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
