//! One scenario's figures, from the dataset: the k6-style metrics, the endpoint rows, the checks,
//! the open-model figures, and each threshold's observed value. `build` (a run) and `merge` (the
//! parts of a distributed run) both make their scenarios here, so a merged scenario and one that
//! ran on one machine are the same figures of the same data.

use std::collections::BTreeMap;

use super::dataset::{observe, DSeries, Dataset, Observed};
use super::hist::{new_hist, Hist};
use super::schema::{
    CheckResult, Endpoint, ErrorClass, Latency, Metric, MetricType, OpenModel, Point,
    RawInterrupted, ScenarioStatus, ScenarioSummary, ThresholdResult, ThresholdStatus, TimeSeries,
};
use crate::engine::metrics::recorder::TRENDS;
use crate::rules::threshold::{Aggregation, MetricKey, Threshold};

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
    /// Request names in the order the endpoint rows list them (the plan's order; a part's own
    /// order in `merge`); a name not in it comes last.
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

/// One row per condition of each threshold: what it names, observed on the dataset. Its status
/// is `crate::verdict::judge`'s to decide: until then it says no data.
pub fn observe_thresholds(
    ds: &Dataset,
    scenario: &str,
    thresholds: &[Threshold],
) -> Vec<ThresholdResult> {
    let mut out = Vec::new();
    for t in thresholds {
        let obs = observe(ds, Some(t.metric_type), scenario, &t.key);
        for c in &t.conditions {
            let observed = obs
                .as_ref()
                .and_then(|o| o.aggregate(c.condition.aggregation));
            out.push(ThresholdResult {
                metric: t.key.source.clone(),
                expression: c.condition.source.clone(),
                observed,
                limit: c.condition.limit,
                unit: unit_of_condition(t.metric_type, c.condition.aggregation).into(),
                status: ThresholdStatus::NoData,
                abort_on_fail: c.abort_on_fail,
                line: t.line,
            });
        }
    }
    out
}

/// The unit of an observed value: `count` for a count, `per_s` for a counter's rate, else the
/// metric type's.
fn unit_of_condition(t: MetricType, aggregation: Aggregation) -> &'static str {
    match aggregation {
        Aggregation::Count => "count",
        Aggregation::Rate if t == MetricType::Counter => "per_s",
        _ => unit_of(t),
    }
}

