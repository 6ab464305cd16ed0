//! The state gives the same answers on the embedded store (SQLite) and on PostgreSQL: the same
//! detection commits, analysts' changes, exceptions, identity uses and a partition's fenced cursor, made
//! through `dyn` traits on both, then every listing page, count, document and usage compared.
//! A real PostgreSQL (Debian's, started by `wardwatch-peers`) — skipped where it is not
//! installed, failing under CI.

use wardwatch_core::Severity;
use wardwatch_peers::Peer;
use wardwatch_store::ledger::{LedgerUse, UsageKind};
use wardwatch_store::{
    Db, DbOptions, DetectionCommit, DetectionStore, ExceptionStore, IdentityLedger, IncidentFilter,
    IncidentRow, IncidentStore, LedgerBatch, LifecycleUpdate, PrivacyScope, StoreError,
    update_lifecycle,
};
use wardwatch_store_postgres::Postgres;

/// A small deterministic generator (the same state on every run).
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

const ORGS: &[&str] = &["default", "north", "south"];
const HOSTS: &[&str] = &["PACS01", "ws-042", "EHR-DB", "Ωmega.lab", "lab-07"];
const USERS: &[&str] = &["alice", "Bob", "svc_backup", "Jürgen"];
const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_770_000_000 * SEC;

/// What both stores are driven through.
trait State: DetectionStore + IncidentStore + ExceptionStore + IdentityLedger {}
impl<T: DetectionStore + IncidentStore + ExceptionStore + IdentityLedger> State for T {}

struct Stores {
    _peer: Peer,
    _dir: tempfile::TempDir,
    sqlite: Box<dyn State>,
    postgres: Box<dyn State>,
}

fn stores(test: &str) -> Option<Stores> {
    let peer = Peer::postgres(test)?;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sqlite = Db::open(dir.path(), &DbOptions::default()).expect("SQLite opens");
    let (postgres, before) = Postgres::init(&peer.url()).expect("the schema is created");
    assert_eq!(before, 0, "a new database");
    Some(Stores {
        _peer: peer,
        _dir: dir,
        sqlite: Box::new(sqlite),
        postgres: Box::new(postgres),
    })
}

/// Incidents as the incident stage writes them: `n` of them, some changed again later.
fn incident_rows(r: &mut Lcg, n: usize, round: i64) -> Vec<IncidentRow> {
    (0..n)
        .map(|i| {
            let org = *r.pick(ORGS);
            let hosts: Vec<&str> = (0..1 + r.next() % 3).map(|_| *r.pick(HOSTS)).collect();
            let users: Vec<&str> = (0..r.next() % 3).map(|_| *r.pick(USERS)).collect();
            let id = if i % 9 == 4 {
                format!("priv-{i:03}")
            } else {
                format!("inc-{i:03}")
            };
            let severity = *r.pick(&Severity::ALL);
            let opened = T0 + (i as i64) * 60 * SEC;
            // Distinct activity times: the listing order has no ties to break.
            let last_seen = opened + round * 3600 * SEC + (r.next() % 50) as i64 * SEC + i as i64;
            let doc = serde_json::json!({
                "incident": {"id": id, "hosts": hosts, "users": users, "round": round},
                "narrative": format!("what happened to {id} in round {round}")
            });
            IncidentRow {
                id,
                org: org.to_string(),
                opened,
                first_seen: opened,
                last_seen,
                severity,
                score: (r.next() % 1000) as f64 / 10.0,
                closed: r.next().is_multiple_of(4),
                merged_into: (i % 11 == 7).then(|| "inc-000".to_string()),
                title: format!("Incident {i} on {}", hosts[0]),
                doc: doc.to_string(),
            }
        })
        .collect()
}

