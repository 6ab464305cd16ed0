//! Whole files through [`wardwatch_ingest::decode_file`]: damaged input yields the events that
//! can be read plus warnings naming the file and the byte offset, counted as skipped records,
//! and never a panic.

mod common;

use std::io::Write;
use std::path::Path;

use flate2::{Compression, write::GzEncoder};
use wardwatch_core::{Event, SourceKind};
use wardwatch_ingest::{FileSummary, Format, Warning, decode_file};

/// What one file gave: format, summary, events and warnings in file order.
struct Decoded {
    format: Format,
    summary: FileSummary,
    events: Vec<Event>,
    warnings: Vec<Warning>,
}

fn decode(path: &Path) -> Decoded {
    let mut events = Vec::new();
    let mut warnings = Vec::new();
    let (format, summary) = decode_file(
        path,
        1,
        |r| r,
        |item| match item {
            Ok(Ok(ev)) => events.push(ev),
            Ok(Err(w)) | Err(w) => warnings.push(w),
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Decoded {
        format,
        summary,
        events,
        warnings,
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn json_lines_with_a_half_written_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let l1 = r#"{"@timestamp":"2024-01-01T10:00:00Z","EventID":4624,"Channel":"Security","Computer":"DC01","TargetUserName":"alice"}"#;
    let l2 = r#"{"@timestamp":"2024-01-01T10:00:01Z","winlog":{"channel":"Security","event_id":4625,"computer_name":"DC01","event_data":{"TargetUserName":"bob"}}}"#;
    let l3 = r#"{"@timestamp":"2024-01-01T10:00:02Z","host":{"name":"ws1"},"message":"x"}"#;
    let half = r#"{"@timestamp":"2024-01-01T10:00:03Z","EventID":46"#;
    let text = format!("{l1}\n{l2}\r\n\n{l3}\n{half}");
    let path = write(dir.path(), "events.jsonl", text.as_bytes());

    let d = decode(&path);
    assert_eq!(d.format, Format::JsonLines);
    assert_eq!(
        d.summary,
        FileSummary {
            events: 3,
            skipped: 1
        }
    );
    let kinds: Vec<_> = d.events.iter().map(|e| e.source_kind).collect();
    assert_eq!(
        kinds,
        [
            SourceKind::FlatWindows,
            SourceKind::WinlogbeatEcs,
            SourceKind::Json
        ]
    );
    assert_eq!(d.events[1].ecs.user_name.as_deref(), Some("bob"));
    assert_eq!(
        d.events[2].origin.record_id,
        Some(4),
        "line numbers count blank lines"
    );
    assert_eq!(d.warnings.len(), 1);
    let w = &d.warnings[0];
    assert_eq!(w.source, path.display().to_string());
    let half_at = text.find(half).unwrap() as u64;
    assert_eq!(w.offset, Some(half_at));
    assert!(
        w.message.starts_with("line 5: invalid JSON: EOF"),
        "{}",
        w.message
    );
    assert!(w.to_string().contains(&format!("at byte {half_at}")));
}

#[test]
fn regression_utf8_bom_made_json_lines_look_like_syslog() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bom.json",
        "\u{feff}{\"EventID\":1,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"Hostname\":\"ws\",\"Image\":\"C:\\\\a.exe\"}\n".as_bytes(),
    );
    let d = decode(&path);
    assert_eq!(d.format, Format::JsonLines);
    assert_eq!(
        d.summary,
        FileSummary {
            events: 1,
            skipped: 0
        }
    );
    assert_eq!(
        d.events[0].ecs.process_executable.as_deref(),
        Some("C:\\a.exe")
    );
}

#[test]
fn syslog_with_an_invalid_utf8_line_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let l1 = b"<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed\n".as_slice();
    let bad = b"<13>Oct 11 22:14:16 mymachine app: bad \xff byte\n".as_slice();
    let l3 = b"<165>1 2003-10-11T22:14:15.003Z host2 evntslog - ID47 - entry\n".as_slice();
    let path = write(dir.path(), "messages", &[l1, bad, l3].concat());

    let d = decode(&path);
    assert_eq!(d.format, Format::Syslog);
    assert_eq!(
        d.summary,
        FileSummary {
            events: 2,
            skipped: 1
        }
    );
    assert_eq!(d.events[0].ecs.host_name.as_deref(), Some("mymachine"));
    assert_eq!(d.events[1].ecs.host_name.as_deref(), Some("host2"));
    assert_eq!(
        d.events[1].timestamp.to_string(),
        "2003-10-11T22:14:15.003Z"
    );
    let w = &d.warnings[0];
    assert_eq!(w.source, path.display().to_string());
    assert_eq!(w.offset, Some(l1.len() as u64));
    assert!(
        w.message.contains("line 2 is not valid UTF-8"),
        "{}",
        w.message
    );
}

