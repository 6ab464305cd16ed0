use super::*;

/// 2024-03-01T12:00:00Z, the "now" of every case unless one says otherwise.
fn now() -> Timestamp {
    "2024-03-01T12:00:00Z".parse().unwrap()
}

fn decode(line: &str) -> Event {
    decode_line_at(line, Origin::default(), now())
}

#[test]
fn rfc5424_with_structured_data() {
    let ev = decode(
        r#"<165>1 2003-10-11T22:14:15.003-07:00 mymachine.example.com evntslog 8710 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high" class="urgent"] An application event log entry"#,
    );
    assert_eq!(ev.source_kind, SourceKind::Syslog);
    assert_eq!(ev.timestamp.to_string(), "2003-10-12T05:14:15.003Z");
    assert_eq!(
        ev.time_text.as_deref(),
        Some("2003-10-11T22:14:15.003-07:00")
    );
    assert_eq!(ev.ecs.host_name.as_deref(), Some("mymachine.example.com"));
    assert_eq!(ev.ecs.process_pid, Some(8710));
    assert_eq!(
        ev.ecs.message.as_deref(),
        Some("An application event log entry")
    );
    let raw = &ev.raw;
    assert_eq!(raw["protocol"], "rfc5424");
    assert_eq!(raw["version"], 1);
    assert_eq!(raw["facility"], "local4");
    assert_eq!(raw["severity"], "notice");
    assert_eq!(raw["appname"], "evntslog");
    assert_eq!(raw["procid"], 8710);
    assert_eq!(raw["msgid"], "ID47");
    assert_eq!(
        raw["structured_data"]["exampleSDID@32473"]["eventID"],
        "1011"
    );
    assert_eq!(
        raw["structured_data"]["examplePriority@32473"]["class"],
        json!(["high", "urgent"])
    );
}

#[test]
fn rfc5424_nil_values_take_now() {
    let ev = decode("<34>1 - - - - - - hello");
    assert_eq!(ev.timestamp, now());
    assert_eq!(ev.time_text, None);
    assert_eq!(ev.ecs.host_name, None);
    assert_eq!(ev.ecs.message.as_deref(), Some("hello"));
}

