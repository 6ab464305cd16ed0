//! The incident stage's watermark: the event time up to which every partition with a backlog
//! has been detected, so the grouper closes incidents no further than the slowest of them.
//!
//! Why: the grouper closes an incident once event time passes `quiet_minutes` beyond its last
//! alert. On one machine alerts are grouped in the order their events were accepted; in a
//! cluster the alerts of a partition whose workers fell hours behind arrive after those of
//! partitions that kept up (events accepted later), and an
//! incident closed on the fast partitions' time would make the late alerts open a new incident
//! where one machine would have extended the old one. Closing only up to the slowest active
//! partition's time keeps the incidents one machine makes.
//!
//! **Active** is read from the streams' state (both are work queues: a message stays until it
//! was committed and acknowledged). A partition is active while the events stream holds a
//! message of it — a backlog, or a batch in a worker's hands — and its time is the earliest
//! event time of its oldest message: every event of the partition before that message has been
//! detected and its alerts handed on. Those alerts may still wait in the alerts stream after
//! the batch being grouped: the earliest alert time of each partition's first waiting alerts
//! message counts too. A partition with nothing waiting in either stream holds nothing back, so
//! a quiet partition (a host that went silent, an organization sending nothing) never stops
//! closing; with nothing waiting anywhere there is no cap and the grouper closes on the newest
//! alert's time, as on one machine.
//!
//! When: a measurement is taken after the batch it applies to was fetched, so whatever was
//! ingested before the batch's alerts were handed on is either still waiting (and counted) or
//! detected and waiting as alerts (counted) or grouped. It costs a read of the oldest message of
//! each active partition, so it is taken at most every [`MEASURE_EVERY`]; a batch grouped in
//! between closes nothing beyond what the last measurement allowed ([`Cap::Hold`]), and closing
//! — a matter of minutes to hours of event time — waits that much longer at most.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use jiff::Timestamp;

use crate::{ALERTS_SUBJECTS, EVENTS_SUBJECTS, alerts_subject, partition_filter, wire};

/// How often the partitions' times are measured while alerts flow.
pub const MEASURE_EVERY: Duration = Duration::from_secs(2);

/// How far the grouper may close incidents for a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// Nothing waits in either stream: close on the newest alert's time.
    Open,
    /// Close no further than this event time.
    At(Timestamp),
    /// Not measured for this batch: close nothing beyond what was allowed before.
    Hold,
}

impl Cap {
    fn lower(self, at: Timestamp) -> Cap {
        match self {
            Cap::At(t) if t <= at => Cap::At(t),
            _ => Cap::At(at),
        }
    }
}

/// The partitions of a stream's subjects (`prefix<p>` or `prefix<p>.<org>`) holding messages.
pub fn active_partitions<'a>(
    prefix: &str,
    subjects: impl IntoIterator<Item = (&'a str, u64)>,
) -> BTreeSet<u32> {
    subjects
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .filter_map(|(s, _)| s.strip_prefix(prefix)?.split('.').next()?.parse().ok())
        .collect()
}

/// The earliest event time of an events message's payload (`None`: no line is an event).
pub fn earliest_event(payload: &[u8]) -> Option<Timestamp> {
    wire::decode_docs(payload)
        .into_iter()
        .filter_map(Result::ok)
        .map(|(e, _)| e.timestamp)
        .min()
}

/// When the cap was last measured.
#[derive(Debug, Default)]
pub struct Watermark {
    measured: Option<Instant>,
}

impl Watermark {
    /// Whether it is time to measure again.
    pub fn due(&self) -> bool {
        self.measured.is_none_or(|t| t.elapsed() >= MEASURE_EVERY)
    }

    /// The cap for the batch of alerts up to sequence `last`, fetched already: measured when
    /// due, else [`Cap::Hold`] (as when NATS does not answer).
    pub async fn cap(
        &mut self,
        events: &jetstream::stream::Stream,
        alerts: &jetstream::stream::Stream,
        last: u64,
    ) -> Cap {
        if !self.due() {
            return Cap::Hold;
        }
        self.measured = Some(Instant::now());
        measure(events, alerts, last).await.unwrap_or(Cap::Hold)
    }
}

