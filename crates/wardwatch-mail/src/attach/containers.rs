//! Archives: members read and inspected (zip, tar, gzip, cpio, cabinet names, TNEF), or, for
//! formats not unpacked here (7-Zip, RAR, ARJ, bzip2, xz), the file names they carry in clear.

use std::io::Read;

use super::Inspection;
use super::sniff::FileType;

/// Zip: every member by name; readable members (stored, deflated) inspected in turn; an
/// encrypted archive said so (it is how scanners are passed by).
pub(super) fn zip(ins: &mut Inspection, path: &str, data: &[u8], depth: usize) {
    let Ok(mut archive) = zip::ZipArchive::new(std::io::Cursor::new(data)) else {
        // A damaged central directory: the local headers still name the members.
        names_in_clear(ins, path, data);
        return;
    };
    if archive
        .file_names()
        .any(|n| n.is_ok_and(|n| n == "[Content_Types].xml"))
    {
        super::office::ooxml(ins, path, &mut archive, depth);
        return;
    }
    let mut encrypted = false;
    for i in 0..archive.len().min(super::MAX_MEMBERS) {
        let (name, size, is_dir) = match archive.by_index_raw(i) {
            Ok(f) => {
                encrypted |= f.encrypted();
                (
                    f.name().map(|n| n.to_string()).unwrap_or_default(),
                    f.size() as usize,
                    f.is_dir(),
                )
            }
            Err(_) => continue,
        };
        if is_dir {
            continue;
        }
        let readable = !encrypted && ins.budget(size);
        let bytes = readable
            .then(|| {
                let mut f = archive.by_index(i).ok()?;
                let mut buf = Vec::with_capacity(size.min(super::MAX_MEMBER));
                (&mut f)
                    .take(super::MAX_MEMBER as u64)
                    .read_to_end(&mut buf)
                    .ok()?;
                Some(buf)
            })
            .flatten();
        match bytes {
            Some(b) => ins.member(path, &name, &b, depth),
            None => ins.member_name(path, &name),
        }
    }
    if encrypted {
        ins.flag(
            "attachment.encrypted_archive",
            4,
            path,
            "a password-protected archive: no scanner can look inside".into(),
        );
    }
}

/// Tar (ustar and old-style): 512-byte headers, each followed by its member.
pub(super) fn tar(ins: &mut Inspection, path: &str, data: &[u8], depth: usize) {
    let mut pos = 0;
    while pos + 512 <= data.len() {
        let header = &data[pos..pos + 512];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let name = cstr(&header[..100]);
        let size = octal(&header[124..136]).unwrap_or(0);
        let body = pos + 512;
        let end = body.saturating_add(size).min(data.len());
        let kind = header[156];
        if (kind == b'0' || kind == 0) && !name.is_empty() {
            if ins.budget(end - body) {
                ins.member(path, &name, &data[body..end], depth);
            } else {
                ins.member_name(path, &name);
            }
        }
        pos = body + size.div_ceil(512) * 512;
    }
}

/// Gzip: one member, named by the header's original name or the file's name without `.gz`.
pub(super) fn gzip(
    ins: &mut Inspection,
    path: &str,
    name: Option<&str>,
    data: &[u8],
    depth: usize,
) {
    let mut out = Vec::new();
    let mut dec = flate2::read::GzDecoder::new(data);
    let inner_name = dec
        .header()
        .and_then(|h| h.filename())
        .map(|f| String::from_utf8_lossy(f).into_owned());
    if (&mut dec)
        .take(super::MAX_MEMBER as u64)
        .read_to_end(&mut out)
        .is_err()
        && out.is_empty()
    {
        return;
    }
    let inner_name = inner_name
        .or_else(|| {
            dec.header()
                .and_then(|h| h.filename())
                .map(|f| String::from_utf8_lossy(f).into_owned())
        })
        .or_else(|| {
            name.map(|n| {
                let lower = n.to_ascii_lowercase();
                if lower.ends_with(".tgz") {
                    format!("{}.tar", &n[..n.len() - 4])
                } else {
                    n.strip_suffix(".gz")
                        .or_else(|| n.strip_suffix(".GZ"))
                        .unwrap_or(n)
                        .to_string()
                }
            })
        })
        .unwrap_or_else(|| "(gunzipped)".to_string());
    if ins.budget(out.len()) {
        ins.member(path, &inner_name, &out, depth);
    }
}

/// cpio in its three layouts: old binary (either byte order), portable ASCII (`070707`) and
/// new ASCII (`070701`/`070702`).
pub(super) fn cpio(ins: &mut Inspection, path: &str, data: &[u8], depth: usize) {
    let mut pos = 0;
    for _ in 0..super::MAX_MEMBERS {
        let Some(h) = data.get(pos..) else { break };
        let (name_len, size, header_len, align) = if h.starts_with(b"070707") {
            let (Some(n), Some(s)) = (
                octal(h.get(59..65).unwrap_or(b"")),
                octal(h.get(65..76).unwrap_or(b"")),
            ) else {
                break;
            };
            (n, s, 76, 1)
        } else if h.starts_with(b"070701") || h.starts_with(b"070702") {
            let hex = |r: std::ops::Range<usize>| {
                h.get(r)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(|s| usize::from_str_radix(s, 16).ok())
            };
            let (Some(s), Some(n)) = (hex(54..62), hex(94..102)) else {
                break;
            };
            (n, s, 110, 4)
        } else if h.len() >= 26 && (h.starts_with(b"\xC7\x71") || h.starts_with(b"\x71\xC7")) {
            let le = h[0] == 0xC7;
            let u16_at = |i: usize| {
                if le {
                    u16::from_le_bytes([h[i], h[i + 1]]) as usize
                } else {
                    u16::from_be_bytes([h[i], h[i + 1]]) as usize
                }
            };
            let size = (u16_at(22) << 16) | u16_at(24);
            (u16_at(20), size, 26, 2)
        } else {
            break;
        };
        let name_start = pos + header_len;
        let name_end = name_start + name_len;
        let Some(name_bytes) = data.get(name_start..name_end) else {
            break;
        };
        let name = cstr(name_bytes);
        let body = (name_end).next_multiple_of(align);
        let end = body.saturating_add(size).min(data.len());
        if name == "TRAILER!!!" || body > data.len() {
            break;
        }
        if size > 0 {
            if ins.budget(end - body) {
                ins.member(path, &name, &data[body..end], depth);
            } else {
                ins.member_name(path, &name);
            }
        }
        pos = end.next_multiple_of(align);
    }
}

