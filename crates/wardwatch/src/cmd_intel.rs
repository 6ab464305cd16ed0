//! `wardwatch intel`: threat intelligence files in (what they hold, what they skip), and the
//! loader `hunt --intel` uses.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use wardwatch_core::Event;
use wardwatch_detect::Detection;
use wardwatch_intel::IntelDetector;
use wardwatch_server::intel::read;

#[derive(Debug, Subcommand)]
pub enum IntelCommand {
    /// Read STIX 2.1 bundles, MISP events and IOC lists (files or folders) and say what each
    /// holds: indicators by kind, what was skipped and why, and files that are no
    /// intelligence (exit code 1 then).
    Check(CheckArgs),
    /// Turn an incident into a STIX 2.1 bundle for other hospitals: external addresses,
    /// domains, URLs, hashes, sender addresses, subjects and ATT&CK techniques, with a short
    /// description; internal addresses and names, staff, patients and free text quoting them
    /// are withheld (listed on standard error with the reason). `--collection C` publishes it
    /// to a TAXII collection of `serve`, where partners fetch it.
    Share(ShareArgs),
    /// Retro-hunt: did what these indicators name already happen here? Every stored event of
    /// the look-back window is matched against them (as they are in force now), and each hit
    /// is reported as an alert naming the old event.
    Retro(RetroArgs),
    /// The partners' feeds `serve` polls (`[[intel.feeds]]`): each one's position, what it
    /// sent and holds, retro-hunts still owed, sightings sent, and its last error.
    Feeds(FeedsArgs),
    /// Where else what we shared was seen: the sightings partner hospitals posted back to
    /// our TAXII collections, newest first, with what each sighted.
    Sightings(SightingsArgs),
}

#[derive(Debug, Args)]
pub struct SightingsArgs {
    /// The store: `--data DIR`, or `-c FILE` (with `[store] state`, a cluster's shared state,
    /// where the incidents role queues the sightings).
    #[command(flatten)]
    target: crate::state_target::Target,
    /// The most sightings listed.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RetroFormat::Table)]
    format: RetroFormat,
}

