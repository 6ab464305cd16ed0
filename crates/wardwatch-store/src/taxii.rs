//! What the TAXII 2.1 server serves: its collections, every version of every object in them
//! with the time it was added, and the status of each partner's POST.
//!
//! Why here: what we publish to other hospitals and what partners post back (sightings) must
//! survive restarts, and a partner polling with `added_after` must never miss an object. So
//! each object version gets a `date_added` in microseconds that is unique and increasing within
//! its collection (the next one is at least one microsecond after the last): a client that
//! resumes after the last `date_added` it saw, or after our `next`, gets exactly what followed.
//!
//! Visibility is decided here, in the query, so a page is never short of what a reader may see:
//! each version carries its TLP rank (0 clear .. 4 red) and whether it is private to the
//! partner who posted it (a partner's sighting says where it was hit: other partners do not
//! read it). A reader is a partner with a TLP ceiling, or this site itself (no limit).
//!
//! The store knows nothing of HTTP or STIX semantics: the server hands it checked facts of
//! each object (id, type, version, spec version, TLP, creator) and the object's JSON.

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, params, params_from_iter};

use crate::StoreError;
use crate::db::Db;

/// Version 10: TAXII collections, their objects (every version) and status resources.
pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS taxii_collections (
    id          TEXT PRIMARY KEY,             -- a UUID, as TAXII wants
    alias       TEXT NOT NULL UNIQUE,         -- the name people use (`--collection`)
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    created     INTEGER NOT NULL              -- ns
);
CREATE TABLE IF NOT EXISTS taxii_objects (
    collection   TEXT NOT NULL,
    id           TEXT NOT NULL,               -- the STIX id
    version_ns   INTEGER NOT NULL,            -- `modified`, else `created`, else date_added
    version      TEXT NOT NULL,               -- the same as written
    date_added   INTEGER NOT NULL,            -- us since the epoch; unique per collection
    type         TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    tlp          INTEGER NOT NULL,            -- 0 clear, 1 green, 2 amber, 3 amber+strict, 4 red
    creator      TEXT,                        -- created_by_ref
    posted_by    TEXT,                        -- the partner who posted it; NULL: published here
    private      INTEGER NOT NULL DEFAULT 0,  -- 1: only `posted_by` (and this site) reads it
    doc          TEXT NOT NULL,
    PRIMARY KEY (collection, id, version_ns)
);
CREATE UNIQUE INDEX IF NOT EXISTS taxii_objects_added ON taxii_objects(collection, date_added);
CREATE TABLE IF NOT EXISTS taxii_status (
    id          TEXT PRIMARY KEY,
    collection  TEXT NOT NULL,
    partner     TEXT NOT NULL,
    requested   INTEGER NOT NULL,             -- ns
    doc         TEXT NOT NULL                 -- the status resource, JSON
);
"#;

/// A collection as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxiiCollection {
    pub id: String,
    pub alias: String,
    pub title: String,
    pub description: String,
}

/// One object version to add, with the facts the server read from it.
#[derive(Debug, Clone)]
pub struct NewTaxiiObject {
    pub id: String,
    pub ty: String,
    pub spec_version: String,
    /// `modified` (else `created`) as written and in ns; `None` for objects that have neither
    /// (their version is the time they are added, and they never change).
    pub version: Option<(String, i64)>,
    /// TLP rank, 0 clear .. 4 red.
    pub tlp: u8,
    pub creator: Option<String>,
    /// Readable only by the partner who posted it (and this site).
    pub private: bool,
    pub doc: String,
}

/// What became of one object of an add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// Stored as a new version, with its date added (us) and version as written.
    Added { date_added: i64, version: String },
    /// This version was there already (nothing changed).
    Present { version: String },
    /// Refused, with the reason.
    Refused(String),
}

/// What a POST keeps of its outcomes and the time of the request (ns): the status resource
/// `(id, partner, doc)`, or `None` to keep none.
pub type MakeStatus<'a> = dyn FnMut(&[AddOutcome], i64) -> Option<(String, String, String)> + 'a;

/// Who reads: a partner (by name) with a TLP ceiling, or this site itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaxiiReader {
    Partner { name: String, max_tlp: u8 },
    Site,
}

