//! The incident stage of the detection worker: exceptions first, then grouping, committed
//! with the alerts.
//!
//! Why inside the detection worker and not a reader of its own: an alert, the incident it
//! joined and the exception that suppressed it must commit in one transaction with the
//! detection cursor, or a kill -9 between two commits would count an alert twice or lose it
//! from its incident. Grouping is cheap next to detection (it sees alerts, not events).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use wardwatch_core::Alert;
use wardwatch_incidents::{
    Context, Exception, ExceptionSet, GroupConfig, Grouper, Incident, IncidentDoc,
    exception_from_json, narrate,
};
use wardwatch_store::{DetectionStore, ExceptionStore, IncidentRow, StoreError};

/// How often the worker re-reads exceptions made through the API.
const EXCEPTION_RELOAD: Duration = Duration::from_secs(1);

/// Exceptions and grouping, with the context (inventory, roster) they read.
pub struct IncidentStage {
    grouper: Grouper,
    exceptions: ExceptionFilter,
    ctx: Arc<Context>,
}

/// The exceptions in force, re-read from the store at most every [`EXCEPTION_RELOAD`]: what
/// drops alerts before they are stored (a cluster's detection workers apply them too).
pub struct ExceptionFilter {
    exceptions: ExceptionSet,
    loaded: Option<Instant>,
}

impl Default for ExceptionFilter {
    /// None yet: the first [`ExceptionFilter::refresh`] reads them.
    fn default() -> Self {
        ExceptionFilter {
            exceptions: ExceptionSet::new(Vec::new()),
            loaded: None,
        }
    }
}

impl ExceptionFilter {
    pub fn new(exceptions: Vec<Exception>) -> ExceptionFilter {
        ExceptionFilter {
            exceptions: ExceptionSet::new(exceptions),
            loaded: Some(Instant::now()),
        }
    }

    /// Re-read exceptions made through the API, at most every [`EXCEPTION_RELOAD`].
    pub fn refresh(&mut self, db: &(impl ExceptionStore + ?Sized)) {
        if self.loaded.is_some_and(|t| t.elapsed() < EXCEPTION_RELOAD) {
            return;
        }
        match load_exceptions(db) {
            Ok(list) => self.exceptions = ExceptionSet::new(list),
            Err(e) => tracing::warn!(error = %e, "cannot reload exceptions; keeping the last set"),
        }
        self.loaded = Some(Instant::now());
    }

    /// Drop the alerts an exception covers; returns the exceptions' new suppression counts.
    /// Exceptions expire on the wall clock `now`: one made today for a month stops this
    /// month's alerts, whatever time the events say.
    pub fn apply(
        &mut self,
        alerts: &mut Vec<(Alert, i64, i64)>,
        now: Timestamp,
    ) -> Vec<(String, u64, i64)> {
        let mut suppressed: Vec<(String, u64, i64)> = Vec::new();
        alerts.retain(|(alert, _, _)| match self.exceptions.suppress(alert, now) {
            Some(e) => {
                let at = ns(now);
                match suppressed.iter_mut().find(|(id, _, _)| *id == e.id) {
                    Some(s) => {
                        s.1 += 1;
                        s.2 = s.2.max(at);
                    }
                    None => suppressed.push((e.id.clone(), 1, at)),
                }
                false
            }
            None => true,
        });
        suppressed
    }
}

fn ns(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)
}

/// Exceptions as stored; a row that does not parse is skipped with a warning (it was written
/// by another version), never fatal.
pub fn load_exceptions(db: &(impl ExceptionStore + ?Sized)) -> Result<Vec<Exception>, StoreError> {
    let mut out = Vec::new();
    for row in db.exceptions()? {
        match exception_from_json(&row.id, &row.doc, row.suppressed, row.last_suppressed) {
            Ok(e) => out.push(e),
            Err(reason) => tracing::warn!(reason, "stored exception ignored"),
        }
    }
    Ok(out)
}

impl IncidentStage {
    /// A stage over `open` incidents with `exceptions`.
    pub fn new(
        cfg: GroupConfig,
        ctx: Arc<Context>,
        open: Vec<Incident>,
        exceptions: Vec<Exception>,
    ) -> IncidentStage {
        IncidentStage {
            grouper: Grouper::new(cfg, open),
            exceptions: ExceptionFilter::new(exceptions),
            ctx,
        }
    }

    /// The stage as the store left it: open incidents and exceptions.
    pub fn load(
        db: &(impl DetectionStore + ExceptionStore + ?Sized),
        cfg: GroupConfig,
        ctx: Arc<Context>,
    ) -> Result<IncidentStage, StoreError> {
        let mut open = Vec::new();
        for doc in db.open_incident_docs()? {
            match serde_json::from_str::<IncidentDoc>(&doc) {
                Ok(d) => open.push(d.incident),
                Err(e) => {
                    tracing::warn!(error = %e, "stored incident unreadable; not grouped into")
                }
            }
        }
        Ok(IncidentStage::new(cfg, ctx, open, load_exceptions(db)?))
    }

    /// Re-read exceptions made through the API, at most every [`EXCEPTION_RELOAD`].
    pub fn refresh_exceptions(&mut self, db: &(impl ExceptionStore + ?Sized)) {
        self.exceptions.refresh(db);
    }

