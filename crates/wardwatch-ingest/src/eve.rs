//! Suricata EVE JSON: alerts, protocol transactions, flows and file records from the network
//! sensor, one JSON object per line.
//!
//! # What it does
//! Keeps the EVE object whole as [`Event::raw`] and fills the normalized fields:
//! - `@timestamp` from `timestamp` (Suricata writes `2024-01-01T10:00:00.123456+0000`);
//! - `source.*` / `destination.*` from `src_ip`/`src_port`/`dest_ip`/`dest_port`;
//! - `network.protocol` from `app_proto`, else the application-layer `event_type` (`dns`, `smb`),
//!   else `proto` in lower case;
//! - `event.kind` `alert` for alerts and `event` otherwise, `event.code` the `event_type`,
//!   `event.category` (`intrusion_detection`, `web`, `file`, `authentication`, `network`),
//!   `event.action` the alert signature, `dns-query`/`dns-answer`, or the `event_type`;
//! - from the application-layer objects, whatever the `event_type` (alerts carry them too):
//!   `dns.question.name` (`dns.rrname` or `dns.queries[0].rrname`, LLMNR and mDNS alike),
//!   `url.full` (HTTP hostname, port and URL; or the TLS SNI as `https://<sni>`, because the
//!   normalized fields have no `tls.client.server_name`), `file.path` (`fileinfo.filename`,
//!   `files[0].filename`, `smb.filename`), `user.name`/`user.domain` (Kerberos `cname`/`realm`,
//!   SMB NTLMSSP `user`/`domain`);
//! - `host.name` and `observer.hostname` from `host` (the sensor name, when Suricata is
//!   configured to write it);
//! - `network.transport` (`proto`), `network.community_id`, and from a `flow` record
//!   `source.bytes`/`destination.bytes`, `source.packets`/`destination.packets` and
//!   `event.duration`; `event.outcome` `failure` for a TCP flow the responder never answered or
//!   reset without a SYN-ACK, a Kerberos error, an SMB logon failure or denied access;
//! - `event.action` per type: the HTTP method, the Kerberos message type, the SMB command, the
//!   DCE/RPC request, the RDP event, the anomaly's event.
//!
//! # Why it matters
//! Network evidence of lateral movement (SMB, DCE/RPC, Kerberos) joins the endpoint evidence
//! through these addresses, user names and host names.
//!
//! # Example
//! `{"timestamp":"2020-09-22T18:53:30.854698+0000","event_type":"dns","src_ip":"172.18.39.5",
//! "dns":{"queries":[{"rrname":"WORKSTATION6.theshire.local"}]}}` gives `dns.question.name`
//! `WORKSTATION6.theshire.local` and `event.action` `dns-query`.
//!
//! # References
//! Suricata documentation, "Eve JSON Format"; Elastic Common Schema `event.category` values.

use serde_json::Value;
use wardwatch_core::{Ecs, Event, Origin, SourceKind};

use crate::doc::{count_of, first_text, port_of, scalar_text, text_at};

/// Keys only Suricata writes at the top level of an EVE record.
const EVE_KEYS: &[&str] = &["flow_id", "src_ip", "pcap_cnt", "in_iface", "community_id"];

/// Whether a JSON object is a Suricata EVE record: a string `event_type` together with one of
/// the sensor's own keys, or with a `timestamp` and the object EVE names after the event type
/// (`"event_type": "stats", "stats": {..}`). A bare `event_type` is not enough: other
/// applications use that key too.
pub(crate) fn is_eve(v: &Value) -> bool {
    let Some(event_type) = v.get("event_type").and_then(Value::as_str) else {
        return false;
    };
    EVE_KEYS.iter().any(|k| v.get(*k).is_some())
        || (v.get("timestamp").is_some_and(Value::is_string) && v.get(event_type).is_some())
}

/// Whether the first line of a file looks like Suricata EVE. The line may be cut short (format
/// detection sees only the head of a file), so text that is not complete JSON is judged by the
/// keys it names.
pub fn looks_like_eve(first_line: &str) -> bool {
    match serde_json::from_str::<Value>(first_line) {
        Ok(v) => is_eve(&v),
        Err(_) => {
            first_line.contains("\"event_type\"")
                && EVE_KEYS
                    .iter()
                    .any(|k| first_line.contains(&format!("\"{k}\"")))
        }
    }
}

