use super::*;
use crate::model::{MAX_ALERT_IDS, PRIVACY_INCIDENT_PREFIX};
use crate::testkit::*;
use wardwatch_core::Severity::{Critical, High, Low, Medium};

/// Feed `alerts` through a default grouper; returns the grouper and the open incidents.
fn run(alerts: &[Alert]) -> (Grouper, Vec<Incident>) {
    let ctx = hospital();
    let mut g = grouper();
    for a in alerts {
        g.add(a, &ctx, a.timestamp);
    }
    let open = g.open().cloned().collect();
    (g, open)
}

#[test]
fn unrelated_alerts_stay_apart() {
    let t = at("2026-03-02T10:00:00Z");
    let (_, open) = run(&[
        alert("r1", "a", High, t).host("ws-1").user("alice").build(),
        alert("r2", "b", High, t).host("ws-2").user("bob").build(),
        alert("r3", "c", Low, t)
            .host("ws-3")
            .user("SYSTEM")
            .ip("127.0.0.1")
            .build(),
        alert("r4", "d", Low, t)
            .host("ws-4")
            .user("WS-4$")
            .fact("IpAddress", "::1")
            .build(),
        alert("r5", "e", Low, t)
            .host("ws-5")
            .user("NT AUTHORITY\\SYSTEM")
            .fact("IpAddress", "-")
            .build(),
    ]);
    assert_eq!(open.len(), 5, "noise users and addresses link nothing");
}

#[test]
fn shared_host_user_and_address_join_within_the_window() {
    let t = at("2026-03-02T10:00:00Z");
    let (_, open) = run(&[
        alert("r1", "a", High, t).host("ws-1").user("alice").build(),
        // same host, other spelling
        alert("r2", "b", Medium, at("2026-03-02T10:30:00Z"))
            .host("WS-1")
            .build(),
        // same user, domain-qualified
        alert("r3", "c", Medium, at("2026-03-02T11:00:00Z"))
            .host("srv-9")
            .user("HOSP\\Alice")
            .build(),
        // same source address as the next one
        alert("r4", "d", Low, at("2026-03-02T11:10:00Z"))
            .host("srv-9")
            .ip("10.1.1.1")
            .build(),
        alert("r5", "e", Low, at("2026-03-02T11:20:00Z"))
            .host("srv-7")
            .ip("10.1.1.1")
            .build(),
    ]);
    assert_eq!(open.len(), 1);
    let inc = &open[0];
    assert_eq!(inc.hosts, ["ws-1", "srv-9", "srv-7"]);
    assert_eq!(inc.users, ["alice"]);
    assert_eq!(inc.ips, ["10.1.1.1"]);
    assert_eq!(inc.alert_count, 5);
    assert_eq!(inc.id, format!("inc-{}", open[0].alert_ids[0]));
}

#[test]
fn the_window_is_event_time() {
    let (_, open) = run(&[
        alert("r1", "a", High, at("2026-03-02T10:00:00Z"))
            .host("ws-1")
            .build(),
        // 2 h 1 min later: same host, but outside the window (incident still open)
        alert("r2", "b", High, at("2026-03-02T12:01:00Z"))
            .host("ws-1")
            .build(),
    ]);
    assert_eq!(open.len(), 2);
    // An alert arriving late but with an event time inside the window still joins.
    let (_, open) = run(&[
        alert("r1", "a", High, at("2026-03-02T10:00:00Z"))
            .host("ws-1")
            .build(),
        alert("r2", "b", High, at("2026-03-02T09:00:00Z"))
            .host("ws-1")
            .build(),
    ]);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].first_seen, at("2026-03-02T09:00:00Z"));
}

#[test]
fn quiet_incidents_close_by_tick_and_by_event_time() {
    let ctx = hospital();
    let mut g = grouper();
    let t = at("2026-03-02T10:00:00Z");
    g.add(&alert("r1", "a", High, t).host("ws-1").build(), &ctx, t);
    assert!(g.tick(at("2026-03-02T15:59:59Z")).is_empty());
    let closed = g.tick(at("2026-03-02T16:00:00Z"));
    assert_eq!(closed.len(), 1);
    assert!(closed[0].closed);
    assert_eq!(closed[0].history.last().unwrap().action, "closed");
    assert_eq!(g.open().count(), 0);

    // Replay: a later alert's event time closes what went quiet before it, and is returned.
    let mut g = grouper();
    g.add(&alert("r1", "a", High, t).host("ws-1").build(), &ctx, t);
    let later = at("2026-03-02T17:00:00Z");
    let out = g.add(
        &alert("r2", "b", High, later).host("ws-1").build(),
        &ctx,
        later,
    );
    assert_eq!(out.len(), 2);
    assert!(out[0].closed && !out[1].closed);
    assert_ne!(out[0].id, out[1].id);
}

