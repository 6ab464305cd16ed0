//! What the identity analytics know of people and machines: who is privileged, on call or a
//! service account, which department a person and a machine belong to, which machines are
//! admin hosts, the hospital's working hours, and where addresses are (GeoIP).
//!
//! Why plain data handed in: the analytics are pure and must not read files or depend on the
//! incidents crate that parses the context folder; whoever wires them (`hunt --context`,
//! `serve`'s `incidents.context` and `[identity]` settings) builds a [`Directory`] and hands it
//! over, as the network analytics get their `Topology`. Without one nobody is privileged or a
//! service account by the roster (naming conventions and 4672 still say so), every machine is
//! of unknown class, nothing is off-hours (the hospital's working day and time zone are the
//! operator's to say: a guessed one made every evening logon of every local administrator an
//! alert on real logs), and only the places Entra and Okta report are known.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;

use crate::analytics::network::NetClass;
use crate::geoip::GeoIp;

/// One person (or service) from the roster, as the identity analytics read them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Person {
    pub department: Option<String>,
    /// Holds administrative rights (the roster's `privileged` column, or an administrator role).
    pub privileged: bool,
    /// A service account, not a person.
    pub service: bool,
    /// On call: working outside office hours is their job.
    pub on_call: bool,
}

impl Person {
    /// A person from a roster row: `privileged` as the roster's column says (a role's words
    /// are not enough: "admin-staff" is the clerical office, not IT); `service` when the role
    /// names a service account; `on_call` when the role says on call (`on-call admin`,
    /// `oncall`, `standby`, Dutch `piket`, German `Bereitschaft`).
    pub fn from_roster(department: Option<&str>, role: Option<&str>, privileged: bool) -> Person {
        let role = role.unwrap_or("").to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| role.contains(w));
        Person {
            department: department
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            privileged,
            service: has(&["service account", "service-account", "serviceaccount"])
                || role.trim() == "service",
            on_call: has(&[
                "on-call",
                "on call",
                "oncall",
                "standby",
                "piket",
                "bereitschaft",
            ]),
        }
    }
}

/// A machine, as the inventory describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Machine {
    pub class: NetClass,
    pub department: Option<String>,
}

/// When the hospital's IT staff normally work.
#[derive(Debug, Clone)]
pub struct WorkHours {
    pub tz: TimeZone,
    /// First hour of the working day (0–23).
    pub start: u8,
    /// The hour the working day ends (1–24; 19 = until 19:00).
    pub end: u8,
    /// Saturdays and Sundays are outside working hours.
    pub weekdays_only: bool,
}

impl Default for WorkHours {
    fn default() -> Self {
        WorkHours {
            tz: TimeZone::UTC,
            start: 7,
            end: 19,
            weekdays_only: true,
        }
    }
}

/// The naming conventions of service accounts when the operator gives none: `svc_backup`,
/// `svc-sql`, `sa_epr`, `srv_pacs`, `sql_svc`, `epr-service`.
pub const DEFAULT_SERVICE_PATTERNS: &[&str] = &[
    "svc_*",
    "svc-*",
    "svc.*",
    "sa_*",
    "sa-*",
    "srv_*",
    "srv-*",
    "*_svc",
    "*-svc",
    "*_service",
    "*-service",
];

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Directory {
    people: HashMap<String, Person>,
    hosts: HashMap<String, Machine>,
    /// Addresses and subnets, longest prefix first.
    nets: Vec<(IpNet, Machine)>,
    service_patterns: Vec<String>,
    /// The working day, when the operator gave one.
    hours: Option<WorkHours>,
    geoip: Option<Arc<GeoIp>>,
}

impl Default for Directory {
    fn default() -> Self {
        Directory {
            people: HashMap::new(),
            hosts: HashMap::new(),
            nets: Vec::new(),
            service_patterns: DEFAULT_SERVICE_PATTERNS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            hours: None,
            geoip: None,
        }
    }
}

/// `HOSP\Alice`, `alice@hosp.example` → `alice`.
fn account(user: &str) -> String {
    let u = user.trim();
    let u = u.rsplit('\\').next().unwrap_or(u);
    u.split('@').next().unwrap_or(u).to_lowercase()
}

/// `WS-ICU-07.hosp.local` → `ws-icu-07`.
fn short(host: &str) -> String {
    let h = host.trim().to_lowercase();
    match h.parse::<IpAddr>() {
        Ok(_) => h,
        Err(_) => h.split('.').next().unwrap_or(&h).to_string(),
    }
}

/// `*` at either end or both: prefix, suffix or substring; otherwise the whole name.
fn glob(pattern: &str, name: &str) -> bool {
    let p = pattern.trim().to_lowercase();
    match (p.strip_prefix('*'), p.strip_suffix('*')) {
        (Some(rest), Some(_)) if rest.len() > 1 => name.contains(&rest[..rest.len() - 1]),
        (Some(suffix), None) => name.ends_with(suffix),
        (None, Some(prefix)) => name.starts_with(prefix),
        _ => name == p,
    }
}

impl Directory {
    /// Add a person under their account name (any spelling: `HOSP\jsmith`, `jsmith@...`).
    pub fn add_person(&mut self, user: &str, person: Person) {
        self.people.entry(account(user)).or_insert(person);
    }

    /// Add a machine by name (matched with or without its domain).
    pub fn add_host(&mut self, name: &str, machine: Machine) {
        self.hosts.entry(short(name)).or_insert(machine);
    }

    /// Add a machine by address or subnet.
    pub fn add_network(&mut self, net: IpNet, machine: Machine) {
        self.nets.push((net, machine));
        self.nets
            .sort_by_key(|(n, _)| std::cmp::Reverse(n.prefix_len()));
    }

