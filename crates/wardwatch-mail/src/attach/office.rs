//! Documents that carry code: Office (OLE compound files and OOXML), RTF and PDF.
//!
//! - OLE: VBA storages (`VBA`, `_VBA_PROJECT`, `Macros`), Excel 4.0 macro sheets (a
//!   `BOUNDSHEET` record of type macro in the `Workbook` stream), embedded packages
//!   (`\x01Ole10Native`: a file carried inside the document, opened with a double click), MSI
//!   installers (by the root storage's class).
//! - OOXML: `vbaProject.bin`, macro sheets, embedded objects, and relationships that fetch a
//!   template or object from the network (`TargetMode="External"`: remote template injection,
//!   and the `mhtml:` targets of CVE-2022-30190).
//! - RTF: embedded objects (`\objdata`, hex), opened and inspected; `\objupdate` (runs on open).
//! - PDF: JavaScript, launch actions, embedded files, form submission, and the links it holds.

use std::io::{Cursor, Read};

use super::Inspection;
use super::sniff;

const AUTO_EXEC: &[&[u8]] = &[
    b"autoopen",
    b"auto_open",
    b"document_open",
    b"workbook_open",
    b"autoexec",
    b"autoclose",
    b"document_close",
    b"auto_close",
    b"workbook_activate",
];

/// OLE compound file (Office 97-2003, MSI).
pub(super) fn ole(ins: &mut Inspection, path: &str, data: &[u8], depth: usize) {
    // The `cfb` reader validates as it goes; a document it cannot read is checked for an
    // embedded program instead of being trusted.
    let opened = std::panic::catch_unwind(|| cfb::CompoundFile::open(Cursor::new(data)).ok());
    let Ok(Some(mut file)) = opened else {
        if let Some(at) = sniff::find_embedded_pe(data) {
            ins.member(path, "embedded program", &data[at..], depth);
        }
        return;
    };
    if file
        .root_entry()
        .clsid()
        .to_string()
        .eq_ignore_ascii_case("000c1084-0000-0000-c000-000000000046")
    {
        ins.flag(
            "attachment.installer",
            8,
            path,
            "a Windows Installer package (.msi): it installs and runs programs".into(),
        );
    }
    let entries: Vec<(std::path::PathBuf, String, bool, u64)> = file
        .walk()
        .map(|e| {
            (
                e.path().to_path_buf(),
                e.name().to_string(),
                e.is_stream(),
                e.len(),
            )
        })
        .take(4096)
        .collect();
    let mut macros = false;
    for (entry_path, name, is_stream, len) in entries {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "vba" | "_vba_project" | "_vba_project_cur" | "macros"
        ) {
            macros = true;
        }
        if !is_stream || len == 0 || !ins.budget(len as usize) {
            continue;
        }
        let Some(bytes) = read_stream(&mut file, &entry_path) else {
            continue;
        };
        if name == "\u{1}Ole10Native" {
            if let Some((label, content)) = ole10native(&bytes) {
                ins.flag(
                    "attachment.embedded_package",
                    5,
                    path,
                    format!("the document carries a file inside it (`{label}`), opened with a double click"),
                );
                ins.member(path, &label, content, depth);
            }
            continue;
        }
        if lower == "workbook" || lower == "book" {
            if let Some(hidden) = xlm_macro_sheet(&bytes) {
                ins.flag(
                    "attachment.xlm_macro",
                    7,
                    path,
                    format!(
                        "an Excel 4.0 macro sheet{}",
                        if hidden { ", hidden" } else { "" }
                    ),
                );
            }
            continue;
        }
        let in_vba = entry_path
            .components()
            .any(|c| c.as_os_str().eq_ignore_ascii_case("VBA"));
        if in_vba && auto_exec(&bytes) {
            ins.flag(
                "attachment.macro_autoexec",
                2,
                path,
                "its macros start by themselves when the document is opened or closed".into(),
            );
        }
        if !in_vba && let Some(at) = sniff::find_embedded_pe(&bytes) {
            ins.member(path, &name, &bytes[at..], depth);
        }
    }
    if macros {
        ins.flag(
            "attachment.vba_macro",
            7,
            path,
            "an Office document with VBA macros".into(),
        );
    }
}

