//! What the operator tells us about their hospital: the asset inventory and the staff roster.
//!
//! Why: an alert on `PACS01` by `jsmith` means little until we know PACS01 holds the imaging
//! of the whole hospital and jsmith is a radiographer. Scoring weighs assets by criticality, the
//! grouper resolves addresses to hosts and mail recipients to accounts, and the narrative names
//! people and machines in words. Both files are plain CSV with a header row (or a YAML list of
//! the same fields); unknown columns are ignored (so `address` can be present; `zone` names the inventory row's
//! segmentation zone, see `zones.rs`), and
//! unknown hosts and users still work: class `unknown`, criticality 3.
//!
//! Loading follows "load everything you can, report everything you can't": [`Inventory::load_partial`]
//! returns the good rows plus one [`ContextError`] per bad row; the strict constructors return
//! the first problem.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of machine an inventory row describes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum AssetClass {
    Workstation,
    Server,
    DomainController,
    EprServer,
    Pacs,
    MedicalDevice,
    GuestWifi,
    Network,
    /// A phone or tablet the hospital manages.
    Mobile,
    /// An administrators' machine or jump host: remote sessions everywhere are its job.
    Admin,
    /// A vulnerability scanner: it probes every host and port by design.
    Scanner,
    /// A backup server: it reaches every server's data, in bulk, at night.
    Backup,
    #[default]
    Unknown,
}

impl AssetClass {
    /// Every class, in the order documented for `inventory.csv`.
    pub const ALL: [AssetClass; 13] = [
        AssetClass::Workstation,
        AssetClass::Server,
        AssetClass::DomainController,
        AssetClass::EprServer,
        AssetClass::Pacs,
        AssetClass::MedicalDevice,
        AssetClass::GuestWifi,
        AssetClass::Network,
        AssetClass::Mobile,
        AssetClass::Admin,
        AssetClass::Scanner,
        AssetClass::Backup,
        AssetClass::Unknown,
    ];

    /// The kebab-case name used in the inventory file.
    pub fn as_str(self) -> &'static str {
        match self {
            AssetClass::Workstation => "workstation",
            AssetClass::Server => "server",
            AssetClass::DomainController => "domain-controller",
            AssetClass::EprServer => "epr-server",
            AssetClass::Pacs => "pacs",
            AssetClass::MedicalDevice => "medical-device",
            AssetClass::GuestWifi => "guest-wifi",
            AssetClass::Network => "network",
            AssetClass::Mobile => "mobile",
            AssetClass::Admin => "admin",
            AssetClass::Scanner => "scanner",
            AssetClass::Backup => "backup",
            AssetClass::Unknown => "unknown",
        }
    }

    /// The class in words, for narratives ("domain controller").
    pub fn words(self) -> &'static str {
        match self {
            AssetClass::Workstation => "workstation",
            AssetClass::Server => "server",
            AssetClass::DomainController => "domain controller",
            AssetClass::EprServer => "EPR server",
            AssetClass::Pacs => "PACS server",
            AssetClass::MedicalDevice => "medical device",
            AssetClass::GuestWifi => "guest Wi-Fi device",
            AssetClass::Network => "network device",
            AssetClass::Mobile => "mobile device",
            AssetClass::Admin => "administrators' jump host",
            AssetClass::Scanner => "vulnerability scanner",
            AssetClass::Backup => "backup server",
            AssetClass::Unknown => "host not in the inventory",
        }
    }

    /// Why an attacker on this kind of machine matters in a hospital, in one sentence.
    pub fn why(self) -> &'static str {
        match self {
            AssetClass::Workstation => {
                "Workstation: a foothold from which an attacker reaches clinical systems with the user's rights."
            }
            AssetClass::Server => "Server: shared services many departments depend on.",
            AssetClass::DomainController => {
                "Domain controller: whoever controls it controls every account and computer in the hospital."
            }
            AssetClass::EprServer => {
                "EPR server: the electronic patient record; patient data and care depend on it."
            }
            AssetClass::Pacs => "PACS server: imaging for the whole hospital.",
            AssetClass::MedicalDevice => {
                "Medical device: patient safety may be at stake; it often cannot be patched or scanned."
            }
            AssetClass::GuestWifi => {
                "Guest Wi-Fi: a device the hospital does not manage, which should reach no internal system."
            }
            AssetClass::Network => {
                "Network device: it carries or filters the traffic of many systems."
            }
            AssetClass::Mobile => "Mobile device: it leaves the building and joins other networks.",
            AssetClass::Admin => {
                "Administrators' jump host: it holds the keys to every system it manages."
            }
            AssetClass::Scanner => {
                "Vulnerability scanner: it may reach every host and port; in the wrong hands, a map of every weakness."
            }
            AssetClass::Backup => {
                "Backup server: it reads all the hospital's data, and it is what recovery from ransomware depends on."
            }
            AssetClass::Unknown => {
                "Host not in the inventory: its role and owner are unknown; add it to inventory.csv."
            }
        }
    }
}

