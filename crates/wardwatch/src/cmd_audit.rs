//! `wardwatch audit`: check the audit log's hash chain, list entries — the data folder's, or
//! with `-c FILE` naming `[store] state` a cluster's shared one (`state_target`).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::state_target::Target;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that no entry was edited, deleted or moved; names the first broken entry.
    /// Exits 0 when intact, 1 when broken.
    Verify {
        #[command(flatten)]
        store: Target,
    },
    /// Print the newest entries (tab-separated).
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        store: Target,
    },
}

pub fn run(cmd: AuditCommand) -> Result<ExitCode> {
    match cmd {
        AuditCommand::Verify { store } => {
            let db = store.open()?;
            let v = db.verify_audit().context("cannot read the audit log")?;
            match v.broken {
                None => {
                    println!(
                        "audit log intact: {} entries, hash chain unbroken",
                        v.entries
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Some((seq, why)) => {
                    println!("audit log BROKEN at entry {seq}: {why}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        AuditCommand::List { limit, store } => {
            let db = store.open()?;
            for e in db.audit_entries(limit, None, None)? {
                let when = jiff::Timestamp::from_nanosecond(e.ts.into())
                    .map(|t| t.to_string())
                    .unwrap_or_default();
                println!(
                    "{}\t{when}\t{}\t{}\t{}\t{}\t{}\t{}",
                    e.seq, e.actor, e.action, e.target, e.org, e.addr, e.detail
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
