//! The sticky pull request comment, through octocrab.
//!
//! One comment per key (plan, environment, scenarios and segment, or `--comment-key`): the
//! Markdown report, whose first line is a hidden marker (`<!-- kaizen-loadtest:{key} -->`). On
//! every run the comments of the pull request are read page by page (GitHub's `Link` headers)
//! until one starts with the marker and was written by us; that one is edited, otherwise a new
//! one is created, and the comments are listed again so that two jobs creating it at once end
//! with one ([`GitHub::settle`]). "Us" is the login
//! of the token (`GET /user`); a workflow's `GITHUB_TOKEN` cannot read `/user`, so then it is
//! `github-actions[bot]` (or `KAIZEN_LOADTEST_COMMENT_AUTHOR`, for a GitHub App's token).
//!
//! octocrab's own `update_comment` sends `POST` to the comment; GitHub documents `PATCH` for
//! "Update an issue comment", so the edit goes through octocrab's generic `patch`.
//!
//! Failures are answers, not crashes: a 403 (a fork's read-only token, a missing
//! `pull-requests: write`) is one warning; a 422 "body is too long" is retried once with the
//! body cut.

use std::time::Duration;

use serde::Deserialize;

use super::{
    marker_of, truncate, Delivered, Env, Message, Notifier, NotifyError, Secret, SendFuture,
};

/// GitHub's default REST API root.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The login of a workflow's `GITHUB_TOKEN`.
pub const ACTIONS_BOT: &str = "github-actions[bot]";
/// GitHub's limit for a comment body, in characters.
pub const MAX_BODY_CHARS: usize = 65_536;
/// Pages of 100 comments read at most while looking for the sticky one.
const MAX_PAGES: usize = 100;

/// A pull request to comment on.
#[derive(Debug, Clone)]
pub struct GitHub {
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    pub pr: u64,
    pub token: Secret,
    /// The author the sticky comment is matched on; `None`: ask `GET /user`.
    pub author: Option<String>,
    /// The server's web root, for the pull request link.
    pub server_url: String,
}

/// What the environment says to do.
#[derive(Debug)]
pub enum Setup<T> {
    Ready(T),
    /// Nothing to do, and nothing wrong: not a pull request.
    Skip(String),
}

