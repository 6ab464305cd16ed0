//! What must not leave the hospital, and the test every shared value passes.
//!
//! Built from what Wardwatch already knows: the inventory (host names, addresses and subnets),
//! the roster (account names, people's names, mail addresses), the hospital's own mail and web
//! domains (configured, and those of the roster's mail addresses), the private address ranges (RFC 1918, RFC 4193 and the other
//! non-routable ones), and the incident itself (its hosts, accounts, patients, source
//! addresses). A value that is one of these, lies inside one, or — for free text such as a
//! mail subject — quotes one, is withheld, with the reason, so the person sharing sees what
//! stayed home.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use wardwatch_core::{Alert, EntityKind};
use wardwatch_incidents::{Context, Incident, context::AssetMatch};

/// The hospital's inside: names, addresses and people that a share must not carry.
#[derive(Debug, Default, Clone)]
pub struct Inside {
    nets: Vec<IpNet>,
    own_domains: Vec<String>,
    /// Host names, account names, mail addresses, patient ids (lower case).
    words: HashSet<String>,
    /// People's names from the roster, each as its lower-case parts (`["anna", "de", "vries"]`).
    names: Vec<Vec<String>>,
}

/// Address ranges that never name anything outside one organization.
const PRIVATE: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "fc00::/7",
    "fe80::/10",
    "::1/128",
    "::/128",
    "ff00::/8",
];

/// Name suffixes that only mean something inside a network.
const INTERNAL_SUFFIXES: &[&str] = &[
    "local",
    "lan",
    "internal",
    "intranet",
    "corp",
    "home.arpa",
    "localdomain",
    "in-addr.arpa",
    "ip6.arpa",
];

/// Why a value was withheld.
pub type Reason = &'static str;

impl Inside {
    /// The inside of a hospital with `ctx` and its own domains (`hospital.example`: the mail and
    /// web domains whose names and addresses are its staff's).
    pub fn new(ctx: &Context, own_domains: &[String]) -> Inside {
        let mut inside = Inside {
            nets: PRIVATE.iter().filter_map(|n| n.parse().ok()).collect(),
            own_domains: own_domains
                .iter()
                .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            ..Inside::default()
        };
        for a in ctx.inventory.assets() {
            match &a.matcher {
                AssetMatch::Host(h) => inside.add_word(h),
                AssetMatch::Ip(ip) => inside.nets.push(IpNet::from(*ip)),
                AssetMatch::Subnet(ip, len) => {
                    if let Ok(n) = IpNet::new(*ip, *len) {
                        inside.nets.push(n);
                    }
                }
            }
            if let Some(n) = &a.name {
                inside.add_word(n);
            }
        }
        for p in ctx.roster.people() {
            inside.add_word(&p.user);
            if let Some(e) = &p.email {
                inside.add_word(e);
                // The staff's mail domain is the hospital's own, configured or not.
                if let Some((_, dom)) = e.trim().to_ascii_lowercase().split_once('@')
                    && !inside.own_domains.iter().any(|d| d == dom)
                {
                    inside.own_domains.push(dom.to_string());
                }
            }
            inside.add_name(&p.name);
        }
        inside
    }

    fn add_word(&mut self, w: &str) {
        let w = w.trim().to_lowercase();
        if w.len() >= 2 {
            // A host's short name too (`ws-041.hospital.example` → `ws-041`).
            if let Some((short, _)) = w.split_once('.')
                && !w.contains('@')
                && short.len() >= 2
            {
                self.words.insert(short.to_string());
            }
            self.words.insert(w);
        }
    }

    fn add_name(&mut self, name: &str) {
        let parts: Vec<String> = name
            .split(|c: char| !c.is_alphanumeric())
            .filter(|p| p.chars().count() >= 2)
            .map(str::to_lowercase)
            .collect();
        if !parts.is_empty() {
            self.names.push(parts);
        }
    }

    /// Adds what the incident itself names: its hosts, accounts, source addresses, mail
    /// recipients, and every host, user, device and patient of its alerts.
    pub fn add_incident(&mut self, incident: &Incident, alerts: &[Alert]) {
        // Not the incident's mail addresses: they hold the attacker's sender too; the staff's
        // are known from the roster and the hospital's mail domains.
        for w in incident.hosts.iter().chain(&incident.users) {
            self.add_word(w);
        }
        for a in alerts {
            if let Some(h) = &a.host {
                self.add_word(h);
            }
            for e in &a.entities {
                if matches!(
                    e.kind,
                    EntityKind::Host | EntityKind::User | EntityKind::Device | EntityKind::Patient
                ) {
                    self.add_word(&e.value);
                }
            }
            for (k, v) in &a.facts {
                if k.starts_with("patient") || k == "user.name" || k == "host.name" {
                    self.add_word(v);
                }
            }
        }
    }

    /// Why `ip` must stay inside, if it must.
    pub fn ip(&self, ip: IpAddr) -> Option<Reason> {
        self.nets
            .iter()
            .any(|n| n.contains(&ip))
            .then_some("an internal or private address")
    }

