//! GitHub: the sticky pull request comment (created, then edited in place; a fork's read-only
//! token; GitHub Enterprise and a body too long), the Actions outputs, annotations and job
//! summary, and the `github-artifact:` baseline, against a stand-in for GitHub's REST API.
//!
//! The stand-in's helpers are shared with the Action's tests, whose run step posts the comment.

use std::path::{Path, PathBuf};
use std::process::Command;

use kaizen_loadtest::fixture::FixtureConfig;
use kaizen_loadtest::notify::render_markdown;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{
    assert_no_secret, body, header, keyed, lines, output, report, requests, run_cmd, runtime, text,
    GITHUB_TOKEN,
};
use crate::support::{self, bin, root};

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
pub(super) async fn mount_github_created(server: &MockServer, prefix: &str, marker: &str, id: u64) {
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

pub(super) fn pull_request_event(dir: &Path) -> PathBuf {
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
    let _lock = support::load_lock();
    let rt = runtime();
    let gh = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let server = support::api(FixtureConfig::default());
    let event = pull_request_event(dir.path());
    let marker = "<!-- kaizen-loadtest:kaizen-studio:staging:smoke -->";

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
            // Listed again, in case another job created the same comment at the same moment.
            "GET /repos/kaizen/studio/issues/7/comments?per_page=100",
            "GET /repositories/42/issues/7/comments?per_page=100&page=2",
        ]
    );
    reqs.iter().for_each(assert_github_headers);
    let markdown = std::fs::read_to_string(report(dir.path(), "_summary.md")).unwrap();
    let markdown = keyed(&markdown, "kaizen-studio:staging:smoke");
    assert!(markdown.starts_with(marker), "{markdown}");
    assert_eq!(
        body(&reqs[3]),
        json!({ "body": markdown }),
        "the comment is the Markdown report, its key in the marker"
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
    let markdown = keyed(&markdown, "kaizen-studio:staging:smoke");
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
    let _lock = support::load_lock();
    let rt = runtime();
    let gh = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let server = support::api(FixtureConfig::default());
    let event = pull_request_event(dir.path());
    rt.block_on(async {
        mount_github(&gh, "", "<!-- kaizen-loadtest:kaizen-studio:staging:smoke -->", None).await;
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
    let markdown = render_markdown(
        &summary,
        "kaizen-studio:staging:auth+agents",
        kaizen_loadtest::report::COMMENT_MAX,
    )
    .unwrap();
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
            "GET /api/v3/repos/kaizen/studio/issues/7/comments?per_page=100",
            "GET /api/v3/repositories/42/issues/7/comments?per_page=100&page=2",
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

/// A workflow artifact as GitHub lists it, from run 501 on main.
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
    let _lock = support::load_lock();
    let rt = runtime();
    let gh = rt.block_on(MockServer::start());
    let server = support::api(FixtureConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let event = pull_request_event(dir.path());

    // The run on main whose reports the artifact holds, zipped as upload-artifact does
    // (deflated, paths under the report directory).
    let o = output(&mut run_cmd(dir.path(), &server, false));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let base_json = report(dir.path(), "_summary.json");
    let zip = dir.path().join("artifact.zip");
    let py = output(
        Command::new(support::tools::python())
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

/// Two jobs with the same key create their comment at the same moment (neither saw the other's
/// when it looked): the later one lists again, finds both, writes its report into the older one
/// and deletes its own, so one sticky comment is left and later runs update it.
#[test]
fn two_jobs_creating_the_same_sticky_comment_at_once_end_with_one() {
    let rt = runtime();
    let gh = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let summary_path = root().join("fixtures/summaries/passed.json");
    let marker = "<!-- kaizen-loadtest:nightly-stress -->";
    let list = "/repos/kaizen/studio/issues/7/comments";
    rt.block_on(async {
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(
                ResponseTemplate::new(403)
                    .set_body_json(json!({ "message": "Resource not accessible by integration" })),
            )
            .mount(&gh)
            .await;
        // Before creating: nothing of ours yet.
        Mock::given(method("GET"))
            .and(path(list))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([comment_json(1, "octocat", "LGTM")])),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&gh)
            .await;
        // After: the other job's comment (older) and ours; one of another key is left alone.
        Mock::given(method("GET"))
            .and(path(list))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                comment_json(1, "octocat", "LGTM"),
                comment_json(
                    9004,
                    "github-actions[bot]",
                    &format!("{marker}\nthe other job's")
                ),
                comment_json(
                    9006,
                    "github-actions[bot]",
                    "<!-- kaizen-loadtest:nightly-spike -->\nanother key"
                ),
                comment_json(9005, "github-actions[bot]", &format!("{marker}\nours")),
            ])))
            .mount(&gh)
            .await;
        Mock::given(method("POST"))
            .and(path(list))
            .respond_with(ResponseTemplate::new(201).set_body_json(comment_json(
                9005,
                "github-actions[bot]",
                "x",
            )))
            .mount(&gh)
            .await;
        Mock::given(method("PATCH"))
            .and(path("/repos/kaizen/studio/issues/comments/9004"))
            .respond_with(ResponseTemplate::new(200).set_body_json(comment_json(
                9004,
                "github-actions[bot]",
                "x",
            )))
            .mount(&gh)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/repos/kaizen/studio/issues/comments/9005"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&gh)
            .await;
    });
    let event = pull_request_event(dir.path());
    let mut c = bin();
    github_env(&mut c, &gh, "", &event);
    c.env("KAIZEN_LOADTEST_COMMENT_KEY", "nightly-stress")
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
            "GET /user",
            "GET /repos/kaizen/studio/issues/7/comments?per_page=100",
            "POST /repos/kaizen/studio/issues/7/comments",
            "GET /repos/kaizen/studio/issues/7/comments?per_page=100",
            "PATCH /repos/kaizen/studio/issues/comments/9004",
            "DELETE /repos/kaizen/studio/issues/comments/9005",
        ]
    );
    reqs.iter().for_each(assert_github_headers);
    let posted = body(&reqs[2])["body"].as_str().unwrap().to_string();
    assert!(
        posted.starts_with(&format!("{marker}\n## ✅ Load test passed")),
        "{posted}"
    );
    assert_eq!(
        body(&reqs[4]),
        json!({ "body": posted }),
        "the kept comment gets this report"
    );
    assert!(
        stderr.contains(
            "github comment: updated https://github.com/kaizen/studio/pull/7#issuecomment-9004"
        ),
        "{stderr}"
    );
    assert_no_secret(&o, dir.path(), &[GITHUB_TOKEN]);
}

