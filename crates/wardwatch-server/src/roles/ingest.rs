//! The ingest role: the `_bulk` API, syslog over UDP, TCP and TLS, and the SMTP journaling
//! listener, publishing what they accept to the events stream. The listeners are the single
//! binary's (`wardwatch-listen`), with their limits, budgets and tokens; only their sink
//! differs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardwatch_cluster::NatsSink;
use wardwatch_console::OpenStore;
use wardwatch_listen as listen;
use wardwatch_store::token_hash;

use crate::ServeError;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::setup::{
    console_and_ingest, http_limits, http_tls, parse_addr, plain_http_allowed, refresh_tokens,
    start_syslog_tls, syslog_config, token_set,
};

/// What an ingest node listens on.
pub struct Ingest {
    /// Bulk ingest (and the API and console, when the api role shares `http.listen`).
    pub http: SocketAddr,
    /// The API's own address, when the api role is in this process and bulk ingest has its own
    /// (`http.ingest_listen`).
    pub api: Option<SocketAddr>,
    pub syslog: Option<SocketAddr>,
    pub syslog_tls: Option<SocketAddr>,
    pub smtp: Option<SocketAddr>,
}

/// Ingest tokens from the shared store plus the ones given at start.
fn tokens(open: &OpenStore, given: &[String]) -> Result<HashMap<String, String>, ServeError> {
    let store = open()?;
    Ok(token_set(&*store, given)?)
}

/// Start the ingest role's listeners into `sink` (the events stream): bulk on
/// `http.ingest_listen` (or `http.listen`), syslog on `syslog.listen` (UDP and TCP) and
/// `syslog.tls_listen`, mail journaling on `mail.smtp_listen`; tokens re-read from the shared
/// store every 10 s. `api`: the api role's router in this process — served on `http.listen`,
/// with bulk ingest beside it unless bulk has its own address, as the single binary does.
#[allow(clippy::too_many_arguments)]
pub async fn start_ingest(
    config: &Config,
    given: &[String],
    open: OpenStore,
    sink: NatsSink,
    api: Option<axum::Router>,
    metrics: Arc<Metrics>,
    stop: &watch::Sender<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<Ingest, ServeError> {
    let shutdown = || {
        let mut rx = stop.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let token_set = {
        let (open, given) = (open.clone(), given.to_vec());
        let set = tokio::task::spawn_blocking(move || tokens(&open, &given))
            .await
            .map_err(|e| ServeError::Config(format!("reading ingest tokens failed: {e}")))??;
        Arc::new(RwLock::new(set))
    };
    {
        let (open, given) = (open.clone(), given.to_vec());
        tasks.push(refresh_tokens(
            token_set.clone(),
            move || tokens(&open, &given),
            shutdown(),
        ));
    }
    let budgets = Arc::new(listen::Budgets::new(
        config.pipeline.source_budget_events_per_sec,
    ));
    let check: listen::bulk::TokenCheck = {
        let set = token_set.clone();
        Arc::new(move |t: &str| set.read().ok().and_then(|s| s.get(&token_hash(t)).cloned()))
    };
    let bulk = listen::bulk::router(
        listen::bulk::BulkState::new(
            Arc::new(sink.clone()),
            metrics.source("bulk"),
            check.clone(),
            listen::bulk::BulkConfig {
                max_body_bytes: (config.http.max_body_mb * 1024 * 1024) as usize,
                es_version: config.http.es_version.clone(),
                max_concurrent_requests: config.http.max_concurrent_bulk,
                body_timeout_secs: config.http.body_timeout_secs,
            },
        )
        .with_budgets(budgets.clone()),
    );
    let tls = http_tls(config)?;
    let limits = http_limits(config)?;
    let own = parse_addr("http.ingest_listen", &config.http.ingest_listen)?;
    let serve = |addr: SocketAddr, app: axum::Router, name: &str| {
        let (tls, limits, counters, done) = (
            tls.clone(),
            limits.clone(),
            metrics.source(name),
            shutdown(),
        );
        async move {
            plain_http_allowed(config, addr, tls.is_some())?;
            let listener = listen::bind_tcp(addr).await?;
            let bound = listener
                .local_addr()
                .map_err(|e| ServeError::Bind(e.to_string()))?;
            let task = tokio::spawn(listen::http::serve_http(
                listener, app, tls, limits, counters, done,
            ));
            Ok::<_, ServeError>((bound, task))
        }
    };
    let (http, api_addr) = match (api, own) {
        (Some(api), None) => {
            let (bound, task) =
                serve(config.http.listen, console_and_ingest(api, bulk), "http").await?;
            tasks.push(task);
            (bound, Some(bound))
        }
        (api, own) => {
            let (bound, task) =
                serve(own.unwrap_or(config.http.listen), bulk, "http-ingest").await?;
            tasks.push(task);
            let mut api_addr = None;
            if let Some(api) = api {
                let (a, task) = serve(config.http.listen, api, "http").await?;
                tasks.push(task);
                api_addr = Some(a);
            }
            (bound, api_addr)
        }
    };

    let sink = Arc::new(sink);
    let syslog_cfg = syslog_config(config, budgets)?;
    let mut syslog = None;
    if let Some(addr) = parse_addr("syslog.listen", &config.syslog.listen)? {
        let tcp = listen::bind_tcp(addr).await?;
        let bound = tcp
            .local_addr()
            .map_err(|e| ServeError::Bind(e.to_string()))?;
        let udp = listen::bind_udp(bound).await?;
        syslog = Some(bound);
        tasks.push(tokio::spawn(listen::syslog_udp::serve_udp(
            udp,
            sink.clone(),
            metrics.source(listen::syslog_udp::SOURCE),
            syslog_cfg.clone(),
            shutdown(),
        )));
        tasks.push(tokio::spawn(listen::syslog_tcp::serve_tcp(
            tcp,
            sink.clone(),
            metrics.source(listen::syslog_tcp::SOURCE),
            syslog_cfg.clone(),
            shutdown(),
        )));
    }
    let syslog_tls = start_syslog_tls(
        config,
        sink.clone(),
        metrics.source(listen::syslog_tls::SOURCE),
        &syslog_cfg,
        shutdown(),
        tasks,
    )
    .await?;
    let smtp = config
        .mail
        .start_smtp(
            sink,
            metrics.source(listen::smtp::SOURCE),
            check,
            shutdown(),
            tasks,
        )
        .await?;
    Ok(Ingest {
        http,
        api: api_addr,
        syslog,
        syslog_tls,
        smtp,
    })
}
