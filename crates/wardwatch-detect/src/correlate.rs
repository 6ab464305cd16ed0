//! Sigma correlation rules (event_count, value_count, temporal, temporal_ordered, ...), fed with
//! the detections the [`crate::Detector`] found, in event-time order.
//!
//! Detection is stateless and runs on all cores; correlation keeps state per group and must see
//! events in order, so callers detect in parallel and then feed [`Correlator::process`] the
//! events that matched a correlated rule, sorted by time.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rsigma_eval::{
    CorrelationConfig, CorrelationEngine, DetectionBody, EvaluationResult, ResultBody, RuleHeader,
};
use wardwatch_core::Event;

use crate::engine::{CorrelationHit, Detection};
use crate::fields::FieldView;
use crate::pack::{RuleMeta, RulePack, RuleProblem};

/// Correlation state over a stream of detections.
pub struct Correlator {
    engine: CorrelationEngine,
    /// Correlation id → metadata.
    metas: HashMap<String, Arc<RuleMeta>>,
    /// Ids of the detection rules that feed some correlation.
    feeders: HashSet<String>,
}

impl Correlator {
    /// A correlator for the pack's correlation rules, or `None` when it has none. Correlations
    /// that the engine refuses are returned as problems.
    pub fn build(pack: &RulePack) -> (Option<Correlator>, Vec<RuleProblem>) {
        let mut problems = Vec::new();
        if pack.correlations.is_empty() {
            return (None, problems);
        }
        let config = CorrelationConfig {
            emit_detections: true,
            ..CorrelationConfig::default()
        };
        let mut engine = CorrelationEngine::new(config);
        let referenced: HashSet<&str> = pack
            .correlations
            .iter()
            .flat_map(|(c, _)| c.rules.iter().map(String::as_str))
            .collect();
        let mut feeders = HashSet::new();
        for (rule, meta) in &pack.rules {
            let by_name = rule.name.as_deref().is_some_and(|n| referenced.contains(n));
            if (referenced.contains(meta.id.as_str()) || by_name) && engine.add_rule(rule).is_ok() {
                feeders.insert(meta.id.clone());
            }
        }
        let mut metas = HashMap::new();
        for (corr, meta) in &pack.correlations {
            match engine.add_correlation(corr) {
                Ok(()) => {
                    metas.insert(meta.id.clone(), meta.clone());
                }
                Err(e) => problems.push(RuleProblem {
                    origin: meta.origin.clone(),
                    rule: Some(meta.title.clone()),
                    reason: format!("correlation does not compile: {e}"),
                }),
            }
        }
        let correlator = Correlator {
            engine,
            metas,
            feeders,
        };
        (Some(correlator), problems)
    }

    /// The correlation state (open windows, suppression), as JSON, so a long-running pipeline
    /// can persist it with its cursor and resume after a restart.
    pub fn export_state(&self) -> serde_json::Value {
        serde_json::to_value(self.engine.export_state()).unwrap_or(serde_json::Value::Null)
    }

    /// Restore state saved by [`Correlator::export_state`]; `false` when it cannot be used
    /// (another version, or not a snapshot), in which case the correlator starts empty.
    pub fn import_state(&mut self, state: serde_json::Value) -> bool {
        match serde_json::from_value(state) {
            Ok(snapshot) => self.engine.import_state(snapshot),
            Err(_) => false,
        }
    }

    /// Whether a detection of `rule_id` must be fed to [`Correlator::process`].
    pub fn feeds(&self, rule_id: &str) -> bool {
        self.feeders.contains(rule_id)
    }

    /// Feed one event and the detections found on it; returns the correlations that fired.
    /// Call in event-time order.
    pub fn process(&mut self, event: &Event, detections: &[Detection]) -> Vec<Detection> {
        let results: Vec<EvaluationResult> = detections
            .iter()
            .filter(|d| self.feeders.contains(&d.rule.id))
            .map(|d| EvaluationResult {
                header: RuleHeader {
                    rule_title: d.rule.title.clone(),
                    rule_id: Some(d.rule.id.clone()),
                    level: None,
                    tags: Vec::new(),
                    custom_attributes: Arc::new(HashMap::new()),
                    enrichments: None,
                },
                body: ResultBody::Detection(DetectionBody {
                    matched_selections: Vec::new(),
                    matched_fields: Vec::new(),
                    event: None,
                }),
            })
            .collect();
        if results.is_empty() {
            return Vec::new();
        }
        let view = FieldView::new(event);
        let out = self
            .engine
            .process_with_detections(&view, results, event.timestamp.as_second());
        out.into_iter()
            .filter_map(|r| {
                let ResultBody::Correlation(body) = &r.body else {
                    return None;
                };
                let meta = r
                    .header
                    .rule_id
                    .as_ref()
                    .and_then(|id| self.metas.get(id))?;
                Some(Detection {
                    rule: meta.clone(),
                    correlation: Some(CorrelationHit {
                        group: body.group_key.clone(),
                        value: body.aggregated_value,
                        timespan_secs: body.timespan_secs,
                    }),
                })
            })
            .collect()
    }
}
