//! Helpers shared by the conformance tests: where `../shared/data` is, and the SigmaHQ pack.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use wardwatch_detect::{RulePack, RuleText};

/// `../shared/data` beside the project (or `$WARDWATCH_SHARED_DATA`), or `None` with a printed
/// reason, so a test can skip when it is absent (CI always has it).
pub fn shared(test: &str) -> Option<PathBuf> {
    let p = std::env::var_os("WARDWATCH_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if p.is_dir() {
        Some(p)
    } else {
        // CI always has the data: there a missing folder is a failure, never a silent pass.
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: {} is absent and CI is set (CI must have ../shared/data)",
            p.display()
        );
        eprintln!(
            "skipped {test}: ../shared/data is absent (this conformance test reads real data there)"
        );
        None
    }
}

/// The SigmaHQ rule folders under `data/sigma` that hold detection rules.
pub fn sigmahq_dirs(data: &Path) -> Vec<PathBuf> {
    [
        "rules",
        "rules-threat-hunting",
        "rules-emerging-threats",
        "rules-compliance",
        "rules-placeholder",
    ]
    .iter()
    .map(|d| data.join("sigma").join(d))
    .filter(|d| d.is_dir())
    .collect()
}

/// The built-in pack's texts, read from the workspace's `rules/` folder.
pub fn builtin_texts() -> Vec<RuleText> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let (texts, problems) = wardwatch_hunt::rule_texts(&[dir]);
    assert!(problems.is_empty(), "{problems:?}");
    texts
}

/// A pack of the SigmaHQ `rules/` folder, plus the built-in pack when `builtin` is set.
pub fn sigmahq_pack(data: &Path, builtin: bool) -> RulePack {
    let (mut texts, _) = wardwatch_hunt::rule_texts(&[data.join("sigma/rules")]);
    if builtin {
        texts.extend(builtin_texts());
    }
    RulePack::load(texts)
}
