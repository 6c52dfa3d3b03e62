//! The sticky merge request note, through GitLab's REST API (v4) with `PRIVATE-TOKEN`.
//!
//! Same rule as the GitHub comment: the note whose body starts with the report's marker and
//! whose author is the token's user (`GET /user`) is edited (`PUT .../notes/:id`), otherwise one
//! is created (`POST .../notes`). Pages are followed with GitLab's `x-next-page` header. After
//! creating one, the notes are listed again: two jobs with the same key that each found none
//! both created one, so of several the oldest is kept (given this body) and the others are
//! deleted (`DELETE .../notes/:id`), as for the GitHub comment.
//!
//! A pipeline's `CI_JOB_TOKEN` cannot post notes, so with only that token there is one warning
//! and no request; `GITLAB_TOKEN` must be a project or personal access token with `api` scope.

use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::github::Setup;
use super::{
    http_client, marker_of, transport_text, truncate, Delivered, Env, Message, Notifier,
    NotifyError, Secret, SendFuture,
};

/// Pages of 100 notes read at most while looking for the sticky one.
const MAX_PAGES: usize = 100;
/// GitLab's limit for a note, in characters.
pub const MAX_BODY_CHARS: usize = 1_000_000;

#[derive(Debug, Clone)]
pub struct GitLab {
    /// `CI_API_V4_URL`, e.g. `https://gitlab.com/api/v4`.
    pub api_url: String,
    /// `CI_PROJECT_ID`: a number, or a `group/project` path (sent URL-encoded).
    pub project: String,
    pub mr: u64,
    pub token: Secret,
    /// The merge request's web page (`CI_MERGE_REQUEST_PROJECT_URL`).
    pub web_url: Option<String>,
}

impl GitLab {
    /// Reads `GITLAB_TOKEN`, `CI_API_V4_URL`, `CI_PROJECT_ID` and `CI_MERGE_REQUEST_IID` (or `mr`).
    pub fn from_env(env: Env<'_>, mr: Option<u64>) -> Result<Setup<GitLab>, NotifyError> {
        let Some(iid) = mr
            .map(|n| n.to_string())
            .or_else(|| env("CI_MERGE_REQUEST_IID"))
        else {
            return Ok(Setup::Skip(
                "not a merge request pipeline (no CI_MERGE_REQUEST_IID): no note".into(),
            ));
        };
        let mr: u64 = iid.trim().parse().map_err(|_| {
            NotifyError::Config(format!("CI_MERGE_REQUEST_IID is \"{iid}\", not a number"))
        })?;
        let token = match env("GITLAB_TOKEN") {
            Some(t) => Secret::new(t.trim()),
            None if env("CI_JOB_TOKEN").is_some() => {
                return Err(NotifyError::Config(
                    "only CI_JOB_TOKEN is set, and a job token cannot post merge request notes: \
                     set GITLAB_TOKEN to a project access token with the api scope (a masked CI/CD variable)"
                        .into(),
                ))
            }
            None => {
                return Err(NotifyError::Config(
                    "GITLAB_TOKEN is not set: the note needs a project access token with the api scope".into(),
                ))
            }
        };
        let api_url = env("CI_API_V4_URL")
            .or_else(|| env("CI_SERVER_URL").map(|s| format!("{}/api/v4", s.trim_end_matches('/'))))
            .ok_or_else(|| NotifyError::Config("CI_API_V4_URL is not set".into()))?;
        let project = env("CI_PROJECT_ID")
            .ok_or_else(|| NotifyError::Config("CI_PROJECT_ID is not set".into()))?;
        let web_url = env("CI_MERGE_REQUEST_PROJECT_URL")
            .or_else(|| env("CI_PROJECT_URL"))
            .map(|p| format!("{}/-/merge_requests/{mr}", p.trim_end_matches('/')));
        Ok(Setup::Ready(GitLab {
            api_url: api_url.trim_end_matches('/').to_string(),
            project: project.trim().to_string(),
            mr,
            token,
            web_url,
        }))
    }

