//! `wardwatch incidents list|show|ack|resolve|comment`: incidents and their narratives in the
//! terminal, and the analysts' actions on them, in the store (a running server's too: SQLite
//! lets readers in beside it), or with `-c` naming `[store] state` in a cluster's shared state,
//! where every API node sees an action at once (`state_target`). An action is applied as the
//! console applies it (the incident's lifecycle, one transaction) and written to the audit log.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use wardwatch_core::Severity;
use wardwatch_incidents::{LifecycleError, Resolution};
use wardwatch_store::{IncidentFilter, LifecycleUpdate, Store};

use crate::state_target::Target;

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents, most recent activity first.
    List(ListArgs),
    /// Show one incident: its narrative, score, timeline and history.
    Show(ShowArgs),
    /// Acknowledge an incident (new → acknowledged: someone is looking at it).
    Ack(ActArgs),
    /// Resolve an incident with its conclusion.
    Resolve(ResolveArgs),
    /// Add a note to an incident.
    Comment(CommentArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct Where {
    #[command(flatten)]
    target: Target,
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

#[derive(Debug, Args)]
pub struct ActArgs {
    /// The incident id (from `incidents list`).
    id: String,
    #[command(flatten)]
    target: Target,
    /// Who acts (default `cli:$USER`), as the incident's history and the audit log show.
    #[arg(long)]
    actor: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    act: ActArgs,
    /// The conclusion: true-positive, false-positive or benign.
    #[arg(long = "as", value_name = "RESOLUTION")]
    resolution: String,
    /// A note kept with the resolution.
    #[arg(long)]
    note: Option<String>,
}

#[derive(Debug, Args)]
pub struct CommentArgs {
    #[command(flatten)]
    act: ActArgs,
    /// The note.
    text: String,
}

pub fn run(cmd: IncidentsCommand) -> Result<ExitCode> {
    match cmd {
        IncidentsCommand::List(a) => list(a),
        IncidentsCommand::Show(a) => show(a),
        IncidentsCommand::Ack(a) => act(&a, "acknowledge", String::new(), &mut |i, who, now| {
            i.acknowledge(who, now)
        }),
        IncidentsCommand::Resolve(r) => {
            let resolution = [
                Resolution::TruePositive,
                Resolution::FalsePositive,
                Resolution::Benign,
            ]
            .into_iter()
            .find(|x| x.as_str() == r.resolution.trim())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--as `{}`: the conclusions are true-positive, false-positive and benign",
                    r.resolution
                )
            })?;
            let detail = [Some(resolution.as_str().to_string()), r.note.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
            act(&r.act, "resolve", detail, &mut |i, who, now| {
                i.resolve(resolution, who, r.note.clone(), now)
            })
        }
        IncidentsCommand::Comment(c) => {
            if c.text.trim().is_empty() {
                bail!("the comment is empty");
            }
            act(&c.act, "comment", c.text.clone(), &mut |i, who, now| {
                i.comment(who, &c.text, now)
            })
        }
    }
}

/// A lifecycle change of an incident.
type Change<'a> = dyn FnMut(&mut wardwatch_incidents::Incident, &str, jiff::Timestamp) -> Result<(), LifecycleError>
    + 'a;

/// Apply `change` to incident `a.id` in one transaction of the store, as the console does, and
/// write it to the audit log (`incident.ACTION`, as the console names it).
fn act(a: &ActArgs, action: &str, detail: String, change: &mut Change<'_>) -> Result<ExitCode> {
    let (mut db, place) = a.target.open_store()?;
    let actor = a
        .actor
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(crate::cmd_users::cli_actor);
    let changed = wardwatch_store::update_lifecycle(&mut *db, &a.id, |stored| {
        let mut view = wardwatch_console::incident_view(stored).map_err(anyhow::Error::msg)?;
        view.act(|i| change(i, &actor, jiff::Timestamp::now()))?;
        let lc = &view.lifecycle;
        let update = LifecycleUpdate {
            status: lc.status.as_str().to_string(),
            resolution: lc.resolution.map(|r| r.as_str().to_string()),
            assignee: lc.assignee.clone(),
            lifecycle: serde_json::to_string(lc)?,
        };
        Ok::<_, anyhow::Error>((update, view))
    })?;
    let Some(view) = changed else {
        bail!("no incident `{}` in {place}", a.id);
    };
    db.audit(&wardwatch_store::AuditRecord {
        actor: actor.clone(),
        action: format!("incident.{action}"),
        target: format!("incident:{}", a.id),
        org: view.incident.organization.clone(),
        addr: "cli".into(),
        detail,
    })
    .map_err(|e| anyhow::anyhow!("cannot write the audit log in {place}: {e}"))?;
    println!(
        "{}\t{}\t{}",
        view.incident.id,
        view.lifecycle.status.as_str(),
        view.incident.title
    );
    Ok(ExitCode::SUCCESS)
}

fn stored_view(db: &dyn Store, id: &str, place: &str) -> Result<wardwatch_incidents::IncidentView> {
    let Some(stored) = db.incident(id)? else {
        bail!("no incident `{id}` in {place}");
    };
    wardwatch_console::incident_view(&stored).map_err(anyhow::Error::msg)
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let (db, place) = a.at.target.open_store()?;
    let page = db
        .list_incidents(&IncidentFilter {
            status: a.status.clone(),
            min_severity: a.min_severity,
            limit: a.limit,
            // Whoever reads the store's files directly is its administrator: privacy incidents too.
            privacy: wardwatch_store::PrivacyScope::With,
            ..IncidentFilter::default()
        })
        .map_err(|e| anyhow::anyhow!("cannot list the incidents in {place}: {e}"))?;
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
                "{} of {} incident(s) in {place}. `wardwatch incidents show ID` (with the same -c or --data) tells the story.",
                views.len(),
                page.total,
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
    let (db, place) = a.at.target.open_store()?;
    let v = stored_view(&*db, &a.id, &place)?;
    match a.at.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&v.full())?),
        Format::Text => print!("{}", v.to_text()),
    }
    Ok(ExitCode::SUCCESS)
}
