//! `summary::build`: the engine's outcome of a run → its [`Summary`]. Every figure people read
//! (per scenario, from the dataset), soak drift and stress capacity where the scenario has them,
//! the generator's health, the `run` block, and the raw data that lets `merge` and `report` do it
//! all again. The verdict is not decided here: a summary fresh from the builder carries an empty
//! one for `crate::verdict::judge` to decide.

use std::time::SystemTime;

use super::analysis;
use super::dataset::{Dataset, Names};
use super::hist::new_hist;
use super::scenario::{latency, observe_thresholds, scenario_summary, ScenarioInput};
use super::schema::{
    RunMeta, RunMode, ScenarioStatus, ScenarioSummary, Segment, Summary, TimeSeries, Tool,
    SCHEMA_VERSION,
};
use crate::engine::metrics::recorder::Trend;
use crate::engine::{Outcome, ScenarioStatus as Ran};
use crate::plan::model::Plan;
use crate::plan::schedule;
use crate::rules::Rules;

/// What the summary says of a run besides what the engine measured.
pub struct RunContext<'a> {
    pub plan: &'a Plan,
    /// The scenarios selected (indices into the plan), in run order.
    pub scenarios: &'a [usize],
    pub env: &'a str,
    pub base_url: &'a str,
    pub parallel: bool,
    pub segment: Option<Segment>,
    pub run_id: Option<String>,
    /// The commit, as the CI says it.
    pub git_sha: Option<String>,
    /// The CI run's page.
    pub ci_run_url: Option<String>,
    /// When the run ended (the engine's outcome says when it started).
    pub ended_at: SystemTime,
}

