//! The share keeps every external indicator and none of the planted inside values, in fields
//! or in free text, over a small corpus of incidents.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;
use wardwatch_core::{Alert, AlertId, Entity, EntityKind, EventRef, Origin, Severity};
use wardwatch_incidents::{Context, GroupConfig, Grouper, Incident};

use super::*;

fn context() -> Context {
    let (ctx, errors) = Context::from_files(&[
        (
            "inventory.csv".into(),
            "match,class,criticality,name,department\n\
             WS-RAD-014,workstation,2,,Radiology\n\
             10.20.1.14,workstation,2,WS-RAD-014,Radiology\n\
             pacs01.hospital.local,pacs,5,PACS archive,Radiology\n\
             145.100.8.0/24,server,4,,Data centre\n"
                .into(),
        ),
        (
            "roster.csv".into(),
            "user,name,email,department,role\n\
             jsmith,Jane Smith,j.smith@hospital.example,Radiology,radiographer\n\
             pvdberg,Pieter van den Berg,p.vandenberg@hospital.example,Cardiology,cardiologist\n"
                .into(),
        ),
    ]);
    assert!(errors.is_empty(), "{errors:?}");
    ctx
}

struct Planted {
    alerts: Vec<Alert>,
    /// Values that must not appear anywhere in the bundle.
    secrets: Vec<&'static str>,
    /// Values that must appear (canonical form).
    external: Vec<&'static str>,
}

