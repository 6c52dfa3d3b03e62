//! Metrics on the hot path: workers record into a thread-local [`recorder::Recorder`]; the
//! collector takes each thread's recorder every interval and merges them.

pub mod collector;
pub mod fxhash;
pub mod local;
pub mod recorder;
