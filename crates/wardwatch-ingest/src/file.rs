//! Reading whole files: format detection, transparent gzip, and the per-file summary.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use wardwatch_core::{Event, Origin};

use crate::IngestError;

/// A file format Wardwatch decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Windows event log (`ElfFile` magic).
    Evtx,
    /// One JSON object per line: Winlogbeat ECS, flat Sysmon-style JSON, or any JSON.
    JsonLines,
    /// Suricata EVE JSON, one object per line.
    SuricataEve,
    /// Syslog text, one message per line (RFC 5424 or RFC 3164).
    Syslog,
    /// An XML document of IHE ATNA / DICOM audit messages (one or several `AuditMessage`s).
    AuditXml,
    /// Zeek's default tab-separated log with `#` headers.
    ZeekTsv,
    /// Zeek JSON lines (one record per line).
    ZeekJson,
    /// Mail: one message (`.eml`), an mbox, or a batch-SMTP transcript, scanned by
    /// `wardwatch-mail` into `email.*` events (one per message).
    Mail,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Evtx => "evtx",
            Format::JsonLines => "jsonl",
            Format::SuricataEve => "suricata-eve",
            Format::Syslog => "syslog",
            Format::AuditXml => "atna-xml",
            Format::ZeekTsv => "zeek-tsv",
            Format::ZeekJson => "zeek-json",
            Format::Mail => "mail",
        }
    }
}

/// A record that could not be decoded: where it is and why. The file goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub source: String,
    /// Byte offset of the record in the (decompressed) file, when known.
    pub offset: Option<u64>,
    /// What went wrong.
    pub message: String,
}

