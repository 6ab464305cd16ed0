//! Search's fast path against the plain definition: on a fixture with host names with and
//! without their domain and in mixed case, names only in the record (not the normalized
//! field), words, phrases, negations, wildcards, two organizations, time ranges and events the
//! indexer has not reached, every query's pages and totals equal those of checking every event
//! in the range against the query one by one.

use serde_json::json;
use wardwatch_core::{Event, Origin, SourceKind};
use wardwatch_store::{
    Db, DbOptions, DetectionCommit, IndexDb, SearchRequest, TotalRelation, VERIFY_BOUND, doc_text,
    index_text, query,
};

const HOSTS: &[Option<&str>] = &[
    Some("PACS01.hospital.local"),
    Some("pacs01"),
    Some("WS-042.hospital.local"),
    Some("ws-042"),
    Some("PACS010.hospital.local"),
    None,
    Some("Pacs01.Hospital.Local"),
];
const USERS: &[Option<&str>] = &[Some("mnguyen"), Some("MNguyen"), Some("alice"), None];
const CODES: &[&str] = &["4624", "4625", "1"];
const COMMANDS: &[&str] = &[
    "powershell -enc AAA",
    "enc powershell",
    "notepad",
    "cmd /c copy pacs01 backup",
    "net use \\\\pacs01\\share",
];

fn event(i: usize) -> Event {
    let host = HOSTS[i % HOSTS.len()];
    // Every eleventh record names PACS01 in its own host field while the normalized one says
    // something else: only the one-by-one check finds those.
    let raw_host = if i.is_multiple_of(11) {
        "PACS01.hospital.local"
    } else {
        host.unwrap_or("")
    };
    let code = CODES[i % CODES.len()];
    let mut e = Event::new(
        SourceKind::FlatWindows,
        jiff::Timestamp::from_second(1_770_000_000 + i as i64).unwrap(),
        json!({
            "EventID": code.parse::<u32>().unwrap(),
            "Computer": raw_host,
            "host": {"name": raw_host},
            "CommandLine": COMMANDS[i % COMMANDS.len()],
            "WorkstationName": if i.is_multiple_of(13) { "PACS01" } else { "WS-9" },
        }),
    );
    e.ecs.host_name = host.map(str::to_string);
    e.ecs.user_name = USERS[i % USERS.len()].map(str::to_string);
    e.ecs.event_code = Some(code.into());
    e.ecs.channel = i.is_multiple_of(2).then(|| "Security".to_string());
    e.organization = if i.is_multiple_of(5) {
        "north"
    } else {
        "default"
    }
    .into();
    e.origin = Origin {
        source: "test".into(),
        record_id: Some(i as u64),
        offset: None,
        id: None,
    };
    e
}

