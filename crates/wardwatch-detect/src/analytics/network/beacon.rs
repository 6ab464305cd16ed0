//! Beaconing: one internal host connecting to one outside destination again and again at a
//! regular interval (with jitter), sending about the same number of bytes each time — malware
//! asking its command-and-control server for work.
//!
//! Why: implants (Cobalt Strike, Sliver, commodity RATs, ransomware loaders) sleep, wake, call
//! home, and sleep again; the content is encrypted, the rhythm is not. The sensor's connection
//! log shows it whatever the protocol. Each alert is scored and explained: how regular the
//! intervals are (the share within a tolerance of the median interval, missed beats counting
//! half), how constant the sizes are, how many connections over how long.
//!
//! Quiet by design: destinations many of the hospital's hosts contact alike (update services,
//! antivirus clouds, time servers: see [`super::audience`]) are no beacon of one host; NTP is
//! regular by protocol; a backup server, scanner or jump host (inventory class) is informational.
//! Sub-ten-second rhythms are a session (streaming, keep-alives), not a sleep.
//!
//! Bounded: the last [`KEEP`] connections per (source, destination, port); a pair silent for
//! [`FORGET_AFTER`] is forgotten (checked once an hour of event time), so the state holds about
//! a day of pairs however long the server runs; at most [`MAX_PAIRS`] pairs (the least recently
//! seen dropped first); a pair is told once a day.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;

use super::audience::Audience;
use super::topology::{Topology, is_broadcast};
use super::{Hit, NetFacts, at_level, found, meta};
use crate::RuleMeta;
use crate::analytics::window::make_room;

/// Connections needed before a pair is judged.
const MIN_BEATS: usize = 12;
/// Connections kept per pair.
const KEEP: usize = 48;
/// Connections closer than this to the previous one are the same beat (a retry, a second
/// socket).
const SAME_BEAT: i64 = 2;
/// The median interval a beacon may have.
const MIN_INTERVAL: i64 = 10;
const MAX_INTERVAL: i64 = 6 * 3600;
/// The pair must have gone on at least this long.
const MIN_SPAN: i64 = 30 * 60;
/// An interval within this share of the median (or of two or three times it) is regular.
const JITTER: f64 = 0.25;
/// A size within this share of the median size (or [`SIZE_SLACK`] bytes) is constant.
const SIZE_TOLERANCE: f64 = 0.15;
const SIZE_SLACK: f64 = 64.0;
/// The score at which a pair is a beacon (0–1).
const ALERT_SCORE: f64 = 0.8;
/// Destinations contacted by this many internal hosts within a day are shared, not a beacon.
const POPULAR_SOURCES: usize = 8;
const MAX_PAIRS: usize = 100_000;
/// A pair is told again after this long.
const RETELL: i64 = 24 * 3600;
/// A pair silent this long is forgotten: no beacon's rhythm spans it (three missed beats of the
/// longest interval, with jitter, are 22.5 h), so its old beats could only make a resumed
/// series look less regular. Before, pairs were kept until [`MAX_PAIRS`]: at 28 days of the
/// bench's network week they were 99% of the analytics' state (4.7 MB of JSON, serialized at
/// each of serve's checkpoints), four times what 7 days left.
const FORGET_AFTER: i64 = 24 * 3600;
/// How often (event time) silent pairs are looked for.
const SWEEP_EVERY: i64 = 3600;
/// A beat sends little (a check-in); a regular series of big sends is a transfer.
const MAX_BEAT_BYTES: f64 = 1_000_000.0;
/// Ports whose protocol is periodic by nature (NTP).
const PERIODIC_PORTS: &[u16] = &[123];

pub(super) fn rules() -> Vec<Arc<RuleMeta>> {
    vec![beacon()]
}

