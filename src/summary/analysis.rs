//! Answers to the questions a test was for, beyond pass/fail:
//!
//! - **Soak drift**: the first window against the last (exact, from the collector's window
//!   histograms), trend lines over the time series, and the plan's `drift:` limits.
//! - **Stress capacity**: for ramping scenarios, the highest load held before the SLO (the
//!   scenario's p95 and error-rate thresholds) first broke, or before throughput stopped growing
//!   with load (the knee), with the interval that shows it.
//! - **Generator health**: a run whose own process was saturated (CPU, start lag, dropped
//!   iterations, a large coordinated-omission correction) is marked inconclusive.

use crate::engine::metrics::collector::Windows;
use crate::engine::metrics::recorder::IntervalStats;
use crate::rules::regression::RegressionRule;
use crate::rules::threshold::{self, Aggregation, Operator};
use crate::summary::schema::{
    BreakPoint, Capacity, Drift, Health, HealthStatus, Point, ScenarioSummary, Slopes,
    WindowFigures,
};

fn window_figures(iv: &IntervalStats, span_s: f64) -> WindowFigures {
    let pct = |q: f64| {
        iv.duration
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
    };
    WindowFigures {
        span_s,
        requests: iv.requests,
        rps: iv.requests as f64 / span_s.max(1e-3),
        error_rate: (iv.requests > 0).then(|| iv.failed as f64 / iv.requests as f64),
        p50: pct(0.50),
        p95: pct(0.95),
        p99: pct(0.99),
    }
}

/// Least-squares slope of `y` over `t` (seconds), per hour.
fn slope_per_hour(pts: &[(f64, f64)]) -> Option<f64> {
    if pts.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let mt = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let var: f64 = pts.iter().map(|p| (p.0 - mt).powi(2)).sum();
    if var <= 0.0 {
        return None;
    }
    let cov: f64 = pts.iter().map(|p| (p.0 - mt) * (p.1 - my)).sum();
    Some(cov / var * 3600.0)
}

/// The figure a drift rule compares. A count is counted per window length: the last window may
/// cover a little more than the window (whole intervals), the first a little less.
fn window_value(w: &WindowFigures, window_s: f64, r: &RegressionRule) -> Option<f64> {
    match (r.key.metric.as_str(), r.aggregation) {
        ("http_req_duration", Aggregation::Percentile(p)) if (p - 50.0).abs() < 1e-9 => w.p50,
        ("http_req_duration", Aggregation::Med) => w.p50,
        ("http_req_duration", Aggregation::Percentile(p)) if (p - 95.0).abs() < 1e-9 => w.p95,
        ("http_req_duration", Aggregation::Percentile(p)) if (p - 99.0).abs() < 1e-9 => w.p99,
        ("http_req_failed", Aggregation::Rate) => w.error_rate,
        ("http_reqs", Aggregation::Rate) => Some(w.rps),
        ("http_reqs", Aggregation::Count) => Some(w.rps * window_s),
        _ => None,
    }
}

/// The least steady time over which per-hour trend lines mean something: below it a slope
/// extrapolates seconds of noise to an hour (a 10-second run once showed throughput falling by
/// 1,560 req/s per hour).
pub const SLOPE_MIN_S: f64 = 600.0;

/// Drift of one scenario, when the collector kept its windows. The windows are compared, and
/// `rules` judged, only when the steady part holds two of them; otherwise the rules are
/// `no_data`. The trend lines, like the windows, cover the intervals that
/// ended by the time the scenario stopped starting iterations (not the graceful stop), each
/// counted over the time it covered, and are drawn only over [`SLOPE_MIN_S`] of it.
pub fn drift(s: &ScenarioSummary, windows: &Windows, rules: &[RegressionRule]) -> Drift {
    let first = window_figures(&windows.first, windows.first_span_s.max(1e-3));
    let last = window_figures(&windows.last, windows.last_span_s);
    let window_s = windows.window.as_secs_f64();
    let judged = crate::engine::drift_judgeable(
        std::time::Duration::from_secs_f64(windows.steady_s.max(0.0)),
        windows.window,
    );
    let slopes = if windows.steady_s + 0.005 >= SLOPE_MIN_S {
        slopes(s, windows)
    } else {
        Slopes::default()
    };
    let results = rules
        .iter()
        .map(|r| match judged {
            true => r.observed(
                &s.name,
                window_value(&first, window_s, r),
                window_value(&last, window_s, r),
            ),
            false => r.observed(&s.name, None, None),
        })
        .collect();
    Drift {
        window_s,
        steady_s: windows.steady_s,
        judged,
        first,
        last,
        slopes,
        rules: results,
    }
}

