//! Reading ECS fields out of a JSON document, whether the shipper nested them
//! (`{"host": {"name": "ws1"}}`), flattened them into dotted keys (`{"host.name": "ws1"}`) or
//! mixed both (`{"process": {"parent.executable": ..}}`).
//!
//! # Why it matters
//! Elastic Agent and Winlogbeat write nested objects, Kibana exports and many pipelines write
//! dotted keys; a decoder that reads only one form silently loses the other's fields.
//!
//! # Example
//! `lookup(&json!({"source": {"ip": "10.0.0.1"}}), "source.ip")` and
//! `lookup(&json!({"source.ip": "10.0.0.1"}), "source.ip")` both give `"10.0.0.1"`.
//!
//! # References
//! Elastic Common Schema field reference (<https://www.elastic.co/guide/en/ecs/current/>).

use std::borrow::Cow;

use jiff::Timestamp;
use serde_json::{Map, Value};
use wardwatch_core::Ecs;

use crate::time::parse_time;
use crate::windows::value_text;

/// The value at the dotted `path`, reached through any mix of nested objects and dotted keys.
pub(crate) fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    if let Some(x) = obj.get(path) {
        return Some(x);
    }
    path.match_indices('.').find_map(|(i, _)| {
        let inner = obj.get(&path[..i])?;
        lookup(inner, &path[i + 1..])
    })
}

/// The value at `path` as trimmed, non-empty text. Arrays give their first scalar element
/// (ECS makes `event.category` and `host.ip` arrays).
pub(crate) fn text_at(v: &Value, path: &str) -> Option<String> {
    lookup(v, path).and_then(scalar_text)
}

/// A scalar (or an array's first scalar) as trimmed, non-empty text.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    let s = match v {
        Value::Array(items) => items.iter().find_map(value_text)?,
        other => value_text(other)?,
    };
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The first of `paths` that holds text.
pub(crate) fn first_text(v: &Value, paths: &[&str]) -> Option<String> {
    paths.iter().find_map(|p| text_at(v, p))
}

/// A network access point as ECS wants it: `(source.ip, None)` for an IP address (an
/// IPv4-mapped IPv6 one made IPv4), `(None, source.address)` for a name.
pub(crate) fn ip_or_address(n: Option<&str>) -> (Option<String>, Option<String>) {
    match n {
        Some(n) => match n.trim_start_matches("::ffff:").parse::<std::net::IpAddr>() {
            Ok(ip) => (Some(ip.to_string()), None),
            Err(_) => (None, Some(n.to_string())),
        },
        None => (None, None),
    }
}

/// A port number, written as a JSON number or as text.
pub(crate) fn port_of(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `http://host[:port]/path` from a request's host, port and URI (an absolute URI, as proxies
/// see it, stands as it is; an IPv6 host is bracketed; port 80 and a port the host already
/// names are left out). Without a host there is no full URL to give.
pub(crate) fn http_url(host: Option<String>, port: Option<u16>, uri: String) -> Option<String> {
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(uri);
    }
    let host = host?;
    let host = if host.matches(':').count() > 1 && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let port = port.filter(|p| *p != 80 && !host.ends_with(&format!(":{p}")));
    let path = if uri.starts_with('/') {
        uri
    } else {
        format!("/{uri}")
    };
    Some(match port {
        Some(p) => format!("http://{host}:{p}{path}"),
        None => format!("http://{host}{path}"),
    })
}

/// A process id, as a JSON number or as decimal or `0x` hexadecimal text.
pub(crate) fn pid_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            }
        }
        _ => None,
    }
}

/// The object at `path`: a nested object, or else the top-level keys that start with `path.`
/// gathered into one (a fully flattened `winlog.event_data.CommandLine` export).
pub(crate) fn object_at<'a>(v: &'a Value, path: &str) -> Option<Cow<'a, Map<String, Value>>> {
    if let Some(obj) = lookup(v, path).and_then(Value::as_object) {
        return Some(Cow::Borrowed(obj));
    }
    let prefix = format!("{path}.");
    let gathered: Map<String, Value> = v
        .as_object()?
        .iter()
        .filter_map(|(k, val)| Some((k.strip_prefix(&prefix)?.to_string(), val.clone())))
        .collect();
    (!gathered.is_empty()).then_some(Cow::Owned(gathered))
}

