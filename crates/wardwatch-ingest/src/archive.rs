//! Archives: `.zip` and `.tar` (gzipped or not) read member by member, so that sample sets
//! shipped as archives (the OTRF Security-Datasets are zipped JSON, Splunk's attack_data a
//! `.tar.gz`) are hunted where they lie, without unpacking them first.
//!
//! Each member is decoded as if it were a file of its own, named `ARCHIVE!MEMBER` in events and
//! warnings. Members are read into memory one at a time (EVTX needs random access, and a zip
//! member is a compressed stream anyway); a member bigger than [`MEMBER_MAX`] is skipped with a
//! warning rather than allowed to exhaust memory. Metadata members (`README.md`, licences,
//! `.yml`) are skipped quietly, like the same files beside logs in a folder. A truncated archive
//! keeps every record decoded before the cut and ends with a warning.

use std::io::{BufRead, Cursor, Read};
use std::path::Path;

use wardwatch_core::Event;

use crate::IngestError;
use crate::file::{FileSummary, Format, Warning, decode_stream, io_err};

/// A zip file's first four bytes (a local file header).
pub(crate) const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// The largest member read (1 GiB decompressed).
pub const MEMBER_MAX: u64 = 1 << 30;

/// Whether a (decompressed) stream starting with `head` is a tar archive: `ustar` at byte 257.
pub(crate) fn is_tar(head: &[u8]) -> bool {
    head.get(257..262) == Some(b"ustar")
}

/// Whether an archive member is metadata rather than a log (skipped without a warning).
fn is_metadata(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    let ext = base.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    base.is_empty()
        || base.starts_with('.')
        || base.starts_with("license")
        || matches!(
            ext,
            "md" | "yml" | "yaml" | "csv" | "html" | "pdf" | "png" | "jpg"
        )
}

/// Accumulates the archive's outcome over its members: the first member's format and the sum
/// of their summaries.
struct Members<'a, S> {
    path: &'a Path,
    sink: S,
    format: Option<Format>,
    summary: FileSummary,
}

impl<S> Members<'_, S> {
    fn source(&self, member: &str) -> String {
        format!("{}!{member}", self.path.display())
    }

    fn decode<U, M>(
        &mut self,
        member: &str,
        bytes: Vec<u8>,
        threads: usize,
        map: &M,
    ) -> Result<(), IngestError>
    where
        U: Send + 'static,
        M: Fn(Result<Event, Warning>) -> U + Send + Sync + Clone + 'static,
        S: FnMut(Result<U, Warning>),
    {
        let source = self.source(member);
        let reader: Box<dyn BufRead> = Box::new(Cursor::new(bytes));
        match decode_stream(
            self.path,
            &source,
            reader,
            true,
            threads,
            map.clone(),
            &mut self.sink,
        )? {
            Some((format, summary)) => {
                self.format.get_or_insert(format);
                self.summary.events += summary.events;
                self.summary.skipped += summary.skipped;
            }
            None => self.warn(
                &source,
                "unrecognized format (expected EVTX, JSON lines, Suricata EVE or syslog text)",
            ),
        }
        Ok(())
    }

    /// Read the member `name` from `reader` and decode it; a member over [`MEMBER_MAX`] is
    /// skipped with a warning, a cut one is decoded up to the cut and warned about. Returns
    /// whether the read was cut (the archive stream ends there).
    fn read_and_decode<U, M>(
        &mut self,
        name: &str,
        reader: impl Read,
        threads: usize,
        map: &M,
    ) -> Result<bool, IngestError>
    where
        U: Send + 'static,
        M: Fn(Result<Event, Warning>) -> U + Send + Sync + Clone + 'static,
        S: FnMut(Result<U, Warning>),
    {
        let (bytes, cut) = read_member(reader);
        if let Some(reason) = &cut
            && bytes.len() as u64 > MEMBER_MAX
        {
            let source = self.source(name);
            self.warn(&source, reason.clone());
            return Ok(false);
        }
        self.decode(name, bytes, threads, map)?;
        let Some(reason) = cut else {
            return Ok(false);
        };
        let source = self.source(name);
        self.warn(&source, reason);
        Ok(true)
    }

    fn warn<U>(&mut self, source: &str, message: impl Into<String>)
    where
        S: FnMut(Result<U, Warning>),
    {
        self.summary.skipped += 1;
        (self.sink)(Err(Warning::new(source, None, message)));
    }

    /// The archive's outcome; an archive with no log member is an unknown format.
    fn finish(self) -> Result<(Format, FileSummary), IngestError> {
        match self.format {
            Some(f) => Ok((f, self.summary)),
            None if self.summary.skipped > 0 => Ok((Format::JsonLines, self.summary)),
            None => Err(IngestError::UnknownFormat {
                path: self.path.to_path_buf(),
            }),
        }
    }
}

