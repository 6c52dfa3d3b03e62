//! A 30-minute soak's reports stay small: the JSON summary under 5 MB, the HTML under 2 MB.
//! Proven on a synthetic soak of the Kaizen plan (every request of the soak scenario, several
//! statuses and error classes, latencies spread over six decades, a full 1800-point time series),
//! built with the same recorder, dataset and summary code a real run uses.

use kaizen_loadtest::engine::metrics::recorder::{Recorder, SeriesKey, Trend};
use kaizen_loadtest::plan::{self, LoadOptions};
use kaizen_loadtest::report::ReportFormat;
use kaizen_loadtest::summary::dataset::{Dataset, Names};
use kaizen_loadtest::summary::scenario::{scenario_summary, ScenarioInput};
use kaizen_loadtest::summary::schema::*;
use rand::{Rng, SeedableRng};

#[test]
fn a_thirty_minute_soak_summary_stays_under_5_mb_and_its_html_under_2_mb() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let opts = LoadOptions {
        env_lookup: &|_| None,
        strict_env: false,
    };
    let plan = plan::load(&root.join("scenarios/kaizen-studio.yaml"), &opts).unwrap();
    let si = plan
        .scenarios
        .iter()
        .position(|s| s.name == "soak")
        .unwrap();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let mut rec = Recorder::default();
    // 100 VUs for 30 minutes at ~1 request/s each: 180 000 requests, spread over every
    // request of the plan (all of them, not only the soak's, to be generous).
    for _ in 0..180_000 {
        let request = rng.gen_range(0..plan.requests.len()) as u16;
        let (status, error, failed) = match rng.gen_range(0..100) {
            0 => (0, ErrorClass::Timeout, true),
            1 => (500, ErrorClass::Status, true),
            2 => (404, ErrorClass::Status, true),
            _ => (200, ErrorClass::None, false),
        };
        let key = SeriesKey {
            scenario: si as u16,
            request,
            group: 0,
            status,
            error,
            failed,
        };
        let d = (10f64).powf(rng.gen_range(2.0..8.0)) as u64; // 100 µs .. 100 s
        rec.record_request(
            key,
            &[
                (Trend::Duration, d),
                (Trend::Waiting, d * 9 / 10),
                (Trend::Receiving, d / 10),
            ],
            300,
            2000,
        );
    }
    for _ in 0..60_000 {
        rec.record_iteration(si as u16, rng.gen_range(1_000..10_000_000), true);
    }
    let (checks, _) = kaizen_loadtest::engine::check_table(&plan);
    let durations = [(si, 1800.0)];
    let ds = Dataset::from_recorder(
        &rec,
        &Names {
            plan: &plan,
            groups: &[String::new()],
            checks: &checks,
            durations: &durations,
        },
    );
    let points: Vec<Point> = (0..1800)
        .map(|t| Point {
            t: t as f64,
            requests: 100,
            failed: rng.gen_range(0..3),
            iterations: 33,
            vus: 100,
            p50: Some(rng.gen_range(5.0..50.0)),
            p95: Some(rng.gen_range(50.0..500.0)),
            p99: Some(rng.gen_range(500.0..5000.0)),
        })
        .collect();
    let scenario = scenario_summary(
        &ds,
        ScenarioInput {
            name: "soak".into(),
            executor: "constant-vus".into(),
            started_after_s: 0.0,
            duration_s: 1800.0,
            planned_duration_s: 1800.0,
            status: ScenarioStatus::Completed,
            thresholds: plan.thresholds_for(&plan.scenarios[si], None),
            series: TimeSeries {
                interval_s: 1.0,
                points,
            },
            endpoint_order: plan.requests.iter().map(|r| r.name.clone()).collect(),
        },
    );
    assert_eq!(scenario.timeseries.points.len(), 1800);
    let scenarios = vec![scenario];
    let summary = Summary {
        schema: SCHEMA_VERSION,
        tool: Tool {
            name: "kaizen-loadtest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run: RunMeta {
            plan_name: plan.name.clone(),
            plan_file: "scenarios/kaizen-studio.yaml".into(),
            plan_hash: plan.hash.clone(),
            environment: "staging".into(),
            base_url: "https://staging.kaizen-studio.example.com".into(),
            scenarios: vec!["soak".into()],
            started_at: "2026-11-23T00:00:00Z".into(),
            ended_at: "2026-11-23T00:30:00Z".into(),
            duration_s: 1800.0,
            mode: RunMode::Run,
            parallel: false,
            git_sha: None,
            ci_run_url: None,
            host_cpus: 2,
            file_stem: "soak_staging_20261123_000000".into(),
            interrupted: false,
            aborted_by: None,
            segment: None,
            run_id: None,
        },
        verdict: Default::default(),
        scenarios,
        baseline: None,
        health: Health::default(),
        data: ds.to_raw(),
    };
    let dir = tempfile::tempdir().unwrap();
    let files = kaizen_loadtest::report::write_all(
        &summary,
        &[ReportFormat::Json, ReportFormat::Html],
        dir.path(),
    )
    .unwrap();
    let size = |i: usize| std::fs::metadata(&files[i]).unwrap().len();
    let (json, html) = (size(0), size(1));
    println!("30-minute soak: JSON summary {json} bytes, HTML {html} bytes");
    assert!(json < 5 * 1024 * 1024, "JSON summary is {json} bytes");
    assert!(html < 2 * 1024 * 1024, "HTML report is {html} bytes");
}
