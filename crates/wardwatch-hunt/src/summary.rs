//! The closing summary of a hunt: what was read, how fast, what was found, what was skipped.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use wardwatch_core::Severity;
use wardwatch_ingest::Warning;

use crate::Finding;

/// Warnings kept for display; the rest are only counted.
const WARNINGS_KEPT: usize = 50;

/// A file that could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFailure {
    pub file: String,
    pub reason: String,
}

/// Counts and tallies of a hunt.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub files_total: usize,
    pub files_read: usize,
    /// Metadata files beside the logs (README, info.yml, licences) that were not read.
    pub files_skipped_sidecar: usize,
    pub failures: Vec<FileFailure>,
    pub formats: BTreeMap<&'static str, usize>,
    pub events: u64,
    /// Records that could not be decoded.
    pub skipped: u64,
    /// The first warnings, for display.
    pub warnings: Vec<Warning>,
    pub warnings_total: u64,
    pub elapsed: Duration,
    pub by_level: BTreeMap<Severity, u64>,
    /// (rule title, count), most frequent first.
    pub top_rules: Vec<(String, u64)>,
    /// (host, count), most frequent first.
    pub top_hosts: Vec<(String, u64)>,
}

impl Summary {
    pub(crate) fn warn(&mut self, w: Warning) {
        self.warnings_total += 1;
        if self.warnings.len() < WARNINGS_KEPT {
            self.warnings.push(w);
        }
    }

    pub(crate) fn merge(&mut self, other: Summary) {
        self.files_read += other.files_read;
        self.failures.extend(other.failures);
        for (k, v) in other.formats {
            *self.formats.entry(k).or_default() += v;
        }
        self.events += other.events;
        self.skipped += other.skipped;
        self.warnings_total += other.warnings_total;
        for w in other.warnings {
            if self.warnings.len() < WARNINGS_KEPT {
                self.warnings.push(w);
            }
        }
    }

    pub(crate) fn tally(&mut self, findings: &[Finding]) {
        let mut rules: HashMap<&str, u64> = HashMap::new();
        let mut hosts: HashMap<&str, u64> = HashMap::new();
        for f in findings {
            *self.by_level.entry(f.level).or_default() += 1;
            *rules.entry(&f.rule_title).or_default() += 1;
            *hosts.entry(f.host.as_deref().unwrap_or("-")).or_default() += 1;
        }
        self.top_rules = top(rules);
        self.top_hosts = top(hosts);
        self.failures.sort_by(|a, b| a.file.cmp(&b.file));
        self.warnings
            .sort_by(|a, b| (&a.source, a.offset).cmp(&(&b.source, b.offset)));
    }

    /// Events per second over the whole run.
    pub fn events_per_second(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 { self.events as f64 / s } else { 0.0 }
    }

    /// Total findings.
    pub fn findings(&self) -> u64 {
        self.by_level.values().sum()
    }
}

fn top(counts: HashMap<&str, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(10);
    v
}
