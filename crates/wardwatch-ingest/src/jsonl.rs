//! JSON lines: one JSON object per line, whatever shipper wrote it.
//!
//! # What it does
//! [`decode_line`] parses one line and hands the object to the decoder of its shape, checked in
//! this order:
//! 1. Winlogbeat / Elastic Agent (`winlog.*`, or Winlogbeat 6's `event_id` + `log_name`) →
//!    [`SourceKind::WinlogbeatEcs`], see `winlogbeat.rs`;
//! 2. Suricata EVE (`event_type` with the sensor's keys) → [`crate::eve::decode_value`];
//! 3. Zeek (`ts` with `_path`, `@stream`, or a Zeek log's identifiers and fields) →
//!    [`crate::zeek::decode_value`];
//! 4. a Filebeat / Elastic Agent `zeek` or `suricata` module document → the sensor record
//!    inside it, see `shipped.rs`;
//! 5. flat Windows JSON (`EventID` with `Channel`, `Computer`, `Hostname`, `SourceName`...) →
//!    [`SourceKind::FlatWindows`], see `flat_windows.rs`;
//! 6. a FHIR AuditEvent (R4 or R5) → [`SourceKind::Json`] with the EHR audit fields, see
//!    `fhir.rs` (a Bundle is opened into its entries by [`decode_records`]);
//! 7. Entra ID sign-in and audit records (Azure Monitor export or Graph) and Okta System Log
//!    events → [`SourceKind::Json`] with the identity fields, see `entra.rs` and `okta.rs`;
//! 8. a syslog record a shipper wrote as JSON (syslog-ng's upper-case `HOST`/`PROGRAM`/`MESSAGE`,
//!    Fluent Bit's syslog parsers, Filebeat's system module) → [`SourceKind::Syslog`], the same
//!    event as the syslog line, see `syslog_doc.rs`;
//! 9. anything else → [`SourceKind::Json`], its time from the first readable of `@timestamp`,
//!    `timestamp`, `time`, `ts` (Zeek), `TimeGenerated` (Azure Monitor), `eventTime`
//!    (CloudTrail), `EventTime`, `published` (Okta) and `date`, and whatever ECS fields it states,
//!    nested or dotted; `host.name` falls back to a plain `host` or `hostname` string.
//!
//! Every shape keeps the object unchanged as [`Event::raw`]. A line with bytes that are not
//! UTF-8 is decoded with those bytes replaced by U+FFFD rather than dropped: one bad byte an
//! attacker slips into a command line must not make the whole event disappear.
//!
//! # Why it matters
//! Hospitals ship Windows logs through Winlogbeat, nxlog or ad-hoc exports and network logs
//! through Suricata; one entry point that recognizes each keeps the CLI and the listeners
//! simple.
//!
//! # Example
//! `decode_line(br#"{"@timestamp":"2024-01-01T10:00:00Z","host":{"name":"ws1"}}"#, origin)`
//! gives a [`SourceKind::Json`] event at 10:00 UTC with `host.name` ws1; `decode_line(b"[1]",
//! origin)` gives the error "expected a JSON object, found an array".
//!
//! # References
//! JSON Lines (<https://jsonlines.org>); RFC 8259.

use serde_json::Value;
use wardwatch_core::{Event, Origin, RawText, SourceKind};

use crate::doc::{ecs_of, first_text};

/// Parse a time in the forms JSON shippers write: RFC 3339 with `Z` or an offset (also
/// Suricata's `+0000` without a colon), a space instead of the `T`, no offset at all (taken as
/// UTC), RFC 2822, .NET `/Date(ms)/`, and Unix epochs in seconds, milliseconds, microseconds or
/// nanoseconds given as text (a caller holding a JSON number passes its text).
pub fn parse_time(t: &str) -> Option<jiff::Timestamp> {
    crate::time::parse_time(t)
}

/// Where a generic JSON document keeps its time, in order of preference.
const GENERIC_TIME: &[&str] = &[
    "@timestamp",
    "timestamp",
    "time",
    "ts",
    "TimeGenerated",
    "eventTime",
    "EventTime",
    "published",
    "date",
];

