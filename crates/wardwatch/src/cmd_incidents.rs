//! `wardwatch incidents list|show`: incidents and their narratives in the terminal, read from
//! the store (a running server's too: SQLite lets readers in beside it).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use wardwatch_core::Severity;
use wardwatch_store::{Db, DbOptions, IncidentFilter};

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents, most recent activity first.
    List(ListArgs),
    /// Show one incident: its narrative, score, timeline and history.
    Show(ShowArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct Where {
    /// Data directory of the store (as given to `serve --data`).
    #[arg(long, default_value = "./wardwatch-data")]
    data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    at: Where,
    /// Only this status: new, acknowledged, resolved.
    #[arg(long)]
    status: Option<String>,
    /// Only incidents at least this severe.
    #[arg(long, default_value = "informational")]
    min_severity: Severity,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The incident id (from `incidents list`).
    id: String,
    #[command(flatten)]
    at: Where,
}

fn open(at: &Where) -> Result<Db> {
    if !at.data.join(wardwatch_store::FILE_NAME).exists() {
        bail!(
            "no store in `{}` (start `wardwatch serve --data {}` or `wardwatch demo` first, or pass --data)",
            at.data.display(),
            at.data.display()
        );
    }
    Db::open(&at.data, &DbOptions::default())
        .with_context(|| format!("cannot open the store in `{}`", at.data.display()))
}

pub fn run(cmd: IncidentsCommand) -> Result<ExitCode> {
    match cmd {
        IncidentsCommand::List(a) => list(a),
        IncidentsCommand::Show(a) => show(a),
    }
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let db = open(&a.at)?;
    let page = db.list_incidents(&IncidentFilter {
        status: a.status.clone(),
        min_severity: a.min_severity,
        limit: a.limit,
        // Whoever reads the store's files directly is its administrator: privacy incidents too.
        privacy: wardwatch_store::PrivacyScope::With,
        ..IncidentFilter::default()
    })?;
    let mut views = Vec::new();
    for s in &page.incidents {
        views.push(wardwatch_console::incident_view(s).map_err(anyhow::Error::msg)?);
    }
    match a.at.format {
        Format::Json => {
            let list: Vec<_> = views.iter().map(|v| v.summary()).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"total": page.total, "incidents": list})
                )?
            );
        }
        Format::Text => {
            println!(
                "{:<20} {:<9} {:>6} {:<13} {:>6}  {:<30} {:<20} TITLE",
                "ID", "SEVERITY", "SCORE", "STATUS", "ALERTS", "HOSTS", "USERS"
            );
            for v in &views {
                let i = &v.incident;
                println!(
                    "{:<20} {:<9} {:>6.1} {:<13} {:>6}  {:<30} {:<20} {}",
                    i.id,
                    i.severity.as_str(),
                    i.score,
                    v.lifecycle.status.as_str(),
                    i.alert_count,
                    cut(&i.hosts.join(","), 30),
                    cut(&i.users.join(","), 20),
                    i.title
                );
            }
            println!(
                "{} of {} incident(s). `wardwatch incidents show ID --data {}` tells the story.",
                views.len(),
                page.total,
                a.at.data.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let db = open(&a.at)?;
    let Some(stored) = db.incident(&a.id)? else {
        bail!("no incident `{}` in `{}`", a.id, a.at.data.display());
    };
    let v = wardwatch_console::incident_view(&stored).map_err(anyhow::Error::msg)?;
    match a.at.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&v.full())?),
        Format::Text => print!("{}", v.to_text()),
    }
    Ok(ExitCode::SUCCESS)
}