#[test]
fn rfc3164_year_and_time_text() {
    let ev =
        decode("<34>Feb 28 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(ev.timestamp.to_string(), "2024-02-28T22:14:15Z");
    assert_eq!(ev.time_text.as_deref(), Some("Feb 28 22:14:15"));
    assert_eq!(ev.ecs.host_name.as_deref(), Some("mymachine"));
    assert_eq!(ev.raw["appname"], "su");
    assert_eq!(ev.raw["procid"], 230);
    assert_eq!(ev.raw["facility"], "auth");
    assert_eq!(ev.raw["severity"], "crit");
    assert_eq!(ev.raw["protocol"], "rfc3164");
    assert_eq!(
        ev.ecs.message.as_deref(),
        Some("'su root' failed for lonvick on /dev/pts/8")
    );
}

#[test]
fn rfc3164_more_than_a_day_ahead_is_last_year() {
    // Within a day ahead (clock skew): this year.
    let ev = decode("<13>Mar  2 11:00:00 h app: x");
    assert_eq!(ev.timestamp.to_string(), "2024-03-02T11:00:00Z");
    // More than a day ahead: last December.
    let ev = decode("<13>Dec 31 23:59:59 h app: x");
    assert_eq!(ev.timestamp.to_string(), "2023-12-31T23:59:59Z");
    let jan = "2025-01-01T00:10:00Z".parse().unwrap();
    let ev = decode_line_at("<13>Dec 31 23:59:00 h app: x", Origin::default(), jan);
    assert_eq!(ev.timestamp.to_string(), "2024-12-31T23:59:00Z");
}

#[test]
fn rfc3164_leap_day_finds_its_year() {
    let in_2025: Timestamp = "2025-06-01T00:00:00Z".parse().unwrap();
    assert_eq!(year_for((2, 29, 10, 0, 0), in_2025), 2024);
    assert_eq!(year_for((2, 29, 10, 0, 0), now()), 2024);
    assert_eq!(year_for((2, 30, 10, 0, 0), now()), 2024);
    assert_eq!(year_for((99, 99, 99, 99, 99), now()), 2024);
    let ev = decode_line_at("<13>Feb 29 10:00:00 h app: x", Origin::default(), in_2025);
    assert_eq!(ev.timestamp.to_string(), "2024-02-29T10:00:00Z");
}

#[test]
fn impossible_stamp_keeps_text_and_takes_now() {
    let ev = decode("<13>Feb 30 10:00:00 h app: x");
    assert_eq!(ev.timestamp, now());
}

#[test]
fn json_payload_is_decoded() {
    let ev = decode(
        r#"<14>Mar  1 11:00:00 ehr01 audit[77]: {"user":{"name":"nurse1"},"event":{"action":"record-view"},"message":"viewed chart","patient":"123"}"#,
    );
    assert_eq!(ev.raw["json"]["patient"], "123");
    assert_eq!(ev.ecs.user_name.as_deref(), Some("nurse1"));
    assert_eq!(ev.ecs.event_action.as_deref(), Some("record-view"));
    assert_eq!(ev.ecs.host_name.as_deref(), Some("ehr01"));
    assert_eq!(ev.ecs.message.as_deref(), Some("viewed chart"));
    let cee = decode(r#"<14>Mar  1 11:00:00 h app: @cee: {"host":{"name":"inner"},"a":1}"#);
    assert_eq!(cee.raw["json"]["a"], 1);
    assert_eq!(cee.ecs.host_name.as_deref(), Some("h"), "the header wins");
    let not_json = decode("<14>Mar  1 11:00:00 h app: {not json}");
    assert!(not_json.raw.get("json").is_none());
    assert_eq!(not_json.ecs.message.as_deref(), Some("{not json}"));
}

#[test]
fn cef_after_a_host_or_alone() {
    let ev = decode(
        "<134>Mar  1 11:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1|THREAT|url|3|src=10.0.0.5 dst=1.2.3.4 dpt=80 suser=HOSP\\\\bob request=http://bad.example/x",
    );
    assert_eq!(ev.ecs.host_name.as_deref(), Some("fw01"));
    assert_eq!(ev.raw["cef"]["device_vendor"], "Palo Alto Networks");
    assert_eq!(ev.ecs.source_ip.as_deref(), Some("10.0.0.5"));
    assert_eq!(ev.ecs.destination_port, Some(80));
    assert_eq!(ev.ecs.user_name.as_deref(), Some("HOSP\\bob"));
    assert_eq!(ev.ecs.url_full.as_deref(), Some("http://bad.example/x"));
    assert!(ev.ecs.message.as_deref().unwrap().starts_with("CEF:0|"));
    let bare = decode("<134>Mar  1 11:00:00 CEF:0|V|P|1|42|Thing happened|5|src=10.1.1.1");
    assert_eq!(bare.ecs.host_name, None, "CEF: is no host name");
    assert_eq!(bare.ecs.event_code.as_deref(), Some("42"));
    assert_eq!(bare.raw["cef"]["extension"]["src"], "10.1.1.1");
}

#[test]
fn not_syslog_is_kept_whole() {
    for line in ["hello world", "", "<>", "<999999>x", "\u{0}\u{1}", "Oct"] {
        let ev = decode(line);
        assert_eq!(ev.timestamp, now(), "{line:?}");
        assert_eq!(ev.ecs.message.as_deref(), Some(line));
        assert_eq!(ev.raw["unparsed"], true);
    }
}

#[test]
fn invalid_utf8_is_replaced_and_flagged() {
    let ev = decode_bytes(
        b"<13>Mar  1 11:00:00 h app: bad \xff\xfe byte\r\n\0",
        Origin::default(),
        now(),
    );
    assert_eq!(ev.raw["invalid_utf8"], true);
    assert_eq!(ev.ecs.message.as_deref(), Some("bad \u{fffd}\u{fffd} byte"));
    let ok = decode_bytes(
        b"<13>Mar  1 11:00:00 h app: fine\n",
        Origin::default(),
        now(),
    );
    assert!(ok.raw.get("invalid_utf8").is_none());
    assert_eq!(ok.ecs.message.as_deref(), Some("fine"));
}

#[test]
fn origin_is_kept_and_bom_dropped() {
    let origin = Origin {
        source: "udp:514".into(),
        record_id: Some(9),
        offset: None,
        id: None,
    };
    let ev = decode_line_at(
        "<13>1 2024-01-01T00:00:00Z h a - - - \u{feff}text",
        origin.clone(),
        now(),
    );
    assert_eq!(ev.origin, origin);
    assert_eq!(ev.ecs.message.as_deref(), Some("text"));
}

#[test]
fn atna_audit_message_over_rfc5424_is_normalized_and_a_broken_one_kept() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?><AuditMessage><EventIdentification EventActionCode="R" EventDateTime="2024-03-01T11:59:58Z" EventOutcomeIndicator="0"><EventID csd-code="110110" originalText="Patient Record"/></EventIdentification><ActiveParticipant UserID="dr.smit" UserIsRequestor="true" NetworkAccessPointID="10.30.1.7"/><AuditSourceIdentification AuditSourceID="PACS01"/><ParticipantObjectIdentification ParticipantObjectID="P-1001" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1"/></AuditMessage>"#;
    let ev = decode(&format!(
        "<85>1 2024-03-01T11:59:59Z pacs01.hosp.local ATNA 901 IHE+RFC-3881 - \u{feff}{xml}"
    ));
    assert_eq!(ev.ecs.user_name.as_deref(), Some("dr.smit"));
    assert_eq!(ev.ecs.patient_id.as_deref(), Some("P-1001"));
    assert_eq!(ev.ecs.event_provider.as_deref(), Some("atna"));
    assert_eq!(ev.ecs.host_name.as_deref(), Some("PACS01"));
    assert_eq!(ev.ecs.process_name.as_deref(), Some("ATNA"));
    assert_eq!(ev.ecs.source_ip.as_deref(), Some("10.30.1.7"));
    assert_eq!(ev.raw["atna"]["ActiveParticipant"]["UserID"], "dr.smit");
    assert_eq!(ev.raw["msgid"], "IHE+RFC-3881");
    let broken =
        decode("<85>1 2024-03-01T11:59:59Z pacs01 ATNA - - - <AuditMessage><EventIdentification/>");
    assert!(
        broken.raw["atna_error"]
            .as_str()
            .unwrap()
            .starts_with("invalid XML")
    );
    assert_eq!(broken.ecs.host_name.as_deref(), Some("pacs01"));
    assert!(broken.ecs.message.is_some(), "the text is kept");
}

#[test]
fn network_sensor_records_relayed_over_syslog_are_those_records() {
    let zeek = decode(
        r#"<134>1 2024-03-01T11:59:59Z sensor-1 zeek - - - {"_path":"conn","ts":1709294399.5,"uid":"C1","id.orig_h":"10.9.0.7","id.orig_p":51000,"id.resp_h":"10.1.0.20","id.resp_p":3389,"proto":"tcp","conn_state":"REJ"}"#,
    );
    assert_eq!(zeek.source_kind, SourceKind::Zeek);
    assert_eq!(zeek.ecs.event_code.as_deref(), Some("conn"));
    assert_eq!(zeek.ecs.event_outcome.as_deref(), Some("failure"));
    assert_eq!(zeek.ecs.observer_hostname.as_deref(), Some("sensor-1"));
    assert_eq!(zeek.timestamp.to_string(), "2024-03-01T11:59:59.5Z");
    let eve = decode(
        r#"<134>Mar  1 11:59:59 ids-2 suricata[99]: {"timestamp":"2024-03-01T11:59:58.000000+0000","flow_id":7,"event_type":"flow","src_ip":"10.9.0.7","dest_ip":"10.1.0.20","dest_port":445,"proto":"TCP","flow":{"pkts_toserver":1,"pkts_toclient":0}}"#,
    );
    assert_eq!(eve.source_kind, SourceKind::SuricataEve);
    assert_eq!(eve.ecs.event_outcome.as_deref(), Some("failure"));
    assert_eq!(eve.ecs.observer_hostname.as_deref(), Some("ids-2"));
    // Other JSON payloads stay syslog events with their JSON beside.
    let other = decode(r#"<134>1 2024-03-01T11:59:59Z app-1 web - - - {"user":"x","ts":1}"#);
    assert_eq!(other.source_kind, SourceKind::Syslog);
}
