//! What a file is, by its first bytes (and, for disk images, the bytes where their volume
//! descriptors live) — never by its name, which the sender chose.

/// A file type the attachment checks tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileType {
    /// Windows PE, ELF or Mach-O: a program.
    Executable,
    Zip,
    /// OLE compound file (Office 97-2003, MSI, Outlook .msg).
    Ole,
    Rtf,
    Pdf,
    Html,
    Svg,
    Gzip,
    Bzip2,
    Xz,
    Tar,
    Cpio,
    Cab,
    SevenZip,
    Rar,
    Arj,
    Chm,
    /// ISO 9660 / UDF optical disc image, VHD, VHDX.
    DiskImage,
    /// Windows shortcut (`.lnk`).
    Shortcut,
    OneNote,
    /// Microsoft `compress.exe` output (`SZDD`), the `file.ex_` of old installers.
    Szdd,
    BinHex,
    /// Outlook's `winmail.dat`.
    Tnef,
    /// A mail message (`.eml`, `message/rfc822`, an mbox).
    Message,
    /// A Symbian installer (`.sis`).
    Installer,
    Other,
}

impl FileType {
    pub fn label(self) -> &'static str {
        match self {
            Self::Executable => "program",
            Self::Zip => "zip archive",
            Self::Ole => "OLE compound document",
            Self::Rtf => "RTF document",
            Self::Pdf => "PDF document",
            Self::Html => "HTML page",
            Self::Svg => "SVG image",
            Self::Gzip => "gzip file",
            Self::Bzip2 => "bzip2 file",
            Self::Xz => "xz file",
            Self::Tar => "tar archive",
            Self::Cpio => "cpio archive",
            Self::Cab => "cabinet archive",
            Self::SevenZip => "7-Zip archive",
            Self::Rar => "RAR archive",
            Self::Arj => "ARJ archive",
            Self::Chm => "compiled HTML help file",
            Self::DiskImage => "disk image",
            Self::Shortcut => "Windows shortcut",
            Self::OneNote => "OneNote notebook",
            Self::Szdd => "MS-compressed file",
            Self::BinHex => "BinHex file",
            Self::Tnef => "Outlook TNEF (winmail.dat)",
            Self::Message => "mail message",
            Self::Installer => "software installer",
            Self::Other => "file",
        }
    }
}

