//! `wardwatch tokens`: ingest and API tokens kept in the store (only their SHA-256) — the
//! data folder's, or with `-c FILE` naming `[store] state` a cluster's shared state, which
//! every node reads (`state_target`).

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use wardwatch_store::TokenKind;

use crate::state_target::Target;

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print its secret once (it is stored hashed).
    Add {
        /// A name for the token (the shipper or person using it).
        name: String,
        /// What the token opens.
        #[arg(long, value_enum, default_value_t = Kind::Ingest)]
        kind: Kind,
        /// API tokens: the role it acts with (admin, analyst, viewer, privacy-officer).
        #[arg(long, default_value = "analyst")]
        role: String,
        /// The organization: for an ingest token, where its events go (default `default`);
        /// for an API token, the one(s) it sees, comma-separated, or `*` (default `default`).
        #[arg(long, default_value = "default")]
        org: String,
        #[command(flatten)]
        store: Target,
    },
    /// List tokens (names and kinds, never secrets).
    List {
        #[command(flatten)]
        store: Target,
    },
    /// Remove a token (refused by every node from then on).
    Remove {
        name: String,
        #[command(flatten)]
        store: Target,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    Ingest,
    Api,
    /// A TAXII partner hospital's: name it as in [[taxii.partners]].
    Taxii,
}

/// 32 random bytes from the OS, hex.
fn secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for a token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn run(cmd: TokensCommand) -> Result<ExitCode> {
    match cmd {
        TokensCommand::Add {
            name,
            kind,
            role,
            org,
            store,
        } => {
            let mut db = store.open()?;
            let kind = match kind {
                Kind::Ingest => TokenKind::Ingest,
                Kind::Api => TokenKind::Api,
                Kind::Taxii => TokenKind::Taxii,
            };
            if kind == TokenKind::Api && wardwatch_console::Role::parse(&role).is_none() {
                bail!("--role `{role}` is not one of admin, analyst, viewer, privacy-officer");
            }
            let s = secret()?;
            db.add_token(&name, kind, &s).with_context(|| {
                format!("cannot add token `{name}` (does the name exist already?)")
            })?;
            let role = (kind == TokenKind::Api).then_some(role.as_str());
            db.set_token_grant(&name, role, Some(&org))?;
            crate::cmd_users::audit(
                &mut *db,
                "token.add",
                &format!("token:{name}"),
                &org,
                &format!("{} {}", kind.as_str(), role.unwrap_or("")),
            )?;
            println!("{s}");
            eprintln!(
                "token `{name}` ({}) created; the secret above is shown only now",
                kind.as_str()
            );
        }
        TokensCommand::List { store } => {
            for t in store.open()?.tokens()? {
                println!("{}\t{}\t{}", t.name, t.kind.as_str(), t.created);
            }
        }
        TokensCommand::Remove { name, store } => {
            let mut db = store.open()?;
            if !db.remove_token(&name)? {
                bail!("no token named `{name}`");
            }
            crate::cmd_users::audit(&mut *db, "token.remove", &format!("token:{name}"), "*", "")?;
            eprintln!("token `{name}` removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
