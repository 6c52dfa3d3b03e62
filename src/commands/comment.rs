//! `comment --from SUMMARY.json`: posts a saved summary as the sticky pull request comment or
//! merge request note (for pull requests from forks: `docs/ci.md`). Exit 0 when posted (or when
//! there is no pull request), 1 when posting failed, 2 when the summary or the configuration is
//! unusable.

use super::cli::CommentArgs;
use super::common::read_summary;
use super::UsageError;
use crate::notify::{self, Commented};
use crate::rules::Rules;
use crate::{exit, report, verdict};

pub(super) fn command(args: &CommentArgs) -> anyhow::Result<u8> {
    // Judged again, as `report` does: the comment says what the verdict stage says.
    let mut summary = read_summary(&args.from)?;
    if let Some(url) = &args.run_url {
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.contains(char::is_whitespace)
        {
            return Err(UsageError::BadFlag {
                flag: "--run-url",
                reason: format!("\"{url}\" is not an http(s) URL"),
            }
            .into());
        }
        // The link is the caller's (built from the CI event), never the saved summary's.
        summary.run.ci_run_url = Some(url.clone());
    }
    let summary = verdict::judge(&summary, &Rules::of_summary(&summary)).apply(summary);
    let key = args.comment_key.as_deref();
    let marker = notify::comment_key(&summary, key);
    let markdown = notify::render_markdown(&summary, &marker, report::COMMENT_MAX)?;
    match notify::comment(&summary, &markdown, args.to, args.pr, key)
        .map_err(UsageError::Comment)?
    {
        Commented::Posted | Commented::Skipped => Ok(exit::OK),
        Commented::Failed => Ok(exit::RUN_ERROR),
    }
}
