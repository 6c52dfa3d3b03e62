//! `Dataset`: the run's measurements with names for tags, decoded and ready to aggregate. It is
//! built from the collector's recorder (end of a run, and every 2 s for abort-on-fail) or from a
//! summary's raw data (`merge`, `report`), so thresholds and every figure of the summary are
//! computed by one piece of code whichever way the data came.

use std::collections::BTreeMap;

use super::schema::{
    absorb_gauge, ErrorClass, RawCheck, RawCustom, RawData, RawGauge, RawGroup, RawInterrupted,
    RawReason, RawScenario, RawSeries,
};
use crate::engine::metrics::recorder::{Recorder, TRENDS};
use crate::plan::duration::format_duration;
use crate::plan::model::Plan;
use crate::rules::threshold::{Aggregation, MetricKey};
use crate::summary::hist::{decode_hist, encode_hist, new_hist, Hist, HistDecodeError};
use crate::summary::schema::MetricType;

#[derive(Debug, Clone)]
pub struct DSeries {
    pub scenario: String,
    pub name: String,
    pub method: String,
    pub group: String,
    pub status: u16,
    pub error: ErrorClass,
    pub failed: bool,
    pub count: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Indexed like `recorder::TRENDS`.
    pub hists: Vec<Option<Hist>>,
}

#[derive(Debug, Clone)]
pub struct DScenario {
    pub name: String,
    pub duration_s: f64,
    pub iterations: u64,
    pub interrupted: u64,
    pub dropped: u64,
    pub vus_max: u64,
    pub iteration_duration: Option<Hist>,
    pub start_lag: Option<Hist>,
    pub raw_duration: Option<Hist>,
}

#[derive(Debug, Clone)]
pub struct DCustom {
    pub scenario: String,
    pub metric: String,
    pub kind: MetricType,
    pub name: String,
    pub count: u64,
    pub trues: u64,
    pub hist: Option<Hist>,
    pub gauge: Option<RawGauge>,
}

/// `group_duration` of one group in one scenario.
#[derive(Debug, Clone)]
pub struct DGroup {
    pub scenario: String,
    /// `outer::inner`.
    pub group: String,
    pub hist: Hist,
}

#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub series: Vec<DSeries>,
    pub scenarios: Vec<DScenario>,
    pub checks: Vec<RawCheck>,
    pub custom: Vec<DCustom>,
    /// Requests cut off in flight (not in `series`).
    pub interrupted: Vec<RawInterrupted>,
    pub groups: Vec<DGroup>,
    /// Requests that could not be built and were not sent (`invalid_request`; not in `series`,
    /// `bytes_sent` 0).
    pub invalid: Vec<RawInterrupted>,
    /// Why requests failed (but for `status` and `interrupted`, whose reasons are in `series`
    /// and `interrupted`).
    pub reasons: Vec<RawReason>,
}

/// Names the engine's indices stand for.
pub struct Names<'a> {
    pub plan: &'a Plan,
    pub groups: &'a [String],
    pub checks: &'a [(String, usize)],
    /// Per scenario index: how long it ran (s); scenarios absent here are left out.
    pub durations: &'a [(usize, f64)],
}

