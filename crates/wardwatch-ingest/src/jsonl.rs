//! JSON lines (bootstrap version; the full decoder replaces this).

use serde_json::Value;
use wardwatch_core::{Event, Origin, SourceKind};

/// Parse a time in the forms JSON shippers write (RFC 3339, Suricata's `+0000` offsets).
pub fn parse_time(t: &str) -> Option<jiff::Timestamp> {
    t.parse().ok()
}

/// Decode one JSON line.
pub fn decode_line(line: &[u8], origin: Origin) -> Result<Event, String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
    if !v.is_object() {
        return Err("expected a JSON object".into());
    }
    if v.get("event_type").is_some() {
        return Ok(crate::eve::decode_value(v, origin));
    }
    let mut e = Event::new(SourceKind::Json, jiff::Timestamp::UNIX_EPOCH, v);
    e.origin = origin;
    Ok(e)
}
