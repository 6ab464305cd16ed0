//! The TAXII collections we publish incidents to, and the sightings partners post back.
//!
//! As in the embedded store: every version of every object, each with a `date_added` in
//! microseconds unique and increasing within its collection (a partner resuming after the last
//! one it saw misses nothing). Nodes publishing to one collection at once take turns on a
//! transaction-level advisory lock keyed by the collection, so dates stay unique and ordered.

use wardwatch_store::{
    AddOutcome, NewTaxiiObject, StoreError, TaxiiCollection, TaxiiSighting, TaxiiStore, stamp_us,
};

use crate::{Postgres, now_ns};

/// The first half of the advisory lock key of a collection's adds.
const TAXII_LOCK: i32 = 0x5757;

impl Postgres {
    /// Make the stored collections what is configured: new ones added, titles and descriptions
    /// updated; one no longer configured keeps its objects (it is not served).
    pub fn taxii_set_collections(&mut self, list: &[TaxiiCollection]) -> Result<(), StoreError> {
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
}

impl TaxiiStore for Postgres {
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

    fn taxii_publish(
        &mut self,
        collection: &str,
        objects: &[NewTaxiiObject],
    ) -> Result<Vec<AddOutcome>, StoreError> {
        self.with("cannot publish to a TAXII collection", |c| {
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
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $11)",
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
                        &o.private,
                        &o.doc,
                    ],
                )?;
                out.push(AddOutcome::Added {
                    date_added,
                    version,
                });
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
}