pub(crate) fn sniff(data: &[u8]) -> FileType {
    let at = |off: usize, magic: &[u8]| data.get(off..off + magic.len()) == Some(magic);
    if is_executable(data) {
        return FileType::Executable;
    }
    if at(0, b"PK\x03\x04") || at(0, b"PK\x05\x06") {
        return FileType::Zip;
    }
    if at(0, b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        return FileType::Ole;
    }
    if at(0, b"{\\rt") {
        return FileType::Rtf;
    }
    if data.len() >= 5 && memchr::memmem::find(&data[..data.len().min(1024)], b"%PDF-").is_some() {
        return FileType::Pdf;
    }
    if at(0, b"\x1F\x8B") {
        return FileType::Gzip;
    }
    if at(0, b"BZh") && data.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        return FileType::Bzip2;
    }
    if at(0, b"\xFD7zXZ\x00") {
        return FileType::Xz;
    }
    if at(257, b"ustar") {
        return FileType::Tar;
    }
    if at(0, b"070707")
        || at(0, b"070701")
        || at(0, b"070702")
        || at(0, b"\xC7\x71")
        || at(0, b"\x71\xC7")
    {
        return FileType::Cpio;
    }
    if at(0, b"MSCF\0\0\0\0") {
        return FileType::Cab;
    }
    if at(0, b"7z\xBC\xAF\x27\x1C") {
        return FileType::SevenZip;
    }
    if at(0, b"Rar!\x1A\x07") {
        return FileType::Rar;
    }
    if at(0, b"\x60\xEA") {
        return FileType::Arj;
    }
    if at(0, b"ITSF") {
        return FileType::Chm;
    }
    if at(0x8001, b"CD001")
        || at(0x8801, b"CD001")
        || at(0x9001, b"CD001")
        || at(0x8001, b"BEA01")
        || at(0, b"conectix")
        || at(0, b"vhdxfile")
    {
        return FileType::DiskImage;
    }
    if at(0, b"\x4C\x00\x00\x00\x01\x14\x02\x00") {
        return FileType::Shortcut;
    }
    if at(0, b"\xE4\x52\x5C\x7B\x8C\xD8\xA7\x4D") {
        return FileType::OneNote;
    }
    if at(0, b"SZDD\x88\xF0\x27\x33") {
        return FileType::Szdd;
    }
    // Symbian SIS: the third UID of an EPOC installer.
    if at(8, b"\x19\x04\x00\x10") {
        return FileType::Installer;
    }
    if at(0, b"\x78\x9F\x3E\x22") {
        return FileType::Tnef;
    }
    let head = &data[..data.len().min(2048)];
    if memchr::memmem::find(head, b"(This file must be converted with BinHex").is_some() {
        return FileType::BinHex;
    }
    let lower = String::from_utf8_lossy(head).to_ascii_lowercase();
    let trimmed = lower.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with("<svg") || (trimmed.starts_with("<?xml") && lower.contains("<svg")) {
        return FileType::Svg;
    }
    if trimmed.starts_with("<!doctype html")
        || trimmed.starts_with("<html")
        || trimmed.starts_with("<head")
        || trimmed.starts_with("<script")
        || trimmed.starts_with("<body")
        || (trimmed.starts_with('<')
            && (lower.contains("<script") || lower.contains("<form") || lower.contains("<meta")))
    {
        return FileType::Html;
    }
    let has = |h: &str| lower.starts_with(h) || lower.contains(&format!("\n{h}"));
    if crate::mbox::is_message(data)
        && (has("from:") || has("received:"))
        && (has("subject:") || has("content-type:") || has("mime-version:") || has("to:"))
    {
        return FileType::Message;
    }
    FileType::Other
}

/// A program for Windows (PE), Linux (ELF) or macOS (Mach-O).
pub(crate) fn is_executable(data: &[u8]) -> bool {
    if data.starts_with(b"MZ") {
        // The PE header's offset is at 0x3C; DOS programs without one still run.
        let pe = data
            .get(0x3C..0x40)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        return match pe {
            Some(off) if off + 4 <= data.len() => {
                &data[off..off + 4] == b"PE\0\0" || data.len() < 0x200
            }
            _ => data.len() >= 64,
        };
    }
    data.starts_with(b"\x7FELF")
        || data.starts_with(&[0xCF, 0xFA, 0xED, 0xFE])
        || data.starts_with(&[0xCE, 0xFA, 0xED, 0xFE])
        || data.starts_with(&[0xCA, 0xFE, 0xBA, 0xBE])
}

/// Where a PE file starts inside other bytes (an embedded program), if one does.
pub(crate) fn find_embedded_pe(data: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&data[from..], b"MZ") {
        let at = from + i;
        if let Some(b) = data.get(at + 0x3C..at + 0x40) {
            let off = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
            if (0x40..0x1000).contains(&off) && data.get(at + off..at + off + 4) == Some(b"PE\0\0")
            {
                return Some(at);
            }
        }
        from = at + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_magic() {
        let mut pe = vec![0u8; 0x200];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3C] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert_eq!(sniff(&pe), FileType::Executable);
        let mut wrapped = b"junk before".to_vec();
        wrapped.extend_from_slice(&pe);
        assert_eq!(find_embedded_pe(&wrapped), Some(11));
        assert_eq!(sniff(b"{\\rtf1\\ansi"), FileType::Rtf);
        assert_eq!(sniff(b"<!DOCTYPE html><html>"), FileType::Html);
        assert_eq!(sniff(b"hello"), FileType::Other);
        let mut iso = vec![0u8; 0x8010];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(sniff(&iso), FileType::DiskImage);
    }
}
