use super::*;
use crate::db::DbOptions;

fn at(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn use_of(account: &str, time: &str, ok: Option<bool>, places: &[(UsageKind, &str)]) -> LedgerUse {
    LedgerUse {
        org: "default".into(),
        account: account.into(),
        time: at(time),
        outcome: ok,
        places: places.iter().map(|(k, v)| (*k, v.to_string())).collect(),
    }
}

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), &DbOptions::default()).unwrap();
    (dir, db)
}

#[test]
fn usage_over_a_week_names_each_place_with_first_last_and_counts() {
    let (_dir, mut db) = open();
    let mut b = LedgerBatch::default();
    // Before the week: ws-01 and the ward's address are known.
    b.add(&use_of(
        "HOSP\\N.Jansen",
        "2026-11-20T08:00:00Z",
        Some(true),
        &[
            (UsageKind::Host, "ws-01"),
            (UsageKind::Source, "10.20.7.44"),
        ],
    ));
    for (t, host, ok) in [
        ("2026-11-30T07:59:00Z", "ws-01", Some(true)),
        ("2026-12-01T08:00:00Z", "ws-01", Some(true)),
        ("2026-12-02T21:30:00Z", "epr01", Some(false)),
        ("2026-12-02T21:31:00Z", "epr01", Some(true)),
    ] {
        b.add(&use_of(
            "n.jansen",
            t,
            ok,
            &[
                (UsageKind::Host, host),
                (UsageKind::Source, "10.20.7.44"),
                (UsageKind::LogonType, "interactive"),
            ],
        ));
    }
    // After the week, and someone else: not in the answer.
    b.add(&use_of(
        "n.jansen",
        "2026-12-09T08:00:00Z",
        Some(true),
        &[(UsageKind::Host, "ws-09")],
    ));
    b.add(&use_of(
        "p.devries",
        "2026-12-01T08:00:00Z",
        Some(true),
        &[(UsageKind::Host, "ws-01")],
    ));
    db.record_identity_uses(&b).unwrap();

    let u = db
        .identity_usage(
            "N.Jansen",
            None,
            at("2026-11-30T12:00:00Z"),
            at("2026-12-06T12:00:00Z"),
        )
        .unwrap()
        .unwrap();
    assert_eq!(u.account, "n.jansen");
    // Whole UTC days: the 07:59 use on the 30th counts.
    assert_eq!(u.from, at("2026-11-30T00:00:00Z"));
    assert_eq!(u.to, at("2026-12-07T00:00:00Z"));
    assert_eq!((u.uses, u.succeeded, u.failed), (4, 3, 1));
    assert_eq!(u.first_seen, Some(at("2026-11-30T07:59:00Z")));
    assert_eq!(u.last_seen, Some(at("2026-12-02T21:31:00Z")));
    assert_eq!(u.organizations, vec!["default".to_string()]);
    let hosts: Vec<_> = u
        .hosts
        .iter()
        .map(|p| (p.value.as_str(), p.uses, p.new))
        .collect();
    assert_eq!(hosts, vec![("epr01", 2, true), ("ws-01", 2, false)]);
    let ws = &u.hosts[1];
    assert_eq!(ws.first_ever, at("2026-11-20T08:00:00Z"));
    assert_eq!(ws.first_seen, at("2026-11-30T07:59:00Z"));
    assert_eq!(ws.last_seen, at("2026-12-01T08:00:00Z"));
    let epr = &u.hosts[0];
    assert_eq!((epr.succeeded, epr.failed), (1, 1));
    assert_eq!(u.sources.len(), 1);
    assert_eq!(u.sources[0].uses, 4);
    assert_eq!(u.logon_types[0].value, "interactive");
    assert!(u.devices.is_empty() && u.countries.is_empty());

    // Another organization's principal sees nothing of it.
    let other = db
        .identity_usage(
            "n.jansen",
            Some(&["north".to_string()]),
            at("2026-11-30T00:00:00Z"),
            at("2026-12-06T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(other, None);
    // A week before any use: known, and nothing in it.
    let before = db
        .identity_usage(
            "n.jansen",
            None,
            at("2026-11-01T00:00:00Z"),
            at("2026-11-07T00:00:00Z"),
        )
        .unwrap()
        .unwrap();
    assert_eq!((before.uses, before.first_seen), (0, None));
    assert!(before.hosts.is_empty());
    assert_eq!(
        db.identity_usage(
            "nobody",
            None,
            at("2026-11-01T00:00:00Z"),
            at("2026-12-31T00:00:00Z")
        )
        .unwrap(),
        None
    );
}

#[test]
fn batches_add_up_and_a_day_keeps_at_most_the_cap_of_one_kind() {
    let (_dir, mut db) = open();
    for round in 0..2 {
        let mut b = LedgerBatch::default();
        for i in 0..(MAX_VALUES_PER_DAY + 10) {
            let host = format!("ws-{i:03}");
            let time = format!("2026-12-01T{:02}:{:02}:00Z", 8 + round, i % 60);
            b.add(&use_of(
                "spray.target",
                &time,
                Some(false),
                &[(UsageKind::Host, &host)],
            ));
        }
        db.record_identity_uses(&b).unwrap();
    }
    let u = db
        .identity_usage(
            "spray.target",
            None,
            at("2026-12-01T00:00:00Z"),
            at("2026-12-01T00:00:00Z"),
        )
        .unwrap()
        .unwrap();
    let n = MAX_VALUES_PER_DAY as u64 + 10;
    assert_eq!((u.uses, u.failed), (2 * n, 2 * n));
    assert_eq!(
        u.hosts.len() as i64,
        MAX_VALUES_PER_DAY + 1,
        "the cap plus OTHERS"
    );
    let others = u.hosts.iter().find(|p| p.value == OTHERS).unwrap();
    assert_eq!(others.uses, 20);
    assert_eq!(
        u.hosts.iter().map(|p| p.uses).sum::<u64>(),
        2 * n,
        "nothing lost"
    );
}

#[test]
fn retention_drops_old_days_and_the_oldest_past_the_row_limit() {
    let (_dir, mut db) = open();
    let mut b = LedgerBatch::default();
    for day in 1..=9 {
        let t = format!("2026-12-0{day}T08:00:00Z");
        b.add(&use_of(
            "n.jansen",
            &t,
            Some(true),
            &[(UsageKind::Host, "ws-01")],
        ));
    }
    db.record_identity_uses(&b).unwrap();
    // 2 rows a day (totals and the host).
    let removed = db
        .retain_ledger(at("2026-12-10T00:00:00Z"), Some(5), None)
        .unwrap();
    assert_eq!(removed, 8, "Dec 1-4");
    let removed = db
        .retain_ledger(at("2026-12-10T00:00:00Z"), None, Some(5))
        .unwrap();
    assert_eq!(removed, 6, "a day goes whole: Dec 5-7");
    let u = db
        .identity_usage(
            "n.jansen",
            None,
            at("2026-12-01T00:00:00Z"),
            at("2026-12-09T00:00:00Z"),
        )
        .unwrap()
        .unwrap();
    assert_eq!(u.uses, 2);
    assert_eq!(u.first_seen, Some(at("2026-12-08T08:00:00Z")));
}

#[test]
fn long_and_odd_values_are_cut_and_repeats_in_one_use_count_once() {
    let mut b = LedgerBatch::default();
    let long = "é".repeat(MAX_VALUE_LEN);
    b.add(&use_of(
        "  ",
        "2026-12-01T08:00:00Z",
        None,
        &[(UsageKind::Host, "ws-01")],
    ));
    assert!(b.is_empty(), "no account, no use");
    b.add(&use_of(
        "n.jansen",
        "2026-12-01T08:00:00Z",
        None,
        &[
            (UsageKind::Host, long.as_str()),
            (UsageKind::Source, "10.0.0.1"),
            (UsageKind::Source, "10.0.0.1"),
            (UsageKind::Device, " "),
        ],
    ));
    assert_eq!(b.len(), 3, "totals, host, source");
    let (_dir, mut db) = open();
    db.record_identity_uses(&b).unwrap();
    let u = db
        .identity_usage(
            "n.jansen",
            None,
            at("2026-12-01T00:00:00Z"),
            at("2026-12-01T00:00:00Z"),
        )
        .unwrap()
        .unwrap();
    assert!(u.hosts[0].value.len() <= MAX_VALUE_LEN);
    assert_eq!(u.sources[0].uses, 1);
    assert_eq!(db.ledger_rows().unwrap(), 3);
    assert_eq!((u.uses, u.succeeded, u.failed), (1, 0, 0));
    assert!(
        account_key("HOSP\\N.Jansen") == "n.jansen"
            && account_key(" N.Jansen@hosp.example") == "n.jansen"
    );
}
