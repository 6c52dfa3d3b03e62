//! The summaries in `fixtures/summaries/`, and the code that built them.
//!
//! The fixtures are simulated runs, not hand-typed numbers: a small deterministic model of a
//! service (latency that grows with load, a share of 500s and timeouts) is "measured" into real
//! HDR histograms, and every figure of the summary is derived from those histograms exactly as a
//! run derives them. So the readable figures and `data` agree, and `merge`/k6 aggregation can be
//! checked against them. `fixtures_are_up_to_date` fails when the committed files drift from
//! this code; `KAIZEN_BLESS=1 cargo test --lib fixtures_are_up_to_date` rewrites them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::time::Duration;

use crate::engine::metrics::collector::Windows;
use crate::engine::metrics::recorder::IntervalStats;
use crate::rules::regression::{parse_rule, RegressionRule};
use crate::rules::Rules;
use crate::summary::analysis;
use crate::summary::compare;
use crate::summary::hist::{encode_hist, new_hist, record_hist, Hist};
use crate::summary::schema::*;

pub(crate) const NAMES: [&str; 5] = ["passed", "failed", "interrupted", "aborted", "regressed"];

pub(crate) fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/summaries/{name}.json"))
}

/// A committed fixture, read the way `kaizen-loadtest report` reads it.
pub(crate) fn load(name: &str) -> Summary {
    super::read_summary(&path(name)).unwrap_or_else(|e| panic!("{e:#}"))
}

pub(crate) fn build(name: &str) -> Summary {
    match name {
        "passed" => passed(),
        "failed" => failed(),
        "interrupted" => interrupted(),
        "aborted" => aborted(),
        "regressed" => regressed(),
        other => panic!("no fixture {other}"),
    }
}

/// xorshift64*: deterministic across platforms and Rust versions.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly normal (Irwin–Hall with 6 terms), mean 0, sd 1.
    fn gauss(&mut self) -> f64 {
        ((0..6).map(|_| self.f()).sum::<f64>() - 3.0) * std::f64::consts::SQRT_2
    }
}

fn r3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn r6(v: f64) -> f64 {
    (v * 1_000_000.0).round() / 1_000_000.0
}

#[derive(Clone, Copy)]
struct EndpointSpec {
    name: &'static str,
    method: &'static str,
    group: &'static str,
    base_ms: f64,
    /// Share of responses that are 500s.
    error: f64,
    /// Share of requests that time out (no response).
    timeout: f64,
    sent: u64,
    received: u64,
}

const fn ep(name: &'static str, method: &'static str, base_ms: f64) -> EndpointSpec {
    EndpointSpec {
        name,
        method,
        group: "",
        base_ms,
        error: 0.0,
        timeout: 0.0,
        sent: 220,
        received: 640,
    }
}

struct ThresholdSpec {
    metric: &'static str,
    expression: &'static str,
    abort_on_fail: bool,
    line: usize,
}

const fn th(metric: &'static str, expression: &'static str, line: usize) -> ThresholdSpec {
    ThresholdSpec {
        metric,
        expression,
        abort_on_fail: false,
        line,
    }
}

/// A drift limit: metric key, its type, and the rule (`p(95) +25%`).
type DriftRule = (&'static str, MetricType, &'static str);

struct ScenarioSpec {
    name: &'static str,
    executor: &'static str,
    started_after_s: f64,
    planned_s: f64,
    /// How long it ran (shorter than planned when interrupted or aborted).
    ran_s: f64,
    status: ScenarioStatus,
    /// VUs active at second t.
    vus: Box<dyn Fn(f64) -> u64>,
    /// Open model: iterations started per second instead of per VU.
    arrival_rate: Option<f64>,
    /// Latency grows by this share per active VU.
    load_factor: f64,
    /// Extra error share per active VU (a service that breaks under load).
    error_per_vu: f64,
    /// Latency grows by this share per second of the run (a leak, for soak drift).
    drift_per_s: f64,
    /// Soak drift: the first and last window of this many seconds, judged by these rules.
    drift: Option<(f64, Vec<DriftRule>)>,
    flow: Vec<EndpointSpec>,
    thresholds: Vec<ThresholdSpec>,
    /// Custom trend fed by one request: (metric, request name).
    custom_trend: Option<(&'static str, &'static str)>,
    /// Custom gauge fed by one request: (metric, request name); its value is how many POSTs
    /// succeeded so far (what a list's `total` reads after creates).
    custom_gauge: Option<(&'static str, &'static str)>,
    iterations_interrupted: u64,
    dropped: u64,
}

#[derive(Default)]
struct SeriesAcc {
    count: u64,
    sent: u64,
    received: u64,
    duration: Option<Hist>,
    waiting: Option<Hist>,
}

type SeriesKey = (
    &'static str,
    &'static str,
    &'static str,
    u16,
    ErrorClass,
    bool,
);

fn record(slot: &mut Option<Hist>, micros: u64) {
    record_hist(slot.get_or_insert_with(new_hist), micros.max(1));
}

fn trend_values(h: &Hist) -> BTreeMap<String, f64> {
    let ms = |us: u64| r3(us as f64 / 1000.0);
    let mut v = BTreeMap::new();
    v.insert("avg".into(), r3(h.mean() / 1000.0));
    v.insert("min".into(), ms(h.min()));
    v.insert("med".into(), ms(h.value_at_quantile(0.5)));
    v.insert("max".into(), ms(h.max()));
    v.insert("p(90)".into(), ms(h.value_at_quantile(0.90)));
    v.insert("p(95)".into(), ms(h.value_at_quantile(0.95)));
    v.insert("p(99)".into(), ms(h.value_at_quantile(0.99)));
    v.insert("p(99.9)".into(), ms(h.value_at_quantile(0.999)));
    v.insert("count".into(), h.len() as f64);
    v
}

