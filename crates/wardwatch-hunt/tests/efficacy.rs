//! Efficacy, asserted at what the README and `bench/README.md` claim: the share of labelled
//! attack samples on which the SigmaHQ rules plus the built-in pack (and the analytics) raise at
//! least one medium-or-higher detection, per half of the fixed tuning/validation split
//! (`wardwatch_hunt::half`), for `evtx/evtx-to-mitre-attack` and the OTRF host simulations
//! (`identity/otrf-host`, `endpoint/otrf-host`, read as their `.zip`/`.tar.gz` archives).
//! `bench/efficacy.sh` prints the full table (per tactic, benign rates).
//!
//! Needs `../shared/data` (CI always has it): skipped with a reason when absent, failed when
//! absent and `CI` is set.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wardwatch_core::Severity;
use wardwatch_detect::{Correlator, Detector, RulePack};
use wardwatch_hunt::{Half, HuntOptions, half, hunt};

/// The claims (percent of files at medium+), as `bench/README.md` records them (measured
/// 95.9% / 83.1% / 100% on 2026-12-08, seventh pass). The target for the validation
/// half is 90%: not met yet, and this test holds the figure the README states, not the target.
const MITRE_TUNING_MIN: f64 = 95.9;
const MITRE_VALIDATION_MIN: f64 = 83.1;
const OTRF_MIN: f64 = 100.0;

fn files(root: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .map(|e| e.into_path())
        .filter(|p| p.is_file() && keep(p))
        .collect();
    out.sort();
    out
}

/// Files of `paths` with a medium+ finding (archive members count for their archive).
fn caught(pack: &RulePack, paths: &[PathBuf]) -> BTreeSet<String> {
    let (detector, _) = Detector::build(pack);
    let (correlator, _) = Correlator::build(pack);
    let opts = HuntOptions {
        paths: paths.to_vec(),
        min_level: Severity::Medium,
        threads: 0,
    };
    let report = hunt(&opts, Arc::new(detector), correlator, &|_| {});
    assert_eq!(
        report.summary.files_read,
        paths.len(),
        "every sample must be read"
    );
    report
        .findings
        .iter()
        .map(|f| f.file.split('!').next().unwrap_or(&f.file).to_string())
        .collect()
}

fn share(files: &[PathBuf], hits: &BTreeSet<String>, which: Option<Half>) -> (usize, usize, f64) {
    let set: Vec<&PathBuf> = files
        .iter()
        .filter(|f| which.is_none_or(|h| half(f) == h))
        .collect();
    let n = set
        .iter()
        .filter(|f| hits.contains(&f.display().to_string()))
        .count();
    (n, set.len(), 100.0 * n as f64 / set.len().max(1) as f64)
}

#[test]
fn attack_samples_raise_medium_or_higher_detections() {
    let Some(data) = common::shared("attack_samples_raise_medium_or_higher_detections") else {
        return;
    };
    let pack = common::sigmahq_pack(&data, true);
    let mitre = files(&data.join("evtx/evtx-to-mitre-attack"), |p| {
        p.extension().is_some_and(|x| x == "evtx")
    });
    let mut otrf = files(&data.join("identity/otrf-host"), |p| {
        !p.to_string_lossy().contains("_metadata")
    });
    otrf.extend(files(&data.join("endpoint/otrf-host"), |p| {
        !p.to_string_lossy().contains("_metadata")
    }));
    assert!(
        mitre.len() >= 270 && otrf.len() >= 50,
        "{} / {}",
        mitre.len(),
        otrf.len()
    );
    let hits = caught(&pack, &mitre);
    let otrf_hits = caught(&pack, &otrf);
    let (t, tn, tp) = share(&mitre, &hits, Some(Half::Tuning));
    let (v, vn, vp) = share(&mitre, &hits, Some(Half::Validation));
    let (o, on, op) = share(&otrf, &otrf_hits, None);
    println!(
        "efficacy: evtx-to-mitre-attack tuning {t}/{tn} ({tp:.1}%), validation {v}/{vn} ({vp:.1}%); OTRF host simulations {o}/{on} ({op:.1}%)"
    );
    // Only tuning-half misses are named: the validation half is measured blind (its
    // aggregate above), so a failing run does not show its file names either.
    for f in mitre.iter().chain(&otrf) {
        let name = f.display().to_string();
        if half(f) == Half::Tuning && !hits.contains(&name) && !otrf_hits.contains(&name) {
            println!(
                "  MISS [{:?}] {}",
                half(f),
                name.strip_prefix(&data.display().to_string())
                    .unwrap_or(&name)
            );
        }
    }
    assert!(
        tp >= MITRE_TUNING_MIN,
        "tuning half {tp:.1}% < {MITRE_TUNING_MIN}%"
    );
    assert!(
        vp >= MITRE_VALIDATION_MIN,
        "validation half {vp:.1}% < {MITRE_VALIDATION_MIN}%"
    );
    assert!(op >= OTRF_MIN, "OTRF {op:.1}% < {OTRF_MIN}%");
}

/// The benign claim: on the four real Security/System logs of `evtx/dense-samples` (the dense
/// set is these twelve times, 90,756 records), SigmaHQ `rules/` plus the built-in pack raise at
/// most 4 medium-or-higher detections, so at most 48 on the dense set (the target: at
/// most 50; `bench/README.md` records 48). Each one left must be worth a person's look.
const DENSE_MEDIUM_MAX: usize = 4;

#[test]
fn benign_dense_logs_stay_quiet() {
    let Some(data) = common::shared("benign_dense_logs_stay_quiet") else {
        return;
    };
    let pack = common::sigmahq_pack(&data, true);
    let dense = files(&data.join("evtx/dense-samples"), |p| {
        p.extension().is_some_and(|x| x == "evtx")
    });
    assert_eq!(dense.len(), 4, "the four dense sample logs");
    let (detector, _) = Detector::build(&pack);
    let (correlator, _) = Correlator::build(&pack);
    let opts = HuntOptions {
        paths: dense,
        min_level: Severity::Medium,
        threads: 0,
    };
    let report = hunt(&opts, Arc::new(detector), correlator, &|_| {});
    let found: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{} [{}] on {:?}", f.rule_title, f.level, f.host))
        .collect();
    println!(
        "benign: dense-samples {} medium+ (x12 = {}): {found:#?}",
        found.len(),
        12 * found.len()
    );
    assert!(
        found.len() <= DENSE_MEDIUM_MAX,
        "{} medium+ detections on the benign dense logs (at most {DENSE_MEDIUM_MAX}): {found:#?}",
        found.len()
    );
}
