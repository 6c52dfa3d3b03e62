//! The reports as their readers see them: JUnit through the Jenkins xunit schema (xmllint) and
//! a JUnit parser (junitparser), JSON summaries through their JSON Schema (check-jsonschema),
//! and the HTML report in headless Chromium.
//!
//! These call real tools. A missing tool fails the test (it does not skip): CI installs them
//! with `.ci/install-test-tools.sh`, and so can you.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kaizen_loadtest::report::{self, ReportFormat};

use crate::support::root;
use crate::support::tools::{check_jsonschema, python, run, tool};

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/summaries"))
        .expect("fixtures/summaries")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 3,
        "expected at least 3 fixture summaries, found {v:?}"
    );
    v
}

fn render_to(dir: &Path, fixture: &Path, f: ReportFormat) -> PathBuf {
    let s = report::read_summary(fixture).unwrap();
    let out = dir.join(fixture.file_stem().unwrap());
    report::write_all(&s, &[f], &out).unwrap().remove(0)
}

#[test]
fn junit_of_every_fixture_passes_the_xunit_schema_and_a_junit_parser() {
    let xmllint = tool(&["xmllint"], "libxml2-utils");
    let python = python();
    let xsd = root().join("tests/schemas/junit-10.xsd");
    let dir = tempfile::tempdir().unwrap();
    for fixture in fixtures() {
        let xml = render_to(dir.path(), &fixture, ReportFormat::Junit);
        let out = run(
            Command::new(&xmllint)
                .arg("--noout")
                .arg("--schema")
                .arg(&xsd)
                .arg(&xml),
            Duration::from_secs(30),
        );
        assert!(
            out.status.success(),
            "{}: {}",
            fixture.display(),
            String::from_utf8_lossy(&out.stderr)
        );

        // What a CI test reporter sees: suites, cases and each case's outcome.
        let script = r#"
import json, sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
suites = []
for suite in xml:
    cases = []
    for case in suite:
        kinds = [r._tag for r in case.result]
        cases.append({"name": case.name, "result": kinds[0] if kinds else "passed",
                      "message": case.result[0].message if kinds else None})
    props = {p.name: p.value for p in suite.properties()}
    suites.append({"name": suite.name, "tests": suite.tests, "failures": suite.failures,
                   "errors": suite.errors, "skipped": suite.skipped, "cases": cases, "properties": props})
print(json.dumps(suites))
"#;
        let out = run(
            Command::new(&python).arg("-c").arg(script).arg(&xml),
            Duration::from_secs(30),
        );
        assert!(
            out.status.success(),
            "junitparser: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let suites: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let s = report::read_summary(&fixture).unwrap();
        let suites = suites.as_array().unwrap();
        assert_eq!(
            suites.len(),
            s.scenarios.len(),
            "one testsuite per scenario"
        );
        for (suite, sc) in suites.iter().zip(&s.scenarios) {
            assert_eq!(suite["name"], sc.name.as_str());
            let cases = suite["cases"].as_array().unwrap();
            let regressions = s
                .baseline
                .iter()
                .flat_map(|b| &b.regressions)
                .filter(|r| r.scenario == sc.name)
                .count();
            let drift = sc.drift.as_ref().map_or(0, |d| d.rules.len());
            assert_eq!(
                cases.len(),
                sc.thresholds.len() + sc.checks.len() + regressions + drift + 2,
                "thresholds, checks, regression and drift limits, run and generator health"
            );
            assert_eq!(suite["tests"], cases.len());
            assert_eq!(
                suite["properties"]["environment"],
                s.run.environment.as_str()
            );
            assert_eq!(suite["properties"]["executor"], sc.executor.as_str());
            for (case, t) in cases.iter().zip(&sc.thresholds) {
                assert_eq!(case["name"], format!("{} {}", t.metric, t.expression));
                let want = match t.status {
                    kaizen_loadtest::summary::schema::ThresholdStatus::Pass => "passed",
                    kaizen_loadtest::summary::schema::ThresholdStatus::Fail => "failure",
                    kaizen_loadtest::summary::schema::ThresholdStatus::NoData => "skipped",
                };
                assert_eq!(case["result"], want, "{case}");
                if want == "skipped" {
                    assert_eq!(case["message"], "no data");
                }
            }
            let health = &cases[cases.len() - 2];
            assert_eq!(health["name"], "run health");
            assert_eq!(cases[cases.len() - 1]["name"], "load generator health");
            let want = if sc.status.as_str() == "completed" {
                "passed"
            } else {
                "error"
            };
            assert_eq!(health["result"], want, "{}: {health}", fixture.display());
        }
    }
}

#[test]
fn every_summary_we_read_or_write_matches_the_published_schema() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let mut files = fixtures();
    for fixture in fixtures() {
        files.push(render_to(dir.path(), &fixture, ReportFormat::Json));
    }
    let out = check_jsonschema(&python, &files);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The schema catches drift: a field it does not document is an error.
    let mut drifted: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    drifted["scenarios"][0]["new_field"] = serde_json::json!(1);
    let bad = dir.path().join("drifted.json");
    std::fs::write(&bad, serde_json::to_vec(&drifted).unwrap()).unwrap();
    let out = check_jsonschema(&python, &[bad]);
    assert!(
        !out.status.success(),
        "an undocumented field must fail validation"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("new_field"));
}

/// The options every headless run uses: no sandbox (CI runs as root), nothing from the network.
fn chromium(user_data: &Path) -> Command {
    let mut cmd = Command::new(tool(&["chromium", "chromium-browser"], "chromium"));
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", user_data.display()));
    cmd
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = root().join("fixtures/summaries/failed.json");
    let html = render_to(dir.path(), &fixture, ReportFormat::Html);
    let url = format!("file://{}", html.display());
    let png = dir.path().join("report.png");

    let out = run(
        chromium(&dir.path().join("profile-1"))
            .args([
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1280,2000",
            ])
            .arg(format!("--screenshot={}", png.display()))
            .arg(&url),
        Duration::from_secs(120),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed:\n{log}");
    for line in log.lines() {
        // Page errors and any attempt to fetch something would show here.
        assert!(
            !(line.contains("CONSOLE") || line.contains("Uncaught") || line.contains("net::ERR_")),
            "the page logged: {line}"
        );
    }
    let bytes = std::fs::read(&png).expect("chromium wrote no screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (w, h) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1280, 2000));
    // A blank page of this size compresses to a few kB; charts, tables and text do not.
    assert!(
        bytes.len() > 50_000,
        "screenshot looks blank: {} bytes",
        bytes.len()
    );

    let out = run(
        chromium(&dir.path().join("profile-2"))
            .arg("--dump-dom")
            .arg(&url),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "chromium --dump-dom failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    for kind in ["load", "latency", "distribution"] {
        let n = dom.matches(&format!("<svg data-chart=\"{kind}\"")).count();
        assert_eq!(n, 2, "{kind} charts in the DOM (one per scenario)");
    }
    assert!(dom.contains("Load test failed"));
}