/// The ECS core fields a document states explicitly, each read nested or dotted.
pub(crate) fn ecs_of(v: &Value) -> Ecs {
    let port = |p: &str| lookup(v, p).and_then(port_of);
    Ecs {
        event_kind: text_at(v, "event.kind"),
        event_category: text_at(v, "event.category"),
        event_action: text_at(v, "event.action"),
        event_outcome: text_at(v, "event.outcome"),
        event_code: text_at(v, "event.code"),
        event_provider: text_at(v, "event.provider"),
        channel: text_at(v, "log.channel"),
        host_name: text_at(v, "host.name"),
        host_ip: text_at(v, "host.ip"),
        user_name: text_at(v, "user.name"),
        user_domain: text_at(v, "user.domain"),
        user_roles: text_at(v, "user.roles"),
        source_ip: text_at(v, "source.ip"),
        source_port: port("source.port"),
        source_address: text_at(v, "source.address"),
        destination_ip: text_at(v, "destination.ip"),
        destination_port: port("destination.port"),
        process_pid: lookup(v, "process.pid").and_then(pid_of),
        process_executable: text_at(v, "process.executable"),
        process_name: text_at(v, "process.name"),
        process_command_line: text_at(v, "process.command_line"),
        process_parent_executable: text_at(v, "process.parent.executable"),
        file_path: text_at(v, "file.path"),
        url_full: first_text(v, &["url.full", "url.original"]),
        dns_question_name: text_at(v, "dns.question.name"),
        network_protocol: text_at(v, "network.protocol"),
        syslog_facility: text_at(v, "log.syslog.facility.name"),
        event_reason: text_at(v, "event.reason"),
        patient_id: text_at(v, "patient.id"),
        break_the_glass: lookup(v, "ehr.break_the_glass").and_then(Value::as_bool),
        message: text_at(v, "message"),
        log_source_address: text_at(v, "log.source.address"),
        tls_client_subject: text_at(v, "tls.client.subject"),
        network_transport: text_at(v, "network.transport"),
        network_community_id: text_at(v, "network.community_id"),
        source_bytes: count_at(v, "source.bytes"),
        destination_bytes: count_at(v, "destination.bytes"),
        source_packets: count_at(v, "source.packets"),
        destination_packets: count_at(v, "destination.packets"),
        source_mac: text_at(v, "source.mac"),
        event_duration: count_at(v, "event.duration"),
        observer_hostname: text_at(v, "observer.hostname"),
    }
}

/// A non-negative whole number at `path`, written as a JSON number (a float is truncated) or
/// as decimal text.
pub(crate) fn count_at(v: &Value, path: &str) -> Option<u64> {
    count_of(lookup(v, path)?)
}

