//! The load engine: runs the selected scenarios of a [`Plan`] on a tokio runtime of its own and
//! hands back what the collector gathered.
//!
//! Each scenario's executor turns its schedule (see [`schedule`]) into VU tasks. Two tokens stop
//! a scenario: `soft` (stop starting iterations: the duration ran out, a signal, an
//! abort-on-fail threshold) and `hard` (interrupt what is still running: the graceful stop ran
//! out). Workers record into thread-local recorders (`metrics::local`) that the collector thread
//! merges.

pub mod http;
pub mod limits;
pub mod metrics;
pub mod signals;
pub mod vu;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::engine::metrics::collector::{self, Collected, Gauges, TickFn};
use crate::engine::metrics::local::{self, Sink};
use crate::plan::model::{Executor, Plan, Scenario, Think};
use crate::plan::schedule;
use vu::{compile_steps, RequestRt, ScenarioRt, Vu};

/// The most idle keep-alive connections kept per host.
const MAX_IDLE_PER_HOST: usize = 1024;

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
    /// Cancelled by an abort-on-fail threshold; `abort_reason` says which.
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

impl ScenarioStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioStatus::Completed => "completed",
            ScenarioStatus::Aborted => "aborted",
            ScenarioStatus::Interrupted => "interrupted",
            ScenarioStatus::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScenarioRun {
    pub index: usize,
    pub started_after: Duration,
    pub duration: Duration,
    pub status: ScenarioStatus,
}

/// What a run leaves for the summary.
pub struct Outcome {
    pub collected: Collected,
    pub runs: Vec<ScenarioRun>,
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
        for c in &r.expect.checks {
            names.push((c.name.clone(), id));
        }
        for c in &r.captures {
            names.push((
                format!("{}: captured {}", r.name, plan.captures[c.slot]),
                id,
            ));
        }
    }
    (names, base)
}

/// The time-series interval for a run of `planned` length: 1 s, widened so that a long run keeps
/// at most ~1800 points per scenario.
pub fn series_interval(planned: Duration) -> Duration {
    let secs = (planned.as_secs_f64() / 1800.0).ceil().max(1.0);
    Duration::from_secs(secs as u64)
}

/// The soak-drift window of a scenario: the plan's `drift_window`, else 10 minutes, or a tenth
/// of the scenario when that is shorter (at least 1 s).
pub fn drift_window(configured: Option<Duration>, scenario: Duration) -> Duration {
    configured.unwrap_or_else(|| {
        (scenario / 10)
            .min(Duration::from_secs(600))
            .max(Duration::from_secs(1))
    })
}

