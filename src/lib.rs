//! kaizen-loadtest: a CI-native HTTP load tester.
//!
//! # The pipeline
//! `kaizen-loadtest run` takes a plan through every stage, one folder each, one value handed from
//! each to the next (`docs/architecture.md`):
//!
//! ```text
//! Cli ─▶ plan::load ─▶ Plan ─▶ engine::run ─▶ Outcome ─▶ summary::build::run ─▶ Summary
//!        plan::model::Plan::rules ─▶ Rules ─────────────────────────────────────┐
//! verdict::judge(&Summary, &Rules) ─▶ verdict::Judgement::apply ─▶ Summary, judged
//!     ─▶ report::publish (report files)  ─▶ notify::announce (CI, Slack)
//!     ─▶ verdict::exit_code (the exit code)
//! ```
//!
//! The stages, in order: [`plan`], [`engine`], [`summary`], [`verdict`], [`report`], [`notify`],
//! and the commands that drive them ([`run`]). A stage imports only the stages before it and the
//! leaves: [`rules`], [`summary::schema`], [`summary::hist`], [`redact`], [`url`], [`text`], [`suggest`],
//! [`exit`] and the reference API ([`fixture`]).

pub mod plan;

pub mod engine;

pub mod summary;

pub mod verdict;

pub mod report;

pub mod notify;

mod commands;
pub use commands::{cli, exit_code_for, run, UsageError};

pub mod exit;
pub mod fixture;
pub mod redact;
pub mod rules;
pub mod suggest;
pub mod text;
pub mod url;