/// The summary of a run: `outcome` measured against `rules` (each threshold observed, each drift
/// limit's windows, not yet decided).
pub fn run(outcome: &Outcome, rules: &Rules, cx: &RunContext<'_>) -> Summary {
    let plan = cx.plan;
    let ran: Vec<_> = outcome
        .runs
        .iter()
        .filter_map(|r| Some((r, status_of(r.status)?)))
        .collect();
    // The once-per-test phases' requests are in the data too (`scenario` tag `setup` or
    // `teardown`), as k6 counts setup's requests; no scenario's figures include them.
    let durations: Vec<(usize, f64)> = ran
        .iter()
        .map(|(r, _)| (r.index, r.duration.as_secs_f64()))
        .chain(
            outcome
                .phases
                .iter()
                .map(|p| (p.index, p.duration.as_secs_f64())),
        )
        .collect();
    let ds = Dataset::from_recorder(
        &outcome.collected.total,
        &Names {
            plan,
            groups: &outcome.groups,
            checks: &outcome.checks,
            durations: &durations,
        },
    );
    let endpoint_order: Vec<String> = plan.requests.iter().map(|r| r.name.clone()).collect();
    let scenarios: Vec<ScenarioSummary> = ran
        .iter()
        .map(|&(r, status)| {
            let s = &plan.scenarios[r.index];
            let mut summary = scenario_summary(
                &ds,
                ScenarioInput {
                    name: s.name.clone(),
                    executor: s.executor.name().to_string(),
                    started_after_s: r.started_after.as_secs_f64(),
                    duration_s: r.duration.as_secs_f64(),
                    planned_duration_s: s.executor.duration().as_secs_f64(),
                    status,
                    thresholds: rules.thresholds_of(&s.name).to_vec(),
                    series: TimeSeries {
                        interval_s: outcome.collected.interval.as_secs_f64(),
                        points: outcome.collected.series[r.index].clone(),
                    },
                    endpoint_order: endpoint_order.clone(),
                },
            );
            if let Some(w) = &outcome.collected.windows[r.index] {
                summary.drift = drift_of(&summary, w, &rules.drift, s.executor.duration());
            }
            summary.capacity = schedule::load_curve(&s.executor)
                .and_then(|curve| analysis::capacity(&summary, curve.unit, &*curve.at));
            summary
        })
        .collect();
    let health = analysis::health(outcome.cpu_percent, &scenarios);
    Summary {
        schema: SCHEMA_VERSION,
        tool: Tool {
            name: "kaizen-loadtest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run: run_meta(outcome, cx),
        verdict: Default::default(),
        scenarios,
        baseline: None,
        health,
        data: ds.to_raw(),
    }
}

fn run_meta(outcome: &Outcome, cx: &RunContext<'_>) -> RunMeta {
    let plan = cx.plan;
    let started = time::OffsetDateTime::from(outcome.started_at);
    let names: Vec<String> = cx
        .scenarios
        .iter()
        .map(|&i| plan.scenarios[i].name.clone())
        .collect();
    let prefix = if cx.scenarios.len() == plan.scenarios.len() && cx.scenarios.len() > 1 {
        "all".to_string()
    } else {
        names.join("+")
    };
    let stamp = started
        .format(time::macros::format_description!(
            "[year][month][day]_[hour][minute][second]"
        ))
        .unwrap_or_default();
    RunMeta {
        plan_name: plan.name.clone(),
        plan_file: plan.file.display().to_string(),
        plan_hash: plan.hash.clone(),
        environment: cx.env.to_string(),
        base_url: crate::url::strip_credentials(cx.base_url),
        scenarios: names,
        started_at: rfc3339(started),
        ended_at: rfc3339(time::OffsetDateTime::from(cx.ended_at)),
        duration_s: outcome.duration.as_secs_f64(),
        mode: RunMode::Run,
        parallel: cx.parallel,
        git_sha: cx.git_sha.clone(),
        ci_run_url: cx.ci_run_url.clone(),
        host_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        file_stem: format!("{}_{}_{}", sanitize(&prefix), sanitize(cx.env), stamp),
        interrupted: outcome.interrupted,
        aborted_by: outcome.aborted_by.clone(),
        segment: cx.segment,
        run_id: cx.run_id.clone(),
    }
}

/// What the live abort check judges: each scenario of `rules`, its thresholds observed on the
/// dataset so far (`elapsed` into the run), and nothing else.
pub fn interim(ds: &Dataset, rules: &Rules) -> Summary {
    Summary {
        scenarios: rules
            .thresholds
            .iter()
            .map(|(name, thresholds)| ScenarioSummary {
                name: name.clone(),
                thresholds: observe_thresholds(ds, name, thresholds),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// How a scenario ended, as the summary says it; `None` for one that never started.
pub fn status_of(s: Ran) -> Option<ScenarioStatus> {
    match s {
        Ran::Completed => Some(ScenarioStatus::Completed),
        Ran::Aborted => Some(ScenarioStatus::Aborted),
        Ran::Interrupted => Some(ScenarioStatus::Interrupted),
        Ran::Skipped => None,
    }
}

/// A time as the summary writes it: RFC 3339, UTC.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `s` fit for a file name: letters, digits, `-`, `+` and `_` kept, anything else a `-`.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '+' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The one-line JSON object `run --summary-line` prints last on stdout, for benchmark harnesses
/// (`bench/harness.py` reads these keys): `http_req_duration` of every scenario in the summary
/// merged from the raw histograms (ms), the requests, their rate over the run's duration, and the
/// failed requests (`http_req_failed`).
pub fn summary_line(s: &Summary) -> anyhow::Result<serde_json::Value> {
    let ds = Dataset::from_raw(&s.data)?;
    let mut all = new_hist();
    let (mut requests, mut errors) = (0u64, 0u64);
    for series in &ds.series {
        requests += series.count;
        if series.failed {
            errors += series.count;
        }
        if let Some(h) = &series.hists[Trend::Duration as usize] {
            all.add(h)?;
        }
    }
    let l = latency(&all);
    let rps = if s.run.duration_s > 0.0 {
        requests as f64 / s.run.duration_s
    } else {
        0.0
    };
    let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
    Ok(serde_json::json!({
        "p50_ms": r3(l.med),
        "p90_ms": r3(l.p90),
        "p95_ms": r3(l.p95),
        "p99_ms": r3(l.p99),
        "max_ms": r3(l.max),
        "mean_ms": r3(l.avg),
        "client_requests": requests,
        "client_rps": (rps * 10.0).round() / 10.0,
        "errors": errors,
    }))
}

/// A scenario's drift block, when it means something: the plan's `drift:` limits apply to a
/// scenario planned to hold two windows (`validate` refuses limits no scenario can be judged
/// by), and the block shows when they apply or when the steady part held two windows. A
/// 10-second smoke test shows none.
fn drift_of(
    summary: &ScenarioSummary,
    w: &crate::engine::metrics::collector::Windows,
    rules: &[crate::rules::regression::RegressionRule],
    planned: std::time::Duration,
) -> Option<crate::summary::schema::Drift> {
    let applies = crate::engine::drift_judgeable(planned, w.window);
    let rules = if applies { rules } else { &[] };
    let d = analysis::drift(summary, w, rules);
    (d.judged || !d.rules.is_empty()).then_some(d)
}