fn ledger(r: &mut Lcg) -> LedgerBatch {
    let mut b = LedgerBatch::default();
    for i in 0..400 {
        // The scanner account: 200 sources in one organization on one day, more than the
        // ledger keeps apart; the others over five days and every organization.
        let scanner = i % 2 == 0;
        let t = if scanner {
            T0 + i as i64 * SEC
        } else {
            T0 + (r.next() % (5 * 86_400)) as i64 * SEC
        };
        let mut places = vec![
            (UsageKind::Host, r.pick(HOSTS).to_string()),
            (UsageKind::LogonType, "network".to_string()),
        ];
        if scanner {
            places.push((UsageKind::Source, format!("10.0.{}.{}", i % 7, i)));
        }
        b.add(&LedgerUse {
            org: if scanner { "north" } else { r.pick(ORGS) }.to_string(),
            account: if scanner {
                "HOSP\\Scanner".to_string()
            } else {
                r.pick(USERS).to_string()
            },
            time: jiff::Timestamp::from_nanosecond(i128::from(t)).expect("a time"),
            outcome: [Some(true), Some(false), None][i % 3],
            places,
        });
    }
    b
}

/// Apply the same change to both stores and return both answers, which must be equal.
fn both<T: PartialEq + std::fmt::Debug>(
    s: &mut Stores,
    what: &str,
    mut f: impl FnMut(&mut dyn State) -> Result<T, StoreError>,
) -> T {
    let a = f(s.sqlite.as_mut()).unwrap_or_else(|e| panic!("SQLite: {what}: {e}"));
    let b = f(s.postgres.as_mut()).unwrap_or_else(|e| panic!("PostgreSQL: {what}: {e}"));
    assert_eq!(a, b, "{what}: SQLite (left) and PostgreSQL (right) differ");
    a
}

/// Every page of a listing, as comparable values: (total, ids and both sides of each
/// incident, whether a next page was offered) per page.
fn pages(s: &dyn State, filter: &IncidentFilter) -> Result<Vec<(u64, Vec<String>)>, StoreError> {
    let mut f = filter.clone();
    let mut out = Vec::new();
    loop {
        let page = s.list_incidents(&f)?;
        out.push((
            page.total,
            page.incidents
                .iter()
                .map(|i| {
                    format!(
                        "{}|{}|{}|{:?}|{}|{}|{:?}|{:?}|{:?}",
                        i.id,
                        i.org,
                        i.closed,
                        i.merged_into,
                        i.doc,
                        i.status,
                        i.resolution,
                        i.assignee,
                        i.lifecycle
                    )
                })
                .collect(),
        ));
        match page.next_cursor {
            Some(c) if out.len() < 200 => f.cursor = Some(c),
            _ => return Ok(out),
        }
    }
}

fn filters() -> Vec<IncidentFilter> {
    let mut out = Vec::new();
    let orgs: [Option<Vec<String>>; 4] = [
        None,
        Some(vec!["north".into()]),
        Some(vec!["north".into(), "south".into()]),
        Some(vec![]),
    ];
    for limit in [1, 4, 50] {
        for org in &orgs {
            for privacy in [
                PrivacyScope::Without,
                PrivacyScope::With,
                PrivacyScope::Only,
            ] {
                out.push(IncidentFilter {
                    limit,
                    orgs: org.clone(),
                    privacy,
                    ..IncidentFilter::default()
                });
            }
        }
    }
    let base = IncidentFilter {
        limit: 3,
        ..IncidentFilter::default()
    };
    out.push(IncidentFilter {
        include_merged: true,
        ..base.clone()
    });
    out.push(IncidentFilter {
        min_severity: Severity::Medium,
        ..base.clone()
    });
    out.push(IncidentFilter {
        max_severity: Some(Severity::Low),
        ..base.clone()
    });
    for status in ["new", "acknowledged", "resolved"] {
        out.push(IncidentFilter {
            status: Some(status.into()),
            ..base.clone()
        });
    }
    for assignee in ["-", "dr.nurse", "nobody"] {
        out.push(IncidentFilter {
            assignee: Some(assignee.into()),
            ..base.clone()
        });
    }
    out.push(IncidentFilter {
        from: Some(T0 + 3600 * SEC),
        to: Some(T0 + 4 * 3600 * SEC),
        ..base.clone()
    });
    out.push(IncidentFilter {
        from: Some(T0 + 100 * 3600 * SEC),
        ..base
    });
    out
}