/// Which versions of each object a query returns (`match[version]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMatch {
    pub all: bool,
    pub first: bool,
    pub last: bool,
    /// Exact versions, ns.
    pub at: Vec<i64>,
}

impl Default for VersionMatch {
    /// TAXII's default: the latest version.
    fn default() -> Self {
        VersionMatch {
            all: false,
            first: false,
            last: true,
            at: Vec::new(),
        }
    }
}

impl VersionMatch {
    /// Every version.
    pub fn all() -> Self {
        VersionMatch {
            all: true,
            first: false,
            last: false,
            at: Vec::new(),
        }
    }
}

/// A query over one collection's objects.
#[derive(Debug, Clone)]
pub struct TaxiiQuery {
    pub collection: String,
    pub reader: TaxiiReader,
    /// `match[id]`; empty: any.
    pub ids: Vec<String>,
    /// `match[type]`; empty: any.
    pub types: Vec<String>,
    pub versions: VersionMatch,
    /// `match[spec_version]`; empty: each object's latest spec version.
    pub spec_versions: Vec<String>,
    /// Only versions added after this (us).
    pub added_after: Option<i64>,
    /// Resume after this date added (us), from a `next` we handed out.
    pub after: Option<i64>,
    pub limit: usize,
}

impl TaxiiQuery {
    /// The versions of object `id` a delete removes: those `versions` and `spec_versions`
    /// select among what `reader` sees (every engine deletes what this query finds).
    pub fn to_delete(
        collection: &str,
        id: &str,
        reader: &TaxiiReader,
        versions: &VersionMatch,
        spec_versions: &[String],
    ) -> TaxiiQuery {
        TaxiiQuery {
            collection: collection.to_string(),
            reader: reader.clone(),
            ids: vec![id.to_string()],
            types: Vec::new(),
            versions: versions.clone(),
            spec_versions: spec_versions.to_vec(),
            added_after: None,
            after: None,
            limit: 100_000,
        }
    }

    /// Every version in `collection` (of every spec version) as this site reads it, `limit` a
    /// page.
    pub fn everything(collection: &str, limit: usize) -> TaxiiQuery {
        TaxiiQuery {
            collection: collection.to_string(),
            reader: TaxiiReader::Site,
            ids: Vec::new(),
            types: Vec::new(),
            versions: VersionMatch::all(),
            spec_versions: Vec::new(),
            added_after: None,
            after: None,
            limit,
        }
    }
}

/// One stored object version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxiiObjectRow {
    pub id: String,
    pub version: String,
    pub date_added: i64,
    pub spec_version: String,
    pub doc: String,
}

/// A page of object versions, in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct TaxiiPage {
    pub rows: Vec<TaxiiObjectRow>,
    /// More follow (continue after the last row's `date_added`).
    pub more: bool,
}

/// A sighting a partner posted to one of our collections, with what it sighted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxiiSighting {
    pub collection: String,
    /// The collection's alias (its id when it is no longer configured).
    pub alias: String,
    pub partner: String,
    /// When it arrived, us.
    pub date_added: i64,
    /// The sighting, JSON.
    pub doc: String,
    /// The object it sights (its latest version in the same collection), JSON, when there.
    pub of: Option<String>,
}

/// A status resource kept for its partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxiiStatusRow {
    pub id: String,
    pub collection: String,
    pub partner: String,
    pub doc: String,
}

fn now_ns() -> i64 {
    i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX)
}

/// The conditions of who may see a row, on table alias `t`, with their parameters.
fn visible(t: &str, reader: &TaxiiReader, params: &mut Vec<SqlValue>) -> String {
    match reader {
        TaxiiReader::Site => "1".to_string(),
        TaxiiReader::Partner { name, max_tlp } => {
            params.push(SqlValue::Integer(i64::from(*max_tlp)));
            let tlp = params.len();
            params.push(SqlValue::Text(name.clone()));
            let who = params.len();
            format!("{t}.tlp <= ?{tlp} AND ({t}.private = 0 OR {t}.posted_by = ?{who})")
        }
    }
}

