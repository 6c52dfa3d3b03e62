//! Wiring: what happens before and after a run ([`begin_run`], [`announce`]), and posting a
//! saved summary ([`comment`]).

use std::path::Path;
use std::time::Duration;

use super::actions::{self, Actions};
use super::github::{GitHub, Setup};
use super::gitlab::GitLab;
use super::slack::{self, Slack};
use super::{
    process_env, CommentTarget, Delivered, Env, Links, Message, Notifier, NotifyConfig,
    NotifyError, Redactor, Secret,
};
use crate::summary::schema::Summary;

/// The longest one notifier may take, retries included.
const SEND_TIMEOUT: Duration = Duration::from_secs(120);

/// The run's log group in GitHub Actions: `::endgroup::` when dropped.
#[must_use = "the group closes when this is dropped"]
#[derive(Debug)]
pub struct RunLog {
    open: bool,
}

impl Drop for RunLog {
    fn drop(&mut self) {
        if self.open {
            println!("::endgroup::");
        }
    }
}

/// Before a run: in GitHub Actions, masks every secret the run holds (`plan_secrets`, and the
/// tokens and webhook the notifiers will use) and opens a log group for the live progress.
/// Elsewhere it does nothing.
pub fn begin_run(args: &NotifyConfig, plan_secrets: &[String]) -> RunLog {
    begin_with(&process_env, args, plan_secrets)
}

fn begin_with(env: Env<'_>, args: &NotifyConfig, plan_secrets: &[String]) -> RunLog {
    if Actions::detect(env).is_none() {
        return RunLog { open: false };
    }
    let held = held_secrets(env, args);
    let all = plan_secrets
        .iter()
        .map(String::as_str)
        .chain(held.iter().map(Secret::expose));
    for line in actions::mask_lines(all) {
        println!("{line}");
    }
    println!("::group::Load test run log");
    RunLog { open: true }
}

/// The secrets a run's notifiers may use.
fn held_secrets(env: Env<'_>, args: &NotifyConfig) -> Vec<Secret> {
    let mut out = Vec::new();
    if args.github_comment {
        out.extend(env("GITHUB_TOKEN").map(Secret::new));
    }
    if args.gitlab_note {
        out.extend(env("GITLAB_TOKEN").map(Secret::new));
    }
    out.extend(args.slack_webhook.clone().filter(|s| !s.is_empty()));
    out
}

/// The Markdown report of a summary, marked with the comment key `key`, in less than `max`
/// bytes (a comment's 65 536, the job summary's room): the PR comment, the MR note and the job
/// summary, each detailed as far as its own limit allows.
pub fn render_markdown(s: &Summary, key: &str, max: usize) -> anyhow::Result<String> {
    // Room for the key's marker, which replaces the report's own first line.
    let marker = format!("<!-- kaizen-loadtest:{key} -->\n");
    let md = crate::report::markdown_within(s, max.saturating_sub(marker.len()).max(1))?;
    Ok(super::with_marker(&md, key))
}

/// An invalid plan under GitHub Actions: an `::error` annotation on each error's line (at most
/// ten, as GitHub shows per step, then a line counting the rest) and a job summary that lists
/// them all. Outside Actions, nothing: the errors are on stderr already.
pub fn announce_plan_error(rendered: &str) {
    announce_plan_error_with(&process_env, rendered)
}

fn announce_plan_error_with(env: Env<'_>, rendered: &str) {
    let Some(a) = Actions::detect(env) else {
        return;
    };
    let errors = actions::plan_errors(rendered);
    for line in actions::plan_error_annotations(&errors, &|f| a.annotation_path(f)) {
        println!("{line}");
    }
    if let Err(e) = a.write_step_summary(&actions::plan_error_summary(&errors, rendered)) {
        eprintln!("warning: github actions: cannot write GITHUB_STEP_SUMMARY: {e}");
    }
}

/// After the reports are written: the GitHub Actions outputs, job summary and annotations, then
/// each notifier asked for. Prints what happened; a failure is a warning and never changes the
/// exit code, which is why this returns nothing.
pub fn announce(summary: &Summary, args: &NotifyConfig, out_dir: &Path, exit_code: u8) {
    announce_with(&process_env, summary, args, out_dir, exit_code)
}

