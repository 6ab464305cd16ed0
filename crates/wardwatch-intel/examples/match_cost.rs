//! What matching costs per event as the number of active indicators grows (issue 12: flat
//! from 100 to 100,000 within 1.5×, at live ingest rates). Run by `bench/intel.sh`.
//!
//! Indicators: a seeded mix of addresses, networks, domains, URLs and hashes, as a partner's
//! feed has them. Events: a seeded mix of what a hospital's logs show (connections, DNS
//! questions, web requests, process command lines), one in a thousand carrying a value of the
//! set. `ONLY=0..3` restricts the events to one kind (connections, DNS, web, command lines).
//! What is timed is the search (`IndicatorSet::match_event`), not the alerts of the hits.

use std::time::Instant;

use jiff::Timestamp;
use wardwatch_core::{Event, SourceKind};
use wardwatch_intel::{Indicator, IndicatorSet, IntelDetector, Kind};

/// A small deterministic generator (xorshift), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn word(r: &mut Rng) -> String {
    (0..5 + r.below(6))
        .map(|_| (b'a' + r.below(26) as u8) as char)
        .collect()
}

fn indicators(n: usize, r: &mut Rng) -> Vec<Indicator> {
    (0..n)
        .map(|i| {
            let (kind, value) = match i % 5 {
                0 => (
                    Kind::Ip,
                    format!(
                        "{}.{}.{}.{}",
                        1 + r.below(222),
                        r.below(256),
                        r.below(256),
                        r.below(256)
                    ),
                ),
                1 => (
                    Kind::Cidr,
                    format!(
                        "{}.{}.{}.0/{}",
                        1 + r.below(222),
                        r.below(256),
                        r.below(256),
                        20 + r.below(5)
                    ),
                ),
                2 => (Kind::Domain, format!("{}-{}.example", word(r), i)),
                3 => (
                    Kind::Url,
                    format!("http://{}.example/{}/{}", word(r), word(r), i),
                ),
                _ => (
                    Kind::Sha256,
                    format!(
                        "{:016x}{:016x}{:016x}{:016x}",
                        r.next(),
                        r.next(),
                        r.next(),
                        r.next()
                    ),
                ),
            };
            Indicator::new(kind, &value, "bench").unwrap()
        })
        .collect()
}

fn events(n: usize, r: &mut Rng, planted: &[Indicator]) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let mut e = Event::new(SourceKind::Json, Timestamp::UNIX_EPOCH, serde_json::Value::Null);
            e.ecs.source_ip = Some(format!("10.{}.{}.{}", r.below(40), r.below(256), r.below(256)));
            let only: Option<usize> = std::env::var("ONLY").ok().and_then(|v| v.parse().ok());
            match only.unwrap_or(i % 4) {
                0 => e.ecs.destination_ip = Some(format!("{}.{}.{}.{}", 1 + r.below(222), r.below(256), r.below(256), r.below(256))),
                1 => e.ecs.dns_question_name = Some(format!("{}.{}.example", word(r), word(r))),
                2 => e.ecs.url_full = Some(format!("https://{}.example/{}?q={}", word(r), word(r), r.below(1000))),
                _ => e.ecs.process_command_line = Some(format!(
                    "C:\\Windows\\System32\\cmd.exe /c copy \\\\fs01\\{}\\{}.docx C:\\Users\\{}\\Documents\\ && start https://{}.example/{}",
                    word(r), word(r), word(r), word(r), word(r))),
            }
            if i % 1000 == 0 && !planted.is_empty() {
                let p = &planted[(i / 1000) % planted.len()];
                if p.kind == Kind::Domain {
                    e.ecs.dns_question_name = Some(format!("www.{}", p.value));
                }
            }
            e
        })
        .collect()
}

fn main() {
    let sizes = [100usize, 1_000, 10_000, 100_000];
    let n_events = 200_000;
    let mut base = None;
    println!("| active indicators | build (ms) | events | ns/event | events/s | hits | vs 100 |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for &size in &sizes {
        let mut r = Rng(0x5eed_1234_abcd_0001);
        let inds = indicators(size, &mut r);
        let mut r2 = Rng(0x5eed_9876_0000_0002);
        let evs = events(n_events, &mut r2, &inds);
        let t = Instant::now();
        let det = IntelDetector::new(std::sync::Arc::new(IndicatorSet::new(inds)));
        let build = t.elapsed();
        // Warm once, then the best of three passes.
        let mut hits = 0;
        let mut best = f64::MAX;
        for pass in 0..4 {
            let t = Instant::now();
            let mut h = 0;
            for e in &evs {
                h += det.set().match_event(e, e.timestamp).len();
            }
            let ns = t.elapsed().as_nanos() as f64 / evs.len() as f64;
            if pass > 0 {
                best = best.min(ns);
            }
            hits = h;
        }
        let ratio = best / *base.get_or_insert(best);
        println!(
            "| {size} | {:.1} | {n_events} | {best:.0} | {:.0} | {hits} | {ratio:.2}x |",
            build.as_secs_f64() * 1000.0,
            1e9 / best,
        );
    }
}
