//! What `serve` and the cluster's roles both build from the configuration before they start:
//! listening addresses, HTTPS and plain-HTTP checks, HTTP limits, the syslog listeners, the
//! ingest tokens (and their refresh), the incident stage's and privacy analytics' context, and
//! the console's rules page. Kept apart from `serve.rs`, which starts the single binary, so a
//! role starts from the same checked pieces and says the same things about a bad setting.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use wardwatch_detect::RulePack;
use wardwatch_incidents::{Context, GroupConfig, Inventory, Roster};
use wardwatch_listen::{self as listen, SyslogConfig};
use wardwatch_store::{Db, DbOptions, TokenKind, token_hash};

use crate::ServeError;
use crate::config::Config;
use crate::pipeline::IncidentSetup;

pub(crate) fn parse_addr(what: &str, text: &str) -> Result<Option<SocketAddr>, ServeError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.trim().parse().map(Some).map_err(|_| {
        ServeError::Config(format!(
            "{what}: `{text}` is not an address like 0.0.0.0:5514"
        ))
    })
}

/// One HTTP app for the console, the API and bulk ingest. The console's routes come first and
/// everything else goes to the Elasticsearch-compatible router. Both answer `GET /`: a browser
/// (it asks for `text/html`) gets the console's overview, a shipper's start-up probe gets the
/// Elasticsearch answer it expects.
pub(crate) fn console_and_ingest(console: axum::Router, bulk: axum::Router) -> axum::Router {
    let probe = bulk.clone();
    console
        .fallback_service(bulk)
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let probe = probe.clone();
                async move {
                    let root = req.uri().path() == "/"
                        && matches!(
                            *req.method(),
                            axum::http::Method::GET | axum::http::Method::HEAD
                        );
                    let browser = req
                        .headers()
                        .get(axum::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|a| a.contains("text/html"));
                    if root && !browser {
                        use tower::ServiceExt;
                        match probe.oneshot(req).await {
                            Ok(resp) => resp,
                            Err(never) => match never {},
                        }
                    } else {
                        next.run(req).await
                    }
                }
            },
        ))
}

fn nonempty(path: &str) -> Option<PathBuf> {
    (!path.trim().is_empty()).then(|| PathBuf::from(path.trim()))
}

/// The HTTPS acceptor, when `http.tls_cert` is set.
pub(crate) fn http_tls(config: &Config) -> Result<Option<tokio_rustls::TlsAcceptor>, ServeError> {
    let h = &config.http;
    match (h.tls_cert.trim().is_empty(), h.tls_key.trim().is_empty()) {
        (true, true) => Ok(None),
        (false, false) => {
            let files = listen::TlsFiles {
                cert: h.tls_cert.trim().into(),
                key: h.tls_key.trim().into(),
                client_ca: nonempty(&h.tls_client_ca),
                client_auth: h.tls_client_auth,
            };
            Ok(Some(tokio_rustls::TlsAcceptor::from(
                listen::tls::server_config(&files)?,
            )))
        }
        _ => Err(ServeError::Config(
            "http.tls_cert and http.tls_key go together: set both for HTTPS, or neither".into(),
        )),
    }
}

/// Plain HTTP on a non-loopback address is an explicit choice.
pub(crate) fn plain_http_allowed(
    config: &Config,
    addr: SocketAddr,
    tls: bool,
) -> Result<(), ServeError> {
    if tls || addr.ip().is_loopback() {
        return Ok(());
    }
    if !config.http.allow_plain_http {
        return Err(ServeError::Config(format!(
            "HTTP would listen on {addr} without TLS: ingest and API tokens and the events would cross the network in clear text. Set http.tls_cert and http.tls_key (HTTPS), listen on 127.0.0.1 behind a TLS proxy, or set http.allow_plain_http = true to accept the risk"
        )));
    }
    tracing::warn!(%addr, "plain HTTP on a non-loopback address (http.allow_plain_http = true): tokens and events cross the network in clear text");
    Ok(())
}

/// The HTTP listeners' limits from the configuration.
pub(crate) fn http_limits(config: &Config) -> Result<listen::http::HttpLimits, ServeError> {
    let h = &config.http;
    Ok(listen::http::HttpLimits {
        conn: listen::ConnLimits {
            max_connections: h.max_connections,
            max_connections_per_peer: h.max_connections_per_peer,
            idle_timeout: Duration::from_secs(h.idle_timeout_secs.max(1)),
            allow: listen::Allow::parse(&h.allowed_networks, "http.allowed_networks")?,
        },
        header_timeout: Duration::from_secs(h.header_timeout_secs.max(1)),
    })
}