impl fmt::Display for AssetClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AssetClass {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        let s = match s.as_str() {
            "network-device" => "network",
            "dc" => "domain-controller",
            "epr" => "epr-server",
            "jump-host" | "jumphost" => "admin",
            "vulnerability-scanner" => "scanner",
            other => other,
        };
        AssetClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}

/// The criticality of hosts and users nobody told us about.
pub const DEFAULT_CRITICALITY: u8 = 3;

/// Where in a file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A line of a CSV file (1-based, the header is line 1).
    Line(u64),
    /// An item of a YAML list (1-based).
    Item(usize),
    /// The file as a whole.
    File,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Item(n) => write!(f, "item {n}"),
            Location::File => f.write_str("file"),
        }
    }
}

/// A problem in an inventory or roster file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// A column has a value we cannot use.
    #[error("`{file}` {at}: bad {column} `{value}` ({hint})")]
    BadValue {
        file: String,
        at: Location,
        column: &'static str,
        value: String,
        hint: &'static str,
    },
    /// A required column is missing from the header or a row.
    #[error("`{file}` {at}: missing {column} (the header needs a `{column}` column)")]
    Missing {
        file: String,
        at: Location,
        column: &'static str,
    },
    /// The file is not CSV or YAML we can read.
    #[error("`{file}` {at}: cannot read: {message}")]
    Syntax {
        file: String,
        at: Location,
        message: String,
    },
    /// The file name says neither CSV nor YAML.
    #[error("`{file}`: unknown file type (expected .csv, .yaml or .yml)")]
    UnknownFormat { file: String },
}

/// Rows as text by column name, with where each came from: the common shape of CSV and YAML.
type Rows = Vec<(Location, HashMap<String, String>)>;

fn csv_rows(file: &str, text: &str) -> Result<Rows, ContextError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let syntax = |e: csv::Error| ContextError::Syntax {
        file: file.to_string(),
        at: e
            .position()
            .map_or(Location::File, |p| Location::Line(p.line())),
        message: e.to_string(),
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(syntax)?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(syntax)?;
        let at = Location::Line(record.position().map_or(0, |p| p.line()));
        let map = header
            .iter()
            .zip(record.iter())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        rows.push((at, map));
    }
    Ok(rows)
}

fn yaml_rows(file: &str, text: &str) -> Result<Rows, ContextError> {
    let items: Vec<HashMap<String, yaml_serde::Value>> =
        yaml_serde::from_str(text).map_err(|e| ContextError::Syntax {
            file: file.to_string(),
            at: e
                .location()
                .map_or(Location::File, |l| Location::Line(l.line() as u64)),
            message: e.to_string(),
        })?;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let map = item
                .into_iter()
                .filter_map(|(k, v)| {
                    let text = match v {
                        yaml_serde::Value::String(s) => s,
                        yaml_serde::Value::Bool(b) => b.to_string(),
                        yaml_serde::Value::Number(n) => n.to_string(),
                        _ => return None,
                    };
                    let text = text.trim().to_string();
                    (!text.is_empty()).then(|| (k.to_ascii_lowercase(), text))
                })
                .collect();
            (Location::Item(i + 1), map)
        })
        .collect())
}

