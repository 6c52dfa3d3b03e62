//! Usage errors: what is the user's to fix (a bad flag, an unknown scenario, a summary that cannot
//! be read). Each exits 2 before any request is sent, and keeps the error it came from as its
//! source.

use crate::notify::NotifyError;
use crate::plan::duration::DurationError;
use crate::report::ReadSummaryError;
use crate::summary::merge::MergeError;

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// A scenario the plan does not have (`hint`: "; did you mean …?" or nothing).
    #[error("unknown scenario \"{name}\"{hint} (the plan has: {known})")]
    UnknownScenario {
        name: String,
        hint: String,
        known: String,
    },
    /// An environment the plan does not have, and no `--base-url`.
    #[error("unknown environment \"{name}\"{hint} (give --base-url, or one of: {known})")]
    UnknownEnvironment {
        name: String,
        hint: String,
        known: String,
    },
    /// A protected environment, and scenarios not marked `protected_ok`.
    #[error(
        "environment \"{env}\" is protected: scenario(s) {scenarios} are not marked protected_ok \
         (pass --allow-protected to run them anyway)"
    )]
    ProtectedEnvironment { env: String, scenarios: String },
    /// The environment's `base_url` came out empty.
    #[error(
        "environment \"{env}\" has no base URL: its base_url is empty (an unset ${{VAR}}? see the \
         warning above), or give --base-url"
    )]
    NoBaseUrl { env: String },
    /// `--base-url` (or `KAIZEN_LOADTEST_BASE_URL`) fails the checks a plan's `base_url`
    /// passes (`crate::url::check_base_url`); its credentials are masked when printed.
    #[error("--base-url {url:?} {why}")]
    BadBaseUrl { url: String, why: String },
    /// `--duration` that is not a duration.
    #[error("--duration")]
    BadDuration(#[source] DurationError),
    /// A flag's value that cannot be used.
    #[error("{flag}: {reason}")]
    BadFlag { flag: &'static str, reason: String },
    /// More VUs than one process may run, or than its open-file limit allows.
    #[error("{0}")]
    TooManyVus(String),
    /// A saved summary that cannot be read.
    #[error(transparent)]
    Summary(#[from] ReadSummaryError),
    /// Parts that do not make one distributed run.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// `comment` cannot post: a token or the repository is missing.
    #[error("comment")]
    Comment(#[source] NotifyError),
    /// `init` would overwrite a file.
    #[error("{} exists; pass --force to overwrite it", .0.display())]
    Exists(std::path::PathBuf),
    /// `init --from-openapi` cannot use the spec: it cannot be read, is not OpenAPI 3, or
    /// describes no operation.
    #[error("cannot generate a plan from {spec}: {why}")]
    BadSpec { spec: String, why: String },
}
