//! FHIR AuditEvent (R4 and R5): who looked at or changed which patient's record, why, from
//! where, and whether it worked.
//!
//! # What it does
//! [`check`] validates a resource enough to say exactly what is wrong (the endpoint answers
//! with that as an OperationOutcome) and [`decode`] turns a valid one into a
//! [`SourceKind::Json`] event (the resource unchanged as `raw`, `event.provider`
//! `fhir-auditevent`) with:
//! - **who**: the requesting agent (`requestor: true`, else the first human user, else the
//!   first agent): `user.name` from `who.identifier.value`, else `who.reference`, `altId`,
//!   `name` or `who.display`; `user.roles` from the agent's `role` (text, display or code);
//! - **which patient**: R5 `patient`, else the entity whose role is Patient (object-role `1`)
//!   or whose `what` is a `Patient/…` reference: `patient.id` is the id of the reference (or
//!   its identifier's value);
//! - **what**: `event.action` from `action` (`C`reate, `R`ead, `U`pdate, `D`elete, `E`xecute →
//!   `create`, `read`, `update`, `delete`, `execute`; `export` / `print` when a code says so:
//!   DICOM 110106 Export, ISO 21089 lifecycle `export` or `print`), `event.code` from the R4 `subtype` /
//!   R5 `code` (a REST interaction such as `vread`, or a DICOM event such as `110122` Login),
//!   `event.category` `authentication` for DICOM 110114 User Authentication (so sign-ins
//!   feed the identity analytics, action `logged-in` / `logged-off`), else `ehr-access`;
//! - **when**: R5 `occurredDateTime` / `occurredPeriod.start`, R4 `period.start`, else
//!   `recorded`;
//! - **from where**: the requesting agent's network address (R4 `network.address`, R5
//!   `networkString` / `networkUri`): `source.ip` when it is an IP, else `source.address`;
//!   `host.name` is the observer (the system that recorded the event);
//! - **why**: the purpose of use (R4 `purposeOfEvent` and agents' `purposeOfUse`, R5
//!   `authorization`): `event.reason`, the codes joined with `,`;
//! - **outcome**: `0` success, `4`/`8`/`12` failure (R4 code, R5 `outcome.code.code`);
//! - **break-the-glass**: a purpose of use or security label `BTG` or `ETREAT` (HL7 v3
//!   ActReason: break the glass, emergency treatment) sets `ehr.break_the_glass`.
//!
//! [`bundle_entries`] takes the resources out of a Bundle; NDJSON is one resource a line.
//!
//! # Why it matters
//! The EHR's audit trail is the only record of who opened which patient's chart. Normalized,
//! it feeds the privacy analytics and the identity ledger like any other sign-in.
//!
//! # Example
//! The R4 example `example-rest` (Grahame, `vread` of `Patient/example`) gives user `95`,
//! patient `example`, action `read`, code `vread`, outcome `success`.
//!
//! # References
//! HL7 FHIR R4 AuditEvent (<https://hl7.org/fhir/R4/auditevent.html>) and R5
//! (<https://hl7.org/fhir/R5/auditevent.html>); DICOM PS3.15 Annex A.5 (audit event codes);
//! HL7 v3 ActReason (purpose of use); IHE BALP.

use serde_json::Value;
use wardwatch_core::{Ecs, Event, Origin, SourceKind};

/// What makes a resource unusable, said in words a sender can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FhirError {
    /// The JSON is not an object.
    #[error("a FHIR resource must be a JSON object")]
    NotAnObject,
    /// `resourceType` is missing or another resource.
    #[error("expected resourceType `AuditEvent`, found {0}")]
    WrongType(String),
    /// A required element is missing.
    #[error("AuditEvent.{0} is required")]
    Missing(&'static str),
    /// An element has the wrong shape or value.
    #[error("AuditEvent.{path}: {problem}")]
    Invalid { path: String, problem: String },
}

/// Whether `v` is a FHIR AuditEvent (by its `resourceType`).
pub fn is_audit_event(v: &Value) -> bool {
    v.get("resourceType").and_then(Value::as_str) == Some("AuditEvent")
}

/// The resources of a FHIR Bundle, if `v` is one: each `entry[].resource` (entries without a
/// resource are skipped).
pub fn bundle_entries(v: &Value) -> Option<Vec<Value>> {
    if v.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return None;
    }
    Some(
        v.get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("resource").cloned())
            .collect(),
    )
}

