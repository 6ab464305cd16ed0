use super::*;
use crate::DbOptions;

fn db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), &DbOptions::default()).unwrap();
    (dir, db)
}

fn obj(id: &str, modified: Option<i64>, tlp: u8) -> NewTaxiiObject {
    NewTaxiiObject {
        id: id.to_string(),
        ty: id.split("--").next().unwrap().to_string(),
        spec_version: "2.1".into(),
        version: modified.map(|s| (format!("v{s}"), s)),
        tlp,
        creator: Some("identity--a".into()),
        private: false,
        doc: format!("{{\"id\":\"{id}\",\"v\":{}}}", modified.unwrap_or(0)),
    }
}

fn partner(name: &str, max_tlp: u8) -> TaxiiReader {
    TaxiiReader::Partner {
        name: name.into(),
        max_tlp,
    }
}

fn query(reader: TaxiiReader) -> TaxiiQuery {
    TaxiiQuery {
        collection: "c".into(),
        reader,
        ids: Vec::new(),
        types: Vec::new(),
        versions: VersionMatch::default(),
        spec_versions: Vec::new(),
        added_after: None,
        after: None,
        limit: 100,
    }
}

fn ids(page: &TaxiiPage) -> Vec<String> {
    page.rows
        .iter()
        .map(|r| format!("{}@{}", r.id, r.version))
        .collect()
}

fn add(db: &mut Db, objects: &[NewTaxiiObject]) -> Vec<AddOutcome> {
    db.taxii_add("c", objects, None, |_, _| None).unwrap()
}

#[test]
fn dates_added_are_unique_and_increasing_and_a_version_is_stored_once() {
    let (_d, mut db) = db();
    let out = add(
        &mut db,
        &[
            obj("indicator--1", Some(1), 1),
            obj("indicator--2", Some(1), 1),
            obj("indicator--1", Some(1), 1),
        ],
    );
    let (a, b) = match (&out[0], &out[1]) {
        (AddOutcome::Added { date_added: a, .. }, AddOutcome::Added { date_added: b, .. }) => {
            (*a, *b)
        }
        other => panic!("{other:?}"),
    };
    assert!(b > a, "{a} {b}");
    assert_eq!(
        out[2],
        AddOutcome::Present {
            version: "v1".into()
        }
    );
    // Again later: still present, nothing added.
    assert_eq!(
        add(&mut db, &[obj("indicator--2", Some(1), 1)]),
        vec![AddOutcome::Present {
            version: "v1".into()
        }]
    );
    assert_eq!(db.taxii_counts().unwrap(), vec![("c".to_string(), 2)]);
    // An object without a version is immutable: a second copy is the same object.
    let mut sco = obj("domain-name--9", None, 0);
    sco.creator = None;
    assert!(matches!(
        add(&mut db, std::slice::from_ref(&sco))[0],
        AddOutcome::Added { .. }
    ));
    assert!(matches!(
        add(&mut db, &[sco])[0],
        AddOutcome::Present { .. }
    ));
}

#[test]
fn only_the_creator_versions_an_object_and_the_status_commits_with_the_objects() {
    let (_d, mut db) = db();
    add(&mut db, &[obj("indicator--1", Some(1), 1)]);
    let mut other = obj("indicator--1", Some(2), 1);
    other.creator = Some("identity--b".into());
    let out = db
        .taxii_add("c", &[other], Some("p"), |outcomes, _| {
            Some(("s1".into(), "p".into(), format!("{}", outcomes.len())))
        })
        .unwrap();
    assert!(
        matches!(&out[0], AddOutcome::Refused(r) if r.contains("only its creator")),
        "{out:?}"
    );
    let s = db.taxii_status("s1").unwrap().unwrap();
    assert_eq!((s.partner.as_str(), s.doc.as_str()), ("p", "1"));
    assert!(db.taxii_status("s2").unwrap().is_none());
    // A status that cannot be stored (its id taken) takes the objects with it.
    let err = db.taxii_add(
        "c",
        &[obj("indicator--5", Some(1), 1)],
        Some("p"),
        |_, _| Some(("s1".into(), "p".into(), "again".into())),
    );
    assert!(err.is_err());
    let page = db.taxii_query(&query(TaxiiReader::Site)).unwrap();
    assert_eq!(ids(&page), vec!["indicator--1@v1"]);
}

