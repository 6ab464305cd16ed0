//! `wardwatch demo`: `serve` on a throw-away store, fed a generated hospital week with three
//! attack stories in it, so a newcomer sees explained incidents within a minute.
//!
//! The week goes through the same durable path as live traffic (decoders, journal, detection,
//! incidents); only the listeners are skipped, so the feed runs as fast as the pipeline takes it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use wardwatch_core::Origin;
use wardwatch_demo::{DemoConfig, Feed};
use wardwatch_listen::{Sink, SinkError};
use wardwatch_server::Tokens;

use crate::cmd_serve::{ServeArgs, wait_for_signal};

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Seed of the generated hospital (the same seed gives the same week).
    #[arg(long, default_value_t = DemoConfig::default().seed)]
    seed: u64,
    /// Write the week as files `wardwatch hunt` reads (plus inventory.csv, roster.csv,
    /// stories.json) into DIR, and exit.
    #[arg(long, value_name = "DIR")]
    generate_only: Option<PathBuf>,
    /// Volume of the benign background (1.0 = a scaled-down week of a 700-bed hospital).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Days generated, ending today (the stories fall in the first week): 30 gives the month
    /// the identity ledger's benchmark asks about.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=366))]
    days: u32,
    /// Write a month of EHR record access (the privacy analytics' test month: `audit.ndjson`
    /// of FHIR AuditEvents, `context/` with roster.csv, patients.csv and encounters.csv, and
    /// `planted.csv` listing the planted cases) into DIR, and exit. Try it with
    /// `wardwatch hunt DIR/audit.ndjson --context DIR/context`.
    #[arg(long, value_name = "DIR", conflicts_with = "generate_only")]
    ehr_month: Option<PathBuf>,
    /// Write the network week (the network analytics' test week: `zeek.json` of Zeek JSON
    /// logs, `context/` with inventory.csv and zones.csv, `planted.csv` listing the planted
    /// cases) into DIR, and exit; --scale sets its volume (1.0: about 40 records per
    /// workstation and working hour). Try it with
    /// `wardwatch hunt DIR/zeek.json --context DIR/context` or `--summary network`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["generate_only", "ehr_month"])]
    network_week: Option<PathBuf>,
}

