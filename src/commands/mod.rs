//! The subcommands other than `serve-fixture`: each takes its parsed arguments and returns an
//! exit code.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::cli::{Command, DemoArgs, PlanArgs, ReportFormat, RunArgs, ValidateArgs};
use crate::engine::metrics::collector::Tick;
use crate::engine::{self, ScenarioStatus, Selection, Stop};
use crate::plan::model::{Environment, Plan};
use crate::plan::schedule;
use crate::plan::{self, LoadOptions};
use crate::redact::{self, err, errln, out, outln};
use crate::summary::build::{self, ScenarioInput};
use crate::summary::dataset::{Dataset, Names};
use crate::summary::schema::{self, RunMeta, RunMode, Summary, ThresholdStatus, TimeSeries, Tool};
use crate::{exit, UsageError};

pub(crate) fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Validate(args) => validate(&args),
        Command::Run(args) => run(&args),
        Command::Demo(args) => demo(&args),
        Command::Merge(args) => crate::summary::merge::command(&args),
        Command::Report(args) => report(&args),
        Command::Compare(args) => compare(&args),
        Command::Comment(args) => crate::notify::comment(&args),
        Command::ServeFixture(_) => unreachable!("handled in lib::run"),
    }
}

fn load(args: &PlanArgs, strict_env: bool) -> anyhow::Result<Plan> {
    let opts = LoadOptions {
        env_lookup: &|name| std::env::var(name).ok(),
        strict_env,
    };
    let plan = plan::load(&args.plan, &opts)?;
    // Before anything about the plan is printed.
    redact::extend(|r| plan.register_secrets(r));
    for w in &plan.warnings {
        errln!("warning: {w}");
    }
    Ok(plan)
}

fn env_name(plan: &Plan, args: &PlanArgs) -> String {
    args.env
        .clone()
        .or_else(|| plan.default_environment.clone())
        .unwrap_or_else(|| "local".to_string())
}

