//! DNS: tunnelling (many long, random-looking names under one domain from one host) and
//! NXDOMAIN bursts (one host asking for many names that do not exist, across many domains).
//!
//! Why: DNS leaves every network, even where the firewall lets nothing else out, so tools
//! (dnscat2, iodine, Cobalt Strike's DNS beacon, DNSExfiltrator) encode data in the labels of
//! names under a domain the attacker's server answers for: `4a6f686e...3b.t.example.net`. The
//! trace is volume and shape under one registered domain: dozens of distinct names, each with a
//! long label of high entropy, from one host. Malware with a domain generation algorithm asks
//! for hundreds of made-up domains until one its owner registered answers: a burst of NXDOMAIN
//! answers spread over many different domains.
//!
//! Quiet by design: domains many of the hospital's hosts query alike (antivirus and reputation
//! lookups that hash into names, CDNs: see [`super::audience`]); a misconfigured host retrying
//! one missing name, or a search-suffix list expanding names under the hospital's own domain
//! (NXDOMAIN under one or two domains); reverse lookups (`in-addr.arpa`).
//!
//! Bounded: the counts are `WindowCounter`s (capped per key and in keys).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_core::{Entity, EntityKind, Severity};

use super::audience::Audience;
use super::topology::Topology;
use super::{Hit, NetFacts, at_level, found, listed, meta};
use crate::RuleMeta;
use crate::analytics::window::{MAX_PER_KEY, WindowCounter};

/// A name is "long and random" when the part before its registered domain is at least this
/// long, has a label at least [`LONG_LABEL`] long, and at least [`ENTROPY`] bits per character.
const LONG_NAME: usize = 24;
const LONG_LABEL: usize = 16;
const ENTROPY: f64 = 3.2;
/// Distinct long random names under one domain from one host within [`TUNNEL_FAST`], or within
/// [`TUNNEL_SLOW`].
const TUNNEL_NAMES: usize = 30;
const TUNNEL_FAST: i64 = 10 * 60;
const TUNNEL_SLOW_NAMES: usize = 120;
const TUNNEL_SLOW: i64 = 3600;
/// Domains queried by this many internal hosts within a day are shared, not a tunnel.
const POPULAR_SOURCES: usize = 8;
/// NXDOMAIN answers to one host within [`NX_WINDOW`], over at least [`NX_DOMAINS`] distinct
/// registered domains.
const NX_ANSWERS: usize = 40;
const NX_DOMAINS: usize = 20;
const NX_WINDOW: i64 = 5 * 60;

pub(super) fn rules() -> Vec<Arc<RuleMeta>> {
    vec![tunnel(), nx_burst()]
}

fn tunnel() -> Arc<RuleMeta> {
    meta(
        "analytic-network-dns-tunnelling",
        "DNS Tunnelling: Many Long Random Names Under One Domain From One Host",
        Severity::Medium,
        &[
            "attack.command_and_control",
            "attack.exfiltration",
            "attack.t1071.004",
            "attack.t1048.003",
        ],
        "One host asked for many different names under the same domain, each with a long label of random-looking characters, and few or no other hosts of the hospital query that domain. Tools that smuggle data or commands through DNS encode them in names like these: it works even where nothing else may leave the network.",
        "Find the program on the source host that makes these queries. Unless it is known software, isolate the host and block the domain at the DNS resolver; estimate what left from the query volume (the alert says how many characters were encoded).",
    )
}

fn nx_burst() -> Arc<RuleMeta> {
    meta(
        "analytic-network-nxdomain-burst",
        "NXDOMAIN Burst: One Host Asked For Many Domains That Do Not Exist",
        Severity::Medium,
        &["attack.command_and_control", "attack.t1568.002"],
        "Within minutes one host received many 'no such domain' answers for names across many different domains. Malware with a domain generation algorithm asks for made-up domains until it finds the one its owner registered that day.",
        "Find the program on the source host that makes the queries; unless it is known software, isolate the host and check it for malware. Look for the one generated domain that did answer, and block it.",
    )
}

/// The registered domain of `name` (`a.b.example.co.uk` → `example.co.uk`), lowercase.
pub(super) fn registered_domain(name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let n = labels.len();
    if n <= 2 {
        return name;
    }
    // Country-code second levels (`co.uk`, `com.au`, `ac.jp`, `nhs.uk`).
    let second = labels[n - 2];
    let keep = if labels[n - 1].len() == 2
        && (second.len() <= 2
            || matches!(
                second,
                "com" | "net" | "org" | "gov" | "edu" | "nhs" | "med" | "mil"
            )) {
        3
    } else {
        2
    };
    labels[n.saturating_sub(keep)..].join(".")
}

/// Shannon entropy of `s`, in bits per character.
pub(super) fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// The part of `name` before `domain` when it is long and random, with its entropy.
fn encoded(name: &str, domain: &str) -> Option<(usize, f64)> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let sub = lower.strip_suffix(domain)?.trim_end_matches('.');
    let longest = sub.split('.').map(str::len).max().unwrap_or(0);
    let text: String = sub.chars().filter(|c| *c != '.').collect();
    if text.len() < LONG_NAME || longest < LONG_LABEL {
        return None;
    }
    let h = entropy(&text);
    (h >= ENTROPY).then_some((text.len(), h))
}