fn beacon() -> Arc<RuleMeta> {
    meta(
        "analytic-network-beaconing",
        "Beaconing: Regular Connections From One Host To An Outside Destination",
        Severity::Medium,
        &[
            "attack.command_and_control",
            "attack.t1071",
            "attack.t1573",
            "attack.t1029",
        ],
        "One internal host connected to the same outside address and port again and again at a regular interval, sending about the same amount each time, and few or no other hosts of the hospital talk to that destination. Malware that has taken hold of a machine calls its command-and-control server this way to ask for instructions.",
        "Find which program on the source host makes these connections (EDR, netstat, the proxy log) and whether it is known software. If not, isolate the host, block the destination at the firewall and proxy, and look for the same destination elsewhere.",
    )
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Pair {
    /// (time, bytes sent) of the last [`KEEP`] beats.
    beats: VecDeque<(i64, Option<u64>)>,
    first: i64,
    last: i64,
    count: u64,
    told: Option<i64>,
}

/// How regular a pair is.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Score {
    pub score: f64,
    pub interval: f64,
    /// Median absolute deviation of the intervals, as a share of the median.
    pub jitter: f64,
    pub regular: f64,
    /// `None` when the sensor gave no sizes.
    pub constant: Option<f64>,
    pub size: Option<f64>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The score of beats at `times` with sizes `sizes` (see the module documentation).
pub(super) fn score(times: &[i64], sizes: &[u64]) -> Option<Score> {
    if times.len() < MIN_BEATS {
        return None;
    }
    let mut gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    let m = median(&mut gaps.clone());
    if m < MIN_INTERVAL as f64 || m > MAX_INTERVAL as f64 {
        return None;
    }
    let near = |g: f64, k: f64| (g - k * m).abs() <= JITTER * m;
    let regular = gaps
        .iter()
        .map(|&g| {
            if near(g, 1.0) {
                1.0
            } else if near(g, 2.0) || near(g, 3.0) {
                0.5
            } else {
                0.0
            }
        })
        .sum::<f64>()
        / gaps.len() as f64;
    for g in gaps.iter_mut() {
        *g = (*g - m).abs();
    }
    let jitter = median(&mut gaps) / m;
    let (constant, size) = if sizes.len() * 2 >= times.len() {
        let mut s: Vec<f64> = sizes.iter().map(|&b| b as f64).collect();
        let ms = median(&mut s);
        if ms > MAX_BEAT_BYTES {
            return None;
        }
        let tol = (SIZE_TOLERANCE * ms).max(SIZE_SLACK);
        let share = s.iter().filter(|&&b| (b - ms).abs() <= tol).count() as f64 / s.len() as f64;
        (Some(share), Some(ms))
    } else {
        (None, None)
    };
    let score = match constant {
        Some(c) => 0.65 * regular + 0.35 * c,
        None => regular,
    };
    Some(Score {
        score,
        interval: m,
        jitter,
        regular,
        constant,
        size,
    })
}

#[derive(Default, Serialize, Deserialize)]
pub(super) struct Beaconing {
    pairs: HashMap<String, Pair>,
    /// Which internal hosts contact each outside address.
    audience: Audience,
    /// When (event time) silent pairs were last looked for.
    #[serde(default)]
    swept: i64,
}

impl Beaconing {
    pub(super) fn observe(&mut self, f: &NetFacts, t: i64, topo: &Topology, out: &mut Vec<Hit>) {
        let (Some(src), Some(dst), Some(port)) = (f.src.as_deref(), f.dst.as_deref(), f.port)
        else {
            return;
        };
        if f.attempt.is_none()
            || PERIODIC_PORTS.contains(&port)
            || is_broadcast(dst)
            || !topo.is_internal(src)
            || topo.is_internal(dst)
        {
            return;
        }
        self.audience.push(dst, src, t);
        if t - self.swept >= SWEEP_EVERY {
            self.swept = t;
            self.pairs.retain(|_, p| t - p.last <= FORGET_AFTER);
        }
        let key = format!("{src}|{dst}|{port}");
        if !self.pairs.contains_key(&key) && self.pairs.len() >= MAX_PAIRS {
            make_room(&mut self.pairs, MAX_PAIRS, t, FORGET_AFTER, |p| p.last);
        }
        let pair = self.pairs.entry(key).or_insert_with(|| Pair {
            first: t,
            ..Pair::default()
        });
        if !pair.beats.is_empty() && t - pair.last < SAME_BEAT {
            if let (Some(last), Some(b)) = (pair.beats.back_mut(), f.bytes_out) {
                last.1 = Some(last.1.unwrap_or(0) + b);
            }
            return;
        }
        pair.last = t;
        pair.count += 1;
        if pair.beats.len() >= KEEP {
            pair.beats.pop_front();
        }
        pair.beats.push_back((t, f.bytes_out));
        if pair.beats.len() < MIN_BEATS
            || t - pair.first < MIN_SPAN
            || pair.told.is_some_and(|told| t - told < RETELL)
            // Judged every fourth beat: the score moves slowly.
            || !pair.count.is_multiple_of(4)
        {
            return;
        }
        let times: Vec<i64> = pair.beats.iter().map(|(t, _)| *t).collect();
        let sizes: Vec<u64> = pair.beats.iter().filter_map(|(_, b)| *b).collect();
        let Some(s) = score(&times, &sizes) else {
            return;
        };
        let sharing = self.audience.sources(dst, t);
        if s.score < ALERT_SCORE || sharing >= POPULAR_SOURCES {
            return;
        }
        pair.told = Some(t);
        let (count, first) = (pair.count, pair.first);
        let level = if topo.class(src).fans_out_by_design() {
            Severity::Informational
        } else {
            Severity::Medium
        };
        out.push(found(
            &at_level(&beacon(), level),
            src,
            &[dst],
            &[],
            facts(&s, dst, port, count, t - first, sharing),
        ));
    }
}

fn facts(
    s: &Score,
    dst: &str,
    port: u16,
    count: u64,
    span: i64,
    sharing: usize,
) -> Vec<(String, String)> {
    let pct = |x: f64| format!("{:.0}%", x * 100.0);
    let mut why = format!(
        "{count} connections over {:.1} h, every {:.0} s (median; jitter {}); {} of the intervals regular",
        span as f64 / 3600.0,
        s.interval,
        pct(s.jitter),
        pct(s.regular),
    );
    if let (Some(c), Some(size)) = (s.constant, s.size) {
        why.push_str(&format!("; {} of them send about {size:.0} bytes", pct(c)));
    }
    why.push_str(&format!(
        "; {} of the hospital's hosts contact {dst}",
        if sharing <= 1 {
            "none other".to_string()
        } else {
            format!("{} in all", sharing)
        }
    ));
    let mut facts = vec![
        ("beacon.destination".into(), format!("{dst}:{port}")),
        ("beacon.connections".into(), count.to_string()),
        ("beacon.interval_secs".into(), format!("{:.0}", s.interval)),
        ("beacon.jitter".into(), pct(s.jitter)),
        ("beacon.regular".into(), pct(s.regular)),
        ("beacon.span_secs".into(), span.to_string()),
        ("beacon.score".into(), format!("{:.2}", s.score)),
        ("beacon.hosts_contacting".into(), sharing.to_string()),
        ("beacon.explained".into(), why),
    ];
    if let (Some(c), Some(size)) = (s.constant, s.size) {
        facts.push(("beacon.bytes_out".into(), format!("{size:.0}")));
        facts.push(("beacon.constant_size".into(), pct(c)));
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jittered_beacon_scores_high_and_random_traffic_low() {
        // 60 s with up to 30% jitter below, one missed beat.
        let mut t = 0;
        let mut times = Vec::new();
        for i in 0..40i64 {
            t += 60 - (i * 7919 % 18);
            if i == 20 {
                t += 60;
            }
            times.push(t);
        }
        let sizes = vec![312; 40];
        let s = score(&times, &sizes).unwrap();
        assert!(s.score > 0.9, "{s:?}");
        // Browsing: irregular gaps and sizes.
        let mut t = 0;
        let times: Vec<i64> = (0..40i64)
            .map(|i| {
                t += 5 + (i * i * 37 % 600);
                t
            })
            .collect();
        let sizes: Vec<u64> = (0..40u64).map(|i| 200 + i * i * 911 % 50_000).collect();
        let s = score(&times, &sizes).unwrap();
        assert!(s.score < 0.5, "{s:?}");
        // Too few beats, or too fast.
        assert!(score(&times[..5], &sizes[..5]).is_none());
        let fast: Vec<i64> = (0..40).map(|i| i * 2).collect();
        assert!(score(&fast, &[]).is_none());
    }

    fn conn(src: &str, dst: &str) -> NetFacts {
        NetFacts {
            src: Some(src.into()),
            dst: Some(dst.into()),
            port: Some(443),
            attempt: Some(super::super::Attempt::Session),
            bytes_out: Some(400),
            ..NetFacts::default()
        }
    }

    #[test]
    fn silent_pairs_are_forgotten_after_a_day_and_a_live_beacon_is_not() {
        let topo = Topology::default();
        let mut b = Beaconing::default();
        let mut out = Vec::new();
        // 200 one-off visits in the first hour, one more at 7 h.
        for i in 0..200 {
            let dst = format!("198.51.{}.{}", i / 100, i % 100 + 1);
            b.observe(&conn("10.1.1.30", &dst), i * 18, &topo, &mut out);
        }
        b.observe(&conn("10.1.1.31", "198.51.9.9"), 7 * 3600, &topo, &mut out);
        // A beacon every 5 minutes for 30 hours.
        let mut t = 0;
        while t <= 30 * 3600 {
            b.observe(&conn("10.1.1.20", "203.0.113.5"), t, &topo, &mut out);
            t += 300;
        }
        let mut kept: Vec<&String> = b.pairs.keys().collect();
        kept.sort();
        // The first hour's visits are 29 h old, the one at 7 h is 23 h old.
        assert_eq!(
            kept,
            ["10.1.1.20|203.0.113.5|443", "10.1.1.31|198.51.9.9|443"]
        );
        assert!(!out.is_empty(), "the beacon was told");
        // The state says when it last swept, and a restored state goes on from there.
        let saved = serde_json::to_value(&b).unwrap();
        assert!(saved["swept"].as_i64().unwrap() > 29 * 3600);
        let restored: Beaconing = serde_json::from_value(saved).unwrap();
        assert_eq!(restored.pairs.len(), 2);
    }
}
