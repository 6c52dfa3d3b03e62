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

pub mod engine;
pub mod exit;
pub mod fixture;
pub mod notify;
pub mod plan;
pub mod report;
pub mod rules;
pub mod suggest;
pub mod summary;

mod commands;
pub use commands::{cli, exit_code_for, run, UsageError};
pub mod redact;
pub mod url;
pub mod verdict;
