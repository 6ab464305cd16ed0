//! Assembling the rule pack a command runs with: the built-in pack, rule folders, or both.

use std::path::PathBuf;

use wardwatch_detect::{RulePack, RuleProblem, RuleText};

/// The built-in pack as rule texts, named `builtin:<path>`.
pub fn builtin_texts() -> Vec<RuleText> {
    wardwatch_rules::RULES
        .iter()
        .map(|(name, text)| RuleText {
            origin: format!("builtin:{name}"),
            text: (*text).to_string(),
        })
        .collect()
}

/// The pack from `dirs` (plus the built-in pack when `builtin` is set, or when no folder is
/// named), and the files that could not be read.
pub fn load(dirs: &[PathBuf], builtin: bool) -> (RulePack, Vec<RuleProblem>) {
    let (mut texts, read_problems) = wardwatch_hunt::rule_texts(dirs);
    if builtin || dirs.is_empty() {
        let mut all = builtin_texts();
        all.append(&mut texts);
        texts = all;
    }
    (RulePack::load(texts), read_problems)
}

/// The pack a server runs with: `[rules]`'s built-in pack, folders and optional packs (each
/// pack named must be found: a misspelt pack is an error, not a quieter server).
pub fn load_configured(
    rules: &wardwatch_server::config::RulesConfig,
) -> anyhow::Result<(RulePack, Vec<RuleProblem>)> {
    let mut dirs = rules.folders.clone();
    for name in &rules.packs {
        dirs.push(resolve(name).map_err(|e| anyhow::anyhow!("rules.packs: {e}"))?);
    }
    Ok(load(&dirs, rules.builtin))
}

/// The folder of the optional rule pack `name`: `name` itself when it is a folder, else
/// `NAME` or `NAME-rules` under a folder of `$WARDWATCH_PACK_PATH` (colon-separated).
pub fn resolve(name: &str) -> anyhow::Result<PathBuf> {
    let direct = PathBuf::from(name);
    if direct.is_dir() {
        return Ok(direct);
    }
    let path = std::env::var_os("WARDWATCH_PACK_PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for candidate in [dir.join(name), dir.join(format!("{name}-rules"))] {
            if candidate.is_dir() {
                return Ok(candidate);
            }
        }
    }
    anyhow::bail!(
        "no rule pack `{name}`: not a folder, and not found as `{name}` or `{name}-rules` in $WARDWATCH_PACK_PATH ({})",
        if path.is_empty() {
            "unset".to_string()
        } else {
            path.to_string_lossy().into_owned()
        }
    )
}
