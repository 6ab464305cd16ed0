//! Syslog records that a shipper turned into JSON documents: the same event as the syslog line.
//!
//! # What it does
//! [`shape`] recognizes three shapes and [`decode`] makes each a [`SourceKind::Syslog`] event
//! with the fields a syslog listener gives (`host.name`, `process.name`, `process.pid`,
//! `log.syslog.facility.name`, `message`, and the authentication fields of `linux_auth.rs`),
//! keeping the document unchanged as [`Event::raw`]:
//! - **syslog-ng** `elasticsearch-http()` (and any `format-json --scope rfc5424` template):
//!   upper-case macros `HOST`, `PROGRAM`, `PID`, `MESSAGE`, `FACILITY`, `PRIORITY` (the
//!   severity's name), `PRI`, `ISODATE`, `@timestamp`;
//! - **Fluent Bit**'s `syslog-rfc3164` / `syslog-rfc5424` parsers: `pri`, `host`, `ident`, `pid`,
//!   `msgid`, `message`, `time`;
//! - **Filebeat**'s system module (`event.module: system`, datasets `system.auth` and
//!   `system.syslog`) and any ECS document with `process.name` and `log.syslog.*`: without
//!   Elasticsearch's ingest pipeline the `message` is the whole syslog line
//!   (`Dec  7 04:30:00 db01 sshd[811]: Failed password ...`), which is parsed as syslog; after a
//!   pipeline (or from journald) it is the text alone, with `process.name` beside it.
//!
//! Time: the document's `@timestamp` (what every one of them sends to an Elasticsearch
//! `_bulk`), else `ISODATE`, `timestamp`, `time`, else the syslog line's own stamp.
//!
//! # Why it matters
//! Linux servers ship through whichever of these the team already runs. Before this module
//! syslog-ng's documents were stored as generic JSON — no host, no program, no message — so no
//! rule or analytic saw a hundred failed SSH passwords.
//!
//! # Example
//! `{"HOST":"db01","PROGRAM":"sshd","PID":"811","FACILITY":"authpriv","PRIORITY":"info",
//! "MESSAGE":"Failed password for root from 203.0.113.9 port 50022 ssh2",
//! "@timestamp":"2026-12-07T04:30:00+00:00"}` gives the event the line
//! `<86>1 2026-12-07T04:30:00+00:00 db01 sshd 811 - - Failed password ...` gives.
//!
//! # References
//! syslog-ng OSE 3.38 `scl/elasticsearch/elastic-http.conf` and the `format-json` template
//! function (`--scope rfc5424`); Fluent Bit `conf/parsers.conf` (`syslog-rfc3164`,
//! `syslog-rfc5424`); Filebeat `module/system/auth`; RFC 5424 §6.2.1 (PRI).

use serde_json::Value;
use wardwatch_core::{Ecs, Event, Origin, SourceKind};

use crate::doc::{ecs_of, first_text, lookup, overlay, pid_of, text_at};

/// Which shipper wrote a syslog document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    SyslogNg,
    FluentBit,
    Filebeat,
}

/// The syslog shape of a JSON object, if it has one.
pub(crate) fn shape(v: &Value) -> Option<Shape> {
    let o = v.as_object()?;
    if o.contains_key("MESSAGE")
        && ["HOST", "PROGRAM", "PRIORITY", "FACILITY"]
            .iter()
            .any(|k| o.contains_key(*k))
    {
        return Some(Shape::SyslogNg);
    }
    if o.contains_key("ident")
        && o.contains_key("message")
        && (o.contains_key("pri") || o.get("host").is_some_and(Value::is_string))
    {
        return Some(Shape::FluentBit);
    }
    let module = text_at(v, "event.module");
    let dataset = text_at(v, "event.dataset").unwrap_or_default();
    let system = module.as_deref() == Some("system")
        && matches!(dataset.as_str(), "system.auth" | "system.syslog");
    let ecs_syslog = lookup(v, "process.name").is_some()
        && (lookup(v, "log.syslog").is_some() || lookup(v, "log.syslog.facility.name").is_some());
    (lookup(v, "message").is_some() && (system || ecs_syslog)).then_some(Shape::Filebeat)
}

