//! The sharing state answers the same on the embedded store (SQLite) and on PostgreSQL, driven
//! through the same `dyn` traits: the TAXII server's collections, objects (paging with
//! `added_after` and `next`, `match[id|type|version|spec_version]`, TLP ceilings and partners'
//! private posts, deletes) and status resources; the intel feeds' positions, groups,
//! indicators, retro-hunts and sightings with their cursor. A real PostgreSQL (started by
//! `wardwatch-peers`) — skipped where it is not installed, failing under CI.
//!
//! Dates added are each store's clock: answers are compared with each store's own dates put
//! back into the order they were added (rank), and `added_after`/`next` are each store's own.

use wardwatch_peers::Peer;
use wardwatch_store::{
    AddOutcome, Db, DbOptions, FeedGroup, FeedIndicator, FeedPoll, FeedStatus, FeedStore,
    NewTaxiiObject, SightingRow, StoreError, TaxiiCollection, TaxiiObjectRow, TaxiiQuery,
    TaxiiReader, TaxiiStore, VersionMatch, stamp_us,
};
use wardwatch_store_postgres::Postgres;

trait Sharing: TaxiiStore + FeedStore {}
impl<T: TaxiiStore + FeedStore> Sharing for T {}

struct Stores {
    _peer: Peer,
    _dir: tempfile::TempDir,
    sqlite: Db,
    postgres: Postgres,
}

fn stores(test: &str) -> Option<Stores> {
    let peer = Peer::postgres(test)?;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sqlite = Db::open(dir.path(), &DbOptions::default()).expect("SQLite opens");
    let (postgres, _) = Postgres::init(&peer.url()).expect("the schema is created");
    Some(Stores {
        _peer: peer,
        _dir: dir,
        sqlite,
        postgres,
    })
}

/// Run `f` on both stores (SQLite first) and check they answer alike.
fn both<T: PartialEq + std::fmt::Debug>(
    s: &mut Stores,
    what: &str,
    mut f: impl FnMut(&mut dyn Sharing) -> Result<T, StoreError>,
) -> T {
    let a = f(&mut s.sqlite).unwrap_or_else(|e| panic!("SQLite: {what}: {e}"));
    let b = f(&mut s.postgres).unwrap_or_else(|e| panic!("PostgreSQL: {what}: {e}"));
    assert_eq!(a, b, "{what}: SQLite (left) and PostgreSQL (right) differ");
    a
}

const INCIDENTS: &str = "9a1b0c3e-0000-4000-8000-000000000001";
const CAMPAIGNS: &str = "9a1b0c3e-0000-4000-8000-000000000002";

/// An object version: `v` is its version's day in January 2026 (`None`: it has no version).
fn obj(
    id: &str,
    v: Option<u32>,
    spec: &str,
    tlp: u8,
    creator: &str,
    private: bool,
) -> NewTaxiiObject {
    let version = v.map(|d| {
        let text = format!("2026-01-{d:02}T00:00:00.000Z");
        let ns: jiff::Timestamp = text.parse().expect("a time");
        (text, ns.as_nanosecond() as i64)
    });
    let ty = id.split("--").next().unwrap_or("indicator").to_string();
    let sighted = if ty == "sighting" {
        ",\"sighting_of_ref\":\"indicator--0001\"".to_string()
    } else {
        String::new()
    };
    NewTaxiiObject {
        id: id.into(),
        ty,
        spec_version: spec.into(),
        version,
        tlp,
        creator: Some(creator.into()),
        private,
        doc: format!(
            "{{\"id\":\"{id}\",\"v\":{},\"spec\":\"{spec}\"{sighted}}}",
            v.map_or("null".to_string(), |d| d.to_string())
        ),
    }
}

/// Outcomes without the store's clock.
fn decided(out: &[AddOutcome]) -> Vec<String> {
    out.iter()
        .map(|o| match o {
            AddOutcome::Added { version, .. } if version.starts_with("2026-01-") => {
                format!("added {version}")
            }
            AddOutcome::Added { .. } => "added (stamped)".into(),
            AddOutcome::Present { version } if version.starts_with("2026-01-") => {
                format!("present {version}")
            }
            AddOutcome::Present { .. } => "present (stamped)".into(),
            AddOutcome::Refused(why) => format!("refused {why}"),
        })
        .collect()
}