#[test]
fn gzip_compressed_eve() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"timestamp":"2020-09-22T18:53:30.854698+0000","flow_id":1,"event_type":"dns","src_ip":"172.18.39.5","src_port":54822,"dest_ip":"172.18.38.5","dest_port":53,"proto":"UDP","dns":{"type":"request","queries":[{"rrname":"WORKSTATION6.theshire.local"}]}}"#,
        r#"{"timestamp":"2020-09-22T18:53:31.000000+0000","flow_id":2,"event_type":"alert","src_ip":"172.18.39.5","dest_ip":"172.18.38.5","proto":"TCP","alert":{"signature":"ET POLICY SMB Executable File Transfer"}}"#,
        r#"not json at all"#,
    ];
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    for l in lines {
        writeln!(gz, "{l}").unwrap();
    }
    let path = write(dir.path(), "eve.json.gz", &gz.finish().unwrap());

    let d = decode(&path);
    assert_eq!(d.format, Format::SuricataEve);
    assert_eq!(
        d.summary,
        FileSummary {
            events: 2,
            skipped: 1
        }
    );
    assert!(
        d.events
            .iter()
            .all(|e| e.source_kind == SourceKind::SuricataEve)
    );
    assert_eq!(
        d.events[0].ecs.dns_question_name.as_deref(),
        Some("WORKSTATION6.theshire.local")
    );
    assert_eq!(d.events[1].ecs.event_kind.as_deref(), Some("alert"));
    let third = (lines[0].len() + lines[1].len() + 2) as u64;
    assert_eq!(
        d.warnings[0].offset,
        Some(third),
        "offsets count decompressed bytes"
    );
    assert!(d.warnings[0].message.starts_with("line 3: invalid JSON"));
}

#[test]
fn truncated_real_evtx() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let original = std::fs::read(data.join("evtx/dense-samples/security.evtx")).unwrap();
    let whole = {
        let dir = tempfile::tempdir().unwrap();
        let d = decode(&write(dir.path(), "whole.evtx", &original));
        assert!(d.warnings.is_empty(), "{:?}", d.warnings.first());
        d.summary.events
    };
    // The file header (4 KiB), two whole 64 KiB chunks and most of a third.
    let cut = 4096 + 2 * 65536 + 40_000;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "cut.evtx", &original[..cut]);
    let d = decode(&path);
    assert_eq!(d.format, Format::Evtx);
    assert!(d.summary.events > 0, "nothing read from the whole chunks");
    assert!(
        d.summary.events < whole,
        "a truncated file cannot give every record"
    );
    assert_eq!(d.summary.events, d.events.len() as u64);
    assert_eq!(d.summary.skipped, d.warnings.len() as u64);
    for w in &d.warnings {
        assert_eq!(w.source, path.display().to_string());
        assert!(w.offset.is_some(), "{w}");
    }
    let last = d
        .warnings
        .last()
        .expect("the lost partial chunk is reported");
    assert_eq!(last.offset, Some(4096 + 2 * 65536));
    assert!(last.message.contains("ends inside chunk 2"), "{last}");
    assert!(d.events.iter().all(|e| e.source_kind == SourceKind::Evtx));
    eprintln!(
        "truncated EVTX: {} of {whole} records, {} warnings: {:?}",
        d.summary.events,
        d.warnings.len(),
        d.warnings.first().map(ToString::to_string)
    );

    // Garbage over records in the middle of chunk 1: the rest of the file is still read, and
    // what was lost is reported with its offset.
    let mut damaged = original.clone();
    let at = 4096 + 65536 + 20_000;
    damaged[at..at + 3000].fill(0xAA);
    let path = write(dir.path(), "damaged.evtx", &damaged);
    let d = decode(&path);
    eprintln!(
        "damaged EVTX: {} of {whole} records, {} warnings: {:?}",
        d.summary.events,
        d.warnings.len(),
        d.warnings.first().map(ToString::to_string)
    );
    assert!(d.summary.events > whole / 2 && d.summary.events < whole);
    assert!(!d.warnings.is_empty());
    assert_eq!(d.summary.skipped, d.warnings.len() as u64);
    // Where the `evtx` crate names the chunk, the warning has the file offset; a record that
    // fails to render is named by its record number (the crate does not say its chunk).
    assert!(
        d.warnings.iter().any(|w| w.offset.is_some()),
        "{:?}",
        d.warnings
    );
    for w in &d.warnings {
        assert!(
            w.offset.is_some() || w.message.contains("record number"),
            "{w}"
        );
    }

    // Cut inside the file header: an error for the file, not a panic.
    let path = write(dir.path(), "header-only.evtx", &original[..2000]);
    let mut n = 0;
    let r = decode_file(&path, 1, |r| r, |_| n += 1);
    assert!(r.is_err() || n == 0, "{r:?}");
}