impl Dataset {
    pub fn from_recorder(r: &Recorder, n: &Names<'_>) -> Dataset {
        let plan = n.plan;
        let ran = |i: usize| n.durations.iter().any(|(s, _)| *s == i);
        let mut ds = Dataset::default();
        for (k, v) in &r.series {
            if !ran(k.scenario as usize) {
                continue;
            }
            let req = &plan.requests[k.request as usize];
            ds.series.push(DSeries {
                scenario: plan.scenario_name(k.scenario as usize).to_string(),
                name: req.name.clone(),
                method: req.method.clone(),
                group: n.groups.get(k.group as usize).cloned().unwrap_or_default(),
                status: k.status,
                error: k.error,
                failed: k.failed,
                count: v.count,
                bytes_sent: v.bytes_sent,
                bytes_received: v.bytes_received,
                hists: v.hists.iter().map(|h| h.as_deref().cloned()).collect(),
            });
        }
        ds.series.sort_by(|a, b| {
            (&a.scenario, &a.name, &a.group, a.status, a.error, a.failed).cmp(&(
                &b.scenario,
                &b.name,
                &b.group,
                b.status,
                b.error,
                b.failed,
            ))
        });
        for &(i, dur) in n.durations {
            let st = r.scenarios.get(i).cloned().unwrap_or_default();
            ds.scenarios.push(DScenario {
                name: plan.scenario_name(i).to_string(),
                duration_s: dur,
                iterations: st.iterations,
                interrupted: st.interrupted,
                dropped: st.dropped,
                vus_max: st.vus_max,
                iteration_duration: st.iteration_duration.as_deref().cloned(),
                start_lag: st.start_lag.as_deref().cloned(),
                raw_duration: st.raw_duration.as_deref().cloned(),
            });
        }
        let mut checks: Vec<_> = r
            .checks
            .iter()
            .filter(|(k, _)| ran(k.scenario as usize))
            .collect();
        checks.sort_by_key(|(k, _)| **k);
        for (k, v) in checks {
            let (name, req) = &n.checks[k.check as usize];
            ds.checks.push(RawCheck {
                scenario: plan.scenario_name(k.scenario as usize).to_string(),
                name: name.clone(),
                request: plan.requests[*req].name.clone(),
                group: n.groups.get(k.group as usize).cloned().unwrap_or_default(),
                passes: v.passes,
                fails: v.fails,
            });
        }
        let mut groups: Vec<_> = r
            .groups
            .iter()
            .filter(|(k, h)| ran(k.scenario as usize) && !h.is_empty())
            .collect();
        groups.sort_by_key(|(k, _)| **k);
        for (k, h) in groups {
            ds.groups.push(DGroup {
                scenario: plan.scenario_name(k.scenario as usize).to_string(),
                group: n.groups.get(k.group as usize).cloned().unwrap_or_default(),
                hist: h.as_ref().clone(),
            });
        }
        let mut cut: Vec<_> = r
            .cut
            .iter()
            .filter(|(k, v)| ran(k.scenario as usize) && v.count > 0)
            .collect();
        cut.sort_by_key(|(k, _)| **k);
        for (k, v) in cut {
            let req = &plan.requests[k.request as usize];
            ds.interrupted.push(RawInterrupted {
                scenario: plan.scenario_name(k.scenario as usize).to_string(),
                name: req.name.clone(),
                method: req.method.clone(),
                group: n.groups.get(k.group as usize).cloned().unwrap_or_default(),
                count: v.count,
                bytes_sent: v.bytes_sent,
            });
        }
        let mut invalid: Vec<_> = r
            .invalid
            .iter()
            .filter(|(k, n)| ran(k.scenario as usize) && **n > 0)
            .collect();
        invalid.sort_by_key(|(k, _)| **k);
        for (k, count) in invalid {
            let req = &plan.requests[k.request as usize];
            ds.invalid.push(RawInterrupted {
                scenario: plan.scenario_name(k.scenario as usize).to_string(),
                name: req.name.clone(),
                method: req.method.clone(),
                group: n.groups.get(k.group as usize).cloned().unwrap_or_default(),
                count: *count,
                bytes_sent: 0,
            });
        }
        ds.reasons = reasons_of(r, n);
        let mut custom: Vec<_> = r
            .custom
            .iter()
            .filter(|(k, _)| ran(k.scenario as usize))
            .collect();
        custom.sort_by_key(|(k, _)| **k);
        for (k, v) in custom {
            let m = &plan.metrics[k.metric as usize];
            ds.custom.push(DCustom {
                scenario: plan.scenario_name(k.scenario as usize).to_string(),
                metric: m.name.clone(),
                kind: m.kind,
                name: plan.requests[k.request as usize].name.clone(),
                count: v.count,
                trues: v.trues,
                hist: v.hist.as_deref().cloned(),
                gauge: v.gauge,
            });
        }
        ds
    }

