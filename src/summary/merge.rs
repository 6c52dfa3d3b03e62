//! `merge`: combines the JSON summaries of the segments of one distributed run into one summary,
//! exactly (counters add, HDR histograms merge), judges the thresholds on the whole and writes
//! every report — as if one process had recorded all the samples.
//!
//! Parts must belong together: the same plan hash always, the same run id when they carry one,
//! every segment 1..=N present once. Thresholds are re-read from the parts' own threshold
//! results (metric key and expression), so `merge` needs no plan file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::MergeArgs;
use crate::plan::model::{Threshold, ThresholdCondition};
use crate::rules::threshold;
use crate::summary::build::{self, ScenarioInput};
use crate::summary::dataset::Dataset;
use crate::summary::schema::MetricType;
use crate::summary::schema::{Point, RunMeta, RunMode, ScenarioStatus, Summary, TimeSeries};
use crate::UsageError;

pub(crate) fn command(args: &MergeArgs) -> anyhow::Result<u8> {
    let mut parts = Vec::new();
    for p in &args.parts {
        let s = crate::report::read_summary(p).map_err(|e| UsageError(format!("{e:#}")))?;
        parts.push((p.clone(), s));
    }
    // Masked once for the reports and the notifiers alike.
    let merged = crate::commands::redacted(&merge(&parts)?);
    let code = crate::commands::finish(&merged, &args.format, &args.out_dir);
    crate::notify::after_run(&merged, &args.notify, &args.out_dir, code);
    Ok(code)
}

fn name(p: &Path) -> String {
    p.display().to_string()
}

/// Checks that the parts belong to one run; the error names the culprit.
pub fn check_parts(parts: &[(PathBuf, Summary)]) -> Result<(), UsageError> {
    let Some((first_path, first)) = parts.first() else {
        return Err(UsageError("merge needs at least one part".into()));
    };
    for (p, s) in parts {
        if s.run.plan_hash != first.run.plan_hash {
            return Err(UsageError(format!(
                "{} was made from another plan than {} (plan hash {} vs {})",
                name(p),
                name(first_path),
                short(&s.run.plan_hash),
                short(&first.run.plan_hash)
            )));
        }
        if s.run.environment != first.run.environment {
            return Err(UsageError(format!(
                "{} ran against environment \"{}\", {} against \"{}\"",
                name(p),
                s.run.environment,
                name(first_path),
                first.run.environment
            )));
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
            return Err(UsageError(format!(
                "{} has no run id, but {} has run id {id0}",
                name(p),
                name(p0)
            )));
        }
        if let Some((p, id)) = ids.iter().find(|(_, id)| id != id0) {
            return Err(UsageError(format!(
                "{} belongs to run {id}, {} to run {id0}",
                name(p),
                name(p0)
            )));
        }
    }
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    let mut count = None;
    for (p, s) in parts {
        let Some(seg) = s.run.segment else {
            if parts.len() == 1 {
                return Ok(());
            }
            return Err(UsageError(format!(
                "{} is not a segment of a distributed run (no --segment)",
                name(p)
            )));
        };
        match count {
            None => count = Some(seg.count),
            Some(n) if n != seg.count => {
                return Err(UsageError(format!(
                    "{} is segment {seg}, but the other parts are out of {n}",
                    name(p)
                )))
            }
            _ => {}
        }
        if let Some(other) = seen.insert(seg.index, p) {
            return Err(UsageError(format!(
                "{} and {} are both segment {seg}",
                name(other),
                name(p)
            )));
        }
    }
    let n = count.unwrap_or(1);
    let missing: Vec<String> = (1..=n)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(UsageError(format!(
            "segment(s) {} missing: give every part of the run",
            missing.join(", ")
        )));
    }
    Ok(())
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// Re-reads a scenario's thresholds from its results.
fn thresholds_of(
    s: &crate::summary::schema::ScenarioSummary,
    ds: &Dataset,
) -> anyhow::Result<Vec<Threshold>> {
    let mut out: Vec<Threshold> = Vec::new();
    for r in &s.thresholds {
        let key = threshold::parse_metric_key(&r.metric)?;
        let cond = threshold::parse_condition(&r.expression)?;
        let metric_type = threshold::builtin_metric(&key.metric)
            .or_else(|| {
                ds.custom
                    .iter()
                    .find(|c| c.metric == key.metric)
                    .map(|c| c.kind)
            })
            .or_else(|| s.metrics.get(&key.metric).map(|m| m.kind))
            .unwrap_or(MetricType::Trend);
        let c = ThresholdCondition {
            condition: cond,
            abort_on_fail: r.abort_on_fail,
            delay_abort_eval: std::time::Duration::ZERO,
        };
        match out.iter_mut().find(|t| t.key == key) {
            Some(t) => t.conditions.push(c),
            None => out.push(Threshold {
                key,
                metric_type,
                conditions: vec![c],
                line: r.line,
            }),
        }
    }
    Ok(out)
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

pub fn merge(parts: &[(PathBuf, Summary)]) -> anyhow::Result<Summary> {
    check_parts(parts)?;
    let mut ds = Dataset::default();
    for (p, s) in parts {
        let d =
            Dataset::from_raw(&s.data).map_err(|e| UsageError(format!("{}: {e:#}", name(p))))?;
        ds.absorb(d);
    }
    let first = &parts[0].1;
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
        scenarios.push(build::scenario_summary(
            None,
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
                thresholds: thresholds_of(sc, &ds)?,
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
            crate::commands::sanitize(&first.run.environment)
        ),
        interrupted: parts.iter().any(|(_, s)| s.run.interrupted),
        aborted_by: parts.iter().find_map(|(_, s)| s.run.aborted_by.clone()),
        segment: None,
        host_cpus: parts.iter().map(|(_, s)| s.run.host_cpus).sum(),
        ..first.run.clone()
    };
    let scenarios_for_health = scenarios.clone();
    Ok(Summary {
        schema: first.schema,
        tool: first.tool.clone(),
        run,
        verdict: build::verdict(&scenarios),
        scenarios,
        baseline: None,
        health: crate::summary::analysis::health(None, &scenarios_for_health),
        data: ds.to_raw(),
    })
}
