//! CI integration as a user meets it: the real binary, with the CI's environment variables
//! pointing at local stand-ins (wiremock on 127.0.0.1) that speak GitHub's REST API, GitLab's
//! notes API and Slack's incoming webhooks. Load goes only to the reference API on 127.0.0.1.
//!
//! Each test asserts what was sent (method, path, headers, body), what was printed, that the
//! exit code follows the thresholds alone, and that no token or webhook URL appears in stdout,
//! stderr, a report file or a GitHub Actions file.
//!
//! One file per place the results go: `github` (the sticky pull request comment, the Actions
//! outputs, annotations and job summary, the `github-artifact:` baseline), `gitlab` (the merge
//! request note, the CI template and component), `slack` (the webhook message) and `action`
//! (`action.yml`, its install and run steps, the workflows). What they share is here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use kaizen_loadtest::fixture::FixtureHandle;
use serde_json::Value;
use wiremock::{MockServer, Request};

use crate::support::{self, bin};

mod action;
mod github;
mod gitlab;
mod release;
mod runner;
mod slack;

const GITHUB_TOKEN: &str = "ghs_test0nly0TOKEN0do0not0print";
const GITLAB_TOKEN: &str = "glpat-test0nly0TOKEN0do0not0print";
const JOB_TOKEN: &str = "glcbt-job0TOKEN0do0not0print";
const SLACK_PATH: &str = "/services/T0KAIZEN/B0LOAD/hooksecret0do0not0print";

/// A multi-thread runtime that keeps the stand-ins serving while the test waits on a child.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A plan of a few requests to `/health`; `failing` adds a threshold no run can meet.
fn plan(dir: &Path, failing: bool) -> PathBuf {
    let limit = if failing { "p(95)<0.001" } else { "p(95)<5000" };
    let text = format!(
        "version: 1\nname: kaizen-studio\nenvironments:\n  staging: {{ base_url: \"http://127.0.0.1:9\" }}\n\
         requests:\n  health: {{ get: /health, expect: {{ status: 200 }} }}\n\
         thresholds:\n  http_req_failed: [\"rate<0.5\"]\n  http_req_duration: [\"{limit}\"]\n\
         scenarios:\n  smoke:\n    executor: per-vu-iterations\n    vus: 1\n    iterations: 3\n    flow: [health]\n"
    );
    let p = dir.join("loadtest.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// `run` against the reference API, reports into `dir/reports`.
fn run_cmd(dir: &Path, server: &FixtureHandle, failing: bool) -> Command {
    let mut c = bin();
    c.current_dir(dir).args([
        "run",
        "--env",
        "staging",
        "--quiet",
        "--out-dir",
        "reports",
        "--base-url",
    ]);
    c.arg(server.base_url())
        .arg("--plan")
        .arg(plan(dir, failing));
    c
}

/// Runs `cmd` to its end (stdin null), or fails the test after 60 s.
fn output(cmd: &mut Command) -> Output {
    support::tools::run(cmd, Duration::from_secs(60))
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// No secret in stdout (but in `::add-mask::` lines), stderr, or any file under `dir`.
fn assert_no_secret(o: &Output, dir: &Path, secrets: &[&str]) {
    let (stdout, stderr) = text(o);
    for s in secrets {
        for line in stdout.lines() {
            assert!(
                !line.contains(s) || line == format!("::add-mask::{s}"),
                "a secret in stdout: {line}"
            );
        }
        assert!(!stderr.contains(s), "a secret in stderr:\n{stderr}");
        for f in files(dir) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(s),
                "a secret in {}",
                f.display()
            );
        }
    }
}

/// The Markdown report as the sticky comment posts it: its first line, the hidden marker, says
/// the comment's key (plan, environment, scenarios, segment).
fn keyed(markdown: &str, key: &str) -> String {
    let rest = &markdown[markdown.find('\n').unwrap()..];
    format!("<!-- kaizen-loadtest:{key} -->{rest}")
}

fn report(dir: &Path, suffix: &str) -> PathBuf {
    files(&dir.join("reports"))
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} in {}", dir.display()))
}

fn header<'a>(r: &'a Request, name: &str) -> &'a str {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

fn body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn requests(rt: &tokio::runtime::Runtime, server: &MockServer) -> Vec<Request> {
    rt.block_on(server.received_requests()).unwrap()
}

/// `METHOD /path?query` of each request.
fn lines(reqs: &[Request]) -> Vec<String> {
    reqs.iter()
        .map(|r| match r.url.query() {
            Some(q) => format!("{} {}?{q}", r.method, r.url.path()),
            None => format!("{} {}", r.method, r.url.path()),
        })
        .collect()
}

/// The documents of a YAML file (the Action, a workflow, the GitLab template or component).
fn yaml_docs(path: &Path) -> Vec<yaml_rust2::Yaml> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The identifiers (letters, digits, `-`, `_`) that follow each `prefix` in `text`.
fn names_after(text: &str, prefix: &str) -> std::collections::BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            text[i + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect()
}
