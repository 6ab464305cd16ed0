//! Large transfers out of the hospital at unusual hours: one internal host sending a lot of
//! data to addresses outside within an hour, at night or at the weekend.
//!
//! Why: ransomware gangs copy the data out before they encrypt it (double extortion), usually
//! at night when nobody watches, with rclone, MEGAsync, a cloud storage client or plain HTTPS.
//! The connection log counts the bytes each connection sent whatever the tool: the sum per
//! source and hour, outside working time, is the trace.
//!
//! Unusual hours: 20:00–06:00 UTC (the hours the incident score counts as off-hours) and
//! Saturday and Sunday.
//!
//! Quiet by design: a backup server (inventory class) sends big at night by design
//! (informational); a host that did the same on several earlier nights is doing its routine
//! (low, and the alert says so); transfers inside the hospital are not counted. A medical
//! device sending this much out is high.
//!
//! Bounded: per source, per-minute sums for the last hour and the nights it was large on
//! (at most a week); at most [`MAX_SOURCES`] sources (the least recently seen dropped first).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_core::Severity;

use super::topology::{NetClass, Topology, is_broadcast};
use super::{Hit, NetFacts, at_level, found, listed, meta};
use crate::RuleMeta;
use crate::analytics::window::make_room;

/// Bytes sent out within [`WINDOW`] that make a large transfer.
const LARGE_BYTES: u64 = 1_000_000_000;
const WINDOW: i64 = 3600;
/// Connections sending less than this are not counted (browsing, beacons).
const MIN_CONN_BYTES: u64 = 10_000;
/// Earlier large nights within a week after which it is the host's routine.
const ROUTINE_NIGHTS: usize = 3;
const MAX_SOURCES: usize = 50_000;
/// Destinations remembered per source for the facts.
const MAX_DESTS: usize = 32;

pub(super) fn rules() -> Vec<Arc<RuleMeta>> {
    vec![transfer()]
}

fn transfer() -> Arc<RuleMeta> {
    meta(
        "analytic-network-large-transfer-out",
        "Large Transfer Out Of The Hospital At An Unusual Hour",
        Severity::Medium,
        &["attack.exfiltration", "attack.t1048", "attack.t1567.002"],
        "One internal host sent more than a gigabyte to addresses outside the hospital within an hour, at night or at the weekend. Ransomware gangs copy data out this way before they encrypt it, when nobody watches.",
        "Find what the host sent and with which program (EDR, proxy log, the destination's owner). Unless it is a planned backup or transfer, cut the host off from the internet, keep its disk for investigation and start the data-breach procedure.",
    )
}

/// Whether `t` (seconds since the epoch, UTC) is at night (20:00–06:00) or at the weekend.
pub(super) fn unusual_hour(t: i64) -> bool {
    let hour = t.rem_euclid(86_400) / 3600;
    // 1970-01-01 was a Thursday: day 0 → Thursday, 2 → Saturday, 3 → Sunday.
    let weekday = t.div_euclid(86_400).rem_euclid(7);
    !(6..20).contains(&hour) || weekday == 2 || weekday == 3
}