    /// Drop the alerts an exception covers, then group the rest into incidents by event time.
    /// Exceptions expire on the wall clock `now`: one made today for a month stops this
    /// month's alerts, whatever time the events say. Returns the incident rows to commit and
    /// the exceptions' new suppression counts.
    pub fn process(&mut self, alerts: &mut Vec<(Alert, i64, i64)>, now: Timestamp) -> StageOutput {
        if alerts.is_empty() {
            // Most detection passes raise nothing: no incident work at all then.
            return StageOutput::default();
        }
        let suppressed = self.exceptions.apply(alerts, now);
        let mut out = self.group(alerts);
        out.suppressed = suppressed;
        out
    }

    /// The ids of the alerts the open incidents hold (a cluster's incident stage leaves out an
    /// alert handed to it twice).
    pub fn held_alerts(&self) -> std::collections::HashSet<String> {
        self.grouper
            .open()
            .flat_map(|i| i.alert_ids.iter().map(|a| a.0.clone()))
            .collect()
    }

    /// Whether the grouper grouped alert `id` already (among the last it remembers).
    pub fn has_grouped(&self, id: &wardwatch_core::AlertId) -> bool {
        self.grouper.has_seen(id)
    }

    /// Group alerts (exceptions already applied) into incidents by event time: the incident
    /// rows to commit.
    pub fn group(&mut self, alerts: &[(Alert, i64, i64)]) -> StageOutput {
        if alerts.is_empty() {
            return StageOutput::default();
        }
        self.group_closing(alerts, false)
    }

    /// [`IncidentStage::group`] closing no incident on event time past `close_upto` (a
    /// cluster's watermark: `wardwatch_cluster::watermark`); with no alerts, what the new cap
    /// lets close closes.
    pub fn group_upto(
        &mut self,
        alerts: &[(Alert, i64, i64)],
        close_upto: Option<Timestamp>,
    ) -> StageOutput {
        // The cap first (the alerts' own closings keep to it), then what it lets close once
        // the batch's alerts — among what the watermark waited for — have joined.
        self.grouper.set_close_cap(close_upto);
        self.group_closing(alerts, true)
    }

    /// The event time incidents have been closed up to (a cluster's stage holds closing there
    /// for a batch it has no watermark for).
    pub fn closing_clock(&self) -> Option<Timestamp> {
        self.grouper.closing_clock()
    }

    /// Group `alerts` and, with `close_after`, close what the grouper's clock (capped) leaves
    /// quiet after them: the rows to commit.
    fn group_closing(&mut self, alerts: &[(Alert, i64, i64)], close_after: bool) -> StageOutput {
        let before: std::collections::HashSet<String> =
            self.grouper.open().map(|i| i.id.clone()).collect();
        let mut changed: Vec<Incident> = Vec::new();
        let mut latest = None;
        for (alert, _, _) in alerts.iter() {
            latest = latest.max(Some(alert.timestamp));
            for inc in self.grouper.add(alert, &self.ctx, alert.timestamp) {
                upsert(&mut changed, inc);
            }
        }
        if let Some(now) = latest {
            for inc in self.grouper.tick(now) {
                upsert(&mut changed, inc);
            }
        }
        if close_after && let Some(clock) = self.grouper.closing_clock() {
            for inc in self.grouper.tick(clock) {
                upsert(&mut changed, inc);
            }
        }
        let opened = changed.iter().filter(|i| !before.contains(&i.id)).count();
        let rows = changed.into_iter().map(|i| self.row(i)).collect();
        StageOutput {
            rows,
            suppressed: Vec::new(),
            opened,
        }
    }

    fn row(&self, incident: Incident) -> IncidentRow {
        let narrative = narrate(&incident, &self.ctx);
        let row = IncidentRow {
            id: incident.id.clone(),
            org: incident.organization.clone(),
            opened: ns(incident.opened),
            first_seen: ns(incident.first_seen),
            last_seen: ns(incident.last_seen),
            severity: incident.severity,
            score: incident.score,
            closed: incident.closed,
            merged_into: incident.merged_into.clone(),
            title: incident.title.clone(),
            doc: String::new(),
        };
        let doc = IncidentDoc {
            incident,
            narrative,
        };
        IncidentRow {
            doc: serde_json::to_string(&doc).unwrap_or_else(|e| {
                tracing::error!(error = %e, "incident does not serialize");
                String::from("{}")
            }),
            ..row
        }
    }
}

/// What one pass of the stage produced.
#[derive(Debug, Default)]
pub struct StageOutput {
    /// Incidents created or changed, to commit.
    pub rows: Vec<IncidentRow>,
    /// Exceptions that stopped alerts: (id, how many, when last, ns).
    pub suppressed: Vec<(String, u64, i64)>,
    /// How many of the rows are new incidents.
    pub opened: usize,
}

/// Keep the latest version of each changed incident, in first-change order.
fn upsert(changed: &mut Vec<Incident>, inc: Incident) {
    match changed.iter_mut().find(|c| c.id == inc.id) {
        Some(c) => *c = inc,
        None => changed.push(inc),
    }
}