impl Warning {
    pub fn new(source: &str, offset: Option<u64>, message: impl Into<String>) -> Self {
        Warning {
            source: source.to_string(),
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} at byte {}: {}", self.source, o, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

/// What one file gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileSummary {
    /// Events decoded.
    pub events: u64,
    /// Records skipped with a warning.
    pub skipped: u64,
}

const EVTX_MAGIC: &[u8] = b"ElfFile\0";
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The format of a file whose (decompressed) content starts with `head`, or `None`.
pub fn detect_format(head: &[u8]) -> Option<Format> {
    if head.starts_with(EVTX_MAGIC) {
        return Some(Format::Evtx);
    }
    // Windows tools (PowerShell's `Out-File -Encoding utf8`, Notepad) start text with a UTF-8
    // byte order mark, which would otherwise hide the `{` of a JSON lines file.
    let head = head.strip_prefix(UTF8_BOM).unwrap_or(head);
    if crate::zeek::tsv::looks_like_tsv(head) {
        return Some(Format::ZeekTsv);
    }
    let text = String::from_utf8_lossy(head);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    if crate::mail::looks_like_mail(&text) {
        return Some(Format::Mail);
    }
    if first.starts_with('{') {
        if crate::eve::looks_like_eve(first) {
            Some(Format::SuricataEve)
        } else if crate::zeek::looks_like_zeek(first) {
            Some(Format::ZeekJson)
        } else {
            Some(Format::JsonLines)
        }
    } else if head.contains(&0) {
        None
    } else if first.starts_with("<?xml")
        || first.starts_with('<') && first[1..].starts_with(|c: char| c.is_ascii_alphabetic())
    {
        // An XML element, not a syslog priority (`<34>`).
        Some(Format::AuditXml)
    } else {
        Some(Format::Syslog)
    }
}

pub(crate) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> IngestError + '_ {
    move |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Decode one file, whatever its format (gzip is undone first; a `.zip` or `.tar[.gz]` archive
/// is read member by member, see [`crate::archive`]), calling `map` on every decoded event or
/// per-record warning and `sink` on each mapped value in file order. EVTX chunks are decoded on
/// up to `threads` threads, with `map` running on those threads.
pub fn decode_file<U, M, S>(
    path: &Path,
    threads: usize,
    map: M,
    mut sink: S,
) -> Result<(Format, FileSummary), IngestError>
where
    U: Send + 'static,
    M: Fn(Result<Event, Warning>) -> U + Send + Sync + Clone + 'static,
    S: FnMut(Result<U, Warning>),
{
    let file = File::open(path).map_err(io_err(path))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let head = reader.fill_buf().map_err(io_err(path))?;
    if head.starts_with(crate::archive::ZIP_MAGIC) {
        drop(reader);
        return crate::archive::decode_zip(path, threads, map, sink);
    }
    let gz = head.starts_with(GZIP_MAGIC);
    let mut reader: Box<dyn BufRead> = if gz {
        Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    };
    let head = reader.fill_buf().map_err(io_err(path))?;
    if crate::archive::is_tar(head) {
        return crate::archive::decode_tar(path, reader, threads, map, sink);
    }
    let source = path.display().to_string();
    let format =
        decode_stream(path, &source, reader, gz, threads, map, &mut sink)?.ok_or_else(|| {
            IngestError::UnknownFormat {
                path: path.to_path_buf(),
            }
        })?;
    Ok(format)
}

/// Decode one stream (a file's content, or an archive member's) named `source` in events and
/// warnings; `None` when its format is not one Wardwatch decodes. `whole` asks for EVTX to be
/// read into memory first (it needs random access: a decompressed stream or an archive member).
pub(crate) fn decode_stream<U, M, S>(
    path: &Path,
    source: &str,
    mut reader: Box<dyn BufRead + '_>,
    whole: bool,
    threads: usize,
    map: M,
    sink: &mut S,
) -> Result<Option<(Format, FileSummary)>, IngestError>
where
    U: Send + 'static,
    M: Fn(Result<Event, Warning>) -> U + Send + Sync + Clone + 'static,
    S: FnMut(Result<U, Warning>),
{
    let head = reader.fill_buf().map_err(io_err(path))?.to_vec();
    let Some(format) = detect_format(&head) else {
        return Ok(None);
    };
    let mut summary = FileSummary::default();
    let mut count = |ok: bool| {
        if ok {
            summary.events += 1
        } else {
            summary.skipped += 1
        }
    };
    if format == Format::Evtx {
        let buffer = if whole {
            let mut buf = Vec::new();
            reader.read_to_end(&mut buf).map_err(io_err(path))?;
            Some(buf)
        } else {
            None
        };
        drop(reader);
        crate::evtx::read(path, source, buffer, threads, map, |item| {
            count(matches!(item, Ok((_, true))));
            sink(item.map(|(u, _)| u));
        })?;
        return Ok(Some((format, summary)));
    }
    let source: Arc<str> = Arc::from(source);
    if format == Format::Mail {
        let mut bytes = Vec::new();
        reader
            .by_ref()
            .take(crate::mail::MAX_MAIL_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err(path))?;
        for (item, decoded) in crate::mail::decode(&bytes, &source) {
            if let Some(ok) = decoded {
                count(ok);
            }
            sink(Ok(map(item)));
        }
        return Ok(Some((format, summary)));
    }
    if format == Format::AuditXml {
        let mut text = Vec::new();
        reader
            .by_ref()
            .take(crate::atna::MAX_XML_BYTES as u64 + 1)
            .read_to_end(&mut text)
            .map_err(io_err(path))?;
        let origin = Origin {
            source: source.to_string(),
            record_id: Some(1),
            offset: Some(0),
            id: None,
        };
        let decoded = std::str::from_utf8(&text)
            .map_err(|e| format!("not UTF-8 (invalid byte at offset {})", e.valid_up_to()))
            .and_then(|xml| crate::atna::decode_xml(xml, &origin));
        match decoded {
            Ok(events) => {
                for e in events {
                    count(true);
                    sink(Ok(map(Ok(e))));
                }
            }
            Err(m) => {
                count(false);
                sink(Ok(map(Err(Warning::new(&source, Some(0), m)))));
            }
        }
        return Ok(Some((format, summary)));
    }
    if !matches!(format, Format::Syslog | Format::ZeekTsv) && is_json_document(&head) {
        let mut text = Vec::new();
        reader.read_to_end(&mut text).map_err(io_err(path))?;
        read_json_document(&text, &source, |item| {
            count(item.is_ok());
            sink(Ok(map(item)));
        });
        return Ok(Some((format, summary)));
    }
    let mut offset = 0u64;
    let mut line_no = 0u64;
    let mut buf = Vec::with_capacity(4096);
    let mut zeek = crate::zeek::tsv::TsvReader::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let at = offset;
        offset += n as u64;
        let line = trim_eol(&buf);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let origin = Origin {
            source: source.to_string(),
            record_id: Some(line_no),
            offset: Some(at),
            id: None,
        };
        let decoded = match format {
            Format::ZeekTsv => match zeek.line(line, line_no, origin) {
                Some(decoded) => decoded,
                None => continue,
            },
            Format::Syslog => match std::str::from_utf8(line) {
                Ok(text) => Ok(crate::syslog::decode_line(text, origin)),
                Err(e) => Err(format!(
                    "line {line_no} is not valid UTF-8 (invalid byte at column {})",
                    e.valid_up_to() + 1
                )),
            },
            // EVTX returned above; any other format is line-oriented JSON (NDJSON of FHIR
            // resources included: a Bundle on a line gives one event per entry).
            _ => {
                for decoded in crate::jsonl::decode_line_records(line, origin) {
                    let item = decoded.map_err(|e| {
                        Warning::new(&source, Some(at), format!("line {line_no}: {e}"))
                    });
                    count(item.is_ok());
                    sink(Ok(map(item)));
                }
                continue;
            }
        };
        let item = decoded.map_err(|m| Warning::new(&source, Some(at), m));
        count(item.is_ok());
        sink(Ok(map(item)));
    }
    Ok(Some((format, summary)))
}

/// Whether a JSON file is one pretty-printed document (or a JSON array of records) rather than
/// one object per line: its first non-blank line opens an object on its own, or an array.
fn is_json_document(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let first = head
        .split(|b| *b == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty());
    matches!(first, Some(l) if l == b"{" || l.starts_with(b"["))
}

/// Every record of a JSON document file: objects one after another, or arrays of them. A
/// syntax error stops the file there (JSON cannot be resynchronized), with a warning at its
/// byte offset.
fn read_json_document(text: &[u8], source: &str, mut each: impl FnMut(Result<Event, Warning>)) {
    let text_start = if text.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut stream =
        serde_json::Deserializer::from_slice(&text[text_start..]).into_iter::<serde_json::Value>();
    let mut record = 0u64;
    loop {
        let at = (text_start + stream.byte_offset()) as u64;
        let value = match stream.next() {
            None => break,
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                each(Err(Warning::new(
                    source,
                    Some(at),
                    format!("invalid JSON: {e}"),
                )));
                break;
            }
        };
        let values = match value {
            serde_json::Value::Array(items) => items,
            v => match crate::fhir::bundle_entries(&v) {
                Some(entries) => entries,
                None => vec![v],
            },
        };
        for v in values {
            record += 1;
            let origin = Origin {
                source: source.to_string(),
                record_id: Some(record),
                offset: Some(at),
                id: None,
            };
            each(
                crate::jsonl::decode_value(v, origin)
                    .map_err(|m| Warning::new(source, Some(at), format!("record {record}: {m}"))),
            );
        }
    }
}

