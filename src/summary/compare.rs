//! Baselines: how a run compares with an earlier one (`run --baseline FILE`,
//! `compare CURRENT BASELINE`), per scenario and endpoint, from the histograms, and the figures
//! the plan's regression limits (`crate::rules::regression`) are judged on.

use crate::rules::regression::RegressionRule;
use crate::rules::threshold::{Aggregation, MetricKey};
use crate::summary::dataset::{observe, Dataset};
use crate::summary::schema::{Comparison, Delta, EndpointDelta, ScenarioComparison, Summary};

impl Delta {
    pub fn new(baseline: Option<f64>, current: Option<f64>) -> Delta {
        let change_pct = match (baseline, current) {
            (Some(b), Some(c)) if b != 0.0 => Some((c - b) / b * 100.0),
            _ => None,
        };
        Delta {
            baseline,
            current,
            change_pct,
        }
    }
}

fn key(metric: &str, tags: &[(&str, &str)]) -> MetricKey {
    MetricKey {
        source: metric.to_string(),
        metric: metric.to_string(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn figures(ds: &Dataset, scenario: &str, name: Option<&str>) -> [Option<f64>; 5] {
    let tags: Vec<(&str, &str)> = name.map(|n| vec![("name", n)]).unwrap_or_default();
    let d = observe(ds, None, scenario, &key("http_req_duration", &tags));
    let f = observe(ds, None, scenario, &key("http_req_failed", &tags));
    let r = observe(ds, None, scenario, &key("http_reqs", &tags));
    let p = |q: f64| {
        d.as_ref()
            .and_then(|o| o.aggregate(Aggregation::Percentile(q)))
    };
    [
        p(50.0),
        p(95.0),
        p(99.0),
        f.and_then(|o| o.aggregate(Aggregation::Rate)),
        r.and_then(|o| o.aggregate(Aggregation::Rate)),
    ]
}

fn endpoint_delta(name: &str, b: [Option<f64>; 5], c: [Option<f64>; 5]) -> EndpointDelta {
    EndpointDelta {
        name: name.to_string(),
        p50: Delta::new(b[0], c[0]),
        p95: Delta::new(b[1], c[1]),
        p99: Delta::new(b[2], c[2]),
        error_rate: Delta::new(b[3], c[3]),
        rps: Delta::new(b[4], c[4]),
    }
}

/// Compares `current` with `baseline` scenario by scenario (same names), and judges `rules`.
pub fn compare(
    current: &Summary,
    baseline: &Summary,
    source: &str,
    rules: &[RegressionRule],
) -> anyhow::Result<Comparison> {
    let cur = Dataset::from_raw(&current.data)?;
    let base = Dataset::from_raw(&baseline.data)?;
    let mut scenarios = Vec::new();
    let mut regressions = Vec::new();
    for sc in &current.scenarios {
        if !baseline.scenarios.iter().any(|b| b.name == sc.name) {
            continue;
        }
        let overall = endpoint_delta(
            "",
            figures(&base, &sc.name, None),
            figures(&cur, &sc.name, None),
        );
        let mut endpoints = Vec::new();
        let mut seen = Vec::new();
        for e in &sc.endpoints {
            if seen.contains(&e.name) {
                continue;
            }
            seen.push(e.name.clone());
            endpoints.push(endpoint_delta(
                &e.name,
                figures(&base, &sc.name, Some(&e.name)),
                figures(&cur, &sc.name, Some(&e.name)),
            ));
        }
        for r in rules {
            let b = observe(&base, Some(r.metric_type), &sc.name, &r.key)
                .and_then(|o| o.aggregate(r.aggregation));
            let c = observe(&cur, Some(r.metric_type), &sc.name, &r.key)
                .and_then(|o| o.aggregate(r.aggregation));
            regressions.push(r.observed(&sc.name, b, c));
        }
        scenarios.push(ScenarioComparison {
            name: sc.name.clone(),
            overall,
            endpoints,
        });
    }
    let note = if scenarios.is_empty() {
        Some(format!(
            "the baseline {source} has none of this run's scenarios"
        ))
    } else {
        None
    };
    Ok(Comparison {
        source: source.to_string(),
        baseline_started_at: baseline.run.started_at.clone(),
        scenarios,
        regressions,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas() {
        let d = Delta::new(Some(100.0), Some(120.0));
        assert_eq!(d.change_pct, Some(20.0));
        assert_eq!(Delta::new(Some(0.0), Some(1.0)).change_pct, None);
    }
}
