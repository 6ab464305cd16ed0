//! Attachments: what each one really is, what it holds, and why that matters.
//!
//! Every attachment is hashed (SHA-256, for indicators and campaigns), typed by its bytes
//! ([`sniff`]) and opened where it is a container: zip, tar, gzip, cpio, cabinet and TNEF
//! members are read and inspected in turn (the ARJ, 7-Zip, RAR and bzip2 formats are not
//! unpacked: the names they carry in clear are read instead); Office documents are searched for
//! VBA macros (OLE storages, OOXML `vbaProject.bin`), embedded programs (OLE `Ole10Native`
//! packages) and remote templates; RTF for embedded objects; PDF for scripts, launch actions
//! and embedded files; HTML for smuggling (a page that assembles a file in the browser) and
//! credential forms; SZDD and BinHex are decoded. Depth and sizes are bounded.
//!
//! Why this much: attachments that run code — macro documents, scripts, shortcuts in disk
//! images, programs in archives under innocent names — are how ransomware reaches a hospital;
//! gateways that only read the outer file name are passed by `invoice.zip` holding
//! `invoice.pdf.exe`.

mod containers;
mod html;
mod legacy;
mod office;
pub(crate) mod sniff;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::score::{Reason, ReasonKind};
use crate::urls::Collector;
use sniff::FileType;

/// One attachment of a message (or a file scanned on its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentFact {
    /// The file name the sender gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The declared MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// What its bytes say it is (`program`, `zip archive`, `OLE compound document`...).
    pub file_type: &'static str,
    pub size: usize,
    pub sha256: String,
    /// Files found inside it (archive members, embedded objects), as `name` or `a.zip ▸ b.exe`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// SHA-256 of the files found inside it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub member_sha256: Vec<String>,
}

/// Bounds on looking inside: nesting, members per message and bytes unpacked.
const MAX_DEPTH: usize = 5;
const MAX_MEMBERS: usize = 512;
const MAX_UNPACKED: usize = 64 << 20;
/// The largest single member unpacked.
const MAX_MEMBER: usize = 32 << 20;

/// The walk over one attachment and what it holds.
pub(crate) struct Inspection<'a> {
    pub reasons: Vec<Reason>,
    pub members: Vec<String>,
    pub member_sha256: Vec<String>,
    pub urls: &'a mut Collector,
    unpacked: usize,
    count: usize,
}

impl Inspection<'_> {
    /// Adds a reason about `path` (the file or member it concerns).
    pub fn flag(&mut self, code: &'static str, points: i32, path: &str, what: String) {
        if self
            .reasons
            .iter()
            .any(|r| r.code == code && r.text.starts_with(path))
        {
            return;
        }
        self.reasons.push(Reason {
            kind: ReasonKind::Attachment,
            code,
            points,
            text: format!("{path}: {what}"),
        });
    }

    /// Whether another member of `len` bytes may be unpacked (and counts it).
    pub fn budget(&mut self, len: usize) -> bool {
        if self.count >= MAX_MEMBERS || len > MAX_MEMBER || self.unpacked + len > MAX_UNPACKED {
            return false;
        }
        self.count += 1;
        self.unpacked += len;
        true
    }

    /// Inspects a member found inside `parent`: names it, hashes it, looks into it.
    pub fn member(&mut self, parent: &str, name: &str, data: &[u8], depth: usize) {
        let path = format!("{parent} ▸ {name}");
        if self.members.len() < MAX_MEMBERS {
            self.members.push(path.clone());
            self.member_sha256.push(sha256_hex(data));
        }
        inspect(self, &path, Some(name), data, depth + 1);
    }

    /// A member whose bytes cannot be read (an unsupported compression): its name only.
    pub fn member_name(&mut self, parent: &str, name: &str) {
        let path = format!("{parent} ▸ {name}");
        if self.members.len() < MAX_MEMBERS {
            self.members.push(path.clone());
        }
        check_name(self, &path, name, None);
    }
}

