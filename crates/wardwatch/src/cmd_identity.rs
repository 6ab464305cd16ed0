//! `wardwatch identity usage USER`: where and how an account was used (hosts, source
//! addresses, devices, applications, logon types, countries; first and last seen; counts),
//! from the store's identity ledger — a running server's too (SQLite lets readers in beside
//! it), or with `-c` naming `[store] state` from a cluster's shared ledger in PostgreSQL
//! (`state_target`). `wardwatch identity load PATH...` folds log files into a store's ledger offline, the
//! way `serve` folds what it receives (a review of an export, a benchmark).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use wardwatch_store::{Db, DbOptions, IdentityUsage, LedgerBatch, UsageKind};

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Where and how an account was used over a period (default: the last seven days).
    Usage(UsageArgs),
    /// Read log files and folders into a store's identity ledger (offline; each run adds).
    Load(LoadArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// The account (`n.jansen`, `HOSP\n.jansen` and `N.Jansen` are one account).
    user: String,
    #[command(flatten)]
    target: crate::state_target::Target,
    /// Start of the period: RFC 3339 (`2026-12-01T00:00:00Z`) or a date (`2026-12-01`, UTC).
    /// Default: seven days before `--to`.
    #[arg(long)]
    from: Option<String>,
    /// End of the period (same forms; a date means the whole day). Default: now.
    #[arg(long)]
    to: Option<String>,
    /// Only this organization (default: all).
    #[arg(long)]
    org: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Files and folders to read (every format `hunt` reads).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Data directory of the store (created when missing).
    #[arg(long, default_value = "./wardwatch-data")]
    data: PathBuf,
    /// A MaxMind-format GeoIP database (`.mmdb`), for the countries of source addresses (as
    /// `serve`'s `identity.geoip`). Without it: only the countries Entra and Okta report.
    #[arg(long, value_name = "FILE")]
    geoip: Option<PathBuf>,
}

pub fn run(cmd: IdentityCommand) -> Result<ExitCode> {
    match cmd {
        IdentityCommand::Usage(a) => usage(a),
        IdentityCommand::Load(a) => load(a),
    }
}

/// A time given on the command line; a bare date is the start of that UTC day, or with
/// `end` its last instant.
fn parse_time(flag: &str, text: &str, end: bool) -> Result<jiff::Timestamp> {
    let t = text.trim();
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let date: jiff::civil::Date = t.parse().with_context(|| {
        format!("--{flag}: `{t}` is not a time (use 2026-12-01T08:00:00Z or 2026-12-01)")
    })?;
    let start = date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .with_context(|| format!("--{flag}: `{t}` is out of range"))?
        .timestamp();
    Ok(if end {
        start + jiff::SignedDuration::from_secs(86_399)
    } else {
        start
    })
}

fn usage(a: UsageArgs) -> Result<ExitCode> {
    let to = match &a.to {
        Some(t) => parse_time("to", t, true)?,
        None => jiff::Timestamp::now(),
    };
    let from = match &a.from {
        Some(t) => parse_time("from", t, false)?,
        None => to - jiff::SignedDuration::from_hours(24 * 7),
    };
    if from > to {
        bail!("--from ({from}) is after --to ({to})");
    }
    let (db, place) = a.target.open_store()?;
    let orgs = a.org.clone().map(|o| vec![o]);
    let found = db
        .identity_usage(&a.user, orgs.as_deref(), from, to)
        .with_context(|| format!("cannot read the identity ledger in {place}"))?;
    let Some(u) = found else {
        eprintln!("no use of account `{}` is recorded in {place}", a.user);
        return Ok(ExitCode::from(1));
    };
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&u)?),
        Format::Table => print!("{}", table(&u)),
    }
    Ok(ExitCode::SUCCESS)
}

fn minute(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M").to_string()
}

fn heading(kind: UsageKind) -> &'static str {
    match kind {
        UsageKind::Host => "Hosts",
        UsageKind::Source => "Source addresses",
        UsageKind::Device => "Devices",
        UsageKind::Application => "Applications",
        UsageKind::LogonType => "Logon types",
        UsageKind::Country => "Countries",
    }
}

