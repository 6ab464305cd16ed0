//! The same week as a Suricata sensor logs it: each Zeek record rewritten as the EVE JSON
//! event(s) Suricata writes for that traffic — `conn` → `flow` (packet and byte counts, TCP
//! flags seen each way), `dns` → a query and an answer, `dce_rpc` → `dcerpc` (interface and
//! operation number), `smb_mapping` → `smb` TREE_CONNECT, `kerberos` → `krb5`, `rdp` → `rdp`
//! initial request. DHCP is left out (Suricata's `dhcp` events name no host the analytics use).
//!
//! Why: the analytics read one vocabulary from either sensor; the recall test runs the week
//! through both, so an analytic that only works on Zeek's words shows.
//!
//! # References
//! Suricata documentation, "EVE JSON Format" (flow, dns v2, dcerpc, smb, krb5, rdp).

use serde_json::{Value, json};

use super::ZeekLine;

/// DCE/RPC operation numbers of the operations the generator writes.
fn opnum(operation: &str) -> u64 {
    match operation {
        "CreateServiceW" => 12,
        "StartServiceW" => 19,
        "SchRpcRegisterTask" => 1,
        "NetrJobAdd" => 0,
        "DRSGetNCChanges" => 3,
        "RemoteCreateInstance" => 4,
        "ExecMethod" => 24,
        _ => 0,
    }
}

/// The EVE event(s) of one Zeek line (none for a record Suricata would not log this way).
pub fn of(line: &ZeekLine) -> Vec<ZeekLine> {
    let Ok(z) = serde_json::from_str::<Value>(&line.line) else {
        return Vec::new();
    };
    let s = |k: &str| z.get(k).and_then(Value::as_str).unwrap_or("");
    let n = |k: &str| z.get(k).and_then(Value::as_u64).unwrap_or(0);
    let stamp = line.time.strftime("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string();
    let proto = z.get("proto").and_then(Value::as_str).map_or_else(
        || {
            if s("_path") == "dns" {
                "UDP".to_string()
            } else {
                "TCP".to_string()
            }
        },
        str::to_ascii_uppercase,
    );
    let base = |event_type: &str| {
        json!({
            "timestamp": stamp,
            "flow_id": super::super::emit::fnv(s("uid")) & 0x000F_FFFF_FFFF_FFFF,
            "event_type": event_type,
            "src_ip": s("id.orig_h"),
            "src_port": n("id.orig_p"),
            "dest_ip": s("id.resp_h"),
            "dest_port": n("id.resp_p"),
            "proto": proto,
        })
    };
    let with = |mut v: Value, key: &str, body: Value| {
        v[key] = body;
        ZeekLine {
            time: line.time,
            line: v.to_string(),
        }
    };
    match s("_path") {
        "conn" => {
            let state = s("conn_state");
            let answered = matches!(state, "SF" | "S1" | "RSTO" | "RSTR");
            let (sent, back) = (n("orig_bytes"), n("resp_bytes"));
            let mut v = base("flow");
            v["app_proto"] = json!(match z.get("service").and_then(Value::as_str) {
                Some(p) => p,
                None if answered => "unknown",
                None => "failed",
            });
            v["flow"] = json!({
                "pkts_toserver": n("orig_pkts"),
                "pkts_toclient": n("resp_pkts"),
                "bytes_toserver": sent,
                "bytes_toclient": back,
                "start": stamp,
                "end": stamp,
                "age": z.get("duration").and_then(Value::as_f64).unwrap_or(0.0) as u64,
                "state": if answered { "closed" } else { "new" },
                "reason": "timeout",
                "alerted": false,
            });
            if proto == "TCP" {
                // SYN 02, RST 04, PSH 08 (data), ACK 10, FIN 01.
                let push = |bytes: u64| if bytes > 0 { 0x08 } else { 0 };
                let ts = 0x02 | if answered { 0x11 | push(sent) } else { 0 };
                let tc: u8 = if answered {
                    0x13 | push(back)
                } else if state == "REJ" {
                    0x14
                } else {
                    0
                };
                let mut tcp = json!({"tcp_flags": format!("{:02x}", ts | tc), "tcp_flags_ts": format!("{ts:02x}")});
                if tc != 0 {
                    tcp["tcp_flags_tc"] = json!(format!("{tc:02x}"));
                }
                v["tcp"] = tcp;
            }
            vec![ZeekLine {
                time: line.time,
                line: v.to_string(),
            }]
        }
        "dns" => {
            let query = json!({"version": 2, "type": "query", "id": n("trans_id"), "rrname": s("query"), "rrtype": "A", "tx_id": 0});
            let mut answer = json!({"version": 2, "type": "answer", "id": n("trans_id"), "rrname": s("query"), "rrtype": "A", "rcode": s("rcode_name")});
            if let Some(a) = z
                .get("answers")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
            {
                answer["answers"] =
                    json!([{"rrname": s("query"), "rrtype": "A", "ttl": 300, "rdata": a}]);
            }
            vec![
                with(base("dns"), "dns", query),
                with(base("dns"), "dns", answer),
            ]
        }
        "dce_rpc" => {
            let op = s("operation");
            vec![with(
                base("dcerpc"),
                "dcerpc",
                json!({"request": "REQUEST", "response": "RESPONSE", "call_id": 2, "rpc_version": "5.0",
                    "interfaces": [{"uuid": "367abb81-9844-35f1-ad32-98f038001003", "version": "2.0", "ack_result": 0, "service": s("endpoint")}],
                    "req": {"opnum": opnum(op), "frag_cnt": 1, "stub_data_size": 96},
                    "res": {"frag_cnt": 1, "stub_data_size": 24}}),
            )]
        }
        "smb_mapping" => vec![with(
            base("smb"),
            "smb",
            json!({"id": 1, "dialect": "3.1.1", "command": "SMB2_COMMAND_TREE_CONNECT", "status": "STATUS_SUCCESS",
                "status_code": "0x0", "session_id": 1, "tree_id": 1, "share": s("path"), "share_type": "FILE"}),
        )],
        "kerberos" => {
            let user = s("client").split('/').next().unwrap_or("").to_string();
            let mut k = json!({"msg_type": "KRB_AS_REP", "cname": user, "realm": "HOSPITAL.LOCAL",
                "sname": "krbtgt/HOSPITAL.LOCAL", "encryption": "aes256-cts-hmac-sha1-96", "weak_encryption": false});
            if let Some(e) = z.get("error_msg").and_then(Value::as_str) {
                k["msg_type"] = json!("KRB_ERROR");
                k["error_code"] = json!(e);
            }
            vec![with(base("krb5"), "krb5", k)]
        }
        "rdp" => vec![with(
            base("rdp"),
            "rdp",
            json!({"tx_id": 0, "event_type": "initial_request", "cookie": s("cookie")}),
        )],
        _ => Vec::new(),
    }
}
