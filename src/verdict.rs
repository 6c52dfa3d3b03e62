//! The verdict: what a run's figures mean against its rules.
//!
//! [`judge`] is the one place a verdict is decided. It takes a summary (whatever the summary
//! stage measured: each threshold's observed value, each drift limit's first and last window,
//! each regression limit's baseline and current value, and the generator's health) and the
//! [`Rules`] the run is judged by, and decides every threshold, drift limit and regression limit,
//! and whether the run is inconclusive. It reads nothing else and changes nothing: `run`,
//! `merge`, `report` and the live abort check all call it, so the same figures always get the
//! same verdict. [`Judgement::apply`] writes the decisions into the summary; [`exit_code`] is the
//! process's exit code of a judged summary.

use crate::exit;
use crate::rules::regression::RegressionRule;
use crate::rules::threshold::Condition;
use crate::rules::Rules;
use crate::summary::schema::{
    HealthStatus, MetricType, RegressionResult, ScenarioSummary, Summary, ThresholdResult,
    ThresholdStatus, Verdict,
};

/// A drift or regression limit decided: the most the current value may be, and the status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decided {
    pub limit: Option<f64>,
    pub status: ThresholdStatus,
}

/// Everything [`judge`] decided about a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Per scenario of the summary, per threshold result: its status.
    pub thresholds: Vec<Vec<ThresholdStatus>>,
    /// Per scenario, per drift row (none for a scenario without drift).
    pub drift: Vec<Vec<Decided>>,
    /// Per regression row of the baseline comparison.
    pub regressions: Vec<Decided>,
    /// The run's verdict over all of them.
    pub verdict: Verdict,
}

/// Decides every threshold, drift limit and regression limit of `s` by `rules`, and the run's
/// verdict: it passed when nothing failed and every scenario tested something
/// ([`tested_nothing`]); it is inconclusive when the load generator was not healthy.
pub fn judge(s: &Summary, rules: &Rules) -> Judgement {
    let thresholds: Vec<Vec<ThresholdStatus>> = s
        .scenarios
        .iter()
        .map(|sc| {
            sc.thresholds
                .iter()
                .map(|r| match rule_of(rules, &sc.name, r) {
                    Some((metric_type, c)) => threshold_status(r.observed, metric_type, c),
                    // A row no rule speaks for keeps what it says.
                    None => r.status,
                })
                .collect()
        })
        .collect();
    let drift: Vec<Vec<Decided>> = s
        .scenarios
        .iter()
        .map(|sc| {
            sc.drift
                .iter()
                .flat_map(|d| &d.rules)
                .map(|row| decide_row(&rules.drift, row))
                .collect()
        })
        .collect();
    let regressions = s
        .baseline
        .as_ref()
        .map(|b| decide_rows(&b.regressions, &rules.regressions))
        .unwrap_or_default();

    let many = s.scenarios.len() > 1;
    let mut failed = Vec::new();
    let mut scenarios_failed = 0;
    for sc in &s.scenarios {
        if let Some(why) = tested_nothing(sc) {
            scenarios_failed += 1;
            failed.push(format!("{}: {why}", sc.name));
        }
    }
    let (mut total, mut thresholds_failed, mut no_data) = (0, 0, 0);
    for (sc, statuses) in s.scenarios.iter().zip(&thresholds) {
        for (r, status) in sc.thresholds.iter().zip(statuses) {
            total += 1;
            match status {
                ThresholdStatus::Fail => {
                    thresholds_failed += 1;
                    failed.push(if many {
                        format!("{}: {} {}", sc.name, r.metric, r.expression)
                    } else {
                        format!("{} {}", r.metric, r.expression)
                    });
                }
                ThresholdStatus::NoData => no_data += 1,
                ThresholdStatus::Pass => {}
            }
        }
    }
    let mut drift_failed = 0;
    for (sc, decided) in s.scenarios.iter().zip(&drift) {
        let rows = sc.drift.iter().flat_map(|d| &d.rules);
        for (r, d) in rows.zip(decided) {
            if d.status == ThresholdStatus::Fail {
                drift_failed += 1;
                failed.push(format!("drift: {}: {} {}", r.scenario, r.metric, r.rule));
            }
        }
    }
    let mut regressions_failed = 0;
    let rows = s.baseline.iter().flat_map(|b| &b.regressions);
    for (r, d) in rows.zip(&regressions) {
        if d.status == ThresholdStatus::Fail {
            regressions_failed += 1;
            failed.push(format!(
                "regression: {}: {} {}",
                r.scenario, r.metric, r.rule
            ));
        }
    }
    Judgement {
        thresholds,
        drift,
        regressions,
        verdict: Verdict {
            passed: failed.is_empty(),
            thresholds_total: total,
            thresholds_failed,
            thresholds_no_data: no_data,
            failed,
            regressions_failed,
            drift_failed,
            scenarios_failed,
            inconclusive: s.health.status == HealthStatus::Inconclusive,
        },
    }
}