#[test]
fn an_alert_linking_two_incidents_merges_them_into_the_older() {
    let ctx = hospital();
    let mut g = grouper();
    let t1 = at("2026-03-02T10:00:00Z");
    let t2 = at("2026-03-02T10:05:00Z");
    let t3 = at("2026-03-02T10:10:00Z");
    let a = alert("r1", "a", High, t1)
        .host("ws-1")
        .user("alice")
        .build();
    let b = alert("r2", "b", Medium, t2)
        .host("ws-2")
        .user("bob")
        .build();
    g.add(&a, &ctx, t1);
    g.add(&b, &ctx, t2);
    assert_eq!(g.open().count(), 2);
    let out = g.add(
        &alert("r3", "c", Critical, t3)
            .host("ws-2")
            .user("alice")
            .build(),
        &ctx,
        t3,
    );
    assert_eq!(out.len(), 2);
    let (gone, kept) = (&out[0], &out[1]);
    assert_eq!(kept.id, format!("inc-{}", a.id));
    assert_eq!(gone.merged_into.as_deref(), Some(kept.id.as_str()));
    assert!(gone.closed);
    assert_eq!(gone.history.last().unwrap().action, "merged-into");
    assert!(
        kept.history
            .iter()
            .any(|h| h.action == "merged" && h.detail.contains(&gone.id))
    );
    assert_eq!(kept.alert_count, 3);
    assert_eq!(kept.hosts, ["ws-1", "ws-2"]);
    assert_eq!(kept.users, ["alice", "bob"]);
    assert_eq!(kept.timeline.len(), 3);
    assert_eq!(g.open().count(), 1);
    // The merged-away incident's keys now lead to the survivor.
    let t4 = at("2026-03-02T10:20:00Z");
    let out = g.add(&alert("r4", "d", Low, t4).user("bob").build(), &ctx, t4);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].id, kept.id);
}

#[test]
fn repeated_alerts_count_on_one_step() {
    let mut alerts = Vec::new();
    for m in 0..5 {
        let t = at(&format!("2026-03-02T10:0{m}:00Z"));
        alerts.push(
            alert("r1", "a", Medium, t)
                .host("ws-1")
                .user("alice")
                .build(),
        );
    }
    alerts.push(
        alert("r1", "a", Medium, at("2026-03-02T10:06:00Z"))
            .host("ws-1")
            .user("bob")
            .build(),
    );
    let (g, open) = run(&alerts);
    let inc = &open[0];
    assert_eq!(inc.alert_count, 6);
    assert_eq!(inc.timeline.len(), 2);
    assert_eq!(inc.timeline[0].count, 5);
    assert_eq!(inc.timeline[0].last_seen, at("2026-03-02T10:04:00Z"));
    // Score counts the rule once.
    assert_eq!(inc.score, 5.0 * 1.2);
    // Replaying the same alert ids adds nothing.
    let mut g = g;
    let ctx = hospital();
    assert!(g.add(&alerts[0], &ctx, alerts[0].timestamp).is_empty());
    assert_eq!(g.open().next().unwrap().alert_count, 6);
}

#[test]
fn history_records_creation_and_growth_but_not_repeats() {
    let t = at("2026-03-02T10:00:00Z");
    let (_, open) = run(&[
        alert("r1", "Encoded PowerShell", High, t)
            .host("ws-1")
            .build(),
        alert("r1", "Encoded PowerShell", High, t)
            .host("ws-1")
            .build(),
        alert("r2", "b", High, t).host("ws-1").build(),
    ]);
    let actions: Vec<&str> = open[0].history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["created", "grew"]);
    assert_eq!(
        open[0].history[0].detail,
        "opened by Encoded PowerShell on ws-1"
    );
}

