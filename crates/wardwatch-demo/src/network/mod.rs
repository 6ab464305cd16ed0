//! A seeded week of a hospital's network as its Zeek sensor logs it, with planted cases of
//! every network analytic and the benign look-alikes that must stay quiet.
//!
//! # What it does
//! [`generate`] takes the demo [`Hospital`] (its workstations, servers, domain controllers,
//! medical devices and guest tablets keep their addresses) and adds what a network sensor
//! sees: a [`Site`] with a vulnerability scanner, a backup server and the administrators' jump
//! host, zones and a segmentation policy ([`Site::inventory_csv`], [`Site::zones_csv`]); a
//! background with a daily and weekly rhythm (DNS, browsing, file shares, logons, update
//! checks, antivirus lookups, HL7 and DICOM from the medical devices, DHCP, replication
//! between the domain controllers); and planted cases ([`Planted`]): horizontal, vertical and
//! low-and-slow scans, brute force, password spraying, lateral movement and a chain, DCSync,
//! segmentation breaches, beaconing, DNS tunnelling, an NXDOMAIN burst, a large transfer out
//! at night and medical devices leaving their baseline. Sizes, counts, timings, targets,
//! ports, domains and jitter all vary with the seed, so nothing is tuned to one sample.
//!
//! Every record is a line of Zeek's JSON log (see `zeek.rs`), in time order, saying which
//! planted case (if any) it belongs to.
//!
//! # Why it matters
//! Recall and false alerts per analytic need ground truth at the scale of a week, and real
//! hospital captures cannot be shared. Same seed, same bytes: no clocks, maps or threads.

mod background;
mod cases;
pub mod eve;
mod zeek;

use jiff::{SignedDuration, Timestamp};

use crate::hospital::{Class, Hospital};
pub use zeek::ZeekLine;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    pub seed: u64,
    /// Monday 00:00 UTC of the week.
    pub start: Timestamp,
    pub days: u32,
    /// Background volume relative to the default (1.0: about 40 records per workstation and
    /// working hour).
    pub scale: f64,
    /// Whether to plant the cases (off: background and look-alikes only).
    pub plant: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            seed: 2026,
            start: "2026-11-23T00:00:00Z".parse().expect("valid timestamp"),
            days: 7,
            scale: 1.0,
            plant: true,
        }
    }
}

/// The machines the sensor adds to the demo hospital, in the `admin` zone: the vulnerability
/// scanner, the backup server and the administrators' jump host (address, name, class).
pub const ADMIN_HOSTS: [(&str, &str, &str); 3] = [
    ("10.10.9.5", "NESSUS01", "scanner"),
    ("10.10.9.6", "BACKUP01", "backup"),
    ("10.10.9.7", "JUMP01", "jump-host"),
];

/// The pump that joins mid-week (address, name): the ICU's pumps are `PUMP-ICU-01`..`24` in
/// `10.30.1.0/24`.
const NEWCOMER: (&str, &str) = ("10.30.1.99", "PUMP-ICU-25");

/// One machine of the site, as the inventory names it.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteHost {
    pub ip: String,
    pub name: String,
    /// Inventory class (`workstation`, `scanner`, `backup`, `admin`, `medical-device`...).
    pub class: &'static str,
    pub zone: &'static str,
    pub mac: String,
}

/// The site's machines by role.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub hosts: Vec<SiteHost>,
    pub resolver: String,
    pub dcs: Vec<String>,
    pub servers: Vec<String>,
    pub workstations: Vec<String>,
    pub devices: Vec<String>,
    pub guests: Vec<String>,
    /// An infusion pump that joins in the middle of the week (its address; in the inventory,
    /// not among `devices`): it talks like the other pumps, so it must raise nothing.
    pub newcomer: String,
    pub scanner: String,
    pub backup: String,
    pub jump: String,
    /// The HL7 interface engine and the PACS (medical devices talk to these).
    pub hl7: String,
    pub pacs: String,
}

