//! Slack: an incoming-webhook message in Block Kit.
//!
//! A header with the verdict, plan and environment; the scenarios and the verdict's counts; the
//! failed thresholds with observed value and limit; each scenario's key figures; buttons to the
//! CI run and the pull request. Slack's limits are kept by construction: at most 50 blocks, a
//! header of at most 150 characters, a section text of at most 3 000 and a field of at most 2 000
//! (what does not fit is counted, "… and 12 more").
//!
//! The webhook URL is the secret: it is never printed, and transport errors are reported
//! without it. A 429 is retried after its `Retry-After` (when that is within the cap), a 5xx or a
//! refused connection after a doubling backoff, a bounded number of times; any other answer is
//! an error carrying Slack's own text (`invalid_payload`, `no_service`, ...).

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use super::NotifyWhen;
use super::{
    fmt_value as value, http_client, truncate, Delivered, Links, Message, Notifier, NotifyError,
    Secret, SendFuture,
};
use crate::summary::schema::{ScenarioSummary, Summary, ThresholdResult, ThresholdStatus};

/// Slack's limit on blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// Slack's limit on a section's text.
pub const MAX_SECTION: usize = 3_000;
/// Slack's limit on one field of a section.
pub const MAX_FIELD: usize = 2_000;
/// Slack's limit on a header's plain text.
pub const MAX_HEADER: usize = 150;

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The wait after the first 5xx; doubled after each.
    pub backoff: Duration,
    /// No single wait is longer: a `Retry-After` beyond it ends the tries.
    pub max_wait: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Slack {
    pub webhook: Secret,
    pub retry: Retry,
}

/// Whether a run is worth a Slack message under `--notify`.
pub fn wanted(when: NotifyWhen, s: &Summary) -> bool {
    match when {
        NotifyWhen::Always => true,
        NotifyWhen::Never => false,
        NotifyWhen::Failure => !s.verdict.passed || s.run.interrupted,
    }
}

impl Slack {
    pub fn new(webhook: Secret) -> Result<Slack, NotifyError> {
        let url = reqwest::Url::parse(webhook.expose().trim()).map_err(|_| {
            NotifyError::Config("--slack-webhook is not a URL (value hidden)".into())
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(NotifyError::Config(
                "--slack-webhook is not an http(s) URL (value hidden)".into(),
            ));
        }
        Ok(Slack {
            webhook,
            retry: Retry::default(),
        })
    }

    /// Posts the message, retrying as the module says.
    pub async fn post(&self, payload: &Value) -> Result<Delivered, NotifyError> {
        let client = http_client()?;
        let body = payload.to_string();
        let mut backoff = self.retry.backoff;
        let mut attempt = 1;
        loop {
            let sent = client
                .post(self.webhook.expose().trim())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let last = attempt >= self.retry.attempts.max(1);
            let wait = match sent {
                Err(e) if e.is_connect() && !last => backoff,
                Err(e) => return Err(e.into()),
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        return Ok(Delivered::Sent);
                    }
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = resp.text().await.unwrap_or_default();
                    let message = match truncate(text.trim(), 300) {
                        "" => status.canonical_reason().unwrap_or("error").to_string(),
                        t => t.to_string(),
                    };
                    let code = status.as_u16();
                    if code == 429 {
                        let wait = retry_after.unwrap_or(backoff);
                        if last || wait > self.retry.max_wait {
                            return Err(NotifyError::Status {
                                status: code,
                                message: format!(
                                    "{message} (rate limited; gave up after {attempt} tries, Retry-After {}s)",
                                    wait.as_secs()
                                ),
                            });
                        }
                        wait
                    } else if status.is_server_error() && !last {
                        backoff
                    } else if status.is_server_error() {
                        return Err(NotifyError::Status {
                            status: code,
                            message: format!("{message} (gave up after {attempt} tries)"),
                        });
                    } else if matches!(code, 401 | 403 | 404 | 410) {
                        return Err(NotifyError::Forbidden {
                            status: code,
                            message,
                        });
                    } else {
                        return Err(NotifyError::Status {
                            status: code,
                            message,
                        });
                    }
                }
            };
            tokio::time::sleep(wait.min(self.retry.max_wait)).await;
            backoff = (backoff * 2).min(self.retry.max_wait);
            attempt += 1;
        }
    }
}

impl Notifier for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn secrets(&self) -> Vec<Secret> {
        vec![self.webhook.clone()]
    }

    fn send<'a>(&'a self, msg: Message<'a>) -> SendFuture<'a> {
        Box::pin(async move { self.post(&message(msg.summary, msg.links)).await })
    }
}