/// Trend lines per hour of the interval p95, error rate and req/s over the steady part.
fn slopes(s: &ScenarioSummary, windows: &Windows) -> Slopes {
    let series = &s.timeseries;
    let iv = series.interval_s.max(1e-3);
    let steady = &series.points[..windows.steady_points.min(series.points.len())];
    let with_reqs: Vec<&Point> = steady.iter().filter(|p| p.requests > 0).collect();
    // Rates of the intervals that cover at least half their length: a few milliseconds at a
    // scenario's edge would weigh as much as a whole interval.
    let rates: Vec<(f64, f64)> = steady
        .iter()
        .enumerate()
        .map(|(i, p)| (p, series.covered_s(i, s.duration_s)))
        .filter(|(_, w)| *w >= iv / 2.0)
        .map(|(p, w)| (p.t, p.requests as f64 / w))
        .collect();
    Slopes {
        p95_ms_per_h: slope_per_hour(
            &with_reqs
                .iter()
                .filter_map(|p| p.p95.map(|v| (p.t, v)))
                .collect::<Vec<_>>(),
        ),
        error_rate_per_h: slope_per_hour(
            &with_reqs
                .iter()
                .map(|p| (p.t, p.failed as f64 / p.requests as f64))
                .collect::<Vec<_>>(),
        ),
        rps_per_h: slope_per_hour(&rates),
    }
}

/// The SLO a capacity search looks for: the scenario's own p95 and error-rate thresholds.
fn slo_limits(s: &ScenarioSummary) -> (Option<f64>, Option<f64>) {
    let mut p95 = None;
    let mut err = None;
    for t in &s.thresholds {
        let Ok(c) = threshold::parse_condition(&t.expression) else {
            continue;
        };
        if !matches!(c.operator, Operator::Lt | Operator::Le) {
            continue;
        }
        match (t.metric.as_str(), c.aggregation) {
            ("http_req_duration", Aggregation::Percentile(p)) if (p - 95.0).abs() < 1e-9 => {
                p95 = Some(p95.map_or(c.limit, |v: f64| v.min(c.limit)))
            }
            ("http_req_failed", Aggregation::Rate) => {
                err = Some(err.map_or(c.limit, |v: f64| v.min(c.limit)))
            }
            _ => {}
        }
    }
    (p95, err)
}

