//! Embeds every `*.yml` under the workspace's `rules/` folder, sorted by path, so the binary
//! carries the built-in pack and its order is stable.

use std::path::{Path, PathBuf};
use std::{env, fs};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            // A folder's own mtime moves when a rule is added, removed or renamed in it, which
            // the files' mtimes alone do not show.
            println!("cargo:rerun-if-changed={}", p.display());
            collect(&p, out);
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("../../rules")
        .canonicalize()
        .expect("the workspace has a rules/ folder");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut code = String::from("/// (name, YAML) of every built-in rule, sorted by name.\n");
    code.push_str("pub static RULES: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f
            .strip_prefix(&root)
            .expect("under root")
            .display()
            .to_string();
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            f.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("rules.rs");
    fs::write(out, code).expect("OUT_DIR is writable");
}
