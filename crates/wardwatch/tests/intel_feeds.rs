//! Partners' feeds in `serve` (`[[intel.feeds]]`): a TAXII 2.1 collection polled after the
//! durable `added_after` position, a newly received indicator hunted for in the stored
//! events of the look-back (the alert names the old event and the partner), live matching,
//! revocation, sightings back to the producer, MISP feeds and IOC lists by URL, and a feed
//! that is down or sends garbage never stopping `serve` — against fake partners
//! (`common/feeds.rs`). The interop tests (a real `medallion`, and one Wardwatch polling
//! another) are in `intel_feeds_interop.rs`.

mod common;
#[path = "common/feeds.rs"]
mod feeds_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use feeds_common::*;
use serde_json::{Value, json};

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
