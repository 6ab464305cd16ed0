//! Zeek's default log format: tab-separated values under `#` headers.
//!
//! # What it does
//! [`TsvReader`] reads a log line by line, keeping the header state: `#separator` (written
//! `\x09`), `#set_separator`, `#empty_field` (`(empty)`), `#unset_field` (`-`), `#path`,
//! `#fields` and `#types`. Each data row becomes a JSON object shaped as Zeek's own JSON writer
//! would write it: unset fields left out, `(empty)` an empty string or set, numbers (`count`,
//! `int`, `port`, `double`, `interval`, `time`) as JSON numbers, `bool` as `true`/`false`,
//! `set[..]`/`vector[..]` as arrays, `\xHH` and `\\` escapes undone; then
//! [`super::decode_value`] decodes it. A new header (logs concatenated with `cat`, or one file
//! per rotation read as one stream) starts afresh; `#close` ends a log.
//!
//! A row that cannot be read is a warning naming its line, and the next row goes on: a row with
//! more or fewer columns than `#fields` names (a file cut short mid-row, or rows of another
//! log), a row before any `#fields`, a row that is not text (binary junk), a `#types` header that
//! does not match `#fields`.
//!
//! # Why it matters
//! TSV is what a Zeek sensor writes unless told otherwise, and the headers are the only place
//! that says which column is which: reading columns by position without them would silently
//! put one log's fields under another's names.
//!
//! # Example
//! After `#fields ts uid id.orig_h ...` and `#types time string addr ...`, the row
//! `1692161622.036086 Cnsu5m395zFmE9ikp4 192.168.1.41 ...` gives
//! `{"ts": 1692161622.036086, "uid": "Cnsu5m395zFmE9ikp4", "id.orig_h": "192.168.1.41", ...}`.
//!
//! # References
//! Zeek documentation, "Zeek Log Formats and Inspection" (TSV format).

use serde_json::{Map, Number, Value};
use wardwatch_core::{Event, Origin};

/// Where a Zeek TSV file's header starts: the first non-comment line.
pub(crate) const SEPARATOR_HEADER: &str = "#separator";

/// Whether the head of a file is a Zeek TSV log: its first line that is not a `##` comment (a
/// test tool's banner) is the `#separator` header.
pub fn looks_like_tsv(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    head.split(|b| *b == b'\n')
        .map(|l| l.trim_ascii_start())
        .find(|l| !l.trim_ascii().is_empty() && !l.starts_with(b"##"))
        .is_some_and(|l| {
            l.starts_with(SEPARATOR_HEADER.as_bytes())
                || std::str::from_utf8(l).is_ok_and(|t| is_name_row(t.trim_end()))
        })
}

/// A row of column names as `zeek-cut` writes it in place of the `#` headers: tab-separated
/// names, the first one `ts`.
fn is_name_row(line: &str) -> bool {
    let mut names = line.split('\t');
    names.next() == Some("ts")
        && line.contains('\t')
        && line.split('\t').all(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.".contains(&b))
        })
}

/// The header state of one Zeek TSV stream.
#[derive(Debug, Clone)]
pub struct TsvReader {
    separator: String,
    set_separator: String,
    empty: String,
    unset: String,
    path: Option<String>,
    fields: Option<Vec<String>>,
    types: Option<Vec<String>>,
    fields_line: u64,
    closed: bool,
}

impl Default for TsvReader {
    fn default() -> Self {
        TsvReader {
            separator: "\t".into(),
            set_separator: ",".into(),
            empty: "(empty)".into(),
            unset: "-".into(),
            path: None,
            fields: None,
            types: None,
            fields_line: 0,
            closed: false,
        }
    }
}

