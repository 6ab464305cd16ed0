use serde_json::json;
use wardwatch_core::{Event, SourceKind};

use super::*;
use crate::{DbOptions, IndexDb, doc_text};

#[test]
fn walking_the_time_index_and_fetching_by_keys_find_and_count_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
    let hosts = ["PACS01.hospital.local", "pacs01", "ws-1.hospital.local"];
    let events: Vec<Event> = (0..300)
        .map(|i| {
            let mut e = Event::new(
                SourceKind::FlatWindows,
                // Out of order in time, so sequence and time order differ.
                jiff::Timestamp::from_second(1_770_000_000 + (i * 7919) % 300).unwrap(),
                json!({"Computer": if i % 7 == 0 { "PACS01" } else { "ws-1" },
                       "CommandLine": if i % 3 == 0 { "powershell -enc" } else { "enc powershell" }}),
            );
            e.ecs.host_name = Some(hosts[i as usize % hosts.len()].into());
            e.ecs.event_code = Some(["4624", "4625"][i as usize % 2].into());
            e
        })
        .collect();
    db.append(&[events]).unwrap();
    let rows: Vec<(i64, String)> = db
        .read_docs_after(0, 250)
        .unwrap()
        .into_iter()
        .map(|(seq, doc)| (seq, doc_text(&doc).unwrap()))
        .collect();
    IndexDb::open(dir.path(), &DbOptions::default())
        .unwrap()
        .commit(rows.last().unwrap().0, &rows)
        .unwrap();
    for q in [
        "powershell",
        "\"powershell enc\"",
        "host.name:PACS01",
        "host.name:PACS01 AND event.code:4625",
        "Computer:PACS01 OR event.code:4624",
        "pacs01 NOT event.code:4624",
    ] {
        for (limit, cursor) in [(1000, None), (17, None), (17, Some("1770000150-100"))] {
            let req = SearchRequest {
                q: q.into(),
                limit,
                cursor: cursor.map(str::to_string),
                count_time: Some(std::time::Duration::from_secs(600)),
                sample: 40,
                ..Default::default()
            };
            let listed = db.search_events_listing(&req, u64::MAX).unwrap();
            let walked = db.search_events_listing(&req, 0).unwrap();
            let key = |p: &EventPage| {
                (
                    p.total,
                    p.total_relation,
                    p.next_cursor.clone(),
                    p.events
                        .iter()
                        .map(|e| e["seq"].clone())
                        .collect::<Vec<_>>(),
                    p.sample.clone(),
                )
            };
            assert_eq!(key(&listed), key(&walked), "{q} {limit} {cursor:?}");
            assert!(listed.total > 0, "{q}");
            assert!(listed.sample.len() >= listed.events.len().min(40), "{q}");
        }
    }
}

#[test]
fn a_count_past_its_time_extrapolates_over_the_span_it_did_not_reach() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path(), &DbOptions::default()).unwrap();
    let events: Vec<Event> = (0..10_000)
        .map(|i| {
            Event::new(
                SourceKind::FlatWindows,
                jiff::Timestamp::from_second(1_770_000_000 + i).unwrap(),
                json!({"n": i}),
            )
        })
        .collect();
    db.append(&[events]).unwrap();
    let req = SearchRequest {
        limit: 50,
        count_time: Some(std::time::Duration::from_secs(600)),
        ..Default::default()
    };
    let exact = db.search_events(&req).unwrap();
    assert_eq!(
        (exact.total, exact.total_relation),
        (10_000, TotalRelation::Exact)
    );
    // No time to count: the walk stops at its first look at the clock (4,096 rows in) and
    // the rest of the span is extrapolated — one event a second, so close to the truth.
    let hurried = db
        .search_events(&SearchRequest {
            count_time: Some(std::time::Duration::ZERO),
            ..req.clone()
        })
        .unwrap();
    assert_eq!(hurried.total_relation, TotalRelation::Estimate);
    assert!(
        hurried.total.abs_diff(10_000) <= 100,
        "estimated {}",
        hurried.total
    );
    assert_eq!(hurried.events.len(), 50);
    assert!(!hurried.partial);
}
