use serde_json::json;
use wardwatch_incidents::{Incident, Inventory, Roster, narrate};

use super::*;
use crate::config::{QuietHours, Route, WebhookConfig};

const INVENTORY: &str = "\
match,class,criticality,name,department
PACS01,pacs,5,PACS archive,Radiology
WS-1,workstation,2,,Radiology
EPR01,epr-server,5,EPR database,Clinical IT
";
const ROSTER: &str = "\
user,name,email,department,role,privileged,manager
jsmith,Jane Smith,j.smith@h.example,Radiology,radiographer,false,Dr. Berg
admin-kw,Karl Weber,k.weber@h.example,IT,system administrator,true,Dr. Lang
";

fn ctx() -> Context {
    Context {
        inventory: Inventory::load("inventory.csv", INVENTORY).unwrap(),
        roster: Roster::load("roster.csv", ROSTER).unwrap(),
        ..Context::default()
    }
}

fn route(to: &str, min: Severity) -> Route {
    Route {
        to: vec![to.into()],
        webhooks: Vec::new(),
        min_severity: min,
        asset_classes: Vec::new(),
        departments: Vec::new(),
        organizations: Vec::new(),
        tags: Vec::new(),
    }
}

fn cfg(routes: Vec<Route>) -> NotifyConfig {
    NotifyConfig {
        routes,
        ..NotifyConfig::default()
    }
}

fn doc(id: &str, sev: Severity, hosts: &[&str], users: &[&str], alerts: u64) -> IncidentDoc {
    let t = "2026-11-30T10:16:00Z";
    let incident: Incident = serde_json::from_value(json!({
        "id": id, "organization.id": "default", "title": format!("Something on {}", hosts.join(",")),
        "severity": sev, "score": 50.0, "score_parts": [], "status": "new", "history": [],
        "opened": t, "first_seen": t, "last_seen": t, "closed": false, "alert_count": alerts,
        "alert_ids": [], "hosts": hosts, "users": users, "ips": [], "tactics": ["impact"],
        "techniques": ["T1490"], "timeline": []
    }))
    .unwrap();
    let narrative = narrate(&incident, &ctx());
    IncidentDoc {
        incident,
        narrative,
    }
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn one_message_when_it_opens_one_when_it_escalates_never_one_per_alert() {
    let c = cfg(vec![route("it@h.example", Severity::Medium)]);
    let ctx = ctx();
    let p = Planner { cfg: &c, ctx: &ctx };
    let mut s = PlanState::default();
    let now = at("2026-11-30T10:00:00Z");
    // Low: nobody routed.
    assert!(
        p.incident(
            &mut s,
            &doc("inc-1", Severity::Low, &["WS-1"], &["jsmith"], 1),
            now
        )
        .is_empty()
    );
    // Medium: the opening message.
    let out = p.incident(
        &mut s,
        &doc("inc-1", Severity::Medium, &["WS-1"], &["jsmith"], 2),
        now,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, "opened");
    assert_eq!(out[0].id, "inc-1/opened/mail:it@h.example");
    // More alerts, nothing worse: no message now...
    for n in 3..20 {
        let d = doc("inc-1", Severity::Medium, &["WS-1"], &["jsmith"], n);
        assert!(p.incident(&mut s, &d, now).is_empty());
    }
    // ...a new host: one escalation.
    let out = p.incident(
        &mut s,
        &doc(
            "inc-1",
            Severity::Medium,
            &["WS-1", "PACS01"],
            &["jsmith"],
            21,
        ),
        now,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, "escalated");
    let Content::Mail(m) = &out[0].content else {
        panic!()
    };
    assert!(m.text.contains("new host PACS01"), "{}", m.text);
    // Severity rises and a privileged account joins: one more.
    let out = p.incident(
        &mut s,
        &doc(
            "inc-1",
            Severity::Critical,
            &["WS-1", "PACS01"],
            &["jsmith", "admin-kw"],
            22,
        ),
        now,
    );
    assert_eq!(out.len(), 1);
    let Content::Mail(m) = &out[0].content else {
        panic!()
    };
    assert!(
        m.text.contains("severity rose from medium to critical"),
        "{}",
        m.text
    );
    assert!(
        m.text.contains("privileged account admin-kw joined"),
        "{}",
        m.text
    );
    assert_eq!(out[0].id, "inc-1/escalated-2/mail:it@h.example");
    // The updates between are one digest after the window.
    assert!(p.tick(&mut s, at("2026-11-30T10:10:00Z")).is_empty());
    let out = p.tick(&mut s, at("2026-11-30T10:31:00Z"));
    assert!(
        out.is_empty(),
        "escalation told them: nothing left to digest: {out:?}"
    );
    let _ = p.incident(
        &mut s,
        &doc(
            "inc-1",
            Severity::Critical,
            &["WS-1", "PACS01"],
            &["jsmith", "admin-kw"],
            30,
        ),
        at("2026-11-30T10:40:00Z"),
    );
    let out = p.tick(&mut s, at("2026-11-30T11:11:00Z"));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, "digest");
}

