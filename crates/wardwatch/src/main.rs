//! The `wardwatch` command line. It parses arguments and calls the crates; nothing else lives here.

mod cmd_hunt;
mod cmd_rules;
mod pack;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Wardwatch: open-source detection and response for hospitals.
#[derive(Debug, Parser)]
#[command(name = "wardwatch", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Hunt through log files and folders (EVTX, JSON lines, Suricata EVE, syslog; .gz too)
    /// with Sigma rules, and report what fired.
    Hunt(cmd_hunt::HuntArgs),
    /// Work with rule packs.
    #[command(subcommand)]
    Rules(cmd_rules::RulesCommand),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARDWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hunt(args) => cmd_hunt::run(args),
        Command::Rules(cmd) => cmd_rules::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wardwatch: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
