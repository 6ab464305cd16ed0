//! Where the operator's commands read and write (`tokens`, `users`, `audit`, `incidents`,
//! `report`, `identity usage`, `intel sightings|retro|share`): the store the nodes use.
//!
//! One machine: the SQLite store in the data folder (`--data`, or `data.dir` of `-c FILE`).
//! A cluster: with `-c FILE` naming `[store] state = "postgres://..."`, the shared state in
//! PostgreSQL, so every node honours a new token or account at once (API tokens and accounts
//! are looked up per request, ingest tokens re-read every 10 s) and a revoked one is refused
//! by all. Both stores are reached through the storage seam's traits (`TokenStore`,
//! `AccessStore`), so the commands are the same code for either.
//!
//! The commands that read or change what the nodes detected (`incidents`, `report`, `identity
//! usage`) need every trait of the seam: [`Target::open_store`] opens the SQLite store, or the
//! cluster's store (the state in PostgreSQL, events and alerts in ClickHouse) with the api
//! role's own opener (`wardwatch_server::roles::state_opener`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use wardwatch_store::{AccessStore, Db, DbOptions, Store, TokenStore};

/// The default data folder, as `serve` has it.
const DEFAULT_DATA: &str = "./wardwatch-data";

/// What the tokens and accounts are kept in (both traits of the seam).
pub trait AccessState: TokenStore + AccessStore {}
impl<T: TokenStore + AccessStore> AccessState for T {}

/// `-c FILE` or `--data DIR`: which store.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The server's configuration: its `[store] state` (a cluster's shared state in
    /// PostgreSQL) when set, else its `data.dir`.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory of the server (default ./wardwatch-data, or `data.dir` of `-c`).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

/// Where a [`Target`] leads, before it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Local(PathBuf),
    /// `[store] state` and the file it was read from.
    Shared {
        url: String,
        file: PathBuf,
    },
}

impl Target {
    fn place(&self) -> Result<Place> {
        let Some(file) = &self.config else {
            return Ok(Place::Local(
                self.data
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA)),
            ));
        };
        let config = read_config(file)?;
        match config.store.filter(|s| !s.state.trim().is_empty()) {
            Some(store) => {
                store
                    .check()
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("in `{}`", file.display()))?;
                if let Some(d) = &self.data {
                    bail!(
                        "--data `{}` names a local store, but `{}` keeps tokens and accounts in the shared state ([store] state): leave out --data",
                        d.display(),
                        file.display()
                    );
                }
                Ok(Place::Shared {
                    url: store.state.trim().to_string(),
                    file: file.clone(),
                })
            }
            None => Ok(Place::Local(self.data.clone().unwrap_or(config.data.dir))),
        }
    }

    /// Open the store, naming it when it cannot be.
    pub fn open(&self) -> Result<Box<dyn AccessState>> {
        match self.place()? {
            Place::Local(dir) => Ok(Box::new(open_local(&dir)?)),
            Place::Shared { url, file, .. } => {
                let pg = wardwatch_store_postgres::Postgres::connect(&url).with_context(|| {
                    format!(
                        "cannot open the shared state (store.state in `{}`)",
                        file.display()
                    )
                })?;
                Ok(Box::new(pg))
            }
        }
    }
}

impl Target {
    /// The configuration file `-c` names, if any.
    pub fn config_file(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// The data folder when the store is the local one (where `demo` leaves its inventory).
    pub fn local_dir(&self) -> Option<PathBuf> {
        match self.place() {
            Ok(Place::Local(dir)) => Some(dir),
            _ => None,
        }
    }

    /// Open every store of the seam: the SQLite store in the data folder (which must hold one
    /// already: these commands read what a server stored), or the cluster's. Also returns how
    /// to name it in messages.
    pub fn open_store(&self) -> Result<(Box<dyn Store>, String)> {
        match self.place()? {
            Place::Local(dir) => {
                if !dir.join(wardwatch_store::FILE_NAME).exists() {
                    bail!(
                        "no store in `{}` (start `wardwatch serve --data {}` or `wardwatch demo` first, or pass --data or -c)",
                        dir.display(),
                        dir.display()
                    );
                }
                Ok((Box::new(open_local(&dir)?), format!("`{}`", dir.display())))
            }
            Place::Shared { file, .. } => {
                let config = read_config(&file)?;
                let opener = wardwatch_server::roles::state_opener(&config)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .with_context(|| format!("in `{}`", file.display()))?;
                let store = opener().with_context(|| {
                    format!(
                        "cannot open the cluster's stores (store.state, store.events in `{}`)",
                        file.display()
                    )
                })?;
                Ok((
                    store,
                    format!("the cluster's stores of `{}`", file.display()),
                ))
            }
        }
    }
}

/// The configuration in `file`, its errors naming it.
fn read_config(file: &Path) -> Result<wardwatch_server::Config> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    wardwatch_server::Config::from_toml(&text).with_context(|| format!("in `{}`", file.display()))
}

/// The SQLite store in `dir`.
pub fn open_local(dir: &Path) -> Result<Db> {
    Db::open(dir, &DbOptions::default())
        .with_context(|| format!("cannot open the store in `{}`", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(config: Option<&Path>, data: Option<&str>) -> Target {
        Target {
            config: config.map(Path::to_path_buf),
            data: data.map(PathBuf::from),
        }
    }

    #[test]
    fn the_store_is_the_shared_state_when_the_configuration_names_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            target(None, None).place().unwrap(),
            Place::Local(PathBuf::from(DEFAULT_DATA))
        );
        let single = dir.path().join("single.toml");
        std::fs::write(&single, "[data]\ndir = \"/srv/ww\"\n").unwrap();
        assert_eq!(
            target(Some(&single), None).place().unwrap(),
            Place::Local(PathBuf::from("/srv/ww"))
        );
        assert_eq!(
            target(Some(&single), Some("/tmp/x")).place().unwrap(),
            Place::Local(PathBuf::from("/tmp/x"))
        );
        let cluster = dir.path().join("cluster.toml");
        std::fs::write(
            &cluster,
            "[store]\nevents = \"clickhouse://ch:8123/ww\"\nstate = \"postgres://ww@pg:5432/ww\"\n",
        )
        .unwrap();
        assert_eq!(
            target(Some(&cluster), None).place().unwrap(),
            Place::Shared {
                url: "postgres://ww@pg:5432/ww".into(),
                file: cluster.clone()
            }
        );
        let e = format!(
            "{:#}",
            target(Some(&cluster), Some("/tmp/x")).place().unwrap_err()
        );
        assert!(e.contains("--data") && e.contains("shared state"), "{e}");
        let bad = dir.path().join("bad.toml");
        std::fs::write(
            &bad,
            "[store]\nevents = \"clickhouse://ch:8123/ww\"\nstate = \"mysql://ww@db/ww\"\n",
        )
        .unwrap();
        let e = format!("{:#}", target(Some(&bad), None).place().unwrap_err());
        assert!(e.contains("store.state") && e.contains("bad.toml"), "{e}");
    }
}
