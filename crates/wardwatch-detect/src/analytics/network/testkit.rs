//! Sensor records for the network analytics' tests, shaped as the Zeek and EVE decoders shape
//! them (normalized fields filled, the record in `raw`).

use serde_json::{Value, json};
use wardwatch_core::{Event, Origin, SourceKind};

/// 2025-12-01T08:00:00Z (a Monday) plus `secs`.
pub fn at(secs: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_764_576_000 + secs).unwrap()
}

fn event(kind: SourceKind, secs: i64, code: &str, raw: Value) -> Event {
    let mut e = Event::new(kind, at(secs), raw);
    e.origin = Origin {
        source: "net".into(),
        record_id: Some(secs as u64),
        ..Origin::default()
    };
    e.ecs.event_code = Some(code.into());
    e
}

/// A Zeek `conn` record: `state` is the connection state (`S0`, `REJ`, `SF`...).
pub fn conn(secs: i64, src: &str, dst: &str, port: u16, state: &str, bytes: u64) -> Event {
    let mut e = event(
        SourceKind::Zeek,
        secs,
        "conn",
        json!({"_path": "conn", "conn_state": state}),
    );
    e.ecs.source_ip = Some(src.into());
    e.ecs.destination_ip = Some(dst.into());
    e.ecs.destination_port = Some(port);
    e.ecs.network_transport = Some("tcp".into());
    e.ecs.event_action = Some(state.into());
    e.ecs.event_outcome = match state {
        "S0" | "REJ" | "RSTOS0" | "RSTRH" | "SH" => Some("failure".into()),
        "SF" | "S1" | "RSTO" | "RSTR" => Some("success".into()),
        _ => None,
    };
    e.ecs.source_bytes = Some(bytes);
    e.ecs.destination_bytes = Some(bytes);
    e
}

/// A Zeek `kerberos` AS request from `src` for `user`; `error` `None` is a success.
pub fn kerberos(secs: i64, src: &str, dc: &str, user: &str, error: Option<&str>) -> Event {
    let mut raw = json!({"_path": "kerberos", "request_type": "AS",
        "client": format!("{user}/CORP.LOCAL"), "success": error.is_none()});
    if let Some(e) = error {
        raw["error_msg"] = json!(e);
    }
    let mut e = event(SourceKind::Zeek, secs, "kerberos", raw);
    e.ecs.source_ip = Some(src.into());
    e.ecs.destination_ip = Some(dc.into());
    e.ecs.destination_port = Some(88);
    e.ecs.user_name = Some(user.into());
    e.ecs.event_outcome = Some(
        if error.is_none() {
            "success"
        } else {
            "failure"
        }
        .into(),
    );
    e
}

/// An EVE `rdp` initial request (one per connection).
pub fn rdp(secs: i64, src: &str, dst: &str) -> Event {
    let mut e = event(
        SourceKind::SuricataEve,
        secs,
        "rdp",
        json!({"event_type": "rdp", "rdp": {"event_type": "initial_request", "cookie": "admin"}}),
    );
    e.ecs.source_ip = Some(src.into());
    e.ecs.destination_ip = Some(dst.into());
    e.ecs.destination_port = Some(3389);
    e.ecs.user_name = Some("admin".into());
    e
}

/// A Zeek `dce_rpc` call.
pub fn dce_rpc(secs: i64, src: &str, dst: &str, endpoint: &str, operation: &str) -> Event {
    let mut e = event(
        SourceKind::Zeek,
        secs,
        "dce_rpc",
        json!({"_path": "dce_rpc", "endpoint": endpoint, "operation": operation}),
    );
    e.ecs.source_ip = Some(src.into());
    e.ecs.source_port = Some(50_000);
    e.ecs.destination_ip = Some(dst.into());
    e.ecs.destination_port = Some(49_667);
    e.ecs.event_action = Some(operation.into());
    e
}

/// A Zeek `smb_mapping` of `path`.
pub fn smb_mapping(secs: i64, src: &str, dst: &str, path: &str) -> Event {
    let mut e = event(
        SourceKind::Zeek,
        secs,
        "smb_mapping",
        json!({"_path": "smb_mapping", "path": path, "share_type": "DISK"}),
    );
    e.ecs.source_ip = Some(src.into());
    e.ecs.source_port = Some(50_001);
    e.ecs.destination_ip = Some(dst.into());
    e.ecs.destination_port = Some(445);
    e.ecs.file_path = Some(path.into());
    e
}

/// A Zeek `conn` record of an answered session sending `out` bytes and receiving `back`.
pub fn session(secs: i64, src: &str, dst: &str, port: u16, out: u64, back: u64) -> Event {
    let mut e = conn(secs, src, dst, port, "SF", out);
    e.ecs.destination_bytes = Some(back);
    e
}

/// A Zeek `dns` record: `src` asked for `query`, answered with `rcode` (`NOERROR`, `NXDOMAIN`).
pub fn dns(secs: i64, src: &str, query: &str, rcode: &str) -> Event {
    let mut e = event(
        SourceKind::Zeek,
        secs,
        "dns",
        json!({"_path": "dns", "query": query, "rcode_name": rcode, "qtype_name": "A"}),
    );
    e.ecs.source_ip = Some(src.into());
    e.ecs.source_port = Some(53_000);
    e.ecs.destination_ip = Some("10.0.0.53".into());
    e.ecs.destination_port = Some(53);
    e.ecs.network_transport = Some("udp".into());
    e.ecs.dns_question_name = Some(query.into());
    e
}