impl GitHub {
    /// Reads `GITHUB_TOKEN`, `GITHUB_REPOSITORY`, `GITHUB_API_URL` and the pull request number
    /// (`pr`, else the event at `GITHUB_EVENT_PATH`).
    pub fn from_env(env: Env<'_>, pr: Option<u64>) -> Result<Setup<GitHub>, NotifyError> {
        let repository = env("GITHUB_REPOSITORY").ok_or_else(|| {
            NotifyError::Config(
                "GITHUB_REPOSITORY is not set (owner/name of the repository)".into(),
            )
        })?;
        let (owner, repo) = repository
            .trim()
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| {
                NotifyError::Config(format!(
                    "GITHUB_REPOSITORY is \"{repository}\", not owner/name"
                ))
            })?;
        let pr = match pr {
            Some(n) => n,
            None => match env("GITHUB_EVENT_PATH") {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        NotifyError::Config(format!(
                            "cannot read the event at GITHUB_EVENT_PATH ({path}): {e}"
                        ))
                    })?;
                    let event: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                        NotifyError::Config(format!(
                            "the event at GITHUB_EVENT_PATH ({path}) is not JSON: {e}"
                        ))
                    })?;
                    match pr_number(&event) {
                        Some(n) => n,
                        None => {
                            let name = env("GITHUB_EVENT_NAME").unwrap_or_else(|| "this".into());
                            return Ok(Setup::Skip(format!(
                                "no pull request in the {name} event: no comment (give --pr N to name one)"
                            )));
                        }
                    }
                }
                None => {
                    return Ok(Setup::Skip(
                        "no pull request (neither --pr nor GITHUB_EVENT_PATH): no comment".into(),
                    ))
                }
            },
        };
        let token = env("GITHUB_TOKEN").map(Secret::new).ok_or_else(|| {
            NotifyError::Config(
                "GITHUB_TOKEN is not set: the comment needs a token with pull-requests: write"
                    .into(),
            )
        })?;
        if token.expose().chars().any(|c| c.is_control() || c == ' ') {
            return Err(NotifyError::Config(
                "GITHUB_TOKEN is not a valid token (it has spaces or control characters)".into(),
            ));
        }
        Ok(Setup::Ready(GitHub {
            api_url: env("GITHUB_API_URL")
                .unwrap_or_else(|| DEFAULT_API_URL.into())
                .trim_end_matches('/')
                .to_string(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            pr,
            token,
            author: env("KAIZEN_LOADTEST_COMMENT_AUTHOR"),
            server_url: env("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
        }))
    }

    /// The pull request's web page.
    pub fn pull_request_url(&self) -> String {
        format!(
            "{}/{}/{}/pull/{}",
            self.server_url.trim_end_matches('/'),
            self.owner,
            self.repo,
            self.pr
        )
    }

    pub(crate) fn client(&self) -> Result<octocrab::Octocrab, NotifyError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = octocrab::Octocrab::builder()
            .base_uri(self.api_url.as_str())
            .map_err(|e| NotifyError::Config(format!("GITHUB_API_URL is not a URL: {e}")))?
            .personal_token(self.token.expose().to_string())
            .add_header(
                reqwest::header::ACCEPT,
                "application/vnd.github+json".into(),
            )
            .add_header(
                reqwest::header::HeaderName::from_static("x-github-api-version"),
                "2022-11-28".into(),
            )
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .set_write_timeout(Some(Duration::from_secs(30)));
        builder
            .build()
            .map_err(|e| NotifyError::Transport(error_text(e)))
    }

    /// Posts or updates the sticky comment.
    pub async fn post(&self, markdown: &str) -> Result<Delivered, NotifyError> {
        let marker = marker_of(markdown).ok_or_else(|| {
            NotifyError::Config(
                "the Markdown report has no kaizen-loadtest marker on its first line".into(),
            )
        })?;
        let crab = self.client()?;
        let author = match &self.author {
            Some(a) => a.clone(),
            None => self.token_login(&crab).await,
        };
        let existing = self
            .find(&crab, marker, &author, false)
            .await?
            .first()
            .copied();
        let mut body = markdown.to_string();
        let mut written = self.write(&crab, existing, &body).await;
        if let Err(NotifyError::Status {
            status: 422,
            message,
        }) = &written
        {
            if message.to_lowercase().contains("too long") {
                body = cut_body(
                    markdown,
                    (markdown.chars().count() / 2).min(MAX_BODY_CHARS - 1_024),
                );
                written = self.write(&crab, existing, &body).await;
            }
        }
        match written? {
            (Delivered::Created(url), id) if existing.is_none() => {
                self.settle(&crab, marker, &author, &body, id, url).await
            }
            (delivered, _) => Ok(delivered),
        }
    }

    /// After creating the sticky comment: another job with the same key may have created one
    /// at the same moment, when neither found the other's. Lists again; of several, the oldest
    /// (the lowest id) is kept, given this body, and the others are deleted. Both jobs do the
    /// same, so one comment is left whoever finishes first. A deletion that fails is left be.
    async fn settle(
        &self,
        crab: &octocrab::Octocrab,
        marker: &str,
        author: &str,
        body: &str,
        created: u64,
        url: Option<String>,
    ) -> Result<Delivered, NotifyError> {
        let mut ours = self.find(crab, marker, author, true).await?;
        ours.push(created);
        ours.sort_unstable();
        ours.dedup();
        let keep = ours[0];
        let mut delivered = Delivered::Created(url);
        if keep != created {
            delivered = self.write(crab, Some(keep), body).await?.0;
        }
        for id in ours.into_iter().filter(|&id| id != keep) {
            let route = format!("/repos/{}/{}/issues/comments/{id}", self.owner, self.repo);
            let uri = format!("{}{route}", self.api_url);
            let _ = crab._delete(uri, None::<&()>).await;
        }
        Ok(delivered)
    }

    /// The token's login, or the Actions bot when the token may not read `/user`.
    async fn token_login(&self, crab: &octocrab::Octocrab) -> String {
        #[derive(Deserialize)]
        struct User {
            login: String,
        }
        match crab.get::<User, _, ()>("/user", None).await {
            Ok(u) => u.login,
            Err(_) => ACTIONS_BOT.to_string(),
        }
    }

    /// The ids of our sticky comments, in the order GitHub lists them, reading page by page:
    /// up to the first one, or every one with `all`.
    async fn find(
        &self,
        crab: &octocrab::Octocrab,
        marker: &str,
        author: &str,
        all: bool,
    ) -> Result<Vec<u64>, NotifyError> {
        let route = format!(
            "/repos/{}/{}/issues/{}/comments",
            self.owner, self.repo, self.pr
        );
        let mut page: octocrab::Page<ListedComment> = crab
            .get(&route, Some(&[("per_page", "100")]))
            .await
            .map_err(map_error)?;
        let mut found = Vec::new();
        for _ in 0..MAX_PAGES {
            found.extend(
                page.items
                    .iter()
                    .filter(|c| c.is_ours(marker, author))
                    .map(|c| c.id),
            );
            if !found.is_empty() && !all {
                break;
            }
            match crab
                .get_page::<ListedComment>(&page.next)
                .await
                .map_err(map_error)?
            {
                Some(next) => page = next,
                None => break,
            }
        }
        Ok(found)
    }

    /// Edits comment `existing`, or creates one: what was done, and the comment's id.
    async fn write(
        &self,
        crab: &octocrab::Octocrab,
        existing: Option<u64>,
        body: &str,
    ) -> Result<(Delivered, u64), NotifyError> {
        let payload = serde_json::json!({ "body": body });
        match existing {
            Some(id) => {
                let route = format!("/repos/{}/{}/issues/comments/{id}", self.owner, self.repo);
                let c: WrittenComment =
                    crab.patch(route, Some(&payload)).await.map_err(map_error)?;
                Ok((Delivered::Updated(c.html_url), id))
            }
            None => {
                let route = format!(
                    "/repos/{}/{}/issues/{}/comments",
                    self.owner, self.repo, self.pr
                );
                let c: WrittenComment =
                    crab.post(route, Some(&payload)).await.map_err(map_error)?;
                Ok((Delivered::Created(c.html_url), c.id.unwrap_or_default()))
            }
        }
    }
}