/// The answer as text for a terminal.
fn table(u: &IdentityUsage) -> String {
    use std::fmt::Write;
    let last_day = u.to - jiff::SignedDuration::from_secs(1);
    let mut out = format!(
        "{} from {} to {} (whole UTC days)",
        u.account,
        u.from.strftime("%Y-%m-%d"),
        last_day.strftime("%Y-%m-%d")
    );
    if !u.organizations.is_empty() {
        let _ = write!(out, ", organizations: {}", u.organizations.join(", "));
    }
    out.push('\n');
    let (Some(first), Some(last)) = (u.first_seen, u.last_seen) else {
        out.push_str("no use in this period\n");
        return out;
    };
    let _ = writeln!(
        out,
        "{} uses ({} succeeded, {} failed), first {} UTC, last {} UTC",
        u.uses,
        u.succeeded,
        u.failed,
        minute(first),
        minute(last)
    );
    for kind in UsageKind::ALL {
        let places = u.places(kind);
        if places.is_empty() {
            continue;
        }
        let width = places
            .iter()
            .map(|p| p.value.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(5, 48);
        let _ = writeln!(out, "\n{}", heading(kind));
        let _ = writeln!(
            out,
            "  {:<width$}  {:>7}  {:>7}  {:>7}  {:<16}  {:<16}",
            "VALUE", "USES", "OK", "FAILED", "FIRST SEEN", "LAST SEEN"
        );
        for p in places {
            let _ = writeln!(
                out,
                "  {:<width$}  {:>7}  {:>7}  {:>7}  {:<16}  {:<16}{}",
                p.value,
                p.uses,
                p.succeeded,
                p.failed,
                minute(p.first_seen),
                minute(p.last_seen),
                if p.new { "  new" } else { "" }
            );
        }
    }
    out
}

/// Uses folded before a commit.
const LOAD_COMMIT_EVERY: usize = 50_000;

fn load(a: LoadArgs) -> Result<ExitCode> {
    let (files, problems) = wardwatch_hunt::log_files(&a.paths);
    for p in &problems {
        eprintln!("wardwatch: {}: {}", p.path.display(), p.reason);
    }
    if files.is_empty() {
        bail!("no log files in the paths given");
    }
    std::fs::create_dir_all(&a.data)
        .with_context(|| format!("cannot create `{}`", a.data.display()))?;
    let mut db = Db::open(&a.data, &DbOptions::default())
        .with_context(|| format!("cannot open the store in `{}`", a.data.display()))?;
    let places = match &a.geoip {
        Some(path) => {
            let mut dir = wardwatch_detect::analytics::identity::Directory::default();
            dir.set_geoip(
                wardwatch_server::identity::load_geoip(path)
                    .map_err(|e| anyhow::anyhow!("--geoip {e}"))?,
            );
            Some(std::sync::Arc::new(dir))
        }
        None => None,
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let (mut events, mut uses, mut warnings, mut pending) = (0u64, 0u64, 0u64, 0usize);
    let mut batch = LedgerBatch::default();
    for file in &files {
        let mut failed = None;
        let read = wardwatch_ingest::decode_file(
            file,
            threads,
            {
                let places = places.clone();
                move |r| r.map(|e| wardwatch_server::ledger::ledger_use(&e, places.as_deref()))
            },
            |item| match item.and_then(|r| r) {
                Ok(found) => {
                    events += 1;
                    if let Some(u) = found {
                        uses += 1;
                        pending += 1;
                        batch.add(&u);
                    }
                }
                Err(_) => warnings += 1,
            },
        );
        if let Err(e) = read {
            eprintln!("wardwatch: {}: {e}", file.display());
        }
        if pending >= LOAD_COMMIT_EVERY {
            failed = db.record_identity_uses(&batch).err();
            batch = LedgerBatch::default();
            pending = 0;
        }
        if let Some(e) = failed {
            return Err(e).context("cannot write the identity ledger");
        }
    }
    db.record_identity_uses(&batch)
        .context("cannot write the identity ledger")?;
    let rows = db.ledger_rows()?;
    eprintln!(
        "{} files, {events} events, {uses} identity uses recorded in `{}` (the ledger holds {rows} rows){}",
        files.len(),
        a.data.display(),
        if warnings > 0 {
            format!(" ({warnings} records skipped)")
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