/// Decides regression rows (a baseline comparison's) by the rules they came from.
pub fn decide_rows(rows: &[RegressionResult], rules: &[RegressionRule]) -> Vec<Decided> {
    rows.iter().map(|row| decide_row(rules, row)).collect()
}

impl Judgement {
    /// The summary with every decision written in: each threshold's status, each drift and
    /// regression row's limit and status, and the verdict.
    pub fn apply(self, mut s: Summary) -> Summary {
        for (sc, statuses) in s.scenarios.iter_mut().zip(self.thresholds) {
            for (r, status) in sc.thresholds.iter_mut().zip(statuses) {
                r.status = status;
            }
        }
        for (sc, decided) in s.scenarios.iter_mut().zip(self.drift) {
            if let Some(d) = &mut sc.drift {
                write_rows(&mut d.rules, &decided);
            }
        }
        if let Some(b) = &mut s.baseline {
            write_rows(&mut b.regressions, &self.regressions);
        }
        s.verdict = self.verdict;
        s
    }

    /// The first threshold that failed, as `scenario: metric expression` (what the live abort
    /// check names as the reason).
    pub fn first_failed_threshold(&self, s: &Summary) -> Option<String> {
        s.scenarios
            .iter()
            .zip(&self.thresholds)
            .find_map(|(sc, statuses)| {
                let (r, _) = sc
                    .thresholds
                    .iter()
                    .zip(statuses)
                    .find(|(_, st)| **st == ThresholdStatus::Fail)?;
                Some(format!("{}: {} {}", sc.name, r.metric, r.expression))
            })
    }
}

/// Writes decisions into their rows.
pub fn write_rows(rows: &mut [RegressionResult], decided: &[Decided]) {
    for (r, d) in rows.iter_mut().zip(decided) {
        r.limit = d.limit;
        r.status = d.status;
    }
}

/// The process's exit code for a judged summary: 130 when a signal interrupted the run (it wins
/// over a failure), 99 when something failed, 98 when it passed but was inconclusive and
/// `fail_on_inconclusive`, else 0.
pub fn exit_code(s: &Summary, fail_on_inconclusive: bool) -> u8 {
    if s.run.interrupted {
        exit::INTERRUPTED
    } else if !s.verdict.passed {
        exit::THRESHOLDS_FAILED
    } else if s.verdict.inconclusive && fail_on_inconclusive {
        exit::INCONCLUSIVE
    } else {
        exit::OK
    }
}

/// Why a scenario tested nothing, when it did: no request completed (a target that never
/// answered: every request still in flight when the scenario was cut), or every iteration was
/// interrupted. Such a scenario fails the run, whatever its thresholds say.
pub fn tested_nothing(sc: &ScenarioSummary) -> Option<String> {
    if sc.requests == 0 {
        let mut why = Vec::new();
        match sc.requests_interrupted {
            0 => {}
            1 => why.push("1 was cut off in flight".to_string()),
            n => why.push(format!("{n} were cut off in flight")),
        }
        // The plan's data, not the target: said so, so the target is not blamed.
        match sc.requests_invalid {
            0 => {}
            1 => why.push("1 could not be built and was not sent (invalid_request)".to_string()),
            n => why.push(format!(
                "{n} could not be built and were not sent (invalid_request)"
            )),
        }
        return Some(if why.is_empty() {
            "no request completed".to_string()
        } else {
            format!("no request completed: {}", why.join(", "))
        });
    }
    if sc.iterations == 0 && sc.iterations_interrupted > 0 {
        return Some(format!(
            "every iteration was interrupted ({})",
            sc.iterations_interrupted
        ));
    }
    None
}

