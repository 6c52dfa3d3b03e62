//! The rule grammar: thresholds in k6's language, and regression and drift limits.

pub mod regression;
pub mod threshold;
