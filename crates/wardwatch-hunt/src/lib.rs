//! Offline hunting: point Wardwatch at folders of logs a hospital already has and see what the
//! rules would have found.
//!
//! Files are taken by `threads` reader threads (largest first, so one big log does not finish
//! last); an EVTX file's chunks are decoded and checked against the rules on rayon's pool while
//! its reader keeps the order. Only findings are kept in memory, plus the events that feed a
//! correlation rule or an analytic (those as reduced copies, encoded, and past a budget in
//! sorted runs on disk: see `kept.rs`), so memory stays small. Correlations and analytics run
//! at the end over those events in time order, exactly as the server's detection stage runs
//! them live, and the findings are sorted (time, rule, record), so the output is the same on
//! every run and every machine.

mod files;
mod finding;
mod kept;
pub mod network;
pub mod output;
mod split;
mod summary;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use wardwatch_core::{Event, Severity};
use wardwatch_detect::{Correlator, Detection, Detector};
use wardwatch_ingest::{Warning, decode_file};

pub use files::{PathProblem, is_sidecar, log_files, rule_texts};
pub use finding::Finding;
pub use split::{Half, half};
pub use summary::{FileFailure, Summary};

/// What to hunt and how.
#[derive(Debug, Clone)]
pub struct HuntOptions {
    /// Files and folders (walked recursively).
    pub paths: Vec<PathBuf>,
    /// Findings below this level are not reported.
    pub min_level: Severity,
    /// Reader threads and decoder threads; 0 means one per core.
    pub threads: usize,
}

/// Progress, reported once per file finished.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub files_done: usize,
    pub files_total: usize,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub events: u64,
}

/// The result of a hunt.
#[derive(Debug)]
pub struct HuntReport {
    /// Findings in output order: time, then rule, then record.
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

/// What the parallel decode-and-detect step hands back for one record.
struct Checked {
    findings: Vec<Finding>,
    /// The event (or its reduced copy) and its detections, when some detection feeds a
    /// correlation or an analytic reads it.
    correlate: Option<kept::Kept>,
}

/// Per-file outcome collected by the readers.
struct Collected {
    findings: Vec<Finding>,
    correlate: kept::Keeper,
    summary: Summary,
}

/// An analytic of the ordered stage that needs more than the rule pack — the privacy
/// analytics with the operator's context (`hunt --context DIR`). The readers keep, for it,
/// the events [`OrderedAnalytic::wants`] names (as [`OrderedAnalytic::reduce`]d copies); the
/// ordered stage feeds them in time order, after the correlator has seen each.
pub trait OrderedAnalytic: Send {
    /// Whether the analytic reads `event` (called on the reader threads).
    fn wants(&self) -> fn(&Event) -> bool;
    /// The copy of `event` to keep (a few fields, not the whole record).
    fn reduce(&self) -> fn(&Event) -> Event;
    /// Feed one event in time order; the detections it raises.
    fn observe(&mut self, event: &Event) -> Vec<Detection>;
}

/// A detector beside the rule pack that judges each event on its own, on the reader threads:
/// the indicators other hospitals shared (`hunt --intel FILE`).
pub trait EventDetector: Send + Sync {
    fn detect(&self, event: &Event) -> Vec<Detection>;
}

/// Hunt `opts.paths` with `detector` (and `correlator`: correlation rules and analytics),
/// calling `progress` after each file.
pub fn hunt(
    opts: &HuntOptions,
    detector: Arc<Detector>,
    correlator: Option<Correlator>,
    progress: &(dyn Fn(Progress) + Sync),
) -> HuntReport {
    hunt_with(opts, detector, correlator, &mut [], progress)
}

/// [`hunt`], with the `extra` analytics in the ordered stage beside the correlator.
pub fn hunt_with(
    opts: &HuntOptions,
    detector: Arc<Detector>,
    correlator: Option<Correlator>,
    extra: &mut [&mut dyn OrderedAnalytic],
    progress: &(dyn Fn(Progress) + Sync),
) -> HuntReport {
    hunt_full(opts, detector, None, correlator, extra, progress)
}

/// [`hunt_with`], with `beside` judging every event next to the rule pack.
pub fn hunt_full(
    opts: &HuntOptions,
    detector: Arc<Detector>,
    beside: Option<Arc<dyn EventDetector>>,
    correlator: Option<Correlator>,
    extra: &mut [&mut dyn OrderedAnalytic],
    progress: &(dyn Fn(Progress) + Sync),
) -> HuntReport {
    let extra_wants: Vec<ExtraFns> = extra.iter().map(|e| (e.wants(), e.reduce())).collect();
    let started = Instant::now();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        opts.threads
    };
    let (mut paths, path_problems) = log_files(&opts.paths);
    let mut sidecars = 0;
    paths.retain(|p| {
        let keep = !is_sidecar(p);
        sidecars += usize::from(!keep);
        keep
    });
    let mut sized: Vec<(PathBuf, u64)> = paths
        .into_iter()
        .map(|p| {
            let len = std::fs::metadata(&p).map_or(0, |m| m.len());
            (p, len)
        })
        .collect();
    sized.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let bytes_total: u64 = sized.iter().map(|(_, l)| l).sum();
    let files_total = sized.len();