impl TsvReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Read line number `line_no` (without its line end): `None` for a header or comment,
    /// the decoded record, or why the row cannot be read.
    pub fn line(
        &mut self,
        line: &[u8],
        line_no: u64,
        origin: Origin,
    ) -> Option<Result<Event, String>> {
        let text = match std::str::from_utf8(line) {
            Ok(t) if !t.bytes().any(|b| b < 0x20 && b != b'\t') => t,
            _ => {
                return Some(Err(format!(
                    "line {line_no} is not Zeek text (binary data or bytes that are not UTF-8)"
                )));
            }
        };
        if let Some(header) = text.strip_prefix('#') {
            return self.header(header, line_no).map(Err);
        }
        if self.fields.is_none() && self.separator == "\t" && is_name_row(text) {
            // `zeek-cut` output: the names without their types (values are typed by their
            // text: whole numbers as numbers, the rest as text).
            self.fields = Some(text.split('\t').map(str::to_string).collect());
            self.fields_line = line_no;
            self.path = self.path.take().or_else(|| self.path_from_names());
            return None;
        }
        Some(
            self.row(text, line_no)
                .map(|v| super::decode_value(v, origin)),
        )
    }

    /// Apply one header line (without its `#`); a warning when it contradicts another.
    fn header(&mut self, header: &str, line_no: u64) -> Option<String> {
        if let Some(rest) = header.strip_prefix("separator") {
            // `#separator \x09` is the one header written with a space, as the separator
            // is not known yet.
            *self = TsvReader {
                separator: unescape(rest.trim_start_matches([' ', '\t'])),
                ..TsvReader::default()
            };
            if self.separator.is_empty() {
                self.separator = "\t".into();
            }
            return None;
        }
        let (name, value) = match header.split_once(self.separator.as_str()) {
            Some(pair) => pair,
            None => header.split_once(' ').unwrap_or((header, "")),
        };
        let list = || -> Vec<String> {
            value
                .split(self.separator.as_str())
                .map(str::to_string)
                .collect()
        };
        match name {
            "set_separator" => self.set_separator = unescape(value),
            "empty_field" => self.empty = unescape(value),
            "unset_field" => self.unset = unescape(value),
            "path" => self.path = Some(value.to_string()),
            "open" => self.closed = false,
            "close" => self.closed = true,
            "fields" => {
                self.fields = Some(list());
                self.types = None;
                self.fields_line = line_no;
                self.closed = false;
                self.path = self.path.take().or_else(|| self.path_from_names());
            }
            "types" => {
                let types = list();
                let named = self.fields.as_ref().map_or(0, Vec::len);
                if types.len() != named {
                    self.types = None;
                    return Some(format!(
                        "line {line_no}: #types names {} columns, #fields (line {}) {named}; \
                         values are read as text",
                        types.len(),
                        self.fields_line
                    ));
                }
                self.types = Some(types);
            }
            // `## comments` and headers other writers add.
            _ => {}
        }
        None
    }

    /// Without `#path`, the log a header's column names belong to (every column counts, also
    /// those a row leaves unset).
    fn path_from_names(&self) -> Option<String> {
        let names: Map<String, Value> = self
            .fields
            .as_ref()?
            .iter()
            .map(|n| (n.clone(), Value::Null))
            .collect();
        super::path_from_fields(&names).map(str::to_string)
    }

    fn row(&self, text: &str, line_no: u64) -> Result<Value, String> {
        let Some(fields) = &self.fields else {
            return Err(format!(
                "line {line_no}: a data row before any #fields header (not a Zeek log, or its \
                 header was cut off)"
            ));
        };
        if self.closed {
            return Err(format!(
                "line {line_no}: a data row after #close without a new header"
            ));
        }
        let columns: Vec<&str> = text.split(self.separator.as_str()).collect();
        if columns.len() != fields.len() {
            return Err(format!(
                "line {line_no} has {} columns where #fields (line {}) names {}: a row cut \
                 short, or a row of another log",
                columns.len(),
                self.fields_line,
                fields.len()
            ));
        }
        let mut obj = Map::with_capacity(fields.len() + 1);
        if let Some(path) = &self.path {
            obj.insert("_path".into(), Value::String(path.clone()));
        }
        for (i, (name, raw)) in fields.iter().zip(&columns).enumerate() {
            if *raw == self.unset {
                continue;
            }
            let ty = match &self.types {
                Some(t) => t[i].as_str(),
                None if raw.bytes().all(|b| b.is_ascii_digit()) => "count",
                None => "string",
            };
            obj.insert(name.clone(), self.value(raw, ty));
        }
        Ok(Value::Object(obj))
    }

    /// One column's value as Zeek's JSON writer would write it.
    fn value(&self, raw: &str, ty: &str) -> Value {
        if let Some(inner) = ty
            .strip_prefix("set[")
            .or_else(|| ty.strip_prefix("vector["))
            .and_then(|t| t.strip_suffix(']'))
        {
            if raw == self.empty {
                return Value::Array(Vec::new());
            }
            return Value::Array(
                raw.split(self.set_separator.as_str())
                    .map(|item| {
                        if item == self.unset {
                            Value::Null
                        } else {
                            scalar(item, inner)
                        }
                    })
                    .collect(),
            );
        }
        if raw == self.empty {
            return Value::String(String::new());
        }
        scalar(raw, ty)
    }
}