    pub fn from_raw(raw: &RawData) -> Result<Dataset, HistDecodeError> {
        let dec =
            |m: &BTreeMap<String, String>, k: &str| -> Result<Option<Hist>, HistDecodeError> {
                m.get(k).map(|s| decode_hist(s)).transpose()
            };
        let mut ds = Dataset::default();
        for s in &raw.series {
            let mut hists = Vec::with_capacity(TRENDS.len());
            for (_, name) in TRENDS {
                hists.push(dec(&s.hists, name)?);
            }
            ds.series.push(DSeries {
                scenario: s.scenario.clone(),
                name: s.name.clone(),
                method: s.method.clone(),
                group: s.group.clone(),
                status: s.status,
                error: s.error,
                failed: s.failed,
                count: s.count,
                bytes_sent: s.bytes_sent,
                bytes_received: s.bytes_received,
                hists,
            });
        }
        for s in &raw.scenarios {
            ds.scenarios.push(DScenario {
                name: s.name.clone(),
                duration_s: s.duration_s,
                iterations: s.iterations,
                interrupted: s.interrupted,
                dropped: s.dropped,
                vus_max: s.vus_max,
                iteration_duration: dec(&s.hists, "iteration_duration")?,
                start_lag: dec(&s.hists, "start_lag")?,
                raw_duration: dec(&s.hists, "raw_duration")?,
            });
        }
        ds.checks = raw.checks.clone();
        ds.interrupted = raw.interrupted.clone();
        for g in &raw.groups {
            ds.groups.push(DGroup {
                scenario: g.scenario.clone(),
                group: g.group.clone(),
                hist: decode_hist(&g.hist)?,
            });
        }
        ds.invalid = raw.invalid.clone();
        ds.reasons = raw.reasons.clone();
        for c in &raw.custom {
            ds.custom.push(DCustom {
                scenario: c.scenario.clone(),
                metric: c.metric.clone(),
                kind: c.kind,
                name: c.name.clone(),
                count: c.count,
                trues: c.trues,
                hist: c.hist.as_deref().map(decode_hist).transpose()?,
                gauge: c.gauge,
            });
        }
        Ok(ds)
    }

    pub fn to_raw(&self) -> RawData {
        let enc = |h: &Option<Hist>| h.as_ref().filter(|h| !h.is_empty()).map(encode_hist);
        RawData {
            series: self
                .series
                .iter()
                .map(|s| RawSeries {
                    scenario: s.scenario.clone(),
                    name: s.name.clone(),
                    method: s.method.clone(),
                    group: s.group.clone(),
                    status: s.status,
                    error: s.error,
                    failed: s.failed,
                    count: s.count,
                    bytes_sent: s.bytes_sent,
                    bytes_received: s.bytes_received,
                    hists: TRENDS
                        .iter()
                        .zip(&s.hists)
                        .filter_map(|((_, n), h)| enc(h).map(|e| (n.to_string(), e)))
                        .collect(),
                })
                .collect(),
            scenarios: self
                .scenarios
                .iter()
                .map(|s| RawScenario {
                    name: s.name.clone(),
                    duration_s: s.duration_s,
                    iterations: s.iterations,
                    interrupted: s.interrupted,
                    dropped: s.dropped,
                    vus_max: s.vus_max,
                    hists: [
                        ("iteration_duration", &s.iteration_duration),
                        ("start_lag", &s.start_lag),
                        ("raw_duration", &s.raw_duration),
                    ]
                    .into_iter()
                    .filter_map(|(n, h)| enc(h).map(|e| (n.to_string(), e)))
                    .collect(),
                })
                .collect(),
            checks: self.checks.clone(),
            custom: self
                .custom
                .iter()
                .map(|c| RawCustom {
                    scenario: c.scenario.clone(),
                    metric: c.metric.clone(),
                    kind: c.kind,
                    name: c.name.clone(),
                    count: c.count,
                    trues: c.trues,
                    hist: enc(&c.hist),
                    gauge: c.gauge,
                })
                .collect(),
            interrupted: self.interrupted.clone(),
            groups: self
                .groups
                .iter()
                .filter(|g| !g.hist.is_empty())
                .map(|g| RawGroup {
                    scenario: g.scenario.clone(),
                    group: g.group.clone(),
                    hist: encode_hist(&g.hist),
                })
                .collect(),
            invalid: self.invalid.clone(),
            reasons: self.reasons.clone(),
        }
    }

