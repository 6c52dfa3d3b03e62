//! CI integration as a user meets it: the real binary, with the CI's environment variables
//! pointing at local stand-ins (wiremock on 127.0.0.1) that speak GitHub's REST API, GitLab's
//! notes API and Slack's incoming webhooks. Load goes only to the reference API on 127.0.0.1.
//!
//! Each test asserts what was sent (method, path, headers, body), what was printed, that the
//! exit code follows the thresholds alone, and that no token or webhook URL appears in stdout,
//! stderr, a report file or a GitHub Actions file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kaizen_loadtest::fixture::{self, FixtureConfig, FixtureHandle};
use kaizen_loadtest::notify::slack::{Retry, Slack};
use kaizen_loadtest::notify::{render_markdown, Delivered, NotifyError, Secret};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::reports::{check_builtin_schema, root};

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

fn api() -> FixtureHandle {
    fixture::spawn("127.0.0.1:0".parse().unwrap(), FixtureConfig::default()).unwrap()
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

/// The binary with nothing inherited that could steer it (CI variables, tokens, proxies).
fn bin() -> Command {
    let mut c = crate::run::bin();
    for (k, _) in std::env::vars() {
        let lower = k.to_lowercase();
        if k.starts_with("GITLAB_")
            || k == "RUNNER_OS"
            || k == "RUNNER_ARCH"
            || lower.ends_with("_proxy")
        {
            c.env_remove(k);
        }
    }
    c
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
    crate::reports::run(cmd, Duration::from_secs(60))
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

// ---------------------------------------------------------------------------------------------
// GitHub

fn comment_json(id: u64, login: &str, body: &str) -> Value {
    json!({
        "id": id,
        "node_id": format!("IC_kwDO{id}"),
        "url": format!("https://github.example.com/api/v3/repos/kaizen/studio/issues/comments/{id}"),
        "html_url": format!("https://github.com/kaizen/studio/pull/7#issuecomment-{id}"),
        "issue_url": "https://github.example.com/api/v3/repos/kaizen/studio/issues/7",
        "body": body,
        "user": { "login": login, "id": 41898282, "type": if login.ends_with("[bot]") { "Bot" } else { "User" } },
        "created_at": "2026-03-01T12:00:00Z",
        "updated_at": "2026-03-01T12:00:00Z",
        "author_association": "NONE"
    })
}

/// GitHub's comments of pull request 7 over two pages, page 2 reached through the `Link`
/// header GitHub sends (an absolute `/repositories/{id}/...` URL), under `prefix` (`/api/v3`
/// for GitHub Enterprise). Page 2 holds `ours` when given.
async fn mount_github(server: &MockServer, prefix: &str, marker: &str, ours: Option<u64>) {
    let next = format!(
        "{}{prefix}/repositories/42/issues/7/comments?per_page=100&page=2",
        server.uri()
    );
    let page1 = vec![
        comment_json(1, "octocat", "Looks good to me"),
        comment_json(2, "mallory", &format!("{marker}\nnot ours: another author")),
    ];
    let mut page2 = vec![comment_json(
        3,
        "github-actions[bot]",
        "<!-- kaizen-loadtest:kaizen-studio:production -->\nother env",
    )];
    if let Some(id) = ours {
        page2.push(comment_json(
            id,
            "github-actions[bot]",
            &format!("{marker}\nold report"),
        ));
    }
    // A workflow's GITHUB_TOKEN may not read /user.
    Mock::given(method("GET"))
        .and(path(format!("{prefix}/user")))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.example.com/rest/users/users#get-the-authenticated-user"
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "{prefix}/repos/kaizen/studio/issues/7/comments"
        )))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\"").as_str(),
                )
                .set_body_json(page1),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{prefix}/repositories/42/issues/7/comments")))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page2))
        .mount(server)
        .await;
}