fn compare_everything(s: &mut Stores, when: &str) {
    let mut compared = 0;
    for f in filters() {
        let p = both(s, &format!("{when}: list {f:?}"), |st| pages(st, &f));
        compared += p.len();
    }
    eprintln!("{when}: {compared} incident pages compared");
    for list in ["hosts", "users"] {
        for name in ["pacs01", "WS-042", "ALICE", "Jürgen", "nobody", "Ωmega.lab"] {
            for orgs in [None, Some(vec!["south".to_string()])] {
                for privacy in [PrivacyScope::Without, PrivacyScope::Only] {
                    for limit in [2, 100] {
                        both(s, &format!("{when}: naming {list} {name}"), |st| {
                            Ok(st
                                .incidents_naming(list, name, orgs.as_deref(), privacy, limit)?
                                .into_iter()
                                .map(|i| (i.id, i.status, i.doc))
                                .collect::<Vec<_>>())
                        });
                    }
                }
            }
        }
    }
    for orgs in [None, Some(vec!["north".to_string()]), Some(vec![])] {
        both(s, &format!("{when}: open counts"), |st| {
            st.open_incident_counts(orgs.as_deref())
        });
    }
    both(s, &format!("{when}: open docs"), |st| {
        st.open_incident_docs()
    });
    for id in ["inc-000", "inc-010", "priv-004", "missing"] {
        both(s, &format!("{when}: incident {id}"), |st| {
            Ok(st.incident(id)?.map(|i| {
                (
                    i.id,
                    i.org,
                    i.closed,
                    i.merged_into,
                    i.doc,
                    i.status,
                    i.lifecycle,
                )
            }))
        });
        both(s, &format!("{when}: doc {id}"), |st| st.incident_doc(id));
    }
    both(s, &format!("{when}: exceptions"), |st| {
        Ok(st
            .exceptions()?
            .into_iter()
            .map(|e| (e.id, e.org, e.doc, e.suppressed, e.last_suppressed))
            .collect::<Vec<_>>())
    });
    both(s, &format!("{when}: cursor"), |st| st.cursor("incidents"));
    both(s, &format!("{when}: unknown cursor"), |st| {
        st.cursor("nobody")
    });
}

