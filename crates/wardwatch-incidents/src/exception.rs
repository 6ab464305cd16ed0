//! Exceptions: "this alert, in this shape, is fine here — until then, because…".
//!
//! Why: every hospital runs software that looks like an attack (a PACS vendor's remote
//! support, a backup agent dumping memory). Without a one-step way to say so, the IT team
//! learns to ignore the alert — and then the real one. An exception is made from the alert in
//! front of the analyst ([`Exception::from_alert`]): the rule, the exact values of the facts
//! they pick (case-insensitive), optionally the host and the user, an expiry date and a
//! justification. It keys on the rule id and the facts, never on the rule's text, so it
//! survives rule-pack updates; it expires, so a forgotten exception does not blind us forever;
//! and it counts what it suppressed, so tuning stays visible.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use wardwatch_core::{Alert, EntityKind};

use crate::context::account_name;

/// One fact that must have an exact value (case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub field: String,
    pub value: String,
}

/// A scoped, expiring, justified suppression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exception {
    /// `exc-` + a hash of rule, conditions and scope: the same exception made twice has the
    /// same id.
    pub id: String,
    pub rule_id: String,
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub expires: Timestamp,
    pub justification: String,
    pub author: String,
    pub created: Timestamp,
    /// How many alerts it suppressed.
    #[serde(default)]
    pub suppressed: u64,
    #[serde(default)]
    pub last_suppressed: Option<Timestamp>,
}

/// Why an exception cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExceptionError {
    /// A chosen field is not among the alert's facts.
    #[error("the alert has no fact `{field}` (pick one of its facts, e.g. `{example}`)")]
    MissingField { field: String, example: String },
    /// Scoped to the host, but the alert has none.
    #[error("the alert names no host to scope the exception to")]
    NoHost,
    /// Scoped to the user, but the alert has none.
    #[error("the alert names no user to scope the exception to")]
    NoUser,
    /// No condition and no scope: it would silence the rule everywhere.
    #[error(
        "exception for rule `{rule_id}` is too broad (pick at least one fact, the host or the user)"
    )]
    TooBroad { rule_id: String },
    /// The expiry is not in the future.
    #[error("expiry `{expires}` is not after now (`{now}`)")]
    Expired { expires: Timestamp, now: Timestamp },
    /// No justification.
    #[error("an exception needs a justification (why is this alert fine here?)")]
    NoJustification,
}

