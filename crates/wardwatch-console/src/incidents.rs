//! `/api/v1/incidents` and `/api/v1/exceptions`: the incident list and detail with their
//! narratives, people's actions on an incident, and exceptions made from alerts.
//!
//! The detection worker writes incidents; these handlers write only the lifecycle columns
//! (status, assignee, comments and people's history) and exceptions, so neither side can
//! overwrite the other.
//!
//! The list returns every severity unless `min_severity` says otherwise, while the console's
//! queue shows medium and above: an API caller (a ticketing sync, a SOAR playbook, an export)
//! expects the whole record and chooses its own filter, and a default that silently left out
//! the low incidents would lose them from every such copy. The answer names the filter it
//! applied (`"min_severity"`), so nobody has to guess; `?min_severity=medium` gives the queue.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use wardwatch_core::Severity;
use wardwatch_incidents::{Exception, Resolution, exception_from_json};
use wardwatch_store::{IncidentFilter, LifecycleUpdate};

use crate::{ApiError, ApiState, Principal, incident_view, time};

/// Query parameters of `GET /api/v1/incidents`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncidentParams {
    status: Option<String>,
    min_severity: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    include_merged: Option<bool>,
}

fn severity(p: &Option<String>, name: &str) -> Result<Severity, ApiError> {
    match p {
        Some(l) => l.parse().map_err(|e: wardwatch_core::ParseSeverityError| {
            ApiError::BadRequest(format!("{name}: {e}"))
        }),
        None => Ok(Severity::Informational),
    }
}

/// A JSON request body, whatever `Content-Type` says (curl users often leave it out); the
/// error names the body, the line and column, and what was wrong.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("{what}: {e}")))
}

fn ns(t: jiff::Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)
}

pub(crate) async fn list(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<IncidentParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = jiff::Timestamp::now();
    if let Some(st) = &p.status
        && !matches!(st.as_str(), "new" | "acknowledged" | "resolved")
    {
        return Err(ApiError::BadRequest(format!(
            "status: `{st}` is not one of new, acknowledged, resolved"
        )));
    }
    let min_severity = severity(&p.min_severity, "min_severity")?;
    let filter = IncidentFilter {
        status: p.status.clone(),
        min_severity,
        include_merged: p.include_merged.unwrap_or(false),
        from: p
            .from
            .as_deref()
            .map(|t| time::parse(t, now, "from"))
            .transpose()?
            .map(ns),
        to: p
            .to
            .as_deref()
            .map(|t| time::parse(t, now, "to"))
            .transpose()?
            .map(ns),
        limit: p.limit.unwrap_or(50),
        cursor: p.cursor.clone(),
        orgs: who.orgs(),
        privacy: who.privacy_scope(),
        ..IncidentFilter::default()
    };
    let page = s.with_db(move |db| Ok(db.list_incidents(&filter)?)).await?;
    let mut incidents = Vec::with_capacity(page.incidents.len());
    for stored in &page.incidents {
        incidents.push(incident_view(stored).map_err(ApiError::Internal)?.summary());
    }
    Ok(Json(json!({
        "total": page.total,
        "min_severity": min_severity,
        "incidents": incidents,
        "next_cursor": page.next_cursor,
    })))
}

pub(crate) async fn detail(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = id.clone();
    let (stored, alerts) = s
        .with_db(move |db| {
            let Some(stored) = db
                .incident(&key)?
                .filter(|i| who.sees_incident(&i.org, &i.id))
            else {
                return Ok((None, Vec::new()));
            };
            let view = incident_view(&stored).map_err(ApiError::Internal)?;
            // The alerts behind it (the most recent 200), with what each matched.
            let mut alerts = Vec::new();
            for aid in view.incident.alert_ids.iter().rev().take(200) {
                if let Some((alert, _)) = db.alert(&aid.0)? {
                    alerts.push(alert);
                }
            }
            Ok((Some(view), alerts))
        })
        .await?;
    match stored {
        Some(view) => Ok(Json(json!({"incident": view.full(), "alerts": alerts}))),
        None => Err(ApiError::NotFound(format!("no incident `{id}`"))),
    }
}

/// Body of `POST /api/v1/incidents/{id}/actions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionBody {
    /// acknowledge | resolve | reopen | assign | comment
    pub(crate) action: String,
    /// Ignored: the actor is the signed-in account or the token (kept so older clients that
    /// send it are not refused).
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) actor: Option<String>,
    /// For `resolve`: true-positive | false-positive | benign.
    pub(crate) resolution: Option<Resolution>,
    /// For `assign`.
    pub(crate) assignee: Option<String>,
    /// For `comment`, or a note with `resolve`.
    pub(crate) text: Option<String>,
}

