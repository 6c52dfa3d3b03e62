//! `--baseline github-artifact:BRANCH`: the JSON summary of the last successful run on a branch,
//! fetched through the GitHub API, so that every pull request comment shows deltas against main
//! without anyone downloading a file.
//!
//! The newest successful workflow runs on the branch are read (`GET /repos/{o}/{r}/actions/runs`),
//! then each run's artifacts whose name starts with `loadtest-reports` (the Action's default
//! artifact name; `KAIZEN_LOADTEST_BASELINE_ARTIFACT` changes the prefix). Each candidate is
//! downloaded (`GET .../artifacts/{id}/zip` answers with a redirect to blob storage, which is
//! fetched without the token) and the first `*_summary.json` in it with the same plan,
//! environment and scenarios as this run is the baseline. It lives in this module because it
//! shares the GitHub client and configuration with the sticky comment.
//!
//! Nothing here fails a run: whatever goes wrong (no token, no run, an expired artifact) is the
//! reason returned, which the caller puts in the reports as a note.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use http_body_util::BodyExt as _;
use serde::Deserialize;

use super::github::{GitHub, Setup};
use super::{process_env, Env, NotifyError, Redactor};
use crate::summary::schema::Summary;

/// The prefix of `--baseline` that asks for an artifact.
pub const PREFIX: &str = "github-artifact:";
/// Runs looked at, newest first.
const MAX_RUNS: usize = 20;
/// Artifacts downloaded at most while looking.
const MAX_DOWNLOADS: usize = 10;
/// The most bytes an artifact may unpack to.
const MAX_UNZIPPED: usize = 256 * 1024 * 1024;

/// Where a baseline was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The baseline's JSON summary.
    pub bytes: Vec<u8>,
    pub run_id: u64,
    pub head_sha: String,
    pub artifact: String,
}

/// For a `--baseline` value: `Ok(None)` when it is not `github-artifact:...` (a file), the
/// fetched summary, or the reason there is none.
pub fn fetch(spec: &Path, current: &Summary) -> Result<Option<Found>, String> {
    fetch_with(&process_env, spec, current)
}

fn fetch_with(env: Env<'_>, spec: &Path, current: &Summary) -> Result<Option<Found>, String> {
    let Some(branch) = spec.to_str().and_then(|s| s.strip_prefix(PREFIX)) else {
        return Ok(None);
    };
    let branch = branch.trim();
    if branch.is_empty() {
        return Err(format!("{PREFIX} needs a branch, e.g. {PREFIX}main"));
    }
    // The pull request number is irrelevant here: any number satisfies the shared setup.
    let gh = match GitHub::from_env(env, Some(0)).map_err(|e| e.to_string())? {
        Setup::Ready(g) => g,
        Setup::Skip(why) => return Err(why),
    };
    let prefix =
        env("KAIZEN_LOADTEST_BASELINE_ARTIFACT").unwrap_or_else(|| "loadtest-reports".into());
    let redactor = Redactor::new(std::slice::from_ref(&gh.token));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let skip = crate::engine::signals::extras_skipped();
    let found = rt.block_on(async {
        tokio::select! {
            biased;
            _ = skip.cancelled() => Err("stopped by a signal".into()),
            r = tokio::time::timeout(
                Duration::from_secs(120),
                search(&gh, branch, &prefix, current),
            ) => r.unwrap_or_else(|_| Err("the GitHub API did not answer within 120 s".into())),
        }
    });
    found.map(Some).map_err(|e| redactor.redact(&e))
}

#[derive(Deserialize)]
struct Runs {
    workflow_runs: Vec<Run>,
}

#[derive(Deserialize)]
struct Run {
    id: u64,
    #[serde(default)]
    head_sha: String,
}

#[derive(Deserialize)]
struct Artifacts {
    artifacts: Vec<Artifact>,
}

#[derive(Deserialize)]
struct Artifact {
    id: u64,
    name: String,
    #[serde(default)]
    expired: bool,
}