fn read_stream(
    file: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    p: &std::path::Path,
) -> Option<Vec<u8>> {
    let mut s = file.open_stream(p).ok()?;
    let mut buf = Vec::new();
    (&mut s)
        .take(super::MAX_MEMBER as u64)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

fn auto_exec(bytes: &[u8]) -> bool {
    let lower = bytes.to_ascii_lowercase();
    AUTO_EXEC
        .iter()
        .any(|k| memchr::memmem::find(&lower, k).is_some())
}

/// `\x01Ole10Native`: total size, flags, label, source path, then (after a reserved field
/// and the temporary path) the size and bytes of the carried file.
fn ole10native(b: &[u8]) -> Option<(String, &[u8])> {
    let mut pos = 6;
    let cstr = |pos: &mut usize| -> Option<String> {
        let rest = b.get(*pos..)?;
        let end = rest.iter().position(|&c| c == 0)?;
        *pos += end + 1;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    let label = cstr(&mut pos)?;
    let _source = cstr(&mut pos)?;
    pos += 4;
    let tmp_len = u32::from_le_bytes(b.get(pos..pos + 4)?.try_into().ok()?) as usize;
    pos += 4 + tmp_len;
    let size = u32::from_le_bytes(b.get(pos..pos + 4)?.try_into().ok()?) as usize;
    pos += 4;
    let content = b.get(pos..pos.checked_add(size)?.min(b.len()))?;
    let label = if label.trim().is_empty() {
        "embedded file".to_string()
    } else {
        label
    };
    Some((label, content))
}

/// Whether a BIFF8 `Workbook` stream declares an Excel 4.0 macro sheet, and if so whether it
/// is hidden.
fn xlm_macro_sheet(b: &[u8]) -> Option<bool> {
    let mut pos = 0;
    let mut found: Option<bool> = None;
    for _ in 0..100_000 {
        let h = b.get(pos..pos + 4)?;
        let id = u16::from_le_bytes([h[0], h[1]]);
        let len = u16::from_le_bytes([h[2], h[3]]) as usize;
        let body = b.get(pos + 4..pos + 4 + len)?;
        if id == 0x0085 && body.len() >= 6 && body[5] == 0x01 {
            let hidden = body[4] != 0;
            found = Some(found.unwrap_or(false) || hidden);
        }
        if id == 0x000A {
            break;
        }
        pos += 4 + len;
    }
    found
}

/// OOXML (`.docx`, `.xlsm`...): a zip with `[Content_Types].xml`.
pub(super) fn ooxml(
    ins: &mut Inspection,
    path: &str,
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    depth: usize,
) {
    let names: Vec<String> = archive
        .file_names()
        .take(4096)
        .filter_map(|n| n.ok().map(|n| n.to_string()))
        .collect();
    for name in names {
        let lower = name.to_ascii_lowercase();
        let wanted = lower.ends_with("vbaproject.bin")
            || lower.contains("/embeddings/")
            || lower.ends_with(".rels")
            || lower.contains("/macrosheets/");
        if lower.contains("/macrosheets/") {
            ins.flag(
                "attachment.xlm_macro",
                7,
                path,
                "an Excel 4.0 macro sheet".into(),
            );
        }
        if lower.contains("/activex/") {
            ins.flag(
                "attachment.activex",
                2,
                path,
                "ActiveX controls in the document".into(),
            );
        }
        if !wanted {
            continue;
        }
        let Ok(mut f) = archive.by_name(&name) else {
            continue;
        };
        let size = f.size() as usize;
        if !ins.budget(size) {
            continue;
        }
        let mut bytes = Vec::with_capacity(size.min(super::MAX_MEMBER));
        if (&mut f)
            .take(super::MAX_MEMBER as u64)
            .read_to_end(&mut bytes)
            .is_err()
        {
            continue;
        }
        drop(f);
        if lower.ends_with("vbaproject.bin") {
            ins.flag(
                "attachment.vba_macro",
                7,
                path,
                "an Office document with VBA macros".into(),
            );
            if auto_exec(&bytes) {
                ins.flag(
                    "attachment.macro_autoexec",
                    2,
                    path,
                    "its macros start by themselves when the document is opened or closed".into(),
                );
            }
        } else if lower.ends_with(".rels") {
            external_relationships(ins, path, &bytes);
        } else {
            let short = name.rsplit('/').next().unwrap_or(&name).to_string();
            ins.member(path, &short, &bytes, depth);
        }
    }
}

/// Relationships to the network: a remote template or object fetched when the document opens.
fn external_relationships(ins: &mut Inspection, path: &str, xml: &[u8]) {
    let text = String::from_utf8_lossy(xml);
    for rel in text.split("<Relationship ").skip(1) {
        if !rel.contains("TargetMode=\"External\"") {
            continue;
        }
        let target = rel
            .split("Target=\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .unwrap_or("");
        let lower_target = target.to_ascii_lowercase();
        let kind = rel
            .split("Type=\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        if lower_target.starts_with("mhtml:")
            || lower_target.contains("!x-usc:")
            || lower_target.starts_with("ms-msdt:")
        {
            ins.flag(
                "attachment.remote_exploit",
                9,
                path,
                format!("it loads `{target}` when opened, the pattern of the Follina exploit (CVE-2022-30190)"),
            );
        } else if matches!(
            kind.as_str(),
            "attachedTemplate" | "oleObject" | "frame" | "subDocument"
        ) && (lower_target.starts_with("http")
            || lower_target.starts_with("\\\\")
            || lower_target.starts_with("file:"))
        {
            ins.flag(
                "attachment.remote_template",
                6,
                path,
                format!(
                    "it fetches a {kind} from `{target}` when opened (remote template injection)"
                ),
            );
            ins.urls.text(target, "attachment");
        }
    }
}

/// RTF: embedded OLE objects in `\objdata` (hex), decoded and inspected.
pub(super) fn rtf(ins: &mut Inspection, path: &str, data: &[u8], depth: usize) {
    let text = String::from_utf8_lossy(&data[..data.len().min(32 << 20)]);
    let lower = text.to_ascii_lowercase();
    if !lower.contains("\\object") && !lower.contains("\\objdata") {
        return;
    }
    let class = lower
        .find("\\objclass")
        .map(|i| {
            lower[i + 9..]
                .trim_start()
                .split(['}', '\\'])
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    let exploit_class = class.starts_with("equation") || lower.contains("equation.3");
    ins.flag(
        if exploit_class {
            "attachment.rtf_equation"
        } else {
            "attachment.rtf_object"
        },
        if exploit_class { 8 } else { 4 },
        path,
        if exploit_class {
            "an RTF document embedding an Equation Editor object (CVE-2017-11882)".into()
        } else {
            format!(
                "an RTF document embedding an object{}",
                if class.is_empty() {
                    String::new()
                } else {
                    format!(" ({class})")
                }
            )
        },
    );
    if lower.contains("\\objupdate") {
        ins.flag(
            "attachment.rtf_objupdate",
            2,
            path,
            "its embedded object updates (runs) as the document opens".into(),
        );
    }
    let mut from = 0;
    let mut objects = 0;
    while let Some(i) = lower[from..].find("\\objdata") {
        let start = from + i + 8;
        let mut hex = Vec::new();
        let mut nibble: Option<u8> = None;
        let mut end = start;
        for (k, c) in lower[start..].bytes().enumerate() {
            end = start + k;
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'}' => break,
                _ => continue,
            };
            match nibble.take() {
                Some(hi) => hex.push(hi << 4 | v),
                None => nibble = Some(v),
            }
        }
        from = end.max(start);
        objects += 1;
        if objects > 16 || !ins.budget(hex.len()) {
            break;
        }
        if let Some(at) = memchr::memmem::find(&hex, b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
            ole(ins, path, &hex[at..], depth + 1);
        } else if let Some(at) = sniff::find_embedded_pe(&hex) {
            ins.member(path, "embedded program", &hex[at..], depth);
        }
        super::containers::names_in_clear(ins, path, &hex);
    }
}

/// PDF: actions that run or launch, embedded files, form submission, and links.
pub(super) fn pdf(ins: &mut Inspection, path: &str, data: &[u8], depth: usize) {
    let mut bodies: Vec<Vec<u8>> = vec![data[..data.len().min(32 << 20)].to_vec()];
    // Objects are often inside compressed streams: inflate a bounded number of them.
    let mut from = 0;
    let mut inflated = 0usize;
    while let Some(i) = memchr::memmem::find(&data[from..], b"stream") {
        let mut start = from + i + 6;
        if data.get(start) == Some(&b'\r') {
            start += 1;
        }
        if data.get(start) == Some(&b'\n') {
            start += 1;
        }
        if bodies.len() > 64 || inflated > (16 << 20) {
            break;
        }
        let end = memchr::memmem::find(&data[start..], b"endstream")
            .map(|e| start + e)
            .unwrap_or(data.len());
        let mut out = Vec::new();
        let mut z = flate2::read::ZlibDecoder::new(&data[start..end]);
        if (&mut z).take(8 << 20).read_to_end(&mut out).is_ok() || !out.is_empty() {
            inflated += out.len();
            if !out.is_empty() {
                bodies.push(out);
            }
        }
        from = end;
    }
    let mut js = false;
    let mut launch = false;
    let mut embedded = false;
    let mut submit = false;
    for body in &bodies {
        let text = String::from_utf8_lossy(body);
        js |= text.contains("/JavaScript")
            || text.contains("/JS ")
            || text.contains("/JS(")
            || text.contains("/JS<");
        launch |= text.contains("/Launch");
        embedded |= text.contains("/EmbeddedFile");
        submit |= text.contains("/SubmitForm");
        for uri in text.split("/URI").skip(1).take(64) {
            let t = uri.trim_start();
            if let Some(rest) = t.strip_prefix('(') {
                let u = rest.split(')').next().unwrap_or("");
                ins.urls.text(u, "attachment");
            }
        }
    }
    if js {
        ins.flag(
            "attachment.pdf_javascript",
            4,
            path,
            "a PDF that runs JavaScript".into(),
        );
    }
    if launch {
        ins.flag(
            "attachment.pdf_launch",
            6,
            path,
            "a PDF with a launch action, which starts a program".into(),
        );
    }
    if embedded {
        ins.flag(
            "attachment.pdf_embedded_file",
            3,
            path,
            "a PDF carrying an embedded file".into(),
        );
    }
    if submit {
        ins.flag(
            "attachment.pdf_submit_form",
            3,
            path,
            "a PDF form that sends what is typed into it to a server".into(),
        );
    }
    for body in bodies.iter().take(65) {
        if let Some(at) = sniff::find_embedded_pe(body) {
            ins.member(path, "embedded program", &body[at..], depth);
            break;
        }
    }
}
