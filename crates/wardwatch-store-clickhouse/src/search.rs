//! Event search and the figures read from events, as the embedded store answers them: newest
//! first by (event time, position), a cursor of the last `(time, position)` returned, the total
//! over the whole range — always exact here (ClickHouse counts the range itself).

use serde::Deserialize;
use wardwatch_core::{Event, SourceKind};
use wardwatch_store::query::{self, Query};
use wardwatch_store::{
    EventPage, EventSearch, JournalEntry, SampleRow, SearchRequest, SourceRow, StoreError,
    TimeCursor, TotalRelation,
};

use crate::compile::{Arg, Sql};
use crate::{ClickHouse, wait};

/// The most events a page holds (as the embedded store).
const MAX_LIMIT: usize = 1000;
/// The largest sample (as the embedded store's `MAX_SAMPLE`).
const MAX_SAMPLE: usize = wardwatch_store::MAX_SAMPLE;

fn ns(t: jiff::Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)
}

fn parse_cursor(c: &str) -> Result<(i64, u64), StoreError> {
    let bad = || StoreError::Cursor(c.to_string());
    let (a, b) = c.split_once('-').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

#[derive(clickhouse::Row, Deserialize)]
struct Found {
    seq: u64,
    ts: i64,
    original: String,
}

#[derive(clickhouse::Row, Deserialize)]
struct Sampled {
    ts: i64,
    host: String,
    user: String,
    code: String,
    channel: String,
}

#[derive(clickhouse::Row, Deserialize)]
struct Stored {
    seq: u64,
    ts: i64,
    received: i64,
    original: String,
}

#[derive(clickhouse::Row, Deserialize)]
struct Network {
    seq: u64,
    ts: i64,
    org: String,
    original: String,
}

#[derive(clickhouse::Row, Deserialize)]
struct Sender {
    source: String,
    kind: String,
    host: String,
    org: String,
    events: u64,
    last_received: i64,
    last_ts: i64,
}

#[derive(clickhouse::Row, Deserialize)]
struct PerSource {
    source: String,
    events: u64,
    last_received: i64,
}

fn some(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl ClickHouse {
    /// Run `sql` (its text, then its values bound in order) and read rows of `T`.
    pub(crate) fn rows<T>(&self, what: &str, sql: &Sql) -> Result<Vec<T>, StoreError>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        let mut q = self.client().query(&sql.text);
        for a in &sql.args {
            q = match a {
                Arg::Str(s) => q.bind(s.as_str()),
                Arg::Strs(v) => q.bind(v.as_slice()),
                Arg::Int(n) => q.bind(*n),
            };
        }
        wait(q.fetch_all::<T>()).map_err(|e| self.error(what, e))
    }

    fn decode(&self, seq: u64, original: &str) -> Result<Event, StoreError> {
        serde_json::from_str(original).map_err(|e| StoreError::Corrupt {
            seq: i64::try_from(seq).unwrap_or(i64::MAX),
            reason: e.to_string(),
        })
    }
}

/// `ts` in the request's range and the event in one of its organizations.
fn range(req: &SearchRequest, sql: &mut Sql) {
    sql.push("ts >= ")
        .bind(Arg::Int(req.from.map_or(i64::MIN, ns)))
        .push(" AND ts < ")
        .bind(Arg::Int(req.to.map_or(i64::MAX, ns)));
    if let Some(orgs) = &req.orgs {
        if orgs.is_empty() {
            sql.push(" AND 0");
        } else {
            sql.push(" AND has(")
                .bind(Arg::Strs(orgs.clone()))
                .push(", org)");
        }
    }
}

/// Older than the cursor's `(time, position)`.
fn before(cursor: Option<(i64, u64)>, sql: &mut Sql) {
    if let Some((ts, seq)) = cursor {
        sql.push(" AND (ts < ")
            .bind(Arg::Int(ts))
            .push(" OR (ts = ")
            .bind(Arg::Int(ts))
            .push(" AND seq < ")
            .bind(Arg::Int(i64::try_from(seq).unwrap_or(i64::MAX)))
            .push("))");
    }
}

impl EventSearch for ClickHouse {
    fn search_events(&self, req: &SearchRequest) -> Result<EventPage, StoreError> {
        let q: Query = query::parse(&req.q)?;
        let limit = req.limit.clamp(1, MAX_LIMIT);
        let after = req.cursor.as_deref().map(parse_cursor).transpose()?;
        let matching = |cursor: Option<(i64, u64)>, select: &str, tail: &str| {
            let mut sql = Sql::default();
            sql.push(&format!("SELECT {select} FROM events WHERE "));
            range(req, &mut sql);
            before(cursor, &mut sql);
            sql.push(" AND ").query(&q).push(tail);
            sql
        };
        let page: Vec<Found> = self.rows(
            "cannot search events",
            &matching(
                after,
                "seq, ts, original",
                &format!(" ORDER BY ts DESC, seq DESC LIMIT {}", limit + 1),
            ),
        )?;
        let total: Vec<u64> = self.rows("cannot count events", &matching(None, "count()", ""))?;
        let more = page.len() > limit;
        let mut events = Vec::with_capacity(limit);
        let mut last = None;
        for f in page.into_iter().take(limit) {
            let event = self.decode(f.seq, &f.original)?;
            let mut v = serde_json::to_value(&event).map_err(|e| StoreError::Corrupt {
                seq: f.seq as i64,
                reason: e.to_string(),
            })?;
            v["seq"] = f.seq.into();
            events.push(v);
            last = Some((f.ts, f.seq));
        }
        let sample_size = req.sample.min(MAX_SAMPLE);
        let sample = if sample_size == 0 {
            Vec::new()
        } else {
            let rows: Vec<Sampled> = self.rows(
                "cannot sample events",
                &matching(
                    after,
                    "ts, host, user, code, channel",
                    &format!(" ORDER BY ts DESC, seq DESC LIMIT {sample_size}"),
                ),
            )?;
            rows.into_iter()
                .map(|r| SampleRow {
                    ts: r.ts,
                    host: some(r.host),
                    user: some(r.user),
                    code: some(r.code),
                    channel: some(r.channel),
                })
                .collect()
        };
        Ok(EventPage {
            total: total.first().copied().unwrap_or(0),
            total_relation: TotalRelation::Exact,
            events,
            next_cursor: if more {
                last.map(|(t, s)| format!("{t}-{s}"))
            } else {
                None
            },
            from: req.from,
            to: req.to,
            partial: false,
            note: None,
            sample,
        })
    }

    fn events_between(
        &self,
        org: Option<&str>,
        from_ns: i64,
        to_ns: i64,
        cursor: Option<TimeCursor>,
        limit: usize,
    ) -> Result<(Vec<JournalEntry>, Option<TimeCursor>), StoreError> {
        let (after_ts, after_seq) = cursor.map_or((from_ns, -1), |c| (c.ts_ns, c.seq));
        let mut sql = Sql::default();
        sql.push("SELECT seq, ts, received, original FROM events WHERE ");
        if let Some(org) = org {
            sql.push("org = ")
                .bind(Arg::Str(org.to_string()))
                .push(" AND ");
        }
        sql.push("ts >= ")
            .bind(Arg::Int(from_ns))
            .push(" AND ts < ")
            .bind(Arg::Int(to_ns))
            .push(" AND (ts > ")
            .bind(Arg::Int(after_ts))
            .push(" OR (ts = ")
            .bind(Arg::Int(after_ts))
            .push(" AND toInt64(seq) > ")
            .bind(Arg::Int(after_seq))
            .push(&format!(")) ORDER BY ts, seq LIMIT {limit}"));
        let rows: Vec<Stored> = self.rows("cannot read events by time", &sql)?;
        let mut out = Vec::with_capacity(rows.len());
        let mut last = None;
        for r in rows {
            let seq = i64::try_from(r.seq).unwrap_or(i64::MAX);
            last = Some(TimeCursor { ts_ns: r.ts, seq });
            out.push(JournalEntry {
                seq,
                received_ns: r.received,
                event: self.decode(r.seq, &r.original)?,
            });
        }
        Ok((out, last))
    }

    fn events_by_source(
        &self,
        from: i64,
        to: i64,
        lookback: i64,
    ) -> Result<Vec<(String, u64, Option<i64>)>, StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT source, count() AS events, max(received) AS last_received FROM events WHERE ts >= ")
            .bind(Arg::Int(from))
            .push(" AND ts < ")
            .bind(Arg::Int(to))
            .push(" GROUP BY source ORDER BY source");
        let rows: Vec<PerSource> = self.rows("cannot count events by source", &sql)?;
        let mut out: Vec<(String, u64, Option<i64>)> = rows
            .into_iter()
            .map(|r| (r.source, r.events, Some(r.last_received)))
            .collect();
        let mut sql = Sql::default();
        sql.push("SELECT DISTINCT source FROM events WHERE ts >= ")
            .bind(Arg::Int(from.saturating_sub(lookback)))
            .push(" AND ts < ")
            .bind(Arg::Int(from))
            .push(" ORDER BY source");
        let before: Vec<String> = self.rows("cannot list earlier sources", &sql)?;
        for s in before {
            if !out.iter().any(|(x, _, _)| *x == s) {
                out.push((s, 0, None));
            }
        }
        Ok(out)
    }

    fn network_events_between(
        &self,
        orgs: Option<&[String]>,
        from_ns: i64,
        to_ns: i64,
        cursor: Option<TimeCursor>,
        limit: usize,
    ) -> Result<(Vec<Event>, Option<TimeCursor>), StoreError> {
        let (after_ts, after_seq) = cursor.map_or((from_ns, -1), |c| (c.ts_ns, c.seq));
        let mut sql = Sql::default();
        sql.push("SELECT seq, ts, org, original FROM events WHERE ts >= ")
            .bind(Arg::Int(from_ns))
            .push(" AND ts < ")
            .bind(Arg::Int(to_ns))
            .push(" AND (ts > ")
            .bind(Arg::Int(after_ts))
            .push(" OR (ts = ")
            .bind(Arg::Int(after_ts))
            .push(" AND toInt64(seq) > ")
            .bind(Arg::Int(after_seq))
            .push(")) AND has(")
            .bind(Arg::Strs(vec![
                SourceKind::Zeek.as_str().to_string(),
                SourceKind::SuricataEve.as_str().to_string(),
            ]))
            .push(&format!(", kind) ORDER BY ts, seq LIMIT {limit}"));
        let rows: Vec<Network> = self.rows("cannot read network records by time", &sql)?;
        let mut out = Vec::with_capacity(rows.len());
        let mut last = None;
        for r in rows {
            // The cursor is the last row read, whoever's it is (as the embedded store).
            last = Some(TimeCursor {
                ts_ns: r.ts,
                seq: i64::try_from(r.seq).unwrap_or(i64::MAX),
            });
            if orgs.is_some_and(|o| !o.contains(&r.org)) {
                continue;
            }
            out.push(self.decode(r.seq, &r.original)?);
        }
        Ok((out, last))
    }

    fn source_rows(&self, after_seq: i64, upto_seq: i64) -> Result<Vec<SourceRow>, StoreError> {
        let mut sql = Sql::default();
        sql.push(
            "SELECT source, kind, host, org, count() AS events, max(received) AS last_received, \
             max(ts) AS last_ts FROM events WHERE toInt64(seq) > ",
        )
        .bind(Arg::Int(after_seq))
        .push(" AND toInt64(seq) <= ")
        .bind(Arg::Int(upto_seq))
        .push(" GROUP BY source, kind, host, org ORDER BY source, kind, host, org");
        let rows: Vec<Sender> = self.rows("cannot read who sent events", &sql)?;
        Ok(rows
            .into_iter()
            .map(|r| SourceRow {
                source: r.source,
                kind: r.kind,
                host: some(r.host),
                org: r.org,
                events: r.events,
                last_received: r.last_received,
                last_ts: r.last_ts,
            })
            .collect())
    }
}