/// [`mount_github`] without a comment of ours, and creating the comment returns 201 with `id`.
async fn mount_github_created(server: &MockServer, prefix: &str, marker: &str, id: u64) {
    mount_github(server, prefix, marker, None).await;
    Mock::given(method("POST"))
        .and(path(format!(
            "{prefix}/repos/kaizen/studio/issues/7/comments"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(comment_json(
            id,
            "github-actions[bot]",
            "x",
        )))
        .mount(server)
        .await;
}

fn github_env(c: &mut Command, server: &MockServer, prefix: &str, event: &Path) {
    c.env("GITHUB_TOKEN", GITHUB_TOKEN)
        .env("GITHUB_REPOSITORY", "kaizen/studio")
        .env("GITHUB_API_URL", format!("{}{prefix}", server.uri()))
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", event)
        .env("GITHUB_RUN_ID", "1234")
        .env("GITHUB_RUN_ATTEMPT", "1");
}

fn pull_request_event(dir: &Path) -> PathBuf {
    let p = dir.join("event.json");
    std::fs::write(
        &p,
        json!({ "action": "synchronize", "number": 7, "pull_request": { "number": 7 } })
            .to_string(),
    )
    .unwrap();
    p
}

fn assert_github_headers(r: &Request) {
    assert_eq!(header(r, "authorization"), format!("Bearer {GITHUB_TOKEN}"));
    assert_eq!(header(r, "accept"), "application/vnd.github+json");
    assert_eq!(header(r, "x-github-api-version"), "2022-11-28");
    assert!(
        !header(r, "user-agent").is_empty(),
        "GitHub refuses requests without a User-Agent"
    );
}

#[test]
fn github_comment_is_created_then_updated_in_place_with_actions_outputs() {
    let _lock = crate::load_lock();
    let rt = runtime();
    let gh = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let server = api();
    let event = pull_request_event(dir.path());
    let marker = "<!-- kaizen-loadtest:kaizen-studio:staging -->";

    // First run: no comment of ours on either page, so one is created.
    rt.block_on(async {
        mount_github_created(&gh, "", marker, 9001).await;
    });
    let gh_output = dir.path().join("github_output");
    let step_summary = dir.path().join("step_summary.md");
    let mut c = run_cmd(dir.path(), &server, true);
    github_env(&mut c, &gh, "", &event);
    c.arg("--github-comment")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &gh_output)
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .env("GITHUB_WORKSPACE", dir.path());
    let o = output(&mut c);
    let (stdout, stderr) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(99),
        "a threshold failed: 99, whatever the comment did\n{stdout}\n{stderr}"
    );

    let reqs = requests(&rt, &gh);
    assert_eq!(
        lines(&reqs),
        [
            "GET /user",
            "GET /repos/kaizen/studio/issues/7/comments?per_page=100",
            "GET /repositories/42/issues/7/comments?per_page=100&page=2",
            "POST /repos/kaizen/studio/issues/7/comments",
        ]
    );
    reqs.iter().for_each(assert_github_headers);
    let markdown = std::fs::read_to_string(report(dir.path(), "_summary.md")).unwrap();
    assert!(markdown.starts_with(marker), "{markdown}");
    assert_eq!(
        body(&reqs[3]),
        json!({ "body": markdown }),
        "the comment is the Markdown report"
    );
    assert_eq!(header(&reqs[3], "content-type"), "application/json");
    assert!(
        stderr.contains(
            "github comment: created https://github.com/kaizen/studio/pull/7#issuecomment-9001"
        ),
        "{stderr}"
    );

    // GitHub Actions: masks before the run, a log group around it, annotations at the plan's
    // threshold line, outputs and the job summary.
    let mask = stdout
        .find(&format!("::add-mask::{GITHUB_TOKEN}"))
        .expect("the token is masked");
    let group = stdout.find("::group::").expect("a log group");
    let end = stdout.find("::endgroup::").expect("the group ends");
    assert!(mask < group && group < end, "{stdout}");
    let annotation = stdout
        .lines()
        .find(|l| l.starts_with("::error "))
        .expect("an annotation");
    assert_eq!(
        annotation,
        "::error file=loadtest.yaml,line=9,title=Threshold failed%3A http_req_duration p(95)<0.001::\
         scenario smoke: http_req_duration p(95)<0.001: observed "
            .to_string()
            + annotation.split("observed ").nth(1).unwrap()
    );
    assert!(annotation.ends_with(", limit 0.001 ms"), "{annotation}");
    let outputs = std::fs::read_to_string(&gh_output).unwrap();
    assert!(
        outputs.contains("passed=false\nexit-code=99\nsummary-json=reports/"),
        "{outputs}"
    );
    for key in [
        "junit=reports/",
        "markdown=reports/",
        "html=reports/",
        "report-dir=reports\n",
    ] {
        assert!(outputs.contains(key), "{key} in {outputs}");
    }
    assert_eq!(
        std::fs::read_to_string(&step_summary).unwrap(),
        format!("{markdown}\n")
    );
    assert_no_secret(&o, dir.path(), &[GITHUB_TOKEN]);

    // Second run: page 2 now holds our comment; it is edited with PATCH, nothing is created.
    rt.block_on(async {
        gh.reset().await;
        mount_github(&gh, "", marker, Some(9001)).await;
        Mock::given(method("PATCH"))
            .and(path("/repos/kaizen/studio/issues/comments/9001"))
            .respond_with(ResponseTemplate::new(200).set_body_json(comment_json(
                9001,
                "github-actions[bot]",
                "x",
            )))
            .mount(&gh)
            .await;
    });
    std::fs::remove_dir_all(dir.path().join("reports")).unwrap();
    let mut c = run_cmd(dir.path(), &server, false);
    github_env(&mut c, &gh, "", &event);
    c.arg("--github-comment");
    let o = output(&mut c);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let reqs = requests(&rt, &gh);
    assert_eq!(
        lines(&reqs),
        [
            "GET /user",
            "GET /repos/kaizen/studio/issues/7/comments?per_page=100",
            "GET /repositories/42/issues/7/comments?per_page=100&page=2",
            "PATCH /repos/kaizen/studio/issues/comments/9001",
        ],
        "updated in place, never a second comment"
    );
    reqs.iter().for_each(assert_github_headers);
    let markdown = std::fs::read_to_string(report(dir.path(), "_summary.md")).unwrap();
    assert_eq!(body(&reqs[3]), json!({ "body": markdown }));
    assert!(
        stderr.contains(
            "github comment: updated https://github.com/kaizen/studio/pull/7#issuecomment-9001"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("::"),
        "no workflow commands outside GitHub Actions"
    );
    assert_no_secret(&o, dir.path(), &[GITHUB_TOKEN]);
    server.stop();
}

#[test]
fn a_forks_read_only_token_is_one_warning_and_the_exit_code_follows_the_thresholds() {
    let _lock = crate::load_lock();
    let rt = runtime();
    let gh = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let server = api();
    let event = pull_request_event(dir.path());
    rt.block_on(async {
        mount_github(&gh, "", "<!-- kaizen-loadtest:kaizen-studio:staging -->", None).await;
        Mock::given(method("POST"))
            .and(path("/repos/kaizen/studio/issues/7/comments"))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.example.com/rest/issues/comments#create-an-issue-comment",
                "status": "403"
            })))
            .mount(&gh)
            .await;
    });
    for (failing, code) in [(false, 0), (true, 99)] {
        let mut c = run_cmd(dir.path(), &server, failing);
        github_env(&mut c, &gh, "", &event);
        c.arg("--github-comment");
        let o = output(&mut c);
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(code), "{stderr}");
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("warning:"))
            .collect();
        assert_eq!(warnings.len(), 1, "one warning:\n{stderr}");
        assert!(
            warnings[0].starts_with(
                "warning: github comment: not posted: the token may not comment on pull request #7 \
                 (HTTP 403: Resource not accessible by integration). A pull request from a fork"
            ),
            "{}",
            warnings[0]
        );
        assert!(warnings[0].contains("workflow_run"));
        assert_no_secret(&o, dir.path(), &[GITHUB_TOKEN]);
    }
    server.stop();
}

#[test]
fn comment_from_a_saved_summary_on_github_enterprise_cuts_a_too_long_body_once() {
    let rt = runtime();
    let gh = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let summary_path = root().join("fixtures/summaries/failed.json");
    let summary = kaizen_loadtest::report::read_summary(&summary_path).unwrap();
    let markdown = render_markdown(&summary).unwrap();
    let marker = markdown.lines().next().unwrap().to_string();
    // The workflow_run pattern: the event names the pull request of the run that finished.
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        json!({ "action": "completed", "workflow_run": { "id": 99, "pull_requests": [{ "number": 7 }] } }).to_string(),
    )
    .unwrap();
    rt.block_on(async {
        mount_github_created(&gh, "/api/v3", &marker, 9002).await;
        // Priority 1: answered before the 201 (priority 5), once.
        Mock::given(method("POST"))
            .and(path("/api/v3/repos/kaizen/studio/issues/7/comments"))
            .respond_with(ResponseTemplate::new(422).set_body_json(json!({
                "message": "Validation Failed",
                "errors": [{ "resource": "IssueComment", "code": "unprocessable", "field": "data",
                             "message": "Body is too long (maximum is 65536 characters)" }],
                "documentation_url": "https://docs.github.example.com/rest/issues/comments#create-an-issue-comment",
                "status": "422"
            })))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&gh)
            .await;
    });
    let mut c = bin();
    github_env(&mut c, &gh, "/api/v3", &event);
    c.env("GITHUB_EVENT_NAME", "workflow_run")
        .current_dir(dir.path())
        .arg("comment")
        .arg("--from")
        .arg(&summary_path);
    let o = output(&mut c);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let reqs = requests(&rt, &gh);
    assert_eq!(
        lines(&reqs),
        [
            "GET /api/v3/user",
            "GET /api/v3/repos/kaizen/studio/issues/7/comments?per_page=100",
            "GET /api/v3/repositories/42/issues/7/comments?per_page=100&page=2",
            "POST /api/v3/repos/kaizen/studio/issues/7/comments",
            "POST /api/v3/repos/kaizen/studio/issues/7/comments",
        ],
        "one retry, no more"
    );
    assert_eq!(
        body(&reqs[3]),
        json!({ "body": markdown }),
        "first the whole report"
    );
    let cut = body(&reqs[4])["body"].as_str().unwrap().to_string();
    assert!(
        cut.starts_with(&format!("{marker}\n")),
        "the marker stays first"
    );
    assert!(
        cut.chars().count() <= markdown.chars().count() / 2,
        "{} of {}",
        cut.len(),
        markdown.len()
    );
    assert!(
        cut.ends_with("the full report is in the run's artifacts.*\n"),
        "{cut}"
    );
    assert!(
        markdown.starts_with(cut.split("\n\n---\n*Cut").next().unwrap()),
        "a prefix of the report"
    );
    assert!(stderr.contains("github comment: created"), "{stderr}");
    assert_no_secret(&o, dir.path(), &[GITHUB_TOKEN]);
}

