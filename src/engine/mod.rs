//! The load engine: runs the selected scenarios of a [`Plan`] on a tokio runtime of its own and
//! hands back what the collector gathered ([`run`] → [`Outcome`]).
//!
//! Each scenario's executor (`executor.rs`) turns its schedule (`crate::plan::schedule`) into VU
//! tasks ([`vu`]), which send their requests through the HTTP client ([`http`]). Two tokens stop
//! a scenario: `soft` (stop starting iterations: the duration ran out, a signal, an abort-on-fail
//! threshold) and `hard` (interrupt what is still running: the graceful stop ran out). Workers
//! record into thread-local recorders that the collector thread takes every interval
//! ([`metrics`]). Who owns which thread and channel: `docs/architecture.md`.

mod executor;
pub mod http;
pub mod limits;
pub mod metrics;
mod outcome;
mod phase;
pub mod signals;
pub mod vu;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use executor::run_scenario;
use http::pool::Pool;
use http::tls::ClientOptions;
use metrics::collector::{self, Gauges, TickFn};
use metrics::local::{self, Sink, Slots, Spares};
pub use outcome::{
    check_table, drift_judgeable, drift_window, series_interval, Outcome, PhaseRun, ScenarioRun,
    ScenarioStatus, Selection, Stop,
};
use vu::{compile_steps, RequestRt, ScenarioRt};

use crate::plan::model::Plan;
use crate::plan::schedule;

/// The most idle keep-alive connections kept per host.
const MAX_IDLE_PER_HOST: usize = 1024;

/// Runs the selection to its end (or until stopped) and returns what was measured.
pub fn run(
    plan: Arc<Plan>,
    sel: &Selection,
    stop: Stop,
    on_tick: TickFn,
) -> anyhow::Result<Outcome> {
    let cpu_before = limits::cpu_now();
    let gauges: Arc<Vec<Gauges>> = Arc::new(
        (0..plan.scenarios.len())
            .map(|_| Gauges::default())
            .collect(),
    );
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (tx, rx) = std::sync::mpsc::channel();
    let epoch = Arc::new(AtomicU64::new(0));
    let (spares, slots) = (Spares::new(2 * threads), Slots::default());
    let sink = Sink {
        tx,
        epoch: epoch.clone(),
        spares: spares.clone(),
        slots: slots.clone(),
    };
    let started = Instant::now();
    let started_at = SystemTime::now();
    let windows = plan
        .scenarios
        .iter()
        .map(|s| drift_window(plan.drift_window, s.executor.duration()))
        .collect();
    let collector = collector::spawn(
        (rx, spares, slots),
        epoch,
        gauges.clone(),
        series_interval(planned_length(&plan, sel)),
        windows,
        started,
        on_tick,
    );
    let runtime = runtime(threads, &sink)?;
    let (checks, check_base) = check_table(&plan);
    let pool = Arc::new(Pool::with_tls(
        MAX_IDLE_PER_HOST,
        ClientOptions {
            insecure_skip_tls_verify: plan.tls.insecure_skip_verify,
            ca_certificates: plan.tls.ca_certificates.clone(),
        },
    ));
    let mut groups = vec![String::new()];
    let requests = request_runtimes(&plan, sel, &pool, &check_base)?;
    // The once-per-test setup, the scenarios (with what setup captured), the teardown.
    let (runs, phases) = runtime.block_on(async {
        let mut phases = Vec::new();
        let mut parts = phase::Parts {
            plan: &plan,
            sel,
            pool: &pool,
            requests: &requests,
            groups: &mut groups,
            stop: &stop,
            started,
        };
        let plan = match phase::setup(&mut parts, &mut phases).await {
            Ok(plan) => plan,
            Err(runs) => return (runs, phases),
        };
        let rts = scenario_runtimes(&plan, sel, &pool, &requests, parts.groups);
        let runs = run_scenarios(&plan, sel, &rts, &gauges, &stop, started).await;
        drop(rts);
        phase::teardown(&mut parts, &plan, &mut phases).await;
        (runs, phases)
    });
    let interrupted = stop.interrupt.is_cancelled();
    let aborted_by = stop.abort_reason.lock().expect("abort reason").clone();
    // Dropping the runtime joins its worker threads, each of which hands over its recorder.
    // Idle connections go first: a socket keeps a handle on the runtime, and so on the sink
    // its thread-start hook holds, and the collector ends only when every sink is gone.
    drop(requests);
    drop(pool);
    drop(runtime);
    drop(sink);
    let collected = collector.join().expect("collector thread");
    let duration = started.elapsed();
    Ok(Outcome {
        collected,
        runs: settled(runs, interrupted),
        phases,
        started_at,
        duration,
        cpu_percent: limits::cpu_percent_since(cpu_before, duration.as_secs_f64()),
        interrupted,
        aborted_by,
        groups,
        checks,
    })
}

/// How long the selection may take, graceful stops included: the scenarios one after another,
/// or the latest to end of them in `--parallel`.
fn planned_length(plan: &Plan, sel: &Selection) -> Duration {
    let ends = sel.scenarios.iter().map(|&i| {
        let s = &plan.scenarios[i];
        let total = schedule::max_total(&s.executor, s.graceful_stop);
        if sel.parallel {
            s.start_time + total
        } else {
            total
        }
    });
    if sel.parallel {
        ends.max().unwrap_or_default()
    } else {
        ends.sum()
    }
}

