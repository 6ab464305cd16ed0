//! `GET /api/v1/identities/{user}/usage?from=&to=`: where and how an account was used — every
//! host, source address, device, application, logon type and country, with first and last
//! seen and counts (successes and failures) — from the store's identity ledger.
//!
//! Without `from` the answer covers the seven days before `to` (or now). The ledger counts per
//! UTC day, so the period is widened to whole days; the answer's `from` and `to` say which.
//! Who used which account where is personal data: the route is for the roles that search
//! events (analysts, privacy officers, admins), each call is written to the audit log, and an
//! account with no recorded use in the caller's organizations is "not found".

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use crate::auth::Principal;
use crate::{ApiError, ApiState, time};

/// The period asked about when `from` is not given.
const DEFAULT_DAYS: i64 = 7;

/// The longest period one call answers, in days (a year of the ledger at most).
const MAX_DAYS: i64 = 400;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Params {
    from: Option<String>,
    to: Option<String>,
}

pub(crate) async fn usage(
    State(s): State<ApiState>,
    who: Principal,
    Path(user): Path<String>,
    Query(p): Query<Params>,
) -> Result<Json<wardwatch_store::IdentityUsage>, ApiError> {
    let now = jiff::Timestamp::now();
    let (from, to) = time::period(
        p.from.as_deref(),
        p.to.as_deref(),
        now,
        jiff::SignedDuration::from_hours(24 * DEFAULT_DAYS),
        MAX_DAYS,
    )?;
    let user = user.trim().to_string();
    if user.is_empty() || user.len() > 256 {
        return Err(ApiError::BadRequest(
            "user: give an account name of 1 to 256 bytes".into(),
        ));
    }
    s.audit(&who, "identity-usage", &user, &who.home_org(), "")
        .await?;
    let orgs = who.orgs();
    let name = user.clone();
    let found = s
        .with_db(move |db| Ok(db.identity_usage(&name, orgs.as_deref(), from, to)?))
        .await?;
    found
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no use of account `{user}` is recorded")))
}
