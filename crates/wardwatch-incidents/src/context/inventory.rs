//! The asset inventory: rows matching a host name, an address or a subnet.
//!
//! Why a module of its own: matching is where mistakes hide — host names compare
//! case-insensitively and a short name matches an FQDN, an exact address beats a subnet and a
//! narrow subnet beats a wide one. Lookups are hash maps (hosts, addresses) plus a short list of
//! subnets, most specific first, because the grouper asks for every alert.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{
    AssetClass, ContextError, DEFAULT_CRITICALITY, Format, first_error, format_of, parse_all,
    required,
};

/// What an inventory row's `match` column names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetMatch {
    /// A host name, lowercased.
    Host(String),
    /// One address.
    Ip(IpAddr),
    /// A CIDR subnet: network address and prefix length.
    Subnet(IpAddr, u8),
}

/// One inventory row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// The `match` column as written.
    pub pattern: String,
    pub matcher: AssetMatch,
    pub class: AssetClass,
    /// 1 (nobody notices) to 5 (patient care stops).
    pub criticality: u8,
    /// A display name; on a row that matches one IP address, the host name of that address
    /// (see [`Inventory::host_for_ip`]).
    pub name: Option<String>,
    pub department: Option<String>,
    /// The zone the segmentation policy (`zones.csv`) knows it by (`clinical`, `iomt`...).
    pub zone: Option<String>,
}

impl Asset {
    /// "workstation, Radiology" — class in words and department, for narratives.
    pub fn describe(&self) -> String {
        match &self.department {
            Some(d) => format!("{}, {d}", self.class.words()),
            None => self.class.words().to_string(),
        }
    }
}

fn parse_match(s: &str) -> Option<AssetMatch> {
    if let Some((addr, len)) = s.split_once('/') {
        let addr: IpAddr = addr.trim().parse().ok()?;
        let len: u8 = len.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        return (len <= max).then(|| AssetMatch::Subnet(mask(addr, len), len));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(AssetMatch::Ip(ip));
    }
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then(|| AssetMatch::Host(s.to_ascii_lowercase()))
}

/// `ip` with all but the first `len` bits cleared.
fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// The first label of a host name ("ws-1" of "ws-1.hospital.local").
fn short(host: &str) -> &str {
    host.split('.').next().unwrap_or(host)
}

/// The asset inventory: which machines exist, what they are, how much they matter.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    assets: Vec<Asset>,
    by_host: HashMap<String, usize>,
    by_short: HashMap<String, usize>,
    by_ip: HashMap<IpAddr, usize>,
    /// Subnet rows, most specific first.
    subnets: Vec<usize>,
}

impl Inventory {
    /// An inventory of `assets`; on duplicate matches the first row wins.
    pub fn new(assets: Vec<Asset>) -> Self {
        let mut inv = Inventory {
            assets,
            ..Default::default()
        };
        for (i, a) in inv.assets.iter().enumerate() {
            match &a.matcher {
                AssetMatch::Host(h) => {
                    inv.by_host.entry(h.clone()).or_insert(i);
                    inv.by_short.entry(short(h).to_string()).or_insert(i);
                }
                AssetMatch::Ip(ip) => {
                    inv.by_ip.entry(*ip).or_insert(i);
                }
                AssetMatch::Subnet(..) => inv.subnets.push(i),
            }
        }
        let assets = &inv.assets;
        inv.subnets.sort_by_key(|&i| match assets[i].matcher {
            AssetMatch::Subnet(_, len) => (std::cmp::Reverse(len), i),
            _ => (std::cmp::Reverse(0), i),
        });
        inv
    }

    /// Parse CSV text with a header row (`match,class,criticality,name,department`).
    pub fn from_csv(text: &str) -> Result<Self, ContextError> {
        first_error(Self::parse("<inventory csv>", text, Format::Csv))
    }

    /// Parse a YAML list of rows with the same fields as the CSV columns.
    pub fn from_yaml(text: &str) -> Result<Self, ContextError> {
        first_error(Self::parse("<inventory yaml>", text, Format::Yaml))
    }

    /// Parse `text` as CSV or YAML by the extension of `path_name`; the first problem is an error.
    pub fn load(path_name: &str, text: &str) -> Result<Self, ContextError> {
        first_error(Self::load_partial(path_name, text))
    }

