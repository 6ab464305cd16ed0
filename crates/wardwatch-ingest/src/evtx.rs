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

/// The `System` and the `EventData` (or `UserData`) objects of a rendered record.
pub type SystemAndData<'a> = (
    Option<&'a Map<String, Value>>,
    Option<&'a Map<String, Value>>,
);

/// The `Event.System` and `Event.EventData`/`UserData` parts of a rendered EVTX record.
pub fn system_and_data(raw: &Value) -> SystemAndData<'_> {
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
        id: None,
    };
    event
}

/// An EVTX record already rendered as JSON elsewhere (`evtx_dump -o jsonl`, SigmaHQ's
/// regression samples): the same layout as ours, so it decodes to the same event.
pub fn decode_value(raw: Value, origin: Origin) -> Event {
    let record_id = raw
        .pointer("/Event/System/EventRecordID")
        .and_then(Value::as_u64)
        .or(origin.record_id)
        .unwrap_or(0);
    let mut event = decode_record(raw, record_id, jiff::Timestamp::UNIX_EPOCH, &origin.source);
    event.origin = origin;
    event
}

/// Size of the EVTX file header and of each chunk after it.
const FILE_HEADER_SIZE: u64 = 4096;
const CHUNK_SIZE: u64 = 65536;

/// The byte offset in the file that an `evtx` error points at, when it says: the start of a
/// damaged chunk, or a record inside a known chunk.
fn offset_of(e: &evtx::err::EvtxError) -> Option<u64> {
    use evtx::err::EvtxError as E;
    let chunk_start = |c: u64| c.checked_mul(CHUNK_SIZE)?.checked_add(FILE_HEADER_SIZE);
    match e {
        E::FailedToParseChunk { chunk_id, .. } => chunk_start(*chunk_id),
        E::FailedToReadRecordAt {
            chunk: Some(c),
            offset,
            ..
        } => chunk_start(*c)?.checked_add(*offset),
        E::FailedToParseRecord { source, .. } => offset_of(source),
        _ => None,
    }
}

/// A file cut inside a chunk (a copy taken while the log was written, a partial download):
/// the `evtx` crate reads whole chunks only and passes over the rest without a word, so the
/// warning is ours. `len` is the file's length.
fn partial_chunk_warning(source: &str, len: u64) -> Option<Warning> {
    let rest = len.checked_sub(FILE_HEADER_SIZE)? % CHUNK_SIZE;
    if rest == 0 {
        return None;
    }
    let at = len - rest;
    let chunk = (at - FILE_HEADER_SIZE) / CHUNK_SIZE;
    Some(Warning::new(
        source,
        Some(at),
        format!(
            "the file ends inside chunk {chunk} ({rest} of {CHUNK_SIZE} bytes present); its records were not read"
        ),
    ))
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
    let len = match &buffer {
        Some(buf) => Some(buf.len() as u64),
        None => std::fs::metadata(path).ok().map(|m| m.len()),
    };
    let mut each = |parser_records: &mut dyn Iterator<Item = evtx::err::Result<(U, bool)>>| {
        for item in parser_records {
            sink(item.map_err(|e| Warning::new(&source, offset_of(&e), chain(&e))));
        }
        if let Some(w) = len.and_then(|len| partial_chunk_warning(&source, len)) {
            sink(Err(w));
        }
    };
    let f = move |rec: evtx::err::Result<evtx::EvtxRecord<'_>>| {
        let item = match rec.and_then(|r| r.into_json_value()) {
            Ok(r) => Ok(decode_record(r.data, r.event_record_id, r.timestamp, &src)),
            Err(e) => Err(Warning::new(&src, offset_of(&e), chain(&e))),
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
    fn regression_truncated_file_warns_about_its_partial_chunk() {
        assert!(partial_chunk_warning("f", 4096 + 2 * 65536).is_none());
        assert!(partial_chunk_warning("f", 100).is_none());
        let w = partial_chunk_warning("f.evtx", 4096 + 2 * 65536 + 40_000).unwrap();
        assert_eq!(w.source, "f.evtx");
        assert_eq!(w.offset, Some(4096 + 2 * 65536));
        assert!(
            w.message.contains("inside chunk 2 (40000 of 65536 bytes"),
            "{}",
            w.message
        );
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
