//! For admins (and privacy officers, for the audit log): the audit log with the state of its
//! hash chain, and the accounts and tokens.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::PageResult;
use crate::page::{esc, layout, when_ns};
use crate::{ApiError, ApiState, Principal};

#[derive(Debug, Deserialize, Default)]
pub(crate) struct Params {
    before: Option<i64>,
    limit: Option<usize>,
}

pub(crate) async fn audit(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<Params>,
) -> PageResult {
    let viewer = who.clone();
    let (entries, verdict) = s
        .with_db(move |db| {
            Ok((
                db.audit_entries(
                    p.limit.unwrap_or(200).min(1000),
                    p.before,
                    viewer.orgs().as_deref(),
                )?,
                db.verify_audit()?,
            ))
        })
        .await?;
    let mut b = String::from("<h1>Audit log</h1>");
    match &verdict.broken {
        None => {
            let _ = write!(
                b,
                "<p class=\"ok\">The hash chain of all {} entries is intact.</p>",
                verdict.entries
            );
        }
        Some((seq, why)) => {
            let _ = write!(
                b,
                "<div class=\"err\"><b>The chain is broken at entry {seq}:</b> {}</div>",
                esc(why)
            );
        }
    }
    b.push_str("<table><tr><th>#</th><th>When</th><th>Who</th><th>Action</th><th>Target</th><th>Organization</th><th>From</th><th>Detail</th></tr>");
    for e in &entries {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.seq,
            when_ns(e.ts),
            esc(&e.actor),
            esc(&e.action),
            esc(&e.target),
            esc(&e.org),
            esc(&e.addr),
            esc(&e.detail)
        );
    }
    b.push_str("</table>");
    if let Some(last) = entries.last().filter(|_| entries.len() >= 200) {
        let _ = write!(b, "<p><a href=\"/audit?before={}\">Older</a></p>", last.seq);
    }
    Ok(layout(&who, "/audit", "Audit log", &b))
}

/// `GET /api/v1/audit`: the same as JSON, with the chain's state.
pub(crate) async fn audit_api(
    State(s): State<ApiState>,
    who: Principal,
    Query(p): Query<Params>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (entries, verdict) = s
        .with_db(move |db| {
            Ok((
                db.audit_entries(
                    p.limit.unwrap_or(200).min(1000),
                    p.before,
                    who.orgs().as_deref(),
                )?,
                db.verify_audit()?,
            ))
        })
        .await?;
    Ok(Json(
        serde_json::json!({"chain": verdict, "entries": entries}),
    ))
}

pub(crate) async fn accounts(State(s): State<ApiState>, who: Principal) -> PageResult {
    let viewer = who.clone();
    let (accounts, tokens) = s
        .with_db(move |db| {
            let accounts: Vec<_> = db
                .accounts()?
                .into_iter()
                .filter(|a| viewer.orgs().is_none() || a.orgs.iter().all(|o| viewer.sees(o)))
                .collect();
            let tokens = if viewer.orgs().is_none() {
                let mut t = db.token_grants(wardwatch_store::TokenKind::Api)?;
                t.extend(db.token_grants(wardwatch_store::TokenKind::Ingest)?);
                t.into_iter().map(|(_, g)| g).collect()
            } else {
                Vec::new()
            };
            Ok((accounts, tokens))
        })
        .await?;
    let mut b = String::from(
        "<h1>Accounts and tokens</h1><p class=\"muted\">Add accounts with <code>wardwatch users add NAME --role ROLE [--org ORG]</code>; tokens with <code>wardwatch tokens add</code>. Every change is audited.</p>",
    );
    b.push_str("<h2>Accounts</h2><table><tr><th>Name</th><th>Role</th><th>Organizations</th><th>Created</th><th>State</th></tr>");
    for a in &accounts {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.name),
            esc(&a.role),
            esc(&a.orgs.join(", ")),
            when_ns(a.created),
            if a.disabled { "disabled" } else { "active" }
        );
    }
    b.push_str("</table>");
    if who.orgs().is_none() {
        b.push_str(
            "<h2>Tokens</h2><table><tr><th>Name</th><th>Role</th><th>Organization</th></tr>",
        );
        for t in &tokens {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.name),
                esc(t.role.as_deref().unwrap_or("ingest / admin")),
                esc(t.org.as_deref().unwrap_or("default / all"))
            );
        }
        b.push_str("</table>");
    }
    Ok(layout(&who, "/admin", "Accounts", &b))
}