#[test]
fn routes_filter_by_class_department_organization_and_tag() {
    let mut pacs = route("pacs@h.example", Severity::Low);
    pacs.asset_classes = vec!["pacs".into()];
    let mut clinical = route("clinical@h.example", Severity::Low);
    clinical.departments = vec!["clinical it".into()];
    let mut other_org = route("org2@h.example", Severity::Low);
    other_org.organizations = vec!["org2".into()];
    let mut ransomware = route("ciso@h.example", Severity::High);
    ransomware.tags = vec!["attack.impact".into()];
    let c = cfg(vec![pacs, clinical, other_org, ransomware]);
    let ctx = ctx();
    let p = Planner { cfg: &c, ctx: &ctx };
    let to =
        |d: &IncidentDoc| -> Vec<String> { p.recipients(d).iter().map(Recipient::key).collect() };
    assert_eq!(
        to(&doc("a", Severity::Critical, &["PACS01"], &[], 1)),
        vec!["mail:pacs@h.example", "mail:ciso@h.example"]
    );
    assert_eq!(
        to(&doc("b", Severity::Medium, &["EPR01"], &[], 1)),
        vec!["mail:clinical@h.example"]
    );
    assert!(to(&doc("c", Severity::Medium, &["WS-9"], &[], 1)).is_empty());
}

#[test]
fn quiet_hours_hold_back_low_and_let_critical_through() {
    let mut c = cfg(vec![route("it@h.example", Severity::Low)]);
    c.quiet_hours = QuietHours {
        start: "22:00".into(),
        end: "06:30".into(),
        timezone: "UTC".into(),
        let_through: Severity::High,
    };
    let ctx = ctx();
    let p = Planner { cfg: &c, ctx: &ctx };
    let mut s = PlanState::default();
    let night = at("2026-11-30T23:15:00Z");
    let low = p.incident(&mut s, &doc("l", Severity::Low, &["WS-1"], &[], 1), night);
    assert_eq!(low[0].not_before, at("2026-12-01T06:30:00Z"));
    let crit = p.incident(
        &mut s,
        &doc("c", Severity::Critical, &["PACS01"], &[], 1),
        night,
    );
    assert_eq!(crit[0].not_before, night);
    let high = p.incident(
        &mut s,
        &doc("h", Severity::High, &["PACS01"], &[], 1),
        night,
    );
    assert_eq!(high[0].not_before, night);
    // After midnight, before the end, and outside.
    assert_eq!(
        p.quiet_until(at("2026-12-01T02:00:00Z")),
        Some(at("2026-12-01T06:30:00Z"))
    );
    assert_eq!(p.quiet_until(at("2026-12-01T12:00:00Z")), None);
    // Critical goes out even when the operator let nothing through.
    c.quiet_hours.let_through = Severity::Critical;
    let p = Planner { cfg: &c, ctx: &ctx };
    let crit = p.incident(
        &mut s,
        &doc("c2", Severity::Critical, &["PACS01"], &[], 1),
        night,
    );
    assert_eq!(crit[0].not_before, night);
}