/// Decode one JSON line (see the module documentation). The error says what is wrong with the
/// line, with serde_json's line and column for syntax errors.
pub fn decode_line(line: &[u8], origin: Origin) -> Result<Event, String> {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    match std::str::from_utf8(line) {
        Ok(text) => decode_text(text, origin),
        Err(_) => decode_text(&String::from_utf8_lossy(line), origin),
    }
}

fn decode_text(text: &str, origin: Origin) -> Result<Event, String> {
    let v = serde_json::from_str::<Value>(text).map_err(|e| format!("invalid JSON: {e}"))?;
    decode_value(v, origin)
}

/// [`decode_line`], keeping the line's text with the event ([`Event::raw_text`]) so the journal
/// stores what the sender wrote instead of serializing the parsed object again. Only for a line
/// that is UTF-8 without a byte-order mark, as only then is the text exactly what was parsed.
pub fn decode_line_keeping_text(line: &[u8], origin: Origin) -> Result<Event, String> {
    match std::str::from_utf8(line) {
        Ok(text) if !text.starts_with('\u{feff}') => {
            let v =
                serde_json::from_str::<Value>(text).map_err(|e| format!("invalid JSON: {e}"))?;
            // A shipper's wrapper is decoded to the sensor record inside it, and a Microsoft
            // 365 mail record gains its ECS names: the event's `raw` is then not the text
            // that came.
            let unwrapped = crate::shipped::is_wrapper(&v) || crate::m365::shape(&v).is_some();
            let mut event = decode_value(v, origin)?;
            if !unwrapped {
                event.raw_text = RawText::new(text.trim_ascii());
            }
            Ok(event)
        }
        _ => decode_line(line, origin),
    }
}

/// Decode one JSON line into its records: a FHIR Bundle gives one per entry (each with the
/// entry's number in `record`), anything else one.
pub fn decode_line_records(line: &[u8], origin: Origin) -> Vec<Result<Event, String>> {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => decode_records(v, origin),
        Err(e) => vec![Err(format!("invalid JSON: {e}"))],
    }
}

/// [`decode_value`], with a FHIR Bundle opened into its entries.
pub fn decode_records(v: Value, origin: Origin) -> Vec<Result<Event, String>> {
    match crate::fhir::bundle_entries(&v) {
        Some(entries) => entries
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                decode_value(entry, origin.clone())
                    .map_err(|e| format!("Bundle entry {}: {e}", i + 1))
            })
            .collect(),
        None => vec![decode_value(v, origin)],
    }
}