    /// Folds another dataset in, exactly: same tag sets add up, histograms merge. Scenario
    /// durations take the longest (parts of one run run side by side).
    pub fn absorb(&mut self, other: Dataset) {
        fn add(a: &mut Option<Hist>, b: Option<Hist>) {
            match (a.as_mut(), b) {
                (Some(x), Some(y)) => x.add(&y).expect("same bounds"),
                (None, Some(y)) => *a = Some(y),
                _ => {}
            }
        }
        for s in other.series {
            match self.series.iter_mut().find(|x| {
                (
                    &x.scenario,
                    &x.name,
                    &x.method,
                    &x.group,
                    x.status,
                    x.error,
                    x.failed,
                ) == (
                    &s.scenario,
                    &s.name,
                    &s.method,
                    &s.group,
                    s.status,
                    s.error,
                    s.failed,
                )
            }) {
                Some(x) => {
                    x.count += s.count;
                    x.bytes_sent += s.bytes_sent;
                    x.bytes_received += s.bytes_received;
                    for (a, b) in x.hists.iter_mut().zip(s.hists) {
                        add(a, b);
                    }
                }
                None => self.series.push(s),
            }
        }
        for s in other.scenarios {
            match self.scenarios.iter_mut().find(|x| x.name == s.name) {
                Some(x) => {
                    x.duration_s = x.duration_s.max(s.duration_s);
                    x.iterations += s.iterations;
                    x.interrupted += s.interrupted;
                    x.dropped += s.dropped;
                    x.vus_max += s.vus_max;
                    add(&mut x.iteration_duration, s.iteration_duration);
                    add(&mut x.start_lag, s.start_lag);
                    add(&mut x.raw_duration, s.raw_duration);
                }
                None => self.scenarios.push(s),
            }
        }
        absorb_unsent(&mut self.interrupted, other.interrupted);
        absorb_unsent(&mut self.invalid, other.invalid);
        for r in other.reasons {
            match self.reasons.iter_mut().find(|x| {
                (
                    &x.scenario,
                    &x.name,
                    &x.method,
                    &x.group,
                    x.class,
                    &x.reason,
                ) == (
                    &r.scenario,
                    &r.name,
                    &r.method,
                    &r.group,
                    r.class,
                    &r.reason,
                )
            }) {
                Some(x) => x.count += r.count,
                None => self.reasons.push(r),
            }
        }
        for c in other.checks {
            match self.checks.iter_mut().find(|x| {
                (&x.scenario, &x.name, &x.request, &x.group)
                    == (&c.scenario, &c.name, &c.request, &c.group)
            }) {
                Some(x) => {
                    x.passes += c.passes;
                    x.fails += c.fails;
                }
                None => self.checks.push(c),
            }
        }
        for c in other.custom {
            match self
                .custom
                .iter_mut()
                .find(|x| x.scenario == c.scenario && x.metric == c.metric && x.name == c.name)
            {
                Some(x) => {
                    x.count += c.count;
                    x.trues += c.trues;
                    add(&mut x.hist, c.hist);
                    absorb_gauge(&mut x.gauge, c.gauge.as_ref());
                }
                None => self.custom.push(c),
            }
        }
        for g in other.groups {
            match self
                .groups
                .iter_mut()
                .find(|x| x.scenario == g.scenario && x.group == g.group)
            {
                Some(x) => x.hist.add(&g.hist).expect("same bounds"),
                None => self.groups.push(g),
            }
        }
    }