/// Decode one EVE object (see the module documentation for the fields filled).
pub fn decode_value(v: Value, origin: Origin) -> Event {
    let ecs = normalize(&v);
    crate::doc::event_of(SourceKind::SuricataEve, v, &["timestamp"], ecs, origin)
}

/// Event types that are themselves the name of an application protocol.
const APP_EVENT_TYPES: &[&str] = &[
    "dns",
    "http",
    "http2",
    "tls",
    "smb",
    "krb5",
    "dcerpc",
    "ssh",
    "rdp",
    "ldap",
    "llmnr",
    "mdns",
    "ftp",
    "ftp_data",
    "smtp",
    "dhcp",
    "nfs",
    "tftp",
    "ike",
    "ikev2",
    "snmp",
    "sip",
    "rfb",
    "mqtt",
    "quic",
    "pgsql",
    "modbus",
    "dnp3",
    "enip",
    "pop3",
    "websocket",
    "bittorrent-dht",
    "doh2",
];

fn normalize(v: &Value) -> Ecs {
    let event_type = v.get("event_type").and_then(Value::as_str).unwrap_or("");
    let alert = event_type == "alert";
    let (category, action) = match event_type {
        "alert" => ("intrusion_detection", text_at(v, "alert.signature")),
        "http" => ("web", text_at(v, "http.http_method")),
        "fileinfo" => ("file", None),
        "krb5" => ("authentication", text_at(v, "krb5.msg_type")),
        "ssh" => ("authentication", None),
        "dns" | "llmnr" | "mdns" => ("network", dns_action(v, event_type)),
        "smb" => ("network", text_at(v, "smb.command")),
        "dcerpc" => ("network", text_at(v, "dcerpc.request")),
        "rdp" => ("network", text_at(v, "rdp.event_type")),
        "anomaly" => ("network", first_text(v, &["anomaly.event", "anomaly.type"])),
        _ => ("network", None),
    };
    let action = action.or_else(|| (!event_type.is_empty()).then(|| event_type.to_string()));
    let (user_name, user_domain) = user(v);
    let flow = v.get("flow");
    let flow_count = |k: &str| flow.and_then(|f| f.get(k)).and_then(count_of);
    Ecs {
        event_kind: Some(if alert { "alert" } else { "event" }.into()),
        event_outcome: outcome(v, event_type),
        network_transport: text(v, "proto").map(|p| p.to_ascii_lowercase()),
        network_community_id: text(v, "community_id"),
        source_bytes: flow_count("bytes_toserver"),
        destination_bytes: flow_count("bytes_toclient"),
        source_packets: flow_count("pkts_toserver"),
        destination_packets: flow_count("pkts_toclient"),
        event_duration: flow_duration(flow),
        observer_hostname: text(v, "host"),
        event_category: Some(category.into()),
        event_action: action,
        event_code: (!event_type.is_empty()).then(|| event_type.to_string()),
        host_name: text(v, "host"),
        source_ip: text(v, "src_ip"),
        source_port: v.get("src_port").and_then(port_of),
        destination_ip: text(v, "dest_ip"),
        destination_port: v.get("dest_port").and_then(port_of),
        network_protocol: protocol(v, event_type),
        dns_question_name: dns_name(v),
        url_full: http_url(v).or_else(|| sni_url(v)),
        file_path: text_at(v, "fileinfo.filename")
            .or_else(|| first_of(v.get("files"), "filename"))
            .or_else(|| text_at(v, "smb.filename")),
        user_name,
        user_domain,
        ..Ecs::default()
    }
}

