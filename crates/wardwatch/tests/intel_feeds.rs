//! Partners' feeds in `serve` (`[[intel.feeds]]`): a TAXII 2.1 collection polled after the
//! durable `added_after` position, a newly received indicator hunted for in the stored
//! events of the look-back (the alert names the old event and the partner), live matching,
//! revocation, sightings back to the producer, MISP feeds and IOC lists by URL, and a feed
//! that is down or sends garbage never stopping `serve`. The interop test polls a real
//! `medallion` (the OASIS TAXII 2.1 reference server, PyPI), installed by `.ci/run` in
//! `target/py-intel`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn wardwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(args)
        .output()
        .expect("run wardwatch")
}

/// A request the fake partner received.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    /// Path and query, as sent.
    target: String,
    /// Header lines, lower-cased.
    headers: String,
    body: String,
}

impl Req {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// A query parameter, percent-decoded.
    fn query(&self, key: &str) -> Option<String> {
        let q = self.target.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (decode(k) == key).then(|| decode(v))
        })
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

type Answer = (u16, Vec<(String, String)>, String);

/// A loopback HTTP server answering with `handler`, keeping every request.
struct Fake {
    port: u16,
    seen: Arc<Mutex<Vec<Req>>>,
}

impl Fake {
    fn start(handler: impl Fn(&Req) -> Answer + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).unwrap_or(0) == 0 {
                    continue;
                }
                let mut parts = first.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let target = parts.next().unwrap_or("").to_string();
                let mut headers = String::new();
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    headers.push_str(&lower);
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                let req = Req {
                    method,
                    target,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let (status, extra, body) = handler(&req);
                keep.lock().unwrap().push(req);
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                let _ = s.write_all(format!("{head}\r\n{body}").as_bytes());
            }
        });
        Fake { port, seen }
    }

    fn requests(&self) -> Vec<Req> {
        self.seen.lock().unwrap().clone()
    }
}

/// A partner's TAXII 2.1 collection `/api1/collections/c1/`: objects with the time they were
/// added, paged by `added_after`, `limit` and `next` as TAXII 2.1 says; POSTed objects kept.
#[derive(Clone, Default)]
struct Collection {
    objects: Arc<Mutex<Vec<(String, Value)>>>,
    posted: Arc<Mutex<Vec<Value>>>,
    /// POSTs still to refuse with 503 (the producer's server briefly down).
    refuse: Arc<Mutex<u32>>,
}

impl Collection {
    fn add(&self, obj: Value) {
        let mut o = self.objects.lock().unwrap();
        let added = format!(
            "{}",
            jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        );
        o.push((added, obj));
    }

