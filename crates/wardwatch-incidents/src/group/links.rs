//! What links an alert to an incident: the keys an alert offers and an incident is found by.
//!
//! Why a module of its own: deciding what counts as "the same" entity — and what is noise —
//! is the heart of grouping and the place most worth testing: built-in accounts, machine
//! accounts and loopback addresses must link nothing, `HOSPITAL\Alice` is `alice`, a logon's
//! source address is resolved to the host it came from, and a mail recipient is the roster
//! account with that address.

use std::collections::HashMap;
use std::net::IpAddr;

use wardwatch_core::{Alert, EntityKind};

use crate::context::{Context, account_name};
use crate::model::{Incident, push_unique};

/// What links an alert to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Key {
    Host(String),
    User(String),
    Ip(String),
    Guid(String),
    Email(String),
    /// A user's privacy alerts: privacy incidents are found by this key only, and privacy
    /// alerts look for nothing else, so the two kinds never meet.
    PrivacyUser(String),
}

impl Key {
    pub(super) fn describe(&self) -> String {
        match self {
            Key::Host(h) => format!("host {h}"),
            Key::User(u) => format!("user {u}"),
            Key::Ip(i) => format!("address {i}"),
            Key::Guid(g) => format!("process {g}"),
            Key::Email(e) => format!("mail to {e}"),
            Key::PrivacyUser(u) => format!("privacy alerts about user {u}"),
        }
    }
}

/// Whether `user` names nobody in particular: built-in service identities, machine accounts,
/// placeholders.
pub fn is_noise_user(user: &str) -> bool {
    let u = account_name(user);
    u.is_empty()
        || u == "-"
        || u.ends_with('$')
        || matches!(
            u.as_str(),
            "system"
                | "localsystem"
                | "local service"
                | "localservice"
                | "network service"
                | "networkservice"
                | "anonymous logon"
                | "anonymous"
                | "n/a"
        )
        || u.starts_with("dwm-")
        || u.starts_with("umfd-")
}

/// `ip` in canonical form (IPv4-mapped IPv6 as IPv4), or `None` for noise: loopback,
/// unspecified, placeholders, not an address.
pub fn clean_ip(ip: &str) -> Option<String> {
    let ip: IpAddr = ip.trim().parse().ok()?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    (!ip.is_loopback() && !ip.is_unspecified()).then(|| ip.to_string())
}

pub(super) fn clean_guid(g: &str) -> Option<String> {
    let g = g
        .trim()
        .trim_matches(|c| c == '{' || c == '}')
        .to_ascii_lowercase();
    (!g.is_empty() && g.chars().any(|c| c != '0' && c != '-')).then_some(g)
}

/// What one alert says about entities, in order.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// Hosts as spelled, the alert's own first.
    pub(super) hosts: Vec<String>,
    /// Hosts the activity came from (logon source).
    pub(super) source_hosts: Vec<String>,
    pub(super) users: Vec<String>,
    pub(super) ips: Vec<String>,
    pub(super) guids: Vec<String>,
    pub(super) recipients: Vec<String>,
    /// A patient-record privacy alert (grouped per user, apart from everything else).
    pub(super) privacy: bool,
}

/// A host name as incidents keep it: without its DNS domain (`WS-RAD-019.hospital.local` is
/// `WS-RAD-019`), because Windows names the same machine by its FQDN in `Computer` and by its
/// short name in `WorkstationName`, and an inventory lists short names. Names compare without
/// case; the first spelling seen is kept for people to read. Addresses are kept whole.
pub fn host_name(h: &str) -> String {
    let h = h.trim().trim_end_matches('.');
    if h.parse::<IpAddr>().is_ok() {
        return h.to_string();
    }
    h.split('.').next().unwrap_or(h).to_string()
}

