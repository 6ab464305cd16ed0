//! `wardwatch hunt`: Sigma over the logs a hospital already has.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use wardwatch_core::Severity;
use wardwatch_detect::analytics::network::summary::Summariser;
use wardwatch_detect::{Correlator, Detector};
use wardwatch_hunt::output::{OutputFormat, write_findings, write_summary};
use wardwatch_hunt::{EventDetector, HuntOptions, hunt_full};

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// Log files and folders (folders are searched recursively; .gz, .zip and .tar[.gz] are read in place).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Sigma rule folders or files; repeatable. Without it, the built-in pack is used.
    #[arg(long = "rules", short = 'r')]
    rules: Vec<PathBuf>,
    /// Also load the built-in pack when --rules is given.
    #[arg(long)]
    with_builtin: bool,
    /// An optional community rule pack, by name (looked up in $WARDWATCH_PACK_PATH, a
    /// colon-separated list of folders) or by folder; repeatable. `hayabusa` is the Hayabusa
    /// project's own Sigma-format rules, loaded with the level policy the project ships for
    /// them (packs/hayabusa.yml; off by default: see bench/README.md).
    #[arg(long = "pack")]
    packs: Vec<String>,
    /// Report only detections at or above this level.
    #[arg(long, default_value = "informational", value_parser = parse_level)]
    min_level: Severity,
    /// Output format of the detections.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the detections to this file instead of standard output.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Threads to use (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Run the Sigma rules and correlations only, without the analytics (first-seen process
    /// pairs and services, signal bursts, remote execution, Kerberoasting, network scans and
    /// brute force).
    #[arg(long)]
    no_analytics: bool,
    /// The context folder (the one `serve` reads as `incidents.context`; every file optional):
    /// `inventory.csv` and `zones.csv` tell the network analytics each address's class and zone
    /// (a scanner, backup server or jump host from an attacker; what the segmentation policy
    /// allows); with `patients.csv` or `encounters.csv` (and `roster.csv`), EHR audit events
    /// (FHIR AuditEvent, ATNA) go through the privacy analytics too, names and addresses
    /// compared as keyed hashes under a key made for this run. Bad rows are reported and
    /// skipped.
    #[arg(long, value_name = "DIR")]
    context: Option<PathBuf>,
    /// A GeoIP database in MaxMind's format (.mmdb, GeoLite2/GeoIP2 City or Country) to place
    /// sign-in addresses for the identity analytics (a new country, impossible travel), as
    /// `serve`'s `identity.geoip`.
    #[arg(long, value_name = "FILE")]
    geoip: Option<PathBuf>,
    /// The hospital's time zone (IANA name, e.g. Europe/Amsterdam): privileged accounts used
    /// outside 07:00-19:00 on weekdays there are off-hours, as `serve`'s `identity.timezone`.
    #[arg(long, value_name = "ZONE")]
    timezone: Option<String>,
    /// Threat intelligence to match every event against: STIX 2.1 bundles, MISP events, IOC
    /// lists (files or folders; repeatable). A hit is an alert naming the file it came from.
    #[arg(long = "intel", value_name = "PATH")]
    intel: Vec<PathBuf>,
    /// Print a summary instead of the detections (they go to --output only): `network`, where
    /// and how many — per source the blind attempts, scans, lateral attempts and failed logons
    /// by target, subnet, zone and port; the host graph of administrative edges with counts,
    /// first-seen ones marked; the medical devices with their baseline and deviations. Text, or
    /// with --format jsonl the JSON that `GET /api/v1/network/summary` answers.
    #[arg(long, value_enum, value_name = "KIND")]
    summary: Option<SummaryKind>,
    /// With --summary: summarise from this time (RFC 3339); the 7 days before it are the
    /// baseline of first-seen edges, as in the API. Without it, the first day of the records is
    /// the baseline and everything is summarised.
    #[arg(long, requires = "summary")]
    from: Option<jiff::Timestamp>,
    /// With --summary: summarise up to this time (RFC 3339, excluded).
    #[arg(long, requires = "summary")]
    to: Option<jiff::Timestamp>,
    /// Print no progress bar and no summary.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SummaryKind {
    Network,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    Jsonl,
}

fn parse_level(s: &str) -> Result<Severity, String> {
    s.parse()
        .map_err(|e: wardwatch_core::ParseSeverityError| e.to_string())
}

