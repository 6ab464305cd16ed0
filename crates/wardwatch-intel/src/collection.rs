//! What a TAXII collection needs to know of a STIX object before it keeps it: its id, type,
//! version, spec version, TLP and creator, checked.
//!
//! Why here and not in the server: the same reading serves objects we publish (an incident's
//! share) and objects partners post to us (their sightings, their indicators), and it is pure
//! STIX: no HTTP, no store. A TAXII server keeps every version of an object side by side, so
//! the version (`modified`, else `created`) must be a real timestamp, and it answers partners
//! by TLP, so the TLP marking is read here: the most restrictive TLP among the object's
//! `object_marking_refs` (TLP 2.0 or STIX 2.1's TLP 1.0 definitions), the TLP definitions
//! themselves are public (clear), and an object with no TLP marking gets the caller's default.
//!
//! An object is refused with the reason when its shape is wrong: not a JSON object, a `type`
//! that is not a STIX type name, an `id` that is not `type--UUID` of its own type, a
//! `spec_version` other than 2.0 or 2.1, timestamps that are not RFC 3339, `modified` before
//! `created`, a reference that is not an identifier, or a property its type requires missing
//! (for example a `sighting` without `sighting_of_ref`). STIX 2.1 §3 and §4 (common
//! properties, identifiers), and the OASIS TLP 2.0 extension.

use jiff::Timestamp;
use serde_json::Value;

use crate::indicator::Tlp;

/// What a collection keeps of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectFacts {
    pub id: String,
    pub ty: String,
    /// `2.1`, or `2.0` for objects written before `spec_version` existed.
    pub spec_version: String,
    /// `modified`, else `created`, as written and read; `None` for objects with neither
    /// (cyber-observables: their version is when they were added).
    pub version: Option<(String, Timestamp)>,
    /// The most restrictive TLP marking; `None` when unmarked.
    pub tlp: Option<Tlp>,
    /// `created_by_ref`.
    pub creator: Option<String>,
}

impl ObjectFacts {
    /// The TLP the object is read under: its marking, else `unmarked`.
    pub fn tlp_or(&self, unmarked: Tlp) -> Tlp {
        self.tlp.unwrap_or(unmarked)
    }
}

/// Properties each type we trade in must carry (STIX 2.1 §4–§5).
const REQUIRED: &[(&str, &[&str])] = &[
    ("indicator", &["pattern", "pattern_type", "valid_from"]),
    ("sighting", &["sighting_of_ref"]),
    (
        "relationship",
        &["relationship_type", "source_ref", "target_ref"],
    ),
    ("report", &["name", "published", "object_refs"]),
    ("identity", &["name"]),
    ("attack-pattern", &["name"]),
    (
        "observed-data",
        &["first_observed", "last_observed", "number_observed"],
    ),
];

/// A STIX type name: 3 to 250 of `a-z`, `0-9` and `-`, no leading or trailing hyphen, no
/// double hyphen (STIX 2.1 §3.1).
fn is_type_name(t: &str) -> bool {
    (3..=250).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !t.starts_with('-')
        && !t.ends_with('-')
        && !t.contains("--")
}

/// Whether `id` is an identifier, `type--UUID` (STIX 2.1 §2.9).
pub fn is_identifier(id: &str) -> bool {
    match id.split_once("--") {
        Some((ty, uuid)) => is_type_name(ty) && uuid::Uuid::try_parse(uuid).is_ok(),
        None => false,
    }
}

fn timestamp(obj: &Value, key: &str) -> Result<Option<(String, Timestamp)>, String> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => s
            .parse::<Timestamp>()
            .map(|t| Some((s.clone(), t)))
            .map_err(|_| format!("`{key}` `{s}` is not an RFC 3339 timestamp")),
        Some(_) => Err(format!("`{key}` is not a string")),
    }
}

/// Whether `obj` defines a TLP marking (whose own TLP is clear: everybody may know what TLP
/// means).
fn is_tlp_definition(obj: &Value) -> bool {
    obj.get("id")
        .and_then(Value::as_str)
        .is_some_and(|id| Tlp::of_marking_id(id).is_some())
        || obj.get("definition_type").and_then(Value::as_str) == Some("tlp")
}

