//! Identity through the running server: authentication logs arriving over syslog and `_bulk`
//! raise the identity analytics (brute force, spraying, success after failures).

mod common;

use std::io::Write;

use common::{Server, http_post};
use serde_json::Value;

/// Now as an RFC 3164 stamp (`Dec  7 04:30:00`), so the events are inside the trusted clock
/// window.
fn stamp_3164() -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    now.strftime("%b %e %H:%M:%S").to_string()
}

fn rule_ids(alerts: &Value) -> Vec<String> {
    let mut ids: Vec<String> = alerts["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["rule_id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

/// Regression (issue 14): 100 failed SSH passwords from one address in a few seconds, sent
/// straight to the syslog listener, raised no alert at all.
#[test]
fn hundred_failed_ssh_passwords_over_syslog_raise_brute_force_and_the_success_after_them() {
    let server = Server::start(&[]);
    let mut tcp = std::net::TcpStream::connect(server.syslog).unwrap();
    let stamp = stamp_3164();
    let mut lines = String::new();
    for i in 0..100 {
        lines.push_str(&format!(
            "<38>{stamp} db01 sshd[{}]: Failed password for root from 203.0.113.9 port {} ssh2\n",
            800 + i,
            40000 + i
        ));
    }
    lines.push_str(&format!(
        "<38>{stamp} db01 sshd[999]: Accepted password for root from 203.0.113.9 port 41000 ssh2\n"
    ));
    tcp.write_all(lines.as_bytes()).unwrap();
    drop(tcp);
    let events = server.wait_events("host.name:db01", 101);
    assert_eq!(events["total"], 101, "{events}");
    let e = &events["events"][0]["ecs"];
    assert_eq!(e["process.name"], "sshd", "{e}");
    assert_eq!(e["source.ip"], "203.0.113.9", "{e}");
    assert_eq!(e["user.name"], "root", "{e}");
    let alerts = server.wait_alerts("rule_id=analytic-auth-success-after-failures", 1);
    let all = server.wait_alerts("", 2);
    assert_eq!(alerts["total"], 1, "{all}");
    let ids = rule_ids(&all);
    assert!(
        ids.contains(&"analytic-auth-brute-force".to_string()),
        "{ids:?}"
    );
    assert_eq!(
        ids.iter()
            .filter(|i| i.as_str() == "analytic-auth-brute-force")
            .count(),
        1,
        "one alert for the burst, not one per failure: {ids:?}"
    );
    let brute = all["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule_id"] == "analytic-auth-brute-force")
        .unwrap();
    let entities = brute["entities"].to_string();
    for want in ["203.0.113.9", "root", "db01"] {
        assert!(entities.contains(want), "{want} in {entities}");
    }
}

/// A Filebeat system-module document and a Fluent Bit syslog-parser record over `_bulk` are the
/// same authentication events as syslog lines: spraying from one address is found across them.
#[test]
fn filebeat_and_fluent_bit_auth_documents_over_bulk_raise_spraying() {
    let server = Server::start(&[]);
    let now = jiff::Timestamp::now().to_string();
    let stamp = stamp_3164();
    let mut body = String::new();
    for i in 0..12 {
        body.push_str("{\"index\":{}}\n");
        let doc = if i % 2 == 0 {
            serde_json::json!({
                "@timestamp": now, "event": {"module": "system", "dataset": "system.auth"},
                "host": {"name": "app02"}, "log": {"file": {"path": "/var/log/auth.log"}},
                "message": format!("{stamp} app02 sshd[7{i}]: Failed password for invalid user user{i} from 192.0.2.50 port 5{i} ssh2"),
            })
        } else {
            serde_json::json!({
                "@timestamp": now, "pri": "38", "host": "app03", "ident": "sshd", "pid": "9{i}",
                "message": format!("Failed password for invalid user user{i} from 192.0.2.50 port 6{i} ssh2"),
            })
        };
        body.push_str(&doc.to_string());
        body.push('\n');
    }
    let (status, resp) = http_post(server.http, "/_bulk", &body, Some(&server.ingest_token));
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["errors"], false, "{resp}");
    let alerts = server.wait_alerts("rule_id=analytic-auth-password-spraying", 1);
    assert_eq!(alerts["total"], 1, "{alerts}");
    let events = server.wait_events("source.ip:192.0.2.50", 12);
    assert_eq!(events["total"], 12, "{events}");
}
