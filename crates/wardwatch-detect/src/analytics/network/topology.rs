//! What the network analytics know of the hospital: each address's role (class and zone, from
//! the operator's inventory) and the zone policy (which zone may reach which, on which ports).
//!
//! Why here and as plain data: the analytics are pure and must not read files or depend on the
//! incidents crate that parses the context folder; whoever wires them (`hunt`, `serve`) turns
//! the parsed inventory and `zones.csv` into a [`Topology`] and hands it over. Without one every
//! address is of unknown class and no policy applies.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

/// The role of a machine, as far as network behaviour goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum NetClass {
    Workstation,
    Server,
    DomainController,
    MedicalDevice,
    GuestWifi,
    /// A vulnerability scanner: fans out to every host and port by design.
    Scanner,
    /// A backup server: reaches every server's shares, in bulk, at night.
    Backup,
    /// An administrators' jump host: remote sessions to many machines are its job.
    Admin,
    Network,
    #[default]
    Unknown,
}

impl NetClass {
    /// The inventory's class names (`scanner`, `jump-host`...).
    pub fn from_name(name: &str) -> NetClass {
        match name.trim().to_ascii_lowercase().as_str() {
            "workstation" | "mobile" => NetClass::Workstation,
            "server" | "epr-server" | "pacs" => NetClass::Server,
            "domain-controller" => NetClass::DomainController,
            "medical-device" => NetClass::MedicalDevice,
            "guest-wifi" => NetClass::GuestWifi,
            "scanner" => NetClass::Scanner,
            "backup" => NetClass::Backup,
            "admin" | "jump-host" => NetClass::Admin,
            "network" | "network-device" => NetClass::Network,
            _ => NetClass::Unknown,
        }
    }

    /// Known benign fan-out: its scans, sweeps and remote sessions are its job.
    pub fn fans_out_by_design(self) -> bool {
        matches!(self, NetClass::Scanner | NetClass::Backup | NetClass::Admin)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NetClass::Workstation => "workstation",
            NetClass::Server => "server",
            NetClass::DomainController => "domain-controller",
            NetClass::MedicalDevice => "medical-device",
            NetClass::GuestWifi => "guest-wifi",
            NetClass::Scanner => "scanner",
            NetClass::Backup => "backup",
            NetClass::Admin => "admin",
            NetClass::Network => "network",
            NetClass::Unknown => "unknown",
        }
    }
}

/// One inventory entry that names addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub class: NetClass,
    /// The zone label (`clinical`, `iomt`, `guest`...), when the inventory gives one.
    pub zone: Option<String>,
    /// The machine's name, when the entry is one address.
    pub name: Option<String>,
}

/// The zone name of addresses outside the hospital.
pub const INTERNET: &str = "internet";

/// One row of the segmentation policy: traffic from one zone to another on some ports.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneAllow {
    pub from: String,
    pub to: String,
    /// `(low, high, transport)`; empty for any port.
    pub ports: Vec<(u16, u16, Option<String>)>,
    /// Where the row is (`zones.csv line 4`).
    pub at: String,
}

impl ZoneAllow {
    fn matches(&self, from: &str, to: &str, port: u16, transport: Option<&str>) -> bool {
        let zone = |rule: &str, z: &str| rule == "*" || rule.eq_ignore_ascii_case(z);
        zone(&self.from, from)
            && zone(&self.to, to)
            && (self.ports.is_empty()
                || self.ports.iter().any(|(lo, hi, t)| {
                    (*lo..=*hi).contains(&port)
                        && match (t.as_deref(), transport) {
                            (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
                            _ => true,
                        }
                }))
    }
}

/// What the segmentation policy says of one flow.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<'a> {
    /// Both ends in one zone.
    SameZone,
    /// A row allows it.
    Allowed(&'a ZoneAllow),
    /// Both zones known, and no row allows it.
    Forbidden,
    /// An end has no zone, or there is no policy: nothing to say.
    Unknown,
}

/// Addresses to roles (the most specific match wins), and the segmentation policy.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    exact: HashMap<IpAddr, Role>,
    /// Subnets, longest prefix first.
    nets: Vec<(IpNet, Role)>,
    /// `zones.csv`, when the operator gave one.
    policy: Option<Vec<ZoneAllow>>,
}

impl Topology {
    /// Add the role of one address or subnet.
    pub fn add(&mut self, net: IpNet, role: Role) {
        if net.prefix_len() == net.max_prefix_len() {
            self.exact.entry(net.addr()).or_insert(role);
        } else {
            self.nets.push((net, role));
            self.nets
                .sort_by_key(|(n, _)| std::cmp::Reverse(n.prefix_len()));
        }
    }

    /// The role of `ip`, if the inventory names it.
    pub fn role(&self, ip: &str) -> Option<&Role> {
        let ip: IpAddr = ip.parse().ok()?;
        self.exact.get(&ip).or_else(|| {
            self.nets
                .iter()
                .find(|(n, _)| n.contains(&ip))
                .map(|(_, r)| r)
        })
    }

    /// The class of `ip` (unknown when the inventory does not name it).
    pub fn class(&self, ip: &str) -> NetClass {
        self.role(ip).map_or(NetClass::Unknown, |r| r.class)
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.nets.is_empty()
    }
}

