//! The per-host table of recent process starts, bounded, and how a child finds its parent in it.
//!
//! Why these rules: a process id is reused once its process has exited, so an id alone can
//! name the wrong parent. The table keeps one entry per id and host — a new process with the
//! id replaces the old one, as Windows does — and a child takes the entry only if it started
//! no later than the child and, where the child's record names its parent's program (4688
//! from Windows 10, Sysmon), runs that program. Sysmon's `ParentProcessGuid` names the parent
//! exactly and is preferred. One process recorded twice (Sysmon 1 and Security 4688 on the
//! same host: same id, same program, within [`SAME_START_MS`]) is one entry, its fields
//! merged.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{Start, program};

/// Starts kept per host: the most recent ones (a busy server starts thousands of short-lived
/// processes an hour; the parents that matter — a shell, an Office program, a script host —
/// started recently).
pub const PER_HOST_MAX: usize = 1_024;
/// Starts kept over all hosts: the table travels with every checkpoint of the detector's state.
pub const ENTRIES_MAX: usize = 50_000;
/// Text kept over all hosts (command lines, programs, accounts).
pub const BYTES_MAX: usize = 32 << 20;
/// A command line, program or account longer than this is not kept.
pub const TEXT_MAX: usize = 32 << 10;
/// Two records of one start (Sysmon and Security) are at most this far apart.
const SAME_START_MS: i64 = 2_000;
/// What an entry costs beside its text.
const ENTRY_OVERHEAD: usize = 96;

/// A process start as the table keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Proc {
    pub(crate) pid: u64,
    /// Event time, milliseconds since the epoch.
    pub(crate) ts: i64,
    /// Insertion order (ties of `ts` and eviction order).
    pub(crate) seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) guid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) command_line: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<String>,
}

impl Proc {
    fn bytes(&self) -> usize {
        ENTRY_OVERHEAD
            + [&self.guid, &self.image, &self.command_line, &self.user]
                .iter()
                .map(|s| s.as_ref().map_or(0, String::len))
                .sum::<usize>()
    }
}

#[derive(Debug, Default)]
struct Host {
    by_pid: HashMap<u64, Proc>,
    by_guid: HashMap<String, u64>,
}

/// Recent process starts per host (see the module documentation).
#[derive(Debug, Default)]
pub struct Table {
    hosts: HashMap<String, Host>,
    /// Every entry by (time, insertion): the oldest goes first when the table is full.
    order: BTreeMap<(i64, u64), (String, u64)>,
    seq: u64,
    bytes: usize,
}

fn bounded(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| s.len() <= TEXT_MAX).cloned()
}

impl Table {
    /// Number of starts kept.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The parent of `child`, if its start is in the table (see the module documentation).
    pub(crate) fn parent_of(&self, child: &Start) -> Option<&Proc> {
        let host = self.hosts.get(&child.host)?;
        let by_guid = child
            .parent_guid
            .as_ref()
            .and_then(|g| host.by_guid.get(g))
            .and_then(|pid| host.by_pid.get(pid))
            .filter(|p| p.guid.is_some() && p.guid == child.parent_guid);
        let candidate = match by_guid {
            Some(p) => p,
            None => {
                let p = host.by_pid.get(&child.parent_pid?)?;
                // A GUID on both sides that differs: another process with the same id.
                if let (Some(a), Some(b)) = (&p.guid, &child.parent_guid)
                    && a != b
                {
                    return None;
                }
                p
            }
        };
        if candidate.ts > child.ts {
            return None;
        }
        if let (Some(named), Some(image)) = (&child.parent_image, &candidate.image)
            && program(named) != program(image)
        {
            return None;
        }
        Some(candidate)
    }

