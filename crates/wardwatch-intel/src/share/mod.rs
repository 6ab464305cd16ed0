//! Sharing an incident with other hospitals: what helps them, and nothing that must stay home.
//!
//! [`share`] takes an incident and its alerts and keeps what another hospital can act on:
//! external addresses, domains, URLs, file hashes, sender addresses, mail subjects, the ATT&CK
//! techniques, and a short description written here from counts and technique names (never
//! copied from narratives, which name people and hosts). Every value passes [`Inside`] first:
//! internal addresses and subnets, internal and own domains, host and account names, staff mail
//! addresses, patient identifiers and names, and free text that quotes any of them are withheld
//! and listed with the reason. The result is a STIX 2.1 bundle: the producing hospital as an
//! `identity`, the TLP 2.0 marking, one `indicator` a value, the techniques as
//! `attack-pattern`s the indicators `indicate`, and a `report` that holds them all.
//!
//! Ids are name-based (a digest of what they stand for, shaped as the version 4 UUID STIX
//! asks for), so sharing the same incident twice gives the same objects, which a TAXII
//! collection then keeps as one.

mod inside;

pub use inside::Inside;

use std::collections::BTreeSet;
use std::net::IpAddr;

use jiff::Timestamp;
use serde_json::{Value, json};
use wardwatch_core::{Alert, EntityKind};
use wardwatch_incidents::Incident;

use crate::indicator::{self, Kind, Tlp};

/// UUID namespace of the objects Wardwatch shares.
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6c1c_8a2e_77d4_4b0e_9a51_3f0c_5d2e_b7a1);
/// The OASIS TLP 2.0 extension definition.
pub(crate) const TLP2_EXTENSION: &str =
    "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// What to share and as whom.
pub struct ShareRequest<'a> {
    pub incident: &'a Incident,
    pub alerts: &'a [Alert],
    /// The producing hospital's name as partners know it.
    pub producer: &'a str,
    pub tlp: Tlp,
    /// The time the share is made (`created`, `valid_from`, `published`).
    pub now: Timestamp,
}