fn latency(h: &Hist) -> Latency {
    let ms = |us: u64| r3(us as f64 / 1000.0);
    Latency {
        avg: r3(h.mean() / 1000.0),
        min: ms(h.min()),
        med: ms(h.value_at_quantile(0.5)),
        max: ms(h.max()),
        p90: ms(h.value_at_quantile(0.90)),
        p95: ms(h.value_at_quantile(0.95)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
    }
}

fn metric(kind: &str, values: &[(&str, f64)]) -> Metric {
    Metric {
        kind: kind.parse().expect("a metric type"),
        values: values
            .iter()
            .map(|(k, v)| (k.to_string(), r6(*v)))
            .collect(),
    }
}

fn trend(h: &Hist) -> Metric {
    Metric {
        kind: MetricType::Trend,
        values: trend_values(h),
    }
}

struct Simulated {
    summary: ScenarioSummary,
    windows: Option<Windows>,
    series: Vec<RawSeries>,
    raw: RawScenario,
    custom: Vec<RawCustom>,
    groups: Vec<RawGroup>,
    reasons: Vec<RawReason>,
}

/// Why the simulated timeouts failed (`timeout` sets every request's to 10 s).
const TIMEOUT_REASON: &str = "no response headers within 10s";

fn simulate(spec: &ScenarioSpec, seed: u64) -> Simulated {
    let mut rng = Rng(seed);
    let mut series: BTreeMap<SeriesKey, SeriesAcc> = BTreeMap::new();
    let mut iteration_duration: Option<Hist> = None;
    let mut start_lag: Option<Hist> = None;
    let mut raw_duration: Option<Hist> = None;
    let mut custom: Option<Hist> = None;
    // `group_duration`: each iteration's time in each group its flow enters.
    let mut group_durations: BTreeMap<&'static str, Hist> = BTreeMap::new();
    // The gauge's figures (`at_us` from the run's start; `assemble` adds the start) and samples.
    let mut gauge: (Option<RawGauge>, u64, u64) = (None, 0, 0);
    let mut points = Vec::new();
    let mut iterations = 0u64;
    let mut vus_max = 0u64;
    let mut vus_min = u64::MAX;
    let mut carry = 0.0f64;
    let mut first_window = IntervalStats::default();
    let mut last_window = IntervalStats::default();
    let seconds = spec.ran_s.ceil() as usize;
    for sec in 0..seconds {
        let t = sec as f64;
        let width = (spec.ran_s - t).min(1.0);
        let vus = (spec.vus)(t);
        vus_max = vus_max.max(vus);
        vus_min = vus_min.min(vus);
        // An iteration of this flow takes ~2.5 s with think time, so a VU starts ~0.4 a second.
        carry += match spec.arrival_rate {
            Some(rate) => rate * width,
            None => vus as f64 * 0.4 * width,
        };
        let starts = carry.floor() as u64;
        carry -= starts as f64;
        let mut interval: Option<Hist> = None;
        let (mut requests, mut failed) = (0u64, 0u64);
        for _ in 0..starts {
            let mut iteration_ms = 1000.0 + 2000.0 * rng.f();
            if spec.arrival_rate.is_some() {
                let lag_ms = (rng.f() * 3.0 + vus as f64 * 0.05).max(0.001);
                record(&mut start_lag, (lag_ms * 1000.0) as u64);
            }
            let mut in_group: BTreeMap<&'static str, f64> = BTreeMap::new();
            for e in &spec.flow {
                let load = (1.0 + spec.load_factor * vus as f64) * (1.0 + spec.drift_per_s * t);
                let mut ms = e.base_ms * load * (0.35 * rng.gauss()).exp();
                if rng.f() < 0.01 {
                    ms *= 3.0 + 3.0 * rng.f();
                }
                let roll = rng.f();
                let error_share = e.error + spec.error_per_vu * vus as f64;
                let (status, error, fail) = if roll < e.timeout {
                    ms = 10_000.0;
                    (0u16, ErrorClass::Timeout, true)
                } else if roll < e.timeout + error_share {
                    (500, ErrorClass::Status, true)
                } else {
                    (
                        if e.method == "POST" { 201 } else { 200 },
                        ErrorClass::None,
                        false,
                    )
                };
                let us = (ms * 1000.0) as u64;
                let acc = series
                    .entry((e.name, e.method, e.group, status, error, fail))
                    .or_default();
                acc.count += 1;
                acc.sent += e.sent;
                acc.received += if status == 0 { 0 } else { e.received };
                record(&mut acc.duration, us);
                if status != 0 {
                    record(&mut acc.waiting, us * 9 / 10);
                }
                if spec.arrival_rate.is_some() {
                    record(&mut raw_duration, us.saturating_sub(us / 20));
                }
                if spec.custom_trend.is_some_and(|(_, req)| req == e.name) {
                    record(&mut custom, us);
                }
                gauge.2 += (e.method == "POST" && !fail) as u64;
                if spec.custom_gauge.is_some_and(|(_, req)| req == e.name) && !fail {
                    let at_us = ((spec.started_after_s + t) * 1e6) as u64;
                    let sample = RawGauge::new(gauge.2 as f64, at_us);
                    absorb_gauge(&mut gauge.0, Some(&sample));
                    gauge.1 += 1;
                }
                record(&mut interval, us);
                requests += 1;
                failed += fail as u64;
                iteration_ms += ms;
                if !e.group.is_empty() {
                    *in_group.entry(e.group).or_default() += ms;
                }
            }
            for (g, ms) in in_group {
                let h = group_durations.entry(g).or_insert_with(new_hist);
                record_hist(h, (ms * 1000.0) as u64);
            }
            record(&mut iteration_duration, (iteration_ms * 1000.0) as u64);
            iterations += 1;
        }
        if let Some((window_s, _)) = &spec.drift {
            let iv = IntervalStats {
                requests,
                failed,
                iterations: starts,
                duration: interval.clone().map(Box::new),
            };
            if t < *window_s {
                first_window.merge(&iv);
            }
            if t >= spec.ran_s - window_s {
                last_window.merge(&iv);
            }
        }
        let q = |h: &Option<Hist>, p: f64| {
            h.as_ref()
                .map(|h| r3(h.value_at_quantile(p) as f64 / 1000.0))
        };
        points.push(Point {
            t,
            requests,
            failed,
            iterations: starts,
            vus,
            p50: q(&interval, 0.5),
            p95: q(&interval, 0.95),
            p99: q(&interval, 0.99),
        });
    }

    // Everything below is derived from the histograms and counters above.
    let mut all = new_hist();
    let mut waiting_all = new_hist();
    let (mut requests, mut requests_failed, mut sent, mut received) = (0u64, 0u64, 0u64, 0u64);
    for acc in series.values() {
        requests += acc.count;
        sent += acc.sent;
        received += acc.received;
        if let Some(h) = &acc.duration {
            all.add(h).unwrap();
        }
        if let Some(h) = &acc.waiting {
            waiting_all.add(h).unwrap();
        }
    }
    for (k, acc) in &series {
        if k.5 {
            requests_failed += acc.count;
        }
    }
    let duration_s = r3(spec.ran_s);
    let per_s = |n: u64| r3(n as f64 / duration_s);

    let mut endpoints = Vec::new();
    let mut checks = Vec::new();
    for e in &spec.flow {
        if endpoints.iter().any(|x: &Endpoint| x.name == e.name) {
            continue;
        }
        let mut h = new_hist();
        let (mut n, mut bad) = (0u64, 0u64);
        let mut statuses = BTreeMap::new();
        let mut errors = BTreeMap::new();
        let mut reasons: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (k, acc) in series.iter().filter(|(k, _)| k.0 == e.name) {
            n += acc.count;
            if k.5 {
                bad += acc.count;
            }
            *statuses.entry(k.3.to_string()).or_insert(0) += acc.count;
            if k.4 != ErrorClass::None {
                *errors.entry(k.4.as_str().to_string()).or_insert(0) += acc.count;
                let why = match k.4 {
                    ErrorClass::Timeout => TIMEOUT_REASON.to_string(),
                    _ => k.3.to_string(),
                };
                *reasons
                    .entry(k.4.as_str().to_string())
                    .or_default()
                    .entry(why)
                    .or_insert(0) += acc.count;
            }
            if let Some(d) = &acc.duration {
                h.add(d).unwrap();
            }
        }
        if n == 0 {
            continue;
        }
        endpoints.push(Endpoint {
            name: e.name.into(),
            method: e.method.into(),
            group: e.group.into(),
            requests: n,
            failed: bad,
            rps: per_s(n),
            latency: latency(&h),
            statuses,
            errors,
            reasons,
        });
        let expected = if e.method == "POST" { 201 } else { 200 };
        checks.push(CheckResult {
            name: format!("{}: status is {expected}", e.name),
            request: e.name.into(),
            passes: n - bad,
            fails: bad,
        });
    }
    let check_passes: u64 = checks.iter().map(|c| c.passes).sum();
    let check_fails: u64 = checks.iter().map(|c| c.fails).sum();
    let iteration_hist = iteration_duration.clone().unwrap_or_else(new_hist);

    let mut metrics = BTreeMap::new();
    metrics.insert(
        "http_reqs".to_string(),
        metric(
            "counter",
            &[
                ("count", requests as f64),
                ("rate", requests as f64 / duration_s),
            ],
        ),
    );
    metrics.insert("http_req_duration".into(), trend(&all));
    metrics.insert("http_req_waiting".into(), trend(&waiting_all));
    let fail_rate = requests_failed as f64 / requests.max(1) as f64;
    metrics.insert(
        "http_req_failed".into(),
        metric(
            "rate",
            &[
                ("rate", fail_rate),
                ("passes", requests_failed as f64),
                ("fails", (requests - requests_failed) as f64),
            ],
        ),
    );
    metrics.insert(
        "iterations".into(),
        metric(
            "counter",
            &[
                ("count", iterations as f64),
                ("rate", iterations as f64 / duration_s),
            ],
        ),
    );
    metrics.insert("iteration_duration".into(), trend(&iteration_hist));
    let check_rate = check_passes as f64 / (check_passes + check_fails).max(1) as f64;
    metrics.insert(
        "checks".into(),
        metric(
            "rate",
            &[
                ("rate", check_rate),
                ("passes", check_passes as f64),
                ("fails", check_fails as f64),
            ],
        ),
    );
    metrics.insert(
        "data_sent".into(),
        metric(
            "counter",
            &[("count", sent as f64), ("rate", sent as f64 / duration_s)],
        ),
    );
    metrics.insert(
        "data_received".into(),
        metric(
            "counter",
            &[
                ("count", received as f64),
                ("rate", received as f64 / duration_s),
            ],
        ),
    );
    let vus_last = points.last().map_or(0, |p| p.vus);
    metrics.insert(
        "vus".into(),
        metric(
            "gauge",
            &[
                ("value", vus_last as f64),
                ("min", vus_min as f64),
                ("max", vus_max as f64),
            ],
        ),
    );
    metrics.insert(
        "vus_max".into(),
        metric(
            "gauge",
            &[
                ("value", vus_max as f64),
                ("min", vus_max as f64),
                ("max", vus_max as f64),
            ],
        ),
    );
    if spec.arrival_rate.is_some() {
        metrics.insert(
            "dropped_iterations".into(),
            metric(
                "counter",
                &[
                    ("count", spec.dropped as f64),
                    ("rate", spec.dropped as f64 / duration_s),
                ],
            ),
        );
    }
    if let (Some((name, _)), Some(h)) = (spec.custom_trend, &custom) {
        metrics.insert(name.to_string(), trend(h));
    }
    let mut all_groups = new_hist();
    for h in group_durations.values() {
        all_groups.add(h).unwrap();
    }
    if !all_groups.is_empty() {
        metrics.insert("group_duration".into(), trend(&all_groups));
    }
    let groups = group_durations
        .iter()
        .map(|(g, h)| RawGroup {
            scenario: spec.name.into(),
            group: g.to_string(),
            hist: encode_hist(h),
        })
        .collect();
    if let (Some((name, _)), Some(g)) = (spec.custom_gauge, &gauge.0) {
        metrics.insert(
            name.to_string(),
            metric(
                "gauge",
                &[("value", g.value), ("min", g.min), ("max", g.max)],
            ),
        );
    }

    let thresholds = spec.thresholds.iter().map(|t| judge(t, &metrics)).collect();

    let open_model = spec.arrival_rate.map(|_| {
        let lag = start_lag.clone().unwrap_or_else(new_hist);
        let raw = raw_duration.clone().unwrap_or_else(new_hist);
        let ms = |us: u64| r3(us as f64 / 1000.0);
        OpenModel {
            start_lag_p50_ms: ms(lag.value_at_quantile(0.5)),
            start_lag_p99_ms: ms(lag.value_at_quantile(0.99)),
            start_lag_max_ms: ms(lag.max()),
            raw_p95_ms: ms(raw.value_at_quantile(0.95)),
            raw_p99_ms: ms(raw.value_at_quantile(0.99)),
        }
    });

    let summary = ScenarioSummary {
        name: spec.name.into(),
        executor: spec.executor.into(),
        started_after_s: spec.started_after_s,
        duration_s,
        planned_duration_s: spec.planned_s,
        vus_max,
        status: spec.status,
        requests,
        requests_failed,
        requests_interrupted: 0,
        requests_invalid: 0,
        rps: per_s(requests),
        iterations,
        iterations_interrupted: spec.iterations_interrupted,
        dropped_iterations: spec.dropped,
        data_sent: sent,
        data_received: received,
        metrics,
        endpoints,
        checks,
        thresholds,
        timeseries: TimeSeries {
            interval_s: 1.0,
            points,
        },
        open_model,
        drift: None,
        capacity: None,
    };
    let windows = spec.drift.as_ref().map(|(window_s, _)| Windows {
        window: Duration::from_secs_f64(*window_s),
        first: first_window,
        first_span_s: window_s.min(spec.ran_s),
        last: last_window,
        last_span_s: window_s.min(spec.ran_s),
        steady_points: summary.timeseries.points.len(),
        steady_s: spec.ran_s,
    });

    let reasons = series
        .iter()
        .filter(|(k, _)| k.4 == ErrorClass::Timeout)
        .map(|((name, method, group, _, class, _), acc)| RawReason {
            scenario: spec.name.into(),
            name: name.to_string(),
            method: method.to_string(),
            group: group.to_string(),
            class: *class,
            reason: TIMEOUT_REASON.into(),
            count: acc.count,
        })
        .collect();
    let raw_series = series
        .into_iter()
        .map(|((name, method, group, status, error, failed), acc)| {
            let mut hists = BTreeMap::new();
            if let Some(h) = &acc.duration {
                hists.insert("http_req_duration".to_string(), encode_hist(h));
            }
            if let Some(h) = &acc.waiting {
                hists.insert("http_req_waiting".to_string(), encode_hist(h));
            }
            RawSeries {
                scenario: spec.name.into(),
                name: name.into(),
                method: method.into(),
                group: group.into(),
                status,
                error,
                failed,
                count: acc.count,
                bytes_sent: acc.sent,
                bytes_received: acc.received,
                hists,
            }
        })
        .collect();
    let mut scenario_hists = BTreeMap::new();
    if let Some(h) = &iteration_duration {
        scenario_hists.insert("iteration_duration".to_string(), encode_hist(h));
    }
    if let Some(h) = &start_lag {
        scenario_hists.insert("start_lag".to_string(), encode_hist(h));
    }
    if let Some(h) = &raw_duration {
        scenario_hists.insert("raw_duration".to_string(), encode_hist(h));
    }
    let raw = RawScenario {
        name: spec.name.into(),
        duration_s,
        iterations,
        interrupted: spec.iterations_interrupted,
        dropped: spec.dropped,
        vus_max,
        hists: scenario_hists,
    };
    let mut custom = match (spec.custom_trend, &custom) {
        (Some((metric, request)), Some(h)) => vec![RawCustom {
            scenario: spec.name.into(),
            metric: metric.into(),
            kind: MetricType::Trend,
            name: request.into(),
            count: h.len(),
            trues: 0,
            hist: Some(encode_hist(h)),
            gauge: None,
        }],
        _ => Vec::new(),
    };
    if let (Some((metric, request)), Some(g)) = (spec.custom_gauge, gauge.0) {
        custom.push(RawCustom {
            scenario: spec.name.into(),
            metric: metric.into(),
            kind: MetricType::Gauge,
            name: request.into(),
            count: gauge.1,
            trues: 0,
            hist: None,
            gauge: Some(g),
        });
    }
    Simulated {
        summary,
        windows,
        series: raw_series,
        raw,
        custom,
        groups,
        reasons,
    }
}

/// Judges a threshold the way `verdict::judge` does, on the scenario's metrics.
fn judge(t: &ThresholdSpec, metrics: &BTreeMap<String, Metric>) -> ThresholdResult {
    let (method, op, limit) = split_expression(t.expression);
    let m = metrics.get(t.metric);
    let base = t.metric.split('{').next().unwrap_or(t.metric);
    let kind = m
        .map(|m| m.kind)
        .or_else(|| crate::rules::threshold::builtin_metric(base));
    let unit = match kind {
        Some(MetricType::Trend) => "ms",
        Some(MetricType::Rate) => "rate",
        Some(MetricType::Counter) => "count",
        Some(MetricType::Gauge) | None => "",
    };
    let observed = m.and_then(|m| m.values.get(method).copied());
    // As k6: without samples a rate is skipped, anything else judged as 0.
    let status = match observed.or((unit != "rate").then_some(0.0)) {
        None => ThresholdStatus::NoData,
        Some(v) => {
            let ok = match op {
                "<" => v < limit,
                "<=" => v <= limit,
                ">" => v > limit,
                ">=" => v >= limit,
                _ => unreachable!("fixture thresholds use < <= > >="),
            };
            if ok {
                ThresholdStatus::Pass
            } else {
                ThresholdStatus::Fail
            }
        }
    };
    ThresholdResult {
        metric: t.metric.into(),
        expression: t.expression.into(),
        observed,
        limit,
        unit: unit.into(),
        status,
        abort_on_fail: t.abort_on_fail,
        line: t.line,
    }
}

fn split_expression(e: &str) -> (&str, &str, f64) {
    let at = e.find(['<', '>', '=', '!']).expect("an operator");
    let rest = &e[at..];
    let op_len = rest.chars().take_while(|c| "<>=!".contains(*c)).count();
    (
        &e[..at],
        &rest[..op_len],
        rest[op_len..].trim().parse().expect("a number"),
    )
}

struct RunSpec {
    plan_name: &'static str,
    environment: &'static str,
    base_url: &'static str,
    started_at: &'static str,
    ended_at: &'static str,
    stem: &'static str,
    git_sha: Option<&'static str>,
    ci_run_url: Option<&'static str>,
    interrupted: bool,
    aborted_by: Option<&'static str>,
    /// The load generator's CPU use, percent (90 and above marks the run inconclusive).
    cpu_percent: f64,
    /// Varies the simulated measurements (a baseline is the same plan on another day).
    seed: u64,
}

fn assemble(run: RunSpec, scenarios: Vec<ScenarioSpec>) -> Summary {
    let mut out_scenarios = Vec::new();
    let mut data = RawData::default();
    let mut duration_s: f64 = 0.0;
    for (i, spec) in scenarios.iter().enumerate() {
        let mut sim = simulate(
            spec,
            0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1) * 7919) ^ run.seed,
        );
        duration_s = duration_s.max(spec.started_after_s + sim.summary.duration_s);
        if let (Some(w), Some((_, rules))) = (&sim.windows, &spec.drift) {
            let rules: Vec<_> = rules
                .iter()
                .map(|(key, kind, rule)| parse_rule(key, *kind, rule).unwrap())
                .collect();
            sim.summary.drift = Some(analysis::drift(&sim.summary, w, &rules));
        }
        if spec.executor == "ramping-vus" {
            let vus = &spec.vus;
            sim.summary.capacity = analysis::capacity(&sim.summary, "VUs", &|t| vus(t) as f64);
        }
        data.series.extend(sim.series);
        data.scenarios.push(sim.raw);
        data.checks.extend(sim.summary.checks.iter().map(|c| {
            RawCheck {
                scenario: spec.name.into(),
                name: c.name.clone(),
                request: c.request.clone(),
                group: spec
                    .flow
                    .iter()
                    .find(|e| e.name == c.request)
                    .map_or("", |e| e.group)
                    .into(),
                passes: c.passes,
                fails: c.fails,
            }
        }));
        data.groups.extend(sim.groups);
        data.reasons.extend(sim.reasons);
        let start_us = time::OffsetDateTime::parse(
            run.started_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_or(0, |t| (t.unix_timestamp_nanos() / 1000) as u64);
        data.custom.extend(sim.custom.into_iter().map(|mut c| {
            if let Some(g) = &mut c.gauge {
                g.at_us += start_us;
            }
            c
        }));
        out_scenarios.push(sim.summary);
    }
    let s = Summary {
        schema: SCHEMA_VERSION,
        tool: Tool {
            name: "kaizen-loadtest".into(),
            version: "0.1.0".into(),
        },
        run: RunMeta {
            plan_name: run.plan_name.into(),
            plan_file: "loadtest.yaml".into(),
            plan_hash: "6f1c0b5e9a3d4f27b8e1c2a9d0f3e4b5a6c7d8e9f0a1b2c3d4e5f60718293a4b".into(),
            environment: run.environment.into(),
            base_url: run.base_url.into(),
            scenarios: scenarios.iter().map(|s| s.name.to_string()).collect(),
            started_at: run.started_at.into(),
            ended_at: run.ended_at.into(),
            duration_s: r3(duration_s),
            mode: RunMode::Run,
            parallel: false,
            git_sha: run.git_sha.map(Into::into),
            ci_run_url: run.ci_run_url.map(Into::into),
            host_cpus: 2,
            file_stem: run.stem.into(),
            interrupted: run.interrupted,
            aborted_by: run.aborted_by.map(Into::into),
            segment: None,
            run_id: run.ci_run_url.map(|_| "1234567890-1".into()),
        },
        verdict: Default::default(),
        health: analysis::health(Some(run.cpu_percent), &out_scenarios),
        scenarios: out_scenarios,
        baseline: None,
        data,
    };
    let rules = rules_of(&scenarios, vec![]);
    crate::verdict::judge(&s, &rules).apply(s)
}