    /// Learn `start` (a process start with an id; others are ignored).
    pub(crate) fn record(&mut self, start: &Start) {
        let Some(pid) = start.pid else {
            return;
        };
        let entry = Proc {
            pid,
            ts: start.ts,
            seq: self.seq,
            guid: start.guid.clone(),
            image: bounded(&start.image),
            command_line: bounded(&start.command_line),
            user: bounded(&start.user),
        };
        self.seq += 1;
        let host = self.hosts.entry(start.host.clone()).or_default();
        if let Some(old) = host.by_pid.get_mut(&pid)
            && same_process(old, &entry)
        {
            // The same start recorded by Sysmon and by Security: complete the entry.
            let before = old.bytes();
            for (mine, theirs) in [
                (&mut old.guid, entry.guid),
                (&mut old.image, entry.image),
                (&mut old.command_line, entry.command_line),
                (&mut old.user, entry.user),
            ] {
                if mine.is_none() {
                    *mine = theirs;
                }
            }
            if let Some(g) = &old.guid {
                host.by_guid.insert(g.clone(), pid);
            }
            self.bytes = self.bytes + old.bytes() - before;
        } else {
            if let Some(old) = host.by_pid.remove(&pid) {
                if let Some(g) = &old.guid {
                    host.by_guid.remove(g);
                }
                self.order.remove(&(old.ts, old.seq));
                self.bytes -= old.bytes();
            }
            if let Some(g) = &entry.guid {
                host.by_guid.insert(g.clone(), pid);
            }
            self.order
                .insert((entry.ts, entry.seq), (start.host.clone(), pid));
            self.bytes += entry.bytes();
            host.by_pid.insert(pid, entry);
        }
        self.enforce_bounds(&start.host);
    }

    fn enforce_bounds(&mut self, host_name: &str) {
        while let Some(host) = self.hosts.get(host_name)
            && host.by_pid.len() > PER_HOST_MAX
        {
            let oldest = host
                .by_pid
                .values()
                .map(|p| (p.ts, p.seq))
                .min()
                .and_then(|k| self.order.get(&k).cloned());
            let Some((h, pid)) = oldest else {
                break;
            };
            self.forget(&h, pid);
        }
        while self.order.len() > ENTRIES_MAX || self.bytes > BYTES_MAX {
            let Some((_, (h, pid))) = self.order.pop_first() else {
                break;
            };
            self.forget(&h, pid);
        }
    }

    fn forget(&mut self, host_name: &str, pid: u64) {
        let Some(host) = self.hosts.get_mut(host_name) else {
            return;
        };
        if let Some(old) = host.by_pid.remove(&pid) {
            if let Some(g) = &old.guid {
                host.by_guid.remove(g);
            }
            self.order.remove(&(old.ts, old.seq));
            self.bytes -= old.bytes();
        }
        if host.by_pid.is_empty() {
            self.hosts.remove(host_name);
        }
    }
}

/// Whether two records of `pid` describe one start (Sysmon and Security both audit it).
fn same_process(a: &Proc, b: &Proc) -> bool {
    if let (Some(x), Some(y)) = (&a.guid, &b.guid) {
        return x == y;
    }
    (a.ts - b.ts).abs() <= SAME_START_MS
        && match (&a.image, &b.image) {
            (Some(x), Some(y)) => program(x) == program(y),
            _ => true,
        }
}

/// The table as saved with the detector's state: per host, its starts oldest first.
#[derive(Serialize, Deserialize)]
struct Saved {
    seq: u64,
    hosts: Vec<(String, Vec<Proc>)>,
}

impl Serialize for Table {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut hosts: Vec<(String, Vec<Proc>)> = self
            .hosts
            .iter()
            .map(|(name, h)| {
                let mut procs: Vec<Proc> = h.by_pid.values().cloned().collect();
                procs.sort_by_key(|p| (p.ts, p.seq));
                (name.clone(), procs)
            })
            .collect();
        hosts.sort_by(|a, b| a.0.cmp(&b.0));
        Saved {
            seq: self.seq,
            hosts,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Table {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let saved = Saved::deserialize(d)?;
        let mut table = Table {
            seq: saved.seq,
            ..Table::default()
        };
        for (name, procs) in saved.hosts {
            for p in procs {
                // A saved entry is taken as it was; the bounds hold as entries are replayed.
                table.seq = table.seq.max(p.seq + 1);
                let host = table.hosts.entry(name.clone()).or_default();
                // Two saved entries with one id (a hand-edited state): the later stays.
                if let Some(old) = host.by_pid.remove(&p.pid) {
                    if let Some(g) = &old.guid {
                        host.by_guid.remove(g);
                    }
                    table.order.remove(&(old.ts, old.seq));
                    table.bytes -= old.bytes();
                }
                if let Some(g) = &p.guid {
                    host.by_guid.insert(g.clone(), p.pid);
                }
                table.order.insert((p.ts, p.seq), (name.clone(), p.pid));
                table.bytes += p.bytes();
                host.by_pid.insert(p.pid, p);
            }
            table.enforce_bounds(&name);
        }
        Ok(table)
    }
}