/// Finds the breaking point of a ramping scenario. `load_at(t)` gives the load level the
/// schedule asked for at `t` seconds (VUs or iterations per second).
pub fn capacity(s: &ScenarioSummary, unit: &str, load_at: &dyn Fn(f64) -> f64) -> Option<Capacity> {
    let iv = s.timeseries.interval_s.max(1e-3);
    // (t, load, rps, p95, error rate) per interval.
    type Row = (f64, f64, f64, Option<f64>, Option<f64>);
    let pts: Vec<Row> = s
        .timeseries
        .points
        .iter()
        .map(|p| {
            let err = (p.requests > 0).then(|| p.failed as f64 / p.requests as f64);
            (
                p.t,
                load_at(p.t + iv / 2.0),
                p.requests as f64 / iv,
                p.p95,
                err,
            )
        })
        .collect();
    if pts.len() < 3 {
        return None;
    }
    let (p95_limit, err_limit) = slo_limits(s);
    let breaks = |i: usize| -> Option<String> {
        let (_, _, _, p95, err) = pts[i];
        if let (Some(l), Some(v)) = (p95_limit, p95) {
            if v > l {
                return Some(format!("p95 crossed {l} ms"));
            }
        }
        if let (Some(l), Some(v)) = (err_limit, err) {
            if v > l {
                return Some(format!("error rate crossed {:.2}%", l * 100.0));
            }
        }
        None
    };
    // A break must hold for two intervals in a row (one noisy second is not a breaking point).
    let mut broke: Option<(usize, String)> = None;
    for i in 0..pts.len() {
        if let Some(why) = breaks(i) {
            if i + 1 == pts.len() || breaks(i + 1).is_some() {
                broke = Some((i, why));
                break;
            }
        }
    }
    // The knee: load kept rising by ≥ 20% over three intervals while throughput stayed within
    // 5% of its best.
    if broke.is_none() {
        let mut best = (0usize, 0.0f64);
        for i in 0..pts.len() {
            if pts[i].2 > best.1 * 1.05 {
                best = (i, pts[i].2);
                continue;
            }
            let (bi, _) = best;
            if i >= bi + 3
                && pts[i].1 >= pts[bi].1 * 1.2
                && (bi + 1..=i).all(|k| pts[k].2 <= best.1 * 1.05)
            {
                broke = Some((bi + 1, "throughput stopped growing".to_string()));
                break;
            }
        }
    }
    let upto = broke.as_ref().map_or(pts.len(), |(i, _)| *i);
    let held_load = pts[..upto].iter().map(|p| p.1).fold(0.0, f64::max);
    let held_rps = pts[..upto].iter().map(|p| p.2).fold(0.0, f64::max);
    let at = broke.as_ref().map(|(i, _)| {
        let p = pts[*i];
        BreakPoint {
            t_s: p.0,
            load: p.1,
            rps: p.2,
            p95_ms: p.3,
            error_rate: p.4,
        }
    });
    let text = match (&broke, &at) {
        (Some((_, why)), Some(b)) => format!(
            "capacity ≈ {held_load:.0} {unit} / {held_rps:.0} req/s; {why} at {:.0} {unit} (t = {:.0} s)",
            b.load, b.t_s
        ),
        _ => format!(
            "no breaking point: held up to {held_load:.0} {unit} / {held_rps:.0} req/s within the SLO"
        ),
    };
    Some(Capacity {
        unit: unit.to_string(),
        held_load,
        held_rps,
        broken_by: broke.map(|b| b.1),
        at,
        text,
    })
}

/// Judges whether the generator kept up.
/// The health reason of a scenario in which most requests could not connect.
pub const UNCONNECTED: &str = "most requests could not connect";

