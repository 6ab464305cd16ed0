//! Entities: the things alerts and incidents are about.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of thing an [`Entity`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntityKind {
    Host,
    User,
    Ip,
    Device,
    Process,
    File,
    Url,
    Domain,
    Email,
    PatientRecord,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Host => "host",
            EntityKind::User => "user",
            EntityKind::Ip => "ip",
            EntityKind::Device => "device",
            EntityKind::Process => "process",
            EntityKind::File => "file",
            EntityKind::Url => "url",
            EntityKind::Domain => "domain",
            EntityKind::Email => "email",
            EntityKind::PatientRecord => "patient-record",
        }
    }
}

/// One named thing: a host, a user, an address... Values are kept as seen, except that host and
/// user names compare case-insensitively (Windows treats them so), which [`Entity::new`] ensures
/// by lowercasing them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entity {
    pub kind: EntityKind,
    pub value: String,
}

impl Entity {
    /// An entity of `kind` named `value`; host, user, domain and e-mail names are lowercased.
    pub fn new(kind: EntityKind, value: impl Into<String>) -> Self {
        let mut value = value.into();
        if matches!(
            kind,
            EntityKind::Host | EntityKind::User | EntityKind::Domain | EntityKind::Email
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
            Entity::new(EntityKind::File, "C:\\A"),
            Entity::new(EntityKind::File, "c:\\a")
        );
        assert_eq!(
            Entity::new(EntityKind::User, "Alice").to_string(),
            "user:alice"
        );
    }
}