/// Per-scenario figures, from the dataset; drift and capacity are added by the caller that has
/// what they need.
pub fn scenario_summary(ds: &Dataset, input: ScenarioInput) -> ScenarioSummary {
    let name = input.name.as_str();
    let series: Vec<&DSeries> = ds.series.iter().filter(|s| s.scenario == name).collect();
    let sc = ds.scenario(name);
    let requests: u64 = series.iter().map(|s| s.count).sum();
    let failed: u64 = series.iter().filter(|s| s.failed).map(|s| s.count).sum();
    let cut: Vec<&RawInterrupted> = ds
        .interrupted
        .iter()
        .filter(|c| c.scenario == name)
        .collect();
    let requests_interrupted: u64 = cut.iter().map(|c| c.count).sum();
    let invalid: Vec<&RawInterrupted> = ds.invalid.iter().filter(|c| c.scenario == name).collect();
    let requests_invalid: u64 = invalid.iter().map(|c| c.count).sum();
    // What the cut-off requests had to send counts, as k6 counts the bytes written.
    let sent: u64 = series.iter().map(|s| s.bytes_sent).sum::<u64>()
        + cut.iter().map(|c| c.bytes_sent).sum::<u64>();
    let received: u64 = series.iter().map(|s| s.bytes_received).sum();
    let dur = input.duration_s.max(1e-9);
    let (iterations, interrupted, dropped, vus_max) = sc.map_or((0, 0, 0, 0), |s| {
        (s.iterations, s.interrupted, s.dropped, s.vus_max)
    });
    // One row per check of a request, whichever groups the request ran in.
    let mut checks: Vec<CheckResult> = Vec::new();
    for c in ds.checks.iter().filter(|c| c.scenario == name) {
        match checks
            .iter_mut()
            .find(|x| x.name == c.name && x.request == c.request)
        {
            Some(x) => {
                x.passes += c.passes;
                x.fails += c.fails;
            }
            None => checks.push(CheckResult {
                name: c.name.clone(),
                request: c.request.clone(),
                passes: c.passes,
                fails: c.fails,
            }),
        }
    }
    let mut metrics = metrics_of(ds, name, &series, sent, &checks, dur);
    metrics.insert("vus".into(), vus_gauge(&input.series, vus_max));
    let unsent = [
        (ErrorClass::Interrupted, cut.as_slice()),
        (ErrorClass::InvalidRequest, invalid.as_slice()),
    ];
    let mut endpoints = endpoints_of(&series, &unsent, &input.endpoint_order, dur);
    reasons_into(&mut endpoints, ds, name, &series, &cut);
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
    let thresholds = observe_thresholds(ds, name, &input.thresholds);
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
        requests_interrupted,
        requests_invalid,
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

fn counter(count: u64, dur: f64) -> Metric {
    Metric {
        kind: MetricType::Counter,
        values: BTreeMap::from([
            ("count".into(), count as f64),
            ("rate".into(), count as f64 / dur),
        ]),
    }
}

fn rate(t: u64, n: u64) -> Metric {
    Metric {
        kind: MetricType::Rate,
        values: BTreeMap::from([
            (
                "rate".into(),
                if n == 0 { 0.0 } else { t as f64 / n as f64 },
            ),
            ("passes".into(), t as f64),
            ("fails".into(), (n - t) as f64),
        ]),
    }
}

/// A gauge that held one value all along (`vus_max`: the VUs allocated).
fn gauge(v: u64) -> Metric {
    gauge_of(v as f64, v as f64, v as f64)
}

fn gauge_of(value: f64, min: f64, max: f64) -> Metric {
    Metric {
        kind: MetricType::Gauge,
        values: BTreeMap::from([
            ("value".into(), value),
            ("min".into(), min),
            ("max".into(), max),
        ]),
    }
}

/// The intervals whose VU sample was taken while the scenario ran. The last interval's sample is
/// taken after the scenario ended (its VUs gone: 0), and k6 takes no `vus` sample then, so a
/// trailing 0 is left out.
pub fn running_points(series: &TimeSeries) -> &[Point] {
    match series.points.as_slice() {
        [rest @ .., last] if last.vus == 0 => rest,
        all => all,
    }
}

/// The VUs sampled while the scenario ran, one sample per interval as k6 samples `vus` every
/// second: the last, the least and the most; `None` without a sample (a run shorter than an
/// interval).
pub fn vus_samples(series: &TimeSeries) -> Option<(f64, f64, f64)> {
    let points = running_points(series);
    let last = points.last()?.vus as f64;
    let min = points.iter().map(|p| p.vus).min()? as f64;
    let max = points.iter().map(|p| p.vus).max()? as f64;
    Some((last, min, max))
}

/// `vus`: the samples, or the VUs allocated when there is none.
fn vus_gauge(series: &TimeSeries, vus_max: u64) -> Metric {
    let (value, min, max) =
        vus_samples(series).unwrap_or((vus_max as f64, vus_max as f64, vus_max as f64));
    gauge_of(value, min, max)
}

fn trend(h: &Hist) -> Metric {
    Metric {
        kind: MetricType::Trend,
        values: trend_values(h),
    }
}

/// The scenario's k6-style metrics: name → type and values (trends in ms).
fn metrics_of(
    ds: &Dataset,
    name: &str,
    series: &[&DSeries],
    sent: u64,
    checks: &[CheckResult],
    dur: f64,
) -> BTreeMap<String, Metric> {
    let sc = ds.scenario(name);
    let mut metrics = BTreeMap::new();
    for (i, (_, mname)) in TRENDS.iter().enumerate() {
        let mut h = new_hist();
        for s in series {
            if let Some(x) = &s.hists[i] {
                h.add(x).expect("same bounds");
            }
        }
        if !h.is_empty() {
            metrics.insert(mname.to_string(), trend(&h));
        }
    }
    let requests: u64 = series.iter().map(|s| s.count).sum();
    let failed: u64 = series.iter().filter(|s| s.failed).map(|s| s.count).sum();
    metrics.insert("http_reqs".into(), counter(requests, dur));
    metrics.insert("http_req_failed".into(), rate(failed, requests));
    metrics.insert("data_sent".into(), counter(sent, dur));
    metrics.insert(
        "data_received".into(),
        counter(series.iter().map(|s| s.bytes_received).sum(), dur),
    );
    let (iterations, dropped, vus_max) =
        sc.map_or((0, 0, 0), |s| (s.iterations, s.dropped, s.vus_max));
    metrics.insert("iterations".into(), counter(iterations, dur));
    if dropped > 0 {
        metrics.insert("dropped_iterations".into(), counter(dropped, dur));
    }
    if let Some(h) = sc.and_then(|s| s.iteration_duration.as_ref()) {
        metrics.insert("iteration_duration".into(), trend(h));
    }
    metrics.insert("vus_max".into(), gauge(vus_max));
    let mut groups = new_hist();
    for g in ds.groups.iter().filter(|g| g.scenario == name) {
        groups.add(&g.hist).expect("same bounds");
    }
    if !groups.is_empty() {
        metrics.insert("group_duration".into(), trend(&groups));
    }
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
        let key = MetricKey {
            source: m.to_string(),
            metric: m.to_string(),
            tags: vec![],
        };
        if let Some(o) = observe(ds, None, name, &key) {
            let metric = match o {
                Observed::Trend(h) => trend(&h),
                Observed::Counter { count, .. } => counter(count as u64, dur),
                Observed::Rate { trues, total } => rate(trues, total),
                // A gauge no response fed has no figures (its thresholds say "no data").
                Observed::Gauge { samples: 0, .. } => continue,
                Observed::Gauge {
                    value, min, max, ..
                } => gauge_of(value, min, max),
            };
            metrics.insert(m.to_string(), metric);
        }
    }
    metrics
}

