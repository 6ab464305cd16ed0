//! A seeded month of EHR record access: staff, patients, care episodes, the audit trail as
//! FHIR AuditEvents, and the cases planted in it with the benign look-alikes beside them.
//!
//! # What it does
//! [`generate_ehr`] builds a hospital of departments (clinical ones that have encounters,
//! service ones — radiology, laboratory — that serve every ward), staff with family names and
//! addresses, patients (some VIPs, some employees, surnames drawn from the same list so
//! same-name pairs happen by chance), encounters over the month, and the accesses care makes:
//! the treating department's staff open the chart during the stay and a few days around it,
//! service staff open patients who are in hospital, the emergency department breaks the glass
//! on its own arrivals. Into that it plants, per [`PlantedKind`], cases of each kind of
//! snooping and their benign look-alikes (the same surname treated by the ward that treats
//! them, a VIP seen by the care team, break-the-glass in the emergency department, a busy day
//! that is still care). Every planted case is listed in [`EhrMonth::planted`] with the user and
//! patient it concerns, so a test can score recall and precision per kind.
//!
//! The output is what a hospital hands Wardwatch: `roster.csv`, `patients.csv`,
//! `encounters.csv` (the context folder) and the audit trail as FHIR AuditEvent R4 NDJSON.
//!
//! # Why
//! No public snooping dataset exists; detections are tuned on this and checked against a
//! hidden set of the same kinds, so the generator varies what a detector could overfit to
//! (names, times, departments, counts) from seed to seed.

use fastrand::Rng;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// The kinds of suspicious access the generator plants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlantedKind {
    SameFamilyName,
    SameAddress,
    SelfAccess,
    Coworker,
    VipOutsideCareTeam,
    NoCareRelationship,
    BreakGlassOutsideEmergency,
    BreakGlassBroadBrowsing,
    MassExport,
    VolumeSpike,
}

impl PlantedKind {
    pub const ALL: [PlantedKind; 10] = [
        PlantedKind::SameFamilyName,
        PlantedKind::SameAddress,
        PlantedKind::SelfAccess,
        PlantedKind::Coworker,
        PlantedKind::VipOutsideCareTeam,
        PlantedKind::NoCareRelationship,
        PlantedKind::BreakGlassOutsideEmergency,
        PlantedKind::BreakGlassBroadBrowsing,
        PlantedKind::MassExport,
        PlantedKind::VolumeSpike,
    ];

    /// The kind's name as the privacy analytics report it.
    pub fn as_str(self) -> &'static str {
        match self {
            PlantedKind::SameFamilyName => "same-family-name",
            PlantedKind::SameAddress => "same-address",
            PlantedKind::SelfAccess => "self-access",
            PlantedKind::Coworker => "coworker",
            PlantedKind::VipOutsideCareTeam => "vip-outside-care-team",
            PlantedKind::NoCareRelationship => "no-care-relationship",
            PlantedKind::BreakGlassOutsideEmergency => "break-glass-outside-emergency",
            PlantedKind::BreakGlassBroadBrowsing => "break-glass-broad-browsing",
            PlantedKind::MassExport => "mass-export",
            PlantedKind::VolumeSpike => "volume-spike",
        }
    }
}

/// One planted case: who, which patient (none for the user-level kinds), when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    pub kind: PlantedKind,
    pub user: String,
    pub patient: Option<String>,
    pub at: Timestamp,
}

/// The generated month.
#[derive(Debug, Clone)]
pub struct EhrMonth {
    pub roster_csv: String,
    pub patients_csv: String,
    pub encounters_csv: String,
    /// FHIR AuditEvent R4 resources, one JSON object a line, in time order.
    pub audit_ndjson: String,
    pub planted: Vec<Planted>,
    pub accesses: usize,
}

struct Staff {
    user: String,
    family: String,
    given: String,
    address: String,
    dept: usize,
    role: &'static str,
}

struct Patient {
    id: String,
    family: String,
    given: String,
    address: String,
    vip: bool,
    employee: Option<usize>,
}

struct Encounter {
    patient: usize,
    dept: usize,
    start: i64,
    end: i64,
}

const DEPARTMENTS: &[(&str, bool)] = &[
    ("Cardiology", true),
    ("Surgery", true),
    ("Pediatrics", true),
    ("Oncology", true),
    ("Intensive Care", true),
    ("Emergency", true),
    ("Radiology", false),
    ("Laboratory", false),
];
const EMERGENCY: usize = 5;

