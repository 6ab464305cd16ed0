//! Indicator hits as detections: ordinary alerts that say which partner shared the indicator.
//!
//! One rule identity per partner and kind (`intel:<source>:<kind>`), so a week of hits on one
//! partner's domain list groups as one kind of alert; the indicator itself, where it was seen
//! and the producer's name for it are facts of the alert and its entities.

use std::sync::Arc;

use jiff::Timestamp;
use wardwatch_core::{Entity, EntityKind, Event, Severity};
use wardwatch_detect::{Detection, Finding, RuleKind, RuleMeta, Wardwatch};

use crate::indicator::Kind;
use crate::matcher::{Hit, IndicatorSet};

/// How much a hit of each kind says on its own. A hash, a URL, a domain or a sender address
/// names one thing an attacker made; an address or a network may be shared hosting or a
/// carrier's NAT, so it asks for a look but not an alarm.
pub fn level(kind: Kind) -> Severity {
    match kind {
        Kind::Md5 | Kind::Sha1 | Kind::Sha256 | Kind::Sha512 | Kind::Url => Severity::High,
        Kind::Domain | Kind::Email => Severity::High,
        Kind::Ip | Kind::Cidr | Kind::Subject => Severity::Medium,
    }
}

fn words(kind: Kind) -> &'static str {
    match kind {
        Kind::Ip | Kind::Cidr => "address",
        Kind::Domain => "domain",
        Kind::Url => "URL",
        Kind::Md5 | Kind::Sha1 | Kind::Sha256 | Kind::Sha512 => "file",
        Kind::Email => "sender or recipient",
        Kind::Subject => "mail subject",
    }
}

/// The detection a hit raises.
pub fn detection(hit: &Hit<'_>) -> Detection {
    let ind = hit.indicator;
    let kind = ind.kind;
    let rule = Arc::new(RuleMeta {
        id: format!("intel:{}:{}", ind.source, kind),
        title: format!("Known-bad {} shared by {}", words(kind), ind.source),
        level: level(kind),
        tags: Vec::new(),
        kind: RuleKind::Detection,
        origin: format!("intel:{}", ind.source),
        description: Some(format!(
            "An event shows a {} that {} shared as an indicator{}.",
            words(kind),
            ind.source,
            ind.name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        )),
        product: None,
        service: None,
        category: None,
        wardwatch: Wardwatch {
            recommendation: Some(format!(
                "Check what on the host reached or received this {}, whether it was blocked, and \
                 what happened next; tell {} if it was seen here (a sighting helps them).",
                words(kind),
                ind.source
            )),
            ..Wardwatch::default()
        },
    });
    let mut facts = vec![
        ("intel.source".to_string(), ind.source.clone()),
        ("intel.indicator".to_string(), ind.id.clone()),
        ("intel.kind".to_string(), kind.to_string()),
        ("intel.value".to_string(), ind.value.clone()),
        ("intel.field".to_string(), hit.field.to_string()),
    ];
    if let Some(n) = &ind.name {
        facts.push(("intel.name".into(), n.clone()));
    }
    if let Some(t) = ind.tlp {
        facts.push(("intel.tlp".into(), t.as_str().into()));
    }
    let entity = match kind {
        Kind::Ip | Kind::Cidr => Some(EntityKind::Ip),
        Kind::Domain => Some(EntityKind::Domain),
        Kind::Url => Some(EntityKind::Url),
        Kind::Md5 | Kind::Sha1 | Kind::Sha256 | Kind::Sha512 => Some(EntityKind::Hash),
        Kind::Email => Some(EntityKind::Email),
        Kind::Subject => None,
    };
    let observed = match kind {
        // The observed text of a command line is the whole line; the entity is the value.
        _ if hit.field == "process.command_line" || hit.field == "message" => ind.value.clone(),
        Kind::Cidr | Kind::Ip | Kind::Domain | Kind::Email => hit.observed.clone(),
        _ => ind.value.clone(),
    };
    Detection {
        rule,
        correlation: None,
        entities: entity
            .map(|k| Entity::new(k, observed))
            .into_iter()
            .collect(),
        finding: Some(Arc::new(Finding { facts })),
    }
}

/// The indicator set as a per-event detector.
pub struct IntelDetector {
    set: Arc<IndicatorSet>,
}

impl IntelDetector {
    pub fn new(set: Arc<IndicatorSet>) -> IntelDetector {
        IntelDetector { set }
    }

    pub fn set(&self) -> &IndicatorSet {
        &self.set
    }

    /// The detections of `event`, the indicators judged at `at` (`None`: the event's own
    /// time, as when hunting through old logs).
    pub fn detect(&self, event: &Event, at: Option<Timestamp>) -> Vec<Detection> {
        self.set
            .match_event(event, at.unwrap_or(event.timestamp))
            .iter()
            .map(detection)
            .collect()
    }
}
