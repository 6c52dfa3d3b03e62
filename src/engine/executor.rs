//! The executors: how a scenario's schedule becomes VU tasks (closed model: a fixed or ramping
//! number of VUs looping; open model: iterations started at arrival times on a pool of VUs), and
//! how a scenario stops (the graceful stop, then in-flight iterations cut off).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::metrics::collector::Gauges;
use super::metrics::local;
use super::outcome::ScenarioStatus;
use super::vu::{ScenarioRt, Vu};
use crate::plan::model::{Executor, Scenario, Stage, Think};
use crate::plan::schedule;

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

/// The shortest time from the start of a closed-model iteration that had a request it could not
/// build (`invalid_request`) to the start of the VU's next one. Open-model iterations keep their
/// arrival schedule, which bounds them already.
pub const INVALID_PAUSE: Duration = Duration::from_secs(1);

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
pub(super) fn first_start_offset(think: Option<Think>, i: u64, n: u64) -> Duration {
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
        let started = tokio::time::Instant::now();
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
        if let Some(wait) = vu.take_backoff() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = soft.cancelled() => {}
            }
        }
        if vu.take_invalid() {
            // A request that could not be built fails the same way at once next time: the VU
            // does not spin on it (millions of attempts a second, a core burnt), it starts
            // its next iteration no sooner than this long after the last one started.
            tokio::select! {
                _ = tokio::time::sleep_until(started + INVALID_PAUSE) => {}
                _ = soft.cancelled() => {}
            }
        }
    }
    teardown(&mut vu, &hard).await;
    if active {
        g.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the VUs of one scenario share while it runs.
struct Running {
    sc: Arc<ScenarioRt>,
    gauges: Arc<Vec<Gauges>>,
    /// Stop starting iterations.
    soft: CancellationToken,
    /// Cut in-flight iterations off.
    hard: CancellationToken,
    vu_ids: Arc<AtomicU64>,
    /// When the scenario started.
    start: tokio::time::Instant,
}

impl Running {
    fn gauge(&self) -> &Gauges {
        &self.gauges[self.sc.index as usize]
    }

    fn new_vu(&self) -> Vu {
        Vu::new(self.vu_ids.fetch_add(1, Ordering::Relaxed), self.sc.clone())
    }

    /// Spawns a closed-model VU into `set`.
    fn spawn_closed(&self, set: &mut JoinSet<()>, mode: Mode, first_delay: Duration) {
        set.spawn(closed_vu(
            self.new_vu(),
            mode,
            first_delay,
            self.soft.clone(),
            self.hard.clone(),
            self.gauges.clone(),
        ));
    }
}

/// Runs one scenario: its executor turns the schedule into VU tasks; after its duration (or when
/// every iteration-based VU is done, or a stop) it stops starting iterations and gives in-flight
/// ones the graceful stop. `Interrupted` when stopped from outside (the caller tells a signal
/// from an abort).
pub(super) async fn run_scenario(
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
    let running = Running {
        sc: sc.clone(),
        gauges: gauges.clone(),
        soft: outer.child_token(),
        hard: now.child_token(),
        vu_ids,
        start: tokio::time::Instant::now(),
    };
    let mut set = JoinSet::new();
    let scheduler = start(&running, s, &mut set);
    if let Some(h) = scheduler {
        set.spawn(async move {
            let _ = h.await;
        });
    }
    stop(&running, s, set, run_started).await;
    g.running.store(false, Ordering::Relaxed);
    g.finished.store(true, Ordering::Relaxed);
    if outer.is_cancelled() {
        ScenarioStatus::Interrupted // refined by the caller into aborted/interrupted
    } else {
        ScenarioStatus::Completed
    }
}

/// Starts the scenario's VUs (and the task that schedules them, for ramping and arrival-rate
/// executors).
fn start(r: &Running, s: &Scenario, set: &mut JoinSet<()>) -> Option<tokio::task::JoinHandle<()>> {
    let g = r.gauge();
    let closed = |set: &mut JoinSet<()>, vus: u64, mode: &dyn Fn() -> Mode| -> Option<_> {
        g.allocated.store(vus, Ordering::Relaxed);
        for i in 0..vus {
            r.spawn_closed(set, mode(), first_start_offset(r.sc.think, i, vus));
        }
        None
    };
    match &s.executor {
        Executor::ConstantVus { vus, .. } => closed(set, *vus, &|| Mode::Forever),
        Executor::PerVuIterations {
            vus, iterations, ..
        } => closed(set, *vus, &|| Mode::Iterations(*iterations)),
        Executor::SharedIterations {
            vus, iterations, ..
        } => {
            let counter = Arc::new(AtomicU64::new(0));
            closed(set, *vus, &|| Mode::Shared(counter.clone(), *iterations))
        }
        Executor::RampingVus {
            start_vus,
            stages,
            graceful_ramp_down,
        } => Some(start_ramping(
            r,
            s,
            set,
            *start_vus,
            stages,
            *graceful_ramp_down,
        )),
        Executor::ConstantArrivalRate {
            pre_allocated_vus,
            max_vus,
            ..
        }
        | Executor::RampingArrivalRate {
            pre_allocated_vus,
            max_vus,
            ..
        } => Some(start_arrivals(r, s, set, *pre_allocated_vus, *max_vus)),
    }
}

/// `ramping-vus`: every VU up to the peak, each running while the ramp's target is above its
/// index; the returned task moves the target along the stages.
fn start_ramping(
    r: &Running,
    s: &Scenario,
    set: &mut JoinSet<()>,
    start_vus: u64,
    stages: &[Stage],
    graceful_ramp_down: Duration,
) -> tokio::task::JoinHandle<()> {
    let max = s.executor.max_vus();
    r.gauge().allocated.store(max, Ordering::Relaxed);
    let (tx, rx) = watch::channel(start_vus);
    for i in 0..max {
        let mode = Mode::Ramping {
            target: rx.clone(),
            index: i,
            ramp_down: graceful_ramp_down,
        };
        // Ramping VUs start as the ramp reaches them, already spread.
        r.spawn_closed(set, mode, Duration::ZERO);
    }
    let (stages, soft, start) = (stages.to_vec(), r.soft.clone(), r.start);
    let total = s.executor.duration();
    tokio::spawn(async move {
        loop {
            let t = start.elapsed();
            let v = schedule::ramping_vus_at(start_vus, &stages, t.min(total));
            tx.send_if_modified(|cur| std::mem::replace(cur, v) != v);
            if t >= total {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = soft.cancelled() => break,
            }
        }
        // Keep the sender alive until the scenario stops, so VUs see the last target.
        soft.cancelled().await;
    })
}

/// `constant-arrival-rate` and `ramping-arrival-rate`: a pool of VUs, and the returned task that
/// starts an iteration on a free one at each arrival (a new VU up to `max_vus`, else the
/// iteration is dropped). The pool's VUs are torn down once the scenario stops.
fn start_arrivals(
    r: &Running,
    s: &Scenario,
    set: &mut JoinSet<()>,
    pre_allocated_vus: u64,
    max_vus: u64,
) -> tokio::task::JoinHandle<()> {
    let (start_rate, stages, unit) =
        schedule::arrival_stages(&s.executor).expect("arrival executor");
    let pool: Arc<Mutex<Vec<Vu>>> = Arc::new(Mutex::new(
        (0..pre_allocated_vus).map(|_| r.new_vu()).collect(),
    ));
    r.gauge()
        .allocated
        .store(pre_allocated_vus, Ordering::Relaxed);
    let max_vus = max_vus.max(pre_allocated_vus);
    let (sc, soft, hard, gauges, ids, start) = (
        r.sc.clone(),
        r.soft.clone(),
        r.hard.clone(),
        r.gauges.clone(),
        r.vu_ids.clone(),
        r.start,
    );
    let pool2 = pool.clone();
    let scheduler = tokio::spawn(async move {
        let g = &gauges[sc.index as usize];
        let mut running = JoinSet::new();
        let mut n = 0u64;
        while let Some(at) = schedule::arrival_time(start_rate, &stages, unit, n) {
            n += 1;
            let deadline = start + at;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = soft.cancelled() => break,
            }
            let lag = tokio::time::Instant::now().saturating_duration_since(deadline);
            let vu = pool2.lock().expect("pool").pop();
            let mut vu = match vu {
                Some(vu) => vu,
                None if g.allocated.load(Ordering::Relaxed) < max_vus => {
                    g.allocated.fetch_add(1, Ordering::Relaxed);
                    Vu::new(ids.fetch_add(1, Ordering::Relaxed), sc.clone())
                }
                None => {
                    let scenario = sc.index;
                    local::record(|r| r.scenario_mut(scenario).dropped += 1);
                    continue;
                }
            };
            let (hard, pool, gauges) = (hard.clone(), pool2.clone(), gauges.clone());
            running.spawn(async move {
                let g = &gauges[vu.sc.index as usize];
                g.active.fetch_add(1, Ordering::Relaxed);
                guarded(&mut vu, &hard, Some(lag)).await;
                g.active.fetch_sub(1, Ordering::Relaxed);
                pool.lock().expect("pool").push(vu);
            });
            // Reap finished iterations so the set stays small.
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
    });
    // Wait for the scenario to stop starting iterations, then for its in-flight ones, then
    // tear the pool's VUs down.
    let hard = r.hard.clone();
    set.spawn(async move {
        soft_wait(&pool, &hard).await;
    });
    scheduler
}

/// Waits for the scenario's planned duration (or for every iteration-based VU to finish, or a
/// stop), then stops starting iterations and gives in-flight ones the graceful stop (the ramp
/// down's, when longer) before cutting them off.
async fn stop(r: &Running, s: &Scenario, mut set: JoinSet<()>, run_started: Instant) {
    let g = r.gauge();
    let total = s.executor.duration();
    let iteration_based = matches!(
        s.executor,
        Executor::PerVuIterations { .. } | Executor::SharedIterations { .. }
    );
    let mut all_done = false;
    tokio::select! {
        _ = async { while set.join_next().await.is_some() {} }, if iteration_based => { all_done = true; }
        _ = tokio::time::sleep(total) => {}
        _ = r.soft.cancelled() => {}
    }
    r.soft.cancel();
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
            r.hard.cancel();
            while set.join_next().await.is_some() {}
        }
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
