//! MISP events in: attributes meant for detection (`to_ids`) as indicators.
//!
//! Accepted shapes: `{"Event": {...}}`, the event object itself, `{"response": [...]}` and a
//! list of events (what a MISP feed or the REST API returns). Attributes of objects count like
//! top-level ones. An attribute whose producer did not mark it for detection (`to_ids: false`),
//! a deleted one, or one of a type that names nothing an event can show (`text`, `comment`,
//! `link`) is skipped with the reason.

use jiff::Timestamp;
use serde_json::Value;

use super::{ImportError, Imported, Skipped};
use crate::indicator::{Indicator, Kind, Tlp};

/// The indicators of the MISP JSON `json`.
pub fn import_misp(json: &str, source: &str) -> Result<Imported, ImportError> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| ImportError::Misp(format!("invalid JSON: {e}")))?;
    import_misp_value(&value, source)
}

pub(super) fn import_misp_value(value: &Value, source: &str) -> Result<Imported, ImportError> {
    let events: Vec<&Value> = match value {
        Value::Array(items) => items.iter().map(unwrap_event).collect(),
        Value::Object(o) if o.contains_key("response") => match &o["response"] {
            Value::Array(items) => items.iter().map(unwrap_event).collect(),
            other => vec![unwrap_event(other)],
        },
        other => vec![unwrap_event(other)],
    };
    let mut out = Imported::default();
    for event in events {
        let Some(e) = event.as_object().filter(|e| {
            e.contains_key("Attribute") || e.contains_key("Object") || e.contains_key("info")
        }) else {
            return Err(ImportError::Misp(
                "no Event with Attribute, Object or info".into(),
            ));
        };
        let tlp = tags(event).find_map(Tlp::parse);
        let name = e.get("info").and_then(Value::as_str).map(str::to_string);
        let mut attributes: Vec<&Value> = list(event, "Attribute").collect();
        for object in list(event, "Object") {
            attributes.extend(list(object, "Attribute"));
        }
        for a in attributes {
            out.objects += 1;
            let what = a
                .get("uuid")
                .and_then(Value::as_str)
                .unwrap_or("attribute")
                .to_string();
            let skip = |reason: String| Skipped {
                what: what.clone(),
                reason,
            };
            if a.get("deleted").is_some_and(truthy) {
                out.skipped.push(skip("deleted".into()));
                continue;
            }
            if a.get("to_ids").is_some_and(|v| !truthy(v)) {
                out.skipped
                    .push(skip("not marked for detection (to_ids false)".into()));
                continue;
            }
            let ty = a.get("type").and_then(Value::as_str).unwrap_or("");
            let value = a.get("value").and_then(Value::as_str).unwrap_or("");
            let Some((kind, text)) = kind_and_value(ty, value) else {
                out.skipped.push(skip(format!(
                    "attribute type `{ty}` names nothing to match"
                )));
                continue;
            };
            match Indicator::new(kind, text, source) {
                Ok(mut i) => {
                    i.id.clone_from(&what);
                    i.name.clone_from(&name);
                    i.description = a
                        .get("comment")
                        .and_then(Value::as_str)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string);
                    i.tlp = tags(a).find_map(Tlp::parse).or(tlp);
                    i.valid_from = a
                        .get("first_seen")
                        .and_then(Value::as_str)
                        .and_then(|t| t.parse::<Timestamp>().ok());
                    i.valid_until = a
                        .get("last_seen")
                        .and_then(Value::as_str)
                        .and_then(|t| t.parse::<Timestamp>().ok());
                    if let Some(c) = a.get("category").and_then(Value::as_str) {
                        i.labels.push(c.to_string());
                    }
                    out.indicators.push(i);
                }
                Err(reason) => out.skipped.push(skip(reason)),
            }
        }
    }
    Ok(out)
}

/// Whether `v` is a MISP feed's `manifest.json`: event uuids mapping to their summaries
/// (`info`, `Orgc`, `Tag`, `timestamp`), not events themselves.
pub(super) fn is_feed_manifest(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        !o.is_empty()
            && o.iter().all(|(k, e)| {
                k.len() == 36
                    && k.chars().filter(|c| *c == '-').count() == 4
                    && e.get("info").is_some()
                    && e.get("Attribute").is_none()
            })
    })
}

fn unwrap_event(v: &Value) -> &Value {
    v.get("Event").unwrap_or(v)
}

fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn tags(v: &Value) -> impl Iterator<Item = &str> {
    list(v, "Tag").filter_map(|t| t.get("name").and_then(Value::as_str))
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.as_str(), "1" | "true" | "True"),
        Value::Number(n) => n.as_i64() != Some(0),
        _ => false,
    }
}