#[derive(Clone, Copy)]
enum Format {
    Csv,
    Yaml,
}

fn format_of(path_name: &str) -> Result<Format, ContextError> {
    let lower = path_name.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        Ok(Format::Csv)
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        Ok(Format::Yaml)
    } else {
        Err(ContextError::UnknownFormat {
            file: path_name.to_string(),
        })
    }
}

fn rows(file: &str, text: &str, format: Format) -> Result<Rows, ContextError> {
    match format {
        Format::Csv => csv_rows(file, text),
        Format::Yaml => yaml_rows(file, text),
    }
}

/// Parse each row with `row`, keeping the good ones and the problems.
fn parse_all<T>(
    file: &str,
    text: &str,
    format: Format,
    row: impl Fn(&str, Location, &HashMap<String, String>) -> Result<T, ContextError>,
) -> (Vec<T>, Vec<ContextError>) {
    match rows(file, text, format) {
        Err(e) => (Vec::new(), vec![e]),
        Ok(rows) => {
            let (mut good, mut bad) = (Vec::new(), Vec::new());
            for (at, map) in rows {
                match row(file, at, &map) {
                    Ok(t) => good.push(t),
                    Err(e) => bad.push(e),
                }
            }
            (good, bad)
        }
    }
}

fn first_error<T>((value, errors): (T, Vec<ContextError>)) -> Result<T, ContextError> {
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(value),
    }
}

fn required<'a>(
    file: &str,
    at: &Location,
    map: &'a HashMap<String, String>,
    column: &'static str,
) -> Result<&'a str, ContextError> {
    map.get(column)
        .map(String::as_str)
        .ok_or_else(|| ContextError::Missing {
            file: file.to_string(),
            at: at.clone(),
            column,
        })
}

/// Everything the operator told us; [`Default`] is the empty context, where every host is
/// `unknown` with criticality 3 and nobody is in the roster.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub inventory: Inventory,
    pub roster: Roster,
    /// The segmentation policy (`zones.csv`); `None` without the file (no segmentation
    /// findings then).
    pub zones: Option<ZonePolicy>,
}

/// The files of a context folder, in the order they are read; each is optional, in CSV or YAML.
pub const CONTEXT_FILES: &[&str] = &["inventory", "roster", "zones"];

impl Context {
    /// Read a context folder from the `(file name, text)` pairs the caller read from it
    /// (`inventory.csv`, `roster.yaml`, `zones.csv`...; other names are not this module's).
    /// Bad rows are reported with their file and line and skipped; the rest loads.
    pub fn from_files(files: &[(String, String)]) -> (Context, Vec<ContextError>) {
        let mut ctx = Context::default();
        let mut problems = Vec::new();
        for (name, text) in files {
            let stem = std::path::Path::new(name)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            match stem.as_str() {
                "inventory" => {
                    let (inv, p) = Inventory::load_partial(name, text);
                    ctx.inventory = inv;
                    problems.extend(p);
                }
                "roster" => {
                    let (roster, p) = Roster::load_partial(name, text);
                    ctx.roster = roster;
                    problems.extend(p);
                }
                "zones" => {
                    let (zones, p) = ZonePolicy::load_partial(name, text);
                    ctx.zones = Some(zones);
                    problems.extend(p);
                }
                _ => {}
            }
        }
        (ctx, problems)
    }
}

mod encounters;
mod inventory;
mod level;
mod patients;
mod roster;
mod zones;

pub use encounters::{Encounter, Encounters, department_key};
pub use inventory::{Asset, AssetMatch, Inventory};
pub use level::{contextual_level, is_account_administration};
pub use patients::{Keyed, PatientRecord, Patients, PrivacyKey, StaffKey, StaffKeys};
pub use roster::{Person, Roster, account_name};
pub use zones::{INTERNET, PortRange, Ports, ZonePolicy, ZoneRule};

#[cfg(test)]
mod tests;