    fn notes_url(&self) -> String {
        format!(
            "{}/projects/{}/merge_requests/{}/notes",
            self.api_url,
            crate::url::urlencode(&self.project),
            self.mr
        )
    }

    /// Posts or updates the sticky note.
    pub async fn post(&self, markdown: &str) -> Result<Delivered, NotifyError> {
        let marker = marker_of(markdown).ok_or_else(|| {
            NotifyError::Config(
                "the Markdown report has no kaizen-loadtest marker on its first line".into(),
            )
        })?;
        let body = if markdown.chars().count() > MAX_BODY_CHARS {
            super::github::cut_body(markdown, MAX_BODY_CHARS)
        } else {
            markdown.to_string()
        };
        let client = http_client()?;
        let me = self.token_user(&client).await?;
        let existing = self
            .find(&client, marker, &me, false)
            .await?
            .first()
            .copied();
        let payload = serde_json::json!({ "body": body });
        let (method, url) = match existing {
            Some(id) => (Method::PUT, format!("{}/{id}", self.notes_url())),
            None => (Method::POST, self.notes_url()),
        };
        let resp = self
            .request(&client, method, &url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(payload.to_string())
            .send()
            .await?;
        let resp = check(resp).await?;
        let link = self.web_url.as_ref().map(|u| u.to_string());
        if existing.is_some() {
            return Ok(Delivered::Updated(link));
        }
        #[derive(Deserialize)]
        struct Created {
            id: u64,
        }
        let created: Created = read_json(resp, "POST .../notes").await?;
        self.settle(&client, marker, &me, &payload.to_string(), created.id)
            .await?;
        Ok(Delivered::Created(link))
    }

    /// After creating the note: of our notes with this marker, the oldest (the lowest id) is
    /// kept and given this body, the others deleted. Both racing jobs do the same, so one note is
    /// left whoever finishes first. A deletion that fails is left be.
    async fn settle(
        &self,
        client: &reqwest::Client,
        marker: &str,
        me: &str,
        payload: &str,
        created: u64,
    ) -> Result<(), NotifyError> {
        let mut ours = self.find(client, marker, me, true).await?;
        ours.push(created);
        ours.sort_unstable();
        ours.dedup();
        let keep = ours[0];
        if keep != created {
            let resp = self
                .request(client, Method::PUT, &format!("{}/{keep}", self.notes_url()))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(payload.to_string())
                .send()
                .await?;
            check(resp).await?;
        }
        for id in ours.into_iter().filter(|&id| id != keep) {
            let url = format!("{}/{id}", self.notes_url());
            let _ = self.request(client, Method::DELETE, &url).send().await;
        }
        Ok(())
    }

    fn request(
        &self,
        client: &reqwest::Client,
        method: Method,
        url: &str,
    ) -> reqwest::RequestBuilder {
        client
            .request(method, url)
            .header("PRIVATE-TOKEN", self.token.expose())
    }

    /// The token's username: notes by anyone else are never edited.
    async fn token_user(&self, client: &reqwest::Client) -> Result<String, NotifyError> {
        #[derive(Deserialize)]
        struct User {
            username: String,
        }
        let resp = self
            .request(client, Method::GET, &format!("{}/user", self.api_url))
            .send()
            .await?;
        let resp = check(resp).await?;
        let u: User = read_json(resp, "GET /user").await?;
        Ok(u.username)
    }

    /// The ids of our sticky notes, oldest first, reading page by page: up to the first one, or
    /// every one with `all`.
    async fn find(
        &self,
        client: &reqwest::Client,
        marker: &str,
        me: &str,
        all: bool,
    ) -> Result<Vec<u64>, NotifyError> {
        #[derive(Deserialize)]
        struct Note {
            id: u64,
            body: Option<String>,
            author: Option<Author>,
            #[serde(default)]
            system: bool,
        }
        #[derive(Deserialize)]
        struct Author {
            username: String,
        }
        let mut found = Vec::new();
        let mut page = "1".to_string();
        for _ in 0..MAX_PAGES {
            let url = format!(
                "{}?sort=asc&order_by=created_at&per_page=100&page={page}",
                self.notes_url()
            );
            let resp = self.request(client, Method::GET, &url).send().await?;
            let resp = check(resp).await?;
            let next = resp
                .headers()
                .get("x-next-page")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty());
            let notes: Vec<Note> = read_json(resp, "listing the notes").await?;
            found.extend(
                notes
                    .iter()
                    .filter(|n| {
                        !n.system
                            && n.body
                                .as_deref()
                                .is_some_and(|b| b.trim_start().starts_with(marker))
                            && n.author.as_ref().is_some_and(|a| a.username == me)
                    })
                    .map(|n| n.id),
            );
            if !all && !found.is_empty() {
                return Ok(found);
            }
            match next {
                Some(p) => page = p,
                None => return Ok(found),
            }
        }
        Ok(found)
    }
}