const SYSMON_LINE: &str = r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"WS1","@timestamp":"2024-05-01T10:00:00Z","Image":"C:\\Windows\\System32\\cmd.exe"}"#;

#[test]
fn zip_archive_members_are_decoded_in_place_and_metadata_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("README.md", opts).unwrap();
    zip.write_all(b"# not a log\n").unwrap();
    zip.start_file("host/sim_1.json", opts).unwrap();
    zip.write_all(format!("{SYSMON_LINE}\n{SYSMON_LINE}\n").as_bytes())
        .unwrap();
    zip.start_file("host/sim_2.json", opts).unwrap();
    zip.write_all(format!("{SYSMON_LINE}\n{{\"broken\n").as_bytes())
        .unwrap();
    zip.finish().unwrap();
    let d = decode(&path);
    assert_eq!(d.format, Format::JsonLines);
    assert_eq!(d.summary.events, 3);
    assert_eq!(d.summary.skipped, 1);
    assert_eq!(d.events.len(), 3);
    let src = &d.events[0].origin.source;
    assert!(src.ends_with("sim.zip!host/sim_1.json"), "{src}");
    assert!(d.events[2].origin.source.ends_with("!host/sim_2.json"));
    assert_eq!(d.warnings.len(), 1);
    assert!(d.warnings[0].source.ends_with("sim.zip!host/sim_2.json"));
}

#[test]
fn truncated_tar_gz_keeps_the_records_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for i in 0..200 {
        // Lines that differ, so that the compressed stream is long enough to cut mid-record.
        body.push_str(&SYSMON_LINE.replace("cmd.exe", &format!("tool{}.exe", i * 7919 % 1013)));
        body.push('\n');
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "attack_data.txt", body.as_bytes())
        .unwrap();
    let tarred = tar.into_inner().unwrap();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&tarred).unwrap();
    let whole = gz.finish().unwrap();
    // The whole archive: every record.
    let d = decode(&write(dir.path(), "whole.tar.gz", &whole));
    assert_eq!(d.summary.events, 200);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    // Cut in the middle of the compressed stream: the records before the cut, and a warning.
    let cut = decode(&write(dir.path(), "cut.tar.gz", &whole[..whole.len() / 2]));
    assert!(
        cut.summary.events > 0 && cut.summary.events < 200,
        "{:?}",
        cut.summary
    );
    assert!(
        cut.warnings
            .iter()
            .any(|w| w.source.ends_with("cut.tar.gz!attack_data.txt")),
        "{:?}",
        cut.warnings
    );
}

const ZEEK_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n\
#unset_field\t-\n#path\tconn\n#open\t2026-12-01-00-00-00\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tconn_state\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tstring\n";

fn zeek_row(i: u32) -> String {
    format!("17648000{i:02}.5\tC{i}\t10.1.0.5\t5{i:04}\t10.2.0.{i}\t445\ttcp\t-\tS0\n")
}