fn announce_with(
    env: Env<'_>,
    summary: &Summary,
    args: &NotifyConfig,
    out_dir: &Path,
    exit_code: u8,
) {
    let actions = Actions::detect(env);
    let out = Out {
        redactor: Redactor::new(&all_secrets(env, args)),
        actions: actions.is_some(),
    };
    let key = super::comment_key(summary, args.comment_key.as_deref());
    let markdown = match render_markdown(summary, &key, crate::report::COMMENT_MAX) {
        Ok(m) => Some(m),
        Err(e) => {
            out.warn(
                "markdown",
                &format!("cannot render the Markdown summary: {e:#}"),
            );
            None
        }
    };

    if let Some(a) = &actions {
        if let Err(e) = a.write_outputs(&actions::run_outputs(summary, out_dir, exit_code)) {
            out.warn(
                "github actions",
                &format!("cannot write GITHUB_OUTPUT: {e}"),
            );
        }
        // The job summary has 1 MiB, not a comment's 64 KiB: rendered again for its own room.
        let page = render_markdown(summary, &key, a.step_summary_room()).ok();
        if let Some(md) = page.as_ref().or(markdown.as_ref()) {
            match a.write_step_summary(md) {
                Ok(true) => {
                    out.note("github actions: the job summary was cut to fit its 1 MiB limit")
                }
                Ok(false) => {}
                Err(e) => out.warn(
                    "github actions",
                    &format!("cannot write GITHUB_STEP_SUMMARY: {e}"),
                ),
            }
        }
        for line in actions::annotations(summary, &a.annotation_path(&summary.run.plan_file)) {
            println!("{line}");
        }
    }

    let mut notifiers: Vec<Box<dyn Notifier>> = Vec::new();
    let mut links = Links {
        run: summary.run.ci_run_url.clone().or_else(|| ci_run_url(env)),
        pull_request: None,
    };
    if args.github_comment {
        match GitHub::from_env(env, args.pr) {
            Ok(Setup::Ready(g)) => {
                links.pull_request = Some(g.pull_request_url());
                notifiers.push(Box::new(g));
            }
            Ok(Setup::Skip(why)) => out.note(&format!("github comment: {why}")),
            Err(e) => out.warn("github comment", &format!("not posted: {e}")),
        }
    }
    if args.gitlab_note {
        match GitLab::from_env(env, args.pr) {
            Ok(Setup::Ready(g)) => {
                links.pull_request = links.pull_request.take().or_else(|| g.web_url.clone());
                notifiers.push(Box::new(g));
            }
            Ok(Setup::Skip(why)) => out.note(&format!("gitlab note: {why}")),
            Err(e) => out.warn("gitlab note", &format!("not posted: {e}")),
        }
    }
    if links.pull_request.is_none() {
        links.pull_request = pull_request_url(env, args.pr);
    }
    if let Some(hook) = args.slack_webhook.clone().filter(|s| !s.is_empty()) {
        if slack::wanted(args.slack_when, summary) {
            match Slack::new(hook) {
                Ok(s) => notifiers.push(Box::new(s)),
                Err(e) => out.warn("slack", &format!("not sent: {e}")),
            }
        } else {
            out.note(&format!(
                "slack: not sent (--notify {}: the run {})",
                args.slack_when.as_str(),
                if summary.verdict.passed {
                    "passed"
                } else {
                    "failed"
                }
            ));
        }
    }
    if notifiers.is_empty() {
        return;
    }
    let Some(markdown) = markdown else {
        out.warn(
            "notify",
            "nothing posted: the Markdown summary could not be rendered",
        );
        return;
    };
    let msg = Message {
        summary,
        markdown: &markdown,
        links: &links,
    };
    for (name, result) in send_all(&notifiers, msg) {
        match result {
            Ok(d) => out.note(&delivered_text(name, &d)),
            Err(e) => out.warn(
                name,
                &failure_text(name, &e, args.pr.or_else(|| pr_from_event(env))),
            ),
        }
    }
}

/// What [`comment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commented {
    /// The comment or note was created or updated.
    Posted,
    /// There is no pull request to comment on (said why).
    Skipped,
    /// Posting failed (said why).
    Failed,
}

/// Posts the sticky comment or note of a saved summary, its Markdown report rendered already
/// (`to`: where; by default GitLab under GitLab CI, else GitHub). Prints what happened, redacted. An error is a configuration that
/// cannot work (a missing token or repository).
pub fn comment(
    summary: &Summary,
    markdown: &str,
    to: Option<CommentTarget>,
    pr: Option<u64>,
    key: Option<&str>,
) -> Result<Commented, NotifyError> {
    let markdown = super::with_marker(markdown, &super::comment_key(summary, key));
    comment_with(&process_env, summary, &markdown, to, pr)
}

