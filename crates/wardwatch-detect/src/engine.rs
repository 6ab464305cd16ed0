//! The detector: rules bucketed by logsource, one `rsigma-eval` engine per bucket.
//!
//! Why buckets: an event is only ever evaluated against the rules whose logsource it satisfies
//! (see [`crate::logsource`]), which both honours Sigma's semantics and skips most of a
//! 3,000-rule pack for each event. Inside a bucket, rsigma's candidate index picks the rules
//! whose necessary conditions the event can meet. Rules that name no Sigma category or service
//! (one rule reading Sysmon, Security and PowerShell records alike) would be evaluated on every
//! Windows record: their bucket is shelved by the Event IDs their detection needs
//! ([`event_ids`]), and a record only meets the shelves of its own Event ID.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rsigma_eval::{Engine, EvaluationResult};
use wardwatch_core::{Alert, AlertId, Entity, Event, EventRef};

use crate::fields::FieldView;
use crate::logsource;
use crate::pack::{RuleMeta, RulePack, RuleProblem};

/// Rule logsource key: product, service, category, lowercased; empty when the rule names none.
type Key = (String, String, String);

struct Bucket {
    engine: Engine,
    /// Rule id → metadata, for the rules of this bucket.
    metas: HashMap<String, Arc<RuleMeta>>,
    /// The Event IDs every rule of this bucket needs, when their detections say so: a record
    /// with another Event ID cannot match any of them (see [`event_ids`]).
    event_ids: Option<BTreeSet<u64>>,
}

/// A rule matched an event.
#[derive(Debug, Clone)]
pub struct Detection {
    pub rule: Arc<RuleMeta>,
    /// For a correlation: the group-by values and the aggregated value that crossed the
    /// threshold.
    pub correlation: Option<CorrelationHit>,
    /// What the detection names besides its event's own entities — an analytic's targets, the
    /// accounts a spray tried — most important first; the alert lists them after the event's
    /// (before them when the detection has a [`Finding`]: a count across events is about its
    /// source, which need not be the source of the record that completed it).
    pub entities: Vec<Entity>,
    /// For an analytic that counts across events (a scan, a brute force): what it found.
    pub finding: Option<Arc<Finding>>,
}

/// What an analytic found across events: its counts and where, as facts (`scan.hosts` =
/// `213`, `scan.subnets`, `scan.ports`), which the alert carries beside its event's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Finding {
    pub facts: Vec<(String, String)>,
}

/// What a correlation rule saw when it fired.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationHit {
    pub group: Vec<(String, String)>,
    pub value: f64,
    pub timespan_secs: u64,
    /// The feeder events of this group's burst so far (the burst ends when the group is quiet
    /// for a timespan): what the alert stands for, where `value` only counts its window.
    pub events: u64,
    /// Distinct target accounts (`TargetUserName`) among those events.
    pub accounts: u64,
}

impl Detection {
    /// The alert this detection raises on `event`.
    pub fn to_alert(&self, event: &Event) -> Alert {
        let rule = &self.rule;
        let mut facts = crate::fields::facts(event);
        if let Some(c) = &self.correlation {
            facts.insert("correlation.events".into(), c.events.to_string());
            if c.accounts > 0 {
                facts.insert("correlation.accounts".into(), c.accounts.to_string());
            }
        }
        let mut entities = event.entities();
        if let Some(f) = &self.finding {
            for (k, v) in &f.facts {
                facts.insert(k.clone(), v.clone());
            }
            let mut named = self.entities.clone();
            named.extend(entities.into_iter().filter(|e| !self.entities.contains(e)));
            entities = named;
        } else {
            for e in &self.entities {
                if !entities.contains(e) {
                    entities.push(e.clone());
                }
            }
        }
        Alert {
            id: AlertId::derive(&rule.id, &event.origin, event.timestamp),
            rule_id: rule.id.clone(),
            rule_title: rule.title.clone(),
            level: rule.level,
            tags: rule.tags.clone(),
            timestamp: event.timestamp,
            organization: event.organization.clone(),
            host: event.ecs.host_name.clone(),
            entities,
            event: EventRef {
                origin: event.origin.clone(),
                event_code: event.ecs.event_code.clone(),
                channel: event.ecs.channel.clone(),
            },
            recommendation: rule.wardwatch.recommendation.clone(),
            awareness: rule.wardwatch.awareness.clone(),
            facts,
        }
    }
}

/// Compiled rules, ready to evaluate events on any number of threads.
pub struct Detector {
    /// Per logsource, its rules; more than one bucket only for rules without a category or
    /// service, shelved by the Event IDs they need.
    buckets: HashMap<Key, Vec<Bucket>>,
    rule_count: usize,
    /// Rules whose matches only feed correlations (`generate: false`): not reported alone.
    silent: std::collections::HashSet<String>,
}