/// The facts of `obj`, or why a collection must refuse it.
pub fn facts(obj: &Value) -> Result<ObjectFacts, String> {
    let map = obj.as_object().ok_or("not a JSON object")?;
    let ty = match map.get("type") {
        Some(Value::String(t)) if is_type_name(t) => t.clone(),
        Some(Value::String(t)) => return Err(format!("`type` `{t}` is not a STIX type name")),
        _ => return Err("no `type`".into()),
    };
    if ty == "bundle" {
        return Err("a bundle is no object of a collection (post its objects)".into());
    }
    let id = match map.get("id") {
        Some(Value::String(id)) if is_identifier(id) && id.split("--").next() == Some(&ty) => {
            id.clone()
        }
        Some(Value::String(id)) => {
            return Err(format!("`id` `{id}` is not `{ty}--` followed by a UUID"));
        }
        _ => return Err("no `id`".into()),
    };
    let created = timestamp(obj, "created")?;
    let modified = timestamp(obj, "modified")?;
    if let (Some((c, ct)), Some((m, mt))) = (&created, &modified)
        && mt < ct
    {
        return Err(format!("`modified` {m} is before `created` {c}"));
    }
    let spec_version = match map.get("spec_version") {
        Some(Value::String(v)) if v == "2.1" || v == "2.0" => v.clone(),
        Some(v) => return Err(format!("`spec_version` {v} is not 2.0 or 2.1")),
        // STIX 2.0 objects have no spec_version; 2.1 cyber-observables may leave it out.
        None if created.is_some() => "2.0".to_string(),
        None => "2.1".to_string(),
    };
    if let Some((_, required)) = REQUIRED.iter().find(|(t, _)| *t == ty) {
        for key in *required {
            if !map.contains_key(*key) {
                return Err(format!("a `{ty}` needs `{key}`"));
            }
        }
    }
    for (key, value) in map {
        if key.ends_with("_ref") {
            match value.as_str() {
                Some(r) if is_identifier(r) => {}
                _ => return Err(format!("`{key}` is not an identifier")),
            }
        } else if key.ends_with("_refs") {
            let ok = value
                .as_array()
                .is_some_and(|a| a.iter().all(|r| r.as_str().is_some_and(is_identifier)));
            if !ok {
                return Err(format!("`{key}` is not a list of identifiers"));
            }
        }
    }
    let tlp = if is_tlp_definition(obj) {
        Some(Tlp::Clear)
    } else {
        map.get("object_marking_refs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str().and_then(Tlp::of_marking_id))
            .max()
    };
    Ok(ObjectFacts {
        creator: map
            .get("created_by_ref")
            .and_then(Value::as_str)
            .map(str::to_string),
        version: modified.or(created),
        id,
        ty,
        spec_version,
        tlp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";

    fn indicator() -> Value {
        json!({"type": "indicator", "spec_version": "2.1", "id": ID,
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-02T00:00:00.000Z",
            "pattern": "[domain-name:value = 'evil.example']", "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z",
            "created_by_ref": "identity--6a5f2c8e-4b0e-4d4a-9a2e-3b1c2d4e5f60",
            "object_marking_refs": [Tlp::Green.marking_id(), Tlp::Amber.marking_id()]})
    }

    fn refused(mut obj: Value, change: impl FnOnce(&mut Value)) -> String {
        change(&mut obj);
        facts(&obj).unwrap_err()
    }

    #[test]
    fn an_indicator_gives_its_version_tlp_and_creator() {
        let f = facts(&indicator()).unwrap();
        assert_eq!(f.id, ID);
        assert_eq!(f.ty, "indicator");
        assert_eq!(f.spec_version, "2.1");
        let (text, at) = f.version.clone().unwrap();
        assert_eq!(text, "2026-01-02T00:00:00.000Z");
        assert_eq!(at, "2026-01-02T00:00:00Z".parse::<Timestamp>().unwrap());
        // The most restrictive of its markings.
        assert_eq!(f.tlp, Some(Tlp::Amber));
        assert_eq!(
            f.creator.as_deref(),
            Some("identity--6a5f2c8e-4b0e-4d4a-9a2e-3b1c2d4e5f60")
        );
    }

    #[test]
    fn markings_observables_and_old_objects() {
        // The TLP definitions are clear; an unmarked object takes the default.
        let def = json!({"type": "marking-definition", "spec_version": "2.1",
            "id": Tlp::Red.marking_id(), "created": "2022-10-01T00:00:00.000Z",
            "name": "TLP:RED"});
        let f = facts(&def).unwrap();
        assert_eq!(f.tlp, Some(Tlp::Clear));
        assert_eq!(f.version.unwrap().0, "2022-10-01T00:00:00.000Z");
        let sco = json!({"type": "domain-name",
            "id": "domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5", "value": "evil.example"});
        let f = facts(&sco).unwrap();
        assert_eq!(
            (f.spec_version.as_str(), f.version.clone(), f.tlp),
            ("2.1", None, None)
        );
        assert_eq!(f.tlp_or(Tlp::Amber), Tlp::Amber);
        let mut old = indicator();
        old.as_object_mut().unwrap().remove("spec_version");
        assert_eq!(facts(&old).unwrap().spec_version, "2.0");
        // A sighting as a partner sends it back.
        let s = json!({"type": "sighting", "spec_version": "2.1",
            "id": "sighting--0b4f1b0e-3e9a-4c3b-8f0e-1b2c3d4e5f60",
            "created": "2026-01-03T00:00:00Z", "modified": "2026-01-03T00:00:00Z",
            "sighting_of_ref": ID, "count": 2,
            "where_sighted_refs": ["identity--6a5f2c8e-4b0e-4d4a-9a2e-3b1c2d4e5f60"]});
        assert_eq!(facts(&s).unwrap().ty, "sighting");
    }

    #[test]
    fn bad_objects_are_refused_with_the_reason() {
        assert_eq!(facts(&json!([1])).unwrap_err(), "not a JSON object");
        assert!(refused(indicator(), |o| o["type"] = json!("Indicator")).contains("type name"));
        assert!(
            refused(indicator(), |o| o["id"] =
                json!("malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"))
            .contains("is not `indicator--`")
        );
        assert!(refused(indicator(), |o| o["id"] = json!("indicator--nope")).contains("UUID"));
        assert!(refused(indicator(), |o| o["modified"] = json!("yesterday")).contains("RFC 3339"));
        assert!(
            refused(indicator(), |o| o["modified"] =
                json!("2025-01-01T00:00:00Z"))
            .contains("before `created`")
        );
        assert!(refused(indicator(), |o| o["spec_version"] = json!("2.2")).contains("2.0 or 2.1"));
        assert!(
            refused(indicator(), |o| o
                .as_object_mut()
                .unwrap()
                .remove("pattern")
                .map(drop)
                .unwrap_or(()))
            .contains("needs `pattern`")
        );
        assert!(
            refused(indicator(), |o| o["created_by_ref"] = json!("me"))
                .contains("`created_by_ref`")
        );
        assert!(
            refused(indicator(), |o| o["object_marking_refs"] = json!(["x"]))
                .contains("`object_marking_refs`")
        );
        let sighting = json!({"type": "sighting", "spec_version": "2.1",
            "id": "sighting--0b4f1b0e-3e9a-4c3b-8f0e-1b2c3d4e5f60",
            "created": "2026-01-03T00:00:00Z", "modified": "2026-01-03T00:00:00Z"});
        assert!(facts(&sighting).unwrap_err().contains("sighting_of_ref"));
        assert!(
            facts(&json!({"type": "bundle", "id": "bundle--0b4f1b0e-3e9a-4c3b-8f0e-1b2c3d4e5f60"}))
                .unwrap_err()
                .contains("bundle")
        );
    }
}
