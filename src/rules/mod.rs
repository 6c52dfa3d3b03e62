//! The rule grammar and the rules a run is judged by: thresholds in k6's language
//! ([`threshold`]), and regression and drift limits ([`regression`]).
//!
//! A leaf: the plan attaches these values to its model, the summary stage measures what they
//! name, and `crate::verdict` decides them. [`Rules::of_summary`] reads them back from a saved
//! summary's own rows, which is how `merge` and `report` judge without the plan.

pub mod regression;
pub mod threshold;

use std::time::Duration;

use crate::summary::schema::{MetricType, RegressionResult, Summary, ThresholdResult};
use regression::{parse_rule, RegressionRule};
use threshold::{
    builtin_metric, parse_condition, parse_metric_key, MetricKey, Threshold, ThresholdCondition,
    ThresholdError,
};

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

    /// The rules a saved summary was judged by, read back from its rows: each threshold
    /// result's metric key and condition, each drift and regression row's rule (`report` and
    /// `comment` judge with them). A row that does not read back (an edited file; a metric name
    /// a secret was masked in) gets no rule, and so keeps the decision it carries.
    pub fn of_summary(s: &Summary) -> Rules {
        let metric_type = |metric: &str| summary_metric_type(s, metric);
        let thresholds = s
            .scenarios
            .iter()
            .map(|sc| {
                let mut of_scenario = Vec::new();
                for r in &sc.thresholds {
                    if let Ok((key, condition)) = threshold_row(r) {
                        let t = metric_type(&key.metric).unwrap_or_else(|| type_of_row(r));
                        add_condition(&mut of_scenario, key, condition, r.line, t);
                    }
                }
                (sc.name.clone(), of_scenario)
            })
            .collect();
        let drift_rows = s
            .scenarios
            .iter()
            .filter_map(|sc| sc.drift.as_ref())
            .flat_map(|d| &d.rules);
        let regression_rows = s.baseline.iter().flat_map(|b| &b.regressions);
        Rules {
            thresholds,
            drift: limit_rows(drift_rows, &metric_type),
            regressions: limit_rows(regression_rows, &metric_type),
        }
    }

    /// Each scenario's thresholds read back from a saved summary's rows, every one of them
    /// (`merge` observes them again on the merged data); `metric_type` gives a metric's type
    /// (else the row's unit tells it). An error names the row that does not read.
    pub fn thresholds_in(
        s: &Summary,
        metric_type: &dyn Fn(&str) -> Option<MetricType>,
    ) -> Result<Vec<(String, Vec<Threshold>)>, RulesError> {
        let mut out = Vec::new();
        for sc in &s.scenarios {
            let mut of_scenario = Vec::new();
            for r in &sc.thresholds {
                let (key, condition) = threshold_row(r).map_err(|e| RulesError {
                    what: format!("threshold {} {}", r.metric, r.expression),
                    why: e.to_string(),
                })?;
                let t = metric_type(&key.metric).unwrap_or_else(|| type_of_row(r));
                add_condition(&mut of_scenario, key, condition, r.line, t);
            }
            out.push((sc.name.clone(), of_scenario));
        }
        Ok(out)
    }
}

/// A metric's type as a saved summary knows it: built in, else the type its raw data or a
/// scenario's metrics give it.
pub fn summary_metric_type(s: &Summary, metric: &str) -> Option<MetricType> {
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
}

/// A threshold row's metric type, as its unit tells it (a metric the summary has no sample of):
/// `ms` a trend, `rate` a rate, `count` and `per_s` a counter, none a gauge.
pub fn type_of_row(r: &ThresholdResult) -> MetricType {
    match r.unit.as_str() {
        "rate" => MetricType::Rate,
        "count" | "per_s" => MetricType::Counter,
        "" => MetricType::Gauge,
        _ => MetricType::Trend,
    }
}

