//! Zeek logs: the network sensor's per-protocol records, in both shapes a sensor writes — the
//! default tab-separated text with its `#` headers ([`tsv`]) and JSON lines.
//!
//! # What it does
//! Every record becomes one [`SourceKind::Zeek`] event whose [`Event::raw`] is the record as
//! Zeek names its fields (`id.orig_h`, `conn_state`, `query`...) plus `_path`, the log it came
//! from (`conn`, `dns`, `dce_rpc`...). The log is known from `_path` (JSON streaming logs),
//! `@stream` (some shippers), the TSV `#path` header, or else from the fields only that log
//! has (`conn_state` is `conn`, `endpoint` with `operation` is `dce_rpc`). The normalized
//! fields follow Elastic's Zeek mapping:
//! - `@timestamp` from `ts` (epoch seconds or ISO 8601);
//! - `source.*` / `destination.*` from `id.orig_h`/`id.orig_p`/`id.resp_h`/`id.resp_p` (also
//!   written `id_orig_h`, or nested under `id`), `source.mac` from `orig_l2_addr` or DHCP's `mac`;
//! - `network.transport` (`proto`), `network.protocol` (the log's protocol, or the first
//!   service `conn` names), `network.community_id`, `source.bytes`/`destination.bytes`,
//!   `source.packets`/`destination.packets`, `event.duration` (nanoseconds);
//! - `event.code` the log's name, `event.category` (`network`, `web`, `file`,
//!   `authentication`, `intrusion_detection` for notices, which are `event.kind` `alert`),
//!   `event.action` what happened (`conn_state`, the DNS query, the HTTP method, the DCE/RPC
//!   operation, the SMB file action, the notice's name...), `event.outcome` where the record
//!   says (`conn_state`, Kerberos/NTLM/SSH success, HTTP status, DNS response code);
//! - `dns.question.name`, `url.full` (HTTP, or `https://<server_name>` for TLS), `file.path`
//!   (SMB share and file), `user.name`/`user.domain` (Kerberos client, NTLM, RDP cookie, HTTP),
//!   `host.name` (the client's name NTLM or DHCP gives), `observer.hostname` (the sensor:
//!   `_system_name` or `@system`).
//!
//! # Why it matters
//! Zeek is what most hospitals' network teams already run on a SPAN port; its `conn` log is
//! where scans, blind attempts and lateral movement become countable, and its `dce_rpc`,
//! `smb_*`, `kerberos` and `ntlm` logs say what was done over those connections.
//!
//! # Example
//! `{"ts":1588205520.96,"uid":"Cn4L","id.orig_h":"10.0.1.4","id.orig_p":60621,"id.resp_h":
//! "10.0.0.4","id.resp_p":49667,"endpoint":"drsuapi","operation":"DRSGetNCChanges"}` is a
//! `dce_rpc` record: `event.action` `DRSGetNCChanges`, source 10.0.1.4, destination 10.0.0.4.
//!
//! # References
//! Zeek documentation, "Zeek Log Formats and Inspection" and the per-log field references;
//! Elastic Filebeat Zeek module field mapping.

pub mod tsv;

use std::borrow::Cow;

use serde_json::{Map, Value};
use wardwatch_core::{Ecs, Event, Origin, SourceKind};

use crate::doc::{count_of, lookup, port_of, scalar_text};

/// Whether a JSON object is a Zeek log record: a `ts` together with the log's name (`_path`,
/// `@stream`) or with connection identifiers (`uid`, `uids`, `id.orig_h`) and the fields of one
/// of the logs Zeek writes.
pub fn is_zeek(v: &Value) -> bool {
    let Some(obj) = v.as_object() else {
        return false;
    };
    if !obj
        .get("ts")
        .is_some_and(|t| t.is_number() || t.is_string())
    {
        return false;
    }
    if obj.get("_path").is_some_and(Value::is_string) {
        return true;
    }
    if obj.get("@stream").is_some_and(Value::is_string)
        && obj
            .get("@proc")
            .and_then(Value::as_str)
            .is_none_or(|p| p.eq_ignore_ascii_case("zeek") || p.eq_ignore_ascii_case("bro"))
    {
        return true;
    }
    let ids = ["uid", "uids", "id.orig_h", "id_orig_h", "id"]
        .iter()
        .any(|k| obj.contains_key(*k))
        || obj.contains_key("software_type");
    ids && path_from_fields(obj).is_some()
}

