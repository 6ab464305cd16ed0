//! Patient-record privacy analytics: who opened which patient's record, and which relationship
//! between the user and the patient makes that look wrong.
//!
//! # What it does
//! [`PrivacyAnalytics::observe`] reads EHR audit events (FHIR AuditEvent, ATNA: the decoders
//! fill `user.name`, `patient.id`, `event.action`, `ehr.break_the_glass`; see
//! `wardwatch-ingest`) in time order, with a [`PrivacyContext`] — the roster, the patients
//! and the encounters the operator loads from the context folder, names and addresses only as
//! keyed hashes — and returns ordinary [`Detection`]s. Each kind is one module of [`kinds`]:
//!
//! | kind | fires when |
//! |---|---|
//! | `self-access` | the patient is the user (`employee_user`) |
//! | `same-family-name` / `same-address` | the patient shares the user's family name / address, and no care relationship explains it |
//! | `coworker` | the patient is another member of staff, outside a care relationship |
//! | `vip-outside-care-team` | a VIP's record, opened by someone whose department does not treat them |
//! | `break-glass-outside-emergency` | emergency access on a patient with no emergency visit around then |
//! | `no-care-relationship` | no encounter of the patient in the user's department around then (service departments: no encounter anywhere) |
//! | `break-glass-broad-browsing` | after breaking the glass, many other patients within the hour |
//! | `mass-export` | many records exported or printed within the hour |
//! | `volume-spike` | a day of far more patients opened than the user's own baseline |
//!
//! One access raises at most one of the relationship kinds, the most specific (in the order of
//! the table). A care relationship is an encounter of the patient in the user's department
//! from [`CARE_MARGIN_SECS`] before its start to as long after its end. The same surname treated
//! by the ward that treats the patient is care, not snooping.
//!
//! Each alert says in words which relationship made it suspicious (its rule's description, and
//! `relationship` in its details) and names the user and the patient as entities (`user`,
//! `patient`); every rule carries the tag `privacy`, which keeps its alerts in the privacy
//! officer's view.
//!
//! **Architecture Invariant:** pure: no clock (event time only), no I/O; bounded state.
//!
//! # References
//! HHS OCR and the Dutch AP on "snooping" (unauthorised access by staff); NEN 7513 (logging
//! access to electronic health records); HL7 v3 ActReason (BTG, ETREAT).

pub mod kinds;

use std::sync::Arc;

use jiff::Timestamp;
use wardwatch_core::{Event, Severity};
use wardwatch_detect::{Detection, RuleKind, RuleMeta};
use wardwatch_incidents::{Encounters, Patients, Roster, StaffKeys, account_name};

/// How far around an encounter the treating department's access counts as care.
pub const CARE_MARGIN_SECS: i64 = 3 * 86_400;

/// What the operator told us about people, patients and care.
#[derive(Debug, Clone, Default)]
pub struct PrivacyContext {
    pub roster: Roster,
    pub staff: StaffKeys,
    pub patients: Patients,
    pub encounters: Encounters,
}

/// One access to a patient's record, as the analytics read it.
#[derive(Debug, Clone)]
pub struct Access {
    pub at: Timestamp,
    /// The account, lowercased, without domain.
    pub user: String,
    pub patient: String,
    /// `read`, `export`, `print`, `create`, `update`...
    pub action: String,
    pub break_the_glass: bool,
    /// The user's department from the roster, lowercased.
    pub department: Option<String>,
}

/// Whether `event` is one the privacy analytics read: an EHR record access naming a patient.
pub fn wants(event: &Event) -> bool {
    event.ecs.event_category.as_deref() == Some("ehr-access") && event.ecs.patient_id.is_some()
}

/// The copy of `event` the privacy analytics need: its normalized fields, without the record.
pub fn reduce(event: &Event) -> Event {
    Event {
        raw: serde_json::Value::Null,
        raw_text: Default::default(),
        ..event.clone()
    }
}

/// The access `event` records, if it is a successful EHR record access.
pub fn access(event: &Event, ctx: &PrivacyContext) -> Option<Access> {
    let ecs = &event.ecs;
    if ecs.event_category.as_deref() != Some("ehr-access")
        || ecs.event_outcome.as_deref() == Some("failure")
    {
        return None;
    }
    let patient = ecs.patient_id.as_deref()?.trim();
    let user = account_name(ecs.user_name.as_deref()?);
    if patient.is_empty() || user.is_empty() {
        return None;
    }
    let department = ctx
        .roster
        .person(&user)
        .and_then(|p| p.department.as_deref())
        .map(wardwatch_incidents::department_key);
    Some(Access {
        at: event.timestamp,
        action: ecs.event_action.clone().unwrap_or_else(|| "read".into()),
        break_the_glass: ecs.break_the_glass == Some(true),
        user,
        patient: patient.to_string(),
        department,
    })
}