/// The rules of the simulated plan, read from its specs as a plan's are (not from the summary:
/// that is what `Rules::of_summary` is checked against).
fn rules_of(scenarios: &[ScenarioSpec], regressions: Vec<RegressionRule>) -> Rules {
    use crate::rules::threshold::{
        builtin_metric, parse_condition, parse_metric_key, Threshold, ThresholdCondition,
    };
    let thresholds = scenarios
        .iter()
        .map(|spec| {
            let mut out: Vec<Threshold> = Vec::new();
            for t in &spec.thresholds {
                let key = parse_metric_key(t.metric).unwrap();
                let condition = ThresholdCondition {
                    condition: parse_condition(t.expression).unwrap(),
                    abort_on_fail: t.abort_on_fail,
                    delay_abort_eval: Duration::ZERO,
                };
                match out.iter_mut().find(|o| o.key == key) {
                    Some(o) => o.conditions.push(condition),
                    None => out.push(Threshold {
                        metric_type: builtin_metric(&key.metric).unwrap_or(MetricType::Trend),
                        key,
                        conditions: vec![condition],
                        line: t.line,
                    }),
                }
            }
            (spec.name.to_string(), out)
        })
        .collect();
    let drift = scenarios
        .iter()
        .filter_map(|spec| spec.drift.as_ref())
        .flat_map(|(_, rules)| rules)
        .map(|(key, kind, rule)| parse_rule(key, *kind, rule).unwrap())
        .fold(Vec::<RegressionRule>::new(), |mut all, r| {
            if !all
                .iter()
                .any(|o| o.key.source == r.key.source && o.source == r.source)
            {
                all.push(r);
            }
            all
        });
    Rules {
        thresholds,
        drift,
        regressions,
    }
}