/// Every date added of a collection, in order (each store's own clock).
fn dates(st: &dyn Sharing, collection: &str) -> Result<Vec<i64>, StoreError> {
    let q = TaxiiQuery {
        collection: collection.into(),
        reader: TaxiiReader::Site,
        ids: Vec::new(),
        types: Vec::new(),
        versions: VersionMatch::all(),
        spec_versions: vec!["2.0".into(), "2.1".into()],
        added_after: None,
        after: None,
        limit: 10_000,
    };
    Ok(st
        .taxii_query(&q)?
        .rows
        .iter()
        .map(|r| r.date_added)
        .collect())
}

/// A row with its date added as a rank among the collection's, and a version stamped when
/// added (an object without one) named so.
fn ranked(r: &TaxiiObjectRow, all: &[i64]) -> String {
    let rank = all.iter().position(|d| *d == r.date_added);
    let version = if r.version == stamp_us(r.date_added) {
        "(stamped)".to_string()
    } else {
        r.version.clone()
    };
    format!("#{rank:?} {} {version} {} {}", r.id, r.spec_version, r.doc)
}

/// Every page of `q` (following `next` as the server hands it out): rows ranked, and whether
/// more followed each page.
fn pages(st: &dyn Sharing, q: &TaxiiQuery) -> Result<Vec<(Vec<String>, bool)>, StoreError> {
    let all = dates(st, &q.collection)?;
    let mut q = q.clone();
    let mut out = Vec::new();
    loop {
        let page = st.taxii_query(&q)?;
        out.push((
            page.rows.iter().map(|r| ranked(r, &all)).collect(),
            page.more,
        ));
        match page.rows.last() {
            Some(last) if page.more => q.after = Some(last.date_added),
            _ => return Ok(out),
        }
        assert!(out.len() < 500, "paging does not end");
    }
}

