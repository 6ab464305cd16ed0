//! Suricata EVE JSON (bootstrap version; the full decoder replaces this).

use serde_json::Value;
use wardwatch_core::{Event, Origin, SourceKind};

/// Whether a JSON line looks like Suricata EVE (`event_type` plus a flow or timestamp field).
pub fn looks_like_eve(line: &str) -> bool {
    line.contains("\"event_type\"") && (line.contains("\"flow_id\"") || line.contains("\"src_ip\""))
}

/// Decode one EVE object.
pub fn decode_value(v: Value, origin: Origin) -> Event {
    let ts = v
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| crate::jsonl::parse_time(t))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let mut e = Event::new(SourceKind::SuricataEve, ts, v);
    e.origin = origin;
    e
}
