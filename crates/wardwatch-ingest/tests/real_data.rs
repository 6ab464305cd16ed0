//! Conformance on the real datasets in `../shared/data`, read in place: OTRF / Mordor Windows
//! simulations (flat nxlog-style JSON and Winlogbeat 6 documents), Suricata EVE generated from
//! attack pcaps, and cloud identity logs. Each file is read up to `LINES` lines (set
//! `WARDWATCH_REAL_DATA_LINES` to read more) so the suite stays quick.

mod common;

use std::collections::BTreeMap;

use jiff::Timestamp;
use wardwatch_core::{Event, Origin, SourceKind};
use wardwatch_ingest::{eve, jsonl};

const LINES: usize = 300;

fn lines_per_file() -> usize {
    std::env::var("WARDWATCH_REAL_DATA_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(LINES)
}

/// How much of each archive to decompress: enough for `LINES` lines, or everything when more
/// lines were asked for.
fn read_limit() -> u64 {
    if std::env::var_os("WARDWATCH_REAL_DATA_LINES").is_some() {
        u64::MAX
    } else {
        4 << 20
    }
}

fn decode_all(name: &str, bytes: &[u8]) -> Vec<Event> {
    let lines = common::first_lines(bytes, lines_per_file());
    assert!(!lines.is_empty(), "{name}: no lines read");
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            jsonl::decode_line(line, Origin::default())
                .unwrap_or_else(|e| panic!("{name} line {}: {e}", i + 1))
        })
        .collect()
}

fn plausible(name: &str, ev: &Event) {
    let year = ev.timestamp.to_zoned(jiff::tz::TimeZone::UTC).year();
    assert!(
        (2000..=2035).contains(&year),
        "{name}: implausible time {} from {:?}",
        ev.timestamp,
        ev.time_text
    );
}

#[test]
fn otrf_windows_simulations_decode_with_host_time_and_code() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let mut archives = Vec::new();
    for folder in ["identity/otrf-host", "endpoint/otrf-host"] {
        for zip in common::files_under(&data.join(folder), ".zip") {
            archives.push((zip.clone(), common::unzip_first(&zip, read_limit())));
        }
        for tgz in common::files_under(&data.join(folder), ".tar.gz") {
            archives.push((tgz.clone(), common::untar_gz_first(&tgz, read_limit())));
        }
    }
    assert!(
        archives.len() >= 50,
        "only {} archives found",
        archives.len()
    );
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut with_process, mut with_user, mut with_source_ip) = (0, 0, 0);
    for (path, bytes) in &archives {
        if bytes.is_empty() {
            // A truncated archive whose first member could not be reached.
            continue;
        }
        let name = path.display().to_string();
        for ev in decode_all(&name, bytes) {
            assert!(
                matches!(
                    ev.source_kind,
                    SourceKind::FlatWindows | SourceKind::WinlogbeatEcs
                ),
                "{name}: decoded as {:?}: {}",
                ev.source_kind,
                ev.raw
            );
            *kinds.entry(ev.source_kind.as_str()).or_default() += 1;
            plausible(&name, &ev);
            assert!(ev.ecs.host_name.is_some(), "{name}: no host in {}", ev.raw);
            assert!(ev.ecs.event_code.is_some(), "{name}: no code in {}", ev.raw);
            assert!(ev.ecs.channel.is_some(), "{name}: no channel in {}", ev.raw);
            with_process += usize::from(ev.ecs.process_executable.is_some());
            with_user += usize::from(ev.ecs.user_name.is_some());
            with_source_ip += usize::from(ev.ecs.source_ip.is_some());
        }
    }
    eprintln!(
        "OTRF: {kinds:?}; with process {with_process}, user {with_user}, source.ip {with_source_ip}"
    );
    assert!(kinds.get("flat_windows").copied().unwrap_or(0) > 1000);
    assert!(kinds.get("winlogbeat_ecs").copied().unwrap_or(0) > 100);
    assert!(with_process > 1000 && with_user > 1000 && with_source_ip > 100);
}

#[test]
fn suricata_eve_decodes_with_protocol_fields() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let files = common::files_under(&data.join("network/suricata"), ".json");
    assert!(files.len() >= 40, "only {} EVE files", files.len());
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let name = path.display().to_string();
        let first = String::from_utf8_lossy(bytes.split(|&b| b == b'\n').next().unwrap());
        assert!(eve::looks_like_eve(&first), "{name}: first line not EVE");
        for ev in decode_all(&name, &bytes) {
            assert_eq!(
                ev.source_kind,
                SourceKind::SuricataEve,
                "{name}: {}",
                ev.raw
            );
            plausible(&name, &ev);
            let t = ev.raw["event_type"].as_str().unwrap().to_string();
            match t.as_str() {
                "alert" => {
                    assert_eq!(ev.ecs.event_kind.as_deref(), Some("alert"));
                    assert!(ev.ecs.event_action.is_some(), "{name}: {}", ev.raw);
                }
                "dns" => assert!(ev.ecs.dns_question_name.is_some(), "{name}: {}", ev.raw),
                "http" if ev.raw["http"].get("hostname").is_some() => {
                    assert!(ev.ecs.url_full.is_some(), "{name}: {}", ev.raw)
                }
                "fileinfo" => assert!(ev.ecs.file_path.is_some(), "{name}: {}", ev.raw),
                "krb5" | "smb" | "dcerpc" | "flow" => {
                    assert!(ev.ecs.source_ip.is_some() && ev.ecs.destination_port.is_some());
                    assert!(ev.ecs.network_protocol.is_some());
                }
                _ => {}
            }
            *by_type.entry(t).or_default() += 1;
        }
    }
    eprintln!("EVE: {by_type:?}");
    for t in ["alert", "dns", "http", "fileinfo", "smb", "krb5", "flow"] {
        assert!(by_type.contains_key(t), "no {t} record decoded");
    }
}

#[test]
fn cloud_and_identity_json_get_their_time() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let mut sources: Vec<(String, Vec<u8>)> = Vec::new();
    for f in common::files_under(&data.join("identity/elastic-fixtures"), ".log") {
        sources.push((f.display().to_string(), std::fs::read(&f).unwrap()));
    }
    for f in common::files_under(&data.join("identity/otrf-cloud"), ".zip")
        .into_iter()
        .chain(common::files_under(
            &data.join("endpoint/otrf-compound"),
            ".zip",
        ))
    {
        sources.push((
            f.display().to_string(),
            common::unzip_first(&f, read_limit()),
        ));
    }
    assert!(sources.len() >= 4, "only {} sources", sources.len());
    for (name, bytes) in &sources {
        for ev in decode_all(name, bytes) {
            assert_eq!(ev.source_kind, SourceKind::Json, "{name}: {}", ev.raw);
            assert_ne!(ev.timestamp, Timestamp::UNIX_EPOCH, "{name}: {}", ev.raw);
            plausible(name, &ev);
        }
    }
}