#[test]
fn a_child_process_joins_its_parents_incident_however_late() {
    let (_, open) = run(&[
        alert(
            "r1",
            "Word spawns PowerShell",
            High,
            at("2026-03-02T10:00:00Z"),
        )
        .host("ws-1")
        .user("alice")
        .fact("ProcessGuid", "{AAAA-1}")
        .build(),
        // 3 h later, no shared host or user (the event lost them), but the parent is known.
        alert(
            "r2",
            "PowerShell download",
            High,
            at("2026-03-02T13:00:00Z"),
        )
        .user("SYSTEM")
        .fact("ProcessGuid", "{BBBB-2}")
        .fact("ParentProcessGuid", "{aaaa-1}")
        .build(),
        // And its child in turn.
        alert(
            "r3",
            "Rundll32 MiniDump",
            Critical,
            at("2026-03-02T13:01:00Z"),
        )
        .fact("ParentProcessGuid", "{BBBB-2}")
        .build(),
    ]);
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0].alert_count, 3);
}

#[test]
fn a_mail_joins_its_recipients_incident_and_the_other_way_round() {
    // mail first, the user's alert 3 h later (beyond the window, but causal)
    let (_, open) = run(&[
        alert("mail", "Phishing mail", Medium, at("2026-03-02T07:00:00Z"))
            .host("mx01")
            .fact("email.to.address", "J.Smith@hospital.example")
            .build(),
        alert(
            "click",
            "Edge from Outlook",
            Medium,
            at("2026-03-02T10:00:00Z"),
        )
        .host("ws-rad-014")
        .user("jsmith")
        .build(),
    ]);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].users, ["jsmith"]);
    assert_eq!(open[0].emails, ["j.smith@hospital.example"]);

    // the user's alert first, the mail later
    let (_, open) = run(&[
        alert(
            "click",
            "Edge from Outlook",
            Medium,
            at("2026-03-02T07:00:00Z"),
        )
        .host("ws-rad-014")
        .user("jsmith")
        .build(),
        alert("mail", "Phishing mail", Medium, at("2026-03-02T10:00:00Z"))
            .host("mx01")
            .fact("email.to.address", "j.smith@hospital.example")
            .build(),
    ]);
    assert_eq!(open.len(), 1);

    // a mail to someone else stays apart
    let (_, open) = run(&[
        alert(
            "click",
            "Edge from Outlook",
            Medium,
            at("2026-03-02T07:00:00Z"),
        )
        .host("ws-rad-014")
        .user("jsmith")
        .build(),
        alert("mail", "Phishing mail", Medium, at("2026-03-02T10:00:00Z"))
            .host("mx01")
            .fact("email.to.address", "k.weber@hospital.example")
            .build(),
    ]);
    assert_eq!(open.len(), 2);
}

#[test]
fn a_logon_from_a_host_joins_that_hosts_incident() {
    // The inventory maps 10.20.1.14 to WS-RAD-014; the logon on PACS01 uses another account.
    let (_, open) = run(&[
        alert("dump", "LSASS dump", Critical, at("2026-03-02T10:00:00Z"))
            .host("WS-RAD-014")
            .user("jsmith")
            .build(),
        alert("logon", "Admin logon", Medium, at("2026-03-02T10:30:00Z"))
            .host("PACS01")
            .user("pacs-admin")
            .fact("LogonType", "3")
            .fact("IpAddress", "10.20.1.14")
            .build(),
        alert("svc", "PsExec service", High, at("2026-03-02T10:31:00Z"))
            .host("PACS01")
            .build(),
    ]);
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0].hosts, ["WS-RAD-014", "PACS01"]);

    // Addresses learned from alerts' host.ip work too, and so does WorkstationName.
    let (_, open) = run(&[
        alert("a", "x", High, at("2026-03-02T10:00:00Z"))
            .host("WS-9")
            .user("u1")
            .fact("host.ip", "10.5.5.9")
            .build(),
        alert("b", "y", High, at("2026-03-02T10:10:00Z"))
            .host("SRV-1")
            .user("u2")
            .fact("IpAddress", "10.5.5.9")
            .build(),
        alert("c", "z", High, at("2026-03-02T10:20:00Z"))
            .host("WS-7")
            .user("u3")
            .build(),
        alert("d", "w", High, at("2026-03-02T10:30:00Z"))
            .host("SRV-2")
            .user("u4")
            .fact("WorkstationName", "ws-7")
            .build(),
    ]);
    assert_eq!(open.len(), 2);
}