/// The demo week (or `--days`) ends today: it starts at midnight (UTC) that many days ago.
fn demo_config(args: &DemoArgs) -> DemoConfig {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .start_of_day()
        .map(|z| z.timestamp())
        .unwrap_or_else(|_| jiff::Timestamp::now());
    DemoConfig {
        seed: args.seed,
        start: today - jiff::SignedDuration::from_hours(24 * i64::from(args.days)),
        days: args.days,
        scale: args.scale,
    }
}

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let cfg = demo_config(&args);
    if let Some(dir) = &args.ehr_month {
        write_ehr_month(dir, args.seed, cfg.start)
            .with_context(|| format!("cannot write the EHR month into `{}`", dir.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(dir) = &args.network_week {
        write_network_week(dir, &cfg)
            .with_context(|| format!("cannot write the network week into `{}`", dir.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(dir) = &args.generate_only {
        let summary = wardwatch_demo::write_files(&cfg, dir)
            .with_context(|| format!("cannot write the demo week into `{}`", dir.display()))?;
        eprintln!(
            "wardwatch: demo week written to {}: {summary:?}",
            dir.display()
        );
        eprintln!("  try: wardwatch hunt {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut config = crate::cmd_serve::config(&args.serve)?;
    // A throw-away store unless --data (or a config file) says where.
    let throwaway = args.serve.data_given().is_none() && args.serve.config_given().is_none();
    if throwaway {
        config.data.dir =
            std::env::temp_dir().join(format!("wardwatch-demo-{}", std::process::id()));
    }
    std::fs::create_dir_all(&config.data.dir)
        .with_context(|| format!("cannot create `{}`", config.data.dir.display()))?;
    let (hospital, records) = wardwatch_demo::generate(&cfg);
    let inventory = config.data.dir.join("demo-inventory.csv");
    let roster = config.data.dir.join("demo-roster.csv");
    write(&inventory, &hospital.inventory_csv())?;
    write(&roster, &hospital.roster_csv())?;
    config.incidents.inventory = inventory;
    config.incidents.roster = roster;
    // The demo signs in out of the box (its store is throw-away); `serve` never does this.
    {
        let mut db = wardwatch_store::Db::open(&config.data.dir, &Default::default())
            .with_context(|| format!("cannot open the store in `{}`", config.data.dir.display()))?;
        if db.account("demo")?.is_none() {
            crate::cmd_users::add(
                &mut db,
                "demo",
                wardwatch_console::Role::Admin,
                &["*".to_string()],
                "demo",
            )?;
        }
    }
    let mut tokens = crate::cmd_serve::env_tokens();
    if tokens.api.is_empty() {
        tokens.api.push("demo".into());
    }
    if tokens.ingest.is_empty() {
        tokens.ingest.push("demo".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("wardwatch-io")
        .build()
        .context("cannot start the async runtime")?;
    let data = config.data.dir.clone();
    let code = runtime.block_on(demo(config, tokens, records));
    if throwaway {
        let _ = std::fs::remove_dir_all(&data);
    }
    code
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))
}

async fn demo(
    config: wardwatch_server::Config,
    tokens: Tokens,
    records: Vec<wardwatch_demo::Record>,
) -> Result<ExitCode> {
    let (pack, _) = crate::pack::load_configured(&config.rules)?;
    let data = config.data.dir.clone();
    let running = wardwatch_server::start(config, pack, tokens.clone())
        .await
        .with_context(|| format!("cannot start the server (data in `{}`)", data.display()))?;
    let api = tokens.api.first().cloned().unwrap_or_default();
    eprintln!(
        "wardwatch demo: serving on http://{} with {} rule(s); data in {} (removed on exit unless --data)",
        running.http,
        running.rules,
        data.display()
    );
    eprintln!(
        "  feeding a generated hospital week: {} records...",
        records.len()
    );
    let sink = running.sink().context("the pipeline is not running")?;
    let started = Instant::now();
    let total = records.len();
    // Batches the size a shipper sends: the writer's queue holds a number of batches, so
    // small ones keep the memory the feed takes small.
    const BATCH: usize = 500;
    let mut batch = Vec::with_capacity(BATCH);
    let mut fed = 0usize;
    for r in records {
        let origin = Origin {
            source: "demo".into(),
            ..Origin::default()
        };
        let event = match r.feed {
            Feed::Bulk(doc, _) => {
                match wardwatch_ingest::jsonl::decode_line(doc.as_bytes(), origin) {
                    Ok(e) => e,
                    Err(reason) => {
                        tracing::warn!(reason, "demo record not decoded");
                        continue;
                    }
                }
            }
            Feed::Syslog(line) => wardwatch_ingest::syslog::decode_line_at(&line, origin, r.time),
        };
        batch.push(event);
        if batch.len() == batch.capacity() {
            fed += batch.len();
            submit(&sink, std::mem::take(&mut batch)).await?;
            batch.reserve(BATCH);
            if fed % 50_000 < BATCH {
                eprintln!(
                    "  {fed}/{total} records ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    fed += batch.len();
    submit(&sink, batch).await?;
    while running.queued() > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The last detection commit (incidents included) follows the cursor by one pass.
    tokio::time::sleep(Duration::from_millis(300)).await;
    eprintln!(
        "  fed {fed} records in {:.1} s; every one stored and checked.",
        started.elapsed().as_secs_f64()
    );
    eprintln!();
    eprintln!(
        "Incidents (terminal):  wardwatch incidents list --data {} --min-severity medium",
        data.display()
    );
    eprintln!(
        "                       wardwatch incidents show ID --data {}",
        data.display()
    );
    eprintln!(
        "Incidents (API):       curl -H 'Authorization: Bearer {api}' 'http://{}/api/v1/incidents?min_severity=medium'",
        running.http
    );
    eprintln!(
        "Console:               http://{}/  (account `demo`, password `demo`)",
        running.http
    );
    eprintln!("Still serving; Ctrl-C stops (and removes a throw-away store).");
    wait_for_signal().await?;
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn submit(sink: &impl Sink, batch: Vec<wardwatch_core::Event>) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    // Wait while detection is far behind, so the batch is not refused as busy.
    while let Some(retry_after) = sink.busy() {
        tokio::time::sleep(retry_after.min(Duration::from_millis(200))).await;
    }
    sink.submit(batch)
        .await
        .map_err(|e: SinkError| anyhow::anyhow!("the store refused demo events: {e}"))
}

/// The network week of `cfg` (its seed, start, days and scale), as files.
fn write_network_week(dir: &Path, cfg: &DemoConfig) -> Result<()> {
    use std::io::Write as _;
    let net = wardwatch_demo::network::NetConfig {
        seed: cfg.seed,
        start: cfg.start,
        days: cfg.days,
        scale: cfg.scale,
        plant: true,
    };
    let week = wardwatch_demo::network::generate(&net, &wardwatch_demo::Hospital::new(cfg.seed));
    let ctx = dir.join("context");
    std::fs::create_dir_all(&ctx)?;
    write(&ctx.join("inventory.csv"), &week.site.inventory_csv())?;
    write(&ctx.join("zones.csv"), &week.site.zones_csv())?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("zeek.json"))?);
    for (line, _) in &week.lines {
        writeln!(out, "{}", line.line)?;
    }
    out.flush()?;
    let mut planted = String::from("analytic,source,target,start\n");
    for p in &week.planted {
        planted.push_str(&format!(
            "{},{},{},{}\n",
            p.analytic,
            p.source,
            p.target.as_deref().unwrap_or(""),
            p.start
        ));
    }
    write(&dir.join("planted.csv"), &planted)?;
    eprintln!(
        "wardwatch: network week written to {}: {} Zeek records, {} planted cases",
        dir.display(),
        week.lines.len(),
        week.planted.len()
    );
    eprintln!(
        "  try: wardwatch hunt {0}/zeek.json --context {0}/context [--summary network]",
        dir.display()
    );
    Ok(())
}

/// The month of EHR access of `seed`, ending where the demo week ends, as files.
fn write_ehr_month(dir: &std::path::Path, seed: u64, week_start: jiff::Timestamp) -> Result<()> {
    let start = week_start - jiff::SignedDuration::from_hours(24 * 23);
    let month = wardwatch_demo::ehr::generate_ehr(seed, start);
    let ctx = dir.join("context");
    std::fs::create_dir_all(&ctx)?;
    std::fs::write(ctx.join("roster.csv"), &month.roster_csv)?;
    std::fs::write(ctx.join("patients.csv"), &month.patients_csv)?;
    std::fs::write(ctx.join("encounters.csv"), &month.encounters_csv)?;
    std::fs::write(dir.join("audit.ndjson"), &month.audit_ndjson)?;
    let mut planted = String::from("kind,user,patient,at\n");
    for p in &month.planted {
        planted.push_str(&format!(
            "{},{},{},{}\n",
            p.kind.as_str(),
            p.user,
            p.patient.as_deref().unwrap_or(""),
            p.at
        ));
    }
    std::fs::write(dir.join("planted.csv"), planted)?;
    eprintln!(
        "wardwatch: EHR month written to {}: {} accesses, {} planted cases",
        dir.display(),
        month.accesses,
        month.planted.len()
    );
    eprintln!(
        "  try: wardwatch hunt {0}/audit.ndjson --context {0}/context",
        dir.display()
    );
    Ok(())
}
