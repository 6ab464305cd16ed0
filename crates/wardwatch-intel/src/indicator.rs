//! Indicators: one observable value that a partner, a feed or an analyst says is bad.
//!
//! Every import (STIX 2.1 patterns, MISP attributes, IOC lists) ends as [`Indicator`]s with a
//! value in one canonical form per [`Kind`], so matching is a lookup: addresses printed the way
//! `std::net` prints them, networks truncated to their prefix, domains and e-mail addresses in
//! lower case without a trailing dot, hashes in lower-case hex, URLs with scheme and host in
//! lower case and no fragment. A value that cannot be put in that form is refused by
//! [`Indicator::new`], with the reason, so an import can say which line or object it skipped.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What kind of observable an indicator names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// One IPv4 or IPv6 address.
    Ip,
    /// A network (CIDR) of addresses.
    Cidr,
    /// A domain, and every name under it.
    Domain,
    /// One URL.
    Url,
    Md5,
    Sha1,
    Sha256,
    Sha512,
    /// A sender or recipient address.
    Email,
    /// A mail subject, compared whole and without regard to case.
    Subject,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::Cidr => "cidr",
            Kind::Domain => "domain",
            Kind::Url => "url",
            Kind::Md5 => "md5",
            Kind::Sha1 => "sha1",
            Kind::Sha256 => "sha256",
            Kind::Sha512 => "sha512",
            Kind::Email => "email",
            Kind::Subject => "subject",
        }
    }

    /// Whether the kind is a file hash.
    pub fn is_hash(self) -> bool {
        matches!(self, Kind::Md5 | Kind::Sha1 | Kind::Sha256 | Kind::Sha512)
    }

    /// The hash kind of a hex digest by its length.
    pub fn hash_of_len(len: usize) -> Option<Kind> {
        Some(match len {
            32 => Kind::Md5,
            40 => Kind::Sha1,
            64 => Kind::Sha256,
            128 => Kind::Sha512,
            _ => return None,
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// TLP 2.0: how far a shared indicator may travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tlp {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

impl Tlp {
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// `clear`, `white` (TLP 1.0's name for it), `green`, `amber`, `amber+strict`, `red`.
    pub fn parse(text: &str) -> Option<Tlp> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "clear" | "white" | "tlp:clear" | "tlp:white" => Tlp::Clear,
            "green" | "tlp:green" => Tlp::Green,
            "amber" | "tlp:amber" => Tlp::Amber,
            "amber+strict" | "tlp:amber+strict" => Tlp::AmberStrict,
            "red" | "tlp:red" => Tlp::Red,
            _ => return None,
        })
    }

    /// The STIX id of the TLP 2.0 marking definition (STIX 2.1 §7.2.1.4 and the OASIS TLP 2.0
    /// extension's predefined objects).
    pub fn marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    /// The TLP of a marking definition id, TLP 2.0 or the STIX 2.1 predefined TLP 1.0 ones.
    pub fn of_marking_id(id: &str) -> Option<Tlp> {
        let v1 = [
            (
                "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
                Tlp::Clear,
            ),
            (
                "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
                Tlp::Green,
            ),
            (
                "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
                Tlp::Amber,
            ),
            (
                "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
                Tlp::Red,
            ),
        ];
        [
            Tlp::Clear,
            Tlp::Green,
            Tlp::Amber,
            Tlp::AmberStrict,
            Tlp::Red,
        ]
        .into_iter()
        .find(|t| t.marking_id() == id)
        .or_else(|| v1.iter().find(|(m, _)| *m == id).map(|(_, t)| *t))
    }
}

