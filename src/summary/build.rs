//! Builds the [`Summary`] from a [`Dataset`]: every figure people read, every threshold judged,
//! and the raw data that lets `merge` and `report` do it again.

use std::collections::BTreeMap;

use super::dataset::{observe, Dataset, Observed};
use super::schema::*;
use crate::engine::metrics::recorder::{Trend, TRENDS};
use crate::plan::model::{Plan, Threshold};
use crate::summary::hist::{new_hist, Hist};
use crate::summary::schema::MetricType;

/// One scenario as it ran, for the builder.
pub struct ScenarioInput {
    pub name: String,
    pub executor: String,
    pub started_after_s: f64,
    pub duration_s: f64,
    pub planned_duration_s: f64,
    pub status: ScenarioStatus,
    pub thresholds: Vec<Threshold>,
    pub series: TimeSeries,
    /// Endpoint names in the order to list them when there is no plan (merge: a part's order).
    pub endpoint_order: Vec<String>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub fn latency(h: &Hist) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    Latency {
        avg: h.mean() / 1000.0,
        min: ms(h.min()),
        med: ms(h.value_at_quantile(0.5)),
        max: ms(h.max()),
        p90: ms(h.value_at_quantile(0.90)),
        p95: ms(h.value_at_quantile(0.95)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
    }
}

fn trend_values(h: &Hist) -> BTreeMap<String, f64> {
    let l = latency(h);
    BTreeMap::from([
        ("avg".into(), l.avg),
        ("min".into(), l.min),
        ("med".into(), l.med),
        ("max".into(), l.max),
        ("p(90)".into(), l.p90),
        ("p(95)".into(), l.p95),
        ("p(99)".into(), l.p99),
        ("p(99.9)".into(), l.p999),
        ("count".into(), h.len() as f64),
    ])
}

fn unit_of(t: MetricType) -> &'static str {
    match t {
        MetricType::Trend => "ms",
        MetricType::Rate => "rate",
        MetricType::Counter => "count",
        MetricType::Gauge => "",
    }
}

/// Judges one scenario's thresholds on the dataset.
pub fn evaluate(
    plan: Option<&Plan>,
    ds: &Dataset,
    scenario: &str,
    thresholds: &[Threshold],
) -> Vec<ThresholdResult> {
    let mut out = Vec::new();
    for t in thresholds {
        let ptype = plan
            .and_then(|p| p.metric_type(&t.key.metric))
            .or(Some(t.metric_type));
        let obs = observe(ds, ptype, scenario, &t.key);
        for c in &t.conditions {
            let observed = obs
                .as_ref()
                .and_then(|o| o.aggregate(c.condition.aggregation));
            let status = match observed {
                None => ThresholdStatus::NoData,
                Some(v) if c.condition.operator.holds(v, c.condition.limit) => {
                    ThresholdStatus::Pass
                }
                Some(_) => ThresholdStatus::Fail,
            };
            out.push(ThresholdResult {
                metric: t.key.source.clone(),
                expression: c.condition.source.clone(),
                observed,
                limit: c.condition.limit,
                unit: if matches!(
                    c.condition.aggregation,
                    crate::rules::threshold::Aggregation::Count
                ) {
                    "count".into()
                } else if t.metric_type == MetricType::Counter
                    && matches!(
                        c.condition.aggregation,
                        crate::rules::threshold::Aggregation::Rate
                    )
                {
                    "per_s".into()
                } else {
                    unit_of(t.metric_type).into()
                },
                status,
                abort_on_fail: c.abort_on_fail,
                line: t.line,
            });
        }
    }
    out
}

