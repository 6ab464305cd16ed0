//! Conformance (issue 14): `../shared/data/healthcare` (FHIR AuditEvent R4 and R5, IHE ATNA /
//! DICOM audit XML) and `../shared/data/identity` (Entra ID sign-ins, Okta System Log, the
//! OTRF Windows and cloud simulations inside their `.zip` files) decode fully — no record
//! refused — into the normalized identity and EHR audit fields. Read in place, never copied.

mod common;

use std::path::Path;

use jiff::Timestamp;
use wardwatch_core::Event;
use wardwatch_ingest::decode_file;

/// Every event and warning of one file.
fn decode(path: &Path) -> (Vec<Event>, Vec<String>) {
    let mut events = Vec::new();
    let mut warnings = Vec::new();
    decode_file(
        path,
        1,
        |r| r,
        |item| match item {
            Ok(Ok(e)) => events.push(e),
            Ok(Err(w)) | Err(w) => warnings.push(w.to_string()),
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (events, warnings)
}

#[test]
fn fhir_audit_events_r4_and_r5_normalize_who_what_when_outcome() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let mut seen = 0;
    for version in ["fhir-r4", "fhir-r5"] {
        for f in common::files_under(&data.join("healthcare").join(version), ".json") {
            let (events, warnings) = decode(&f);
            assert!(warnings.is_empty(), "{}: {warnings:?}", f.display());
            assert_eq!(events.len(), 1, "{}", f.display());
            let e = &events[0];
            let name = f.file_name().unwrap().to_string_lossy();
            // Consent and Provenance examples are other resources: kept as JSON, not audits.
            if !name.starts_with("AuditEvent") {
                continue;
            }
            assert_ne!(e.timestamp, Timestamp::UNIX_EPOCH, "{}", f.display());
            seen += 1;
            let ecs = &e.ecs;
            assert_eq!(
                ecs.event_provider.as_deref(),
                Some("fhir-auditevent"),
                "{name}"
            );
            assert!(ecs.user_name.is_some(), "{version}/{name}: no user");
            assert_eq!(
                ecs.event_outcome.as_deref(),
                Some("success"),
                "{version}/{name}"
            );
            assert!(ecs.event_action.is_some(), "{version}/{name}");
            assert!(ecs.host_name.is_some(), "{version}/{name}: no observer");
            if name.contains("rest") {
                assert_eq!(
                    ecs.patient_id.as_deref(),
                    Some("example"),
                    "{version}/{name}"
                );
                assert_eq!(ecs.event_action.as_deref(), Some("read"));
                assert_eq!(ecs.event_code.as_deref(), Some("vread"));
            }
            if name.contains("login") {
                assert_eq!(
                    ecs.event_category.as_deref(),
                    Some("authentication"),
                    "{version}/{name}"
                );
                assert_eq!(
                    ecs.event_action.as_deref(),
                    Some("logged-in"),
                    "{version}/{name}"
                );
            }
        }
    }
    assert_eq!(seen, 10, "five AuditEvent examples per version");
}

#[test]
fn a_bundle_and_ndjson_of_the_examples_give_one_event_per_resource() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let resources: Vec<serde_json::Value> =
        common::files_under(&data.join("healthcare/fhir-r5"), ".json")
            .iter()
            .filter(|f| {
                f.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("AuditEvent")
            })
            .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
            .collect();
    let bundle = serde_json::json!({"resourceType": "Bundle", "type": "collection",
        "entry": resources.iter().map(|r| serde_json::json!({"resource": r})).collect::<Vec<_>>()});
    let b = dir.path().join("bundle.json");
    std::fs::write(&b, serde_json::to_string_pretty(&bundle).unwrap()).unwrap();
    let n = dir.path().join("audit.ndjson");
    let mut lines: Vec<String> = resources.iter().map(|r| r.to_string()).collect();
    // A malformed resource in the middle is refused with its reason; the rest are kept.
    lines.insert(
        2,
        r#"{"resourceType":"AuditEvent","recorded":"soon","agent":[{}]}"#.into(),
    );
    lines.push(bundle.to_string());
    std::fs::write(&n, lines.join("\n")).unwrap();
    let (events, warnings) = decode(&b);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(events.len(), resources.len());
    let (events, warnings) = decode(&n);
    assert_eq!(events.len(), 2 * resources.len(), "{warnings:?}");
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("line 3") && warnings[0].contains("`soon` is not an instant"),
        "{}",
        warnings[0]
    );
}

