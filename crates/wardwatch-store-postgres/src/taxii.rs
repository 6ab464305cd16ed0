//! The TAXII server's state: the collections we serve, every version of the objects in them
//! (what we publish and the sightings partners post back), and the status resources of
//! partners' POSTs.
//!
//! As in the embedded store: every version of every object, each with a `date_added` in
//! microseconds unique and increasing within its collection (a partner resuming after the last
//! one it saw misses nothing). Nodes adding to one collection at once take turns on a
//! transaction-level advisory lock keyed by the collection, so dates stay unique and ordered,
//! and a POST's objects and its status resource commit together. Visibility (TLP ceiling,
//! what a partner posted about its own site) is decided in the query, as there, so a page is
//! never short of what its reader may see. Text that SQLite compares byte-wise (spec versions,
//! ids in listings) is compared with the "C" collation here.

use wardwatch_store::{
    AddOutcome, MakeStatus, NewTaxiiObject, StoreError, TaxiiCollection, TaxiiObjectRow, TaxiiPage,
    TaxiiQuery, TaxiiReader, TaxiiSighting, TaxiiStatusRow, TaxiiStore, VersionMatch, stamp_us,
};

use crate::{Args, Postgres, now_ns};

/// The conditions of who may see a row of table alias `t`.
fn visible(t: &str, reader: &TaxiiReader, args: &mut Args) -> String {
    match reader {
        TaxiiReader::Site => "TRUE".to_string(),
        TaxiiReader::Partner { name, max_tlp } => {
            let tlp = args.push(i16::from(*max_tlp));
            let who = args.push(name.clone());
            format!("{t}.tlp <= {tlp} AND (NOT {t}.private OR {t}.posted_by = {who})")
        }
    }
}

/// `column = ANY($N)`.
fn in_list(column: &str, values: &[String], args: &mut Args) -> String {
    let mark = args.push(values.to_vec());
    format!("{column} = ANY({mark})")
}

fn object_row(r: &postgres::Row) -> Result<TaxiiObjectRow, postgres::Error> {
    Ok(TaxiiObjectRow {
        id: r.try_get(0)?,
        version: r.try_get(1)?,
        date_added: r.try_get(2)?,
        spec_version: r.try_get(3)?,
        doc: r.try_get(4)?,
    })
}

/// The first half of the advisory lock key of a collection's adds.
const TAXII_LOCK: i32 = 0x5757;

impl TaxiiStore for Postgres {
    /// Make the stored collections what is configured: new ones added, titles and descriptions
    /// updated; one no longer configured keeps its objects (it is not served).
    fn taxii_set_collections(&mut self, list: &[TaxiiCollection]) -> Result<(), StoreError> {
        self.with("cannot store the TAXII collections", |c| {
            let mut tx = c.transaction()?;
            for col in list {
                // An alias moved to another id: the old row lets it go.
                tx.execute(
                    "UPDATE taxii_collections SET alias = id WHERE alias = $1 AND id <> $2",
                    &[&col.alias, &col.id],
                )?;
                tx.execute(
                    "INSERT INTO taxii_collections (id, alias, title, description, created)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (id) DO UPDATE SET alias = excluded.alias, title = excluded.title,
                         description = excluded.description",
                    &[&col.id, &col.alias, &col.title, &col.description, &now_ns()],
                )?;
            }
            tx.commit()
        })
    }