/// Runs the selection to its end (or until stopped) and returns what was measured.
pub fn run(
    plan: Arc<Plan>,
    sel: &Selection,
    stop: Stop,
    on_tick: TickFn,
) -> anyhow::Result<Outcome> {
    let cpu_before = limits::cpu_now();
    let planned: Duration = if sel.parallel {
        sel.scenarios
            .iter()
            .map(|&i| {
                let s = &plan.scenarios[i];
                s.start_time + schedule::max_total(&s.executor, s.graceful_stop)
            })
            .max()
            .unwrap_or_default()
    } else {
        sel.scenarios
            .iter()
            .map(|&i| {
                let s = &plan.scenarios[i];
                schedule::max_total(&s.executor, s.graceful_stop)
            })
            .sum()
    };
    let interval = series_interval(planned);
    let gauges: Arc<Vec<Gauges>> = Arc::new(
        (0..plan.scenarios.len())
            .map(|_| Gauges::default())
            .collect(),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let epoch = Arc::new(AtomicU64::new(0));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let spares = crate::engine::metrics::local::Spares::new(2 * threads);
    let slots = crate::engine::metrics::local::Slots::default();
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
        interval,
        windows,
        started,
        on_tick,
    );

    let start_sink = sink.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .thread_name("vu-worker")
        .on_thread_start(move || local::install(start_sink.clone()))
        .on_thread_park(local::at_park)
        .on_thread_stop(local::uninstall)
        .build()?;

    let client_options = crate::engine::http::tls::ClientOptions {
        insecure_skip_tls_verify: plan.tls.insecure_skip_verify,
        ca_certificates: plan.tls.ca_certificates.clone(),
    };
    let (checks, check_base) = check_table(&plan);
    let base_url = sel.base_url.trim_end_matches('/').to_string();
    let requests: Arc<Vec<RequestRt>> = Arc::new(
        plan.requests
            .iter()
            .enumerate()
            .map(|(i, r)| RequestRt::new(&plan, r, check_base[i], &base_url))
            .collect(),
    );
    let pool = Arc::new(crate::engine::http::pool::Pool::with_tls(
        MAX_IDLE_PER_HOST,
        client_options,
    ));
    // A request to `https://` needs TLS: built now, so that what cannot be built (a bad
    // `tls.ca_file`) stops the run before it starts.
    if requests.iter().any(|r| r.tls()) {
        pool.tls_config().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut groups = vec![String::new()];
    let feed_cursors = Arc::new(
        (0..plan.feeds.len())
            .map(|_| AtomicU64::new(0))
            .collect::<Vec<_>>(),
    );
    let scenario_rts: Vec<Arc<ScenarioRt>> = sel
        .scenarios
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
                setup: compile_steps(&s.setup, &mut groups),
                flow: compile_steps(&s.flow, &mut groups),
                teardown: compile_steps(&s.teardown, &mut groups),
                think: s.think.or(plan.defaults.think),
                feed_cursors: feed_cursors.clone(),
            })
        })
        .collect();

    // Any stop from outside ends every scenario's `soft` token.
    let outer = CancellationToken::new();
    let vu_ids = Arc::new(AtomicU64::new(1));
    let runs = runtime.block_on(async {
        {
            let outer = outer.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = stop.interrupt.cancelled() => {}
                    _ = stop.now.cancelled() => {}
                    _ = stop.abort.cancelled() => {}
                }
                outer.cancel();
            });
        }
        let mut runs = Vec::new();
        if sel.parallel {
            let mut set = JoinSet::new();
            for sc in &scenario_rts {
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
        } else {
            for sc in &scenario_rts {
                let s = &plan.scenarios[sc.index as usize];
                let offset = started.elapsed();
                let status = if outer.is_cancelled() {
                    ScenarioStatus::Skipped
                } else {
                    run_scenario(
                        sc.clone(),
                        s,
                        gauges.clone(),
                        (outer.clone(), stop.now.clone()),
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
        }
        runs
    });
    let interrupted = stop.interrupt.is_cancelled();
    let aborted_by = stop.abort_reason.lock().expect("abort reason").clone();
    let runs = runs
        .into_iter()
        .map(|mut r| {
            // A scenario stopped from outside was interrupted by a signal or aborted by a
            // threshold; run_scenario cannot tell which.
            if r.status == ScenarioStatus::Interrupted {
                r.status = if interrupted {
                    ScenarioStatus::Interrupted
                } else {
                    ScenarioStatus::Aborted
                };
            }
            r
        })
        .collect();
    // Dropping the runtime joins its worker threads, each of which hands over its recorder.
    // Idle connections go first: a socket keeps a handle on the runtime, and so on the sink
    // its thread-start hook holds, and the collector ends only when every sink is gone.
    drop(scenario_rts);
    drop(pool);
    drop(runtime);
    drop(sink);
    let collected = collector.join().expect("collector thread");
    let duration = started.elapsed();
    Ok(Outcome {
        collected,
        runs,
        started_at,
        duration,
        cpu_percent: limits::cpu_percent_since(cpu_before, duration.as_secs_f64()),
        interrupted,
        aborted_by,
        groups,
        checks,
    })
}

/// Runs `vu.iterate` unless `hard` fires first (then the iteration counts as interrupted).
async fn guarded(vu: &mut Vu, hard: &CancellationToken, lag: Option<Duration>) -> bool {
    let hard = hard.cancelled();
    tokio::pin!(hard);
    guarded_with(vu, hard, lag).await
}

/// [`guarded`], with the wait for `hard` made once by the caller and reused from iteration to
/// iteration (no waiter registered and removed per iteration).
async fn guarded_with(
    vu: &mut Vu,
    hard: std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
    lag: Option<Duration>,
) -> bool {
    let scenario = vu.sc.index;
    let t0 = Instant::now();
    let done = tokio::select! {
        biased;
        _ = hard => false,
        _ = async {
            // After the setup, the iteration starts when its first step does.
            let t = if vu.is_set_up() { Some(t0) } else { vu.ensure_setup().await; None };
            vu.iterate(lag, t).await
        } => true,
    };
    if !done {
        let micros = t0.elapsed().as_micros() as u64;
        local::record(|r| r.record_iteration(scenario, micros, false));
    }
    done
}

async fn teardown(vu: &mut Vu, hard: &CancellationToken) {
    tokio::select! {
        biased;
        _ = hard.cancelled() => {}
        _ = vu.teardown() => {}
    }
}

/// How a closed-model VU decides whether to start another iteration.
enum Mode {
    Forever,
    Iterations(u64),
    Shared(Arc<AtomicU64>, u64),
    Ramping {
        target: watch::Receiver<u64>,
        index: u64,
        ramp_down: Duration,
    },
}

/// When the `i`-th of `n` VUs of a closed-model scenario starts its first iteration: VUs that
/// pause between iterations start evenly spread over one (mean) pause, so that they do not all
/// wake in lock-step and send their requests in one burst every pause. VUs without a pause start
/// at once (their timing desynchronises by itself).
pub fn first_start_offset(think: Option<Think>, i: u64, n: u64) -> Duration {
    match think {
        Some(t) if n > 1 => {
            let spread = (t.min + t.max) / 2;
            spread.mul_f64(i as f64 / n as f64)
        }
        _ => Duration::ZERO,
    }
}

async fn closed_vu(
    mut vu: Vu,
    mut mode: Mode,
    first_delay: Duration,
    soft: CancellationToken,
    hard: CancellationToken,
    gauges: Arc<Vec<Gauges>>,
) {
    let g = &gauges[vu.sc.index as usize];
    let mut active = false;
    let mut done = 0u64;
    let hard_wait = hard.cancelled();
    tokio::pin!(hard_wait);
    if !first_delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(first_delay) => {}
            _ = soft.cancelled() => {}
        }
    }
    loop {
        if soft.is_cancelled() || hard.is_cancelled() {
            break;
        }
        match &mut mode {
            Mode::Forever => {}
            Mode::Iterations(n) => {
                if done >= *n {
                    break;
                }
            }
            Mode::Shared(counter, total) => {
                if counter.fetch_add(1, Ordering::Relaxed) >= *total {
                    break;
                }
            }
            Mode::Ramping { target, index, .. } => {
                if *target.borrow() <= *index {
                    if active {
                        active = false;
                        g.active.fetch_sub(1, Ordering::Relaxed);
                    }
                    tokio::select! {
                        r = target.wait_for(|t| *t > *index) => if r.is_err() { break },
                        _ = soft.cancelled() => break,
                    }
                }
            }
        }
        if !active {
            active = true;
            g.active.fetch_add(1, Ordering::Relaxed);
        }
        let ok = match &mode {
            Mode::Ramping {
                target,
                index,
                ramp_down,
            } => {
                let mut t = target.clone();
                let (index, ramp_down) = (*index, *ramp_down);
                // A VU ramped down mid-iteration gets graceful_ramp_down to finish it.
                let ramp_kill = async move {
                    loop {
                        if t.wait_for(|v| *v <= index).await.is_err() {
                            std::future::pending::<()>().await;
                        }
                        tokio::time::sleep(ramp_down).await;
                        if *t.borrow() <= index {
                            return;
                        }
                    }
                };
                let local_hard = hard.child_token();
                let kill = local_hard.clone();
                tokio::select! {
                    ok = guarded(&mut vu, &local_hard, None) => ok,
                    _ = ramp_kill => { kill.cancel(); false }
                }
            }
            _ => guarded_with(&mut vu, hard_wait.as_mut(), None).await,
        };
        if !ok {
            if hard.is_cancelled() {
                break;
            }
            let scenario = vu.sc.index;
            local::record(|r| r.record_iteration(scenario, 0, false));
            continue;
        }
        done += 1;
    }
    teardown(&mut vu, &hard).await;
    if active {
        g.active.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn run_scenario(
    sc: Arc<ScenarioRt>,
    s: &Scenario,
    gauges: Arc<Vec<Gauges>>,
    (outer, now): (CancellationToken, CancellationToken),
    vu_ids: Arc<AtomicU64>,
    run_started: Instant,
) -> ScenarioStatus {
    let g = &gauges[sc.index as usize];
    g.started_ms
        .store(run_started.elapsed().as_millis() as u64, Ordering::Relaxed);
    g.running.store(true, Ordering::Relaxed);
    let soft = outer.child_token();
    let hard = now.child_token();
    let mut set = JoinSet::new();
    let start = tokio::time::Instant::now();
    let new_vu = |sc: &Arc<ScenarioRt>| Vu::new(vu_ids.fetch_add(1, Ordering::Relaxed), sc.clone());
    let mut scheduler: Option<tokio::task::JoinHandle<()>> = None;

    match &s.executor {
        Executor::ConstantVus { vus, .. } => {
            g.allocated.store(*vus, Ordering::Relaxed);
            for i in 0..*vus {
                set.spawn(closed_vu(
                    new_vu(&sc),
                    Mode::Forever,
                    first_start_offset(sc.think, i, *vus),
                    soft.clone(),
                    hard.clone(),
                    gauges.clone(),
                ));
            }
        }
        Executor::PerVuIterations {
            vus, iterations, ..
        } => {
            g.allocated.store(*vus, Ordering::Relaxed);
            for i in 0..*vus {
                set.spawn(closed_vu(
                    new_vu(&sc),
                    Mode::Iterations(*iterations),
                    first_start_offset(sc.think, i, *vus),
                    soft.clone(),
                    hard.clone(),
                    gauges.clone(),
                ));
            }
        }
        Executor::SharedIterations {
            vus, iterations, ..
        } => {
            g.allocated.store(*vus, Ordering::Relaxed);
            let counter = Arc::new(AtomicU64::new(0));
            for i in 0..*vus {
                set.spawn(closed_vu(
                    new_vu(&sc),
                    Mode::Shared(counter.clone(), *iterations),
                    first_start_offset(sc.think, i, *vus),
                    soft.clone(),
                    hard.clone(),
                    gauges.clone(),
                ));
            }
        }
        Executor::RampingVus {
            start_vus,
            stages,
            graceful_ramp_down,
        } => {
            let max = s.executor.max_vus();
            g.allocated.store(max, Ordering::Relaxed);
            let (tx, rx) = watch::channel(*start_vus);
            for i in 0..max {
                let mode = Mode::Ramping {
                    target: rx.clone(),
                    index: i,
                    ramp_down: *graceful_ramp_down,
                };
                // Ramping VUs start as the ramp reaches them, already spread.
                set.spawn(closed_vu(
                    new_vu(&sc),
                    mode,
                    Duration::ZERO,
                    soft.clone(),
                    hard.clone(),
                    gauges.clone(),
                ));
            }
            let (start_vus, stages, soft2) = (*start_vus, stages.clone(), soft.clone());
            let total = s.executor.duration();
            scheduler = Some(tokio::spawn(async move {
                loop {
                    let t = start.elapsed();
                    let v = schedule::ramping_vus_at(start_vus, &stages, t.min(total));
                    tx.send_if_modified(|cur| std::mem::replace(cur, v) != v);
                    if t >= total {
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                        _ = soft2.cancelled() => break,
                    }
                }
                // Keep the sender alive until the scenario stops, so VUs see the last target.
                soft2.cancelled().await;
            }));
        }
        Executor::ConstantArrivalRate {
            pre_allocated_vus,
            max_vus,
            ..
        }
        | Executor::RampingArrivalRate {
            pre_allocated_vus,
            max_vus,
            ..
        } => {
            let (start_rate, stages, unit) =
                schedule::arrival_stages(&s.executor).expect("arrival executor");
            let pool: Arc<Mutex<Vec<Vu>>> = Arc::new(Mutex::new(
                (0..*pre_allocated_vus).map(|_| new_vu(&sc)).collect(),
            ));
            g.allocated.store(*pre_allocated_vus, Ordering::Relaxed);
            let max_vus = (*max_vus).max(*pre_allocated_vus);
            let (sc2, soft2, hard2, gauges2, ids) = (
                sc.clone(),
                soft.clone(),
                hard.clone(),
                gauges.clone(),
                vu_ids.clone(),
            );
            let pool2 = pool.clone();
            scheduler = Some(tokio::spawn(async move {
                let g = &gauges2[sc2.index as usize];
                let mut running = JoinSet::new();
                let mut n = 0u64;
                while let Some(at) = schedule::arrival_time(start_rate, &stages, unit, n) {
                    n += 1;
                    let deadline = start + at;
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = soft2.cancelled() => break,
                    }
                    let lag = tokio::time::Instant::now().saturating_duration_since(deadline);
                    let vu = pool2.lock().expect("pool").pop();
                    let mut vu = match vu {
                        Some(vu) => vu,
                        None if g.allocated.load(Ordering::Relaxed) < max_vus => {
                            g.allocated.fetch_add(1, Ordering::Relaxed);
                            Vu::new(ids.fetch_add(1, Ordering::Relaxed), sc2.clone())
                        }
                        None => {
                            let scenario = sc2.index;
                            local::record(|r| r.scenario_mut(scenario).dropped += 1);
                            continue;
                        }
                    };
                    let (hard3, pool3, gauges3) = (hard2.clone(), pool2.clone(), gauges2.clone());
                    running.spawn(async move {
                        let g = &gauges3[vu.sc.index as usize];
                        g.active.fetch_add(1, Ordering::Relaxed);
                        guarded(&mut vu, &hard3, Some(lag)).await;
                        g.active.fetch_sub(1, Ordering::Relaxed);
                        pool3.lock().expect("pool").push(vu);
                    });
                    // Reap finished iterations so the set stays small.
                    while running.try_join_next().is_some() {}
                }
                while running.join_next().await.is_some() {}
            }));
            // Teardown of pool VUs is run after the scheduler finishes (below).
            let pool_for_teardown = pool;
            let hard_td = hard.clone();
            set.spawn(async move {
                // Wait for the scenario to stop starting iterations, then for its in-flight ones.
                soft_wait(&pool_for_teardown, &hard_td).await;
            });
        }
    }

    if let Some(h) = scheduler {
        set.spawn(async move {
            let _ = h.await;
        });
    }
    // Run for the planned duration (or until every VU is done, or a stop), then stop starting
    // iterations and give in-flight ones the graceful stop.
    let total = s.executor.duration();
    let iteration_based = matches!(
        s.executor,
        Executor::PerVuIterations { .. } | Executor::SharedIterations { .. }
    );
    let mut all_done = false;
    tokio::select! {
        _ = async { while set.join_next().await.is_some() {} }, if iteration_based => { all_done = true; }
        _ = tokio::time::sleep(total) => {}
        _ = soft.cancelled() => {}
    }
    soft.cancel();
    g.stopped_ms
        .store(run_started.elapsed().as_millis() as u64, Ordering::Relaxed);
    g.stopping.store(true, Ordering::Release);
    let grace = match &s.executor {
        Executor::RampingVus {
            graceful_ramp_down, ..
        } => s.graceful_stop.max(*graceful_ramp_down),
        _ => s.graceful_stop,
    };
    if !all_done {
        let drained =
            tokio::time::timeout(grace, async { while set.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            hard.cancel();
            while set.join_next().await.is_some() {}
        }
    }
    g.running.store(false, Ordering::Relaxed);
    g.finished.store(true, Ordering::Relaxed);
    if outer.is_cancelled() {
        ScenarioStatus::Interrupted // refined by the caller into aborted/interrupted
    } else {
        ScenarioStatus::Completed
    }
}

/// Runs the teardown of every pooled arrival-rate VU once the scenario stops starting
/// iterations, bounded by `hard`.
async fn soft_wait(pool: &Arc<Mutex<Vec<Vu>>>, hard: &CancellationToken) {
    // The pool is complete when no iteration is in flight; the scheduler has been awaited by
    // the caller before this set is drained, so poll briefly.
    loop {
        tokio::select! {
            _ = hard.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        if Arc::strong_count(pool) <= 1 {
            break;
        }
    }
    let vus: Vec<Vu> = std::mem::take(&mut *pool.lock().expect("pool"));
    for mut vu in vus {
        teardown(&mut vu, hard).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeping_vus_start_spread_over_one_pause() {
        let think = Some(Think {
            min: Duration::from_secs(1),
            max: Duration::from_secs(1),
        });
        let starts: Vec<_> = (0..4).map(|i| first_start_offset(think, i, 4)).collect();
        assert_eq!(
            starts,
            [0, 250, 500, 750].map(Duration::from_millis).to_vec()
        );
        // A range spreads over its mean; no pause or a single VU: at once.
        let range = Some(Think {
            min: Duration::from_secs(1),
            max: Duration::from_secs(3),
        });
        assert_eq!(first_start_offset(range, 1, 2), Duration::from_secs(1));
        assert_eq!(first_start_offset(None, 3, 4), Duration::ZERO);
        assert_eq!(first_start_offset(think, 0, 1), Duration::ZERO);
    }
}