    /// Why the domain `d` must stay inside, if it must.
    pub fn domain(&self, d: &str) -> Option<Reason> {
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        if !d.contains('.') {
            return Some("a single-label (internal) name");
        }
        let under = |root: &str| d == root || d.ends_with(&format!(".{root}"));
        if self.own_domains.iter().any(|o| under(o)) {
            return Some("the hospital's own domain");
        }
        if INTERNAL_SUFFIXES.iter().any(|s| under(s)) {
            return Some("an internal name");
        }
        let first = d.split('.').next().unwrap_or("");
        if self.words.contains(&d) || self.words.contains(first) {
            return Some("an internal host name");
        }
        None
    }

    /// Why the mail address `e` must stay inside, if it must: the hospital's own addresses and
    /// everyone in the roster.
    pub fn email(&self, e: &str) -> Option<Reason> {
        let e = e.trim().to_lowercase();
        if self.words.contains(&e) {
            return Some("a staff mail address");
        }
        let (local, dom) = e.split_once('@')?;
        if self.domain(dom) == Some("the hospital's own domain") {
            return Some("a mail address of the hospital");
        }
        if self.words.contains(local) {
            return Some("a staff account name");
        }
        None
    }

    /// Why free `text` (a subject, a URL, a title) must stay inside, if it must: it quotes a
    /// host, an account, a mail address, a patient, a person's name, an internal address or
    /// domain, or carries a number long enough to be a record or patient number.
    pub fn text(&self, text: &str) -> Option<Reason> {
        let lower = text.to_lowercase();
        let tokens: Vec<&str> = lower
            .split(|c: char| !(c.is_alphanumeric() || "@.-_".contains(c)))
            .filter(|t| !t.is_empty())
            .collect();
        for t in &tokens {
            let t = t.trim_matches('.');
            if self.words.contains(t) {
                return Some("it names a host, account, mail address or patient of the hospital");
            }
            if longest_digit_run(t) >= 6 {
                return Some("it carries a long number (a record or patient number?)");
            }
            if let Ok(ip) = t.parse::<IpAddr>()
                && self.ip(ip).is_some()
            {
                return Some("it quotes an internal address");
            }
            if t.contains('@') && self.email(t).is_some() {
                return Some("it quotes a staff mail address");
            }
            if t.contains('.') && !t.contains('@') && t.parse::<IpAddr>().is_err() {
                let r = self.domain(t);
                if r.is_some() && r != Some("a single-label (internal) name") {
                    return Some("it quotes an internal name");
                }
            }
        }
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        for name in &self.names {
            // A person's name is quoted when two of its parts (or a one-part name) appear.
            let present = name.iter().filter(|p| words.contains(&p.as_str())).count();
            if present >= name.len().min(2) && name.iter().any(|p| p.len() >= 3) {
                return Some("it quotes a person's name");
            }
        }
        None
    }
}

/// The longest run of consecutive digits in `t`.
fn longest_digit_run(t: &str) -> usize {
    t.split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside() -> Inside {
        let (ctx, errors) = Context::from_files(&[
            (
                "inventory.csv".into(),
                "match,class,criticality,name,department\n\
                 ws-041,workstation,2,,Radiology\n\
                 10.50.0.0/16,server,4,,IT\n\
                 198.18.7.10,server,4,pacs01,Radiology\n"
                    .into(),
            ),
            (
                "roster.csv".into(),
                "user,name,email,department,role\n\
                 jdevries,Jan de Vries,jan.devries@hospital.example,Radiology,radiologist\n"
                    .into(),
            ),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        Inside::new(&ctx, &["hospital.example".to_string()])
    }

    #[test]
    fn internal_addresses_names_and_people_stay_inside() {
        let i = inside();
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "198.18.7.10",
            "fd00::1",
            "127.0.0.1",
        ] {
            assert!(i.ip(ip.parse().unwrap()).is_some(), "{ip}");
        }
        assert!(i.ip("203.0.113.9".parse().unwrap()).is_none());
        for d in [
            "hospital.example",
            "mail.hospital.example",
            "ws-041.corp",
            "pacs01.lan",
            "fileserver",
        ] {
            assert!(i.domain(d).is_some(), "{d}");
        }
        assert!(i.domain("evil.example").is_none());
        assert!(i.email("jan.devries@hospital.example").is_some());
        assert!(i.email("someone@hospital.example").is_some());
        assert!(i.email("ceo@spoofed.example").is_none());
        for leaking in [
            "Results for Jan de Vries",
            "Please check ws-041 now",
            "jdevries: your mailbox is full",
            "Patient 12345678 discharge letter",
            "Scan from 10.50.3.4",
            "Invoice for JAN.DEVRIES@hospital.example",
        ] {
            assert!(i.text(leaking).is_some(), "{leaking}");
        }
        for clean in [
            "Your invoice is overdue",
            "Action required: verify your account 2026",
        ] {
            assert_eq!(i.text(clean), None, "{clean}");
        }
    }
}