/// Cabinet: the file names from its `CFFILE` entries (the data is usually MSZIP or LZX
/// compressed and not unpacked here).
pub(super) fn cab(ins: &mut Inspection, path: &str, data: &[u8]) {
    let u32_at = |i: usize| {
        data.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let u16_at = |i: usize| {
        data.get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let (Some(first), Some(count)) = (u32_at(0x10), u16_at(0x1C)) else {
        return;
    };
    let mut pos = first;
    for _ in 0..count.min(super::MAX_MEMBERS) {
        let Some(rest) = data.get(pos + 16..) else {
            break;
        };
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(rest.len())
            .min(512);
        let name = String::from_utf8_lossy(&rest[..len]).into_owned();
        ins.member_name(path, &name);
        pos += 16 + len + 1;
    }
}

/// TNEF (`winmail.dat`): attachment titles and data records.
pub(super) fn tnef(ins: &mut Inspection, path: &str, data: &[u8], depth: usize) {
    const ATT_TITLE: u32 = 0x0001_8010;
    const ATT_DATA: u32 = 0x0006_800F;
    let mut pos = 6;
    let mut title: Option<String> = None;
    for _ in 0..4096 {
        let Some(h) = data.get(pos..pos + 9) else {
            break;
        };
        let id = u32::from_le_bytes([h[1], h[2], h[3], h[4]]);
        let len = u32::from_le_bytes([h[5], h[6], h[7], h[8]]) as usize;
        let body = pos + 9;
        let Some(value) = data.get(body..body.saturating_add(len)) else {
            break;
        };
        match id {
            ATT_TITLE => title = Some(cstr(value)),
            ATT_DATA => {
                let name = title
                    .take()
                    .unwrap_or_else(|| "(winmail attachment)".into());
                if ins.budget(value.len()) {
                    ins.member(path, &name, value, depth);
                } else {
                    ins.member_name(path, &name);
                }
            }
            _ => {}
        }
        pos = body + len + 2;
    }
}

/// Archives not unpacked here: said so (nothing inside was checked), and the names readable in
/// their headers checked.
pub(super) fn opaque(ins: &mut Inspection, path: &str, kind: FileType, data: &[u8]) {
    ins.flag(
        "attachment.uninspectable_archive",
        2,
        path,
        format!(
            "a {} that is not unpacked here: what it holds was not checked",
            kind.label()
        ),
    );
    names_in_clear(ins, path, data);
}

/// File names readable in a container's bytes (ASCII or UTF-16LE) that end in an extension
/// that runs code: how a 7-Zip, RAR, ARJ, CHM or disk image shows its content without being
/// unpacked.
pub(super) fn names_in_clear(ins: &mut Inspection, path: &str, data: &[u8]) {
    let mut seen: Vec<String> = Vec::new();
    let window = &data[..data.len().min(4 << 20)];
    for name in ascii_names(window).into_iter().chain(utf16_names(window)) {
        if seen.len() >= 32 || seen.contains(&name) {
            continue;
        }
        let ext = super::extension(&name);
        if super::RUNS_CODE.contains(&ext.as_str()) || super::DISK_IMAGES.contains(&ext.as_str()) {
            ins.member_name(path, &name);
            seen.push(name);
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'.' | b'_' | b'-' | b' ' | b'(' | b')' | b'/' | b'\\' | b'!' | b'$' | b'~'
        )
}

fn ascii_names(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &b) in data.iter().chain(std::iter::once(&0)).enumerate() {
        if is_name_byte(b) {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            push_name(&mut out, &data[s..i]);
        }
    }
    out
}

fn utf16_names(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for offset in 0..2 {
        let mut run = Vec::new();
        let mut i = offset;
        while i + 1 < data.len() {
            let (lo, hi) = (data[i], data[i + 1]);
            if hi == 0 && is_name_byte(lo) {
                run.push(lo);
            } else if !run.is_empty() {
                push_name(&mut out, &run);
                run.clear();
            }
            i += 2;
        }
        push_name(&mut out, &run);
    }
    out
}

fn push_name(out: &mut Vec<String>, run: &[u8]) {
    if run.len() < 5 || run.len() > 260 || out.len() > 4096 {
        return;
    }
    let s = String::from_utf8_lossy(run);
    let s = s.trim();
    let base = s.rsplit(['/', '\\']).next().unwrap_or(s);
    if let Some((stem, ext)) = base.rsplit_once('.')
        && !stem.is_empty()
        && (2..=4).contains(&ext.len())
        && ext.chars().all(|c| c.is_ascii_alphanumeric())
    {
        out.push(base.to_string());
    }
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).trim().to_string()
}

fn octal(b: &[u8]) -> Option<usize> {
    let s = std::str::from_utf8(b).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if s.is_empty() {
        return Some(0);
    }
    usize::from_str_radix(s, 8).ok()
}
