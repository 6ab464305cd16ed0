//! `wardwatch report --data DIR --period week|month [--end DATE] [--to ADDR]... [--out FILE]`:
//! the management report of a store, as HTML (and text), mailed when asked. With `-c` naming
//! `[store] state` the figures are a cluster's: incidents from PostgreSQL, alerts and events
//! from ClickHouse (`state_target`), the same `report::gather` the console and the scheduled
//! report use.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;
use wardwatch_incidents::{Context, Inventory, Roster};
use wardwatch_notify::{Content, Deliverer, Recipient, report};

use crate::state_target::Target;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The store: `--data DIR` (default ./wardwatch-data), or `-c FILE`, the configuration
    /// `serve` reads (its inventory, roster, console address, SMTP; its `[store]` when set,
    /// else its `data.dir`).
    #[command(flatten)]
    target: Target,
    /// `week` (the 7 days before --end) or `month` (the calendar month before --end's).
    #[arg(long, default_value = "week")]
    period: String,
    /// End of the period, exclusive (YYYY-MM-DD, UTC); default today.
    #[arg(long, value_name = "DATE")]
    end: Option<String>,
    /// Mail the report to this address (needs --config with [notify.smtp]); repeatable.
    #[arg(long, value_name = "ADDR")]
    to: Vec<String>,
    /// Write the HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn context(config: &wardwatch_server::Config, data: Option<&Path>) -> Context {
    let pick = |configured: &Path, demo: &str| -> Option<PathBuf> {
        if !configured.as_os_str().is_empty() {
            Some(configured.to_path_buf())
        } else {
            data.map(|d| d.join(demo)).filter(|p| p.is_file())
        }
    };
    let mut ctx = Context::default();
    if let Some(p) = pick(&config.incidents.inventory, "demo-inventory.csv")
        && let Ok(text) = std::fs::read_to_string(&p)
    {
        ctx.inventory = Inventory::load_partial(&p.display().to_string(), &text).0;
    }
    if let Some(p) = pick(&config.incidents.roster, "demo-roster.csv")
        && let Ok(text) = std::fs::read_to_string(&p)
    {
        ctx.roster = Roster::load_partial(&p.display().to_string(), &text).0;
    }
    ctx
}

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let config = match args.target.config_file() {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            let c = wardwatch_server::Config::from_toml(&text)
                .with_context(|| format!("in `{}`", path.display()))?;
            c.notify
                .validate()
                .with_context(|| format!("in `{}`", path.display()))?;
            c
        }
        None => wardwatch_server::Config::default(),
    };
    for a in &args.to {
        wardwatch_notify::config::parse_address(a).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    }
    if !args.to.is_empty() && config.notify.smtp.is_none() {
        anyhow::bail!("--to needs --config FILE with [notify.smtp] to send the report");
    }
    let end = match &args.end {
        Some(d) => format!("{d}T00:00:00Z")
            .parse::<jiff::Timestamp>()
            .map_err(|e| anyhow::anyhow!("--end `{d}`: not a date YYYY-MM-DD ({e})"))?,
        None => jiff::Timestamp::now(),
    };
    let (from, to) =
        wardwatch_server::report::period(&args.period, end).map_err(|e| anyhow::anyhow!(e))?;
    let (db, place) = args.target.open_store()?;
    let ctx = context(&config, args.target.local_dir().as_deref());
    let data = wardwatch_server::report::gather(&*db, &args.period, from, to, &ctx)
        .with_context(|| format!("cannot read the report's figures from {place}"))?;
    let mail = report::render(&data, &config.notify.console_url);
    eprintln!("wardwatch: {}", mail.subject);
    if let Some(out) = &args.out {
        std::fs::write(out, &mail.html)
            .with_context(|| format!("cannot write `{}`", out.display()))?;
        eprintln!("  written to {}", out.display());
    }
    if args.out.is_none() && args.to.is_empty() {
        print!("{}", mail.text);
    }
    if !args.to.is_empty() {
        let deliverer =
            Deliverer::new(&config.notify).map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let mut failed = 0;
        for a in &args.to {
            let id = format!("report/{}/{}/{a}", args.period, from.strftime("%Y-%m-%d"));
            let r = runtime.block_on(deliverer.send(
                &id,
                &Recipient::Mail(a.clone()),
                &Content::Mail(mail.clone()),
            ));
            match r {
                Ok(()) => eprintln!("  sent to {a}"),
                Err(e) => {
                    failed += 1;
                    eprintln!("  NOT sent to {a}: {}", e.message);
                }
            }
        }
        if failed > 0 {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}