fn fnv(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn alert_host(alert: &Alert) -> Option<String> {
    alert
        .host
        .clone()
        .or_else(|| {
            alert
                .entities
                .iter()
                .find(|e| e.kind == EntityKind::Host)
                .map(|e| e.value.clone())
        })
        .or_else(|| alert.facts.get("host.name").cloned())
        .map(|h| h.to_lowercase())
}

fn alert_users(alert: &Alert) -> Vec<String> {
    alert
        .entities
        .iter()
        .filter(|e| e.kind == EntityKind::User)
        .map(|e| account_name(&e.value))
        .chain(alert.facts.get("user.name").map(|u| account_name(u)))
        .collect()
}

impl Exception {
    /// An exception for alerts like `alert`: same rule, same values of `fields`, and when
    /// asked, the same host and user.
    #[allow(clippy::too_many_arguments)]
    pub fn from_alert(
        alert: &Alert,
        fields: &[&str],
        scope_host: bool,
        scope_user: bool,
        expires: Timestamp,
        justification: &str,
        author: &str,
        now: Timestamp,
    ) -> Result<Exception, ExceptionError> {
        let mut conditions = Vec::new();
        for f in fields {
            let value = alert
                .facts
                .get(*f)
                .ok_or_else(|| ExceptionError::MissingField {
                    field: f.to_string(),
                    example: alert
                        .facts
                        .keys()
                        .next()
                        .cloned()
                        .unwrap_or_else(|| "CommandLine".into()),
                })?;
            conditions.push(Condition {
                field: f.to_string(),
                value: value.clone(),
            });
        }
        conditions.sort_by(|a, b| a.field.cmp(&b.field));
        conditions.dedup_by(|a, b| a.field == b.field);
        let host = if scope_host {
            Some(alert_host(alert).ok_or(ExceptionError::NoHost)?)
        } else {
            None
        };
        let user = if scope_user {
            Some(
                alert_users(alert)
                    .into_iter()
                    .next()
                    .ok_or(ExceptionError::NoUser)?,
            )
        } else {
            None
        };
        if conditions.is_empty() && host.is_none() && user.is_none() {
            return Err(ExceptionError::TooBroad {
                rule_id: alert.rule_id.clone(),
            });
        }
        if expires <= now {
            return Err(ExceptionError::Expired { expires, now });
        }
        let justification = justification.trim();
        if justification.is_empty() {
            return Err(ExceptionError::NoJustification);
        }
        let mut parts: Vec<String> = vec![alert.rule_id.clone()];
        for c in &conditions {
            parts.push(c.field.clone());
            parts.push(c.value.to_lowercase());
        }
        parts.push(host.clone().unwrap_or_default());
        parts.push(user.clone().unwrap_or_default());
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        Ok(Exception {
            id: format!("exc-{}", fnv(&refs)),
            rule_id: alert.rule_id.clone(),
            conditions,
            host,
            user,
            expires,
            justification: justification.to_string(),
            author: author.to_string(),
            created: now,
            suppressed: 0,
            last_suppressed: None,
        })
    }

    /// Whether `alert` is one this exception suppresses at `now` (never once expired).
    pub fn matches(&self, alert: &Alert, now: Timestamp) -> bool {
        if now >= self.expires || alert.rule_id != self.rule_id {
            return false;
        }
        let facts_ok = self.conditions.iter().all(|c| {
            alert
                .facts
                .get(&c.field)
                .is_some_and(|v| v.to_lowercase() == c.value.to_lowercase())
        });
        let host_ok = self
            .host
            .as_ref()
            .is_none_or(|h| alert_host(alert).is_some_and(|a| a.eq_ignore_ascii_case(h)));
        let user_ok = self
            .user
            .as_ref()
            .is_none_or(|u| alert_users(alert).iter().any(|a| a.eq_ignore_ascii_case(u)));
        facts_ok && host_ok && user_ok
    }
}

/// Facts that say *where* or *who* without a host or user entity: a network alert's edge, a
/// mail alert's sender. They come first in the form, and are what it checks when the alert
/// names neither a host nor a user.
const PLACE_FACTS: &[&str] = &[
    "source.ip",
    "destination.ip",
    "client.ip",
    "server.ip",
    "host.ip",
    "email.from.address",
    "email.sender.address",
    "url.domain",
];

/// How many facts the one-step form offers (the place facts first, then the rest by name).
const OFFERED_FACTS: usize = 10;

/// What the one-step exception form offers for one alert, so that what it offers never ends
/// in an error: a host box only when the alert names a host, a user box only when it names a
/// user, and — for an alert that names neither (a network edge between two addresses, a mail
/// from outside) — the facts that place it checked at first, because an exception needs a
/// scope and "this rule everywhere" is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionOffer {
    /// The host the exception can be scoped to (checked at first).
    pub host: Option<String>,
    /// The user it can be scoped to (checked at first when there is no host).
    pub user: Option<String>,
    /// The facts offered as "same value", place facts first.
    pub facts: Vec<String>,
    /// The facts checked at first.
    pub checked: Vec<String>,
}

impl ExceptionOffer {
    /// The offer for `alert`.
    pub fn for_alert(alert: &Alert) -> ExceptionOffer {
        let host = alert_host(alert);
        let user = alert_users(alert).into_iter().next();
        let place: Vec<String> = PLACE_FACTS
            .iter()
            .filter(|f| alert.facts.contains_key(**f))
            .map(|f| f.to_string())
            .collect();
        let mut facts = place.clone();
        facts.extend(
            alert
                .facts
                .keys()
                .filter(|k| !PLACE_FACTS.contains(&k.as_str()))
                .cloned(),
        );
        facts.truncate(OFFERED_FACTS);
        let checked = if host.is_none() && user.is_none() {
            place
        } else {
            Vec::new()
        };
        ExceptionOffer {
            host,
            user,
            facts,
            checked,
        }
    }