fn trim_eol(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = b {
        b = rest;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_printed_documents_and_arrays_are_documents_not_lines() {
        assert!(is_json_document(b"\n{\n  \"Event\": {}\n}\n"));
        assert!(is_json_document(b"[{\"a\":1},{\"a\":2}]"));
        assert!(!is_json_document(b"{\"a\": 1}\n{\"a\": 2}\n"));
    }

    #[test]
    fn document_records_decode_and_a_syntax_error_stops_with_its_offset() {
        let text = br##"{
  "Event": {"System": {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
    "EventRecordID": 7, "Computer": "WS1",
    "TimeCreated": {"#attributes": {"SystemTime": "2025-01-01T00:00:00Z"}}},
    "EventData": {"Image": "C:\\a.exe"}}
}
[{"message": "x", "@timestamp": "2025-01-01T00:00:01Z"}, 3]
{"broken": "##;
        let mut events = Vec::new();
        let mut warnings = Vec::new();
        read_json_document(text, "f.json", |item| match item {
            Ok(e) => events.push(e),
            Err(w) => warnings.push(w),
        });
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].source_kind, wardwatch_core::SourceKind::Evtx);
        assert_eq!(events[0].ecs.host_name.as_deref(), Some("WS1"));
        assert_eq!(events[0].origin.record_id, Some(1));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].message.contains("expected a JSON object"));
        assert!(warnings[1].message.contains("invalid JSON"));
        assert!(warnings[1].offset.unwrap() > 200);
    }
}