// ---------------------------------------------------------------------------------------------
// GitLab

fn note_json(id: u64, username: &str, body: &str, system: bool) -> Value {
    json!({
        "id": id, "type": null, "body": body, "attachment": null,
        "author": { "id": 5, "username": username, "name": username, "state": "active" },
        "created_at": "2026-03-01T12:00:00.000Z", "updated_at": "2026-03-01T12:00:00.000Z",
        "system": system, "noteable_id": 77, "noteable_type": "MergeRequest", "project_id": 12,
        "resolvable": false, "confidential": false, "internal": false, "noteable_iid": 4
    })
}

async fn mount_gitlab(server: &MockServer, marker: &str, ours: Option<u64>) {
    Mock::given(method("GET"))
        .and(path("/api/v4/user"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "id": 5, "username": "project_12_bot_1", "bot": true })),
        )
        .mount(server)
        .await;
    let notes = "/api/v4/projects/12/merge_requests/4/notes";
    Mock::given(method("GET"))
        .and(path(notes))
        .and(query_param("page", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-next-page", "2")
                .insert_header("x-page", "1")
                .set_body_json(json!([
                    note_json(
                        1,
                        "project_12_bot_1",
                        &format!("{marker}\nsystem notes are never ours"),
                        true
                    ),
                    note_json(2, "mallory", &format!("{marker}\nnot ours"), false),
                ])),
        )
        .mount(server)
        .await;
    let mut page2 = vec![note_json(3, "alice", "LGTM", false)];
    if let Some(id) = ours {
        page2.push(note_json(
            id,
            "project_12_bot_1",
            &format!("{marker}\nold"),
            false,
        ));
    }
    Mock::given(method("GET"))
        .and(path(notes))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-next-page", "")
                .insert_header("x-page", "2")
                .set_body_json(page2),
        )
        .mount(server)
        .await;
}

/// [`mount_gitlab`] without a note of ours, and creating the note returns 201 with `id`.
async fn mount_gitlab_created(server: &MockServer, marker: &str, id: u64) {
    mount_gitlab(server, marker, None).await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/12/merge_requests/4/notes"))
        .respond_with(ResponseTemplate::new(201).set_body_json(note_json(
            id,
            "project_12_bot_1",
            "x",
            false,
        )))
        .mount(server)
        .await;
}

fn gitlab_cmd(server: &MockServer, dir: &Path, summary: &Path) -> Command {
    let mut c = bin();
    c.current_dir(dir)
        .env("GITLAB_CI", "true")
        .env("GITLAB_TOKEN", GITLAB_TOKEN)
        .env("CI_JOB_TOKEN", JOB_TOKEN)
        .env("CI_API_V4_URL", format!("{}/api/v4", server.uri()))
        .env("CI_PROJECT_ID", "12")
        .env("CI_MERGE_REQUEST_IID", "4")
        .env(
            "CI_MERGE_REQUEST_PROJECT_URL",
            "https://gitlab.example.com/kaizen/studio",
        )
        .arg("comment")
        .arg("--from")
        .arg(summary);
    c
}

#[test]
fn gitlab_note_is_created_then_updated_and_refusals_are_reported() {
    let rt = runtime();
    let gl = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let summary_path = root().join("fixtures/summaries/passed.json");
    let markdown =
        render_markdown(&kaizen_loadtest::report::read_summary(&summary_path).unwrap()).unwrap();
    let marker = markdown.lines().next().unwrap().to_string();
    let notes = "/api/v4/projects/12/merge_requests/4/notes";
    let list =
        |page: u32| format!("GET {notes}?sort=asc&order_by=created_at&per_page=100&page={page}");

    rt.block_on(mount_gitlab_created(&gl, &marker, 77));
    let o = output(&mut gitlab_cmd(&gl, dir.path(), &summary_path));
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let reqs = requests(&rt, &gl);
    assert_eq!(
        lines(&reqs),
        [
            "GET /api/v4/user".to_string(),
            list(1),
            list(2),
            format!("POST {notes}")
        ]
    );
    for r in &reqs {
        assert_eq!(header(r, "private-token"), GITLAB_TOKEN);
        assert_eq!(header(r, "authorization"), "", "PRIVATE-TOKEN only");
        assert_eq!(header(r, "job-token"), "", "the job token is never sent");
    }
    assert_eq!(body(&reqs[3]), json!({ "body": markdown }));
    assert_eq!(header(&reqs[3], "content-type"), "application/json");
    assert!(
        stderr.contains(
            "gitlab note: created https://gitlab.example.com/kaizen/studio/-/merge_requests/4"
        ),
        "{stderr}"
    );
    assert_no_secret(&o, dir.path(), &[GITLAB_TOKEN, JOB_TOKEN]);

    // Our note on page 2: edited with PUT.
    rt.block_on(async {
        gl.reset().await;
        mount_gitlab(&gl, &marker, Some(88)).await;
        Mock::given(method("PUT"))
            .and(path(format!("{notes}/88")))
            .respond_with(ResponseTemplate::new(200).set_body_json(note_json(
                88,
                "project_12_bot_1",
                "x",
                false,
            )))
            .mount(&gl)
            .await;
    });
    let o = output(&mut gitlab_cmd(&gl, dir.path(), &summary_path));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let reqs = requests(&rt, &gl);
    assert_eq!(
        lines(&reqs),
        [
            "GET /api/v4/user".to_string(),
            list(1),
            list(2),
            format!("PUT {notes}/88")
        ]
    );
    assert_eq!(body(&reqs[3]), json!({ "body": markdown }));
    assert!(text(&o).1.contains("gitlab note: updated"));

    // A revoked token (401) and a token without the right role (403): an error naming the cause.
    for (status, message) in [(401, "401 Unauthorized"), (403, "403 Forbidden")] {
        rt.block_on(async {
            gl.reset().await;
            if status == 401 {
                Mock::given(method("GET"))
                    .and(path("/api/v4/user"))
                    .respond_with(
                        ResponseTemplate::new(401).set_body_json(json!({ "message": message })),
                    )
                    .mount(&gl)
                    .await;
            } else {
                mount_gitlab(&gl, &marker, None).await;
                Mock::given(method("POST"))
                    .and(path(notes))
                    .respond_with(
                        ResponseTemplate::new(403).set_body_json(json!({ "message": message })),
                    )
                    .mount(&gl)
                    .await;
            }
        });
        let o = output(&mut gitlab_cmd(&gl, dir.path(), &summary_path));
        let (_, stderr) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "GITLAB_TOKEN was refused (HTTP {status}: {message})"
            )),
            "{stderr}"
        );
        assert_no_secret(&o, dir.path(), &[GITLAB_TOKEN, JOB_TOKEN]);
    }
}

// ---------------------------------------------------------------------------------------------
// Slack