fn in_list(column: &str, values: &[String], params: &mut Vec<SqlValue>) -> String {
    let mut marks = Vec::with_capacity(values.len());
    for v in values {
        params.push(SqlValue::Text(v.clone()));
        marks.push(format!("?{}", params.len()));
    }
    format!("{column} IN ({})", marks.join(", "))
}

impl Db {
    /// Make the stored collections what is configured: new ones added, titles and
    /// descriptions updated. A collection no longer configured keeps its objects (it is not
    /// served); configuring it again brings them back.
    pub fn taxii_set_collections(&mut self, list: &[TaxiiCollection]) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        for c in list {
            // An alias moved to another id: the old row lets it go.
            tx.execute(
                "UPDATE taxii_collections SET alias = id WHERE alias = ?1 AND id <> ?2",
                params![c.alias, c.id],
            )?;
            tx.execute(
                "INSERT INTO taxii_collections (id, alias, title, description, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(id) DO UPDATE SET alias = excluded.alias, title = excluded.title,
                     description = excluded.description",
                params![c.id, c.alias, c.title, c.description, now_ns()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Every stored collection, by alias.
    pub fn taxii_collections(&self) -> Result<Vec<TaxiiCollection>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, alias, title, description FROM taxii_collections ORDER BY alias",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(TaxiiCollection {
                id: r.get(0)?,
                alias: r.get(1)?,
                title: r.get(2)?,
                description: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Add object versions to `collection` in one transaction, and — in the same
    /// transaction — the status `status` makes of the outcomes (`(id, partner, doc)`), so a
    /// failure stores neither. An object version already there is `Present`; a new version of
    /// an object made by someone else (another `created_by_ref`) is refused, as STIX says only
    /// its creator versions an object.
    pub fn taxii_add(
        &mut self,
        collection: &str,
        objects: &[NewTaxiiObject],
        posted_by: Option<&str>,
        status: impl FnOnce(&[AddOutcome], i64) -> Option<(String, String, String)>,
    ) -> Result<Vec<AddOutcome>, StoreError> {
        let requested = now_ns();
        let tx = self.write_tx()?;
        let mut out = Vec::with_capacity(objects.len());
        {
            let mut last: i64 = tx.query_row(
                "SELECT COALESCE(MAX(date_added), 0) FROM taxii_objects WHERE collection = ?1",
                [collection],
                |r| r.get(0),
            )?;
            let mut creator_of = tx.prepare_cached(
                "SELECT creator FROM taxii_objects WHERE collection = ?1 AND id = ?2 LIMIT 1",
            )?;
            let mut has_version = tx.prepare_cached(
                "SELECT version FROM taxii_objects WHERE collection = ?1 AND id = ?2 AND version_ns = ?3",
            )?;
            let mut any_version = tx.prepare_cached(
                "SELECT version FROM taxii_objects WHERE collection = ?1 AND id = ?2 LIMIT 1",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO taxii_objects (collection, id, version_ns, version, date_added, type,
                     spec_version, tlp, creator, posted_by, private, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for o in objects {
                let creator: Option<Option<String>> = creator_of
                    .query_row(params![collection, o.id], |r| r.get(0))
                    .optional()?;
                let present: Option<String> = match &o.version {
                    Some((_, ns)) => has_version
                        .query_row(params![collection, o.id, ns], |r| r.get(0))
                        .optional()?,
                    // Objects without a version never change: one copy is all there is.
                    None => any_version
                        .query_row(params![collection, o.id], |r| r.get(0))
                        .optional()?,
                };
                if let Some(version) = present {
                    out.push(AddOutcome::Present { version });
                    continue;
                }
                if let Some(stored) = creator
                    && stored != o.creator
                {
                    out.push(AddOutcome::Refused(format!(
                        "`{}` was made by {}; only its creator may version it",
                        o.id,
                        stored.as_deref().unwrap_or("no named creator")
                    )));
                    continue;
                }
                let now_us = requested / 1_000;
                let date_added = now_us.max(last + 1);
                last = date_added;
                let (version, version_ns) = match &o.version {
                    Some((text, ns)) => (text.clone(), *ns),
                    None => (
                        crate::taxii::stamp_us(date_added),
                        date_added.saturating_mul(1_000),
                    ),
                };
                insert.execute(params![
                    collection,
                    o.id,
                    version_ns,
                    version,
                    date_added,
                    o.ty,
                    o.spec_version,
                    i64::from(o.tlp),
                    o.creator,
                    posted_by,
                    o.private,
                    o.doc
                ])?;
                out.push(AddOutcome::Added {
                    date_added,
                    version,
                });
            }
        }
        if let Some((id, partner, doc)) = status(&out, requested) {
            tx.execute(
                "INSERT INTO taxii_status (id, collection, partner, requested, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, collection, partner, requested, doc],
            )?;
        }
        tx.commit()?;
        Ok(out)
    }

    /// A page of the object versions `q` asks for, in the order they were added.
    pub fn taxii_query(&self, q: &TaxiiQuery) -> Result<TaxiiPage, StoreError> {
        let mut params: Vec<SqlValue> = vec![SqlValue::Text(q.collection.clone())];
        // The filters every version of an object is judged by; version selection (first,
        // last) happens among the versions that pass them.
        let shared = |t: &str, params: &mut Vec<SqlValue>| -> String {
            let mut c = vec![format!("{t}.collection = ?1")];
            c.push(visible(t, &q.reader, params));
            if let Some(after) = q.added_after {
                params.push(SqlValue::Integer(after));
                c.push(format!("{t}.date_added > ?{}", params.len()));
            }
            if !q.spec_versions.is_empty() {
                c.push(in_list(
                    &format!("{t}.spec_version"),
                    &q.spec_versions,
                    params,
                ));
            }
            c.join(" AND ")
        };
        let outer = shared("o", &mut params);
        let mut cond = vec![outer];
        if !q.ids.is_empty() {
            cond.push(in_list("o.id", &q.ids, &mut params));
        }
        if !q.types.is_empty() {
            cond.push(in_list("o.type", &q.types, &mut params));
        }
        if q.spec_versions.is_empty() {
            let inner = shared("i", &mut params);
            cond.push(format!(
                "o.spec_version = (SELECT MAX(i.spec_version) FROM taxii_objects i \
                 WHERE i.id = o.id AND {inner})"
            ));
        }
        if !q.versions.all {
            let mut any = Vec::new();
            for (wanted, agg) in [(q.versions.first, "MIN"), (q.versions.last, "MAX")] {
                if !wanted {
                    continue;
                }
                let mut inner = shared("i", &mut params);
                if q.spec_versions.is_empty() {
                    // `o` is of the latest spec version already: choose among its siblings.
                    inner.push_str(" AND i.spec_version = o.spec_version");
                }
                any.push(format!(
                    "o.version_ns = (SELECT {agg}(i.version_ns) FROM taxii_objects i \
                     WHERE i.id = o.id AND {inner})"
                ));
            }
            if !q.versions.at.is_empty() {
                let mut marks = Vec::new();
                for ns in &q.versions.at {
                    params.push(SqlValue::Integer(*ns));
                    marks.push(format!("?{}", params.len()));
                }
                any.push(format!("o.version_ns IN ({})", marks.join(", ")));
            }
            if any.is_empty() {
                return Ok(TaxiiPage::default());
            }
            cond.push(format!("({})", any.join(" OR ")));
        }
        if let Some(after) = q.after {
            params.push(SqlValue::Integer(after));
            cond.push(format!("o.date_added > ?{}", params.len()));
        }
        let limit = q.limit.clamp(1, 1_000_000);
        params.push(SqlValue::Integer(limit as i64 + 1));
        let sql = format!(
            "SELECT o.id, o.version, o.date_added, o.spec_version, o.doc FROM taxii_objects o \
             WHERE {} ORDER BY o.date_added LIMIT ?{}",
            cond.join(" AND "),
            params.len()
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(params.iter()), |r| {
            Ok(TaxiiObjectRow {
                id: r.get(0)?,
                version: r.get(1)?,
                date_added: r.get(2)?,
                spec_version: r.get(3)?,
                doc: r.get(4)?,
            })
        })?;
        let mut rows = rows.collect::<Result<Vec<_>, _>>()?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok(TaxiiPage { rows, more })
    }

    /// Delete the versions of object `id` in `collection` that `versions` and `spec_versions`
    /// select (among those `reader` sees); returns how many went.
    pub fn taxii_delete(
        &mut self,
        collection: &str,
        id: &str,
        reader: &TaxiiReader,
        versions: &VersionMatch,
        spec_versions: &[String],
    ) -> Result<usize, StoreError> {
        let q = TaxiiQuery::to_delete(collection, id, reader, versions, spec_versions);
        let doomed = self.taxii_query(&q)?.rows;
        let tx = self.write_tx()?;
        let mut n = 0;
        for row in &doomed {
            n += tx.execute(
                "DELETE FROM taxii_objects WHERE collection = ?1 AND id = ?2 AND date_added = ?3",
                params![collection, row.id, row.date_added],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Whether any version of `id` in `collection` is visible to `reader`.
    pub fn taxii_has_object(
        &self,
        collection: &str,
        id: &str,
        reader: &TaxiiReader,
    ) -> Result<bool, StoreError> {
        let mut params: Vec<SqlValue> = vec![
            SqlValue::Text(collection.to_string()),
            SqlValue::Text(id.to_string()),
        ];
        let vis = visible("o", reader, &mut params);
        let sql = format!(
            "SELECT 1 FROM taxii_objects o WHERE o.collection = ?1 AND o.id = ?2 AND {vis} LIMIT 1"
        );
        Ok(self
            .conn
            .query_row(&sql, params_from_iter(params.iter()), |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The status resource `id`.
    pub fn taxii_status(&self, id: &str) -> Result<Option<TaxiiStatusRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, collection, partner, doc FROM taxii_status WHERE id = ?1",
                [id],
                |r| {
                    Ok(TaxiiStatusRow {
                        id: r.get(0)?,
                        collection: r.get(1)?,
                        partner: r.get(2)?,
                        doc: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// The sightings partners posted (latest versions), newest first, at most `limit`: where
    /// else what we shared was seen.
    pub fn taxii_sightings(&self, limit: usize) -> Result<Vec<TaxiiSighting>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT o.collection, COALESCE(c.alias, o.collection), o.posted_by, o.date_added, o.doc,
                 (SELECT r.doc FROM taxii_objects r WHERE r.collection = o.collection
                     AND r.id = json_extract(o.doc, '$.sighting_of_ref')
                     ORDER BY r.version_ns DESC LIMIT 1)
             FROM taxii_objects o LEFT JOIN taxii_collections c ON c.id = o.collection
             WHERE o.type = 'sighting' AND o.posted_by IS NOT NULL
               AND o.version_ns = (SELECT MAX(i.version_ns) FROM taxii_objects i
                                   WHERE i.collection = o.collection AND i.id = o.id)
             ORDER BY o.date_added DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit.min(100_000) as i64], |r| {
            Ok(TaxiiSighting {
                collection: r.get(0)?,
                alias: r.get(1)?,
                partner: r.get(2)?,
                date_added: r.get(3)?,
                doc: r.get(4)?,
                of: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Remove the object versions of `collection` added before `before_us` (us) and its
    /// status resources requested before then, in one transaction; returns how many of each
    /// went. Partners resuming with `added_after` lose nothing they could still read: dates
    /// added only grow, so what remains is still in the order it was added.
    pub fn taxii_retain(
        &mut self,
        collection: &str,
        before_us: i64,
    ) -> Result<(u64, u64), StoreError> {
        let tx = self.write_tx()?;
        let objects = tx.execute(
            "DELETE FROM taxii_objects WHERE collection = ?1 AND date_added < ?2",
            params![collection, before_us],
        )?;
        let statuses = tx.execute(
            "DELETE FROM taxii_status WHERE collection = ?1 AND requested < ?2",
            params![collection, before_us.saturating_mul(1_000)],
        )?;
        tx.commit()?;
        Ok((objects as u64, statuses as u64))
    }

    /// How many object versions each collection holds, by collection id.
    pub fn taxii_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT collection, COUNT(*) FROM taxii_objects GROUP BY collection ORDER BY collection",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// A time in us as TAXII writes it (RFC 3339, UTC, microseconds).
pub fn stamp_us(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "taxii_tests.rs"]
mod tests;