#[test]
fn a_restarted_grouper_continues_the_same_incidents() {
    let ctx = hospital();
    let t = at("2026-03-02T10:00:00Z");
    let a = alert("a", "x", High, t)
        .host("WS-9")
        .fact("ProcessGuid", "{G-1}")
        .fact("host.ip", "10.5.5.9")
        .build();
    let mut g = grouper();
    g.add(&a, &ctx, t);
    let open: Vec<Incident> = g.open().cloned().collect();
    let json = serde_json::to_string(&open).unwrap();
    let back: Vec<Incident> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, open);
    let mut g = Grouper::new(GroupConfig::default(), back);
    assert!(g.has_seen(&a.id));
    assert!(g.add(&a, &ctx, t).is_empty(), "already grouped");
    let t2 = at("2026-03-02T10:05:00Z");
    let out = g.add(
        &alert("b", "y", High, t2)
            .host("SRV-1")
            .fact("IpAddress", "10.5.5.9")
            .build(),
        &ctx,
        t2,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].alert_count, 2);
    let t3 = at("2026-03-02T15:00:00Z");
    let out = g.add(
        &alert("c", "z", High, t3)
            .fact("ParentProcessGuid", "{g-1}")
            .build(),
        &ctx,
        t3,
    );
    assert_eq!(out[0].alert_count, 3);
    assert!(g.get_mut(&out[0].id).is_some());
}

#[test]
fn alert_ids_are_capped_but_counted() {
    let ctx = hospital();
    let mut g = grouper();
    let t = at("2026-03-02T10:00:00Z");
    for n in 0..(MAX_ALERT_IDS + 5) {
        g.add(
            &alert("r", "x", Low, t)
                .id(&format!("a{n}"))
                .host("ws-1")
                .build(),
            &ctx,
            t,
        );
    }
    let inc = g.open().next().unwrap();
    assert_eq!(inc.alert_count, MAX_ALERT_IDS as u64 + 5);
    assert_eq!(inc.alert_ids.len(), MAX_ALERT_IDS);
}

#[test]
fn noise_helpers() {
    for u in [
        "SYSTEM",
        "NT AUTHORITY\\LOCAL SERVICE",
        "Network Service",
        "ANONYMOUS LOGON",
        "-",
        "",
        "WS-1$",
        "DWM-1",
    ] {
        assert!(is_noise_user(u), "{u}");
    }
    assert!(!is_noise_user("jsmith"));
    assert_eq!(clean_ip("::ffff:10.1.2.3").as_deref(), Some("10.1.2.3"));
    for ip in ["127.0.0.1", "::1", "0.0.0.0", "-", ""] {
        assert_eq!(clean_ip(ip), None, "{ip}");
    }
}

#[test]
fn a_spray_over_thousands_of_accounts_stays_bounded() {
    use crate::model::{MAX_ENTITIES, MAX_STEPS};
    let ctx = hospital();
    let mut g = grouper();
    let t = at("2026-03-02T10:00:00Z");
    for n in 0..1500 {
        let a = alert("spray", "Failed logon", Low, t)
            .host("DC01")
            .user(&format!("user{n}"))
            .fact("IpAddress", "10.99.3.17")
            .build();
        g.add(&a, &ctx, t);
    }
    let inc = g.open().next().unwrap();
    assert_eq!(g.open().count(), 1);
    assert_eq!(inc.alert_count, 1500);
    assert_eq!(inc.users.len(), MAX_ENTITIES);
    assert_eq!(inc.timeline.len(), MAX_STEPS);
    assert_eq!(inc.timeline.iter().map(|s| s.count).sum::<u64>(), 1500);
}

