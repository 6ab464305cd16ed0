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

/// Addresses to roles (the most specific match wins).
#[derive(Debug, Clone, Default)]
pub struct Topology {
    exact: HashMap<IpAddr, Role>,
    /// Subnets, longest prefix first.
    nets: Vec<(IpNet, Role)>,
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
}