/// A threshold row's metric key and condition.
fn threshold_row(r: &ThresholdResult) -> Result<(MetricKey, ThresholdCondition), ThresholdError> {
    Ok((
        parse_metric_key(&r.metric)?,
        ThresholdCondition {
            condition: parse_condition(&r.expression)?,
            abort_on_fail: r.abort_on_fail,
            delay_abort_eval: Duration::ZERO,
        },
    ))
}

/// Adds a condition to its key's threshold (conditions of one key are adjacent rows).
fn add_condition(
    thresholds: &mut Vec<Threshold>,
    key: MetricKey,
    condition: ThresholdCondition,
    line: usize,
    metric_type: MetricType,
) {
    match thresholds.iter_mut().find(|t| t.key == key) {
        Some(t) => t.conditions.push(condition),
        None => thresholds.push(Threshold {
            metric_type,
            key,
            conditions: vec![condition],
            line,
        }),
    }
}

/// The drift or regression limits of saved rows, each once. A custom metric the summary has no
/// sample of has no known type; its rule is read with the first type its aggregation fits (the
/// row has no data to judge, so no figure depends on that type).
fn limit_rows<'a>(
    rows: impl Iterator<Item = &'a RegressionResult>,
    metric_type: &dyn Fn(&str) -> Option<MetricType>,
) -> Vec<RegressionRule> {
    let mut out: Vec<RegressionRule> = Vec::new();
    for r in rows {
        if out
            .iter()
            .any(|o| o.key.source == r.metric && o.source == r.rule)
        {
            continue;
        }
        let Ok(key) = parse_metric_key(&r.metric) else {
            continue;
        };
        let types = match metric_type(&key.metric) {
            Some(t) => vec![t],
            None => vec![
                MetricType::Trend,
                MetricType::Rate,
                MetricType::Counter,
                MetricType::Gauge,
            ],
        };
        if let Some(rule) = types
            .into_iter()
            .find_map(|t| parse_rule(&r.metric, t, &r.rule).ok())
        {
            out.push(rule);
        }
    }
    out
}

/// A rule in a saved summary that does not read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the summary's {what} is not a rule: {why}")]
pub struct RulesError {
    pub what: String,
    pub why: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;
    use crate::summary::schema::ThresholdStatus;

    /// A regression limit on a custom rate the run never fed: the summary cannot say the metric
    /// is a rate, and `rate x2` does not fit a trend. The limit still reads back (with a type it
    /// fits), so `report` and `comment` judge the row, no data, instead of refusing the file.
    #[test]
    fn a_limit_on_a_metric_without_samples_reads_back() {
        let mut s = testdata::load("regressed");
        let baseline = s.baseline.as_mut().unwrap();
        baseline.regressions.push(RegressionResult {
            scenario: "soak".into(),
            metric: "signup_errors".into(),
            rule: "rate x2".into(),
            baseline: None,
            current: None,
            limit: None,
            status: ThresholdStatus::NoData,
        });
        let rules = Rules::of_summary(&s);
        assert!(rules
            .regressions
            .iter()
            .any(|r| r.key.metric == "signup_errors" && r.source == "rate x2"));
        let judged = crate::verdict::judge(&s, &rules).apply(s.clone());
        assert_eq!(judged, s);
    }

    /// A row that does not read back (here a metric name a masked secret broke) gets no rule
    /// and keeps the decision it carries.
    #[test]
    fn a_row_that_does_not_read_keeps_its_decision() {
        let mut s = testdata::load("failed");
        let row = &mut s.scenarios[0].thresholds[0];
        row.metric = "***_duration".into();
        let before = row.status;
        assert_eq!(before, ThresholdStatus::Fail);
        s.verdict.failed[0] = "auth: ***_duration p(95)<500".into();
        let rules = Rules::of_summary(&s);
        let judged = crate::verdict::judge(&s, &rules).apply(s.clone());
        assert_eq!(judged.scenarios[0].thresholds[0].status, before);
        assert_eq!(judged, s);
    }
}
