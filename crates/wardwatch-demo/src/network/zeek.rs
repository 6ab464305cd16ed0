//! Zeek JSON log lines, as Zeek's JSON writer (`LogAscii::use_json=T`) writes them: `_path`
//! naming the log, `ts` as seconds since the epoch, the connection's `uid` and its `id.*`
//! four-tuple, then the log's own fields.
//!
//! # References
//! Zeek documentation, "Log Files" (conn.log, dns.log, dce_rpc.log, smb_mapping.log,
//! kerberos.log, rdp.log, dhcp.log field lists).

use jiff::Timestamp;
use serde_json::{Map, Value, json};

/// One line of a Zeek log: when, and the line.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeekLine {
    pub time: Timestamp,
    pub line: String,
}

/// Builds lines with connection ids that never repeat within one generator.
#[derive(Default)]
pub struct Writer {
    pub lines: Vec<(ZeekLine, Option<usize>)>,
    next_uid: u64,
    next_port: u16,
    /// The planted case the next lines belong to (an index into the week's cases).
    pub case: Option<usize>,
}

/// A connection's four-tuple and transport.
#[derive(Debug, Clone, Copy)]
pub struct Tuple<'a> {
    pub src: &'a str,
    pub dst: &'a str,
    pub port: u16,
    pub proto: &'a str,
}

impl Writer {
    /// A writer whose connection ids start after `base` (so two writers of one week never
    /// share one).
    pub fn with_uid_base(base: u64) -> Writer {
        Writer {
            next_uid: base,
            ..Writer::default()
        }
    }

    fn uid(&mut self) -> String {
        self.next_uid += 1;
        // Zeek's uids are a letter and 17 base62 characters; ours are unique and look alike.
        format!(
            "C{:017x}",
            self.next_uid.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 4
        )
    }

    fn ephemeral(&mut self) -> u16 {
        self.next_port = if self.next_port < 49_152 || self.next_port == u16::MAX {
            49_152
        } else {
            self.next_port + 1
        };
        self.next_port
    }

    fn push(&mut self, path: &str, t: Timestamp, c: Tuple<'_>, fields: Value) {
        let mut rec = Map::new();
        rec.insert("_path".into(), json!(path));
        rec.insert("ts".into(), json!(t.as_microsecond() as f64 / 1e6));
        rec.insert("uid".into(), json!(self.uid()));
        rec.insert("id.orig_h".into(), json!(c.src));
        let sport = if c.proto == "udp" && matches!(c.port, 67 | 123) {
            c.port + u16::from(c.port == 67)
        } else {
            self.ephemeral()
        };
        rec.insert("id.orig_p".into(), json!(sport));
        rec.insert("id.resp_h".into(), json!(c.dst));
        rec.insert("id.resp_p".into(), json!(c.port));
        if let Value::Object(f) = fields {
            rec.extend(f);
        }
        self.lines.push((
            ZeekLine {
                time: t,
                line: Value::Object(rec).to_string(),
            },
            self.case,
        ));
    }

    /// A `conn` record: `state` is Zeek's `conn_state` (`SF`, `S0`, `REJ`...).
    #[allow(clippy::too_many_arguments)]
    pub fn conn(
        &mut self,
        t: Timestamp,
        c: Tuple<'_>,
        service: Option<&str>,
        state: &str,
        duration: f64,
        sent: u64,
        received: u64,
    ) {
        let answered = matches!(state, "SF" | "S1" | "RSTO" | "RSTR");
        let mut f = json!({
            "proto": c.proto,
            "conn_state": state,
            "local_orig": c.src.starts_with("10."),
            "local_resp": c.dst.starts_with("10."),
            "missed_bytes": 0,
            "history": if answered { "ShADadFf" } else if state == "REJ" { "Sr" } else { "S" },
            "orig_pkts": 1 + sent / 1400,
            "resp_pkts": if answered { 1 + received / 1400 } else if state == "REJ" { 1 } else { 0 },
        });
        if let Some(s) = service {
            f["service"] = json!(s);
        }
        if answered {
            f["duration"] = json!(duration);
            f["orig_bytes"] = json!(sent);
            f["resp_bytes"] = json!(received);
        }
        self.push("conn", t, c, f);
    }