/// Decode one JSON object, whatever its shape: `evtx_dump`-style EVTX JSON
/// (`{"Event": {"System": ..}}`), Winlogbeat, Suricata EVE, flat Windows, or generic JSON.
pub fn decode_value(v: Value, origin: Origin) -> Result<Event, String> {
    if !v.is_object() {
        return Err(format!("expected a JSON object, found {}", json_kind(&v)));
    }
    Ok(if v.get("Event").and_then(|e| e.get("System")).is_some() {
        crate::evtx::decode_value(v, origin)
    } else if crate::winlogbeat::is_winlogbeat(&v) {
        crate::winlogbeat::decode(v, origin)
    } else if crate::eve::is_eve(&v) {
        crate::eve::decode_value(v, origin)
    } else if crate::zeek::is_zeek(&v) {
        crate::zeek::decode_value(v, origin)
    } else if let Some(event) = crate::shipped::decode(&v, &origin) {
        event
    } else if crate::flat_windows::is_flat_windows(&v) {
        crate::flat_windows::decode(v, origin)
    } else if crate::fhir::is_audit_event(&v) {
        return crate::fhir::decode(v, origin).map_err(|e| e.to_string());
    } else if let Some(entries) = crate::fhir::bundle_entries(&v) {
        return Err(format!(
            "a FHIR Bundle of {} resources is read from files and POST /fhir/AuditEvent, one event per entry; send its entries as documents of their own",
            entries.len()
        ));
    } else if let Some(shape) = crate::entra::shape(&v) {
        let ecs = crate::entra::normalize(&v, shape);
        crate::doc::event_of(SourceKind::Json, v, crate::entra::TIME, ecs, origin)
    } else if let Some(shape) = crate::m365::shape(&v) {
        let mut v = v;
        let ecs = crate::m365::normalize(&mut v, shape);
        crate::doc::event_of(SourceKind::Json, v, crate::m365::TIME, ecs, origin)
    } else if crate::okta::is_okta(&v) {
        let ecs = crate::okta::normalize(&v);
        crate::doc::event_of(SourceKind::Json, v, &["published"], ecs, origin)
    } else if let Some(shape) = crate::syslog_doc::shape(&v) {
        crate::syslog_doc::decode(v, shape, origin)
    } else {
        decode_generic(v, origin)
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Any other JSON object: its time and the ECS fields it states.
fn decode_generic(v: Value, origin: Origin) -> Event {
    let mut ecs = ecs_of(&v);
    if ecs.host_name.is_none() {
        ecs.host_name = first_text(&v, &["host", "hostname"]);
    }
    ecs.event_kind.get_or_insert_with(|| "event".into());
    crate::doc::event_of(SourceKind::Json, v, GENERIC_TIME, ecs, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bulk_path_keeps_the_senders_text_only_when_it_is_what_was_parsed() {
        let line = br#"{"EventID": 1, "Channel": "Security", "Computer": "WS-1"}"#;
        let mut with_cr = line.to_vec();
        with_cr.extend_from_slice(b"\r");
        let e = decode_line_keeping_text(&with_cr, Origin::default()).unwrap();
        assert_eq!(
            e.raw_text.as_str(),
            Some(std::str::from_utf8(line).unwrap())
        );
        assert_eq!(e, ok(std::str::from_utf8(line).unwrap()));
        // A byte-order mark or a byte that is not UTF-8: decoded, but the text is not kept.
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(line);
        assert!(
            decode_line_keeping_text(&bom, Origin::default())
                .unwrap()
                .raw_text
                .as_str()
                .is_none()
        );
        let bad = b"{\"EventID\": 1, \"Channel\": \"Security\", \"Image\": \"a\xFFb\"}";
        let e = decode_line_keeping_text(bad, Origin::default()).unwrap();
        assert!(e.raw_text.as_str().is_none());
        assert_eq!(e.raw["Image"], "a\u{FFFD}b");
        assert!(decode_line_keeping_text(b"[1]", Origin::default()).is_err());
    }

    fn ok(line: &str) -> Event {
        decode_line(line.as_bytes(), Origin::default()).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    fn err(line: &[u8]) -> String {
        decode_line(line, Origin::default()).unwrap_err()
    }

    #[test]
    fn each_shape_goes_to_its_decoder() {
        let cases = [
            (
                r#"{"@timestamp":"2024-01-01T10:00:00Z","winlog":{"event_id":1}}"#,
                SourceKind::WinlogbeatEcs,
            ),
            (
                r#"{"timestamp":"2024-01-01T10:00:00+0000","event_type":"flow","flow_id":1}"#,
                SourceKind::SuricataEve,
            ),
            (
                r#"{"EventID":4624,"Channel":"Security","TimeCreated":"2024-01-01T10:00:00Z"}"#,
                SourceKind::FlatWindows,
            ),
            (
                r#"{"time":"2024-01-01T10:00:00Z","event_type":"login"}"#,
                SourceKind::Json,
            ),
        ];
        for (line, kind) in cases {
            let ev = ok(line);
            assert_eq!(ev.source_kind, kind, "{line}");
            assert_eq!(ev.timestamp.to_string(), "2024-01-01T10:00:00Z", "{line}");
        }
    }

    #[test]
    fn generic_json_reads_ecs_and_common_time_keys() {
        let ev = ok(
            r#"{"@timestamp":"2024-01-01T10:00:00Z","host.name":"ws1","user":{"name":"alice"},
            "source":{"ip":"10.0.0.1","port":4444},"process.command_line":"x -y","message":"hi"}"#,
        );
        assert_eq!(ev.ecs.host_name.as_deref(), Some("ws1"));
        assert_eq!(ev.ecs.user_name.as_deref(), Some("alice"));
        assert_eq!(ev.ecs.source_port, Some(4444));
        assert_eq!(ev.ecs.process_command_line.as_deref(), Some("x -y"));
        assert_eq!(ev.ecs.message.as_deref(), Some("hi"));
        assert_eq!(ev.ecs.event_kind.as_deref(), Some("event"));
        let zeek = ok(r#"{"ts":1591367999.305988,"uid":"C1","id.orig_h":"10.0.0.1"}"#);
        assert_eq!(zeek.timestamp.to_string(), "2020-06-05T14:39:59.305988Z");
        let cloudtrail = ok(r#"{"eventTime":"2020-09-14T01:19:40Z","eventName":"GetObject"}"#);
        assert_eq!(cloudtrail.timestamp.to_string(), "2020-09-14T01:19:40Z");
        let host = ok(r#"{"host":"fw01","msg":"x"}"#);
        assert_eq!(host.ecs.host_name.as_deref(), Some("fw01"));
        assert_eq!(host.timestamp, jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(host.time_text, None);
    }

    #[test]
    fn unreadable_time_keeps_its_text() {
        let ev = ok(r#"{"timestamp":"last tuesday"}"#);
        assert_eq!(ev.timestamp, jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(ev.time_text.as_deref(), Some("last tuesday"));
    }

    #[test]
    fn raw_is_the_object_unchanged() {
        let line = r#"{"b":1,"a":{"c.d":[1,2,{"e":null}]},"@timestamp":"2024-01-01T10:00:00Z"}"#;
        let ev = ok(line);
        assert_eq!(ev.raw, serde_json::from_str::<Value>(line).unwrap());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = err(br#"{"a": 1, "b": "#);
        assert!(e.starts_with("invalid JSON: "), "{e}");
        assert!(e.contains("line 1 column"), "{e}");
        assert_eq!(err(b"[1,2]"), "expected a JSON object, found an array");
        assert_eq!(err(b"\"x\""), "expected a JSON object, found a string");
        assert_eq!(err(b"null"), "expected a JSON object, found null");
        assert_eq!(err(b"3"), "expected a JSON object, found a number");
        assert!(err(b"").contains("EOF"));
        assert!(err(br#"{"a":1} {"b":2}"#).contains("trailing characters"));
    }

    #[test]
    fn bom_and_invalid_utf8_do_not_lose_the_event() {
        let ev = ok("\u{feff}{\"host\":\"a\"}");
        assert_eq!(ev.ecs.host_name.as_deref(), Some("a"));
        let ev = decode_line(b"{\"cmd\":\"a\xffb\",\"host\":\"h\"}", Origin::default()).unwrap();
        assert_eq!(ev.raw["cmd"], "a\u{fffd}b");
    }

    #[test]
    fn shipper_wrappers_of_sensor_records_are_unwrapped_and_not_kept_as_text() {
        let doc = r#"{"@timestamp":"2024-01-01T00:00:00Z","event":{"module":"zeek","dataset":"zeek.connection"},"message":"{\"ts\":1704067200.5,\"uid\":\"C1\",\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":1,\"id.resp_h\":\"10.0.0.2\",\"id.resp_p\":22,\"proto\":\"tcp\",\"conn_state\":\"S0\"}"}"#;
        let e = decode_line_keeping_text(doc.as_bytes(), Origin::default()).unwrap();
        assert_eq!(e.source_kind, SourceKind::Zeek);
        assert_eq!(e.ecs.event_code.as_deref(), Some("conn"));
        assert!(
            e.raw_text.as_str().is_none(),
            "raw is the record, not the text"
        );
        let plain = r#"{"_path":"ssh","ts":1704067200.5,"uid":"C1","id.orig_h":"10.0.0.1","auth_success":false}"#;
        let e = decode_line_keeping_text(plain.as_bytes(), Origin::default()).unwrap();
        assert_eq!(e.source_kind, SourceKind::Zeek);
        assert_eq!(e.raw_text.as_str(), Some(plain));
    }

    #[test]
    fn origin_is_kept() {
        let origin = Origin {
            source: "f.json".into(),
            record_id: Some(3),
            offset: Some(120),
            id: None,
        };
        let ev = decode_line(br#"{"a":1}"#, origin.clone()).unwrap();
        assert_eq!(ev.origin, origin);
    }
}
