use super::*;

fn page_size(db: &Db) -> i64 {
    db.conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .unwrap()
}

#[test]
fn an_event_with_its_senders_text_is_stored_as_that_text() {
    let text = r#"{"EventID": 4625, "ratio": 1.50, "Computer":"WS-1"}"#;
    let raw: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut event = Event::new(
        wardwatch_core::SourceKind::FlatWindows,
        jiff::Timestamp::UNIX_EPOCH,
        raw,
    );
    event.ecs.host_name = Some("WS-1".into());
    let serialized = Encoded::new(event.clone()).unwrap().doc;
    event.raw_text = wardwatch_core::RawText::new(text);
    let encoded = Encoded::new(event.clone()).unwrap();
    // The sender's bytes, spacing and `1.50` included, and the same event read back.
    assert!(
        encoded.doc.ends_with(&format!(r#","raw":{text}}}"#)),
        "{}",
        encoded.doc
    );
    assert_ne!(encoded.doc, serialized);
    let back: Event = serde_json::from_str(&encoded.doc).unwrap();
    assert_eq!(back, event);
    assert_eq!(back, serde_json::from_str::<Event>(&serialized).unwrap());
    // Taken, not kept twice.
    assert!(encoded.event.raw_text.as_str().is_none());
}

/// The indexes on `events`, by name.
fn event_indexes(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_version_6_store_gets_the_time_index_with_columns_on_open_and_keeps_its_events() {
    // A store as version 6 left it: `events_ts(ts)`, events in it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    for step in [
        schema::V1,
        schema::V2,
        schema::V3,
        crate::access::V4,
        schema::V5,
        schema::V6,
    ] {
        conn.execute_batch(step).unwrap();
    }
    conn.pragma_update(None, "user_version", 6).unwrap();
    let mut insert = conn
        .prepare("INSERT INTO events (ts, received, org, source, kind, host, user, code, channel, bytes, doc) VALUES (?1, 0, 'default', 'test', 'syslog', ?2, ?3, '4624', 'Security', 2, '{}')")
        .unwrap();
    for i in 0..100i64 {
        let host = if i % 2 == 0 {
            "pacs01.hospital.local"
        } else {
            "ws-1"
        };
        insert.execute(params![i * 1_000, host, "mnguyen"]).unwrap();
    }
    drop(insert);
    assert_eq!(event_indexes(&conn), ["events_ext_id", "events_ts"]);
    drop(conn);

    let db = Db::open(dir.path(), &DbOptions::default()).unwrap();
    let version: i64 = db
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::VERSION);
    assert_eq!(event_indexes(&db.conn), ["events_ext_id", "events_ts_cols"]);
    assert_eq!(db.last_seq().unwrap(), 100);
    // The index holds every event (an integrity check compares it with the table) and
    // answers a range count on a column alone.
    let check: String = db
        .conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let n: i64 = db
        .conn
        .query_row(
            "SELECT COUNT(*) FROM events INDEXED BY events_ts_cols WHERE ts >= 10000 AND ts < 60000 AND host = 'ws-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 25);
    drop(db);
    // Opened again: nothing left to do, same indexes.
    let again = Db::open(dir.path(), &DbOptions::default()).unwrap();
    assert_eq!(
        event_indexes(&again.conn),
        ["events_ext_id", "events_ts_cols"]
    );
}

#[test]
fn a_search_walk_and_count_read_the_time_index_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), &DbOptions::default()).unwrap();
    assert_eq!(event_indexes(&db.conn), ["events_ext_id", "events_ts_cols"]);
    // The shape of the statements search walks with: time range, organizations, the
    // unindexed tail, and a column proof.
    let plan: Vec<String> = db
        .conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT seq, ts, (host IS NOT NULL AND host = 'a') AND (code IS NOT NULL AND code = '1') AND (user IS NOT NULL AND user = 'u') AND (channel IS NOT NULL AND channel = 'c') FROM events
             WHERE ts >= 1 AND ts < 9 AND org IN ('default') AND seq > 3 AND (ts, seq) < (8, 5) ORDER BY ts DESC, seq DESC",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(plan.len(), 1, "{plan:?}");
    assert!(
        plan[0].contains("USING COVERING INDEX events_ts_cols"),
        "{plan:?}"
    );
}

#[test]
fn a_new_store_uses_large_pages_and_an_old_one_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let new = Db::open(dir.path(), &DbOptions::default()).unwrap();
    assert_eq!(page_size(&new), PAGE_SIZE);

    // A store made before the change (SQLite's default 4 KiB pages) opens as it is.
    let old_dir = tempfile::tempdir().unwrap();
    let path = old_dir.path().join(FILE_NAME);
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(schema::V1).unwrap();
    drop(conn);
    let old = Db::open(old_dir.path(), &DbOptions::default()).unwrap();
    assert_eq!(page_size(&old), 4096);
    assert_eq!(old.last_seq().unwrap(), 0);
}