fn comment_with(
    env: Env<'_>,
    summary: &Summary,
    markdown: &str,
    to: Option<CommentTarget>,
    pr: Option<u64>,
) -> Result<Commented, NotifyError> {
    let target = to.unwrap_or_else(|| {
        if env("GITLAB_CI").as_deref() == Some("true") {
            CommentTarget::Gitlab
        } else {
            CommentTarget::Github
        }
    });
    let notifier: Box<dyn Notifier> = match target {
        CommentTarget::Github => match GitHub::from_env(env, pr)? {
            Setup::Ready(g) => Box::new(g),
            Setup::Skip(why) => {
                eprintln!("github comment: {why}");
                return Ok(Commented::Skipped);
            }
        },
        CommentTarget::Gitlab => match GitLab::from_env(env, pr)? {
            Setup::Ready(g) => Box::new(g),
            Setup::Skip(why) => {
                eprintln!("gitlab note: {why}");
                return Ok(Commented::Skipped);
            }
        },
    };
    let redactor = Redactor::new(&notifier.secrets());
    let links = Links {
        run: summary.run.ci_run_url.clone(),
        pull_request: None,
    };
    let msg = Message {
        summary,
        markdown,
        links: &links,
    };
    let name = notifier.name();
    let (_, result) = send_all(std::slice::from_ref(&notifier), msg)
        .pop()
        .expect("one notifier");
    match result {
        Ok(d) => {
            eprintln!("{}", redactor.redact(&delivered_text(name, &d)));
            Ok(Commented::Posted)
        }
        Err(e) => {
            eprintln!(
                "error: {}",
                redactor.redact(&format!("{name}: {}", failure_text(name, &e, pr)))
            );
            Ok(Commented::Failed)
        }
    }
}

/// Sends to each notifier in turn on a small runtime of its own (the run's is gone by now).
fn send_all<'a>(
    notifiers: &'a [Box<dyn Notifier>],
    msg: Message<'a>,
) -> Vec<(&'static str, Result<Delivered, NotifyError>)> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let msg = format!("cannot start the notifier runtime: {e}");
            return notifiers
                .iter()
                .map(|n| (n.name(), Err(NotifyError::Transport(msg.clone()))))
                .collect();
        }
    };
    let skip = crate::engine::signals::extras_skipped();
    rt.block_on(async {
        let mut out = Vec::new();
        for n in notifiers {
            let r = tokio::select! {
                biased;
                _ = skip.cancelled() => Err(NotifyError::Transport("skipped: stopped by a signal".into())),
                r = tokio::time::timeout(SEND_TIMEOUT, n.send(msg)) => r.unwrap_or_else(|_| {
                    Err(NotifyError::Transport(format!(
                        "no answer within {}s",
                        SEND_TIMEOUT.as_secs()
                    )))
                }),
            };
            out.push((n.name(), r));
        }
        out
    })
}

fn delivered_text(name: &str, d: &Delivered) -> String {
    match d {
        Delivered::Created(Some(url)) => format!("{name}: created {url}"),
        Delivered::Created(None) => format!("{name}: created"),
        Delivered::Updated(Some(url)) => format!("{name}: updated {url}"),
        Delivered::Updated(None) => format!("{name}: updated"),
        Delivered::Sent => format!("{name}: sent"),
    }
}

/// One line saying what failed and, where it helps, what to do.
fn failure_text(name: &str, e: &NotifyError, pr: Option<u64>) -> String {
    match (name, e) {
        ("github comment", NotifyError::Forbidden { status: 403, .. }) => format!(
            "not posted: the token may not comment on pull request{} ({e}). A pull request from a \
             fork gets a read-only GITHUB_TOKEN: post from a workflow_run job with \
             `kaizen-loadtest comment --from SUMMARY.json` (docs/ci.md); otherwise grant \
             `permissions: pull-requests: write`",
            pr.map(|n| format!(" #{n}")).unwrap_or_default()
        ),
        ("gitlab note", NotifyError::Forbidden { status: 401 | 403, .. }) => format!(
            "not posted: GITLAB_TOKEN was refused ({e}); it needs the api scope and at least the Reporter role"
        ),
        _ => format!("not posted: {e}"),
    }
}

/// Prints notes and warnings, redacted; warnings become `::warning::` annotations in Actions.
struct Out {
    redactor: Redactor,
    actions: bool,
}

impl Out {
    fn note(&self, text: &str) {
        eprintln!("{}", self.redactor.redact(text));
    }

    fn warn(&self, name: &str, text: &str) {
        let text = self.redactor.redact(text);
        if self.actions {
            println!(
                "::warning title={}::{}",
                actions::escape_property(&format!("kaizen-loadtest {name}")),
                actions::escape_data(&text)
            );
        } else {
            eprintln!("warning: {name}: {text}");
        }
    }
}

/// Every secret that could turn up in a message: the notifiers' and the CI's own tokens.
fn all_secrets(env: Env<'_>, args: &NotifyConfig) -> Vec<Secret> {
    let mut out = held_secrets(env, args);
    for name in [
        "GITHUB_TOKEN",
        "GITLAB_TOKEN",
        "CI_JOB_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
    ] {
        out.extend(env(name).map(Secret::new));
    }
    out
}

