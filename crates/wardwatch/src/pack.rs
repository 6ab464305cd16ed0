//! Assembling the rule pack a command runs with: the built-in pack, rule folders, optional
//! community packs, or any of them together.
//!
//! An optional pack is loaded by name (`--pack hayabusa`, `rules.packs`) through this one seam,
//! so the level policy the project ships for it (`packs/NAME.yml`, embedded by
//! `wardwatch-rules`) applies the same way in `hunt`, `serve`, the scale-out roles, `demo` and
//! `rules check`. A folder loaded with `--rules` is taken as it is, without a policy.

use std::path::{Path, PathBuf};

use wardwatch_detect::{PackPolicy, RulePack, RuleProblem, RuleText};

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

/// An optional pack found on disk: the name it was asked for by, and its folder.
#[derive(Debug, Clone)]
pub struct NamedPack {
    pub name: String,
    pub dir: PathBuf,
}

/// The pack from `dirs` and the optional `packs`, each pack with its shipped policy applied to
/// the rules read from its folder (what it did is in [`RulePack::policy_notes`]), and the files
/// that could not be read. The built-in pack is loaded when `builtin` is set or when neither
/// folders nor packs are named.
pub fn load_with_packs(
    dirs: &[PathBuf],
    packs: &[NamedPack],
    builtin: bool,
) -> (RulePack, Vec<RuleProblem>) {
    let mut all_dirs = dirs.to_vec();
    all_dirs.extend(packs.iter().map(|p| p.dir.clone()));
    let (mut texts, mut read_problems) = wardwatch_hunt::rule_texts(&all_dirs);
    if builtin || all_dirs.is_empty() {
        let mut all = builtin_texts();
        all.append(&mut texts);
        texts = all;
    }
    let mut pack = RulePack::load(texts);
    for named in packs {
        match policy_for(&named.name, &named.dir) {
            Some(Ok(policy)) => {
                let dir = named.dir.clone();
                pack.apply_policy(&policy, |origin| Path::new(origin).starts_with(&dir));
            }
            Some(Err(reason)) => read_problems.push(RuleProblem {
                origin: format!("the policy of pack `{}`", named.name),
                rule: None,
                reason,
            }),
            None => {}
        }
    }
    (pack, read_problems)
}

/// The policy the project ships for the pack `name` (by its name, or for a folder by the
/// folder's own name without `-rules`), parsed; `None` when it ships none.
pub fn policy_for(name: &str, dir: &Path) -> Option<Result<PackPolicy, String>> {
    let base = |s: &str| s.strip_suffix("-rules").unwrap_or(s).to_string();
    let plain = !name.contains(['/', '\\']) && !Path::new(name).is_dir();
    let key = if plain {
        base(name)
    } else {
        base(&dir.file_name()?.to_string_lossy())
    };
    let (file, text) = wardwatch_rules::pack_policy(&key)?;
    Some(PackPolicy::parse(file, text))
}

/// The packs named, found on disk (each must be: a misspelt pack is an error, not a quieter
/// hunt or server).
pub fn resolve_all(names: &[String]) -> anyhow::Result<Vec<NamedPack>> {
    names
        .iter()
        .map(|name| {
            Ok(NamedPack {
                name: name.clone(),
                dir: resolve(name)?,
            })
        })
        .collect()
}

/// The pack a server runs with: `[rules]`'s built-in pack, folders and optional packs (each
/// pack named must be found: a misspelt pack is an error, not a quieter server).
pub fn load_configured(
    rules: &wardwatch_server::config::RulesConfig,
) -> anyhow::Result<(RulePack, Vec<RuleProblem>)> {
    let packs = resolve_all(&rules.packs).map_err(|e| anyhow::anyhow!("rules.packs: {e}"))?;
    Ok(load_with_packs(&rules.folders, &packs, rules.builtin))
}

/// One line on what the packs' policies did, for a command's start-up message (`None` when no
/// policy applied).
pub fn policy_summary(pack: &RulePack) -> Option<String> {
    let notes = pack.policy_notes();
    if notes.is_empty() {
        return None;
    }
    let mut packs: Vec<&str> = notes.iter().map(|n| n.pack.as_str()).collect();
    packs.dedup();
    let count = |o: &str| notes.iter().filter(|n| n.outcome == o).count();
    let stale = count("not-in-pack") + count("title-differs");
    Some(format!(
        "pack policy ({}): {} rule(s) left out, {} lowered{} (`wardwatch rules check --pack NAME` lists them)",
        packs.join(", "),
        count("left-out"),
        count("lowered"),
        if stale > 0 {
            format!(", {stale} entr(y/ies) no longer match the pack")
        } else {
            String::new()
        }
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_hayabusa_policy_parses_and_only_lowers_or_leaves_out() {
        let policy = policy_for("hayabusa", Path::new("/nowhere/hayabusa-rules"))
            .expect("a policy ships for hayabusa")
            .unwrap();
        assert_eq!(policy.pack, "hayabusa");
        assert!(policy.entries().len() > 100, "{}", policy.entries().len());
        for e in policy.entries() {
            assert!(e.why.len() > 20, "{}: a reason, not a word", e.id);
            if let wardwatch_detect::PolicyAction::Level(l) = e.action {
                assert!(l < wardwatch_core::Severity::Medium, "{}: {l}", e.id);
            }
        }
    }

    #[test]
    fn a_server_configured_with_the_pack_gets_its_policy() {
        let dir = tempfile::tempdir().unwrap();
        let pack = dir.path().join("hayabusa");
        std::fs::create_dir(&pack).unwrap();
        // Hayabusa's "User Password Changed" (medium): a user changing their own password,
        // which the policy leaves out; and a rule it does not name, which stays.
        let rule = |id: &str, title: &str| {
            format!(
                "title: {title}\nid: {id}\nlogsource: {{product: windows, service: security}}\n\
                 detection:\n    sel: {{EventID: 4723}}\n    condition: sel\nlevel: medium\n"
            )
        };
        let left_out = "3b3046f3-a51c-4378-b059-c716aaa865b4";
        std::fs::write(pack.join("a.yml"), rule(left_out, "User Password Changed")).unwrap();
        let kept = "0d9e8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b";
        std::fs::write(pack.join("b.yml"), rule(kept, "Kept")).unwrap();
        let config = wardwatch_server::config::RulesConfig {
            builtin: false,
            folders: vec![],
            packs: vec![pack.display().to_string()],
        };
        let (loaded, problems) = load_configured(&config).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let ids: Vec<&str> = loaded.metas().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, [kept]);
        let note = loaded
            .policy_notes()
            .iter()
            .find(|n| n.id == left_out)
            .expect("the left-out rule is reported");
        assert_eq!(note.outcome, "left-out");
        assert!(
            policy_summary(&loaded)
                .unwrap()
                .contains("1 rule(s) left out, 0 lowered")
        );
    }

    #[test]
    fn the_policy_is_found_for_a_pack_named_by_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let pack = dir.path().join("hayabusa-rules");
        std::fs::create_dir(&pack).unwrap();
        let name = pack.display().to_string();
        assert!(policy_for(&name, &pack).is_some());
        let other = dir.path().join("mine");
        std::fs::create_dir(&other).unwrap();
        assert!(policy_for(&other.display().to_string(), &other).is_none());
        assert!(policy_for("mine", &other).is_none());
    }
}