    let next = AtomicUsize::new(0);
    let done = Mutex::new((0usize, 0u64, 0u64));
    let feeders: Arc<std::collections::HashSet<String>> = Arc::new(
        correlator
            .as_ref()
            .map(|c| {
                detector
                    .rule_ids()
                    .filter(|id| c.feeds(id))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    );
    let min_level = opts.min_level;
    let analytics = correlator.as_ref().is_some_and(Correlator::analytics_on);
    // The lineage stage runs in the ordered stage (`Correlator::settle`): the readers keep every
    // process start for it and leave the alerts of those awaiting their parent to it.
    let lineage = correlator.is_some();
    let collected: Vec<Collected> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(files_total.max(1)))
            .map(|reader| {
                let detector = detector.clone();
                let keep = Keep {
                    feeders: feeders.clone(),
                    analytics,
                    lineage,
                    extra: extra_wants.clone(),
                    beside: beside.clone(),
                };
                let (next, done, sized) = (&next, &done, &sized);
                let budget = kept::MEMORY_BUDGET / threads.max(1);
                scope.spawn(move || {
                    let mut mine = Collected {
                        findings: Vec::new(),
                        correlate: kept::Keeper::new(reader as u32, budget),
                        summary: Summary::default(),
                    };
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((path, len)) = sized.get(i) else {
                            break;
                        };
                        let events_before = mine.summary.events;
                        read_one(path, threads, &detector, &keep, min_level, &mut mine);
                        let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                        d.0 += 1;
                        d.1 += len;
                        d.2 += mine.summary.events - events_before;
                        progress(Progress {
                            files_done: d.0,
                            files_total,
                            bytes_done: d.1,
                            bytes_total,
                            events: d.2,
                        });
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });

    let mut findings = Vec::new();
    let mut keepers = Vec::new();
    let mut summary = Summary {
        files_skipped_sidecar: sidecars,
        ..Summary::default()
    };
    for p in path_problems {
        summary.failures.push(FileFailure {
            file: p.path.display().to_string(),
            reason: p.reason,
        });
    }
    for c in collected {
        findings.extend(c.findings);
        keepers.push(c.correlate);
        summary.merge(c.summary);
    }
    if correlator.is_some() || !extra.is_empty() {
        let mut corr = correlator;
        let problems = kept::for_each_in_order(keepers, |event, mut detections| {
            if let Some(c) = corr.as_mut() {
                let settled = c.settle(&event, &mut detections);
                let whole = wardwatch_detect::lineage::whole(&event);
                if wardwatch_detect::lineage::awaits_parent(&whole) {
                    // Its readers left this record's alerts to the lineage stage.
                    let shown = settled.as_ref().unwrap_or(&*whole);
                    findings.extend(
                        detections
                            .iter()
                            .filter(|d| {
                                d.rule.level >= min_level && detector.is_reported(&d.rule.id)
                            })
                            .map(|d| Finding::new(d, shown)),
                    );
                }
            }
            let mut found = corr
                .as_mut()
                .map(|c| c.process(&event, &detections))
                .unwrap_or_default();
            for (x, (wants, _)) in extra.iter_mut().zip(&extra_wants) {
                if wants(&event) {
                    found.extend(x.observe(&event));
                }
            }
            for d in found {
                if d.rule.level >= min_level {
                    findings.push(Finding::new(&d, &event));
                }
            }
        });
        for reason in problems {
            summary.failures.push(FileFailure {
                file: "(records kept for the ordered stage)".into(),
                reason,
            });
        }
    }
    findings.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    summary.files_total = files_total;
    summary.elapsed = started.elapsed();
    summary.tally(&findings);
    HuntReport { findings, summary }
}

/// Decode and check one file, adding to `out`.
/// What an ordered-stage analytic from outside wants kept: its test and its copy.
type ExtraFns = (fn(&Event) -> bool, fn(&Event) -> Event);

/// Which events the readers keep for the ordered stage.
#[derive(Clone)]
struct Keep {
    /// Rules that feed a correlation.
    feeders: Arc<std::collections::HashSet<String>>,
    /// Whether the detect analytics run.
    analytics: bool,
    /// Whether the lineage stage runs (there is an ordered stage).
    lineage: bool,
    extra: Vec<ExtraFns>,
    beside: Option<Arc<dyn EventDetector>>,
}

fn read_one(
    path: &std::path::Path,
    threads: usize,
    detector: &Arc<Detector>,
    keep: &Keep,
    min_level: Severity,
    out: &mut Collected,
) {
    let det = detector.clone();
    let feeds = keep.feeders.clone();
    let (analytics, extra, lineage) = (keep.analytics, keep.extra.clone(), keep.lineage);
    let beside = keep.beside.clone();
    let check = move |item: Result<Event, Warning>| -> Result<Checked, Warning> {
        let event = item?;
        let detections = det.detect(&event);
        let process_start = lineage && wardwatch_detect::lineage::is_process_start(&event);
        // A process start whose parent's fields may be filled is reported by the ordered stage.
        let mut findings: Vec<Finding> =
            if process_start && wardwatch_detect::lineage::awaits_parent(&event) {
                Vec::new()
            } else {
                detections
                    .iter()
                    .filter(|d| d.rule.level >= min_level && det.is_reported(&d.rule.id))
                    .map(|d| Finding::new(d, &event))
                    .collect()
            };
        if let Some(b) = &beside {
            findings.extend(
                b.detect(&event)
                    .iter()
                    .filter(|d| d.rule.level >= min_level)
                    .map(|d| Finding::new(d, &event)),
            );
        }
        // Kept for the ordered stage: whole when it feeds a correlation (its rule fields are
        // grouped on), a reduced copy when only an analytic reads it (memory stays small).
        let body = if detections.iter().any(|d| feeds.contains(&d.rule.id)) {
            Some((event, detections, false))
        } else if process_start {
            // Every process start, for the lineage table; with its whole record nested.
            Some((
                wardwatch_detect::lineage::keep_copy(&event),
                detections,
                true,
            ))
        } else if analytics && wardwatch_detect::Analytics::wants(&event, &detections) {
            Some((
                wardwatch_detect::analytics::reduce(&event),
                detections,
                true,
            ))
        } else if let Some((_, reduce)) = extra.iter().find(|(wants, _)| wants(&event)) {
            Some((reduce(&event), detections, true))
        } else {
            None
        };
        let correlate = body.map(|(event, detections, reduced)| kept::Kept {
            ts: event.timestamp,
            source: event.origin.source.clone(),
            record: event.origin.record_id,
            body: kept::Body::of(event, detections, reduced),
        });
        Ok(Checked {
            findings,
            correlate,
        })
    };
    let summary = &mut out.summary;
    let findings = &mut out.findings;
    let correlate = &mut out.correlate;
    let result = decode_file(path, threads, check, |item| match item.and_then(|r| r) {
        Ok(c) => {
            findings.extend(c.findings);
            if let Some(k) = c.correlate {
                correlate.keep(k);
            }
        }
        Err(w) => summary.warn(w),
    });
    match result {
        Ok((format, s)) => {
            summary.files_read += 1;
            summary.events += s.events;
            summary.skipped += s.skipped;
            *summary.formats.entry(format.as_str()).or_default() += 1;
        }
        Err(e) => summary.failures.push(FileFailure {
            file: path.display().to_string(),
            reason: e.to_string(),
        }),
    }
}