const TIME: &[&str] = &["@timestamp", "ISODATE", "timestamp", "time"];

/// Facility names by number (RFC 5424 §6.2.1, as `syslog_loose` names them).
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clockd", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// The facility of a PRI value (a number or its text).
fn facility_of_pri(v: &Value) -> Option<String> {
    let pri = pid_of(v)?;
    FACILITIES
        .get(usize::try_from(pri / 8).ok()?)
        .map(|f| f.to_string())
}

/// Decode a document of `shape` (see the module documentation).
pub(crate) fn decode(v: Value, shape: Shape, origin: Origin) -> Event {
    let base = ecs_of(&v);
    let (mut ecs, line_event) = match shape {
        Shape::SyslogNg => (
            Ecs {
                host_name: first_text(&v, &["HOST", "HOST_FROM"]),
                process_name: text_at(&v, "PROGRAM"),
                process_pid: v.get("PID").and_then(pid_of),
                syslog_facility: text_at(&v, "FACILITY")
                    .map(|f| f.to_ascii_lowercase())
                    .or_else(|| v.get("PRI").and_then(facility_of_pri)),
                message: text_at(&v, "MESSAGE"),
                ..Ecs::default()
            },
            None,
        ),
        Shape::FluentBit => (
            Ecs {
                host_name: text_at(&v, "host"),
                process_name: text_at(&v, "ident"),
                process_pid: v.get("pid").and_then(pid_of),
                syslog_facility: v.get("pri").and_then(facility_of_pri),
                message: text_at(&v, "message"),
                ..Ecs::default()
            },
            None,
        ),
        Shape::Filebeat => filebeat(&v, &origin),
    };
    // The document's own ECS fields fill what the syslog parts did not say.
    let mut full = base;
    full.message = None;
    ecs.event_kind = Some("event".into());
    overlay(&mut full, ecs);
    let mut ecs = full;
    if let (Some(program), Some(message)) = (ecs.process_name.clone(), ecs.message.clone())
        && !crate::linux_auth::normalize(&program, &message, &mut ecs)
    {
        crate::network_auth::normalize(&program, &message, &mut ecs);
    }
    let mut event = crate::doc::event_of(SourceKind::Syslog, v, TIME, ecs, origin);
    if event.time_text.is_none()
        && let Some(line) = line_event
    {
        event.timestamp = line.timestamp;
        event.time_text = line.time_text;
    }
    event
}

/// Filebeat: `message` is a whole syslog line unless a pipeline already split it.
fn filebeat(v: &Value, origin: &Origin) -> (Ecs, Option<Event>) {
    let message = text_at(v, "message").unwrap_or_default();
    let program = text_at(v, "process.name");
    let facility = text_at(v, "log.syslog.facility.name");
    if program.is_none() {
        // No year in an RFC 3164 stamp: the shipper's time decides it.
        let now = crate::doc::time_at(v, TIME).0;
        let now = if now == jiff::Timestamp::UNIX_EPOCH {
            jiff::Timestamp::now()
        } else {
            now
        };
        let line = crate::syslog::decode_line_at(&message, origin.clone(), now);
        let parsed = line.raw.get("unparsed").is_none();
        if parsed && line.ecs.process_name.is_some() {
            let mut ecs = line.ecs.clone();
            ecs.host_name = ecs
                .host_name
                .or_else(|| first_text(v, &["host.hostname", "host.name"]));
            ecs.syslog_facility = facility.or(ecs.syslog_facility);
            // The line's auth fields are recomputed by the caller from program and message.
            clear_auth(&mut ecs);
            return (ecs, Some(line));
        }
    }
    (
        Ecs {
            host_name: first_text(v, &["host.hostname", "host.name"]),
            process_name: program,
            process_pid: lookup(v, "process.pid").and_then(pid_of),
            syslog_facility: facility,
            message: Some(message).filter(|m| !m.is_empty()),
            ..Ecs::default()
        },
        None,
    )
}

