//! `run`: the whole pipeline (`docs/architecture.md`). Preflight refuses what cannot run before
//! the first request; the engine runs the scenarios; `summary::build` turns what it measured into
//! the summary; `verdict::judge` decides it; `report::publish` writes the reports;
//! `notify::announce` tells CI and Slack; the exit code follows the verdict.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::cli::RunArgs;
use super::common::{describe_plan, env_name, hint, load, redacted, select};
use super::{live, UsageError};
use crate::engine::{self, limits, signals, Outcome, Selection, Stop};
use crate::notify::{self, NotifyConfig};
use crate::plan::model::{Environment, Plan};
use crate::plan::schedule;
use crate::redact::{self, errln, out, outln};
use crate::report::{self, ReportFormat};
use crate::rules::Rules;
use crate::summary::build::{self, RunContext};
use crate::summary::compare;
use crate::summary::schema::{Comparison, Segment, Summary};
use crate::{exit, verdict};

/// Everything a run needs besides the plan.
pub(super) struct RunRequest {
    pub scenarios: Vec<String>,
    pub env: String,
    pub base_url: Option<String>,
    pub parallel: bool,
    pub allow_protected: bool,
    pub out_dir: PathBuf,
    pub formats: Vec<ReportFormat>,
    pub quiet: bool,
    pub vus: Option<u64>,
    pub duration: Option<String>,
    pub dry_run: bool,
    pub fail_on_inconclusive: bool,
    pub baseline: Option<PathBuf>,
    pub segment: Option<Segment>,
    pub run_id: Option<String>,
    pub start_at: Option<time::OffsetDateTime>,
    pub notify: NotifyConfig,
    /// Print [`build::summary_line`] last on stdout.
    pub summary_line: bool,
}

pub(super) fn command(args: &RunArgs) -> anyhow::Result<u8> {
    let plan = load(&args.plan, true)?;
    let env = env_name(&plan, &args.plan);
    let start_at =
        args.start_at
            .as_deref()
            .map(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| UsageError::BadFlag {
                        flag: "--start-at",
                        reason: format!("\"{t}\" is not an RFC 3339 time ({e})"),
                    })
            })
            .transpose()?;
    execute(
        plan,
        RunRequest {
            scenarios: scenario_names(&args.scenarios),
            env,
            base_url: args.base_url.clone(),
            parallel: args.parallel,
            allow_protected: args.allow_protected,
            out_dir: args.out_dir.clone(),
            formats: args.format.clone(),
            quiet: args.quiet,
            vus: args.vus,
            duration: args.duration.clone(),
            dry_run: args.dry_run,
            fail_on_inconclusive: args.fail_on_inconclusive,
            baseline: args.baseline.clone(),
            segment: args.segment,
            run_id: args.run_id.clone().or_else(default_run_id),
            start_at,
            notify: args.notify.config(),
            summary_line: args.summary_line,
        },
    )
}

/// Runs a plan whose secrets the redactor already holds.
pub(super) fn execute(plan: Plan, req: RunRequest) -> anyhow::Result<u8> {
    // 1. Preflight: everything that can refuse the run, before the first request.
    let Some(ready) = preflight(plan, &req)? else {
        return Ok(exit::OK);
    };
    // 2. The engine (with the plan's once-per-test setup and teardown around the scenarios).
    let outcome = run_engine(&ready, &req)?;
    say_phases(&outcome, req.quiet);
    // 3. The summary: what was measured against the rules, and the baseline it is compared with.
    let context = RunContext {
        plan: &ready.plan,
        scenarios: &ready.chosen,
        env: &req.env,
        base_url: &ready.base_url,
        parallel: req.parallel,
        segment: req.segment,
        run_id: req.run_id.clone(),
        git_sha: commit_sha(&|k| std::env::var(k).ok().filter(|v| !v.is_empty())),
        ci_run_url: ci_run_url(),
        ended_at: SystemTime::now(),
    };
    let mut summary = build::run(&outcome, &ready.rules, &context);
    if let Some(path) = &req.baseline {
        summary.baseline = Some(baseline_for(&summary, path, &ready.rules));
    }
    // 4. The verdict.
    let summary = redacted(&verdict::judge(&summary, &ready.rules).apply(summary));
    // 5. The reports.
    let code = match report::publish(&summary, &req.formats, &req.out_dir) {
        Ok(_) => verdict::exit_code(&summary, req.fail_on_inconclusive),
        Err(e) => {
            errln!("error: could not write the reports: {e:#}");
            exit::RUN_ERROR
        }
    };
    if code == exit::INCONCLUSIVE {
        errln!("inconclusive: {}", summary.health.reasons.join("; "));
    }
    // 6. The notifiers: none of them changes the exit code.
    notify::announce(&summary, &req.notify, &req.out_dir, code);
    if req.summary_line {
        println!("{}", build::summary_line(&summary)?);
    }
    // 7. The exit code.
    Ok(code)
}