fn publish_and_post(s: &mut Stores) {
    let collections = [
        TaxiiCollection {
            id: INCIDENTS.into(),
            alias: "incidents".into(),
            title: "Incidents we share".into(),
            description: "stripped of patient data".into(),
        },
        TaxiiCollection {
            id: CAMPAIGNS.into(),
            alias: "campaigns".into(),
            title: "Phishing campaigns".into(),
            description: String::new(),
        },
    ];
    both(s, "collections", |st| {
        st.taxii_set_collections(&collections)?;
        // Set again, one renamed: nothing doubles.
        let mut renamed = collections.clone();
        renamed[1].title = "Campaigns seen in the region".into();
        st.taxii_set_collections(&renamed)?;
        st.taxii_collections()
    });
    // What we publish: 12 indicators in up to 3 versions each, every TLP, some in 2.0 and
    // 2.1, a malware, markings without a version; added in several batches.
    let mut batches: Vec<Vec<NewTaxiiObject>> = Vec::new();
    for round in 0..3u32 {
        let mut b = Vec::new();
        for i in 0..12u32 {
            if i % 3 < round {
                continue;
            }
            let spec = if i % 5 == 0 && round == 0 {
                "2.0"
            } else {
                "2.1"
            };
            b.push(obj(
                &format!("indicator--{i:04}"),
                Some(1 + round * 3 + i % 3),
                spec,
                (i % 5) as u8,
                "identity--us",
                false,
            ));
        }
        b.push(obj(
            &format!("malware--{round}"),
            Some(2 + round),
            "2.1",
            1,
            "identity--us",
            false,
        ));
        b.push(obj(
            "marking-definition--tlp",
            None,
            "2.1",
            0,
            "identity--us",
            false,
        ));
        batches.push(b);
    }
    for (n, b) in batches.iter().enumerate() {
        both(s, &format!("publish batch {n}"), |st| {
            Ok(decided(&st.taxii_publish(INCIDENTS, b)?))
        });
    }
    // Partners post: sightings private to the poster, a refused new version of our object,
    // one already there; each POST's status stored with its objects.
    let posts: Vec<(&str, Vec<NewTaxiiObject>)> = vec![
        (
            "north",
            vec![
                obj("sighting--n1", Some(5), "2.1", 2, "identity--north", true),
                obj(
                    "indicator--0001",
                    Some(20),
                    "2.1",
                    1,
                    "identity--north",
                    false,
                ),
                obj(
                    "indicator--0100",
                    Some(6),
                    "2.1",
                    1,
                    "identity--north",
                    false,
                ),
            ],
        ),
        (
            "south",
            vec![
                obj("sighting--s1", Some(7), "2.1", 1, "identity--south", true),
                obj(
                    "indicator--0100",
                    Some(6),
                    "2.1",
                    1,
                    "identity--north",
                    false,
                ),
                obj(
                    "indicator--0100",
                    Some(8),
                    "2.1",
                    1,
                    "identity--south",
                    false,
                ),
            ],
        ),
        (
            "north",
            vec![obj(
                "sighting--n1",
                Some(9),
                "2.1",
                2,
                "identity--north",
                true,
            )],
        ),
    ];
    for (n, (partner, objects)) in posts.iter().enumerate() {
        let sid = format!("status--{n}");
        let (out, status) = both(s, &format!("post {n} by {partner}"), |st| {
            let out = st.taxii_add(INCIDENTS, objects, Some(partner), &mut |outcomes, _| {
                Some((
                    sid.clone(),
                    partner.to_string(),
                    format!("{:?}", decided(outcomes)),
                ))
            })?;
            Ok((decided(&out), st.taxii_status(&sid)?))
        });
        let status = status.expect("the status is kept with the objects");
        assert_eq!(
            (status.partner.as_str(), status.doc),
            (*partner, format!("{out:?}"))
        );
        if n == 0 {
            assert!(
                out[1].starts_with("refused `indicator--0001` was made by identity--us"),
                "{out:?}"
            );
        }
        if n == 1 {
            assert_eq!(out[1], "present 2026-01-06T00:00:00.000Z", "{out:?}");
            assert!(out[2].starts_with("refused"), "{out:?}");
        }
    }
    // A POST to the other collection; a status that is not kept.
    both(s, "post without status", |st| {
        let out = st.taxii_add(
            CAMPAIGNS,
            &[obj(
                "indicator--c1",
                Some(3),
                "2.1",
                1,
                "identity--east",
                false,
            )],
            Some("east"),
            &mut |_, _| None,
        )?;
        Ok((decided(&out), st.taxii_status("status--none")?))
    });
}