    pub fn scenario(&self, name: &str) -> Option<&DScenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

/// The recorder's reasons with names for tags, a timeout's with its request's timeout (`no
/// response headers within 60s`), in the order of their keys.
fn reasons_of(r: &Recorder, n: &Names<'_>) -> Vec<RawReason> {
    let plan = n.plan;
    let mut reasons: Vec<_> = r
        .reasons
        .iter()
        .filter(|((k, _), count)| {
            **count > 0 && n.durations.iter().any(|(s, _)| *s == k.scenario as usize)
        })
        .collect();
    reasons.sort_by_key(|(k, _)| **k);
    reasons
        .into_iter()
        .map(|((k, why), count)| {
            let req = &plan.requests[k.request as usize];
            let reason = if why.class == ErrorClass::Timeout {
                let timeout = req.timeout.unwrap_or(plan.defaults.timeout);
                format!("{} {}", why.text, format_duration(timeout))
            } else {
                why.text.to_string()
            };
            RawReason {
                scenario: plan.scenarios[k.scenario as usize].name.clone(),
                name: req.name.clone(),
                method: req.method.clone(),
                group: n.groups.get(k.group as usize).cloned().unwrap_or_default(),
                class: why.class,
                reason,
                count: *count,
            }
        })
        .collect()
}

/// Adds requests that were not sent or not answered (cut off, invalid) to their like.
fn absorb_unsent(mine: &mut Vec<RawInterrupted>, theirs: Vec<RawInterrupted>) {
    for c in theirs {
        match mine.iter_mut().find(|x| {
            (&x.scenario, &x.name, &x.method, &x.group)
                == (&c.scenario, &c.name, &c.method, &c.group)
        }) {
            Some(x) => {
                x.count += c.count;
                x.bytes_sent += c.bytes_sent;
            }
            None => mine.push(c),
        }
    }
}

/// Does a request series carry every tag of a sub-metric selector? Values compare exactly, as
/// k6 compares them (`method:post` matches nothing: methods are upper case), but for groups.
pub fn series_matches(s: &DSeries, tags: &[(String, String)]) -> bool {
    tags.iter().all(|(k, v)| match k.as_str() {
        "scenario" => s.scenario == *v,
        "name" => s.name == *v,
        "method" => s.method == *v,
        "status" => s.status.to_string() == *v,
        "group" => group_matches(&s.group, v),
        "expected_response" => (!s.failed).to_string() == *v,
        "error" => s.error.as_str() == v,
        _ => false,
    })
}

/// Does a group path (`outer::inner`) match a `group:` selector, written as k6 writes the tag
/// (`::outer::inner`) or without the leading `::`?
pub fn group_matches(path: &str, selector: &str) -> bool {
    path == selector.strip_prefix("::").unwrap_or(selector)
}

/// The values a metric takes in one scenario, restricted to a sub-metric's tags.
#[derive(Debug, Clone)]
pub enum Observed {
    Trend(Hist),
    /// `samples`: how many values were added (a counter fed only zeroes has data).
    Counter {
        count: f64,
        duration_s: f64,
        samples: u64,
    },
    Rate {
        trues: u64,
        total: u64,
    },
    /// `samples`: how many values were recorded (none: no data).
    Gauge {
        value: f64,
        min: f64,
        max: f64,
        samples: u64,
    },
}

impl Observed {
    /// The aggregated value a threshold compares (trends in ms), `None` with no data.
    pub fn aggregate(&self, agg: Aggregation) -> Option<f64> {
        match (self, agg) {
            (Observed::Trend(h), _) if h.is_empty() => None,
            (Observed::Trend(h), Aggregation::Avg) => Some(h.mean() / 1000.0),
            (Observed::Trend(h), Aggregation::Min) => Some(h.min() as f64 / 1000.0),
            (Observed::Trend(h), Aggregation::Max) => Some(h.max() as f64 / 1000.0),
            (Observed::Trend(h), Aggregation::Med) => {
                Some(h.value_at_quantile(0.5) as f64 / 1000.0)
            }
            (Observed::Trend(h), Aggregation::Percentile(p)) => {
                Some(h.value_at_quantile(p / 100.0) as f64 / 1000.0)
            }
            (Observed::Counter { samples: 0, .. }, _) => None,
            (Observed::Counter { count, .. }, Aggregation::Count) => Some(*count),
            (
                Observed::Counter {
                    count, duration_s, ..
                },
                Aggregation::Rate,
            ) => Some(if *duration_s > 0.0 {
                count / duration_s
            } else {
                0.0
            }),
            (Observed::Rate { total: 0, .. }, _) => None,
            (Observed::Rate { trues, total }, Aggregation::Rate) => {
                Some(*trues as f64 / *total as f64)
            }
            (Observed::Gauge { samples: 0, .. }, _) => None,
            (Observed::Gauge { value, .. }, Aggregation::Value) => Some(*value),
            (Observed::Gauge { min, .. }, Aggregation::Min) => Some(*min),
            (Observed::Gauge { max, .. }, Aggregation::Max) => Some(*max),
            _ => None,
        }
    }
}

/// `group_duration` in one scenario, restricted to a selector's `scenario` and `group` tags.
fn group_durations(ds: &Dataset, scenario: &str, key: &MetricKey) -> Observed {
    let rows = ds.groups.iter().filter(|g| {
        g.scenario == scenario
            && key.tags.iter().all(|(k, v)| match k.as_str() {
                "scenario" => g.scenario == *v,
                "group" => group_matches(&g.group, v),
                _ => false,
            })
    });
    Observed::Trend(merged(rows.map(|g| &g.hist)))
}

/// `checks` in one scenario, restricted to a selector's tags (`name` is the request).
fn checks(ds: &Dataset, scenario: &str, key: &MetricKey) -> Observed {
    let (mut t, mut n) = (0, 0);
    for c in ds.checks.iter().filter(|c| c.scenario == scenario) {
        let ok = key.tags.iter().all(|(k, v)| match k.as_str() {
            "scenario" => c.scenario == *v,
            "name" => c.request == *v,
            "check" => c.name == *v,
            "group" => group_matches(&c.group, v),
            _ => false,
        });
        if ok {
            t += c.passes;
            n += c.passes + c.fails;
        }
    }
    Observed::Rate { trues: t, total: n }
}

fn merged<'a>(it: impl Iterator<Item = &'a Hist>) -> Hist {
    let mut out = new_hist();
    for h in it {
        out.add(h).expect("same bounds");
    }
    out
}