/// The night (or weekend day) `t` belongs to: the day number of the evening it started.
fn night_of(t: i64) -> i64 {
    (t - 6 * 3600).div_euclid(86_400)
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Source {
    /// (minute, bytes) within the last [`WINDOW`].
    minutes: VecDeque<(i64, u64)>,
    /// Bytes per destination within the window (for the facts).
    dests: BTreeMap<String, u64>,
    last: i64,
    /// Nights (see [`night_of`]) it was large on.
    nights: VecDeque<i64>,
}

#[derive(Default, Serialize, Deserialize)]
pub(super) struct Transfers {
    sources: HashMap<String, Source>,
}

impl Transfers {
    pub(super) fn observe(&mut self, f: &NetFacts, t: i64, topo: &Topology, out: &mut Vec<Hit>) {
        let (Some(src), Some(dst), Some(bytes)) = (f.src.as_deref(), f.dst.as_deref(), f.bytes_out)
        else {
            return;
        };
        if bytes < MIN_CONN_BYTES
            || is_broadcast(dst)
            || !topo.is_internal(src)
            || topo.is_internal(dst)
        {
            return;
        }
        if !self.sources.contains_key(src) && self.sources.len() >= MAX_SOURCES {
            make_room(&mut self.sources, MAX_SOURCES, t, WINDOW, |s| s.last);
        }
        let s = self.sources.entry(src.to_string()).or_default();
        if t - s.last > WINDOW {
            s.dests.clear();
        }
        s.last = t;
        let minute = t.div_euclid(60);
        while s
            .minutes
            .front()
            .is_some_and(|(m, _)| (minute - m) * 60 >= WINDOW)
        {
            s.minutes.pop_front();
        }
        match s.minutes.back_mut() {
            Some((m, b)) if *m == minute => *b += bytes,
            _ => s.minutes.push_back((minute, bytes)),
        }
        if s.dests.len() < MAX_DESTS || s.dests.contains_key(dst) {
            *s.dests.entry(dst.to_string()).or_default() += bytes;
        }
        let sum: u64 = s.minutes.iter().map(|(_, b)| b).sum();
        let night = night_of(t);
        if sum < LARGE_BYTES || !unusual_hour(t) || s.nights.back() == Some(&night) {
            return;
        }
        while s.nights.front().is_some_and(|n| night - n > 7) {
            s.nights.pop_front();
        }
        let earlier = s.nights.len();
        s.nights.push_back(night);
        let class = topo.class(src);
        let level = match class {
            c if c.fans_out_by_design() => Severity::Informational,
            _ if earlier >= ROUTINE_NIGHTS => Severity::Low,
            NetClass::MedicalDevice => Severity::High,
            _ => Severity::Medium,
        };
        let mut dests: Vec<(&String, &u64)> = s.dests.iter().collect();
        dests.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let shown: Vec<String> = dests
            .iter()
            .map(|(d, b)| format!("{d} ({})", megabytes(**b)))
            .collect();
        let targets: Vec<&str> = dests.iter().take(10).map(|(d, _)| d.as_str()).collect();
        let facts = vec![
            ("transfer.bytes_out".into(), sum.to_string()),
            ("transfer.amount".into(), megabytes(sum)),
            ("transfer.window_secs".into(), WINDOW.to_string()),
            ("transfer.destinations".into(), dests.len().to_string()),
            (
                "transfer.to".into(),
                listed(shown.iter().map(String::as_str), shown.len(), 5),
            ),
            ("transfer.earlier_nights".into(), earlier.to_string()),
            ("source.class".into(), class.as_str().into()),
        ];
        out.push(found(
            &at_level(&transfer(), level),
            src,
            &targets,
            &[],
            facts,
        ));
    }
}

fn megabytes(b: u64) -> String {
    if b >= 1_000_000_000 {
        format!("{:.1} GB", b as f64 / 1e9)
    } else {
        format!("{:.0} MB", b as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nights_and_weekends_are_unusual() {
        // 2025-12-01 was a Monday.
        let mon = 1_764_547_200;
        assert!(unusual_hour(mon + 2 * 3600));
        assert!(!unusual_hour(mon + 10 * 3600));
        assert!(unusual_hour(mon + 21 * 3600));
        assert!(unusual_hour(mon + 5 * 86_400 + 12 * 3600), "Saturday noon");
        assert!(unusual_hour(mon + 6 * 86_400 + 12 * 3600), "Sunday noon");
        assert!(!unusual_hour(mon + 7 * 86_400 + 12 * 3600), "Monday noon");
        assert_eq!(night_of(mon + 23 * 3600), night_of(mon + 86_400 + 3 * 3600));
    }
}