/// The fork pattern: a fork's run wrote the summary, so the comment takes no link from it. A
/// forged summary whose CI run points elsewhere is posted with the run URL the workflow built
/// from its event (`--run-url`), and nothing of the forged link appears.
#[test]
fn a_forged_summary_from_a_fork_posts_no_link_of_its_own() {
    let rt = runtime();
    let gh = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let mut forged: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/summaries/passed.json")).unwrap(),
    )
    .unwrap();
    forged["run"]["ci_run_url"] = json!("https://evil.example/login?next=steal");
    let forged_path = dir.path().join("forged_summary.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    rt.block_on(mount_github_created(
        &gh,
        "",
        "<!-- kaizen-loadtest:kaizen-studio:local:smoke -->",
        9010,
    ));
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        json!({ "workflow_run": { "id": 99, "pull_requests": [] } }).to_string(),
    )
    .unwrap();
    let run_url = "https://github.com/kaizen/studio/actions/runs/99";
    let comment = |extra: &[&str]| {
        let mut c = bin();
        github_env(&mut c, &gh, "", &event);
        c.env("GITHUB_EVENT_NAME", "workflow_run")
            .current_dir(dir.path())
            .args(["comment", "--pr", "7", "--from"])
            .arg(&forged_path)
            .args(extra);
        output(&mut c)
    };
    let o = comment(&["--run-url", run_url]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let reqs = requests(&rt, &gh);
    let posted = reqs.iter().find(|r| r.method.as_str() == "POST").unwrap();
    let posted = body(posted)["body"].as_str().unwrap().to_string();
    assert!(!posted.contains("evil.example"), "{posted}");
    assert!(posted.contains(&format!("[CI run]({run_url})")), "{posted}");
    // The run's links only: the run and its report files.
    assert_eq!(
        posted.matches("](http").count(),
        2,
        "the run's links only: {posted}"
    );
    assert_eq!(
        posted.matches(&format!("]({run_url}")).count(),
        2,
        "the run's links only: {posted}"
    );
    // A run URL that is not one is refused before anything is sent.
    rt.block_on(gh.reset());
    let o = comment(&["--run-url", "javascript:alert(1)"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--run-url"), "{}", text(&o).1);
    assert!(requests(&rt, &gh).is_empty());
}
