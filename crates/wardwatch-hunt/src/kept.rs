//! What the readers keep for the ordered stage, and how it comes back in time order without
//! being held in memory all at once.
//!
//! Why: a sensor's logs are mostly records the network analytics read — about a million
//! connection, DNS and RPC records in four weeks of a mid-sized hospital. Holding a reduced
//! `Event` of each (about 4 KB with its maps) until one sort at the end made hunt's memory grow
//! with its input (4.3 GB for 28 days) and the sort itself moved gigabytes.
//!
//! Now each reader keeps its records in a [`Keeper`]: a reduced copy that no rule matched is
//! kept encoded (its JSON, a few hundred bytes), anything else (records feeding a correlation,
//! records with rule matches the burst analytic reads) as the event with its detections. Past
//! its share of the memory budget a keeper sorts its encoded records and writes them to a run
//! in an unnamed temporary file (the records of one file are mostly in time order already, so
//! the runs are long and few). At the end [`merge`] reads the runs and what stayed in memory
//! back in one k-way merge, decoding each record just before the ordered stage reads it: memory
//! holds the budget, one buffer per run and the ordered stage's own (expiring) state.
//!
//! The order is exactly the one sorting everything gave: time, then file, then record, and
//! records equal in those three in the order their reader met them (a stable sort of the
//! readers' lists one after another). A run that cannot be written stays in memory; one that
//! cannot be read back is reported as a failure of the hunt, naming what was lost.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::sync::Arc;

use jiff::Timestamp;
use wardwatch_core::Event;
use wardwatch_detect::Detection;

/// Encoded records a hunt holds in memory before it writes runs (shared by the readers).
pub(crate) const MEMORY_BUDGET: usize = 64 << 20;

/// Where a kept record sorts: time, file, record, then the order its reader met it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    ts: Timestamp,
    source: Arc<str>,
    record: Option<u64>,
    reader: u32,
    seq: u64,
}

/// A record as the reader thread hands it over: the event with its detections, or the encoded
/// reduced copy.
pub(crate) enum Body {
    Event(Box<(Event, Vec<Detection>)>),
    Encoded(Box<[u8]>),
}

impl Body {
    /// What to keep of `event` (a reduced copy when `reduced`) with `detections`: a reduced
    /// copy no rule matched is encoded; it comes back equal.
    pub(crate) fn of(event: Event, detections: Vec<Detection>, reduced: bool) -> Body {
        if reduced
            && detections.is_empty()
            && let Ok(bytes) = serde_json::to_vec(&event)
        {
            return Body::Encoded(bytes.into_boxed_slice());
        }
        Body::Event(Box::new((event, detections)))
    }
}

/// A record kept for the ordered stage, with its sort position.
pub(crate) struct Kept {
    pub(crate) ts: Timestamp,
    pub(crate) source: String,
    pub(crate) record: Option<u64>,
    pub(crate) body: Body,
}

struct Held {
    key: Key,
    body: Body,
}

/// One reader's kept records: in memory up to its budget, then in sorted runs on disk.
pub(crate) struct Keeper {
    reader: u32,
    seq: u64,
    budget: usize,
    /// Encoded bytes held in memory.
    held_bytes: usize,
    held: Vec<Held>,
    runs: Vec<Run>,
    /// The last file name seen, shared by its records' keys.
    source: Arc<str>,
}

/// A sorted run in a temporary file, and the file names its records refer to.
struct Run {
    file: File,
    sources: Vec<Arc<str>>,
    records: u64,
}

impl Keeper {
    pub(crate) fn new(reader: u32, budget: usize) -> Self {
        Keeper {
            reader,
            seq: 0,
            budget,
            held_bytes: 0,
            held: Vec::new(),
            runs: Vec::new(),
            source: Arc::from(""),
        }
    }

    pub(crate) fn keep(&mut self, kept: Kept) {
        if *self.source != *kept.source {
            self.source = Arc::from(kept.source.as_str());
        }
        let key = Key {
            ts: kept.ts,
            source: self.source.clone(),
            record: kept.record,
            reader: self.reader,
            seq: self.seq,
        };
        self.seq += 1;
        if let Body::Encoded(b) = &kept.body {
            self.held_bytes += b.len();
        }
        self.held.push(Held {
            key,
            body: kept.body,
        });
        if self.held_bytes > self.budget {
            self.spill();
        }
    }

    /// Write the encoded records held to a sorted run (kept in memory when that fails: the
    /// hunt goes on, only bigger).
    fn spill(&mut self) {
        let (mut encoded, events): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| matches!(h.body, Body::Encoded(_)));
        encoded.sort_by(|a, b| a.key.cmp(&b.key));
        match write_run(&encoded) {
            Ok(run) => {
                self.runs.push(run);
                self.held = events;
                self.held_bytes = 0;
            }
            Err(_) => {
                self.held = encoded;
                self.held.extend(events);
                // Try again only after as much again.
                self.budget = self.budget.saturating_mul(2);
            }
        }
    }
}

