//! `serve --role`: the parts of a scale-out deployment one process takes (docs/SCALE.md).
//!
//! - `ingest`: the listeners (`_bulk`, syslog) with the events stream as their sink
//!   (`wardwatch_cluster::NatsSink`): a sender hears "stored" once JetStream has the batch.
//!
//! Which store holds the shared state (tokens, detection state) is the caller's choice, through
//! an opener of the storage seam (`wardwatch_console::OpenStore`): PostgreSQL's in a cluster,
//! or one SQLite file the processes of one machine share.

mod ingest;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wardwatch_console::OpenStore;
use wardwatch_store::{Db, DbOptions, Store};

use crate::ServeError;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::serve::Tokens;

pub use ingest::{Ingest, start_ingest};

/// The shared state in one SQLite store (`data.dir`), for the nodes of one machine.
pub fn sqlite_state(dir: PathBuf) -> OpenStore {
    Arc::new(move || Db::open(&dir, &DbOptions::default()).map(|db| Box::new(db) as Box<dyn Store>))
}

/// Start the roles `roles` in this process, the shared state opened by `open`.
pub async fn start_node(
    config: &Config,
    tokens: &Tokens,
    roles: &[Role],
    open: OpenStore,
) -> Result<Node, ServeError> {
    let cluster = config.cluster.as_ref().ok_or_else(|| {
        ServeError::Config("--role needs a [cluster] section (docs/SCALE.md)".into())
    })?;
    cluster
        .check()
        .map_err(|e| ServeError::Config(e.to_string()))?;
    let (stop, _) = watch::channel(false);
    let mut node = Node {
        http: None,
        syslog: None,
        stop,
        tasks: Vec::new(),
        threads: Vec::new(),
    };
    let metrics = Arc::new(Metrics::default());
    for role in roles {
        match role {
            Role::Ingest => {
                let ingest = start_ingest(
                    config,
                    &tokens.ingest,
                    open.clone(),
                    metrics.clone(),
                    &node.stop,
                    &mut node.tasks,
                )
                .await?;
                node.http = Some(ingest.http);
                node.syslog = ingest.syslog;
            }
        }
    }
    Ok(node)
}

/// A part of a deployment one process takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Ingest,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
        }
    }
}

/// The roles of `--role a,b` (`all`: every one), or an error naming the unknown one.
pub fn parse_roles(text: &str) -> Result<Vec<Role>, ServeError> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let add: &[Role] = match part {
            "ingest" => &[Role::Ingest],
            "all" => &[Role::Ingest],
            other => {
                return Err(ServeError::Config(format!(
                    "--role `{other}`: the roles are ingest and all"
                )));
            }
        };
        for r in add {
            if !out.contains(r) {
                out.push(*r);
            }
        }
    }
    if out.is_empty() {
        return Err(ServeError::Config("--role names no role".into()));
    }
    Ok(out)
}

/// A running node: its listeners' addresses and tasks.
pub struct Node {
    /// Bulk ingest's address (ingest role).
    pub http: Option<SocketAddr>,
    /// UDP and TCP syslog's address (ingest role, when enabled).
    pub syslog: Option<SocketAddr>,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
    pub(crate) threads: Vec<std::thread::JoinHandle<()>>,
}

impl Node {
    /// Stop listening and let workers finish the batch they hold (committed and acknowledged,
    /// or left to be delivered again).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_from_a_list_and_unknown_ones_named() {
        assert_eq!(parse_roles("ingest").unwrap(), vec![Role::Ingest]);
        assert_eq!(
            parse_roles("ingest, all,ingest").unwrap(),
            vec![Role::Ingest]
        );
        let e = parse_roles("ingest,dtect").unwrap_err().to_string();
        assert!(e.contains("dtect"), "{e}");
        assert!(parse_roles(" , ").is_err());
    }
}
