//! Tidy check: crates depend only on the crates `crates/README.md` says they may depend on, so
//! dependencies keep pointing one way (sources → events → detection → outputs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `crate → allowed wardwatch dependencies`, from the README table.
fn allowed() -> BTreeMap<String, BTreeSet<String>> {
    let text =
        std::fs::read_to_string(workspace().join("crates/README.md")).expect("crates/README.md");
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| `wardwatch")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1]
            .split('`')
            .nth(1)
            .expect("crate name in backticks")
            .to_string();
        let deps = cells[cells.len() - 2]
            .split(',')
            .filter_map(|d| d.split('`').nth(1))
            .map(str::to_string)
            .collect();
        out.insert(name, deps);
    }
    out
}

/// The `wardwatch-*` crates a manifest names under `[dependencies]` (not dev or build).
fn actual(manifest: &str) -> BTreeSet<String> {
    let mut section = String::new();
    let mut deps = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        if section == "[dependencies]" && line.starts_with("wardwatch") {
            let name = line
                .split(['=', '.', ' '])
                .next()
                .expect("a dependency name")
                .to_string();
            deps.insert(name);
        }
    }
    deps
}

#[test]
fn crates_only_depend_downward() {
    let allowed = allowed();
    let mut seen = 0;
    for entry in std::fs::read_dir(workspace().join("crates")).expect("crates/") {
        let dir = entry.expect("entry").path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let allowed_deps = allowed
            .get(&name)
            .unwrap_or_else(|| panic!("crate `{name}` is missing from crates/README.md"));
        for dep in actual(&manifest) {
            assert!(
                allowed_deps.contains(&dep),
                "`{name}` depends on `{dep}`, which crates/README.md does not allow (allowed: {allowed_deps:?})"
            );
        }
        seen += 1;
    }
    assert_eq!(
        seen,
        allowed.len(),
        "crates/README.md lists crates that do not exist"
    );
}

#[test]
fn the_checker_sees_dependencies() {
    let m = "[package]\nname = \"x\"\n[dependencies]\nwardwatch-core.workspace = true\nwardwatch-detect = { path = \"../d\" }\nserde = \"1\"\n[dev-dependencies]\nwardwatch-hunt.workspace = true\n";
    let deps = actual(m);
    assert_eq!(
        deps,
        ["wardwatch-core", "wardwatch-detect"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}