/// Reads up to [`MEMBER_MAX`] bytes of `r`; a read error (a truncated archive) keeps what was
/// read and says why it stopped.
fn read_member(mut r: impl Read) -> (Vec<u8>, Option<String>) {
    let mut bytes = Vec::new();
    let cut = match r.by_ref().take(MEMBER_MAX + 1).read_to_end(&mut bytes) {
        Ok(_) if bytes.len() as u64 > MEMBER_MAX => {
            Some(format!("member larger than {MEMBER_MAX} bytes: skipped"))
        }
        Ok(_) => None,
        Err(e) => Some(format!(
            "archive cut short after {} bytes: {e}",
            bytes.len()
        )),
    };
    (bytes, cut)
}

/// Decode every member of the zip archive at `path`.
pub(crate) fn decode_zip<U, M, S>(
    path: &Path,
    threads: usize,
    map: M,
    sink: S,
) -> Result<(Format, FileSummary), IngestError>
where
    U: Send + 'static,
    M: Fn(Result<Event, Warning>) -> U + Send + Sync + Clone + 'static,
    S: FnMut(Result<U, Warning>),
{
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut zip =
        zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| IngestError::Archive {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let mut out = Members {
        path,
        sink,
        format: None,
        summary: FileSummary::default(),
    };
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                let source = out.source(&format!("#{i}"));
                out.warn(&source, format!("unreadable member: {e}"));
                continue;
            }
        };
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
        };
        if !entry.is_file() || is_metadata(&name) {
            continue;
        }
        if entry.size() > MEMBER_MAX {
            let source = out.source(&name);
            out.warn(
                &source,
                format!("member larger than {MEMBER_MAX} bytes: skipped"),
            );
            continue;
        }
        out.read_and_decode(&name, &mut entry, threads, &map)?;
    }
    out.finish()
}

/// Decode every member of the tar stream `reader` (already decompressed) of the file `path`.
pub(crate) fn decode_tar<U, M, S>(
    path: &Path,
    reader: Box<dyn BufRead>,
    threads: usize,
    map: M,
    sink: S,
) -> Result<(Format, FileSummary), IngestError>
where
    U: Send + 'static,
    M: Fn(Result<Event, Warning>) -> U + Send + Sync + Clone + 'static,
    S: FnMut(Result<U, Warning>),
{
    let mut tar = tar::Archive::new(reader);
    let mut out = Members {
        path,
        sink,
        format: None,
        summary: FileSummary::default(),
    };
    let entries = tar.entries().map_err(|e| IngestError::Archive {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let source = path.display().to_string();
                out.warn(&source, format!("archive unreadable from here on: {e}"));
                break;
            }
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = match entry.path() {
            Ok(p) => p.to_string_lossy().into_owned(),
            Err(_) => String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
        };
        if is_metadata(&name) {
            continue;
        }
        if out.read_and_decode(&name, &mut entry, threads, &map)? {
            // A cut stream has nothing after it.
            break;
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_members_are_recognized() {
        assert!(is_metadata("README.md"));
        assert!(is_metadata("dir/LICENSE"));
        assert!(is_metadata("meta/info.yml"));
        assert!(!is_metadata("logs/host_2020.json"));
        assert!(!is_metadata("Security.evtx"));
        assert!(!is_metadata("attack_data.txt"));
    }

    #[test]
    fn tar_is_recognized_by_its_ustar_magic() {
        let mut head = vec![0u8; 512];
        head[257..262].copy_from_slice(b"ustar");
        assert!(is_tar(&head));
        assert!(!is_tar(b"{\"a\":1}"));
    }
}