fn smoke_flow() -> Vec<EndpointSpec> {
    vec![
        EndpointSpec {
            sent: 120,
            received: 60,
            ..ep("health", "GET", 4.0)
        },
        ep("me", "GET", 18.0),
        EndpointSpec {
            received: 4200,
            ..ep("list_agents", "GET", 42.0)
        },
        EndpointSpec {
            received: 3900,
            ..ep("list_pipelines", "GET", 55.0)
        },
        EndpointSpec {
            received: 1500,
            ..ep("metrics", "GET", 35.0)
        },
    ]
}

fn plan_thresholds() -> Vec<ThresholdSpec> {
    vec![
        th("http_req_duration", "p(95)<500", 19),
        th("http_req_duration", "p(99)<1000", 19),
        th("http_req_failed", "rate<0.05", 20),
    ]
}

fn passed() -> Summary {
    let mut thresholds = plan_thresholds();
    thresholds.push(th("checks", "rate>0.99", 21));
    assemble(
        RunSpec {
            plan_name: "kaizen-studio",
            environment: "local",
            base_url: "http://127.0.0.1:8000",
            started_at: "2026-03-02T10:00:00Z",
            ended_at: "2026-03-02T10:00:30Z",
            stem: "smoke_local_20260302T100000Z",
            git_sha: Some("3f2a9c1d7e8b4a6f0c5d2e1b9a8f7c6d5e4b3a21"),
            ci_run_url: None,
            interrupted: false,
            aborted_by: None,
            cpu_percent: 23.5,
            seed: 0,
        },
        vec![ScenarioSpec {
            name: "smoke",
            executor: "constant-vus",
            started_after_s: 0.0,
            planned_s: 30.0,
            ran_s: 30.0,
            status: ScenarioStatus::Completed,
            vus: Box::new(|_| 5),
            arrival_rate: None,
            load_factor: 0.01,
            error_per_vu: 0.0,
            drift_per_s: 0.0,
            drift: None,
            flow: smoke_flow(),
            thresholds,
            custom_trend: None,
            custom_gauge: None,
            iterations_interrupted: 0,
            dropped: 0,
        }],
    )
}

