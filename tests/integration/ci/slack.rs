//! Slack: the incoming-webhook message after `run` and `merge` (its blocks, a 429 honoured, the
//! retries bounded, Slack's error text reported), and the webhook URL never printed, not even
//! by `--help`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kaizen_loadtest::fixture::FixtureConfig;
use kaizen_loadtest::notify::slack::{Retry, Slack};
use kaizen_loadtest::notify::{Delivered, NotifyError, Secret};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{
    assert_no_secret, body, files, header, lines, output, requests, run_cmd, runtime, text,
    JOB_TOKEN, SLACK_PATH,
};
use crate::support::{self, bin};

#[test]
fn slack_retries_after_429_and_a_job_token_alone_is_only_a_warning() {
    let _lock = support::load_lock();
    let rt = runtime();
    let stand_in = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let server = support::api(FixtureConfig::default());
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
    let _lock = support::load_lock();
    let rt = runtime();
    let stand_in = rt.block_on(MockServer::start());
    let dir = tempfile::tempdir().unwrap();
    let server = support::api(FixtureConfig::default());
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

#[test]
fn merge_announces_the_merged_run_on_slack_without_printing_the_webhook() {
    let _lock = support::load_lock();
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
    let server = support::api(FixtureConfig::default());
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