fn write_run(sorted: &[Held]) -> io::Result<Run> {
    let mut out = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
    let mut sources: Vec<Arc<str>> = Vec::new();
    for h in sorted {
        let Body::Encoded(bytes) = &h.body else {
            continue;
        };
        if sources
            .last()
            .is_none_or(|s| !Arc::ptr_eq(s, &h.key.source))
        {
            sources.push(h.key.source.clone());
        }
        let k = &h.key;
        out.write_all(&k.ts.as_second().to_le_bytes())?;
        out.write_all(&k.ts.subsec_nanosecond().to_le_bytes())?;
        out.write_all(&k.record.map_or(u64::MAX, |r| r).to_le_bytes())?;
        out.write_all(&[u8::from(k.record.is_some())])?;
        out.write_all(&k.seq.to_le_bytes())?;
        out.write_all(&((sources.len() - 1) as u32).to_le_bytes())?;
        out.write_all(&(bytes.len() as u32).to_le_bytes())?;
        out.write_all(bytes)?;
    }
    let mut file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.flush()?;
    file.rewind()?;
    Ok(Run {
        file,
        sources,
        records: sorted.len() as u64,
    })
}

/// A run being read back.
struct RunReader {
    reader: BufReader<File>,
    sources: Vec<Arc<str>>,
    who: u32,
    left: u64,
}

impl RunReader {
    fn next(&mut self) -> io::Result<Option<Held>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let r = &mut self.reader;
        let secs = i64::from_le_bytes(take(r)?);
        let nanos = i32::from_le_bytes(take(r)?);
        let record = u64::from_le_bytes(take(r)?);
        let has_record = take::<1>(r)?[0] == 1;
        let seq = u64::from_le_bytes(take(r)?);
        let source = u32::from_le_bytes(take(r)?) as usize;
        let len = u32::from_le_bytes(take(r)?) as usize;
        let mut bytes = vec![0; len];
        r.read_exact(&mut bytes)?;
        let ts = Timestamp::new(secs, nanos).map_err(io::Error::other)?;
        let source = self
            .sources
            .get(source)
            .cloned()
            .ok_or_else(|| io::Error::other("a run names a file it does not list"))?;
        Ok(Some(Held {
            key: Key {
                ts,
                source,
                record: has_record.then_some(record),
                reader: self.who,
                seq,
            },
            body: Body::Encoded(bytes.into_boxed_slice()),
        }))
    }
}