#[test]
fn atna_and_dicom_audit_messages_decode_fully() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let files = common::files_under(&data.join("healthcare/atna-ipf"), ".xml");
    assert!(files.len() >= 10, "{files:?}");
    for f in &files {
        let (events, warnings) = decode(f);
        assert!(warnings.is_empty(), "{}: {warnings:?}", f.display());
        assert_eq!(events.len(), 1, "{}", f.display());
        let ecs = &events[0].ecs;
        assert_eq!(ecs.event_provider.as_deref(), Some("atna"));
        assert!(ecs.user_name.is_some(), "{}: no user", f.display());
        assert!(
            ecs.event_outcome.is_some() && ecs.event_action.is_some(),
            "{}",
            f.display()
        );
        assert!(ecs.host_name.is_some(), "{}: no audit source", f.display());
    }
    let (events, _) = decode(&data.join("healthcare/atna-ipf/atna-record-1.xml"));
    let ecs = &events[0].ecs;
    assert_eq!(
        ecs.user_name.as_deref(),
        Some("smitty@readingroom.hospital.org")
    );
    assert_eq!(ecs.patient_id.as_deref(), Some("ptid12345"));
    assert_eq!(ecs.source_ip.as_deref(), Some("192.168.1.2"));
    assert_eq!(ecs.event_action.as_deref(), Some("create"));
}

#[test]
fn entra_and_okta_samples_are_sign_ins_with_user_and_address() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let (entra, w) =
        decode(&data.join("identity/elastic-fixtures/azure-signinlogs/test-signinlogs-raw.log"));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(entra.len(), 5);
    for e in &entra {
        assert_eq!(
            e.ecs.event_provider.as_deref(),
            Some("entra-id"),
            "{}",
            e.raw
        );
        assert_eq!(e.ecs.event_category.as_deref(), Some("authentication"));
        assert!(e.ecs.user_name.is_some(), "{}", e.raw);
        assert!(e.ecs.source_ip.is_some());
        assert!(e.ecs.event_outcome.is_some());
    }
    let okta_files =
        common::files_under(&data.join("identity/elastic-fixtures/okta-system"), ".log");
    assert!(!okta_files.is_empty());
    for f in okta_files {
        let (okta, w) = decode(&f);
        assert!(w.is_empty(), "{w:?}");
        assert!(!okta.is_empty());
        for e in &okta {
            assert_eq!(e.ecs.event_provider.as_deref(), Some("okta"), "{}", e.raw);
            assert!(
                e.ecs.user_name.is_some() && e.ecs.source_ip.is_some(),
                "{}",
                e.raw
            );
            assert!(e.ecs.event_code.is_some());
        }
    }
}

#[test]
fn otrf_identity_and_cloud_simulations_decode_without_a_refused_record() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let zips: Vec<_> = common::files_under(&data.join("identity"), ".zip");
    assert!(zips.len() >= 20, "{}", zips.len());
    let mut total = 0;
    for z in &zips {
        let (events, warnings) = decode(z);
        assert!(
            warnings.is_empty(),
            "{}: {:?}",
            z.display(),
            &warnings[..warnings.len().min(3)]
        );
        assert!(!events.is_empty(), "{}", z.display());
        total += events.len();
    }
    eprintln!(
        "identity simulations: {} files, {total} events, 0 refused",
        zips.len()
    );
}