/// Observes `key` within scenario `scenario` of the dataset. `None` when the metric is unknown.
pub fn observe(
    ds: &Dataset,
    plan_metric_type: Option<MetricType>,
    scenario: &str,
    key: &MetricKey,
) -> Option<Observed> {
    let sc = ds.scenario(scenario);
    let duration_s = sc.map_or(0.0, |s| s.duration_s);
    let in_scope = |s: &&DSeries| s.scenario == scenario && series_matches(s, &key.tags);
    let name = key.metric.as_str();
    if let Some(i) = TRENDS.iter().position(|(_, n)| *n == name) {
        return Some(Observed::Trend(merged(
            ds.series
                .iter()
                .filter(in_scope)
                .filter_map(|s| s.hists[i].as_ref()),
        )));
    }
    let only_scenario_tags = key
        .tags
        .iter()
        .all(|(k, v)| k == "scenario" && v == scenario);
    match name {
        "http_reqs" => {
            let n: u64 = ds.series.iter().filter(in_scope).map(|s| s.count).sum();
            Some(Observed::Counter {
                count: n as f64,
                duration_s,
                samples: n,
            })
        }
        "http_req_failed" => {
            let (mut t, mut n) = (0, 0);
            for s in ds.series.iter().filter(in_scope) {
                n += s.count;
                if s.failed {
                    t += s.count;
                }
            }
            Some(Observed::Rate { trues: t, total: n })
        }
        "data_sent" | "data_received" => {
            let (mut bytes, mut samples) = (0u64, 0u64);
            for s in ds.series.iter().filter(in_scope) {
                bytes += if name == "data_sent" {
                    s.bytes_sent
                } else {
                    s.bytes_received
                };
                samples += s.count;
            }
            Some(Observed::Counter {
                count: bytes as f64,
                duration_s,
                samples,
            })
        }
        "iterations" | "dropped_iterations" if only_scenario_tags => {
            let n = sc.map_or(0, |s| {
                if name == "iterations" {
                    s.iterations
                } else {
                    s.dropped
                }
            });
            Some(Observed::Counter {
                count: n as f64,
                duration_s,
                samples: n,
            })
        }
        "iteration_duration" if only_scenario_tags => Some(Observed::Trend(
            sc.and_then(|s| s.iteration_duration.clone())
                .unwrap_or_else(new_hist),
        )),
        "vus" | "vus_max" if only_scenario_tags => {
            let v = sc.map_or(0, |s| s.vus_max) as f64;
            Some(Observed::Gauge {
                value: v,
                min: v,
                max: v,
                samples: 1,
            })
        }
        "group_duration" => Some(group_durations(ds, scenario, key)),
        "checks" => Some(checks(ds, scenario, key)),
        _ => {
            let kind = plan_metric_type
                .or_else(|| ds.custom.iter().find(|c| c.metric == name).map(|c| c.kind))?;
            Some(observe_custom(ds, kind, scenario, key, duration_s))
        }
    }
}