impl Notifier for GitHub {
    fn name(&self) -> &'static str {
        "github comment"
    }

    fn secrets(&self) -> Vec<Secret> {
        vec![self.token.clone()]
    }

    fn send<'a>(&'a self, msg: Message<'a>) -> SendFuture<'a> {
        Box::pin(self.post(msg.markdown))
    }
}

/// The fields of an issue comment that matter here (the rest of GitHub's shape is ignored, so
/// older GitHub Enterprise servers read the same).
#[derive(Debug, Deserialize)]
struct ListedComment {
    id: u64,
    body: Option<String>,
    user: Option<Login>,
}

#[derive(Debug, Deserialize)]
struct Login {
    login: String,
}

impl ListedComment {
    fn is_ours(&self, marker: &str, author: &str) -> bool {
        let body_matches = self
            .body
            .as_deref()
            .is_some_and(|b| b.trim_start().starts_with(marker));
        let author_matches = self
            .user
            .as_ref()
            .is_some_and(|u| u.login.eq_ignore_ascii_case(author));
        body_matches && author_matches
    }
}

#[derive(Debug, Deserialize)]
struct WrittenComment {
    id: Option<u64>,
    html_url: Option<String>,
}

/// The pull request a workflow event is about: `pull_request` / `pull_request_target` /
/// `pull_request_review`, an `issue_comment` on a pull request, or the first pull request of a
/// `workflow_run` (GitHub fills that list only for pull requests from the same repository).
pub fn pr_number(event: &serde_json::Value) -> Option<u64> {
    if let Some(n) = event
        .pointer("/pull_request/number")
        .and_then(|v| v.as_u64())
    {
        return Some(n);
    }
    if event.pointer("/issue/pull_request").is_some() {
        if let Some(n) = event.pointer("/issue/number").and_then(|v| v.as_u64()) {
            return Some(n);
        }
    }
    event
        .pointer("/workflow_run/pull_requests/0/number")
        .and_then(|v| v.as_u64())
}

/// The body cut to at most `max_chars` characters at a line boundary, the marker kept first and
/// a note saying where the rest is.
pub fn cut_body(body: &str, max_chars: usize) -> String {
    const NOTE: &str = "\n\n---\n*Cut to fit GitHub's comment size limit: the full report is in the run's artifacts.*\n";
    let budget = max_chars.saturating_sub(NOTE.chars().count());
    // Characters to bytes: find the byte index of the budget-th character.
    let byte_end = body
        .char_indices()
        .nth(budget)
        .map_or(body.len(), |(i, _)| i);
    let mut kept = truncate(body, byte_end);
    if let Some(nl) = kept.rfind('\n') {
        if nl > 0 {
            kept = &kept[..nl];
        }
    }
    format!("{kept}{NOTE}")
}

pub(crate) fn map_error(e: octocrab::Error) -> NotifyError {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let mut message = source.message.clone();
            for err in source.errors.iter().flatten() {
                if let Some(m) = err.get("message").and_then(|m| m.as_str()) {
                    message.push_str(": ");
                    message.push_str(m);
                } else if let Some(code) = err.get("code").and_then(|m| m.as_str()) {
                    message.push_str(": ");
                    message.push_str(code);
                }
            }
            if matches!(status, 401 | 403 | 404) {
                NotifyError::Forbidden { status, message }
            } else {
                NotifyError::Status { status, message }
            }
        }
        other => NotifyError::Transport(error_text(other)),
    }
}