/// A non-negative whole number, as a JSON number (a float is truncated) or decimal text.
pub(crate) fn count_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.is_finite())
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The time at the first of `paths` that holds a readable one, with its text as it came (a JSON
/// number counts as epoch text). A time field that is present but unreadable gives the Unix
/// epoch with its text kept, which is how [`wardwatch_core::Event::time_text`] says "no usable
/// time"; no time field at all gives the epoch and `None`.
/// The event for a decoded JSON document `v` of `kind`: its time from the first of `time_paths`
/// that reads, the normalized fields `ecs`, and where it came from.
pub(crate) fn event_of(
    kind: wardwatch_core::SourceKind,
    v: Value,
    time_paths: &[&str],
    ecs: wardwatch_core::Ecs,
    origin: wardwatch_core::Origin,
) -> wardwatch_core::Event {
    let (timestamp, time_text) = time_at(&v, time_paths);
    let mut event = wardwatch_core::Event::new(kind, timestamp, v);
    event.time_text = time_text;
    event.ecs = ecs;
    event.origin = origin;
    event
}

pub(crate) fn time_at(v: &Value, paths: &[&str]) -> (Timestamp, Option<String>) {
    let mut unreadable = None;
    for p in paths {
        let text = match lookup(v, p) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        if let Some(ts) = parse_time(&text) {
            return (ts, Some(text));
        }
        unreadable.get_or_insert(text);
    }
    (Timestamp::UNIX_EPOCH, unreadable)
}

/// Every field that `top` has replaces the one in `base`.
pub(crate) fn overlay(base: &mut Ecs, top: Ecs) {
    macro_rules! take {
        ($($f:ident),* $(,)?) => {
            $(if top.$f.is_some() { base.$f = top.$f; })*
        };
    }
    take!(
        event_kind,
        event_category,
        event_action,
        event_outcome,
        event_code,
        event_provider,
        channel,
        host_name,
        host_ip,
        user_name,
        user_domain,
        user_roles,
        source_ip,
        source_port,
        source_address,
        destination_ip,
        destination_port,
        process_pid,
        process_executable,
        process_name,
        process_command_line,
        process_parent_executable,
        file_path,
        url_full,
        dns_question_name,
        network_protocol,
        syslog_facility,
        event_reason,
        patient_id,
        break_the_glass,
        message,
        network_transport,
        network_community_id,
        source_bytes,
        destination_bytes,
        source_packets,
        destination_packets,
        source_mac,
        event_duration,
        observer_hostname,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_reads_nested_dotted_and_mixed() {
        let nested = json!({"process": {"parent": {"executable": "a.exe"}}});
        let dotted = json!({"process.parent.executable": "b.exe"});
        let mixed = json!({"process": {"parent.executable": "c.exe"}});
        let mixed2 = json!({"process.parent": {"executable": "d.exe"}});
        for (doc, want) in [
            (nested, "a.exe"),
            (dotted, "b.exe"),
            (mixed, "c.exe"),
            (mixed2, "d.exe"),
        ] {
            assert_eq!(
                text_at(&doc, "process.parent.executable").as_deref(),
                Some(want)
            );
        }
        assert_eq!(lookup(&json!({"a": 1}), "a.b"), None);
        assert_eq!(lookup(&json!([1]), "a"), None);
    }

    #[test]
    fn ecs_of_reads_arrays_numbers_and_skips_blanks() {
        let doc = json!({
            "event": {"category": ["authentication", "session"], "code": 4624},
            "host": {"ip": ["10.0.0.5", "fe80::1"], "name": "  "},
            "source.port": "50123", "destination": {"port": 70000},
            "process": {"pid": "0x1a4"}, "url": {"original": "/x"}
        });
        let ecs = ecs_of(&doc);
        assert_eq!(ecs.event_category.as_deref(), Some("authentication"));
        assert_eq!(ecs.event_code.as_deref(), Some("4624"));
        assert_eq!(ecs.host_ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(ecs.host_name, None);
        assert_eq!(ecs.source_port, Some(50123));
        assert_eq!(ecs.destination_port, None, "70000 is no port");
        assert_eq!(ecs.process_pid, Some(420));
        assert_eq!(ecs.url_full.as_deref(), Some("/x"));
    }

    #[test]
    fn object_at_gathers_dotted_keys() {
        let doc = json!({"winlog.event_data.Image": "x.exe", "winlog.event_data.User": "u",
            "winlog.channel": "c"});
        let obj = object_at(&doc, "winlog.event_data").unwrap();
        assert_eq!(obj.len(), 2);
        assert_eq!(obj["Image"], "x.exe");
        assert!(object_at(&doc, "winlog.user_data").is_none());
    }

    #[test]
    fn time_at_takes_the_first_readable_and_keeps_unreadable_text() {
        let doc = json!({"a": "garbage", "b": 1704103200, "c": "2020-01-01T00:00:00Z"});
        let (ts, text) = time_at(&doc, &["missing", "a", "b", "c"]);
        assert_eq!(ts.to_string(), "2024-01-01T10:00:00Z");
        assert_eq!(text.as_deref(), Some("1704103200"));
        let (ts, text) = time_at(&doc, &["a"]);
        assert_eq!(ts, Timestamp::UNIX_EPOCH);
        assert_eq!(text.as_deref(), Some("garbage"));
        assert_eq!(time_at(&doc, &["x"]), (Timestamp::UNIX_EPOCH, None));
    }

    #[test]
    fn overlay_keeps_base_where_top_is_silent() {
        let mut base = Ecs {
            user_name: Some("a".into()),
            host_name: Some("h".into()),
            ..Ecs::default()
        };
        overlay(
            &mut base,
            Ecs {
                user_name: Some("b".into()),
                ..Ecs::default()
            },
        );
        assert_eq!(base.user_name.as_deref(), Some("b"));
        assert_eq!(base.host_name.as_deref(), Some("h"));
    }
}
