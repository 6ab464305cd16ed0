//! EVTX files (Windows event logs), read with the `evtx` crate: chunks are parsed in parallel and
//! records come back in file order.
//!
//! Each record keeps its rendered JSON as [`Event::raw`] (`{"Event": {"System": .., "EventData": ..}}`)
//! so detection can read the native field names SigmaHQ rules use; the ECS fields come from
//! [`crate::windows::normalize`]. Damaged chunks and records become [`Warning`]s naming the file,
//! the chunk and the offset; the rest of the file is still read.
//!
//! Reference: Microsoft, "EVTX file format" (libyal/libevtx documentation).

use std::path::Path;
use std::sync::Arc;

use evtx::{EvtxParser, ParserSettings};
use serde_json::{Map, Value};
use wardwatch_core::{Event, Origin, SourceKind};

use crate::IngestError;
use crate::file::Warning;
use crate::windows::{WindowsRecord, event_id_of, normalize};

/// The `Event.System` and `Event.EventData`/`UserData` parts of a rendered EVTX record.
pub fn system_and_data(raw: &Value) -> (Option<&Map<String, Value>>, Option<&Map<String, Value>>) {
    let ev = raw.get("Event");
    let system = ev.and_then(|e| e.get("System")).and_then(Value::as_object);
    let data = ev.and_then(|e| {
        e.get("EventData").and_then(Value::as_object).or_else(|| {
            // UserData wraps its fields in one element named after the event template.
            e.get("UserData")
                .and_then(Value::as_object)
                .and_then(|u| u.values().next())
                .and_then(Value::as_object)
        })
    });
    (system, data)
}

/// Attribute `name` of a System element: `{"#attributes": {name: ..}}`.
fn attr<'a>(system: &'a Map<String, Value>, element: &str, name: &str) -> Option<&'a Value> {
    system.get(element)?.get("#attributes")?.get(name)
}

/// Build the normalized event for one rendered EVTX record.
pub fn decode_record(
    raw: Value,
    record_id: u64,
    timestamp: jiff::Timestamp,
    source: &str,
) -> Event {
    let (system, data) = system_and_data(&raw);
    let (ecs, time_text) = match system {
        Some(sys) => {
            let rec = WindowsRecord {
                channel: sys.get("Channel").and_then(Value::as_str),
                provider: attr(sys, "Provider", "Name").and_then(Value::as_str),
                event_id: sys.get("EventID").and_then(event_id_of),
                computer: sys.get("Computer").and_then(Value::as_str),
                data,
            };
            let text = attr(sys, "TimeCreated", "SystemTime")
                .and_then(Value::as_str)
                .map(str::to_string);
            (normalize(&rec), text)
        }
        None => (Default::default(), None),
    };
    let timestamp = time_text
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .unwrap_or(timestamp);
    let mut event = Event::new(SourceKind::Evtx, timestamp, raw);
    event.time_text = time_text;
    event.ecs = ecs;
    event.origin = Origin {
        source: source.to_string(),
        record_id: Some(record_id),
        offset: None,
    };
    event
}

/// Every cause in an error chain, joined, so a warning says what actually broke.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Read an EVTX file (from `path`, or from `buffer` when the caller already holds its bytes, as
/// for a decompressed `.evtx.gz`), calling `map` on every decoded event or per-record warning
/// inside the parser's worker threads, and `sink` on each mapped value in file order together
/// with whether the record decoded. Chunk-level damage reaches `sink` as `Err(Warning)`.
///
/// `map` runs in parallel, which is where a caller puts per-event work such as detection.
pub fn read<U, M, S>(
    path: &Path,
    source: &str,
    buffer: Option<Vec<u8>>,
    threads: usize,
    map: M,
    mut sink: S,
) -> Result<(), IngestError>
where
    U: Send + 'static,
    M: Fn(Result<Event, Warning>) -> U + Send + Sync + Clone + 'static,
    S: FnMut(Result<(U, bool), Warning>),
{
    let bad = |e: evtx::err::EvtxError| IngestError::Evtx {
        path: path.to_path_buf(),
        reason: chain(&e),
    };
    let settings = ParserSettings::new().num_threads(threads);
    let source: Arc<str> = Arc::from(source);
    let src = source.clone();
    let mut each = |parser_records: &mut dyn Iterator<Item = evtx::err::Result<(U, bool)>>| {
        for item in parser_records {
            sink(item.map_err(|e| Warning::new(&source, None, chain(&e))));
        }
    };
    let f = move |rec: evtx::err::Result<evtx::EvtxRecord<'_>>| {
        let item = match rec.and_then(|r| r.into_json_value()) {
            Ok(r) => Ok(decode_record(r.data, r.event_record_id, r.timestamp, &src)),
            Err(e) => Err(Warning::new(&src, None, chain(&e))),
        };
        let ok = item.is_ok();
        Ok((map(item), ok))
    };
    match buffer {
        Some(buf) => {
            let mut parser = EvtxParser::from_buffer(buf)
                .map_err(bad)?
                .with_configuration(settings);
            each(&mut parser.serialized_records(f));
        }
        None => {
            let mut parser = EvtxParser::from_path(path)
                .map_err(bad)?
                .with_configuration(settings);
            each(&mut parser.serialized_records(f));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_system_fields_userdata_and_system_time() {
        let raw = json!({"Event": {"System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Eventlog"}},
            "EventID": 1102, "Channel": "Security", "Computer": "DC01",
            "TimeCreated": {"#attributes": {"SystemTime": "2024-03-01T10:00:00.5Z"}}},
            "UserData": {"LogFileCleared": {"SubjectUserName": "mallory"}}}});
        let ev = decode_record(raw, 42, jiff::Timestamp::UNIX_EPOCH, "x.evtx");
        assert_eq!(ev.ecs.channel.as_deref(), Some("Security"));
        assert_eq!(ev.ecs.event_code.as_deref(), Some("1102"));
        assert_eq!(ev.ecs.host_name.as_deref(), Some("DC01"));
        assert_eq!(ev.ecs.user_name.as_deref(), Some("mallory"));
        assert_eq!(ev.origin.record_id, Some(42));
        assert_eq!(ev.timestamp.to_string(), "2024-03-01T10:00:00.5Z");
    }

    #[test]
    fn garbage_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.evtx");
        std::fs::write(&p, b"ElfFile\0garbage").unwrap();
        let mut n = 0;
        let r = read(&p, "bad.evtx", None, 1, |x| x.is_ok(), |_| n += 1);
        assert!(r.is_err() || n > 0);
    }
}