#[test]
fn a_group_member_known_only_by_sid_is_named_from_its_creation() {
    let sid = "S-1-5-21-1-2-3-1003";
    let (_, open) = run(&[
        alert(
            "created",
            "User created",
            Medium,
            at("2026-03-07T02:42:00Z"),
        )
        .host("EPR01")
        .user("admin-kw")
        .fact("event.code", "4720")
        .fact("TargetUserName", "svc_backup2")
        .fact("TargetSid", sid)
        .build(),
        alert("added", "Member added", Medium, at("2026-03-07T02:43:00Z"))
            .host("EPR01")
            .user("admin-kw")
            .fact("event.code", "4732")
            .fact("TargetUserName", "Administrators")
            .fact("MemberName", "-")
            .fact("MemberSid", sid)
            .build(),
    ]);
    assert_eq!(open.len(), 1);
    let step = open[0]
        .timeline
        .iter()
        .find(|s| s.rule_id == "added")
        .unwrap();
    assert_eq!(step.facts["MemberName"], "svc_backup2");
}

#[test]
fn remembered_alert_ids_stay_bounded_while_an_incident_stays_open() {
    // Before: every alert id stayed in the grouper while its incident was open (and past the
    // incident's own cap of ids, for ever).
    let ctx = hospital();
    let mut g = grouper();
    let t = at("2026-03-02T10:00:00Z");
    let n = MAX_SEEN_ALERTS + 5_000;
    for i in 0..n {
        let a = alert("r", "x", Low, t)
            .id(&format!("a{i}"))
            .host("ws-1")
            .build();
        g.add(&a, &ctx, t);
    }
    assert_eq!(g.open().count(), 1);
    assert_eq!(g.open().next().unwrap().alert_count, n as u64);
    assert_eq!(g.remembered_alerts(), MAX_SEEN_ALERTS);
    // A replay of the recent alerts (what a crash re-raises) still adds nothing.
    for i in n - 4000..n {
        let a = alert("r", "x", Low, t)
            .id(&format!("a{i}"))
            .host("ws-1")
            .build();
        assert!(g.add(&a, &ctx, t).is_empty());
    }
    assert_eq!(g.open().next().unwrap().alert_count, n as u64);
}

#[test]
fn account_administration_by_a_non_admin_raises_the_incident_with_its_reason() {
    let t = at("2026-03-02T10:00:00Z");
    let add = |actor: &str, host: &str| {
        alert(
            "r-admin-add",
            "Member Added To The Local Administrators Group",
            Low,
            t,
        )
        .host(host)
        .user(actor)
        .fact("SubjectUserName", actor)
        .tags(&["attack.persistence", "attack.t1098"])
        .build()
    };
    // The administrator on a file server: routine; the radiographer's account on the PACS: not.
    let (_, open) = run(&[
        add("admin-kw", "srv-files-2"),
        add("jsmith", "pacs01.hospital.local"),
    ]);
    let by = |u: &str| {
        open.iter()
            .find(|i| i.users.iter().any(|x| x == u))
            .unwrap()
    };
    assert_eq!(by("admin-kw").severity, Low);
    let raised = by("jsmith");
    assert_eq!(raised.severity, Medium);
    assert!(
        raised.timeline[0].facts["level.reason"].contains("Jane Smith"),
        "{:?}",
        raised.timeline[0].facts
    );
}

/// Privacy alerts (tag `privacy`) make their own incidents, one per user, and never join or
/// take in the security team's incidents, even about the same user, host or address.
#[test]
fn privacy_alerts_group_per_user_and_apart_from_everything_else() {
    let t = at("2026-03-02T10:00:00Z");
    let privacy = |rule: &str, user: &str, minutes: i64| {
        alert(
            rule,
            "Record of a coworker opened",
            Medium,
            t + SignedDuration::from_mins(minutes),
        )
        .host("epr01")
        .user(user)
        .ip("10.20.7.44")
        .tags(&["privacy", "privacy.coworker"])
        .build()
    };
    let (_, open) = run(&[
        alert("r1", "Logon from a new host", High, t)
            .host("epr01")
            .user("alice")
            .ip("10.20.7.44")
            .build(),
        privacy("analytic-privacy-coworker", "alice", 1),
        privacy("analytic-privacy-same-address", "alice", 5),
        privacy("analytic-privacy-coworker", "bob", 6),
        alert(
            "r2",
            "Shadow copies deleted",
            High,
            t + SignedDuration::from_mins(7),
        )
        .host("epr01")
        .user("alice")
        .build(),
    ]);
    let mut kinds: Vec<(bool, Vec<String>, u64)> = open
        .iter()
        .map(|i| {
            assert_eq!(
                i.privacy,
                i.id.starts_with(PRIVACY_INCIDENT_PREFIX),
                "{}",
                i.id
            );
            (i.privacy, i.users.clone(), i.alert_count)
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            (false, vec!["alice".to_string()], 2),
            (true, vec!["alice".to_string()], 2),
            (true, vec!["bob".to_string()], 1),
        ]
    );
}

