//! The TAXII 2.1 server inside `serve`: where partner hospitals read what we publish and post
//! what they saw (sightings) back.
//!
//! Why: sharing must not wait for a separate threat-intelligence stack. A hospital that turns
//! an incident into a bundle (`wardwatch intel share --collection`, or the API) puts it in one
//! of these collections, and every partner's TAXII client — ours or anyone's — polls it with
//! `added_after` and never misses an object (see `wardwatch_store`'s TAXII module on dates
//! added).
//!
//! What is served (TAXII 2.1, OASIS Standard): discovery (`/taxii2/`), one API root
//! (`/taxii2/{api_root}/`), its collections, objects (GET with `added_after`, `limit`, `next`
//! and `match[id|type|version|spec_version]`; POST of an envelope, answered with a status
//! resource kept for `GET .../status/{id}/`), one object (GET, DELETE), its versions, and
//! manifests; pages carry `X-TAXII-Date-Added-First` / `-Last`. Every answer is
//! `application/taxii+json;version=2.1`; a request that will not accept it gets 406, a POST
//! of anything else 415, errors are TAXII error messages. URLs answer with and without their
//! trailing slash.
//!
//! Who may do what is `[taxii]`'s: each partner has its own token (`wardwatch tokens add NAME
//! --kind taxii`, kept hashed), read and write rights per collection, and a TLP ceiling: a
//! partner cleared for amber never sees amber+strict or red, clear and green go to every
//! reader. A collection the partner may neither read nor write does not exist for it (404);
//! one it may only write it cannot read (403), and the other way round. What a partner posts
//! about its own site (`sighting`, `observed-data`) only that partner reads back (and we do).
//!
//! `publish` is the other door in: an incident's sanitized bundle added to a collection, for
//! the command line and the API alike.

pub mod config;
mod handlers;
pub mod http;
mod params;
pub mod publish;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use wardwatch_console::OpenStore;
use wardwatch_store::{Store, StoreError, TaxiiStore};

pub use config::{Partner, TaxiiSection, TaxiiSetup};
use http::TaxiiError;

/// What the handlers share.
#[derive(Clone)]
pub struct TaxiiState {
    inner: Arc<Inner>,
}

struct Inner {
    setup: TaxiiSetup,
    /// Opens a connection to the store that holds the TAXII state (the embedded store, or a
    /// cluster's shared state): the handlers go through the storage seam only.
    open: OpenStore,
    pool: Mutex<Vec<Box<dyn Store>>>,
    /// The listener speaks HTTPS (for URLs built from `Host`).
    https: bool,
}

impl TaxiiState {
    /// State over the store `open` opens (`roles::sqlite_state` for the single binary). The
    /// configured collections are written to the store, so `intel share --collection` finds
    /// them by name.
    pub fn new(setup: TaxiiSetup, open: OpenStore, https: bool) -> Result<Self, TaxiiError> {
        let mut db = open()?;
        db.taxii_set_collections(&setup.collections)?;
        let known: std::collections::HashSet<String> = db
            .token_grants(wardwatch_store::TokenKind::Taxii)?
            .into_iter()
            .map(|(_, g)| g.name)
            .collect();
        for p in setup.partners.keys().filter(|p| !known.contains(*p)) {
            tracing::warn!(
                partner = %p,
                "TAXII partner has no token yet: `wardwatch tokens add {p} --kind taxii`"
            );
        }
        Ok(TaxiiState {
            inner: Arc::new(Inner {
                setup,
                open,
                pool: Mutex::new(vec![db]),
                https,
            }),
        })
    }

    fn setup(&self) -> &TaxiiSetup {
        &self.inner.setup
    }

    /// Run `f` with a store connection on the blocking pool.
    async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, TaxiiError> + Send + 'static,
    ) -> Result<T, TaxiiError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let db = inner.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut db = match db {
                Some(db) => db,
                None => (inner.open)()?,
            };
            let out = f(db.as_mut());
            let mut pool = inner.pool.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < 4 {
                pool.push(db);
            }
            out
        })
        .await
        .map_err(|e| TaxiiError::internal(format!("worker failed: {e}")))?
    }
}

/// Remove from each configured collection what was added to it longer ago than its retention
/// (`[taxii] retention_days`, or the collection's own; 0 keeps everything): object versions
/// and status resources. Returns how many of each went. A collection no longer configured is
/// left as it is (it is not served; configuring it again brings its objects back).
pub fn retain(
    store: &mut (impl TaxiiStore + ?Sized),
    setup: &TaxiiSetup,
    now: jiff::Timestamp,
) -> Result<(u64, u64), StoreError> {
    let now_us = now.as_microsecond();
    let mut removed = (0, 0);
    for c in &setup.collections {
        let days = setup
            .retention_days
            .get(&c.id)
            .copied()
            .unwrap_or(config::DEFAULT_RETENTION_DAYS);
        if days == 0 {
            continue;
        }
        let before = now_us.saturating_sub(i64::from(days).saturating_mul(86_400_000_000));
        let (objects, statuses) = store.taxii_retain(&c.id, before)?;
        if objects + statuses > 0 {
            tracing::info!(collection = %c.alias, days, objects, statuses, "TAXII collection: what passed its retention removed");
        }
        removed.0 += objects;
        removed.1 += statuses;
    }
    Ok(removed)
}

/// Run [`retain`] at start and then hourly until `stop`, on `state`'s store connections.
pub fn spawn_retention(
    state: TaxiiState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let setup = state.setup().clone();
            let done = state
                .with_db(move |db| Ok(retain(db, &setup, jiff::Timestamp::now())?))
                .await;
            if let Err(e) = done {
                tracing::warn!(error = %e.description, "cannot apply the TAXII collections' retention; trying again in an hour");
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
            }
        }
    })
}

/// The TAXII routes, each with and without its trailing slash.
pub fn router(state: TaxiiState) -> Router {
    use handlers::*;
    let routes: Vec<(&str, axum::routing::MethodRouter<TaxiiState>)> = vec![
        ("/taxii2/", get(discovery)),
        ("/taxii2/{root}/", get(api_root)),
        ("/taxii2/{root}/status/{status}/", get(status)),
        ("/taxii2/{root}/collections/", get(collections)),
        ("/taxii2/{root}/collections/{coll}/", get(collection)),
        (
            "/taxii2/{root}/collections/{coll}/objects/",
            get(objects).post(add_objects),
        ),
        (
            "/taxii2/{root}/collections/{coll}/objects/{object}/",
            get(object).delete(delete_object),
        ),
        (
            "/taxii2/{root}/collections/{coll}/objects/{object}/versions/",
            get(versions),
        ),
        ("/taxii2/{root}/collections/{coll}/manifest/", get(manifest)),
    ];
    let mut router = Router::new();
    for (path, handler) in routes {
        router = router
            .route(path, handler.clone())
            .route(path.trim_end_matches('/'), handler);
    }
    router.with_state(state)
}
