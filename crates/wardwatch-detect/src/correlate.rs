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
use wardwatch_core::{Entity, EntityKind, Event};

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
    /// Feeder rule id → the correlations it feeds (id, group-by fields, timespan in seconds).
    fed: HashMap<String, Vec<(String, Vec<String>, i64)>>,
    /// The events behind each group's current burst, so that an alert can say how many events
    /// it stands for (a correlation fires on every event past its threshold, and its own value
    /// only counts the events inside its window).
    bursts: HashMap<(String, Vec<String>), Burst>,
    /// The analytics, which need the same time order (see [`crate::analytics`]).
    analytics: crate::analytics::Analytics,
    analytics_on: bool,
    /// The addresses' roles and zones the network analytics read (configuration, not state).
    topology: Arc<crate::analytics::network::Topology>,
    /// The rules a parent's fields can change (configuration), and each host's recent process
    /// starts (state): see [`crate::lineage`].
    lineage_rules: crate::lineage::LineageRules,
    lineage: crate::lineage::Table,
}

/// Feeder events of one correlation group, since the group last went quiet for a timespan.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Burst {
    last: i64,
    events: u64,
    /// Distinct target accounts (`TargetUserName`), up to [`BURST_ACCOUNTS_MAX`].
    accounts: std::collections::BTreeSet<String>,
}

/// Bursts kept before the quiet ones are dropped.
const BURSTS_MAX: usize = 50_000;
/// Distinct accounts remembered per burst.
const BURST_ACCOUNTS_MAX: usize = 10_000;

