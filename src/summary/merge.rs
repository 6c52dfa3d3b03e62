//! `merge`: combines the JSON summaries of the segments of one distributed run into one summary,
//! exactly (counters add, HDR histograms merge), as if one process had recorded all the samples.
//! Each scenario's thresholds are observed again on the whole, read back from the parts' own rows
//! (metric key and expression), so merging needs no plan file; the verdict is
//! `crate::verdict::judge`'s, as for a run.
//!
//! Parts must belong together: the same plan hash always, the same run id when they carry one,
//! every segment 1..=N present once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::analysis::health;
use super::build::sanitize;
use super::dataset::Dataset;
use super::hist::HistDecodeError;
use super::scenario::{scenario_summary, ScenarioInput};
use super::schema::{Point, RunMeta, RunMode, ScenarioStatus, Summary, TimeSeries};
use crate::rules::threshold::builtin_metric;
use crate::rules::{summary_metric_type, Rules, RulesError};

/// Why parts cannot be merged; each names the part at fault.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("merge needs at least one part")]
    NoParts,
    #[error("{part} was made from another plan than {first} (plan hash {hash} vs {first_hash})")]
    OtherPlan {
        part: String,
        first: String,
        hash: String,
        first_hash: String,
    },
    #[error("{part} ran against environment \"{env}\", {first} against \"{first_env}\"")]
    OtherEnvironment {
        part: String,
        env: String,
        first: String,
        first_env: String,
    },
    #[error("{part} has no run id, but {other} has run id {id}")]
    NoRunId {
        part: String,
        other: String,
        id: String,
    },
    #[error("{part} belongs to run {id}, {other} to run {other_id}")]
    OtherRun {
        part: String,
        id: String,
        other: String,
        other_id: String,
    },
    #[error("{part} is not a segment of a distributed run (no --segment)")]
    NotASegment { part: String },
    #[error("{part} is segment {segment}, but the other parts are out of {count}")]
    OtherCount {
        part: String,
        segment: String,
        count: u32,
    },
    #[error("{first} and {second} are both segment {segment}")]
    SameSegment {
        first: String,
        second: String,
        segment: String,
    },
    #[error("segment(s) {0} missing: give every part of the run")]
    Missing(String),
    #[error("{part}")]
    Data {
        part: String,
        #[source]
        error: HistDecodeError,
    },
    #[error("{part}")]
    Rules {
        part: String,
        #[source]
        error: RulesError,
    },
}

fn name(p: &Path) -> String {
    p.display().to_string()
}

/// Checks that the parts belong to one run; the error names the culprit.
pub fn check_parts(parts: &[(PathBuf, Summary)]) -> Result<(), MergeError> {
    let Some((first_path, first)) = parts.first() else {
        return Err(MergeError::NoParts);
    };
    for (p, s) in parts {
        if s.run.plan_hash != first.run.plan_hash {
            return Err(MergeError::OtherPlan {
                part: name(p),
                first: name(first_path),
                hash: short(&s.run.plan_hash).into(),
                first_hash: short(&first.run.plan_hash).into(),
            });
        }
        if s.run.environment != first.run.environment {
            return Err(MergeError::OtherEnvironment {
                part: name(p),
                env: s.run.environment.clone(),
                first: name(first_path),
                first_env: first.run.environment.clone(),
            });
        }
    }
    let ids: Vec<_> = parts
        .iter()
        .filter_map(|(p, s)| s.run.run_id.as_ref().map(|id| (p, id)))
        .collect();
    if let Some((p0, id0)) = ids.first() {
        if ids.len() != parts.len() {
            let (p, _) = parts
                .iter()
                .find(|(_, s)| s.run.run_id.is_none())
                .expect("one without");
            return Err(MergeError::NoRunId {
                part: name(p),
                other: name(p0),
                id: id0.to_string(),
            });
        }
        if let Some((p, id)) = ids.iter().find(|(_, id)| id != id0) {
            return Err(MergeError::OtherRun {
                part: name(p),
                id: id.to_string(),
                other: name(p0),
                other_id: id0.to_string(),
            });
        }
    }
    check_segments(parts)
}

