//! `validate`: loads and checks the plan (every error at once), prints each selected scenario's
//! executor, timeline, flow and thresholds; sends nothing.

use super::cli::ValidateArgs;
use super::common::{describe_plan, env_name, load, select};
use crate::exit;
use crate::redact::{out, outln};
use crate::report::outline::plural;

pub(super) fn command(args: &ValidateArgs) -> anyhow::Result<u8> {
    let plan = load(&args.plan, false)?;
    let env = env_name(&plan, &args.plan);
    let chosen = select(&plan, &args.scenarios)?;
    out!("{}", describe_plan(&plan, &chosen, plan.environment(&env)));
    outln!(
        "plan \"{}\" is valid: {}, {}, {}",
        plan.name,
        plural(plan.scenarios.len(), "scenario", "scenarios"),
        plural(plan.requests.len(), "request", "requests"),
        plural(plan.environments.len(), "environment", "environments")
    );
    Ok(exit::OK)
}