    fn taxii_collections(&self) -> Result<Vec<TaxiiCollection>, StoreError> {
        self.with("cannot list the TAXII collections", |c| {
            c.query(
                "SELECT id, alias, title, description FROM taxii_collections ORDER BY alias COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(TaxiiCollection {
                    id: r.try_get(0)?,
                    alias: r.try_get(1)?,
                    title: r.try_get(2)?,
                    description: r.try_get(3)?,
                })
            })
            .collect()
        })
    }

    fn taxii_add(
        &mut self,
        collection: &str,
        objects: &[NewTaxiiObject],
        posted_by: Option<&str>,
        status: &mut MakeStatus<'_>,
    ) -> Result<Vec<AddOutcome>, StoreError> {
        self.with("cannot add to a TAXII collection", |c| {
            let requested = now_ns();
            let mut tx = c.transaction()?;
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&TAXII_LOCK, &collection],
            )?;
            let mut last: i64 = tx
                .query_one(
                    "SELECT COALESCE(MAX(date_added), 0) FROM taxii_objects WHERE collection = $1",
                    &[&collection],
                )?
                .try_get(0)?;
            let mut out = Vec::with_capacity(objects.len());
            for o in objects {
                let creator: Option<Option<String>> = tx
                    .query_opt(
                        "SELECT creator FROM taxii_objects WHERE collection = $1 AND id = $2 LIMIT 1",
                        &[&collection, &o.id],
                    )?
                    .map(|r| r.try_get(0))
                    .transpose()?;
                let present = match &o.version {
                    Some((_, ns)) => tx.query_opt(
                        "SELECT version FROM taxii_objects WHERE collection = $1 AND id = $2 AND version_ns = $3",
                        &[&collection, &o.id, ns],
                    )?,
                    // Objects without a version never change: one copy is all there is.
                    None => tx.query_opt(
                        "SELECT version FROM taxii_objects WHERE collection = $1 AND id = $2 LIMIT 1",
                        &[&collection, &o.id],
                    )?,
                };
                if let Some(row) = present {
                    out.push(AddOutcome::Present {
                        version: row.try_get(0)?,
                    });
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
                let date_added = (requested / 1_000).max(last + 1);
                last = date_added;
                let (version, version_ns) = match &o.version {
                    Some((text, ns)) => (text.clone(), *ns),
                    None => (stamp_us(date_added), date_added.saturating_mul(1_000)),
                };
                tx.execute(
                    "INSERT INTO taxii_objects (collection, id, version_ns, version, date_added, type,
                         spec_version, tlp, creator, posted_by, private, doc)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    &[
                        &collection,
                        &o.id,
                        &version_ns,
                        &version,
                        &date_added,
                        &o.ty,
                        &o.spec_version,
                        &i16::from(o.tlp),
                        &o.creator,
                        &posted_by,
                        &o.private,
                        &o.doc,
                    ],
                )?;
                out.push(AddOutcome::Added {
                    date_added,
                    version,
                });
            }
            if let Some((id, partner, doc)) = status(&out, requested) {
                tx.execute(
                    "INSERT INTO taxii_status (id, collection, partner, requested, doc)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&id, &collection, &partner, &requested, &doc],
                )?;
            }
            tx.commit()?;
            Ok(out)
        })
    }

    fn taxii_sightings(&self, limit: usize) -> Result<Vec<TaxiiSighting>, StoreError> {
        self.with("cannot read the partners' sightings", |c| {
            c.query(
                "SELECT o.collection, COALESCE(c.alias, o.collection), o.posted_by, o.date_added, o.doc,
                     (SELECT r.doc FROM taxii_objects r WHERE r.collection = o.collection
                         AND r.id = (o.doc::jsonb ->> 'sighting_of_ref')
                         ORDER BY r.version_ns DESC LIMIT 1)
                 FROM taxii_objects o LEFT JOIN taxii_collections c ON c.id = o.collection
                 WHERE o.type = 'sighting' AND o.posted_by IS NOT NULL
                   AND o.version_ns = (SELECT MAX(i.version_ns) FROM taxii_objects i
                                       WHERE i.collection = o.collection AND i.id = o.id)
                 ORDER BY o.date_added DESC LIMIT $1",
                &[&(limit.min(100_000) as i64)],
            )?
            .iter()
            .map(|r| {
                Ok(TaxiiSighting {
                    collection: r.try_get(0)?,
                    alias: r.try_get(1)?,
                    partner: r.try_get(2)?,
                    date_added: r.try_get(3)?,
                    doc: r.try_get(4)?,
                    of: r.try_get(5)?,
                })
            })
            .collect()
        })
    }

    fn taxii_query(&self, q: &TaxiiQuery) -> Result<TaxiiPage, StoreError> {
        let mut args = Args::default();
        let coll = args.push(q.collection.clone());
        // The filters every version of an object is judged by; version selection (first,
        // last) happens among the versions that pass them.
        let shared = |t: &str, args: &mut Args| -> String {
            let mut c = vec![format!("{t}.collection = {coll}")];
            c.push(visible(t, &q.reader, args));
            if let Some(after) = q.added_after {
                c.push(format!("{t}.date_added > {}", args.push(after)));
            }
            if !q.spec_versions.is_empty() {
                c.push(in_list(
                    &format!("{t}.spec_version"),
                    &q.spec_versions,
                    args,
                ));
            }
            c.join(" AND ")
        };
        let mut cond = vec![shared("o", &mut args)];
        if !q.ids.is_empty() {
            cond.push(in_list("o.id", &q.ids, &mut args));
        }
        if !q.types.is_empty() {
            cond.push(in_list("o.type", &q.types, &mut args));
        }
        if q.spec_versions.is_empty() {
            let inner = shared("i", &mut args);
            cond.push(format!(
                "o.spec_version = (SELECT MAX(i.spec_version COLLATE \"C\") FROM taxii_objects i \
                 WHERE i.collection = o.collection AND i.id = o.id AND {inner})"
            ));
        }
        if !q.versions.all {
            let mut any = Vec::new();
            for (wanted, agg) in [(q.versions.first, "MIN"), (q.versions.last, "MAX")] {
                if !wanted {
                    continue;
                }
                let mut inner = shared("i", &mut args);
                if q.spec_versions.is_empty() {
                    // `o` is of the latest spec version already: choose among its siblings.
                    inner.push_str(" AND i.spec_version = o.spec_version");
                }
                any.push(format!(
                    "o.version_ns = (SELECT {agg}(i.version_ns) FROM taxii_objects i \
                     WHERE i.collection = o.collection AND i.id = o.id AND {inner})"
                ));
            }
            if !q.versions.at.is_empty() {
                let mark = args.push(q.versions.at.clone());
                any.push(format!("o.version_ns = ANY({mark})"));
            }
            if any.is_empty() {
                return Ok(TaxiiPage::default());
            }
            cond.push(format!("({})", any.join(" OR ")));
        }
        if let Some(after) = q.after {
            cond.push(format!("o.date_added > {}", args.push(after)));
        }
        let limit = q.limit.clamp(1, 1_000_000);
        let lim = args.push(limit as i64 + 1);
        let sql = format!(
            "SELECT o.id, o.version, o.date_added, o.spec_version, o.doc FROM taxii_objects o \
             WHERE {} ORDER BY o.date_added LIMIT {lim}",
            cond.join(" AND ")
        );
        let mut rows: Vec<TaxiiObjectRow> = self.with("cannot read a TAXII collection", |c| {
            c.query(&sql, &args.refs())?
                .iter()
                .map(object_row)
                .collect()
        })?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok(TaxiiPage { rows, more })
    }

    fn taxii_delete(
        &mut self,
        collection: &str,
        id: &str,
        reader: &TaxiiReader,
        versions: &VersionMatch,
        spec_versions: &[String],
    ) -> Result<usize, StoreError> {
        let q = TaxiiQuery::to_delete(collection, id, reader, versions, spec_versions);
        let doomed: Vec<i64> = self
            .taxii_query(&q)?
            .rows
            .iter()
            .map(|r| r.date_added)
            .collect();
        self.with("cannot delete from a TAXII collection", |c| {
            let n = c.execute(
                "DELETE FROM taxii_objects WHERE collection = $1 AND id = $2 AND date_added = ANY($3)",
                &[&collection, &id, &doomed],
            )?;
            Ok(n as usize)
        })
    }

    fn taxii_has_object(
        &self,
        collection: &str,
        id: &str,
        reader: &TaxiiReader,
    ) -> Result<bool, StoreError> {
        let mut args = Args::default();
        let (coll, oid) = (args.push(collection.to_string()), args.push(id.to_string()));
        let vis = visible("o", reader, &mut args);
        let sql = format!(
            "SELECT 1 FROM taxii_objects o WHERE o.collection = {coll} AND o.id = {oid} AND {vis} LIMIT 1"
        );
        self.with("cannot read a TAXII collection", |c| {
            Ok(c.query_opt(&sql, &args.refs())?.is_some())
        })
    }

    fn taxii_status(&self, id: &str) -> Result<Option<TaxiiStatusRow>, StoreError> {
        self.with("cannot read a TAXII status", |c| {
            c.query_opt(
                "SELECT id, collection, partner, doc FROM taxii_status WHERE id = $1",
                &[&id],
            )?
            .map(|r| {
                Ok(TaxiiStatusRow {
                    id: r.try_get(0)?,
                    collection: r.try_get(1)?,
                    partner: r.try_get(2)?,
                    doc: r.try_get(3)?,
                })
            })
            .transpose()
        })
    }

    fn taxii_retain(&mut self, collection: &str, before_us: i64) -> Result<(u64, u64), StoreError> {
        self.with("cannot remove old TAXII objects", |c| {
            let mut tx = c.transaction()?;
            let objects = tx.execute(
                "DELETE FROM taxii_objects WHERE collection = $1 AND date_added < $2",
                &[&collection, &before_us],
            )?;
            let statuses = tx.execute(
                "DELETE FROM taxii_status WHERE collection = $1 AND requested < $2",
                &[&collection, &before_us.saturating_mul(1_000)],
            )?;
            tx.commit()?;
            Ok((objects, statuses))
        })
    }

    fn taxii_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.with("cannot count the TAXII objects", |c| {
            c.query(
                "SELECT collection, COUNT(*) FROM taxii_objects GROUP BY collection
                 ORDER BY collection COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }
}
