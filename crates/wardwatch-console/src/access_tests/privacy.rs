//! Privacy incidents and alerts: who sees a user's opening of a coworker's record (privacy
//! officers and admins) and who does not (analysts, viewers, the overview).

use super::*;

/// A privacy alert and its incident (a user who opened a coworker's record) in `default`.
fn seed_privacy(dir: &std::path::Path) -> (String, String) {
    let mut db = Db::open(dir, &DbOptions::default()).unwrap();
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(600);
    let alert = Alert {
        id: AlertId("privacy-alert-1".into()),
        rule_id: format!("{}coworker", wardwatch_core::PRIVACY_RULE_PREFIX),
        rule_title: "Record of a coworker opened".into(),
        level: Severity::Medium,
        tags: vec!["privacy".into(), "privacy.coworker".into()],
        timestamp: t,
        organization: "default".into(),
        host: Some("epr01".into()),
        entities: vec![
            wardwatch_core::Entity::new(wardwatch_core::EntityKind::User, "snoop"),
            wardwatch_core::Entity::new(wardwatch_core::EntityKind::Patient, "PAT-4711"),
        ],
        event: EventRef {
            origin: Default::default(),
            event_code: None,
            channel: None,
        },
        recommendation: None,
        awareness: None,
        facts: Default::default(),
    };
    let (incident, row) = incident_of(&alert);
    assert!(incident.privacy && incident.id.starts_with("priv-"));
    let cursor = db.last_seq().unwrap();
    db.commit_detection(&wardwatch_store::DetectionCommit {
        worker: "detect",
        cursor,
        alerts: &[(alert.clone(), 0, 0)],
        incidents: &[row],
        ..Default::default()
    })
    .unwrap();
    (incident.id, alert.id.0)
}

/// Privacy incidents and alerts, with each role: privacy officers and admins see them in the
/// lists, the detail, the user page; analysts and viewers do not, and asking for one by id is
/// "not found"; nobody sees them on the overview.
#[tokio::test]
async fn privacy_incidents_and_alerts_are_for_privacy_officers_and_admins_only() {
    let w = world();
    let (incident, alert) = seed_privacy(w._dir.path());
    let get = |role: Role, path: String| {
        let app = w.app.clone();
        async move {
            let req = Request::builder()
                .uri(path)
                .header("cookie", format!("ww_session={}", session(role)))
                .body(Body::empty())
                .unwrap();
            status(&app, req).await
        }
    };
    for role in Role::ALL {
        let sees = matches!(role, Role::Admin | Role::PrivacyOfficer);
        let who = role.as_str();
        for path in [
            "/api/v1/incidents".to_string(),
            "/incidents?span=30d".to_string(),
            "/api/v1/alerts".to_string(),
            "/alerts".to_string(),
            "/users/snoop".to_string(),
        ] {
            let (st, body) = get(role, path.clone()).await;
            // A user nothing else is known of is "not found" to those who may not see why.
            let unknown = !sees && path.starts_with("/users/") && st == StatusCode::NOT_FOUND;
            assert!(st.is_success() || unknown, "{who} {path}: {st}");
            assert_eq!(
                body.contains("PAT-4711")
                    || body.contains(&incident)
                    || body.contains(&alert)
                    || body.contains("Record of a coworker opened"),
                sees,
                "{who} {path}: {body}"
            );
        }
        for path in [
            format!("/api/v1/incidents/{incident}"),
            format!("/incidents/{incident}"),
            format!("/api/v1/alerts/{alert}"),
        ] {
            let (st, body) = get(role, path.clone()).await;
            if sees {
                assert!(st.is_success(), "{who} {path}: {st} {body}");
                assert!(
                    body.contains("PAT-4711") || body.contains("snoop"),
                    "{who} {path}"
                );
            } else {
                assert_eq!(st, StatusCode::NOT_FOUND, "{who} {path}: {body}");
                assert!(!body.contains("PAT-4711"), "{who} {path}: {body}");
            }
        }
        let (st, body) = get(role, "/".to_string()).await;
        assert!(st.is_success());
        assert!(
            !body.contains("PAT-4711") && !body.contains("snoop"),
            "{who}: the overview is the security team's: {body}"
        );
    }
}