/// Per-scenario figures, from the dataset.
pub fn scenario_summary(
    plan: Option<&Plan>,
    ds: &Dataset,
    input: ScenarioInput,
) -> ScenarioSummary {
    let name = input.name.as_str();
    let series: Vec<_> = ds.series.iter().filter(|s| s.scenario == name).collect();
    let sc = ds.scenario(name);
    let requests: u64 = series.iter().map(|s| s.count).sum();
    let failed: u64 = series.iter().filter(|s| s.failed).map(|s| s.count).sum();
    let sent: u64 = series.iter().map(|s| s.bytes_sent).sum();
    let received: u64 = series.iter().map(|s| s.bytes_received).sum();
    let dur = input.duration_s.max(1e-9);

    let mut metrics = BTreeMap::new();
    for (i, (_, mname)) in TRENDS.iter().enumerate() {
        let mut h = new_hist();
        for s in &series {
            if let Some(x) = &s.hists[i] {
                h.add(x).expect("same bounds");
            }
        }
        if !h.is_empty() {
            metrics.insert(
                mname.to_string(),
                Metric {
                    kind: MetricType::Trend,
                    values: trend_values(&h),
                },
            );
        }
    }
    let counter = |count: u64| Metric {
        kind: MetricType::Counter,
        values: BTreeMap::from([
            ("count".into(), count as f64),
            ("rate".into(), count as f64 / dur),
        ]),
    };
    let rate = |t: u64, n: u64| Metric {
        kind: MetricType::Rate,
        values: BTreeMap::from([
            (
                "rate".into(),
                if n == 0 { 0.0 } else { t as f64 / n as f64 },
            ),
            ("passes".into(), t as f64),
            ("fails".into(), (n - t) as f64),
        ]),
    };
    metrics.insert("http_reqs".into(), counter(requests));
    metrics.insert("http_req_failed".into(), rate(failed, requests));
    metrics.insert("data_sent".into(), counter(sent));
    metrics.insert("data_received".into(), counter(received));
    let (iterations, interrupted, dropped, vus_max) = sc.map_or((0, 0, 0, 0), |s| {
        (s.iterations, s.interrupted, s.dropped, s.vus_max)
    });
    metrics.insert("iterations".into(), counter(iterations));
    if dropped > 0 {
        metrics.insert("dropped_iterations".into(), counter(dropped));
    }
    if let Some(h) = sc.and_then(|s| s.iteration_duration.as_ref()) {
        metrics.insert(
            "iteration_duration".into(),
            Metric {
                kind: MetricType::Trend,
                values: trend_values(h),
            },
        );
    }
    let gauge = |v: u64| Metric {
        kind: MetricType::Gauge,
        values: BTreeMap::from([
            ("value".into(), v as f64),
            ("min".into(), 0.0),
            ("max".into(), v as f64),
        ]),
    };
    metrics.insert("vus_max".into(), gauge(vus_max));
    metrics.insert("vus".into(), gauge(vus_max));
    let checks: Vec<CheckResult> = ds
        .checks
        .iter()
        .filter(|c| c.scenario == name)
        .map(|c| CheckResult {
            name: c.name.clone(),
            request: c.request.clone(),
            passes: c.passes,
            fails: c.fails,
        })
        .collect();
    if !checks.is_empty() {
        let p: u64 = checks.iter().map(|c| c.passes).sum();
        let f: u64 = checks.iter().map(|c| c.fails).sum();
        metrics.insert("checks".into(), rate(p, p + f));
    }
    let mut custom_names: Vec<&str> = ds
        .custom
        .iter()
        .filter(|c| c.scenario == name)
        .map(|c| c.metric.as_str())
        .collect();
    custom_names.dedup();
    for m in custom_names {
        let key = crate::rules::threshold::MetricKey {
            source: m.to_string(),
            metric: m.to_string(),
            tags: vec![],
        };
        let ptype = plan.and_then(|p| p.metric_type(m));
        if let Some(o) = observe(ds, ptype, name, &key) {
            let metric = match o {
                Observed::Trend(h) => Metric {
                    kind: MetricType::Trend,
                    values: trend_values(&h),
                },
                Observed::Counter { count, .. } => counter(count as u64),
                Observed::Rate { trues, total } => rate(trues, total),
                Observed::Gauge { value, .. } => gauge(value as u64),
            };
            metrics.insert(m.to_string(), metric);
        }
    }

    // Endpoints: one row per (request name, group), in first-seen order of the plan.
    let mut endpoints: Vec<Endpoint> = Vec::new();
    let mut hists: Vec<Hist> = Vec::new();
    let order = |n: &str| {
        match plan {
            Some(p) => p.requests.iter().position(|r| r.name == n),
            None => input.endpoint_order.iter().position(|r| r == n),
        }
        .unwrap_or(usize::MAX)
    };
    let mut rows: Vec<_> = series.clone();
    rows.sort_by_key(|s| (order(&s.name), s.name.clone(), s.group.clone()));
    for s in rows {
        let i = match endpoints
            .iter()
            .position(|e| e.name == s.name && e.group == s.group)
        {
            Some(i) => i,
            None => {
                endpoints.push(Endpoint {
                    name: s.name.clone(),
                    method: s.method.clone(),
                    group: s.group.clone(),
                    requests: 0,
                    failed: 0,
                    rps: 0.0,
                    latency: Latency::default(),
                    statuses: BTreeMap::new(),
                    errors: BTreeMap::new(),
                });
                hists.push(new_hist());
                endpoints.len() - 1
            }
        };
        let e = &mut endpoints[i];
        e.requests += s.count;
        if s.failed {
            e.failed += s.count;
        }
        *e.statuses.entry(s.status.to_string()).or_default() += s.count;
        if s.error != ErrorClass::None {
            *e.errors.entry(s.error.as_str().to_string()).or_default() += s.count;
        }
        if let Some(h) = &s.hists[0] {
            hists[i].add(h).expect("same bounds");
        }
    }
    for (e, h) in endpoints.iter_mut().zip(&hists) {
        e.rps = e.requests as f64 / dur;
        e.latency = latency(h);
    }

    let open_model = sc.and_then(|s| {
        let lag = s.start_lag.as_ref()?;
        let raw = s.raw_duration.clone().unwrap_or_else(new_hist);
        Some(OpenModel {
            start_lag_p50_ms: ms(lag.value_at_quantile(0.5)),
            start_lag_p99_ms: ms(lag.value_at_quantile(0.99)),
            start_lag_max_ms: ms(lag.max()),
            raw_p95_ms: ms(raw.value_at_quantile(0.95)),
            raw_p99_ms: ms(raw.value_at_quantile(0.99)),
        })
    });
    let thresholds = evaluate(plan, ds, name, &input.thresholds);
    ScenarioSummary {
        name: input.name,
        executor: input.executor,
        started_after_s: input.started_after_s,
        duration_s: input.duration_s,
        planned_duration_s: input.planned_duration_s,
        vus_max,
        status: input.status,
        requests,
        requests_failed: failed,
        rps: requests as f64 / dur,
        iterations,
        iterations_interrupted: interrupted,
        dropped_iterations: dropped,
        data_sent: sent,
        data_received: received,
        metrics,
        endpoints,
        checks,
        thresholds,
        timeseries: input.series,
        open_model,
        drift: None,
        capacity: None,
    }
}