impl Correlator {
    /// The ordered stage for the pack: its correlation rules and the analytics (so there is
    /// always one). Correlations that the engine refuses are returned as problems.
    pub fn build(pack: &RulePack) -> (Option<Correlator>, Vec<RuleProblem>) {
        let mut problems = Vec::new();
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
        let mut fed: HashMap<String, Vec<(String, Vec<String>, i64)>> = HashMap::new();
        for (corr, meta) in &pack.correlations {
            for r in &corr.rules {
                let feeder = pack
                    .rules
                    .iter()
                    .find(|(rule, m)| m.id == *r || rule.name.as_deref() == Some(r.as_str()))
                    .map(|(_, m)| m.id.clone());
                if let Some(f) = feeder {
                    fed.entry(f).or_default().push((
                        meta.id.clone(),
                        corr.group_by.clone(),
                        corr.timespan.seconds as i64,
                    ));
                }
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
            fed,
            bursts: HashMap::new(),
            analytics: Default::default(),
            analytics_on: true,
            topology: Arc::default(),
            lineage_rules: crate::lineage::LineageRules::of(pack),
            lineage: crate::lineage::Table::default(),
        };
        (Some(correlator), problems)
    }

    /// The correlation state (open windows, suppression), as JSON, so a long-running pipeline
    /// can persist it with its cursor and resume after a restart.
    pub fn export_state(&self) -> serde_json::Value {
        let bursts: Vec<_> = self.bursts.iter().collect();
        serde_json::json!({
            "engine": serde_json::to_value(self.engine.export_state())
                .unwrap_or(serde_json::Value::Null),
            "bursts": bursts,
            "analytics": serde_json::to_value(&self.analytics).unwrap_or_default(),
            "lineage": serde_json::to_value(&self.lineage).unwrap_or_default(),
        })
    }

    /// Restore state saved by [`Correlator::export_state`]; `false` when it cannot be used
    /// (another version, or not a snapshot), in which case the correlator starts empty.
    pub fn import_state(&mut self, state: serde_json::Value) -> bool {
        // Before bursts were kept, the state was the engine's snapshot alone.
        let (engine, bursts, analytics, lineage) = match state {
            serde_json::Value::Object(mut o) if o.contains_key("engine") => (
                o.remove("engine").unwrap_or_default(),
                o.remove("bursts"),
                o.remove("analytics"),
                o.remove("lineage"),
            ),
            other => (other, None, None, None),
        };
        // Saved before the lineage stage existed, or unreadable: the table starts empty (a
        // parent seen before the restart is not found; nothing wrong is filled).
        self.lineage = lineage
            .and_then(|l| serde_json::from_value(l).ok())
            .unwrap_or_default();
        if let Some(a) = analytics.and_then(|a| serde_json::from_value(a).ok()) {
            let topology = self.topology.clone();
            let directory = self.analytics.identity_directory();
            self.analytics = a;
            self.analytics.set_topology(topology);
            self.analytics.set_directory(directory);
        }
        if let Some(b) = bursts
            .and_then(|b| serde_json::from_value::<Vec<((String, Vec<String>), Burst)>>(b).ok())
        {
            self.bursts = b.into_iter().collect();
        }
        match serde_json::from_value(engine) {
            Ok(snapshot) => self.engine.import_state(snapshot),
            Err(_) => false,
        }
    }

    /// Count `event` in the bursts of every correlation its detections feed.
    fn count_bursts(&mut self, event: &Event, detections: &[Detection]) {
        let ts = event.timestamp.as_second();
        let account = crate::fields::lookup(event, "TargetUserName")
            .map(|a| a.trim().to_ascii_lowercase())
            .filter(|a| !a.is_empty() && a != "-");
        for d in detections {
            let Some(corrs) = self.fed.get(&d.rule.id) else {
                continue;
            };
            for (id, group_by, span) in corrs {
                let group: Vec<String> = group_by
                    .iter()
                    .map(|f| crate::fields::lookup(event, f).unwrap_or_default())
                    .collect();
                let burst = self.bursts.entry((id.clone(), group)).or_default();
                if burst.events > 0 && ts - burst.last > *span {
                    *burst = Burst::default();
                }
                burst.last = burst.last.max(ts);
                burst.events += 1;
                if let Some(a) = &account
                    && burst.accounts.len() < BURST_ACCOUNTS_MAX
                {
                    burst.accounts.insert(a.clone());
                }
            }
        }
        if self.bursts.len() > BURSTS_MAX {
            let longest = self
                .fed
                .values()
                .flatten()
                .map(|(_, _, s)| *s)
                .max()
                .unwrap_or(0);
            self.bursts.retain(|_, b| ts - b.last <= longest);
        }
    }

    /// The lineage stage ([`crate::lineage`]): learn `event` if it is a process start, and when
    /// it lacks a parent field that its parent's record (seen earlier on the host) has, replace
    /// the matches in `detections` of the rules a parent field can change by their matches on a
    /// copy of the record with those fields, and return the copy: what the event's alerts are
    /// built from. `None`: nothing was filled, `detections` are as they were.
    ///
    /// Call in event-time order, with every rule match of the event, before
    /// [`Correlator::process`]; callers raise the alerts of an event that
    /// [`crate::lineage::awaits_parent`] only after this (`hunt`'s readers leave them to the
    /// ordered stage).
    pub fn settle(&mut self, event: &Event, detections: &mut Vec<Detection>) -> Option<Event> {
        if !crate::lineage::is_process_start(event) {
            return None;
        }
        let whole = crate::lineage::whole(event);
        let start = crate::lineage::Start::of(&whole)?;
        let parent = (start.names_parent() && !start.lacks.is_empty())
            .then(|| self.lineage.parent_of(&start).cloned())
            .flatten();
        self.lineage.record(&start);
        let parent = parent?;
        let fill: Vec<(&'static str, String)> = start
            .lacks
            .iter()
            .filter_map(|f| {
                let v = match *f {
                    "ParentCommandLine" => parent.command_line.clone(),
                    "ParentImage" => parent.image.clone(),
                    "ParentUser" => parent.user.clone(),
                    _ => None,
                };
                v.map(|v| (*f, v))
            })
            .collect();
        if fill.is_empty() {
            return None;
        }
        let copy = crate::lineage::with_fields(&whole, &fill)?;
        let rules = &self.lineage_rules;
        detections.retain(|d| !rules.contains(&d.rule.id));
        detections.extend(rules.detect(&copy));
        Some(copy)
    }

    /// How many process starts the lineage table holds (bounded: [`crate::lineage`]).
    pub fn lineage_len(&self) -> usize {
        self.lineage.len()
    }

    /// Whether a detection of `rule_id` must be fed to [`Correlator::process`].
    pub fn feeds(&self, rule_id: &str) -> bool {
        self.feeders.contains(rule_id)
    }

    /// Turn the analytics off (Sigma correlations only), e.g. to measure what they add.
    /// Give the network analytics the hospital's addresses, classes and zones.
    pub fn set_topology(&mut self, topology: Arc<crate::analytics::network::Topology>) {
        self.topology = topology.clone();
        self.analytics.set_topology(topology);
    }

    /// Give the identity analytics what is known of people, machines, working hours and
    /// places.
    pub fn set_directory(&mut self, directory: Arc<crate::analytics::identity::Directory>) {
        self.analytics.set_directory(directory);
    }

    pub fn without_analytics(mut self) -> Self {
        self.analytics_on = false;
        self
    }

    /// Whether the analytics run.
    pub fn analytics_on(&self) -> bool {
        self.analytics_on
    }

    /// Whether `event`, with `detections`, must be fed to [`Correlator::process`]: it feeds a
    /// correlation, or an analytic reads it. Callers that keep events for later may keep
    /// [`crate::analytics::reduce`]d copies of those that feed no correlation.
    pub fn wants(&self, event: &Event, detections: &[Detection]) -> bool {
        detections.iter().any(|d| self.feeds(&d.rule.id))
            || (self.analytics_on && crate::analytics::Analytics::wants(event, detections))
    }

    /// Feed one event and the detections found on it; returns the analytics and correlations that
    /// fired on it.
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
        let mut found = Vec::new();
        if self.analytics_on && crate::analytics::Analytics::wants(event, detections) {
            // Rules that only feed a correlation mean something in numbers, not one by one:
            // they are not signals of their own for the analytics.
            let own: Vec<Detection> = detections
                .iter()
                .filter(|d| !self.feeders.contains(&d.rule.id))
                .cloned()
                .collect();
            found = self.analytics.observe(event, &own);
        }
        if results.is_empty() {
            return found;
        }
        // `hunt` keeps a process start as a reduced copy with its record nested: correlations
        // group on the record's own fields.
        let whole = crate::lineage::whole(event);
        let event = &*whole;
        self.count_bursts(event, detections);
        let view = FieldView::new(event);
        let out = self
            .engine
            .process_with_detections(&view, results, event.timestamp.as_second());
        let correlated: Vec<Detection> = out
            .into_iter()
            .filter_map(|r| {
                let ResultBody::Correlation(body) = &r.body else {
                    return None;
                };
                let meta = r
                    .header
                    .rule_id
                    .as_ref()
                    .and_then(|id| self.metas.get(id))?;
                let group: Vec<String> = body.group_key.iter().map(|(_, v)| v.clone()).collect();
                let burst = self.bursts.get(&(meta.id.clone(), group));
                Some(Detection {
                    rule: meta.clone(),
                    correlation: Some(CorrelationHit {
                        group: body.group_key.clone(),
                        value: body.aggregated_value,
                        timespan_secs: body.timespan_secs,
                        events: burst.map_or(0, |b| b.events),
                        accounts: burst.map_or(0, |b| b.accounts.len() as u64),
                    }),
                    // The accounts a burst of failed logons tried: who was targeted.
                    entities: burst.map_or_else(Vec::new, |b| {
                        b.accounts
                            .iter()
                            .map(|a| Entity::new(EntityKind::User, a.as_str()))
                            .collect()
                    }),
                    finding: None,
                })
            })
            .collect();
        // Two correlations over the same events that tell one behaviour (password spraying and
        // the failed logons it makes on one host) raise one alert, as two rules on one record do.
        let mut correlated = correlated;
        if correlated.len() > 1 {
            crate::engine::keep_one_of_twins(&mut correlated, |_| true);
        }
        found.extend(correlated);
        found
    }
}
