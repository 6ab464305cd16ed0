//! The TAXII 2.1 endpoints. Each checks, in this order: the API root, the partner (401/403),
//! what it accepts (406), the collection and the partner's right to it (404/403), then its
//! parameters (400).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wardwatch_intel::collection;
use wardwatch_store::{
    AddOutcome, NewTaxiiObject, TaxiiCollection, TaxiiPage, TaxiiQuery, TaxiiReader, TokenKind,
    VersionMatch, stamp_us, token_hash,
};

use super::TaxiiState;
use super::config::Partner;
use super::http::{
    MEDIA_STIX, MEDIA_TAXII, TaxiiError, check_accept, check_content_type, credentials, taxii_json,
};
use super::params::{Filters, Takes, parse};

/// Types a partner posts about its own site: only that partner reads them back.
const PRIVATE_TYPES: &[&str] = &["sighting", "observed-data"];

/// The partner asking (401 without a known token, 403 without a partnership), and 406 unless
/// it accepts TAXII 2.1.
async fn partner(s: &TaxiiState, headers: &HeaderMap) -> Result<Partner, TaxiiError> {
    let creds = credentials(headers)?;
    let hash = token_hash(&creds.secret);
    let grant = s
        .with_db(move |db| Ok(db.token_grant(TokenKind::Taxii, &hash)?))
        .await?;
    let unauthorized = |d: String| TaxiiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", d);
    let Some(grant) = grant else {
        return Err(unauthorized(
            "the token is not a partner token of this server".into(),
        ));
    };
    if let Some(user) = &creds.user
        && *user != grant.name
    {
        return Err(unauthorized(format!(
            "the token is not `{user}`'s (use the partner's name with its token)"
        )));
    }
    let Some(p) = s.setup().partners.get(&grant.name) else {
        return Err(TaxiiError::forbidden(format!(
            "`{}` has a token but no partnership in [[taxii.partners]]",
            grant.name
        )));
    };
    check_accept(headers)?;
    Ok(p.clone())
}

fn check_root(s: &TaxiiState, root: &str) -> Result<(), TaxiiError> {
    if root == s.setup().section.api_root {
        Ok(())
    } else {
        Err(TaxiiError::not_found(format!("no API root `{root}`")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Read or write: to see it listed.
    Either,
    Read,
    Write,
    Both,
}

/// The collection `name` as `p` may use it: 404 when it does not exist for `p` (no right to
/// it at all), 403 when the right `need` asks for is missing.
fn collection_for(
    s: &TaxiiState,
    p: &Partner,
    name: &str,
    need: Need,
) -> Result<TaxiiCollection, TaxiiError> {
    let c = s
        .setup()
        .collection(name)
        .filter(|c| p.read.contains(&c.id) || p.write.contains(&c.id))
        .ok_or_else(|| TaxiiError::not_found(format!("no collection `{name}`")))?;
    let (read, write) = (p.read.contains(&c.id), p.write.contains(&c.id));
    let missing = match need {
        Need::Either => None,
        Need::Read if !read => Some("read"),
        Need::Write if !write => Some("write to"),
        Need::Both if !read || !write => Some("read and write"),
        _ => None,
    };
    match missing {
        Some(what) => Err(TaxiiError::forbidden(format!(
            "`{}` may not {what} collection `{}`",
            p.name, c.alias
        ))),
        None => Ok(c.clone()),
    }
}

/// The opening every collection endpoint shares, in TAXII's order: the API root (404), the
/// partner (401/403/406), the collection and the partner's right to it (404/403).
async fn open_collection(
    s: &TaxiiState,
    root: &str,
    headers: &HeaderMap,
    coll: &str,
    need: Need,
) -> Result<(Partner, TaxiiCollection), TaxiiError> {
    check_root(s, root)?;
    let p = partner(s, headers).await?;
    let c = collection_for(s, &p, coll, need)?;
    Ok((p, c))
}

/// The opening of an object endpoint: the collection's, then its parameters (400; `match[version]`
/// only where `version` says so), then the object itself (404 unless the partner sees a version of it).
async fn open_object(
    s: &TaxiiState,
    (root, coll, object): (&str, &str, &str),
    headers: &HeaderMap,
    need: Need,
    raw: Option<&str>,
    version: bool,
) -> Result<(Partner, TaxiiCollection, Filters), TaxiiError> {
    let (p, c) = open_collection(s, root, headers, coll, need).await?;
    let takes = Takes {
        id_and_type: false,
        version,
    };
    let f = parse(raw, takes, s.setup().section.max_page_size)?;
    object_exists(s, &c, &p, object).await?;
    Ok((p, c, f))
}

fn reader(p: &Partner) -> TaxiiReader {
    TaxiiReader::Partner {
        name: p.name.clone(),
        max_tlp: p.max_tlp as u8,
    }
}

fn collection_json(c: &TaxiiCollection, p: &Partner) -> Value {
    let mut v = json!({
        "id": c.id,
        "title": c.title,
        "alias": c.alias,
        "can_read": p.read.contains(&c.id),
        "can_write": p.write.contains(&c.id),
        "media_types": [MEDIA_STIX],
    });
    if !c.description.is_empty() {
        v["description"] = json!(c.description);
    }
    v
}

/// The API root's URL: `public_url`, else the request's own scheme and host.
fn root_url(s: &TaxiiState, headers: &HeaderMap) -> String {
    let section = &s.setup().section;
    let base = if !section.public_url.trim().is_empty() {
        section.public_url.trim().trim_end_matches('/').to_string()
    } else {
        match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) => format!("{}://{host}", if s.inner.https { "https" } else { "http" }),
            None => String::new(),
        }
    };
    format!("{base}/taxii2/{}/", section.api_root)
}

fn query(c: &TaxiiCollection, p: &Partner, f: &Filters) -> TaxiiQuery {
    TaxiiQuery {
        collection: c.id.clone(),
        reader: reader(p),
        ids: f.ids.clone(),
        types: f.types.clone(),
        versions: f.versions.clone(),
        spec_versions: f.spec_versions.clone(),
        added_after: f.added_after,
        after: f.next,
        limit: f.limit,
    }
}

/// A page as TAXII answers it: `more`, `next`, the items under `key` (left out when there are
/// none: TAXII's lists hold one or more), and the date-added headers.
fn paged(page: &TaxiiPage, key: &str, items: Vec<String>) -> Response {
    let mut body = format!("{{\"more\":{}", page.more);
    if page.more
        && let Some(last) = page.rows.last()
    {
        body.push_str(&format!(",\"next\":\"{}\"", last.date_added));
    }
    if !items.is_empty() {
        body.push_str(&format!(",\"{key}\":[{}]", items.join(",")));
    }
    body.push('}');
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TAXII))],
        body,
    )
        .into_response();
    if let (Some(first), Some(last)) = (page.rows.first(), page.rows.last()) {
        for (name, us) in [
            ("x-taxii-date-added-first", first.date_added),
            ("x-taxii-date-added-last", last.date_added),
        ] {
            if let Ok(v) = HeaderValue::from_str(&stamp_us(us)) {
                resp.headers_mut().insert(name, v);
            }
        }
    }
    resp
}