const FAMILY: &[&str] = &[
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "van der Linden",
    "Kok",
    "Jacobs",
    "de Haan",
    "Vermeulen",
    "van den Heuvel",
    "van der Veen",
    "van den Berg",
    "van Dijk",
    "Hoekstra",
    "Koster",
    "Prins",
    "Huisman",
    "Peeters",
    "Kuipers",
    "van Wijk",
    "Postma",
    "Willems",
    "Maas",
    "Verbeek",
    "Schouten",
    "Kramer",
    "Kuiper",
    "Verhoeven",
    "Timmermans",
    "Groen",
    "Gerritsen",
    "Jonker",
    "van Loon",
    "Boer",
    "Evers",
    "Wouters",
    "Sanders",
    "Vink",
    "Claassen",
    "Hermans",
    "Molenaar",
    "Veenstra",
    "Lammers",
    "Koning",
    "Bosch",
    "Martens",
    "Hofman",
    "Sijbesma",
    "Yilmaz",
    "El Amrani",
    "Nguyen",
    "Kaya",
    "Bouzid",
    "Achterberg",
    "Ramdin",
    "Tjon",
    "Sardjoe",
    "Oosterhuis",
    "Wolters",
];
const GIVEN: &[&str] = &[
    "Anna", "Bram", "Carla", "Daan", "Eva", "Fleur", "Gijs", "Hanna", "Ilse", "Joost", "Kim",
    "Lotte", "Milan", "Noor", "Olaf", "Pien", "Quinten", "Rosa", "Sem", "Tess", "Umut", "Vera",
    "Wout", "Yara", "Zeynep", "Fatima", "Mohammed", "Sanne", "Thijs", "Lieke",
];
const STREETS: &[&str] = &[
    "Kerkstraat",
    "Dorpsstraat",
    "Molenweg",
    "Stationsweg",
    "Schoolstraat",
    "Julianalaan",
    "Beatrixstraat",
    "Nieuwstraat",
    "Parklaan",
    "Lindelaan",
    "Eikenlaan",
    "Wilhelminastraat",
];
const CITIES: &[&str] = &[
    "Utrecht",
    "Zeist",
    "Houten",
    "Nieuwegein",
    "Amersfoort",
    "Bilthoven",
];

fn address(rng: &mut Rng) -> String {
    format!(
        "{} {}, {}",
        STREETS[rng.usize(..STREETS.len())],
        rng.u32(1..240),
        CITIES[rng.usize(..CITIES.len())]
    )
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One FHIR AuditEvent R4 for `user` reading (or exporting, printing) `patient`.
fn audit(t: i64, user: &Staff, patient: &Patient, action: &str, btg: bool) -> Value {
    let recorded = Timestamp::from_second(t)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string();
    let (code, subtype) = match action {
        "export" => (
            "E",
            json!([{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110106", "display": "Export"}]),
        ),
        "print" => (
            "E",
            json!([{"system": "urn:iso:std:iso:21089", "code": "print", "display": "Print"}]),
        ),
        _ => (
            "R",
            json!([{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}]),
        ),
    };
    let purpose = if btg { "BTG" } else { "TREAT" };
    json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": subtype,
        "action": code,
        "recorded": recorded,
        "outcome": "0",
        "purposeOfEvent": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose}]}],
        "agent": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "code": "humanuser"}]},
            "role": [{"text": user.role}],
            "who": {"identifier": {"value": user.user}},
            "requestor": true,
            "network": {"address": format!("10.{}.{}.{}", 20 + user.dept, (t / 7) % 200, 10 + (t % 200)), "type": "2"}
        }],
        "source": {"observer": {"display": "epr01"}},
        "entity": [{"what": {"reference": format!("Patient/{}", patient.id)},
                    "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"}}]
    })
}