/// A run that passed preflight.
struct Ready {
    plan: Arc<Plan>,
    /// The scenarios to run (indices into the plan), in plan order.
    chosen: Vec<usize>,
    base_url: String,
    rules: Rules,
}

/// Refuses what cannot run (an unknown scenario or environment, a protected environment, bad
/// overrides, no usable base URL, more VUs than the machine allows), applies the overrides and
/// the segment, and waits for `--start-at`. `None`: a dry run, described and done.
fn preflight(mut plan: Plan, req: &RunRequest) -> anyhow::Result<Option<Ready>> {
    if let Some(u) = &req.base_url {
        redact::extend(|r| r.add_url(u));
    }
    // `--base-url` passes the checks a plan's `base_url` passes, before anything else.
    let flag_url = req
        .base_url
        .as_deref()
        .map(|u| {
            crate::url::check_base_url(u.trim()).map_err(|why| UsageError::BadBaseUrl {
                url: u.to_string(),
                why,
            })
        })
        .transpose()?;
    let chosen = select(&plan, &req.scenarios)?;
    let env = plan.environment(&req.env).cloned();
    if env.is_none() && req.base_url.is_none() {
        let known = plan.environments.iter().map(|e| e.name.as_str());
        return Err(UsageError::UnknownEnvironment {
            name: req.env.clone(),
            hint: hint(&req.env, known.clone()),
            known: known.collect::<Vec<_>>().join(", "),
        }
        .into());
    }
    if let Some(e) = env.as_ref().filter(|e| e.protected && !req.allow_protected) {
        let refused: Vec<&str> = chosen
            .iter()
            .map(|&i| &plan.scenarios[i])
            .filter(|s| !s.protected_ok)
            .map(|s| s.name.as_str())
            .collect();
        if !refused.is_empty() {
            return Err(UsageError::ProtectedEnvironment {
                env: e.name.clone(),
                scenarios: refused.join(", "),
            }
            .into());
        }
    }
    apply_overrides(&mut plan, &chosen, req.vus, req.duration.as_deref())?;
    if let Some(seg) = req.segment {
        seg.apply_to_plan(&mut plan);
        errln!("segment {seg}: running this slice of every selected scenario");
    }
    if req.dry_run {
        out!("{}", describe_plan(&plan, &chosen, env.as_ref()));
        outln!("dry run: nothing was sent");
        return Ok(None);
    }
    let base_url = base_url(req, flag_url, env.as_ref())?;
    wait_for_start(req.start_at)?;
    check_limits(&plan, &chosen, req)?;
    if plan.tls.insecure_skip_verify {
        errln!("warning: tls.insecure_skip_verify is on: the target's certificate is not checked");
    }
    let rules = plan.rules(&chosen, env.as_ref());
    Ok(Some(Ready {
        plan: Arc::new(plan),
        chosen,
        base_url,
        rules,
    }))
}

/// `--base-url` (checked), else the environment's (checked when the plan was loaded), which an
/// unset `${VAR}` may have left empty.
fn base_url(
    req: &RunRequest,
    flag_url: Option<String>,
    env: Option<&Environment>,
) -> Result<String, UsageError> {
    let base_url = flag_url
        .or_else(|| env.map(|e| e.base_url.clone()))
        .expect("preflight checked that there is one");
    if base_url.trim().is_empty() {
        return Err(UsageError::NoBaseUrl {
            env: req.env.clone(),
        });
    }
    Ok(base_url)
}

