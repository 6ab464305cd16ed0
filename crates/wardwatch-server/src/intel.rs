//! Threat intelligence files at the server's edge: reading STIX bundles, MISP events and IOC
//! lists (files, folders, `.tar.gz` archives) for `serve`'s live matching and the command line
//! (`intel check`, `hunt --intel`, `intel retro`), the live set the detection worker matches
//! ([`LiveIntel`]) and the retro-hunt walk over stored events ([`retro_hunt`]). Decoding is
//! `wardwatch-intel`'s; this is the I/O around it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use wardwatch_intel::{Indicator, IndicatorSet, IntelDetector, import_any};

/// One file's outcome.
pub struct FileIntel {
    pub path: PathBuf,
    pub result: Result<wardwatch_intel::Imported, String>,
}

/// Files under `paths` (folders recursively, in name order), each imported with its own
/// name as the source (a partner's export is named after the partner).
pub fn read(paths: &[PathBuf]) -> Vec<FileIntel> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = walk(p);
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    files
        .into_iter()
        .map(|path| {
            let source = source_name(&path);
            let result = std::fs::read(&path)
                .map_err(|e| format!("cannot read: {e}"))
                .and_then(|bytes| {
                    if is_tar_gz(&path) {
                        return read_tar_gz(&bytes, &source);
                    }
                    let text = String::from_utf8(bytes)
                        .map_err(|_| "not UTF-8 text (a binary file?)".to_string())?;
                    import_any(&text, &source).map_err(|e| e.to_string())
                });
            FileIntel { path, result }
        })
        .collect()
}

fn is_tar_gz(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// A `.tar.gz` of intelligence files (ATT&CK's per-object bundles, a partner's export): every
/// `.json`, `.txt` or `.csv` member imports, or the archive is refused naming the member.
fn read_tar_gz(bytes: &[u8], source: &str) -> Result<wardwatch_intel::Imported, String> {
    use std::io::Read;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut all = wardwatch_intel::Imported::default();
    let entries = archive
        .entries()
        .map_err(|e| format!("not a tar.gz archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("damaged archive: {e}"))?;
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !entry.header().entry_type().is_file()
            || !(name.ends_with(".json") || name.ends_with(".txt") || name.ends_with(".csv"))
        {
            continue;
        }
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| format!("{name}: cannot read: {e}"))?;
        let got = import_any(&text, source).map_err(|e| format!("{name}: {e}"))?;
        all.indicators.extend(got.indicators);
        all.skipped.extend(got.skipped);
        all.objects += got.objects;
    }
    Ok(all)
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let stem = p
                .file_name()
                .map(|n| n.to_string_lossy().to_ascii_uppercase())
                .unwrap_or_default();
            if ["LICENSE", "README", "MANIFEST", "SOURCES", "NOTICE"]
                .iter()
                .any(|s| stem.starts_with(s))
            {
                continue;
            }
            if p.is_dir() {
                out.extend(walk(&p));
            } else if is_tar_gz(&p)
                || p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| matches!(x, "json" | "txt" | "csv" | "stix" | "ioc"))
            {
                out.push(p);
            }
        }
    }
    out
}

fn source_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    ["tar.gz", "tgz", "json", "txt", "csv", "stix", "ioc"]
        .iter()
        .find_map(|x| name.strip_suffix(&format!(".{x}")))
        .unwrap_or(&name)
        .to_string()
}

/// Every indicator of `paths`, or the first file that does not import, named.
pub fn load(paths: &[PathBuf]) -> Result<IndicatorSet, String> {
    load_indicators(paths).map(IndicatorSet::new)
}

/// The indicators the detection worker matches, replaced whole while ingest goes on: files of
/// `[intel] paths` read at start, plus what the feeds hold in force (rebuilt when indicators
/// arrive, are revoked or expire). The worker takes the current set once per batch.
#[derive(Clone, Default)]
pub struct LiveIntel(Arc<RwLock<Option<Arc<IntelDetector>>>>);

impl LiveIntel {
    /// A live set starting as `set` (`None`: nothing to match yet).
    pub fn new(set: Option<IndicatorSet>) -> LiveIntel {
        LiveIntel(Arc::new(RwLock::new(
            set.map(|s| Arc::new(IntelDetector::new(Arc::new(s)))),
        )))
    }

    /// The set in force now.
    pub fn current(&self) -> Option<Arc<IntelDetector>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Put `set` in force (an empty set matches nothing and costs nothing).
    pub fn replace(&self, set: IndicatorSet) {
        let next = (!set.is_empty()).then(|| Arc::new(IntelDetector::new(Arc::new(set))));
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = next;
    }
}

/// Every indicator of `paths`, or the first file that does not import, named (the list, for
/// a live set that adds the feeds' to it).
pub fn load_indicators(paths: &[PathBuf]) -> Result<Vec<Indicator>, String> {
    let mut indicators: Vec<Indicator> = Vec::new();
    for f in read(paths) {
        let got = f
            .result
            .map_err(|e| format!("intel file `{}`: {e}", f.path.display()))?;
        indicators.extend(got.indicators);
    }
    Ok(indicators)
}

/// Where a retro-hunt stands: how many stored events it read and what it found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetroCount {
    pub events: u64,
    pub hits: u64,
}

/// Retro-hunt: walk the stored events whose own time is in `[from, to)` (of `org`, or every
/// organization's) in event-time order and hand `visit` each one's detections by `intel`,
/// the indicators judged as in force at `at`. `keep_going` is asked between pages (a server
/// stopping cuts the walk short).
pub fn retro_hunt(
    db: &(impl wardwatch_store::EventSearch + ?Sized),
    intel: &IntelDetector,
    org: Option<&str>,
    (from, to, at): (Timestamp, Timestamp, Timestamp),
    keep_going: &dyn Fn() -> bool,
    visit: &mut dyn FnMut(&wardwatch_store::JournalEntry, Vec<wardwatch_detect::Detection>),
) -> Result<RetroCount, wardwatch_store::StoreError> {
    let ns = |t: Timestamp| i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX);
    let mut cursor = None;
    let mut count = RetroCount::default();
    while keep_going() {
        let (page, last) = db.events_between(org, ns(from), ns(to), cursor, 5_000)?;
        if page.is_empty() {
            break;
        }
        count.events += page.len() as u64;
        for entry in &page {
            let found = intel.detect(&entry.event, Some(at));
            if !found.is_empty() {
                count.hits += found.len() as u64;
                visit(entry, found);
            }
        }
        cursor = last;
    }
    Ok(count)
}