/// Every segment 1..=N once.
fn check_segments(parts: &[(PathBuf, Summary)]) -> Result<(), MergeError> {
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    let mut count = None;
    for (p, s) in parts {
        let Some(seg) = s.run.segment else {
            if parts.len() == 1 {
                return Ok(());
            }
            return Err(MergeError::NotASegment { part: name(p) });
        };
        match count {
            None => count = Some(seg.count),
            Some(n) if n != seg.count => {
                return Err(MergeError::OtherCount {
                    part: name(p),
                    segment: seg.to_string(),
                    count: n,
                })
            }
            _ => {}
        }
        if let Some(other) = seen.insert(seg.index, p) {
            return Err(MergeError::SameSegment {
                first: name(other),
                second: name(p),
                segment: seg.to_string(),
            });
        }
    }
    let n = count.unwrap_or(1);
    let missing: Vec<String> = (1..=n)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing(missing.join(", ")));
    }
    Ok(())
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// Adds up the parts' time series point by point (aligned on the interval); percentiles of a
/// merged interval are the highest of the parts' (the summary's own percentiles are exact).
fn merge_series(series: &[&TimeSeries]) -> TimeSeries {
    let interval = series.iter().map(|s| s.interval_s).fold(1.0, f64::max);
    let mut points: BTreeMap<i64, Point> = BTreeMap::new();
    for s in series {
        for p in &s.points {
            let k = (p.t / interval).round() as i64;
            let e = points.entry(k).or_insert_with(|| Point {
                t: k as f64 * interval,
                requests: 0,
                failed: 0,
                iterations: 0,
                vus: 0,
                p50: None,
                p95: None,
                p99: None,
            });
            e.requests += p.requests;
            e.failed += p.failed;
            e.iterations += p.iterations;
            e.vus += p.vus;
            let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, y) => x.or(y),
            };
            e.p50 = max(e.p50, p.p50);
            e.p95 = max(e.p95, p.p95);
            e.p99 = max(e.p99, p.p99);
        }
    }
    TimeSeries {
        interval_s: interval,
        points: points.into_values().collect(),
    }
}