/// The metric type and condition a threshold row was made from.
fn rule_of<'r>(
    rules: &'r Rules,
    scenario: &str,
    r: &ThresholdResult,
) -> Option<(MetricType, &'r Condition)> {
    rules
        .thresholds_of(scenario)
        .iter()
        .filter(|t| t.key.source == r.metric)
        .flat_map(|t| {
            t.conditions
                .iter()
                .map(move |c| (t.metric_type, &c.condition))
        })
        .find(|(_, c)| c.source == r.expression)
}

/// A threshold decided on its observed value. Without one (no sample), as k6 does: a trend,
/// counter or gauge is judged as 0, a rate is skipped (the reports say "no data" either way).
fn threshold_status(observed: Option<f64>, t: MetricType, c: &Condition) -> ThresholdStatus {
    let value = match observed {
        Some(v) => v,
        None if t == MetricType::Rate => return ThresholdStatus::NoData,
        None => 0.0,
    };
    if c.operator.holds(value, c.limit) {
        ThresholdStatus::Pass
    } else {
        ThresholdStatus::Fail
    }
}

/// A drift or regression row decided by the rule it came from (a row no rule speaks for keeps
/// what it says).
fn decide_row(rules: &[RegressionRule], row: &RegressionResult) -> Decided {
    let Some(rule) = rules
        .iter()
        .find(|r| r.key.source == row.metric && r.source == row.rule)
    else {
        return Decided {
            limit: row.limit,
            status: row.status,
        };
    };
    match (row.baseline, row.current) {
        (Some(reference), Some(current)) => {
            let limit = rule.limit(reference);
            Decided {
                limit: Some(limit),
                status: if current <= limit {
                    ThresholdStatus::Pass
                } else {
                    ThresholdStatus::Fail
                },
            }
        }
        _ => Decided {
            limit: None,
            status: ThresholdStatus::NoData,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::report::testdata;
    use crate::summary::analysis::health;
    use crate::summary::schema::RunMode;

    /// Every committed fixture was judged as `run` judges; judging it again by the rules it
    /// carries changes nothing (which is what `report` and `merge` rely on).
    #[test]
    fn a_saved_summary_judged_again_by_its_own_rules_is_unchanged() {
        for name in testdata::NAMES {
            let s = testdata::load(name);
            let rules = Rules::of_summary(&s);
            assert_eq!(judge(&s, &rules).apply(s.clone()), s, "{name}");
        }
    }

    #[test]
    fn a_merged_summary_gets_the_verdict_of_its_single_part_inconclusive_included() {
        let mut single = testdata::load("passed");
        single.health = health(Some(95.0), &single.scenarios);
        let rules = Rules::of_summary(&single);
        let single = judge(&single, &rules).apply(single);
        assert!(single.verdict.passed && single.verdict.inconclusive);

        let merged =
            crate::summary::merge::merge(&[(PathBuf::from("part.json"), single.clone())]).unwrap();
        assert_eq!(merged.run.mode, RunMode::Merge);
        assert_eq!(merged.health, single.health);
        let rules = Rules::of_summary(&merged);
        assert_eq!(judge(&merged, &rules).verdict, single.verdict);
    }

    #[test]
    fn the_exit_code_follows_the_verdict() {
        let mut s = testdata::load("failed");
        assert_eq!(exit_code(&s, false), exit::THRESHOLDS_FAILED);
        s.run.interrupted = true;
        assert_eq!(exit_code(&s, false), exit::INTERRUPTED);
        let mut s = testdata::load("passed");
        assert_eq!(exit_code(&s, true), exit::OK);
        s.verdict.inconclusive = true;
        assert_eq!(exit_code(&s, false), exit::OK);
        assert_eq!(exit_code(&s, true), exit::INCONCLUSIVE);
    }

    /// k6's rule for a threshold whose metric got no sample: a trend, counter or gauge is
    /// judged as 0 (so `count>0` fails and `p(95)<500` passes), a rate is skipped.
    #[test]
    fn a_threshold_without_data_is_judged_as_k6_judges_it() {
        use crate::rules::threshold::parse_condition;
        let judged = |t, c: &str| threshold_status(None, t, &parse_condition(c).unwrap());
        assert_eq!(
            judged(MetricType::Trend, "p(95)<500"),
            ThresholdStatus::Pass
        );
        assert_eq!(judged(MetricType::Trend, "count>0"), ThresholdStatus::Fail);
        assert_eq!(
            judged(MetricType::Counter, "count>=1"),
            ThresholdStatus::Fail
        );
        assert_eq!(judged(MetricType::Gauge, "value<10"), ThresholdStatus::Pass);
        assert_eq!(
            judged(MetricType::Rate, "rate<0.01"),
            ThresholdStatus::NoData
        );
        assert_eq!(
            judged(MetricType::Rate, "rate>0.99"),
            ThresholdStatus::NoData
        );

        // In a whole summary: the passed fixture's latency thresholds, without samples, still
        // pass and its rates are skipped: the run still passes.
        let mut s = testdata::load("passed");
        let sc = &mut s.scenarios[0];
        for t in &mut sc.thresholds {
            t.observed = None;
        }
        let j = judge(&s, &Rules::of_summary(&s));
        assert_eq!(
            j.thresholds[0],
            [
                ThresholdStatus::Pass,
                ThresholdStatus::Pass,
                ThresholdStatus::NoData,
                ThresholdStatus::NoData
            ]
        );
        assert!(j.verdict.passed, "{:?}", j.verdict);
    }

    /// A scenario that completed no request, or no iteration, tested nothing: it fails the run
    /// whatever its thresholds say, and says why first.
    #[test]
    fn a_scenario_that_tested_nothing_fails_the_run() {
        let mut s = testdata::load("passed");
        let name = s.scenarios[0].name.clone();
        s.scenarios[0].requests = 0;
        s.scenarios[0].requests_interrupted = 3;
        let j = judge(&s, &Rules::of_summary(&s));
        assert!(!j.verdict.passed);
        assert_eq!(j.verdict.scenarios_failed, 1);
        assert_eq!(
            j.verdict.failed[0],
            format!("{name}: no request completed: 3 were cut off in flight")
        );

        let mut s = testdata::load("passed");
        s.scenarios[0].iterations = 0;
        s.scenarios[0].iterations_interrupted = 5;
        let j = judge(&s, &Rules::of_summary(&s));
        assert!(!j.verdict.passed);
        assert_eq!(
            j.verdict.failed[0],
            format!("{name}: every iteration was interrupted (5)")
        );
        assert_eq!(tested_nothing(&testdata::load("passed").scenarios[0]), None);
    }

    #[test]
    fn regression_limits_keep_a_noise_floor_and_need_both_values() {
        let rule = crate::rules::regression::parse_rule(
            "http_req_duration",
            crate::summary::schema::MetricType::Trend,
            "p(95) +10%",
        )
        .unwrap();
        let row = |b, c| rule.observed("s", b, c);
        let d = decide_rows(
            &[
                row(Some(100.0), Some(109.0)),
                row(Some(100.0), Some(111.0)),
                // 10 % of 5 ms is less than the 2-ms noise floor.
                row(Some(5.0), Some(6.9)),
                row(None, Some(1.0)),
            ],
            std::slice::from_ref(&rule),
        );
        let st: Vec<_> = d.iter().map(|d| (d.limit, d.status)).collect();
        assert_eq!(
            st,
            [
                (Some(110.00000000000001), ThresholdStatus::Pass),
                (Some(110.00000000000001), ThresholdStatus::Fail),
                (Some(7.0), ThresholdStatus::Pass),
                (None, ThresholdStatus::NoData),
            ]
        );
    }
}
