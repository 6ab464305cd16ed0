//! "Where and how many" through both doors: the generated network week as Zeek JSON files read
//! by `hunt --summary network`, and the same records posted to a running server over `_bulk`
//! and asked for with `GET /api/v1/network/summary`: the two answers are the same summary, and
//! it names the week's planted scanner, lateral movement and medical-device deviations.

mod common;

use std::time::{Duration, Instant};

use common::{Server, http_get, http_post, urlencode};
use serde_json::Value;
use wardwatch_demo::Hospital;
use wardwatch_demo::network::{self, NetConfig};

#[test]
fn hunt_and_the_api_give_the_same_network_summary() {
    let cfg = NetConfig {
        seed: 11,
        scale: 0.04,
        ..NetConfig::default()
    };
    let week = network::generate(&cfg, &Hospital::new(cfg.seed));
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("context");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("inventory.csv"), week.site.inventory_csv()).unwrap();
    std::fs::write(ctx.join("zones.csv"), week.site.zones_csv()).unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let text: String = week
        .lines
        .iter()
        .map(|(l, _)| format!("{}\n", l.line))
        .collect();
    std::fs::write(logs.join("zeek.json"), &text).unwrap();

    // The period: from day two to the end of the week; day one is in the baseline.
    let from = cfg.start + jiff::SignedDuration::from_hours(24);
    let to = cfg.start + jiff::SignedDuration::from_hours(24 * i64::from(cfg.days));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["hunt", "-q", "--summary", "network", "--format", "jsonl"])
        .args(["--from", &from.to_string(), "--to", &to.to_string()])
        .arg("--context")
        .arg(&ctx)
        .arg(&logs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hunted: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(hunted["records"].as_u64().unwrap() > 1000, "{hunted}");

    // What it must name: the planted horizontal scan's source with its blind attempts, the
    // lateral movement's first-seen edge, and a device's deviation.
    let sources = hunted["sources"].as_array().unwrap();
    let planted = |analytic: &str| {
        week.planted
            .iter()
            .filter(|p| p.analytic == analytic && p.start >= from && p.start < to)
            .collect::<Vec<_>>()
    };
    for p in planted("analytic-network-horizontal-scan") {
        let s = sources
            .iter()
            .find(|s| s["source"] == p.source.as_str())
            .unwrap_or_else(|| panic!("no source {} in {hunted}", p.source));
        assert!(s["blind"]["hosts"].as_u64().unwrap() >= 10, "{s}");
        assert!(
            s["scans"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["kind"] == "horizontal"),
            "{s}"
        );
    }
    let edges = hunted["graph"]["edges"].as_array().unwrap();
    for p in planted("analytic-network-lateral-movement") {
        assert!(
            edges
                .iter()
                .any(|e| e["source"] == p.source.as_str() && e["first_seen"] == true),
            "no first-seen edge from {}: {edges:?}",
            p.source
        );
    }
    let devices = hunted["devices"].as_array().unwrap();
    for p in planted("analytic-network-medical-device-deviation") {
        let d = devices
            .iter()
            .find(|d| d["ip"] == p.source.as_str())
            .unwrap_or_else(|| panic!("no device {}", p.source));
        assert!(!d["deviations"].as_array().unwrap().is_empty(), "{d}");
    }
    assert!(
        devices
            .iter()
            .all(|d| d["zone"] == "iomt" || d["zone"] == "unknown"),
        "{devices:?}"
    );

    // The same records into a server with the same context, over _bulk.
    let config = dir.path().join("wardwatch.toml");
    std::fs::write(
        &config,
        format!("[incidents]\ncontext = \"{}\"\n", ctx.display()),
    )
    .unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    for chunk in week.lines.chunks(2_000) {
        let body: String = chunk
            .iter()
            .map(|(l, _)| format!("{{\"index\":{{}}}}\n{}\n", l.line))
            .collect();
        let (status, v) = http_post(server.http, "/_bulk", &body, Some(&server.ingest_token));
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["errors"], false, "{v}");
    }
    let path = format!(
        "/api/v1/network/summary?from={}&to={}",
        urlencode(&from.to_string()),
        urlencode(&to.to_string())
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let served = loop {
        let (status, v) = http_get(server.http, &path, Some(&server.api_token));
        assert_eq!(status, 200, "{v}");
        if v["records"] == hunted["records"] || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(served["records"], hunted["records"]);
    assert_eq!(served["sources"], hunted["sources"]);
    assert_eq!(served["graph"], hunted["graph"]);
    assert_eq!(served["devices"], hunted["devices"]);
    assert_eq!(served, hunted);

    // A period given backwards is the caller's mistake.
    let (status, v) = http_get(
        server.http,
        &format!(
            "/api/v1/network/summary?from={}&to={}",
            urlencode(&to.to_string()),
            urlencode(&from.to_string())
        ),
        Some(&server.api_token),
    );
    assert_eq!(status, 400, "{v}");
}
