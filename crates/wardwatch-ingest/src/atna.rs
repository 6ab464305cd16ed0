//! IHE ATNA audit messages (RFC 3881 and DICOM PS3.15 Annex A.5 XML): the audit trail of
//! PACS, modalities, HIEs and EHRs that speak IHE, usually sent over syslog (RFC 5424/5425).
//!
//! # What it does
//! [`decode_xml`] parses a document holding one `AuditMessage` (or several, under any root)
//! with `roxmltree` and makes each a [`SourceKind::Json`] event: `raw.atna` is the message as
//! JSON (an element's attributes as keys, its children by name — a list when repeated — and its
//! text as `#text`), `event.provider` is `atna`, and the normalized fields follow the FHIR
//! AuditEvent mapping (`fhir.rs`) so both feed the same analytics:
//! - **who**: the `ActiveParticipant` with `UserIsRequestor="true"` (else the first):
//!   `user.name` from `UserID` (else `AlternativeUserID`), `user.roles` from its `RoleIDCode`;
//! - **which patient**: the `ParticipantObjectIdentification` with type 1 (person) and role 1
//!   (patient): `patient.id` from `ParticipantObjectID`, an HL7 CX value cut at its first `^`;
//! - **what**: `EventActionCode` C/R/U/D/E as `create`/`read`/`update`/`delete`/`execute`,
//!   `event.code` the `EventID` code (RFC 3881 `code`, DICOM `csd-code`); DICOM 110114 User
//!   Authentication is `authentication` with `logged-in` (110122 Login) or `logged-off`
//!   (110123 Logout), anything else `ehr-access`;
//! - **when**: `EventDateTime` (a time without a zone is UTC);
//! - **from where**: the requestor's `NetworkAccessPointID` (`source.ip`, or `source.address`
//!   for a name); `host.name` is the `AuditSourceID`;
//! - **why**: `PurposeOfUse` codes as `event.reason`; `BTG` / `ETREAT` set
//!   `ehr.break_the_glass`;
//! - **outcome**: `EventOutcomeIndicator` 0 success, 4/8/12 failure.
//!
//! # Why it matters
//! Image viewing and cross-enterprise lookups are patient-record access too; a privacy officer
//! needs them beside the EHR's own trail.
//!
//! # Example
//! DICOM's sample "DICOM Instances Transferred" names requestor
//! `smitty@readingroom.hospital.org` from 192.168.1.2, patient `ptid12345`, action `create`.
//!
//! # References
//! RFC 3881; DICOM PS3.15 Annex A.5 (Audit Trail Message Format Profile); IHE ITI TF-2
//! 3.20 (Record Audit Event); RFC 5424/5425 transport.

use roxmltree::{Document, Node};
use serde_json::{Map, Value};
use wardwatch_core::{Ecs, Event, Origin, SourceKind};

/// Documents larger than this are refused (a syslog frame or a file of audit messages is far
/// smaller; a bigger one is an attack on the parser).
pub const MAX_XML_BYTES: usize = 16 << 20;

/// Whether `text` looks like an ATNA XML document (after a BOM and blanks).
pub fn looks_like_atna(text: &str) -> bool {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    (t.starts_with("<?xml")
        || t.starts_with('<') && !t[1..].starts_with(|c: char| c.is_ascii_digit()))
        && t.contains("AuditMessage")
}

/// Every `AuditMessage` of `xml` as an event, or why the document cannot be read.
pub fn decode_xml(xml: &str, origin: &Origin) -> Result<Vec<Event>, String> {
    if xml.len() > MAX_XML_BYTES {
        return Err(format!(
            "XML audit document of {} bytes is larger than the {} bytes allowed",
            xml.len(),
            MAX_XML_BYTES
        ));
    }
    let xml = xml.trim_start_matches('\u{feff}');
    let doc = Document::parse(xml).map_err(|e| format!("invalid XML: {e}"))?;
    let messages: Vec<Node> = doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "AuditMessage")
        .collect();
    if messages.is_empty() {
        return Err(format!(
            "no AuditMessage element (the root is `{}`)",
            doc.root_element().tag_name().name()
        ));
    }
    let several = messages.len() > 1;
    messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let mut origin = origin.clone();
            if several {
                // The document's place stays in `offset`; the message's is its number in it.
                origin.record_id = Some(i as u64 + 1);
            }
            decode_message(m, origin).map_err(|e| format!("AuditMessage {}: {e}", i + 1))
        })
        .collect()
}