fn take<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut b = [0; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

/// One input of the merge.
enum Input {
    Memory(std::vec::IntoIter<Held>),
    Run(RunReader),
}

impl Input {
    fn next(&mut self) -> io::Result<Option<Held>> {
        match self {
            Input::Memory(it) => Ok(it.next()),
            Input::Run(r) => r.next(),
        }
    }
}

/// Records decoded ahead of the ordered stage, in batches of this many...
const AHEAD_BATCH: usize = 512;
/// ...at most this many batches ahead.
const AHEAD_BATCHES: usize = 8;

/// Call `f` with every record the keepers kept, in time order; returns what was lost, in
/// words. The merge and the decoding run on a thread of their own, a few batches ahead of
/// `f` (decoding costs about as much as the analytics in `f`: one core does each).
pub(crate) fn for_each_in_order(
    keepers: Vec<Keeper>,
    mut f: impl FnMut(Event, Vec<Detection>),
) -> Vec<String> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(Event, Vec<Detection>)>>(AHEAD_BATCHES);
    std::thread::scope(|scope| {
        let ahead = scope.spawn(move || {
            let mut merged = merge(keepers);
            let mut batch = Vec::with_capacity(AHEAD_BATCH);
            for item in merged.by_ref() {
                batch.push(item);
                if batch.len() == AHEAD_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(AHEAD_BATCH));
                    if tx.send(full).is_err() {
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            merged.problems
        });
        for batch in rx {
            for (event, detections) in batch {
                f(event, detections);
            }
        }
        ahead
            .join()
            .unwrap_or_else(|_| vec!["the records kept for the correlations and analytics could not all be read back (the merge stopped)".into()])
    })
}

/// The keepers' records in time order.
pub(crate) struct Merge {
    inputs: Vec<Input>,
    heads: Vec<Option<Held>>,
    heap: BinaryHeap<Reverse<(Key, usize)>>,
    /// Why records were lost: a run that could not be read back, a record that did not
    /// decode (the first few).
    pub(crate) problems: Vec<String>,
}

/// Merge what `keepers` kept, in the order one stable sort of all of it gives.
pub(crate) fn merge(keepers: Vec<Keeper>) -> Merge {
    let mut inputs = Vec::new();
    for k in keepers {
        let who = k.reader;
        let mut held = k.held;
        held.sort_by(|a, b| a.key.cmp(&b.key));
        inputs.push(Input::Memory(held.into_iter()));
        for run in k.runs {
            inputs.push(Input::Run(RunReader {
                reader: BufReader::with_capacity(1 << 16, run.file),
                sources: run.sources,
                who,
                left: run.records,
            }));
        }
    }
    let mut m = Merge {
        heads: (0..inputs.len()).map(|_| None).collect(),
        inputs,
        heap: BinaryHeap::new(),
        problems: Vec::new(),
    };
    for i in 0..m.inputs.len() {
        m.advance(i);
    }
    m
}

impl Merge {
    /// Read input `i`'s next record into its head.
    fn advance(&mut self, i: usize) {
        match self.inputs[i].next() {
            Ok(Some(h)) => {
                self.heap.push(Reverse((h.key.clone(), i)));
                self.heads[i] = Some(h);
            }
            Ok(None) => {}
            Err(e) => {
                let Input::Run(r) = &self.inputs[i] else {
                    return;
                };
                self.problems.push(format!(
                    "{} record(s) kept for the correlations and analytics could not be read back from a temporary file: {e}",
                    r.left + 1
                ));
            }
        }
    }
}

impl Iterator for Merge {
    type Item = (Event, Vec<Detection>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Reverse((_, i)) = self.heap.pop()?;
            let head = self.heads[i].take();
            self.advance(i);
            let Some(held) = head else { continue };
            match held.body {
                Body::Event(b) => return Some(*b),
                Body::Encoded(bytes) => match serde_json::from_slice::<Event>(&bytes) {
                    Ok(event) => return Some((event, Vec::new())),
                    Err(e) => {
                        if self.problems.len() < 10 {
                            self.problems.push(format!(
                                "a record of {} kept for the correlations and analytics did not read back: {e}",
                                held.key.source
                            ));
                        }
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wardwatch_core::{Origin, SourceKind};

    fn event(source: &str, record: u64, secs: i64) -> Event {
        let mut e = Event {
            timestamp: Timestamp::new(secs, 123_456_789).unwrap(),
            time_text: None,
            organization: "default".into(),
            source_kind: SourceKind::Zeek,
            origin: Origin {
                source: source.into(),
                record_id: Some(record),
                offset: Some(record * 100),
                id: None,
            },
            ecs: Default::default(),
            raw: json!({"net": {"src": "10.0.0.1", "port": 445, "bytes_out": 12}}),
            raw_text: Default::default(),
            received: None,
            time_skew: None,
        };
        e.ecs.source_ip = Some("10.0.0.1".into());
        e.ecs.destination_port = Some(445);
        e
    }

    fn kept(e: &Event) -> Kept {
        Kept {
            ts: e.timestamp,
            source: e.origin.source.clone(),
            record: e.origin.record_id,
            body: Body::of(e.clone(), Vec::new(), true),
        }
    }

    /// Two readers' records, some out of order and some sharing a time, through keepers with a
    /// budget of a few records (so most go through runs on disk) and with none: the same
    /// records in the same order as a stable sort of both lists one after the other.
    #[test]
    fn runs_on_disk_give_the_order_of_one_stable_sort() {
        let mut lists: Vec<Vec<Event>> = vec![Vec::new(), Vec::new()];
        for i in 0..500u64 {
            // Out of order within a file by up to a few seconds, ties across files.
            let secs = 1_000 + (i as i64 / 3) + ((i * 7919) % 5) as i64;
            lists[(i % 2) as usize].push(event(if i % 4 < 2 { "b.log" } else { "a.log" }, i, secs));
        }
        // Records with no record number sort before numbered ones of the same time and file,
        // and among themselves in the order met.
        let mut unnumbered = event("a.log", 0, 1_050);
        unnumbered.origin.record_id = None;
        lists[1].push(unnumbered.clone());
        unnumbered.origin.offset = Some(1);
        lists[1].push(unnumbered);
        let mut expected: Vec<Event> = lists.iter().flatten().cloned().collect();
        expected.sort_by(|a, b| {
            (a.timestamp, &a.origin.source, a.origin.record_id).cmp(&(
                b.timestamp,
                &b.origin.source,
                b.origin.record_id,
            ))
        });
        for budget in [300, usize::MAX] {
            let keepers: Vec<Keeper> = lists
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let mut k = Keeper::new(i as u32, budget);
                    for e in l {
                        k.keep(kept(e));
                    }
                    k
                })
                .collect();
            if budget == 300 {
                assert!(
                    keepers.iter().all(|k| k.runs.len() > 5),
                    "runs were written"
                );
            }
            let merged = merge(keepers);
            let got: Vec<Event> = merged.map(|(e, _)| e).collect();
            assert_eq!(got.len(), expected.len());
            assert!(got == expected, "budget {budget}: order or content differs");
        }
    }

    /// Events with detections stay in memory and merge in place among encoded ones.
    #[test]
    fn events_with_detections_merge_among_encoded_ones() {
        let mut k = Keeper::new(0, 1);
        let a = event("x", 1, 10);
        let b = event("x", 2, 5);
        let c = event("x", 3, 7);
        k.keep(kept(&a));
        k.keep(Kept {
            ts: b.timestamp,
            source: "x".into(),
            record: Some(2),
            body: Body::Event(Box::new((b.clone(), Vec::new()))),
        });
        k.keep(kept(&c));
        let got: Vec<u64> = merge(vec![k])
            .map(|(e, _)| e.origin.record_id.unwrap())
            .collect();
        assert_eq!(got, vec![2, 3, 1]);
    }
}