fn invalid(path: impl Into<String>, problem: impl Into<String>) -> FhirError {
    FhirError::Invalid {
        path: path.into(),
        problem: problem.into(),
    }
}

/// Check that `v` is an AuditEvent we can normalize: its type, `recorded` as a time, `agent` a
/// non-empty list of objects, `action` one of C R U D E, `outcome` a known code, `entity` a
/// list of objects.
pub fn check(v: &Value) -> Result<(), FhirError> {
    let o = v.as_object().ok_or(FhirError::NotAnObject)?;
    match o.get("resourceType") {
        Some(Value::String(t)) if t == "AuditEvent" => {}
        Some(Value::String(t)) => return Err(FhirError::WrongType(format!("`{t}`"))),
        Some(_) => {
            return Err(FhirError::WrongType(
                "a resourceType that is not text".into(),
            ));
        }
        None => return Err(FhirError::WrongType("no resourceType".into())),
    }
    let recorded = o.get("recorded").ok_or(FhirError::Missing("recorded"))?;
    let text = recorded
        .as_str()
        .ok_or_else(|| invalid("recorded", "must be an instant (text)"))?;
    if crate::time::parse_time(text).is_none() {
        return Err(invalid(
            "recorded",
            format!("`{text}` is not an instant (e.g. 2024-05-14T08:22:05Z)"),
        ));
    }
    let agents = o.get("agent").ok_or(FhirError::Missing("agent"))?;
    let agents = agents
        .as_array()
        .ok_or_else(|| invalid("agent", "must be a list"))?;
    if agents.is_empty() {
        return Err(invalid("agent", "must name at least one agent"));
    }
    for (i, a) in agents.iter().enumerate() {
        if !a.is_object() {
            return Err(invalid(format!("agent[{i}]"), "must be an object"));
        }
    }
    if let Some(a) = o.get("action") {
        match a.as_str() {
            Some("C" | "R" | "U" | "D" | "E") => {}
            _ => {
                return Err(invalid(
                    "action",
                    format!("{a} is not one of C, R, U, D, E"),
                ));
            }
        }
    }
    if let Some(out) = o.get("outcome")
        && outcome_code(out).is_none()
    {
        return Err(invalid(
            "outcome",
            "must be 0, 4, 8 or 12 (R4 code, or R5 outcome.code.code)",
        ));
    }
    if let Some(e) = o.get("entity") {
        let list = e
            .as_array()
            .ok_or_else(|| invalid("entity", "must be a list"))?;
        if let Some(i) = list.iter().position(|x| !x.is_object()) {
            return Err(invalid(format!("entity[{i}]"), "must be an object"));
        }
    }
    Ok(())
}

/// The outcome code of R4 (`"0"`) or R5 (`{"code": {"code": "0"}}`).
fn outcome_code(v: &Value) -> Option<&str> {
    let code = match v {
        Value::String(s) => s.as_str(),
        Value::Object(_) => v.pointer("/code/code")?.as_str()?,
        _ => return None,
    };
    matches!(code, "0" | "4" | "8" | "12").then_some(code)
}