/// An element as JSON: attributes, children by name (repeated ones as a list), text.
fn to_json(node: Node) -> Value {
    let mut o = Map::new();
    for a in node.attributes() {
        o.insert(a.name().to_string(), Value::String(a.value().to_string()));
    }
    for child in node.children().filter(Node::is_element) {
        let name = child.tag_name().name().to_string();
        let v = to_json(child);
        match o.get_mut(&name) {
            Some(Value::Array(items)) => items.push(v),
            Some(first) => {
                let first = first.take();
                o.insert(name, Value::Array(vec![first, v]));
            }
            None => {
                o.insert(name, v);
            }
        }
    }
    let text: String = node
        .children()
        .filter(Node::is_text)
        .filter_map(|t| t.text())
        .collect::<String>();
    let text = text.trim();
    if !text.is_empty() {
        o.insert("#text".into(), Value::String(text.to_string()));
    }
    Value::Object(o)
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn children<'a, 'i>(n: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn attr<'a>(n: Node<'a, '_>, name: &str) -> Option<&'a str> {
    n.attribute(name).map(str::trim).filter(|s| !s.is_empty())
}

/// A coded value's code: DICOM `csd-code`, RFC 3881 `code`.
fn code<'a>(n: Node<'a, '_>) -> Option<&'a str> {
    attr(n, "csd-code").or_else(|| attr(n, "code"))
}

/// A coded value's words: `originalText`, `displayName`, else the code.
fn words<'a>(n: Node<'a, '_>) -> Option<&'a str> {
    attr(n, "originalText")
        .or_else(|| attr(n, "displayName"))
        .or_else(|| code(n))
}

fn decode_message(m: Node, origin: Origin) -> Result<Event, String> {
    let ident = child(m, "EventIdentification").ok_or("EventIdentification is required")?;
    let when =
        attr(ident, "EventDateTime").ok_or("EventIdentification@EventDateTime is required")?;
    let timestamp = crate::time::parse_time(when)
        .ok_or_else(|| format!("EventDateTime `{when}` is not a time"))?;
    let participants: Vec<Node> = children(m, "ActiveParticipant").collect();
    if participants.is_empty() {
        return Err("at least one ActiveParticipant is required".into());
    }
    let who = participants
        .iter()
        .find(|p| attr(**p, "UserIsRequestor").is_some_and(|v| v.eq_ignore_ascii_case("true")))
        .or(participants.first())
        .copied();
    let event_id = child(ident, "EventID").and_then(code);
    let type_code = child(ident, "EventTypeCode").and_then(code);
    let authentication = event_id == Some("110114");
    let action = if authentication {
        Some(if type_code == Some("110123") {
            "logged-off"
        } else {
            "logged-in"
        })
    } else if event_id == Some("110106") {
        // DICOM Export: records leaving the system.
        Some("export")
    } else {
        match attr(ident, "EventActionCode") {
            Some("C") => Some("create"),
            Some("R") => Some("read"),
            Some("U") => Some("update"),
            Some("D") => Some("delete"),
            Some("E") => Some("execute"),
            _ => None,
        }
    };
    let outcome = attr(ident, "EventOutcomeIndicator")
        .map(|o| if o == "0" { "success" } else { "failure" }.to_string());
    let purposes: Vec<String> = children(ident, "PurposeOfUse")
        .filter_map(code)
        .map(str::to_string)
        .collect();
    let btg = purposes
        .iter()
        .any(|p| matches!(p.to_ascii_uppercase().as_str(), "BTG" | "ETREAT"));
    let network = who.and_then(|w| attr(w, "NetworkAccessPointID"));
    let (source_ip, source_address) = crate::doc::ip_or_address(network);
    let roles: Vec<&str> = who
        .map(|w| children(w, "RoleIDCode").filter_map(words).collect())
        .unwrap_or_default();
    let patient = children(m, "ParticipantObjectIdentification")
        .find(|p| {
            attr(*p, "ParticipantObjectTypeCode") == Some("1")
                && attr(*p, "ParticipantObjectTypeCodeRole") == Some("1")
        })
        .and_then(|p| attr(p, "ParticipantObjectID"))
        .map(|id| id.split('^').next().unwrap_or(id).to_string())
        .filter(|id| !id.is_empty());
    let source = child(m, "AuditSourceIdentification");
    let host = source.and_then(|s| {
        attr(s, "AuditSourceID").or_else(|| child(s, "AuditSourceID").and_then(|c| c.text()))
    });
    let ecs = Ecs {
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
        event_code: event_id.map(str::to_string),
        event_provider: Some("atna".into()),
        host_name: host.map(|h| h.trim().to_string()),
        user_name: who
            .and_then(|w| attr(w, "UserID").or_else(|| attr(w, "AlternativeUserID")))
            .map(str::to_string),
        user_roles: (!roles.is_empty()).then(|| roles.join(", ")),
        source_ip,
        source_address,
        event_reason: (!purposes.is_empty()).then(|| purposes.join(",")),
        patient_id: patient,
        break_the_glass: btg.then_some(true),
        ..Ecs::default()
    };
    let mut raw = Map::new();
    raw.insert("atna".into(), to_json(m));
    let mut event = Event::new(SourceKind::Json, timestamp, Value::Object(raw));
    event.time_text = Some(when.to_string());
    event.ecs = ecs;
    event.origin = origin;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DICOM: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<AuditMessage>
  <EventIdentification EventActionCode="R" EventDateTime="2026-11-02T10:15:00+01:00" EventOutcomeIndicator="0">
    <EventID csd-code="110110" codeSystemName="DCM" originalText="Patient Record"/>
    <PurposeOfUse csd-code="ETREAT" codeSystemName="v3-ActReason" originalText="Emergency"/>
  </EventIdentification>
  <ActiveParticipant UserID="dr.smit" UserIsRequestor="true" NetworkAccessPointID="10.30.1.7" NetworkAccessPointTypeCode="2">
    <RoleIDCode csd-code="309343006" codeSystemName="SNOMED-CT" originalText="Physician"/>
  </ActiveParticipant>
  <ActiveParticipant UserID="pacs01" UserIsRequestor="false"/>
  <AuditSourceIdentification AuditSourceID="PACS01"/>
  <ParticipantObjectIdentification ParticipantObjectID="P-1001^^^&amp;1.2.3&amp;ISO" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1">
    <ParticipantObjectIDTypeCode csd-code="2"/>
  </ParticipantObjectIdentification>
</AuditMessage>"#;

    #[test]
    fn dicom_message_normalizes_who_patient_why_where() {
        let events = decode_xml(DICOM, &Origin::default()).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.timestamp.to_string(), "2026-11-02T09:15:00Z");
        let ecs = &e.ecs;
        assert_eq!(ecs.user_name.as_deref(), Some("dr.smit"));
        assert_eq!(ecs.user_roles.as_deref(), Some("Physician"));
        assert_eq!(ecs.patient_id.as_deref(), Some("P-1001"));
        assert_eq!(ecs.event_action.as_deref(), Some("read"));
        assert_eq!(ecs.event_code.as_deref(), Some("110110"));
        assert_eq!(ecs.event_outcome.as_deref(), Some("success"));
        assert_eq!(ecs.source_ip.as_deref(), Some("10.30.1.7"));
        assert_eq!(ecs.host_name.as_deref(), Some("PACS01"));
        assert_eq!(ecs.event_reason.as_deref(), Some("ETREAT"));
        assert_eq!(ecs.break_the_glass, Some(true));
        assert_eq!(e.raw["atna"]["ActiveParticipant"][1]["UserID"], "pacs01");
    }

    #[test]
    fn rfc3881_login_is_a_sign_in() {
        let xml = r#"<AuditMessage><EventIdentification EventActionCode="E" EventDateTime="2026-11-02T10:15:00" EventOutcomeIndicator="4"><EventID code="110114" displayName="User Authentication"/><EventTypeCode code="110122" displayName="Login"/></EventIdentification><ActiveParticipant UserID="n.jansen" UserIsRequestor="true" NetworkAccessPointID="ws-icu-07"/><AuditSourceIdentification AuditSourceID="EPR"/></AuditMessage>"#;
        let e = &decode_xml(xml, &Origin::default()).unwrap()[0];
        assert_eq!(e.ecs.event_category.as_deref(), Some("authentication"));
        assert_eq!(e.ecs.event_action.as_deref(), Some("logged-in"));
        assert_eq!(e.ecs.event_outcome.as_deref(), Some("failure"));
        assert_eq!(e.ecs.source_address.as_deref(), Some("ws-icu-07"));
        assert_eq!(e.timestamp.to_string(), "2026-11-02T10:15:00Z");
    }

    #[test]
    fn malformed_messages_say_what_is_wrong() {
        let o = Origin::default();
        assert!(
            decode_xml("<AuditMessage>", &o)
                .unwrap_err()
                .starts_with("invalid XML")
        );
        assert_eq!(
            decode_xml("<Other/>", &o).unwrap_err(),
            "no AuditMessage element (the root is `Other`)"
        );
        assert_eq!(
            decode_xml("<AuditMessage/>", &o).unwrap_err(),
            "AuditMessage 1: EventIdentification is required"
        );
        assert_eq!(
            decode_xml(
                r#"<AuditMessage><EventIdentification EventDateTime="x"/></AuditMessage>"#,
                &o
            )
            .unwrap_err(),
            "AuditMessage 1: EventDateTime `x` is not a time"
        );
        assert_eq!(
            decode_xml(r#"<AuditMessage><EventIdentification EventDateTime="2026-01-01T00:00:00Z"/></AuditMessage>"#, &o)
                .unwrap_err(),
            "AuditMessage 1: at least one ActiveParticipant is required"
        );
        // A DTD is refused by the parser: no entity expansion ("billion laughs").
        let bomb = r#"<!DOCTYPE a [<!ENTITY x "xx">]><AuditMessage>&x;</AuditMessage>"#;
        assert!(decode_xml(bomb, &o).unwrap_err().starts_with("invalid XML"));
    }

    #[test]
    fn several_messages_under_one_root_are_each_an_event() {
        let xml = format!(
            "<Batch>{0}{0}</Batch>",
            DICOM.trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
        );
        let events = decode_xml(&xml, &Origin::default()).unwrap();
        assert_eq!(events.len(), 2);
        assert_ne!(events[0].origin.record_id, events[1].origin.record_id);
        assert!(looks_like_atna(DICOM));
        assert!(!looks_like_atna(
            "<34>1 2026-01-01T00:00:00Z h a - - AuditMessage"
        ));
    }
}