pub(crate) async fn act(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b: ActionBody = json_body(&body, "action body")?;
    let view = apply_action(&s, &who, &id, b).await?;
    Ok(Json(json!({"incident": view.full()})))
}

/// An analyst's action on an incident (API and pages): applied in one write transaction,
/// refused as "not found" for an incident of another organization, written to the audit log.
pub(crate) async fn apply_action(
    s: &ApiState,
    who: &Principal,
    id: &str,
    b: ActionBody,
) -> Result<wardwatch_incidents::IncidentView, ApiError> {
    let key = id.to_string();
    let actor = who.name.clone();
    let viewer = who.clone();
    let (action, detail) = (
        b.action.clone(),
        [
            b.assignee.clone(),
            b.resolution.map(|r| r.as_str().to_string()),
            b.text.clone(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · "),
    );
    let view = s
        .with_db_mut(move |db| {
            wardwatch_store::update_lifecycle(db, &key, |stored| {
            if !viewer.sees_incident(&stored.org, &stored.id) {
                return Err(ApiError::NotFound(format!("no incident `{}`", stored.id)));
            }
            let mut view = incident_view(stored).map_err(ApiError::Internal)?;
            let now = jiff::Timestamp::now();
            let done = match b.action.as_str() {
                "acknowledge" => view.act(|i| i.acknowledge(&actor, now)),
                "resolve" => {
                    let r = b.resolution.ok_or_else(|| {
                        ApiError::BadRequest(
                            "resolve needs `resolution`: true-positive, false-positive or benign"
                                .into(),
                        )
                    })?;
                    view.act(|i| i.resolve(r, &actor, b.text.clone(), now))
                }
                "reopen" => view.act(|i| i.reopen(&actor, now)),
                "assign" => {
                    let who = b.assignee.clone().filter(|a| !a.trim().is_empty()).ok_or_else(
                        || ApiError::BadRequest("assign needs `assignee`".into()),
                    )?;
                    view.act(|i| {
                        i.assign(&who, &actor, now);
                        Ok(())
                    })
                }
                "comment" => {
                    let text = b.text.clone().filter(|t| !t.trim().is_empty()).ok_or_else(
                        || ApiError::BadRequest("comment needs `text`".into()),
                    )?;
                    view.act(|i| i.comment(&actor, &text, now))
                }
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "action `{other}` is not one of acknowledge, resolve, reopen, assign, comment"
                    )));
                }
            };
            done.map_err(|e| ApiError::Conflict(e.to_string()))?;
            let lc = &view.lifecycle;
            let update = LifecycleUpdate {
                status: lc.status.as_str().to_string(),
                resolution: lc.resolution.map(|r| r.as_str().to_string()),
                assignee: lc.assignee.clone(),
                lifecycle: serde_json::to_string(lc)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            };
            Ok((update, view))
            })
        })
        .await?;
    match view {
        Some(v) => {
            s.audit(
                who,
                &format!("incident.{action}"),
                &format!("incident:{id}"),
                &v.incident.organization,
                &detail,
            )
            .await?;
            Ok(v)
        }
        None => Err(ApiError::NotFound(format!("no incident `{id}`"))),
    }
}

/// Body of `POST /api/v1/exceptions`: an exception made in one step from an alert.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExceptionBody {
    /// The alert it is made from.
    pub(crate) alert_id: String,
    /// Facts of the alert that must be equal (`CommandLine`, `ParentImage`...).
    #[serde(default)]
    pub(crate) fields: Vec<String>,
    /// Only on the alert's host / for its user.
    #[serde(default)]
    pub(crate) scope_host: bool,
    #[serde(default)]
    pub(crate) scope_user: bool,
    /// When it stops: RFC 3339, epoch ms, or relative (`now+30d`).
    pub(crate) expires: String,
    pub(crate) justification: String,
    /// Ignored: the author is the signed-in account or the token.
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) author: Option<String>,
}

pub(crate) async fn exceptions(
    State(s): State<ApiState>,
    who: Principal,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = s.with_db(|db| Ok(db.exceptions()?)).await?;
    let mut out = Vec::new();
    for r in rows.into_iter().filter(|r| who.sees(&r.org)) {
        out.push(
            exception_from_json(&r.id, &r.doc, r.suppressed, r.last_suppressed)
                .map_err(ApiError::Internal)?,
        );
    }
    Ok(Json(json!({"total": out.len(), "exceptions": out})))
}

pub(crate) async fn add_exception(
    State(s): State<ApiState>,
    who: Principal,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let b: ExceptionBody = json_body(&body, "exception body")?;
    let e = create_exception(&s, &who, b).await?;
    Ok((StatusCode::CREATED, Json(json!({"exception": e}))))
}

