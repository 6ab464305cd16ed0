//! A seeded, deterministic generator of a hospital's week of logs with three attack stories in
//! it, for `wardwatch demo`, tests and benchmarks.
//!
//! # What it does
//! [`generate`] builds a [`Hospital`] from the seed (departments, about 300 workstations,
//! servers, medical devices, guest Wi-Fi tablets, about 400 staff) and a week of what its
//! logs would hold: benign background with a daily and weekly rhythm (`background.rs`) and
//! three attack stories at fixed moments (`stories.rs`): a phishing mail that ends in deleted
//! shadow copies on the PACS server, a password spray from the guest Wi-Fi, and an
//! administrator account creating a local administrator at night. Every [`Record`] is either a
//! JSON document as `POST /_bulk` takes it (Windows events in `evtx_dump` layout, Suricata EVE,
//! mail-gateway JSON) or an RFC 5424 syslog line, and says which story it belongs to.
//! [`write_files`] writes the same week as files `wardwatch hunt DIR` reads.
//!
//! The same [`DemoConfig`] always gives the same records, byte for byte: one `fastrand` RNG per
//! part, seeded from the config, and no clocks, hash maps or threads.
//!
//! # Why it matters
//! A demo, the end-to-end tests and the benchmarks need realistic volume and realistic attacks
//! with known ground truth; real hospital logs cannot be shared.
//!
//! **Architecture Invariant:** this crate depends on `wardwatch-core` only; it does not know
//! the decoders or the detector (its tests do).

mod background;
pub mod ehr;
mod emit;
mod hospital;
mod mail;
pub mod mmdb;
pub mod network;
mod security;
mod stories;

use std::fmt;
use std::io::Write;
use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

pub use hospital::{Class, Hospital, Host, User};
pub use stories::StoryInfo;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Seed of every random choice; the same seed gives the same week. Default 2026.
    pub seed: u64,
    /// Start of the period: Monday 00:00 UTC of the week. Default 2026-11-23T00:00:00Z.
    pub start: Timestamp,
    /// Length of the period in days. Default 7 (stories outside the period are left out).
    pub days: u32,
    /// Volume of the background relative to the default (1.0, about 170,000 records a week).
    pub scale: f64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 2026,
            start: "2026-11-23T00:00:00Z".parse().expect("valid timestamp"),
            days: 7,
            scale: 1.0,
        }
    }
}

/// One generated record, in the form a feed takes it.
///
/// Documents are kept as compact JSON text, not as `serde_json::Value`s: a week of them as
/// value trees took about 1 GB, as text about a sixth of that.
#[derive(Debug, Clone, PartialEq)]
pub enum Feed {
    /// A document for `POST /_bulk` as one line of JSON, and which source it imitates.
    Bulk(String, Sink),
    /// One RFC 5424 syslog line, without a line end.
    Syslog(String),
}

/// A generated record: when it happened, what it is, and which story (if any) it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub time: Timestamp,
    pub feed: Feed,
    pub story: Option<Story>,
}

/// The attack stories of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Story {
    /// Tuesday morning: phishing mail → macro → PowerShell → lsass dump → PsExec to PACS01 →
    /// shadow copies deleted.
    Phishing,
    /// Thursday night: password spray from a guest Wi-Fi tablet, then use of the guessed account.
    PasswordSpray,
    /// Saturday night: a new local administrator account on the EPR server.
    NightAdmin,
}

impl Story {
    /// Every story, in the order they happen.
    pub const ALL: [Story; 3] = [Story::Phishing, Story::PasswordSpray, Story::NightAdmin];
}

impl fmt::Display for Story {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Story::Phishing => "phishing",
            Story::PasswordSpray => "password-spray",
            Story::NightAdmin => "night-admin",
        })
    }
}

/// Which file of [`write_files`] a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// `windows.jsonl`
    Windows,
    /// `syslog.log`
    Syslog,
    /// `eve.json`
    Eve,
    /// `mail.jsonl`
    Mail,
    /// `zeek.json`: the network sensor's Zeek logs (JSON, `_path` naming the log).
    Zeek,
}

impl Record {
    /// The file (and kind of source) this record belongs to.
    pub fn sink(&self) -> Sink {
        match &self.feed {
            Feed::Syslog(_) => Sink::Syslog,
            Feed::Bulk(_, sink) => *sink,
        }
    }