#[derive(Serialize, Deserialize)]
pub(super) struct Dns {
    /// `source|domain` → long random names asked.
    tunnel: WindowCounter,
    /// Source → registered domains of the names it was told do not exist.
    nx: WindowCounter,
    /// Which internal hosts ask for each registered domain.
    audience: Audience,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            tunnel: WindowCounter::new(TUNNEL_SLOW),
            nx: WindowCounter::new(NX_WINDOW),
            audience: Audience::default(),
        }
    }
}

impl Dns {
    pub(super) fn observe(&mut self, f: &NetFacts, t: i64, topo: &Topology, out: &mut Vec<Hit>) {
        let (Some(src), Some(name)) = (f.src.as_deref(), f.query.as_deref()) else {
            return;
        };
        let domain = registered_domain(name);
        if domain.is_empty() || domain.ends_with(".arpa") || !domain.contains('.') {
            return;
        }
        let level = if topo.class(src).fans_out_by_design() {
            Severity::Informational
        } else {
            Severity::Medium
        };
        if f.asked != Some(false) {
            self.audience.push(&domain, src, t);
            if let Some((len, h)) = encoded(name, &domain) {
                let key = format!("{src}|{domain}");
                self.tunnel.push(&key, t, name);
                let fast = self.tunnel.distinct(&key, t, TUNNEL_FAST);
                let slow = if fast >= TUNNEL_NAMES {
                    fast
                } else {
                    self.tunnel.distinct(&key, t, TUNNEL_SLOW)
                };
                let sharing = self.audience.sources(&domain, t);
                if (fast >= TUNNEL_NAMES || slow >= TUNNEL_SLOW_NAMES)
                    && sharing < POPULAR_SOURCES
                    && self.tunnel.should_alert(&key, "tunnel", t, TUNNEL_SLOW)
                {
                    let span = if fast >= TUNNEL_NAMES {
                        TUNNEL_FAST
                    } else {
                        TUNNEL_SLOW
                    };
                    out.push(self.tunnel_hit(src, &domain, t, span, (len, h), sharing, level));
                }
            }
        }
        if f.nxdomain == Some(true) {
            self.nx.push(src, t, &domain);
            if self.nx.count(src, t, NX_WINDOW) >= NX_ANSWERS
                && self.nx.distinct(src, t, NX_WINDOW) >= NX_DOMAINS
                && self.nx.should_alert(src, "nx", t, NX_WINDOW * 6)
            {
                let domains = self.nx.distinct_values(src, t, NX_WINDOW, MAX_PER_KEY);
                let facts = vec![
                    (
                        "dns.nxdomain_answers".into(),
                        self.nx.count(src, t, NX_WINDOW).to_string(),
                    ),
                    ("dns.nxdomain_domains".into(), domains.len().to_string()),
                    ("dns.window_secs".into(), NX_WINDOW.to_string()),
                    (
                        "dns.domains".into(),
                        listed(domains.iter().map(String::as_str), domains.len(), 8),
                    ),
                ];
                out.push(found(&at_level(&nx_burst(), level), src, &[], &[], facts));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn tunnel_hit(
        &self,
        src: &str,
        domain: &str,
        t: i64,
        span: i64,
        (len, h): (usize, f64),
        sharing: usize,
        level: Severity,
    ) -> Hit {
        let key = format!("{src}|{domain}");
        let names = self.tunnel.distinct_values(&key, t, span, MAX_PER_KEY);
        let chars: usize = names
            .iter()
            .filter_map(|n| encoded(n, domain).map(|(l, _)| l))
            .sum();
        let facts = vec![
            ("dns.domain".into(), domain.to_string()),
            ("dns.random_names".into(), names.len().to_string()),
            (
                "dns.queries".into(),
                self.tunnel.count(&key, t, span).to_string(),
            ),
            ("dns.window_secs".into(), span.to_string()),
            ("dns.encoded_chars".into(), chars.to_string()),
            ("dns.example_length".into(), len.to_string()),
            ("dns.example_entropy".into(), format!("{h:.2}")),
            (
                "dns.examples".into(),
                listed(names.iter().map(String::as_str), names.len(), 2),
            ),
            ("dns.hosts_querying".into(), sharing.to_string()),
        ];
        let mut hit = found(&at_level(&tunnel(), level), src, &[], &[], facts);
        hit.entities.push(Entity::new(EntityKind::Domain, domain));
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_domains_and_random_labels() {
        assert_eq!(registered_domain("a.b.example.com."), "example.com");
        assert_eq!(registered_domain("x.y.nhs.uk"), "y.nhs.uk");
        assert_eq!(registered_domain("www.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(registered_domain("localhost"), "localhost");
        let d = "t.example.net";
        assert!(encoded("4a6f686e20536d6974682c20303132.3f9a1b.t.example.net", d).is_some());
        assert!(encoded("mail.t.example.net", d).is_none());
        assert!(
            encoded("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.t.example.net", d).is_none(),
            "long but not random"
        );
        assert!(entropy("abcd") > 1.99 && entropy("aaaa") == 0.0);
    }
}