fn failed() -> Summary {
    let auth_flow = vec![
        EndpointSpec {
            method: "POST",
            error: 0.01,
            sent: 310,
            received: 90,
            ..ep("register", "POST", 120.0)
        },
        EndpointSpec {
            method: "POST",
            error: 0.02,
            timeout: 0.002,
            sent: 260,
            received: 720,
            ..ep("login", "POST", 160.0)
        },
        EndpointSpec {
            error: 0.03,
            ..ep("me", "GET", 45.0)
        },
    ];
    let mut auth_thresholds = plan_thresholds();
    // The scenario replaces the plan's http_req_duration conditions.
    auth_thresholds[1] = th("http_req_duration", "p(99)<2000", 40);
    auth_thresholds.push(th("login_duration", "p(95)<1500", 41));
    auth_thresholds.push(th("http_req_duration{name:logout}", "p(95)<150", 41));
    // No logout happened: a trend without samples is judged as 0, a rate is skipped (as k6).
    auth_thresholds.push(th("http_req_failed{name:logout}", "rate<0.01", 42));
    let agents_flow = vec![
        EndpointSpec {
            group: "agents",
            received: 4200,
            ..ep("list_agents", "GET", 38.0)
        },
        EndpointSpec {
            group: "agents",
            method: "POST",
            sent: 540,
            received: 380,
            error: 0.004,
            ..ep("create_agent", "POST", 75.0)
        },
    ];
    let mut agents_thresholds = plan_thresholds();
    agents_thresholds.push(th("dropped_iterations", "count<10", 52));
    agents_thresholds.push(th("agents_total", "max<100000", 53));
    assemble(
        RunSpec {
            plan_name: "kaizen-studio",
            environment: "staging",
            base_url: "https://staging.kaizen-studio.example.com",
            started_at: "2026-03-02T11:00:00Z",
            ended_at: "2026-03-02T11:06:00Z",
            stem: "auth+agents_staging_20260302T110000Z",
            git_sha: Some("9b1e4c7a2d5f8e3b6a9c0d1e2f3a4b5c6d7e8f90"),
            ci_run_url: Some("https://github.com/kaizen/studio/actions/runs/1234567890"),
            interrupted: false,
            aborted_by: None,
            cpu_percent: 23.5,
            seed: 0,
        },
        vec![
            ScenarioSpec {
                name: "auth",
                executor: "ramping-vus",
                started_after_s: 0.0,
                planned_s: 240.0,
                ran_s: 240.0,
                status: ScenarioStatus::Completed,
                // 1m to 10, 2m to 50, 1m to 0.
                vus: Box::new(|t| {
                    let v = if t < 60.0 {
                        t / 60.0 * 10.0
                    } else if t < 180.0 {
                        10.0 + (t - 60.0) / 120.0 * 40.0
                    } else {
                        50.0 - (t - 180.0) / 60.0 * 50.0
                    };
                    v.round() as u64
                }),
                arrival_rate: None,
                load_factor: 0.08,
                error_per_vu: 0.0013,
                drift_per_s: 0.0,
                drift: None,
                flow: auth_flow,
                thresholds: auth_thresholds,
                custom_trend: Some(("login_duration", "login")),
                custom_gauge: None,
                iterations_interrupted: 3,
                dropped: 0,
            },
            ScenarioSpec {
                name: "agents",
                executor: "constant-arrival-rate",
                started_after_s: 240.0,
                planned_s: 120.0,
                ran_s: 120.0,
                status: ScenarioStatus::Completed,
                vus: Box::new(|t| if t < 2.0 { 4 } else { 7 }),
                arrival_rate: Some(10.0),
                load_factor: 0.02,
                error_per_vu: 0.0,
                drift_per_s: 0.0,
                drift: None,
                flow: agents_flow,
                thresholds: agents_thresholds,
                custom_trend: None,
                custom_gauge: Some(("agents_total", "list_agents")),
                iterations_interrupted: 0,
                dropped: 4,
            },
        ],
    )
}