    /// The record as one line of its file, without the line end.
    pub fn line(&self) -> String {
        match &self.feed {
            Feed::Bulk(s, _) | Feed::Syslog(s) => s.clone(),
        }
    }
}

/// Generate the hospital and its week, sorted by time (records at the same instant keep the
/// order they were made in). Deterministic for a config.
pub fn generate(cfg: &DemoConfig) -> (Hospital, Vec<Record>) {
    let (hospital, records, _) = generate_with_stories(cfg);
    (hospital, records)
}

/// [`generate`], also describing the stories that fall inside the period.
pub fn generate_with_stories(cfg: &DemoConfig) -> (Hospital, Vec<Record>, Vec<StoryInfo>) {
    let hospital = Hospital::new(cfg.seed);
    let mut out = emit::Out::new();
    let mut rng = fastrand::Rng::with_seed(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xBAC6);
    background::generate(&hospital, cfg, &mut rng, &mut out);
    let mut story_rng = fastrand::Rng::with_seed(cfg.seed ^ 0x0570_71E5);
    let infos = stories::generate(&hospital, cfg, &mut story_rng, &mut out);
    out.story = None;
    out.zeek(network::demo_background(cfg, &hospital));
    let end = cfg.start + SignedDuration::from_hours(24 * i64::from(cfg.days));
    let mut records = out.records;
    records.retain(|r| r.time >= cfg.start && r.time < end);
    records.sort_by_key(|r| r.time);
    (hospital, records, infos)
}

/// What [`write_files`] wrote.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub records: usize,
    pub windows: usize,
    pub syslog: usize,
    pub eve: usize,
    pub mail: usize,
    pub zeek: usize,
    pub hosts: usize,
    pub users: usize,
    pub stories: Vec<StoryInfo>,
}

/// Write the week into `dir` (created if missing): `windows.jsonl` (Windows events in
/// `evtx_dump` JSON layout), `syslog.log` (RFC 5424), `eve.json` (Suricata EVE),
/// `mail.jsonl` (mail-gateway deliveries), `zeek.json` (the network sensor), `inventory.csv`, `roster.csv`, and `stories.json`
/// (one line: `{"generator", "seed", "stories": [StoryInfo..]}`).
pub fn write_files(cfg: &DemoConfig, dir: &Path) -> std::io::Result<Summary> {
    std::fs::create_dir_all(dir)?;
    let (hospital, records, stories) = generate_with_stories(cfg);
    let open = |name: &str| -> std::io::Result<std::io::BufWriter<std::fs::File>> {
        Ok(std::io::BufWriter::new(std::fs::File::create(
            dir.join(name),
        )?))
    };
    let mut windows = open("windows.jsonl")?;
    let mut syslog = open("syslog.log")?;
    let mut eve = open("eve.json")?;
    let mut mail = open("mail.jsonl")?;
    let mut zeek = open("zeek.json")?;
    let mut summary = Summary {
        records: records.len(),
        hosts: hospital.hosts.len(),
        users: hospital.users.len(),
        ..Summary::default()
    };
    for r in &records {
        let (file, n) = match r.sink() {
            Sink::Windows => (&mut windows, &mut summary.windows),
            Sink::Syslog => (&mut syslog, &mut summary.syslog),
            Sink::Eve => (&mut eve, &mut summary.eve),
            Sink::Mail => (&mut mail, &mut summary.mail),
            Sink::Zeek => (&mut zeek, &mut summary.zeek),
        };
        *n += 1;
        writeln!(file, "{}", r.line())?;
    }
    for mut f in [windows, syslog, eve, mail, zeek] {
        f.flush()?;
    }
    std::fs::write(dir.join("inventory.csv"), hospital.inventory_csv())?;
    std::fs::write(dir.join("roster.csv"), hospital.roster_csv())?;
    // One line, one object: `wardwatch hunt DIR` reads every file that is not a sidecar, and
    // a single JSON object decodes quietly where pretty-printed JSON would warn line by line.
    let doc =
        serde_json::json!({"generator": "wardwatch-demo", "seed": cfg.seed, "stories": stories});
    std::fs::write(dir.join("stories.json"), doc.to_string() + "\n")?;
    summary.stories = stories;
    Ok(summary)
}