async fn search(
    gh: &GitHub,
    branch: &str,
    prefix: &str,
    current: &Summary,
) -> Result<Found, String> {
    let crab = gh.client().map_err(|e| e.to_string())?;
    let api = |e: octocrab::Error| {
        match super::github::map_error(e) {
        NotifyError::Forbidden { status, message } => format!(
            "the token may not read workflow runs (HTTP {status}: {message}); the job needs `permissions: actions: read`"
        ),
        other => other.to_string(),
    }
    };
    let runs: Runs = crab
        .get(
            format!("/repos/{}/{}/actions/runs", gh.owner, gh.repo),
            Some(&[
                ("branch", branch),
                ("status", "success"),
                ("exclude_pull_requests", "true"),
                ("per_page", &MAX_RUNS.to_string()),
            ]),
        )
        .await
        .map_err(api)?;
    if runs.workflow_runs.is_empty() {
        return Err(format!("no successful workflow run on {branch} yet"));
    }
    let http = super::http_client().map_err(|e| e.to_string())?;
    let mut downloads = 0;
    for run in runs.workflow_runs.iter().take(MAX_RUNS) {
        let arts: Artifacts = crab
            .get(
                format!(
                    "/repos/{}/{}/actions/runs/{}/artifacts",
                    gh.owner, gh.repo, run.id
                ),
                Some(&[("per_page", "100")]),
            )
            .await
            .map_err(api)?;
        for art in arts
            .artifacts
            .iter()
            .filter(|a| !a.expired && a.name.starts_with(prefix))
        {
            if downloads == MAX_DOWNLOADS {
                break;
            }
            downloads += 1;
            let zip = download(&crab, &http, gh, art.id).await?;
            for (_name, bytes) in unzip(&zip, MAX_UNZIPPED, |n| n.ends_with("_summary.json"))? {
                let Ok(s) = serde_json::from_slice::<Summary>(&bytes) else {
                    continue;
                };
                if s.run.plan_name == current.run.plan_name
                    && s.run.environment == current.run.environment
                    && s.run.scenarios == current.run.scenarios
                {
                    return Ok(Found {
                        bytes,
                        run_id: run.id,
                        head_sha: run.head_sha.clone(),
                        artifact: art.name.clone(),
                    });
                }
            }
        }
    }
    Err(format!(
        "no \"{prefix}*\" artifact of the last successful runs on {branch} holds a summary of plan \"{}\", environment \"{}\", scenarios {}",
        current.run.plan_name,
        current.run.environment,
        current.run.scenarios.join("+")
    ))
}

/// The artifact's zip. GitHub answers with a redirect to a short-lived blob storage URL, which
/// is fetched without the token.
async fn download(
    crab: &octocrab::Octocrab,
    http: &reqwest::Client,
    gh: &GitHub,
    id: u64,
) -> Result<Vec<u8>, String> {
    let route = format!("/repos/{}/{}/actions/artifacts/{id}/zip", gh.owner, gh.repo);
    let uri: reqwest::Url = format!("{}{route}", gh.api_url)
        .parse()
        .map_err(|e| format!("{e}"))?;
    let resp = crab
        ._get(uri.as_str())
        .await
        .map_err(|e| super::github::map_error(e).to_string())?;
    let status = resp.status();
    if status.is_redirection() {
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("artifact {id}: a redirect without a location"))?
            .to_string();
        let blob = http
            .get(location)
            .send()
            .await
            .map_err(|e| format!("artifact {id}: {}", super::transport_text(e)))?;
        if !blob.status().is_success() {
            return Err(format!(
                "artifact {id}: HTTP {} from the artifact storage",
                blob.status().as_u16()
            ));
        }
        return blob
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| format!("artifact {id}: {}", super::transport_text(e)));
    }
    if !status.is_success() {
        return Err(match status.as_u16() {
            410 => format!("artifact {id} has expired"),
            s => format!("artifact {id}: HTTP {s}"),
        });
    }
    resp.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .map_err(|e| format!("artifact {id}: {e}"))
}