    /// Replace the service-account naming conventions (`svc_*`, `*_svc`; `*` at either end).
    pub fn set_service_patterns(&mut self, patterns: Vec<String>) {
        self.service_patterns = patterns;
    }

    pub fn set_work_hours(&mut self, hours: WorkHours) {
        self.hours = Some(hours);
    }

    pub fn set_geoip(&mut self, geoip: Arc<GeoIp>) {
        self.geoip = Some(geoip);
    }

    pub fn person(&self, user: &str) -> Option<&Person> {
        self.people.get(&account(user))
    }

    /// A service account: by the roster, or by the naming conventions.
    pub fn is_service(&self, user: &str) -> bool {
        let name = account(user);
        self.people.get(&name).is_some_and(|p| p.service)
            || self.service_patterns.iter().any(|p| glob(p, &name))
    }

    /// The machine a name or an address is, if the inventory names it.
    pub fn machine(&self, name_or_ip: &str) -> Option<&Machine> {
        let key = short(name_or_ip);
        if let Some(m) = self.hosts.get(&key) {
            return Some(m);
        }
        let ip: IpAddr = name_or_ip.trim().parse().ok()?;
        self.nets
            .iter()
            .find(|(n, _)| n.contains(&ip))
            .map(|(_, m)| m)
    }

    /// The class of a machine by name or address (unknown when the inventory does not say).
    pub fn class(&self, name_or_ip: &str) -> NetClass {
        self.machine(name_or_ip)
            .map_or(NetClass::Unknown, |m| m.class)
    }

    /// Whether `t` is outside working hours, and the local time in words when it is
    /// (`Sunday 02:14 Europe/Amsterdam`); never when no working day was given.
    pub fn off_hours(&self, t: Timestamp) -> Option<String> {
        let hours = self.hours.as_ref()?;
        let z = t.to_zoned(hours.tz.clone());
        let weekend = matches!(z.weekday(), Weekday::Saturday | Weekday::Sunday);
        let h = z.hour() as u8;
        let outside = (hours.weekdays_only && weekend) || h < hours.start || h >= hours.end;
        outside.then(|| {
            format!(
                "{:?} {:02}:{:02} {}",
                z.weekday(),
                z.hour(),
                z.minute(),
                hours.tz.iana_name().unwrap_or("UTC")
            )
        })
    }

    /// Where an address is, by the GeoIP database, when there is one.
    pub fn locate(&self, ip: &str) -> Option<crate::geoip::Place> {
        self.geoip.as_ref()?.locate(ip)
    }

    pub fn has_geoip(&self) -> bool {
        self.geoip.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_roles_and_naming_conventions() {
        let admin = Person::from_roster(Some("ICT"), Some("On-call admin"), true);
        assert!(admin.privileged && admin.on_call && !admin.service);
        let clerk = Person::from_roster(Some("Administration"), Some("admin-staff"), false);
        assert!(!clerk.privileged, "the clerical office is not IT");
        let svc = Person::from_roster(None, Some("Service account"), false);
        assert!(svc.service && !svc.privileged);
        let nurse = Person::from_roster(Some("ICU"), Some("nurse"), false);
        assert_eq!(
            nurse,
            Person {
                department: Some("ICU".into()),
                ..Person::default()
            }
        );
        let mut d = Directory::default();
        d.add_person("HOSP\\sql-agent", svc);
        assert!(d.is_service("sql-agent@hosp.local"));
        assert!(d.is_service("svc_backup") && d.is_service("EPR_SVC"));
        assert!(!d.is_service("jsmith") && !d.is_service("svcmanager"));
        d.set_service_patterns(vec!["*batch*".into()]);
        assert!(d.is_service("nightbatchrunner") && !d.is_service("svc_backup"));
    }

    #[test]
    fn machines_by_name_address_and_subnet() {
        let mut d = Directory::default();
        let ws = |dep: &str| Machine {
            class: NetClass::Workstation,
            department: Some(dep.into()),
        };
        d.add_host("WS-ICU-07.hosp.local", ws("ICU"));
        d.add_network("10.20.0.0/16".parse().unwrap(), ws("Radiology"));
        d.add_network(
            "10.20.9.9/32".parse().unwrap(),
            Machine {
                class: NetClass::Admin,
                department: None,
            },
        );
        assert_eq!(d.class("ws-icu-07"), NetClass::Workstation);
        assert_eq!(
            d.machine("WS-ICU-07").unwrap().department.as_deref(),
            Some("ICU")
        );
        assert_eq!(d.class("10.20.9.9"), NetClass::Admin, "most specific wins");
        assert_eq!(d.class("10.20.1.1"), NetClass::Workstation);
        assert_eq!(d.class("10.99.1.1"), NetClass::Unknown);
    }

    #[test]
    fn working_hours_in_the_hospitals_time_zone() {
        let mut d = Directory::default();
        let night = Timestamp::from_second(1_717_396_200 - 3 * 3600).unwrap();
        assert_eq!(
            d.off_hours(night),
            None,
            "no working day given: never off-hours"
        );
        d.set_work_hours(WorkHours {
            tz: TimeZone::fixed(jiff::tz::offset(1)),
            start: 7,
            end: 19,
            weekdays_only: true,
        });
        // Monday 2024-06-03 06:30 UTC = 07:30 at +01.
        let monday = Timestamp::from_second(1_717_396_200).unwrap();
        assert_eq!(d.off_hours(monday), None);
        assert!(d.off_hours(night).unwrap().starts_with("Monday 04:30"));
        let sunday = Timestamp::from_second(1_717_396_200 - 24 * 3600 + 4 * 3600).unwrap();
        assert!(d.off_hours(sunday).unwrap().starts_with("Sunday"));
    }
}
