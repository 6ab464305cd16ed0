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
    // The identity ledger has every attempt: where (db01, from 203.0.113.9) and how (ssh).
    let (status, u) = common::http_get(
        server.http,
        "/api/v1/identities/root/usage",
        Some(&server.api_token),
    );
    assert_eq!(status, 200, "{u}");
    assert_eq!(
        (u["uses"].as_u64(), u["failed"].as_u64()),
        (Some(101), Some(100)),
        "{u}"
    );
    assert_eq!(u["hosts"][0]["value"], "db01", "{u}");
    assert_eq!(u["sources"][0]["value"], "203.0.113.9", "{u}");
    assert_eq!(u["sources"][0]["succeeded"], 1, "{u}");
    assert_eq!(u["logon_types"][0]["value"], "ssh", "{u}");
    // And the command line reads the running server's store.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args([
            "identity",
            "usage",
            "root",
            "--data",
            server.data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("101 uses (1 succeeded, 100 failed)") && text.contains("Source addresses"),
        "{text}"
    );
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

/// An EHR posts its audit trail to `POST /fhir/AuditEvent` of the running server: 201 with a
/// location, the event stored with who, which patient and why; a malformed one gets an
/// OperationOutcome and is not stored.
#[test]
fn fhir_audit_events_posted_to_the_server_are_stored_and_searchable() {
    use std::io::Read;
    let server = Server::start(&[]);
    let post = |body: &str| -> (u16, String) {
        let mut s = std::net::TcpStream::connect(server.http).unwrap();
        write!(
            s,
            "POST /fhir/AuditEvent HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            server.ingest_token,
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, out)
    };
    let now = jiff::Timestamp::now().to_string();
    let audit = serde_json::json!({
        "resourceType": "AuditEvent", "type": {"code": "rest"}, "subtype": [{"code": "read"}],
        "action": "R", "recorded": now, "outcome": "0",
        "purposeOfEvent": [{"coding": [{"code": "TREAT"}]}],
        "agent": [{"who": {"identifier": {"value": "n.jansen"}}, "requestor": true,
                   "role": [{"text": "Nurse"}], "network": {"address": "10.20.7.44"}}],
        "source": {"observer": {"display": "epr01"}},
        "entity": [{"what": {"reference": "Patient/P-4711"}}]
    });
    let (status, answer) = post(&audit.to_string());
    assert_eq!(status, 201, "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("location: auditevent/"),
        "{answer}"
    );
    let (status, answer) = post(r#"{"resourceType":"AuditEvent","agent":[{}]}"#);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("OperationOutcome") && answer.contains("AuditEvent.recorded is required"),
        "{answer}"
    );
    let events = server.wait_events("patient.id:P-4711", 1);
    assert_eq!(events["total"], 1, "{events}");
    let e = &events["events"][0];
    assert_eq!(e["origin"]["source"], "fhir:AuditEvent");
    assert_eq!(e["ecs"]["user.name"], "n.jansen");
    assert_eq!(e["ecs"]["user.roles"], "Nurse");
    assert_eq!(e["ecs"]["event.reason"], "TREAT");
    assert_eq!(e["ecs"]["event.action"], "read");
}