fn lower(s: &Option<String>) -> String {
    s.as_deref()
        .map(str::to_ascii_lowercase)
        .unwrap_or_default()
}

impl Detector {
    /// Compile every rule of `pack`. Rules that do not compile are returned as problems; the
    /// rest are ready.
    pub fn build(pack: &RulePack) -> (Detector, Vec<RuleProblem>) {
        let replaced = replaced_rules(pack);
        let mut grouped: HashMap<Key, Vec<usize>> = HashMap::new();
        for (i, (rule, meta)) in pack.rules.iter().enumerate() {
            if replaced.contains(meta.id.as_str()) {
                continue;
            }
            let ls = &rule.logsource;
            let key = (lower(&ls.product), lower(&ls.service), lower(&ls.category));
            grouped.entry(key).or_default().push(i);
        }
        let mut problems = Vec::new();
        let mut buckets = HashMap::with_capacity(grouped.len());
        let mut rule_count = 0;
        let mut keys: Vec<Key> = grouped.keys().cloned().collect();
        keys.sort();
        for key in keys {
            // Rules without a category or service: one bucket per set of Event IDs they need.
            let mut shelves: std::collections::BTreeMap<Option<BTreeSet<u64>>, Vec<usize>> =
                std::collections::BTreeMap::new();
            for &i in &grouped[&key] {
                let ids = if key.1.is_empty() && key.2.is_empty() {
                    event_ids::of_rule(&pack.rules[i].0)
                } else {
                    None
                };
                shelves.entry(ids).or_default().push(i);
            }
            let mut shelf_buckets = Vec::with_capacity(shelves.len());
            for (event_ids, idxs) in shelves {
                let mut engine = Engine::new();
                let errors = engine.add_rules(idxs.iter().map(|&i| &pack.rules[i].0));
                let failed: std::collections::HashSet<usize> =
                    errors.iter().map(|(i, _)| *i).collect();
                for (pos, err) in errors {
                    let meta = &pack.rules[idxs[pos]].1;
                    problems.push(RuleProblem {
                        origin: meta.origin.clone(),
                        rule: Some(meta.title.clone()),
                        reason: crate::pack::one_line(&format!("does not compile: {err}")),
                    });
                }
                let metas: HashMap<String, Arc<RuleMeta>> = idxs
                    .iter()
                    .enumerate()
                    .filter(|(pos, _)| !failed.contains(pos))
                    .map(|(_, &i)| (pack.rules[i].1.id.clone(), pack.rules[i].1.clone()))
                    .collect();
                rule_count += metas.len();
                for (filter, origin) in &pack.filters {
                    if let Err(e) = engine.apply_filter(filter) {
                        problems.push(RuleProblem {
                            origin: origin.clone(),
                            rule: Some(filter.title.clone()),
                            reason: format!("filter cannot be applied: {e}"),
                        });
                    }
                }
                if !metas.is_empty() {
                    shelf_buckets.push(Bucket {
                        engine,
                        metas,
                        event_ids,
                    });
                }
            }
            if !shelf_buckets.is_empty() {
                buckets.insert(key, shelf_buckets);
            }
        }
        let silent = pack
            .correlations
            .iter()
            .filter(|(c, _)| !c.generate)
            .flat_map(|(c, _)| c.rules.iter())
            .filter_map(|r| {
                pack.rules
                    .iter()
                    .find(|(rule, m)| m.id == *r || rule.name.as_deref() == Some(r))
                    .map(|(_, m)| m.id.clone())
            })
            .collect();
        (
            Detector {
                buckets,
                rule_count,
                silent,
            },
            problems,
        )
    }

    /// Number of rules compiled and ready.
    pub fn rule_count(&self) -> usize {
        self.rule_count
    }

