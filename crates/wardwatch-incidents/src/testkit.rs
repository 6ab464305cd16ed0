//! Helpers for unit tests: an alert builder and a small hospital context.

use std::collections::BTreeMap;

use jiff::Timestamp;
use wardwatch_core::{Alert, AlertId, Entity, EntityKind, EventRef, Origin, Severity};

use crate::context::{Context, Inventory, Roster};
use crate::group::{GroupConfig, Grouper};

pub fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub fn grouper() -> Grouper {
    Grouper::new(GroupConfig::default(), Vec::new())
}

pub fn hospital() -> Context {
    Context {
        inventory: Inventory::from_csv(
            "match,class,criticality,name,department\n\
             WS-RAD-014,workstation,2,,Radiology\n\
             10.20.1.14,workstation,2,WS-RAD-014,Radiology\n\
             pacs01.hospital.local,pacs,5,PACS archive,Radiology\n\
             10.99.0.0/16,guest-wifi,1,,Guest Wi-Fi\n",
        )
        .unwrap(),
        roster: Roster::from_csv(
            "user,name,email,department,role,privileged,manager\n\
             jsmith,Jane Smith,j.smith@hospital.example,Radiology,radiographer,false,dr.berg\n\
             admin-kw,Karl Weber,k.weber@hospital.example,IT,system administrator,true,it-lead\n",
        )
        .unwrap(),
        ..Context::default()
    }
}

pub struct Builder(Alert);

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub fn alert(rule: &str, title: &str, level: Severity, t: Timestamp) -> Builder {
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Builder(Alert {
        id: AlertId(format!("{rule}-{n:06}")),
        rule_id: rule.into(),
        rule_title: title.into(),
        level,
        tags: Vec::new(),
        timestamp: t,
        organization: "default".into(),
        host: None,
        entities: Vec::new(),
        event: EventRef {
            origin: Origin::default(),
            event_code: None,
            channel: None,
        },
        recommendation: None,
        awareness: None,
        facts: BTreeMap::new(),
    })
}

impl Builder {
    pub fn id(mut self, id: &str) -> Self {
        self.0.id = AlertId(id.into());
        self
    }
    pub fn host(mut self, h: &str) -> Self {
        self.0.host = Some(h.into());
        self.0.entities.push(Entity::new(EntityKind::Host, h));
        self
    }
    pub fn user(mut self, u: &str) -> Self {
        self.0.entities.push(Entity::new(EntityKind::User, u));
        self
    }
    pub fn ip(mut self, ip: &str) -> Self {
        self.0.entities.push(Entity::new(EntityKind::Ip, ip));
        self.0.facts.insert("source.ip".into(), ip.into());
        self
    }
    pub fn fact(mut self, k: &str, v: &str) -> Self {
        self.0.facts.insert(k.into(), v.into());
        self
    }
    pub fn tags(mut self, tags: &[&str]) -> Self {
        self.0.tags = tags.iter().map(|t| t.to_string()).collect();
        self
    }
    pub fn build(self) -> Alert {
        self.0
    }
}
