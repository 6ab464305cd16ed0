//! Network sensor records wrapped by a shipper: the Filebeat (and Elastic Agent) `zeek` and
//! `suricata` modules' documents as they reach an Elasticsearch `_bulk` endpoint.
//!
//! # What it does
//! A document whose `event.module` (or Filebeat 6's `fileset.module`) is `zeek` or `suricata`
//! carries the sensor's record in one of three places, tried in this order:
//! - decoded by the shipper under `zeek.<fileset>` (`zeek.connection`, `zeek.dce_rpc`...) or,
//!   for Suricata, `suricata.eve` or `json`;
//! - as the original text in `event.original` or `message` (the module's ingest pipeline, which
//!   would parse it, runs in Elasticsearch, so Wardwatch receives it unparsed).
//!
//! The record is decoded as Zeek or EVE is ([`crate::zeek`], [`crate::eve`]): the same
//! normalized fields and analytics whatever way it came. The Zeek log's name comes from the
//! record, else from the module's fileset (`event.dataset` `zeek.connection` is `conn`). A
//! record without its own time takes the document's `@timestamp`; the shipper's host is the
//! sensor (`observer.hostname`).
//!
//! # Why it matters
//! Hospitals that already ship Zeek and Suricata with Filebeat point it at Wardwatch unchanged;
//! without unwrapping, those records would be generic JSON that no network analytic reads.
//!
//! # Example
//! `{"event": {"module": "zeek", "dataset": "zeek.connection"}, "message":
//! "{\"ts\":1.5,\"uid\":\"C1\",\"id.orig_h\":\"10.0.0.1\",\"conn_state\":\"S0\"}"}` decodes as the
//! Zeek `conn` record in `message`.
//!
//! # References
//! Filebeat reference, "Zeek module" and "Suricata module" (filesets and `event.dataset`).

use serde_json::{Map, Value};
use wardwatch_core::{Event, Origin};

use crate::doc::{lookup, text_at};

/// Whether a document is a shipper's wrapper this module may unwrap (its module is `zeek` or
/// `suricata`).
pub(crate) fn is_wrapper(doc: &Value) -> bool {
    text_at(doc, "event.module")
        .or_else(|| text_at(doc, "fileset.module"))
        .is_some_and(|m| matches!(m.to_ascii_lowercase().as_str(), "zeek" | "bro" | "suricata"))
}

/// The sensor record inside a shipper's document, decoded; `None` when the document is not
/// one of the layouts above (it is then decoded as any JSON).
pub(crate) fn decode(doc: &Value, origin: &Origin) -> Option<Event> {
    let module = text_at(doc, "event.module").or_else(|| text_at(doc, "fileset.module"))?;
    let mut event = match module.to_ascii_lowercase().as_str() {
        "zeek" | "bro" => zeek(doc, origin)?,
        "suricata" => suricata(doc, origin)?,
        _ => return None,
    };
    if event.ecs.observer_hostname.is_none() {
        event.ecs.observer_hostname =
            text_at(doc, "host.name").or_else(|| text_at(doc, "agent.hostname"));
    }
    Some(event)
}

/// The Zeek log a Filebeat fileset reads (the module names `conn` `connection`).
fn zeek_path(fileset: &str) -> &str {
    match fileset {
        "connection" => "conn",
        other => other,
    }
}

fn zeek(doc: &Value, origin: &Origin) -> Option<Event> {
    let fileset = text_at(doc, "event.dataset")
        .and_then(|d| d.strip_prefix("zeek.").map(str::to_string))
        .or_else(|| text_at(doc, "fileset.name"));
    let decoded = fileset
        .as_deref()
        .and_then(|f| lookup(doc, &format!("zeek.{f}")))
        .or_else(|| {
            lookup(doc, "zeek")?
                .as_object()?
                .values()
                .find(|v| v.is_object())
        })
        .and_then(Value::as_object)
        .cloned();
    let mut record = match decoded {
        Some(obj) => obj,
        None => original(doc)?,
    };
    if !record.contains_key("_path")
        && let Some(f) = &fileset
    {
        record.insert("_path".into(), Value::String(zeek_path(f).to_string()));
    }
    if !record.contains_key("ts")
        && let Some(ts) = lookup(doc, "@timestamp")
    {
        record.insert("ts".into(), ts.clone());
    }
    let record = Value::Object(record);
    crate::zeek::is_zeek(&record).then(|| crate::zeek::decode_value(record, origin.clone()))
}