    /// A `dns` record of `src` asking `resolver` for `query` (an `A` record), answered `rcode`.
    pub fn dns(&mut self, t: Timestamp, src: &str, resolver: &str, query: &str, rcode: &str) {
        let answers = if rcode == "NOERROR" {
            json!(["93.184.216.34"])
        } else {
            json!([])
        };
        let rcode_n = match rcode {
            "NOERROR" => 0,
            "NXDOMAIN" => 3,
            _ => 2,
        };
        let c = Tuple {
            src,
            dst: resolver,
            port: 53,
            proto: "udp",
        };
        self.push(
            "dns",
            t,
            c,
            json!({"proto": "udp", "trans_id": (self.next_uid % 65_536), "rtt": 0.0021,
                "query": query, "qclass": 1, "qclass_name": "C_INTERNET", "qtype": 1,
                "qtype_name": "A", "rcode": rcode_n, "rcode_name": rcode, "AA": false,
                "TC": false, "RD": true, "RA": true, "Z": 0, "answers": answers,
                "rejected": false}),
        );
    }

    /// A `dce_rpc` call (`endpoint` `svcctl`, operation `CreateServiceW`...).
    pub fn dce_rpc(&mut self, t: Timestamp, src: &str, dst: &str, endpoint: &str, op: &str) {
        let c = Tuple {
            src,
            dst,
            port: 445,
            proto: "tcp",
        };
        self.push(
            "dce_rpc",
            t,
            c,
            json!({"rtt": 0.0008, "named_pipe": format!("\\pipe\\{endpoint}"),
                "endpoint": endpoint, "operation": op}),
        );
    }

    /// An `smb_mapping` of `\\dst\share`.
    pub fn smb_mapping(&mut self, t: Timestamp, src: &str, dst: &str, host: &str, share: &str) {
        let c = Tuple {
            src,
            dst,
            port: 445,
            proto: "tcp",
        };
        self.push(
            "smb_mapping",
            t,
            c,
            json!({"path": format!("\\\\{host}\\{share}"), "share_type": "DISK"}),
        );
    }

    /// A `kerberos` AS request of `user`; `error` `None` is a success.
    pub fn kerberos(&mut self, t: Timestamp, src: &str, dc: &str, user: &str, error: Option<&str>) {
        let c = Tuple {
            src,
            dst: dc,
            port: 88,
            proto: "tcp",
        };
        let mut f = json!({"request_type": "AS", "client": format!("{user}/HOSPITAL.LOCAL"),
            "service": "krbtgt/HOSPITAL.LOCAL", "success": error.is_none(),
            "cipher": "aes256-cts-hmac-sha1-96", "forwardable": true, "renewable": true});
        if let Some(e) = error {
            f["error_msg"] = json!(e);
        }
        self.push("kerberos", t, c, f);
    }

    /// An `rdp` connection with `cookie` as the user name hint.
    pub fn rdp(&mut self, t: Timestamp, src: &str, dst: &str, cookie: &str) {
        let c = Tuple {
            src,
            dst,
            port: 3389,
            proto: "tcp",
        };
        self.push(
            "rdp",
            t,
            c,
            json!({"cookie": cookie, "result": "encrypted", "security_protocol": "HYBRID",
                "cert_count": 0}),
        );
    }

    /// A `dhcp` exchange: `ip` leased to `mac`, which calls itself `name`.
    pub fn dhcp(&mut self, t: Timestamp, server: &str, ip: &str, mac: &str, name: &str) {
        let c = Tuple {
            src: ip,
            dst: server,
            port: 67,
            proto: "udp",
        };
        self.push(
            "dhcp",
            t,
            c,
            json!({"uids": [], "client_addr": ip, "server_addr": server, "mac": mac,
                "host_name": name, "domain": "hospital.local", "assigned_addr": ip,
                "lease_time": 86400.0, "msg_types": ["REQUEST", "ACK"], "duration": 0.004}),
        );
    }
}
