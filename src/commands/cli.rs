//! The command line (docs: the README and `docs/ci.md`). Every option CI sets also reads a
//! `KAIZEN_LOADTEST_*` environment variable. The value types it parses into belong to the stages
//! that use them (`ReportFormat` to `report`, `NotifyWhen` and `CommentTarget` to `notify`); their
//! command-line names are given here.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::notify::{CommentTarget, NotifyConfig, NotifyWhen, Secret};
use crate::report::ReportFormat;
use crate::summary::schema::Segment;

#[derive(Debug, Parser)]
#[command(
    name = "kaizen-loadtest",
    version,
    about = "CI-native HTTP load testing: a YAML plan in, a verdict and reports out",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios of a plan and judge them against its thresholds.
    Run(RunArgs),
    /// Check a plan and print each scenario's resolved timeline; sends nothing.
    Validate(ValidateArgs),
    /// Start the built-in reference API on a loopback port and run a smoke test against it.
    Demo(DemoArgs),
    /// Serve the in-memory reference Kaizen Studio API until SIGINT/SIGTERM.
    ServeFixture(FixtureArgs),
    /// Combine the JSON summaries of the segments of one run exactly, judge the thresholds on
    /// the whole and write every report.
    Merge(MergeArgs),
    /// Re-render reports from a saved JSON summary.
    Report(ReportArgs),
    /// Compare two JSON summaries: per scenario and endpoint, the change of p50/p95/p99, error
    /// rate and req/s; exits 99 when a regression limit of the plan is broken.
    Compare(CompareArgs),
    /// Post the sticky pull request comment (or merge request note) from a saved JSON summary,
    /// e.g. from a `workflow_run` job for pull requests from forks (docs/ci.md).
    Comment(CommentArgs),
    /// Write a starter plan and GitHub Actions workflow, or a plan generated from an OpenAPI 3
    /// description (`--from-openapi`); existing files are kept unless --force.
    Init(InitArgs),
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Generate the plan from this OpenAPI 3.0 or 3.1 description (YAML or JSON): a file, or
    /// an http(s) URL.
    #[arg(long, value_name = "SPEC")]
    pub from_openapi: Option<String>,

    /// Where the plan is written.
    #[arg(long, value_name = "FILE", default_value = "loadtest.yaml")]
    pub out: PathBuf,

    /// Overwrite files that exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    #[arg(value_name = "CURRENT.json")]
    pub current: PathBuf,
    #[arg(value_name = "BASELINE.json")]
    pub baseline: PathBuf,
    /// The plan whose `regression` limits to judge (without it, only the deltas are shown).
    #[arg(long, env = "KAIZEN_LOADTEST_PLAN")]
    pub plan: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The parts' JSON summaries (one per segment).
    #[arg(required = true, value_name = "PART.json")]
    pub parts: Vec<PathBuf>,

    /// Where report files are written.
    #[arg(long, env = "KAIZEN_LOADTEST_OUT_DIR", default_value = "reports")]
    pub out_dir: PathBuf,

    /// Report formats to write, comma separated.
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_FORMAT",
        value_enum,
        value_delimiter = ',',
        default_value = "json,junit,markdown,html,k6"
    )]
    pub format: Vec<ReportFormat>,

    /// The merged run is announced like a run: PR comment, MR note, Slack.
    #[command(flatten)]
    pub notify: Box<NotifyArgs>,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A JSON summary written by `run` or `merge`.
    #[arg(value_name = "SUMMARY.json")]
    pub summary: PathBuf,

    /// Where report files are written.
    #[arg(long, default_value = "reports")]
    pub out_dir: PathBuf,

    /// Report formats to write, comma separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "junit,markdown,html,k6"
    )]
    pub format: Vec<ReportFormat>,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The plan file.
    #[arg(long, env = "KAIZEN_LOADTEST_PLAN", default_value = "loadtest.yaml")]
    pub plan: PathBuf,

    /// Environment to run against [default: the plan's default_environment, else "local"].
    #[arg(long, env = "KAIZEN_LOADTEST_ENV")]
    pub env: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenarios to run, in plan order; `all` (the default) runs every scenario.
    #[arg(
        value_name = "SCENARIO",
        env = "KAIZEN_LOADTEST_SCENARIOS",
        value_delimiter = ','
    )]
    pub scenarios: Vec<String>,

    #[command(flatten)]
    pub plan: PlanArgs,

    /// Override the environment's base URL.
    #[arg(long, env = "KAIZEN_LOADTEST_BASE_URL", help_heading = "Overrides")]
    pub base_url: Option<String>,

    /// Scale every VU count of the selected scenarios so that the peak is N.
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_VUS",
        value_name = "N",
        help_heading = "Overrides"
    )]
    pub vus: Option<u64>,

    /// Scale every duration and stage so that each scenario's total is D (e.g. 30s, 2m).
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_DURATION",
        value_name = "D",
        help_heading = "Overrides"
    )]
    pub duration: Option<String>,

    /// Run the selected scenarios at once on their own timelines instead of one after another.
    #[arg(long, help_heading = "Overrides")]
    pub parallel: bool,

    /// Allow scenarios not marked `protected_ok` against a protected environment.
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_ALLOW_PROTECTED",
        help_heading = "Overrides"
    )]
    pub allow_protected: bool,

    /// Where report files are written.
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_OUT_DIR",
        default_value = "reports",
        help_heading = "Reports"
    )]
    pub out_dir: PathBuf,

    /// Report formats to write, comma separated.
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_FORMAT",
        value_enum,
        value_delimiter = ',',
        default_value = "json,junit,markdown,html,k6",
        help_heading = "Reports"
    )]
    pub format: Vec<ReportFormat>,

    /// A previous JSON summary to compare with: deltas in every report, and the plan's
    /// `regression` limits judged like thresholds. A missing file is a note, not a failure.
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_BASELINE",
        value_name = "FILE",
        help_heading = "Reports"
    )]
    pub baseline: Option<PathBuf>,

    /// Exit 98 when the run is inconclusive (the load generator itself was saturated) and
    /// every threshold passed.
    #[arg(long, env = "KAIZEN_LOADTEST_FAIL_ON_INCONCLUSIVE")]
    pub fail_on_inconclusive: bool,

    /// Print the plan's timeline and exit without sending a request.
    #[arg(long)]
    pub dry_run: bool,

    /// Run the I-th of N equal slices of every selected scenario (I counts from 1).
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_SEGMENT",
        value_name = "I/N",
        help_heading = "Distributed runs"
    )]
    pub segment: Option<Segment>,

    /// Marks the parts of one distributed run [default: GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT, or
    /// CI_PIPELINE_ID].
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_RUN_ID",
        help_heading = "Distributed runs"
    )]
    pub run_id: Option<String>,

    /// Wait until this RFC 3339 time before starting, so that all segments ramp in step.
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_START_AT",
        value_name = "TIME",
        help_heading = "Distributed runs"
    )]
    pub start_at: Option<String>,

    /// No live progress lines.
    #[arg(long, short, env = "KAIZEN_LOADTEST_QUIET")]
    pub quiet: bool,

    #[command(flatten)]
    pub notify: Box<NotifyArgs>,
    /// Print one JSON object as the last line of stdout, for benchmark harnesses:
    /// `http_req_duration` of all selected scenarios merged (p50_ms p90_ms p95_ms p99_ms max_ms
    /// mean_ms), client_requests, client_rps and errors (failed requests).
    #[arg(long)]
    pub summary_line: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub plan: PlanArgs,

    /// Scenarios to show (default: all).
    #[arg(value_name = "SCENARIO")]
    pub scenarios: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Where report files are written.
    #[arg(long, default_value = "reports")]
    pub out_dir: PathBuf,

    /// How long the smoke scenario runs.
    #[arg(long, default_value = "10s")]
    pub duration: String,

    /// No live progress lines.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct FixtureArgs {
    /// Address to listen on (loopback).
    #[arg(long, env = "KAIZEN_FIXTURE_ADDR", default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,

    /// Injected latency: `20ms`, `10ms..30ms`, `5ms+2ms*inflight`, `5ms+1ms*secs`.
    #[arg(long)]
    pub latency: Option<String>,

    /// Fraction of requests answered 500, exactly (0.01 = every hundredth).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,

    /// Pre-register N users matching fixtures/users.csv.
    #[arg(long, default_value_t = 0)]
    pub seed_users: usize,

    /// Serve at most C requests at once; the rest queue.
    #[arg(long)]
    pub concurrency_limit: Option<usize>,
}

