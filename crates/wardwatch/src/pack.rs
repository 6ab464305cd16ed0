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