/// `success` or `failure` where the record says: a TCP flow the responder never answered (no
/// packet back) or answered only with a reset (no SYN from its side: refused), or one that was
/// answered (SYN-ACK seen); a Kerberos exchange ending in an error code (a wrong password is
/// `KDC_ERR_PREAUTH_FAILED`); an SMB command whose status is not success.
fn outcome(v: &Value, event_type: &str) -> Option<String> {
    let word = |ok: bool| Some(if ok { "success" } else { "failure" }.to_string());
    match event_type {
        "flow" => {
            let tcp = text(v, "proto")?.eq_ignore_ascii_case("tcp");
            if !tcp {
                return None;
            }
            let back = v.get("flow")?.get("pkts_toclient").and_then(count_of)?;
            if back == 0 {
                return word(false);
            }
            let flags =
                text_at(v, "tcp.tcp_flags_tc").and_then(|h| u8::from_str_radix(&h, 16).ok())?;
            const SYN: u8 = 0x02;
            const RST: u8 = 0x04;
            if flags & SYN != 0 {
                word(true)
            } else if flags & RST != 0 {
                word(false)
            } else {
                None
            }
        }
        "krb5" => {
            let error = text_at(v, "krb5.error_code")
                .or_else(|| text_at(v, "krb5.msg_type").filter(|m| m == "KRB_ERROR"));
            match error {
                Some(_) => word(false),
                None if text_at(v, "krb5.msg_type").is_some_and(|m| m.ends_with("_REP")) => {
                    word(true)
                }
                None => None,
            }
        }
        "smb" => {
            let status = text_at(v, "smb.status")?;
            match status.as_str() {
                "STATUS_SUCCESS" => word(true),
                "STATUS_LOGON_FAILURE"
                | "STATUS_ACCESS_DENIED"
                | "STATUS_ACCOUNT_LOCKED_OUT"
                | "STATUS_WRONG_PASSWORD"
                | "STATUS_ACCOUNT_DISABLED" => word(false),
                _ => None,
            }
        }
        _ => None,
    }
}

/// How long a flow lasted, in nanoseconds, from its `start` and `end` stamps.
fn flow_duration(flow: Option<&Value>) -> Option<u64> {
    let flow = flow?;
    let at = |k: &str| {
        flow.get(k)
            .and_then(Value::as_str)
            .and_then(crate::time::parse_time)
    };
    let d = at("end")?.duration_since(at("start")?);
    u64::try_from(d.as_nanos()).ok()
}

/// A top-level scalar as text (no dotted-path interpretation: EVE keys are plain).
fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(scalar_text)
}

/// `key` of the first element of an array.
fn first_of(arr: Option<&Value>, key: &str) -> Option<String> {
    arr?.as_array()?.first()?.get(key).and_then(scalar_text)
}

fn protocol(v: &Value, event_type: &str) -> Option<String> {
    let app = text(v, "app_proto").filter(|p| !matches!(p.as_str(), "failed" | "unknown"));
    app.or_else(|| {
        APP_EVENT_TYPES
            .contains(&event_type)
            .then(|| event_type.to_string())
    })
    .or_else(|| text(v, "proto").map(|p| p.to_ascii_lowercase()))
}

fn dns_action(v: &Value, event_type: &str) -> Option<String> {
    let kind = text_at(v, &format!("{event_type}.type"))?;
    match kind.as_str() {
        "query" | "request" => Some("dns-query".into()),
        "answer" | "response" => Some("dns-answer".into()),
        _ => None,
    }
}

/// The queried name: EVE v1/v2 write `rrname` beside the transaction, v3 a `queries` array.
fn dns_name(v: &Value) -> Option<String> {
    ["dns", "llmnr", "mdns"].iter().find_map(|proto| {
        let obj = v.get(*proto)?;
        obj.get("rrname")
            .and_then(scalar_text)
            .or_else(|| first_of(obj.get("queries"), "rrname"))
            .or_else(|| first_of(obj.get("query"), "rrname"))
    })
}

/// `http://host[:port]/url` from the HTTP object, or the URL itself when it is absolute (proxy
/// requests). Without a host name there is no full URL to give.
fn http_url(v: &Value) -> Option<String> {
    let http = v.get("http")?;
    crate::doc::http_url(
        http.get("hostname").and_then(scalar_text),
        http.get("http_port").and_then(port_of),
        http.get("url").and_then(scalar_text).unwrap_or_default(),
    )
}

fn sni_url(v: &Value) -> Option<String> {
    text_at(v, "tls.sni").map(|sni| format!("https://{sni}"))
}