const OBJECTS: Takes = Takes {
    id_and_type: true,
    version: true,
};

pub(super) async fn discovery(State(s): State<TaxiiState>, headers: HeaderMap) -> Response {
    let run = async {
        partner(&s, &headers).await?;
        let section = &s.setup().section;
        let root = root_url(&s, &headers);
        let mut v = json!({"title": section.title, "default": root, "api_roots": [root]});
        for (key, value) in [
            ("description", &section.description),
            ("contact", &section.contact),
        ] {
            if !value.is_empty() {
                v[key] = json!(value);
            }
        }
        Ok::<_, TaxiiError>(taxii_json(StatusCode::OK, &v))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn api_root(
    State(s): State<TaxiiState>,
    Path(root): Path<String>,
    headers: HeaderMap,
) -> Response {
    let run = async {
        check_root(&s, &root)?;
        partner(&s, &headers).await?;
        let section = &s.setup().section;
        let mut v = json!({
            "title": section.title,
            "versions": [MEDIA_TAXII],
            "max_content_length": section.max_content_kb * 1024,
        });
        if !section.description.is_empty() {
            v["description"] = json!(section.description);
        }
        Ok::<_, TaxiiError>(taxii_json(StatusCode::OK, &v))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn collections(
    State(s): State<TaxiiState>,
    Path(root): Path<String>,
    headers: HeaderMap,
) -> Response {
    let run = async {
        check_root(&s, &root)?;
        let p = partner(&s, &headers).await?;
        let list: Vec<Value> = s
            .setup()
            .collections
            .iter()
            .filter(|c| p.read.contains(&c.id) || p.write.contains(&c.id))
            .map(|c| collection_json(c, &p))
            .collect();
        let v = if list.is_empty() {
            json!({})
        } else {
            json!({ "collections": list })
        };
        Ok::<_, TaxiiError>(taxii_json(StatusCode::OK, &v))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn collection(
    State(s): State<TaxiiState>,
    Path((root, coll)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let run = async {
        let (p, c) = open_collection(&s, &root, &headers, &coll, Need::Either).await?;
        Ok::<_, TaxiiError>(taxii_json(StatusCode::OK, &collection_json(&c, &p)))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn objects(
    State(s): State<TaxiiState>,
    Path((root, coll)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let run = async {
        let (p, c) = open_collection(&s, &root, &headers, &coll, Need::Read).await?;
        let f = parse(raw.as_deref(), OBJECTS, s.setup().section.max_page_size)?;
        let q = query(&c, &p, &f);
        let page = s.with_db(move |db| Ok(db.taxii_query(&q)?)).await?;
        let items = page.rows.iter().map(|r| r.doc.clone()).collect();
        Ok::<_, TaxiiError>(paged(&page, "objects", items))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn manifest(
    State(s): State<TaxiiState>,
    Path((root, coll)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let run = async {
        let (p, c) = open_collection(&s, &root, &headers, &coll, Need::Read).await?;
        let f = parse(raw.as_deref(), OBJECTS, s.setup().section.max_page_size)?;
        let q = query(&c, &p, &f);
        let page = s.with_db(move |db| Ok(db.taxii_query(&q)?)).await?;
        let items = page
            .rows
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "date_added": stamp_us(r.date_added),
                    "version": r.version,
                    "media_type": format!("application/stix+json;version={}", r.spec_version),
                })
                .to_string()
            })
            .collect();
        Ok::<_, TaxiiError>(paged(&page, "objects", items))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// 404 unless `p` sees some version of `object` in `c`.
async fn object_exists(
    s: &TaxiiState,
    c: &TaxiiCollection,
    p: &Partner,
    object: &str,
) -> Result<(), TaxiiError> {
    let (cid, oid, r) = (c.id.clone(), object.to_string(), reader(p));
    let found = s
        .with_db(move |db| Ok(db.taxii_has_object(&cid, &oid, &r)?))
        .await?;
    if found {
        Ok(())
    } else {
        Err(TaxiiError::not_found(format!(
            "no object `{object}` in collection `{}`",
            c.alias
        )))
    }
}

pub(super) async fn object(
    State(s): State<TaxiiState>,
    Path((root, coll, object)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let run = async {
        let (p, c, f) = open_object(
            &s,
            (&root, &coll, &object),
            &headers,
            Need::Read,
            raw.as_deref(),
            true,
        )
        .await?;
        let mut q = query(&c, &p, &f);
        q.ids = vec![object];
        let page = s.with_db(move |db| Ok(db.taxii_query(&q)?)).await?;
        let items = page.rows.iter().map(|r| r.doc.clone()).collect();
        Ok::<_, TaxiiError>(paged(&page, "objects", items))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn delete_object(
    State(s): State<TaxiiState>,
    Path((root, coll, object)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let run = async {
        let (p, c, f) = open_object(
            &s,
            (&root, &coll, &object),
            &headers,
            Need::Both,
            raw.as_deref(),
            true,
        )
        .await?;
        // Deleting an object takes every version, unless `match[version]` narrows it.
        let versions = if f.versions_given {
            f.versions.clone()
        } else {
            VersionMatch::all()
        };
        let (cid, r, specs) = (c.id.clone(), reader(&p), f.spec_versions.clone());
        let oid = object.clone();
        let n = s
            .with_db(move |db| Ok(db.taxii_delete(&cid, &oid, &r, &versions, &specs)?))
            .await?;
        tracing::info!(partner = %p.name, collection = %c.alias, object = %object, versions = n, "TAXII object deleted");
        Ok::<_, TaxiiError>(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TAXII))],
            )
                .into_response(),
        )
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn versions(
    State(s): State<TaxiiState>,
    Path((root, coll, object)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let run = async {
        let (p, c, f) = open_object(
            &s,
            (&root, &coll, &object),
            &headers,
            Need::Read,
            raw.as_deref(),
            false,
        )
        .await?;
        let mut q = query(&c, &p, &f);
        q.ids = vec![object];
        q.versions = VersionMatch::all();
        let page = s.with_db(move |db| Ok(db.taxii_query(&q)?)).await?;
        let items = page
            .rows
            .iter()
            .map(|r| Value::String(r.version.clone()).to_string())
            .collect();
        Ok::<_, TaxiiError>(paged(&page, "versions", items))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn status(
    State(s): State<TaxiiState>,
    Path((root, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let run = async {
        check_root(&s, &root)?;
        let p = partner(&s, &headers).await?;
        let key = id.clone();
        let row = s.with_db(move |db| Ok(db.taxii_status(&key)?)).await?;
        // Another partner's status does not exist for this one.
        let row = row
            .filter(|r| r.partner == p.name)
            .ok_or_else(|| TaxiiError::not_found(format!("no status `{id}`")))?;
        Ok::<_, TaxiiError>(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TAXII))],
                row.doc,
            )
                .into_response(),
        )
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// One object of a POST: refused before the store (with its id and version when it had
/// them), or handed to it.
enum Entry {
    Bad {
        id: String,
        version: String,
        message: String,
    },
    Good(usize),
}

/// A status resource id: a version 4-shaped UUID from the partner, the time and the body.
fn status_id(partner: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(partner.as_bytes());
    h.update(jiff::Timestamp::now().as_nanosecond().to_le_bytes());
    h.update(body);
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

pub(super) async fn add_objects(
    State(s): State<TaxiiState>,
    Path((root, coll)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let (p, c) = open_collection(&s, &root, &headers, &coll, Need::Write).await?;
        check_content_type(&headers)?;
        let max = (s.setup().section.max_content_kb * 1024) as usize;
        let too_large = || {
            TaxiiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                format!(
                    "the envelope is larger than this API root's max_content_length ({max} bytes); post fewer objects at a time"
                ),
            )
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(body, max)
            .await
            .map_err(|_| too_large())?;
        let envelope: Value = serde_json::from_slice(&bytes)
            .map_err(|e| TaxiiError::bad_request(format!("the body is not JSON: {e}")))?;
        let list = envelope
            .get("objects")
            .and_then(Value::as_array)
            .filter(|_| envelope.is_object())
            .ok_or_else(|| {
                TaxiiError::bad_request(
                    "the body is not a TAXII envelope: expected {\"objects\": [...]}",
                )
            })?;
        if list.is_empty() {
            return Err(TaxiiError::bad_request("the envelope holds no objects"));
        }
        let unmarked = s.setup().unmarked;
        let mut goods = Vec::new();
        let mut entries = Vec::with_capacity(list.len());
        for obj in list {
            match collection::facts(obj) {
                Ok(f) => {
                    entries.push(Entry::Good(goods.len()));
                    goods.push(NewTaxiiObject {
                        private: PRIVATE_TYPES.contains(&f.ty.as_str()),
                        tlp: f.tlp_or(unmarked) as u8,
                        version: f.version.map(|(text, t)| {
                            (text, i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX))
                        }),
                        id: f.id,
                        ty: f.ty,
                        spec_version: f.spec_version,
                        creator: f.creator,
                        doc: obj.to_string(),
                    });
                }
                Err(message) => entries.push(Entry::Bad {
                    id: obj
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    version: ["modified", "created"]
                        .iter()
                        .find_map(|k| obj.get(*k).and_then(Value::as_str))
                        .unwrap_or("")
                        .to_string(),
                    message,
                }),
            }
        }
        let sid = status_id(&p.name, &bytes);
        let (cid, name) = (c.id.clone(), p.name.clone());
        let doc = s
            .with_db(move |db| {
                let mut doc = Value::Null;
                db.taxii_add(&cid, &goods, Some(&name), &mut |outcomes, requested| {
                    doc = status_body(&sid, &entries, &goods, outcomes, requested);
                    Some((sid.clone(), name.clone(), doc.to_string()))
                })?;
                Ok(doc)
            })
            .await?;
        tracing::info!(
            partner = %p.name,
            collection = %c.alias,
            objects = list.len(),
            succeeded = %doc["success_count"],
            failed = %doc["failure_count"],
            "TAXII objects posted"
        );
        Ok::<_, TaxiiError>(taxii_json(StatusCode::ACCEPTED, &doc))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// The status resource of a POST (TAXII 2.1 §4.3.1): every object a success (stored now, or
/// there already) or a failure with the reason, in the order posted.
fn status_body(
    id: &str,
    entries: &[Entry],
    goods: &[NewTaxiiObject],
    outcomes: &[AddOutcome],
    requested_ns: i64,
) -> Value {
    let (mut successes, mut failures) = (Vec::new(), Vec::new());
    for e in entries {
        match e {
            Entry::Bad {
                id,
                version,
                message,
            } => failures.push(json!({"id": id, "version": version, "message": message})),
            Entry::Good(i) => {
                let oid = &goods[*i].id;
                match outcomes.get(*i) {
                    Some(AddOutcome::Added { version, .. }) => {
                        successes.push(json!({"id": oid, "version": version}))
                    }
                    Some(AddOutcome::Present { version }) => successes.push(
                        json!({"id": oid, "version": version, "message": "already in the collection"}),
                    ),
                    Some(AddOutcome::Refused(why)) => {
                        let version = goods[*i]
                            .version
                            .as_ref()
                            .map(|(v, _)| v.clone())
                            .unwrap_or_default();
                        failures.push(json!({"id": oid, "version": version, "message": why}))
                    }
                    None => failures.push(json!({"id": oid, "version": "", "message": "not stored"})),
                }
            }
        }
    }
    let mut v = json!({
        "id": id,
        "status": "complete",
        "request_timestamp": stamp_us(requested_ns / 1_000),
        "total_count": entries.len(),
        "success_count": successes.len(),
        "failure_count": failures.len(),
        "pending_count": 0,
    });
    if !successes.is_empty() {
        v["successes"] = json!(successes);
    }
    if !failures.is_empty() {
        v["failures"] = json!(failures);
    }
    v
}