/// The Block Kit payload for a run.
pub fn message(s: &Summary, links: &Links) -> Value {
    let (icon, word) = headline(s);
    let scenarios = s.run.scenarios.join(", ");
    let mut blocks = Vec::new();
    let header = format!(
        "{icon} Load test {word} · {} · {}",
        s.run.plan_name, s.run.environment
    );
    blocks.push(json!({
        "type": "header",
        "text": { "type": "plain_text", "text": cut_chars(&header, MAX_HEADER), "emoji": true }
    }));

    let mut overview = format!("*Scenarios* {}\n*Thresholds* ", esc(&scenarios));
    let v = &s.verdict;
    let _ = write!(
        overview,
        "{} of {} failed",
        v.thresholds_failed, v.thresholds_total
    );
    if v.thresholds_no_data > 0 {
        let _ = write!(overview, " · {} without data", v.thresholds_no_data);
    }
    let _ = write!(overview, "\n*Duration* {}", duration(s.run.duration_s));
    if let Some(sha) = &s.run.git_sha {
        let _ = write!(overview, " · *Commit* `{}`", esc(truncate(sha, 12)));
    }
    if s.run.interrupted {
        overview.push_str("\n_Interrupted: the figures cover what ran._");
    }
    if let Some(why) = s.run.setup_failure() {
        let _ = write!(
            overview,
            "\n_No scenario ran: the once-per-test setup failed: {}_",
            esc(why)
        );
    } else if let Some(why) = &s.run.aborted_by {
        let _ = write!(
            overview,
            "\n_Stopped early by an abort_on_fail threshold: {}_",
            esc(why)
        );
    }
    blocks.push(section(&overview));

    let failed: Vec<(&str, &ThresholdResult)> = s
        .thresholds()
        .map(|(sc, t)| (sc.name.as_str(), t))
        .filter(|(_, t)| t.status == ThresholdStatus::Fail)
        .collect();
    if !failed.is_empty() {
        let lines: Vec<String> = failed
            .iter()
            .map(|(sc, t)| {
                format!(
                    "• *{}* `{}` `{}`: observed {}, limit {}",
                    esc(sc),
                    esc(&t.metric),
                    esc(&t.expression),
                    t.observed
                        .map_or_else(|| "no data".to_string(), |o| value(o, &t.unit)),
                    value(t.limit, &t.unit)
                )
            })
            .collect();
        blocks.push(section(&fit_lines(
            "*Failed thresholds*",
            &lines,
            MAX_SECTION,
        )));
    }

    // Header, overview, failed thresholds, actions and context leave the rest to scenarios.
    let room = MAX_BLOCKS - blocks.len() - 2;
    let shown = s.scenarios.len().min(room);
    for sc in &s.scenarios[..shown] {
        blocks.push(json!({ "type": "section", "fields": figures(sc) }));
    }

    let mut buttons = Vec::new();
    for (label, url) in [
        ("CI run", &links.run),
        ("Pull request", &links.pull_request),
    ] {
        if let Some(url) = url
            .as_deref()
            .filter(|u| u.len() <= 3_000 && u.starts_with("http"))
        {
            buttons.push(json!({
                "type": "button",
                "text": { "type": "plain_text", "text": label },
                "url": url
            }));
        }
    }
    if !buttons.is_empty() {
        blocks.push(json!({ "type": "actions", "elements": buttons }));
    }
    let mut context = format!(
        "kaizen-loadtest {} · {}",
        s.tool.version,
        esc(&s.run.base_url)
    );
    if shown < s.scenarios.len() {
        let _ = write!(
            context,
            " · {} more scenarios in the report",
            s.scenarios.len() - shown
        );
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": cut_chars(&context, MAX_SECTION) }]
    }));
    debug_assert!(blocks.len() <= MAX_BLOCKS);

    let text = format!(
        "{icon} Load test {word}: {} on {} ({scenarios}): {} of {} thresholds failed",
        s.run.plan_name, s.run.environment, v.thresholds_failed, v.thresholds_total
    );
    json!({ "text": cut_chars(&text, MAX_SECTION), "blocks": blocks })
}

fn headline(s: &Summary) -> (&'static str, &'static str) {
    if s.run.interrupted {
        ("⏹️", "interrupted")
    } else if s.verdict.passed {
        ("✅", "passed")
    } else {
        ("❌", "failed")
    }
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": cut_chars(text, MAX_SECTION) } })
}