/// The kind and the value to match of a MISP attribute (composite types `a|b` give the part
/// that is an observable).
fn kind_and_value<'a>(ty: &str, value: &'a str) -> Option<(Kind, &'a str)> {
    let (first, second) = value.split_once('|').unwrap_or((value, ""));
    Some(match ty {
        "ip-src" | "ip-dst" | "ip" => (Kind::Cidr, value),
        "ip-src|port" | "ip-dst|port" => (Kind::Cidr, first),
        "domain" | "hostname" => (Kind::Domain, value),
        "domain|ip" | "hostname|port" => (Kind::Domain, first),
        "url" => (Kind::Url, value),
        "md5" => (Kind::Md5, value),
        "sha1" => (Kind::Sha1, value),
        "sha256" => (Kind::Sha256, value),
        "sha512" => (Kind::Sha512, value),
        "filename|md5" => (Kind::Md5, second),
        "filename|sha1" => (Kind::Sha1, second),
        "filename|sha256" => (Kind::Sha256, second),
        "filename|sha512" => (Kind::Sha512, second),
        "email" | "email-src" | "email-dst" | "email-reply-to" => (Kind::Email, value),
        "email-subject" => (Kind::Subject, value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_for_detection_become_indicators() {
        let json = serde_json::json!({"Event": {"info": "Phishing wave against hospitals",
            "Tag": [{"name": "tlp:green"}],
            "Attribute": [
                {"uuid": "a1", "type": "domain", "value": "Billing-Portal.example", "to_ids": true, "category": "Network activity"},
                {"uuid": "a2", "type": "ip-dst|port", "value": "203.0.113.9|443", "to_ids": true},
                {"uuid": "a3", "type": "text", "value": "campaign notes", "to_ids": false},
                {"uuid": "a4", "type": "url", "value": "http://x.example/a", "to_ids": false},
                {"uuid": "a5", "type": "email-subject", "value": "Invoice overdue", "to_ids": "1"},
                {"uuid": "a6", "type": "md5", "value": "zz", "to_ids": true},
                {"uuid": "a7", "type": "comment", "value": "x", "to_ids": true}],
            "Object": [{"name": "file", "Attribute": [
                {"uuid": "o1", "type": "sha256", "value": "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f", "to_ids": true, "deleted": false},
                {"uuid": "o2", "type": "filename|md5", "value": "invoice.doc|d41d8cd98f00b204e9800998ecf8427e", "to_ids": true, "Tag": [{"name": "tlp:red"}]}]}]}})
        .to_string();
        let got = import_misp(&json, "hospital-b").unwrap();
        let vals: Vec<(Kind, &str, Option<Tlp>)> = got
            .indicators
            .iter()
            .map(|i| (i.kind, i.value.as_str(), i.tlp))
            .collect();
        assert_eq!(
            vals,
            vec![
                (Kind::Domain, "billing-portal.example", Some(Tlp::Green)),
                (Kind::Ip, "203.0.113.9", Some(Tlp::Green)),
                (Kind::Subject, "invoice overdue", Some(Tlp::Green)),
                (
                    Kind::Sha256,
                    "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f",
                    Some(Tlp::Green)
                ),
                (
                    Kind::Md5,
                    "d41d8cd98f00b204e9800998ecf8427e",
                    Some(Tlp::Red)
                ),
            ]
        );
        assert_eq!(got.objects, 9);
        assert_eq!(
            got.indicators[0].name.as_deref(),
            Some("Phishing wave against hospitals")
        );
        let reasons: Vec<(&str, &str)> = got
            .skipped
            .iter()
            .map(|s| (s.what.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 4);
        assert!(reasons.iter().any(|(w, r)| *w == "a6" && r.contains("md5")));
        assert!(
            reasons
                .iter()
                .any(|(w, r)| *w == "a4" && r.contains("to_ids"))
        );
    }

    #[test]
    fn a_feed_manifest_is_recognized_and_names_where_the_events_are() {
        let manifest = r#"{"5c066053-0e94-46eb-9746-4b7d950d210f": {"info": "SamSam",
            "Orgc": {"name": "CIRCL"}, "timestamp": "1550654276", "Tag": []}}"#;
        let got = crate::import::import_any(manifest, "feed").unwrap();
        assert!(got.indicators.is_empty());
        assert!(
            got.skipped[0]
                .reason
                .contains("MISP feed manifest listing 1 event")
        );
    }

    #[test]
    fn what_is_no_event_is_refused() {
        assert!(import_misp("[", "p").is_err());
        assert!(import_misp(r#"{"name": "a galaxy", "GalaxyCluster": []}"#, "p").is_err());
        let list = r#"{"response": [{"Event": {"info": "x", "Attribute": []}}]}"#;
        assert_eq!(import_misp(list, "p").unwrap().indicators.len(), 0);
    }
}
