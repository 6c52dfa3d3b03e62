//! The once-per-test phases around the scenarios, as k6's `setup()` and `teardown()`: setup
//! runs before the first scenario starts (when the selection needs it), its captured values
//! become the rows of the `setup` feed every VU reads; teardown runs after the last scenario
//! ends. One VU runs a phase's steps, once or once per row of a feed, strictly: the first
//! request that fails (an error, an unexpected status, a failed check or capture) ends it.
//!
//! A phase's requests are recorded under an index past the scenarios' (`scenario` tag `setup`
//! or `teardown`, group `setup` or `teardown`, as k6 tags them `::setup`), so that no
//! scenario's thresholds judge them. A failed setup runs no scenario and fails the run.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::http::pool::Pool;
use super::outcome::{PhaseRun, ScenarioRun, ScenarioStatus, Selection, Stop};
use super::vu::{compile_phase_steps, RequestRt, ScenarioRt, Vu};
use crate::plan::duration::format_duration;
use crate::plan::model::{Phase, Plan, Rows, SETUP, TEARDOWN};
use crate::summary::schema::SETUP_FAILED;

/// What a run shares with its phases.
pub(super) struct Parts<'a> {
    pub plan: &'a Arc<Plan>,
    pub sel: &'a Selection,
    pub pool: &'a Arc<Pool>,
    pub requests: &'a Arc<Vec<RequestRt>>,
    pub groups: &'a mut Vec<String>,
    pub stop: &'a Stop,
    pub started: Instant,
}

/// Setup, when a selected scenario needs it (else nothing): the plan the scenarios run with
/// (what setup captured in its `setup` feed), or, when it failed or was stopped, the
/// scenarios' runs (aborted: the run fails; skipped after a signal). Its run goes to `phases`.
pub(super) async fn setup(
    p: &mut Parts<'_>,
    phases: &mut Vec<PhaseRun>,
) -> Result<Arc<Plan>, Vec<ScenarioRun>> {
    let plan = p.plan.clone();
    let Some(setup) = plan
        .setup
        .as_ref()
        .filter(|s| s.applies_to(&p.sel.scenarios))
    else {
        return Ok(plan);
    };
    // The first signal stops the setup: no scenario starts after it.
    let stops = [
        p.stop.interrupt.clone(),
        p.stop.now.clone(),
        p.stop.abort.clone(),
    ];
    let (run, rows) = run_phase(p, &plan, SETUP, setup, &stops).await;
    let (failed, interrupted) = (run.failure.is_some(), run.interrupted);
    if let Some(why) = run.failure.as_ref().filter(|_| !interrupted) {
        *p.stop.abort_reason.lock().expect("abort reason") = Some(format!("{SETUP_FAILED}{why}"));
    }
    phases.push(run);
    if !failed {
        return Ok(with_setup_rows(&plan, rows));
    }
    let status = if interrupted {
        ScenarioStatus::Skipped
    } else {
        // Not run, and the run fails: no request of theirs completed.
        ScenarioStatus::Aborted
    };
    Err(p
        .sel
        .scenarios
        .iter()
        .map(|&index| ScenarioRun {
            index,
            started_after: p.started.elapsed(),
            duration: Duration::ZERO,
            status,
        })
        .collect())
}

/// Teardown, when a selected scenario needs it, with the plan the scenarios ran with. As in
/// k6, it runs after an abort and after the first signal; a second signal skips it (after an
/// abort, which cuts in-flight iterations off as a second signal does, only its timeout ends
/// it).
pub(super) async fn teardown(p: &mut Parts<'_>, plan: &Arc<Plan>, phases: &mut Vec<PhaseRun>) {
    let Some(teardown) = plan
        .teardown
        .as_ref()
        .filter(|t| t.applies_to(&p.sel.scenarios))
    else {
        return;
    };
    let aborted = p.stop.abort.is_cancelled();
    if p.stop.now.is_cancelled() && !aborted {
        return;
    }
    let stops = if aborted {
        Vec::new()
    } else {
        vec![p.stop.now.clone()]
    };
    let (run, _) = run_phase(p, plan, TEARDOWN, teardown, &stops).await;
    phases.push(run);
}