/// Resolves scenario names (`all` or none: every scenario) to indices, in plan order.
fn select(plan: &Plan, names: &[String]) -> anyhow::Result<Vec<usize>> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok((0..plan.scenarios.len()).collect());
    }
    let mut out = Vec::new();
    for n in names {
        match plan.scenarios.iter().position(|s| &s.name == n) {
            Some(i) => out.push(i),
            None => {
                let hint =
                    crate::suggest::did_you_mean(n, plan.scenarios.iter().map(|s| s.name.as_str()))
                        .map(|s| format!("; did you mean \"{s}\"?"))
                        .unwrap_or_default();
                let known: Vec<_> = plan.scenarios.iter().map(|s| s.name.as_str()).collect();
                return Err(UsageError(format!(
                    "unknown scenario \"{n}\"{hint} (the plan has: {})",
                    known.join(", ")
                ))
                .into());
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn validate(args: &ValidateArgs) -> anyhow::Result<u8> {
    let plan = load(&args.plan, false)?;
    let env = env_name(&plan, &args.plan);
    let chosen = select(&plan, &args.scenarios)?;
    out!("{}", describe_plan(&plan, &chosen, plan.environment(&env)));
    let plural = crate::report::outline::plural;
    outln!(
        "plan \"{}\" is valid: {}, {}, {}",
        plan.name,
        plural(plan.scenarios.len(), "scenario", "scenarios"),
        plural(plan.requests.len(), "request", "requests"),
        plural(plan.environments.len(), "environment", "environments")
    );
    Ok(exit::OK)
}

fn describe_plan(plan: &Plan, chosen: &[usize], env: Option<&Environment>) -> String {
    let mut out = String::new();
    for &i in chosen {
        out.push_str(&crate::plan::describe::scenario(
            plan,
            &plan.scenarios[i],
            env,
        ));
        out.push('\n');
    }
    out
}

/// Applies `--vus` and `--duration` to the selected scenarios.
fn apply_overrides(
    plan: &mut Plan,
    chosen: &[usize],
    vus: Option<u64>,
    duration: Option<&str>,
) -> anyhow::Result<()> {
    let duration = duration
        .map(|d| {
            crate::plan::duration::parse_duration(d)
                .map_err(|e| UsageError(format!("--duration: {e}")))
        })
        .transpose()?;
    if vus == Some(0) {
        return Err(UsageError("--vus: must be at least 1".into()).into());
    }
    if let Some(d) = duration {
        if d.is_zero() {
            return Err(UsageError("--duration: must be longer than 0s".into()).into());
        }
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

/// Everything a run needs besides the plan.
pub(crate) struct RunRequest {
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
    pub segment: Option<crate::summary::schema::Segment>,
    pub run_id: Option<String>,
    pub start_at: Option<time::OffsetDateTime>,
    pub notify: crate::cli::NotifyArgs,
    /// Print [`build::summary_line`] last on stdout.
    pub summary_line: bool,
}

fn run(args: &RunArgs) -> anyhow::Result<u8> {
    let plan = load(&args.plan, true)?;
    let env = env_name(&plan, &args.plan);
    execute(
        plan,
        RunRequest {
            scenarios: args.scenarios.clone(),
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
            start_at: args
                .start_at
                .as_deref()
                .map(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .map_err(|e| {
                            UsageError(format!("--start-at: \"{t}\" is not an RFC 3339 time ({e})"))
                        })
                })
                .transpose()?,
            notify: (*args.notify).clone(),
            summary_line: args.summary_line,
        },
    )
}

/// Runs a plan whose secrets the redactor already holds ([`load`], `demo`).
pub(crate) fn execute(mut plan: Plan, req: RunRequest) -> anyhow::Result<u8> {
    if let Some(u) = &req.base_url {
        redact::extend(|r| r.add_url(u));
    }
    let chosen = select(&plan, &req.scenarios)?;
    let env = plan.environment(&req.env).cloned();
    if env.is_none() && req.base_url.is_none() {
        let hint = crate::suggest::did_you_mean(
            &req.env,
            plan.environments.iter().map(|e| e.name.as_str()),
        )
        .map(|s| format!("; did you mean \"{s}\"?"))
        .unwrap_or_default();
        return Err(UsageError(format!(
            "unknown environment \"{}\"{hint} (give --base-url, or one of: {})",
            req.env,
            plan.environments
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    if let Some(e) = &env {
        if e.protected && !req.allow_protected {
            let refused: Vec<&str> = chosen
                .iter()
                .map(|&i| &plan.scenarios[i])
                .filter(|s| !s.protected_ok)
                .map(|s| s.name.as_str())
                .collect();
            if !refused.is_empty() {
                return Err(UsageError(format!(
                    "environment \"{}\" is protected: scenario(s) {} are not marked protected_ok \
                     (pass --allow-protected to run them anyway)",
                    e.name,
                    refused.join(", ")
                ))
                .into());
            }
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
        return Ok(exit::OK);
    }
    let base_url = req
        .base_url
        .clone()
        .or_else(|| env.as_ref().map(|e| e.base_url.clone()))
        .expect("checked above");
    if base_url.trim().is_empty() {
        return Err(UsageError(format!(
            "environment \"{}\" has no base URL: its base_url is empty (an unset ${{VAR}}? see the warning above), or give --base-url",
            req.env
        ))
        .into());
    }
    if reqwest::Url::parse(&base_url).is_err() {
        return Err(UsageError(format!(
            "base URL \"{}\" is not a URL",
            crate::url::strip_credentials(&base_url)
        ))
        .into());
    }
    if let Some(at) = req.start_at {
        let wait = at - time::OffsetDateTime::now_utc();
        if wait > time::Duration::hours(24) {
            return Err(UsageError("--start-at: more than 24 hours away".into()).into());
        }
        if wait.is_positive() {
            errln!("waiting {:.1}s for --start-at", wait.as_seconds_f64());
            std::thread::sleep(wait.unsigned_abs());
        }
    }
    // VUs at once: in --parallel every scenario may peak together.
    let vus = chosen.iter().map(|&i| plan.scenarios[i].executor.max_vus());
    let peak = if req.parallel {
        vus.sum()
    } else {
        vus.max().unwrap_or(0)
    };
    match crate::engine::limits::check_run(peak) {
        Ok(crate::engine::limits::OpenFiles::Raised { from, to }) if !req.quiet => {
            errln!("open-file limit raised from {from} to {to} for up to {peak} VUs");
        }
        Ok(_) => {}
        Err(msg) => return Err(UsageError(msg).into()),
    }
    if plan.tls.insecure_skip_verify {
        errln!("warning: tls.insecure_skip_verify is on: the target's certificate is not checked");
    }
    let plan = Arc::new(plan);
    let sel = Selection {
        scenarios: chosen.clone(),
        env: req.env.clone(),
        base_url: base_url.clone(),
        parallel: req.parallel,
    };
    let stop = Stop::default();
    let thresholds: Vec<_> = plan
        .scenarios
        .iter()
        .map(|s| plan.thresholds_for(s, env.as_ref()))
        .collect();
    let planned: Duration = chosen
        .iter()
        .map(|&i| schedule::max_total(&plan.scenarios[i].executor, plan.scenarios[i].graceful_stop))
        .sum();
    let tick = ticker(
        plan.clone(),
        chosen.clone(),
        thresholds.clone(),
        stop.clone(),
        planned,
        req.quiet,
    );
    let cpu_before = crate::summary::analysis::process_cpu_seconds();
    let run_log = crate::notify::begin_run(&req.notify, &plan.secrets);
    crate::engine::signals::listen(stop.clone());
    let outcome = engine::run(plan.clone(), &sel, stop, tick);
    crate::engine::signals::run_over();
    let outcome = outcome?;
    drop(run_log);
    let cpu_percent = match (cpu_before, crate::summary::analysis::process_cpu_seconds()) {
        (Some(a), Some(b)) if outcome.duration.as_secs_f64() > 0.0 => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            Some((b - a) / (outcome.duration.as_secs_f64() * cores) * 100.0)
        }
        _ => None,
    };

    // Summary.
    let durations: Vec<(usize, f64)> = outcome
        .runs
        .iter()
        .filter(|r| r.status != ScenarioStatus::Skipped)
        .map(|r| (r.index, r.duration.as_secs_f64()))
        .collect();
    let ds = Dataset::from_recorder(
        &outcome.collected.total,
        &Names {
            plan: &plan,
            groups: &outcome.groups,
            checks: &outcome.checks,
            durations: &durations,
        },
    );
    let mut scenarios = Vec::new();
    for r in outcome
        .runs
        .iter()
        .filter(|r| r.status != ScenarioStatus::Skipped)
    {
        let s = &plan.scenarios[r.index];
        let mut summary_of = build::scenario_summary(
            Some(&plan),
            &ds,
            ScenarioInput {
                name: s.name.clone(),
                executor: s.executor.name().to_string(),
                started_after_s: r.started_after.as_secs_f64(),
                duration_s: r.duration.as_secs_f64(),
                planned_duration_s: s.executor.duration().as_secs_f64(),
                status: build::status_of(r.status).expect("skipped scenarios are left out"),
                thresholds: thresholds[r.index].clone(),
                series: TimeSeries {
                    interval_s: outcome.collected.interval.as_secs_f64(),
                    points: outcome.collected.series[r.index].clone(),
                },
                endpoint_order: vec![],
            },
        );
        if let Some(w) = &outcome.collected.windows[r.index] {
            summary_of.drift = Some(crate::summary::analysis::drift(&summary_of, w, &plan.drift));
        }
        summary_of.capacity = match &s.executor {
            crate::plan::model::Executor::RampingVus {
                start_vus, stages, ..
            } => {
                let (sv, st) = (*start_vus, stages.clone());
                crate::summary::analysis::capacity(&summary_of, "VUs", &move |t| {
                    schedule::ramping_vus_at(sv, &st, Duration::from_secs_f64(t.max(0.0))) as f64
                })
            }
            crate::plan::model::Executor::RampingArrivalRate {
                start_rate,
                stages,
                time_unit,
                ..
            } => {
                let (sr, st, unit) = (*start_rate, stages.clone(), time_unit.as_secs_f64());
                crate::summary::analysis::capacity(&summary_of, "iterations/s", &move |t| {
                    schedule::ramp_value(sr, &st, Duration::from_secs_f64(t.max(0.0))) / unit
                })
            }
            _ => None,
        };
        scenarios.push(summary_of);
    }
    let health = crate::summary::analysis::health(cpu_percent, &scenarios);
    let started = time::OffsetDateTime::from(outcome.started_at);
    let ended = time::OffsetDateTime::from(SystemTime::now());
    let names: Vec<String> = chosen
        .iter()
        .map(|&i| plan.scenarios[i].name.clone())
        .collect();
    let prefix = if chosen.len() == plan.scenarios.len() && chosen.len() > 1 {
        "all".to_string()
    } else {
        names.join("+")
    };
    let stamp = started
        .format(time::macros::format_description!(
            "[year][month][day]_[hour][minute][second]"
        ))
        .unwrap_or_default();
    let summary = Summary {
        schema: schema::SCHEMA_VERSION,
        tool: Tool {
            name: "kaizen-loadtest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run: RunMeta {
            plan_name: plan.name.clone(),
            plan_file: plan.file.display().to_string(),
            plan_hash: plan.hash.clone(),
            environment: req.env.clone(),
            base_url: crate::url::strip_credentials(&base_url),
            scenarios: names,
            started_at: rfc3339(started),
            ended_at: rfc3339(ended),
            duration_s: outcome.duration.as_secs_f64(),
            mode: RunMode::Run,
            parallel: req.parallel,
            git_sha: std::env::var("GITHUB_SHA")
                .or_else(|_| std::env::var("CI_COMMIT_SHA"))
                .ok(),
            ci_run_url: ci_run_url(),
            host_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            file_stem: format!("{}_{}_{}", sanitize(&prefix), sanitize(&req.env), stamp),
            interrupted: outcome.interrupted,
            aborted_by: outcome.aborted_by.clone(),
            segment: req.segment,
            run_id: req.run_id.clone(),
        },
        verdict: build::verdict(&scenarios),
        scenarios,
        baseline: None,
        health,
        data: ds.to_raw(),
    };
    let mut summary = summary;
    build::apply_drift(&mut summary);
    if let Some(path) = &req.baseline {
        summary.baseline = Some(baseline_for(&summary, path, &plan.regressions));
        if let Some(c) = &summary.baseline {
            build::apply_regressions(&mut summary.verdict, c);
        }
    }
    // Masked once for the reports and the notifiers alike (a PR comment is the Markdown report).
    let summary = redacted(&summary);
    let mut code = finish(&summary, &req.formats, &req.out_dir);
    if code == exit::OK && summary.verdict.inconclusive && req.fail_on_inconclusive {
        errln!("inconclusive: {}", summary.health.reasons.join("; "));
        code = exit::INCONCLUSIVE;
    }
    crate::notify::after_run(&summary, &req.notify, &req.out_dir, code);
    if req.summary_line {
        println!("{}", build::summary_line(&summary)?);
    }
    Ok(code)
}

/// Compares with a baseline file; a baseline that cannot be read becomes a note in the reports.
fn baseline_for(
    summary: &Summary,
    path: &std::path::Path,
    rules: &[crate::rules::regression::RegressionRule],
) -> crate::summary::schema::Comparison {
    let source = path.display().to_string();
    let note = |n: String| crate::summary::schema::Comparison {
        source: source.clone(),
        baseline_started_at: String::new(),
        scenarios: vec![],
        regressions: vec![],
        note: Some(n),
    };
    // `github-artifact:BRANCH`: the last successful run's summary, fetched (docs/ci.md).
    let fetched = match crate::notify::baseline::fetch(path, summary) {
        Ok(f) => f,
        Err(why) => {
            eprintln!("note: baseline not used: {why}");
            return note(format!("baseline not used: {why}"));
        }
    };
    if let Some(f) = &fetched {
        eprintln!(
            "baseline: {source} is run {} ({}), artifact {}",
            f.run_id,
            &f.head_sha[..f.head_sha.len().min(12)],
            f.artifact
        );
    }
    let read = match &fetched {
        Some(f) => crate::report::parse_summary(&f.bytes, path),
        None => crate::report::read_summary(path),
    };
    match read {
        Err(e) => {
            errln!("warning: baseline not used: {e:#}");
            note(format!("baseline not used: {e:#}"))
        }
        Ok(base) => match crate::summary::compare::compare(summary, &base, &source, rules) {
            Ok(c) => c,
            Err(e) => note(format!("baseline not used: {e:#}")),
        },
    }
}

fn compare(args: &crate::cli::CompareArgs) -> anyhow::Result<u8> {
    let read = |p: &std::path::Path| {
        crate::report::read_summary(p).map_err(|e| UsageError(format!("{e:#}")))
    };
    let current = read(&args.current)?;
    let baseline = read(&args.baseline)?;
    let rules = match &args.plan {
        Some(p) => {
            let opts = LoadOptions {
                env_lookup: &|name| std::env::var(name).ok(),
                strict_env: false,
            };
            plan::load(p, &opts)?.regressions
        }
        None => vec![],
    };
    let c = crate::summary::compare::compare(
        &current,
        &baseline,
        &args.baseline.display().to_string(),
        &rules,
    )?;
    out!("{}", crate::summary::compare::render_text(&c));
    Ok(
        if c.regressions
            .iter()
            .any(|r| r.status == ThresholdStatus::Fail)
        {
            exit::THRESHOLDS_FAILED
        } else {
            exit::OK
        },
    )
}

fn default_run_id() -> Option<String> {
    if let Ok(id) = std::env::var("GITHUB_RUN_ID") {
        let attempt = std::env::var("GITHUB_RUN_ATTEMPT").unwrap_or_else(|_| "1".into());
        return Some(format!("{id}-{attempt}"));
    }
    std::env::var("CI_PIPELINE_ID").ok()
}

fn report(args: &crate::cli::ReportArgs) -> anyhow::Result<u8> {
    // An unreadable summary is a usage error (exit 2), as in `compare`.
    let summary =
        crate::report::read_summary(&args.summary).map_err(|e| UsageError(format!("{e:#}")))?;
    let files = crate::report::write_all(&summary, &args.format, &args.out_dir)?;
    for f in &files {
        outln!("{}", f.display());
    }
    Ok(exit::OK)
}

/// Prints the console summary, writes the reports and says where; the exit code follows the
/// verdict (or 1 when the reports could not be written). `summary` is masked already
/// ([`redacted`]): every format is rendered from it.
pub(crate) fn finish(summary: &Summary, formats: &[ReportFormat], out_dir: &std::path::Path) -> u8 {
    let files = crate::report::write_all(summary, formats, out_dir);
    outln!();
    out!("{}", crate::report::console(summary));
    let files = match files {
        Ok(f) => f,
        Err(e) => {
            errln!("error: could not write the reports: {e:#}");
            return exit::RUN_ERROR;
        }
    };
    if !files.is_empty() {
        outln!("\nreports:");
        for f in &files {
            outln!("  {}", f.display());
        }
    }
    exit_code(summary)
}

/// The summary with every secret in its text masked, but for the serialized histograms
/// (base64, in which a secret could match by chance and break `merge`).
pub(crate) fn redacted(s: &Summary) -> Summary {
    let r = redact::global();
    let Ok(mut v) = serde_json::to_value(s) else {
        return s.clone();
    };
    r.redact_json(&mut v, &["hists", "hist"]);
    serde_json::from_value(v).unwrap_or_else(|_| s.clone())
}

pub(crate) fn exit_code(s: &Summary) -> u8 {
    if s.run.interrupted {
        exit::INTERRUPTED
    } else if !s.verdict.passed {
        exit::THRESHOLDS_FAILED
    } else {
        exit::OK
    }
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '+' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

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

/// The collector's tick: live progress, and abort-on-fail thresholds every 2 s.
fn ticker(
    plan: Arc<Plan>,
    chosen: Vec<usize>,
    thresholds: Vec<Vec<crate::plan::model::Threshold>>,
    stop: Stop,
    planned: Duration,
    quiet: bool,
) -> crate::engine::metrics::collector::TickFn {
    let tty = std::io::stderr().is_terminal();
    let mut ticks = 0u64;
    let mut groups = vec![String::new()];
    for &i in &chosen {
        let s = &plan.scenarios[i];
        for steps in [&s.setup, &s.flow, &s.teardown] {
            engine::vu::compile_steps(steps, &mut groups);
        }
    }
    let (checks, _) = engine::check_table(&plan);
    let has_abort = thresholds
        .iter()
        .flatten()
        .any(|t| t.conditions.iter().any(|c| c.abort_on_fail));
    Box::new(move |t: &Tick<'_>| {
        ticks += 1;
        if !quiet && (tty || ticks % 10 == 0) {
            let mut reqs = 0;
            let mut failed = 0;
            let mut vus = 0;
            let mut p95: Option<f64> = None;
            let mut names = Vec::new();
            for &i in &chosen {
                if let Some(p) = &t.last[i] {
                    reqs += p.requests;
                    failed += p.failed;
                    vus += p.vus;
                    p95 = p.p95.map(|v| p95.map_or(v, |m: f64| m.max(v)));
                    if p.vus > 0 || p.requests > 0 {
                        names.push(plan.scenarios[i].name.as_str());
                    }
                }
            }
            let err = if reqs == 0 {
                0.0
            } else {
                failed as f64 * 100.0 / reqs as f64
            };
            let line = format!(
                "[{:>5.0}s/{:.0}s] {:<16} vus={:<5} req/s={:<8} p95={:<10} errors={:.2}%",
                t.elapsed.as_secs_f64(),
                planned.as_secs_f64(),
                names.join("+"),
                vus,
                reqs,
                p95.map_or("-".to_string(), |v| format!("{v:.1}ms")),
                err
            );
            if tty {
                err!("\r{line}\x1b[K");
            } else {
                errln!("{line}");
            }
        }
        if has_abort && ticks % 2 == 0 && !stop.abort.is_cancelled() {
            let durations: Vec<(usize, f64)> = chosen
                .iter()
                .map(|&i| (i, t.elapsed.as_secs_f64()))
                .collect();
            let ds = Dataset::from_recorder(
                t.total,
                &Names {
                    plan: &plan,
                    groups: &groups,
                    checks: &checks,
                    durations: &durations,
                },
            );
            for &i in &chosen {
                let armed: Vec<_> = thresholds[i]
                    .iter()
                    .filter_map(|th| {
                        let conds: Vec<_> = th
                            .conditions
                            .iter()
                            .filter(|c| c.abort_on_fail && t.elapsed >= c.delay_abort_eval)
                            .cloned()
                            .collect();
                        (!conds.is_empty()).then(|| crate::plan::model::Threshold {
                            conditions: conds,
                            ..th.clone()
                        })
                    })
                    .collect();
                let results = build::evaluate(Some(&plan), &ds, &plan.scenarios[i].name, &armed);
                if let Some(f) = results.iter().find(|r| r.status == ThresholdStatus::Fail) {
                    let reason =
                        format!("{}: {} {}", plan.scenarios[i].name, f.metric, f.expression);
                    errln!("\nabort: threshold {reason} failed (abort_on_fail)");
                    *stop.abort_reason.lock().expect("abort reason") = Some(reason);
                    stop.abort.cancel();
                    break;
                }
            }
        }
    })
}

/// The smoke scenario the demo runs against the in-process reference API.
const DEMO_PLAN: &str = include_str!("../../scenarios/demo.yaml");

fn demo(args: &DemoArgs) -> anyhow::Result<u8> {
    let server = crate::fixture::spawn(
        "127.0.0.1:0".parse().expect("loopback address"),
        crate::fixture::FixtureConfig {
            seed_users: 200,
            ..Default::default()
        },
    )?;
    errln!("reference API listening on {}", server.base_url());
    let dir = tempdir_for_demo()?;
    let plan_path = dir.join("demo.yaml");
    std::fs::write(&plan_path, DEMO_PLAN)?;
    let opts = LoadOptions {
        env_lookup: &|_| None,
        strict_env: true,
    };
    let plan = plan::load(&plan_path, &opts)?;
    redact::extend(|r| plan.register_secrets(r));
    let code = execute(
        plan,
        RunRequest {
            scenarios: vec!["smoke".into()],
            env: "demo".into(),
            base_url: Some(server.base_url()),
            parallel: false,
            allow_protected: false,
            out_dir: args.out_dir.clone(),
            formats: vec![
                ReportFormat::Json,
                ReportFormat::Junit,
                ReportFormat::Markdown,
                ReportFormat::Html,
                ReportFormat::K6,
            ],
            quiet: args.quiet,
            vus: None,
            duration: Some(args.duration.clone()),
            dry_run: false,
            fail_on_inconclusive: false,
            baseline: None,
            segment: None,
            run_id: None,
            start_at: None,
            notify: Default::default(),
            summary_line: false,
        },
    );
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    code
}

fn tempdir_for_demo() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("kaizen-loadtest-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
