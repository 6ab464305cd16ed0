//! The TAXII endpoints through the router, without a socket: who sees what (TLP, rights,
//! private sightings), filters and pages, and bad requests answered as TAXII errors with
//! nothing stored.

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use wardwatch_intel::Tlp;
use wardwatch_store::{Db, DbOptions, NewTaxiiObject, TokenKind};

use super::http::MEDIA_TAXII;
use super::*;

const CONFIG: &str = r#"
enabled = true
[[collections]]
alias = "incidents"
title = "Incidents"
[[collections]]
alias = "closed"
[[partners]]
name = "north"
read = ["incidents"]
write = ["incidents"]
max_tlp = "amber"
[[partners]]
name = "south"
read = ["incidents"]
[[partners]]
name = "east"
write = ["incidents"]
max_tlp = "red"
"#;

struct World {
    _dir: tempfile::TempDir,
    app: Router,
    data: PathBuf,
    incidents: String,
}

fn uuid_of(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-000000000000")
}

fn indicator(n: u32, modified: &str, tlp: Option<Tlp>) -> Value {
    let mut v = json!({"type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--{}", uuid_of(n)),
        "created": "2026-01-01T00:00:00.000Z", "modified": modified,
        "pattern": format!("[domain-name:value = 'evil{n}.example']"), "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "created_by_ref": format!("identity--{}", uuid_of(999))});
    if let Some(t) = tlp {
        v["object_marking_refs"] = json!([t.marking_id()]);
    }
    v
}

/// Publish `objects` as this site does.
fn publish(data: &std::path::Path, collection: &str, objects: &[Value]) {
    let mut db = Db::open(data, &DbOptions::default()).unwrap();
    let rows: Vec<NewTaxiiObject> = objects
        .iter()
        .map(|o| {
            let f = wardwatch_intel::collection::facts(o).unwrap();
            NewTaxiiObject {
                tlp: f.tlp_or(Tlp::Amber) as u8,
                version: f.version.map(|(s, t)| (s, t.as_nanosecond() as i64)),
                id: f.id,
                ty: f.ty,
                spec_version: f.spec_version,
                creator: f.creator,
                private: false,
                doc: o.to_string(),
            }
        })
        .collect();
    db.taxii_add(collection, &rows, None, |_, _| None).unwrap();
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let section: TaxiiSection = toml::from_str(CONFIG).unwrap();
    let setup = section.setup().unwrap();
    let incidents = setup.collection("incidents").unwrap().id.clone();
    {
        let mut db = Db::open(&data, &DbOptions::default()).unwrap();
        for name in ["north", "south", "east", "west"] {
            db.add_token(name, TokenKind::Taxii, &format!("{name}-secret"))
                .unwrap();
        }
        // An API token is no partner token.
        db.add_token("ops", TokenKind::Api, "ops-secret").unwrap();
    }
    let state = TaxiiState::new(setup, crate::roles::sqlite_state(data.clone()), false).unwrap();
    publish(
        &data,
        &incidents,
        &[
            indicator(1, "2026-01-02T00:00:00.000Z", Some(Tlp::Clear)),
            indicator(2, "2026-01-02T00:00:00.000Z", Some(Tlp::Green)),
            indicator(3, "2026-01-02T00:00:00.000Z", Some(Tlp::Amber)),
            indicator(4, "2026-01-02T00:00:00.000Z", Some(Tlp::Red)),
            indicator(5, "2026-01-02T00:00:00.000Z", None),
            indicator(1, "2026-01-03T00:00:00.000Z", Some(Tlp::Clear)),
        ],
    );
    World {
        _dir: dir,
        app: router(state),
        data,
        incidents,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn call(
    w: &World,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Answer {
    call_with(w, method, uri, token, body, &[]).await
}

async fn call_with(
    w: &World,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<String>,
    extra: &[(&str, &str)],
) -> Answer {
    let mut r = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "taxii.hospital.test:8080")
        .header("accept", MEDIA_TAXII);
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}-secret"));
    }
    if body.is_some() {
        r = r.header("content-type", MEDIA_TAXII);
    }
    let mut req = r.body(Body::from(body.unwrap_or_default())).unwrap();
    for (k, v) in extra {
        req.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(v).unwrap(),
        );
    }
    let resp = w.app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{status}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    if status != StatusCode::OK && status != StatusCode::ACCEPTED {
        assert_eq!(headers["content-type"], MEDIA_TAXII, "errors are TAXII");
        assert_eq!(body["http_status"], status.as_u16().to_string(), "{body}");
        assert!(body["title"].is_string() && body["description"].is_string());
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn ids(body: &Value) -> Vec<String> {
    body["objects"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    let id = o["id"].as_str().unwrap();
                    id[id.len() - 36..id.len() - 28]
                        .trim_start_matches('0')
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn objects_url(w: &World) -> String {
    format!("/taxii2/intel/collections/{}/objects/", w.incidents)
}

#[tokio::test]
async fn discovery_api_root_and_collections_as_each_partner_sees_them() {
    let w = world();
    let a = call(&w, Method::GET, "/taxii2/", Some("north"), None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-type"], MEDIA_TAXII);
    let root = "http://taxii.hospital.test:8080/taxii2/intel/";
    assert_eq!(a.body["api_roots"], json!([root]));
    assert_eq!(a.body["default"], root);
    // Without the trailing slash too.
    let a = call(&w, Method::GET, "/taxii2/intel", Some("north"), None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["versions"], json!([MEDIA_TAXII]));
    assert_eq!(a.body["max_content_length"], 10_240 * 1024);
    let a = call(
        &w,
        Method::GET,
        "/taxii2/intel/collections/",
        Some("south"),
        None,
    )
    .await;
    let list = a.body["collections"].as_array().unwrap();
    assert_eq!(list.len(), 1, "only the collections it has a right to");
    assert_eq!(list[0]["id"], w.incidents.as_str());
    assert_eq!(
        (list[0]["can_read"].clone(), list[0]["can_write"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(
        list[0]["media_types"],
        json!(["application/stix+json;version=2.1"])
    );
    let a = call(
        &w,
        Method::GET,
        "/taxii2/intel/collections/incidents/",
        Some("east"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "by alias too");
    assert_eq!(
        (a.body["can_read"].clone(), a.body["can_write"].clone()),
        (json!(false), json!(true))
    );
    // A collection without rights, an unknown one and another API root do not exist.
    for uri in [
        "/taxii2/intel/collections/closed/",
        "/taxii2/intel/collections/nothing/objects/",
        "/taxii2/other/collections/",
    ] {
        assert_eq!(
            call(&w, Method::GET, uri, Some("north"), None).await.status,
            StatusCode::NOT_FOUND,
            "{uri}"
        );
    }
}

#[tokio::test]
async fn who_is_asking_401_403_and_media_types_406_415() {
    let w = world();
    let a = call(&w, Method::GET, "/taxii2/", None, None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.headers.contains_key("www-authenticate"));
    for token in ["nobody", "ops"] {
        assert_eq!(
            call(&w, Method::GET, "/taxii2/", Some(token), None)
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "{token}"
        );
    }
    // A token without a partnership.
    assert_eq!(
        call(&w, Method::GET, "/taxii2/", Some("west"), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Basic with the partner's name and token; another name with it is refused.
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    let basic = format!("Basic {}", b64("north:north-secret"));
    let a = call_with(
        &w,
        Method::GET,
        "/taxii2/",
        None,
        None,
        &[("authorization", &basic)],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let wrong = format!("Basic {}", b64("south:north-secret"));
    let a = call_with(
        &w,
        Method::GET,
        "/taxii2/",
        None,
        None,
        &[("authorization", &wrong)],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // Write-only cannot read; read-only cannot write or delete.
    assert_eq!(
        call(&w, Method::GET, &objects_url(&w), Some("east"), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let env = json!({"objects": [indicator(7, "2026-02-01T00:00:00Z", None)]}).to_string();
    assert_eq!(
        call(
            &w,
            Method::POST,
            &objects_url(&w),
            Some("south"),
            Some(env.clone())
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let one = format!("{}indicator--{}/", objects_url(&w), uuid_of(1));
    assert_eq!(
        call(&w, Method::DELETE, &one, Some("south"), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&w, Method::DELETE, &one, Some("east"), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Accept and Content-Type.
    let a = call_with(
        &w,
        Method::GET,
        "/taxii2/",
        Some("north"),
        None,
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_ACCEPTABLE);
    let a = call_with(
        &w,
        Method::POST,
        &objects_url(&w),
        Some("north"),
        Some(env),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn tlp_decides_what_each_partner_reads() {
    let w = world();
    // north: up to amber (unmarked counts as amber); south: clear and green.
    let a = call(&w, Method::GET, &objects_url(&w), Some("north"), None).await;
    assert_eq!(ids(&a.body), ["2", "3", "5", "1"]);
    let a = call(&w, Method::GET, &objects_url(&w), Some("south"), None).await;
    assert_eq!(ids(&a.body), ["2", "1"]);
    // The red object does not exist for them, by id, versions or manifest.
    let red = format!("{}indicator--{}/", objects_url(&w), uuid_of(4));
    assert_eq!(
        call(&w, Method::GET, &red, Some("north"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &w,
            Method::GET,
            &format!("{red}versions/"),
            Some("north"),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let m = call(
        &w,
        Method::GET,
        &format!("/taxii2/intel/collections/{}/manifest/", w.incidents),
        Some("north"),
        None,
    )
    .await;
    let listed: Vec<&str> = m.body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 4);
    assert!(!listed.iter().any(|id| id.ends_with(&uuid_of(4))));
    assert_eq!(
        m.body["objects"][0]["media_type"],
        "application/stix+json;version=2.1"
    );
    assert!(
        m.body["objects"][0]["date_added"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

#[tokio::test]
async fn filters_versions_and_pages_with_next_and_date_headers() {
    let w = world();
    let url = objects_url(&w);
    // Pages of two: north reads 4 objects (latest versions) in 2 pages.
    let a = call(
        &w,
        Method::GET,
        &format!("{url}?limit=2"),
        Some("north"),
        None,
    )
    .await;
    assert_eq!(ids(&a.body), ["2", "3"]);
    assert_eq!(a.body["more"], true);
    let next = a.body["next"].as_str().unwrap().to_string();
    let first = a.headers["x-taxii-date-added-first"]
        .to_str()
        .unwrap()
        .to_string();
    let last = a.headers["x-taxii-date-added-last"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(first < last, "{first} {last}");
    let b = call(
        &w,
        Method::GET,
        &format!("{url}?limit=2&next={next}"),
        Some("north"),
        None,
    )
    .await;
    assert_eq!(ids(&b.body), ["5", "1"]);
    assert_eq!(b.body["more"], false);
    assert!(b.body.get("next").is_none());
    // added_after the first page's last date: the second page.
    let c = call(
        &w,
        Method::GET,
        &format!("{url}?added_after={last}"),
        Some("north"),
        None,
    )
    .await;
    assert_eq!(ids(&c.body), ["5", "1"]);
    // match[...]
    let one = format!("indicator--{}", uuid_of(1));
    let d = call(
        &w,
        Method::GET,
        &format!("{url}?match[id]={one}&match[version]=all"),
        Some("north"),
        None,
    )
    .await;
    assert_eq!(d.body["objects"].as_array().unwrap().len(), 2);
    let d = call(
        &w,
        Method::GET,
        &format!("{url}?match[id]={one}&match[version]=first"),
        Some("north"),
        None,
    )
    .await;
    assert_eq!(d.body["objects"][0]["modified"], "2026-01-02T00:00:00.000Z");
    let d = call(
        &w,
        Method::GET,
        &format!("{url}?match[id]={one}&match[version]=2026-01-03T00:00:00Z"),
        Some("north"),
        None,
    )
    .await;
    assert_eq!(d.body["objects"][0]["modified"], "2026-01-03T00:00:00.000Z");
    let d = call(
        &w,
        Method::GET,
        &format!("{url}?match[type]=sighting"),
        Some("north"),
        None,
    )
    .await;
    assert_eq!(d.body, json!({"more": false}), "an empty envelope");
    let d = call(
        &w,
        Method::GET,
        &format!("{url}?match[spec_version]=2.1&match[type]=indicator"),
        Some("south"),
        None,
    )
    .await;
    assert_eq!(ids(&d.body), ["2", "1"]);
    // One object, its versions.
    let e = call(
        &w,
        Method::GET,
        &format!("{url}{one}/?match[version]=all"),
        Some("south"),
        None,
    )
    .await;
    assert_eq!(e.body["objects"].as_array().unwrap().len(), 2);
    let e = call(
        &w,
        Method::GET,
        &format!("{url}{one}/versions/"),
        Some("south"),
        None,
    )
    .await;
    assert_eq!(
        e.body["versions"],
        json!(["2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"])
    );
    assert!(e.headers.contains_key("x-taxii-date-added-last"));
    // Bad parameters are named.
    for q in [
        "limit=0",
        "added_after=soon",
        "next=x",
        "match[version]=newest",
    ] {
        let a = call(&w, Method::GET, &format!("{url}?{q}"), Some("north"), None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}");
    }
}

#[tokio::test]
async fn posted_objects_get_a_status_and_sightings_stay_with_their_partner() {
    let w = world();
    let url = objects_url(&w);
    let sighting = json!({"type": "sighting", "spec_version": "2.1",
        "id": "sighting--0b4f1b0e-3e9a-4c3b-8f0e-1b2c3d4e5f60",
        "created": "2026-02-01T00:00:00Z", "modified": "2026-02-01T00:00:00Z",
        "sighting_of_ref": format!("indicator--{}", uuid_of(2)), "count": 3,
        "object_marking_refs": [Tlp::Green.marking_id()]});
    let bad = json!({"type": "indicator", "id": "indicator--nope"});
    let env = json!({"objects": [indicator(8, "2026-02-01T00:00:00.000Z", Some(Tlp::Green)), sighting, bad,
        indicator(2, "2026-01-02T00:00:00.000Z", Some(Tlp::Green))]});
    let a = call(&w, Method::POST, &url, Some("north"), Some(env.to_string())).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let s = &a.body;
    assert_eq!(s["status"], "complete");
    assert_eq!(
        (
            s["total_count"].clone(),
            s["success_count"].clone(),
            s["failure_count"].clone(),
            s["pending_count"].clone()
        ),
        (json!(4), json!(3), json!(1), json!(0))
    );
    assert_eq!(s["failures"][0]["id"], "indicator--nope");
    assert!(
        s["failures"][0]["message"]
            .as_str()
            .unwrap()
            .contains("UUID")
    );
    assert_eq!(s["successes"][2]["message"], "already in the collection");
    // The status, for its partner only (with or without the trailing slash).
    let status_url = format!("/taxii2/intel/status/{}", s["id"].as_str().unwrap());
    let b = call(&w, Method::GET, &status_url, Some("north"), None).await;
    assert_eq!(b.body, a.body);
    assert_eq!(
        call(&w, Method::GET, &status_url, Some("south"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The sighting is north's; the green indicator is everybody's.
    let north = call(
        &w,
        Method::GET,
        &format!("{url}?match[type]=sighting"),
        Some("north"),
        None,
    )
    .await;
    assert_eq!(north.body["objects"].as_array().unwrap().len(), 1);
    let south = call(&w, Method::GET, &url, Some("south"), None).await;
    assert_eq!(ids(&south.body), ["2", "1", "8"]);
    // Deleting needs read and write: north may, and the object is gone with all versions.
    let one = format!("{url}indicator--{}/", uuid_of(1));
    assert_eq!(
        call(&w, Method::DELETE, &one, Some("north"), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&w, Method::GET, &one, Some("north"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_posts_are_refused_whole_with_a_taxii_error() {
    let w = world();
    let url = objects_url(&w);
    let count = |w: &World| {
        let db = Db::open(&w.data, &DbOptions::default()).unwrap();
        db.taxii_counts().unwrap()
    };
    let before = count(&w);
    for (body, want) in [
        ("{\"objects\": [".to_string(), StatusCode::BAD_REQUEST),
        ("[1, 2]".to_string(), StatusCode::BAD_REQUEST),
        ("{\"objects\": {}}".to_string(), StatusCode::BAD_REQUEST),
        ("{\"objects\": []}".to_string(), StatusCode::BAD_REQUEST),
    ] {
        let a = call(&w, Method::POST, &url, Some("north"), Some(body.clone())).await;
        assert_eq!(a.status, want, "{body}: {}", a.body);
    }
    // Larger than max_content_length: 413, whether it says so up front or not.
    let big =
        json!({"objects": [{"type": "note", "content": "x".repeat(11 * 1024 * 1024)}]}).to_string();
    let a = call(&w, Method::POST, &url, Some("north"), Some(big)).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        a.body["description"]
            .as_str()
            .unwrap()
            .contains("max_content_length")
    );
    let small = json!({"objects": [indicator(9, "2026-02-01T00:00:00Z", None)]}).to_string();
    let a = call_with(
        &w,
        Method::POST,
        &url,
        Some("north"),
        Some(small),
        &[("content-length", "99999999")],
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(count(&w), before, "nothing stored");
}

/// Each collection keeps what was added to it for its retention (a year unless configured):
/// nothing goes a day later, everything a year and a day later, and a collection that keeps
/// everything (0) keeps it.
#[test]
fn collections_keep_what_was_added_for_their_retention() {
    let w = world();
    let mut db = Db::open(&w.data, &DbOptions::default()).unwrap();
    let count = |db: &Db| {
        db.taxii_counts()
            .unwrap()
            .into_iter()
            .find(|(c, _)| *c == w.incidents)
            .map_or(0, |(_, n)| n)
    };
    let held = count(&db);
    assert!(held > 0);
    let now = jiff::Timestamp::now();
    let day = jiff::SignedDuration::from_hours(24);
    let mut forever: TaxiiSection = toml::from_str(CONFIG).unwrap();
    forever.retention_days = 0;
    let forever = forever.setup().unwrap();
    assert_eq!(retain(&mut db, &forever, now + day * 400).unwrap(), (0, 0));
    let setup = toml::from_str::<TaxiiSection>(CONFIG)
        .unwrap()
        .setup()
        .unwrap();
    assert_eq!(retain(&mut db, &setup, now + day).unwrap(), (0, 0));
    assert_eq!(count(&db), held);
    let (objects, _) = retain(&mut db, &setup, now + day * 366).unwrap();
    assert_eq!(objects, held as u64);
    assert_eq!(count(&db), 0);
}