    /// The offer for a roll-up of one rule on one host (no alert at hand): the host only.
    pub fn for_host(host: &str) -> ExceptionOffer {
        ExceptionOffer {
            host: Some(host.to_lowercase()),
            user: None,
            facts: Vec::new(),
            checked: Vec::new(),
        }
    }
}

/// The exceptions in force, checked in order.
#[derive(Debug, Clone, Default)]
pub struct ExceptionSet {
    exceptions: Vec<Exception>,
}

impl ExceptionSet {
    pub fn new(exceptions: Vec<Exception>) -> Self {
        ExceptionSet { exceptions }
    }

    /// The first exception matching `alert` at `now`, its counters updated; `None` when the
    /// alert should go on to grouping.
    pub fn suppress(&mut self, alert: &Alert, now: Timestamp) -> Option<&Exception> {
        let e = self.exceptions.iter_mut().find(|e| e.matches(alert, now))?;
        e.suppressed += 1;
        e.last_suppressed = Some(now);
        Some(e)
    }

    /// Add `exception`, replacing one with the same id (its counters are kept).
    pub fn insert(&mut self, mut exception: Exception) {
        match self.exceptions.iter_mut().find(|e| e.id == exception.id) {
            Some(old) => {
                exception.suppressed = old.suppressed;
                exception.last_suppressed = old.last_suppressed;
                *old = exception;
            }
            None => self.exceptions.push(exception),
        }
    }

    /// Remove exception `id`; returns it.
    pub fn remove(&mut self, id: &str) -> Option<Exception> {
        let i = self.exceptions.iter().position(|e| e.id == id)?;
        Some(self.exceptions.remove(i))
    }