/// One indicator, its value in canonical form, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    /// The producer's id (a STIX `indicator--…` id, a MISP attribute uuid) or, for a plain
    /// list, `<source>:<kind>:<value>`.
    pub id: String,
    pub kind: Kind,
    /// The value in canonical form ([`canonical`]).
    pub value: String,
    /// Who shared it: the partner or feed name the operator configured.
    pub source: String,
    /// The producer's name for it, or the name of what it indicates (a campaign, a malware).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlp: Option<Tlp>,
    /// The producer's categories (`malicious-activity`, `phishing`, MISP categories).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl Indicator {
    /// An indicator of `kind` with `value` put in canonical form; `Err` says why the value is
    /// not one of that kind.
    pub fn new(kind: Kind, value: &str, source: &str) -> Result<Indicator, String> {
        let (kind, value) = canonical(kind, value)?;
        Ok(Indicator {
            id: format!("{source}:{kind}:{value}"),
            kind,
            value,
            source: source.to_string(),
            name: None,
            description: None,
            valid_from: None,
            valid_until: None,
            revoked: false,
            tlp: None,
            labels: Vec::new(),
        })
    }

    /// Whether the indicator is in force at `at`: not revoked, and within its validity.
    pub fn active_at(&self, at: Timestamp) -> bool {
        !self.revoked
            && self.valid_from.is_none_or(|from| from <= at)
            && self.valid_until.is_none_or(|until| at < until)
    }
}

/// `value` in the canonical form of `kind`. A CIDR of one address becomes an [`Kind::Ip`]; an
/// address given as a network is refused only when it is no network at all.
pub fn canonical(kind: Kind, value: &str) -> Result<(Kind, String), String> {
    let v = value.trim();
    if v.is_empty() {
        return Err("empty value".into());
    }
    match kind {
        Kind::Ip | Kind::Cidr => {
            if let Ok(ip) = v.parse::<IpAddr>() {
                return Ok((Kind::Ip, ip.to_string()));
            }
            let net: IpNet = v
                .parse()
                .map_err(|_| format!("`{v}` is not an IP address or CIDR network"))?;
            let net = net.trunc();
            if net.prefix_len() == net.max_prefix_len() {
                Ok((Kind::Ip, net.addr().to_string()))
            } else {
                Ok((Kind::Cidr, net.to_string()))
            }
        }
        Kind::Domain => domain(v).map(|d| (Kind::Domain, d)),
        Kind::Url => url(v).map(|u| (Kind::Url, u)),
        Kind::Md5 | Kind::Sha1 | Kind::Sha256 | Kind::Sha512 => {
            let hex = v.to_ascii_lowercase();
            if Kind::hash_of_len(hex.len()) != Some(kind)
                || !hex.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(format!("`{v}` is not a {kind} digest"));
            }
            Ok((kind, hex))
        }
        Kind::Email => {
            let e = v.trim_matches(['<', '>']).to_lowercase();
            match e.split_once('@') {
                Some((local, dom)) if !local.is_empty() && domain(dom).is_ok() => {
                    Ok((Kind::Email, e))
                }
                _ => Err(format!("`{v}` is not an e-mail address")),
            }
        }
        Kind::Subject => Ok((Kind::Subject, subject_key(v))),
    }
}

/// The form a subject is compared in: case and runs of white space do not count.
pub fn subject_key(subject: &str) -> String {
    subject
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A domain name in lower case, without a trailing dot or a leading `*.`.
pub fn domain(v: &str) -> Result<String, String> {
    let d = v
        .trim()
        .trim_end_matches('.')
        .trim_start_matches("*.")
        .to_lowercase();
    let ok = d.contains('.')
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
        && d.parse::<IpAddr>().is_err();
    if ok {
        Ok(d)
    } else {
        Err(format!("`{v}` is not a domain name"))
    }
}

/// A URL with its scheme and host in lower case, without the fragment, and `/` for an empty
/// path; `Err` for text that has no `scheme://host`.
pub fn url(v: &str) -> Result<String, String> {
    let v = v.trim();
    let (scheme, rest) = v
        .split_once("://")
        .filter(|(s, _)| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        })
        .ok_or_else(|| format!("`{v}` is not a URL (no scheme://)"))?;
    let rest = rest.split('#').next().unwrap_or("");
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(host_end);
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("`{v}` is not a URL (no host)"));
    }
    let tail = if tail.is_empty() { "/" } else { tail };
    Ok(format!(
        "{}://{}{}",
        scheme.to_ascii_lowercase(),
        host.to_lowercase(),
        tail
    ))
}