/// The account a Kerberos or NTLM exchange names.
fn user(v: &Value) -> (Option<String>, Option<String>) {
    let usable = |s: &String| !s.starts_with('<') && s != "-";
    if let Some(name) = text_at(v, "krb5.cname").filter(usable) {
        return (Some(name), text_at(v, "krb5.realm").filter(usable));
    }
    if let Some(name) = text_at(v, "smb.ntlmssp.user").filter(usable) {
        return (Some(name), text_at(v, "smb.ntlmssp.domain").filter(usable));
    }
    // The RDP cookie `mstshash=NAME` is the account name the client offers (often cut short).
    if let Some(name) = text_at(v, "rdp.cookie").filter(usable) {
        return (Some(name), None);
    }
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(line: &str) -> Event {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(is_eve(&v), "not recognized: {line}");
        decode_value(v, Origin::default())
    }

    #[test]
    fn alert_with_flow_and_http() {
        let ev = decode(
            r#"{"timestamp":"2020-08-06T15:56:22.454612+0000","flow_id":1,"event_type":"alert",
            "src_ip":"172.18.39.5","src_port":57967,"dest_ip":"172.18.39.6","dest_port":5985,
            "proto":"TCP","app_proto":"http","host":"sensor-1",
            "alert":{"signature_id":2024897,"signature":"ET POLICY WinRM","severity":2},
            "http":{"hostname":"workstation6","http_port":5985,"url":"/wsman?PSVersion=5.1"}}"#,
        );
        assert_eq!(ev.source_kind, SourceKind::SuricataEve);
        assert_eq!(ev.timestamp.to_string(), "2020-08-06T15:56:22.454612Z");
        assert_eq!(ev.ecs.event_kind.as_deref(), Some("alert"));
        assert_eq!(
            ev.ecs.event_category.as_deref(),
            Some("intrusion_detection")
        );
        assert_eq!(ev.ecs.event_action.as_deref(), Some("ET POLICY WinRM"));
        assert_eq!(ev.ecs.source_ip.as_deref(), Some("172.18.39.5"));
        assert_eq!(ev.ecs.source_port, Some(57967));
        assert_eq!(ev.ecs.destination_port, Some(5985));
        assert_eq!(ev.ecs.network_protocol.as_deref(), Some("http"));
        assert_eq!(ev.ecs.host_name.as_deref(), Some("sensor-1"));
        assert_eq!(
            ev.ecs.url_full.as_deref(),
            Some("http://workstation6:5985/wsman?PSVersion=5.1")
        );
    }

    #[test]
    fn decoder_alert_without_addresses() {
        let ev = decode(
            r#"{"timestamp":"2020-09-22T18:52:40.080910+0000","pcap_cnt":8,"event_type":"alert",
            "alert":{"signature":"SURICATA IPv4 total length smaller than header size"}}"#,
        );
        assert_eq!(ev.ecs.source_ip, None);
        assert_eq!(ev.ecs.network_protocol, None);
        assert_eq!(
            ev.ecs.event_action.as_deref(),
            Some("SURICATA IPv4 total length smaller than header size")
        );
    }

    #[test]
    fn dns_v1_v2_and_v3_names() {
        let v3 = decode(
            r#"{"timestamp":"2020-09-22T18:53:30.854698+0000","flow_id":5,"event_type":"dns",
            "src_ip":"172.18.39.5","dest_ip":"172.18.38.5","proto":"UDP",
            "dns":{"version":3,"type":"request","queries":[{"rrname":"WORKSTATION6.theshire.local"}]}}"#,
        );
        assert_eq!(
            v3.ecs.dns_question_name.as_deref(),
            Some("WORKSTATION6.theshire.local")
        );
        assert_eq!(v3.ecs.event_action.as_deref(), Some("dns-query"));
        assert_eq!(v3.ecs.network_protocol.as_deref(), Some("dns"));
        let v2 = decode(
            r#"{"timestamp":"2020-01-01T00:00:00+0000","flow_id":5,"event_type":"dns",
            "dns":{"type":"answer","rrname":"example.org","rrtype":"A"}}"#,
        );
        assert_eq!(v2.ecs.dns_question_name.as_deref(), Some("example.org"));
        assert_eq!(v2.ecs.event_action.as_deref(), Some("dns-answer"));
        let llmnr = decode(
            r#"{"timestamp":"2017-10-09T16:44:39.055272+0000","flow_id":2,"event_type":"llmnr",
            "llmnr":{"type":"request","queries":[{"rrname":"wpad"}]}}"#,
        );
        assert_eq!(llmnr.ecs.dns_question_name.as_deref(), Some("wpad"));
    }

    #[test]
    fn tls_fileinfo_kerberos_and_smb() {
        let tls = decode(
            r#"{"timestamp":"2020-12-19T12:00:14.476599+0000","flow_id":1,"event_type":"tls",
            "tls":{"sni":"ods.opinsights.azure.com","version":"TLS 1.2"}}"#,
        );
        assert_eq!(
            tls.ecs.url_full.as_deref(),
            Some("https://ods.opinsights.azure.com")
        );
        let file = decode(
            r#"{"timestamp":"2020-08-06T15:56:34.761468+0000","flow_id":2,"event_type":"fileinfo",
            "app_proto":"smb","fileinfo":{"filename":"\\Windows\\Temp\\x.exe","size":3}}"#,
        );
        assert_eq!(
            file.ecs.file_path.as_deref(),
            Some("\\Windows\\Temp\\x.exe")
        );
        assert_eq!(file.ecs.event_category.as_deref(), Some("file"));
        let krb = decode(
            r#"{"timestamp":"2020-09-22T18:53:30.881207+0000","flow_id":3,"event_type":"krb5",
            "krb5":{"msg_type":"KRB_TGS_REP","cname":"pgustavo","realm":"THESHIRE.LOCAL"}}"#,
        );
        assert_eq!(krb.ecs.user_name.as_deref(), Some("pgustavo"));
        assert_eq!(krb.ecs.user_domain.as_deref(), Some("THESHIRE.LOCAL"));
        let anon = decode(
            r#"{"timestamp":"2020-09-22T18:53:30+0000","flow_id":3,"event_type":"krb5",
            "krb5":{"cname":"<empty>"}}"#,
        );
        assert_eq!(anon.ecs.user_name, None);
        let smb = decode(
            r#"{"timestamp":"2020-09-22T18:53:30+0000","flow_id":4,"event_type":"smb",
            "smb":{"command":"SMB2_COMMAND_SESSION_SETUP","ntlmssp":{"domain":"SHIRE","user":"pgustavo"},
            "filename":"ADMIN$\\x.exe"}}"#,
        );
        assert_eq!(smb.ecs.user_name.as_deref(), Some("pgustavo"));
        assert_eq!(smb.ecs.user_domain.as_deref(), Some("SHIRE"));
        assert_eq!(smb.ecs.file_path.as_deref(), Some("ADMIN$\\x.exe"));
        assert_eq!(smb.ecs.network_protocol.as_deref(), Some("smb"));
    }

    #[test]
    fn http_urls() {
        let url = |http: Value| http_url(&json!({ "http": http }));
        assert_eq!(
            url(json!({"hostname": "a.b", "url": "/x"})).as_deref(),
            Some("http://a.b/x")
        );
        assert_eq!(
            url(json!({"hostname": "a.b", "url": "/x", "http_port": 80})).as_deref(),
            Some("http://a.b/x")
        );
        assert_eq!(
            url(json!({"hostname": "fe80::1", "url": "x", "http_port": 8080})).as_deref(),
            Some("http://[fe80::1]:8080/x")
        );
        assert_eq!(
            url(json!({"url": "http://proxy.example/y"})).as_deref(),
            Some("http://proxy.example/y")
        );
        assert_eq!(url(json!({"url": "/no-host"})), None);
    }

    #[test]
    fn flow_falls_back_to_transport_and_recognition_is_strict() {
        let flow = decode(
            r#"{"timestamp":"2020-09-22T18:54:11.533231+0000","flow_id":5,"event_type":"flow",
            "proto":"TCP","app_proto":"failed","flow":{"state":"closed"}}"#,
        );
        assert_eq!(flow.ecs.network_protocol.as_deref(), Some("tcp"));
        assert_eq!(flow.ecs.event_kind.as_deref(), Some("event"));
        let stats = json!({"timestamp": "2024-01-01T00:00:00+0000", "event_type": "stats",
            "stats": {"uptime": 1}});
        assert!(is_eve(&stats));
        assert!(!is_eve(&json!({"event_type": "login", "user": "x"})));
        assert!(!is_eve(&json!({"event_type": 3, "flow_id": 1})));
    }

    #[test]
    fn looks_like_eve_reads_complete_and_cut_lines() {
        assert!(looks_like_eve(
            r#"{"timestamp":"2020-09-22T18:52:40+0000","pcap_cnt":8,"event_type":"alert","alert":{}}"#
        ));
        assert!(looks_like_eve(
            r#"{"timestamp":"2020-09-22T18:52:40+0000","flow_id":1,"event_type":"dns","dns":{"quer"#
        ));
        assert!(!looks_like_eve(r#"{"event_type":"login","user":"x"}"#));
        assert!(!looks_like_eve(r#"{"@timestamp":"x","winlog":{}}"#));
        assert!(!looks_like_eve("not json"));
    }
}
