//! `GET /api/v1/network/summary?from=&to=`: where and how many on the network — per source its
//! blind attempts, scans, lateral attempts and failed logons with counts and targets (by host,
//! subnet, zone and port); the host graph of administrative edges with counts, first-seen edges
//! marked (the baseline is the seven days before `from`); and the medical devices seen, with
//! their learnt peers and ports and their deviations.
//!
//! The summary itself is the server's (`wardwatch_detect::analytics::network::summary`, the one
//! `hunt --summary network` prints, fed from the store): this crate owns the route, its
//! parameters, its access and its audit line, and calls what [`ApiState::with_network_summary`]
//! was given. Without `from` the answer covers the day before `to` (or now).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use wardwatch_store::Store;

use crate::auth::Principal;
use crate::{ApiError, ApiState, time};

/// The period asked about when `from` is not given.
const DEFAULT_HOURS: i64 = 24;
/// The longest period one call answers (the baseline before it is read too).
const MAX_DAYS: i64 = 31;

/// What summarises the network records of `[from, to)` of the caller's organizations (all when
/// `None`), reading them (and the baseline before `from`) from the store.
pub type NetworkSummariser = Arc<
    dyn Fn(
            &dyn Store,
            Option<&[String]>,
            Timestamp,
            Timestamp,
        ) -> Result<serde_json::Value, ApiError>
        + Send
        + Sync,
>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Params {
    from: Option<String>,
    to: Option<String>,
}

pub(crate) async fn summary(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<Params>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(summarise) = s.inner.network.clone() else {
        return Err(ApiError::NotFound(
            "the network summary is not served here".into(),
        ));
    };
    let now = Timestamp::now();
    let (from, to) = time::period(
        p.from.as_deref(),
        p.to.as_deref(),
        now,
        SignedDuration::from_hours(DEFAULT_HOURS),
        MAX_DAYS,
    )?;
    s.audit(
        &who,
        "network-summary",
        &format!("{from}..{to}"),
        &who.home_org(),
        "",
    )
    .await?;
    let orgs = who.orgs();
    let value = s
        .with_db(move |db| summarise(db, orgs.as_deref(), from, to))
        .await?;
    Ok(Json(value))
}