/// The files of a ZIP archive whose names `want` accepts, read through the central directory
/// (so streamed archives with data descriptors read the same). Stored and deflated entries; no
/// ZIP64, no encryption. At most `max_total` bytes are unpacked.
pub fn unzip(
    zip: &[u8],
    max_total: usize,
    want: impl Fn(&str) -> bool,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let u16_at = |at: usize| {
        zip.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |at: usize| {
        zip.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let bad = |what: &str| format!("the artifact is not a readable zip ({what})");
    // End of central directory: 22 bytes and a comment of at most 65535.
    let lowest = zip.len().saturating_sub(22 + 65_535);
    let eocd = (lowest..=zip.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(i) == Some(0x0605_4b50))
        .ok_or_else(|| bad("no end of central directory"))?;
    let entries = u16_at(eocd + 10).ok_or_else(|| bad("short"))?;
    let mut at = u32_at(eocd + 16).ok_or_else(|| bad("short"))?;
    if at == 0xFFFF_FFFF || entries == 0xFFFF {
        return Err(bad("ZIP64"));
    }
    let mut out = Vec::new();
    let mut total = 0usize;
    for _ in 0..entries {
        if u32_at(at) != Some(0x0201_4b50) {
            return Err(bad("central directory"));
        }
        let field = |off: usize| u16_at(at + off).ok_or_else(|| bad("short"));
        let (method, name_len, extra_len, comment_len) =
            (field(10)?, field(28)?, field(30)?, field(32)?);
        let crc = u32_at(at + 16).ok_or_else(|| bad("short"))? as u32;
        let compressed = u32_at(at + 20).ok_or_else(|| bad("short"))?;
        let size = u32_at(at + 24).ok_or_else(|| bad("short"))?;
        let local = u32_at(at + 42).ok_or_else(|| bad("short"))?;
        let name = zip
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| bad("short"))?;
        let name = String::from_utf8_lossy(name).into_owned();
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') || !want(&name) {
            continue;
        }
        total = total.saturating_add(size);
        if total > max_total {
            return Err(bad("too large"));
        }
        if u32_at(local) != Some(0x0403_4b50) {
            return Err(bad("local header"));
        }
        let start = local
            + 30
            + u16_at(local + 26).ok_or_else(|| bad("short"))?
            + u16_at(local + 28).ok_or_else(|| bad("short"))?;
        let data = zip
            .get(start..start + compressed)
            .ok_or_else(|| bad("short entry"))?;
        let bytes = match method {
            0 => data.to_vec(),
            8 => {
                let mut buf = Vec::with_capacity(size);
                flate2::read::DeflateDecoder::new(data)
                    .take(size as u64 + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| bad(&e.to_string()))?;
                buf
            }
            m => return Err(bad(&format!("compression method {m}"))),
        };
        let mut check = flate2::Crc::new();
        check.update(&bytes);
        if bytes.len() != size || check.sum() != crc {
            return Err(bad(&format!("{name} is damaged")));
        }
        out.push((name, bytes));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-entry archive of stored files, built byte by byte (the integration tests read
    /// deflated archives written by Python's zipfile).
    fn sample() -> Vec<u8> {
        fn stored(name: &str, data: &[u8], out: &mut Vec<u8>, cd: &mut Vec<u8>) {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            let offset = out.len() as u32;
            out.extend(0x0403_4b50u32.to_le_bytes());
            out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend(crc.sum().to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(0u16.to_le_bytes());
            out.extend(name.as_bytes());
            out.extend(data);
            cd.extend(0x0201_4b50u32.to_le_bytes());
            cd.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            cd.extend(crc.sum().to_le_bytes());
            cd.extend((data.len() as u32).to_le_bytes());
            cd.extend((data.len() as u32).to_le_bytes());
            cd.extend((name.len() as u16).to_le_bytes());
            cd.extend([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            cd.extend(offset.to_le_bytes());
            cd.extend(name.as_bytes());
        }
        let (mut out, mut cd) = (Vec::new(), Vec::new());
        stored("reports/a_summary.json", b"{\"x\": 1}", &mut out, &mut cd);
        stored("reports/b.txt", b"other", &mut out, &mut cd);
        let cd_offset = out.len() as u32;
        out.extend(&cd);
        out.extend(0x0605_4b50u32.to_le_bytes());
        out.extend([0, 0, 0, 0, 2, 0, 2, 0]);
        out.extend((cd.len() as u32).to_le_bytes());
        out.extend(cd_offset.to_le_bytes());
        out.extend([0, 0]);
        out
    }

    #[test]
    fn unzip_reads_the_wanted_entries_and_checks_their_crc() {
        let zip = sample();
        let files = unzip(&zip, 1 << 20, |n| n.ends_with("_summary.json")).unwrap();
        assert_eq!(
            files,
            vec![("reports/a_summary.json".to_string(), b"{\"x\": 1}".to_vec())]
        );
        let mut damaged = zip.clone();
        let i = damaged.windows(3).position(|w| w == b"\"x\"").unwrap();
        damaged[i + 1] = b'y';
        assert!(unzip(&damaged, 1 << 20, |_| true)
            .unwrap_err()
            .contains("damaged"));
        assert!(unzip(b"not a zip at all, not even close", 1 << 20, |_| true).is_err());
        assert!(unzip(&zip, 3, |_| true).unwrap_err().contains("too large"));
    }

    #[test]
    fn only_the_prefix_asks_for_an_artifact() {
        let s = crate::notify::testdata::summary_with(1, 0);
        let none = |_: &str| None;
        assert_eq!(
            fetch_with(&none, Path::new("reports/base.json"), &s),
            Ok(None)
        );
        let err = fetch_with(&none, Path::new("github-artifact:main"), &s).unwrap_err();
        assert!(err.contains("GITHUB_REPOSITORY"), "{err}");
        assert!(fetch_with(&none, Path::new("github-artifact:"), &s)
            .unwrap_err()
            .contains("needs a branch"));
    }
}