impl PrivacyContext {
    /// Whether the user's department had the patient in its care around the access. For a
    /// service department (one with no encounters of its own), whether the patient was in
    /// hospital at all. `None` when the user's department is unknown.
    pub fn care(&self, a: &Access) -> Option<bool> {
        let dept = a.department.as_deref()?;
        Some(if self.encounters.has_department(dept) {
            self.encounters
                .in_department(&a.patient, a.at, CARE_MARGIN_SECS, |d| d == dept)
        } else {
            self.encounters
                .in_department(&a.patient, a.at, CARE_MARGIN_SECS, |_| true)
        })
    }
}

/// Whether a department name is an emergency department.
pub fn is_emergency(department: &str) -> bool {
    let d = department.to_lowercase();
    d.contains("emergency")
        || d.contains("spoed")
        || d.contains("urgence")
        || d.contains("notaufnahme")
        || matches!(d.trim(), "ed" | "er" | "seh" | "a&e" | "ae")
}

/// The metadata of a privacy kind's alerts.
pub(crate) fn meta(
    kind: &str,
    title: &str,
    level: Severity,
    description: &str,
    recommendation: &str,
) -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: format!("{}{kind}", wardwatch_core::PRIVACY_RULE_PREFIX),
        title: title.to_string(),
        level,
        tags: vec!["privacy".into(), format!("privacy.{kind}")],
        kind: RuleKind::Detection,
        origin: format!("analytic:privacy-{kind}"),
        description: Some(description.to_string()),
        product: None,
        service: None,
        category: None,
        wardwatch: wardwatch_detect::Wardwatch {
            recommendation: Some(recommendation.to_string()),
            ..Default::default()
        },
    })
}

/// A detection of `rule` whose details say `relationship` in words.
pub(crate) fn finding(
    rule: Arc<RuleMeta>,
    relationship: String,
    count: u64,
    window_secs: u64,
    patients: Vec<String>,
) -> Detection {
    Detection {
        rule,
        correlation: Some(wardwatch_detect::CorrelationHit {
            group: vec![("relationship".into(), relationship)],
            value: count as f64,
            timespan_secs: window_secs,
            events: count,
            accounts: 0,
        }),
        entities: patients
            .into_iter()
            .map(|p| wardwatch_core::Entity::new(wardwatch_core::EntityKind::Patient, p))
            .collect(),
        finding: None,
    }
}

/// The version of [`PrivacyAnalytics::export_state`]'s layout.
const STATE_VERSION: u64 = 1;

/// The privacy analytics with their state.
pub struct PrivacyAnalytics {
    ctx: Arc<PrivacyContext>,
    browsing: kinds::break_glass_broad_browsing::State,
    export: kinds::mass_export::State,
    volume: kinds::volume_spike::State,
}

impl PrivacyAnalytics {
    pub fn new(ctx: Arc<PrivacyContext>) -> Self {
        PrivacyAnalytics {
            ctx,
            browsing: Default::default(),
            export: Default::default(),
            volume: Default::default(),
        }
    }

    /// Feed one event in time order; the privacy alerts it raises.
    pub fn observe(&mut self, event: &Event) -> Vec<Detection> {
        let Some(a) = access(event, &self.ctx) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        out.extend(kinds::relationship(&self.ctx, &a));
        out.extend(self.browsing.observe(&a));
        out.extend(self.export.observe(&a));
        out.extend(self.volume.observe(&a));
        out
    }

    /// The state the analytics keep between events (per user: open break-the-glass windows,
    /// recent exports, daily volumes), for the server to save with its detection cursor.
    pub fn export_state(&self) -> serde_json::Value {
        serde_json::json!({
            "version": STATE_VERSION,
            "browsing": serde_json::to_value(&self.browsing).unwrap_or_default(),
            "export": serde_json::to_value(&self.export).unwrap_or_default(),
            "volume": serde_json::to_value(&self.volume).unwrap_or_default(),
        })
    }

    /// Take up a state [`PrivacyAnalytics::export_state`] gave; `false` (and the state left as
    /// it was) when it is from another version or malformed.
    pub fn import_state(&mut self, v: serde_json::Value) -> bool {
        if v.get("version").and_then(serde_json::Value::as_u64) != Some(STATE_VERSION) {
            return false;
        }
        let part = |k: &str| v.get(k).cloned().unwrap_or_default();
        match (
            serde_json::from_value(part("browsing")),
            serde_json::from_value(part("export")),
            serde_json::from_value(part("volume")),
        ) {
            (Ok(b), Ok(e), Ok(vol)) => {
                self.browsing = b;
                self.export = e;
                self.volume = vol;
                true
            }
            _ => false,
        }
    }

    /// Every privacy rule's metadata.
    pub fn metas() -> Vec<Arc<RuleMeta>> {
        kinds::metas()
    }
}