#[test]
fn versions_first_last_all_and_exact() {
    let (_d, mut db) = db();
    add(
        &mut db,
        &[
            obj("indicator--1", Some(10), 1),
            obj("indicator--1", Some(30), 1),
            obj("indicator--1", Some(20), 1),
            obj("indicator--2", Some(5), 1),
        ],
    );
    let mut q = query(TaxiiReader::Site);
    assert_eq!(
        ids(&db.taxii_query(&q).unwrap()),
        vec!["indicator--1@v30", "indicator--2@v5"]
    );
    q.versions = VersionMatch {
        first: true,
        last: false,
        ..VersionMatch::default()
    };
    assert_eq!(
        ids(&db.taxii_query(&q).unwrap()),
        vec!["indicator--1@v10", "indicator--2@v5"]
    );
    q.versions = VersionMatch::all();
    assert_eq!(db.taxii_query(&q).unwrap().rows.len(), 4);
    q.versions = VersionMatch {
        first: false,
        last: false,
        all: false,
        at: vec![20],
    };
    assert_eq!(ids(&db.taxii_query(&q).unwrap()), vec!["indicator--1@v20"]);
    q.versions = VersionMatch {
        first: true,
        last: true,
        all: false,
        at: vec![],
    };
    q.ids = vec!["indicator--1".into()];
    assert_eq!(
        ids(&db.taxii_query(&q).unwrap()),
        vec!["indicator--1@v10", "indicator--1@v30"]
    );
    q.ids.clear();
    q.types = vec!["malware".into()];
    assert!(db.taxii_query(&q).unwrap().rows.is_empty());
}

#[test]
fn pages_follow_the_order_added_and_added_after_resumes_exactly() {
    let (_d, mut db) = db();
    let objects: Vec<_> = (0..7)
        .map(|i| obj(&format!("indicator--{i}"), Some(1), 0))
        .collect();
    add(&mut db, &objects);
    let mut q = query(TaxiiReader::Site);
    q.limit = 3;
    let mut seen = Vec::new();
    loop {
        let page = db.taxii_query(&q).unwrap();
        seen.extend(page.rows.iter().map(|r| r.id.clone()));
        if !page.more {
            break;
        }
        q.after = page.rows.last().map(|r| r.date_added);
    }
    let want: Vec<String> = (0..7).map(|i| format!("indicator--{i}")).collect();
    assert_eq!(seen, want);
    // added_after the third object's date: the four after it.
    let all = db.taxii_query(&query(TaxiiReader::Site)).unwrap();
    let mut q = query(TaxiiReader::Site);
    q.added_after = Some(all.rows[2].date_added);
    let page = db.taxii_query(&q).unwrap();
    assert_eq!(page.rows.len(), 4);
    assert_eq!(page.rows[0].id, "indicator--3");
    assert!(!page.more);
}

