//! Counters for everything that can be lost or delayed, rendered in the Prometheus text format
//! for `/metrics`: per source received / rejected / dropped / malformed; stored, queued,
//! processed; alerts per level; the ingest-to-alert latency histogram; incidents opened and
//! updated, alerts suppressed by exceptions.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wardwatch_core::Severity;
use wardwatch_listen::SourceCounters;

/// Upper bounds of the latency histogram buckets, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0,
];

/// Picks one counter of a source.
type Pick = fn(&SourceCounters) -> &AtomicU64;

/// The per-source counters: metric name, `/api/v1/stats` key, help text, and the counter.
const SOURCE_COUNTERS: [(&str, &str, &str, Pick); 13] = [
    (
        "wardwatch_received_total",
        "received",
        "Messages or documents received, per source.",
        |c| &c.received,
    ),
    (
        "wardwatch_rejected_total",
        "rejected",
        "Refused with an error to the sender, per source.",
        |c| &c.rejected,
    ),
    (
        "wardwatch_dropped_total",
        "dropped",
        "Lost without the sender knowing (UDP overload), per source.",
        |c| &c.dropped,
    ),
    (
        "wardwatch_malformed_total",
        "malformed",
        "Kept as raw text because they could not be parsed, per source.",
        |c| &c.malformed,
    ),
    (
        "wardwatch_received_bytes_total",
        "bytes",
        "Bytes received, per source.",
        |c| &c.bytes,
    ),
    (
        "wardwatch_refused_peer_limit_total",
        "refused_peer_limit",
        "Connections closed at once because their address already had max_connections_per_peer open, per listener.",
        |c| &c.refused_peer_limit,
    ),
    (
        "wardwatch_refused_network_total",
        "refused_network",
        "Connections or datagrams refused because the sender is outside allowed_networks, per listener.",
        |c| &c.refused_network,
    ),
    (
        "wardwatch_listener_full_total",
        "listener_full",
        "Times a listener had max_connections open and new connections waited, per listener.",
        |c| &c.listener_full,
    ),
    (
        "wardwatch_idle_timeouts_total",
        "idle_timeouts",
        "Connections closed after idle_timeout_secs waiting on their peer, per listener.",
        |c| &c.idle_timeouts,
    ),
    (
        "wardwatch_header_timeouts_total",
        "header_timeouts",
        "HTTP connections closed because request headers did not arrive within header_timeout_secs.",
        |c| &c.header_timeouts,
    ),
    (
        "wardwatch_body_timeouts_total",
        "body_timeouts",
        "Bulk requests refused (408) because the body did not arrive within body_timeout_secs.",
        |c| &c.body_timeouts,
    ),
    (
        "wardwatch_handshake_failures_total",
        "handshake_failures",
        "TLS handshakes that failed or timed out (a client without a required certificate included), per listener.",
        |c| &c.handshake_failures,
    ),
    (
        "wardwatch_throttled_total",
        "throttled",
        "Messages or documents refused or dropped because their sender was over its budget (source_budget_events_per_sec, less while detection is behind), per listener; a _bulk request refused before its body was read counts one.",
        |c| &c.throttled,
    ),
];

/// Process-wide counters (one per server, passed explicitly; no globals).
#[derive(Default)]
pub struct Metrics {
    sources: Mutex<BTreeMap<String, Arc<SourceCounters>>>,
    pub events_stored: AtomicU64,
    alerts: [AtomicU64; 5],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    /// Incidents the detection worker created since start.
    pub incidents_opened: AtomicU64,
    /// Incident changes it committed (created, grew, merged, closed) since start.
    pub incidents_updated: AtomicU64,
    /// Alerts an exception stopped since start.
    pub alerts_suppressed: AtomicU64,
    /// Events whose own time was outside the trusted window, per source.
    time_skewed: Mutex<BTreeMap<String, u64>>,
    /// `_bulk` documents recognized as resends (not stored again), per source.
    resends: Mutex<BTreeMap<String, u64>>,
    /// Journal commits that failed (disk full, read-only database...): their batches were
    /// refused to the senders.
    pub journal_failures: AtomicU64,
}

impl Metrics {
    /// The counters of the source `name`, created on first use.
    pub fn source(&self, name: &str) -> Arc<SourceCounters> {
        let mut s = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        s.entry(name.to_string()).or_default().clone()
    }

    /// Count `n` events from `source` whose own time was outside the trusted window.
    pub fn time_skewed(&self, source: &str, n: u64) {
        bump(&self.time_skewed, source, n);
    }

    /// Count `n` `_bulk` documents from `source` recognized as resends.
    pub fn resent(&self, source: &str, n: u64) {
        bump(&self.resends, source, n);
    }