#[test]
fn slack_retries_after_429_and_a_job_token_alone_is_only_a_warning() {
    let _lock = crate::load_lock();
    let rt = runtime();
    let stand_in = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let server = api();
    rt.block_on(async {
        Mock::given(method("POST"))
            .and(path(SLACK_PATH))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "1")
                    .set_body_string("rate_limited"),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&stand_in)
            .await;
        Mock::given(method("POST"))
            .and(path(SLACK_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&stand_in)
            .await;
    });
    let webhook = format!("{}{SLACK_PATH}", stand_in.uri());
    let mut c = run_cmd(dir.path(), &server, true);
    c.env("KAIZEN_LOADTEST_SLACK_WEBHOOK", &webhook)
        .arg("--gitlab-note")
        // A merge request pipeline whose only token is the job's: nothing may be sent for it.
        .env("CI_JOB_TOKEN", JOB_TOKEN)
        .env("CI_API_V4_URL", format!("{}/api/v4", stand_in.uri()))
        .env("CI_PROJECT_ID", "12")
        .env("CI_MERGE_REQUEST_IID", "4")
        .env(
            "CI_MERGE_REQUEST_PROJECT_URL",
            "https://gitlab.example.com/kaizen/studio",
        )
        .env(
            "CI_PIPELINE_URL",
            "https://gitlab.example.com/kaizen/studio/-/pipelines/5",
        );
    let started = Instant::now();
    let o = output(&mut c);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(99), "{stdout}\n{stderr}");

    let reqs = requests(&rt, &stand_in);
    assert_eq!(
        lines(&reqs),
        [format!("POST {SLACK_PATH}"), format!("POST {SLACK_PATH}")],
        "no GitLab request"
    );
    assert_eq!(reqs[0].body, reqs[1].body, "the same message again");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(header(&reqs[0], "content-type"), "application/json");
    let msg = body(&reqs[0]);
    let blocks = msg["blocks"].as_array().unwrap();
    assert_eq!(
        blocks[0],
        json!({ "type": "header", "text": { "type": "plain_text", "text": "❌ Load test failed · kaizen-studio · staging", "emoji": true } })
    );
    let failed = blocks[2]["text"]["text"].as_str().unwrap();
    assert!(
        failed.starts_with(
            "*Failed thresholds*\n• *smoke* `http_req_duration` `p(95)&lt;0.001`: observed "
        ),
        "{failed}"
    );
    assert!(failed.ends_with(", limit 0.001 ms"), "{failed}");
    let buttons = &blocks.iter().find(|b| b["type"] == "actions").unwrap()["elements"];
    assert_eq!(
        buttons[0]["url"],
        "https://gitlab.example.com/kaizen/studio/-/pipelines/5"
    );
    assert_eq!(
        buttons[1]["url"],
        "https://gitlab.example.com/kaizen/studio/-/merge_requests/4"
    );
    assert!(msg["text"]
        .as_str()
        .unwrap()
        .starts_with("❌ Load test failed: kaizen-studio on staging (smoke)"));

    assert!(stderr.contains("slack: sent"), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].starts_with("warning: gitlab note: not posted: only CI_JOB_TOKEN is set"),
        "{}",
        warnings[0]
    );
    assert_no_secret(
        &o,
        dir.path(),
        &[SLACK_PATH, &webhook, JOB_TOKEN, "hooksecret0do0not0print"],
    );
    server.stop();
}

#[test]
fn help_never_shows_the_webhook() {
    let webhook = format!("https://hooks.slack.com{SLACK_PATH}");
    let o = output(
        bin()
            .args(["run", "--help"])
            .env("KAIZEN_LOADTEST_SLACK_WEBHOOK", &webhook),
    );
    let (stdout, _) = text(&o);
    assert!(stdout.contains("--slack-webhook <URL>"), "{stdout}");
    assert!(!stdout.contains("hooksecret"), "{stdout}");
}

/// A Slack that takes a minute to answer: a signal after the run leaves it, and the reports
/// written before it stay.
#[test]
fn a_signal_after_the_run_skips_the_notifications_and_keeps_the_reports() {
    let _lock = crate::load_lock();
    let rt = runtime();
    let stand_in = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let server = api();
    rt.block_on(
        Mock::given(method("POST"))
            .and(path(SLACK_PATH))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string("ok")
                    .set_delay(Duration::from_secs(60)),
            )
            .mount(&stand_in),
    );
    let webhook = format!("{}{SLACK_PATH}", stand_in.uri());
    let mut c = run_cmd(dir.path(), &server, true);
    c.env("KAIZEN_LOADTEST_SLACK_WEBHOOK", &webhook)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    // Slack has the message: the run is over and its reports are written.
    let deadline = Instant::now() + Duration::from_secs(60);
    while requests(&rt, &stand_in).is_empty() {
        assert!(Instant::now() < deadline, "no message reached Slack");
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&o);
    // The verdict stands: the run itself was not interrupted.
    assert_eq!(o.status.code(), Some(99), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("skipping the baseline download and the notifications that are left"),
        "{stderr}"
    );
    assert!(stderr.contains("skipped: stopped by a signal"), "{stderr}");
    let reports = dir.path().join("reports");
    let names: Vec<String> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("_summary.json")),
        "{names:?}"
    );
    assert_no_secret(&o, dir.path(), &[SLACK_PATH, &webhook]);
    server.stop();
}