/// Per feed, the shared cursor of `unique` order, from the first row.
pub(super) fn feed_cursors(plan: &Plan) -> Arc<Vec<AtomicU64>> {
    Arc::new(
        (0..plan.feeds.len())
            .map(|_| AtomicU64::new(0))
            .collect::<Vec<_>>(),
    )
}

/// The plan with what setup captured as the rows of its `setup` feed.
fn with_setup_rows(plan: &Arc<Plan>, rows: Rows) -> Arc<Plan> {
    let Some(feed) = plan.setup_feed() else {
        return plan.clone();
    };
    let mut filled = Plan::clone(plan);
    filled.feeds[feed].rows = Arc::new(rows);
    Arc::new(filled)
}

/// Runs one phase to its end, its first failure, its timeout or a stop in `stops`; what it
/// ran, and the values it captured (one row per run).
async fn run_phase(
    p: &mut Parts<'_>,
    plan: &Arc<Plan>,
    name: &'static str,
    phase: &Phase,
    stops: &[CancellationToken],
) -> (PhaseRun, Rows) {
    let index = plan.setup_index() + usize::from(name == TEARDOWN);
    let (group, flow) = compile_phase_steps(&phase.steps, name, p.groups);
    let sc = Arc::new(ScenarioRt {
        index: index as u16,
        name: name.into(),
        env: p.sel.env.as_str().into(),
        plan: plan.clone(),
        base_url: p.sel.base_url.trim_end_matches('/').to_string(),
        pool: p.pool.clone(),
        requests: p.requests.clone(),
        setup: Vec::new(),
        flow,
        teardown: Vec::new(),
        think: None,
        feed_cursors: feed_cursors(plan),
    });
    let mut vu = Vu::for_phase(sc, group);
    let total = match phase.for_each {
        Some(f) => plan.feeds[f].rows.len() as u64,
        None => phase.iterations,
    };
    let offset = p.started.elapsed();
    let t0 = Instant::now();
    let stopped = async {
        tokio::select! {
            _ = cancelled(stops.first()) => {}
            _ = cancelled(stops.get(1)) => {}
            _ = cancelled(stops.get(2)) => {}
        }
    };
    // On a worker thread, which records what its requests measured.
    let (for_each, exports) = (phase.for_each, phase.exports.clone());
    let mut work = tokio::spawn(async move {
        let mut rows = Rows::new(exports.len());
        let mut runs = 0u64;
        for run in 0..total {
            if let Some(why) = vu.run_phase(run, for_each).await {
                let why = match total {
                    1 => why,
                    _ => format!("{why}, in run {} of {total}", run + 1),
                };
                return (runs, rows, Some(why));
            }
            let values = vu.captured(&exports);
            if values.is_empty() {
                // A row per run even when nothing is captured: `for_each: setup` counts them.
                rows.push([""]);
            } else {
                rows.push_typed(values.iter().map(|(t, j)| (t.as_str(), *j)));
            }
            runs += 1;
        }
        (runs, rows, None)
    });
    let ended = tokio::select! {
        biased;
        _ = stopped => Err((Some("interrupted by a signal".to_string()), true)),
        _ = tokio::time::sleep(phase.timeout) => Err((Some(format!(
            "{name} did not finish within its timeout, {}", format_duration(phase.timeout)
        )), false)),
        done = &mut work => Ok(done),
    };
    let (runs, rows, failure, interrupted) = match ended {
        Ok(Ok((runs, rows, failure))) => (runs, rows, failure, false),
        Ok(Err(e)) => (0, Rows::new(1), Some(format!("{name} stopped: {e}")), false),
        Err((failure, interrupted)) => {
            // Cut off where it is: a request in flight counts as interrupted.
            work.abort();
            let _ = work.await;
            (0, Rows::new(1), failure, interrupted)
        }
    };
    let run = PhaseRun {
        name,
        index,
        started_after: offset,
        duration: t0.elapsed(),
        runs,
        failure,
        interrupted,
    };
    (run, rows)
}

/// Waits for `token` to be cancelled; forever without one.
async fn cancelled(token: Option<&CancellationToken>) {
    match token {
        Some(t) => t.cancelled().await,
        None => std::future::pending().await,
    }
}