fn clear_auth(ecs: &mut Ecs) {
    ecs.event_category = None;
    ecs.event_action = None;
    ecs.event_outcome = None;
    ecs.user_name = None;
    ecs.source_ip = None;
    ecs.source_port = None;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const LINE: &str = "<86>1 2026-12-07T04:30:00+00:00 db01 sshd 811 - - Failed password for root from 203.0.113.9 port 50022 ssh2";

    fn direct() -> Event {
        crate::syslog::decode_line(LINE, Origin::default())
    }

    fn doc(v: Value) -> Event {
        crate::jsonl::decode_value(v, Origin::default()).unwrap()
    }

    /// The fields every way of arriving must agree on.
    fn key(e: &Event) -> Value {
        json!({
            "kind": e.source_kind.as_str(), "time": e.timestamp.to_string(),
            "host": e.ecs.host_name, "program": e.ecs.process_name, "pid": e.ecs.process_pid,
            "facility": e.ecs.syslog_facility, "message": e.ecs.message,
            "category": e.ecs.event_category, "action": e.ecs.event_action,
            "outcome": e.ecs.event_outcome, "user": e.ecs.user_name,
            "source": e.ecs.source_ip, "port": e.ecs.source_port, "kind_": e.ecs.event_kind,
        })
    }

    #[test]
    fn syslog_ng_elasticsearch_http_document_is_the_syslog_event() {
        let want = key(&direct());
        assert_eq!(want["action"], "logon-failed");
        assert_eq!(want["facility"], "authpriv");
        let ng = doc(json!({
            "PROGRAM": "sshd", "PRIORITY": "info", "PID": "811",
            "MESSAGE": "Failed password for root from 203.0.113.9 port 50022 ssh2",
            "HOST_FROM": "relay", "HOST": "db01", "FACILITY": "authpriv",
            "@timestamp": "2026-12-07T04:30:00+00:00", "SOURCEIP": "127.0.0.1"
        }));
        assert_eq!(key(&ng), want);
        // The PRI number alone gives the facility too.
        let pri = doc(json!({"MESSAGE": "x", "PRI": "86", "HOST": "h"}));
        assert_eq!(pri.ecs.syslog_facility.as_deref(), Some("authpriv"));
    }

    #[test]
    fn fluent_bit_syslog_parser_record_is_the_syslog_event() {
        let fb = doc(json!({
            "@timestamp": "2026-12-07T04:30:00.000Z", "pri": "86", "host": "db01",
            "ident": "sshd", "pid": "811",
            "message": "Failed password for root from 203.0.113.9 port 50022 ssh2"
        }));
        assert_eq!(key(&fb), key(&direct()));
    }

    #[test]
    fn filebeat_system_module_line_and_split_forms_are_the_syslog_event() {
        let whole = doc(json!({
            "@timestamp": "2026-12-07T04:30:00.000Z",
            "event": {"module": "system", "dataset": "system.auth"},
            "host": {"name": "db01", "hostname": "db01"},
            "log": {"file": {"path": "/var/log/auth.log"}, "offset": 1},
            "message": "Dec  7 04:30:00 db01 sshd[811]: Failed password for root from 203.0.113.9 port 50022 ssh2"
        }));
        let mut want = key(&direct());
        // A file line carries no priority: its facility is unknown.
        want["facility"] = Value::Null;
        assert_eq!(key(&whole), want);
        let split = doc(json!({
            "@timestamp": "2026-12-07T04:30:00Z",
            "host": {"hostname": "db01"},
            "process": {"name": "sshd", "pid": 811},
            "log": {"syslog": {"facility": {"name": "authpriv"}}},
            "message": "Failed password for root from 203.0.113.9 port 50022 ssh2"
        }));
        assert_eq!(key(&split), key(&direct()));
    }

    #[test]
    fn other_json_is_not_taken_for_syslog() {
        for v in [
            json!({"message": "x", "host": "h"}),
            json!({"MESSAGE": "only"}),
            json!({"event": {"module": "nginx"}, "message": "x"}),
        ] {
            assert_eq!(shape(&v), None, "{v}");
        }
    }
}