/// Make an exception from an alert of an organization `who` sees, and audit it.
pub(crate) async fn create_exception(
    s: &ApiState,
    who: &Principal,
    b: ExceptionBody,
) -> Result<Exception, ApiError> {
    let now = jiff::Timestamp::now();
    let expires = time::parse(&b.expires, now, "expires")?;
    if expires <= now {
        return Err(ApiError::BadRequest(format!(
            "expires: `{}` is in the past",
            b.expires
        )));
    }
    let author = who.name.clone();
    let viewer = who.clone();
    let (e, org) = s
        .with_db_mut(move |db| {
            let Some((alert, _)) = db
                .alert(&b.alert_id)?
                .filter(|(a, _)| viewer.sees_alert(&a.organization, &a.rule_id))
            else {
                return Err(ApiError::NotFound(format!("no alert `{}`", b.alert_id)));
            };
            let fields: Vec<&str> = b.fields.iter().map(String::as_str).collect();
            let e = Exception::from_alert(
                &alert,
                &fields,
                b.scope_host,
                b.scope_user,
                expires,
                &b.justification,
                &author,
                now,
            )
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let doc = serde_json::to_string(&e).map_err(|e| ApiError::Internal(e.to_string()))?;
            db.put_exception(&e.id, &alert.organization, &e.rule_id, ns(e.expires), &doc)?;
            Ok((e, alert.organization))
        })
        .await?;
    s.audit(
        who,
        "exception.create",
        &format!("exception:{}", e.id),
        &org,
        &format!(
            "rule {} until {}: {}",
            e.rule_id, e.expires, e.justification
        ),
    )
    .await?;
    Ok(e)
}

pub(crate) async fn delete_exception(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let key = id.clone();
    let viewer = who.clone();
    let org = s
        .with_db_mut(move |db| {
            let Some(row) = db.exceptions()?.into_iter().find(|r| r.id == key) else {
                return Ok(None);
            };
            if !viewer.sees(&row.org) {
                return Ok(None);
            }
            db.delete_exception(&key)?;
            Ok(Some(row.org))
        })
        .await?;
    match org {
        Some(org) => {
            s.audit(
                &who,
                "exception.delete",
                &format!("exception:{id}"),
                &org,
                "",
            )
            .await?;
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(ApiError::NotFound(format!("no exception `{id}`"))),
    }
}

/// The body of `POST /api/v1/incidents/{id}/share`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShareBody {
    /// The TAXII collection (alias or id) to publish to.
    collection: Option<String>,
    /// TLP 2.0: clear, green, amber (default), amber+strict, red.
    tlp: Option<String>,
    /// Only make the bundle and answer it; publish nothing.
    dry_run: Option<bool>,
}

/// Share an incident with partner hospitals, as `wardwatch intel share` does: the sanitized
/// bundle added to a TAXII collection (or, with `dry_run`, only shown). Another
/// organization's incident is "not found"; a privacy incident is refused.
pub(crate) async fn share(
    State(s): State<ApiState>,
    who: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b: ShareBody = if body.iter().all(u8::is_ascii_whitespace) {
        ShareBody::default()
    } else {
        json_body(&body, "share body")?
    };
    let dry_run = b.dry_run.unwrap_or(false);
    let tlp = b.tlp.clone().unwrap_or_else(|| "amber".to_string());
    let collection = b.collection.clone();
    let sharing = s.inner.sharing.clone();
    let (key, viewer) = (id.clone(), who.clone());
    let (org, out) = s
        .with_db_mut(move |db| {
            let stored = db
                .incident(&key)?
                .filter(|i| viewer.sees_incident(&i.org, &i.id))
                .ok_or_else(|| ApiError::NotFound(format!("no incident `{key}`")))?;
            if !dry_run && collection.is_none() {
                return Err(ApiError::BadRequest(
                    "say `collection` to publish, or `\"dry_run\": true` to see the bundle".into(),
                ));
            }
            let sharing = sharing
                .ok_or_else(|| ApiError::Conflict("sharing is not set up on this server".into()))?;
            let target = if dry_run { None } else { collection.as_deref() };
            let out = sharing.share(db, &stored, target, &tlp)?;
            Ok((stored.org, out))
        })
        .await?;
    if !dry_run {
        s.audit(
            &who,
            "incident.share",
            &format!("incident:{id}"),
            &org,
            &format!(
                "{} TLP:{}",
                b.collection.unwrap_or_default(),
                b.tlp.unwrap_or_else(|| "amber".into()).to_ascii_uppercase()
            ),
        )
        .await?;
    }
    Ok(Json(out))
}
