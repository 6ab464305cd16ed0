//! The ingest role: the `_bulk` API and syslog over UDP and TCP, publishing what they accept to
//! the events stream. The listeners are the single binary's (`wardwatch-listen`), with their
//! limits, budgets and tokens; only their sink differs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardwatch_cluster::NatsSink;
use wardwatch_console::OpenStore;
use wardwatch_listen::{self as listen, SyslogConfig};
use wardwatch_store::token_hash;

use crate::ServeError;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::serve::{http_limits, http_tls, parse_addr, plain_http_allowed, token_set};

/// What an ingest node listens on.
pub struct Ingest {
    pub http: SocketAddr,
    pub syslog: Option<SocketAddr>,
    pub sink: NatsSink,
}

/// Ingest tokens from the shared store plus the ones given at start.
fn tokens(open: &OpenStore, given: &[String]) -> Result<HashMap<String, String>, ServeError> {
    let store = open()?;
    Ok(token_set(&*store, given)?)
}

/// Start the ingest role's listeners: bulk on `http.ingest_listen` (or `http.listen`), syslog
/// on `syslog.listen`; tokens re-read from the shared store every 10 s.
pub async fn start_ingest(
    config: &Config,
    given: &[String],
    open: OpenStore,
    metrics: Arc<Metrics>,
    stop: &watch::Sender<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<Ingest, ServeError> {
    let cluster = config.cluster.as_ref().ok_or_else(|| {
        ServeError::Config("the ingest role needs a [cluster] section (docs/SCALE.md)".into())
    })?;
    let name = format!(
        "wardwatch-ingest-{}",
        crate::console_sign_in::this_host().unwrap_or_default()
    );
    let sink = NatsSink::start(cluster, &name)
        .await
        .map_err(|e| ServeError::Config(e.to_string()))?;
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
        let (set, open, given, done) =
            (token_set.clone(), open.clone(), given.to_vec(), shutdown());
        tasks.push(tokio::spawn(async move {
            tokio::pin!(done);
            loop {
                tokio::select! {
                    _ = &mut done => break,
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                }
                let (open, given) = (open.clone(), given.clone());
                match tokio::task::spawn_blocking(move || tokens(&open, &given)).await {
                    Ok(Ok(fresh)) => {
                        if let Ok(mut s) = set.write() {
                            *s = fresh;
                        }
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot re-read ingest tokens; keeping the last set"),
                    Err(_) => {}
                }
            }
        }));
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
            check,
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
    let addr =
        parse_addr("http.ingest_listen", &config.http.ingest_listen)?.unwrap_or(config.http.listen);
    plain_http_allowed(config, addr, tls.is_some())?;
    let listener = listen::bind_tcp(addr).await?;
    let http = listener
        .local_addr()
        .map_err(|e| ServeError::Bind(e.to_string()))?;
    tasks.push(tokio::spawn(listen::http::serve_http(
        listener,
        bulk,
        tls,
        http_limits(config)?,
        metrics.source("http-ingest"),
        shutdown(),
    )));

    let mut syslog = None;
    if let Some(addr) = parse_addr("syslog.listen", &config.syslog.listen)? {
        let cfg = SyslogConfig {
            max_message_bytes: (config.syslog.max_message_kb * 1024) as usize,
            max_connections: config.syslog.max_connections,
            max_connections_per_peer: config.syslog.max_connections_per_peer,
            idle_timeout_secs: config.syslog.idle_timeout_secs,
            allow: listen::Allow::parse(
                &config.syslog.allowed_networks,
                "syslog.allowed_networks",
            )?,
            budgets: listen::SharedBudgets(budgets),
            ..SyslogConfig::default()
        };
        let tcp = listen::bind_tcp(addr).await?;
        let bound = tcp
            .local_addr()
            .map_err(|e| ServeError::Bind(e.to_string()))?;
        let udp = listen::bind_udp(bound).await?;
        syslog = Some(bound);
        let sink = Arc::new(sink.clone());
        tasks.push(tokio::spawn(listen::syslog_udp::serve_udp(
            udp,
            sink.clone(),
            metrics.source(listen::syslog_udp::SOURCE),
            cfg.clone(),
            shutdown(),
        )));
        tasks.push(tokio::spawn(listen::syslog_tcp::serve_tcp(
            tcp,
            sink,
            metrics.source(listen::syslog_tcp::SOURCE),
            cfg,
            shutdown(),
        )));
    }
    Ok(Ingest { http, syslog, sink })
}