    /// Ids of every compiled rule.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.buckets
            .values()
            .flatten()
            .flat_map(|b| b.metas.keys().map(String::as_str))
    }

    /// Ids of the rules evaluated on every record of their product: no Sigma category or
    /// service, and a detection from which no set of Event IDs can be read (see
    /// [`event_ids`]). Each costs an evaluation per record; the built-in pack keeps none.
    pub fn rules_read_on_every_record(&self) -> impl Iterator<Item = &str> {
        self.buckets
            .iter()
            .filter(|(key, _)| key.1.is_empty() && key.2.is_empty())
            .flat_map(|(_, shelves)| shelves)
            .filter(|b| b.event_ids.is_none())
            .flat_map(|b| b.metas.keys().map(String::as_str))
    }

    /// Every rule that matches `event`, correlation-only rules included (see
    /// [`Detector::is_reported`]).
    pub fn detect(&self, event: &Event) -> Vec<Detection> {
        let ls = logsource::of_event(event);
        let view = FieldView::new(event);
        let mut out = Vec::new();
        let mut key = (String::new(), String::new(), String::new());
        let mut event_id: Option<Option<u64>> = None;
        for (p, s, c) in ls.rule_keys() {
            key.0.clear();
            key.0.push_str(p);
            key.1.clear();
            key.1.push_str(s);
            key.2.clear();
            key.2.push_str(c);
            let Some(shelves) = self.buckets.get(&key) else {
                continue;
            };
            for bucket in shelves {
                if let Some(ids) = &bucket.event_ids {
                    // The Event ID as the rules read it; a record without a numeric one meets
                    // every shelf.
                    let id = *event_id.get_or_insert_with(|| {
                        rsigma_eval::Event::get_field(&view, "EventID")
                            .and_then(|v| v.as_str().and_then(|s| s.parse().ok()))
                    });
                    if id.is_some_and(|id| !ids.contains(&id)) {
                        continue;
                    }
                }
                for result in bucket.engine.evaluate(&view) {
                    if let Some(meta) = meta_of(&bucket.metas, &result) {
                        out.push(Detection {
                            rule: meta,
                            correlation: None,
                            entities: Vec::new(),
                            finding: None,
                        });
                    }
                }
            }
        }
        if out.len() > 1 {
            keep_one_of_twins(&mut out, |id| self.is_reported(id));
        }
        out
    }

    /// Whether a match of `rule_id` is reported on its own. Rules that only feed correlations
    /// with `generate: false` are not, per the Sigma correlation specification.
    pub fn is_reported(&self, rule_id: &str) -> bool {
        !self.silent.contains(rule_id)
    }
}

/// Two reported rules that match one event, where one names the other in `wardwatch: same_as`,
/// say the same thing twice (a built-in rule and the SigmaHQ rule it overlaps, a specific
/// built-in rule and the broader one, two correlations over the same failed logons): a person
/// should see one alert per behaviour, so only the higher level is kept (on a tie, the one that
/// names the other). Rules that only feed correlations (`is_reported` false) are never dropped:
/// the correlation needs every match. The detector applies it to the rules matching one event,
/// the correlator to the correlations one event completes.
pub(crate) fn keep_one_of_twins(out: &mut Vec<Detection>, is_reported: impl Fn(&str) -> bool) {
    let mut drop = vec![false; out.len()];
    for (i, d) in out.iter().enumerate() {
        if d.rule.wardwatch.same_as.is_empty() || !is_reported(&d.rule.id) {
            continue;
        }
        for (j, e) in out.iter().enumerate() {
            if i == j
                || drop[i]
                || drop[j]
                || !d.rule.wardwatch.same_as.contains(&e.rule.id)
                || !is_reported(&e.rule.id)
            {
                continue;
            }
            if e.rule.level > d.rule.level {
                drop[i] = true;
            } else {
                drop[j] = true;
            }
        }
    }
    let mut k = 0;
    out.retain(|_| {
        k += 1;
        !drop[k - 1]
    });
}

/// Rules another loaded rule replaces (`wardwatch: replaces`): not compiled, so the replacing
/// rule speaks for the behaviour alone — for instance a built-in rule that judges a record by
/// its context instead of a context-free SigmaHQ rule on the same record. A rule that feeds a
/// correlation is kept: the correlation needs it.
pub(crate) fn replaced_rules(pack: &RulePack) -> std::collections::HashSet<&str> {
    let loaded: std::collections::HashSet<&str> =
        pack.rules.iter().map(|(_, m)| m.id.as_str()).collect();
    let feeders: std::collections::HashSet<&str> = pack
        .correlations
        .iter()
        .flat_map(|(c, _)| c.rules.iter().map(String::as_str))
        .collect();
    pack.rules
        .iter()
        .map(|(_, m)| m)
        .chain(pack.correlations.iter().map(|(_, m)| m))
        .flat_map(|m| m.wardwatch.replaces.iter().map(String::as_str))
        .filter(|id| loaded.contains(id) && !feeders.contains(id))
        .collect()
}

fn meta_of(metas: &HashMap<String, Arc<RuleMeta>>, r: &EvaluationResult) -> Option<Arc<RuleMeta>> {
    r.header
        .rule_id
        .as_ref()
        .and_then(|id| metas.get(id))
        .cloned()
}

mod event_ids;

#[cfg(test)]
mod tests;