    /// Parse `text` by the extension of `path_name`, keeping every good row and reporting
    /// every bad one.
    pub fn load_partial(path_name: &str, text: &str) -> (Self, Vec<ContextError>) {
        match format_of(path_name) {
            Ok(f) => Self::parse(path_name, text, f),
            Err(e) => (Self::default(), vec![e]),
        }
    }

    fn parse(file: &str, text: &str, format: Format) -> (Self, Vec<ContextError>) {
        let (assets, errors) = parse_all(file, text, format, |file, at, map| {
            let bad = |column, value: &str, hint| ContextError::BadValue {
                file: file.to_string(),
                at: at.clone(),
                column,
                value: value.to_string(),
                hint,
            };
            let pattern = required(file, &at, map, "match")?;
            let matcher = parse_match(pattern).ok_or_else(|| {
                bad(
                    "match",
                    pattern,
                    "expected a host name, an IP address or a CIDR subnet like 10.1.0.0/16",
                )
            })?;
            let class_text = required(file, &at, map, "class")?;
            let class = class_text.parse().map_err(|()| {
                bad(
                    "class",
                    class_text,
                    "expected workstation, server, domain-controller, epr-server, pacs, medical-device, guest-wifi, network, mobile, admin, scanner, backup or unknown",
                )
            })?;
            let criticality = match map.get("criticality") {
                None => DEFAULT_CRITICALITY,
                Some(c) => c
                    .parse::<u8>()
                    .ok()
                    .filter(|c| (1..=5).contains(c))
                    .ok_or_else(|| bad("criticality", c, "expected a whole number from 1 to 5"))?,
            };
            Ok(Asset {
                pattern: pattern.to_string(),
                matcher,
                class,
                criticality,
                name: map.get("name").cloned(),
                department: map.get("department").cloned(),
                zone: map.get("zone").map(|z| z.trim().to_ascii_lowercase()),
            })
        });
        (Inventory::new(assets), errors)
    }

    /// Every row, in file order.
    pub fn assets(&self) -> &[Asset] {
        &self.assets
    }

    /// The row for host `name`: case-insensitive, and a short name matches an FQDN (and the
    /// other way round) when only one side has a domain.
    pub fn asset_for_host(&self, name: &str) -> Option<&Asset> {
        let lower = name.trim().to_ascii_lowercase();
        if lower.is_empty() {
            return None;
        }
        if let Ok(ip) = lower.parse::<IpAddr>() {
            return self.asset_for_ip(&ip.to_string());
        }
        if let Some(&i) = self.by_host.get(&lower) {
            return Some(&self.assets[i]);
        }
        let i = if lower.contains('.') {
            // An FQDN against a short-name row.
            self.by_host.get(short(&lower)).copied()
        } else {
            // A short name against an FQDN row.
            self.by_short.get(&lower).copied()
        }?;
        Some(&self.assets[i])
    }

    /// The row for address `ip`: an exact address first, then the most specific subnet.
    pub fn asset_for_ip(&self, ip: &str) -> Option<&Asset> {
        let ip: IpAddr = ip.trim().parse().ok()?;
        if let Some(&i) = self.by_ip.get(&ip) {
            return Some(&self.assets[i]);
        }
        self.subnets
            .iter()
            .map(|&i| &self.assets[i])
            .find(|a| match a.matcher {
                AssetMatch::Subnet(net, len) => {
                    net.is_ipv4() == ip.is_ipv4() && mask(ip, len) == net
                }
                _ => false,
            })
    }

    /// The host name the inventory gives address `ip` (the `name` of a row matching exactly
    /// that address).
    pub fn host_for_ip(&self, ip: &str) -> Option<&str> {
        let ip: IpAddr = ip.trim().parse().ok()?;
        let &i = self.by_ip.get(&ip)?;
        self.assets[i].name.as_deref()
    }

    /// The criticality of host `name` ([`DEFAULT_CRITICALITY`] when unknown).
    pub fn criticality(&self, host: &str) -> u8 {
        self.asset_for_host(host)
            .map_or(DEFAULT_CRITICALITY, |a| a.criticality)
    }
}
