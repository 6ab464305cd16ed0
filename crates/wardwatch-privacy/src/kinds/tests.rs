//! Each kind on hand-made accesses: one that fires, and the look-alike that must not.

use std::sync::Arc;

use jiff::Timestamp;
use wardwatch_core::{Event, Origin, SourceKind};
use wardwatch_incidents::{Encounters, Patients, PrivacyKey, Roster, StaffKeys};

use crate::{PrivacyAnalytics, PrivacyContext};

const ROSTER: &str = "user,display_name,department,role,privileged,email,address\n\
anurse,Anna de Vries,Cardiology,nurse,false,a@h.example,Kerkstraat 1 Utrecht\n\
bdoc,Bram Jansen,Emergency,physician,false,b@h.example,Molenweg 2 Zeist\n\
clab,Carla Smit,Laboratory,technician,false,c@h.example,Parklaan 3 Houten\n";
const PATIENTS: &str = "patient_id,family_name,given_name,address,vip,employee_user\n\
P1,de Vries,Kees,Dorpsstraat 9 Utrecht,false,\n\
P2,Bakker,Els,Kerkstraat 1 Utrecht,false,\n\
P3,de Vries,Anna,Kerkstraat 1 Utrecht,false,anurse\n\
P4,Jansen,Bram,Molenweg 2 Zeist,false,bdoc\n\
P5,Visser,Mark,Stationsweg 5 Bilthoven,true,\n\
P6,Mulder,Ina,Nieuwstraat 6 Zeist,false,\n\
P7,de Vries,Jan,Lindelaan 7 Zeist,false,\n";
const ENCOUNTERS: &str = "encounter_id,patient_id,department,start,end\n\
E1,P6,Cardiology,2026-11-10T08:00:00Z,2026-11-12T08:00:00Z\n\
E2,P5,Cardiology,2026-11-10T08:00:00Z,2026-11-12T08:00:00Z\n\
E3,P1,Emergency,2026-11-20T08:00:00Z,2026-11-20T14:00:00Z\n\
E4,P7,Cardiology,2026-11-10T08:00:00Z,2026-11-12T08:00:00Z\n";

fn ctx() -> Arc<PrivacyContext> {
    let key = PrivacyKey::new(b"unit-test-key-0123456789");
    Arc::new(PrivacyContext {
        roster: Roster::load_partial("roster.csv", ROSTER).0,
        staff: StaffKeys::load_partial("roster.csv", ROSTER, &key).0,
        patients: Patients::load_partial("patients.csv", PATIENTS, &key).0,
        encounters: Encounters::load_partial("encounters.csv", ENCOUNTERS).0,
    })
}

fn access(at: &str, user: &str, patient: &str, action: &str, btg: bool) -> Event {
    let mut e = Event::new(
        SourceKind::Json,
        at.parse::<Timestamp>().unwrap(),
        serde_json::json!({}),
    );
    e.origin = Origin {
        source: "t".into(),
        ..Origin::default()
    };
    e.ecs.event_category = Some("ehr-access".into());
    e.ecs.event_outcome = Some("success".into());
    e.ecs.event_action = Some(action.into());
    e.ecs.user_name = Some(user.into());
    e.ecs.patient_id = Some(patient.into());
    e.ecs.break_the_glass = btg.then_some(true);
    e
}

/// The kinds one access raises.
fn kinds(a: &mut PrivacyAnalytics, e: &Event) -> Vec<String> {
    a.observe(e)
        .iter()
        .map(|d| {
            d.rule
                .id
                .trim_start_matches("analytic-privacy-")
                .to_string()
        })
        .collect()
}

#[test]
fn relationship_kinds_and_their_look_alikes() {
    let mut a = PrivacyAnalytics::new(ctx());
    let t = "2026-11-11T10:00:00Z";
    assert_eq!(
        kinds(&mut a, &access(t, "anurse", "P1", "read", false)),
        ["same-family-name"]
    );
    assert_eq!(
        kinds(&mut a, &access(t, "anurse", "P2", "read", false)),
        ["same-address"]
    );
    assert_eq!(
        kinds(&mut a, &access(t, "anurse", "P3", "read", false)),
        ["self-access"]
    );
    assert_eq!(
        kinds(&mut a, &access(t, "anurse", "P4", "read", false)),
        ["coworker"]
    );
    assert_eq!(
        kinds(&mut a, &access(t, "bdoc", "P5", "read", false)),
        ["vip-outside-care-team"]
    );
    assert_eq!(
        kinds(&mut a, &access(t, "bdoc", "P6", "read", false)),
        ["no-care-relationship"]
    );
    // Look-alikes: the VIP and P6 treated by Cardiology; the laboratory serving an in-patient.
    assert!(kinds(&mut a, &access(t, "anurse", "P5", "read", false)).is_empty());
    assert!(kinds(&mut a, &access(t, "anurse", "P6", "read", false)).is_empty());
    assert!(kinds(&mut a, &access(t, "clab", "P6", "read", false)).is_empty());
    // The lab opening a patient who is not in hospital.
    assert_eq!(
        kinds(
            &mut a,
            &access("2026-11-25T10:00:00Z", "clab", "P6", "read", false)
        ),
        ["no-care-relationship"]
    );
    // Same surname, treated by the user's own ward: care, not snooping.
    assert!(kinds(&mut a, &access(t, "anurse", "P7", "read", false)).is_empty());
}