/// Uuencoded files in a message's text.
pub(crate) fn legacy_uudecode(text: &str) -> Vec<(String, Vec<u8>)> {
    if !text.contains("begin ") {
        return Vec::new();
    }
    legacy::uudecode_blocks(text)
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Analyses one attachment: its fact, and the reasons it adds to the message's score.
pub(crate) fn analyze(
    name: Option<&str>,
    content_type: Option<&str>,
    data: &[u8],
    urls: &mut Collector,
) -> (AttachmentFact, Vec<Reason>) {
    let kind = sniff::sniff(data);
    let mut ins = Inspection {
        reasons: Vec::new(),
        members: Vec::new(),
        member_sha256: Vec::new(),
        urls,
        unpacked: 0,
        count: 0,
    };
    let path = name.unwrap_or("(unnamed attachment)").to_string();
    inspect(&mut ins, &path, name, data, 0);
    let fact = AttachmentFact {
        name: name.map(str::to_string),
        content_type: content_type.map(str::to_string),
        file_type: kind.label(),
        size: data.len(),
        sha256: sha256_hex(data),
        members: ins.members,
        member_sha256: ins.member_sha256,
    };
    (fact, ins.reasons)
}

/// Analyses a file on its own (a file saved out of a mail, or handed to `mail scan`).
pub fn analyze_file(name: &str, data: &[u8]) -> (AttachmentFact, Vec<Reason>) {
    let mut urls = Collector::default();
    analyze(Some(name), None, data, &mut urls)
}

/// File name extensions that run code when opened on Windows.
const RUNS_CODE: &[&str] = &[
    "exe",
    "scr",
    "com",
    "pif",
    "cpl",
    "msi",
    "msp",
    "msix",
    "msixbundle",
    "appx",
    "appxbundle",
    "bat",
    "cmd",
    "ps1",
    "psm1",
    "psd1",
    "vbs",
    "vbe",
    "js",
    "jse",
    "wsf",
    "wsh",
    "wsc",
    "hta",
    "lnk",
    "jar",
    "reg",
    "inf",
    "dll",
    "sys",
    "xll",
    "iqy",
    "slk",
    "settingcontent-ms",
    "library-ms",
    "url",
    "scf",
    "application",
    "gadget",
    "msc",
    "appref-ms",
    "chm",
    "sct",
    "mshta",
    "vb",
    "elf",
    "sh",
    "apk",
    "dmg",
    "pkg",
    "app",
    "ocx",
    "drv",
    "cab",
    "mde",
    "accde",
];
/// Extensions of disk images that Windows mounts with a double click.
const DISK_IMAGES: &[&str] = &["iso", "img", "vhd", "vhdx", "udf"];
/// Extensions of macro-enabled Office documents.
const MACRO_DOCS: &[&str] = &[
    "docm", "dotm", "xlsm", "xltm", "xlam", "pptm", "potm", "ppam", "ppsm", "sldm", "xlsb",
];
/// Extensions people read as documents or pictures: the decoy half of a double extension.
const DECOYS: &[&str] = &[
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "txt", "rtf", "jpg", "jpeg", "png", "gif",
    "bmp", "tif", "tiff", "mp3", "mp4", "avi", "wav", "csv", "odt", "html", "htm", "zip",
];

fn extension(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.rsplit_once('.')
        .map(|(_, e)| e.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Checks a file name on its own: types that run code, double extensions, hidden
/// extensions. `kind` is what the bytes are, when known.
fn check_name(ins: &mut Inspection, path: &str, name: &str, kind: Option<FileType>) {
    let ext = extension(name);
    if name.contains('\u{202E}') {
        ins.flag(
            "attachment.rtlo_name",
            7,
            path,
            "its name hides its real extension with a right-to-left override character".into(),
        );
    }
    let base = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase();
    let parts: Vec<&str> = base.split('.').collect();
    if parts.len() >= 3 {
        let decoy = parts[parts.len() - 2].trim();
        if DECOYS.contains(&decoy)
            && (RUNS_CODE.contains(&ext.as_str()) || DISK_IMAGES.contains(&ext.as_str()))
        {
            ins.flag(
                "attachment.double_extension",
                6,
                path,
                format!(
                    "double extension `.{decoy}.{ext}`: it looks like a document but is a .{ext}"
                ),
            );
        }
    }
    if base.contains("     ") && RUNS_CODE.contains(&ext.as_str()) {
        ins.flag(
            "attachment.padded_name",
            4,
            path,
            "its name is padded with spaces to push the real extension out of sight".into(),
        );
    }
    let is_program = kind == Some(FileType::Executable);
    if RUNS_CODE.contains(&ext.as_str()) && !is_program {
        let (code, points, what) = match ext.as_str() {
            "lnk" => (
                "attachment.shortcut",
                7,
                "a Windows shortcut (.lnk), which can start any command".to_string(),
            ),
            "js" | "jse" | "vbs" | "vbe" | "wsf" | "wsh" | "wsc" | "hta" | "ps1" | "psm1"
            | "bat" | "cmd" | "sct" => (
                "attachment.script",
                8,
                format!("a script (.{ext}) that Windows runs with a double click"),
            ),
            "chm" => (
                "attachment.chm",
                6,
                "a compiled HTML help file (.chm), which can run scripts".to_string(),
            ),
            _ => (
                "attachment.runs_code",
                7,
                format!("a .{ext} file, a type that runs code when opened"),
            ),
        };
        ins.flag(code, points, path, what);
    }
    if DISK_IMAGES.contains(&ext.as_str()) && kind != Some(FileType::DiskImage) {
        ins.flag(
            "attachment.disk_image",
            6,
            path,
            format!("a disk image (.{ext}): its content escapes the mark of the web"),
        );
    }
    if MACRO_DOCS.contains(&ext.as_str()) {
        ins.flag(
            "attachment.macro_enabled_type",
            4,
            path,
            format!("a macro-enabled Office document (.{ext})"),
        );
    }
}

/// Looks at one file (or member) at `path`: its name, then its bytes by type.
fn inspect(ins: &mut Inspection, path: &str, name: Option<&str>, data: &[u8], depth: usize) {
    let kind = sniff::sniff(data);
    if let Some(name) = name {
        check_name(ins, path, name, Some(kind));
        let ext = extension(name);
        if kind == FileType::Executable && !RUNS_CODE.contains(&ext.as_str()) && !ext.is_empty() {
            ins.flag(
                "attachment.disguised_program",
                9,
                path,
                format!("a program disguised as a .{ext} file"),
            );
        }
        let looks_inert = matches!(
            ext.as_str(),
            "jpg"
                | "jpeg"
                | "png"
                | "gif"
                | "bmp"
                | "tif"
                | "tiff"
                | "pdf"
                | "txt"
                | "csv"
                | "mp3"
                | "wav"
        );
        if looks_inert
            && matches!(
                kind,
                FileType::Ole
                    | FileType::Zip
                    | FileType::Rtf
                    | FileType::SevenZip
                    | FileType::Rar
                    | FileType::Html
                    | FileType::DiskImage
                    | FileType::Shortcut
            )
        {
            ins.flag(
                "attachment.disguised_type",
                4,
                path,
                format!("a {} disguised as a .{ext} file", kind.label()),
            );
        }
    }
    if memchr::memmem::find(data, b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE").is_some() {
        ins.flag(
            "attachment.av_test_file",
            10,
            path,
            "the EICAR antivirus test file (harmless, but every scanner must stop it)".into(),
        );
    }
    if depth > MAX_DEPTH {
        return;
    }
    match kind {
        FileType::Executable => {
            ins.flag(
                "attachment.program",
                10,
                path,
                "a program (Windows PE, ELF or Mach-O executable)".into(),
            );
        }
        FileType::Zip => containers::zip(ins, path, data, depth),
        FileType::Tar => containers::tar(ins, path, data, depth),
        FileType::Gzip => containers::gzip(ins, path, name, data, depth),
        FileType::Cpio => containers::cpio(ins, path, data, depth),
        FileType::Cab => containers::cab(ins, path, data),
        FileType::Tnef => containers::tnef(ins, path, data, depth),
        FileType::SevenZip | FileType::Rar | FileType::Arj => {
            containers::opaque(ins, path, kind, data)
        }
        FileType::Bzip2 | FileType::Xz => {
            // One compressed file: its name is the outer name without the suffix.
            let inner = name.and_then(|n| {
                let lower = n.to_ascii_lowercase();
                [".bz2", ".xz"]
                    .iter()
                    .find(|s| lower.ends_with(*s))
                    .map(|s| n[..n.len() - s.len()].to_string())
            });
            if let Some(inner) = inner.filter(|i| !i.is_empty()) {
                ins.member_name(path, &inner);
            }
            containers::opaque(ins, path, kind, data);
        }
        FileType::Ole => office::ole(ins, path, data, depth),
        FileType::Rtf => office::rtf(ins, path, data, depth),
        FileType::Pdf => office::pdf(ins, path, data, depth),
        FileType::Html | FileType::Svg => html::inspect(ins, path, kind, data),
        FileType::Chm => {
            ins.flag(
                "attachment.chm",
                6,
                path,
                "a compiled HTML help file, which can run scripts".into(),
            );
            containers::names_in_clear(ins, path, data);
        }
        FileType::DiskImage => {
            ins.flag(
                "attachment.disk_image",
                6,
                path,
                "a disk image: files in it escape the mark of the web when mounted".into(),
            );
            containers::names_in_clear(ins, path, data);
        }
        FileType::Shortcut => ins.flag(
            "attachment.shortcut",
            7,
            path,
            "a Windows shortcut, which can start any command".into(),
        ),
        FileType::OneNote => {
            ins.flag(
                "attachment.onenote",
                5,
                path,
                "a OneNote notebook (used to hide scripts behind a fake button)".into(),
            );
            if let Some(at) = sniff::find_embedded_pe(data) {
                ins.member(path, "embedded program", &data[at..], depth);
            }
        }
        FileType::Szdd => {
            if let Some(out) = legacy::szdd(data)
                && ins.budget(out.len())
            {
                ins.member(path, "(expanded)", &out, depth);
            }
        }
        FileType::BinHex => {
            if let Some((inner, fork)) = legacy::binhex(data)
                && ins.budget(fork.len())
            {
                ins.member(path, &inner, &fork, depth);
            }
        }
        FileType::Message => {
            for (inner, bytes) in crate::message::attachments_of(data) {
                if ins.budget(bytes.len()) {
                    ins.member(path, &inner, &bytes, depth);
                }
            }
        }
        FileType::Installer => {
            ins.flag(
                "attachment.installer",
                8,
                path,
                "a software installer package: it installs and runs programs".into(),
            );
            containers::names_in_clear(ins, path, data);
        }
        FileType::Other => {
            let head = &data[..data.len().min(64 << 10)];
            if (head.starts_with(b"begin ") || memchr::memmem::find(head, b"\nbegin ").is_some())
                && let Ok(text) = std::str::from_utf8(data)
            {
                for (inner, bytes) in legacy::uudecode_blocks(text) {
                    if ins.budget(bytes.len()) {
                        ins.member(path, &inner, &bytes, depth);
                    }
                }
            }
            if let Some(at) = sniff::find_embedded_pe(data) {
                ins.member(path, "embedded program", &data[at..], depth);
            }
        }
    }
}

#[cfg(test)]
mod tests;
