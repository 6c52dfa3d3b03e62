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
pub mod exit;
pub mod yaml;
pub mod plan;
pub mod template;
pub mod thresholds;
pub mod fixture;
pub mod exec;
pub mod metrics;
pub mod report;
pub mod suggest;
