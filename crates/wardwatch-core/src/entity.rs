//! Entities: the things alerts and incidents are about.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of thing an [`Entity`] names: the kinds every alert, hunt row, incident,
/// notification and share speak (`../shared/DESIGN.md`, "What a finding names").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntityKind {
    Host,
    User,
    Ip,
    Domain,
    Url,
    /// A file hash (MD5, SHA-1 or SHA-256, hexadecimal).
    Hash,
    Email,
    /// A device that is not a managed host: a medical device, a tablet, by its MAC or name.
    Device,
    /// A patient, by the identifier the EHR uses (never a name).
    Patient,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Host => "host",
            EntityKind::User => "user",
            EntityKind::Ip => "ip",
            EntityKind::Domain => "domain",
            EntityKind::Url => "url",
            EntityKind::Hash => "hash",
            EntityKind::Email => "email",
            EntityKind::Device => "device",
            EntityKind::Patient => "patient",
        }
    }
}

/// One named thing: a host, a user, an address... Values are kept as seen, except that host and
/// user names, domains, e-mail addresses and hashes compare case-insensitively (Windows and DNS
/// treat them so; a hash is a number), which [`Entity::new`] ensures by lowercasing them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entity {
    pub kind: EntityKind,
    pub value: String,
}

impl Entity {
    /// An entity of `kind` named `value`; host, user, domain, e-mail and hash values are
    /// lowercased.
    pub fn new(kind: EntityKind, value: impl Into<String>) -> Self {
        let mut value = value.into();
        if matches!(
            kind,
            EntityKind::Host
                | EntityKind::User
                | EntityKind::Domain
                | EntityKind::Email
                | EntityKind::Hash
        ) {
            value = value.to_lowercase();
        }
        Entity { kind, value }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_users_compare_case_insensitively() {
        assert_eq!(
            Entity::new(EntityKind::Host, "WS-042"),
            Entity::new(EntityKind::Host, "ws-042")
        );
        assert_ne!(
            Entity::new(EntityKind::Url, "http://a/X"),
            Entity::new(EntityKind::Url, "http://a/x")
        );
        assert_eq!(Entity::new(EntityKind::Hash, "ABCDEF01").value, "abcdef01");
        assert_eq!(
            Entity::new(EntityKind::User, "Alice").to_string(),
            "user:alice"
        );
    }

    #[test]
    fn kinds_are_named_as_the_design_says() {
        let v = serde_json::to_value(Entity::new(EntityKind::Patient, "P-1")).unwrap();
        assert_eq!(v, serde_json::json!({"kind": "patient", "value": "P-1"}));
        for k in [
            EntityKind::Host,
            EntityKind::User,
            EntityKind::Ip,
            EntityKind::Domain,
            EntityKind::Url,
            EntityKind::Hash,
            EntityKind::Email,
            EntityKind::Device,
            EntityKind::Patient,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}
