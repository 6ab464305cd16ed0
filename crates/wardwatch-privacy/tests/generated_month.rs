//! A generated month of EHR access (issue 14): the project's own seeded generator
//! (`wardwatch_demo::ehr`) writes a roster, patients, encounters and the FHIR AuditEvent trail
//! with planted cases of every kind and benign look-alikes (the same surname treated by its
//! ward, break-the-glass in the emergency department, a VIP seen by the care team); the trail
//! is decoded by the FHIR decoder and run through the privacy analytics, and recall and
//! precision are reported per kind, for two seeds.
//!
//! Scoring: a planted case is found when an alert of its kind names its user (and its patient,
//! for the kinds about one record) from its start to a day after. An alert is right when it
//! names the user of some planted case from that case's start to a day after — the accesses of
//! a planted burst that another kind also flags are not false alarms; anything else is.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use wardwatch_core::Origin;
use wardwatch_demo::ehr::{EhrMonth, PlantedKind, generate_ehr};
use wardwatch_incidents::{Encounters, Patients, PrivacyKey, Roster, StaffKeys};
use wardwatch_privacy::{PrivacyAnalytics, PrivacyContext};

struct Alert {
    kind: String,
    user: String,
    patient: Option<String>,
    at: Timestamp,
}

fn run(month: &EhrMonth) -> Vec<Alert> {
    let key = PrivacyKey::new(b"generated-month-test-key");
    let (roster, e1) = Roster::load_partial("roster.csv", &month.roster_csv);
    let (staff, e2) = StaffKeys::load_partial("roster.csv", &month.roster_csv, &key);
    let (patients, e3) = Patients::load_partial("patients.csv", &month.patients_csv, &key);
    let (encounters, e4) = Encounters::load_partial("encounters.csv", &month.encounters_csv);
    for e in [e1, e2, e3, e4] {
        assert!(e.is_empty(), "{e:?}");
    }
    let ctx = Arc::new(PrivacyContext {
        roster,
        staff,
        patients,
        encounters,
    });
    let mut analytics = PrivacyAnalytics::new(ctx);
    let mut out = Vec::new();
    for (i, line) in month.audit_ndjson.lines().enumerate() {
        let origin = Origin {
            source: "audit.ndjson".into(),
            record_id: Some(i as u64 + 1),
            ..Origin::default()
        };
        let event = wardwatch_ingest::jsonl::decode_line(line.as_bytes(), origin).unwrap();
        for d in analytics.observe(&event) {
            let alert = d.to_alert(&event);
            let kind = d
                .rule
                .id
                .trim_start_matches("analytic-privacy-")
                .to_string();
            assert!(alert.tags.iter().any(|t| t == "privacy"));
            let value = |k: &str| {
                alert
                    .entities
                    .iter()
                    .find(|e| e.kind.as_str() == k)
                    .map(|e| e.value.clone())
            };
            out.push(Alert {
                kind,
                user: value("user").expect("the user is named"),
                patient: event.ecs.patient_id.clone(),
                at: event.timestamp,
            });
            assert!(
                value("patient").is_some(),
                "the patient is named: {:?}",
                alert.entities
            );
        }
    }
    out
}

fn within(at: Timestamp, start: Timestamp) -> bool {
    let d = at.as_second() - start.as_second();
    (-60..=86_400).contains(&d)
}

/// (planted, found, alerts, right alerts) per kind.
fn score(
    month: &EhrMonth,
    alerts: &[Alert],
) -> BTreeMap<&'static str, (usize, usize, usize, usize)> {
    let mut table = BTreeMap::new();
    for kind in PlantedKind::ALL {
        let planted: Vec<_> = month.planted.iter().filter(|p| p.kind == kind).collect();
        let of_kind: Vec<&Alert> = alerts.iter().filter(|a| a.kind == kind.as_str()).collect();
        let found = planted
            .iter()
            .filter(|p| {
                of_kind.iter().any(|a| {
                    a.user == p.user
                        && within(a.at, p.at)
                        && (p.patient.is_none() || a.patient == p.patient)
                })
            })
            .count();
        let right = of_kind
            .iter()
            .filter(|a| {
                month
                    .planted
                    .iter()
                    .any(|p| p.user == a.user && within(a.at, p.at))
            })
            .count();
        table.insert(kind.as_str(), (planted.len(), found, of_kind.len(), right));
    }
    table
}

#[test]
fn every_kind_is_found_in_a_generated_month_and_look_alikes_stay_quiet() {
    let start: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
    for seed in [14, 2026] {
        let month = generate_ehr(seed, start);
        let alerts = run(&month);
        let table = score(&month, &alerts);
        eprintln!(
            "privacy seed {seed}: {} accesses, {} planted cases, {} alerts",
            month.accesses,
            month.planted.len(),
            alerts.len()
        );
        eprintln!(
            "  {:<30} {:>7} {:>6} {:>6} {:>7} {:>9}",
            "kind", "planted", "found", "alerts", "recall", "precision"
        );
        for (kind, (planted, found, n, right)) in &table {
            let recall = *found as f64 / (*planted).max(1) as f64;
            let precision = if *n == 0 {
                1.0
            } else {
                *right as f64 / *n as f64
            };
            eprintln!("  {kind:<30} {planted:>7} {found:>6} {n:>6} {recall:>7.2} {precision:>9.2}");
            assert!(*planted > 0, "{kind}: nothing planted");
            assert!(recall >= 0.8, "seed {seed}, {kind}: recall {recall:.2}");
            assert!(
                precision >= 0.8,
                "seed {seed}, {kind}: precision {precision:.2}"
            );
        }
    }
}