pub fn run(args: HuntArgs) -> Result<ExitCode> {
    let packs = crate::pack::resolve_all(&args.packs)?;
    // Packs add to the built-in pack unless --rules names folders of its own.
    let with_builtin = args.with_builtin || (args.rules.is_empty() && !args.packs.is_empty());
    let (pack, read_problems) = crate::pack::load_with_packs(&args.rules, &packs, with_builtin);
    let policy_summary = crate::pack::policy_summary(&pack);
    let (detector, compile_problems) = Detector::build(&pack);
    let (correlator, corr_problems) = Correlator::build(&pack);
    let mut correlator = correlator.map(|c| {
        if args.no_analytics {
            c.without_analytics()
        } else {
            c
        }
    });
    // Which analytics the folder is for: privacy needs patients or encounters; a folder with
    // no context file at all is a mistake worth saying.
    let has = |dir: &std::path::Path, names: &[&str]| {
        names.iter().any(|n| {
            ["csv", "yaml", "yml"]
                .iter()
                .any(|e| dir.join(format!("{n}.{e}")).is_file())
        })
    };
    let privacy_files = args
        .context
        .as_deref()
        .is_some_and(|d| has(d, &["patients", "encounters"]));
    let mut context = wardwatch_incidents::Context::default();
    let mut topology = Arc::new(wardwatch_detect::analytics::network::Topology::default());
    if let Some(dir) = &args.context {
        if dir.is_dir() && !privacy_files && !has(dir, &["inventory", "roster", "zones"]) {
            bail!(
                "--context `{}` has no context file: neither patients.csv nor encounters.csv (privacy analytics) nor inventory.csv, roster.csv or zones.csv (network analytics)",
                dir.display()
            );
        }
        let (ctx, problems) = wardwatch_server::context::load_dir(dir)
            .with_context(|| format!("cannot read the context folder {}", dir.display()))?;
        for p in &problems {
            eprintln!("wardwatch: context row skipped: {p}");
        }
        topology = Arc::new(wardwatch_server::context::topology(&ctx));
        if let Some(c) = correlator.as_mut() {
            c.set_topology(topology.clone());
        }
        context = ctx;
    }
    // The identity analytics: roster and inventory from the context, GeoIP and working day
    // from the flags, as `serve` reads them from `[identity]`.
    if let Some(c) = correlator.as_mut() {
        let settings = wardwatch_server::identity::IdentitySection {
            geoip: args.geoip.clone().unwrap_or_default(),
            timezone: args.timezone.clone().unwrap_or_default(),
            ..Default::default()
        };
        let dir = wardwatch_server::identity::directory(&context, &settings)
            .map_err(|e| anyhow::anyhow!(e.replace("identity.", "--")))?;
        c.set_directory(Arc::new(dir));
    }
    let rule_problems =
        read_problems.len() + pack.problems().len() + compile_problems.len() + corr_problems.len();
    let correlations = pack.correlation_count();
    // The parsed rules are compiled now; free them before the hunt.
    drop(pack);
    if detector.rule_count() == 0 {
        bail!(
            "no usable rule ({rule_problems} problem(s)); run `wardwatch rules check` on the rule folders"
        );
    }
    if !args.quiet {
        if let Some(line) = &policy_summary {
            eprintln!("wardwatch: {line}");
        }
        eprintln!(
            "wardwatch: {} rule(s) loaded{}",
            detector.rule_count() + correlations,
            if rule_problems > 0 {
                format!(", {rule_problems} could not be loaded (see `wardwatch rules check`)")
            } else {
                String::new()
            }
        );
    }
    let opts = HuntOptions {
        paths: args.paths.clone(),
        min_level: args.min_level,
        threads: args.threads,
    };
    let bar = (!args.quiet && io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let mut privacy = match &args.context {
        Some(dir) if privacy_files => Some(crate::cmd_privacy::HuntPrivacy::load(dir, args.quiet)?),
        _ => None,
    };
    let mut network = args.summary.map(|SummaryKind::Network| {
        wardwatch_hunt::network::SummaryStage(Summariser::new(
            topology.clone(),
            args.from.map(|t| t.as_second()),
            args.to.map(|t| t.as_second()),
        ))
    });
    let mut extra: Vec<&mut dyn wardwatch_hunt::OrderedAnalytic> = Vec::new();
    if let Some(p) = privacy.as_mut() {
        extra.push(p);
    }
    if let Some(n) = network.as_mut() {
        extra.push(n);
    }
    let beside = if args.intel.is_empty() {
        None
    } else {
        Some(crate::cmd_intel::load_for_hunt(&args.intel, args.quiet)? as Arc<dyn EventDetector>)
    };
    let report = hunt_full(
        &opts,
        Arc::new(detector),
        beside,
        correlator,
        &mut extra,
        &|p| {
            if let Some(bar) = &bar {
                bar.set_length(p.bytes_total);
                bar.set_position(p.bytes_done);
                bar.set_message(format!(
                    "{}/{} files, {} events",
                    p.files_done, p.files_total, p.events
                ));
            }
        },
    );
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let format = match args.format {
        Format::Table => OutputFormat::Table,
        Format::Csv => OutputFormat::Csv,
        Format::Jsonl => OutputFormat::Jsonl,
    };
    drop(extra);
    let to_file = |path: &PathBuf| -> Result<Box<dyn Write>> {
        Ok(Box::new(BufWriter::new(File::create(path).with_context(
            || format!("cannot create `{}`", path.display()),
        )?)))
    };
    let findings_out: Option<Box<dyn Write>> = match (&args.output, &network) {
        (Some(path), _) => Some(to_file(path)?),
        (None, None) => Some(Box::new(BufWriter::new(io::stdout().lock()))),
        // The summary takes standard output.
        (None, Some(_)) => None,
    };
    if let Some(mut out) = findings_out {
        write_findings(&mut out, format, &report.findings).context("cannot write detections")?;
        out.flush().context("cannot write detections")?;
    }
    if let Some(stage) = &network {
        let summary = stage.0.finish();
        let mut out = BufWriter::new(io::stdout().lock());
        match format {
            OutputFormat::Jsonl => {
                serde_json::to_writer(&mut out, &summary).context("cannot write the summary")?;
                writeln!(out).context("cannot write the summary")?;
            }
            _ => wardwatch_hunt::network::write_network_summary(&mut out, &summary)
                .context("cannot write the summary")?,
        }
        out.flush().context("cannot write the summary")?;
    }
    if !args.quiet {
        write_summary(&mut io::stderr().lock(), &report.summary)?;
    }
    if report.summary.files_read == 0 {
        match report.summary.failures.first() {
            Some(f) => bail!("no file could be read (first: {}: {})", f.file, f.reason),
            None => bail!("no file could be read: no log file under the paths given"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