#[derive(Debug, Args)]
pub struct FeedsArgs {
    /// The data folder of the store.
    #[arg(long, default_value = "wardwatch-data")]
    data: PathBuf,
    /// A cluster's configuration: with `[store] state`, the feeds' state is read there (the
    /// shared state the polling node writes) instead of `--data`.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// One JSON object a feed instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RetroArgs {
    /// Intelligence files or folders (STIX 2.1 bundles, MISP events, IOC lists).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The store: `--data DIR`, or `-c FILE` (with `[store]`, a cluster's events in
    /// ClickHouse).
    #[command(flatten)]
    target: crate::state_target::Target,
    /// How far back to look, in days.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// The organization whose events are searched.
    #[arg(long, default_value = wardwatch_core::DEFAULT_ORGANIZATION)]
    org: String,
    /// Output format of what was found.
    #[arg(long, value_enum, default_value_t = RetroFormat::Table)]
    format: RetroFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RetroFormat {
    Table,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The incident id (`wardwatch incidents list`).
    incident: String,
    /// The store: `--data DIR`, or `-c FILE`, the configuration `serve` reads (its
    /// collections, producer name, own mail domains and context folder are used unless given
    /// here; with `[store] state`, the incident and the collections are a cluster's).
    #[command(flatten)]
    target: crate::state_target::Target,
    /// Publish to this TAXII collection (alias or id, from [[taxii.collections]]): partners
    /// fetch it from `serve`'s TAXII server.
    #[arg(long, value_name = "COLLECTION")]
    collection: Option<String>,
    /// The context folder (inventory.csv, roster.csv: whose names and addresses stay home).
    #[arg(long, value_name = "DIR")]
    context: Option<PathBuf>,
    /// The hospital's own mail and web domains (repeatable); the roster's mail domains count too.
    #[arg(long = "own-domain", value_name = "DOMAIN")]
    own_domains: Vec<String>,
    /// The producing hospital's name, as partners know it (default: [taxii] producer, else
    /// "Wardwatch site").
    #[arg(long)]
    producer: Option<String>,
    /// TLP 2.0 marking: clear, green, amber, amber+strict, red.
    #[arg(long, default_value = "amber", value_parser = parse_tlp)]
    tlp: wardwatch_intel::Tlp,
    /// Print the bundle exactly as it would be published, and publish nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write the bundle to this file (to send to a partner).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

fn parse_tlp(s: &str) -> Result<wardwatch_intel::Tlp, String> {
    wardwatch_intel::Tlp::parse(s)
        .ok_or_else(|| format!("`{s}`: expected clear, green, amber, amber+strict or red"))
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// List every skipped object or line with its reason.
    #[arg(long, short = 'v')]
    verbose: bool,
}

pub fn run(cmd: IntelCommand) -> Result<ExitCode> {
    match cmd {
        IntelCommand::Check(args) => check(args),
        IntelCommand::Share(args) => share(args),
        IntelCommand::Retro(args) => retro(args),
        IntelCommand::Feeds(args) => feeds(args),
        IntelCommand::Sightings(args) => sightings(args),
    }
}

fn check(args: CheckArgs) -> Result<ExitCode> {
    let mut failed = 0;
    let mut total = 0;
    for f in read(&args.paths) {
        match &f.result {
            Ok(got) => {
                let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
                for i in &got.indicators {
                    *kinds.entry(i.kind.as_str()).or_default() += 1;
                }
                total += got.indicators.len();
                let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
                println!(
                    "{}: {} indicator(s){}{}",
                    f.path.display(),
                    got.indicators.len(),
                    if kinds.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", kinds.join(", "))
                    },
                    if got.skipped.is_empty() {
                        String::new()
                    } else {
                        format!("; {} skipped", got.skipped.len())
                    }
                );
                if args.verbose {
                    for s in &got.skipped {
                        println!("  skipped {}: {}", s.what, s.reason);
                    }
                }
            }
            Err(e) => {
                failed += 1;
                println!("{}: error: {e}", f.path.display());
            }
        }
    }
    println!("{total} indicator(s); {failed} file(s) refused");
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The indicators of `paths` for `hunt --intel`: every file must import (a refused file is an
/// error naming it, not a silently smaller set).
pub fn load_for_hunt(paths: &[PathBuf], quiet: bool) -> Result<Arc<HuntIntel>> {
    let set = wardwatch_server::intel::load(paths)
        .map_err(anyhow::Error::msg)
        .context("--intel")?;
    if !quiet {
        eprintln!("wardwatch: {} indicator(s) to match", set.len());
    }
    Ok(Arc::new(HuntIntel(IntelDetector::new(Arc::new(set)))))
}

/// The indicators beside the rules in `hunt`: judged at each event's own time (an indicator
/// valid last March matches last March's logs).
pub struct HuntIntel(IntelDetector);

impl wardwatch_hunt::EventDetector for HuntIntel {
    fn detect(&self, event: &Event) -> Vec<Detection> {
        self.0.detect(event, None)
    }
}

fn share(args: ShareArgs) -> Result<ExitCode> {
    use wardwatch_server::taxii::publish::{self, ShareSettings};
    if !args.dry_run && args.output.is_none() && args.collection.is_none() {
        bail!(
            "say --collection C to publish, --dry-run to see the bundle, or -o FILE to write it for a partner"
        );
    }
    let config = match args.target.config_file() {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            wardwatch_server::Config::from_toml(&text)
                .with_context(|| format!("in `{}`", path.display()))?
        }
        None => wardwatch_server::Config::default(),
    };
    let taxii = config
        .taxii
        .setup()
        .map_err(anyhow::Error::msg)
        .with_context(|| "[taxii]")?;
    let (mut db, place) = args.target.open_store()?;
    if args.target.config_file().is_some() {
        db.taxii_set_collections(&taxii.collections)?;
    }
    let context = args.context.clone().or_else(|| {
        let c = &config.incidents.context;
        (!c.as_os_str().is_empty()).then(|| c.clone())
    });
    let ctx = match &context {
        Some(dir) => {
            let (ctx, problems) = wardwatch_server::context::load_dir(dir)
                .with_context(|| format!("cannot read the context folder {}", dir.display()))?;
            for p in problems {
                eprintln!("wardwatch: context: {p}");
            }
            ctx
        }
        None => wardwatch_incidents::Context::default(),
    };
    let mut own_domains = args.own_domains.clone();
    own_domains.extend(config.mail.own_domains.iter().cloned());
    let settings = ShareSettings {
        producer: args
            .producer
            .clone()
            .unwrap_or_else(|| config.taxii.producer.clone()),
        own_domains,
        ctx: Arc::new(ctx),
        unmarked: taxii.unmarked,
    };
    // A dry run publishes nothing, whatever else is asked.
    let target = if args.dry_run {
        None
    } else {
        args.collection.as_deref()
    };
    let out = publish::publish(&mut *db, &args.incident, target, args.tlp, &settings)
        .with_context(|| format!("in {place}"))?;
    let json = serde_json::to_string_pretty(&out.share.bundle)?;
    for (what, why) in &out.share.withheld {
        eprintln!("withheld {what}: {why}");
    }
    eprintln!(
        "wardwatch: {} indicator(s), {} technique(s), {} value(s) withheld; TLP:{}",
        out.share.kept.len(),
        out.share.techniques.len(),
        out.share.withheld.len(),
        args.tlp.as_str().to_ascii_uppercase()
    );
    if let Some(c) = &out.collection {
        eprintln!(
            "wardwatch: published to collection `{}` ({}): {} object(s) added, {} already there",
            c.alias, c.id, out.added, out.present
        );
    }
    if let Some(path) = &args.output {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    if args.dry_run {
        println!("{json}");
    }
    Ok(ExitCode::SUCCESS)
}

fn retro(args: RetroArgs) -> Result<ExitCode> {
    let set = load_for_hunt(&args.paths, true)?;
    let (db, place) = args.target.open_store()?;
    let now = jiff::Timestamp::now();
    let from = now - jiff::SignedDuration::from_hours(24 * i64::from(args.days));
    let mut findings = Vec::new();
    // Indicators as they are in force now, against events of the past.
    let read = wardwatch_server::intel::retro_hunt(
        &*db,
        &set.0,
        Some(&args.org),
        (from, now + jiff::SignedDuration::from_nanos(1), now),
        &|| true,
        &mut |entry, found| {
            for d in &found {
                findings.push(wardwatch_hunt::Finding::new(d, &entry.event));
            }
        },
    )
    .with_context(|| format!("cannot read the stored events in {place}"))?
    .events;
    let format = match args.format {
        RetroFormat::Table => wardwatch_hunt::output::OutputFormat::Table,
        RetroFormat::Jsonl => wardwatch_hunt::output::OutputFormat::Jsonl,
    };
    let mut out = std::io::stdout().lock();
    wardwatch_hunt::output::write_findings(&mut out, format, &findings)
        .context("cannot write what was found")?;
    eprintln!(
        "wardwatch: {} indicator(s) over {read} stored event(s) of the last {} day(s): {} hit(s)",
        set.0.set().len(),
        args.days,
        findings.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The feeds' state: the cluster's shared state when `config` names one, else the store in
/// `data`.
fn feed_statuses(args: &FeedsArgs) -> Result<Vec<wardwatch_store::FeedStatus>> {
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let config = wardwatch_server::Config::from_toml(&text)
            .with_context(|| format!("{} is not a valid configuration", path.display()))?;
        if config
            .store
            .as_ref()
            .is_some_and(|s| !s.state.trim().is_empty())
        {
            let open = wardwatch_server::roles::state_opener(&config)?;
            let store =
                open().with_context(|| format!("cannot open the [store] of {}", path.display()))?;
            return store.feed_statuses().context("cannot read the feeds");
        }
    }
    if !args.data.join(wardwatch_store::FILE_NAME).exists() {
        bail!("no store in `{}` (pass --data)", args.data.display());
    }
    let db = wardwatch_store::Db::open(&args.data, &wardwatch_store::DbOptions::default())
        .with_context(|| format!("cannot open the store in `{}`", args.data.display()))?;
    db.feed_statuses().context("cannot read the feeds")
}

fn feeds(args: FeedsArgs) -> Result<ExitCode> {
    let feeds = feed_statuses(&args)?;
    let time = |ns: Option<i64>| {
        ns.and_then(|n| jiff::Timestamp::from_nanosecond(i128::from(n)).ok())
            .map_or_else(
                || "-".to_string(),
                |t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
            )
    };
    if args.json {
        for f in &feeds {
            println!("{}", serde_json::to_string(f)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if feeds.is_empty() {
        println!("no feed has been polled (configure [[intel.feeds]] and run serve)");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<21} {:<21} {:>8} {:>10} {:>7} {:>6} {:>9}  position / last error",
        "feed",
        "last poll",
        "last success",
        "objects",
        "indicators",
        "revoked",
        "retro",
        "sightings"
    );
    for f in &feeds {
        let tail = match (&f.last_error, &f.position) {
            (Some(e), _) => format!("error ({} in a row): {e}", f.failures),
            (None, Some(p)) => p.clone(),
            (None, None) => "-".into(),
        };
        println!(
            "{:<20} {:<21} {:<21} {:>8} {:>10} {:>7} {:>6} {:>9}  {}",
            f.feed,
            time(f.polled),
            time(f.succeeded),
            f.objects,
            f.indicators,
            f.revoked,
            f.retro_pending,
            format!(
                "{}/{}",
                f.sightings_sent,
                f.sightings_sent + f.sightings_unsent
            ),
            tail
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn sightings(args: SightingsArgs) -> Result<ExitCode> {
    let (db, place) = args.target.open_store()?;
    let rows = db
        .taxii_sightings(args.limit)
        .with_context(|| format!("cannot read the sightings in {place}"))?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for row in &rows {
        let s = wardwatch_console::sighting_summary(row);
        match args.format {
            RetroFormat::Jsonl => println!("{s}"),
            RetroFormat::Table => println!(
                "{}  {:<20} {:<16} {}x  {} .. {}  {}",
                text(&s["received"]),
                text(&s["partner"]),
                text(&s["collection"]),
                text(&s["count"]),
                text(&s["first_seen"]),
                text(&s["last_seen"]),
                match (&s["of_name"], &s["of_pattern"]) {
                    (serde_json::Value::String(n), serde_json::Value::String(p)) => {
                        format!("{n}: {p}")
                    }
                    _ => text(&s["sighting_of"]),
                }
            ),
        }
    }
    eprintln!("wardwatch: {} sighting(s)", rows.len());
    Ok(ExitCode::SUCCESS)
}