/// The log a record belongs to, from its own fields.
pub(crate) fn path_from_fields(obj: &Map<String, Value>) -> Option<&'static str> {
    let has = |k: &str| obj.contains_key(k);
    Some(if has("conn_state") || (has("history") && has("proto")) {
        "conn"
    } else if has("qtype_name") || has("rcode_name") || (has("query") && has("trans_id")) {
        "dns"
    } else if (has("method") && has("uri")) || (has("trans_depth") && has("status_code")) {
        "http"
    } else if has("server_name") && (has("cipher") || has("established"))
        || has("ssl_history")
        || has("validation_status")
    {
        "ssl"
    } else if has("share_type") {
        "smb_mapping"
    } else if obj
        .get("action")
        .and_then(Value::as_str)
        .is_some_and(|a| a.starts_with("SMB::"))
    {
        "smb_files"
    } else if has("endpoint") && has("operation") {
        "dce_rpc"
    } else if has("request_type") {
        "kerberos"
    } else if has("server_nb_computer_name") || (has("domainname") && has("success")) {
        "ntlm"
    } else if has("security_protocol") || has("keyboard_layout") || (has("cookie") && has("result"))
    {
        "rdp"
    } else if has("auth_success") || has("auth_attempts") || has("host_key") {
        "ssh"
    } else if has("note") {
        "notice"
    } else if has("msg_types") || has("assigned_addr") || has("lease_time") {
        "dhcp"
    } else if has("software_type") || has("unparsed_version") {
        "software"
    } else {
        return None;
    })
}

/// The name of the log `v` belongs to (`conn`, `dns`...), or `None` when nothing says.
pub fn log_path(v: &Value) -> Option<Cow<'_, str>> {
    let obj = v.as_object()?;
    ["_path", "@stream"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_str))
        .filter(|p| !p.is_empty())
        .map(Cow::Borrowed)
        .or_else(|| path_from_fields(obj).map(Cow::Borrowed))
}

/// Decode one Zeek JSON record (see the module documentation). The record stays as it came;
/// the log's name, wherever it was found, is `event.code`.
pub fn decode_value(v: Value, origin: Origin) -> Event {
    let ecs = normalize(&v);
    crate::doc::event_of(SourceKind::Zeek, v, &["ts"], ecs, origin)
}

/// Whether the first line of a file looks like a Zeek JSON record. The line may be cut short
/// (format detection sees only the head of a file), so text that is not complete JSON is
/// judged by the keys it names.
pub fn looks_like_zeek(first_line: &str) -> bool {
    match serde_json::from_str::<Value>(first_line) {
        Ok(v) => is_zeek(&v),
        Err(_) => {
            let has = |k: &str| first_line.contains(&format!("\"{k}\""));
            has("ts")
                && (has("_path")
                    || has("@stream")
                    || (has("uid") && (has("id.orig_h") || has("id_orig_h"))))
        }
    }
}

/// A field by Zeek's dotted name, also when a shipper wrote the dots as `_` (`id_orig_h`) or
/// nested the record (`{"id": {"orig_h": ..}}`).
pub(crate) fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    if let Some(x) = obj.get(name) {
        return Some(x);
    }
    if name.contains('.') {
        if let Some(x) = obj.get(&name.replace('.', "_")) {
            return Some(x);
        }
        return lookup(v, name);
    }
    None
}

fn text(v: &Value, name: &str) -> Option<String> {
    field(v, name).and_then(scalar_text)
}

fn flag(v: &Value, name: &str) -> Option<bool> {
    match field(v, name)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "T" || s == "true" => Some(true),
        Value::String(s) if s == "F" || s == "false" => Some(false),
        _ => None,
    }
}

fn outcome(ok: Option<bool>) -> Option<String> {
    ok.map(|ok| if ok { "success" } else { "failure" }.to_string())
}