/// The host of a URL in canonical form (without user info and port).
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest[..end].rsplit('@').next()?;
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// Undo the "defanging" that IOC lists and reports apply so nobody clicks by mistake:
/// `hxxp://`, `[.]`, `(.)`, `[:]`, `[at]`, `[@]`.
pub fn refang(text: &str) -> String {
    let mut s = text.trim().to_string();
    for (from, to) in [
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("[:]", ":"),
        ("[://]", "://"),
        ("[at]", "@"),
        ("[@]", "@"),
    ] {
        s = s.replace(from, to);
    }
    for (from, to) in [("hxxps://", "https://"), ("hxxp://", "http://")] {
        if s.to_ascii_lowercase().starts_with(from) {
            s = format!("{to}{}", &s[from.len()..]);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_one_form_per_kind() {
        assert_eq!(
            canonical(Kind::Ip, " 10.0.0.1 ").unwrap(),
            (Kind::Ip, "10.0.0.1".into())
        );
        assert_eq!(
            canonical(Kind::Cidr, "10.1.2.3/16").unwrap(),
            (Kind::Cidr, "10.1.0.0/16".into())
        );
        assert_eq!(
            canonical(Kind::Cidr, "2001:db8::1/128").unwrap(),
            (Kind::Ip, "2001:db8::1".into())
        );
        assert_eq!(
            canonical(Kind::Domain, "*.Evil.Example.").unwrap().1,
            "evil.example"
        );
        assert_eq!(
            canonical(Kind::Url, "HTTPS://Login.Example.COM#frag")
                .unwrap()
                .1,
            "https://login.example.com/"
        );
        assert_eq!(
            canonical(Kind::Url, "http://a.example/Path?Q=1").unwrap().1,
            "http://a.example/Path?Q=1"
        );
        assert_eq!(
            canonical(Kind::Email, "<Bad@Example.ORG>").unwrap().1,
            "bad@example.org"
        );
        assert_eq!(
            canonical(Kind::Subject, "  Your   Invoice ").unwrap().1,
            "your invoice"
        );
        assert_eq!(
            canonical(Kind::Md5, &"AB".repeat(16)).unwrap().1,
            "ab".repeat(16)
        );
        for (kind, bad) in [
            (Kind::Ip, "999.1.1.1"),
            (Kind::Domain, "localhost"),
            (Kind::Domain, "10.0.0.1"),
            (Kind::Url, "example.com/x"),
            (Kind::Sha256, "abc"),
            (Kind::Email, "nobody"),
            (Kind::Ip, ""),
        ] {
            assert!(canonical(kind, bad).is_err(), "{kind} {bad}");
        }
    }

    #[test]
    fn url_hosts_and_refanging() {
        assert_eq!(url_host("https://user@a.example:8443/x"), Some("a.example"));
        assert_eq!(url_host("http://[2001:db8::1]:80/"), Some("2001:db8::1"));
        assert_eq!(url_host("nope"), None);
        assert_eq!(
            refang("hxxps://bad[.]example[.]com/x"),
            "https://bad.example.com/x"
        );
        assert_eq!(refang("victim[at]example(.)org"), "victim@example.org");
    }

    #[test]
    fn validity_and_revocation() {
        let mut i = Indicator::new(Kind::Domain, "bad.example", "partner").unwrap();
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        assert!(i.active_at(t("2026-01-01T00:00:00Z")));
        i.valid_from = Some(t("2026-02-01T00:00:00Z"));
        i.valid_until = Some(t("2026-03-01T00:00:00Z"));
        assert!(!i.active_at(t("2026-01-31T23:59:59Z")));
        assert!(i.active_at(t("2026-02-15T00:00:00Z")));
        assert!(!i.active_at(t("2026-03-01T00:00:00Z")));
        i.revoked = true;
        assert!(!i.active_at(t("2026-02-15T00:00:00Z")));
        assert_eq!(
            Tlp::of_marking_id(Tlp::Amber.marking_id()),
            Some(Tlp::Amber)
        );
        assert_eq!(
            Tlp::of_marking_id("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"),
            Some(Tlp::Green)
        );
        assert_eq!(Tlp::parse("WHITE"), Some(Tlp::Clear));
    }
}