/// A month of EHR access starting at `start` (UTC), deterministic for `seed`.
pub fn generate_ehr(seed: u64, start: Timestamp) -> EhrMonth {
    let mut rng = Rng::with_seed(seed ^ 0x4548_5200_0000_0014);
    let t0 = start.as_second();
    let day = 86_400i64;
    let month = 30 * day;
    // Staff: 14 to 20 per department.
    let mut staff: Vec<Staff> = Vec::new();
    for dept in 0..DEPARTMENTS.len() {
        for _ in 0..14 + rng.usize(..7) {
            let family = FAMILY[rng.usize(..FAMILY.len())].to_string();
            let given = GIVEN[rng.usize(..GIVEN.len())].to_string();
            let mut user = format!(
                "{}{}",
                given.to_ascii_lowercase().chars().next().unwrap_or('x'),
                family.to_ascii_lowercase().replace(' ', "")
            );
            if staff.iter().any(|s| s.user == user) {
                user.push_str(&staff.len().to_string());
            }
            let role = match (dept, rng.u32(0..10)) {
                (6 | 7, _) => "technician",
                (_, 0..=5) => "nurse",
                (_, 6..=8) => "physician",
                _ => "clerk",
            };
            staff.push(Staff {
                user,
                family,
                given,
                address: address(&mut rng),
                dept,
                role,
            });
        }
    }
    // Patients: 2,500 to 3,000; 12 VIPs; 40 employees (their record is a patient too).
    let n_patients = 2500 + rng.usize(..500);
    let mut patients: Vec<Patient> = (0..n_patients)
        .map(|i| Patient {
            id: format!("P{:06}", 100_000 + i * 7 + rng.usize(..7)),
            family: FAMILY[rng.usize(..FAMILY.len())].to_string(),
            given: GIVEN[rng.usize(..GIVEN.len())].to_string(),
            address: address(&mut rng),
            vip: false,
            employee: None,
        })
        .collect();
    for p in patients.iter_mut().take(12) {
        p.vip = true;
    }
    for (k, p) in patients.iter_mut().skip(12).take(40).enumerate() {
        let s = (k * 7 + 3) % staff.len();
        p.employee = Some(s);
        p.family = staff[s].family.clone();
        p.given = staff[s].given.clone();
        p.address = staff[s].address.clone();
    }
    // Encounters: most patients one, some two, in a clinical department.
    let clinical: Vec<usize> = (0..DEPARTMENTS.len())
        .filter(|d| DEPARTMENTS[*d].1)
        .collect();
    let mut encounters: Vec<Encounter> = Vec::new();
    for (pi, _) in patients.iter().enumerate() {
        let n = if rng.u32(0..10) < 2 { 2 } else { 1 };
        for _ in 0..n {
            let dept = clinical[rng.usize(..clinical.len())];
            let start = t0 + rng.i64(0..month - day);
            let len = if dept == EMERGENCY {
                rng.i64(2 * 3600..12 * 3600)
            } else {
                rng.i64(day..6 * day)
            };
            encounters.push(Encounter {
                patient: pi,
                dept,
                start,
                end: (start + len).min(t0 + month),
            });
        }
    }
    let by_dept =
        |d: usize| -> Vec<usize> { (0..staff.len()).filter(|s| staff[*s].dept == d).collect() };
    let mut accesses: Vec<(i64, usize, usize, &'static str, bool)> = Vec::new();
    // Care: each encounter is opened by 2 to 5 of its department's staff, several times,
    // during the stay and up to two days around it; radiology and the laboratory open a third
    // of the patients in hospital.
    for e in &encounters {
        let team = by_dept(e.dept);
        for _ in 0..2 + rng.usize(..4) {
            let s = team[rng.usize(..team.len())];
            for _ in 0..1 + rng.usize(..4) {
                let t = rng
                    .i64(e.start - 2 * day..e.end + 2 * day)
                    .clamp(t0, t0 + month - 1);
                // The emergency department breaks the glass on its arrivals during the visit.
                let btg = e.dept == EMERGENCY && t >= e.start && t <= e.end && rng.u32(0..4) == 0;
                accesses.push((t, s, e.patient, "read", btg));
            }
        }
        if rng.u32(0..3) == 0 {
            let svc = by_dept(6 + rng.usize(..2));
            let s = svc[rng.usize(..svc.len())];
            accesses.push((
                rng.i64(e.start..e.end.max(e.start + 1)),
                s,
                e.patient,
                "read",
                false,
            ));
        }
        // Discharge letters are printed by the ward.
        if rng.u32(0..4) == 0 {
            accesses.push((
                e.end,
                team[rng.usize(..team.len())],
                e.patient,
                "print",
                false,
            ));
        }
    }
    let mut planted = Vec::new();
    let at = |t: i64| Timestamp::from_second(t).unwrap_or(Timestamp::UNIX_EPOCH);
    // Cases are planted after the first ten days, so baselines exist.
    let plant_time = |rng: &mut Rng| t0 + 10 * day + rng.i64(0..18 * day);
    let care_of = |p: usize, d: usize, t: i64| {
        encounters.iter().any(|e| {
            e.patient == p && e.dept == d && t >= e.start - 3 * day && t <= e.end + 3 * day
        })
    };
    let n_cases = 6 + rng.usize(..4);
    let clinical_staff: Vec<usize> = (0..staff.len())
        .filter(|s| DEPARTMENTS[staff[*s].dept].1)
        .collect();
    let pick_staff = |rng: &mut Rng| clinical_staff[rng.usize(..clinical_staff.len())];
    // Patients without a care relationship to `s` at `t`, who are not VIPs or employees.
    let plain_patient = |rng: &mut Rng, s: usize, t: i64, patients: &[Patient]| loop {
        let p = 52 + rng.usize(..patients.len() - 52);
        if !care_of(p, staff[s].dept, t) {
            return p;
        }
    };
    for kind in PlantedKind::ALL {
        for _ in 0..n_cases {
            let s = pick_staff(&mut rng);
            let t = plant_time(&mut rng);
            let case = |pid: &str, planted: &mut Vec<Planted>| {
                planted.push(Planted {
                    kind,
                    user: staff[s].user.clone(),
                    patient: Some(pid.to_string()),
                    at: at(t),
                });
            };
            match kind {
                PlantedKind::SameFamilyName | PlantedKind::SameAddress => {
                    // A new patient record: a relative or neighbour, never treated here.
                    let mut p = Patient {
                        id: format!("P{:06}", 900_000 + patients.len()),
                        family: FAMILY[rng.usize(..FAMILY.len())].to_string(),
                        given: GIVEN[rng.usize(..GIVEN.len())].to_string(),
                        address: address(&mut rng),
                        vip: false,
                        employee: None,
                    };
                    if kind == PlantedKind::SameFamilyName {
                        p.family = staff[s].family.clone();
                    } else {
                        p.address = staff[s].address.clone();
                        while p.family == staff[s].family {
                            p.family = FAMILY[rng.usize(..FAMILY.len())].to_string();
                        }
                    }
                    patients.push(p);
                    let pi = patients.len() - 1;
                    accesses.push((t, s, pi, "read", false));
                    case(&patients[pi].id, &mut planted);
                }
                PlantedKind::SelfAccess => {
                    // The staff member's own record.
                    let pi = patients.len();
                    patients.push(Patient {
                        id: format!("P{:06}", 900_000 + pi),
                        family: staff[s].family.clone(),
                        given: staff[s].given.clone(),
                        address: staff[s].address.clone(),
                        vip: false,
                        employee: Some(s),
                    });
                    accesses.push((t, s, pi, "read", false));
                    case(&patients[pi].id, &mut planted);
                }
                PlantedKind::Coworker => {
                    let pi = 12 + rng.usize(..40);
                    let owner = patients[pi].employee.unwrap_or(0);
                    if owner == s
                        || care_of(pi, staff[s].dept, t)
                        || staff[owner].family == staff[s].family
                        || staff[owner].address == staff[s].address
                    {
                        continue;
                    }
                    accesses.push((t, s, pi, "read", false));
                    case(&patients[pi].id, &mut planted);
                }
                PlantedKind::VipOutsideCareTeam => {
                    let pi = rng.usize(..12);
                    if care_of(pi, staff[s].dept, t) {
                        continue;
                    }
                    accesses.push((t, s, pi, "read", false));
                    case(&patients[pi].id, &mut planted);
                }
                PlantedKind::NoCareRelationship => {
                    let pi = plain_patient(&mut rng, s, t, &patients);
                    if patients[pi].family == staff[s].family
                        || patients[pi].address == staff[s].address
                    {
                        continue;
                    }
                    accesses.push((t, s, pi, "read", false));
                    case(&patients[pi].id, &mut planted);
                }
                PlantedKind::BreakGlassOutsideEmergency => {
                    // Breaking the glass on a patient with no emergency visit, from a ward that
                    // does not treat them.
                    let pi = plain_patient(&mut rng, s, t, &patients);
                    if care_of(pi, EMERGENCY, t)
                        || patients[pi].family == staff[s].family
                        || patients[pi].address == staff[s].address
                    {
                        continue;
                    }
                    accesses.push((t, s, pi, "read", true));
                    case(&patients[pi].id, &mut planted);
                }
                PlantedKind::BreakGlassBroadBrowsing => {
                    // An emergency nurse breaks the glass on a real arrival, then browses.
                    let ed = by_dept(EMERGENCY);
                    let s = ed[rng.usize(..ed.len())];
                    let Some(e) = encounters
                        .iter()
                        .filter(|e| e.dept == EMERGENCY && e.start > t0 + 10 * day)
                        .nth(rng.usize(..20))
                    else {
                        continue;
                    };
                    let t = e.start + 600;
                    accesses.push((t, s, e.patient, "read", true));
                    planted.push(Planted {
                        kind,
                        user: staff[s].user.clone(),
                        patient: None,
                        at: at(t),
                    });
                    for k in 0..12 + rng.usize(..10) {
                        let pi = 52 + rng.usize(..patients.len() - 52);
                        accesses.push((t + 60 + k as i64 * rng.i64(30..200), s, pi, "read", false));
                    }
                }
                PlantedKind::MassExport => {
                    let action = if rng.bool() { "export" } else { "print" };
                    planted.push(Planted {
                        kind,
                        user: staff[s].user.clone(),
                        patient: None,
                        at: at(t),
                    });
                    let team: Vec<usize> = encounters
                        .iter()
                        .filter(|e| e.dept == staff[s].dept)
                        .map(|e| e.patient)
                        .collect();
                    for k in 0..40 + rng.usize(..80) {
                        let pi = team[rng.usize(..team.len())];
                        accesses.push((t + k as i64 * rng.i64(5..40), s, pi, action, false));
                    }
                }
                PlantedKind::VolumeSpike => {
                    // A day of opening many of the department's own patients (care-shaped, but
                    // far beyond this user's habit).
                    planted.push(Planted {
                        kind,
                        user: staff[s].user.clone(),
                        patient: None,
                        at: at(t),
                    });
                    let team: Vec<usize> = encounters
                        .iter()
                        .filter(|e| {
                            e.dept == staff[s].dept
                                && e.start <= t + 3 * day
                                && e.end >= t - 3 * day
                        })
                        .map(|e| e.patient)
                        .collect();
                    if team.is_empty() {
                        continue;
                    }
                    for k in 0..120 + rng.usize(..80) {
                        let pi = team[rng.usize(..team.len())];
                        accesses.push((t + k as i64 * rng.i64(20..120), s, pi, "read", false));
                    }
                }
            }
        }
    }
    // Benign look-alikes, on purpose: a ward treating a patient who shares a nurse's surname,
    // the care team opening a VIP's chart, a busy but ordinary day.
    for e in encounters.iter().take(400) {
        let team = by_dept(e.dept);
        let s = team[rng.usize(..team.len())];
        if rng.u32(0..8) == 0 {
            patients[e.patient].family = staff[s].family.clone();
            accesses.push((
                rng.i64(e.start..e.end.max(e.start + 1)),
                s,
                e.patient,
                "read",
                false,
            ));
        }
    }
    for pi in 0..12 {
        if let Some(e) = encounters.iter().find(|e| e.patient == pi) {
            let team = by_dept(e.dept);
            accesses.push((
                e.start + 1800,
                team[rng.usize(..team.len())],
                pi,
                "read",
                false,
            ));
        }
    }
    accesses.sort_by_key(|a| a.0);
    let mut audit_ndjson = String::new();
    for (t, s, p, action, btg) in &accesses {
        audit_ndjson.push_str(&audit(*t, &staff[*s], &patients[*p], action, *btg).to_string());
        audit_ndjson.push('\n');
    }
    let mut roster_csv =
        String::from("user,display_name,department,role,privileged,email,address\n");
    for s in &staff {
        roster_csv.push_str(&format!(
            "{},{},{},{},false,{}@hospital.example,{}\n",
            s.user,
            csv_field(&format!("{} {}", s.given, s.family)),
            DEPARTMENTS[s.dept].0,
            s.role,
            s.user,
            csv_field(&s.address)
        ));
    }
    let mut patients_csv =
        String::from("patient_id,family_name,given_name,address,vip,employee_user\n");
    for p in &patients {
        patients_csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            p.id,
            csv_field(&p.family),
            csv_field(&p.given),
            csv_field(&p.address),
            p.vip,
            p.employee.map(|s| staff[s].user.as_str()).unwrap_or("")
        ));
    }
    let mut encounters_csv = String::from("encounter_id,patient_id,department,start,end\n");
    for (i, e) in encounters.iter().enumerate() {
        encounters_csv.push_str(&format!(
            "E{:07},{},{},{},{}\n",
            i + 1,
            patients[e.patient].id,
            DEPARTMENTS[e.dept].0,
            at(e.start),
            at(e.end)
        ));
    }
    let _ = SignedDuration::ZERO;
    EhrMonth {
        roster_csv,
        patients_csv,
        encounters_csv,
        audit_ndjson,
        planted,
        accesses: accesses.len(),
    }
}
