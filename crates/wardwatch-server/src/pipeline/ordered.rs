//! The detector's ordered stage: what must see events one at a time in journal order — the
//! correlations and analytics (`Correlator`) and, when the context folder has patients or
//! encounters, the patient-record privacy analytics (`PrivacyAnalytics`). Their state is
//! saved with the detection cursor, in the same transaction, so a restart neither loses nor
//! repeats a window.
//!
//! The saved state is the correlator's own document when the privacy analytics are off (as
//! before they existed), and `{"ordered": 1, "correlation": ..., "privacy": ...}` when they
//! are on; either is read back.

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

    /// The state to save with the cursor (`None`: nothing keeps state).
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
    /// what could not be taken up.
    pub fn restore(&mut self, state: Option<&str>) {
        let parsed: Option<Value> = state.and_then(|s| serde_json::from_str(s).ok());
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
            if let Some(v) = privacy
                && !p.import_state(v)
            {
                tracing::warn!(
                    "saved privacy analytics state is from another version; their windows start empty"
                );
            }
        }
    }
}
