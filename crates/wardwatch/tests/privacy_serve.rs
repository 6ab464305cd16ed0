//! The privacy analytics inside `serve` (issue 14): FHIR AuditEvents posted to a running server
//! with a context folder raise privacy alerts that form their own per-user incident; their
//! state is saved with the detection cursor, so a restart between the 20th and the 30th print
//! still finds the mass print, once; and no mail or webhook says anything about them while the
//! security incident beside them is delivered; nor is a privacy incident shared (`intel share`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, free_port, http_get, http_post, receiver};
use serde_json::{Value, json};

const ROSTER: &str = "user,display_name,department,role,privileged,email,address\n\
anurse,Anna de Vries,Cardiology,nurse,false,a@h.example,Kerkstraat 1 Utrecht\n\
bclerk,Bram Jansen,Administration,clerk,false,b@h.example,Molenweg 2 Zeist\n";
const PATIENTS: &str = "patient_id,family_name,given_name,address,vip,employee_user\n\
PAT-4711,Jansen,Bram,Molenweg 2 Zeist,false,bclerk\n\
PAT-0815,Mulder,Ina,Nieuwstraat 6 Zeist,false,\n";
const ENCOUNTERS: &str = "encounter_id,patient_id,department,start,end\n\
E1,PAT-0815,Cardiology,2026-01-01T00:00:00Z,2030-01-01T00:00:00Z\n";

/// A marker rule for the security incident the webhook must hear about.
const RULE: &str = "title: Privacy test marker\nid: 7d1e2f3a-4b5c-4d6e-8f70-1a2b3c4d5e6f\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel:\n    CommandLine|contains: 'privacy-test-marker'\n  condition: sel\nlevel: critical\n";

/// FHIR AuditEvent R4: `user` reads (or prints) `patient`'s record at `t`.
fn audit(t: jiff::Timestamp, user: &str, patient: &str, print: bool) -> Value {
    let (code, subtype) = if print {
        (
            "E",
            json!([{"system": "urn:iso:std:iso:21089", "code": "print", "display": "Print"}]),
        )
    } else {
        (
            "R",
            json!([{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}]),
        )
    };
    json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": subtype,
        "action": code,
        "recorded": t.to_string(),
        "outcome": "0",
        "purposeOfEvent": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}]}],
        "agent": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "code": "humanuser"}]},
            "who": {"identifier": {"value": user}},
            "requestor": true,
            "network": {"address": "10.20.7.44", "type": "2"}
        }],
        "source": {"observer": {"display": "epr01"}},
        "entity": [{"what": {"reference": format!("Patient/{patient}")},
                    "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"}}]
    })
}

fn post_audits(server: &Server, events: &[Value]) {
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    let (status, v) = http_post(
        server.http,
        "/fhir/AuditEvent",
        &body,
        Some(&server.ingest_token),
    );
    assert!(status == 200 || status == 201, "{status} {v}");
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn alerts_of(server: &Server, rule: &str) -> Value {
    http_get(
        server.http,
        &format!("/api/v1/alerts?limit=100&from=0&rule_id={rule}"),
        Some(&server.api_token),
    )
    .1
}

fn setup(dir: &Path, hook: u16) -> Vec<String> {
    let ctx = dir.join("context");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("roster.csv"), ROSTER).unwrap();
    std::fs::write(ctx.join("patients.csv"), PATIENTS).unwrap();
    std::fs::write(ctx.join("encounters.csv"), ENCOUNTERS).unwrap();
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/marker.yml"), RULE).unwrap();
    let config = dir.join("wardwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[incidents]\ncontext = \"{}\"\n[notify]\nconsole_url = \"https://ww.hospital.example\"\n\
             [[notify.webhooks]]\nname = \"generic\"\nurl = \"http://127.0.0.1:{hook}/hook\"\nformat = \"generic\"\n\
             [[notify.routes]]\nwebhooks = [\"generic\"]\nmin_severity = \"informational\"\n",
            ctx.display()
        ),
    )
    .unwrap();
    vec![
        "--rules".into(),
        dir.join("rules").display().to_string(),
        "--config".into(),
        config.display().to_string(),
    ]
}

