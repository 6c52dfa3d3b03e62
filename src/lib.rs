//! kaizen-loadtest: a CI-native HTTP load tester.
//!
//! # Layout
//! Data flows one way, one value per stage:
//!
//! ```text
//! Cli ─▶ plan::load ─▶ yaml::Node ─▶ plan::validate ─▶ Plan      (every error surfaces here)
//! Plan ─▶ exec::run ─▶ workers record locally ─▶ collector merges ─▶ Summary
//! (&thresholds, &Summary) ─▶ thresholds::evaluate ─▶ verdicts in the Summary
//! Summary ─▶ report::* ─▶ files            Summary ─▶ exit code
//! ```

pub mod cli;
pub mod engine;
pub mod exit;
pub mod fixture;
pub mod notify;
pub mod plan;
pub mod report;
pub mod rules;
pub mod suggest;
pub mod summary;

use cli::{Cli, Command};

/// An error that is the user's to fix (a bad plan, a bad flag): exit code 2, nothing sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code an error maps to, when it is not the default [`exit::RUN_ERROR`].
pub fn exit_code_for(err: &anyhow::Error) -> Option<u8> {
    if err.downcast_ref::<UsageError>().is_some() || err.downcast_ref::<plan::PlanError>().is_some()
    {
        return Some(exit::INVALID_PLAN);
    }
    None
}

/// Carries out one command and returns its exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    // vars_os: std::env::vars panics on a variable that is not UTF-8.
    redact::extend(|r| {
        r.add_env(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    });
    match cli.command {
        Command::ServeFixture(args) => {
            let mut cfg = fixture::FixtureConfig::default();
            if let Some(l) = &args.latency {
                cfg.latency = l
                    .parse()
                    .map_err(|e: String| UsageError(format!("--latency: {e}")))?;
            }
            if !(0.0..=1.0).contains(&args.error_rate) {
                return Err(UsageError(format!(
                    "--error-rate: {} is not between 0 and 1",
                    args.error_rate
                ))
                .into());
            }
            cfg.error_rate = args.error_rate;
            cfg.seed_users = args.seed_users;
            cfg.concurrency_limit = args.concurrency_limit;
            fixture::serve_until_signal(args.addr, cfg)?;
            Ok(exit::OK)
        }
        other => commands::dispatch(other),
    }
}

mod commands;
pub mod redact;
pub mod url;