/// Slack's failure answers, through the library with short waits.
#[test]
fn slack_gives_up_after_bounded_retries_and_reports_slacks_error_text() {
    let rt = runtime();
    let stand_in = rt.block_on(MockServer::start());
    let slack = Slack {
        webhook: Secret::new(format!("{}{SLACK_PATH}", stand_in.uri())),
        retry: Retry {
            attempts: 3,
            backoff: Duration::from_millis(20),
            max_wait: Duration::from_secs(2),
        },
    };
    let payload = json!({ "text": "t" });
    let cases: Vec<(ResponseTemplate, usize, &str)> = vec![
        (
            ResponseTemplate::new(500).set_body_string("internal_error"),
            3,
            "HTTP 500: internal_error (gave up after 3 tries)",
        ),
        (
            ResponseTemplate::new(400).set_body_string("invalid_payload"),
            1,
            "HTTP 400: invalid_payload",
        ),
        (
            ResponseTemplate::new(404).set_body_string("no_service"),
            1,
            "HTTP 404: no_service",
        ),
        (
            ResponseTemplate::new(429)
                .insert_header("retry-after", "120")
                .set_body_string("rate_limited"),
            1,
            "HTTP 429: rate_limited (rate limited; gave up after 1 tries, Retry-After 120s)",
        ),
    ];
    for (response, tries, error) in cases {
        let result = rt.block_on(async {
            stand_in.reset().await;
            Mock::given(method("POST"))
                .and(path(SLACK_PATH))
                .respond_with(response)
                .mount(&stand_in)
                .await;
            slack.post(&payload).await
        });
        let err: NotifyError = result.unwrap_err();
        assert_eq!(err.to_string(), error);
        assert_eq!(requests(&rt, &stand_in).len(), tries, "{error}");
    }
    // A 5xx that clears up is a success.
    let result = rt.block_on(async {
        stand_in.reset().await;
        Mock::given(method("POST"))
            .and(path(SLACK_PATH))
            .respond_with(ResponseTemplate::new(503).set_body_string("service_unavailable"))
            .up_to_n_times(2)
            .with_priority(1)
            .mount(&stand_in)
            .await;
        Mock::given(method("POST"))
            .and(path(SLACK_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&stand_in)
            .await;
        slack.post(&payload).await
    });
    assert_eq!(result.unwrap(), Delivered::Sent);
    assert_eq!(requests(&rt, &stand_in).len(), 3);
    // Nothing listening: the error names no URL.
    let gone = Slack {
        webhook: Secret::new(format!("http://127.0.0.1:9{SLACK_PATH}")),
        retry: slack.retry,
    };
    let err = rt.block_on(gone.post(&payload)).unwrap_err().to_string();
    assert!(
        !err.contains("hooksecret") && !err.contains("127.0.0.1"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// The shipped YAML: the Action, the workflows, the GitLab template and component.

fn yaml_docs(path: &Path) -> Vec<yaml_rust2::Yaml> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn workflows() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = ["examples/github", ".github/workflows"]
        .iter()
        .flat_map(|d| files(&root().join(d)))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    out.sort();
    out
}

#[test]
fn the_action_and_every_workflow_pass_githubs_schemas() {
    check_builtin_schema("vendor.github-actions", &[root().join("action.yml")]);
    let wf = workflows();
    let names: Vec<String> = wf
        .iter()
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    for want in [
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
        ".github/workflows/action-self-test.yml",
        "examples/github/loadtest.yml",
        "examples/github/loadtest-comment.yml",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} is missing: {names:?}"
        );
    }
    check_builtin_schema("vendor.github-workflows", &wf);
}

/// Every `run:` script of the Action and of the workflows gets its values through `env:`: an
/// expression inside a script is a shell injection waiting for a branch name.
#[test]
fn no_expression_inside_a_run_script() {
    let mut scripts = Vec::new();
    let action = &yaml_docs(&root().join("action.yml"))[0];
    for step in action["runs"]["steps"].as_vec().unwrap() {
        if let Some(run) = step["run"].as_str() {
            scripts.push(("action.yml".to_string(), run.to_string()));
        }
    }
    for wf in workflows() {
        let doc = &yaml_docs(&wf)[0];
        for (_, job) in doc["jobs"].as_hash().unwrap() {
            for step in job["steps"].as_vec().into_iter().flatten() {
                if let Some(run) = step["run"].as_str() {
                    scripts.push((wf.display().to_string(), run.to_string()));
                }
            }
        }
    }
    assert!(scripts.len() > 10);
    for (file, script) in scripts {
        assert!(
            !script.contains("${{"),
            "{file}: an expression in a run: script:\n{script}"
        );
    }
    // And every input of the Action is used somewhere.
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let used = names_after(&text, "inputs.");
    for (name, _) in action["inputs"].as_hash().unwrap() {
        let name = name.as_str().unwrap();
        assert!(used.contains(name), "input {name} is never used");
    }
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

#[test]
fn the_gitlab_template_and_component_pass_gitlabs_schema() {
    let template = root().join("templates/loadtest.gitlab-ci.yml");
    check_builtin_schema("vendor.gitlab-ci", std::slice::from_ref(&template));
    let job = &yaml_docs(&template)[0][".kaizen-loadtest"];
    assert_eq!(
        job["artifacts"]["reports"]["junit"].as_str(),
        Some("${KAIZEN_LOADTEST_OUT_DIR}/*_junit.xml")
    );
    assert_eq!(
        job["artifacts"]["reports"]["load_performance"].as_str(),
        Some("gl-load-performance-report.json")
    );

    // The component: a spec document, then the job; each checked as its own document.
    let component = root().join("templates/loadtest/template.yml");
    let text = std::fs::read_to_string(&component).unwrap();
    let (spec, body) = text.split_once("\n---\n").expect("two YAML documents");
    let dir = tempfile::tempdir().unwrap();
    let (spec_file, body_file) = (dir.path().join("spec.yml"), dir.path().join("body.yml"));
    std::fs::write(&spec_file, spec).unwrap();
    std::fs::write(&body_file, body).unwrap();
    check_builtin_schema("vendor.gitlab-ci", &[spec_file, body_file]);

    let docs = yaml_docs(&component);
    assert_eq!(docs.len(), 2);
    let declared: std::collections::BTreeSet<String> = docs[0]["spec"]["inputs"]
        .as_hash()
        .expect("spec: inputs")
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let re_used = names_after(body, "$[[ inputs.");
    assert_eq!(
        re_used, declared,
        "the body uses exactly the inputs the spec declares"
    );
    let (_, job) = docs[1].as_hash().unwrap().iter().next().unwrap();
    assert_eq!(
        job["artifacts"]["reports"]["junit"].as_str(),
        Some("$[[ inputs.out-dir ]]/*_junit.xml")
    );
    assert_eq!(
        job["artifacts"]["reports"]["load_performance"].as_str(),
        Some("gl-load-performance-report.json")
    );
    assert_eq!(
        job["script"],
        docs_script(&template),
        "the component runs the template's script"
    );
}

fn docs_script(template: &Path) -> yaml_rust2::Yaml {
    yaml_docs(template)[0][".kaizen-loadtest"]["script"].clone()
}

// ---------------------------------------------------------------------------------------------
// The Action's and the GitLab template's scripts, run here with a simulated runner.

/// Reads a `$GITHUB_OUTPUT` file: `name=value` lines and `name<<DELIMITER` blocks.
fn read_outputs(path: &Path) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = std::collections::BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

/// A simulated GitHub runner for the Action's composite steps.
struct Runner {
    workspace: PathBuf,
    temp: PathBuf,
    action_path: PathBuf,
    inputs: std::collections::BTreeMap<String, String>,
    step_outputs: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    path_dirs: Vec<PathBuf>,
    env: Vec<(String, String)>,
    step_summary: PathBuf,
}

impl Runner {
    /// Replaces each `${{ ... }}` of a step's `env:` value, as the runner would.
    fn eval(&self, value: &str) -> String {
        let mut out = String::new();
        let mut rest = value;
        while let Some(i) = rest.find("${{") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find("}}").expect("closed expression") + i;
            let expr = rest[i + 3..end].trim();
            let v = if let Some(name) = expr.strip_prefix("inputs.") {
                self.inputs
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| panic!("unknown input {name}"))
            } else if expr == "github.action_path" {
                self.action_path.display().to_string()
            } else if expr == "github.token" {
                GITHUB_TOKEN.to_string()
            } else if let Some(rest) = expr.strip_prefix("steps.") {
                let (step, output) = rest.split_once(".outputs.").expect("steps.ID.outputs.NAME");
                self.step_outputs
                    .get(step)
                    .and_then(|o| o.get(output))
                    .cloned()
                    .unwrap_or_default()
            } else {
                panic!("the simulated runner does not know the expression {expr}")
            };
            out.push_str(&v);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// Runs one `run:` step with `bash --noprofile --norc -eo pipefail`, as GitHub does.
    fn run_step(&mut self, step: &yaml_rust2::Yaml) -> Output {
        let id = step["id"].as_str().unwrap().to_string();
        let script = self.temp.join(format!("{id}.sh"));
        std::fs::write(&script, step["run"].as_str().unwrap()).unwrap();
        let output_file = self.temp.join(format!("{id}.output"));
        let path_file = self.temp.join(format!("{id}.path"));
        let mut c = Command::new("bash");
        c.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(&self.workspace)
            .env_clear();
        let mut path: Vec<PathBuf> = self.path_dirs.clone();
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        c.env("PATH", std::env::join_paths(path).unwrap())
            .env("HOME", &self.temp)
            .env("GITHUB_ACTIONS", "true")
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TEMP", &self.temp)
            .env("GITHUB_WORKSPACE", &self.workspace)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_PATH", &path_file)
            .env("GITHUB_STEP_SUMMARY", &self.step_summary);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(env) = step["env"].as_hash() {
            for (k, v) in env {
                let v = match v {
                    yaml_rust2::Yaml::String(s) => s.clone(),
                    other => other
                        .as_bool()
                        .map_or_else(|| format!("{other:?}"), |b| b.to_string()),
                };
                c.env(k.as_str().unwrap(), self.eval(&v));
            }
        }
        let o = output(&mut c);
        self.step_outputs.insert(id, read_outputs(&output_file));
        for line in std::fs::read_to_string(&path_file)
            .unwrap_or_default()
            .lines()
        {
            self.path_dirs.insert(0, PathBuf::from(line));
        }
        o
    }
}

fn action() -> yaml_rust2::Yaml {
    yaml_docs(&root().join("action.yml")).remove(0)
}

fn runner(workspace: &Path, temp: &Path, inputs: &[(&str, String)]) -> Runner {
    let action = action();
    let mut all = std::collections::BTreeMap::new();
    for (k, v) in action["inputs"].as_hash().unwrap() {
        all.insert(
            k.as_str().unwrap().to_string(),
            v["default"].as_str().unwrap_or("").to_string(),
        );
    }
    for (k, v) in inputs {
        assert!(all.contains_key(*k), "the Action has no input {k}");
        all.insert(k.to_string(), v.clone());
    }
    let mut r = Runner {
        workspace: workspace.to_path_buf(),
        temp: temp.to_path_buf(),
        action_path: root(),
        inputs: all,
        step_outputs: Default::default(),
        path_dirs: vec![],
        env: vec![],
        step_summary: temp.join("step_summary.md"),
    };
    // The default of github-token is an expression.
    let token = r.eval(&r.inputs["github-token"].clone());
    r.inputs.insert("github-token".into(), token);
    r
}

fn step<'a>(action: &'a yaml_rust2::Yaml, id: &str) -> &'a yaml_rust2::Yaml {
    action["runs"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .unwrap()
}

/// The Action's own scripts with `version: source` (the binary built for these tests stands in
/// for the `cargo build`), on a pull request event, against the reference API and a GitHub
/// stand-in: the outputs, the files and the comment it leaves.
#[test]
fn the_actions_steps_run_on_a_simulated_runner() {
    let _lock = crate::load_lock();
    let rt = runtime();
    let gh = rt.block_on(MockServer::start());
    let marker = "<!-- kaizen-loadtest:kaizen-studio:staging -->";
    rt.block_on(async {
        mount_github_created(&gh, "", marker, 9003).await;
        Mock::given(method("GET"))
            .and(path("/repos/kaizen/studio/actions/runs"))
            .and(query_param("branch", "main"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "total_count": 0, "workflow_runs": [] })),
            )
            .mount(&gh)
            .await;
    });
    let server = api();
    let ws = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    plan(ws.path(), true);
    let event = pull_request_event(temp.path());
    let mut r = runner(
        ws.path(),
        temp.path(),
        &[
            ("version", "source".into()),
            ("scenarios", "smoke".into()),
            ("environment", "staging".into()),
            ("base-url", server.base_url()),
            ("fail-on-threshold", "false".into()),
            ("baseline", "main".into()),
        ],
    );
    r.env = vec![
        (
            "KAIZEN_LOADTEST_PREBUILT".into(),
            env!("CARGO_BIN_EXE_kaizen-loadtest").into(),
        ),
        ("GITHUB_EVENT_NAME".into(), "pull_request".into()),
        ("GITHUB_EVENT_PATH".into(), event.display().to_string()),
        ("GITHUB_REPOSITORY".into(), "kaizen/studio".into()),
        ("GITHUB_API_URL".into(), gh.uri()),
        ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
        ("GITHUB_RUN_ID".into(), "55".into()),
    ];
    let action = action();
    let o = r.run_step(step(&action, "install"));
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("kaizen-loadtest {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    let bin = PathBuf::from(&r.step_outputs["install"]["bin"]);
    assert!(
        bin.starts_with(temp.path()) && bin.is_file(),
        "{}",
        bin.display()
    );
    assert_eq!(
        r.path_dirs,
        [bin.parent().unwrap()],
        "on the PATH of later steps"
    );

    let o = r.run_step(step(&action, "run"));
    let (stdout, stderr) = text(&o);
    assert!(
        o.status.success(),
        "fail-on-threshold: false lets the step pass\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("::notice title=kaizen-loadtest::thresholds failed (exit code 99)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("::error file=loadtest.yaml,line=9,"),
        "{stdout}"
    );
    assert!(
        stderr.contains("note: baseline not used: no successful workflow run on main yet"),
        "baseline: main asks for github-artifact:main\n{stderr}"
    );
    let out = &r.step_outputs["run"];
    assert_eq!(out["passed"], "false");
    assert_eq!(out["exit-code"], "99");
    assert_eq!(out["report-dir"], "reports");
    for key in ["summary-json", "junit", "markdown", "html"] {
        assert!(ws.path().join(&out[key]).is_file(), "{key}: {}", out[key]);
    }
    // Every output of the Action is one its run step wrote.
    for (name, o) in action["outputs"].as_hash().unwrap() {
        let name = name.as_str().unwrap();
        assert_eq!(
            o["value"].as_str(),
            Some(format!("${{{{ steps.run.outputs.{name} }}}}").as_str())
        );
        assert!(out.contains_key(name), "{name}");
    }
    let markdown = std::fs::read_to_string(ws.path().join(&out["markdown"])).unwrap();
    assert_eq!(
        std::fs::read_to_string(&r.step_summary).unwrap(),
        format!("{markdown}\n")
    );
    let reqs = requests(&rt, &gh);
    assert_eq!(
        lines(&reqs).last().unwrap(),
        "POST /repos/kaizen/studio/issues/7/comments",
        "comment defaults to true"
    );
    assert_eq!(body(reqs.last().unwrap()), json!({ "body": markdown }));
    // The artifact step uploads what the run step says.
    let upload = action["runs"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .unwrap();
    assert_eq!(
        upload["with"]["path"].as_str(),
        Some("${{ steps.run.outputs.report-dir }}")
    );
    assert_no_secret(&o, ws.path(), &[GITHUB_TOKEN]);
    server.stop();
}

/// The release path of the install step: the archive named by the manifest is fetched (here from
/// a `file://` mirror), checked against its sha256, unpacked; a tampered archive stops the job.
#[test]
fn the_action_installs_a_release_only_when_its_sha256_matches() {
    let temp = tempfile::tempdir().unwrap();
    let mirror = temp.path().join("mirror/v9.8.7");
    let pkg = temp
        .path()
        .join("pkg/kaizen-loadtest-9.8.7-x86_64-unknown-linux-musl");
    std::fs::create_dir_all(&mirror).unwrap();
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_kaizen-loadtest"),
        pkg.join("kaizen-loadtest"),
    )
    .unwrap();
    let archive = "kaizen-loadtest-9.8.7-x86_64-unknown-linux-musl.tar.gz";
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(mirror.join(archive))
        .arg("-C")
        .arg(temp.path().join("pkg"))
        .arg("kaizen-loadtest-9.8.7-x86_64-unknown-linux-musl")
        .status()
        .unwrap();
    assert!(tar.success());
    let sha = {
        use sha2::Digest as _;
        format!(
            "{:x}",
            sha2::Sha256::digest(std::fs::read(mirror.join(archive)).unwrap())
        )
    };
    let action = action();
    for (label, digest, ok) in [
        ("good", sha.clone(), true),
        ("tampered", "0".repeat(64), false),
    ] {
        // The Action's directory as the runner would have it: the manifest is all it reads.
        let action_path = temp.path().join(format!("action-{label}"));
        std::fs::create_dir_all(action_path.join("dist")).unwrap();
        let manifest = json!({
            "schema": 1,
            "download_base": "https://example.invalid/never-used",
            "versions": {
                "0.0.1": { "x86_64-unknown-linux-musl": { "archive": "old.tar.gz", "sha256": "1".repeat(64) } },
                "9.8.7": { "x86_64-unknown-linux-musl": { "archive": archive, "sha256": digest } },
                "10.0.0-rc.1": { "x86_64-unknown-linux-musl": { "archive": "rc.tar.gz", "sha256": "2".repeat(64) } }
            }
        });
        std::fs::write(action_path.join("dist/manifest.json"), manifest.to_string()).unwrap();
        let runner_temp = temp.path().join(format!("runner-{label}"));
        std::fs::create_dir_all(&runner_temp).unwrap();
        let mut r = runner(temp.path(), &runner_temp, &[]);
        r.action_path = action_path;
        r.env = vec![(
            "KAIZEN_LOADTEST_RELEASE_URL".into(),
            format!("file://{}", temp.path().join("mirror").display()),
        )];
        let o = r.run_step(step(&action, "install"));
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.success(), ok, "{label}\n{stdout}\n{stderr}");
        assert!(
            stdout.contains("downloading kaizen-loadtest 9.8.7 for x86_64-unknown-linux-musl"),
            "the newest stable version\n{stdout}"
        );
        if ok {
            let bin = PathBuf::from(&r.step_outputs["install"]["bin"]);
            assert_eq!(
                std::fs::read(&bin).unwrap(),
                std::fs::read(env!("CARGO_BIN_EXE_kaizen-loadtest")).unwrap()
            );
        } else {
            assert!(stdout.contains(&format!("::error title=kaizen-loadtest::checksum mismatch for {archive}: expected {digest} (dist/manifest.json), got {sha}")), "{stdout}");
            assert!(!r.step_outputs["install"].contains_key("bin"));
        }
    }
}

