//! The answers to the calls shippers make before (and besides) `_bulk`.
//!
//! | call | who makes it | what they need |
//! |---|---|---|
//! | `GET /`, `HEAD /` | Beats (connect), Logstash (health check, version), Vector (`api_version: auto`) | 200, `version.number` (Beats 8.1–8.10 refuse a server older than themselves; 8.11+ allow it), `build_flavor: default` (not `serverless`, or Beats switch to data stream lifecycles), and the `X-Elastic-Product: Elasticsearch` header (Beats, Logstash and the official clients check it since 7.14) |
//! | `GET /_license` | Beats (x-pack licence check), Logstash | `license.status: active`, `type: basic` |
//! | `GET /_xpack`, `/_xpack/usage` | Logstash (ILM availability), older Beats | `features.ilm.available/enabled` |
//! | `HEAD/GET/PUT /_index_template/{name}`, `/_template/{name}`, `/_component_template/{name}` | Beats, Logstash (template set-up) | 200 "exists" (so nothing is sent), or `{"acknowledged": true}` to a PUT |
//! | `GET/PUT /_ilm/policy/{name}` | Beats (`setup.ilm`), Logstash | 200 exists / acknowledged |
//! | `GET/PUT /_ingest/pipeline/{name}` | Filebeat modules | 200 exists / acknowledged — Wardwatch does not run ingest pipelines; it decodes documents itself |
//! | `HEAD/PUT/GET /{index}` | Logstash (rollover alias), scripts | 200 |
//! | `GET /_cluster/health` | Vector (health check) | 200, `status: green` |
//! | `GET /_nodes`, `/_nodes/*` | Logstash and Fluent Bit when sniffing | this one node, at the address the request came to |
//! | `GET /_cat/templates` | operators' scripts | an empty list |
//!
//! Everything is accepted and nothing is kept: templates, policies and pipelines configure an
//! Elasticsearch index, which Wardwatch does not have.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::BulkState;
use super::error::BulkError;
use crate::Sink;

/// The name this server gives itself as an Elasticsearch node and cluster.
const NAME: &str = "wardwatch";
/// A fixed cluster id (Elasticsearch's are 22 characters of URL-safe base64).
const CLUSTER_UUID: &str = "d2FyZHdhdGNoLWluZ2VzdA";
/// A fixed node id.
const NODE_ID: &str = "d2FyZHdhdGNoLW5vZGUtMQ";

/// Lucene and compatibility versions that go with an Elasticsearch major version.
fn companions(es_version: &str) -> (&'static str, &'static str, &'static str) {
    match es_version.split('.').next() {
        Some("7") => ("8.11.3", "6.8.0", "6.0.0-beta1"),
        Some("9") => ("10.1.0", "8.18.0", "8.0.0"),
        _ => ("9.12.0", "7.17.0", "7.0.0"),
    }
}

/// `GET /`: who we are, in the shape every Elasticsearch client reads.
pub(crate) async fn root<S: Sink>(State(state): State<BulkState<S>>) -> Json<Value> {
    let version = state.config.es_version.as_str();
    let (lucene, wire, index) = companions(version);
    Json(json!({
        "name": NAME,
        "cluster_name": NAME,
        "cluster_uuid": CLUSTER_UUID,
        "version": {
            "number": version,
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": "0000000000000000000000000000000000000000",
            "build_date": "2024-01-01T00:00:00.000000000Z",
            "build_snapshot": false,
            "lucene_version": lucene,
            "minimum_wire_compatibility_version": wire,
            "minimum_index_compatibility_version": index,
        },
        "tagline": "You Know, for Search",
    }))
}

fn license_body() -> Value {
    json!({
        "status": "active",
        "uid": "00000000-0000-4000-8000-000000000000",
        "type": "basic",
        "issue_date": "2024-01-01T00:00:00.000Z",
        "issue_date_in_millis": 1_704_067_200_000_u64,
        "max_nodes": 1000,
        "max_resource_units": null,
        "issued_to": NAME,
        "issuer": "elasticsearch",
        "start_date_in_millis": -1,
    })
}

/// `GET /_license`: a basic licence, active.
pub(crate) async fn license() -> Json<Value> {
    Json(json!({ "license": license_body() }))
}

/// `GET /_xpack`: the basic features, ILM among them.
pub(crate) async fn xpack() -> Json<Value> {
    let on = json!({"available": true, "enabled": true});
    Json(json!({
        "build": {"hash": "0000000000000000000000000000000000000000", "date": "2024-01-01T00:00:00.000000000Z"},
        "license": {"uid": "00000000-0000-4000-8000-000000000000", "type": "basic", "mode": "basic", "status": "active"},
        "features": {
            "ilm": on, "security": on, "monitoring": on, "watcher": {"available": false, "enabled": true},
            "data_streams": on, "data_tiers": on, "slm": on, "rollup": on, "transform": on,
        },
        "tagline": "You know, for X",
    }))
}