/// Removes every empty `KAIZEN_LOADTEST_*` variable, so that it counts as unset: CI systems pass
/// an input left empty as an empty variable (a GitHub Action's `env:`, a GitLab component's
/// inputs), and clap would take "" as a value (`--vus ""`). Call it before parsing, while the
/// process has one thread.
pub fn unset_empty_env() {
    let empty: Vec<_> = std::env::vars_os()
        .filter(|(k, v)| v.is_empty() && k.to_string_lossy().starts_with("KAIZEN_LOADTEST_"))
        .map(|(k, _)| k)
        .collect();
    for k in empty {
        std::env::remove_var(k);
    }
}

/// Where a run is announced besides its report files (docs/ci.md). None of it changes the exit
/// code.
#[derive(Debug, Clone, Default, Args)]
pub struct NotifyArgs {
    /// Post the Markdown summary as a sticky pull request comment (needs GITHUB_TOKEN,
    /// GITHUB_REPOSITORY and the pull request from GITHUB_EVENT_PATH or --pr).
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_GITHUB_COMMENT",
        help_heading = "Notifications"
    )]
    pub github_comment: bool,

    /// Post the Markdown summary as a sticky merge request note (needs GITLAB_TOKEN,
    /// CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID).
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_GITLAB_NOTE",
        help_heading = "Notifications"
    )]
    pub gitlab_note: bool,

    /// Slack incoming webhook URL (a secret: never printed).
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_SLACK_WEBHOOK",
        hide_env_values = true,
        value_name = "URL",
        help_heading = "Notifications"
    )]
    pub slack_webhook: Option<Secret>,

    /// When to post to Slack.
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_NOTIFY",
        value_enum,
        default_value = "failure",
        help_heading = "Notifications"
    )]
    pub notify: NotifyWhen,

    /// The pull request (or merge request) to comment on [default: from the CI event].
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_PR",
        value_name = "N",
        help_heading = "Notifications"
    )]
    pub pr: Option<u64>,

    /// The sticky comment's key [default: plan, environment, the scenarios run and the segment].
    #[arg(
        long,
        env = "KAIZEN_LOADTEST_COMMENT_KEY",
        value_name = "KEY",
        help_heading = "Notifications"
    )]
    pub comment_key: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CommentArgs {
    /// A JSON summary written by `run` or `merge`.
    #[arg(long, value_name = "SUMMARY.json")]
    pub from: PathBuf,

    /// Where to post [default: gitlab under GitLab CI, else github].
    #[arg(long, value_enum, env = "KAIZEN_LOADTEST_COMMENT_TO")]
    pub to: Option<CommentTarget>,

    /// The pull request (or merge request) [default: from the CI event].
    #[arg(long, env = "KAIZEN_LOADTEST_PR", value_name = "N")]
    pub pr: Option<u64>,

    /// The sticky comment's key [default: plan, environment, the scenarios run and the segment].
    #[arg(long, env = "KAIZEN_LOADTEST_COMMENT_KEY", value_name = "KEY")]
    pub comment_key: Option<String>,

    /// The CI run the comment links to, instead of the one the summary names: a summary from a
    /// fork's run is not trusted with a link (docs/ci.md).
    #[arg(long, env = "KAIZEN_LOADTEST_RUN_URL", value_name = "URL")]
    pub run_url: Option<String>,
}