pub fn health(cpu_percent: Option<f64>, scenarios: &[ScenarioSummary]) -> Health {
    let mut reasons = Vec::new();
    if let Some(c) = cpu_percent {
        if c >= 90.0 {
            reasons.push(format!(
                "the load generator used {c:.0}% of the machine's CPU"
            ));
        }
    }
    for s in scenarios {
        let unconnected: u64 = s
            .endpoints
            .iter()
            .filter_map(|e| e.errors.get("connect"))
            .sum();
        if s.requests > 0 && unconnected * 2 > s.requests {
            reasons.push(format!(
                "{}: {UNCONNECTED} ({unconnected} of {}): its VUs backed off between attempts, \
                 so its request rate and latencies say nothing about the target's capacity",
                s.name, s.requests
            ));
        }
        if s.dropped_iterations > 0 {
            reasons.push(format!(
                "{}: {} iterations dropped (no free VU: raise max_vus)",
                s.name, s.dropped_iterations
            ));
        }
        if let Some(o) = &s.open_model {
            if o.start_lag_p99_ms > 50.0 {
                reasons.push(format!(
                    "{}: iterations started late (p99 {:.1} ms behind schedule)",
                    s.name, o.start_lag_p99_ms
                ));
            }
            if let Some(p99) = s
                .metrics
                .get("http_req_duration")
                .and_then(|m| m.values.get("p(99)"))
            {
                if o.raw_p99_ms > 0.0 && *p99 > o.raw_p99_ms * 1.5 && *p99 - o.raw_p99_ms > 10.0 {
                    reasons.push(format!(
                        "{}: the coordinated-omission correction is large (p99 {:.1} ms corrected vs {:.1} ms raw)",
                        s.name, p99, o.raw_p99_ms
                    ));
                }
            }
        }
    }
    Health {
        status: if reasons.is_empty() {
            HealthStatus::Ok
        } else {
            HealthStatus::Inconclusive
        },
        reasons,
        cpu_percent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::schema::{ScenarioStatus, ThresholdResult, ThresholdStatus, TimeSeries};
    use std::collections::BTreeMap;

    fn scenario(points: Vec<Point>, thresholds: Vec<(&str, &str, f64)>) -> ScenarioSummary {
        ScenarioSummary {
            name: "stress".into(),
            executor: "ramping-vus".into(),
            started_after_s: 0.0,
            duration_s: points.len() as f64,
            planned_duration_s: points.len() as f64,
            vus_max: 0,
            status: ScenarioStatus::Completed,
            requests: 0,
            requests_failed: 0,
            requests_interrupted: 0,
            requests_invalid: 0,
            rps: 0.0,
            iterations: 0,
            iterations_interrupted: 0,
            dropped_iterations: 0,
            data_sent: 0,
            data_received: 0,
            metrics: BTreeMap::new(),
            endpoints: vec![],
            checks: vec![],
            thresholds: thresholds
                .into_iter()
                .map(|(m, e, l)| ThresholdResult {
                    metric: m.into(),
                    expression: e.into(),
                    observed: None,
                    limit: l,
                    unit: String::new(),
                    status: ThresholdStatus::Pass,
                    abort_on_fail: false,
                    line: 0,
                })
                .collect(),
            timeseries: TimeSeries {
                interval_s: 1.0,
                points,
            },
            open_model: None,
            drift: None,
            capacity: None,
        }
    }

    fn pt(t: f64, requests: u64, failed: u64, p95: f64) -> Point {
        Point {
            t,
            requests,
            failed,
            iterations: requests,
            vus: t as u64,
            p50: Some(p95 / 2.0),
            p95: Some(p95),
            p99: Some(p95),
        }
    }

    #[test]
    fn capacity_finds_where_p95_crosses_the_threshold() {
        // Load = t VUs; p95 stays at 50 ms up to 30 VUs, then climbs past 1000 ms.
        let points: Vec<Point> = (0..60)
            .map(|t| {
                let p95 = if t < 30 {
                    50.0
                } else {
                    50.0 + (t - 30) as f64 * 100.0
                };
                pt(t as f64, 10 * t.min(30) as u64, 0, p95)
            })
            .collect();
        let s = scenario(points, vec![("http_req_duration", "p(95)<1000", 1000.0)]);
        let c = capacity(&s, "VUs", &|t| t.floor()).unwrap();
        assert_eq!(c.broken_by.as_deref(), Some("p95 crossed 1000 ms"));
        let at = c.at.unwrap();
        assert_eq!(at.t_s, 40.0);
        assert_eq!(c.held_load, 39.0);
        assert!(c.text.starts_with("capacity ≈ 39 VUs"), "{}", c.text);
    }

    #[test]
    fn capacity_finds_the_knee_without_thresholds() {
        // Throughput grows with load up to 20, then stays flat while load keeps rising.
        let points: Vec<Point> = (0..40)
            .map(|t| pt(t as f64, 10 * t.min(20) as u64, 0, 5.0))
            .collect();
        let s = scenario(points, vec![]);
        let c = capacity(&s, "VUs", &|t| t.floor()).unwrap();
        assert_eq!(c.broken_by.as_deref(), Some("throughput stopped growing"));
        assert!((c.held_rps - 200.0).abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn no_break_is_said_plainly() {
        let points: Vec<Point> = (0..10)
            .map(|t| pt(t as f64, 10 * t as u64 + 10, 0, 5.0))
            .collect();
        let s = scenario(points, vec![("http_req_duration", "p(95)<1000", 1000.0)]);
        let c = capacity(&s, "VUs", &|t| t.floor()).unwrap();
        assert!(c.broken_by.is_none());
        assert!(c.text.starts_with("no breaking point"), "{}", c.text);
    }

    #[test]
    fn slopes_are_per_hour() {
        let pts: Vec<(f64, f64)> = (0..10)
            .map(|i| (i as f64 * 60.0, 100.0 + i as f64))
            .collect();
        // +1 per minute is +60 per hour.
        assert!((slope_per_hour(&pts).unwrap() - 60.0).abs() < 1e-9);
    }

    #[test]
    fn drift_trends_leave_out_the_graceful_stop() {
        // Ten steady seconds, then 0.2 s of VUs finishing their last iterations.
        let mut points: Vec<Point> = (0..10).map(|t| pt(t as f64, 100, 0, 5.0)).collect();
        points.push(pt(10.0, 5, 0, 9.0));
        let mut s = scenario(points, vec![]);
        (s.planned_duration_s, s.duration_s) = (10.0, 10.2);
        let one = |n| crate::engine::metrics::recorder::IntervalStats {
            requests: n,
            ..Default::default()
        };
        let windows = Windows {
            window: std::time::Duration::from_secs(1),
            first: one(100),
            first_span_s: 1.0,
            last: one(100),
            last_span_s: 1.0,
            steady_points: 10,
            steady_s: 10.0,
        };
        let sl = slopes(&s, &windows);
        assert_eq!(sl.rps_per_h, Some(0.0));
        assert_eq!(sl.p95_ms_per_h, Some(0.0));
        let d = drift(&s, &windows, &[]);
        assert_eq!((d.first.rps, d.last.rps), (100.0, 100.0));
        // Stopped 5.5 s in: the last interval is counted over the half second it covered.
        let mut points: Vec<Point> = (0..5).map(|t| pt(t as f64, 100, 0, 5.0)).collect();
        points.push(pt(5.0, 50, 0, 5.0));
        let mut s = scenario(points, vec![]);
        (s.planned_duration_s, s.duration_s) = (10.0, 5.5);
        assert_eq!(slopes(&s, &windows).rps_per_h, Some(0.0));
        // Started 0.2 s into an interval: the first point covers 0.8 s.
        let mut points = vec![pt(0.0, 80, 0, 5.0)];
        points.extend((0..9).map(|t| pt(t as f64 + 0.8, 100, 0, 5.0)));
        let s = scenario(points, vec![]);
        let flat = |sl: Slopes| sl.rps_per_h.is_some_and(|v| v.abs() < 1e-6);
        assert!(flat(slopes(&s, &windows)));
        // Started 1 ms before an interval's end: a 1-ms first point is no rate to fit.
        let mut points = vec![pt(0.0, 3, 0, 5.0)];
        points.extend((0..9).map(|t| pt(t as f64 + 0.001, 100, 0, 5.0)));
        let s = scenario(points, vec![]);
        assert!(flat(slopes(&s, &windows)));
    }

    /// Drift means something only when the steady part holds two windows (they do not
    /// overlap: a window longer than the run was compared with itself), and trend lines only
    /// over 10 minutes of it (a 10-second demo showed throughput falling 1,560 req/s per hour).
    #[test]
    fn drift_is_judged_over_two_windows_and_trends_drawn_over_ten_minutes() {
        let rule = crate::rules::regression::parse_rule(
            "http_req_failed",
            crate::summary::schema::MetricType::Rate,
            "rate +1%",
        )
        .unwrap();
        let points: Vec<Point> = (0..20)
            .map(|t| pt(t as f64, 100, 0, 5.0 + t as f64))
            .collect();
        let s = scenario(points, vec![]);
        let one = |n| crate::engine::metrics::recorder::IntervalStats {
            requests: n,
            ..Default::default()
        };
        let windows = |window_s: u64, steady_s: f64| Windows {
            window: std::time::Duration::from_secs(window_s),
            first: one(100),
            first_span_s: 1.0,
            last: one(100),
            last_span_s: 1.0,
            steady_points: 20,
            steady_s,
        };
        let rules = std::slice::from_ref(&rule);
        // 20 s steady, 10-s windows: judged, no trend line.
        let d = drift(&s, &windows(10, 20.0), rules);
        assert!(d.judged);
        assert_eq!(d.slopes, Slopes::default());
        // Observed on both windows (the verdict decides it).
        assert_eq!(
            (d.rules[0].baseline, d.rules[0].current),
            (Some(0.0), Some(0.0))
        );
        // 15 s steady, 10-s windows: they would overlap; the limit is not judged.
        let d = drift(&s, &windows(10, 15.0), rules);
        assert!(!d.judged);
        assert_eq!((d.rules[0].baseline, d.rules[0].current), (None, None));
        // 10 minutes steady: the trend lines are drawn.
        let d = drift(&s, &windows(60, 600.0), rules);
        assert!(d.judged && d.slopes.p95_ms_per_h.is_some());
    }
}
