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