impl NotifyArgs {
    /// The notifiers' configuration: the one place the command line becomes it.
    pub fn config(&self) -> NotifyConfig {
        NotifyConfig {
            github_comment: self.github_comment,
            gitlab_note: self.gitlab_note,
            slack_webhook: self.slack_webhook.clone(),
            slack_when: self.notify,
            pr: self.pr,
            comment_key: self.comment_key.clone(),
        }
    }
}

impl ValueEnum for ReportFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &ReportFormat::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            ReportFormat::Json => "json",
            ReportFormat::Junit => "junit",
            ReportFormat::Markdown => "markdown",
            ReportFormat::Html => "html",
            ReportFormat::K6 => "k6",
        }))
    }
}

impl ValueEnum for NotifyWhen {
    fn value_variants<'a>() -> &'a [Self] {
        &[NotifyWhen::Failure, NotifyWhen::Always, NotifyWhen::Never]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            NotifyWhen::Failure => PossibleValue::new("failure")
                .help("Only when a threshold failed or the run was interrupted"),
            NotifyWhen::Always => PossibleValue::new("always").help("After every run"),
            NotifyWhen::Never => {
                PossibleValue::new("never").help("Not at all (the webhook is ignored)")
            }
        })
    }
}

impl ValueEnum for CommentTarget {
    fn value_variants<'a>() -> &'a [Self] {
        &[CommentTarget::Github, CommentTarget::Gitlab]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            CommentTarget::Github => "github",
            CommentTarget::Gitlab => "gitlab",
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn formats_are_a_comma_list() {
        let cli = Cli::parse_from(["kaizen-loadtest", "run", "smoke", "--format", "json,junit"]);
        let Command::Run(run) = cli.command else {
            panic!("expected run")
        };
        assert_eq!(run.format, vec![ReportFormat::Json, ReportFormat::Junit]);
        assert_eq!(run.scenarios, vec!["smoke"]);
    }

    #[test]
    fn notify_flags_parse_and_default_to_slack_on_failure() {
        let cli = Cli::parse_from([
            "kaizen-loadtest",
            "run",
            "--github-comment",
            "--slack-webhook",
            "https://hooks.example/T/B/x",
            "--pr",
            "7",
        ]);
        let Command::Run(run) = cli.command else {
            panic!("expected run")
        };
        assert!(run.notify.github_comment && !run.notify.gitlab_note);
        assert_eq!(run.notify.notify, NotifyWhen::Failure);
        assert_eq!(run.notify.pr, Some(7));
        assert_eq!(format!("{:?}", run.notify.slack_webhook), "Some(***)");
    }
}
