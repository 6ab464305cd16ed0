//! Syslog lines (bootstrap version; the full decoder replaces this).

use wardwatch_core::{Event, Origin, SourceKind};

/// Decode one syslog line; never fails (an unparseable line is kept as its message).
pub fn decode_line(line: &str, origin: Origin) -> Event {
    let mut e = Event::new(
        SourceKind::Syslog,
        jiff::Timestamp::UNIX_EPOCH,
        serde_json::json!({ "message": line }),
    );
    e.ecs.message = Some(line.to_string());
    e.origin = origin;
    e
}
