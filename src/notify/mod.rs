//! Notifiers: where a finished run is announced besides its report files (`docs/ci.md`).
//!
//! Everything here runs after the reports are written ([`announce`]) and none of it can change
//! the exit code: a notifier that fails prints one warning. Each [`Notifier`] gets the same
//! [`Message`]: the summary, the Markdown rendered once from it (the PR comment and the MR note
//! are that Markdown, never a second rendering), and links to the CI run and the pull request.
//!
//! - [`github`]: the sticky pull request comment (octocrab).
//! - [`gitlab`]: the sticky merge request note (GitLab REST API, `PRIVATE-TOKEN`).
//! - [`slack`]: an incoming-webhook message in Block Kit, by default only when the run failed.
//! - [`baseline`]: `--baseline github-artifact:BRANCH`, the last successful run's summary from
//!   the GitHub API (an input, not a notifier; it shares the GitHub client).
//! - [`actions`]: inside GitHub Actions, the job summary, step outputs, `::error::` annotations
//!   for failed thresholds, a log group around the run and `::add-mask::` for secrets.
//!
//! Tokens and webhook URLs are [`Secret`]s: they print as `***`, and every message that came
//! from elsewhere (an API's error, an HTTP client's error) goes through a [`Redactor`] first.

pub mod actions;
pub mod baseline;
mod dispatch;
pub mod github;
pub mod gitlab;
mod secret;
pub mod slack;
#[cfg(test)]
mod testdata;

use std::future::Future;
use std::pin::Pin;

pub use dispatch::{
    announce, announce_plan_error, begin_run, comment, render_markdown, Commented, RunLog,
};
pub use secret::{Redactor, Secret, MASK};

use crate::summary::schema::Summary;

/// Where a run is announced besides its report files. `commands` builds it from the command line.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// The sticky pull request comment (needs `GITHUB_TOKEN`, `GITHUB_REPOSITORY` and the pull
    /// request).
    pub github_comment: bool,
    /// The sticky merge request note (needs `GITLAB_TOKEN` and GitLab CI's variables).
    pub gitlab_note: bool,
    /// The Slack incoming webhook.
    pub slack_webhook: Option<Secret>,
    /// When to post to Slack.
    pub slack_when: NotifyWhen,
    /// The pull (or merge) request, when the CI event does not say.
    pub pr: Option<u64>,
    /// The sticky comment's key, instead of plan, environment, scenarios and segment.
    pub comment_key: Option<String>,
}

/// When a Slack message is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NotifyWhen {
    /// Only when a threshold failed or the run was interrupted.
    #[default]
    Failure,
    /// After every run.
    Always,
    /// Not at all (the webhook is ignored).
    Never,
}

impl NotifyWhen {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyWhen::Failure => "failure",
            NotifyWhen::Always => "always",
            NotifyWhen::Never => "never",
        }
    }
}

/// Where `comment` posts a saved summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentTarget {
    /// The sticky pull request comment.
    Github,
    /// The sticky merge request note.
    Gitlab,
}

/// What every notifier is handed.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub summary: &'a Summary,
    /// The Markdown report; its first line is the hidden marker a sticky comment is found by.
    pub markdown: &'a str,
    pub links: &'a Links,
}

/// Where a reader goes from a notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// The CI run (a GitHub Actions run, a GitLab pipeline).
    pub run: Option<String>,
    /// The pull request or merge request.
    pub pull_request: Option<String>,
}

/// What a notifier did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// A new comment or note (its URL when the API gave one).
    Created(Option<String>),
    /// The sticky comment or note, updated in place.
    Updated(Option<String>),
    /// A message sent (Slack).
    Sent,
}

/// Why a notifier could not deliver. Messages are already redacted: the cause is kept as text
/// rather than as a `#[source]` so that nothing unredacted can be printed from it later.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Something it needs is not set or not valid (a token, the repository).
    #[error("{0}")]
    Config(String),
    /// The token may not do this: a fork's read-only token, a missing scope or permission.
    #[error("HTTP {status}: {message}")]
    Forbidden { status: u16, message: String },
    /// The service answered with another error.
    #[error("HTTP {status}: {message}")]
    Status { status: u16, message: String },
    /// No usable answer: connection refused, timeout, TLS, a body that is not what the API
    /// documents.
    #[error("{0}")]
    Transport(String),
}

/// A boxed future, so that notifiers can sit in one list.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Delivered, NotifyError>> + Send + 'a>>;

/// One destination for a finished run.
pub trait Notifier: Send + Sync {
    /// Short and lowercase, for log lines: `github comment`, `gitlab note`, `slack`.
    fn name(&self) -> &'static str;

    /// The secrets it holds, so that they are masked and redacted.
    fn secrets(&self) -> Vec<Secret>;

    fn send<'a>(&'a self, msg: Message<'a>) -> SendFuture<'a>;
}