fn open(dir: &std::path::Path) -> Db {
    Db::open(
        dir,
        &DbOptions {
            fsync_every_commit: false,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Index the first `n` stored events as the server's indexer does (the text of the whole
/// stored document).
fn index(db: &Db, dir: &std::path::Path, n: usize) {
    let rows: Vec<(i64, String)> = db
        .read_docs_after(0, n)
        .unwrap()
        .iter()
        .map(|(seq, doc)| (*seq, doc_text(doc).unwrap()))
        .collect();
    let mut index = IndexDb::open(dir, &DbOptions::default()).unwrap();
    index.commit(rows.last().map_or(0, |r| r.0), &rows).unwrap();
}

/// Store `n` events, index the first `indexed` of them.
fn store(dir: &std::path::Path, n: usize, indexed: usize) -> Db {
    let mut db = open(dir);
    let events: Vec<Event> = (0..n).map(event).collect();
    db.append(&[events]).unwrap();
    index(&db, dir, indexed);
    db.commit_detection(&DetectionCommit {
        worker: "detect",
        cursor: n as i64,
        ..Default::default()
    })
    .unwrap();
    db
}

/// The plain definition: every event in the range and organizations, checked one by one,
/// newest first, as sequence numbers.
fn reference(db: &Db, req: &SearchRequest) -> Vec<i64> {
    let q = query::parse(&req.q).unwrap();
    let mut hits: Vec<(jiff::Timestamp, i64)> = db
        .read_after(0, 100_000)
        .unwrap()
        .into_iter()
        .filter(|r| req.from.is_none_or(|f| r.event.timestamp >= f))
        .filter(|r| req.to.is_none_or(|t| r.event.timestamp < t))
        .filter(|r| {
            req.orgs
                .as_ref()
                .is_none_or(|o| o.contains(&r.event.organization))
        })
        .filter(|r| q.matches(&r.event, &query::words(&index_text(&r.event))))
        .map(|r| (r.event.timestamp, r.seq))
        .collect();
    hits.sort_by(|a, b| b.cmp(a));
    hits.into_iter().map(|(_, s)| s).collect()
}

/// Every page of `req` from the fast path, each checked against the reference.
fn compare(db: &Db, req: &SearchRequest) {
    let expected = reference(db, req);
    let mut got = Vec::new();
    let mut cursor = None;
    loop {
        let page = db
            .search_events(&SearchRequest {
                cursor: cursor.clone(),
                // Exact totals whatever the machine's load (the default count time may turn
                // a slow check into an estimate).
                count_time: Some(std::time::Duration::from_secs(600)),
                ..req.clone()
            })
            .unwrap();
        assert_eq!(
            (page.total, page.total_relation, page.partial),
            (expected.len() as u64, TotalRelation::Exact, false),
            "total of {:?} (limit {}, cursor {cursor:?})",
            req.q,
            req.limit
        );
        got.extend(page.events.iter().map(|e| e["seq"].as_i64().unwrap()));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(got, expected, "events of {:?}", req.q);
}

const QUERIES: &[&str] = &[
    "",
    "powershell",
    "\"powershell enc\"",
    "host.name:PACS01",
    "host.name:pacs01.hospital.local",
    "host.name:PACS01 AND event.code:4624",
    "host.name:PACS01 event.code:4625 user.name:mnguyen",
    "user.name:mnguyen",
    "user.name:MNGUYEN OR event.code:1",
    "mnguyen",
    "pacs01",
    "event.code:4625",
    "organization.id:north",
    "log.channel:Security AND NOT host.name:ws-042",
    "host.name:PACS01 OR user.name:alice",
    "NOT host.name:PACS01",
    "host.name:PACS0*",
    "host.name:PACS01 NOT event.code:4624",
    "Computer:pacs01",
    "WorkstationName:PACS01 AND user.name:alice",
    "host.name:ws-042 AND powershell",
    "host.name:nowhere",
];

#[test]
fn fast_search_finds_and_counts_what_checking_every_event_does() {
    let dir = tempfile::tempdir().unwrap();
    // 40 events after the index's cursor: found by checking them directly.
    let db = store(dir.path(), 700, 660);
    let at = |s: i64| Some(jiff::Timestamp::from_second(1_770_000_000 + s).unwrap());
    for q in QUERIES {
        for (limit, from, to, orgs) in [
            (1000, None, None, None),
            (60, None, None, None),
            (50, at(100), at(650), None),
            (30, at(600), None, Some(vec!["north".to_string()])),
            (25, None, None, Some(vec![])),
        ] {
            compare(
                &db,
                &SearchRequest {
                    q: q.to_string(),
                    from,
                    to,
                    limit,
                    orgs,
                    budget: Some(std::time::Duration::from_secs(600)),
                    ..Default::default()
                },
            );
        }
    }
}

#[test]
fn proven_matches_are_counted_exactly_past_the_checking_bound_and_the_rest_estimated() {
    let n = (VERIFY_BOUND as usize) * 2 + 500;
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path());
    let events: Vec<Event> = (0..n)
        .map(|i| {
            let mut e = event(i);
            e.ecs.host_name = Some("PACS01.hospital.local".into());
            e.raw["CommandLine"] = if i % 2 == 0 {
                "powershell -enc AAA"
            } else {
                "enc powershell"
            }
            .into();
            e
        })
        .collect();
    db.append(&[events]).unwrap();
    index(&db, dir.path(), n);
    let search = |q: &str| {
        db.search_events(&SearchRequest {
            q: q.into(),
            limit: 50,
            count_time: Some(std::time::Duration::from_secs(600)),
            ..Default::default()
        })
        .unwrap()
    };
    // The host column proves every match: exact, though far more than are checked one by one.
    let page = search("host.name:PACS01");
    assert_eq!(
        (page.total, page.total_relation),
        (n as u64, TotalRelation::Exact)
    );
    // A phrase needs every candidate checked: past the bound, the rest are estimated from the
    // checked ones (half of them match, alternately).
    let page = search("\"powershell enc\"");
    assert_eq!(page.total_relation, TotalRelation::Estimate);
    assert!(
        page.total.abs_diff(n as u64 / 2) <= 2,
        "estimate {} for {} matches",
        page.total,
        n / 2
    );
    assert_eq!(page.events.len(), 50);
    assert!(page.events.iter().all(|e| {
        e["raw"]["CommandLine"]
            .as_str()
            .unwrap()
            .starts_with("powershell")
    }));
    // Within the bound the same phrase is exact.
    let recent = db
        .search_events(&SearchRequest {
            q: "\"powershell enc\"".into(),
            from: Some(jiff::Timestamp::from_second(1_770_000_000 + n as i64 - 1000).unwrap()),
            limit: 50,
            count_time: Some(std::time::Duration::from_secs(600)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        (recent.total, recent.total_relation),
        (500, TotalRelation::Exact)
    );
}

#[test]
fn a_count_out_of_time_still_checks_a_sample_and_estimates_the_rest_from_it() {
    let n = (VERIFY_BOUND as usize) * 2;
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path());
    let events: Vec<Event> = (0..n)
        .map(|i| {
            let mut e = event(i);
            e.raw["CommandLine"] = if i % 2 == 0 {
                "powershell -enc AAA"
            } else {
                "enc powershell"
            }
            .into();
            e
        })
        .collect();
    db.append(&[events]).unwrap();
    index(&db, dir.path(), n);
    // No time at all to count: the page is found as always, and the total is estimated from
    // the first VERIFY_SAMPLE candidates checked (half of them match).
    let page = db
        .search_events(&SearchRequest {
            q: "\"powershell enc\"".into(),
            limit: 10,
            count_time: Some(std::time::Duration::ZERO),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.events.len(), 10);
    assert_eq!(page.total_relation, TotalRelation::Estimate);
    assert!(!page.partial);
    assert!(
        page.total.abs_diff(n as u64 / 2) <= 2,
        "estimate {} for {} matches",
        page.total,
        n / 2
    );
}

#[test]
fn a_sample_holds_the_columns_of_the_newest_matches_and_leaves_the_page_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = store(dir.path(), 700, 660);
    let stored: std::collections::HashMap<i64, Event> = db
        .read_after(0, 100_000)
        .unwrap()
        .into_iter()
        .map(|r| (r.seq, r.event))
        .collect();
    let columns = |seq: i64| {
        let e = &stored[&seq];
        wardwatch_store::SampleRow {
            ts: e.timestamp.as_nanosecond() as i64,
            host: e.ecs.host_name.as_deref().map(str::to_lowercase),
            user: e.ecs.user_name.as_deref().map(str::to_lowercase),
            code: e.ecs.event_code.clone(),
            channel: e.ecs.channel.clone(),
        }
    };
    for q in QUERIES {
        for (limit, sample) in [(20, 150), (20, 10), (200, 50_000), (1000, 5)] {
            let plain = SearchRequest {
                q: q.to_string(),
                limit,
                count_time: Some(std::time::Duration::from_secs(600)),
                ..Default::default()
            };
            let expected = reference(&db, &plain);
            let mut cursor = None;
            let mut seen = 0;
            loop {
                let without = db
                    .search_events(&SearchRequest {
                        cursor: cursor.clone(),
                        ..plain.clone()
                    })
                    .unwrap();
                let with = db
                    .search_events(&SearchRequest {
                        cursor: cursor.clone(),
                        sample,
                        ..plain.clone()
                    })
                    .unwrap();
                // The page, its total and its cursor are what they are without a sample.
                let seqs = |p: &wardwatch_store::EventPage| {
                    p.events
                        .iter()
                        .map(|e| e["seq"].as_i64().unwrap())
                        .collect::<Vec<_>>()
                };
                assert_eq!(seqs(&with), seqs(&without), "{q} {limit} {sample}");
                assert_eq!(
                    (with.total, with.total_relation, &with.next_cursor),
                    (without.total, without.total_relation, &without.next_cursor),
                    "{q} {limit} {sample}"
                );
                assert!(without.sample.is_empty());
                // The sample: the newest matches from this page on, by their columns.
                let wanted: Vec<_> = expected[seen..]
                    .iter()
                    .take(sample.min(wardwatch_store::MAX_SAMPLE))
                    .map(|&s| columns(s))
                    .collect();
                assert_eq!(with.sample, wanted, "{q} {limit} {sample}");
                seen += with.events.len();
                cursor = with.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
            assert_eq!(seen, expected.len(), "{q}");
        }
    }
}