fn ci_run_url(env: Env<'_>) -> Option<String> {
    if let (Some(server), Some(repo), Some(id)) = (
        env("GITHUB_SERVER_URL"),
        env("GITHUB_REPOSITORY"),
        env("GITHUB_RUN_ID"),
    ) {
        return Some(format!("{server}/{repo}/actions/runs/{id}"));
    }
    env("CI_PIPELINE_URL")
}

fn pr_from_event(env: Env<'_>) -> Option<u64> {
    let text = std::fs::read_to_string(env("GITHUB_EVENT_PATH")?).ok()?;
    super::github::pr_number(&serde_json::from_str(&text).ok()?)
}

/// The pull (or merge) request's page, for Slack's button, when the CI says which one it is.
fn pull_request_url(env: Env<'_>, pr: Option<u64>) -> Option<String> {
    if let Some(repo) = env("GITHUB_REPOSITORY") {
        let n = pr.or_else(|| pr_from_event(env))?;
        let server = env("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
        return Some(format!("{}/{repo}/pull/{n}", server.trim_end_matches('/')));
    }
    let iid = pr
        .map(|n| n.to_string())
        .or_else(|| env("CI_MERGE_REQUEST_IID"))?;
    let project = env("CI_MERGE_REQUEST_PROJECT_URL").or_else(|| env("CI_PROJECT_URL"))?;
    Some(format!(
        "{}/-/merge_requests/{iid}",
        project.trim_end_matches('/')
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_links_for_github_and_gitlab() {
        let gh = |k: &str| match k {
            "GITHUB_REPOSITORY" => Some("k/s".to_string()),
            _ => None,
        };
        assert_eq!(
            pull_request_url(&gh, Some(4)).as_deref(),
            Some("https://github.com/k/s/pull/4")
        );
        assert_eq!(pull_request_url(&gh, None), None);
        let gl = |k: &str| match k {
            "CI_MERGE_REQUEST_IID" => Some("9".to_string()),
            "CI_MERGE_REQUEST_PROJECT_URL" => Some("https://gitlab.example.com/k/s".to_string()),
            _ => None,
        };
        assert_eq!(
            pull_request_url(&gl, None).as_deref(),
            Some("https://gitlab.example.com/k/s/-/merge_requests/9")
        );
    }

    #[test]
    fn the_fork_warning_says_what_to_do() {
        let e = NotifyError::Forbidden {
            status: 403,
            message: "Resource not accessible by integration".into(),
        };
        let t = failure_text("github comment", &e, Some(7));
        assert!(
            t.contains("pull request #7 (HTTP 403: Resource not accessible by integration)"),
            "{t}"
        );
        assert!(
            t.contains("workflow_run") && t.contains("pull-requests: write"),
            "{t}"
        );
    }

    /// The job summary gets as much detail as its 1 MiB allows, not the comment's 64 KiB cut:
    /// 40 scenarios of 30 endpoints each keep every endpoint table there.
    #[test]
    fn the_job_summary_is_cut_at_its_own_limit_not_the_comments() {
        let base = crate::report::testdata::load("failed");
        let mut s = base.clone();
        s.scenarios = (0..40)
            .map(|n| {
                let mut sc = base.scenarios[n % 2].clone();
                sc.name = format!("scenario_{n:02}");
                let e0 = sc.endpoints[0].clone();
                sc.endpoints = (0..30)
                    .map(|i| crate::summary::schema::Endpoint {
                        name: format!("ep_{n:02}_{i:02}"),
                        ..e0.clone()
                    })
                    .collect();
                sc
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("step_summary.md");
        let page_env = page.to_string_lossy().to_string();
        let env = move |k: &str| match k {
            "GITHUB_ACTIONS" => Some("true".to_string()),
            "GITHUB_STEP_SUMMARY" => Some(page_env.clone()),
            _ => None,
        };
        announce_with(&env, &s, &NotifyConfig::default(), dir.path(), 99);
        let written = std::fs::read_to_string(&page).unwrap();
        assert!(
            written.len() > crate::report::COMMENT_MAX,
            "{}",
            written.len()
        );
        assert!(!written.contains("(details cut to fit"));
        assert!(written.contains("ep_39_29"));
        let key = crate::notify::comment_key(&s, None);
        let comment = render_markdown(&s, &key, crate::report::COMMENT_MAX).unwrap();
        assert!(comment.len() < crate::report::COMMENT_MAX);
        assert!(comment.contains("(details cut to fit"));
    }

    #[test]
    fn outside_actions_begin_run_prints_nothing() {
        let args = NotifyConfig::default();
        let log = begin_with(&|_: &str| None, &args, &["s3cret".into()]);
        assert!(!log.open);
    }
}
