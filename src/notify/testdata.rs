//! Summaries built in code for the notifiers' tests.

use std::collections::BTreeMap;

use crate::summary::schema::*;

/// A run of `scenarios` scenarios (`s0`, `s1`, ...) on plan `kaizen-studio`, environment
/// `staging`, each with `failed_each` failed thresholds (the first is
/// `http_req_duration p(95)<500` observed 812 ms, at line 20) and one that passed.
pub(crate) fn summary_with(scenarios: usize, failed_each: usize) -> Summary {
    let mut list = Vec::new();
    for i in 0..scenarios {
        let mut thresholds = vec![ThresholdResult {
            metric: "http_req_failed".into(),
            expression: "rate<0.05".into(),
            observed: Some(0.01),
            limit: 0.05,
            unit: "rate".into(),
            status: ThresholdStatus::Pass,
            abort_on_fail: false,
            line: 19,
        }];
        for j in 0..failed_each {
            thresholds.push(ThresholdResult {
                metric: if j == 0 {
                    "http_req_duration".into()
                } else {
                    format!("http_req_duration{{name:req{j}}}")
                },
                expression: "p(95)<500".into(),
                observed: Some(812.0 + j as f64),
                limit: 500.0,
                unit: "ms".into(),
                status: ThresholdStatus::Fail,
                abort_on_fail: false,
                line: 20 + j,
            });
        }
        let mut metrics = BTreeMap::new();
        metrics.insert(
            "http_req_duration".to_string(),
            Metric {
                kind: MetricType::Trend,
                values: [("p(95)".to_string(), 812.0)].into_iter().collect(),
            },
        );
        // Through JSON, so that fields added later with a serde default need no change here.
        let sc: ScenarioSummary = serde_json::from_value(serde_json::json!({
            "name": format!("s{i}"), "executor": "constant-vus", "started_after_s": 0.0,
            "duration_s": 30.0, "planned_duration_s": 30.0, "vus_max": 5, "status": "completed",
            "requests": 1200, "requests_failed": 12, "rps": 40.0, "iterations": 240,
            "iterations_interrupted": 0, "dropped_iterations": 0, "data_sent": 0,
            "data_received": 0, "metrics": metrics, "endpoints": [], "checks": [],
            "thresholds": thresholds, "timeseries": { "interval_s": 1.0, "points": [] },
            "open_model": null
        }))
        .expect("a valid scenario summary");
        list.push(sc);
    }
    let failed: Vec<String> = list
        .iter()
        .flat_map(|s| s.thresholds.iter())
        .filter(|t| t.status == ThresholdStatus::Fail)
        .map(|t| format!("{} {}", t.metric, t.expression))
        .collect();
    let total: usize = list.iter().map(|s| s.thresholds.len()).sum();
    let mut s: Summary = serde_json::from_value(serde_json::json!({
        "schema": SCHEMA_VERSION,
        "tool": { "name": "kaizen-loadtest", "version": "0.1.0" },
        "run": {
            "plan_name": "kaizen-studio", "plan_file": "loadtest.yaml", "plan_hash": "0",
            "environment": "staging", "base_url": "http://127.0.0.1:8000",
            "scenarios": list.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            "started_at": "2026-03-01T12:00:00Z", "ended_at": "2026-03-01T12:00:30Z",
            "duration_s": 30.0, "mode": "run", "parallel": false, "git_sha": null,
            "ci_run_url": null, "host_cpus": 2, "file_stem": "smoke_staging_20260301_120000",
            "interrupted": false, "aborted_by": null
        },
        "verdict": {
            "passed": failed.is_empty(), "thresholds_total": total,
            "thresholds_failed": failed.len(), "thresholds_no_data": 0, "failed": failed
        },
        "scenarios": [],
        "data": RawData::default()
    }))
    .expect("a valid summary");
    s.scenarios = list;
    s
}