fn alert(
    n: u32,
    rule: &str,
    host: &str,
    entities: &[(EntityKind, &str)],
    facts: &[(&str, &str)],
) -> Alert {
    let t: Timestamp = "2026-11-20T09:00:00Z".parse().unwrap();
    let t = t + jiff::SignedDuration::from_secs(i64::from(n) * 30);
    Alert {
        id: AlertId(format!("a{n:04}")),
        rule_id: rule.into(),
        rule_title: format!("{rule} rule"),
        level: Severity::High,
        tags: vec!["attack.initial-access".into(), "attack.t1566.002".into()],
        timestamp: t,
        organization: "default".into(),
        host: Some(host.into()),
        entities: entities.iter().map(|(k, v)| Entity::new(*k, *v)).collect(),
        event: EventRef {
            origin: Origin {
                source: "test".into(),
                record_id: Some(u64::from(n)),
                ..Origin::default()
            },
            event_code: None,
            channel: None,
        },
        recommendation: None,
        awareness: None,
        facts: facts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn corpus() -> Vec<Planted> {
    use EntityKind::*;
    vec![
        // A phishing mail with a link clicked from a radiology workstation.
        Planted {
            alerts: vec![
                alert(
                    1,
                    "mail-phish",
                    "WS-RAD-014",
                    &[
                        (Email, "billing@invoice-portal.example"),
                        (Email, "j.smith@hospital.example"),
                        (User, "jsmith"),
                        (
                            Url,
                            "https://login.invoice-portal.example/o365/?u=j.smith@hospital.example",
                        ),
                        (Domain, "invoice-portal.example"),
                    ],
                    &[
                        ("email.subject", "Your invoice 2026-11 is overdue"),
                        ("email.from.address", "billing@invoice-portal.example"),
                    ],
                ),
                alert(
                    2,
                    "proxy-click",
                    "WS-RAD-014",
                    &[
                        (Ip, "10.20.1.14"),
                        (Ip, "198.51.100.23"),
                        (Url, "http://198.51.100.23/stage2.bin"),
                        (
                            Hash,
                            "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f",
                        ),
                    ],
                    &[
                        ("destination.ip", "198.51.100.23"),
                        ("url.full", "http://198.51.100.23/stage2.bin"),
                    ],
                ),
            ],
            secrets: vec![
                "WS-RAD-014",
                "ws-rad-014",
                "10.20.1.14",
                "jsmith",
                "j.smith@hospital.example",
                "Jane Smith",
            ],
            external: vec![
                "billing@invoice-portal.example",
                "invoice-portal.example",
                "198.51.100.23",
                "http://198.51.100.23/stage2.bin",
                "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f",
                "Your invoice 2026-11 is overdue",
            ],
        },
        // Subjects and URLs that quote people, patients and internal names stay home.
        Planted {
            alerts: vec![alert(
                3,
                "mail-phish",
                "pacs01.hospital.local",
                &[
                    (Email, "results@lab-share.example"),
                    (Patient, "MRN-20394857"),
                    (Url, "https://lab-share.example/view?patient=20394857"),
                    (Url, "http://pacs01.hospital.local/viewer"),
                    (Domain, "intranet.hospital.example"),
                    (Domain, "files.lab-share.example"),
                    (Ip, "145.100.8.17"),
                    (Ip, "fd12:3456::8"),
                ],
                &[
                    ("email.subject", "Lab results for Pieter van den Berg"),
                    ("email.reply_to.address", "p.vandenberg@hospital.example"),
                ],
            )],
            secrets: vec![
                "20394857",
                "MRN-20394857",
                "Pieter van den Berg",
                "pacs01",
                "intranet.hospital.example",
                "145.100.8.17",
                "fd12:3456::8",
                "p.vandenberg@hospital.example",
                "hospital.local",
            ],
            external: vec!["results@lab-share.example", "files.lab-share.example"],
        },
    ]
}

fn incident_of(alerts: &[Alert], ctx: &Context) -> Incident {
    let mut g = Grouper::new(GroupConfig::default(), Vec::new());
    let now: Timestamp = "2026-11-20T10:00:00Z".parse().unwrap();
    for a in alerts {
        g.add(a, ctx, now);
    }
    let incidents: Vec<&Incident> = g.open().collect();
    assert_eq!(incidents.len(), 1, "one incident a case");
    incidents[0].clone()
}

#[test]
fn no_planted_inside_value_reaches_the_bundle_and_every_external_one_does() {
    let ctx = context();
    for (n, case) in corpus().into_iter().enumerate() {
        let incident = incident_of(&case.alerts, &ctx);
        let mut inside = Inside::new(&ctx, &["hospital.example".to_string()]);
        inside.add_incident(&incident, &case.alerts);
        let out = share(
            &ShareRequest {
                incident: &incident,
                alerts: &case.alerts,
                producer: "St. Example University Hospital",
                tlp: Tlp::Amber,
                now: "2026-11-21T08:00:00Z".parse().unwrap(),
            },
            &inside,
        );
        let text = serde_json::to_string(&out.bundle).unwrap().to_lowercase();
        for s in &case.secrets {
            assert!(
                !text.contains(&s.to_lowercase()),
                "case {n}: `{s}` leaked into the bundle:\n{}",
                serde_json::to_string_pretty(&out.bundle).unwrap()
            );
        }
        for e in &case.external {
            assert!(
                text.contains(&e.to_lowercase()),
                "case {n}: `{e}` missing; kept {:?}, withheld {:?}",
                out.kept,
                out.withheld
            );
        }
        assert!(!out.withheld.is_empty(), "case {n} withheld nothing");
        // Every indicator's pattern parses, and the bundle reads back as intelligence.
        let back = crate::import::import_bundle(&out.bundle.to_string(), "partner").unwrap();
        assert_eq!(back.indicators.len(), out.kept.len(), "case {n}");
        assert!(back.skipped.is_empty(), "case {n}: {:?}", back.skipped);
        assert!(back.indicators.iter().all(|i| i.tlp == Some(Tlp::Amber)));
    }
}

#[test]
fn the_bundle_has_the_producer_the_marking_the_techniques_and_a_report() {
    let ctx = context();
    let case = corpus().remove(0);
    let incident = incident_of(&case.alerts, &ctx);
    let mut inside = Inside::new(&ctx, &[]);
    inside.add_incident(&incident, &case.alerts);
    let req = ShareRequest {
        incident: &incident,
        alerts: &case.alerts,
        producer: "St. Example University Hospital",
        tlp: Tlp::Green,
        now: "2026-11-21T08:00:00Z".parse().unwrap(),
    };
    let out = share(&req, &inside);
    let objects = out.bundle["objects"].as_array().unwrap();
    let of = |ty: &str| -> Vec<&Value> { objects.iter().filter(|o| o["type"] == ty).collect() };
    assert_eq!(of("identity").len(), 1);
    assert_eq!(of("identity")[0]["sectors"][0], "healthcare");
    let marking = of("marking-definition");
    assert_eq!(marking[0]["id"], Tlp::Green.marking_id());
    assert_eq!(
        of("attack-pattern")[0]["external_references"][0]["external_id"],
        "T1566.002"
    );
    let report = of("report");
    assert_eq!(report.len(), 1);
    let refs = report[0]["object_refs"].as_array().unwrap();
    for o in objects {
        let ty = o["type"].as_str().unwrap();
        if ty != "report" && ty != "marking-definition" {
            assert!(refs.contains(&o["id"]), "{ty} not in the report");
        }
        if ty != "marking-definition" {
            assert_eq!(o["spec_version"], "2.1");
        }
    }
    let indicates = of("relationship");
    assert_eq!(indicates.len(), of("indicator").len());
    assert!(
        indicates
            .iter()
            .all(|r| r["relationship_type"] == "indicates")
    );
    let description = report[0]["description"].as_str().unwrap();
    assert!(description.contains("T1566.002"), "{description}");
    assert!(
        !description.to_lowercase().contains("ws-rad"),
        "{description}"
    );
    // The same incident shared twice gives the same objects (ids are name-based).
    let again = share(&req, &inside);
    assert_eq!(again.bundle, out.bundle);
}