    /// Per-source counters as JSON, for `/api/v1/stats`.
    pub fn sources_json(&self) -> serde_json::Value {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources
            .iter()
            .map(|(name, c)| {
                let counts: serde_json::Map<_, _> = SOURCE_COUNTERS
                    .iter()
                    .map(|(_, key, _, get)| {
                        (key.to_string(), get(c).load(Ordering::Relaxed).into())
                    })
                    .collect();
                (name.clone(), serde_json::Value::Object(counts))
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// Count an alert and its ingest-to-alert latency.
    pub fn alert(&self, level: Severity, latency_ns: i64) {
        let i = Severity::ALL.iter().position(|l| *l == level).unwrap_or(0);
        self.alerts[i].fetch_add(1, Ordering::Relaxed);
        let secs = latency_ns.max(0) as f64 / 1e9;
        for (b, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            if secs <= *bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns
            .fetch_add(latency_ns.max(0) as u64, Ordering::Relaxed);
    }

    /// Latency quantile `q` (0..1) estimated from the histogram: the upper bound of the first
    /// bucket holding it (`None` with no alerts yet).
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let count = self.latency_count.load(Ordering::Relaxed);
        if count == 0 {
            return None;
        }
        let want = (q * count as f64).ceil() as u64;
        self.latency_buckets
            .iter()
            .zip(LATENCY_BUCKETS)
            .find(|(b, _)| b.load(Ordering::Relaxed) >= want)
            .map(|(_, bound)| *bound)
            .or(Some(f64::INFINITY))
    }

    /// The listeners' counters in the Prometheus text exposition (what a node without a
    /// pipeline of its own — a cluster's — has to tell).
    pub fn render_sources(&self) -> String {
        let mut out = String::new();
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        for (name, _, help, get) in SOURCE_COUNTERS {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (source, c) in sources.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{source=\"{}\"}} {}",
                    escape(source),
                    get(c).load(Ordering::Relaxed)
                );
            }
        }
        out
    }

    /// The Prometheus text exposition of every counter. `queued`, `processed` and
    /// `unindexed` come from the pipeline.
    pub fn render(&self, queued: i64, processed: u64, unindexed: i64) -> String {
        let mut out = self.render_sources();
        let _ = writeln!(
            out,
            "# HELP wardwatch_stored_total Events committed to the journal.\n# TYPE wardwatch_stored_total counter\nwardwatch_stored_total {}",
            self.events_stored.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP wardwatch_queued_events Events committed but not yet through detection.\n# TYPE wardwatch_queued_events gauge\nwardwatch_queued_events {queued}"
        );
        let _ = writeln!(
            out,
            "# HELP wardwatch_unindexed_events Events stored but not yet in the full-text index (search checks them directly; the index catches up when the CPU is free).\n# TYPE wardwatch_unindexed_events gauge\nwardwatch_unindexed_events {unindexed}"
        );
        let _ = writeln!(
            out,
            "# HELP wardwatch_processed_total Events through detection since start.\n# TYPE wardwatch_processed_total counter\nwardwatch_processed_total {processed}"
        );
        let _ = writeln!(
            out,
            "# HELP wardwatch_alerts_total Alerts raised since start, per level.\n# TYPE wardwatch_alerts_total counter"
        );
        for (l, n) in Severity::ALL.iter().zip(&self.alerts) {
            let _ = writeln!(
                out,
                "wardwatch_alerts_total{{level=\"{l}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        for (name, help, v) in [
            (
                "wardwatch_incidents_opened_total",
                "Incidents created since start.",
                &self.incidents_opened,
            ),
            (
                "wardwatch_incident_updates_total",
                "Incident changes committed since start (created, grew, merged, closed).",
                &self.incidents_updated,
            ),
            (
                "wardwatch_alerts_suppressed_total",
                "Alerts stopped by an exception since start.",
                &self.alerts_suppressed,
            ),
            (
                "wardwatch_journal_commit_failures_total",
                "Journal commits that failed (disk full, read-only database...); their batches were refused to the senders, and /healthz answers 503 until a commit succeeds.",
                &self.journal_failures,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        for (name, help, map) in [
            (
                "wardwatch_time_skewed_total",
                "Events whose own time was outside the trusted window around their reception (flagged event.time_skew; grouped and kept by received time), per source.",
                &self.time_skewed,
            ),
            (
                "wardwatch_resends_total",
                "_bulk documents without _id recognized as a resend within the window and not stored again, per source.",
                &self.resends,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (source, n) in map.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                let _ = writeln!(out, "{name}{{source=\"{}\"}} {n}", escape(source));
            }
        }
        let name = "wardwatch_ingest_to_alert_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from an event's commit to its alert's commit.\n# TYPE {name} histogram"
        );
        for (b, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                b.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str, n: u64) {
    let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
    match m.get_mut(key) {
        Some(v) => *v += n,
        None => {
            m.insert(key.to_string(), n);
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_sources_levels_and_histogram() {
        let m = Metrics::default();
        SourceCounters::add(&m.source("syslog-udp").dropped, 3);
        m.alert(Severity::High, 30_000_000);
        m.alert(Severity::High, 2_000_000_000);
        let text = m.render(5, 10, 7);
        assert!(
            text.contains("wardwatch_dropped_total{source=\"syslog-udp\"} 3"),
            "{text}"
        );
        assert!(text.contains("wardwatch_alerts_total{level=\"high\"} 2"));
        assert!(text.contains("wardwatch_ingest_to_alert_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("wardwatch_ingest_to_alert_seconds_count 2"));
        assert!(text.contains("wardwatch_queued_events 5"));
        assert!(text.contains("wardwatch_unindexed_events 7"));
        assert_eq!(m.latency_quantile(0.5), Some(0.05));
        assert_eq!(m.latency_quantile(0.99), Some(2.5));
    }
}
