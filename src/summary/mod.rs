//! The summary of a run: what was measured, in the JSON layout every report is rendered from.

pub mod analysis;
pub mod build;
pub mod compare;
pub mod dataset;
pub mod hist;
pub mod merge;
pub mod scenario;
pub mod schema;
