//! Care relationships: which department had a patient in its care, and when.
//!
//! # What it does
//! [`Encounters`] reads `encounters.csv` (`encounter_id,patient_id,department,start,end`,
//! RFC 3339 times; an open encounter has no `end`) and answers whether a patient had an
//! encounter in a department around a moment ([`Encounters::in_department`]), and which
//! departments ever have encounters (the others — radiology, the laboratory — serve every ward
//! and have no care relationship of their own to check).
//!
//! # Why it matters
//! "Did this user's department treat this patient then?" separates care from snooping; without
//! it every same-surname access would be suspicious.
//!
//! # Example
//! `E1,P100001,Cardiology,2026-11-02T08:00:00Z,2026-11-05T12:00:00Z`: Cardiology's staff
//! opening P100001 on 4 November is care; Surgery's is not.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

use super::{ContextError, Location, format_of, parse_all, required};

/// One encounter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encounter {
    pub id: String,
    pub patient_id: String,
    /// The department, lowercased and trimmed.
    pub department: String,
    pub start: Timestamp,
    /// `None` while the patient is still in care.
    pub end: Option<Timestamp>,
}

/// Encounters by patient.
#[derive(Debug, Clone, Default)]
pub struct Encounters {
    by_patient: HashMap<String, Vec<Encounter>>,
    departments: HashSet<String>,
    count: usize,
}

/// A department name as compared: lowercased, trimmed.
pub fn department_key(d: &str) -> String {
    d.trim().to_lowercase()
}

impl Encounters {
    /// Parse `text` (CSV or YAML by the extension of `path_name`), keeping every good row and
    /// reporting every bad one.
    pub fn load_partial(path_name: &str, text: &str) -> (Self, Vec<ContextError>) {
        let format = match format_of(path_name) {
            Ok(f) => f,
            Err(e) => return (Self::default(), vec![e]),
        };
        let (rows, errors) = parse_all(path_name, text, format, |file, at, map| {
            let time =
                |column: &'static str, at: &Location| -> Result<Option<Timestamp>, ContextError> {
                    match map.get(column) {
                        None => Ok(None),
                        Some(t) => {
                            t.parse::<Timestamp>()
                                .map(Some)
                                .map_err(|_| ContextError::BadValue {
                                    file: file.to_string(),
                                    at: at.clone(),
                                    column,
                                    value: t.clone(),
                                    hint: "expected an RFC 3339 time like 2026-11-02T08:00:00Z",
                                })
                        }
                    }
                };
            let start = match time("start", &at)? {
                Some(s) => s,
                None => {
                    required(file, &at, map, "start")?;
                    unreachable!("a present start parsed above")
                }
            };
            let end = time("end", &at)?;
            if let Some(e) = end
                && e < start
            {
                return Err(ContextError::BadValue {
                    file: file.to_string(),
                    at: at.clone(),
                    column: "end",
                    value: e.to_string(),
                    hint: "the end is before the start",
                });
            }
            Ok(Encounter {
                id: map.get("encounter_id").cloned().unwrap_or_default(),
                patient_id: required(file, &at, map, "patient_id")?.to_string(),
                department: department_key(required(file, &at, map, "department")?),
                start,
                end,
            })
        });
        let mut e = Encounters::default();
        for row in rows {
            e.departments.insert(row.department.clone());
            e.count += 1;
            e.by_patient
                .entry(row.patient_id.clone())
                .or_default()
                .push(row);
        }
        (e, errors)
    }

    /// Whether `patient` had an encounter in a department `dept` accepts that covers `at`
    /// widened by `margin_secs` on both sides.
    pub fn in_department(
        &self,
        patient: &str,
        at: Timestamp,
        margin_secs: i64,
        dept: impl Fn(&str) -> bool,
    ) -> bool {
        let t = at.as_second();
        self.by_patient.get(patient).is_some_and(|list| {
            list.iter().any(|e| {
                dept(&e.department)
                    && t >= e.start.as_second() - margin_secs
                    && e.end.is_none_or(|end| t <= end.as_second() + margin_secs)
            })
        })
    }

    /// Whether `department` has encounters at all (a service department has none).
    pub fn has_department(&self, department: &str) -> bool {
        self.departments.contains(&department_key(department))
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn care_windows_and_bad_rows() {
        let csv = "encounter_id,patient_id,department,start,end\nE1,P1,Cardiology,2026-11-02T08:00:00Z,2026-11-05T12:00:00Z\nE2,P1,Emergency,2026-11-20T08:00:00Z,\nE3,P2,Surgery,yesterday,\nE4,P3,ICU,2026-11-02T08:00:00Z,2026-11-01T08:00:00Z\nE5,P4,,2026-11-02T08:00:00Z,\n";
        let (e, errors) = Encounters::load_partial("encounters.csv", csv);
        assert_eq!(e.len(), 2);
        assert_eq!(errors.len(), 3, "{errors:?}");
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let cardio = |d: &str| d == "cardiology";
        assert!(e.in_department("P1", at("2026-11-04T00:00:00Z"), 0, cardio));
        assert!(!e.in_department("P1", at("2026-11-07T00:00:00Z"), 0, cardio));
        assert!(e.in_department("P1", at("2026-11-07T00:00:00Z"), 3 * 86_400, cardio));
        assert!(
            e.in_department("P1", at("2026-12-30T00:00:00Z"), 0, |d| d == "emergency"),
            "open encounter"
        );
        assert!(!e.in_department("P9", at("2026-11-04T00:00:00Z"), 0, |_| true));
        assert!(e.has_department(" CARDIOLOGY"));
        assert!(!e.has_department("Radiology"));
    }
}