/// Codings of a Coding, a CodeableConcept, or a list of either.
fn codings(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(items)) => items.iter().flat_map(|i| codings(Some(i))).collect(),
        Some(c @ Value::Object(o)) => match o.get("coding") {
            Some(Value::Array(cs)) => cs.iter().collect(),
            _ if o.contains_key("code") => vec![c],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn codes(v: Option<&Value>) -> Vec<String> {
    codings(v)
        .into_iter()
        .filter_map(|c| c.get("code").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// The words of a CodeableConcept or list: `text`, else each coding's display, else its code.
fn concept_words(v: Option<&Value>) -> Vec<String> {
    let items: Vec<&Value> = match v {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(x) => vec![x],
        None => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|c| {
            if let Some(t) = c.get("text").and_then(Value::as_str) {
                return Some(t.trim().to_string());
            }
            codings(Some(c)).into_iter().find_map(|cd| {
                cd.get("display")
                    .or_else(|| cd.get("code"))
                    .and_then(Value::as_str)
                    .map(|s| s.trim().to_string())
            })
        })
        .filter(|s| !s.is_empty())
        .collect()
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The acting agent: the requestor, else the first human user, else the first.
fn acting_agent(v: &Value) -> Option<&Value> {
    let agents = v.get("agent")?.as_array()?;
    agents
        .iter()
        .find(|a| a.get("requestor").and_then(Value::as_bool) == Some(true))
        .or_else(|| {
            agents
                .iter()
                .find(|a| codes(a.get("type")).iter().any(|c| c == "humanuser"))
        })
        .or_else(|| agents.first())
}

/// The id of a `Type/id[/_history/n]` reference of resource type `kind`.
fn reference_id<'a>(reference: &'a str, kind: &str) -> Option<&'a str> {
    let rest = reference.rsplit_once(&format!("{kind}/")).map(|(_, r)| r)?;
    rest.split('/').next().filter(|s| !s.is_empty())
}

fn patient_of(v: &Value) -> Option<String> {
    if let Some(p) = v.get("patient") {
        if let Some(id) = text(p, "/reference").and_then(|r| reference_id(r, "Patient")) {
            return Some(id.to_string());
        }
        if let Some(id) = text(p, "/identifier/value") {
            return Some(id.to_string());
        }
    }
    let entities = v.get("entity")?.as_array()?;
    entities.iter().find_map(|e| {
        let by_reference = text(e, "/what/reference").and_then(|r| reference_id(r, "Patient"));
        let patient_role = codes(e.get("role")).iter().any(|c| c == "1");
        by_reference.map(str::to_string).or_else(|| {
            patient_role
                .then(|| text(e, "/what/identifier/value").map(str::to_string))
                .flatten()
        })
    })
}

fn network_of(agent: &Value) -> Option<&str> {
    text(agent, "/network/address")
        .or_else(|| text(agent, "/networkString"))
        .or_else(|| text(agent, "/networkUri"))
}

/// Purpose-of-use codes, whole resource and acting agent.
fn purposes(v: &Value, agent: Option<&Value>) -> Vec<String> {
    let mut out = codes(v.get("purposeOfEvent"));
    out.extend(codes(v.get("authorization")));
    if let Some(a) = agent {
        out.extend(codes(a.get("purposeOfUse")));
        out.extend(codes(a.get("authorization")));
    }
    out.dedup();
    out
}

fn break_the_glass(v: &Value, purposes: &[String]) -> bool {
    let btg = |c: &str| matches!(c.to_ascii_uppercase().as_str(), "BTG" | "ETREAT");
    purposes.iter().any(|p| btg(p))
        || v.get("entity")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|e| codes(e.get("securityLabel")).iter().any(|c| btg(c)))
        || codes(v.pointer("/meta/security")).iter().any(|c| btg(c))
}

/// The normalized fields of a checked AuditEvent.
pub(crate) fn normalize(v: &Value) -> Ecs {
    let agent = acting_agent(v);
    let user = agent.and_then(|a| {
        text(a, "/who/identifier/value")
            .or_else(|| text(a, "/who/reference"))
            .or_else(|| text(a, "/altId"))
            .or_else(|| text(a, "/name"))
            .or_else(|| text(a, "/who/display"))
    });
    let roles = agent
        .map(|a| concept_words(a.get("role")))
        .unwrap_or_default();
    // R4 `type` + `subtype`; R5 `category` + `code`.
    let category_codes: Vec<String> = codes(v.get("type"))
        .into_iter()
        .chain(codes(v.get("category")))
        .collect();
    let event_code = codes(v.get("subtype"))
        .into_iter()
        .chain(codes(v.get("code")))
        .next();
    let authentication = category_codes.iter().any(|c| c == "110114");
    let verb = match v.get("action").and_then(Value::as_str) {
        Some("C") => Some("create"),
        Some("R") => Some("read"),
        Some("U") => Some("update"),
        Some("D") => Some("delete"),
        Some("E") => Some("execute"),
        _ => None,
    };
    // Export and print (DICOM 110106 Export, ISO 21089 lifecycle `export` / `print`) are what
    // the privacy analytics count as records leaving; they say so whatever the CRUDE verb.
    let lifecycle: Vec<String> = v
        .get("entity")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|e| codes(e.get("lifecycle")))
        .collect();
    let all_codes = || {
        category_codes
            .iter()
            .chain(event_code.iter())
            .chain(lifecycle.iter())
            .map(|c| c.to_ascii_lowercase())
    };
    let leaving = if all_codes().any(|c| c == "print") {
        Some("print")
    } else if all_codes().any(|c| c == "110106" || c == "export") {
        Some("export")
    } else {
        None
    };
    let action = if authentication {
        match event_code.as_deref() {
            Some("110123") => Some("logged-off"),
            _ => Some("logged-in"),
        }
    } else {
        leaving.or(verb)
    };
    let outcome = v
        .get("outcome")
        .and_then(outcome_code)
        .map(|c| if c == "0" { "success" } else { "failure" }.to_string());
    let network = agent.and_then(network_of);
    let (source_ip, source_address) = crate::doc::ip_or_address(network);
    let purposes = purposes(v, agent);
    let btg = break_the_glass(v, &purposes);
    Ecs {
        event_kind: Some("event".into()),
        event_category: Some(
            if authentication {
                "authentication"
            } else {
                "ehr-access"
            }
            .into(),
        ),
        event_action: action.map(str::to_string),
        event_outcome: outcome,
        event_code,
        event_provider: Some("fhir-auditevent".into()),
        host_name: text(v, "/source/observer/display")
            .or_else(|| text(v, "/source/observer/identifier/value"))
            .or_else(|| text(v, "/source/observer/reference"))
            .map(str::to_string),
        user_name: user.map(str::to_string),
        user_roles: (!roles.is_empty()).then(|| roles.join(", ")),
        source_ip,
        source_address,
        event_reason: (!purposes.is_empty()).then(|| purposes.join(",")),
        patient_id: patient_of(v),
        break_the_glass: btg.then_some(true),
        ..Ecs::default()
    }
}