#[test]
fn the_state_answers_the_same_on_sqlite_and_postgres() {
    let Some(mut s) = stores("the_state_answers_the_same_on_sqlite_and_postgres") else {
        return;
    };
    let mut r = Lcg(7);
    let first = incident_rows(&mut r, 40, 0);
    let again = incident_rows(&mut Lcg(7), 25, 1);
    let uses = ledger(&mut r);
    both(&mut s, "exceptions", |st| {
        st.put_exception(
            "ex-1",
            "north",
            "rule-a",
            T0 + 86_400 * SEC,
            "{\"why\":\"backup\"}",
        )?;
        st.put_exception("ex-2", "default", "rule-b", T0, "{}")?;
        st.put_exception("ex-0", "south", "rule-c", T0, "{}")
    });
    both(&mut s, "first commit", |st| {
        st.commit_detection(&DetectionCommit {
            worker: "incidents",
            cursor: 1_000,
            alerts: &[],
            incidents: &first,
            suppressed: &[("ex-1".into(), 3, T0 + 5), ("ex-missing".into(), 1, T0)],
            state: Some("{\"grouper\":1}"),
            ledger: Some(&uses),
        })
    });
    compare_everything(&mut s, "after the first commit");

    // Analysts act; the incident stage extends some incidents (its columns only).
    for (id, status, assignee) in [
        ("inc-001", "acknowledged", Some("dr.nurse")),
        ("inc-002", "resolved", None),
        ("inc-010", "acknowledged", Some("dr.nurse")),
        ("priv-004", "acknowledged", Some("privacy.officer")),
    ] {
        both(&mut s, &format!("acknowledge {id}"), |st| {
            update_lifecycle(st, id, |cur| {
                Ok::<_, StoreError>((
                    LifecycleUpdate {
                        status: status.to_string(),
                        resolution: (status == "resolved").then(|| "benign".to_string()),
                        assignee: assignee.map(str::to_string),
                        lifecycle: format!("[{{\"was\":\"{}\"}}]", cur.status),
                    },
                    cur.status.clone(),
                ))
            })
        });
    }
    both(&mut s, "change of a missing incident", |st| {
        update_lifecycle(st, "missing", |_| {
            Ok::<_, StoreError>((
                LifecycleUpdate {
                    status: "resolved".into(),
                    resolution: None,
                    assignee: None,
                    lifecycle: "[]".into(),
                },
                (),
            ))
        })
    });
    both(&mut s, "a change that chose not to", |st| {
        st.change_lifecycle("inc-003", &mut |_| None)
    });
    both(&mut s, "second commit", |st| {
        st.put_exception("ex-1", "north", "rule-a2", T0, "{\"why\":\"changed\"}")?;
        st.delete_exception("ex-2")?;
        st.commit_detection(&DetectionCommit {
            worker: "incidents",
            cursor: 2_000,
            alerts: &[],
            incidents: &again,
            suppressed: &[("ex-1".into(), 2, T0 + 1), ("ex-0".into(), 1, T0 + 9)],
            state: None,
            ledger: Some(&uses),
        })
    });
    both(&mut s, "deleting what is gone", |st| {
        st.delete_exception("ex-2")
    });
    compare_everything(&mut s, "after analysts and a second commit");
    // The analysts' side survived the incident stage's rewrite.
    let kept = s.postgres.incident("inc-001").unwrap().unwrap();
    assert_eq!(kept.status, "acknowledged");
    assert!(kept.doc.contains("round\":1"), "{}", kept.doc);

    // The identity ledger.
    let day = 86_400 * SEC;
    let at = |ns: i64| jiff::Timestamp::from_nanosecond(i128::from(ns)).unwrap();
    for user in ["scanner", "HOSP\\Scanner", "alice", "bob", "nobody"] {
        for orgs in [None, Some(vec!["north".to_string()]), Some(vec![])] {
            for (from, to) in [
                (T0, T0 + 5 * day),
                (T0 + 2 * day, T0 + 2 * day),
                (T0 - 9 * day, T0 - day),
            ] {
                let u = both(&mut s, &format!("usage of {user}"), |st| {
                    st.identity_usage(user, orgs.as_deref(), at(from), at(to))
                });
                if user == "scanner" && orgs.is_none() && from == T0 {
                    let u = u.expect("the scanner was used");
                    assert!(
                        u.sources.iter().any(|p| p.value == "(others)"),
                        "more sources a day than kept apart are counted together"
                    );
                }
            }
        }
    }
    both(&mut s, "ledger rows", |st| st.ledger_rows());
    both(&mut s, "ledger trimmed by rows", |st| {
        st.retain_ledger(at(T0 + 5 * day), None, Some(300))
    });
    both(&mut s, "ledger trimmed by age", |st| {
        st.retain_ledger(at(T0 + 5 * day), Some(2), None)
    });
    both(&mut s, "ledger rows after", |st| st.ledger_rows());

    // A partition's worker's cursor never moves back (fencing a worker that lost its lease):
    // the late commit is refused whole on both, the state saved before stays.
    let part = format!("{}3", wardwatch_store::PARTITION_CURSOR_PREFIX);
    let commit = |cursor: i64, state: &'static str| DetectionCommit {
        worker: "",
        cursor,
        alerts: &[],
        incidents: &[],
        suppressed: &[],
        state: Some(state),
        ledger: None,
    };
    both(&mut s, "a partition's worker commits on", |st| {
        for (cursor, state) in [(10, "at 10"), (10, "again at 10"), (12, "at 12")] {
            st.commit_detection(&DetectionCommit {
                worker: &part,
                ..commit(cursor, state)
            })?;
        }
        Ok(())
    });
    let fenced = both(&mut s, "a late worker's commit", |st| {
        match st.commit_detection(&DetectionCommit {
            worker: &part,
            ..commit(11, "a late worker")
        }) {
            Err(StoreError::Fenced { stored, given, .. }) => Ok(Some((stored, given))),
            Err(e) => Err(e),
            Ok(_) => Ok(None),
        }
    });
    assert_eq!(fenced, Some((12, 11)));
    let p = both(&mut s, "the partition's cursor after", |st| {
        st.cursor(&part)
    });
    assert_eq!(p, (12, Some("at 12".to_string())));
}