/// The GitLab template's `script:` lines under `sh`, with a merge request pipeline's variables:
/// the reports GitLab collects exist where `artifacts:` says, and the note is posted.
#[test]
fn the_gitlab_templates_script_runs_with_simulated_ci_variables() {
    let _lock = crate::load_lock();
    let rt = runtime();
    let gl = rt.block_on(MockServer::start());
    let server = api();
    let ws = tempfile::tempdir().unwrap();
    plan(ws.path(), false);
    let markdown_marker = "<!-- kaizen-loadtest:kaizen-studio:staging -->";
    rt.block_on(mount_gitlab_created(&gl, markdown_marker, 90));
    let template = root().join("templates/loadtest.gitlab-ci.yml");
    let doc = &yaml_docs(&template)[0];
    let job = &doc[".kaizen-loadtest"];
    let script: Vec<&str> = job["script"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let bin_dir = ws.path().join(".bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_kaizen-loadtest"),
        bin_dir.join("kaizen-loadtest"),
    )
    .unwrap();
    // The script under `sh -e`, with nothing but PATH and the job's `variables:`.
    let sh = || {
        let mut c = Command::new("sh");
        c.arg("-ec")
            .arg(script.join("\n"))
            .current_dir(ws.path())
            .env_clear();
        c.env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()));
        for (k, v) in job["variables"].as_hash().unwrap() {
            c.env(k.as_str().unwrap(), v.as_str().unwrap());
        }
        c
    };
    let mut c = sh();
    c.env("KAIZEN_LOADTEST_ENV", "staging")
        .env("KAIZEN_LOADTEST_BASE_URL", server.base_url())
        .env("KAIZEN_LOADTEST_DURATION", "")
        .env("GITLAB_CI", "true")
        .env("CI_PIPELINE_SOURCE", "merge_request_event")
        .env("CI_API_V4_URL", format!("{}/api/v4", gl.uri()))
        .env("CI_PROJECT_ID", "12")
        .env("CI_MERGE_REQUEST_IID", "4")
        .env("CI_JOB_TOKEN", JOB_TOKEN)
        .env("GITLAB_TOKEN", GITLAB_TOKEN);
    let o = output(&mut c);
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let out_dir = ws.path().join("reports");
    let junit: Vec<_> = files(&out_dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with("_junit.xml"))
        .collect();
    assert_eq!(
        junit.len(),
        1,
        "reports: junit: ${{KAIZEN_LOADTEST_OUT_DIR}}/*_junit.xml"
    );
    let k6 = ws.path().join(
        job["artifacts"]["reports"]["load_performance"]
            .as_str()
            .unwrap(),
    );
    let k6: Value = serde_json::from_str(&std::fs::read_to_string(&k6).unwrap()).unwrap();
    assert!(
        k6["metrics"]["http_reqs"].is_object(),
        "a k6 summary export: {k6}"
    );
    let reqs = requests(&rt, &gl);
    assert_eq!(
        lines(&reqs).last().unwrap(),
        "POST /api/v4/projects/12/merge_requests/4/notes"
    );
    assert!(stderr.contains("gitlab note: created"), "{stderr}");
    assert_no_secret(&o, ws.path(), &[GITLAB_TOKEN, JOB_TOKEN]);
    server.stop();

    // Exit code 99 still fails the job after the k6 copy.
    let mut c2 = sh();
    plan(ws.path(), true);
    let server = api();
    c2.env("KAIZEN_LOADTEST_ENV", "staging")
        .env("KAIZEN_LOADTEST_BASE_URL", server.base_url())
        .env("KAIZEN_LOADTEST_GITLAB_NOTE", "false");
    let o = output(&mut c2);
    assert_eq!(o.status.code(), Some(99), "{}", text(&o).1);
    server.stop();
}