/// The VUs' runtime: one worker thread per core, each recording into its own recorder, which
/// it hands to the collector when it parks and when it stops.
fn runtime(threads: usize, sink: &Sink) -> std::io::Result<tokio::runtime::Runtime> {
    let start_sink = sink.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .thread_name("vu-worker")
        .on_thread_start(move || local::install(start_sink.clone()))
        .on_thread_park(local::at_park)
        .on_thread_stop(local::uninstall)
        .build()
}

/// Every request prepared once, for the VUs of every scenario and phase.
fn request_runtimes(
    plan: &Arc<Plan>,
    sel: &Selection,
    pool: &Arc<Pool>,
    check_base: &[u32],
) -> anyhow::Result<Arc<Vec<RequestRt>>> {
    let base_url = sel.base_url.trim_end_matches('/').to_string();
    let requests: Arc<Vec<RequestRt>> = Arc::new(
        plan.requests
            .iter()
            .enumerate()
            .map(|(i, r)| RequestRt::new(plan, r, check_base[i], &base_url))
            .collect(),
    );
    // A request to `https://` needs TLS: built now, so that what cannot be built (a bad
    // `tls.ca_file`) stops the run before it starts.
    if requests.iter().any(|r| r.tls()) {
        pool.tls_config().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(requests)
}

/// What the VUs of each selected scenario share: the requests prepared once, its steps
/// compiled (their groups numbered into `groups`), the connection pool.
fn scenario_runtimes(
    plan: &Arc<Plan>,
    sel: &Selection,
    pool: &Arc<Pool>,
    requests: &Arc<Vec<RequestRt>>,
    groups: &mut Vec<String>,
) -> Vec<Arc<ScenarioRt>> {
    let base_url = sel.base_url.trim_end_matches('/').to_string();
    let feed_cursors = phase::feed_cursors(plan);
    sel.scenarios
        .iter()
        .map(|&i| {
            let s = &plan.scenarios[i];
            Arc::new(ScenarioRt {
                index: i as u16,
                name: s.name.as_str().into(),
                env: sel.env.as_str().into(),
                plan: plan.clone(),
                base_url: base_url.clone(),
                pool: pool.clone(),
                requests: requests.clone(),
                setup: compile_steps(&s.setup, groups),
                flow: compile_steps(&s.flow, groups),
                teardown: compile_steps(&s.teardown, groups),
                think: s.think.or(plan.defaults.think),
                feed_cursors: feed_cursors.clone(),
            })
        })
        .collect()
}

/// Runs the scenarios one after another (a stop skips the rest), or at once after their
/// `start_time` in `--parallel`; the runs in selection order.
async fn run_scenarios(
    plan: &Plan,
    sel: &Selection,
    scenario_rts: &[Arc<ScenarioRt>],
    gauges: &Arc<Vec<Gauges>>,
    stop: &Stop,
    started: Instant,
) -> Vec<ScenarioRun> {
    // Any stop from outside ends every scenario's `soft` token. An abort also cuts in-flight
    // iterations off at once (their `hard` tokens are children of `stop.now`), as k6 stops a run
    // a threshold with `abortOnFail` failed: no request starts after it.
    let outer = CancellationToken::new();
    {
        let outer = outer.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.interrupt.cancelled() => {}
                _ = stop.now.cancelled() => {}
                _ = stop.abort.cancelled() => stop.now.cancel(),
            }
            outer.cancel();
        });
    }
    let vu_ids = Arc::new(AtomicU64::new(1));
    let mut runs = Vec::new();
    if !sel.parallel {
        for sc in scenario_rts {
            let s = &plan.scenarios[sc.index as usize];
            let offset = started.elapsed();
            let status = if outer.is_cancelled() {
                ScenarioStatus::Skipped
            } else {
                let tokens = (outer.clone(), stop.now.clone());
                run_scenario(
                    sc.clone(),
                    s,
                    gauges.clone(),
                    tokens,
                    vu_ids.clone(),
                    started,
                )
                .await
            };
            runs.push(ScenarioRun {
                index: sc.index as usize,
                started_after: offset,
                duration: started.elapsed() - offset,
                status,
            });
        }
        return runs;
    }
    let mut set = JoinSet::new();
    for sc in scenario_rts {
        let s = plan.scenarios[sc.index as usize].clone();
        let (sc, g, o, ids) = (sc.clone(), gauges.clone(), outer.clone(), vu_ids.clone());
        let now = stop.now.clone();
        set.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(s.start_time) => {}
                _ = o.cancelled() => {}
            }
            let offset = started.elapsed();
            let status = if o.is_cancelled() {
                ScenarioStatus::Skipped
            } else {
                run_scenario(sc.clone(), &s, g, (o, now), ids, started).await
            };
            ScenarioRun {
                index: sc.index as usize,
                started_after: offset,
                duration: started.elapsed() - offset,
                status,
            }
        });
    }
    while let Some(r) = set.join_next().await {
        runs.push(r.expect("scenario task"));
    }
    runs.sort_by_key(|r| {
        sel.scenarios
            .iter()
            .position(|&i| i == r.index)
            .unwrap_or(usize::MAX)
    });
    runs
}

/// A scenario stopped from outside was interrupted by a signal or aborted by a threshold; the
/// executor cannot tell which, the run's stop tokens can.
fn settled(runs: Vec<ScenarioRun>, interrupted: bool) -> Vec<ScenarioRun> {
    runs.into_iter()
        .map(|mut r| {
            if r.status == ScenarioStatus::Interrupted && !interrupted {
                r.status = ScenarioStatus::Aborted;
            }
            r
        })
        .collect()
}