/// `GET /_xpack/usage`.
pub(crate) async fn xpack_usage() -> Json<Value> {
    let on = json!({"available": true, "enabled": true});
    Json(json!({
        "security": on,
        "ilm": {"policy_count": 0, "policy_stats": []},
        "monitoring": on,
        "data_streams": {"available": true, "enabled": true, "data_streams": 0, "indices_count": 0},
    }))
}

/// `PUT`/`POST` of a template, policy, pipeline or index: accepted, kept nowhere.
pub(crate) async fn acknowledged() -> Json<Value> {
    Json(json!({"acknowledged": true}))
}

/// `GET /_template/{name}` (legacy templates).
pub(crate) async fn legacy_template(Path(name): Path<String>) -> Json<Value> {
    Json(json!({ name.clone(): {
        "order": 0,
        "index_patterns": [format!("{name}*")],
        "settings": {},
        "mappings": {},
        "aliases": {},
    }}))
}

/// `GET /_index_template/{name}` (composable templates).
pub(crate) async fn index_template(Path(name): Path<String>) -> Json<Value> {
    Json(json!({"index_templates": [{
        "name": name,
        "index_template": {
            "index_patterns": [format!("{name}*")],
            "composed_of": [],
            "template": {},
            "data_stream": {"hidden": false, "allow_custom_routing": false},
        },
    }]}))
}

/// `GET /_component_template/{name}`.
pub(crate) async fn component_template(Path(name): Path<String>) -> Json<Value> {
    Json(json!({"component_templates": [{
        "name": name,
        "component_template": {"template": {}},
    }]}))
}

/// `GET /_ilm/policy/{name}`.
pub(crate) async fn ilm_policy(Path(name): Path<String>) -> Json<Value> {
    Json(json!({ name: {
        "version": 1,
        "modified_date": "2024-01-01T00:00:00.000Z",
        "policy": {"phases": {"hot": {"min_age": "0ms", "actions": {}}}},
        "in_use_by": {"indices": [], "data_streams": [], "composable_templates": []},
    }}))
}

/// `GET /_ingest/pipeline/{name}`.
pub(crate) async fn ingest_pipeline(Path(name): Path<String>) -> Json<Value> {
    Json(json!({ name: {
        "description": "accepted by Wardwatch, which decodes documents itself and runs no ingest pipeline",
        "processors": [],
    }}))
}

/// `GET /_ilm/policy`, `GET /_ingest/pipeline`: none kept.
pub(crate) async fn empty_object() -> Json<Value> {
    Json(json!({}))
}

/// `GET /_cat/templates[/{name}]`: none, as JSON (`?format=json`) or as an empty table.
pub(crate) async fn cat_templates(Query(query): Query<HashMap<String, String>>) -> Response {
    if query.get("format").is_some_and(|f| f == "json") {
        Json(json!([])).into_response()
    } else {
        ([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], "").into_response()
    }
}

/// `GET /_cluster/health`.
pub(crate) async fn cluster_health() -> Json<Value> {
    Json(json!({
        "cluster_name": NAME,
        "status": "green",
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": 0,
        "active_shards": 0,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0,
    }))
}

/// `GET /_nodes[/...]`: this node, published at the address the request was sent to.
pub(crate) async fn nodes<S: Sink>(
    State(state): State<BulkState<S>>,
    headers: HeaderMap,
) -> Json<Value> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:9200")
        .to_string();
    Json(json!({
        "_nodes": {"total": 1, "successful": 1, "failed": 0},
        "cluster_name": NAME,
        "nodes": { NODE_ID: {
            "name": NAME,
            "host": host,
            "version": state.config.es_version,
            "build_flavor": "default",
            "roles": ["data", "ingest", "master"],
            "http": {"bound_address": [host.clone()], "publish_address": host},
        }},
    }))
}

/// `GET /{index}`: an index exists whatever its name (documents are accepted for any index).
pub(crate) async fn index_info(Path(index): Path<String>) -> Result<Json<Value>, BulkError> {
    if index.starts_with('_') {
        return Err(BulkError::NotFound {
            method: "GET".into(),
            uri: format!("/{index}"),
        });
    }
    Ok(Json(json!({ index.clone(): {
        "aliases": {},
        "mappings": {},
        "settings": {"index": {"number_of_shards": "1", "number_of_replicas": "0", "provided_name": index}},
    }})))
}

/// `PUT /{index}`: created (as far as the shipper can tell).
pub(crate) async fn create_index(Path(index): Path<String>) -> Result<Json<Value>, BulkError> {
    if index.starts_with('_') {
        return Err(BulkError::NotFound {
            method: "PUT".into(),
            uri: format!("/{index}"),
        });
    }
    Ok(Json(
        json!({"acknowledged": true, "shards_acknowledged": true, "index": index}),
    ))
}
