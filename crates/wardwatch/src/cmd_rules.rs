//! `wardwatch rules check`: load rule folders and say what loads and what does not, and why.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use serde_json::json;
use wardwatch_detect::{Correlator, Detector};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load rule folders and optional packs (or the built-in pack when none is named) and report
    /// every rule that cannot be loaded, with its file and the reason, and what each pack's
    /// shipped policy did (rules left out or lowered, and why). Exits 1 when any rule fails.
    Check {
        /// Rule files or folders (searched recursively for *.yml / *.yaml).
        dirs: Vec<PathBuf>,
        /// An optional community pack, by name (as `hunt --pack`), checked with its policy;
        /// repeatable.
        #[arg(long = "pack")]
        packs: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
}

pub fn run(cmd: RulesCommand) -> Result<ExitCode> {
    let RulesCommand::Check {
        dirs,
        packs,
        format,
    } = cmd;
    let packs = crate::pack::resolve_all(&packs)?;
    let (pack, mut problems) = crate::pack::load_with_packs(&dirs, &packs, false);
    let notes = pack.policy_notes().to_vec();
    let count = |o: &str| notes.iter().filter(|n| n.outcome == o).count();
    problems.extend(pack.problems().iter().cloned());
    let (detector, compile_problems) = Detector::build(&pack);
    problems.extend(compile_problems);
    let (_, corr_problems) = Correlator::build(&pack);
    let corr_failed = corr_problems.len();
    problems.extend(corr_problems);
    let loaded = detector.rule_count() + pack.correlation_count() - corr_failed;
    let failed = problems.len();
    match format {
        CheckFormat::Text => {
            for p in &problems {
                println!("FAIL  {p}");
            }
            for n in &notes {
                let what = match (n.outcome, n.from, n.to) {
                    ("left-out", ..) => "LEFT OUT".to_string(),
                    ("lowered", Some(from), Some(to)) => format!("LOWERED {from} -> {to}"),
                    _ => "REVIEW".to_string(),
                };
                println!("{what}  {}: `{}` ({}): {}", n.pack, n.title, n.id, n.why);
            }
            println!(
                "loaded {loaded} rule(s) ({} detection, {} correlation); failed {failed}",
                detector.rule_count(),
                pack.correlation_count() - corr_failed
            );
            if !notes.is_empty() {
                println!(
                    "pack policy: {} left out, {} lowered, {} entr(y/ies) to review",
                    count("left-out"),
                    count("lowered"),
                    count("not-in-pack") + count("title-differs")
                );
            }
        }
        CheckFormat::Json => {
            let out = json!({
                "loaded": loaded,
                "detection": detector.rule_count(),
                "correlation": pack.correlation_count() - corr_failed,
                "failed": failed,
                "failures": problems,
                "policy": notes,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