fn suricata(doc: &Value, origin: &Origin) -> Option<Event> {
    let decoded = ["suricata.eve", "json"]
        .iter()
        .find_map(|p| lookup(doc, p).and_then(Value::as_object))
        .cloned();
    let mut record = match decoded {
        Some(obj) => obj,
        None => original(doc)?,
    };
    record.get("event_type")?;
    if !record.contains_key("timestamp")
        && let Some(ts) = lookup(doc, "@timestamp")
    {
        record.insert("timestamp".into(), ts.clone());
    }
    let mut event = crate::eve::decode_value(Value::Object(record), origin.clone());
    // A record the module's pipeline already ran over has its addresses in ECS fields.
    let ecs = crate::doc::ecs_of(doc);
    let ours = &mut event.ecs;
    ours.source_ip = ours.source_ip.take().or(ecs.source_ip);
    ours.source_port = ours.source_port.or(ecs.source_port);
    ours.destination_ip = ours.destination_ip.take().or(ecs.destination_ip);
    ours.destination_port = ours.destination_port.or(ecs.destination_port);
    Some(event)
}

/// The record as the sensor wrote it, from `event.original` or `message`.
fn original(doc: &Value) -> Option<Map<String, Value>> {
    ["event.original", "message"].iter().find_map(|p| {
        let text = lookup(doc, p)?.as_str()?;
        match serde_json::from_str::<Value>(text.trim()) {
            Ok(Value::Object(obj)) => Some(obj),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wardwatch_core::SourceKind;

    #[test]
    fn filebeat_zeek_documents_unwrap_from_message_or_their_fileset() {
        let line = r#"{"ts":1588205520.96246,"uid":"Cn4L","id.orig_h":"10.0.1.4","id.orig_p":60621,"id.resp_h":"10.0.0.4","id.resp_p":49667,"endpoint":"drsuapi","operation":"DRSGetNCChanges"}"#;
        let doc = json!({"@timestamp": "2020-04-30T00:00:00Z", "message": line,
            "event": {"module": "zeek", "dataset": "zeek.dce_rpc"},
            "fileset": {"name": "dce_rpc"}, "host": {"name": "sensor-2"}});
        let e = decode(&doc, &Origin::default()).unwrap();
        assert_eq!(e.source_kind, SourceKind::Zeek);
        assert_eq!(e.ecs.event_code.as_deref(), Some("dce_rpc"));
        assert_eq!(e.ecs.event_action.as_deref(), Some("DRSGetNCChanges"));
        assert_eq!(e.ecs.source_ip.as_deref(), Some("10.0.1.4"));
        assert_eq!(e.ecs.observer_hostname.as_deref(), Some("sensor-2"));
        assert_eq!(e.timestamp.to_string(), "2020-04-30T00:12:00.96246Z");

        let decoded = json!({"@timestamp": "2020-04-30T00:00:01Z",
            "event": {"module": "zeek", "dataset": "zeek.connection"},
            "zeek": {"connection": {"id.orig_h": "10.0.0.9", "id.resp_h": "10.0.0.7",
                "id.resp_p": 445, "proto": "tcp", "state": "REJ", "uid": "C9"}}});
        let e = decode(&decoded, &Origin::default()).unwrap();
        assert_eq!(e.ecs.event_code.as_deref(), Some("conn"));
        assert_eq!(e.ecs.destination_port, Some(445));
        assert_eq!(e.timestamp.to_string(), "2020-04-30T00:00:01Z");
    }

    #[test]
    fn filebeat_suricata_documents_unwrap() {
        let doc = json!({"@timestamp": "2020-09-22T18:54:11Z",
            "event": {"module": "suricata", "dataset": "suricata.eve"},
            "json": {"event_type": "flow", "flow_id": 5, "src_ip": "10.0.0.1",
                "dest_ip": "10.0.0.2", "dest_port": 3389, "proto": "TCP",
                "flow": {"pkts_toserver": 2, "pkts_toclient": 0}}});
        let e = decode(&doc, &Origin::default()).unwrap();
        assert_eq!(e.source_kind, SourceKind::SuricataEve);
        assert_eq!(e.ecs.event_outcome.as_deref(), Some("failure"));
        assert_eq!(e.ecs.destination_port, Some(3389));
        let piped = json!({"@timestamp": "2020-09-22T18:54:11Z",
            "event": {"module": "suricata"}, "source": {"ip": "10.0.0.3"},
            "suricata": {"eve": {"event_type": "dns", "dns": {"type": "query", "rrname": "x.org"}}}});
        let e = decode(&piped, &Origin::default()).unwrap();
        assert_eq!(e.ecs.source_ip.as_deref(), Some("10.0.0.3"));
        assert_eq!(e.ecs.dns_question_name.as_deref(), Some("x.org"));
    }

    #[test]
    fn other_modules_and_unreadable_records_are_not_unwrapped() {
        let o = Origin::default();
        assert!(decode(&json!({"event": {"module": "system"}, "message": "{}"}), &o).is_none());
        assert!(
            decode(
                &json!({"event": {"module": "zeek"}, "message": "not json"}),
                &o
            )
            .is_none()
        );
    }
}
