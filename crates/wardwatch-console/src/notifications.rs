//! `GET /api/v1/notifications`: the notification queue — what was sent, what waits (held by
//! quiet hours or retrying) and what failed, with attempts and the last error.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::{ApiError, ApiState};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Params {
    /// `queued`, `sent` or `failed`.
    status: Option<String>,
    limit: Option<usize>,
}

fn time(ns: i64) -> Value {
    jiff::Timestamp::from_nanosecond(ns.into())
        .map(|t| json!(t))
        .unwrap_or(Value::Null)
}

pub(crate) async fn list(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    if let Some(st) = &p.status
        && !matches!(st.as_str(), "queued" | "sent" | "failed")
    {
        return Err(ApiError::BadRequest(format!(
            "status: `{st}` is not queued, sent or failed"
        )));
    }
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let status = p.status.clone();
    // Someone limited to some organizations sees the messages about their incidents only
    // (digests, "N more" notes and reports span organizations).
    let orgs = who.orgs();
    let (rows, counts) = s
        .with_db(move |db| {
            let mut rows = db.messages(status.as_deref(), limit)?;
            if let Some(orgs) = &orgs {
                let mut kept = Vec::new();
                for r in rows {
                    let org = match &r.incident {
                        Some(id) => db.incident(id)?.and_then(|i| {
                            serde_json::from_str::<Value>(&i.doc).ok().and_then(|d| {
                                d["incident"]["organization.id"]
                                    .as_str()
                                    .map(str::to_string)
                            })
                        }),
                        None => None,
                    };
                    if org.is_some_and(|o| orgs.contains(&o)) {
                        kept.push(r);
                    }
                }
                rows = kept;
            }
            Ok((rows, db.outbox_counts()?))
        })
        .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "kind": r.kind,
                "incident": r.incident,
                "recipient": r.recipient,
                "subject": r.subject,
                "status": r.status,
                "attempts": r.attempts,
                "created": time(r.created),
                "next_attempt": (r.status == "queued").then(|| time(r.next_attempt)),
                "sent": r.sent.map(time),
                "last_error": r.last_error,
            })
        })
        .collect();
    Ok(Json(json!({"counts": counts, "notifications": items})))
}