#[test]
fn a_partner_sees_up_to_its_tlp_and_only_its_own_private_objects() {
    let (_d, mut db) = db();
    add(
        &mut db,
        &[
            obj("indicator--clear", Some(1), 0),
            obj("indicator--green", Some(1), 1),
            obj("indicator--amber", Some(1), 2),
            obj("indicator--red", Some(1), 4),
        ],
    );
    let mut sighting = obj("sighting--1", Some(1), 1);
    sighting.private = true;
    db.taxii_add("c", &[sighting], Some("north"), |_, _| None)
        .unwrap();
    let seen = |db: &Db, r: TaxiiReader| -> Vec<String> {
        db.taxii_query(&query(r))
            .unwrap()
            .rows
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(
        seen(&db, partner("south", 2)),
        vec!["indicator--clear", "indicator--green", "indicator--amber"]
    );
    assert_eq!(
        seen(&db, partner("north", 1)),
        vec!["indicator--clear", "indicator--green", "sighting--1"]
    );
    assert_eq!(seen(&db, TaxiiReader::Site).len(), 5);
    assert!(
        !db.taxii_has_object("c", "indicator--red", &partner("south", 2))
            .unwrap()
    );
    assert!(
        db.taxii_has_object("c", "indicator--red", &TaxiiReader::Site)
            .unwrap()
    );
    // A red newer version stays hidden: the amber reader gets the version it may read.
    add(&mut db, &[obj("indicator--amber", Some(2), 4)]);
    let page = db.taxii_query(&query(partner("south", 2))).unwrap();
    let amber = page
        .rows
        .iter()
        .find(|r| r.id == "indicator--amber")
        .unwrap();
    assert_eq!(amber.version, "v1");
}

#[test]
fn the_latest_spec_version_is_the_default_and_match_spec_version_chooses() {
    let (_d, mut db) = db();
    let mut old = obj("indicator--1", Some(1), 0);
    old.spec_version = "2.0".into();
    add(&mut db, &[old, obj("indicator--1", Some(2), 0)]);
    let mut old_only = obj("indicator--2", Some(1), 0);
    old_only.spec_version = "2.0".into();
    add(&mut db, &[old_only]);
    let mut q = query(TaxiiReader::Site);
    assert_eq!(
        ids(&db.taxii_query(&q).unwrap()),
        vec!["indicator--1@v2", "indicator--2@v1"]
    );
    q.spec_versions = vec!["2.0".into()];
    assert_eq!(
        ids(&db.taxii_query(&q).unwrap()),
        vec!["indicator--1@v1", "indicator--2@v1"]
    );
}

#[test]
fn delete_removes_the_chosen_versions_and_collections_follow_the_configuration() {
    let (_d, mut db) = db();
    add(
        &mut db,
        &[
            obj("indicator--1", Some(1), 0),
            obj("indicator--1", Some(2), 0),
        ],
    );
    let n = db
        .taxii_delete(
            "c",
            "indicator--1",
            &TaxiiReader::Site,
            &VersionMatch::default(),
            &[],
        )
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        ids(&db.taxii_query(&query(TaxiiReader::Site)).unwrap()),
        vec!["indicator--1@v1"]
    );
    let n = db
        .taxii_delete(
            "c",
            "indicator--1",
            &TaxiiReader::Site,
            &VersionMatch::all(),
            &[],
        )
        .unwrap();
    assert_eq!(n, 1);
    assert!(
        db.taxii_query(&query(TaxiiReader::Site))
            .unwrap()
            .rows
            .is_empty()
    );

    let c = |id: &str, alias: &str, title: &str| TaxiiCollection {
        id: id.into(),
        alias: alias.into(),
        title: title.into(),
        description: String::new(),
    };
    db.taxii_set_collections(&[c("id-1", "incidents", "Incidents")])
        .unwrap();
    db.taxii_set_collections(&[
        c("id-1", "incidents", "Shared incidents"),
        c("id-2", "phishing", "Phishing"),
    ])
    .unwrap();
    // The alias moves to a new id: the old collection keeps its id as its name.
    db.taxii_set_collections(&[c("id-3", "phishing", "Phishing waves")])
        .unwrap();
    let got = db.taxii_collections().unwrap();
    let names: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|c| (c.id.as_str(), c.alias.as_str(), c.title.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("id-2", "id-2", "Phishing"),
            ("id-1", "incidents", "Shared incidents"),
            ("id-3", "phishing", "Phishing waves"),
        ]
    );
}

#[test]
fn partners_sightings_are_listed_newest_first_with_what_they_sighted() {
    let (_d, mut db) = db();
    db.taxii_set_collections(&[TaxiiCollection {
        id: "c".into(),
        alias: "incidents".into(),
        title: "Incidents".into(),
        description: String::new(),
    }])
    .unwrap();
    let mut ind = obj("indicator--1", Some(1), 1);
    ind.doc = r#"{"id":"indicator--1","name":"Phishing sender"}"#.into();
    add(&mut db, &[ind]);
    let sighting = |n: i64| {
        let mut s = obj("sighting--1", Some(n), 1);
        s.doc = format!(r#"{{"id":"sighting--1","sighting_of_ref":"indicator--1","count":{n}}}"#);
        s.private = true;
        s
    };
    db.taxii_add("c", &[sighting(1)], Some("north"), |_, _| None)
        .unwrap();
    db.taxii_add("c", &[sighting(2)], Some("north"), |_, _| None)
        .unwrap();
    // Objects we published ourselves are no partner's sightings.
    add(&mut db, &[obj("sighting--2", Some(1), 1)]);
    let got = db.taxii_sightings(10).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0].alias.as_str(), got[0].partner.as_str()),
        ("incidents", "north")
    );
    assert!(got[0].doc.contains("\"count\":2"), "the latest version");
    assert!(got[0].of.as_deref().unwrap().contains("Phishing sender"));
}