fn error_text(e: octocrab::Error) -> String {
    super::chain_text(&e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::env_of;
    use serde_json::json;

    #[test]
    fn pr_number_from_each_event_kind() {
        assert_eq!(
            pr_number(&json!({"number": 7, "pull_request": {"number": 7}})),
            Some(7)
        );
        assert_eq!(
            pr_number(&json!({"issue": {"number": 9, "pull_request": {"url": "x"}}})),
            Some(9)
        );
        assert_eq!(
            pr_number(&json!({"issue": {"number": 9}})),
            None,
            "an issue, not a PR"
        );
        assert_eq!(
            pr_number(&json!({"workflow_run": {"pull_requests": [{"number": 3}]}})),
            Some(3)
        );
        assert_eq!(
            pr_number(&json!({"workflow_run": {"pull_requests": []}})),
            None
        );
        assert_eq!(pr_number(&json!({"ref": "refs/heads/main"})), None);
    }

    #[test]
    fn from_env_reads_repository_token_and_enterprise_url() {
        let env = env_of(&[
            ("GITHUB_REPOSITORY", "kaizen/studio"),
            ("GITHUB_TOKEN", "ghs_abc"),
            ("GITHUB_API_URL", "https://ghe.example.com/api/v3/"),
            ("GITHUB_SERVER_URL", "https://ghe.example.com"),
        ]);
        let Setup::Ready(g) = GitHub::from_env(&env, Some(12)).unwrap() else {
            panic!()
        };
        assert_eq!(
            (g.owner.as_str(), g.repo.as_str(), g.pr),
            ("kaizen", "studio", 12)
        );
        assert_eq!(g.api_url, "https://ghe.example.com/api/v3");
        assert_eq!(
            g.pull_request_url(),
            "https://ghe.example.com/kaizen/studio/pull/12"
        );
        assert_eq!(
            format!("{g:?}").matches("ghs_abc").count(),
            0,
            "the token never prints"
        );
    }

    #[test]
    fn from_env_without_a_pull_request_skips_and_without_a_token_is_an_error() {
        let env = env_of(&[
            ("GITHUB_REPOSITORY", "kaizen/studio"),
            ("GITHUB_TOKEN", "t0ken"),
        ]);
        assert!(matches!(
            GitHub::from_env(&env, None).unwrap(),
            Setup::Skip(_)
        ));
        let env = env_of(&[("GITHUB_REPOSITORY", "kaizen/studio")]);
        let err = GitHub::from_env(&env, Some(1)).unwrap_err().to_string();
        assert!(err.contains("GITHUB_TOKEN is not set"), "{err}");
        let env = env_of(&[("GITHUB_REPOSITORY", "studio"), ("GITHUB_TOKEN", "t0ken")]);
        assert!(GitHub::from_env(&env, Some(1))
            .unwrap_err()
            .to_string()
            .contains("owner/name"));
    }

    #[test]
    fn cut_body_keeps_the_marker_and_fits() {
        let body = format!(
            "<!-- kaizen-loadtest:p:e -->\n## ❌ failed\n{}",
            "| row | é |\n".repeat(10_000)
        );
        let cut = cut_body(&body, 5_000);
        assert!(cut.starts_with("<!-- kaizen-loadtest:p:e -->\n## ❌ failed\n"));
        assert!(cut.chars().count() <= 5_000, "{}", cut.chars().count());
        assert!(cut.ends_with("in the run's artifacts.*\n"));
        assert!(!cut.contains("| row | é |\n---"), "cut at a line boundary");
    }

    #[test]
    fn ours_means_marker_first_and_our_login() {
        let c = |body: &str, login: &str| ListedComment {
            id: 1,
            body: Some(body.into()),
            user: Some(Login {
                login: login.into(),
            }),
        };
        let m = "<!-- kaizen-loadtest:p:e -->";
        assert!(c("<!-- kaizen-loadtest:p:e -->\nx", "github-actions[bot]").is_ours(m, ACTIONS_BOT));
        assert!(!c("<!-- kaizen-loadtest:p:e -->\nx", "mallory").is_ours(m, ACTIONS_BOT));
        assert!(!c("quote: <!-- kaizen-loadtest:p:e -->", ACTIONS_BOT).is_ours(m, ACTIONS_BOT));
        assert!(!c("<!-- kaizen-loadtest:p:prod -->", ACTIONS_BOT).is_ours(m, ACTIONS_BOT));
    }
}