/// MFA fatigue from an Okta System Log export: five Okta Verify pushes denied, then the sign-in
/// that got through; and Entra's declined strong authentication (500121) the same way.
#[test]
fn okta_and_entra_mfa_fatigue_is_found_by_hunt() {
    let dir = tempfile::tempdir().unwrap();
    let mut okta = String::new();
    for i in 0..5 {
        okta.push_str(
            &serde_json::json!({
                "uuid": format!("d{i}"), "published": format!("2026-11-02T02:1{i}:00.000Z"),
                "eventType": "user.mfa.okta_verify.deny_push",
                "actor": {"alternateId": "n.jansen@hosp.example", "type": "User"},
                "client": {"ipAddress": "198.51.100.7"}, "outcome": {"result": "SUCCESS"}
            })
            .to_string(),
        );
        okta.push('\n');
    }
    okta.push_str(
        &serde_json::json!({
            "uuid": "s1", "published": "2026-11-02T02:27:00.000Z",
            "eventType": "user.authentication.auth_via_mfa",
            "actor": {"alternateId": "n.jansen@hosp.example", "type": "User"},
            "client": {"ipAddress": "198.51.100.7"}, "outcome": {"result": "SUCCESS"}
        })
        .to_string(),
    );
    okta.push('\n');
    let mut entra = String::new();
    for (i, code) in ["500121", "500121", "500121", "0"].iter().enumerate() {
        entra.push_str(&serde_json::json!({
            "category": "SignInLogs", "time": format!("2026-11-03T03:0{i}:00Z"), "resultType": code,
            "properties": {"userPrincipalName": "a.bakker@hosp.example", "ipAddress": "203.0.113.20",
                "appDisplayName": "Office 365", "status": {"errorCode": code.parse::<u64>().unwrap()}}
        }).to_string());
        entra.push('\n');
    }
    std::fs::write(dir.path().join("okta.json"), okta).unwrap();
    std::fs::write(dir.path().join("entra.json"), entra).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .arg("hunt")
        .arg(dir.path())
        .args(["--format", "jsonl", "-q"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fatigue: Vec<&Value> = rows
        .iter()
        .filter(|r| r["rule_id"] == "analytic-mfa-fatigue")
        .collect();
    assert_eq!(fatigue.len(), 2, "{rows:?}");
    let users: Vec<&str> = fatigue.iter().filter_map(|r| r["user"].as_str()).collect();
    assert!(
        users.contains(&"n.jansen@hosp.example") && users.contains(&"a.bakker@hosp.example"),
        "{users:?}"
    );
}

/// `POST /login` with the double-submit token the sign-in page would have set; the status code.
fn sign_in(http: std::net::SocketAddr, user: &str, password: &str) -> u16 {
    use std::io::Read;
    let body = format!(
        "username={}&password={}&csrf_token=tok",
        common::urlencode(user),
        common::urlencode(password)
    );
    let mut s = std::net::TcpStream::connect(http).unwrap();
    write!(
        s,
        "POST /login HTTP/1.1\r\nHost: {http}\r\nCookie: ww_login_csrf=tok\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The console's own sign-ins are identity events (issue 14): each attempt is stored as an
/// authentication event of the provider `wardwatch-console`, and the ledger shows where and how
/// the account was used, with the failures.
#[test]
fn console_sign_ins_are_identity_events_in_the_store_and_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut add = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["users", "add", "n.jansen", "--role", "analyst", "--data"])
        .arg(&data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"correct-horse-battery\n")
        .unwrap();
    assert!(add.wait().unwrap().success());
    let server = Server::start_in(&data, "127.0.0.1:0", "", &[]);
    assert_eq!(sign_in(server.http, "n.jansen", "wrong-password"), 401);
    assert_eq!(sign_in(server.http, "n.jansen", "another-guess"), 401);
    assert_eq!(
        sign_in(server.http, "n.jansen", "correct-horse-battery"),
        303
    );
    assert_eq!(sign_in(server.http, "nobody", "whatever-it-is"), 401);

    let events = server.wait_events("event.provider:wardwatch-console", 4);
    assert_eq!(events["total"], 4, "{events}");
    let mine = server.wait_events("event.provider:wardwatch-console AND user.name:n.jansen", 3);
    let outcomes: Vec<&str> = mine["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["ecs"]["event.outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "failure").count(),
        2,
        "{mine}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "success").count(),
        1,
        "{mine}"
    );

    // The ledger: three uses of n.jansen (two failed) in the application `wardwatch console`.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let u = loop {
        let (status, u) = common::http_get(
            server.http,
            "/api/v1/identities/n.jansen/usage?from=now-1h",
            Some(&server.api_token),
        );
        assert_eq!(status, 200, "{u}");
        if u["uses"].as_u64() == Some(3) || std::time::Instant::now() > deadline {
            break u;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(
        (u["uses"].as_u64(), u["failed"].as_u64()),
        (Some(3), Some(2)),
        "{u}"
    );
    assert!(
        u.to_string().contains("wardwatch console"),
        "the application is named: {u}"
    );
}
