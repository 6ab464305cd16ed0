use super::*;
use serde_json::json;

fn decode(v: Value) -> Event {
    assert!(is_zeek(&v), "not recognized: {v}");
    decode_value(v, Origin::default())
}

fn id(extra: Value) -> Value {
    let mut v = json!({"ts": 1588205520.5, "uid": "C1", "id.orig_h": "10.0.1.4",
        "id.orig_p": 50000, "id.resp_h": "10.0.0.4", "id.resp_p": 445});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

#[test]
fn every_listed_log_is_recognized_by_its_fields_alone() {
    let cases = [
        (
            json!({"proto": "tcp", "conn_state": "REJ", "history": "Sr"}),
            "conn",
        ),
        (
            json!({"query": "x.example", "qtype_name": "A", "rcode_name": "NXDOMAIN"}),
            "dns",
        ),
        (
            json!({"method": "GET", "uri": "/a", "host": "h", "status_code": 404}),
            "http",
        ),
        (
            json!({"server_name": "a.example", "cipher": "TLS_AES", "established": true}),
            "ssl",
        ),
        (
            json!({"path": "\\\\DC\\ADMIN$", "share_type": "DISK"}),
            "smb_mapping",
        ),
        (
            json!({"action": "SMB::FILE_WRITE", "path": "\\\\WS\\C$", "name": "x.exe"}),
            "smb_files",
        ),
        (
            json!({"endpoint": "svcctl", "operation": "CreateServiceW"}),
            "dce_rpc",
        ),
        (
            json!({"request_type": "AS", "client": "bob/CORP.LOCAL", "success": false}),
            "kerberos",
        ),
        (
            json!({"username": "bob", "domainname": "CORP", "success": true}),
            "ntlm",
        ),
        (
            json!({"cookie": "admin", "result": "Success", "security_protocol": "HYBRID"}),
            "rdp",
        ),
        (json!({"auth_success": false, "auth_attempts": 3}), "ssh"),
        (
            json!({"note": "Scan::Port_Scan", "msg": "10.0.1.4 scanned"}),
            "notice",
        ),
        (
            json!({"mac": "00:11:22:33:44:55", "assigned_addr": "10.5.0.20",
                   "msg_types": ["REQUEST", "ACK"], "host_name": "infusion-07"}),
            "dhcp",
        ),
    ];
    for (fields, path) in cases {
        let e = decode(id(fields));
        assert_eq!(e.ecs.event_code.as_deref(), Some(path), "{}", e.raw);
        assert_eq!(e.ecs.source_ip.as_deref(), Some("10.0.1.4"));
        assert_eq!(e.ecs.destination_port, Some(445));
        assert!(e.raw.get("_path").is_none(), "the record stays as it came");
    }
    let software = json!({"ts": 1.0, "host": "10.0.0.9", "software_type": "HTTP::SERVER",
        "name": "Apache", "unparsed_version": "Apache/2.4.1"});
    let e = decode(software);
    assert_eq!(e.ecs.event_code.as_deref(), Some("software"));
    assert_eq!(e.ecs.host_ip.as_deref(), Some("10.0.0.9"));
}

#[test]
fn normalized_fields_per_log() {
    let dns = decode(id(json!({"_path": "dns", "query": "a.b.example",
        "rcode_name": "NXDOMAIN", "proto": "udp"})));
    assert_eq!(dns.ecs.dns_question_name.as_deref(), Some("a.b.example"));
    assert_eq!(dns.ecs.event_outcome.as_deref(), Some("failure"));
    assert_eq!(dns.ecs.network_transport.as_deref(), Some("udp"));

    let http = decode(id(json!({"_path": "http", "method": "POST", "host": "ws6",
        "uri": "/wsman", "status_code": 200, "username": "alice"})));
    assert_eq!(http.ecs.url_full.as_deref(), Some("http://ws6:445/wsman"));
    assert_eq!(http.ecs.event_category.as_deref(), Some("web"));
    assert_eq!(http.ecs.user_name.as_deref(), Some("alice"));

    let krb = decode(id(json!({"_path": "kerberos", "request_type": "AS",
        "client": "stevie.marie/PANDALAB.COM", "success": false,
        "error_msg": "KDC_ERR_PREAUTH_FAILED"})));
    assert_eq!(krb.ecs.user_name.as_deref(), Some("stevie.marie"));
    assert_eq!(krb.ecs.user_domain.as_deref(), Some("PANDALAB.COM"));
    assert_eq!(krb.ecs.event_outcome.as_deref(), Some("failure"));
    assert_eq!(krb.ecs.event_category.as_deref(), Some("authentication"));

    let files = decode(id(json!({"_path": "smb_files", "action": "SMB::FILE_OPEN",
        "path": "\\\\WS2\\ADMIN$\\", "name": "\\PSEXESVC.exe"})));
    assert_eq!(
        files.ecs.file_path.as_deref(),
        Some("\\\\WS2\\ADMIN$\\PSEXESVC.exe")
    );
    assert_eq!(files.ecs.event_action.as_deref(), Some("file-open"));

    let notice = decode(
        json!({"_path": "notice", "ts": "2018-03-24T17:16:39.739898Z",
        "note": "SSH::Password_Guessing", "msg": "guessing", "src": "192.168.56.1"}),
    );
    assert_eq!(notice.ecs.event_kind.as_deref(), Some("alert"));
    assert_eq!(notice.ecs.source_ip.as_deref(), Some("192.168.56.1"));
    assert_eq!(notice.timestamp.to_string(), "2018-03-24T17:16:39.739898Z");

    let dhcp = decode(json!({"_path": "dhcp", "ts": 1.0, "uids": ["C1"],
        "mac": "00:11:22:33:44:55", "assigned_addr": "10.5.0.20",
        "msg_types": ["REQUEST", "ACK"], "host_name": "infusion-07"}));
    assert_eq!(dhcp.ecs.source_mac.as_deref(), Some("00:11:22:33:44:55"));
    assert_eq!(dhcp.ecs.source_ip.as_deref(), Some("10.5.0.20"));
    assert_eq!(dhcp.ecs.host_name.as_deref(), Some("infusion-07"));
    assert_eq!(dhcp.ecs.event_action.as_deref(), Some("REQUEST,ACK"));
}

#[test]
fn underscored_and_streamed_records_read_alike() {
    let e = decode(
        json!({"@stream": "conn", "@system": "sensor.local", "@proc": "zeek",
        "ts": 1588205199.82437, "uid": "Cv", "id_orig_h": "10.0.1.6", "id_orig_p": 54243,
        "id_resp_h": "10.0.0.4", "id_resp_p": 53, "proto": "udp", "service": "dns,krb",
        "duration": 0.0015, "orig_bytes": 39, "resp_bytes": 55, "conn_state": "SF"}),
    );
    assert_eq!(e.ecs.event_code.as_deref(), Some("conn"));
    assert_eq!(e.ecs.source_ip.as_deref(), Some("10.0.1.6"));
    assert_eq!(e.ecs.destination_port, Some(53));
    assert_eq!(e.ecs.network_protocol.as_deref(), Some("dns"));
    assert_eq!(e.ecs.observer_hostname.as_deref(), Some("sensor.local"));
    assert_eq!(e.ecs.event_duration, Some(1_500_000));
    assert_eq!(e.timestamp.to_string(), "2020-04-30T00:06:39.82437Z");
}

#[test]
fn other_json_is_not_zeek() {
    assert!(!is_zeek(&json!({"ts": 1, "user": "x"})));
    assert!(!is_zeek(&json!({"uid": "C1", "conn_state": "S0"})));
    assert!(!is_zeek(
        &json!({"@stream": "x", "@proc": "nginx", "ts": 1})
    ));
    assert!(looks_like_zeek(
        r#"{"_path":"conn","ts":1.0,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"#
    ));
    assert!(!looks_like_zeek(r#"{"ts":1.0,"message":"x"}"#));
}

#[test]
fn conn_states_say_whether_the_responder_answered() {
    for s in ["S0", "REJ", "RSTOS0", "RSTRH", "SH"] {
        assert_eq!(conn_state_answered(s), Some(false), "{s}");
    }
    for s in ["SF", "S1", "RSTO", "RSTR"] {
        assert_eq!(conn_state_answered(s), Some(true), "{s}");
    }
    assert_eq!(conn_state_answered("OTH"), None);
}