/// `host` as the inventory spells it (entities are lowercased: `pacs01` reads `PACS01`).
fn spelled(ctx: &Context, host: &str) -> String {
    ctx.inventory
        .asset_for_host(host)
        .into_iter()
        .flat_map(|a| [a.name.as_deref(), Some(a.pattern.as_str())])
        .flatten()
        .map(host_name)
        .find(|n| n.eq_ignore_ascii_case(host))
        .unwrap_or_else(|| host.to_string())
}

pub(super) fn push_ci(list: &mut Vec<String>, value: &str) -> bool {
    if list.iter().any(|v| v.eq_ignore_ascii_case(value)) {
        false
    } else {
        list.push(value.to_string());
        true
    }
}

/// The address list in a `host.ip` fact (one address, or a JSON-ish list).
pub(super) fn ip_list(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split([',', ' '])
        .map(|s| s.trim_matches(|c| matches!(c, '[' | ']' | '"')))
        .filter_map(clean_ip)
}

impl Seen {
    pub(super) fn of(alert: &Alert, ctx: &Context, learned: &HashMap<String, String>) -> Seen {
        let mut s = Seen {
            privacy: crate::model::is_privacy_alert(alert),
            ..Seen::default()
        };
        let fact = |k: &str| {
            alert
                .facts
                .get(k)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty() && *v != "-")
        };
        if let Some(h) = alert.host.as_deref().filter(|h| !h.trim().is_empty()) {
            push_ci(&mut s.hosts, &host_name(h));
        }
        for e in &alert.entities {
            match e.kind {
                EntityKind::Host => {
                    push_ci(&mut s.hosts, &spelled(ctx, &host_name(&e.value)));
                }
                EntityKind::User if !is_noise_user(&e.value) => {
                    push_unique(&mut s.users, &account_name(&e.value));
                }
                EntityKind::Email => {
                    push_unique(&mut s.recipients, &e.value.to_lowercase());
                }
                _ => {}
            }
        }
        if let Some(h) = fact("host.name") {
            push_ci(&mut s.hosts, &host_name(h));
        }
        if let Some(u) = fact("user.name").filter(|u| !is_noise_user(u)) {
            push_unique(&mut s.users, &account_name(u));
        }
        for k in ["email.to.address", "user.email", "destination.user.email"] {
            if let Some(v) = fact(k) {
                for addr in v
                    .split([',', ';'])
                    .map(str::trim)
                    .filter(|a| a.contains('@'))
                {
                    push_unique(&mut s.recipients, &addr.to_lowercase());
                }
            }
        }
        // Source addresses: the ECS source and the Windows logon source; `Ip` entities other
        // than the destination and the host's own address.
        let own: Vec<String> = fact("host.ip")
            .map(|v| ip_list(v).collect())
            .unwrap_or_default();
        let dest = fact("destination.ip").and_then(clean_ip);
        let mut ips: Vec<String> = ["source.ip", "IpAddress"]
            .iter()
            .filter_map(|k| fact(k).and_then(clean_ip))
            .collect();
        // A network analytic names its source first, then its targets (the hosts a scan
        // tried, a chain's hops): only the source is where the activity came from. Taking the
        // targets as sources would join every incident of every host a scanner swept.
        let sources = if alert.rule_id.starts_with("analytic-network-") {
            1
        } else {
            usize::MAX
        };
        ips.extend(
            alert
                .entities
                .iter()
                .filter(|e| e.kind == EntityKind::Ip)
                .take(sources)
                .filter_map(|e| clean_ip(&e.value))
                .filter(|ip| Some(ip) != dest.as_ref() && !own.contains(ip)),
        );
        for ip in ips {
            if push_unique(&mut s.ips, &ip) {
                let host = ctx
                    .inventory
                    .host_for_ip(&ip)
                    .map(str::to_string)
                    .or_else(|| learned.get(&ip).cloned());
                if let Some(h) = host {
                    push_ci(&mut s.source_hosts, &host_name(&h));
                }
            }
        }
        if let Some(w) = fact("WorkstationName") {
            push_ci(&mut s.source_hosts, &host_name(w));
        }
        s.source_hosts
            .retain(|h| !s.hosts.iter().any(|o| o.eq_ignore_ascii_case(h)));
        for k in ["ProcessGuid", "ParentProcessGuid"] {
            if let Some(g) = fact(k).and_then(clean_guid) {
                push_unique(&mut s.guids, &g);
            }
        }
        s
    }

    /// The keys this alert links on, each with whether it is causal (ignores the window).
    pub(super) fn keys(&self, ctx: &Context) -> Vec<(Key, bool)> {
        if self.privacy {
            return self
                .users
                .iter()
                .map(|u| (Key::PrivacyUser(u.clone()), false))
                .collect();
        }
        let mut keys = Vec::new();
        for h in self.hosts.iter().chain(&self.source_hosts) {
            keys.push((Key::Host(h.to_ascii_lowercase()), false));
        }
        for u in &self.users {
            keys.push((Key::User(u.clone()), false));
            if let Some(e) = ctx.roster.person(u).and_then(|p| p.email.as_deref()) {
                keys.push((Key::Email(e.to_lowercase()), true));
            }
        }
        for ip in &self.ips {
            keys.push((Key::Ip(ip.clone()), false));
        }
        for g in &self.guids {
            keys.push((Key::Guid(g.clone()), true));
        }
        for r in &self.recipients {
            keys.push((Key::Email(r.clone()), true));
            if let Some(p) = ctx.roster.person(r) {
                keys.push((Key::User(p.user.clone()), true));
            }
        }
        keys
    }
}

