//! Syslog messages, RFC 5424 and RFC 3164 (BSD), one per line or datagram.
//!
//! # What it does
//! Parses the header with `syslog_loose` and keeps its parts in [`Event::raw`]: `protocol`
//! (`rfc5424`/`rfc3164`), `version`, `facility`, `severity`, `hostname`, `appname`, `procid`,
//! `msgid`, `structured_data` (an object per SD-ID, a parameter named twice becoming an array)
//! and `message`. A message that is a JSON object (`{...}` after the tag, or CEE's
//! `@cee: {...}`) is decoded into `raw.json`, and its ECS fields fill what the header did not
//! say; a CEF record (`CEF:0|...`) is split into `raw.cef` (see `cef.rs`) and mapped to the
//! normalized fields. `host.name` is the header's host name, `process.name` the APP-NAME or
//! tag, `log.syslog.facility.name` the facility, `message` the message text; an authenticating
//! program's message (sshd, PAM, sudo, su, login) adds the authentication fields
//! (`linux_auth.rs`).
//! A JSON body that is a network sensor's record (Zeek, Suricata EVE, or a Filebeat module
//! document holding one) is decoded as that record instead (`crate::zeek`, `crate::eve`),
//! with the relaying host as `observer.hostname`: the sensor's records read alike however
//! they came.
//!
//! Time: RFC 5424 stamps carry their offset. RFC 3164 stamps have neither year nor zone: they
//! are read as UTC, in the current year unless that would put them more than a day in the future
//! (a December line read in January), then in the year before; the stamp's own text is kept in
//! [`Event::time_text`]. A message without a stamp, or with one that cannot be represented,
//! gets the time it was received ("now").
//!
//! Decoding never fails: a line that is not syslog at all is kept whole as `message`, with the
//! time of now and `raw.unparsed = true`. [`decode_bytes`] takes a datagram that may not be
//! UTF-8, replaces the invalid bytes with U+FFFD and says so with `raw.invalid_utf8 = true`.
//!
//! # Why it matters
//! Syslog is how network gear, Linux servers, and many clinical systems and medical-device
//! gateways report; it is the lowest common denominator of a hospital network.
//!
//! # Example
//! `<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed` gives
//! `host.name` mymachine.example.com, facility `auth`, severity `crit`, appname `su`.
//!
//! # References
//! RFC 5424 (The Syslog Protocol); RFC 3164 (The BSD syslog Protocol); CEE log syntax
//! (`@cee:` cookie).

use chrono::FixedOffset;
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde_json::{Map, Value, json};
use syslog_loose::{IncompleteDate, Message, ProcId, Protocol, Variant};
use wardwatch_core::{Ecs, Event, Origin, SourceKind};

use crate::doc::{ecs_of, overlay};

/// Decode one syslog line, taking the current time as "now". Never fails.
pub fn decode_line(line: &str, origin: Origin) -> Event {
    decode_line_at(line, origin, Timestamp::now())
}

/// Decode one syslog datagram or line whose bytes may not be UTF-8: invalid sequences become
/// U+FFFD and `raw.invalid_utf8` is set. Trailing line ends and NUL bytes (some senders
/// terminate frames with them) are dropped first.
pub fn decode_bytes(bytes: &[u8], origin: Origin, now: Timestamp) -> Event {
    let mut bytes = bytes;
    while let [rest @ .., b'\n' | b'\r' | 0] = bytes {
        bytes = rest;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => decode_line_at(text, origin, now),
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            let mut event = decode_line_at(&text, origin, now);
            if let Value::Object(raw) = &mut event.raw {
                raw.insert("invalid_utf8".into(), Value::Bool(true));
            }
            event
        }
    }
}

/// [`decode_line`] with "now" given, which decides the year of RFC 3164 stamps and the time of
/// messages without one.
pub fn decode_line_at(line: &str, origin: Origin, now: Timestamp) -> Event {
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    let get_year = move |date: IncompleteDate| year_for(date, now);
    let utc = FixedOffset::east_opt(0);
    let parsed =
        syslog_loose::parse_message_with_year_exact_tz(line, get_year, utc, Variant::Either);
    let mut event = match parsed {
        Ok(msg) => from_message(line, &msg, now),
        Err(_) => unparsed(line, now),
    };
    event.origin = origin;
    event
}

