//! Finding the inputs: log files under the paths given, and rule files under rule folders.

use std::fs;
use std::path::{Path, PathBuf};

use wardwatch_detect::{RuleProblem, RuleText};

/// A path that could not be walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathProblem {
    pub path: PathBuf,
    pub reason: String,
}

/// Every regular file under `paths` (folders recursively, hidden files included, symlinks
/// followed), sorted and deduplicated, plus the paths that could not be read.
pub fn log_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathProblem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for root in paths {
        if !root.exists() {
            problems.push(PathProblem {
                path: root.clone(),
                reason: "no such file or folder".into(),
            });
            continue;
        }
        for entry in walkdir::WalkDir::new(root).follow_links(true) {
            match entry {
                Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
                Ok(_) => {}
                Err(e) => problems.push(PathProblem {
                    path: e
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| root.clone()),
                    reason: e.to_string(),
                }),
            }
        }
    }
    files.sort();
    files.dedup();
    (files, problems)
}

/// Whether a file name is one of the metadata files that sit beside logs in sample sets and
/// archives (`README.md`, `info.yml`, licences): these are skipped quietly, not reported.
pub fn is_sidecar(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    matches!(
        ext.as_str(),
        "md" | "yml" | "yaml" | "txt" | "csv" | "html" | "pdf" | "png" | "jpg" | "7z"
    ) || name.starts_with("license")
        || name.starts_with('.')
}

/// Every `*.yml` / `*.yaml` under the rule folders (or the files themselves), read as text.
/// Unreadable files become problems; the rest load.
pub fn rule_texts(dirs: &[PathBuf]) -> (Vec<RuleText>, Vec<RuleProblem>) {
    let mut texts = Vec::new();
    let mut problems = Vec::new();
    for dir in dirs {
        if !dir.exists() {
            problems.push(RuleProblem {
                origin: dir.display().to_string(),
                rule: None,
                reason: "no such file or folder".into(),
            });
            continue;
        }
        let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(dir)
            .follow_links(true)
            .into_iter()
            .filter_map(|e| match e {
                Ok(e) => Some(e.into_path()),
                Err(err) => {
                    problems.push(RuleProblem {
                        origin: dir.display().to_string(),
                        rule: None,
                        reason: err.to_string(),
                    });
                    None
                }
            })
            .filter(|p| {
                p.is_file()
                    && p.extension().is_some_and(|e| {
                        e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml")
                    })
            })
            .collect();
        paths.sort();
        for p in paths {
            match fs::read_to_string(&p) {
                Ok(text) => texts.push(RuleText {
                    origin: p.display().to_string(),
                    text,
                }),
                Err(e) => problems.push(RuleProblem {
                    origin: p.display().to_string(),
                    rule: None,
                    reason: format!("cannot read: {e}"),
                }),
            }
        }
    }
    (texts, problems)
}