#[test]
fn the_taxii_state_answers_the_same_on_sqlite_and_postgres() {
    let Some(mut s) = stores("same-sharing-taxii") else {
        return;
    };
    publish_and_post(&mut s);
    let readers = [
        TaxiiReader::Site,
        TaxiiReader::Partner {
            name: "north".into(),
            max_tlp: 2,
        },
        TaxiiReader::Partner {
            name: "south".into(),
            max_tlp: 1,
        },
        TaxiiReader::Partner {
            name: "east".into(),
            max_tlp: 4,
        },
    ];
    let version_matches = {
        let at: jiff::Timestamp = "2026-01-05T00:00:00.000Z".parse().unwrap();
        let first_last = VersionMatch {
            first: true,
            ..VersionMatch::default()
        };
        vec![
            VersionMatch::default(),
            VersionMatch::all(),
            VersionMatch {
                all: false,
                first: true,
                last: false,
                at: Vec::new(),
            },
            first_last,
            VersionMatch {
                all: false,
                first: false,
                last: false,
                at: vec![at.as_nanosecond() as i64],
            },
            VersionMatch {
                all: false,
                first: false,
                last: false,
                at: Vec::new(),
            },
        ]
    };
    let filters: Vec<(Vec<String>, Vec<String>, Vec<String>)> = vec![
        (vec![], vec![], vec![]),
        (vec![], vec!["indicator".into()], vec![]),
        (vec![], vec!["malware".into(), "sighting".into()], vec![]),
        (
            vec!["indicator--0000".into(), "indicator--0005".into()],
            vec![],
            vec![],
        ),
        (vec![], vec![], vec!["2.0".into()]),
        (vec![], vec![], vec!["2.1".into()]),
        (vec!["indicator--0100".into()], vec![], vec![]),
    ];
    let mut compared = 0usize;
    for reader in &readers {
        for versions in &version_matches {
            for (ids, types, specs) in &filters {
                for (limit, after_rank) in
                    [(1000, None), (3, None), (4, Some(10usize)), (1, Some(45))]
                {
                    let pages = both(&mut s, "a query", |st| {
                        let added_after = match after_rank {
                            Some(k) => dates(st, INCIDENTS)?.get(k).copied(),
                            None => None,
                        };
                        let q = TaxiiQuery {
                            collection: INCIDENTS.into(),
                            reader: reader.clone(),
                            ids: ids.clone(),
                            types: types.clone(),
                            versions: versions.clone(),
                            spec_versions: specs.clone(),
                            added_after,
                            after: None,
                            limit,
                        };
                        pages(st, &q)
                    });
                    compared += pages.len();
                }
            }
        }
    }
    println!("{compared} TAXII pages compared");
    assert!(compared > 1500, "{compared}");

    // Objects as each reader sees them; sightings; counts.
    let mut seen = Vec::new();
    for reader in &readers {
        for id in [
            "sighting--n1",
            "sighting--s1",
            "indicator--0004",
            "indicator--nope",
        ] {
            seen.push(both(&mut s, "has object", |st| {
                st.taxii_has_object(INCIDENTS, id, reader)
            }));
        }
    }
    // The site sees both sightings; north its own (not south's) and not red; east neither.
    assert_eq!(
        seen,
        [
            true, true, true, false, true, false, false, false, false, true, false, false, false,
            false, true, false
        ]
    );
    let sightings = both(&mut s, "sightings", |st| {
        Ok(st
            .taxii_sightings(10)?
            .into_iter()
            .map(|t| (t.collection, t.alias, t.partner, t.doc, t.of))
            .collect::<Vec<_>>())
    });
    assert_eq!(sightings.len(), 2, "{sightings:?}");
    assert!(sightings.iter().all(|s| s.4.is_some()), "{sightings:?}");
    both(&mut s, "counts", |st| st.taxii_counts());

    // Deletes: a partner deletes only what it sees; the site the first version of another.
    let north = readers[1].clone();
    both(&mut s, "deletes", |st| {
        let a = st.taxii_delete(
            INCIDENTS,
            "indicator--0004",
            &north,
            &VersionMatch::all(),
            &[],
        )?;
        let b = st.taxii_delete(INCIDENTS, "sighting--s1", &north, &VersionMatch::all(), &[])?;
        let first = VersionMatch {
            all: false,
            first: true,
            last: false,
            at: Vec::new(),
        };
        let c = st.taxii_delete(
            INCIDENTS,
            "indicator--0002",
            &TaxiiReader::Site,
            &first,
            &[],
        )?;
        let left = pages(st, &TaxiiQuery::everything(INCIDENTS, 7))?;
        Ok((a, b, c, left, st.taxii_counts()?))
    });

    // Retention: what was added before the 20th version went, with the statuses of then;
    // paging goes on in the order added; a cutoff before everything removes nothing.
    let (objects, statuses, left) = both(&mut s, "retention", |st| {
        let all = dates(st, INCIDENTS)?;
        let none = st.taxii_retain(INCIDENTS, all[0])?;
        assert_eq!(none, (0, 0));
        let (objects, statuses) = st.taxii_retain(INCIDENTS, all[20])?;
        let left = pages(st, &TaxiiQuery::everything(INCIDENTS, 5))?;
        Ok((objects, statuses, left))
    });
    assert_eq!(objects, 20);
    assert_eq!(statuses, 0, "the posts came after the 20th version");
    assert!(!left.is_empty() && !left[0].0.is_empty(), "{left:?}");
    let everything = both(&mut s, "retention of everything", |st| {
        let out = st.taxii_retain(INCIDENTS, i64::MAX / 1_000)?;
        Ok((out, st.taxii_status("status--0")?, st.taxii_counts()?))
    });
    assert_eq!(everything.1, None, "old status resources go too");
    assert!(everything.0.1 == 3, "{everything:?}");
}