/// Why the requests of each row failed: the recorded reasons, a `status` failure's status, and
/// `cut off in flight` for `interrupted`. A reason whose row is missing (a hand-edited summary)
/// is left out.
fn reasons_into(
    endpoints: &mut [Endpoint],
    ds: &Dataset,
    scenario: &str,
    series: &[&DSeries],
    cut: &[&RawInterrupted],
) {
    let recorded = ds
        .reasons
        .iter()
        .filter(|r| r.scenario == scenario)
        .map(|r| (&r.name, &r.group, r.class, r.reason.clone(), r.count));
    let statuses = series
        .iter()
        .filter(|s| s.error == ErrorClass::Status)
        .map(|s| (&s.name, &s.group, s.error, s.status.to_string(), s.count));
    let cut_off = cut.iter().map(|c| {
        let why = crate::engine::http::reason::CUT_OFF.to_string();
        (&c.name, &c.group, ErrorClass::Interrupted, why, c.count)
    });
    for (name, group, class, why, count) in recorded.chain(statuses).chain(cut_off) {
        if let Some(e) = endpoints
            .iter_mut()
            .find(|e| e.name == *name && e.group == *group)
        {
            *e.reasons
                .entry(class.as_str().to_string())
                .or_default()
                .entry(why)
                .or_default() += count;
        }
    }
}

/// One row per request name (and group), ordered as `order` names them; requests that were cut
/// off in flight or never sent show in their row's errors under their class (`interrupted`,
/// `invalid_request`; a row of its own when none completed).
fn endpoints_of(
    series: &[&DSeries],
    unsent: &[(ErrorClass, &[&RawInterrupted])],
    order: &[String],
    dur: f64,
) -> Vec<Endpoint> {
    let position = |n: &str| order.iter().position(|r| r == n).unwrap_or(usize::MAX);
    let mut keys: Vec<(&str, &str, &str)> = series
        .iter()
        .map(|s| (s.name.as_str(), s.method.as_str(), s.group.as_str()))
        .chain(
            unsent
                .iter()
                .flat_map(|(_, list)| list.iter())
                .map(|c| (c.name.as_str(), c.method.as_str(), c.group.as_str())),
        )
        .collect();
    keys.sort_by_key(|&(name, _, group)| (position(name), name, group));
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for (name, method, group) in keys {
        if !endpoints.iter().any(|e| e.name == name && e.group == group) {
            endpoints.push(Endpoint {
                name: name.to_string(),
                method: method.to_string(),
                group: group.to_string(),
                requests: 0,
                failed: 0,
                rps: 0.0,
                latency: Latency::default(),
                statuses: BTreeMap::new(),
                errors: BTreeMap::new(),
                reasons: BTreeMap::new(),
            });
        }
    }
    let mut hists: Vec<Hist> = endpoints.iter().map(|_| new_hist()).collect();
    let row_of = |endpoints: &[Endpoint], name: &str, group: &str| {
        endpoints
            .iter()
            .position(|e| e.name == name && e.group == group)
            .expect("a row for every name and group")
    };
    for (class, list) in unsent {
        for c in list.iter() {
            let i = row_of(&endpoints, &c.name, &c.group);
            *endpoints[i]
                .errors
                .entry(class.as_str().to_string())
                .or_default() += c.count;
        }
    }
    let mut rows: Vec<&&DSeries> = series.iter().collect();
    rows.sort_by_key(|s| (position(&s.name), s.name.clone(), s.group.clone()));
    for s in rows {
        let i = row_of(&endpoints, &s.name, &s.group);
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
    endpoints
}
