//! GitLab: the merge request note (created, then edited in place; a revoked or under-privileged
//! token) against a stand-in for GitLab's notes API, and the shipped CI template and component:
//! valid for GitLab's schema, and the template's script run under `sh` with a merge request
//! pipeline's variables.

use std::path::Path;
use std::process::Command;

use kaizen_loadtest::fixture::FixtureConfig;
use kaizen_loadtest::notify::render_markdown;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{
    assert_no_secret, body, files, header, lines, names_after, output, plan, requests, runtime,
    text, yaml_docs, GITLAB_TOKEN, JOB_TOKEN,
};
use crate::support::tools::check_builtin_schema;
use crate::support::{self, bin, root, BIN};

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
    let markdown = render_markdown(
        &kaizen_loadtest::report::read_summary(&summary_path).unwrap(),
        "kaizen-studio:local:smoke",
        kaizen_loadtest::report::COMMENT_MAX,
    )
    .unwrap();
    let marker = markdown.lines().next().unwrap().to_string();
    let notes = "/api/v4/projects/12/merge_requests/4/notes";
    let list =
        |page: u32| format!("GET {notes}?sort=asc&order_by=created_at&per_page=100&page={page}");

    rt.block_on(mount_gitlab_created(&gl, &marker, 77));
    let o = output(&mut gitlab_cmd(&gl, dir.path(), &summary_path));
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let reqs = requests(&rt, &gl);
    // Created, then listed again: no other job made one at the same moment.
    assert_eq!(
        lines(&reqs),
        [
            "GET /api/v4/user".to_string(),
            list(1),
            list(2),
            format!("POST {notes}"),
            list(1),
            list(2),
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
    // Every variable is a string: an input interpolated into `variables:` may not be typed.
    let (_, job) = docs[1].as_hash().unwrap().iter().next().unwrap();
    for (name, value) in job["variables"].as_hash().unwrap() {
        let value = value
            .as_str()
            .unwrap_or_else(|| panic!("variable {name:?} is not a string"));
        for input in names_after(value, "$[[ inputs.") {
            let ty = docs[0]["spec"]["inputs"][input.as_str()]["type"].as_str();
            assert!(
                matches!(ty, None | Some("string")),
                "{name:?} holds input {input} of type {ty:?}"
            );
        }
    }
    let image = docs[0]["spec"]["inputs"]["image"]["default"]
        .as_str()
        .unwrap();
    assert_eq!(
        image,
        format!(
            "ghcr.io/kaizen/kaizen-loadtest:{}",
            env!("CARGO_PKG_VERSION")
        ),
        "the component pins the image of its own release"
    );
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

/// The GitLab template's `script:` lines under `sh`, with a merge request pipeline's variables:
/// the reports GitLab collects exist where `artifacts:` says, and the note is posted.
#[test]
fn the_gitlab_templates_script_runs_with_simulated_ci_variables() {
    let _lock = support::load_lock();
    let rt = runtime();
    let gl = rt.block_on(MockServer::start());
    let server = support::api(FixtureConfig::default());
    let ws = tempfile::tempdir().unwrap();
    plan(ws.path(), false);
    let markdown_marker = "<!-- kaizen-loadtest:kaizen-studio:staging:smoke -->";
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
    std::os::unix::fs::symlink(BIN, bin_dir.join("kaizen-loadtest")).unwrap();
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
    // A k6 export left from an earlier job: the report GitLab gets is this run's, the newest.
    let stale = ws
        .path()
        .join("reports/smoke_staging_20200101_000000_k6.json");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, "{\"stale\": true}").unwrap();
    let touched = Command::new("touch")
        .args(["-d", "2020-01-01T00:00:00"])
        .arg(&stale)
        .status()
        .unwrap();
    assert!(touched.success());
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
        "this run's k6 summary export, not the stale one: {k6}"
    );
    let reqs = requests(&rt, &gl);
    let lines = lines(&reqs);
    assert_eq!(
        lines[lines.len() - 3],
        "POST /api/v4/projects/12/merge_requests/4/notes",
        "{lines:?}"
    );
    assert!(stderr.contains("gitlab note: created"), "{stderr}");
    assert_no_secret(&o, ws.path(), &[GITLAB_TOKEN, JOB_TOKEN]);
    server.stop();

    // Exit code 99 still fails the job after the k6 copy.
    let mut c2 = sh();
    plan(ws.path(), true);
    let server = support::api(FixtureConfig::default());
    c2.env("KAIZEN_LOADTEST_ENV", "staging")
        .env("KAIZEN_LOADTEST_BASE_URL", server.base_url())
        .env("KAIZEN_LOADTEST_GITLAB_NOTE", "false");
    let o = output(&mut c2);
    assert_eq!(o.status.code(), Some(99), "{}", text(&o).1);
    server.stop();
}

/// Two jobs with the same key that each found no note both create one (0.4 s of API latency
/// did it): after creating, the notes are listed again, the oldest of ours is kept and given
/// this report, and the newer one deleted, so one sticky note is left.
#[test]
fn racing_jobs_leave_one_gitlab_note() {
    let rt = runtime();
    let gl = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let summary_path = root().join("fixtures/summaries/passed.json");
    let markdown = render_markdown(
        &kaizen_loadtest::report::read_summary(&summary_path).unwrap(),
        "kaizen-studio:local:smoke",
        kaizen_loadtest::report::COMMENT_MAX,
    )
    .unwrap();
    let marker = markdown.lines().next().unwrap().to_string();
    let notes = "/api/v4/projects/12/merge_requests/4/notes";
    rt.block_on(async {
        // The first listing finds none; by the second, the other job's note (id 90) is there.
        Mock::given(method("GET"))
            .and(path(notes))
            .and(query_param("page", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&gl)
            .await;
        mount_gitlab(&gl, &marker, Some(90)).await;
        Mock::given(method("POST"))
            .and(path(notes))
            .respond_with(ResponseTemplate::new(201).set_body_json(note_json(
                91,
                "project_12_bot_1",
                "x",
                false,
            )))
            .mount(&gl)
            .await;
        for (verb, id) in [("PUT", 90), ("DELETE", 91)] {
            Mock::given(method(verb))
                .and(path(format!("{notes}/{id}")))
                .respond_with(ResponseTemplate::new(if verb == "PUT" { 200 } else { 204 }))
                .mount(&gl)
                .await;
        }
    });
    let o = output(&mut gitlab_cmd(&gl, dir.path(), &summary_path));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let reqs = requests(&rt, &gl);
    let seen = lines(&reqs);
    let writes: Vec<&String> = seen.iter().filter(|l| !l.starts_with("GET ")).collect();
    assert_eq!(
        writes,
        [
            &format!("POST {notes}"),
            &format!("PUT {notes}/90"),
            &format!("DELETE {notes}/91"),
        ],
        "{seen:?}"
    );
    let put = reqs.iter().find(|r| r.method.as_str() == "PUT").unwrap();
    assert_eq!(body(put), json!({ "body": markdown }));
}
