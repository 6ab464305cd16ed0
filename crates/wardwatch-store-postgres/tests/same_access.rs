//! Tokens, accounts, sessions, the audit log, the notification queue, secrets and TAXII
//! publishing answer the same on the embedded store (SQLite) and on PostgreSQL, driven through
//! the same `dyn` traits; and PostgreSQL's audit chain names the entry edited, deleted or moved
//! as SQLite's does. A real PostgreSQL (started by `wardwatch-peers`) — skipped where it is not
//! installed, failing under CI.

use wardwatch_peers::Peer;
use wardwatch_store::{
    AccessStore, AddOutcome, AuditRecord, Db, DbOptions, NewMessage, NewTaxiiObject, NotifyQueue,
    OutboxRow, ResendKeys, SessionLookup, StoreError, TaxiiCollection, TaxiiStore, TokenKind,
    TokenStore,
};
use wardwatch_store_postgres::Postgres;

trait Access: TokenStore + AccessStore + NotifyQueue + TaxiiStore + ResendKeys {}
impl<T: TokenStore + AccessStore + NotifyQueue + TaxiiStore + ResendKeys> Access for T {}

struct Stores {
    peer: Peer,
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
        peer,
        _dir: dir,
        sqlite,
        postgres,
    })
}

fn both<T: PartialEq + std::fmt::Debug>(
    s: &mut Stores,
    what: &str,
    mut f: impl FnMut(&mut dyn Access) -> Result<T, StoreError>,
) -> T {
    let a = f(&mut s.sqlite).unwrap_or_else(|e| panic!("SQLite: {what}: {e}"));
    let b = f(&mut s.postgres).unwrap_or_else(|e| panic!("PostgreSQL: {what}: {e}"));
    assert_eq!(a, b, "{what}: SQLite (left) and PostgreSQL (right) differ");
    a
}

fn rec(actor: &str, action: &str, org: &str) -> AuditRecord {
    AuditRecord {
        actor: actor.into(),
        action: action.into(),
        target: "incident:inc-001".into(),
        org: org.into(),
        addr: "10.1.2.3".into(),
        detail: "{\"status\":\"acknowledged\"}".into(),
    }
}

/// An outbox row without its creation time (each store stamps its own).
fn row(r: OutboxRow) -> String {
    format!(
        "{}|{}|{:?}|{}|{}|{}|{}|{}|{}|{:?}|{:?}",
        r.id,
        r.kind,
        r.incident,
        r.recipient,
        r.subject,
        r.body,
        r.status,
        r.attempts,
        r.next_attempt,
        r.last_error,
        r.sent
    )
}

fn message(id: &str, not_before: i64) -> NewMessage {
    NewMessage {
        id: id.into(),
        kind: "opened".into(),
        incident: Some("inc-001".into()),
        recipient: format!("mail:soc+{id}@hosp.example"),
        subject: format!("Incident {id}"),
        body: "{\"text\":\"what happened\"}".into(),
        not_before,
    }
}