fn ind(kind: &str, value: &str, valid_until: Option<i64>, revoked: bool) -> FeedIndicator {
    FeedIndicator {
        kind: kind.into(),
        value: value.into(),
        valid_until,
        revoked,
        doc: format!("{{\"kind\":\"{kind}\",\"value\":\"{value}\",\"revoked\":{revoked}}}"),
    }
}

fn group(grp: &str, version: &str, indicators: Vec<FeedIndicator>) -> FeedGroup {
    FeedGroup {
        grp: grp.into(),
        version: version.into(),
        indicators,
    }
}

/// A feed's state without the stores' clocks (whether polled and succeeded, not when).
fn status(f: FeedStatus) -> String {
    format!(
        "{} pos={:?} mod={:?} polled={} ok={} failures={} err={:?} objects={} ind={} revoked={} retro={} sent={} unsent={}",
        f.feed,
        f.position,
        f.modified,
        f.polled.is_some(),
        f.succeeded.is_some(),
        f.failures,
        f.last_error,
        f.objects,
        f.indicators,
        f.revoked,
        f.retro_pending,
        f.sightings_sent,
        f.sightings_unsent
    )
}

fn state(st: &dyn Sharing, now: i64) -> Result<String, StoreError> {
    let statuses: Vec<String> = st.feed_statuses()?.into_iter().map(status).collect();
    let mut versions: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for feed in ["partner-taxii", "misp", "list", "zz-sightings"] {
        let mut v: Vec<(String, String)> = st.feed_group_versions(feed)?.into_iter().collect();
        v.sort();
        versions.push((feed.into(), v));
    }
    Ok(format!(
        "{statuses:#?}\n{versions:?}\nlive={:?}\nnext={:?}\nretro={:?}",
        st.feed_indicator_docs(now)?,
        st.feed_next_expiry(now)?,
        st.feed_retro_pending(100)?
    ))
}