#[test]
fn the_rate_limit_ends_with_n_more() {
    let mut c = cfg(vec![route("it@h.example", Severity::Medium)]);
    c.rate_limit_per_hour = 2;
    let ctx = ctx();
    let p = Planner { cfg: &c, ctx: &ctx };
    let mut s = PlanState::default();
    let now = at("2026-11-30T10:00:00Z");
    let mut sent = 0;
    for k in 0..6 {
        sent += p
            .incident(
                &mut s,
                &doc(&format!("inc-{k}"), Severity::High, &["WS-1"], &[], 1),
                now,
            )
            .len();
    }
    assert_eq!(sent, 2);
    assert!(p.tick(&mut s, at("2026-11-30T10:30:00Z")).is_empty());
    let out = p.tick(&mut s, at("2026-11-30T11:00:00Z"));
    assert_eq!(out.len(), 1);
    let Content::Mail(m) = &out[0].content else {
        panic!()
    };
    assert!(
        m.text.contains("4 more incidents: see the console"),
        "{}",
        m.text
    );
    assert!(m.text.contains("/incidents/inc-5"), "{}", m.text);
    assert_eq!(out[0].kind, "more");
}

#[test]
fn webhooks_get_their_format_and_the_state_round_trips() {
    let mut r = route("it@h.example", Severity::Medium);
    r.webhooks = vec!["teams".into(), "slack".into()];
    let mut c = cfg(vec![r]);
    for (name, format) in [
        ("teams", WebhookFormat::Teams),
        ("slack", WebhookFormat::Slack),
    ] {
        c.webhooks.push(WebhookConfig {
            name: name.into(),
            url: "http://127.0.0.1:1/x".into(),
            format,
            secret: String::new(),
        });
    }
    let ctx = ctx();
    let p = Planner { cfg: &c, ctx: &ctx };
    let mut s = PlanState::default();
    let out = p.incident(
        &mut s,
        &doc("i", Severity::High, &["PACS01"], &[], 1),
        at("2026-11-30T10:00:00Z"),
    );
    assert_eq!(out.len(), 3);
    let Content::Json(teams) = &out[1].content else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_str(teams).unwrap();
    assert_eq!(v["attachments"][0]["content"]["type"], "AdaptiveCard");
    let Content::Json(slack) = &out[2].content else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_str(slack).unwrap();
    assert_eq!(v["blocks"][0]["type"], "header");
    let back: PlanState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}

#[test]
fn the_weekly_report_is_due_once_on_monday_morning() {
    let mut c = cfg(vec![]);
    c.report.to = vec!["director@h.example".into()];
    c.report.hour = 7;
    // Sunday: not due. Monday 06:59: not yet. Monday 07:00: due, once.
    assert_eq!(report_due(&c, None, at("2026-12-06T08:00:00Z")), None);
    assert_eq!(report_due(&c, None, at("2026-12-07T06:59:00Z")), None);
    let (key, end) = report_due(&c, None, at("2026-12-07T07:00:00Z")).unwrap();
    assert_eq!(key, "week:2026-12-07");
    assert_eq!(end, at("2026-12-07T00:00:00Z"));
    assert_eq!(report_due(&c, Some(&key), at("2026-12-07T09:00:00Z")), None);
    // Down on Monday morning, back on Monday evening: still sent.
    assert!(report_due(&c, None, at("2026-12-07T20:00:00Z")).is_some());
    c.report.period = "month".into();
    let (key, _) = report_due(&c, None, at("2026-12-01T07:30:00Z")).unwrap();
    assert_eq!(key, "month:2026-12-01");
}

#[test]
fn a_report_scheduled_in_a_time_zone_east_of_utc_covers_the_whole_utc_week() {
    let mut c = cfg(vec![]);
    c.report.to = vec!["director@h.example".into()];
    c.report.hour = 7;
    c.quiet_hours.timezone = "Europe/Amsterdam".into();
    // 06:30 in Amsterdam: not yet; 07:05 (06:05 UTC): due, for the week up to Monday 00:00 UTC
    // (local midnight was Sunday 23:00 UTC).
    assert_eq!(report_due(&c, None, at("2026-12-07T05:30:00Z")), None);
    let (key, end) = report_due(&c, None, at("2026-12-07T06:05:00Z")).unwrap();
    assert_eq!(key, "week:2026-12-07");
    assert_eq!(end, at("2026-12-07T00:00:00Z"));
}
