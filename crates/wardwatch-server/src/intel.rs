//! Threat intelligence files at the server's edge: reading STIX bundles, MISP events and IOC
//! lists (files, folders, `.tar.gz` archives) for `serve`'s live matching and the command line
//! (`intel check`, `hunt --intel`, `intel retro`). Decoding is `wardwatch-intel`'s; this is
//! the I/O around it.

use std::path::{Path, PathBuf};

use wardwatch_intel::{Indicator, IndicatorSet, import_any};

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
    let mut indicators: Vec<Indicator> = Vec::new();
    for f in read(paths) {
        let got = f
            .result
            .map_err(|e| format!("intel file `{}`: {e}", f.path.display()))?;
        indicators.extend(got.indicators);
    }
    Ok(IndicatorSet::new(indicators))
}