async fn subjects(stream: &jetstream::stream::Stream, filter: &str) -> Option<Vec<(String, u64)>> {
    use futures_util::StreamExt;
    let mut info = stream.info_with_subjects(filter).await.ok()?;
    let mut out = Vec::new();
    while let Some(s) = info.next().await {
        let (name, n) = s.ok()?;
        out.push((name, n as u64));
    }
    Some(out)
}

/// Measure the cap now: the earliest event time of each active partition's oldest events
/// message, and the earliest alert time of each partition's first alerts message after `last`;
/// the least of them. `None` when NATS did not answer.
pub async fn measure(
    events: &jetstream::stream::Stream,
    alerts: &jetstream::stream::Stream,
    last: u64,
) -> Option<Cap> {
    let mut cap = Cap::Open;
    let waiting = subjects(events, EVENTS_SUBJECTS).await?;
    for part in active_partitions("ww.events.", waiting.iter().map(|(s, n)| (s.as_str(), *n))) {
        let Ok(first) = events
            .get_first_raw_message_by_subject(&partition_filter(part), 0)
            .await
        else {
            // Taken in the meantime: the partition emptied.
            continue;
        };
        let at = earliest_event(&first.payload).or_else(|| {
            let received = first.headers.get(wire::RECEIVED)?;
            let ns: i128 = received.as_str().parse().ok()?;
            Timestamp::from_nanosecond(ns).ok()
        });
        if let Some(at) = at {
            cap = cap.lower(at);
        }
    }
    // The events stream answered first: an alert handed on since is waiting here now.
    let waiting = subjects(alerts, ALERTS_SUBJECTS).await?;
    for part in active_partitions("ww.alerts.", waiting.iter().map(|(s, n)| (s.as_str(), *n))) {
        let Ok(next) = alerts
            .get_first_raw_message_by_subject(&alerts_subject(part), last + 1)
            .await
        else {
            continue;
        };
        let at = crate::incidents::decode_alerts(&next.payload)
            .iter()
            .map(|(a, ..)| a.timestamp)
            .min();
        if let Some(at) = at {
            cap = cap.lower(at);
        }
    }
    Some(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_partitions_are_those_whose_subjects_hold_messages() {
        let got = active_partitions(
            "ww.events.",
            [
                ("ww.events.0.default", 3),
                ("ww.events.0.other", 0),
                ("ww.events.5.clinic", 1),
                ("ww.events.7.default", 0),
                ("unrelated", 9),
            ],
        );
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec![0, 5]);
        let got = active_partitions("ww.alerts.", [("ww.alerts.3", 2), ("ww.alerts.4", 0)]);
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn the_cap_is_the_least_time_and_measured_at_most_every_interval() {
        let t = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        assert_eq!(Cap::Open.lower(t(5)), Cap::At(t(5)));
        assert_eq!(Cap::At(t(3)).lower(t(5)), Cap::At(t(3)));
        assert_eq!(Cap::At(t(7)).lower(t(5)), Cap::At(t(5)));
        assert_eq!(Cap::Hold.lower(t(5)), Cap::At(t(5)));
        let mut w = Watermark::default();
        assert!(w.due());
        w.measured = Some(Instant::now());
        assert!(!w.due());
        w.measured = Some(Instant::now() - MEASURE_EVERY);
        assert!(w.due());
    }

    #[test]
    fn the_earliest_event_of_a_message_is_its_time() {
        let ev = |s: i64| {
            serde_json::to_string(&wardwatch_core::Event::new(
                wardwatch_core::SourceKind::Syslog,
                Timestamp::from_second(1_700_000_000 + s).unwrap(),
                serde_json::json!({"message": "x"}),
            ))
            .unwrap()
        };
        let payload = format!("{}\nnot json\n{}", ev(50), ev(20));
        assert_eq!(
            earliest_event(payload.as_bytes()),
            Some(Timestamp::from_second(1_700_000_020).unwrap())
        );
        assert_eq!(earliest_event(b"garbage"), None);
    }
}