/// The verdict over every scenario's thresholds.
pub fn verdict(scenarios: &[ScenarioSummary]) -> Verdict {
    let all: Vec<_> = scenarios
        .iter()
        .flat_map(|s| s.thresholds.iter().map(move |t| (s, t)))
        .collect();
    let failed: Vec<String> = all
        .iter()
        .filter(|(_, t)| t.status == ThresholdStatus::Fail)
        .map(|(s, t)| {
            if scenarios.len() > 1 {
                format!("{}: {} {}", s.name, t.metric, t.expression)
            } else {
                format!("{} {}", t.metric, t.expression)
            }
        })
        .collect();
    Verdict {
        passed: failed.is_empty(),
        thresholds_total: all.len(),
        thresholds_failed: failed.len(),
        thresholds_no_data: all
            .iter()
            .filter(|(_, t)| t.status == ThresholdStatus::NoData)
            .count(),
        failed,
        regressions_failed: 0,
        drift_failed: 0,
        inconclusive: false,
    }
}

/// Folds broken drift limits and the generator's health into the verdict.
pub fn apply_drift(s: &mut Summary) {
    for sc in &s.scenarios {
        if let Some(d) = &sc.drift {
            for r in d.rules.iter().filter(|r| r.status == ThresholdStatus::Fail) {
                s.verdict.drift_failed += 1;
                s.verdict
                    .failed
                    .push(format!("drift: {}: {} {}", r.scenario, r.metric, r.rule));
            }
        }
    }
    s.verdict.passed = s.verdict.failed.is_empty();
    s.verdict.inconclusive = s.health.status == HealthStatus::Inconclusive;
}

/// Folds a baseline comparison's broken regression limits into the verdict.
pub fn apply_regressions(v: &mut Verdict, c: &crate::summary::schema::Comparison) {
    for r in &c.regressions {
        if r.status == ThresholdStatus::Fail {
            v.regressions_failed += 1;
            v.failed.push(format!(
                "regression: {}: {} {}",
                r.scenario, r.metric, r.rule
            ));
        }
    }
    v.passed = v.failed.is_empty();
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

/// How a scenario ended, as the summary says it; `None` for one that never started.
pub fn status_of(s: crate::engine::ScenarioStatus) -> Option<ScenarioStatus> {
    use crate::engine::ScenarioStatus as Ran;
    match s {
        Ran::Completed => Some(ScenarioStatus::Completed),
        Ran::Aborted => Some(ScenarioStatus::Aborted),
        Ran::Interrupted => Some(ScenarioStatus::Interrupted),
        Ran::Skipped => None,
    }
}