/// Applies `--vus` and `--duration` to the selected scenarios.
fn apply_overrides(
    plan: &mut Plan,
    chosen: &[usize],
    vus: Option<u64>,
    duration: Option<&str>,
) -> Result<(), UsageError> {
    let bad = |flag, reason: String| UsageError::BadFlag { flag, reason };
    let duration = duration
        .map(|d| crate::plan::duration::parse_duration(d).map_err(UsageError::BadDuration))
        .transpose()?;
    if vus == Some(0) {
        return Err(bad("--vus", "must be at least 1".into()));
    }
    if duration.is_some_and(|d| d.is_zero()) {
        return Err(bad("--duration", "must be longer than 0s".into()));
    }
    for &i in chosen {
        let e = &mut plan.scenarios[i].executor;
        if let Some(v) = vus {
            schedule::scale_vus(e, v);
        }
        if let Some(d) = duration {
            schedule::scale_duration(e, d);
        }
    }
    Ok(())
}

/// Sleeps until `--start-at` (at most 24 hours ahead).
fn wait_for_start(at: Option<time::OffsetDateTime>) -> Result<(), UsageError> {
    let Some(at) = at else {
        return Ok(());
    };
    let wait = at - time::OffsetDateTime::now_utc();
    if wait > time::Duration::hours(24) {
        return Err(UsageError::BadFlag {
            flag: "--start-at",
            reason: "more than 24 hours away".into(),
        });
    }
    if wait.is_positive() {
        errln!("waiting {:.1}s for --start-at", wait.as_seconds_f64());
        std::thread::sleep(wait.unsigned_abs());
    }
    Ok(())
}

