//! The detector's ordered stage: what must see events one at a time in journal order — the
//! correlations and analytics (`Correlator`) and, when the context folder has patients or
//! encounters, the patient-record privacy analytics (`PrivacyAnalytics`). Their state is
//! saved with the detection cursor, in the same transaction, so a restart neither loses nor
//! repeats a window.
//!
//! The saved state is `{"ordered": 1, "at": SEQ, "correlation": ..., "privacy": ...}`: `at`
//! is the journal position it describes (the detection worker checkpoints it now and then, not
//! with every batch, and replays the journal from there on restart: see `detect.rs`). States
//! saved before are read back too: the correlator's own document (before the privacy
//! analytics existed), or the wrapper without `at` (saved with every batch: it describes the
//! cursor saved with it).

use std::sync::Arc;

use serde_json::{Value, json};
use wardwatch_core::{Alert, Event};
use wardwatch_detect::{Correlator, Detection, Detector};
use wardwatch_privacy::{PrivacyAnalytics, PrivacyContext};

use super::detect::{alert_for, raise_alerts};

/// The ordered stage's analytics and their state.
pub struct Ordered {
    correlator: Option<Correlator>,
    privacy: Option<(PrivacyAnalytics, Arc<PrivacyContext>)>,
}

impl Ordered {
    pub fn new(correlator: Option<Correlator>, privacy: Option<Arc<PrivacyContext>>) -> Self {
        Ordered {
            correlator,
            privacy: privacy.map(|ctx| (PrivacyAnalytics::new(ctx.clone()), ctx)),
        }
    }

    /// The alerts journal entry `seq` raises: its reported rule matches, what correlations
    /// complete with it, and what the privacy analytics find in it (tag `privacy`).
    pub fn raise(
        &mut self,
        detector: &Detector,
        event: &Event,
        seq: i64,
        detections: &[Detection],
        out: &mut Vec<Alert>,
    ) {
        raise_alerts(
            detector,
            self.correlator.as_mut(),
            event,
            seq,
            detections,
            out,
        );
        if let Some((p, _)) = self.privacy.as_mut()
            && wardwatch_privacy::wants(event)
        {
            for d in p.observe(event) {
                out.push(alert_for(&d, event, seq));
            }
        }
    }

    /// The state as of journal position `at`, to save with a cursor at or after it (`None`:
    /// nothing keeps state).
    pub fn checkpoint(&self, at: i64) -> Option<String> {
        if self.correlator.is_none() && self.privacy.is_none() {
            return None;
        }
        let correlation = self.correlator.as_ref().map(|c| c.export_state());
        let privacy = self.privacy.as_ref().map(|(p, _)| p.export_state());
        Some(
            json!({
                "ordered": 1,
                "at": at,
                "correlation": correlation.unwrap_or(Value::Null),
                "privacy": privacy.unwrap_or(Value::Null),
            })
            .to_string(),
        )
    }

    /// The state to save with the cursor (`None`: nothing keeps state), in the form that
    /// says nothing of where it stands: the cursor saved with it tells (the cluster's detect
    /// workers save it with every group of a partition).
    pub fn export_state(&self) -> Option<String> {
        let correlation = self.correlator.as_ref().map(|c| c.export_state());
        match &self.privacy {
            None => correlation.map(|v| v.to_string()),
            Some((p, _)) => Some(
                json!({
                    "ordered": 1,
                    "correlation": correlation.unwrap_or(Value::Null),
                    "privacy": p.export_state(),
                })
                .to_string(),
            ),
        }
    }

    /// Go back to `state` (the one saved with the cursor; `None`: none was), saying in the log
    /// what could not be taken up. Returns the journal position the state describes when it
    /// says (a checkpoint), else `None` (the cursor saved with it).
    pub fn restore(&mut self, state: Option<&str>) -> Option<i64> {
        let parsed: Option<Value> = state.and_then(|s| serde_json::from_str(s).ok());
        let at = parsed
            .as_ref()
            .and_then(|v| v.get("ordered").and(v.get("at")))
            .and_then(Value::as_i64);
        let (correlation, privacy) = match parsed {
            Some(mut v) if v.get("ordered").is_some() => (
                v.get_mut("correlation").map(Value::take),
                v.get_mut("privacy").map(Value::take),
            ),
            other => (other, None),
        };
        if let (Some(c), Some(v)) = (self.correlator.as_mut(), correlation)
            && !v.is_null()
            && !c.import_state(v)
        {
            tracing::warn!(
                "saved correlation state is from another version; correlations start empty"
            );
        }
        if let Some((p, ctx)) = self.privacy.as_mut() {
            *p = PrivacyAnalytics::new(ctx.clone());
            if let Some(v) = privacy.filter(|v| !v.is_null())
                && !p.import_state(v)
            {
                tracing::warn!(
                    "saved privacy analytics state is from another version; their windows start empty"
                );
            }
        }
        at
    }
}