#[test]
fn access_and_delivery_answer_the_same_on_sqlite_and_postgres() {
    let Some(mut s) = stores("access_and_delivery_answer_the_same_on_sqlite_and_postgres") else {
        return;
    };
    // Tokens.
    both(&mut s, "tokens", |st| {
        st.add_token("beats", TokenKind::Ingest, "s3cret-ingest")?;
        st.add_token("soar", TokenKind::Api, "s3cret-api")?;
        st.add_token("partner-b", TokenKind::Taxii, "s3cret-taxii")?;
        Ok((
            st.set_token_grant("soar", Some("analyst"), Some("north"))?,
            st.set_token_grant("nobody", Some("admin"), None)?,
        ))
    });
    assert!(
        s.postgres
            .add_token("beats", TokenKind::Ingest, "other")
            .is_err(),
        "a name is taken once"
    );
    let hash = wardwatch_store::token_hash("s3cret-api");
    both(&mut s, "token listing", |st| {
        Ok((
            st.tokens()?
                .into_iter()
                .map(|t| (t.name, t.kind.as_str()))
                .collect::<Vec<_>>(),
            st.token_hashes(TokenKind::Ingest)?,
            st.token_grant(TokenKind::Api, &hash)?,
            st.token_grant(TokenKind::Ingest, &hash)?,
            st.token_grants(TokenKind::Api)?,
        ))
    });
    both(&mut s, "token removal", |st| {
        Ok((st.remove_token("beats")?, st.remove_token("beats")?))
    });

    // Accounts and sessions.
    let now = i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap();
    both(&mut s, "accounts", |st| {
        st.add_account(
            "ana",
            "analyst",
            &["north".into(), "south".into()],
            "$argon2id$a",
        )?;
        st.add_account("root", "admin", &["*".into()], "$argon2id$r")?;
        st.open_session(
            "h-live",
            "ana",
            "csrf-1",
            now + 3_600_000_000_000,
            "10.0.0.1",
        )?;
        st.open_session("h-old", "ana", "csrf-2", now - 1, "10.0.0.1")?;
        st.open_session(
            "h-root",
            "root",
            "csrf-3",
            now + 3_600_000_000_000,
            "10.0.0.2",
        )?;
        Ok(st
            .accounts()?
            .into_iter()
            .map(|a| (a.name, a.role, a.orgs, a.hash, a.disabled))
            .collect::<Vec<_>>())
    });
    let lookup = |l: SessionLookup| match l {
        SessionLookup::Live(s) => format!("live {} {} {}", s.account.name, s.csrf, s.expires),
        SessionLookup::Expired => "expired".into(),
        SessionLookup::Unknown => "unknown".into(),
    };
    both(&mut s, "sessions", |st| {
        Ok(vec![
            lookup(st.session("h-live")?),
            lookup(st.session("h-old")?),
            lookup(st.session("h-old")?),
            lookup(st.session("nobody")?),
        ])
    });
    both(&mut s, "a new password ends the sessions", |st| {
        Ok((
            st.set_account_hash("ana", "$argon2id$b")?,
            st.set_account_hash("ghost", "$argon2id$b")?,
            lookup(st.session("h-live")?),
            st.account("ana")?.map(|a| a.hash),
        ))
    });
    both(&mut s, "a removed account takes its sessions", |st| {
        let removed = (st.remove_account("root")?, st.remove_account("root")?);
        st.close_session("h-none")?;
        Ok((
            removed,
            lookup(st.session("h-root")?),
            st.account("root")?.is_none(),
        ))
    });

    // The audit log.
    both(&mut s, "audit", |st| {
        let mut seqs = Vec::new();
        for (i, org) in ["north", "south", "*", "north", "south"].iter().enumerate() {
            seqs.push(st.audit(&rec(
                if i % 2 == 0 { "ana" } else { "root" },
                "acknowledge",
                org,
            ))?);
        }
        Ok(seqs)
    });
    for (limit, before, orgs) in [
        (10, None, None),
        (2, None, None),
        (2, Some(4), None),
        (10, None, Some(vec!["north".to_string()])),
        (1, Some(4), Some(vec!["south".to_string(), "*".to_string()])),
        (10, None, Some(vec![])),
    ] {
        both(&mut s, "audit entries", |st| {
            Ok(st
                .audit_entries(limit, before, orgs.as_deref())?
                .into_iter()
                .map(|e| (e.seq, e.actor, e.action, e.target, e.org, e.addr, e.detail))
                .collect::<Vec<_>>())
        });
    }
    both(&mut s, "an intact chain", |st| st.verify_audit());

    // The notification queue.
    both(&mut s, "plan", |st| {
        let first = st.commit_plan(
            &[
                message("m1", now - 10),
                message("m2", now + 1_000),
                message("m3", now - 5),
            ],
            0,
            "{\"digest\":[]}",
        )?;
        let again = st.commit_plan(&[message("m1", now)], 0, "{\"digest\":[1]}")?;
        let queued = (
            st.enqueue(&message("report", now - 1))?,
            st.enqueue(&message("m2", 0))?,
        );
        Ok((first, again, queued, st.notify_state()?))
    });
    both(&mut s, "delivery", |st| {
        let due: Vec<String> = st.due_messages(now, 10)?.into_iter().map(row).collect();
        st.message_sent("m1", now + 1)?;
        st.message_failed("m3", "421 try later", Some(now + 60))?;
        st.message_failed("report", "550 no such user", None)?;
        Ok((
            due,
            st.due_messages(now + 100, 2)?
                .into_iter()
                .map(row)
                .collect::<Vec<_>>(),
            st.messages(None, 10)?
                .into_iter()
                .map(row)
                .collect::<Vec<_>>(),
            st.messages(Some("failed"), 10)?
                .into_iter()
                .map(row)
                .collect::<Vec<_>>(),
            st.outbox_counts()?,
            st.incident_events_after(0, 10)?,
        ))
    });

    // TAXII publishing.
    let collections = [
        TaxiiCollection {
            id: "9a1b0c3e-0000-4000-8000-000000000001".into(),
            alias: "incidents".into(),
            title: "Incidents we share".into(),
            description: "stripped of patient data".into(),
        },
        TaxiiCollection {
            id: "9a1b0c3e-0000-4000-8000-000000000002".into(),
            alias: "campaigns".into(),
            title: "Phishing campaigns".into(),
            description: String::new(),
        },
    ];
    s.sqlite.taxii_set_collections(&collections).unwrap();
    s.postgres.taxii_set_collections(&collections).unwrap();
    let object = |id: &str, version: Option<(&str, i64)>, creator: &str| NewTaxiiObject {
        id: id.into(),
        ty: id.split("--").next().unwrap_or("indicator").into(),
        spec_version: "2.1".into(),
        version: version.map(|(t, ns)| (t.to_string(), ns)),
        tlp: 1,
        creator: Some(creator.into()),
        private: false,
        doc: format!("{{\"id\":\"{id}\"}}"),
    };
    let shape = |o: Vec<AddOutcome>| -> Vec<String> {
        // Dates added, and the versions of objects without one, are each store's clock:
        // compare what was decided.
        let version = |v: String| {
            if v.starts_with("2026-01-0") {
                v
            } else {
                "(stamped when added)".to_string()
            }
        };
        o.into_iter()
            .map(|o| match o {
                AddOutcome::Added { version: v, .. } => format!("added {}", version(v)),
                AddOutcome::Present { version: v } => format!("present {}", version(v)),
                AddOutcome::Refused(why) => format!("refused {why}"),
            })
            .collect()
    };
    both(&mut s, "publish", |st| {
        let col = "9a1b0c3e-0000-4000-8000-000000000001";
        let first = st.taxii_publish(
            col,
            &[
                object(
                    "indicator--1",
                    Some(("2026-01-01T00:00:00.000Z", 1)),
                    "identity--us",
                ),
                object(
                    "indicator--1",
                    Some(("2026-01-02T00:00:00.000Z", 2)),
                    "identity--us",
                ),
                object("marking-definition--x", None, "identity--us"),
            ],
        )?;
        let again = st.taxii_publish(
            col,
            &[
                object(
                    "indicator--1",
                    Some(("2026-01-01T00:00:00.000Z", 1)),
                    "identity--us",
                ),
                object("marking-definition--x", None, "identity--us"),
                object(
                    "indicator--1",
                    Some(("2026-01-03T00:00:00.000Z", 3)),
                    "identity--them",
                ),
            ],
        )?;
        Ok((
            shape(first),
            shape(again),
            st.taxii_collections()?,
            st.taxii_sightings(10)?.len(),
        ))
    });

    // Secrets are made once and kept.
    let a = s.postgres.secret("resend").unwrap();
    assert_eq!(s.postgres.secret("resend").unwrap(), a);
    assert_ne!(s.postgres.secret("other").unwrap(), a);
    let mut again = Postgres::connect(&s.peer.url()).unwrap();
    assert_eq!(
        again.secret("resend").unwrap(),
        a,
        "every node reads the same secret"
    );
}