#[test]
fn the_schema_is_made_by_init_once_and_checked_by_every_node() {
    let Some(mut peer) =
        Peer::postgres("the_schema_is_made_by_init_once_and_checked_by_every_node")
    else {
        return;
    };
    let url = peer.url();
    let err = Postgres::connect(&url)
        .expect_err("no schema yet")
        .to_string();
    assert!(
        err.contains("version 0") && err.contains("wardwatch cluster init"),
        "{err}"
    );
    let (pg, before) = Postgres::init(&url).expect("init");
    assert_eq!(before, 0);
    let (_, again) = Postgres::init(&url).expect("init again");
    assert_eq!(again, wardwatch_store_postgres::schema::VERSION);
    let mut pg2 = Postgres::connect(&url).expect("a node connects");
    assert_eq!(
        pg.schema_version().unwrap(),
        wardwatch_store_postgres::schema::VERSION
    );
    assert!(
        pg.server_version()
            .unwrap()
            .chars()
            .next()
            .unwrap()
            .is_ascii_digit()
    );

    // A commit that carries alerts is refused whole: alerts belong to the events store.
    let alert = wardwatch_core::Alert {
        id: wardwatch_core::AlertId("a-1".into()),
        rule_id: "r".into(),
        rule_title: "R".into(),
        level: Severity::High,
        tags: vec![],
        timestamp: jiff::Timestamp::from_second(1_770_000_000).unwrap(),
        organization: "default".into(),
        host: None,
        entities: vec![],
        event: wardwatch_core::EventRef {
            origin: wardwatch_core::Origin::default(),
            event_code: None,
            channel: None,
        },
        recommendation: None,
        awareness: None,
        facts: Default::default(),
    };
    let err = pg2
        .commit_detection(&DetectionCommit {
            worker: "w",
            cursor: 5,
            alerts: &[(alert, 1, 0)],
            incidents: &[],
            suppressed: &[],
            state: None,
            ledger: None,
        })
        .expect_err("alerts are refused")
        .to_string();
    assert!(err.contains("carries 1 alerts"), "{err}");
    assert_eq!(pg2.cursor("w").unwrap(), (0, None), "nothing was written");

    // The server restarts: the next call connects again.
    peer.stop();
    let err = pg2.cursor("w").expect_err("the server is down").to_string();
    assert!(err.starts_with("postgres: "), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{}", peer.port)), "{err}");
    peer.start();
    pg2.commit_detection(&DetectionCommit {
        worker: "detect-part-1",
        cursor: 7,
        alerts: &[],
        incidents: &[],
        suppressed: &[],
        state: Some("x"),
        ledger: None,
    })
    .unwrap();
    assert_eq!(
        pg.cursor("detect-part-1").unwrap(),
        (7, Some("x".to_string()))
    );
    // What `wardwatch cluster status` shows of the state.
    assert_eq!(pg.cursors().unwrap(), [("detect-part-1".to_string(), 7)]);
    let rows = pg.table_rows().unwrap();
    assert_eq!(rows.len(), wardwatch_store_postgres::schema::TABLES.len());
    assert!(
        rows.contains(&("cursors", 1)) && rows.contains(&("incidents", 0)),
        "{rows:?}"
    );
}