/// A scenario's key figures, as two fields.
fn figures(sc: &ScenarioSummary) -> Value {
    let p95 = sc
        .metrics
        .get("http_req_duration")
        .and_then(|m| m.values.get("p(95)"))
        .map_or_else(|| "-".to_string(), |v| value(*v, "ms"));
    let error_rate = if sc.requests == 0 {
        0.0
    } else {
        sc.requests_failed as f64 / sc.requests as f64
    };
    let failed = sc
        .thresholds
        .iter()
        .filter(|t| t.status == ThresholdStatus::Fail)
        .count();
    let mark = if failed > 0 { "❌" } else { "✅" };
    let left = format!(
        "{mark} *{}*\n{} requests · {:.1} req/s",
        esc(&sc.name),
        sc.requests,
        sc.rps
    );
    let right = format!(
        "p95 {p95} · errors {}\n{} VUs max · {}",
        value(error_rate, "rate"),
        sc.vus_max,
        duration(sc.duration_s)
    );
    json!([
        { "type": "mrkdwn", "text": cut_chars(&left, MAX_FIELD) },
        { "type": "mrkdwn", "text": cut_chars(&right, MAX_FIELD) }
    ])
}

/// Lines under a title, as many as fit in `max` characters, then "… and N more".
fn fit_lines(title: &str, lines: &[String], max: usize) -> String {
    let mut out = title.to_string();
    for (i, line) in lines.iter().enumerate() {
        let more = format!("\n… and {} more", lines.len() - i);
        if out.chars().count() + 1 + line.chars().count() + more.chars().count() > max {
            out.push_str(&more);
            return out;
        }
        out.push('\n');
        out.push_str(line);
    }
    out
}

/// Slack's mrkdwn needs only these three escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cut_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testdata::summary_with;

    #[test]
    fn a_failed_run_lists_failed_thresholds_with_observed_and_limit() {
        let s = summary_with(2, 3);
        let links = Links {
            run: Some("https://github.com/k/s/actions/runs/1".into()),
            pull_request: Some("https://github.com/k/s/pull/7".into()),
        };
        let m = message(&s, &links);
        let blocks = m["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[0]["text"]["text"],
            "❌ Load test failed · kaizen-studio · staging"
        );
        let failed = blocks[2]["text"]["text"].as_str().unwrap();
        assert!(failed.starts_with("*Failed thresholds*\n• *s0* `http_req_duration` `p(95)&lt;500`: observed 812.0 ms, limit 500.0 ms"), "{failed}");
        let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
        assert_eq!(
            actions["elements"][0]["url"],
            "https://github.com/k/s/actions/runs/1"
        );
        assert_eq!(
            actions["elements"][1]["url"],
            "https://github.com/k/s/pull/7"
        );
        assert!(m["text"]
            .as_str()
            .unwrap()
            .starts_with("❌ Load test failed: kaizen-studio on staging"));
    }

    #[test]
    fn limits_hold_for_huge_runs() {
        // 80 scenarios with 60 failed thresholds each, and a 400-character plan name.
        let mut s = summary_with(80, 60);
        s.run.plan_name = "p".repeat(400);
        let m = message(&s, &Links::default());
        let blocks = m["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS, "{} blocks", blocks.len());
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= MAX_HEADER);
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= MAX_SECTION);
            }
            for f in b["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= MAX_FIELD);
            }
        }
        assert!(
            blocks[2]["text"]["text"].as_str().unwrap().contains("more"),
            "the cut is counted"
        );
        let context = blocks.last().unwrap()["elements"][0]["text"]
            .as_str()
            .unwrap();
        assert!(
            context.contains("more scenarios in the report"),
            "{context}"
        );
        assert!(
            blocks.iter().all(|b| b["type"] != "actions"),
            "no links, no buttons"
        );
    }

    #[test]
    fn notify_when() {
        let failed = summary_with(1, 1);
        let passed = summary_with(1, 0);
        assert!(wanted(NotifyWhen::Failure, &failed));
        assert!(!wanted(NotifyWhen::Failure, &passed));
        assert!(wanted(NotifyWhen::Always, &passed));
        assert!(!wanted(NotifyWhen::Never, &failed));
    }

    #[test]
    fn values_read_in_their_unit() {
        assert_eq!(value(968.24, "ms"), "968.2 ms");
        assert_eq!(value(1500.0, "ms"), "1.50 s");
        assert_eq!(value(0.042, "rate"), "4.20%");
        assert_eq!(value(12.0, "count"), "12");
        assert_eq!(value(0.001, "ms"), "0.001 ms");
        assert_eq!(esc("p(95)<500 & >"), "p(95)&lt;500 &amp; &gt;");
        assert_eq!(duration(90.4), "1m 30s");
    }

    #[test]
    fn a_bad_webhook_is_refused_without_printing_it() {
        let err = Slack::new(Secret::new("not a url secret-part"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret-part"), "{err}");
    }
}