    fn answer(&self, req: &Req) -> Answer {
        if !req
            .headers
            .contains("accept: application/taxii+json;version=2.1")
        {
            return (406, vec![], "{}".into());
        }
        if req.path() != "/api1/collections/c1/objects/" {
            return (404, vec![], "{}".into());
        }
        let taxii = (
            "Content-Type".to_string(),
            "application/taxii+json;version=2.1".to_string(),
        );
        if req.method == "POST" {
            let mut refuse = self.refuse.lock().unwrap();
            if *refuse > 0 {
                *refuse -= 1;
                return (503, vec![], "{}".into());
            }
            let env: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
            let n = env["objects"].as_array().map_or(0, Vec::len);
            self.posted
                .lock()
                .unwrap()
                .extend(env["objects"].as_array().cloned().unwrap_or_default());
            let status = json!({"id": "2d086da7-4bdc-4f91-900e-d77486753710", "status": "complete",
                "total_count": n, "success_count": n, "failure_count": 0, "pending_count": 0});
            return (202, vec![taxii], status.to_string());
        }
        let after = req.query("added_after").unwrap_or_default();
        let limit: usize = req
            .query("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(100);
        let start: usize = req.query("next").and_then(|n| n.parse().ok()).unwrap_or(0);
        let all = self.objects.lock().unwrap().clone();
        let fresh: Vec<&(String, Value)> = all.iter().filter(|(t, _)| *t > after).collect();
        let page: Vec<&(String, Value)> = fresh.iter().skip(start).take(limit).copied().collect();
        let more = start + page.len() < fresh.len();
        let mut env =
            json!({"more": more, "objects": page.iter().map(|(_, o)| o).collect::<Vec<_>>()});
        if more {
            env["next"] = json!((start + page.len()).to_string());
        }
        let mut headers = vec![taxii];
        if let (Some(f), Some(l)) = (page.first(), page.last()) {
            headers.push(("X-TAXII-Date-Added-First".into(), f.0.clone()));
            headers.push(("X-TAXII-Date-Added-Last".into(), l.0.clone()));
        }
        (200, headers, env.to_string())
    }
}

fn indicator(id: &str, pattern: &str, modified: &str, revoked: bool) -> Value {
    json!({"type": "indicator", "spec_version": "2.1", "id": id,
        "created": "2026-11-01T00:00:00.000Z", "modified": modified,
        "name": "Billing portal phishing", "pattern": pattern, "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z", "indicator_types": ["malicious-activity"],
        "revoked": revoked})
}

/// The number of alerts of `rule` stored now (no waiting).
fn alerts_of(server: &common::Server, rule: &str) -> u64 {
    let (status, v) = common::http_get(
        server.http,
        &format!("/api/v1/alerts?limit=1000&rule_id={rule}"),
        Some(&server.api_token),
    );
    assert_eq!(status, 200, "{v}");
    v["total"].as_u64().unwrap_or(0)
}

/// Wait until `cond` holds (60 s at most); `false` if it never did.
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// `wardwatch intel feeds --json` rows by feed.
fn feeds(data: &Path) -> Vec<Value> {
    let out = wardwatch(&["intel", "feeds", "--data", data.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn config(dir: &Path, feeds: &str) -> String {
    let path = dir.join("wardwatch.toml");
    std::fs::write(
        &path,
        format!("[intel]\nproducer = \"Ward General\"\n{feeds}"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

const IND_A: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";

/// The Must-show of issue 12 through `serve` with a feed: a domain a workstation asked for ten
/// days ago, before any partner knew it; then a partner's collection gets an indicator for it.
/// The poll stores it, the retro-hunt finds the old event, and the alert names that event (its
/// host, its own time, the subdomain) and the partner — once, however often the feed is polled.
/// The same indicator then matches live, the producer hears of both hits as sightings without
/// any internal name, and a newer version revoking it stops it matching.
#[test]
fn a_feed_indicator_for_a_domain_seen_ten_days_ago_raises_an_alert_naming_that_old_event() {
    let coll = Collection::default();
    let c2 = coll.clone();
    let partner = Fake::start(move |r| c2.answer(r));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "[[intel.feeds]]\nname = \"partner-x\"\nkind = \"taxii\"\nurl = \"http://127.0.0.1:{}/api1/collections/c1/\"\ntoken = \"s3cret\"\ninterval_secs = 1\nsightings = true\n",
            partner.port
        ),
    );
    // The producer's server refuses the first POST of sightings: they are sent again later.
    *coll.refuse.lock().unwrap() = 1;
    let server = common::Server::start(&["--config", &cfg]);
    let now = jiff::Timestamp::now();
    let ago = |days: i64| (now - jiff::SignedDuration::from_hours(24 * days)).to_string();
    common::post_bulk(
        &server,
        &[
            json!({"@timestamp": ago(10), "host": {"name": "ws-card-07"},
                "source": {"ip": "10.30.4.7"},
                "dns": {"question": {"name": "cdn.billing-portal.example"}}}),
            // Outside the 30-day look-back, and a look-alike: neither counts.
            json!({"@timestamp": ago(40), "host": {"name": "ws-card-01"},
                "dns": {"question": {"name": "cdn.billing-portal.example"}}}),
            json!({"@timestamp": ago(9), "host": {"name": "ws-card-08"},
                "dns": {"question": {"name": "billing-portal.example.org"}}}),
        ],
    );
    server.wait_events("dns.question.name:*", 3);
    // The feed is polled (empty) before the partner shares anything.
    assert!(wait_for(|| partner.requests().len() >= 2));
    assert_eq!(alerts_of(&server, "intel:partner-x:domain"), 0);

    coll.add(indicator(
        IND_A,
        "[domain-name:value = 'billing-portal.example']",
        "2026-12-01T00:00:00.000Z",
        false,
    ));
    let alerts = server.wait_alerts("rule_id=intel:partner-x:domain", 1);
    assert_eq!(alerts["total"], 1, "{alerts}");
    let alert = &alerts["alerts"][0];
    assert_eq!(alert["host"], "ws-card-07", "{alert}");
    assert_eq!(alert["facts"]["intel.found_by"], "retro-hunt", "{alert}");
    assert_eq!(alert["facts"]["intel.source"], "partner-x", "{alert}");
    assert_eq!(alert["facts"]["intel.indicator"], IND_A, "{alert}");
    assert_eq!(alert["entities"][0]["value"], "cdn.billing-portal.example");
    let when: jiff::Timestamp = alert["timestamp"].as_str().unwrap().parse().unwrap();
    assert!(
        (239..=241).contains(&now.duration_since(when).as_hours()),
        "the alert carries the old event's own time: {when}"
    );
    // It went through the incident stage like a live alert.
    let alert_id = alert["id"].as_str().unwrap().to_string();
    assert!(wait_for(|| {
        let (_, inc) = common::http_get(
            server.http,
            "/api/v1/incidents?limit=100",
            Some(&server.api_token),
        );
        inc.to_string().contains(&alert_id)
    }));
    // The token went with every request; later polls ask only for what was added since.
    let reqs = partner.requests();
    assert!(
        reqs.iter()
            .all(|r| r.headers.contains("authorization: bearer s3cret"))
    );
    let added = coll.objects.lock().unwrap()[0].0.clone();
    assert!(wait_for(|| partner.requests().iter().any(|r| r.method
        == "GET"
        && r.query("added_after").as_deref() == Some(added.as_str()))));

    // Live: the same domain today raises its own alert.
    common::post_bulk(
        &server,
        &[
            json!({"@timestamp": jiff::Timestamp::now().to_string(), "host": {"name": "ws-card-09"},
            "source": {"ip": "10.30.4.9"},
            "dns": {"question": {"name": "billing-portal.example"}}}),
        ],
    );
    let alerts = server.wait_alerts("rule_id=intel:partner-x:domain", 2);
    assert_eq!(alerts["total"], 2, "{alerts}");

    // Sightings: both hits reach the producer as sightings of its indicator (after a refused
    // first POST), naming us and nothing of ours.
    assert!(wait_for(|| {
        let posted = coll.posted.lock().unwrap();
        posted
            .iter()
            .filter(|o| o["type"] == "sighting")
            .map(|o| o["count"].as_u64().unwrap_or(0))
            .sum::<u64>()
            >= 2
    }));
    let posted = coll.posted.lock().unwrap().clone();
    let sightings: Vec<&Value> = posted.iter().filter(|o| o["type"] == "sighting").collect();
    assert!(
        sightings.iter().all(|s| s["sighting_of_ref"] == IND_A),
        "{sightings:?}"
    );
    let me = posted.iter().find(|o| o["type"] == "identity").unwrap();
    assert_eq!(me["name"], "Ward General");
    assert!(
        sightings
            .iter()
            .all(|s| s["where_sighted_refs"][0] == me["id"])
    );
    let text = serde_json::to_string(&posted).unwrap();
    for inside in ["ws-card", "10.30.4", "cdn.billing-portal"] {
        assert!(
            !text.contains(inside),
            "`{inside}` left the hospital: {text}"
        );
    }
    let posts = partner
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert!(posts >= 2, "the refused POST was tried again");

    // Polled again and again: no alert doubles, no sighting is sent twice.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(alerts_of(&server, "intel:partner-x:domain"), 2);
    let total: u64 = coll
        .posted
        .lock()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "sighting")
        .map(|o| o["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, 2);
    assert_eq!(
        partner
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        posts
    );

    // The producer revokes it (a newer version): it stops matching.
    coll.add(indicator(
        IND_A,
        "[domain-name:value = 'billing-portal.example']",
        "2026-12-02T00:00:00.000Z",
        true,
    ));
    assert!(wait_for(|| feeds(&server.data)
        .iter()
        .any(|f| f["feed"] == "partner-x" && f["revoked"] == 1)));
    std::thread::sleep(Duration::from_secs(1));
    common::post_bulk(
        &server,
        &[
            json!({"@timestamp": jiff::Timestamp::now().to_string(), "host": {"name": "ws-card-10"},
            "dns": {"question": {"name": "billing-portal.example"}}}),
        ],
    );
    server.wait_events("host.name:ws-card-10", 1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(alerts_of(&server, "intel:partner-x:domain"), 2);
    let f = feeds(&server.data);
    let f = f.iter().find(|f| f["feed"] == "partner-x").unwrap();
    assert_eq!(f["objects"], 2, "each version fetched once: {f}");
    assert_eq!(f["retro_pending"], 0, "{f}");
    assert!(f["last_error"].is_null(), "{f}");
}

/// A MISP feed (manifest.json, then only the events not seen yet) and an IOC list (fetched
/// again only when its ETag changes) both feed live matching; a feed that sends garbage or is
/// down is reported by name in `intel feeds` and `/metrics`, keeps nothing of the bad answer,
/// and `serve` goes on.
#[test]
fn misp_feeds_ioc_lists_and_broken_feeds() {
    let event = json!({"Event": {"uuid": "5f3c1d2e-0000-4000-8000-00000000000a",
        "info": "Phishing wave against hospitals", "timestamp": "1764000000",
        "Attribute": [{"uuid": "5f3c1d2e-0000-4000-8000-0000000000a1", "type": "domain",
            "category": "Network activity", "to_ids": true, "value": "parcel-notice.example"}]}});
    let broken = Arc::new(Mutex::new(true));
    let b2 = broken.clone();
    let site = Fake::start(move |r| match r.path() {
        "/misp/manifest.json" => (
            200,
            vec![],
            json!({"5f3c1d2e-0000-4000-8000-00000000000a":
                {"info": "Phishing wave against hospitals", "timestamp": "1764000000"}})
            .to_string(),
        ),
        "/misp/5f3c1d2e-0000-4000-8000-00000000000a.json" => (200, vec![], event.to_string()),
        "/list.txt" if r.headers.contains("if-none-match: \"v1\"") => (304, vec![], String::new()),
        "/list.txt" => (
            200,
            vec![("ETag".into(), "\"v1\"".into())],
            "# partner list\n198.51.100.23\nhxxp://login-update[.]example/reset\n".into(),
        ),
        "/bad/api1/collections/c1/objects/" => {
            let mut objects = vec![indicator(
                "indicator--11111111-1111-4111-8111-111111111111",
                "[domain-name:value = 'fine.example']",
                "2026-12-01T00:00:00.000Z",
                false,
            )];
            if *b2.lock().unwrap() {
                objects.push(indicator(
                    "indicator--22222222-2222-4222-8222-222222222222",
                    "[domain-name:value = 'unclosed",
                    "2026-12-01T00:00:00.000Z",
                    false,
                ));
            }
            (
                200,
                vec![(
                    "Content-Type".into(),
                    "application/taxii+json;version=2.1".into(),
                )],
                json!({"more": false, "objects": objects}).to_string(),
            )
        }
        _ => (404, vec![], String::new()),
    });
    let down = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "[[intel.feeds]]\nname = \"misp-partner\"\nkind = \"misp\"\nurl = \"http://127.0.0.1:{p}/misp/\"\ninterval_secs = 1\n\
             [[intel.feeds]]\nname = \"list-partner\"\nkind = \"ioc\"\nurl = \"http://127.0.0.1:{p}/list.txt\"\ninterval_secs = 1\n\
             [[intel.feeds]]\nname = \"garbage\"\nurl = \"http://127.0.0.1:{p}/bad/api1/collections/c1/\"\ninterval_secs = 1\n\
             [[intel.feeds]]\nname = \"down\"\nurl = \"http://127.0.0.1:{down}/api1/collections/c1/\"\ninterval_secs = 1\n",
            p = site.port
        ),
    );
    let server = common::Server::start(&["--config", &cfg]);
    assert!(wait_for(|| {
        let f = feeds(&server.data);
        let get = |n: &str| {
            f.iter()
                .find(|x| x["feed"] == n)
                .cloned()
                .unwrap_or(Value::Null)
        };
        get("misp-partner")["indicators"] == 1
            && get("list-partner")["indicators"] == 2
            && get("garbage")["failures"].as_u64().unwrap_or(0) >= 1
            && get("down")["failures"].as_u64().unwrap_or(0) >= 1
    }));
    let f = feeds(&server.data);
    let get = |n: &str| f.iter().find(|x| x["feed"] == n).cloned().unwrap();
    let garbage = get("garbage");
    let err = garbage["last_error"].as_str().unwrap();
    assert!(
        err.contains("intel feed `garbage`") && err.contains("indicator--2222"),
        "{err}"
    );
    assert_eq!(
        garbage["indicators"], 0,
        "nothing of a refused page is kept"
    );
    assert!(
        get("down")["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect")
    );
    // The list was fetched again only with its ETag, answered 304; the MISP event once.
    assert!(wait_for(|| site
        .requests()
        .iter()
        .filter(|r| r.path() == "/list.txt")
        .count()
        >= 3));
    let event_gets = site
        .requests()
        .iter()
        .filter(|r| r.path().ends_with("0000000a.json"))
        .count();
    assert_eq!(event_gets, 1);
    assert_eq!(get("list-partner")["position"], "\"v1\"");
    let (status, _) = common::http_get(server.http, "/healthz", None);
    assert_eq!(status, 200, "a feed down is no server down");
    let (_, metrics) = common::http_get(server.http, "/metrics", Some(&server.api_token));
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("wardwatch_intel_feed_up{feed=\"down\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("wardwatch_intel_feed_indicators{feed=\"list-partner\"} 2"),
        "{metrics}"
    );

    // All three partners' indicators match live.
    let now = jiff::Timestamp::now().to_string();
    common::post_bulk(
        &server,
        &[
            json!({"@timestamp": now, "host": {"name": "ws-a"},
                "dns": {"question": {"name": "track.parcel-notice.example"}}}),
            json!({"@timestamp": now, "host": {"name": "ws-b"},
                "destination": {"ip": "198.51.100.23"}, "source": {"ip": "10.1.1.2"}}),
        ],
    );
    assert_eq!(
        server.wait_alerts("rule_id=intel:misp-partner:domain", 1)["total"],
        1
    );
    assert_eq!(
        server.wait_alerts("rule_id=intel:list-partner:ip", 1)["total"],
        1
    );

    // `wardwatch doctor` names the feed that is down, with the reason.
    let out = wardwatch(&[
        "doctor",
        "--config",
        &cfg,
        "--data",
        server.data.to_str().unwrap(),
    ]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("intel feed `down`: the last") && report.contains("cannot connect"),
        "{report}"
    );
    assert!(report.contains("intel feeds: 4 configured"), "{report}");

    // The garbage feed mends: its next poll imports the page, and the error is gone.
    *broken.lock().unwrap() = false;
    assert!(wait_for(|| feeds(&server.data)
        .iter()
        .any(|f| f["feed"] == "garbage"
            && f["indicators"] == 1
            && f["last_error"].is_null())));
    drop(server);
    let out = wardwatch(&[
        "intel",
        "feeds",
        "--data",
        dir.path().join("none").to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "no store there: named");
}

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