/// A line that is not syslog: kept whole.
fn unparsed(line: &str, now: Timestamp) -> Event {
    let mut event = Event::new(
        SourceKind::Syslog,
        now,
        json!({ "message": line, "unparsed": true }),
    );
    event.ecs.event_kind = Some("event".into());
    event.ecs.message = Some(line.to_string());
    // FortiGate sends `<PRI>date=... time=... devname=...` with no syslog header at all.
    let body = line
        .strip_prefix('<')
        .and_then(|r| r.split_once('>'))
        .filter(|(pri, _)| {
            !pri.is_empty() && pri.len() <= 3 && pri.bytes().all(|b| b.is_ascii_digit())
        })
        .map_or(line, |(_, rest)| rest);
    crate::network_auth::normalize("", body, &mut event.ecs);
    event
}

fn from_message(line: &str, msg: &Message<&str>, now: Timestamp) -> Event {
    let mut raw = Map::new();
    let mut put = |k: &str, v: Value| {
        raw.insert(k.to_string(), v);
    };
    match msg.protocol {
        Protocol::RFC3164 => put("protocol", "rfc3164".into()),
        Protocol::RFC5424(version) => {
            put("protocol", "rfc5424".into());
            put("version", version.into());
        }
    }
    if let Some(f) = msg.facility {
        put("facility", f.as_str().into());
    }
    if let Some(s) = msg.severity {
        put("severity", s.as_str().into());
    }
    // A CEF record whose `CEF:` the loose header parser took for a host name or a tag.
    let cef_at = crate::cef::find(line);
    let before_cef = |part: &str| match (cef_at, offset_in(line, part)) {
        (Some(c), Some(o)) => o < c,
        _ => true,
    };
    let hostname = msg.hostname.filter(|h| before_cef(h));
    let appname = msg.appname.filter(|a| before_cef(a));
    if let Some(h) = hostname {
        put("hostname", h.into());
    }
    if let Some(a) = appname {
        put("appname", a.into());
    }
    let pid = match &msg.procid {
        Some(ProcId::PID(pid)) => {
            put("procid", (*pid).into());
            u64::try_from(*pid).ok()
        }
        Some(ProcId::Name(name)) => {
            put("procid", (*name).into());
            None
        }
        None => None,
    };
    if let Some(id) = msg.msgid {
        put("msgid", id.into());
    }
    if !msg.structured_data.is_empty() {
        put("structured_data", structured_data(msg));
    }
    let text = match cef_at {
        Some(c) if offset_in(line, msg.msg).is_some_and(|m| m > c) => &line[c..],
        _ => msg.msg,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    put("message", text.into());

    let mut ecs = Ecs {
        event_kind: Some("event".into()),
        host_name: hostname.map(str::to_string),
        process_pid: pid,
        process_name: appname.map(str::to_string),
        syslog_facility: msg.facility.map(|f| f.as_str().to_string()),
        message: Some(text.to_string()),
        ..Ecs::default()
    };
    let payload = json_payload(text);
    if let Some(p) = &payload
        && (crate::eve::is_eve(p) || crate::zeek::is_zeek(p) || crate::shipped::is_wrapper(p))
        && let Ok(mut sensor) = crate::jsonl::decode_value(p.clone(), Origin::default())
        && matches!(
            sensor.source_kind,
            SourceKind::SuricataEve | SourceKind::Zeek
        )
    {
        // A network sensor's record relayed over syslog (rsyslog or syslog-ng tailing
        // eve.json or Zeek's JSON logs) is that record; the relaying host is the sensor.
        if sensor.ecs.observer_hostname.is_none() {
            sensor.ecs.observer_hostname = hostname.map(str::to_string);
        }
        return sensor;
    }
    if let Some(payload) = payload {
        let mut inner = ecs_of(&payload);
        let inner_message = inner.message.take();
        overlay(&mut inner, ecs);
        ecs = inner;
        if inner_message.is_some() {
            ecs.message = inner_message;
        }
        put("json", payload);
    } else if let Some(cef) = cef_at.and_then(|c| crate::cef::parse(&line[c..])) {
        let mut inner = cef.ecs();
        let inner_message = inner.message.take();
        overlay(&mut inner, ecs);
        ecs = inner;
        if inner_message.is_some() {
            ecs.message = inner_message;
        }
        put("cef", cef.to_json());
    } else if crate::atna::looks_like_atna(text) {
        // IHE ATNA over syslog (RFC 5424 MSG = one AuditMessage): its fields win over the
        // header's; an unreadable one stays a plain message with the reason beside it.
        match crate::atna::decode_xml(text, &Origin::default()) {
            Ok(mut events) if !events.is_empty() => {
                let audit = events.swap_remove(0);
                let mut inner = audit.ecs;
                overlay(
                    &mut inner,
                    Ecs {
                        host_name: None,
                        message: None,
                        ..ecs.clone()
                    },
                );
                inner.host_name = inner.host_name.or(ecs.host_name.take());
                inner.message = ecs.message.take();
                ecs = inner;
                if let Value::Object(a) = audit.raw {
                    raw.extend(a);
                }
            }
            Ok(_) => {}
            Err(e) => {
                raw.insert("atna_error".into(), Value::String(e));
            }
        }
    } else if !appname.is_some_and(|app| crate::linux_auth::normalize(app, text, &mut ecs)) {
        // VPN, RADIUS and Wi-Fi authentication (some products write no usable tag).
        crate::network_auth::normalize(appname.unwrap_or(""), text, &mut ecs);
    }

    let time_text = msg.timestamp.and_then(|_| stamp_text(line, msg));
    let timestamp = msg
        .timestamp
        .and_then(|t| {
            let nanos = t.timestamp_subsec_nanos().min(999_999_999);
            Timestamp::new(t.timestamp(), nanos as i32).ok()
        })
        .unwrap_or(now);
    let mut event = Event::new(SourceKind::Syslog, timestamp, Value::Object(raw));
    event.time_text = time_text;
    event.ecs = ecs;
    event
}

/// Structured data as `{"SD-ID": {"param": "value"}}`; a parameter named twice in one element
/// (RFC 5424 allows it) becomes an array of its values.
fn structured_data(msg: &Message<&str>) -> Value {
    let mut out = Map::new();
    for element in &msg.structured_data {
        let entry = out
            .entry(element.id.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(params) = entry else {
            continue;
        };
        for (name, value) in element.params() {
            match params.get_mut(*name) {
                None => {
                    params.insert(name.to_string(), Value::String(value));
                }
                Some(Value::Array(values)) => values.push(Value::String(value)),
                Some(first) => {
                    let first = first.take();
                    params.insert(
                        name.to_string(),
                        Value::Array(vec![first, Value::String(value)]),
                    );
                }
            }
        }
    }
    Value::Object(out)
}

/// A JSON object message, bare or after CEE's `@cee:` cookie.
fn json_payload(text: &str) -> Option<Value> {
    let t = text.trim();
    let t = t.strip_prefix("@cee:").map(str::trim_start).unwrap_or(t);
    if !t.starts_with('{') {
        return None;
    }
    serde_json::from_str::<Value>(t)
        .ok()
        .filter(Value::is_object)
}

/// Where `part` (a slice the parser took from `line`) starts in `line`.
fn offset_in(line: &str, part: &str) -> Option<usize> {
    let start = line.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    (at >= start && at + part.len() <= start + line.len()).then(|| at - start)
}

/// The stamp as it was written: the header text between the priority (and the RFC 5424
/// version) and the first field after it.
fn stamp_text(line: &str, msg: &Message<&str>) -> Option<String> {
    let mut parts: Vec<&str> = vec![msg.msg];
    parts.extend(msg.hostname);
    parts.extend(msg.appname);
    parts.extend(msg.msgid);
    if let Some(ProcId::Name(n)) = &msg.procid {
        parts.push(n);
    }
    parts.extend(msg.structured_data.iter().map(|e| e.id));
    let end = parts.iter().filter_map(|p| offset_in(line, p)).min()?;
    let mut head = line.get(..end)?.trim_start();
    if let Some(rest) = head.strip_prefix('<') {
        head = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        head = head.strip_prefix('>').unwrap_or(head);
    }
    if matches!(msg.protocol, Protocol::RFC5424(_)) {
        head = head
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
    }
    let head = head
        .trim_start()
        .trim_end_matches(|c: char| c == ':' || c == '[' || c.is_whitespace());
    (!head.is_empty() && head != "-").then(|| head.to_string())
}

/// The year of a year-less RFC 3164 stamp: the current year in UTC, unless that puts the stamp
/// more than a day after `now`, then the year before. A date that does not exist in the current
/// year (29 February) takes the latest of the three years before in which it exists.
fn year_for(date: IncompleteDate, now: Timestamp) -> i32 {
    let current = i32::from(now.to_zoned(TimeZone::UTC).year());
    let limit = now
        .checked_add(SignedDuration::from_hours(24))
        .unwrap_or(now);
    let at = |year: i32| -> Option<Timestamp> {
        let (month, day, hour, minute, second) = date;
        jiff::civil::DateTime::new(
            i16::try_from(year).ok()?,
            i8::try_from(month).ok()?,
            i8::try_from(day).ok()?,
            i8::try_from(hour).ok()?,
            i8::try_from(minute).ok()?,
            i8::try_from(second).ok()?,
            0,
        )
        .ok()?
        .to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
    };
    match at(current) {
        Some(t) if t > limit => current - 1,
        Some(_) => current,
        None => (1..=3)
            .map(|back| current - back)
            .find(|y| at(*y).is_some())
            .unwrap_or(current),
    }
}

#[cfg(test)]
mod tests;