fn interrupted() -> Summary {
    assemble(
        RunSpec {
            plan_name: "kaizen-studio",
            environment: "local",
            base_url: "http://127.0.0.1:8000",
            started_at: "2026-03-02T12:00:00Z",
            ended_at: "2026-03-02T12:00:12.300Z",
            stem: "smoke_local_20260302T120000Z",
            git_sha: None,
            ci_run_url: None,
            interrupted: true,
            aborted_by: None,
            cpu_percent: 11.0,
            seed: 0,
        },
        vec![ScenarioSpec {
            name: "smoke",
            executor: "constant-vus",
            started_after_s: 0.0,
            planned_s: 30.0,
            ran_s: 12.3,
            status: ScenarioStatus::Interrupted,
            vus: Box::new(|_| 5),
            arrival_rate: None,
            load_factor: 0.01,
            error_per_vu: 0.0,
            drift_per_s: 0.0,
            drift: None,
            flow: smoke_flow(),
            thresholds: plan_thresholds(),
            custom_trend: None,
            custom_gauge: None,
            iterations_interrupted: 5,
            dropped: 0,
        }],
    )
}

fn aborted() -> Summary {
    let mut thresholds = plan_thresholds();
    thresholds[2] = ThresholdSpec {
        abort_on_fail: true,
        ..th("http_req_failed", "rate<0.05", 62)
    };
    assemble(
        RunSpec {
            plan_name: "kaizen-studio",
            environment: "staging",
            base_url: "https://staging.kaizen-studio.example.com",
            started_at: "2026-03-02T13:00:00Z",
            ended_at: "2026-03-02T13:01:35.500Z",
            stem: "stress_staging_20260302T130000Z",
            git_sha: Some("9b1e4c7a2d5f8e3b6a9c0d1e2f3a4b5c6d7e8f90"),
            ci_run_url: None,
            interrupted: false,
            aborted_by: Some("http_req_failed rate<0.05"),
            cpu_percent: 61.0,
            seed: 0,
        },
        vec![ScenarioSpec {
            name: "stress",
            executor: "ramping-vus",
            started_after_s: 0.0,
            planned_s: 300.0,
            ran_s: 95.5,
            status: ScenarioStatus::Aborted,
            vus: Box::new(|t| (t / 120.0 * 200.0).round() as u64),
            arrival_rate: None,
            load_factor: 0.03,
            error_per_vu: 0.0008,
            drift_per_s: 0.0,
            drift: None,
            flow: smoke_flow(),
            thresholds,
            custom_trend: None,
            custom_gauge: None,
            iterations_interrupted: 160,
            dropped: 0,
        }],
    )
}

