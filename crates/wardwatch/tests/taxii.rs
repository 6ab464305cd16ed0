//! Sharing over TAXII 2.1, end to end: incidents of the demo week published from the API and
//! from `intel share --collection`, read by partners as their TLP allows, every published
//! object valid for the OASIS `stix2-validator`, and the OASIS `taxii2-client` (PyPI,
//! installed by `.ci/run` in `target/py-intel`) discovering the server, listing collections,
//! reading objects with `added_after` and in pages, posting objects and a sighting and reading
//! the status.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn wardwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(args)
        .env("WARDWATCH_LOG", "warn")
        .output()
        .expect("run wardwatch")
}

/// A program of `target/py-intel` (installed by `.ci/run`), or `None` with a message when the
/// venv is absent (a failure when CI is set).
fn py_intel(program: &str, what: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/py-intel/bin")
        .join(program);
    let present = p.exists()
        && (program != "python"
            || Command::new(&p)
                .args(["-c", "import taxii2client"])
                .status()
                .is_ok_and(|s| s.success()));
    if present {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is missing from target/py-intel and CI is set (.ci/run installs it)"
    );
    eprintln!("skipped the {what} check: target/py-intel lacks it (.ci/run installs it)");
    None
}

const MEDIA: &str = "application/taxii+json;version=2.1";

