//! `hunt --context DIR` applies the privacy analytics to an exported audit trail (issue 14):
//! a privacy officer reviews last month's FHIR AuditEvent export offline. The month is the
//! project's own seeded generator's; its jsonl rows carry `user` and `entities` with the
//! patient as kind `patient`.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use wardwatch_demo::ehr::{PlantedKind, generate_ehr};

#[test]
fn hunt_with_context_finds_every_privacy_kind_and_names_user_and_patient() {
    let dir = tempfile::tempdir().unwrap();
    let month = generate_ehr(7, "2026-11-01T00:00:00Z".parse().unwrap());
    let ctx = dir.path().join("context");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("roster.csv"), &month.roster_csv).unwrap();
    std::fs::write(ctx.join("patients.csv"), &month.patients_csv).unwrap();
    std::fs::write(ctx.join("encounters.csv"), &month.encounters_csv).unwrap();
    let audit = dir.path().join("audit.ndjson");
    std::fs::write(&audit, &month.audit_ndjson).unwrap();

    let hunt = |context: bool| -> Vec<Value> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardwatch"));
        cmd.arg("hunt")
            .arg(&audit)
            .args(["--format", "jsonl", "-q"]);
        if context {
            cmd.arg("--context").arg(&ctx);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let rows = hunt(true);
    let privacy: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            r["rule_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("analytic-privacy-"))
        })
        .collect();
    let kinds: BTreeSet<&str> = privacy
        .iter()
        .map(|r| {
            r["rule_id"]
                .as_str()
                .unwrap()
                .trim_start_matches("analytic-privacy-")
        })
        .collect();
    for kind in PlantedKind::ALL {
        assert!(
            kinds.contains(kind.as_str()),
            "{} not found: {kinds:?}",
            kind.as_str()
        );
    }
    for r in &privacy {
        assert!(r["user"].as_str().is_some_and(|u| !u.is_empty()), "{r}");
        let entities = r["entities"].as_array().unwrap();
        assert!(entities.iter().any(|e| e["kind"] == "patient"), "{r}");
        assert!(entities.iter().any(|e| e["kind"] == "user"), "{r}");
        assert!(r["correlation"].to_string().contains("relationship"), "{r}");
    }
    // A planted snooping case, by its user and patient.
    let case = month
        .planted
        .iter()
        .find(|p| p.kind == PlantedKind::SameFamilyName)
        .unwrap();
    assert!(privacy.iter().any(|r| {
        r["user"] == case.user.as_str()
            && r["entities"]
                .to_string()
                .contains(case.patient.as_deref().unwrap())
    }));
    // Without the context folder nothing is judged.
    assert!(!hunt(false).iter().any(|r| {
        r["rule_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("analytic-privacy-"))
    }));
}

#[test]
fn a_context_folder_without_patients_or_encounters_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.ndjson"), "{}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .arg("hunt")
        .arg(dir.path().join("a.ndjson"))
        .arg("--context")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("neither patients.csv nor encounters.csv"),
        "{err}"
    );
}