/// Reads an environment variable; an empty value counts as unset (an Action input left empty
/// arrives as an empty variable).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The sticky comment's key: `PLAN:ENVIRONMENT:SCENARIOS` (joined with `+`, or `N scenarios
/// #HASH` when that is long), then `:segment I/N` for one segment of a distributed run; or
/// `given` (`--comment-key`). Two jobs that run different scenarios of one plan, or different
/// segments, keep one comment each; a job run again finds its own.
pub fn comment_key(summary: &Summary, given: Option<&str>) -> String {
    if let Some(k) = given.map(str::trim).filter(|k| !k.is_empty()) {
        return marker_text(k);
    }
    let run = &summary.run;
    let mut scenarios = run.scenarios.join("+");
    if scenarios.chars().count() > 80 {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(scenarios.as_bytes());
        scenarios = format!(
            "{} scenarios #{}",
            run.scenarios.len(),
            digest[..4]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
    }
    let mut key = format!("{}:{}:{scenarios}", run.plan_name, run.environment);
    if let Some(seg) = run.segment {
        key.push_str(&format!(":segment {seg}"));
    }
    marker_text(&key)
}

/// Text that stays inside one HTML comment on one line: no `--`, no `<`, `>` or line break.
fn marker_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '-' if out.ends_with('-') => {}
            c if c.is_control() || c == '>' || c == '<' => out.push(' '),
            c => out.push(c),
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The Markdown report with its first line, the hidden marker, set to `key`'s.
pub(crate) fn with_marker(markdown: &str, key: &str) -> String {
    let marker = format!("<!-- kaizen-loadtest:{key} -->");
    match marker_of(markdown) {
        Some(old) => format!("{marker}{}", &markdown[old.len()..]),
        None => format!("{marker}\n{markdown}"),
    }
}

/// The hidden marker of a Markdown report: its first line, when it is one.
pub(crate) fn marker_of(markdown: &str) -> Option<&str> {
    let first = markdown.lines().next()?.trim_end();
    (first.starts_with("<!-- kaizen-loadtest:") && first.ends_with("-->")).then_some(first)
}

/// One HTTP client for the notifiers that speak plain REST (GitLab, Slack): rustls with ring,
/// the system proxy settings honoured (unlike the load client: a runner may sit behind a proxy),
/// bounded timeouts.
pub(crate) fn http_client() -> Result<reqwest::Client, NotifyError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("kaizen-loadtest/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(NotifyError::from)
}

/// A reqwest error as text with its causes, without its URL (a Slack webhook URL is the secret
/// itself).
pub(crate) fn transport_text(e: reqwest::Error) -> String {
    chain_text(&e.without_url())
}

impl From<reqwest::Error> for NotifyError {
    fn from(e: reqwest::Error) -> Self {
        NotifyError::Transport(transport_text(e))
    }
}

/// An error and its causes as one line (a cause its parent's text already quotes is skipped).
pub(crate) fn chain_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let part = err.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cur = err.source();
    }
    text
}

/// The environment `vars` describe, as the notifiers read it.
#[cfg(test)]
pub(crate) fn env_of(
    vars: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<String> {
    move |k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

/// A threshold's value in its unit: `968.2 ms`, `1.50 s`, `0.001 ms`, `4.20%`, `1200`.
pub(crate) fn fmt_value(v: f64, unit: &str) -> String {
    match unit {
        "ms" if v >= 1000.0 => format!("{:.2} s", v / 1000.0),
        "ms" if v >= 1.0 || v == 0.0 => format!("{v:.1} ms"),
        "ms" => format!("{v:.3} ms"),
        "rate" => format!("{:.2}%", v * 100.0),
        "count" => format!("{}", v.round() as i64),
        _ if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        _ => format!("{v:.3}"),
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_the_first_line_when_it_is_ours() {
        assert_eq!(
            marker_of("<!-- kaizen-loadtest:kaizen-studio:staging -->\n## ✅ passed"),
            Some("<!-- kaizen-loadtest:kaizen-studio:staging -->")
        );
        assert_eq!(marker_of("## passed\n<!-- kaizen-loadtest:a:b -->"), None);
        assert_eq!(marker_of(""), None);
    }

    #[test]
    fn the_comment_key_is_plan_environment_scenarios_and_segment_or_the_given_one() {
        let mut s = Summary::default();
        s.run.plan_name = "kaizen-studio".into();
        s.run.environment = "staging".into();
        s.run.scenarios = vec!["smoke".into(), "auth".into()];
        assert_eq!(comment_key(&s, None), "kaizen-studio:staging:smoke+auth");
        s.run.segment = Some(crate::summary::schema::Segment { index: 2, count: 4 });
        assert_eq!(
            comment_key(&s, None),
            "kaizen-studio:staging:smoke+auth:segment 2/4"
        );
        assert_eq!(comment_key(&s, Some("  ")), comment_key(&s, None));
        assert_eq!(
            comment_key(&s, Some("nightly --> <b>\nx")),
            "nightly -   b  x"
        );
        s.run.segment = None;
        s.run.scenarios = (0..40).map(|i| format!("scenario-{i}")).collect();
        let long = comment_key(&s, None);
        assert!(
            long.starts_with("kaizen-studio:staging:40 scenarios #"),
            "{long}"
        );
        assert_eq!(long.len(), "kaizen-studio:staging:40 scenarios #".len() + 8);
        s.run.scenarios.pop();
        assert_ne!(
            comment_key(&s, None),
            long,
            "another selection, another key"
        );
    }

    #[test]
    fn with_marker_replaces_the_first_line_only() {
        let md = "<!-- kaizen-loadtest:p:e -->\n## ok\n<!-- kaizen-loadtest:p:e -->\n";
        assert_eq!(
            with_marker(md, "p:e:smoke"),
            "<!-- kaizen-loadtest:p:e:smoke -->\n## ok\n<!-- kaizen-loadtest:p:e -->\n"
        );
        assert_eq!(
            with_marker("## ok\n", "k"),
            "<!-- kaizen-loadtest:k -->\n## ok\n"
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
