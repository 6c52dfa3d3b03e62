//! The commands: each turns its parsed arguments ([`cli`]) into an exit code by driving the stages
//! (`docs/architecture.md`). `run` is the pipeline in full; the others are parts of it: `validate`
//! stops after the plan, `merge` and `report` start from saved summaries, `compare` judges two
//! summaries' regression limits, `comment` posts a saved summary.

pub mod cli;
mod comment;
mod common;
mod compare;
mod demo;
mod error;
mod init;
mod live;
mod merge;
mod openapi;
mod report;
mod run;
mod serve_fixture;
mod validate;

pub use error::UsageError;

use crate::plan::PlanError;
use crate::{exit, redact};
use cli::{Cli, Command};

/// Carries out one command and returns its exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    // vars_os: std::env::vars panics on a variable that is not UTF-8.
    redact::extend(|r| {
        r.add_env(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    });
    let result = match cli.command {
        Command::Run(args) => run::command(&args),
        Command::Validate(args) => validate::command(&args),
        Command::Demo(args) => demo::command(&args),
        Command::Merge(args) => merge::command(&args),
        Command::Report(args) => report::command(&args),
        Command::Compare(args) => compare::command(&args),
        Command::Comment(args) => comment::command(&args),
        Command::ServeFixture(args) => serve_fixture::command(&args),
        Command::Init(args) => init::command(&args),
    };
    // Under GitHub Actions an invalid plan is also annotations on its lines and a job summary.
    if let Err(e) = &result {
        if let Some(PlanError::Invalid(text)) = e.downcast_ref::<PlanError>() {
            crate::notify::announce_plan_error(&redact::redact(text));
        }
    }
    result
}

/// The exit code an error maps to, when it is not the default [`exit::RUN_ERROR`]: a usage error
/// or an invalid plan exits 2.
pub fn exit_code_for(err: &anyhow::Error) -> Option<u8> {
    if err.downcast_ref::<UsageError>().is_some() || err.downcast_ref::<PlanError>().is_some() {
        return Some(exit::INVALID_PLAN);
    }
    None
}