/// Whether a `conn_state` says the responder answered (`Some(true)`), refused or never
/// answered (`Some(false)`), or the sensor cannot tell (`None`: traffic seen midstream).
pub fn conn_state_answered(state: &str) -> Option<bool> {
    match state {
        // Established, then closed normally, half-closed, or reset by either side.
        "SF" | "S1" | "S2" | "S3" | "RSTO" | "RSTR" => Some(true),
        // No reply (S0), rejected (REJ), SYN then reset or FIN with no SYN-ACK, responder
        // SYN-ACK then reset without an originator SYN.
        "S0" | "REJ" | "RSTOS0" | "RSTRH" | "SH" => Some(false),
        _ => None,
    }
}

fn normalize(v: &Value) -> Ecs {
    let path = log_path(v).unwrap_or(Cow::Borrowed(""));
    let port = |n: &str| field(v, n).and_then(port_of);
    let count = |n: &str| field(v, n).and_then(count_of);
    let mut ecs = Ecs {
        event_kind: Some("event".into()),
        event_category: Some("network".into()),
        event_code: (!path.is_empty()).then(|| path.to_string()),
        source_ip: text(v, "id.orig_h"),
        source_port: port("id.orig_p"),
        destination_ip: text(v, "id.resp_h"),
        destination_port: port("id.resp_p"),
        network_transport: text(v, "proto").map(|p| p.to_ascii_lowercase()),
        network_community_id: text(v, "community_id"),
        observer_hostname: text(v, "_system_name").or_else(|| text(v, "@system")),
        ..Ecs::default()
    };
    let protocol = |p: &str| Some(p.to_string());
    match path.as_ref() {
        "conn" => {
            let state = text(v, "conn_state");
            ecs.event_outcome = outcome(state.as_deref().and_then(conn_state_answered));
            ecs.event_action = state;
            ecs.network_protocol = text(v, "service")
                .and_then(|s| s.split(',').next().map(str::to_string))
                .filter(|s| !s.is_empty());
            ecs.source_bytes = count("orig_bytes");
            ecs.destination_bytes = count("resp_bytes");
            ecs.source_packets = count("orig_pkts");
            ecs.destination_packets = count("resp_pkts");
            ecs.event_duration = seconds_as_nanos(field(v, "duration"));
            ecs.source_mac = text(v, "orig_l2_addr");
        }
        "dns" => {
            ecs.network_protocol = protocol("dns");
            ecs.event_action = Some("dns-query".into());
            ecs.dns_question_name = text(v, "query");
            ecs.event_outcome = text(v, "rcode_name")
                .map(|r| if r == "NOERROR" { "success" } else { "failure" }.to_string());
            ecs.event_duration = seconds_as_nanos(field(v, "rtt"));
        }
        "http" => {
            ecs.event_category = Some("web".into());
            ecs.network_protocol = protocol("http");
            ecs.event_action = text(v, "method");
            ecs.url_full = http_url(v);
            ecs.user_name = text(v, "username");
            ecs.event_outcome = field(v, "status_code")
                .and_then(count_of)
                .map(|s| if s < 400 { "success" } else { "failure" }.to_string());
            ecs.source_bytes = count("request_body_len");
            ecs.destination_bytes = count("response_body_len");
        }
        "ssl" => {
            ecs.network_protocol = protocol("tls");
            ecs.event_action = Some("tls-handshake".into());
            ecs.url_full = text(v, "server_name").map(|sni| format!("https://{sni}"));
            ecs.event_outcome = outcome(flag(v, "established"));
        }
        "smb_mapping" => {
            ecs.network_protocol = protocol("smb");
            ecs.event_action = Some("smb-tree-connect".into());
            ecs.file_path = text(v, "path");
        }
        "smb_files" => {
            ecs.event_category = Some("file".into());
            ecs.network_protocol = protocol("smb");
            ecs.event_action = text(v, "action").map(|a| {
                a.strip_prefix("SMB::")
                    .unwrap_or(&a)
                    .to_ascii_lowercase()
                    .replace('_', "-")
            });
            ecs.file_path = smb_file_path(v);
        }
        "dce_rpc" => {
            ecs.network_protocol = protocol("dcerpc");
            ecs.event_action = text(v, "operation");
            ecs.event_duration = seconds_as_nanos(field(v, "rtt"));
        }
        "kerberos" => {
            ecs.event_category = Some("authentication".into());
            ecs.network_protocol = protocol("kerberos");
            ecs.event_action = text(v, "request_type");
            ecs.event_outcome = outcome(flag(v, "success"));
            if let Some(client) = text(v, "client") {
                let (user, realm) = match client.split_once('/') {
                    Some((u, r)) => (u.to_string(), Some(r.to_string())),
                    None => (client, None),
                };
                ecs.user_name = Some(user);
                ecs.user_domain = realm;
            }
        }
        "ntlm" => {
            ecs.event_category = Some("authentication".into());
            ecs.network_protocol = protocol("ntlm");
            ecs.event_action = Some("ntlm-authenticate".into());
            ecs.event_outcome = outcome(flag(v, "success"));
            ecs.user_name = text(v, "username");
            ecs.user_domain = text(v, "domainname");
            ecs.host_name = text(v, "hostname");
        }
        "rdp" => {
            ecs.network_protocol = protocol("rdp");
            ecs.event_action = text(v, "result");
            ecs.user_name = text(v, "cookie");
            ecs.event_outcome = text(v, "result")
                .filter(|r| r.eq_ignore_ascii_case("success"))
                .map(|_| "success".to_string());
        }
        "ssh" => {
            ecs.event_category = Some("authentication".into());
            ecs.network_protocol = protocol("ssh");
            ecs.event_action = Some("ssh-login".into());
            ecs.event_outcome = outcome(flag(v, "auth_success"));
        }
        "notice" => {
            ecs.event_kind = Some("alert".into());
            ecs.event_category = Some("intrusion_detection".into());
            ecs.event_action = text(v, "note");
            ecs.message = text(v, "msg");
            if ecs.source_ip.is_none() {
                ecs.source_ip = text(v, "src");
            }
            if ecs.destination_ip.is_none() {
                ecs.destination_ip = text(v, "dst");
            }
        }
        "dhcp" => {
            ecs.network_protocol = protocol("dhcp");
            ecs.event_action = field(v, "msg_types").and_then(joined);
            ecs.source_ip = ecs
                .source_ip
                .or_else(|| text(v, "client_addr"))
                .or_else(|| text(v, "assigned_addr"));
            ecs.source_mac = text(v, "mac");
            ecs.host_name = text(v, "host_name").or_else(|| text(v, "client_fqdn"));
            ecs.event_duration = seconds_as_nanos(field(v, "duration"));
        }
        "software" => {
            ecs.event_category = Some("host".into());
            ecs.event_action = text(v, "software_type");
            ecs.source_ip = ecs.source_ip.or_else(|| text(v, "host"));
            ecs.host_ip = text(v, "host");
            ecs.message = text(v, "unparsed_version");
        }
        other => {
            if !other.is_empty() {
                ecs.event_action = Some(other.to_string());
            }
        }
    }
    ecs
}

/// Zeek's intervals are seconds with a fraction.
fn seconds_as_nanos(v: Option<&Value>) -> Option<u64> {
    let secs = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1e9).round() as u64)
}

/// A set (`["REQUEST","ACK"]`) as `REQUEST,ACK`, or a scalar as text.
fn joined(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(scalar_text).collect();
            (!parts.is_empty()).then(|| parts.join(","))
        }
        other => scalar_text(other),
    }
}

/// `http://host[:port]/uri`.
fn http_url(v: &Value) -> Option<String> {
    crate::doc::http_url(
        text(v, "host"),
        field(v, "id.resp_p").and_then(port_of),
        text(v, "uri").unwrap_or_default(),
    )
}

/// The share path and the file name inside it (`\\host\C$` + `Windows\x.exe`).
fn smb_file_path(v: &Value) -> Option<String> {
    let share = text(v, "path");
    let name = text(v, "name");
    match (share, name) {
        (Some(s), Some(n)) => Some(format!(
            "{}\\{}",
            s.trim_end_matches('\\'),
            n.trim_start_matches('\\')
        )),
        (s, n) => n.or(s),
    }
}

#[cfg(test)]
mod tests;