/// Where an AuditEvent says the activity happened, in order of preference.
const TIME: &[&str] = &[
    "occurredDateTime",
    "occurredPeriod.start",
    "period.start",
    "recorded",
];

/// A checked AuditEvent as an event (see the module documentation).
pub fn decode(v: Value, origin: Origin) -> Result<Event, FhirError> {
    check(&v)?;
    let ecs = normalize(&v);
    Ok(crate::doc::event_of(SourceKind::Json, v, TIME, ecs, origin))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok(v: Value) -> Event {
        decode(v, Origin::default()).unwrap()
    }

    fn r4() -> Value {
        json!({
            "resourceType": "AuditEvent",
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
            "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
            "action": "R", "recorded": "2026-11-02T10:15:00+01:00", "outcome": "0",
            "purposeOfEvent": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}]}],
            "agent": [
                {"type": {"coding": [{"code": "humanuser"}]}, "role": [{"text": "Nurse"}],
                 "who": {"identifier": {"value": "n.jansen"}}, "requestor": true,
                 "network": {"address": "10.20.7.44", "type": "2"}},
                {"who": {"display": "EPR"}, "requestor": false}
            ],
            "source": {"observer": {"display": "epr01"}},
            "entity": [{"what": {"reference": "Patient/P-1001/_history/3"}, "role": {"code": "1"}}]
        })
    }

    #[test]
    fn r4_read_names_who_patient_why_where() {
        let e = ok(r4());
        let ecs = &e.ecs;
        assert_eq!(e.timestamp.to_string(), "2026-11-02T09:15:00Z");
        assert_eq!(ecs.user_name.as_deref(), Some("n.jansen"));
        assert_eq!(ecs.user_roles.as_deref(), Some("Nurse"));
        assert_eq!(ecs.patient_id.as_deref(), Some("P-1001"));
        assert_eq!(ecs.event_action.as_deref(), Some("read"));
        assert_eq!(ecs.event_code.as_deref(), Some("read"));
        assert_eq!(ecs.event_category.as_deref(), Some("ehr-access"));
        assert_eq!(ecs.event_outcome.as_deref(), Some("success"));
        assert_eq!(ecs.event_reason.as_deref(), Some("TREAT"));
        assert_eq!(ecs.source_ip.as_deref(), Some("10.20.7.44"));
        assert_eq!(ecs.host_name.as_deref(), Some("epr01"));
        assert_eq!(ecs.break_the_glass, None);
    }

    #[test]
    fn r5_patient_authorization_break_the_glass_and_network_name() {
        let e = ok(json!({
            "resourceType": "AuditEvent",
            "category": [{"coding": [{"code": "rest"}]}],
            "code": {"coding": [{"code": "search-type"}]},
            "action": "E", "recorded": "2026-11-02T10:15:00Z",
            "occurredDateTime": "2026-11-02T10:14:59Z",
            "outcome": {"code": {"code": "8"}},
            "patient": {"reference": "Patient/P-7"},
            "authorization": [{"coding": [{"code": "BTG"}]}],
            "agent": [{"who": {"reference": "Practitioner/dr-smit"}, "requestor": true,
                       "role": [{"coding": [{"display": "Physician", "code": "309343006"}]}],
                       "networkString": "ws-ed-03.hosp.local"}],
            "source": {"observer": {"identifier": {"value": "fhir.hosp.local"}}}
        }));
        let ecs = &e.ecs;
        assert_eq!(e.timestamp.to_string(), "2026-11-02T10:14:59Z");
        assert_eq!(ecs.user_name.as_deref(), Some("Practitioner/dr-smit"));
        assert_eq!(ecs.user_roles.as_deref(), Some("Physician"));
        assert_eq!(ecs.patient_id.as_deref(), Some("P-7"));
        assert_eq!(ecs.event_action.as_deref(), Some("execute"));
        assert_eq!(ecs.event_outcome.as_deref(), Some("failure"));
        assert_eq!(ecs.source_address.as_deref(), Some("ws-ed-03.hosp.local"));
        assert_eq!(ecs.break_the_glass, Some(true));
        assert_eq!(ecs.host_name.as_deref(), Some("fhir.hosp.local"));
    }

    #[test]
    fn export_and_print_are_actions_of_their_own() {
        let mut v = r4();
        v["subtype"] =
            json!([{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110106"}]);
        v["action"] = json!("E");
        assert_eq!(ok(v).ecs.event_action.as_deref(), Some("export"));
        let mut v = r4();
        v["entity"][0]["lifecycle"] = json!({"system": "urn:iso:std:iso:21089", "code": "print"});
        assert_eq!(ok(v).ecs.event_action.as_deref(), Some("print"));
    }

    #[test]
    fn dicom_user_authentication_is_a_sign_in() {
        let mut v = r4();
        v["type"] =
            json!({"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110114"});
        v["subtype"] = json!([{"code": "110122"}]);
        v["outcome"] = json!("4");
        let ecs = ok(v).ecs;
        assert_eq!(ecs.event_category.as_deref(), Some("authentication"));
        assert_eq!(ecs.event_action.as_deref(), Some("logged-in"));
        assert_eq!(ecs.event_outcome.as_deref(), Some("failure"));
    }

    #[test]
    fn malformed_resources_say_what_is_wrong() {
        let cases = [
            (json!([1]), "a FHIR resource must be a JSON object"),
            (
                json!({"resourceType": "Patient"}),
                "expected resourceType `AuditEvent`, found `Patient`",
            ),
            (
                json!({"resourceType": "AuditEvent", "agent": [{}]}),
                "AuditEvent.recorded is required",
            ),
            (
                json!({"resourceType": "AuditEvent", "recorded": "yesterday", "agent": [{}]}),
                "AuditEvent.recorded: `yesterday` is not an instant (e.g. 2024-05-14T08:22:05Z)",
            ),
            (
                json!({"resourceType": "AuditEvent", "recorded": "2026-01-01T00:00:00Z"}),
                "AuditEvent.agent is required",
            ),
            (
                json!({"resourceType": "AuditEvent", "recorded": "2026-01-01T00:00:00Z", "agent": []}),
                "AuditEvent.agent: must name at least one agent",
            ),
            (
                json!({"resourceType": "AuditEvent", "recorded": "2026-01-01T00:00:00Z", "agent": [{}], "action": "X"}),
                "AuditEvent.action: \"X\" is not one of C, R, U, D, E",
            ),
            (
                json!({"resourceType": "AuditEvent", "recorded": "2026-01-01T00:00:00Z", "agent": [{}], "outcome": "2"}),
                "AuditEvent.outcome: must be 0, 4, 8 or 12 (R4 code, or R5 outcome.code.code)",
            ),
            (
                json!({"resourceType": "AuditEvent", "recorded": "2026-01-01T00:00:00Z", "agent": [{}], "entity": [3]}),
                "AuditEvent.entity[0]: must be an object",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(check(&v).unwrap_err().to_string(), want, "{v}");
        }
    }

    #[test]
    fn bundles_give_their_resources() {
        let b = json!({"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r4()}, {"fullUrl": "x"}, {"resource": r4()}]});
        assert_eq!(bundle_entries(&b).unwrap().len(), 2);
        assert_eq!(bundle_entries(&r4()), None);
    }
}