#[test]
fn zeek_tsv_damage_warns_with_file_and_line_and_the_rest_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(ZEEK_HEADER);
    for i in 1..=3 {
        text.push_str(&zeek_row(i));
    }
    // A row with a column missing (a writer that lost a field), then binary junk, then good
    // rows, then a row cut short by the end of the file (no #close: the log was being written).
    text.push_str("1764800004.5\tC4\t10.1.0.5\t50004\t10.2.0.4\t445\ttcp\tS0\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"\x00\x01\xff\xfe PK\x03\x04 junk\n");
    bytes.extend_from_slice(zeek_row(5).as_bytes());
    bytes.extend_from_slice(b"1764800006.5\tC6\t10.1.0.5\t500");
    let path = write(dir.path(), "conn.log", &bytes);
    let d = decode(&path);
    assert_eq!(d.format, Format::ZeekTsv);
    assert_eq!(d.summary.events, 4, "{:?}", d.warnings);
    assert_eq!(d.summary.skipped, 3);
    let shown: Vec<String> = d.warnings.iter().map(ToString::to_string).collect();
    assert!(
        shown.iter().all(|w| w.contains("conn.log at byte")),
        "{shown:?}"
    );
    assert!(shown[0].contains("line 12 has 8 columns where #fields (line 7) names 9"));
    assert!(shown[1].contains("line 13 is not Zeek text"));
    assert!(shown[2].contains("line 15 has 4 columns"));
    assert_eq!(d.events[3].ecs.destination_ip.as_deref(), Some("10.2.0.5"));
    assert_eq!(d.events[3].origin.record_id, Some(14));
}

#[test]
fn zeek_fields_header_that_does_not_match_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    // Rows of a dns log under a conn header (two logs written into one file by mistake), then
    // the right header again.
    let mut text = String::from(ZEEK_HEADER);
    text.push_str(
        "1764800001.5\tC1\t10.1.0.5\t5353\t10.0.0.53\t53\tudp\t1\tx.example\t1\tC_INTERNET\n",
    );
    text.push_str(ZEEK_HEADER);
    text.push_str(&zeek_row(2));
    let d = decode(&write(dir.path(), "mixed.log", text.as_bytes()));
    assert_eq!(d.summary.events, 1);
    assert_eq!(d.warnings.len(), 1);
    assert!(
        d.warnings[0]
            .to_string()
            .contains("line 9 has 11 columns where #fields (line 7) names 9"),
        "{}",
        d.warnings[0]
    );
}

#[test]
fn zeek_json_lines_and_gzip_and_zip_archives() {
    let dir = tempfile::tempdir().unwrap();
    let lines = "{\"_path\":\"dce_rpc\",\"ts\":1764800000.25,\"uid\":\"C1\",\"id.orig_h\":\"10.1.0.5\",\"id.orig_p\":50000,\"id.resp_h\":\"10.0.0.10\",\"id.resp_p\":49667,\"endpoint\":\"drsuapi\",\"operation\":\"DRSGetNCChanges\"}\n\
{\"_path\":\"dce_rpc\",\"ts\":1764800000.5,\"uid\":\"C1\",\"id.orig_h\":\"10.1.0.5\n";
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(lines.as_bytes()).unwrap();
    let d = decode(&write(dir.path(), "dce_rpc.log.gz", &gz.finish().unwrap()));
    assert_eq!(d.format, Format::ZeekJson);
    assert_eq!(d.events.len(), 1);
    assert_eq!(d.events[0].source_kind, SourceKind::Zeek);
    assert_eq!(
        d.events[0].ecs.event_action.as_deref(),
        Some("DRSGetNCChanges")
    );
    assert_eq!(d.warnings.len(), 1, "the half-written last line");
    assert!(
        d.warnings[0].message.starts_with("line 2:"),
        "{}",
        d.warnings[0]
    );

    let path = dir.path().join("sensor-logs.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("2026-12-01/conn.log", opts).unwrap();
    zip.write_all(format!("{ZEEK_HEADER}{}", zeek_row(1)).as_bytes())
        .unwrap();
    zip.finish().unwrap();
    let d = decode(&path);
    assert_eq!(d.format, Format::ZeekTsv);
    assert_eq!(d.events.len(), 1);
    assert!(
        d.events[0]
            .origin
            .source
            .ends_with("sensor-logs.zip!2026-12-01/conn.log")
    );
}