#[test]
fn break_the_glass_in_and_outside_an_emergency() {
    let mut a = PrivacyAnalytics::new(ctx());
    // In the emergency department during P1's visit: what it is for.
    assert!(
        kinds(
            &mut a,
            &access("2026-11-20T09:00:00Z", "bdoc", "P1", "read", true)
        )
        .is_empty()
    );
    // P6 never came through the emergency department.
    assert_eq!(
        kinds(
            &mut a,
            &access("2026-11-20T09:30:00Z", "bdoc", "P6", "read", true)
        ),
        ["break-glass-outside-emergency"]
    );
}

#[test]
fn browsing_after_the_glass_mass_export_and_volume() {
    let mut a = PrivacyAnalytics::new(ctx());
    kinds(
        &mut a,
        &access("2026-11-20T09:00:00Z", "bdoc", "P1", "read", true),
    );
    let mut found = Vec::new();
    for i in 0..12 {
        found.extend(kinds(
            &mut a,
            &access(
                &format!("2026-11-20T09:{:02}:00Z", 5 + i),
                "bdoc",
                &format!("X{i}"),
                "read",
                false,
            ),
        ));
    }
    assert_eq!(
        found
            .iter()
            .filter(|k| *k == "break-glass-broad-browsing")
            .count(),
        1
    );
    // 30 prints in half an hour; a few discharge letters stay quiet.
    let mut found = Vec::new();
    for i in 0..30 {
        found.extend(kinds(
            &mut a,
            &access(
                &format!("2026-11-11T10:{:02}:00Z", i),
                "anurse",
                "P6",
                "print",
                false,
            ),
        ));
    }
    assert_eq!(found.iter().filter(|k| *k == "mass-export").count(), 1);
    let mut a = PrivacyAnalytics::new(ctx());
    let mut found = Vec::new();
    for day in 1..=6 {
        for p in 0..5 {
            found.extend(kinds(
                &mut a,
                &access(
                    &format!("2026-11-0{day}T10:0{p}:00Z"),
                    "anurse",
                    "P6",
                    "read",
                    false,
                ),
            ));
            found.extend(kinds(
                &mut a,
                &access(
                    &format!("2026-11-0{day}T11:0{p}:00Z"),
                    "anurse",
                    &format!("Q{p}"),
                    "read",
                    false,
                ),
            ));
        }
    }
    assert!(!found.contains(&"volume-spike".to_string()));
    for p in 0..40 {
        found.extend(kinds(
            &mut a,
            &access(
                &format!("2026-11-08T{:02}:{:02}:00Z", 8 + p / 60, p % 60),
                "anurse",
                &format!("R{p}"),
                "read",
                false,
            ),
        ));
    }
    assert_eq!(found.iter().filter(|k| *k == "volume-spike").count(), 1);
}

/// The server saves the analytics' state with its detection cursor: a restart between the
/// 20th and the 30th print still finds the mass print, and a state of another layout is
/// refused rather than half taken.
#[test]
fn state_saved_and_taken_up_again_carries_the_windows_across_a_restart() {
    let print = |a: &mut PrivacyAnalytics, i: usize| {
        kinds(
            a,
            &access(
                &format!("2026-11-11T10:{i:02}:00Z"),
                "anurse",
                "P6",
                "print",
                false,
            ),
        )
    };
    let mut before = PrivacyAnalytics::new(ctx());
    for i in 0..20 {
        assert!(!print(&mut before, i).contains(&"mass-export".to_string()));
    }
    let saved = serde_json::to_string(&before.export_state()).unwrap();
    let mut after = PrivacyAnalytics::new(ctx());
    assert!(after.import_state(serde_json::from_str(&saved).unwrap()));
    let mut fresh = PrivacyAnalytics::new(ctx());
    let (mut resumed, mut forgot) = (Vec::new(), Vec::new());
    for i in 20..30 {
        resumed.extend(print(&mut after, i));
        forgot.extend(print(&mut fresh, i));
    }
    assert_eq!(resumed.iter().filter(|k| *k == "mass-export").count(), 1);
    assert!(!forgot.contains(&"mass-export".to_string()));
    let mut other = PrivacyAnalytics::new(ctx());
    assert!(!other.import_state(serde_json::json!({"version": 99})));
    assert!(!other.import_state(serde_json::json!({"version": 1, "export": {"users": 7}})));
}