#[test]
fn the_feeds_state_answers_the_same_on_sqlite_and_postgres() {
    let Some(mut s) = stores("same-sharing-feeds") else {
        return;
    };
    let now = 1_000_000;
    let poll = |position: Option<&str>, objects: u64, replace_all: bool| FeedPoll {
        position: position.map(str::to_string),
        modified: replace_all.then(|| "Mon, 07 Dec 2026 10:00:00 GMT".to_string()),
        objects,
        replace_all,
    };
    // A TAXII feed's pages: groups (STIX ids) with versions, a newer one replacing, the same
    // sent again, a revoked one, indicators that end.
    let steps: Vec<(&str, Vec<FeedGroup>, FeedPoll)> = vec![
        (
            "partner-taxii",
            vec![
                group(
                    "indicator--a",
                    "2026-01-01T00:00:00Z",
                    vec![ind("domain", "bad.example", None, false)],
                ),
                group(
                    "indicator--b",
                    "2026-01-01T00:00:00Z",
                    vec![
                        ind("ip", "203.0.113.5", Some(now + 500), false),
                        ind("ip", "203.0.113.6", Some(now - 1), false),
                    ],
                ),
            ],
            poll(Some("2026-01-02T00:00:00.000Z"), 2, false),
        ),
        (
            "misp",
            vec![group(
                "5f0c-event",
                "1700000000",
                vec![
                    ind("url", "http://phish.example/login", None, false),
                    ind("sha256", &"ab".repeat(32), Some(now + 100), false),
                ],
            )],
            poll(None, 2, false),
        ),
        (
            "partner-taxii",
            vec![
                group(
                    "indicator--a",
                    "2026-01-01T00:00:00Z",
                    vec![ind("domain", "bad.example", None, false)],
                ),
                group(
                    "indicator--b",
                    "2026-01-03T00:00:00Z",
                    vec![ind("ip", "203.0.113.5", None, true)],
                ),
                group(
                    "indicator--c",
                    "2026-01-03T00:00:00Z",
                    vec![ind("email", "ceo@lookalike.example", None, false)],
                ),
            ],
            poll(Some("2026-01-04T00:00:00.000Z"), 3, false),
        ),
        (
            "list",
            vec![group(
                "list",
                "\"etag-1\"",
                vec![
                    ind("domain", "x.example", None, false),
                    ind("domain", "y.example", None, false),
                ],
            )],
            poll(Some("\"etag-1\""), 2, true),
        ),
        (
            "list",
            vec![group(
                "list2",
                "\"etag-2\"",
                vec![ind("domain", "y.example", None, false)],
            )],
            poll(Some("\"etag-2\""), 1, true),
        ),
        // Nothing new: the attempt counts, the position stays.
        ("misp", Vec::new(), FeedPoll::default()),
    ];
    for (n, (feed, groups, p)) in steps.iter().enumerate() {
        both(&mut s, &format!("poll {n} of {feed}"), |st| {
            let applied = st.feed_apply(feed, groups, p)?;
            Ok((applied, state(st, now)?))
        });
    }
    // Failures counted, cleared by the next success; the status of one feed.
    both(&mut s, "failures", |st| {
        let a = st.feed_failed("partner-taxii", "HTTP 503 from the partner")?;
        let b = st.feed_failed("partner-taxii", "connection refused")?;
        let c = st.feed_failed("never-polled", "no such host")?;
        let one = st.feed_status("partner-taxii")?.map(status);
        st.feed_apply("partner-taxii", &[], &poll(None, 0, false))?;
        Ok((a, b, c, one, state(st, now)?))
    });
    // Retro-hunts run in part, then pruning: only what ended and was hunted for goes.
    both(&mut s, "retro and prune", |st| {
        let pending = st.feed_retro_pending(2)?;
        st.feed_retro_done(&pending)?;
        let kept = st.prune_feeds(now + 1_000)?;
        let rest = st.feed_retro_pending(100)?;
        st.feed_retro_done(&rest)?;
        let gone = st.prune_feeds(now + 1_000)?;
        Ok((pending, kept, rest, gone, state(st, now)?))
    });
    // Sightings: queued with the cursor (each id once), failed and retried, sent.
    let sighting = |id: &str, feed: &str, created: i64| SightingRow {
        id: id.into(),
        feed: feed.into(),
        indicator: "indicator--a".into(),
        count: 3,
        first_seen: 10,
        last_seen: 20,
        tlp: "amber".into(),
        created,
        attempts: 0,
    };
    both(&mut s, "sightings", |st| {
        let start = st.sightings_cursor()?;
        let rows = [
            sighting("sighting--2", "zz-sightings", 5),
            sighting("sighting--1", "zz-sightings", 5),
            sighting("sighting--3", "zz-sightings", 9),
            sighting("sighting--4", "partner-taxii", 5),
        ];
        st.queue_sightings(&rows, 7)?;
        st.queue_sightings(&rows[..1], 8)?;
        let cursor = st.sightings_cursor()?;
        let due = st.due_sightings("zz-sightings", 6, 10)?;
        let ids: Vec<String> = due.iter().map(|r| r.id.clone()).collect();
        st.sightings_failed(&ids, "HTTP 503", 100)?;
        let waiting = st.due_sightings("zz-sightings", 50, 10)?;
        let again = st.due_sightings("zz-sightings", 100, 1)?;
        st.sightings_sent(&ids[..1])?;
        let left = st.due_sightings("zz-sightings", i64::MAX, 10)?;
        Ok((start, cursor, due, waiting, again, left, state(st, now)?))
    });
    both(&mut s, "sent sightings pruned", |st| {
        Ok((st.prune_feeds(i64::MAX)?, state(st, now)?))
    });
}
