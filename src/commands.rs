//! The subcommands other than `serve-fixture`: each takes its parsed arguments and returns an
//! exit code.

use crate::cli::{Command, PlanArgs, ValidateArgs};
use crate::plan::{self, LoadOptions};
use crate::{exit, UsageError};

pub(crate) fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Validate(args) => validate(&args),
        Command::Run(_) | Command::Demo(_) => {
            Err(UsageError("not implemented yet".into()).into())
        }
        Command::ServeFixture(_) => unreachable!("handled in lib::run"),
    }
}

fn load(args: &PlanArgs, strict_env: bool) -> anyhow::Result<plan::Plan> {
    let opts = LoadOptions {
        env_lookup: &|name| std::env::var(name).ok(),
        strict_env,
    };
    let plan = plan::load(&args.plan, &opts)?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    Ok(plan)
}

fn validate(args: &ValidateArgs) -> anyhow::Result<u8> {
    let plan = load(&args.plan, false)?;
    for s in &plan.scenarios {
        if args.scenarios.is_empty() || args.scenarios.contains(&s.name) {
            println!("{}: {}", s.name, s.executor.name());
        }
    }
    println!("plan {:?} is valid: {} scenarios", plan.name, plan.scenarios.len());
    Ok(exit::OK)
}
