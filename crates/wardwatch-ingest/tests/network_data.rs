//! Conformance on `../shared/data/network`, read in place through `decode_file` (the path
//! `hunt` takes): every Zeek log (TSV, JSON lines, gzip) and every Suricata EVE file decodes
//! with no warning, each record gets the normalized network fields of its log, and the counts
//! match the files' own record counts.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use wardwatch_core::{Event, SourceKind};
use wardwatch_ingest::{Format, Warning, decode_file};

fn decode(path: &Path) -> (Format, Vec<Event>, Vec<Warning>) {
    let mut events = Vec::new();
    let mut warnings = Vec::new();
    let (format, summary) = decode_file(
        path,
        1,
        |r| r,
        |r| match r {
            Ok(Ok(e)) => events.push(e),
            Ok(Err(w)) | Err(w) => warnings.push(w),
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(summary.events as usize, events.len());
    (format, events, warnings)
}

/// Data lines of a Zeek TSV log (every line that is not a `#` header nor `zeek-cut`'s row of
/// names); 0 for JSON.
fn tsv_rows(path: &Path) -> usize {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    if text.trim_start().starts_with('{') {
        return 0;
    }
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("ts\tuid"))
        .count()
}

#[test]
fn zeek_logs_decode_without_warnings_and_with_network_fields() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let zeek = data.join("network/zeek");
    let mut files = common::files_under(&zeek, ".log");
    files.extend(common::files_under(&zeek, ".json.gz"));
    assert!(files.len() > 80, "{} Zeek files", files.len());
    let mut per_log: BTreeMap<String, usize> = BTreeMap::new();
    for path in &files {
        let (format, events, warnings) = decode(path);
        assert!(
            warnings.is_empty(),
            "{}: {:?}",
            path.display(),
            &warnings[..warnings.len().min(3)]
        );
        let text = std::fs::read(path).unwrap();
        if text.starts_with(b"{") || text.starts_with(b"\x1f\x8b") {
            assert_eq!(format, Format::ZeekJson, "{}", path.display());
        } else {
            assert_eq!(format, Format::ZeekTsv, "{}", path.display());
            assert_eq!(events.len(), tsv_rows(path), "{}", path.display());
        }
        for e in &events {
            assert_eq!(e.source_kind, SourceKind::Zeek, "{}", path.display());
            let log =
                e.ecs.event_code.clone().unwrap_or_else(|| {
                    panic!("{}: a record without its log's name", path.display())
                });
            // Baselines replace times with XXXXXXXXXX; everything else has a real time.
            if !e.time_text.as_deref().is_some_and(|t| t.starts_with('X')) {
                let year = e.timestamp.to_zoned(jiff::tz::TimeZone::UTC).year();
                assert!(
                    (2005..=2030).contains(&year),
                    "{}: {}",
                    path.display(),
                    e.raw
                );
            }
            if e.raw.get("id.orig_h").or(e.raw.get("id_orig_h")).is_some() {
                assert!(e.ecs.source_ip.is_some(), "{}: {}", path.display(), e.raw);
                assert!(e.ecs.destination_port.is_some(), "{}", e.raw);
            }
            match log.as_str() {
                "conn" => {
                    assert!(e.ecs.network_transport.is_some(), "{}", e.raw);
                    assert!(e.ecs.event_action.is_some(), "{}", e.raw);
                }
                "dns" if e.raw.get("query").is_some() => {
                    assert!(e.ecs.dns_question_name.is_some())
                }
                "dce_rpc" if e.raw.get("operation").is_some() => {
                    assert!(e.ecs.event_action.is_some())
                }
                "kerberos" if e.raw.get("client").is_some() => {
                    assert!(e.ecs.user_name.is_some())
                }
                "smb_files" => assert!(e.ecs.file_path.is_some(), "{}", e.raw),
                _ => {}
            }
            *per_log.entry(log).or_default() += 1;
        }
    }
    for log in [
        "conn",
        "dns",
        "http",
        "ssl",
        "smb_mapping",
        "smb_files",
        "dce_rpc",
        "kerberos",
        "ntlm",
        "rdp",
        "ssh",
        "notice",
        "software",
    ] {
        assert!(
            per_log.get(log).is_some_and(|n| *n > 0),
            "no {log} records: {per_log:?}"
        );
    }
    // The WRCCDC RDP log: 4,122 records, all from one gzip file.
    assert!(per_log["rdp"] >= 4122, "{per_log:?}");
}

#[test]
fn suricata_eve_files_decode_without_warnings_with_flow_fields() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let files = common::files_under(&data.join("network/suricata"), ".json");
    assert!(files.len() > 30);
    let mut flows = 0;
    for path in &files {
        let (format, events, warnings) = decode(path);
        assert!(warnings.is_empty(), "{}: {warnings:?}", path.display());
        assert_eq!(format, Format::SuricataEve, "{}", path.display());
        for e in events {
            let t = e.ecs.event_code.as_deref().unwrap_or_default();
            if e.raw.get("src_ip").is_some() {
                assert!(e.ecs.network_transport.is_some(), "{}", e.raw);
            }
            if t == "flow" {
                flows += 1;
                assert!(e.ecs.source_packets.is_some(), "{}", e.raw);
                assert!(e.ecs.event_duration.is_some(), "{}", e.raw);
                // Flows seen midstream (no handshake) have no outcome; the rest do.
                if e.ecs.network_transport.as_deref() == Some("tcp")
                    && e.raw["tcp"]["tcp_flags_ts"] != "00"
                {
                    assert!(e.ecs.event_outcome.is_some(), "{}", e.raw);
                }
            }
            if t == "krb5" {
                assert!(e.ecs.event_action.is_some(), "{}", e.raw);
            }
        }
    }
    assert!(flows > 50, "{flows} flows");
}