#[test]
fn postgres_names_the_audit_entry_that_breaks_the_chain() {
    let Some(mut s) = stores("postgres_names_the_audit_entry_that_breaks_the_chain") else {
        return;
    };
    let mut sql = postgres::Client::connect(&s.peer.url(), postgres::NoTls).unwrap();
    let chain = |s: &mut Stores| {
        for a in ["sign-in", "acknowledge", "comment", "sign-out"] {
            s.postgres.audit(&rec("ana", a, "north")).unwrap();
        }
    };
    chain(&mut s);
    assert_eq!(s.postgres.verify_audit().unwrap().broken, None);
    sql.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2", &[])
        .unwrap();
    let v = s.postgres.verify_audit().unwrap();
    assert_eq!(v.broken.as_ref().map(|b| b.0), Some(2), "{v:?}");
    assert!(v.broken.unwrap().1.contains("changed"));

    sql.batch_execute("DELETE FROM audit; UPDATE audit_head SET seq = 0")
        .unwrap();
    chain(&mut s);
    sql.execute("DELETE FROM audit WHERE seq = 2", &[]).unwrap();
    assert_eq!(
        s.postgres.verify_audit().unwrap().broken.map(|b| b.0),
        Some(3)
    );

    sql.batch_execute("DELETE FROM audit; UPDATE audit_head SET seq = 0")
        .unwrap();
    chain(&mut s);
    sql.execute("DELETE FROM audit WHERE seq = 4", &[]).unwrap();
    let v = s.postgres.verify_audit().unwrap();
    assert_eq!(
        v.broken.as_ref().map(|b| b.0),
        Some(4),
        "the last entry deleted: {v:?}"
    );

    // Resend keys: newest first down to the first one older than asked, forgotten by age
    // and beyond what is kept.
    let t = |s: i64| jiff::Timestamp::from_second(s).unwrap();
    let ns = |s: i64| s * 1_000_000_000;
    s.postgres
        .record_resend_keys(&[11, u64::MAX - 1], ns(100))
        .unwrap();
    s.postgres.record_resend_keys(&[44], ns(200)).unwrap();
    assert_eq!(
        s.postgres.resend_keys_since(t(0), 10).unwrap(),
        [44, u64::MAX - 1, 11]
    );
    assert_eq!(s.postgres.resend_keys_since(t(150), 10).unwrap(), [44]);
    assert_eq!(
        s.postgres.resend_keys_since(t(0), 2).unwrap(),
        [44, u64::MAX - 1]
    );
    assert_eq!(s.postgres.forget_resend_keys(t(150), 10).unwrap(), 2);
    assert_eq!(s.postgres.resend_keys_since(t(0), 10).unwrap(), [44]);
}