fn soak(drift_per_s: f64) -> ScenarioSpec {
    ScenarioSpec {
        name: "soak",
        executor: "constant-vus",
        started_after_s: 0.0,
        planned_s: 600.0,
        ran_s: 600.0,
        status: ScenarioStatus::Completed,
        vus: Box::new(|_| 10),
        arrival_rate: None,
        load_factor: 0.02,
        error_per_vu: 0.0,
        drift_per_s,
        drift: Some((
            60.0,
            vec![
                ("http_req_duration", MetricType::Trend, "p(95) +25%"),
                ("http_req_failed", MetricType::Rate, "rate +1%"),
            ],
        )),
        flow: smoke_flow(),
        thresholds: plan_thresholds(),
        custom_trend: None,
        custom_gauge: None,
        iterations_interrupted: 0,
        dropped: 0,
    }
}

/// A soak run that passes its thresholds but slows down over time (drift) and against last
/// week's run (regression), on a load generator that ran out of CPU (inconclusive).
fn regressed() -> Summary {
    let run = |seed, drift_per_s, cpu_percent| {
        assemble(
            RunSpec {
                plan_name: "kaizen-studio",
                environment: "staging",
                base_url: "https://staging.kaizen-studio.example.com",
                started_at: "2026-03-02T14:00:00Z",
                ended_at: "2026-03-02T14:10:00Z",
                stem: "soak_staging_20260302T140000Z",
                git_sha: Some("9b1e4c7a2d5f8e3b6a9c0d1e2f3a4b5c6d7e8f90"),
                ci_run_url: None,
                interrupted: false,
                aborted_by: None,
                cpu_percent,
                seed,
            },
            vec![soak(drift_per_s)],
        )
    };
    let mut current = run(0, 0.001, 94.0);
    let mut baseline = run(42, 0.0, 30.0);
    baseline.run.started_at = "2026-02-23T14:00:00Z".into();
    let rules = [
        parse_rule("http_req_duration", MetricType::Trend, "p(95) +10%").unwrap(),
        parse_rule("http_req_failed", MetricType::Rate, "rate +50%").unwrap(),
        parse_rule(
            "http_req_duration{name:list_agents}",
            MetricType::Trend,
            "p(99) x2",
        )
        .unwrap(),
    ];
    let c = compare::compare(
        &current,
        &baseline,
        "soak_staging_20260223T140000Z_summary.json",
        &rules,
    )
    .unwrap();
    current.baseline = Some(c);
    let rules = rules_of(&[soak(0.001)], rules.to_vec());
    crate::verdict::judge(&current, &rules).apply(current)
}