/// A share: the bundle, and the account of what went into it and what stayed home.
#[derive(Debug, Clone)]
pub struct Share {
    pub bundle: Value,
    pub kept: Vec<(Kind, String)>,
    /// What was withheld, and why.
    pub withheld: Vec<(String, &'static str)>,
    pub techniques: Vec<String>,
}

/// A STIX id for what `name` stands for: STIX 2.1 wants version 4 UUIDs for domain and
/// relationship objects, so the name-based (v5) digest is shaped as one (version and variant
/// bits set), which keeps it stable for the same name.
pub(crate) fn id(ty: &str, name: &str) -> String {
    let digest = uuid::Uuid::new_v5(&NAMESPACE, format!("{ty}:{name}").as_bytes());
    format!(
        "{ty}--{}",
        uuid::Builder::from_random_bytes(*digest.as_bytes()).into_uuid()
    )
}

pub(crate) fn stamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A STIX pattern string literal: backslash and quote escaped.
fn literal(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn pattern(kind: Kind, value: &str) -> String {
    let path = match kind {
        Kind::Ip if value.contains(':') => "ipv6-addr:value".to_string(),
        Kind::Ip => "ipv4-addr:value".to_string(),
        Kind::Cidr if value.contains(':') => "ipv6-addr:value".to_string(),
        Kind::Cidr => "ipv4-addr:value".to_string(),
        Kind::Domain => "domain-name:value".to_string(),
        Kind::Url => "url:value".to_string(),
        Kind::Md5 => "file:hashes.MD5".to_string(),
        Kind::Sha1 => "file:hashes.'SHA-1'".to_string(),
        Kind::Sha256 => "file:hashes.'SHA-256'".to_string(),
        Kind::Sha512 => "file:hashes.'SHA-512'".to_string(),
        Kind::Email => "email-message:from_ref.value".to_string(),
        Kind::Subject => "email-message:subject".to_string(),
    };
    format!("[{path} = {}]", literal(value))
}

fn kind_words(kind: Kind) -> &'static str {
    match kind {
        Kind::Ip | Kind::Cidr => "Address",
        Kind::Domain => "Domain",
        Kind::Url => "URL",
        Kind::Md5 | Kind::Sha1 | Kind::Sha256 | Kind::Sha512 => "File",
        Kind::Email => "Sender",
        Kind::Subject => "Mail subject",
    }
}

/// Candidate values of the incident: every external observable its alerts name.
fn candidates(alerts: &[Alert]) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    for a in alerts {
        for e in &a.entities {
            let kind = match e.kind {
                EntityKind::Ip => Kind::Ip,
                EntityKind::Domain => Kind::Domain,
                EntityKind::Url => Kind::Url,
                EntityKind::Email => Kind::Email,
                EntityKind::Hash => match Kind::hash_of_len(e.value.len()) {
                    Some(k) => k,
                    None => continue,
                },
                _ => continue,
            };
            out.push((kind, e.value.clone()));
        }
        for (k, v) in &a.facts {
            let kind = match k.as_str() {
                "destination.ip" => Kind::Ip,
                "dns.question.name" | "url.domain" => Kind::Domain,
                "url.full" => Kind::Url,
                "email.from.address" | "email.sender.address" | "email.reply_to.address" => {
                    Kind::Email
                }
                "email.subject" => Kind::Subject,
                k if k.starts_with("file.hash.") || k == "Hashes" => {
                    for part in v.split(',') {
                        let h = part.split_once('=').map_or(part, |(_, d)| d).trim();
                        if let Some(kind) = Kind::hash_of_len(h.len()) {
                            out.push((kind, h.to_string()));
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            out.push((kind, v.clone()));
        }
    }
    out
}

/// The share of `req`, with everything `inside` names withheld.
pub fn share(req: &ShareRequest<'_>, inside: &Inside) -> Share {
    let mut kept: BTreeSet<(Kind, String)> = BTreeSet::new();
    let mut withheld: BTreeSet<(String, &'static str)> = BTreeSet::new();
    for (kind, raw) in candidates(req.alerts) {
        let Ok((kind, value)) = indicator::canonical(kind, &raw) else {
            continue;
        };
        let reason = match kind {
            Kind::Ip | Kind::Cidr => value
                .split('/')
                .next()
                .and_then(|v| v.parse::<IpAddr>().ok())
                .and_then(|ip| inside.ip(ip)),
            Kind::Domain => inside.domain(&value).or_else(|| inside.text(&value)),
            Kind::Url => match indicator::url_host(&value) {
                Some(host) => match host.parse::<IpAddr>() {
                    Ok(ip) => inside.ip(ip),
                    Err(_) => inside.domain(host),
                }
                .or_else(|| inside.text(&value)),
                None => Some("a URL without a host"),
            },
            Kind::Email => inside.email(&value),
            Kind::Subject => inside.text(&raw),
            _ => None,
        };
        match reason {
            Some(r) => {
                withheld.insert((format!("{kind} {raw}"), r));
            }
            None => {
                // Subjects keep their words as the mail showed them; the rest canonical.
                let shown = if kind == Kind::Subject {
                    raw.split_whitespace().collect::<Vec<_>>().join(" ")
                } else {
                    value
                };
                kept.insert((kind, shown));
            }
        }
    }
    let techniques: Vec<String> = req.incident.techniques.clone();
    let now = stamp(req.now);
    let producer = id("identity", req.producer);
    let marking = req.tlp.marking_id().to_string();
    let common = |ty: &str, oid: &str| {
        json!({"type": ty, "spec_version": "2.1", "id": oid, "created": now, "modified": now,
            "created_by_ref": producer, "object_marking_refs": [marking]})
    };
    let mut objects = vec![
        json!({"type": "identity", "spec_version": "2.1", "id": producer, "created": now,
            "modified": now, "name": req.producer, "identity_class": "organization",
            "sectors": ["healthcare"], "object_marking_refs": [marking]}),
        json!({"type": "marking-definition", "spec_version": "2.1", "id": marking,
            "created": "2022-10-01T00:00:00.000Z",
            "name": format!("TLP:{}", req.tlp.as_str().to_ascii_uppercase()),
            "extensions": {TLP2_EXTENSION: {"extension_type": "property-extension",
                "tlp_2_0": req.tlp.as_str()}}}),
    ];
    let mut refs = Vec::new();
    let mut patterns = Vec::new();
    for t in &techniques {
        let name = wardwatch_incidents::attack::technique(t)
            .map(|x| x.name.to_string())
            .unwrap_or_else(|| t.clone());
        let oid = id("attack-pattern", t);
        let mut o = common("attack-pattern", &oid);
        o["name"] = json!(name);
        o["external_references"] = json!([{"source_name": "mitre-attack", "external_id": t}]);
        objects.push(o);
        refs.push(oid);
    }
    let pattern_ids: Vec<String> = refs.clone();
    for (kind, value) in &kept {
        let oid = id("indicator", &format!("{kind}:{value}"));
        let mut o = common("indicator", &oid);
        o["name"] = json!(format!(
            "{} seen in an incident at {}",
            kind_words(*kind),
            req.producer
        ));
        o["description"] = json!(format!(
            "{} seen in an incident at {} between {} and {} UTC ({}).",
            kind_words(*kind),
            req.producer,
            req.incident.first_seen.strftime("%Y-%m-%d %H:%M"),
            req.incident.last_seen.strftime("%Y-%m-%d %H:%M"),
            if techniques.is_empty() {
                "no ATT&CK technique named".to_string()
            } else {
                techniques.join(", ")
            }
        ));
        o["indicator_types"] = json!(["malicious-activity"]);
        o["pattern"] = json!(pattern(*kind, value));
        o["pattern_type"] = json!("stix");
        o["pattern_version"] = json!("2.1");
        o["valid_from"] = json!(now);
        objects.push(o);
        for ap in &pattern_ids {
            let rid = id("relationship", &format!("{oid}>{ap}"));
            let mut r = common("relationship", &rid);
            r["relationship_type"] = json!("indicates");
            r["source_ref"] = json!(oid);
            r["target_ref"] = json!(ap);
            objects.push(r);
            refs.push(rid);
        }
        refs.push(oid.clone());
        patterns.push(oid);
    }
    let description = describe(req, &kept, &techniques);
    let report_id = id("report", &format!("{}:{}", req.producer, req.incident.id));
    let mut report = common("report", &report_id);
    report["name"] = json!(format!(
        "Incident at {} ({})",
        req.producer,
        req.incident.first_seen.strftime("%Y-%m-%d")
    ));
    report["description"] = json!(description);
    report["report_types"] = json!(["threat-report"]);
    report["published"] = json!(now);
    let mut all_refs = vec![producer.clone()];
    all_refs.extend(refs);
    report["object_refs"] = json!(all_refs);
    objects.push(report);
    let bundle = json!({"type": "bundle",
        "id": id("bundle", &format!("{}:{}:{now}", req.producer, req.incident.id)),
        "objects": objects});
    Share {
        bundle,
        kept: kept.into_iter().collect(),
        withheld: withheld.into_iter().collect(),
        techniques,
    }
}

/// A short description in words, from counts and technique names only.
fn describe(
    req: &ShareRequest<'_>,
    kept: &BTreeSet<(Kind, String)>,
    techniques: &[String],
) -> String {
    let inc = req.incident;
    let mut s = format!(
        "{} alert(s) between {} and {} UTC, severity {}.",
        inc.alert_count,
        inc.first_seen.strftime("%Y-%m-%d %H:%M"),
        inc.last_seen.strftime("%Y-%m-%d %H:%M"),
        inc.severity
    );
    let tactics: Vec<&str> = inc
        .tactics
        .iter()
        .filter_map(|t| wardwatch_incidents::attack::tactic(t).map(|x| x.words))
        .collect();
    if !tactics.is_empty() {
        s.push_str(&format!(" Seen: {}.", tactics.join(", ")));
    }
    if !techniques.is_empty() {
        let names: Vec<String> = techniques
            .iter()
            .map(|t| match wardwatch_incidents::attack::technique(t) {
                Some(x) => format!("{} ({t})", x.name),
                None => t.clone(),
            })
            .collect();
        s.push_str(&format!(" Techniques: {}.", names.join("; ")));
    }
    let hosts = inc.hosts.len();
    let users = inc.users.len();
    if hosts + users > 0 {
        s.push_str(&format!(
            " Here it involved {hosts} host(s) and {users} account(s) (not named)."
        ));
    }
    s.push_str(&format!(" {} indicator(s) attached.", kept.len()));
    s
}

#[cfg(test)]
mod tests;