/// The syslog listeners' settings from the configuration, sharing `budgets` with the others.
pub(crate) fn syslog_config(
    config: &Config,
    budgets: Arc<listen::Budgets>,
) -> Result<SyslogConfig, ServeError> {
    Ok(SyslogConfig {
        max_message_bytes: (config.syslog.max_message_kb * 1024) as usize,
        max_connections: config.syslog.max_connections,
        max_connections_per_peer: config.syslog.max_connections_per_peer,
        idle_timeout_secs: config.syslog.idle_timeout_secs,
        allow: listen::Allow::parse(&config.syslog.allowed_networks, "syslog.allowed_networks")?,
        budgets: listen::SharedBudgets(budgets),
        ..SyslogConfig::default()
    })
}

/// Syslog over TLS (RFC 5425) on `syslog.tls_listen` into `sink`, when set; its address.
pub(crate) async fn start_syslog_tls<S: listen::Sink>(
    config: &Config,
    sink: Arc<S>,
    counters: Arc<listen::SourceCounters>,
    syslog_cfg: &SyslogConfig,
    done: impl std::future::Future<Output = ()> + Send + 'static,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<Option<SocketAddr>, ServeError> {
    let Some(addr) = parse_addr("syslog.tls_listen", &config.syslog.tls_listen)? else {
        return Ok(None);
    };
    if config.syslog.tls_cert.is_empty() || config.syslog.tls_key.is_empty() {
        return Err(ServeError::Config(
            "syslog.tls_listen is set but syslog.tls_cert or syslog.tls_key is empty".into(),
        ));
    }
    let files = listen::TlsFiles {
        cert: config.syslog.tls_cert.clone().into(),
        key: config.syslog.tls_key.clone().into(),
        client_ca: nonempty(&config.syslog.tls_client_ca),
        client_auth: config.syslog.tls_client_auth,
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(listen::tls::server_config(&files)?);
    let tcp = listen::bind_tcp(addr).await?;
    let bound = tcp
        .local_addr()
        .map_err(|e| ServeError::Bind(e.to_string()))?;
    let cfg = SyslogConfig {
        allow: listen::Allow::parse(
            &config.syslog.tls_allowed_networks,
            "syslog.tls_allowed_networks",
        )?,
        ..syslog_cfg.clone()
    };
    tasks.push(tokio::spawn(listen::syslog_tls::serve_tls(
        tcp, acceptor, sink, counters, cfg, done,
    )));
    Ok(Some(bound))
}

/// Ingest token hashes and the organization each token's events go to: the ones given at
/// start (the default organization) plus the store's (`wardwatch tokens add --org`).
pub(crate) fn ingest_tokens(
    data_dir: &Path,
    given: &[String],
) -> Result<HashMap<String, String>, ServeError> {
    let db = Db::open(data_dir, &DbOptions::default())?;
    Ok(token_set(&db, given)?)
}

/// [`ingest_tokens`] from any token store (a cluster's ingest nodes read the shared one).
pub(crate) fn token_set(
    store: &(impl wardwatch_store::TokenStore + ?Sized),
    given: &[String],
) -> Result<HashMap<String, String>, wardwatch_store::StoreError> {
    let mut set: HashMap<String, String> = given
        .iter()
        .map(|t| {
            (
                token_hash(t),
                wardwatch_core::DEFAULT_ORGANIZATION.to_string(),
            )
        })
        .collect();
    for (hash, grant) in store.token_grants(TokenKind::Ingest)? {
        let org = grant
            .org
            .unwrap_or_else(|| wardwatch_core::DEFAULT_ORGANIZATION.to_string());
        set.insert(hash, org);
    }
    Ok(set)
}

/// The ingest tokens a listener checks, shared with the task that refreshes them.
pub(crate) type TokenSet = Arc<RwLock<HashMap<String, String>>>;

/// Re-read the ingest tokens with `read` every 10 s until `done`, so `wardwatch tokens add`
/// (or a token removed) takes effect without a restart; a read that fails keeps the last set.
pub(crate) fn refresh_tokens<F>(
    set: TokenSet,
    read: F,
    done: impl std::future::Future<Output = ()> + Send + 'static,
) -> JoinHandle<()>
where
    F: Fn() -> Result<HashMap<String, String>, ServeError> + Send + Sync + 'static,
{
    let read = Arc::new(read);
    tokio::spawn(async move {
        tokio::pin!(done);
        loop {
            tokio::select! {
                _ = &mut done => break,
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            }
            let read = read.clone();
            match tokio::task::spawn_blocking(move || read()).await {
                Ok(Ok(fresh)) => {
                    if let Ok(mut s) = set.write() {
                        *s = fresh;
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot re-read ingest tokens; keeping the last set")
                }
                Err(_) => {}
            }
        }
    })
}

/// The incident stage's settings and context files, read now so a bad file stops the start
/// with its name and line.
pub(crate) fn incident_setup(config: &Config) -> Result<IncidentSetup, ServeError> {
    Ok(IncidentSetup {
        group: GroupConfig {
            window: Duration::from_secs(config.incidents.window_minutes.max(1) * 60),
            quiet: Duration::from_secs(config.incidents.quiet_minutes.max(1) * 60),
        },
        ctx: Arc::new(incident_context(config)?),
        privacy: None,
        intel: intel_setup(&config.intel.paths)?,
        directory: None,
    })
}

/// The incidents' context (the context folder, inventory and roster): what grouping and the
/// notification planner's routes read.
pub(crate) fn incident_context(config: &Config) -> Result<Context, ServeError> {
    let read = |path: &std::path::Path| -> Result<Option<(String, String)>, ServeError> {
        if path.as_os_str().is_empty() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServeError::Config(format!("cannot read {}: {e}", path.display())))?;
        Ok(Some((path.display().to_string(), text)))
    };
    // A bad row is reported with its file and line and skipped; the rest loads (an inventory
    // with one typo must not leave every asset "unknown"). The folder first; a single-file key
    // given as well replaces that file of the folder.
    let mut ctx = Context::default();
    if !config.incidents.context.as_os_str().is_empty() {
        let (folder, problems) = crate::context::load_dir(&config.incidents.context)
            .map_err(|e| ServeError::Config(format!("cannot read the context folder: {e}")))?;
        for p in problems {
            tracing::warn!(problem = %p, "context row skipped");
        }
        ctx = folder;
    }
    if let Some((name, text)) = read(&config.incidents.inventory)? {
        let (inventory, problems) = Inventory::load_partial(&name, &text);
        for p in problems {
            tracing::warn!(problem = %p, "inventory row skipped");
        }
        ctx.inventory = inventory;
    }
    if let Some((name, text)) = read(&config.incidents.roster)? {
        let (roster, problems) = Roster::load_partial(&name, &text);
        for p in problems {
            tracing::warn!(problem = %p, "roster row skipped");
        }
        ctx.roster = roster;
    }
    Ok(ctx)
}

/// The shared indicators of `[intel] paths` as the live set (the feeds add theirs to it).
fn intel_setup(paths: &[std::path::PathBuf]) -> Result<crate::intel::LiveIntel, ServeError> {
    if paths.is_empty() {
        return Ok(crate::intel::LiveIntel::default());
    }
    let set = crate::intel::load(paths).map_err(ServeError::Config)?;
    tracing::info!(indicators = set.len(), "threat intelligence loaded");
    Ok(crate::intel::LiveIntel::new(Some(set)))
}

/// The name of the privacy key among the store's secrets: names and addresses of the roster
/// and the patients are compared as keyed hashes under it (made once, random, never logged).
pub(crate) const PRIVACY_SECRET: &str = "privacy";

/// The privacy analytics' context from the context folder, keyed with the store's privacy
/// key (`key` reads it); `None` without a folder or when it has neither patients nor
/// encounters.
pub(crate) fn privacy_setup(
    folder: &std::path::Path,
    key: impl FnOnce() -> Result<[u8; 32], wardwatch_store::StoreError>,
) -> Result<Option<Arc<wardwatch_privacy::PrivacyContext>>, ServeError> {
    if folder.as_os_str().is_empty() {
        return Ok(None);
    }
    // Only open the store for its key when there is something to key.
    let has = |names: &[&str]| names.iter().any(|n| folder.join(n).exists());
    if !has(&[
        "patients.csv",
        "patients.yaml",
        "patients.yml",
        "encounters.csv",
        "encounters.yaml",
        "encounters.yml",
    ]) {
        return Ok(None);
    }
    let key = wardwatch_incidents::PrivacyKey::new(&key()?);
    let Some((ctx, problems)) = crate::context::privacy_context(folder, &key)
        .map_err(|e| ServeError::Config(format!("cannot read the context folder: {e}")))?
    else {
        return Ok(None);
    };
    for p in problems {
        tracing::warn!(problem = %p, "privacy context row skipped");
    }
    tracing::info!(
        staff = ctx.roster.people().len(),
        patients = ctx.patients.len(),
        encounters = ctx.encounters.len(),
        "privacy analytics on"
    );
    Ok(Some(Arc::new(ctx)))
}

/// What the console's rules page shows: every rule of `pack` and the problems found loading
/// it (`problems`: the detector's and correlator's, besides the pack's own).
pub(crate) fn rules_info(
    pack: &RulePack,
    problems: &[impl std::fmt::Display],
) -> wardwatch_console::RulesInfo {
    wardwatch_console::RulesInfo {
        rules: pack
            .metas()
            .map(|m| wardwatch_console::RuleInfo {
                id: m.id.clone(),
                title: m.title.clone(),
                level: m.level.as_str().to_string(),
                pack: m
                    .origin
                    .rsplit_once('/')
                    .map_or_else(|| m.origin.clone(), |(dir, _)| dir.to_string()),
                enabled: true,
            })
            .collect(),
        problems: pack
            .problems()
            .iter()
            .map(|p| p.to_string())
            .chain(problems.iter().map(|p| p.to_string()))
            .collect(),
    }
}