/// The VUs at once (in `--parallel` every scenario may peak together) against what one process
/// may run and open.
fn check_limits(plan: &Plan, chosen: &[usize], req: &RunRequest) -> Result<(), UsageError> {
    let vus = chosen.iter().map(|&i| plan.scenarios[i].executor.max_vus());
    let peak = if req.parallel {
        vus.sum()
    } else {
        vus.max().unwrap_or(0)
    };
    match limits::check_run(peak) {
        Ok(limits::OpenFiles::Raised { from, to }) if !req.quiet => {
            errln!("open-file limit raised from {from} to {to} for up to {peak} VUs");
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(msg) => Err(UsageError::TooManyVus(msg)),
    }
}

/// Runs the engine with the live progress line and abort check, the CI log group open and the
/// signals listened to.
fn run_engine(ready: &Ready, req: &RunRequest) -> anyhow::Result<Outcome> {
    let sel = Selection {
        scenarios: ready.chosen.clone(),
        env: req.env.clone(),
        base_url: ready.base_url.clone(),
        parallel: req.parallel,
    };
    let stop = Stop::default();
    let planned: Duration = ready
        .chosen
        .iter()
        .map(|&i| {
            let s = &ready.plan.scenarios[i];
            schedule::max_total(&s.executor, s.graceful_stop)
        })
        .sum();
    let tick = live::ticker(live::Live {
        plan: ready.plan.clone(),
        chosen: ready.chosen.clone(),
        rules: ready.rules.clone(),
        stop: stop.clone(),
        planned,
        quiet: req.quiet,
    });
    let run_log = notify::begin_run(&req.notify, &ready.plan.secrets);
    signals::listen(stop.clone());
    let outcome = engine::run(ready.plan.clone(), &sel, stop, tick);
    signals::run_over();
    drop(run_log);
    outcome
}

/// What the once-per-test setup and teardown did: a line each, an error for a failed setup
/// (no scenario ran), a warning for a failed teardown (the verdict stands).
fn say_phases(outcome: &Outcome, quiet: bool) {
    for p in &outcome.phases {
        let took = match p.duration.as_millis() {
            ms if ms < 1000 => format!("{ms}ms"),
            _ => format!("{:.1}s", p.duration.as_secs_f64()),
        };
        let times = if p.runs == 1 { "once" } else { "times" };
        let count = if p.runs == 1 {
            String::new()
        } else {
            format!("{} ", p.runs)
        };
        match (&p.failure, p.name) {
            (None, _) if !quiet => errln!("{}: ran {count}{times} in {took}", p.name),
            (None, _) => {}
            (Some(why), _) if p.interrupted => errln!("{}: {why}", p.name),
            (Some(why), crate::plan::model::SETUP) => errln!(
                "error: setup failed after {took}: {why}; no scenario ran, and the run fails"
            ),
            (Some(why), _) => errln!(
                "warning: teardown failed after {took}: {why}; the verdict of the scenarios stands"
            ),
        }
    }
}

/// Compares with a baseline file; a baseline that cannot be read becomes a note in the reports.
fn baseline_for(summary: &Summary, path: &Path, rules: &Rules) -> Comparison {
    let source = path.display().to_string();
    let note = |n: String| Comparison {
        source: source.clone(),
        baseline_started_at: String::new(),
        scenarios: vec![],
        regressions: vec![],
        note: Some(n),
    };
    // `github-artifact:BRANCH`: the last successful run's summary, fetched (docs/ci.md).
    let fetched = match notify::baseline::fetch(path, summary) {
        Ok(f) => f,
        Err(why) => {
            errln!("note: baseline not used: {why}");
            return note(format!("baseline not used: {why}"));
        }
    };
    if let Some(f) = &fetched {
        errln!(
            "baseline: {source} is run {} ({}), artifact {}",
            f.run_id,
            &f.head_sha[..f.head_sha.len().min(12)],
            f.artifact
        );
    }
    let read = match &fetched {
        Some(f) => report::parse_summary(&f.bytes, path),
        None => report::read_summary(path),
    };
    match read {
        Err(e) => {
            let e = anyhow::Error::from(e);
            errln!("warning: baseline not used: {e:#}");
            note(format!("baseline not used: {e:#}"))
        }
        Ok(base) => match compare::compare(summary, &base, &source, &rules.regressions) {
            Ok(c) => c,
            Err(e) => note(format!("baseline not used: {e:#}")),
        },
    }
}

/// The scenario names of the command line or `KAIZEN_LOADTEST_SCENARIOS`, split on commas and
/// white space: `smoke, auth` (as a CI input is often written) is `smoke` and `auth`.
fn scenario_names(given: &[String]) -> Vec<String> {
    given
        .iter()
        .flat_map(|s| s.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The commit under test. On a pull request GitHub's `GITHUB_SHA` is the temporary merge commit,
/// and a GitLab merged-results pipeline's `CI_COMMIT_SHA` likewise: the head of the pull or merge
/// request is what a reader knows.
fn commit_sha(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let head = env("GITHUB_EVENT_PATH")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|e| {
            e.pointer("/pull_request/head/sha")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        });
    head.or_else(|| env("GITHUB_SHA"))
        .or_else(|| env("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"))
        .or_else(|| env("CI_COMMIT_SHA"))
}

/// The CI's id of this run, which marks the parts of a distributed run (`--run-id`'s default).
fn default_run_id() -> Option<String> {
    if let Ok(id) = std::env::var("GITHUB_RUN_ID") {
        let attempt = std::env::var("GITHUB_RUN_ATTEMPT").unwrap_or_else(|_| "1".into());
        return Some(format!("{id}-{attempt}"));
    }
    std::env::var("CI_PIPELINE_ID").ok()
}

/// The CI run's page: a GitHub Actions run or a GitLab pipeline.
fn ci_run_url() -> Option<String> {
    if let (Ok(server), Ok(repo), Ok(id)) = (
        std::env::var("GITHUB_SERVER_URL"),
        std::env::var("GITHUB_REPOSITORY"),
        std::env::var("GITHUB_RUN_ID"),
    ) {
        return Some(format!("{server}/{repo}/actions/runs/{id}"));
    }
    std::env::var("CI_PIPELINE_URL").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commit_of_a_pull_request_is_its_head_not_the_merge_commit() {
        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(
            &event,
            r#"{"pull_request": {"number": 7, "head": {"sha": "headsha1"}}}"#,
        )
        .unwrap();
        let path = event.display().to_string();
        let env = |k: &str| match k {
            "GITHUB_EVENT_PATH" => Some(path.clone()),
            "GITHUB_SHA" => Some("mergesha".to_string()),
            _ => None,
        };
        assert_eq!(commit_sha(&env).as_deref(), Some("headsha1"));
        let push = |k: &str| (k == "GITHUB_SHA").then(|| "pushsha".to_string());
        assert_eq!(commit_sha(&push).as_deref(), Some("pushsha"));
        let gitlab = |k: &str| match k {
            "CI_COMMIT_SHA" => Some("mergedresult".to_string()),
            "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA" => Some("mrhead".to_string()),
            _ => None,
        };
        assert_eq!(commit_sha(&gitlab).as_deref(), Some("mrhead"));
    }

    #[test]
    fn scenario_names_split_on_commas_and_spaces() {
        let given = vec![
            "smoke".to_string(),
            " auth".to_string(),
            "a b,,c ".to_string(),
        ];
        assert_eq!(scenario_names(&given), ["smoke", "auth", "a", "b", "c"]);
        assert!(scenario_names(&[" ".to_string()]).is_empty());
    }
}
