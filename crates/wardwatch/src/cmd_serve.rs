//! `wardwatch serve`: live monitoring with the embedded store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use wardwatch_server::{Config, DEFAULT_CONFIG_TOML, Tokens};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); every key is optional. See --print-config.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Data directory (overrides `data.dir`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// HTTP listen address for bulk ingest and the API (overrides `http.listen`).
    #[arg(long)]
    http: Option<String>,
    /// Syslog listen address, UDP and TCP (overrides `syslog.listen`; "" disables).
    #[arg(long)]
    syslog: Option<String>,
    /// More Sigma rule folders (added to `rules.folders`).
    #[arg(long = "rules", short = 'r')]
    rules: Vec<PathBuf>,
    /// An optional community rule pack, by name (looked up in $WARDWATCH_PACK_PATH) or by
    /// folder (added to `rules.packs`); repeatable. `hayabusa` is the Hayabusa project's own
    /// Sigma-format rules, loaded with the level policy the project ships for them
    /// (packs/hayabusa.yml; off by default: see bench/README.md).
    #[arg(long = "pack")]
    packs: Vec<String>,
    /// Run as a node of a scale-out deployment (needs `[cluster]` and `[store]` in the
    /// configuration; see docs/SCALE.md), taking these roles (comma-separated): `ingest`
    /// (listeners publishing to NATS JetStream), `detect` (detection workers on the stream's
    /// partitions, results into ClickHouse), `incidents` (the incident stage: one active, the
    /// others standby), `api` (/api/v1 and the console over the shared state), or `all`.
    /// Without it, `serve` is the single binary.
    #[arg(long)]
    role: Option<String>,
    /// Print the full documented default configuration and exit.
    #[arg(long)]
    print_config: bool,
}

impl ServeArgs {
    /// `--data`, when given.
    pub fn data_given(&self) -> Option<&PathBuf> {
        self.data.as_ref()
    }

    /// `--config`, when given.
    pub fn config_given(&self) -> Option<&PathBuf> {
        self.config.as_ref()
    }
}

/// The configuration after the file and the flags.
pub fn config(args: &ServeArgs) -> Result<Config> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            Config::from_toml(&text).with_context(|| format!("in `{}`", path.display()))?
        }
        None => Config::default(),
    };
    if let Some(d) = &args.data {
        config.data.dir = d.clone();
    }
    if let Some(h) = &args.http {
        config.http.listen = h
            .parse()
            .with_context(|| format!("--http `{h}` is not an address like 127.0.0.1:8080"))?;
    }
    if let Some(s) = &args.syslog {
        config.syslog.listen = s.clone();
    }
    config.rules.folders.extend(args.rules.iter().cloned());
    config.rules.packs.extend(args.packs.iter().cloned());
    Ok(config)
}

/// Tokens from the environment.
pub fn env_tokens() -> Tokens {
    let get = |k: &str| {
        std::env::var(k)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .into_iter()
            .collect()
    };
    Tokens {
        ingest: get("WARDWATCH_INGEST_TOKEN"),
        api: get("WARDWATCH_API_TOKEN"),
    }
}

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    if args.print_config {
        print!("{DEFAULT_CONFIG_TOML}");
        return Ok(ExitCode::SUCCESS);
    }
    let config = config(&args)?;
    let roles = args
        .role
        .as_deref()
        .map(wardwatch_server::roles::parse_roles)
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("wardwatch-io")
        .build()
        .context("cannot start the async runtime")?;
    match roles {
        Some(roles) => runtime.block_on(serve_node(config, env_tokens(), roles)),
        None => runtime.block_on(serve(config, env_tokens())),
    }
}

/// Run a scale-out node with `roles` until Ctrl-C or SIGTERM.
pub async fn serve_node(
    config: Config,
    tokens: Tokens,
    roles: Vec<wardwatch_server::roles::Role>,
) -> Result<ExitCode> {
    use wardwatch_server::roles;
    let (pack, read_problems) = crate::pack::load_configured(&config.rules)?;
    for p in &read_problems {
        eprintln!("wardwatch: rule file not read: {p}");
    }
    if let Some(line) = crate::pack::policy_summary(&pack) {
        eprintln!("wardwatch: {line}");
    }
    let open = roles::state_opener(&config)?;
    let node = roles::start_node(&config, &tokens, &roles, open, pack)
        .await
        .context("cannot start the node")?;
    let scheme = if config.http.tls_cert.trim().is_empty() {
        "http"
    } else {
        "https"
    };
    match (node.http, node.api) {
        (Some(a), Some(b)) if a == b => {
            eprintln!(
                "  http    {scheme}://{a}  (/_bulk, /api/v1, the console, /healthz, /metrics)"
            )
        }
        (ingest, api) => {
            if let Some(a) = ingest {
                eprintln!("  ingest  {scheme}://{a}  (/_bulk)");
            }
            if let Some(a) = api {
                eprintln!("  api     {scheme}://{a}  (/api/v1, the console, /healthz, /metrics)");
            }
        }
    }
    if let Some(a) = node.syslog {
        eprintln!("  syslog  udp://{a}  tcp://{a}");
    }
    if let Some(a) = node.syslog_tls {
        eprintln!("  syslog  tls://{a}");
    }
    if let Some(a) = node.smtp {
        eprintln!("  smtp    smtp://{a}  (mail journaling)");
    }
    let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
    eprintln!("wardwatch: cluster node ({}) running", names.join(", "));
    wait_for_signal().await?;
    eprintln!("wardwatch: stopping...");
    node.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Run a server until Ctrl-C or SIGTERM.
pub async fn serve(config: Config, tokens: Tokens) -> Result<ExitCode> {
    let (pack, read_problems) = crate::pack::load_configured(&config.rules)?;
    for p in &read_problems {
        eprintln!("wardwatch: rule file not read: {p}");
    }
    if let Some(line) = crate::pack::policy_summary(&pack) {
        eprintln!("wardwatch: {line}");
    }
    let data = config.data.dir.clone();
    let running = wardwatch_server::start(config, pack, tokens.clone())
        .await
        .with_context(|| format!("cannot start the server (data in `{}`)", data.display()))?;
    eprintln!(
        "wardwatch: serving with {} rule(s); data in {}",
        running.rules,
        data.display()
    );
    let scheme = if running.https { "https" } else { "http" };
    match running.ingest {
        None => eprintln!(
            "  http    {scheme}://{}  (/_bulk, /api/v1, /healthz, /metrics)",
            running.http
        ),
        Some(ingest) => {
            eprintln!(
                "  http    {scheme}://{}  (/api/v1, /healthz, /metrics)",
                running.http
            );
            eprintln!("  ingest  {scheme}://{ingest}  (/_bulk)");
        }
    }
    if let Some(a) = running.syslog {
        eprintln!("  syslog  udp://{a}  tcp://{a}");
    }
    if let Some(a) = running.syslog_tls {
        eprintln!("  syslog  tls://{a}");
    }
    if let Some(a) = running.smtp {
        eprintln!("  smtp    smtp://{a}  (mail journaling)");
    }
    if tokens.ingest.is_empty() {
        eprintln!(
            "  note    no WARDWATCH_INGEST_TOKEN set: /_bulk accepts only tokens made with `wardwatch tokens add`"
        );
    }
    wait_for_signal().await?;
    eprintln!("wardwatch: stopping (committing what was received)...");
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn wait_for_signal() -> Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
            _ = term.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for Ctrl-C")?;
        Ok(())
    }
}
