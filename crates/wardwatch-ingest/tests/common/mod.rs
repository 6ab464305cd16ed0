//! Helpers shared by the integration tests: finding `../shared/data` and reading the archives
//! the OTRF datasets come in, in place and in memory (nothing is copied into the project).

#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;

use flate2::read::{DeflateDecoder, MultiGzDecoder};

/// `shared/data` beside the repository, or `None` with the reason printed (the tests that need
/// it then skip, as on a machine without the shared data); with `CI` set, its absence fails.
pub fn shared_data() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        // CI always has the data: there a missing folder is a failure, never a silent pass.
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is absent and CI is set (CI must have ../shared/data)",
            dir.display()
        );
        eprintln!(
            "skipped: {} is absent, so the real-data checks cannot run",
            dir.display()
        );
        None
    }
}

/// Every file under `dir` (recursively) whose name ends with `suffix`, sorted.
pub fn files_under(dir: &std::path::Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Up to `limit` bytes of the first member of a zip archive (deflated or stored). Deflate
/// streams end by themselves, so the sizes that a data descriptor would give are not needed.
pub fn unzip_first(path: &std::path::Path, limit: u64) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"PK\x03\x04", "{} is no zip", path.display());
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize;
    let method = u16_at(8);
    let data = 30 + u16_at(26) + u16_at(28);
    let mut out = Vec::new();
    match method {
        8 => {
            // A member may be cut short by `limit`; reading stops there.
            let _ = DeflateDecoder::new(&bytes[data..])
                .take(limit)
                .read_to_end(&mut out);
        }
        0 => out.extend_from_slice(&bytes[data..bytes.len().min(data + limit as usize)]),
        m => panic!("{}: zip method {m} not supported", path.display()),
    }
    out
}

/// Up to `limit` bytes of the first regular file in a `.tar.gz`, skipping pax headers. The
/// archive may be truncated (some in the shared data are); what could be read is returned.
pub fn untar_gz_first(path: &std::path::Path, limit: u64) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap();
    let mut gz = MultiGzDecoder::new(file);
    loop {
        let mut header = [0u8; 512];
        if gz.read_exact(&mut header).is_err() {
            return Vec::new();
        }
        let size_text = String::from_utf8_lossy(&header[124..136]);
        let size = u64::from_str_radix(size_text.trim_matches(|c: char| c == '\0' || c == ' '), 8)
            .unwrap_or(0);
        let padded = size.div_ceil(512) * 512;
        match header[156] {
            b'0' | 0 => {
                let mut out = Vec::new();
                let _ = (&mut gz).take(size.min(limit)).read_to_end(&mut out);
                return out;
            }
            _ => {
                let _ = std::io::copy(&mut (&mut gz).take(padded), &mut std::io::sink());
            }
        }
    }
}

/// The first `n` complete lines of `bytes` (a cut-off last line is left out).
pub fn first_lines(bytes: &[u8], n: usize) -> Vec<&[u8]> {
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => &bytes[..i],
        None => return Vec::new(),
    };
    complete
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .take(n)
        .collect()
}