/// The parts as one summary, measured but not yet judged.
pub fn merge(parts: &[(PathBuf, Summary)]) -> Result<Summary, MergeError> {
    check_parts(parts)?;
    let mut ds = Dataset::default();
    for (p, s) in parts {
        let d = Dataset::from_raw(&s.data).map_err(|error| MergeError::Data {
            part: name(p),
            error,
        })?;
        ds.absorb(d);
    }
    let (first_path, first) = &parts[0];
    // A metric's type as the whole run knows it: a part without a sample of a custom metric
    // does not know its type, another part does.
    let metric_type = |m: &str| {
        builtin_metric(m)
            .or_else(|| ds.custom.iter().find(|c| c.metric == m).map(|c| c.kind))
            .or_else(|| summary_metric_type(first, m))
    };
    let thresholds =
        Rules::thresholds_in(first, &metric_type).map_err(|error| MergeError::Rules {
            part: name(first_path),
            error,
        })?;
    let rules = Rules {
        thresholds,
        ..Rules::default()
    };
    let mut scenarios = Vec::new();
    for sc in &first.scenarios {
        let same: Vec<_> = parts
            .iter()
            .filter_map(|(_, s)| s.scenarios.iter().find(|x| x.name == sc.name))
            .collect();
        let status = if same.iter().any(|s| s.status == ScenarioStatus::Interrupted) {
            ScenarioStatus::Interrupted
        } else if same.iter().any(|s| s.status == ScenarioStatus::Aborted) {
            ScenarioStatus::Aborted
        } else {
            ScenarioStatus::Completed
        };
        let series: Vec<&TimeSeries> = same.iter().map(|s| &s.timeseries).collect();
        scenarios.push(scenario_summary(
            &ds,
            ScenarioInput {
                name: sc.name.clone(),
                executor: sc.executor.clone(),
                started_after_s: same
                    .iter()
                    .map(|s| s.started_after_s)
                    .fold(f64::MAX, f64::min),
                duration_s: same.iter().map(|s| s.duration_s).fold(0.0, f64::max),
                planned_duration_s: sc.planned_duration_s,
                status,
                thresholds: rules.thresholds_of(&sc.name).to_vec(),
                series: merge_series(&series),
                endpoint_order: sc.endpoints.iter().map(|e| e.name.clone()).collect(),
            },
        ));
    }
    let started = parts
        .iter()
        .map(|(_, s)| s.run.started_at.clone())
        .min()
        .unwrap_or_default();
    let ended = parts
        .iter()
        .map(|(_, s)| s.run.ended_at.clone())
        .max()
        .unwrap_or_default();
    let stamp: String = started
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(14)
        .collect();
    let stamp = if stamp.len() == 14 {
        format!("{}_{}", &stamp[..8], &stamp[8..])
    } else {
        stamp
    };
    let prefix = first
        .run
        .file_stem
        .split('_')
        .next()
        .unwrap_or("merged")
        .to_string();
    let run = RunMeta {
        started_at: started,
        ended_at: ended,
        duration_s: parts
            .iter()
            .map(|(_, s)| s.run.duration_s)
            .fold(0.0, f64::max),
        mode: RunMode::Merge,
        file_stem: format!(
            "{prefix}_{}_{stamp}_merged",
            sanitize(&first.run.environment)
        ),
        interrupted: parts.iter().any(|(_, s)| s.run.interrupted),
        aborted_by: parts.iter().find_map(|(_, s)| s.run.aborted_by.clone()),
        segment: None,
        host_cpus: parts.iter().map(|(_, s)| s.run.host_cpus).sum(),
        ..first.run.clone()
    };
    // The busiest generator speaks for the whole: one saturated part makes the run inconclusive.
    let cpu_percent = parts
        .iter()
        .filter_map(|(_, s)| s.health.cpu_percent)
        .reduce(f64::max);
    Ok(Summary {
        schema: first.schema,
        tool: first.tool.clone(),
        run,
        verdict: Default::default(),
        health: health(cpu_percent, &scenarios),
        scenarios,
        baseline: None,
        data: ds.to_raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;
    use crate::summary::schema::{
        MetricType, RawCustom, Segment, ThresholdResult, ThresholdStatus,
    };

    /// One segment of a run whose smoke scenario has a threshold on a custom counter, `errors`,
    /// with `errors` samples or none.
    fn part(index: u32, errors: Option<u64>) -> (PathBuf, Summary) {
        let mut s = testdata::load("passed");
        s.run.segment = Some(Segment { index, count: 2 });
        s.run.run_id = Some("r1".into());
        s.scenarios[0].thresholds.push(ThresholdResult {
            metric: "errors".into(),
            expression: "count<1".into(),
            observed: errors.map(|n| n as f64),
            limit: 1.0,
            unit: "count".into(),
            status: ThresholdStatus::NoData,
            abort_on_fail: false,
            line: 30,
        });
        if let Some(n) = errors {
            s.data.custom.push(RawCustom {
                scenario: "smoke".into(),
                metric: "errors".into(),
                kind: MetricType::Counter,
                name: "login".into(),
                count: n,
                trues: n,
                hist: None,
                gauge: None,
            });
        }
        (PathBuf::from(format!("part{index}.json")), s)
    }

    /// The first part had no `errors` sample, so it cannot tell the metric's type; the second
    /// can. Read from the first part alone, the counter was taken for a trend and its threshold
    /// said "no data" where the whole run failed it.
    #[test]
    fn a_custom_metric_only_a_later_part_has_keeps_its_type() {
        let merged = merge(&[part(1, None), part(2, Some(3))]).unwrap();
        let row = merged.scenarios[0]
            .thresholds
            .iter()
            .find(|t| t.metric == "errors")
            .unwrap();
        assert_eq!(row.observed, Some(3.0));
        let rules = Rules::of_summary(&merged);
        let judged = crate::verdict::judge(&merged, &rules).apply(merged);
        assert!(!judged.verdict.passed, "{:?}", judged.verdict);
        assert_eq!(judged.verdict.failed, ["errors count<1"]);
    }

    /// Requests that could not be built add up across parts, apart from the requests, as in
    /// one process.
    #[test]
    fn invalid_requests_add_up_across_parts() {
        let with_invalid = |index, n| {
            let (p, mut s) = part(index, None);
            s.data.invalid.push(crate::summary::schema::RawInterrupted {
                scenario: "smoke".into(),
                name: "login".into(),
                method: "POST".into(),
                group: String::new(),
                count: n,
                bytes_sent: 0,
            });
            (p, s)
        };
        let one = merge(&[part(1, None), part(2, None)]).unwrap();
        let merged = merge(&[with_invalid(1, 3), with_invalid(2, 4)]).unwrap();
        let sc = &merged.scenarios[0];
        assert_eq!(sc.requests_invalid, 7);
        assert_eq!(sc.requests, one.scenarios[0].requests);
        let login = sc.endpoints.iter().find(|e| e.name == "login").unwrap();
        assert_eq!(login.errors.get("invalid_request"), Some(&7));
        assert_eq!(merged.data.invalid[0].count, 7);
    }

    /// Why requests failed adds up across parts, reason by reason, as in one process: the same
    /// reason in two parts is one row with the sum, a reason only one part saw a row of its own,
    /// and each class's reasons add up to its count.
    #[test]
    fn reasons_add_up_across_parts() {
        use crate::summary::schema::{ErrorClass, RawReason, RawSeries};
        let failed = |index| {
            let mut s = testdata::load("failed");
            s.run.segment = Some(Segment { index, count: 2 });
            s.run.run_id = Some("r1".into());
            (PathBuf::from(format!("part{index}.json")), s)
        };
        let one = failed(1).1;
        let login_of = |s: &Summary| {
            let auth = s.scenarios.iter().find(|s| s.name == "auth").unwrap();
            auth.endpoints
                .iter()
                .find(|e| e.name == "login")
                .unwrap()
                .clone()
        };
        let alone = login_of(&one);
        let timeouts = alone.reasons["timeout"]["no response headers within 10s"];
        let status_500 = alone.reasons["status"]["500"];
        assert!(timeouts > 0 && status_500 > 0, "{:?}", alone.reasons);
        // The second part also met a closed port on login.
        let (p2, mut s2) = failed(2);
        s2.data.series.push(RawSeries {
            scenario: "auth".into(),
            name: "login".into(),
            method: "POST".into(),
            group: String::new(),
            status: 0,
            error: ErrorClass::Connect,
            failed: true,
            count: 5,
            bytes_sent: 0,
            bytes_received: 0,
            hists: BTreeMap::new(),
        });
        s2.data.reasons.push(RawReason {
            scenario: "auth".into(),
            name: "login".into(),
            method: "POST".into(),
            group: String::new(),
            class: ErrorClass::Connect,
            reason: "connection refused".into(),
            count: 5,
        });
        let merged = merge(&[failed(1), (p2, s2)]).unwrap();
        let login = login_of(&merged);
        let want = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
            pairs.iter().map(|(r, n)| (r.to_string(), *n)).collect()
        };
        assert_eq!(
            login.reasons["timeout"],
            want(&[("no response headers within 10s", 2 * timeouts)])
        );
        assert_eq!(login.reasons["status"]["500"], 2 * status_500);
        assert_eq!(login.reasons["connect"], want(&[("connection refused", 5)]));
        for (class, n) in &login.errors {
            assert_eq!(login.reasons[class].values().sum::<u64>(), *n, "{class}");
        }
        let rows: Vec<u64> = merged
            .data
            .reasons
            .iter()
            .filter(|r| r.name == "login" && r.class == ErrorClass::Timeout)
            .map(|r| r.count)
            .collect();
        assert_eq!(rows, [2 * timeouts]);
    }
}
