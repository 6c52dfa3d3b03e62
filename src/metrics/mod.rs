//! Metrics: workers record into a local [`recorder::Recorder`]; the collector merges them; the
//! end of the run turns the merged recorder into a [`summary::Summary`].

pub mod build;
pub mod collector;
pub mod dataset;
pub mod fxhash;
pub mod local;
pub mod recorder;
pub mod summary;
