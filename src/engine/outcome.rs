//! What goes into the engine and what comes out of it: the [`Selection`] to run, the [`Stop`]
//! tokens outside events cancel, and the [`Outcome`] the summary is built from.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::metrics::collector::Collected;
use crate::plan::model::Plan;

/// What to run.
pub struct Selection {
    /// Indices into `plan.scenarios`, in the order to run them.
    pub scenarios: Vec<usize>,
    pub env: String,
    /// Without a trailing slash.
    pub base_url: String,
    pub parallel: bool,
}

/// How a run is stopped from outside: a signal, or a threshold with `abort_on_fail`.
#[derive(Clone, Default)]
pub struct Stop {
    /// Cancelled by the first SIGINT/SIGTERM: stop starting iterations (graceful stop).
    pub interrupt: CancellationToken,
    /// Cancelled by the second: cut in-flight iterations off now, then write the reports.
    pub now: CancellationToken,
    /// Cancelled by an abort-on-fail threshold (`abort_reason` says which): no new iteration
    /// starts and in-flight ones are cut off at once, as `now` does.
    pub abort: CancellationToken,
    pub abort_reason: Arc<Mutex<Option<String>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioStatus {
    Completed,
    Aborted,
    Interrupted,
    /// Not started: an earlier scenario was interrupted or aborted.
    Skipped,
}

#[derive(Debug, Clone)]
pub struct ScenarioRun {
    pub index: usize,
    pub started_after: Duration,
    pub duration: Duration,
    pub status: ScenarioStatus,
}

/// A once-per-test phase (setup, teardown) as it ran.
#[derive(Debug, Clone)]
pub struct PhaseRun {
    /// `setup` or `teardown`: the `scenario` tag of its requests.
    pub name: &'static str,
    /// The index its requests are recorded under (`Plan::setup_index`, or the next one).
    pub index: usize,
    pub started_after: Duration,
    pub duration: Duration,
    /// How many times its steps ran to their end.
    pub runs: u64,
    /// Why it failed (a request, a check, a capture, its timeout), when it did.
    pub failure: Option<String>,
    /// A signal stopped it.
    pub interrupted: bool,
}

/// What a run leaves for the summary.
pub struct Outcome {
    pub collected: Collected,
    pub runs: Vec<ScenarioRun>,
    /// The once-per-test setup and teardown, those that ran, in order.
    pub phases: Vec<PhaseRun>,
    pub started_at: SystemTime,
    pub duration: Duration,
    /// The process's CPU time over the run, percent of the machine.
    pub cpu_percent: Option<f64>,
    pub interrupted: bool,
    pub aborted_by: Option<String>,
    /// Group names by index (0 is "").
    pub groups: Vec<String>,
    /// Check names by check id, with the request each belongs to.
    pub checks: Vec<(String, usize)>,
}

/// The check table: each request's `expect` checks, then one per capture.
pub fn check_table(plan: &Plan) -> (Vec<(String, usize)>, Vec<u32>) {
    let mut names = Vec::new();
    let mut base = Vec::with_capacity(plan.requests.len());
    for (id, r) in plan.requests.iter().enumerate() {
        base.push(names.len() as u32);
        names.extend(r.check_names(&plan.captures).map(|n| (n, id)));
    }
    (names, base)
}

/// The time-series interval for a run of `planned` length: 1 s, widened so that a long run keeps
/// at most ~1800 points per scenario.
pub fn series_interval(planned: Duration) -> Duration {
    let secs = (planned.as_secs_f64() / 1800.0).ceil().max(1.0);
    Duration::from_secs(secs as u64)
}

pub use crate::plan::schedule::{drift_judgeable, drift_window};
