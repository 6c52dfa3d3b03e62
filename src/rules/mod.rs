//! The rule grammar and the rules a run is judged by: thresholds in k6's language
//! ([`threshold`]), and regression and drift limits ([`regression`]).
//!
//! A leaf: the plan attaches these values to its model, the summary stage measures what they
//! name, and `crate::verdict` decides them. [`Rules::of_summary`] reads them back from a saved
//! summary's own rows, which is how `merge` and `report` judge without the plan.

pub mod regression;
pub mod threshold;

use std::time::Duration;

use crate::summary::schema::{MetricType, Summary};
use regression::{parse_rule, RegressionRule};
use threshold::{builtin_metric, parse_condition, parse_metric_key, Threshold, ThresholdCondition};

/// Everything a run is judged by.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Each scenario's thresholds (plan-wide, replaced per key by the environment's, replaced per
    /// key by the scenario's), by scenario name.
    pub thresholds: Vec<(String, Vec<Threshold>)>,
    /// `drift:` limits: each scenario's last window against its first.
    pub drift: Vec<RegressionRule>,
    /// `regression:` limits: the run against a baseline run.
    pub regressions: Vec<RegressionRule>,
}

impl Rules {
    /// A scenario's thresholds (none for a scenario the rules do not name).
    pub fn thresholds_of(&self, scenario: &str) -> &[Threshold] {
        self.thresholds
            .iter()
            .find(|(name, _)| name == scenario)
            .map_or(&[], |(_, t)| t)
    }

    /// Only the conditions with `abort_on_fail` whose `delay_abort_eval` has passed at `elapsed`:
    /// what the live abort check judges.
    pub fn armed(&self, elapsed: Duration) -> Rules {
        let thresholds = self
            .thresholds
            .iter()
            .map(|(name, ts)| {
                let armed = ts
                    .iter()
                    .filter_map(|t| {
                        let conditions: Vec<_> = t
                            .conditions
                            .iter()
                            .filter(|c| c.abort_on_fail && elapsed >= c.delay_abort_eval)
                            .cloned()
                            .collect();
                        (!conditions.is_empty()).then(|| Threshold {
                            conditions,
                            ..t.clone()
                        })
                    })
                    .collect();
                (name.clone(), armed)
            })
            .collect();
        Rules {
            thresholds,
            drift: vec![],
            regressions: vec![],
        }
    }

    /// Whether any condition may abort the run.
    pub fn can_abort(&self) -> bool {
        self.thresholds
            .iter()
            .flat_map(|(_, ts)| ts)
            .any(|t| t.conditions.iter().any(|c| c.abort_on_fail))
    }

    /// The rules a saved summary was judged by, read back from its rows: each threshold result's
    /// metric key and condition, each drift and regression row's rule. A metric's type is the
    /// built-in one, else the type the summary gives it, else a trend.
    pub fn of_summary(s: &Summary) -> Result<Rules, RulesError> {
        let metric_type = |metric: &str| {
            builtin_metric(metric)
                .or_else(|| {
                    s.data
                        .custom
                        .iter()
                        .find(|c| c.metric == metric)
                        .map(|c| c.kind)
                })
                .or_else(|| {
                    s.scenarios
                        .iter()
                        .find_map(|sc| sc.metrics.get(metric).map(|m| m.kind))
                })
                .unwrap_or(MetricType::Trend)
        };
        let mut thresholds = Vec::new();
        for sc in &s.scenarios {
            let mut of_scenario: Vec<Threshold> = Vec::new();
            for r in &sc.thresholds {
                let bad = |e: threshold::ThresholdError| RulesError {
                    what: format!("threshold {} {}", r.metric, r.expression),
                    why: e.to_string(),
                };
                let key = parse_metric_key(&r.metric).map_err(bad)?;
                let condition = ThresholdCondition {
                    condition: parse_condition(&r.expression).map_err(bad)?,
                    abort_on_fail: r.abort_on_fail,
                    delay_abort_eval: Duration::ZERO,
                };
                match of_scenario.iter_mut().find(|t| t.key == key) {
                    Some(t) => t.conditions.push(condition),
                    None => of_scenario.push(Threshold {
                        metric_type: metric_type(&key.metric),
                        key,
                        conditions: vec![condition],
                        line: r.line,
                    }),
                }
            }
            thresholds.push((sc.name.clone(), of_scenario));
        }
        let drift_rows = s
            .scenarios
            .iter()
            .filter_map(|sc| sc.drift.as_ref())
            .flat_map(|d| &d.rules);
        let regression_rows = s.baseline.iter().flat_map(|b| &b.regressions);
        let read = |rows: &mut dyn Iterator<Item = &crate::summary::schema::RegressionResult>| {
            let mut out: Vec<RegressionRule> = Vec::new();
            for r in rows {
                if out
                    .iter()
                    .any(|o| o.key.source == r.metric && o.source == r.rule)
                {
                    continue;
                }
                let key = parse_metric_key(&r.metric).map_err(|e| RulesError {
                    what: format!("limit {} {}", r.metric, r.rule),
                    why: e.to_string(),
                })?;
                let rule =
                    parse_rule(&r.metric, metric_type(&key.metric), &r.rule).map_err(|why| {
                        RulesError {
                            what: format!("limit {} {}", r.metric, r.rule),
                            why,
                        }
                    })?;
                out.push(rule);
            }
            Ok::<_, RulesError>(out)
        };
        Ok(Rules {
            thresholds,
            drift: read(&mut drift_rows.into_iter())?,
            regressions: read(&mut regression_rows.into_iter())?,
        })
    }
}

/// A rule in a saved summary that does not read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the summary's {what} is not a rule: {why}")]
pub struct RulesError {
    pub what: String,
    pub why: String,
}
