//! What several commands share: the plan and the scenarios and environment they name, saved
//! summaries read as usage errors, and the masking of a summary before it leaves the process.

use std::path::Path;

use super::cli::PlanArgs;
use super::UsageError;
use crate::plan::model::{Environment, Plan};
use crate::plan::{self, LoadOptions};
use crate::redact::{self, errln};
use crate::suggest;
use crate::summary::schema::Summary;

/// Loads the plan of `--plan`, hands its secrets to the redactor before anything about it is
/// printed, and prints its warnings. `strict_env`: an unset `${VAR}` is an error.
pub(super) fn load(args: &PlanArgs, strict_env: bool) -> anyhow::Result<Plan> {
    let opts = LoadOptions {
        env_lookup: &|name| std::env::var(name).ok(),
        strict_env,
    };
    let plan = plan::load(&args.plan, &opts)?;
    redact::extend(|r| plan.register_secrets(r));
    for w in &plan.warnings {
        errln!("warning: {w}");
    }
    Ok(plan)
}

/// `--env`, else the plan's `default_environment`, else `local`.
pub(super) fn env_name(plan: &Plan, args: &PlanArgs) -> String {
    args.env
        .clone()
        .or_else(|| plan.default_environment.clone())
        .unwrap_or_else(|| "local".to_string())
}

/// Resolves scenario names (`all` or none: every scenario) to indices, in plan order.
pub(super) fn select(plan: &Plan, names: &[String]) -> Result<Vec<usize>, UsageError> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok((0..plan.scenarios.len()).collect());
    }
    let mut out = Vec::new();
    for n in names {
        match plan.scenarios.iter().position(|s| &s.name == n) {
            Some(i) => out.push(i),
            None => {
                let known = plan.scenarios.iter().map(|s| s.name.as_str());
                return Err(UsageError::UnknownScenario {
                    name: n.clone(),
                    hint: hint(n, known.clone()),
                    known: known.collect::<Vec<_>>().join(", "),
                });
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// "; did you mean \"x\"?" when one of `known` is close to `name`, else nothing.
pub(super) fn hint<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> String {
    suggest::did_you_mean(name, known)
        .map(|s| format!("; did you mean \"{s}\"?"))
        .unwrap_or_default()
}

/// Each chosen scenario's executor, timeline and flow, as `validate` and `--dry-run` print them.
pub(super) fn describe_plan(plan: &Plan, chosen: &[usize], env: Option<&Environment>) -> String {
    let mut out = String::new();
    if let Some(p) = &plan.setup {
        let text = plan::describe::phase(plan, plan::model::SETUP, p, chosen);
        if !text.is_empty() {
            out.push_str(&text);
            out.push('\n');
        }
    }
    for &i in chosen {
        out.push_str(&plan::describe::scenario(plan, &plan.scenarios[i], env));
        out.push('\n');
    }
    if let Some(p) = &plan.teardown {
        out.push_str(&plan::describe::phase(
            plan,
            plan::model::TEARDOWN,
            p,
            chosen,
        ));
    }
    out
}

/// A saved summary, as a usage error when it cannot be read (exit 2).
pub(super) fn read_summary(path: &Path) -> Result<Summary, UsageError> {
    Ok(crate::report::read_summary(path)?)
}

/// The summary with every secret in its text masked, but for the serialized histograms
/// (base64, in which a secret could match by chance and break `merge`). Masked once for the
/// reports and the notifiers alike (a PR comment is the Markdown report).
pub(super) fn redacted(s: &Summary) -> Summary {
    let r = redact::global();
    let Ok(mut v) = serde_json::to_value(s) else {
        return s.clone();
    };
    r.redact_json(&mut v, &["hists", "hist"]);
    serde_json::from_value(v).unwrap_or_else(|_| s.clone())
}
