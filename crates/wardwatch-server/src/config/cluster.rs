//! `[cluster]` and `[store]`: a scale-out deployment (docs/SCALE.md). Both absent — the
//! default — is the single binary with its embedded store, unchanged.

use serde::{Deserialize, Serialize};

pub use wardwatch_cluster::ClusterConfig;

/// `[store]`: where a cluster keeps events and alerts, and its small mutable state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Events and alerts: `clickhouse://HOST:8123/DATABASE`.
    pub events: String,
    /// Incidents, exceptions, tokens, accounts, audit, queues, detection state:
    /// `postgres://USER@HOST:5432/DATABASE`; empty: the SQLite store in `data.dir`, shared
    /// by the nodes of one machine.
    #[serde(default)]
    pub state: String,
}

impl StoreSection {
    /// What is wrong with the addresses, naming the key.
    pub fn check(&self) -> Result<(), String> {
        if !(self.events.starts_with("clickhouse://") || self.events.starts_with("http://")) {
            return Err(format!(
                "store.events is `{}`: expected clickhouse://HOST:8123/DATABASE",
                self.events
            ));
        }
        let state = self.state.trim();
        let postgres = state.starts_with("postgres://") || state.starts_with("postgresql://");
        if !state.is_empty() && !postgres {
            return Err(format!(
                "store.state is `{}`: expected postgres://USER@HOST:5432/DATABASE",
                self.state
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, DEFAULT_CONFIG_TOML};

    #[test]
    fn the_cluster_example_parses_once_uncommented_and_is_checked() {
        let example = &DEFAULT_CONFIG_TOML[DEFAULT_CONFIG_TOML.find("# Scale-out").unwrap()..];
        let text: String = example
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.starts_with('[') || l.contains(" = "))
            .map(|l| format!("{}\n", l.split("  #").next().unwrap_or(l)))
            .collect();
        let c = Config::from_toml(&text).unwrap();
        let cluster = c.cluster.expect("[cluster] parsed");
        assert_eq!(cluster, ClusterConfig::default());
        cluster.check().unwrap();
        let store = c.store.expect("[store] parsed");
        store.check().unwrap();
        assert!(store.events.contains(":8123/wardwatch"));
        let bad = StoreSection {
            events: "mysql://x".into(),
            state: store.state.clone(),
        };
        assert!(bad.check().unwrap_err().contains("store.events"));
        let e = Config::from_toml("[cluster]\npartitons = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("partitons"), "{e}");
        let c = Config::from_toml("[cluster]\npartitions = 0\n").unwrap();
        let e = c.cluster.unwrap().check().unwrap_err().to_string();
        assert!(e.contains("cluster.partitions"), "{e}");
    }
}
