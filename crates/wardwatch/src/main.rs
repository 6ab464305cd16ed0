//! The `wardwatch` command line. It parses arguments and calls the crates; nothing else lives here.

/// jemalloc instead of the system allocator. `serve` builds each event's JSON tree on an
/// HTTP thread and frees it on a detection thread; glibc's malloc takes the other thread's
/// arena lock and coalesces chunks for each such free, which was an eighth of the server's
/// CPU under full load. Measured on 2 cores (`bench/serve.sh`): 46–49k → 55–56k events/s
/// sustained with less peak memory (407 against 441 MiB); `hunt` over the dense set 1.50 →
/// 1.33 s, same memory. mimalloc, tried the same way, changed nothing.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod cmd_audit;
mod cmd_cluster;
mod cmd_demo;
mod cmd_doctor;
mod cmd_hunt;
mod cmd_identity;
mod cmd_incidents;
mod cmd_intel;
mod cmd_mail;
mod cmd_notify;
mod cmd_privacy;
mod cmd_report;
mod cmd_rules;
mod cmd_serve;
mod cmd_tokens;
mod cmd_users;
mod pack;
mod state_target;

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
    /// Threat intelligence shared by other hospitals: check STIX, MISP and IOC list files.
    #[command(subcommand)]
    Intel(cmd_intel::IntelCommand),
    /// Work with rule packs.
    #[command(subcommand)]
    Rules(cmd_rules::RulesCommand),
    /// Monitor live: syslog (UDP/TCP/TLS) and Elasticsearch-compatible bulk ingest, streaming
    /// detection, the embedded store, search and alerts over HTTP.
    Serve(cmd_serve::ServeArgs),
    /// Start `serve` on a throw-away store and feed it a generated hospital week with attack
    /// stories in it; incidents appear within a minute.
    Demo(cmd_demo::DemoArgs),
    /// Incidents and their narratives: list them, show one.
    #[command(subcommand)]
    Incidents(cmd_incidents::IncidentsCommand),
    /// The identity ledger: where and how an account was used (`usage`); read log files into
    /// it offline (`load`).
    #[command(subcommand)]
    Identity(cmd_identity::IdentityCommand),
    /// Mail: scan messages for phishing (.eml, mbox, Maildir), with a verdict and its reasons.
    #[command(subcommand)]
    Mail(cmd_mail::MailCommand),
    /// Manage ingest and API tokens kept in the store.
    #[command(subcommand)]
    Tokens(cmd_tokens::TokensCommand),
    /// Console accounts: add (the first admin too), passwd, list, remove.
    #[command(subcommand)]
    Users(cmd_users::UsersCommand),
    /// The audit log of people's actions: verify its hash chain, list it.
    #[command(subcommand)]
    Audit(cmd_audit::AuditCommand),
    /// A scale-out deployment's engines: set them up (`init`), see how they are (`status`).
    #[command(subcommand)]
    Cluster(cmd_cluster::ClusterCommand),
    /// Notifications: send a test message over every configured channel.
    #[command(subcommand)]
    Notify(cmd_notify::NotifyCommand),
    /// The management report of a week or a month (HTML with charts; mailed with --to).
    Report(cmd_report::ReportArgs),
    /// Check a server's configuration, certificates, data folder, disk, listeners and tokens,
    /// and say what to fix (exit code 1 when something must be fixed).
    Doctor(cmd_doctor::DoctorArgs),
}

fn main() -> ExitCode {
    // One TLS provider for the whole process (ring), installed before anything uses rustls.
    let _ = rustls::crypto::ring::default_provider().install_default();
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
        Command::Intel(cmd) => cmd_intel::run(cmd),
        Command::Serve(args) => cmd_serve::run(args),
        Command::Tokens(cmd) => cmd_tokens::run(cmd),
        Command::Cluster(cmd) => cmd_cluster::run(cmd),
        Command::Doctor(args) => cmd_doctor::run(args),
        Command::Demo(args) => cmd_demo::run(args),
        Command::Incidents(cmd) => cmd_incidents::run(cmd),
        Command::Identity(cmd) => cmd_identity::run(cmd),
        Command::Mail(cmd) => cmd_mail::run(cmd),
        Command::Users(cmd) => cmd_users::run(cmd),
        Command::Audit(cmd) => cmd_audit::run(cmd),
        Command::Notify(cmd) => cmd_notify::run(cmd),
        Command::Report(args) => cmd_report::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wardwatch: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