/// The keys of `seen` that `inc` now lists (entities past the caps are not listed, so not
/// indexed): what to add to the index after the alert was applied.
pub(super) fn new_keys(inc: &Incident, seen: &Seen, ctx: &Context) -> Vec<Key> {
    if inc.privacy {
        return seen
            .users
            .iter()
            .filter(|u| inc.users.contains(u))
            .map(|u| Key::PrivacyUser(u.clone()))
            .collect();
    }
    let mut keys = Vec::new();
    for h in seen.source_hosts.iter().chain(&seen.hosts) {
        if inc.hosts.iter().any(|x| x.eq_ignore_ascii_case(h)) {
            keys.push(Key::Host(h.to_ascii_lowercase()));
        }
    }
    let recipients = seen
        .recipients
        .iter()
        .filter_map(|r| ctx.roster.person(r).map(|p| p.user.clone()));
    for u in seen.users.iter().cloned().chain(recipients) {
        if inc.users.contains(&u) {
            keys.push(Key::User(u));
        }
    }
    keys.extend(
        seen.ips
            .iter()
            .filter(|i| inc.ips.contains(i))
            .map(|i| Key::Ip(i.clone())),
    );
    keys.extend(
        seen.guids
            .iter()
            .filter(|g| inc.process_guids.contains(g))
            .map(|g| Key::Guid(g.clone())),
    );
    keys.extend(
        seen.recipients
            .iter()
            .filter(|r| inc.emails.contains(r))
            .map(|r| Key::Email(r.clone())),
    );
    keys
}

/// The keys an incident is found by.
pub(super) fn incident_keys(inc: &Incident) -> Vec<Key> {
    if inc.privacy {
        return inc
            .users
            .iter()
            .map(|u| Key::PrivacyUser(u.clone()))
            .collect();
    }
    let mut keys: Vec<Key> = Vec::new();
    keys.extend(inc.hosts.iter().map(|h| Key::Host(h.to_ascii_lowercase())));
    keys.extend(inc.users.iter().map(|u| Key::User(u.clone())));
    keys.extend(inc.ips.iter().map(|i| Key::Ip(i.clone())));
    keys.extend(inc.process_guids.iter().map(|g| Key::Guid(g.clone())));
    keys.extend(inc.emails.iter().map(|e| Key::Email(e.clone())));
    keys
}