#[test]
fn fixtures_are_up_to_date() {
    use super::Reporter as _;
    let bless = std::env::var_os("KAIZEN_BLESS").is_some();
    for name in NAMES {
        let want = super::json::Json.render(&build(name)).unwrap();
        let p = path(name);
        if bless {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &want).unwrap();
            continue;
        }
        let have = std::fs::read(&p).unwrap_or_default();
        assert!(
            have == want,
            "{} is out of date: run KAIZEN_BLESS=1 cargo test --lib fixtures_are_up_to_date",
            p.display()
        );
    }
}

#[test]
fn fixtures_cover_what_the_reports_must_show() {
    let failed = build("failed");
    assert!(!failed.verdict.passed);
    assert_eq!(failed.scenarios.len(), 2);
    assert!(failed.verdict.thresholds_failed >= 1);
    assert_eq!(failed.verdict.thresholds_no_data, 1);
    assert!(failed.scenarios[0].checks.iter().any(|c| c.fails > 0));
    assert!(failed.scenarios[0].timeseries.points.len() > 60);
    let passed = build("passed");
    assert!(passed.verdict.passed, "{:?}", passed.verdict);
    assert_eq!(
        build("interrupted").scenarios[0].status,
        ScenarioStatus::Interrupted
    );
    let aborted = build("aborted");
    assert_eq!(aborted.scenarios[0].status, ScenarioStatus::Aborted);
    assert!(!aborted.verdict.passed);
    assert!(aborted.scenarios[0]
        .capacity
        .as_ref()
        .unwrap()
        .broken_by
        .is_some());
    let regressed = build("regressed");
    assert_eq!(regressed.verdict.thresholds_failed, 0);
    assert_eq!(
        regressed.verdict.regressions_failed, 1,
        "{:?}",
        regressed.verdict
    );
    assert_eq!(regressed.verdict.drift_failed, 1, "{:?}", regressed.verdict);
    assert!(regressed.verdict.inconclusive);
    assert_eq!(regressed.health.status, HealthStatus::Inconclusive);
}