#[test]
fn privacy_alerts_in_serve_form_their_own_incident_survive_a_restart_and_are_never_sent() {
    let (hook, got) = receiver();
    let dir = tempfile::tempdir().unwrap();
    let args = setup(dir.path(), hook);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let data = dir.path().join("data");
    let (http, syslog) = (format!("127.0.0.1:{}", free_port()), String::new());
    let mut server = Server::start_in(&data, &http, &syslog, &args);
    let t0 = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(50);
    let at = |min: i64| t0 + jiff::SignedDuration::from_secs(min * 60);
    // anurse opens a coworker's record (no care relationship), then prints 20 records of a
    // patient in her care; a security incident elsewhere (the marker).
    let mut first = vec![audit(at(0), "anurse", "PAT-4711", false)];
    first.extend((0..20).map(|i| {
        audit(
            at(1) + jiff::SignedDuration::from_secs(i * 20),
            "anurse",
            "PAT-0815",
            true,
        )
    }));
    post_audits(&server, &first);
    let marker = json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "PACS01",
        "TimeCreated": jiff::Timestamp::now().to_string(), "Image": "C:\\Windows\\System32\\cmd.exe",
        "CommandLine": "cmd /c privacy-test-marker", "User": "HOSP\\jdoe"
    });
    let (status, v) = http_post(
        server.http,
        "/_bulk",
        &format!("{{\"index\":{{}}}}\n{marker}\n"),
        Some(&server.ingest_token),
    );
    assert_eq!(status, 200, "{v}");
    wait_for("the coworker alert", || {
        alerts_of(&server, "analytic-privacy-coworker")["total"].as_u64() == Some(1)
    });
    wait_for("the webhook of the security incident", || {
        got.lock()
            .unwrap()
            .iter()
            .any(|(_, body)| body.contains("PACS01"))
    });
    // Restart between the 20th and the 30th print.
    server.kill();
    let server = Server::start_in(&data, &http, &syslog, &args);
    let rest: Vec<Value> = (20..30)
        .map(|i| {
            audit(
                at(1) + jiff::SignedDuration::from_secs(i * 20),
                "anurse",
                "PAT-0815",
                true,
            )
        })
        .collect();
    post_audits(&server, &rest);
    wait_for("the mass print alert", || {
        alerts_of(&server, "analytic-privacy-mass-export")["total"].as_u64() == Some(1)
    });
    // One privacy incident for the user, apart from the security incident.
    let (status, v) = http_get(
        server.http,
        "/api/v1/incidents?min_severity=informational&limit=100",
        Some(&server.api_token),
    );
    assert_eq!(status, 200, "{v}");
    let incidents = v["incidents"].as_array().unwrap();
    let privacy: Vec<&Value> = incidents
        .iter()
        .filter(|i| i["id"].as_str().unwrap().starts_with("priv-"))
        .collect();
    assert_eq!(privacy.len(), 1, "{v}");
    assert_eq!(privacy[0]["users"], json!(["anurse"]), "{v}");
    assert!(privacy[0]["alert_count"].as_u64().unwrap() >= 2, "{v}");
    assert!(
        incidents
            .iter()
            .any(|i| i["hosts"].to_string().contains("PACS01")
                && !i["id"].as_str().unwrap().starts_with("priv-")),
        "{v}"
    );
    // Nothing about them went out: the webhook heard of the security incident only, and the
    // notification queue holds nothing about the privacy incident.
    std::thread::sleep(Duration::from_secs(3));
    let sent = got.lock().unwrap().clone();
    assert!(!sent.is_empty());
    for (head, body) in &sent {
        let r = format!("{head}\n{body}");
        for secret in [
            "PAT-4711", "PAT-0815", "anurse", "priv-", "privacy", "coworker",
        ] {
            assert!(!r.contains(secret), "a webhook said `{secret}`: {r}");
        }
    }
    let (_, queue) = http_get(
        server.http,
        "/api/v1/notifications?limit=1000",
        Some(&server.api_token),
    );
    let queue = queue.to_string();
    assert!(
        !queue.contains("priv-") && !queue.contains("PAT-"),
        "{queue}"
    );
    // Nor is it shared with other hospitals.
    let id = privacy[0]["id"].as_str().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args([
            "intel",
            "share",
            id,
            "--data",
            data.to_str().unwrap(),
            "--dry-run",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("never shared outside the hospital"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("PAT-"));
    // Nor from the API, even by an admin who sees it, even as a dry run.
    for body in [r#"{"dry_run": true}"#, r#"{"collection": "incidents"}"#] {
        let (status, v) = http_post(
            server.http,
            &format!("/api/v1/incidents/{id}/share"),
            body,
            Some(&server.api_token),
        );
        assert_eq!(status, 403, "{v}");
        assert!(
            v.to_string().contains("never shared outside the hospital"),
            "{v}"
        );
        assert!(!v.to_string().contains("PAT-"), "{v}");
    }
}
