//! `wardwatch users`: the console's local accounts (Argon2id password hashes in the store —
//! the data folder's, or with `-c FILE` naming `[store] state` a cluster's shared state, where
//! every API node signs them in: `state_target`). The first admin is made here; `serve` never
//! creates an account or a default password.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use wardwatch_console::Role;
use wardwatch_console::auth::{hash_password, random_token};
use wardwatch_store::{AccessStore, AuditRecord};

use crate::state_target::Target;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add an account. The password is read from standard input (one line); when standard
    /// input is a terminal or empty, one is generated and printed once.
    Add {
        name: String,
        /// admin, analyst, viewer or privacy-officer.
        #[arg(long)]
        role: String,
        /// The organization(s) it sees (repeat, or comma-separated); `*` for every one (a
        /// deployment admin). Default: `default`, or `*` for an admin.
        #[arg(long, value_delimiter = ',')]
        org: Vec<String>,
        #[command(flatten)]
        store: Target,
    },
    /// Set a new password (read from standard input, or generated) and end its sessions.
    Passwd {
        name: String,
        #[command(flatten)]
        store: Target,
    },
    /// List accounts (never passwords).
    List {
        #[command(flatten)]
        store: Target,
    },
    /// Remove an account and its sessions.
    Remove {
        name: String,
        #[command(flatten)]
        store: Target,
    },
}

/// The password from standard input, or a generated one (printed once) when there is none.
fn password() -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if !pw.is_empty() {
            if pw.chars().count() < 8 {
                bail!("the password from standard input is shorter than 8 characters");
            }
            return Ok(pw);
        }
    }
    let pw = random_token().map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{pw}");
    eprintln!("generated password printed above; it is shown only now");
    Ok(pw)
}

pub fn cli_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

/// Write what the command line changed to the audit log.
pub fn audit(
    db: &mut (impl AccessStore + ?Sized),
    action: &str,
    target: &str,
    org: &str,
    detail: &str,
) -> Result<()> {
    db.audit(&AuditRecord {
        actor: cli_actor(),
        action: action.into(),
        target: target.into(),
        org: org.into(),
        addr: "cli".into(),
        detail: detail.into(),
    })
    .context("cannot write the audit log")?;
    Ok(())
}

/// Add an account (used by `users add` and by `demo`).
pub fn add(
    db: &mut (impl AccessStore + ?Sized),
    name: &str,
    role: Role,
    orgs: &[String],
    password: &str,
) -> Result<()> {
    if name.trim().is_empty() || name.len() > 100 || name.contains(char::is_whitespace) {
        bail!("account name `{name}` must be 1-100 characters without spaces");
    }
    let hash = hash_password(password).map_err(anyhow::Error::msg)?;
    db.add_account(name, role.as_str(), orgs, &hash)
        .with_context(|| format!("cannot add account `{name}` (does it exist already?)"))?;
    audit(
        db,
        "account.add",
        &format!("account:{name}"),
        &orgs.join(","),
        &format!("role {}", role.as_str()),
    )
}

pub fn run(cmd: UsersCommand) -> Result<ExitCode> {
    match cmd {
        UsersCommand::Add {
            name,
            role,
            org,
            store,
        } => {
            let Some(role) = Role::parse(&role) else {
                bail!("--role `{role}` is not one of admin, analyst, viewer, privacy-officer");
            };
            let orgs = if org.is_empty() {
                vec![if role == Role::Admin { "*" } else { "default" }.to_string()]
            } else {
                org
            };
            let mut db = store.open()?;
            let pw = password()?;
            add(&mut *db, &name, role, &orgs, &pw)?;
            eprintln!(
                "account `{name}` ({}, organizations {}) added",
                role.as_str(),
                orgs.join(",")
            );
        }
        UsersCommand::Passwd { name, store } => {
            let mut db = store.open()?;
            let pw = password()?;
            let hash = hash_password(&pw).map_err(anyhow::Error::msg)?;
            if !db.set_account_hash(&name, &hash)? {
                bail!("no account named `{name}`");
            }
            audit(
                &mut *db,
                "account.password",
                &format!("account:{name}"),
                "*",
                "",
            )?;
            eprintln!("password of `{name}` changed; its sessions ended");
        }
        UsersCommand::List { store } => {
            for a in store.open()?.accounts()? {
                println!(
                    "{}\t{}\t{}{}",
                    a.name,
                    a.role,
                    a.orgs.join(","),
                    if a.disabled { "\tdisabled" } else { "" }
                );
            }
        }
        UsersCommand::Remove { name, store } => {
            let mut db = store.open()?;
            if !db.remove_account(&name)? {
                bail!("no account named `{name}`");
            }
            audit(
                &mut *db,
                "account.remove",
                &format!("account:{name}"),
                "*",
                "",
            )?;
            eprintln!("account `{name}` removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
