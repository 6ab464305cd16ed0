//! Intel feeds against other TAXII 2.1 implementations: our client polls a real `medallion`
//! (the OASIS TAXII 2.1 reference server, PyPI, installed by `.ci/run` in `target/py-intel`)
//! and POSTs sightings to it; and one Wardwatch polls another's TAXII server as a partner, its
//! retro-hunt finds the old event and its sighting lands back in the first one's collection.

mod common;
#[path = "common/feeds.rs"]
mod feeds_common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use feeds_common::*;
use serde_json::{Value, json};

/// One request to medallion as a TAXII 2.1 client sends it (HTTP Basic, TAXII media types).
fn taxii_request(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, Value)> {
    taxii_as(
        port,
        "Basic d2FyZHdhdGNoOnBhcnRuZXItcGFzcw==",
        method,
        path,
        body,
    )
}

/// One TAXII 2.1 request with the `Authorization` value `auth`.
fn taxii_as(
    port: u16,
    auth: &str,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, Value)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\nAccept: application/taxii+json;version=2.1\r\nContent-Type: application/taxii+json;version=2.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// Interop with the OASIS reference TAXII 2.1 server, `medallion` (PyPI, in `target/py-intel`
/// from `.ci/run`): our client polls its collection with HTTP Basic credentials, stores the
/// indicators, matches an event, and the next poll with `added_after` fetches only what was
/// added since; the sightings we POST are accepted and read back from it.
#[test]
fn our_client_polls_a_medallion_server() {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/py-intel/bin");
    let medallion = venv.join("medallion");
    if !medallion.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but target/py-intel/bin/medallion is absent (.ci/run installs it)"
        );
        eprintln!(
            "skipped the medallion interop test: target/py-intel/bin/medallion is absent (.ci/run installs it)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = json!({
        "/discovery": {"title": "partner", "default": "http://127.0.0.1/api1/",
            "api_roots": ["http://127.0.0.1/api1/"]},
        "api1": {
            "information": {"title": "partner", "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 9_765_625},
            "status": [],
            "collections": [{"id": "91a7b528-80eb-42ed-a74d-c6fbd5a26116", "title": "shared",
                "can_read": true, "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": [], "manifest": []}]
        }
    });
    std::fs::write(dir.path().join("data.json"), data.to_string()).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        json!({"backend": {"module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend", "filename": dir.path().join("data.json")},
            "users": {"wardwatch": "partner-pass"}, "taxii": {"max_page_size": 100}})
        .to_string(),
    )
    .unwrap();
    let port = common::free_port();
    /// Stops medallion (by its own process id) however the test ends.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _medallion = Kill(
        Command::new(&medallion)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg(dir.path().join("config.json"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start medallion"),
    );
    let coll = "/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/objects/";
    let taxii =
        |m: &str, p: &str, b: &str| taxii_request(port, m, p, b).unwrap_or((0, Value::Null));
    assert!(
        wait_for(|| taxii("GET", "/taxii2/", "").0 == 200),
        "medallion did not start"
    );
    let add = |obj: Value| {
        let (status, resp) = taxii("POST", coll, &json!({"objects": [obj]}).to_string());
        assert_eq!(status, 202, "{resp}");
        assert_eq!(resp["success_count"], 1, "{resp}");
    };
    add(indicator(
        IND_A,
        "[domain-name:value = 'billing-portal.example']",
        "2026-12-01T00:00:00.000Z",
        false,
    ));

    let dir2 = tempfile::tempdir().unwrap();
    let cfg = config(
        dir2.path(),
        &format!(
            "[[intel.feeds]]\nname = \"medallion-partner\"\nurl = \"http://127.0.0.1:{port}/api1/\"\ncollection = \"91a7b528-80eb-42ed-a74d-c6fbd5a26116\"\nuser = \"wardwatch\"\npassword = \"partner-pass\"\ninterval_secs = 1\nsightings = true\n"
        ),
    );
    let server = common::Server::start(&["--config", &cfg]);
    assert!(wait_for(|| feeds(&server.data).iter().any(|f| f["feed"]
        == "medallion-partner"
        && f["indicators"] == 1)));
    common::post_bulk(
        &server,
        &[
            json!({"@timestamp": jiff::Timestamp::now().to_string(), "host": {"name": "ws-rad-3"},
            "dns": {"question": {"name": "www.billing-portal.example"}}}),
        ],
    );
    assert_eq!(
        server.wait_alerts("rule_id=intel:medallion-partner:domain", 1)["total"],
        1
    );

    // A second indicator added later: the next poll (added_after) fetches it alone.
    add(indicator(
        "indicator--0b7f0d4e-5d6c-4d1e-9a49-2f6f3c0e7a11",
        "[ipv4-addr:value = '203.0.113.9']",
        "2026-12-02T00:00:00.000Z",
        false,
    ));
    assert!(wait_for(|| feeds(&server.data).iter().any(|f| f["feed"]
        == "medallion-partner"
        && f["indicators"] == 2)));
    let f = feeds(&server.data);
    let f = f.iter().find(|f| f["feed"] == "medallion-partner").unwrap();
    assert_eq!(f["objects"], 2, "each object fetched once: {f}");
    assert!(
        f["position"].as_str().is_some_and(|p| p.starts_with("20")),
        "{f}"
    );
    common::post_bulk(
        &server,
        &[
            json!({"@timestamp": jiff::Timestamp::now().to_string(), "host": {"name": "ws-rad-4"},
            "source": {"ip": "10.2.2.2"}, "destination": {"ip": "203.0.113.9"}}),
        ],
    );
    assert_eq!(
        server.wait_alerts("rule_id=intel:medallion-partner:ip", 1)["total"],
        1
    );

    // Our sightings reached medallion and read back as STIX 2.1 sightings of its indicators.
    assert!(wait_for(|| {
        let (_, env) = taxii("GET", &format!("{coll}?match[type]=sighting"), "");
        env["objects"]
            .as_array()
            .is_some_and(|o| o.iter().filter(|s| s["sighting_of_ref"] == IND_A).count() == 1)
    }));
}