fn zone_of(class: Class) -> &'static str {
    match class {
        Class::Workstation => "clinical",
        Class::MedicalDevice => "iomt",
        Class::GuestWifi => "guest",
        Class::Network => "network",
        _ => "servers",
    }
}

impl Site {
    pub fn of(hospital: &Hospital) -> Site {
        let mut hosts: Vec<SiteHost> = hospital
            .hosts
            .iter()
            .map(|h| SiteHost {
                ip: h.ip.clone(),
                name: h.name.clone(),
                class: h.class.as_str(),
                zone: zone_of(h.class),
                mac: mac_of(&h.ip),
            })
            .collect();
        hosts.push(SiteHost {
            ip: NEWCOMER.0.into(),
            name: NEWCOMER.1.into(),
            class: "medical-device",
            zone: "iomt",
            mac: mac_of(NEWCOMER.0),
        });
        for (ip, name, class) in ADMIN_HOSTS {
            hosts.push(SiteHost {
                ip: ip.into(),
                name: name.into(),
                class,
                zone: "admin",
                mac: mac_of(ip),
            });
        }
        let by = |c: Class| -> Vec<String> {
            hospital
                .hosts
                .iter()
                .filter(|h| h.class == c)
                .map(|h| h.ip.clone())
                .collect()
        };
        let servers: Vec<String> = hospital
            .hosts
            .iter()
            .filter(|h| matches!(h.class, Class::Server | Class::EprServer | Class::Pacs))
            .map(|h| h.ip.clone())
            .collect();
        let ip_of = |name: &str, fallback: &str| {
            hospital
                .host(name)
                .map_or(fallback.to_string(), |h| h.ip.clone())
        };
        let dcs = by(Class::DomainController);
        Site {
            resolver: dcs.first().cloned().unwrap_or_else(|| "10.10.0.10".into()),
            dcs,
            servers,
            workstations: by(Class::Workstation),
            devices: by(Class::MedicalDevice),
            guests: by(Class::GuestWifi),
            newcomer: NEWCOMER.0.into(),
            scanner: "10.10.9.5".into(),
            backup: "10.10.9.6".into(),
            jump: "10.10.9.7".into(),
            hl7: ip_of("LAB01", "10.10.0.60"),
            pacs: ip_of("PACS01", "10.10.0.30"),
            hosts,
        }
    }

    /// `inventory.csv` for the context folder: one row per address, with class and zone.
    pub fn inventory_csv(&self) -> String {
        let mut out = String::from("match,class,criticality,zone,name\n");
        for h in &self.hosts {
            let crit = match h.class {
                "medical-device" | "domain-controller" | "pacs" | "epr-server" => 5,
                "workstation" | "guest-wifi" => 2,
                _ => 4,
            };
            out.push_str(&format!(
                "{},{},{crit},{},{}\n",
                h.ip, h.class, h.zone, h.name
            ));
        }
        out
    }

    /// `zones.csv`: which zone may reach which, on which ports.
    pub fn zones_csv(&self) -> String {
        "from_zone,to_zone,ports,note\n\
clinical,servers,53/udp;88;123/udp;135;389;443;445;636;3268;9100;49152-65535,clinical workstations to the server room\n\
clinical,internet,80;443,browsing through the firewall\n\
clinical,iomt,443,device web consoles\n\
servers,internet,25;53;80;443,\n\
servers,iomt,104;2575;11112,PACS and interface engine reach the modalities\n\
iomt,servers,53/udp;104;123/udp;2575;11112,HL7 and DICOM to the interface engine and PACS\n\
guest,internet,*,guest Wi-Fi goes to the internet only\n\
admin,*,*,scanner backup and jump host reach everything\n\
*,servers,53/udp;67/udp;123/udp,DNS DHCP NTP\n"
            .to_string()
    }
}