/// One scalar column by its Zeek type; text that does not read as its type stays text.
fn scalar(raw: &str, ty: &str) -> Value {
    match ty {
        "count" | "port" => raw.parse::<u64>().ok().map(Value::from),
        "int" => raw.parse::<i64>().ok().map(Value::from),
        "double" | "interval" | "time" => raw
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number),
        "bool" => match raw {
            "T" => Some(Value::Bool(true)),
            "F" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    }
    .unwrap_or_else(|| Value::String(unescape(raw)))
}

/// Undo Zeek's escapes: `\xHH` (the separator, non-printable bytes) and `\\`.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
            if bytes.get(i + 1) == Some(&b'x')
                && let Some(hex) = s.get(i + 2..i + 4)
                && let Ok(b) = u8::from_str_radix(hex, 16)
            {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_core::SourceKind;

    const HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n\
#unset_field\t-\n#path\tconn\n#open\t2023-08-16-01-28-55\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\ttunnel_parents\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tset[string]\n";

    fn read(text: &str) -> (Vec<Event>, Vec<String>) {
        let mut reader = TsvReader::new();
        let mut events = Vec::new();
        let mut warnings = Vec::new();
        for (i, line) in text.lines().enumerate() {
            match reader.line(line.as_bytes(), i as u64 + 1, Origin::default()) {
                Some(Ok(e)) => events.push(e),
                Some(Err(w)) => warnings.push(w),
                None => {}
            }
        }
        (events, warnings)
    }

    #[test]
    fn rows_become_zeek_json_records() {
        let text = format!(
            "{HEADER}1692161622.036086\tCnsu5\t192.168.1.41\t52605\t192.168.1.4\t53\tudp\tdns\t0.5\t39\t55\tSF\tT\t(empty)\n\
1692161623.5\tCabc\t192.168.1.41\t49556\t192.168.1.9\t445\ttcp\t-\t-\t-\t-\tS0\tF\ta,b\n#close\t2023-08-16-01-30-00\n"
        );
        let (events, warnings) = read(&text);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(events.len(), 2);
        let e = &events[0];
        assert_eq!(e.source_kind, SourceKind::Zeek);
        assert_eq!(e.timestamp.to_string(), "2023-08-16T04:53:42.036086Z");
        assert_eq!(e.raw["_path"], "conn");
        assert_eq!(e.raw["id.orig_p"], 52605);
        assert_eq!(e.raw["local_orig"], true);
        assert_eq!(e.raw["tunnel_parents"], Value::Array(vec![]));
        assert_eq!(e.ecs.source_ip.as_deref(), Some("192.168.1.41"));
        assert_eq!(e.ecs.destination_port, Some(53));
        assert_eq!(e.ecs.network_transport.as_deref(), Some("udp"));
        assert_eq!(e.ecs.network_protocol.as_deref(), Some("dns"));
        assert_eq!(e.ecs.source_bytes, Some(39));
        assert_eq!(e.ecs.event_duration, Some(500_000_000));
        assert_eq!(e.ecs.event_outcome.as_deref(), Some("success"));
        let s0 = &events[1];
        assert!(s0.raw.get("service").is_none(), "unset fields are left out");
        assert_eq!(s0.raw["tunnel_parents"], serde_json::json!(["a", "b"]));
        assert_eq!(s0.ecs.event_action.as_deref(), Some("S0"));
        assert_eq!(s0.ecs.event_outcome.as_deref(), Some("failure"));
    }

    #[test]
    fn zeek_cut_output_reads_by_its_name_row() {
        let (events, warnings) = read(
            "### BTest baseline\nts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\trequest_type\tclient\n\
XXXXXXXXXX.XXXXXX\tC1\t10.0.0.1\t54544\t10.0.0.2\t88\tAS\tbob/CORP\n",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(events[0].ecs.event_code.as_deref(), Some("kerberos"));
        assert_eq!(events[0].raw["id.orig_p"], 54544);
        assert_eq!(events[0].ecs.user_name.as_deref(), Some("bob"));
        assert_eq!(events[0].time_text.as_deref(), Some("XXXXXXXXXX.XXXXXX"));
    }

    #[test]
    fn escapes_are_undone() {
        assert_eq!(
            unescape("\\\\\\\\WS2016\\\\encrypted"),
            "\\\\WS2016\\encrypted"
        );
        assert_eq!(unescape("a\\x09b\\x2cc"), "a\tb,c");
        assert_eq!(unescape("\\xZZ"), "\\xZZ");
        assert_eq!(unescape("plain"), "plain");
    }

    #[test]
    fn bad_rows_warn_with_their_line_and_the_rest_decodes() {
        let text = format!(
            "1.0\tno header yet\n{HEADER}1692161622.0\tCx\t10.0.0.1\n\
1692161622.0\tCy\t10.0.0.1\t1\t10.0.0.2\t22\ttcp\tssh\t1.0\t1\t1\tSF\tT\t-\n\
\u{1}\u{2}junk\u{0}\n#types\ttime\tstring\n"
        );
        let (events, warnings) = read(&text);
        assert_eq!(events.len(), 1);
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(warnings[0].starts_with("line 1: a data row before any #fields"));
        assert!(
            warnings[1].starts_with("line 10 has 3 columns where #fields (line 8) names 14"),
            "{}",
            warnings[1]
        );
        assert!(warnings[2].starts_with("line 12 is not Zeek text"));
        assert!(warnings[3].contains("#types names 2 columns"));
    }

    #[test]
    fn a_new_header_starts_afresh_and_rows_after_close_warn() {
        let text = "#separator \\x09\n#path\tdce_rpc\n#fields\tts\tendpoint\toperation\n\
#types\ttime\tstring\tstring\n1.5\tdrsuapi\tDRSGetNCChanges\n#close\tx\n2.0\tsvcctl\tCreateServiceW\n\
#separator \\x7c\n#path|ssh\n#fields|ts|auth_success\n#types|time|bool\n3.0|F\n";
        let (events, warnings) = read(text);
        assert_eq!(events.len(), 2, "{warnings:?}");
        assert_eq!(events[0].raw["_path"], "dce_rpc");
        assert_eq!(
            events[0].ecs.event_action.as_deref(),
            Some("DRSGetNCChanges")
        );
        assert_eq!(events[1].raw["_path"], "ssh");
        assert_eq!(events[1].ecs.event_outcome.as_deref(), Some("failure"));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("after #close"));
    }

    #[test]
    fn detection_skips_test_banners() {
        assert!(looks_like_tsv(b"#separator \\x09\n#path\tconn\n"));
        assert!(looks_like_tsv(
            b"### BTest baseline data\n#separator \\x09\n"
        ));
        assert!(looks_like_tsv(b"### banner\nts\tuid\tid.orig_h\n"));
        assert!(!looks_like_tsv(b"{\"ts\":1}\n"));
        assert!(!looks_like_tsv(b"ts is not a header\n"));
        assert!(!looks_like_tsv(b"<13>Jan  1 00:00:00 host x\n"));
    }
}