/// A TAXII request with a partner's token; status and JSON body.
fn taxii(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    token: &str,
) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: {MEDIA}\r\nContent-Type: {MEDIA}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn add_partner_token(data: &Path, name: &str) -> String {
    let out = wardwatch(&[
        "tokens",
        "add",
        name,
        "--kind",
        "taxii",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Every object `token` reads from the collection (latest versions), page by page.
fn read_all(addr: std::net::SocketAddr, collection: &str, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = String::new();
    loop {
        let path = format!("/taxii2/intel/collections/{collection}/objects/?limit=50{next}");
        let (status, v) = taxii(addr, "GET", &path, "", token);
        assert_eq!(status, 200, "{v}");
        out.extend(v["objects"].as_array().cloned().unwrap_or_default());
        match v["next"].as_str() {
            Some(n) => next = format!("&next={n}"),
            None => return out,
        }
    }
}

fn tlp_of(o: &Value) -> &str {
    const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
    const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
    match o["object_marking_refs"][0].as_str() {
        Some(GREEN) => "green",
        Some(AMBER) => "amber",
        Some(_) => "other",
        None => "unmarked",
    }
}

const INTEROP: &str = r#"
import json, sys
from taxii2client.v21 import Server, as_pages

url, user, password, collection_id, sighting_of = sys.argv[1:6]
server = Server(url, user=user, password=password)
out = {"title": server.title, "api_roots": [r.url for r in server.api_roots]}
root = server.api_roots[0]
out["max_content_length"] = root.max_content_length
coll = [c for c in root.collections if c.id == collection_id][0]
out["collections"] = [c.id for c in root.collections]
out["can_read"], out["can_write"] = coll.can_read, coll.can_write
pages = list(as_pages(coll.get_objects, per_request=3))
out["pages"] = len(pages)
objects = [o for p in pages for o in p.get("objects", [])]
out["read"] = len(objects)
manifest = coll.get_manifest()["objects"]
added = manifest[len(manifest) // 2]["date_added"]
after = coll.get_objects(added_after=added).get("objects", [])
out["after_count"] = len(after)
out["after_expected"] = len([m for m in manifest if m["date_added"] > added])
one = coll.get_object(objects[0]["id"])
out["one"] = one["objects"][0]["id"] == objects[0]["id"]
out["versions"] = len(coll.object_versions(objects[0]["id"])["versions"])
envelope = {"objects": [
    {"type": "indicator", "spec_version": "2.1",
     "id": "indicator--5f3c2a1e-8b7d-4c6e-9f0a-1b2c3d4e5f61",
     "created": "2026-12-01T08:00:00.000Z", "modified": "2026-12-01T08:00:00.000Z",
     "name": "Phishing landing page seen at the northern hospital",
     "indicator_types": ["malicious-activity"],
     "pattern": "[domain-name:value = 'login-portal-update.example']",
     "pattern_type": "stix", "valid_from": "2026-12-01T08:00:00Z",
     "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]},
    {"type": "sighting", "spec_version": "2.1",
     "id": "sighting--0c6e8a2b-3d4f-4a5b-8c7d-9e0f1a2b3c4d",
     "created": "2026-12-02T09:00:00.000Z", "modified": "2026-12-02T09:00:00.000Z",
     "sighting_of_ref": sighting_of, "count": 2,
     "first_seen": "2026-12-02T07:00:00Z", "last_seen": "2026-12-02T08:30:00Z",
     "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]},
]}
status = coll.add_objects(envelope)
out["status"] = status.status
out["success_count"], out["failure_count"] = status.success_count, status.failure_count
again = root.get_status(status.id)
out["status_again"] = again.status == "complete" and again.total_count == 2
print(json.dumps(out))
"#;

#[test]
fn incidents_shared_from_the_api_and_the_cli_reach_partners_as_their_tlp_allows() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wardwatch.toml");
    std::fs::write(
        &config,
        r#"
[taxii]
enabled = true
producer = "Demo University Hospital"
[[taxii.collections]]
alias = "incidents"
title = "Incidents of the demo hospital"
[[taxii.partners]]
name = "st-north"
read = ["incidents"]
write = ["incidents"]
max_tlp = "amber"
[[taxii.partners]]
name = "st-south"
read = ["incidents"]
"#,
    )
    .unwrap();
    let demo = common::start_demo(&["--config", config.to_str().unwrap()]);
    let north = add_partner_token(&demo.data, "st-north");
    let south = add_partner_token(&demo.data, "st-south");
    let (status, v) = common::http_get(demo.http, "/taxii2/intel/collections/", None);
    assert_eq!(status, 401, "{v}");
    let (status, v) = taxii(demo.http, "GET", "/taxii2/intel/collections/", "", &north);
    assert_eq!(status, 200, "{v}");
    let collection = v["collections"][0]["id"].as_str().unwrap().to_string();
    assert!(read_all(demo.http, &collection, &north).is_empty());

    let (status, v) = common::http_get(
        demo.http,
        "/api/v1/incidents?min_severity=medium",
        Some("demo"),
    );
    assert_eq!(status, 200, "{v}");
    let ids: Vec<String> = v["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .filter(|id| !id.starts_with(wardwatch_core::PRIVACY_INCIDENT_PREFIX))
        .collect();
    assert!(ids.len() >= 2, "{ids:?}");
    let share = |id: &str, body: Value| {
        common::http_post(
            demo.http,
            &format!("/api/v1/incidents/{id}/share"),
            &body.to_string(),
            Some("demo"),
        )
    };
    // A dry run shows the bundle and publishes nothing: the first incident with an external
    // indicator is shared at amber, another one at green.
    let mut with_indicators = None;
    for id in &ids {
        let (status, dry) = share(id, json!({"dry_run": true, "tlp": "amber"}));
        assert_eq!(status, 200, "{dry}");
        assert_eq!(dry["dry_run"], true);
        assert!(dry["bundle"]["objects"].as_array().unwrap().len() >= 2);
        if dry["indicators"].as_u64().unwrap() > 0 {
            with_indicators = Some(id.clone());
            break;
        }
    }
    let first = with_indicators.expect("an incident of the demo week names an external indicator");
    let second = ids.iter().find(|i| **i != first).unwrap().clone();
    let ids = [first, second];
    assert!(read_all(demo.http, &collection, &north).is_empty());
    // Mistakes are named.
    let (status, v) = share(&ids[0], json!({"tlp": "amber"}));
    assert_eq!(status, 400, "{v}");
    let (status, v) = share(&ids[0], json!({"collection": "nope"}));
    assert!(
        status == 400 && v.to_string().contains("incidents"),
        "{status} {v}"
    );
    let (status, v) = share(&ids[0], json!({"collection": "incidents", "tlp": "pink"}));
    assert_eq!(status, 400, "{v}");
    // Published at amber from the API, and at green from the command line.
    let (status, v) = share(&ids[0], json!({"collection": "incidents", "tlp": "amber"}));
    assert_eq!(status, 200, "{v}");
    assert!(v["added"].as_u64().unwrap() > 2, "{v}");
    let out = wardwatch(&[
        "intel",
        "share",
        &ids[1],
        "--data",
        demo.data.to_str().unwrap(),
        "--collection",
        "incidents",
        "--tlp",
        "green",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("published to collection `incidents`"),
        "{err}"
    );
    // The audit log says who shared what.
    let (_, audit) = common::http_get(demo.http, "/api/v1/audit?limit=200", Some("demo"));
    assert!(audit.to_string().contains("incident.share"), "{audit}");

    // north (amber) reads both shares; south (green) only the green one.
    let north_objects = read_all(demo.http, &collection, &north);
    let south_objects = read_all(demo.http, &collection, &south);
    assert!(north_objects.iter().any(|o| tlp_of(o) == "amber"));
    assert!(north_objects.iter().any(|o| tlp_of(o) == "green"));
    assert!(!south_objects.is_empty());
    for o in &south_objects {
        assert!(
            matches!(tlp_of(o), "green" | "unmarked")
                && (tlp_of(o) == "green" || o["type"] == "marking-definition"),
            "south reads {o}"
        );
    }
    // Every published object passes the OASIS validator, with no warning.
    if let Some(validator) = py_intel("stix2_validator", "stix2-validator") {
        let file = dir.path().join("published.json");
        let bundle = json!({"type": "bundle", "id": "bundle--6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b",
            "objects": north_objects});
        std::fs::write(&file, bundle.to_string()).unwrap();
        let check = Command::new(validator).arg(&file).output().unwrap();
        let said = String::from_utf8_lossy(&check.stdout);
        assert!(
            check.status.success() && !said.contains("[X]") && !said.contains("[!]"),
            "stix2-validator:\n{said}\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }

    // A partner's sighting of what we shared comes back, and the SOC sees who saw what.
    let shared = north_objects
        .iter()
        .find(|o| o["type"] == "indicator")
        .unwrap();
    let sighting = json!({"objects": [{"type": "sighting", "spec_version": "2.1",
        "id": "sighting--7a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d",
        "created": "2026-12-03T10:00:00.000Z", "modified": "2026-12-03T10:00:00.000Z",
        "sighting_of_ref": shared["id"], "count": 4,
        "first_seen": "2026-12-03T08:00:00Z", "last_seen": "2026-12-03T09:45:00Z"}]});
    let (status, v) = taxii(
        demo.http,
        "POST",
        &format!("/taxii2/intel/collections/{collection}/objects/"),
        &sighting.to_string(),
        &north,
    );
    assert_eq!((status, v["success_count"].clone()), (202, json!(1)), "{v}");
    let out = wardwatch(&[
        "intel",
        "sightings",
        "--data",
        demo.data.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["partner"], "st-north");
    assert_eq!(listed["count"], 4);
    assert_eq!(listed["of_type"], "indicator");
    assert_eq!(listed["of_pattern"], shared["pattern"]);
    let (status, v) = common::http_get(demo.http, "/api/v1/intel/sightings", Some("demo"));
    assert_eq!((status, v["total"].clone()), (200, json!(1)), "{v}");
    assert_eq!(v["sightings"][0], listed);

    // The OASIS TAXII client, as a partner hospital would run it.
    let Some(python) = py_intel("python", "taxii2-client") else {
        return;
    };
    let script = dir.path().join("interop.py");
    std::fs::write(&script, INTEROP).unwrap();
    let indicator = north_objects
        .iter()
        .find(|o| o["type"] == "indicator")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = Command::new(python)
        .arg(&script)
        .args([
            &format!("http://{}/taxii2/", demo.http),
            "st-north",
            &north,
            &collection,
            &indicator,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "taxii2-client: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["title"], "Wardwatch TAXII server");
    assert_eq!(got["collections"], json!([collection]));
    assert_eq!(
        (got["can_read"].clone(), got["can_write"].clone()),
        (json!(true), json!(true))
    );
    // All north read before, and its own sighting posted since.
    assert_eq!(got["read"], north_objects.len() + 1);
    assert!(got["pages"].as_u64().unwrap() >= 2, "{got}");
    assert_eq!(got["after_count"], got["after_expected"], "{got}");
    assert!(got["after_count"].as_u64().unwrap() > 0, "{got}");
    assert_eq!(got["one"], true);
    assert!(got["versions"].as_u64().unwrap() >= 1);
    assert_eq!(got["status"], "complete");
    assert_eq!(
        (got["success_count"].clone(), got["failure_count"].clone()),
        (json!(2), json!(0)),
        "{got}"
    );
    assert_eq!(got["status_again"], true);
    // north's sighting is north's; its green indicator everybody's.
    let types = |objects: &[Value]| -> Vec<String> {
        objects
            .iter()
            .map(|o| o["type"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(types(&read_all(demo.http, &collection, &north)).contains(&"sighting".to_string()));
    let south_after = read_all(demo.http, &collection, &south);
    assert!(!types(&south_after).contains(&"sighting".to_string()));
    assert_eq!(south_after.len(), south_objects.len() + 1);
}

/// Poll `cond` for up to a minute.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    false
}

/// Two hospitals running Wardwatch: A shares an incident on its TAXII server, B's feed polls
/// it, a workstation at B resolves the shared domain, B's alert names hospital A, and B's
/// sighting goes back to A's collection, where `intel sightings` lists it.
#[test]
fn two_hospitals_running_wardwatch_share_and_the_sighting_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let intel = dir.path().join("ioc.txt");
    std::fs::write(&intel, "update-check.example\n").unwrap();
    let a_config = dir.path().join("a.toml");
    std::fs::write(
        &a_config,
        format!(
            "[intel]\npaths = [{:?}]\n[taxii]\nenabled = true\nproducer = \"Hospital A\"\n\
             [[taxii.collections]]\nalias = \"incidents\"\n\
             [[taxii.partners]]\nname = \"hospital-b\"\nread = [\"incidents\"]\nwrite = [\"incidents\"]\nmax_tlp = \"amber\"\n",
            intel.to_str().unwrap()
        ),
    )
    .unwrap();
    let a = common::Server::start(&["--config", a_config.to_str().unwrap()]);
    let secret = add_partner_token(&a.data, "hospital-b");
    let now = jiff::Timestamp::now().to_string();
    common::post_bulk(
        &a,
        &[json!({"@timestamp": now, "host": {"name": "ws-a-01"},
            "dns": {"question": {"name": "eu.update-check.example"}}})],
    );
    a.wait_alerts("rule_id=intel:ioc.txt:domain", 1);
    let mut incident = String::new();
    assert!(eventually(|| {
        let (_, v) = common::http_get(a.http, "/api/v1/incidents", Some(&a.api_token));
        match v["incidents"][0]["id"].as_str() {
            Some(id) => {
                incident = id.to_string();
                true
            }
            None => false,
        }
    }));
    let (status, v) = common::http_post(
        a.http,
        &format!("/api/v1/incidents/{incident}/share"),
        r#"{"collection": "incidents", "tlp": "amber"}"#,
        Some(&a.api_token),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["indicators"], 1, "{v}");
    let (_, v) = taxii(a.http, "GET", "/taxii2/intel/collections/", "", &secret);
    let collection = v["collections"][0]["id"].as_str().unwrap().to_string();

    let b_config = dir.path().join("b.toml");
    std::fs::write(
        &b_config,
        format!(
            "[[intel.feeds]]\nname = \"hospital-a\"\nkind = \"taxii\"\n\
             url = \"http://{}/taxii2/intel/collections/{collection}/\"\ntoken = \"{secret}\"\n\
             interval_secs = 1\nsightings = true\n",
            a.http
        ),
    )
    .unwrap();
    let b = common::Server::start(&["--config", b_config.to_str().unwrap()]);
    common::post_bulk(
        &b,
        &[
            json!({"@timestamp": jiff::Timestamp::now().to_string(), "host": {"name": "ws-b-07"},
            "dns": {"question": {"name": "eu.update-check.example"}}}),
        ],
    );
    let alerts = b.wait_alerts("rule_id=intel:hospital-a:domain", 1);
    assert_eq!(alerts["total"], 1, "{alerts}");
    assert_eq!(alerts["alerts"][0]["host"], "ws-b-07");
    // B's sighting reaches A: A knows its indicator was seen at hospital B.
    let mut listed = Value::Null;
    let came_back = eventually(|| {
        let out = wardwatch(&[
            "intel",
            "sightings",
            "--data",
            a.data.to_str().unwrap(),
            "--format",
            "jsonl",
        ]);
        match String::from_utf8_lossy(&out.stdout).lines().next() {
            Some(line) => {
                listed = serde_json::from_str(line).unwrap();
                true
            }
            None => false,
        }
    });
    assert!(came_back, "no sighting reached hospital A");
    assert_eq!(listed["partner"], "hospital-b");
    assert_eq!(listed["of_type"], "indicator");
    assert!(
        listed["of_pattern"]
            .as_str()
            .unwrap()
            .contains("eu.update-check.example"),
        "{listed}"
    );
    // Nothing of B's inside travelled with it.
    let (_, v) = taxii(
        a.http,
        "GET",
        &format!("/taxii2/intel/collections/{collection}/objects/?match[type]=sighting"),
        "",
        &secret,
    );
    assert!(!v.to_string().contains("ws-b-07"), "{v}");
}