/// Two hospitals on Wardwatch: B polls A's TAXII 2.1 server (`[taxii]`) as a partner with its
/// own token. What a third partner posts into A's collection reaches B, B's retro-hunt finds
/// the old event there, and B's sighting lands back in A's collection.
#[test]
fn one_wardwatch_polls_another_and_its_sightings_go_back() {
    let dir = tempfile::tempdir().unwrap();
    let a_data = dir.path().join("a-data");
    let a_cfg = dir.path().join("a.toml");
    std::fs::write(
        &a_cfg,
        r#"
[taxii]
enabled = true
[[taxii.collections]]
alias = "shared"
title = "Shared between the region's hospitals"
[[taxii.partners]]
name = "hospital-b"
read = ["shared"]
write = ["shared"]
max_tlp = "amber"
[[taxii.partners]]
name = "hospital-c"
read = ["shared"]
write = ["shared"]
max_tlp = "amber"
"#,
    )
    .unwrap();
    let a = common::Server::start_in(
        &a_data,
        "127.0.0.1:0",
        "",
        &["--config", a_cfg.to_str().unwrap()],
    );
    let token = |name: &str| {
        let out = wardwatch(&[
            "tokens",
            "add",
            name,
            "--kind",
            "taxii",
            "--data",
            a_data.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (b_token, c_token) = (token("hospital-b"), token("hospital-c"));
    let a_port = a.http.port();
    let (status, v) = taxii_as(
        a_port,
        &format!("Bearer {b_token}"),
        "GET",
        "/taxii2/intel/collections/",
        "",
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
    let id = v["collections"][0]["id"].as_str().unwrap().to_string();

    let bdir = tempfile::tempdir().unwrap();
    let b_cfg = config(
        bdir.path(),
        &format!(
            "[[intel.feeds]]\nname = \"region-a\"\nurl = \"http://127.0.0.1:{a_port}/taxii2/intel/collections/{id}/\"\ntoken = \"{b_token}\"\ninterval_secs = 1\nsightings = true\n"
        ),
    );
    let b = common::Server::start(&["--config", &b_cfg]);
    let old = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(240)).to_string();
    common::post_bulk(
        &b,
        &[json!({"@timestamp": old, "host": {"name": "ws-er-02"},
            "dns": {"question": {"name": "portal.billing-portal.example"}}})],
    );
    b.wait_events("host.name:ws-er-02", 1);

    // Hospital C shares an indicator into A's collection.
    let (status, v) = taxii_as(
        a_port,
        &format!("Bearer {c_token}"),
        "POST",
        &format!("/taxii2/intel/collections/{id}/objects/"),
        &json!({"objects": [indicator(
            IND_A,
            "[domain-name:value = 'billing-portal.example']",
            "2026-12-01T00:00:00.000Z",
            false,
        )]})
        .to_string(),
    )
    .unwrap();
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["success_count"], 1, "{v}");

    // B found it ten days back, naming A's feed.
    let alerts = b.wait_alerts("rule_id=intel:region-a:domain", 1);
    assert_eq!(alerts["total"], 1, "{alerts}");
    assert_eq!(alerts["alerts"][0]["host"], "ws-er-02");
    assert_eq!(alerts["alerts"][0]["facts"]["intel.found_by"], "retro-hunt");

    // B's sighting is in A's collection, and B reads it back there.
    assert!(wait_for(|| {
        let (_, env) = taxii_as(
            a_port,
            &format!("Bearer {b_token}"),
            "GET",
            &format!("/taxii2/intel/collections/{id}/objects/?match[type]=sighting"),
            "",
        )
        .unwrap_or((0, Value::Null));
        env["objects"].as_array().is_some_and(|o| {
            o.iter()
                .any(|s| s["sighting_of_ref"] == IND_A && s["count"] == 1)
        })
    }));
    let f = feeds(&b.data);
    let f = f.iter().find(|f| f["feed"] == "region-a").unwrap();
    assert_eq!(
        (f["indicators"].as_u64(), f["sightings_sent"].as_u64()),
        (Some(1), Some(1)),
        "{f}"
    );
}
