//! `GET /api/v1/intel/sightings`: where else what we shared was seen — the sightings partner
//! hospitals posted back to our TAXII collections, each with what it sighted.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use wardwatch_store::TaxiiSighting;

use crate::{ApiError, ApiState, Principal};

/// Query parameters.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SightingParams {
    limit: Option<usize>,
}

/// One sighting in words and figures: who saw what, how often and when.
pub fn sighting_summary(s: &TaxiiSighting) -> Value {
    let doc: Value = serde_json::from_str(&s.doc).unwrap_or(Value::Null);
    let of: Value =
        s.of.as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(Value::Null);
    let received = jiff::Timestamp::from_microsecond(s.date_added)
        .map(|t| t.to_string())
        .unwrap_or_default();
    json!({
        "received": received,
        "partner": s.partner,
        "collection": s.alias,
        "id": doc["id"],
        "sighting_of": doc["sighting_of_ref"],
        "of_type": of["type"],
        "of_name": of["name"],
        "of_pattern": of["pattern"],
        "count": doc.get("count").cloned().unwrap_or(json!(1)),
        "first_seen": doc["first_seen"],
        "last_seen": doc["last_seen"],
    })
}

pub(crate) async fn sightings(
    State(s): State<ApiState>,
    _who: Principal,
    Query(p): Query<SightingParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = p.limit.unwrap_or(100).clamp(1, 10_000);
    let rows = s.with_db(move |db| Ok(db.taxii_sightings(limit)?)).await?;
    let list: Vec<Value> = rows.iter().map(sighting_summary).collect();
    Ok(Json(json!({"total": list.len(), "sightings": list})))
}