#[test]
fn a_network_analytics_targets_link_nothing_its_source_does() {
    let t = at("2026-03-02T10:00:00Z");
    let target = |mut a: Alert, ip: &str| {
        a.entities.push(wardwatch_core::Entity::new(
            wardwatch_core::EntityKind::Ip,
            ip,
        ));
        a
    };
    let (_, open) = run(&[
        // An incident whose source is 10.1.1.7.
        alert("r1", "a", High, t)
            .host("srv-9")
            .ip("10.1.1.7")
            .build(),
        // The jump host's sessions to many servers, 10.1.1.7 among them: no link.
        target(
            target(
                alert("analytic-network-remote-login-fan-out", "fan", Low, t)
                    .ip("10.9.9.7")
                    .build(),
                "10.1.1.5",
            ),
            "10.1.1.7",
        ),
        // A chain whose origin is 10.1.1.7 joins its incident.
        target(
            alert("analytic-network-lateral-chain", "chain", High, t)
                .ip("10.1.1.7")
                .build(),
            "10.1.1.8",
        ),
    ]);
    assert_eq!(open.len(), 2, "{open:#?}");
    assert!(open.iter().any(|i| i.alert_count == 2));
}

/// A cluster's partition hours behind the others: its late alert joins the incident one
/// machine (reading in event time) would have extended, as long as closing is capped at the
/// lagging partition's time; once it catches up (no cap) the incident closes as on one machine.
#[test]
fn closing_capped_at_a_lagging_partitions_time_keeps_one_machines_incidents() {
    let ctx = hospital();
    let first = alert("r1", "a", High, at("2026-03-02T10:00:00Z"))
        .host("ws-lag")
        .build();
    let late = alert("r2", "b", High, at("2026-03-02T11:00:00Z"))
        .host("ws-lag")
        .build();
    let fast = alert("r3", "c", High, at("2026-03-02T17:00:00Z"))
        .host("ws-fast")
        .build();
    let summary = |g: &Grouper, closed: &[Incident]| {
        let mut all: Vec<(String, u64, bool)> = g
            .open()
            .chain(closed)
            .map(|i| {
                let host = i.timeline.first().and_then(|s| s.host.clone());
                (host.unwrap_or_default(), i.alert_count, i.closed)
            })
            .collect();
        all.sort();
        all
    };

    // One machine: event time in order.
    let mut one = grouper();
    let mut one_closed = Vec::new();
    for a in [&first, &late, &fast] {
        one_closed.extend(
            one.add(a, &ctx, a.timestamp)
                .into_iter()
                .filter(|i| i.closed),
        );
    }

    // A cluster without the cap: the fast partition's alert closes the incident first.
    let mut uncapped = grouper();
    for a in [&first, &fast, &late] {
        uncapped.add(a, &ctx, a.timestamp);
    }
    assert_eq!(
        uncapped.open().filter(|i| i.alert_count == 1).count(),
        2,
        "without the cap the late alert opens a new incident"
    );

    // With the cap at the lagging partition's time (10:30), the late alert joins.
    let mut capped = grouper();
    let mut capped_closed = Vec::new();
    capped.close_upto(Some(at("2026-03-02T10:30:00Z")), first.timestamp);
    for a in [&first, &fast, &late] {
        capped_closed.extend(
            capped
                .add(a, &ctx, a.timestamp)
                .into_iter()
                .filter(|i| i.closed),
        );
    }
    assert!(capped_closed.is_empty(), "nothing closes past the cap");
    assert_eq!(capped.closing_clock(), Some(at("2026-03-02T10:30:00Z")));
    // The partition caught up: no cap, and what one machine closed closes.
    capped_closed.extend(capped.close_upto(None, fast.timestamp));
    assert_eq!(summary(&capped, &capped_closed), summary(&one, &one_closed));
    assert_eq!(
        summary(&one, &one_closed),
        vec![("ws-fast".into(), 1, false), ("ws-lag".into(), 2, true)]
    );
}