    /// Every exception, expired ones included, in order.
    pub fn all(&self) -> &[Exception] {
        &self.exceptions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use wardwatch_core::Severity;

    fn backup_alert(t: Timestamp) -> Alert {
        alert("lsass-dump", "LSASS memory dump", Severity::Critical, t)
            .host("BACKUP01")
            .user("svc_veeam")
            .fact("Image", r"C:\Program Files\Veeam\VeeamAgent.exe")
            .fact("CommandLine", "VeeamAgent.exe --snapshot")
            .build()
    }

    #[test]
    fn an_exception_from_an_alert_suppresses_it_until_it_expires() {
        let t = at("2026-03-02T10:00:00Z");
        let a = backup_alert(t);
        let e = Exception::from_alert(
            &a,
            &["Image"],
            true,
            false,
            at("2026-04-01T00:00:00Z"),
            "Veeam backup agent",
            "anna",
            t,
        )
        .unwrap();
        assert!(e.id.starts_with("exc-"));
        let again = Exception::from_alert(
            &a,
            &["Image"],
            true,
            false,
            at("2026-05-01T00:00:00Z"),
            "other words",
            "ben",
            t,
        )
        .unwrap();
        assert_eq!(e.id, again.id, "id is rule + conditions + scope");
        let mut set = ExceptionSet::new(vec![e]);
        let later = at("2026-03-03T10:00:00Z");
        let mut b = backup_alert(later);
        b.facts.insert(
            "Image".into(),
            r"c:\program files\veeam\veeamagent.exe".into(),
        );
        assert_eq!(set.suppress(&b, later).map(|e| e.suppressed), Some(1));
        assert_eq!(set.all()[0].last_suppressed, Some(later));
        // Another host, another binary, another rule: not suppressed.
        let mut other = backup_alert(later);
        other.host = Some("WS-1".into());
        assert!(set.suppress(&other, later).is_none());
        let mut other = backup_alert(later);
        other
            .facts
            .insert("Image".into(), r"C:\Temp\procdump.exe".into());
        assert!(set.suppress(&other, later).is_none());
        let mut other = backup_alert(later);
        other.rule_id = "another".into();
        assert!(set.suppress(&other, later).is_none());
        // Expired.
        let after = at("2026-04-01T00:00:00Z");
        assert!(set.suppress(&backup_alert(after), after).is_none());
        assert_eq!(set.all()[0].suppressed, 1);
    }

    #[test]
    fn bad_exceptions_are_refused() {
        let t = at("2026-03-02T10:00:00Z");
        let a = backup_alert(t);
        let exp = at("2026-04-01T00:00:00Z");
        let e = Exception::from_alert(&a, &["ParentImage"], false, false, exp, "x", "anna", t)
            .unwrap_err();
        assert!(e.to_string().contains("`ParentImage`"), "{e}");
        assert!(matches!(
            Exception::from_alert(&a, &[], false, false, exp, "x", "anna", t),
            Err(ExceptionError::TooBroad { .. })
        ));
        assert!(matches!(
            Exception::from_alert(&a, &[], false, true, t, "x", "anna", t),
            Err(ExceptionError::Expired { .. })
        ));
        assert!(matches!(
            Exception::from_alert(&a, &[], false, true, exp, " ", "anna", t),
            Err(ExceptionError::NoJustification)
        ));
        let user_scoped = Exception::from_alert(&a, &[], false, true, exp, "x", "anna", t).unwrap();
        assert_eq!(user_scoped.user.as_deref(), Some("svc_veeam"));
    }

    #[test]
    fn the_form_offers_only_scopes_the_alert_has_and_a_hostless_alert_is_placed_by_its_edge() {
        let t = at("2026-12-01T10:48:40Z");
        let offer = ExceptionOffer::for_alert(&backup_alert(t));
        assert_eq!(offer.host.as_deref(), Some("backup01"));
        assert_eq!(offer.user.as_deref(), Some("svc_veeam"));
        assert!(
            offer.checked.is_empty(),
            "the host box is the scope: {offer:?}"
        );

        // A network alert names addresses, not hosts: the host and user boxes are not offered,
        // the edge comes first and is checked, and what the form sends makes an exception.
        let mut b = alert(
            "analytic-network-lateral-movement",
            "Lateral movement",
            Severity::Medium,
            t,
        );
        for (k, v) in [
            ("destination.class", "server"),
            ("destination.ip", "10.10.0.40"),
            ("destination.port", "445"),
            ("event.action", "CreateServiceW"),
            ("event.category", "network"),
            ("event.code", "dce_rpc"),
            ("event.duration", "800000"),
            ("event.kind", "event"),
            ("lateral.edge", "10.10.0.30 → 10.10.0.40"),
            ("network.protocol", "dcerpc"),
            ("source.ip", "10.10.0.30"),
            ("source.port", "49154"),
        ] {
            b = b.fact(k, v);
        }
        let edge = b.build();
        let offer = ExceptionOffer::for_alert(&edge);
        assert_eq!(offer.host, None);
        assert_eq!(offer.user, None);
        assert_eq!(offer.checked, ["source.ip", "destination.ip"]);
        assert_eq!(&offer.facts[..2], ["source.ip", "destination.ip"]);
        assert_eq!(offer.facts.len(), OFFERED_FACTS);
        let checked: Vec<&str> = offer.checked.iter().map(String::as_str).collect();
        let e = Exception::from_alert(
            &edge,
            &checked,
            offer.host.is_some(),
            false,
            at("2026-12-31T00:00:00Z"),
            "PACS vendor maintenance",
            "anna",
            t,
        )
        .unwrap();
        assert!(e.matches(&edge, t));
        let elsewhere = {
            let mut a = edge.clone();
            a.facts.insert("source.ip".into(), "10.10.0.31".into());
            a
        };
        assert!(!e.matches(&elsewhere, t), "another source is not excepted");

        // A user but no host: the user box is the scope.
        let mail = alert("mail-phish", "Phishing", Severity::High, t)
            .user("anna")
            .fact("email.from.address", "x@example.org")
            .build();
        let offer = ExceptionOffer::for_alert(&mail);
        assert_eq!(
            (offer.host.as_deref(), offer.user.as_deref()),
            (None, Some("anna"))
        );
        assert!(offer.checked.is_empty());
        assert_eq!(offer.facts, ["email.from.address"]);
    }
}