/// A custom metric's values in one scenario: its samples carry the `scenario` and `name` tags.
fn observe_custom(
    ds: &Dataset,
    kind: MetricType,
    scenario: &str,
    key: &MetricKey,
    duration_s: f64,
) -> Observed {
    let name = key.metric.as_str();
    let rows = ds.custom.iter().filter(|c| {
        c.scenario == scenario
            && c.metric == name
            && key.tags.iter().all(|(k, v)| match k.as_str() {
                "scenario" => c.scenario == *v,
                "name" => c.name == *v,
                _ => false,
            })
    });
    match kind {
        MetricType::Trend => Observed::Trend(merged(rows.filter_map(|c| c.hist.as_ref()))),
        MetricType::Counter => {
            let (mut count, mut samples) = (0u64, 0u64);
            for c in rows {
                count += c.count;
                samples += c.trues;
            }
            Observed::Counter {
                count: count as f64,
                duration_s,
                samples,
            }
        }
        MetricType::Rate => {
            let (mut t, mut n) = (0, 0);
            for c in rows {
                t += c.trues;
                n += c.count;
            }
            Observed::Rate { trues: t, total: n }
        }
        MetricType::Gauge => {
            let mut g: Option<RawGauge> = None;
            let mut samples = 0;
            for c in rows {
                absorb_gauge(&mut g, c.gauge.as_ref());
                samples += c.count;
            }
            let g = g.unwrap_or(RawGauge::new(0.0, 0));
            Observed::Gauge {
                value: g.value,
                min: g.min,
                max: g.max,
                samples,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(method: &str, group: &str) -> DSeries {
        DSeries {
            scenario: "smoke".into(),
            name: "login".into(),
            method: method.into(),
            group: group.into(),
            status: 200,
            error: ErrorClass::None,
            failed: false,
            count: 1,
            bytes_sent: 0,
            bytes_received: 0,
            hists: vec![None; TRENDS.len()],
        }
    }

    fn matches(s: &DSeries, tag: &str, value: &str) -> bool {
        series_matches(s, &[(tag.to_string(), value.to_string())])
    }

    /// The parts of a distributed run merge a gauge exactly, whatever their order: the value
    /// recorded last by any of them, and the extremes of all.
    #[test]
    fn gauges_of_saved_parts_merge_by_time() {
        let part = |value: f64, at_us: u64, min: f64, max: f64| Dataset {
            custom: vec![DCustom {
                scenario: "smoke".into(),
                metric: "queue_depth".into(),
                kind: MetricType::Gauge,
                name: "poll".into(),
                count: 3,
                trues: 0,
                hist: None,
                gauge: Some(RawGauge {
                    value,
                    at_us,
                    min,
                    max,
                }),
            }],
            ..Dataset::default()
        };
        let (a, b) = (part(7.0, 2_000, 1.0, 9.0), part(3.0, 1_000, -4.0, 5.0));
        let key = MetricKey::whole("queue_depth");
        for (first, second) in [(a.clone(), b.clone()), (b, a)] {
            let mut ds = first;
            ds.absorb(second);
            let back = Dataset::from_raw(&ds.to_raw()).unwrap();
            let o = observe(&back, Some(MetricType::Gauge), "smoke", &key).unwrap();
            let got = [Aggregation::Value, Aggregation::Min, Aggregation::Max]
                .map(|agg| o.aggregate(agg));
            assert_eq!(got, [Some(7.0), Some(-4.0), Some(9.0)]);
        }
        // A gauge nothing fed has no data (its thresholds are judged as k6 judges them).
        let empty = Dataset::default();
        let o = observe(&empty, Some(MetricType::Gauge), "smoke", &key).unwrap();
        assert_eq!(o.aggregate(Aggregation::Value), None);
    }

    /// As in k6: `{method:post}` selects nothing (methods are recorded in upper case), and
    /// `{group:::crud}`, the form k6 writes group tags in, selects the group `crud`; a group in
    /// a group is selected by its whole path.
    #[test]
    fn selectors_match_tags_as_k6_writes_them() {
        let s = series("POST", "crud");
        assert!(matches(&s, "method", "POST"));
        assert!(!matches(&s, "method", "post"));
        for g in ["crud", "::crud"] {
            assert!(matches(&s, "group", g), "{g}");
        }
        for g in ["", "::", "cru", "::crud::inner", "crud::", "::outer::crud"] {
            assert!(!matches(&s, "group", g), "{g}");
        }
        let nested = series("POST", "outer::crud");
        for g in ["outer::crud", "::outer::crud"] {
            assert!(matches(&nested, "group", g), "{g}");
        }
        assert!(!matches(&nested, "group", "::crud"));
        let top = series("GET", "");
        assert!(matches(&top, "group", "") && matches(&top, "group", "::"));
        assert!(!matches(&top, "group", "::crud"));
        assert!(matches(&s, "status", "200") && !matches(&s, "status", "0200"));
        assert!(!matches(&s, "url", "http://x") && !matches(&s, "error_code", "none"));
        assert!(matches(&s, "error", "none") && matches(&s, "expected_response", "true"));
    }
}
