//! Privacy incidents and alerts in the store: left out of listings unless asked for, never
//! counted in the overview's or the report's figures, never queued for notification.

use wardwatch_core::{Alert, AlertId, EventRef, Origin, Severity};
use wardwatch_store::{
    Db, DbOptions, DetectionCommit, IncidentFilter, IncidentRow, PrivacyScope, SearchRequest,
};

fn alert(id: &str, rule: &str, t: i64) -> Alert {
    Alert {
        id: AlertId(id.into()),
        rule_id: rule.into(),
        rule_title: format!("Rule {rule}"),
        level: Severity::Medium,
        tags: vec![],
        timestamp: jiff::Timestamp::from_second(t).unwrap(),
        organization: "default".into(),
        host: Some("epr01".into()),
        entities: vec![wardwatch_core::Entity::new(
            wardwatch_core::EntityKind::User,
            "n.jansen",
        )],
        event: EventRef {
            origin: Origin::default(),
            event_code: None,
            channel: None,
        },
        recommendation: None,
        awareness: None,
        facts: Default::default(),
    }
}

fn row(id: &str, t: i64) -> IncidentRow {
    IncidentRow {
        id: id.into(),
        org: "default".into(),
        opened: t * 1_000_000_000,
        first_seen: t * 1_000_000_000,
        last_seen: t * 1_000_000_000,
        severity: Severity::Medium,
        score: 5.0,
        closed: false,
        merged_into: None,
        title: format!("incident {id}"),
        doc: format!(
            r#"{{"incident": {{"id": "{id}", "users": ["n.jansen"], "hosts": ["epr01"]}}}}"#
        ),
    }
}

#[test]
fn privacy_incidents_and_alerts_are_listed_only_when_asked_and_never_notified() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
    let t = 1_796_112_000;
    let alerts = [
        (alert("a1", "r-logon", t), 0, 0),
        (alert("a2", "analytic-privacy-coworker", t + 1), 0, 0),
    ];
    let incidents = [row("inc-a1", t), row("priv-a2", t + 1)];
    db.commit_detection(&DetectionCommit {
        worker: "detect",
        cursor: 0,
        alerts: &alerts,
        incidents: &incidents,
        ..Default::default()
    })
    .unwrap();
    let ids = |scope| {
        db.list_incidents(&IncidentFilter {
            privacy: scope,
            ..Default::default()
        })
        .unwrap()
        .incidents
        .into_iter()
        .map(|i| i.id)
        .collect::<Vec<_>>()
    };
    assert_eq!(ids(PrivacyScope::Without), ["inc-a1"]);
    assert_eq!(ids(PrivacyScope::Only), ["priv-a2"]);
    assert_eq!(ids(PrivacyScope::With), ["priv-a2", "inc-a1"]);
    let naming = |scope| {
        db.incidents_naming("users", "n.jansen", None, scope, 10)
            .unwrap()
            .len()
    };
    assert_eq!(
        (naming(PrivacyScope::Without), naming(PrivacyScope::With)),
        (1, 2)
    );
    let rules = |scope| {
        db.list_alerts(
            &SearchRequest {
                limit: 10,
                privacy: scope,
                ..Default::default()
            },
            Severity::Informational,
            None,
            None,
        )
        .unwrap()
        .alerts
        .into_iter()
        .map(|a| a.rule_id)
        .collect::<Vec<_>>()
    };
    assert_eq!(rules(PrivacyScope::Without), ["r-logon"]);
    assert_eq!(rules(PrivacyScope::Only), ["analytic-privacy-coworker"]);
    // The overview's and the report's figures leave them out.
    let from = (t - 60) * 1_000_000_000;
    let to = (t + 60) * 1_000_000_000;
    assert_eq!(db.open_incident_counts(None).unwrap(), vec![(2, 1)]);
    assert_eq!(
        db.top_alert_users(from, 10, None).unwrap(),
        vec![("n.jansen".to_string(), 1)]
    );
    let hits: Vec<String> = db
        .rule_hits(from, None)
        .unwrap()
        .into_iter()
        .map(|h| h.0)
        .collect();
    assert_eq!(hits, ["r-logon"]);
    assert_eq!(
        db.alert_counts_by_rule(from, to, 10).unwrap(),
        vec![("Rule r-logon".to_string(), 1)]
    );
    // Only the security incident reaches the notification queue.
    let queued: Vec<String> = db
        .incident_events_after(0, 10)
        .unwrap()
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(queued, ["inc-a1"]);
}