/// A stable locally administered MAC address for `ip`.
fn mac_of(ip: &str) -> String {
    let h = ip.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let b = h.to_be_bytes();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

/// A planted case: which analytic should find it, who did it, and when it began.
#[derive(Debug, Clone, PartialEq)]
pub struct Planted {
    /// The rule id of the analytic that should raise it (`analytic-network-beaconing`).
    pub analytic: &'static str,
    /// The acting address (the alert names it first).
    pub source: String,
    /// The main target, when there is one.
    pub target: Option<String>,
    pub start: Timestamp,
    /// Other addresses that took part (a chain's hops), whose own alerts are explained.
    pub involved: Vec<String>,
}

/// A benign look-alike: who, and which analytics it resembles (their alerts about it must stay
/// below medium).
#[derive(Debug, Clone, PartialEq)]
pub struct LookAlike {
    pub source: String,
    pub what: &'static str,
    pub resembles: &'static [&'static str],
}

/// The generated week.
#[derive(Debug, Clone)]
pub struct NetWeek {
    pub site: Site,
    /// Zeek JSON lines in time order, with the index of the planted case they belong to.
    pub lines: Vec<(ZeekLine, Option<usize>)>,
    pub planted: Vec<Planted>,
    pub look_alikes: Vec<LookAlike>,
}

impl NetWeek {
    /// The week as a Suricata sensor logs it (EVE JSON lines, in time order), with the planted
    /// case each belongs to: see [`eve`].
    pub fn eve_lines(&self) -> Vec<(ZeekLine, Option<usize>)> {
        self.lines
            .iter()
            .flat_map(|(l, case)| eve::of(l).into_iter().map(move |e| (e, *case)))
            .collect()
    }
}

/// Generate the week (deterministic for a config and hospital).
pub fn generate(cfg: &NetConfig, hospital: &Hospital) -> NetWeek {
    let site = Site::of(hospital);
    let mut w = zeek::Writer::default();
    let mut rng = fastrand::Rng::with_seed(cfg.seed.wrapping_mul(0xA076_1D64_78BD_642F) ^ 0x2E7);
    let look_alikes = background::generate(cfg, &site, &mut rng, &mut w);
    let mut planted = Vec::new();
    if cfg.plant {
        let mut case_rng = fastrand::Rng::with_seed(cfg.seed ^ 0x000C_45E5);
        planted = cases::generate(cfg, &site, &mut case_rng, &mut w);
    }
    let end = cfg.start + SignedDuration::from_hours(24 * i64::from(cfg.days));
    let mut lines = w.lines;
    lines.retain(|(l, _)| l.time >= cfg.start && l.time < end);
    lines.sort_by_key(|(l, _)| l.time);
    NetWeek {
        site,
        lines,
        planted,
        look_alikes,
    }
}

/// The demo week's network volume relative to its own background scale (1.0 here would be
/// some 700,000 Zeek records a week, four times the rest of the demo together).
const DEMO_SCALE: f64 = 0.05;

/// The network background of the demo week (`wardwatch demo`): the sensor's view of the same
/// hospital, look-alikes included, nothing planted (the demo's stories bring their own).
pub(crate) fn demo_background(cfg: &crate::DemoConfig, hospital: &Hospital) -> Vec<ZeekLine> {
    let net = NetConfig {
        seed: cfg.seed,
        start: cfg.start,
        days: cfg.days,
        scale: cfg.scale * DEMO_SCALE,
        plant: false,
    };
    generate(&net, hospital)
        .lines
        .into_iter()
        .map(|(l, _)| l)
        .collect()
}

/// PsExec from `a` to `b` (named `name`) at `t` as the sensor sees it: an SMB session,
/// `\\name\ADMIN$` mapped, a service created and started over svcctl.
pub(crate) fn psexec(t: Timestamp, a: &str, b: &str, name: &str, uid_base: u64) -> Vec<ZeekLine> {
    let mut w = zeek::Writer::with_uid_base(uid_base);
    cases::hop_to(&mut w, a, b, name, 0.0, 0, t);
    w.lines.into_iter().map(|(l, _)| l).collect()
}

/// `start` plus `secs` (fractions kept to the microsecond).
fn at(start: Timestamp, secs: f64) -> Timestamp {
    start + SignedDuration::from_micros((secs * 1e6) as i64)
}