/// Whether `ip` is inside the hospital's own address space: private, loopback, link-local or
/// unique-local (an address the inventory names counts too, see [`Topology::is_internal`]).
pub fn is_private(ip: &str) -> bool {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

/// Broadcast and multicast destinations: nobody answers them, so no answer is no failure.
pub fn is_broadcast(ip: &str) -> bool {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_broadcast() || v4.is_multicast() || v4.octets()[3] == 255,
        Ok(IpAddr::V6(v6)) => v6.is_multicast(),
        Err(_) => true,
    }
}

impl Topology {
    /// Inside the hospital: a private address, or one the inventory names.
    pub fn is_internal(&self, ip: &str) -> bool {
        is_private(ip) || self.role(ip).is_some()
    }

    /// Set the segmentation policy (`zones.csv`'s rows).
    pub fn set_policy(&mut self, rows: Vec<ZoneAllow>) {
        self.policy = Some(rows);
    }

    pub fn has_policy(&self) -> bool {
        self.policy.is_some()
    }

    /// The zone of `ip`: the inventory's, or `internet` outside the hospital.
    pub fn zone(&self, ip: &str) -> Option<String> {
        match self.role(ip).and_then(|r| r.zone.clone()) {
            Some(z) => Some(z),
            None if !self.is_internal(ip) && !is_broadcast(ip) => Some(INTERNET.to_string()),
            None => None,
        }
    }

    /// What the policy says of traffic from `src` to `dst` on `port`.
    pub fn verdict(&self, src: &str, dst: &str, port: u16, transport: Option<&str>) -> Verdict<'_> {
        let Some(rows) = &self.policy else {
            return Verdict::Unknown;
        };
        let (Some(from), Some(to)) = (self.zone(src), self.zone(dst)) else {
            return Verdict::Unknown;
        };
        if from.eq_ignore_ascii_case(&to) {
            return Verdict::SameZone;
        }
        match rows.iter().find(|r| r.matches(&from, &to, port, transport)) {
            Some(r) => Verdict::Allowed(r),
            None => Verdict::Forbidden,
        }
    }

    /// The rows about traffic between two zones (whatever the port), to say what is allowed.
    pub fn rows_between(&self, from: &str, to: &str) -> Vec<&ZoneAllow> {
        let zone = |rule: &str, z: &str| rule == "*" || rule.eq_ignore_ascii_case(z);
        self.policy
            .iter()
            .flatten()
            .filter(|r| zone(&r.from, from) && zone(&r.to, to))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_entry_wins() {
        let mut t = Topology::default();
        let role = |class, zone: &str| Role {
            class,
            zone: Some(zone.into()),
            name: None,
        };
        t.add(
            "10.0.0.0/8".parse().unwrap(),
            role(NetClass::Workstation, "clinical"),
        );
        t.add(
            "10.5.0.0/16".parse().unwrap(),
            role(NetClass::MedicalDevice, "iomt"),
        );
        t.add(
            "10.5.0.9/32".parse().unwrap(),
            role(NetClass::Scanner, "admin"),
        );
        assert_eq!(t.class("10.1.2.3"), NetClass::Workstation);
        assert_eq!(t.class("10.5.7.7"), NetClass::MedicalDevice);
        assert_eq!(t.class("10.5.0.9"), NetClass::Scanner);
        assert_eq!(t.class("192.168.1.1"), NetClass::Unknown);
        assert_eq!(t.class("not an ip"), NetClass::Unknown);
        assert!(t.is_internal("10.9.9.9"));
        assert!(!t.is_internal("8.8.8.8"));
        assert!(is_broadcast("10.0.1.255") && is_broadcast("224.0.0.251"));
        assert!(!is_broadcast("10.0.1.7"));
        assert_eq!(NetClass::from_name("jump-host"), NetClass::Admin);
        assert!(NetClass::Backup.fans_out_by_design());
    }

    #[test]
    fn the_policy_judges_flows_between_known_zones() {
        let mut t = Topology::default();
        let zone = |z: &str| Role {
            class: NetClass::Unknown,
            zone: Some(z.into()),
            name: None,
        };
        t.add("10.1.0.0/16".parse().unwrap(), zone("clinical"));
        t.add("10.2.0.0/16".parse().unwrap(), zone("servers"));
        t.add("10.5.0.0/16".parse().unwrap(), zone("iomt"));
        assert_eq!(
            t.verdict("10.1.0.1", "10.2.0.1", 445, Some("tcp")),
            Verdict::Unknown
        );
        t.set_policy(vec![ZoneAllow {
            from: "clinical".into(),
            to: "servers".into(),
            ports: vec![(443, 443, None), (445, 445, Some("tcp".into()))],
            at: "zones.csv line 2".into(),
        }]);
        assert!(
            matches!(t.verdict("10.1.0.1", "10.2.0.1", 445, Some("tcp")), Verdict::Allowed(r) if r.at == "zones.csv line 2")
        );
        assert_eq!(
            t.verdict("10.1.0.1", "10.2.0.1", 3389, Some("tcp")),
            Verdict::Forbidden
        );
        assert_eq!(
            t.verdict("10.5.0.1", "8.8.8.8", 443, Some("tcp")),
            Verdict::Forbidden
        );
        assert_eq!(
            t.verdict("10.1.0.1", "10.1.9.9", 3389, Some("tcp")),
            Verdict::SameZone
        );
        assert_eq!(
            t.verdict("10.1.0.1", "192.168.0.1", 22, None),
            Verdict::Unknown
        );
        assert_eq!(t.rows_between("clinical", "servers").len(), 1);
    }
}