impl Notifier for GitLab {
    fn name(&self) -> &'static str {
        "gitlab note"
    }

    fn secrets(&self) -> Vec<Secret> {
        vec![self.token.clone()]
    }

    fn send<'a>(&'a self, msg: Message<'a>) -> SendFuture<'a> {
        Box::pin(self.post(msg.markdown))
    }
}

/// The response when it is a success; otherwise the error GitLab gave (`message` or `error`).
async fn check(resp: reqwest::Response) -> Result<reqwest::Response, NotifyError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("error"))
                .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
        })
        .unwrap_or_else(|| truncate(text.trim(), 300).to_string());
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        message
    };
    let status_u16 = status.as_u16();
    if matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
    ) {
        Err(NotifyError::Forbidden {
            status: status_u16,
            message,
        })
    } else {
        Err(NotifyError::Status {
            status: status_u16,
            message,
        })
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
    what: &str,
) -> Result<T, NotifyError> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| NotifyError::Transport(format!("{what}: {}", transport_text(e))))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| NotifyError::Transport(format!("{what}: unexpected answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::env_of;

    #[test]
    fn a_job_token_alone_is_a_warning_not_a_request() {
        let env = env_of(&[
            ("CI_MERGE_REQUEST_IID", "4"),
            ("CI_JOB_TOKEN", "job-secret"),
            ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
            ("CI_PROJECT_ID", "12"),
        ]);
        let err = GitLab::from_env(&env, None).unwrap_err().to_string();
        assert!(
            err.contains("CI_JOB_TOKEN") && err.contains("GITLAB_TOKEN"),
            "{err}"
        );
        assert!(!err.contains("job-secret"));
    }

    #[test]
    fn from_env_builds_the_notes_url_and_skips_outside_merge_requests() {
        let env = env_of(&[
            ("CI_MERGE_REQUEST_IID", "4"),
            ("GITLAB_TOKEN", "glpat-x"),
            ("CI_API_V4_URL", "https://gitlab.example.com/api/v4/"),
            ("CI_PROJECT_ID", "kaizen/studio"),
            (
                "CI_MERGE_REQUEST_PROJECT_URL",
                "https://gitlab.example.com/kaizen/studio",
            ),
        ]);
        let Setup::Ready(g) = GitLab::from_env(&env, None).unwrap() else {
            panic!()
        };
        assert_eq!(
            g.notes_url(),
            "https://gitlab.example.com/api/v4/projects/kaizen%2Fstudio/merge_requests/4/notes"
        );
        assert_eq!(
            g.web_url.as_deref(),
            Some("https://gitlab.example.com/kaizen/studio/-/merge_requests/4")
        );
        let env = env_of(&[("GITLAB_TOKEN", "glpat-x")]);
        assert!(matches!(
            GitLab::from_env(&env, None).unwrap(),
            Setup::Skip(_)
        ));
    }
}