// ---------------------------------------------------------------------------------------------
// Baselines from the last successful run on a branch.

fn artifact_json(id: u64, name: &str) -> Value {
    json!({
        "id": id, "node_id": format!("MDg6QXJ0aWZhY3Q{id}"), "name": name, "size_in_bytes": 2048,
        "url": format!("https://github.example.com/api/v3/repos/kaizen/studio/actions/artifacts/{id}"),
        "archive_download_url": format!("https://github.example.com/api/v3/repos/kaizen/studio/actions/artifacts/{id}/zip"),
        "expired": false, "digest": null,
        "created_at": "2026-03-01T12:00:00Z", "expires_at": "2026-05-30T12:00:00Z", "updated_at": "2026-03-01T12:00:00Z",
        "workflow_run": { "id": 501, "repository_id": 42, "head_repository_id": 42, "head_branch": "main", "head_sha": "abc1234def5678" }
    })
}

#[test]
fn baseline_main_is_the_summary_in_the_last_successful_runs_artifact() {
    let _lock = crate::load_lock();
    let rt = runtime();
    let gh = rt.block_on(MockServer::start());
    let server = api();
    let dir = tempfile::tempdir().unwrap();
    let event = pull_request_event(dir.path());

    // The run on main whose reports the artifact holds, zipped as upload-artifact does
    // (deflated, paths under the report directory).
    let o = output(&mut run_cmd(dir.path(), &server, false));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let base_json = report(dir.path(), "_summary.json");
    let zip = dir.path().join("artifact.zip");
    let py = output(
        Command::new(crate::reports::python())
            .arg("-c")
            .arg(
                "import sys, zipfile\n\
                 with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n\
                 \x20   z.writestr('notes.txt', 'not a summary')\n\
                 \x20   z.write(sys.argv[2], 'reports/' + sys.argv[2].rsplit('/', 1)[1])\n",
            )
            .arg(&zip)
            .arg(&base_json),
    );
    assert!(py.status.success(), "{}", text(&py).1);
    std::fs::remove_dir_all(dir.path().join("reports")).unwrap();
    let zip_bytes = std::fs::read(&zip).unwrap();

    let runs = "/repos/kaizen/studio/actions/runs";
    let mount = |with_runs: bool| {
        let zip_bytes = zip_bytes.clone();
        let gh = &gh;
        async move {
            gh.reset().await;
            let list = if with_runs {
                json!({ "total_count": 1, "workflow_runs": [{
                    "id": 501, "name": "load tests", "head_branch": "main", "head_sha": "abc1234def5678",
                    "event": "push", "status": "completed", "conclusion": "success", "run_attempt": 1
                }] })
            } else {
                json!({ "total_count": 0, "workflow_runs": [] })
            };
            Mock::given(method("GET"))
                .and(path(runs))
                .and(query_param("branch", "main"))
                .and(query_param("status", "success"))
                .respond_with(ResponseTemplate::new(200).set_body_json(list))
                .mount(gh)
                .await;
            Mock::given(method("GET"))
                .and(path(format!("{runs}/501/artifacts")))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "total_count": 2,
                    "artifacts": [artifact_json(9, "coverage"), artifact_json(10, "loadtest-reports-suite-1")]
                })))
                .mount(gh)
                .await;
            Mock::given(method("GET"))
                .and(path("/repos/kaizen/studio/actions/artifacts/10/zip"))
                .respond_with(ResponseTemplate::new(302).insert_header(
                    "location",
                    format!("{}/blob/artifact-10.zip?sig=short-lived", gh.uri()).as_str(),
                ))
                .mount(gh)
                .await;
            Mock::given(method("GET"))
                .and(path("/blob/artifact-10.zip"))
                .respond_with(ResponseTemplate::new(200).set_body_bytes(zip_bytes))
                .mount(gh)
                .await;
        }
    };
    rt.block_on(mount(true));
    let mut c = run_cmd(dir.path(), &server, false);
    github_env(&mut c, &gh, "", &event);
    c.args(["--baseline", "github-artifact:main"]);
    let o = output(&mut c);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let reqs = requests(&rt, &gh);
    assert_eq!(
        lines(&reqs),
        [
            "GET /repos/kaizen/studio/actions/runs?branch=main&status=success&exclude_pull_requests=true&per_page=20",
            "GET /repos/kaizen/studio/actions/runs/501/artifacts?per_page=100",
            "GET /repos/kaizen/studio/actions/artifacts/10/zip",
            "GET /blob/artifact-10.zip?sig=short-lived",
        ],
        "only the artifact named like the Action's is downloaded"
    );
    reqs[..3].iter().for_each(assert_github_headers);
    assert_eq!(
        header(&reqs[3], "authorization"),
        "",
        "the token never goes to the artifact storage"
    );
    assert!(stderr.contains("baseline: github-artifact:main is run 501 (abc1234def56), artifact loadtest-reports-suite-1"), "{stderr}");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(report(dir.path(), "_summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["baseline"]["source"], "github-artifact:main");
    assert_eq!(
        summary["baseline"]["note"],
        Value::Null,
        "{}",
        summary["baseline"]
    );
    assert!(!summary["baseline"]["scenarios"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_no_secret(&o, dir.path(), &[GITHUB_TOKEN]);

    // No successful run yet: a note in the report, the exit code untouched.
    rt.block_on(mount(false));
    std::fs::remove_dir_all(dir.path().join("reports")).unwrap();
    let mut c = run_cmd(dir.path(), &server, false);
    github_env(&mut c, &gh, "", &event);
    c.args(["--baseline", "github-artifact:main"]);
    let o = output(&mut c);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("note: baseline not used: no successful workflow run on main yet"),
        "{stderr}"
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(report(dir.path(), "_summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        summary["baseline"]["note"],
        "baseline not used: no successful workflow run on main yet"
    );
    server.stop();
}

#[test]
fn merge_announces_the_merged_run_on_slack_without_printing_the_webhook() {
    let _lock = crate::load_lock();
    let rt = runtime();
    let stand_in = rt.block_on(MockServer::start());
    rt.block_on(async {
        Mock::given(method("POST"))
            .and(path(SLACK_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&stand_in)
            .await;
    });
    let dir = tempfile::tempdir().unwrap();
    let server = api();
    // Two segments of a failing run (each in its own directory), then their merge.
    let seg_dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for (seg, d) in ["1/2", "2/2"].iter().zip(&seg_dirs) {
        let mut c = run_cmd(d.path(), &server, true);
        c.args([
            "--segment",
            seg,
            "--run-id",
            "m1",
            "--format",
            "json",
            "--notify",
            "never",
        ]);
        let o = output(&mut c);
        // The plan has 1 VU: segment 2/2 gets none, sends nothing and has no data to fail on.
        assert!(
            matches!(o.status.code(), Some(0) | Some(99)),
            "{:?}",
            text(&o)
        );
    }
    let parts: Vec<PathBuf> = seg_dirs
        .iter()
        .flat_map(|d| files(&d.path().join("reports")))
        .filter(|p| p.to_string_lossy().ends_with("_summary.json"))
        .collect();
    assert_eq!(parts.len(), 2, "{parts:?}");
    let webhook = format!("{}{SLACK_PATH}", stand_in.uri());
    let mut c = bin();
    c.current_dir(dir.path()).arg("merge").args(&parts).args([
        "--out-dir",
        "merged",
        "--slack-webhook",
        &webhook,
    ]);
    let o = output(&mut c);
    assert_eq!(o.status.code(), Some(99), "{:?}", text(&o));
    let reqs = requests(&rt, &stand_in);
    assert_eq!(reqs.len(), 1, "{:?}", lines(&reqs));
    let sent = body(&reqs[0]).to_string();
    assert!(sent.contains("http_req_duration"), "{sent}");
    assert_no_secret(
        &o,
        &dir.path().join("merged"),
        &[SLACK_PATH, "hooksecret0do0not0print"],
    );
}
